"""The secrets store's own format is read without YAML, to the same values YAML reads; anything else goes to YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from voipctl.errors import SiteError
from voipctl.secrets import _own_format, _write, ensure_secrets

VALUES = {"turn_secret": "a'b''c", "subscriber:o'neil": " spaced # not a comment ", "topology_key": "k:-_.~"}


def test_own_format_reads_what_yaml_reads(tmp_path: Path) -> None:
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


def test_repeated_name_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("'a': 'x'\n'a': 'y'\n")
    path.chmod(0o600)
    with pytest.raises(SiteError, match="secrets file is not valid YAML"):
        ensure_secrets(path, ["a"])
