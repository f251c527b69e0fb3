"""CA keys are encrypted by default; the passphrase comes from a 0600 file (option or environment)
or a terminal, never from argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pki_support import run_cli, site_copy
from voipctl.errors import UsageError
from voipctl.pki.passphrase import ENV, unattended_passphrase
from voipctl.pki.store import PkiLayout, is_encrypted, layout


def _secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _fresh(tmp_path: Path) -> tuple[Path, Path, PkiLayout]:
    """A lab site copy, its (empty) PKI directory and layout."""
    pki = tmp_path / "pki"
    return site_copy(tmp_path, "lab"), pki, layout(pki, "lab")


def test_keys_encrypted_and_the_passphrase_only_from_a_private_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site, pki, lay = _fresh(tmp_path)
    good = _secret_file(tmp_path / "good", "correct horse\n")
    monkeypatch.delenv(ENV)

    code, _, err = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki))
    assert code == 2 and ENV in err and "--unencrypted-keys" in err and not lay.root_cert.exists()
    loose = _secret_file(tmp_path / "loose", "correct horse\n", 0o644)
    code, _, err = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki), "--passphrase-file", str(loose))
    assert code == 2 and "must be 0600" in err

    monkeypatch.setenv(ENV, str(good))
    assert run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki))[0] == 0
    assert is_encrypted(lay.root_key) and is_encrypted(lay.intermediate_key)
    assert b"correct horse" not in lay.intermediate_key.read_bytes()

    monkeypatch.delenv(ENV)
    code, _, err = run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 2 and "intermediate CA key" in err and "is encrypted" in err
    wrong = _secret_file(tmp_path / "wrong", "battery staple\n")
    code, _, err = run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki), "--passphrase-file", str(wrong))
    assert code == 1 and "wrong passphrase" in err
    code, out, _ = run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki), "--passphrase-file", str(good))
    assert code == 0 and "3 certificates, 3 changed" in out
    assert "correct horse" not in out

    help_text = run_cli(capsys, "pki", "init", "--help")[1]
    assert "--passphrase-file" in help_text and "--passphrase " not in help_text


def test_an_unencrypted_ca_is_encrypted_by_the_next_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, pki, lay = _fresh(tmp_path)
    code, out, _ = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki), "--unencrypted-keys")
    assert code == 0 and "encrypted key" not in out
    assert not is_encrypted(lay.root_key) and not is_encrypted(lay.intermediate_key)
    cert_before = lay.intermediate_cert.read_bytes()
    code, out, _ = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki))  # conftest's passphrase file
    assert code == 0 and "encrypted the existing root key" in out and "encrypted the existing intermediate key" in out
    assert is_encrypted(lay.root_key) and is_encrypted(lay.intermediate_key)
    assert lay.intermediate_cert.read_bytes() == cert_before, "the CA itself is unchanged"
    assert run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))[0] == 0


def test_unattended_runs_read_the_environment_only_for_encrypted_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site, pki, lay = _fresh(tmp_path)
    assert run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki))[0] == 0
    key = lay.intermediate_key
    assert unattended_passphrase(key) == "test-ca-passphrase"
    monkeypatch.delenv(ENV)
    with pytest.raises(UsageError, match=ENV):
        unattended_passphrase(key)
    plain = _secret_file(tmp_path / "plain.key", "-----BEGIN PRIVATE KEY-----\n")
    assert unattended_passphrase(plain) is None
