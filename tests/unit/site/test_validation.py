"""Invalid sites: exact error text, exit code 2, nothing written; valid examples pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, goldens_updated
from voipctl.cli import main

INVALID = sorted((REPO / "tests/fixtures/invalid").iterdir())


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.name)
def test_invalid_site_exact_errors(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], update_goldens: bool,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(case)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data\n")
    for argv in (["validate", "site.yml"], ["render", "site.yml", "-o", str(out)]):
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 2, captured
        assert "Traceback" not in captured.err
        expected_file = case / "expected.txt"
        if update_goldens and argv[0] == "validate":
            expected_file.write_text(captured.err)
            goldens_updated(expected_file)
        assert captured.err == expected_file.read_text()
        assert captured.out == ""
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert not list(case.glob("*.secrets.yml")), "a failed validation must not create secrets"


@pytest.mark.parametrize("site", ["inventories/lab/site.yml", "inventories/split/site.yml"])
def test_example_sites_validate(
    site: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["validate", site]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {site}: site ") and out.count("\n") == 1


def test_cli_process_exit_code_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "site.yml"
    bad.write_text("site: x\ndomain: example.com\nnodes: []\n")
    res = subprocess.run([sys.executable, "-m", "voipctl", "validate", str(bad)], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 2
    assert res.stderr == f"{bad}:3: nodes: List should have at least 1 item after validation, not 0\n"


def test_missing_file_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yml")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'nope.yml'}:1: (top level): no such file\n"


def test_schema_is_json_with_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    sections = {"site", "domain", "nodes", "kamailio", "rtpengine", "coturn", "openfire", "pki"}
    assert set(schema["properties"]) >= sections
    assert schema["additionalProperties"] is False
