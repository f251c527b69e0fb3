"""The CRLs: signed by init, re-signed by issue/renew when due, shown by status, placed where the plan says
peers are verified, judged by verify's TLS check, and revoking a rotated-out intermediate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from tests.pki_support import ca_passphrase_of_tests, edit_site, issued_site, run_cli
from voipctl import pipeline
from voipctl.deploy.hostvars import gate_checks, node_vars
from voipctl.output.manifest import Manifest
from voipctl.pki.ca import load_ca
from voipctl.pki.crl import (
    crl_bundle,
    refresh_intermediate_crl,
    retired_intermediates,
    revocation_problem,
    root_crl_path,
)
from voipctl.pki.revoke import CRL_DAYS, crl_path
from voipctl.pki.status import collect_crl_status
from voipctl.pki.store import load_cert
from voipctl.verify.scanners import tls as tlsscan

SCANNED = {"connectivity": "ok", "protocols": {"TLS 1.2": 3}, "errors": {}, "ca_valid": True,
           "chain": ["CN=sip1", "CN=Intermediate"]}


def _crl(path: Path) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(path.read_bytes())


def test_init_signs_both_crls_and_issue_resigns_the_intermediates_at_half_life(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, pki, lay = issued_site(tmp_path, capsys)
    inter, root = _crl(crl_path(lay)), _crl(root_crl_path(lay))
    assert inter.is_signature_valid(load_cert(lay.intermediate_cert).public_key())  # type: ignore[arg-type]
    assert root.is_signature_valid(load_cert(lay.root_cert).public_key())  # type: ignore[arg-type]
    assert len(inter) == 0 and len(root) == 0
    assert crl_bundle(lay) == crl_path(lay).read_bytes() + root_crl_path(lay).read_bytes()
    now = inter.last_update_utc
    assert [r.state for r in collect_crl_status(lay, now)] == ["ok", "ok"]

    ca = load_ca(lay, "lab", ca_passphrase_of_tests())
    assert refresh_intermediate_crl(lay, ca, now + timedelta(days=CRL_DAYS / 2 - 0.1)) is None, "not due yet"
    later = now + timedelta(days=CRL_DAYS * 0.8)
    assert [r.state for r in collect_crl_status(lay, later)] == ["expiring", "ok"], "renew has not run: stale"
    assert [r.state for r in collect_crl_status(lay, now + timedelta(days=CRL_DAYS))] == ["expired", "ok"]
    done = refresh_intermediate_crl(lay, ca, later)
    assert done is not None and "signed the intermediate's CRL" in done
    assert _crl(crl_path(lay)).next_update_utc == later.replace(microsecond=0) + timedelta(days=CRL_DAYS)
    assert [r.state for r in collect_crl_status(lay, later)] == ["ok", "ok"]

    # The CLI: a site whose CRL is gone fails --strict until `pki issue` signs it again.
    crl_path(lay).unlink()
    code, out, err = run_cli(capsys, "pki", "status", str(site), "--pki-dir", str(pki), "--strict")
    assert code == 1 and "intermediate CRL (missing)" in err, out + err
    code, out, _ = run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 0 and "signed the intermediate's CRL (0 revoked" in out
    assert run_cli(capsys, "pki", "status", str(site), "--pki-dir", str(pki), "--strict")[0] == 0


def test_revocation_problem_judges_leaves_and_stale_crls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, pki, lay = issued_site(tmp_path, capsys)
    leaf = load_cert(lay.leaf_dir("sip1", "kamailio") / "cert.pem").serial_number
    inter = load_cert(lay.intermediate_cert).serial_number
    now = _crl(crl_path(lay)).last_update_utc
    assert revocation_problem(lay, [leaf, inter], now) is None
    assert "expired" in (revocation_problem(lay, [leaf], now + timedelta(days=CRL_DAYS)) or "")
    assert run_cli(capsys, "pki", "revoke", str(site), "kamailio", "--pki-dir", str(pki))[0] == 0
    now = _crl(crl_path(lay)).last_update_utc
    problem = revocation_problem(lay, [leaf, inter], now)
    assert problem is not None and f"certificate {leaf:x} is revoked" in problem
    coturn = load_cert(lay.leaf_dir("media1", "coturn") / "cert.pem").serial_number
    assert revocation_problem(lay, [coturn, inter], now) is None, "only the revoked leaf"

    # A CRL signed by another key proves nothing.
    other = tmp_path / "other"
    issued_site(other, capsys)
    crl_path(lay).write_bytes((other / "pki" / "lab" / "intermediate" / "crl.pem").read_bytes())
    assert "is not signed by" in (revocation_problem(lay, [coturn], now) or "")


def test_the_tls_chain_check_turns_red_on_a_revoked_serial() -> None:
    revoked = {0xABC}

    def revocation(serials: list[int]) -> str | None:
        return "certificate abc is revoked" if revoked & set(serials) else None

    assert tlsscan.judge_target({**SCANNED, "serials": ["abc", "def"]}, revocation)[1] == (
        "failed", "certificate abc is revoked")
    assert tlsscan.judge_target({**SCANNED, "serials": ["123", "def"]}, revocation)[1] == (
        "passed", "CN=sip1 <- CN=Intermediate")
    assert tlsscan.judge_target({**SCANNED, "serials": ["abc"]}, revocation)[0][0] == "passed", "versions unaffected"


def test_the_plan_gives_the_crl_to_kamailio_only_where_it_verifies_peers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, pki, lay = issued_site(tmp_path, capsys)
    _, plan = pipeline.load_and_plan(site)
    assert all(c.crl_path is None for n in plan.nodes for c in n.certs), "the lab site verifies no peers"
    edit_site(site, "kamailio:\n", "kamailio:\n  tls_peer_verify: true\n  transports:\n"
                                    "    wss: {enabled: false, port: 443}\n")
    loaded, plan = pipeline.load_and_plan(site)
    assert {(c.service, c.crl_path) for n in plan.nodes for c in n.certs} == {
        ("kamailio", "/etc/kamailio/tls/crl.pem"), ("coturn", None), ("openfire", None)}
    tree = pipeline.render(loaded, plan, pki)
    files = {f.path: f for f in tree.for_node("sip1")}
    crl = files["/etc/kamailio/tls/crl.pem"]
    assert crl.content == crl_bundle(lay) and crl.mode == 0o644 and not crl.sensitive
    tls_cfg = files["/etc/kamailio/tls.cfg"].content.decode()
    assert tls_cfg.count("crl = /etc/kamailio/tls/crl.pem\n") == 2, "server and client profile"
    entries = Manifest.of(tree).for_node("sip1")
    doc = node_vars(plan.node("sip1"), entries, tmp_path, frozenset(), tmp_path)
    assert doc["kamailio"]["tls"]["crl"] == "/etc/kamailio/tls/crl.pem"
    placed = next(f for f in doc["kamailio"]["files"] if f["dest"] == "/etc/kamailio/tls/crl.pem")
    assert placed["tls"], "placed by the certificates role: a new CRL reloads TLS, no restart"
    assert gate_checks(plan.node("sip1"), "kamailio")

    crl_path(lay).unlink()  # no CRL: no half material (deploy then says to run `pki issue`)
    assert "/etc/kamailio/tls/crl.pem" not in {f.path for f in pipeline.render(loaded, plan, pki).for_node("sip1")}


def test_rotating_the_intermediate_revokes_the_old_one_in_the_roots_crl(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, pki, lay = issued_site(tmp_path, capsys)
    old = load_cert(lay.intermediate_cert)
    old_leaf = load_cert(lay.leaf_dir("sip1", "kamailio") / "cert.pem")
    code, out, _ = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki), "--rotate-intermediate")
    assert code == 0 and "retired intermediate CA" in out and "1 retired intermediate(s) revoked" in out, out
    assert retired_intermediates(lay) == [old]
    root_crl = _crl(root_crl_path(lay))
    assert root_crl.get_revoked_certificate_by_serial_number(old.serial_number) is not None
    new = load_cert(lay.intermediate_cert)
    assert _crl(crl_path(lay)).issuer == new.subject, "the new intermediate signs its own CRL"
    now = root_crl.last_update_utc
    problem = revocation_problem(lay, [old_leaf.serial_number, old.serial_number], now)
    assert problem is not None and f"certificate {old.serial_number:x} is revoked" in problem
    code, out, _ = run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 0 and out.count("issued by another CA") == 3, out
    fresh = load_cert(lay.leaf_dir("sip1", "kamailio") / "cert.pem")
    assert revocation_problem(lay, [fresh.serial_number, new.serial_number], now) is None
    code, out, _ = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki))
    assert code == 0 and "nothing changed" in out, "a current root CRL is not re-signed"
