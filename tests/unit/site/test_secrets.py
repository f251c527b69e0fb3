"""The secrets store: generated once, 0600, values survive any characters, never echoed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from voipctl.errors import SiteError
from voipctl.secrets import Secrets, _own_format, _write, ensure_secrets


def test_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "site.secrets.yml"
    first = ensure_secrets(path, ["turn_secret", "subscriber:alice"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ensure_secrets(path, ["turn_secret", "subscriber:alice", "subscriber:Bob+1"])
    assert again["turn_secret"] == first["turn_secret"]
    assert again.subscriber("alice") == first.subscriber("alice")
    assert len(again.subscriber("Bob+1")) >= 32


def test_supplied_values_with_quotes_survive_a_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "site.secrets.yml"
    path.write_text("openfire_admin_password: 'it''s: \"#&<x>'\n")
    path.chmod(0o600)
    secrets = ensure_secrets(path, ["openfire_admin_password", "turn_secret"])  # rewrites the file
    assert secrets["openfire_admin_password"] == "it's: \"#&<x>"
    assert ensure_secrets(path, ["openfire_admin_password"])["openfire_admin_password"] == "it's: \"#&<x>"


def test_a_broken_file_is_a_located_error_that_never_shows_its_content(tmp_path: Path) -> None:
    path = tmp_path / "site.secrets.yml"
    path.write_text("turn_secret: 'ok'\nadmin: 'never-show-me\n")
    path.chmod(0o600)
    with pytest.raises(SiteError) as err:
        ensure_secrets(path, ["turn_secret"])
    assert err.value.lines() == [f"{path}:3: (top level): secrets file is not valid YAML"]
    assert "never-show-me" not in str(err.value)


@pytest.mark.parametrize("text,mode,message", [
    ("turn_secret: 'x'\n", 0o644, "it must be 0600"),  # readable by others
    ("'a': 'x'\n'a': 'y'\n", 0o600, "secrets file is not valid YAML"),  # a repeated name, in the store's own format
])
def test_refused_files(tmp_path: Path, text: str, mode: int, message: str) -> None:
    path = tmp_path / "site.secrets.yml"
    path.write_text(text)
    path.chmod(mode)
    with pytest.raises(SiteError, match=message):
        ensure_secrets(path, ["turn_secret"])


VALUES = {"turn_secret": "a'b''c", "subscriber:o'neil": " spaced # not a comment ", "topology_key": "k:-_.~"}


def test_own_format_reads_what_yaml_reads(tmp_path: Path) -> None:
    """The store as voipctl writes it is read without YAML (big stores), to the values YAML reads."""
    path = tmp_path / "s.yml"
    _write(path, VALUES)
    text = path.read_text()
    assert _own_format(text) == YAML(typ="safe").load(text) == VALUES
    assert ensure_secrets(path, list(VALUES)).values == VALUES


@pytest.mark.parametrize("text", [
    "turn_secret: plain\n",  # hand-written: YAML's business
    "'a': 'x' # trailing comment\n",
    "'a': 'x'\n'a': 'y'\n",  # repeated name: YAML reports it
    "'a': 'caf\u00e9'\n",
    "'a': 'x'\r\n",
    "  'a': 'x'\n",
])
def test_anything_else_goes_to_yaml(text: str) -> None:
    assert _own_format(text) is None


def test_repr_shows_names_only() -> None:
    assert repr(Secrets({"turn_secret": "hunter2"})) == "Secrets(keys=['turn_secret'])"
