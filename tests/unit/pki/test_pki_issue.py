"""`pki issue`: leaves per node and service, checked by OpenSSL and keytool; idempotence and renewal."""

from __future__ import annotations

import stat
import subprocess
from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.pki_support import (
    KEYSTORE_PASSWORD,
    edit_site,
    init_and_issue,
    now,
    openssl_verify,
    plan_of,
    site_copy,
    snapshot,
)
from voipctl.pki.issue import issue_site
from voipctl.pki.leaf import renew_at

SITES = ["lab", "split"]


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.mark.parametrize("name", SITES)
def test_every_leaf_verifies_for_every_san(tmp_path: Path, name: str) -> None:
    _, plan, lay, results = init_and_issue(site_copy(tmp_path, name), tmp_path)
    wants = [c for n in plan.nodes for c in n.certs]
    assert len(results) == len(wants) >= 3
    assert {r.action for r in results} == {"issued"}
    for want in wants:
        leaf = lay.leaf_dir(want.node, want.service)
        cert = leaf / "cert.pem"
        assert want.dns_names and want.ip_addresses
        for host in want.dns_names:
            res = openssl_verify(lay, cert, host=host)
            assert res.returncode == 0, f"{want.node} {want.service} {host}: {res.stdout}{res.stderr}"
        for ip in want.ip_addresses:
            res = openssl_verify(lay, cert, ip=ip)
            assert res.returncode == 0, f"{want.node} {want.service} {ip}: {res.stdout}{res.stderr}"
        # The checker can fail: a name the plan does not list is rejected.
        assert openssl_verify(lay, cert, host=f"not-listed.{plan.domain}").returncode != 0
        if want.client_auth:
            assert openssl_verify(lay, cert, purpose="sslclient").returncode == 0
        # fullchain.pem is leaf + intermediate; ca.pem is the root alone.
        chain = x509.load_pem_x509_certificates((leaf / "fullchain.pem").read_bytes())
        assert [c.subject for c in chain] == [_load(cert).subject, _load(lay.intermediate_cert).subject]
        assert (leaf / "ca.pem").read_bytes() == lay.root_cert.read_bytes()
        assert stat.S_IMODE((leaf / "privkey.pem").stat().st_mode) == 0o600
        for public in ("cert.pem", "fullchain.pem", "ca.pem"):
            assert stat.S_IMODE((leaf / public).stat().st_mode) == 0o644
        assert not list(leaf.glob(".*tmp*")), "temporary files left behind"


@pytest.mark.parametrize("name", SITES)
def test_leaf_extensions(tmp_path: Path, name: str) -> None:
    site, plan, lay, _ = init_and_issue(site_copy(tmp_path, name), tmp_path)
    inter = _load(lay.intermediate_cert)
    inter_ski = inter.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    for want in (c for n in plan.nodes for c in n.certs):
        cert = _load(lay.leaf_dir(want.node, want.service) / "cert.pem")
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and not bc.value.ca
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature and not ku.value.key_encipherment
        assert not ku.value.key_cert_sign
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        expected = {ExtendedKeyUsageOID.SERVER_AUTH}
        if want.client_auth:
            expected.add(ExtendedKeyUsageOID.CLIENT_AUTH)
        assert eku == expected
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == list(want.dns_names)
        assert san.get_values_for_type(x509.IPAddress) == [ip_address(a) for a in want.ip_addresses]
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == inter_ski
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert life == timedelta(days=site.spec.pki.leaf_days)


def test_split_site_has_nat_and_private_ip_sans(tmp_path: Path) -> None:
    _, plan, lay, _ = init_and_issue(site_copy(tmp_path, "split"), tmp_path)
    node = plan.node("sip-a")
    cert = _load(lay.leaf_dir("sip-a", "kamailio") / "cert.pem")
    ips = {str(a) for a in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
           .get_values_for_type(x509.IPAddress)}
    assert ips == {node.private, node.advertised} == {"172.20.1.10", "203.0.113.10"}


def test_openfire_keystore_lists_with_keytool(tmp_path: Path) -> None:
    _, plan, lay, _ = init_and_issue(site_copy(tmp_path, "lab"), tmp_path)
    node = next(n for n in plan.nodes if n.openfire is not None)
    keystore = lay.leaf_dir(node.name, "openfire") / "keystore.p12"
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    # The password goes through a file, as the product would pass it (never on argv).
    pwfile = tmp_path / "storepass"
    pwfile.write_text(KEYSTORE_PASSWORD)

    def keytool(password_file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["keytool", "-list", "-v", "-storetype", "PKCS12", "-keystore", str(keystore),
             "-storepass:file", str(password_file)],
            capture_output=True, text=True, check=False, timeout=60,
        )

    res = keytool(pwfile)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Your keystore contains 1 entry" in res.stdout
    assert "PrivateKeyEntry" in res.stdout
    assert "Certificate chain length: 2" in res.stdout
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong-password")
    assert keytool(wrong).returncode != 0
    _, cert, chain = pkcs12.load_key_and_certificates(keystore.read_bytes(), KEYSTORE_PASSWORD.encode())
    assert cert is not None and cert == _load(lay.leaf_dir(node.name, "openfire") / "cert.pem")
    assert chain == [_load(lay.intermediate_cert)]


def test_second_issue_writes_nothing(tmp_path: Path) -> None:
    site, plan, lay, _ = init_and_issue(site_copy(tmp_path, "lab"), tmp_path)
    before = snapshot(lay.root)
    results = issue_site(site, plan, lay, KEYSTORE_PASSWORD, now())
    assert {r.action for r in results} == {"kept"}
    assert all(r.written == () for r in results)
    assert snapshot(lay.root) == before


def test_renewal_after_two_thirds_of_lifetime(tmp_path: Path) -> None:
    t0 = now()
    site, plan, lay, _ = init_and_issue(site_copy(tmp_path, "lab"), tmp_path, t0)
    cert_path = lay.leaf_dir("sip1", "kamailio") / "cert.pem"
    first = _load(cert_path)
    boundary = renew_at(first)
    assert timedelta(days=59) < boundary - t0 < timedelta(days=61)

    before = snapshot(lay.root)
    kept = issue_site(site, plan, lay, KEYSTORE_PASSWORD, boundary - timedelta(minutes=1))
    assert {r.action for r in kept} == {"kept"}
    assert snapshot(lay.root) == before

    renewed = issue_site(site, plan, lay, KEYSTORE_PASSWORD, boundary + timedelta(minutes=1))
    assert {r.action for r in renewed} == {"renewed"}
    assert {r.reason for r in renewed} == {"past 2/3 of its lifetime"}
    second = _load(cert_path)
    assert second.serial_number != first.serial_number
    assert second.public_key() != first.public_key()
    assert second.not_valid_after_utc > first.not_valid_after_utc
    keystore = lay.leaf_dir("xmpp1", "openfire") / "keystore.p12"
    _, ks_cert, _ = pkcs12.load_key_and_certificates(keystore.read_bytes(), KEYSTORE_PASSWORD.encode())
    assert ks_cert == _load(lay.leaf_dir("xmpp1", "openfire") / "cert.pem")


def test_san_change_renews_only_that_leaf(tmp_path: Path) -> None:
    site_path = site_copy(tmp_path, "lab")
    _, _, lay, _ = init_and_issue(site_path, tmp_path)
    sip_before = (lay.leaf_dir("sip1", "kamailio") / "cert.pem").read_bytes()
    edit_site(site_path, "host: turn.lab.voipctl.test", "host: relay.lab.voipctl.test")
    site, plan = plan_of(site_path)
    results = {(r.node, r.service): r for r in issue_site(site, plan, lay, KEYSTORE_PASSWORD, now())}
    assert results["media1", "coturn"].action == "renewed"
    assert results["media1", "coturn"].reason == "SANs changed"
    assert results["sip1", "kamailio"].action == "kept"
    assert (lay.leaf_dir("sip1", "kamailio") / "cert.pem").read_bytes() == sip_before
    res = openssl_verify(lay, lay.leaf_dir("media1", "coturn") / "cert.pem", host="relay.lab.voipctl.test")
    assert res.returncode == 0, res.stdout + res.stderr


def test_key_type_change_reissues_rsa(tmp_path: Path) -> None:
    site_path = site_copy(tmp_path, "lab")
    _, _, lay, _ = init_and_issue(site_path, tmp_path)
    site_path.write_text(site_path.read_text() + "pki:\n  leaf_key: rsa-2048\n  leaf_days: 30\n")
    site, plan = plan_of(site_path)
    results = issue_site(site, plan, lay, KEYSTORE_PASSWORD, now())
    assert {r.reason for r in results} == {"key type ecdsa-p256 -> rsa-2048"}
    cert = _load(lay.leaf_dir("sip1", "kamailio") / "cert.pem")
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=30)
    res = openssl_verify(lay, lay.leaf_dir("sip1", "kamailio") / "cert.pem", host="sip1.lab.voipctl.test")
    assert res.returncode == 0, res.stdout + res.stderr


def test_damaged_leaf_is_reissued(tmp_path: Path) -> None:
    site, plan, lay, _ = init_and_issue(site_copy(tmp_path, "lab"), tmp_path)
    leaf = lay.leaf_dir("media1", "coturn")
    (leaf / "privkey.pem").write_bytes((lay.leaf_dir("sip1", "kamailio") / "privkey.pem").read_bytes())
    results = {(r.node, r.service): r for r in issue_site(site, plan, lay, KEYSTORE_PASSWORD, now())}
    assert results["media1", "coturn"].reason == "key does not match certificate"
    res = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", str(leaf / "cert.pem")],
                         capture_output=True, check=True)
    key = subprocess.run(["openssl", "pkey", "-pubout", "-in", str(leaf / "privkey.pem")],
                         capture_output=True, check=True)
    assert res.stdout == key.stdout
