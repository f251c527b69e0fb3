"""`voipctl pki revoke`: the revocation is recorded, the CRL signed by the intermediate lists it,
and the next issue replaces exactly the revoked leaves with new keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from tests.pki_support import issued_site, run_cli
from voipctl.pki.revoke import crl_path
from voipctl.pki.store import load_cert


def test_revoke_a_service_then_issue_replaces_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, pki, lay = issued_site(tmp_path, capsys)
    kam_dir = lay.leaf_dir("sip1", "kamailio")
    old = load_cert(kam_dir / "cert.pem")
    old_key = (kam_dir / "privkey.pem").read_bytes()

    code, out, _ = run_cli(capsys, "pki", "revoke", str(site), "kamailio", "--pki-dir", str(pki))
    assert code == 0 and f"revoked {old.serial_number:x} (sip1 kamailio)" in out and "pki renew" in out
    crl = x509.load_pem_x509_crl(crl_path(lay).read_bytes())
    inter = load_cert(lay.intermediate_cert)
    assert crl.is_signature_valid(inter.public_key()) and crl.issuer == inter.subject
    assert crl.get_revoked_certificate_by_serial_number(old.serial_number) is not None
    assert len(crl) == 1
    code, out, err = run_cli(capsys, "pki", "status", str(site), "--pki-dir", str(pki), "--strict")
    assert code == 1 and "REVOKED" in out and "sip1 kamailio (revoked)" in err

    code, out, _ = run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 0 and "renewed   sip1           kamailio  revoked" in out and out.count("kept") == 2, out
    assert load_cert(kam_dir / "cert.pem").serial_number != old.serial_number
    assert (kam_dir / "privkey.pem").read_bytes() != old_key, "a revoked leaf gets a new key"
    assert run_cli(capsys, "pki", "status", str(site), "--pki-dir", str(pki), "--strict")[0] == 0

    turn = load_cert(lay.leaf_dir("media1", "coturn") / "cert.pem")
    code, out, _ = run_cli(capsys, "pki", "revoke", str(site), f"{turn.serial_number:x}", "--pki-dir", str(pki))
    assert code == 0 and f"revoked {turn.serial_number:x}" in out
    crl = x509.load_pem_x509_crl(crl_path(lay).read_bytes())
    assert len(crl) == 2 and crl.get_revoked_certificate_by_serial_number(turn.serial_number) is not None
    code, out, _ = run_cli(capsys, "pki", "revoke", str(site), f"{turn.serial_number:x}", "--pki-dir", str(pki))
    assert code == 0 and "was already revoked" in out
    assert len(x509.load_pem_x509_crl(crl_path(lay).read_bytes())) == 2

    assert run_cli(capsys, "pki", "revoke", str(site), "not-a-serial!", "--pki-dir", str(pki))[0] == 2
