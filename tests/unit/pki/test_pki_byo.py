"""Bring-your-own certificates: material made by OpenSSL, accepted or refused with FILE:LINE."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from tests.pki_support import KEYSTORE_PASSWORD, init_and_issue, now, pki_layout, plan_of, site_copy, snapshot
from voipctl.errors import SiteError
from voipctl.pki.ca import init_ca
from voipctl.pki.issue import issue_site
from voipctl.render.certs import render_certs
from voipctl.site.dnsnames import dns_covered

ALL_LAB_NAMES = "DNS:*.lab.voipctl.test,DNS:lab.voipctl.test"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Pair:
    key: Path
    cert: Path


def _ca(out: Path, name: str) -> Pair:
    pair = Pair(out / f"{name}.key", out / f"{name}.crt")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(pair.key), "-out", str(pair.cert), "-subj", f"/CN={name}", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return pair


def _signed(out: Path, name: str, issuer: Pair, ext: str, days: int = 20) -> Pair:
    pair = Pair(out / f"{name}.key", out / f"{name}.crt")
    csr, extfile = out / f"{name}.csr", out / f"{name}.ext"
    extfile.write_text(ext)
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(pair.key), "-out", str(csr), "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(issuer.cert), "-CAkey", str(issuer.key),
             "-out", str(pair.cert), "-days", str(days), "-extfile", str(extfile))
    return pair


def _leaf(out: Path, name: str, issuer: Pair, sans: str, days: int = 20) -> Pair:
    return _signed(out, name, issuer, f"basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
                                      f"subjectAltName={sans}\n", days)


@dataclass(frozen=True)
class Byo:
    root: Pair
    inter: Pair
    leaf: Pair


@pytest.fixture
def byo(tmp_path: Path) -> Byo:
    out = tmp_path / "byo"
    out.mkdir(parents=True)
    root = _ca(out, "byo-root")
    inter = _signed(out, "byo-inter", root, "basicConstraints=critical,CA:TRUE,pathlen:0\n"
                                            "keyUsage=critical,keyCertSign,cRLSign\n")
    return Byo(root, inter, _leaf(out, "byo-leaf", inter, ALL_LAB_NAMES))


def _byo_yaml(services: list[str], key: str = "../byo/byo-leaf.key", cert: str = "../byo/byo-leaf.crt",
              ca: str = "../byo/byo-root.crt", chain: str | None = "../byo/byo-inter.crt") -> str:
    text = "pki:\n  byo:\n"
    for svc in services:
        text += f"    {svc}:\n      key: {key}\n      cert: {cert}\n"
        text += f"      chain: {chain}\n" if chain else ""
        text += f"      ca: {ca}\n"
    return text


def _line_of(site: Path, needle: str) -> int:
    return next(i for i, line in enumerate(site.read_text().splitlines(), 1) if line.strip().startswith(needle))


def test_byo_for_every_service(tmp_path: Path, byo: Byo) -> None:
    site_path = site_copy(tmp_path, "lab", _byo_yaml(["kamailio", "coturn", "openfire"]))
    site, plan, lay, results = init_and_issue(site_path, tmp_path)
    assert {r.action for r in results} == {"installed"}
    leaf_pem = byo.leaf.cert.read_bytes()
    for node in plan.nodes:
        for want in node.certs:
            stored = lay.leaf_dir(want.node, want.service)
            assert (stored / "cert.pem").read_bytes() == leaf_pem
            chain = x509.load_pem_x509_certificates((stored / "fullchain.pem").read_bytes())
            assert len(chain) == 2 and chain[1] == x509.load_pem_x509_certificate(byo.inter.cert.read_bytes())
            assert (stored / "ca.pem").read_bytes() == byo.root.cert.read_bytes()
            for host in want.dns_names:
                res = subprocess.run(
                    ["openssl", "verify", "-CAfile", str(stored / "ca.pem"), "-untrusted", str(byo.inter.cert),
                     "-purpose", "sslserver", "-verify_hostname", host, str(stored / "cert.pem")],
                    capture_output=True, text=True, check=False)
                assert res.returncode == 0, res.stdout + res.stderr
            rendered = {f.path: f.content for f in render_certs(plan, node, lay.root)}
            assert rendered[want.cert_path] == leaf_pem
    ks = lay.leaf_dir("xmpp1", "openfire") / "keystore.p12"
    pw = tmp_path / "pw"
    pw.write_text(KEYSTORE_PASSWORD)
    res = subprocess.run(["keytool", "-list", "-storetype", "PKCS12", "-keystore", str(ks), "-storepass:file",
                          str(pw)], capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0 and "PrivateKeyEntry" in res.stdout, res.stdout + res.stderr

    before = snapshot(lay.root)
    again = issue_site(site, plan, lay, KEYSTORE_PASSWORD, now())
    assert {r.action for r in again} == {"kept"}
    assert snapshot(lay.root) == before


def test_full_chain_file_as_cert_and_back_to_issued(tmp_path: Path, byo: Byo) -> None:
    full = byo.leaf.cert.parent / "fullchain.crt"
    full.write_bytes(byo.leaf.cert.read_bytes() + byo.inter.cert.read_bytes())
    site_path = site_copy(tmp_path, "lab", _byo_yaml(["kamailio"], cert="../byo/fullchain.crt", chain=None))
    site, plan, lay, results = init_and_issue(site_path, tmp_path)
    actions = {r.service: r.action for r in results}
    assert actions == {"kamailio": "installed", "coturn": "issued", "openfire": "issued"}
    stored = lay.leaf_dir("sip1", "kamailio")
    assert (stored / "fullchain.pem").read_bytes() == full.read_bytes()
    assert (stored / "cert.pem").read_bytes() == byo.leaf.cert.read_bytes()

    site_path.write_text(site_path.read_text().split("pki:\n")[0])
    site, plan = plan_of(site_path)
    result = {r.service: r for r in issue_site(site, plan, lay, KEYSTORE_PASSWORD, now())}
    assert (result["kamailio"].action, result["kamailio"].reason) == ("issued", "replacing bring-your-own material")
    assert (stored / "ca.pem").read_bytes() == lay.root_cert.read_bytes()


def _bad_cases(tmp_path: Path, byo: Byo) -> dict[str, tuple[str, str, str]]:
    """case -> (site yaml, field whose line is reported, message fragment)."""
    out = byo.leaf.cert.parent
    _leaf(out, "narrow", byo.inter, "DNS:sip1.lab.voipctl.test")
    _leaf(out, "other", byo.inter, ALL_LAB_NAMES)
    _ca(out, "stranger")
    _leaf(out, "short", byo.inter, ALL_LAB_NAMES, days=1)
    return {
        "wrong SAN": (_byo_yaml(["kamailio"], key="../byo/narrow.key", cert="../byo/narrow.crt"), "cert:",
                      "does not cover lab.voipctl.test"),
        "wrong CA": (_byo_yaml(["kamailio"], ca="../byo/stranger.crt"), "ca:",
                     "does not chain to ../byo/stranger.crt (CN=stranger)"),
        "key mismatch": (_byo_yaml(["kamailio"], key="../byo/other.key"), "key:", "does not match the certificate"),
        "expired": (_byo_yaml(["kamailio"], key="../byo/short.key", cert="../byo/short.crt"), "cert:", "expired on"),
        "missing file": (_byo_yaml(["kamailio"], key="../byo/nope.key"), "key:", "no such file"),
        "not a CA": (_byo_yaml(["kamailio"], ca="../byo/other.crt"), "ca:", "is not a CA certificate"),
    }


@pytest.mark.parametrize("case", ["wrong SAN", "wrong CA", "key mismatch", "expired", "missing file", "not a CA"])
def test_byo_refused(tmp_path: Path, byo: Byo, case: str) -> None:
    yaml, field, fragment = _bad_cases(tmp_path, byo)[case]
    site_path = site_copy(tmp_path, "lab", yaml)
    site, plan = plan_of(site_path)
    lay = pki_layout(site, tmp_path)
    init_ca(lay, site.name, "ecdsa-p384", None, now())
    when = now() + timedelta(days=2) if case == "expired" else now()
    with pytest.raises(SiteError) as err:
        issue_site(site, plan, lay, KEYSTORE_PASSWORD, when)
    (problem,) = err.value.problems
    assert problem.file == str(site_path)
    assert problem.line == _line_of(site_path, field)
    assert problem.path == f"pki.byo.kamailio.{field.rstrip(':')}"
    assert fragment in problem.message
    assert str(problem).startswith(f"{site_path}:{problem.line}: pki.byo.kamailio")
    assert not (lay.root / "leaves").exists(), "nothing may be written when BYO material is refused"


def test_byo_for_a_service_no_node_runs(tmp_path: Path, byo: Byo) -> None:
    site_path = site_copy(tmp_path, "lab", _byo_yaml(["openfire"]) + "openfire:\n  enabled: false\n")
    site, plan = plan_of(site_path)
    lay = pki_layout(site, tmp_path)
    init_ca(lay, site.name, "ecdsa-p384", None, now())
    with pytest.raises(SiteError, match="no node runs openfire"):
        issue_site(site, plan, lay, KEYSTORE_PASSWORD, now())


@pytest.mark.parametrize(
    ("name", "patterns", "covered"),
    [
        ("a.example.com", ["a.example.com"], True),
        ("A.Example.com.", ["a.example.com"], True),
        ("a.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("b.a.example.com", ["*.example.com"], False),
        ("a.example.com", ["b.example.com", "example.com"], False),
    ],
)
def test_dns_coverage(name: str, patterns: list[str], covered: bool) -> None:
    assert dns_covered(name, patterns) is covered
