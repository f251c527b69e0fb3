"""The intermediate CA is name-constrained to the site: what it signs for anyone else is refused.

Checked with cryptography's RFC 5280 verifier (the one verify uses), which enforces
name constraints; and the rotation path when the site gains a name.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tests.pki_support import ca_passphrase_of_tests, issued_site, now, run_cli, site_copy
from voipctl.pipeline import load_and_plan
from voipctl.pki.ca import load_ca
from voipctl.pki.constraints import _covering, outside, site_constraints
from voipctl.pki.leaf import issue_leaf
from voipctl.pki.store import layout, load_cert


def _verifies(root: x509.Certificate, inter: x509.Certificate, leaf: x509.Certificate, name: str) -> str | None:
    verifier = PolicyBuilder().store(Store([root])).time(now()).build_server_verifier(x509.DNSName(name))
    try:
        verifier.verify(leaf, [inter])
    except VerificationError as exc:
        return str(exc)
    return None


def test_covering_domains() -> None:
    assert _covering({"a.example", "sip.a.example", "x.sip.a.example", "b.test", "ab.example"}) == [
        "a.example", "ab.example", "b.test"]


def test_intermediate_vouches_only_for_the_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = site_copy(tmp_path, "lab")
    pki = tmp_path / "pki"
    code, out, _ = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki))
    assert code == 0 and "name-constrained" in out
    lay = layout(pki, "lab")
    ext = load_cert(lay.intermediate_cert).extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical
    permitted = [g.value for g in ext.value.permitted_subtrees or []]
    assert "lab.voipctl.test" in permitted and all(not str(p).endswith(".lab.voipctl.test") for p in permitted)
    assert any(str(p) == "198.51.100.11/32" for p in permitted)

    assert run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))[0] == 0
    ca = load_ca(lay, "lab", ca_passphrase_of_tests())
    kam = load_cert(lay.leaf_dir("sip1", "kamailio") / "cert.pem")
    assert _verifies(ca.root, ca.intermediate, kam, "sip1.lab.voipctl.test") is None

    # What a stolen intermediate key would sign: refused by every RFC 5280 verifier.
    _, plan = load_and_plan(site)
    want = replace(plan.node("sip1").certs[0], dns_names=("bank.example",), ip_addresses=(), common_name="bank.example")
    forged = issue_leaf(want, "ecdsa-p256", ca, 30, now()).cert
    problem = _verifies(ca.root, ca.intermediate, forged, "bank.example")
    assert problem is not None and "name constraint" in problem.lower(), problem
    assert outside(ext.value, ("bank.example", "sip1.lab.voipctl.test"), ("192.0.2.1", "198.51.100.11")) == [
        "bank.example", "192.0.2.1"]


def test_a_new_site_name_needs_a_rotated_intermediate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, pki, lay = issued_site(tmp_path, capsys)
    old_inter = load_cert(lay.intermediate_cert)
    site.write_text(site.read_text().replace("host: turn.lab.voipctl.test", "host: turn.voice.example"))

    code, _, err = run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 1 and "media1 coturn: turn.voice.example" in err and "--rotate-intermediate" in err
    code, out, _ = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki))
    assert code == 0 and "nothing changed" in out, "plain init never replaces the intermediate"

    code, out, _ = run_cli(capsys, "pki", "init", str(site), "--pki-dir", str(pki), "--rotate-intermediate")
    assert code == 0 and "retired intermediate CA" in out and "created intermediate CA" in out
    retired = list((lay.intermediate_cert.parent / "retired").glob("*/ca.crt"))
    assert [load_cert(p) for p in retired] == [old_inter]
    code, out, _ = run_cli(capsys, "pki", "issue", str(site), "--pki-dir", str(pki))
    assert code == 0 and out.count("issued by another CA") == 2 and "media1         coturn    SANs changed" in out, out
    ca = load_ca(lay, "lab", ca_passphrase_of_tests())
    turn = load_cert(lay.leaf_dir("media1", "coturn") / "cert.pem")
    assert ca.root == load_cert(lay.root_cert), "the root (the clients' trust anchor) stays"
    assert _verifies(ca.root, ca.intermediate, turn, "turn.voice.example") is None


def test_websocket_origins_are_permitted_for_the_probe_page(tmp_path: Path) -> None:
    site = site_copy(tmp_path, "lab", replace=("https://web.lab.voipctl.test", "https://app.example.org"))
    _, plan = load_and_plan(site)
    permitted = [g.value for g in site_constraints(plan, "lab.voipctl.test").permitted_subtrees or []]
    assert "app.example.org" in permitted and "lab.voipctl.test" in permitted
