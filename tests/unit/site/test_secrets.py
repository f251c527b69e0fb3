"""The secrets store: generated once, 0600, values survive any characters, never echoed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from voipctl.errors import SiteError
from voipctl.secrets import Secrets, ensure_secrets


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


def test_a_readable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "site.secrets.yml"
    path.write_text("turn_secret: 'x'\n")
    path.chmod(0o644)
    with pytest.raises(SiteError, match="it must be 0600"):
        ensure_secrets(path, ["turn_secret"])


def test_repr_shows_names_only() -> None:
    assert repr(Secrets({"turn_secret": "hunter2"})) == "Secrets(keys=['turn_secret'])"
