"""`voipctl pki init|issue|renew|status` end to end through the CLI entry point."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from ruamel.yaml import YAML

from tests.pki_support import ca_passphrase_of_tests, now, plan_of, site_copy, snapshot
from voipctl import pipeline
from voipctl.cli import main
from voipctl.pki.issue import issue_site
from voipctl.pki.store import layout


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_issue_status_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = site_copy(tmp_path, "lab")
    pki = tmp_path / "pki"
    code, out, err = _run(capsys, "pki", "status", str(site), "--pki-dir", str(pki), "--strict")
    assert code == 1 and "MISSING" in out and "missing" in err
    assert _run(capsys, "pki", "status", str(site), "--pki-dir", str(pki))[0] == 0

    code, out, err = _run(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 2 and "pki init" in err

    code, out, _ = _run(capsys, "pki", "init", str(site), "--pki-dir", str(pki))
    assert code == 0 and "created root CA (ecdsa-p384, encrypted key)" in out and "created intermediate CA" in out
    before = snapshot(pki)
    code, out, _ = _run(capsys, "pki", "init", str(site), "--pki-dir", str(pki))
    assert code == 0 and "nothing changed" in out
    assert snapshot(pki) == before
    site.write_text(site.read_text() + "pki:\n  root_key: rsa-3072\n")
    code, out, err = _run(capsys, "pki", "init", str(site), "--pki-dir", str(pki))
    assert code == 0 and "nothing changed" in out and "existing root key is ecdsa-p384" in err
    assert snapshot(pki) == before

    code, out, _ = _run(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 0 and "3 certificates, 3 changed" in out
    before = snapshot(pki)
    code, out, _ = _run(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 0 and "3 certificates, 0 changed" in out
    assert snapshot(pki) == before
    code, out, _ = _run(capsys, "pki", "renew", str(site), "--pki-dir", str(pki))
    assert code == 0 and "3 certificates, 0 changed" in out and "nothing due: no deploy" in out
    assert snapshot(pki) == before, "renew writes nothing when nothing is due (and deploys nothing)"

    code, out, err = _run(capsys, "pki", "status", str(site), "--pki-dir", str(pki), "--strict")
    assert code == 0, out + err
    for label in ("root CA", "intermediate CA", "sip1 kamailio", "media1 coturn", "xmpp1 openfire"):
        assert f"{label} " in out
    assert "SANs: turn.lab.voipctl.test, media1.lab.voipctl.test, 198.51.100.12" in out
    assert "issuer voipctl lab Intermediate CA" in out
    assert "MISSING" not in out and "EXPIR" not in out


@pytest.mark.parametrize(("age_days", "state"), [(80, "EXPIRING"), (100, "EXPIRED"), (50, "OK")])
def test_strict_fails_on_expiring_or_expired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], age_days: int, state: str
) -> None:
    site_path = site_copy(tmp_path, "lab")
    pki = tmp_path / "pki"
    assert _run(capsys, "pki", "init", str(site_path), "--pki-dir", str(pki))[0] == 0
    site, plan = plan_of(site_path)
    issue_site(site, plan, layout(pki, site.name), "pw", now() - timedelta(days=age_days),  # injected clock
               ca_passphrase_of_tests())

    code, out, err = _run(capsys, "pki", "status", str(site_path), "--pki-dir", str(pki))
    assert code == 0
    assert out.count(f" {state} ") == (7 if state == "OK" else 3)  # both CAs and their CRLs stay OK
    code, out, err = _run(capsys, "pki", "status", str(site_path), "--pki-dir", str(pki), "--strict")
    if state == "OK":
        assert code == 0, err
        return
    assert code == 1
    want = (f"3 certificate(s) or CRL(s) expired, expiring within 30 days (a CRL: due for re-signing), missing or "
            f"revoked: sip1 kamailio ({state.lower()})")
    assert want in err

    # Running issue fixes it: expired and expiring leaves are past 2/3 of their life.
    code, out, _ = _run(capsys, "pki", "issue", str(site_path), "--pki-dir", str(pki))
    assert code == 0 and out.count("renewed") == 3
    assert ("expired" if state == "EXPIRED" else "past 2/3 of its lifetime") in out
    assert _run(capsys, "pki", "status", str(site_path), "--pki-dir", str(pki), "--strict")[0] == 0


def test_encrypted_root_uses_the_secrets_passphrase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = site_copy(tmp_path, "split", "pki:\n  encrypt_root: true\n")
    pki = tmp_path / "pki"
    code, out, _ = _run(capsys, "pki", "init", str(site), "--pki-dir", str(pki))
    assert code == 0 and "encrypted key" in out
    secrets = YAML(typ="safe").load((tmp_path / "split" / "site.secrets.yml").read_text())
    passphrase = secrets["pki_root_passphrase"]
    assert passphrase not in out
    key_pem = (pki / "split" / "root" / "ca.key").read_bytes()
    assert b"ENCRYPTED" in key_pem
    serialization.load_pem_private_key(key_pem, passphrase.encode())
    assert _run(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))[0] == 0


def test_byo_problem_is_reported_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = site_copy(tmp_path, "lab", "pki:\n  byo:\n    coturn:\n      key: k.pem\n      cert: c.pem\n"
                                      "      ca: ca.pem\n")
    pki = tmp_path / "pki"
    assert _run(capsys, "pki", "init", str(site), "--pki-dir", str(pki))[0] == 0
    code, _, err = _run(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    line = site.read_text().splitlines().index("      key: k.pem") + 1
    assert code == 2
    assert err.startswith(f"{site}:{line}: pki.byo.coturn.key: k.pem: no such file")


def test_rendered_tree_carries_the_issued_material(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site_path = site_copy(tmp_path, "split")
    pki = tmp_path / "pki"
    site, plan = pipeline.load_and_plan(site_path)
    before = {f.path for f in pipeline.render(site, plan, pki).files}
    assert not any(p.endswith(".pem") or p.endswith(".p12") for p in before)
    for cmd in ("init", "issue"):
        assert _run(capsys, "pki", cmd, str(site_path), "--pki-dir", str(pki))[0] == 0
    tree = pipeline.render(site, plan, pki)
    paths = {(f.node, f.path) for f in tree.files}
    for node in plan.nodes:
        for cert in node.certs:
            assert {(node.name, p) for p in (cert.key_path, cert.cert_path, cert.chain_path, cert.ca_path)} <= paths
    xmpp = next(n for n in plan.nodes if n.openfire is not None)
    assert xmpp.openfire is not None
    assert (xmpp.name, xmpp.openfire.keystore_path) in paths
    assert pipeline.render(site, plan, pki).files == tree.files
