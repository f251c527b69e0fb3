"""Kamailio started on its rendered config presents the issued chain (checked by openssl s_client), and
where it verifies peers it honours the site's CRL: a revoked peer is refused once `tls.reload` loaded it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.pki_support import site_copy
from voipctl import pipeline
from voipctl.cli import main
from voipctl.netns import NETNS_ETC, Netns
from voipctl.plan.model import NodePlan
from voipctl.proc import Result

KAMRPC = Path(__file__).resolve().parents[2] / "playbooks/roles/kamailio/files/voipctl_kamrpc.py"
pytestmark = [
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("kamailio") is None, reason="kamailio is not installed"),
]


def s_client_argv(address: str, port: int, servername: str, ca_file: Path) -> list[str]:
    """An independent TLS client: shows every certificate sent and verifies it against `ca_file`."""
    return ["openssl", "s_client", "-connect", f"{address}:{port}", "-servername", servername, "-showcerts",
            "-CAfile", str(ca_file), "-verify_return_error", "-verify_hostname", servername]


@dataclass(frozen=True)
class Running:
    ns: Netns
    node: NodePlan
    pki: Path
    log: Path
    site: Path
    etc: Path  # what the daemon sees as /etc/kamailio
    run_dir: Path


def _started(tmp_path: Path, site_path: Path) -> Iterator[Running]:
    """kamailio of sip1 on the site's render (with the store's TLS material) in its own namespace."""
    db = tmp_path / "kamailio.sqlite"
    pki = tmp_path / "pki"
    for cmd in ("init", "issue"):
        assert main(["pki", cmd, str(site_path), "--pki-dir", str(pki)]) == 0
    site, plan = pipeline.load_and_plan(site_path)
    tree = pipeline.render(site, plan, pki)
    node = plan.node("sip1")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = tmp_path / "kamailio.log"
    with Netns([node.private, node.client_address], prefix="vp") as ns:
        # `ip netns exec` bind-mounts /etc/netns/NS/kamailio over /etc/kamailio for the daemon.
        etc = NETNS_ETC / ns.name / "kamailio"
        for f in tree.for_node(node.name):
            if not f.path.startswith("/etc/kamailio/"):
                continue
            target = etc / f.path.removeprefix("/etc/kamailio/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.content)
            target.chmod(f.mode)
            if f.path.endswith(".sql"):
                with sqlite3.connect(db) as con:
                    con.executescript(f.content.decode())
        assert (etc / "tls" / "fullchain.pem").exists(), "render did not place the issued chain"
        proc = ns.popen(["kamailio", "-DD", "-E", "-f", "/etc/kamailio/kamailio.cfg", "-Y", str(run_dir)], log=log)
        running = Running(ns, node, pki / site.name, log, site_path, etc, run_dir)
        try:
            yield running
        finally:
            ns.stop(proc)


def _sqlite_at(tmp_path: Path) -> tuple[str, str]:
    return "kamailio:\n", f"kamailio:\n  auth:\n    sqlite_path: {tmp_path / 'kamailio.sqlite'}\n"


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Running]:
    yield from _started(tmp_path, site_copy(tmp_path, "lab", replace=_sqlite_at(tmp_path)))


@pytest.fixture
def verifying_kamailio(tmp_path: Path) -> Iterator[Running]:
    """A site whose kamailio demands client certificates (TLS peering): its tls.cfg names the CRL."""
    old, new = _sqlite_at(tmp_path)
    new += "  tls_peer_verify: true\n  transports:\n    wss: {enabled: false, port: 443}\n"
    yield from _started(tmp_path, site_copy(tmp_path, "lab", replace=(old, new)))


def _handshake(run: Running, port: int, servername: str, ca_file: Path) -> Result:
    """Retry until kamailio listens (it starts in well under a second), then return the result."""
    argv = s_client_argv(run.node.client_address, port, servername, ca_file)
    deadline = time.monotonic() + 20
    while True:
        res = run.ns.run(argv, timeout=10)
        if res.returncode == 0 or time.monotonic() > deadline or "BEGIN CERTIFICATE" in res.stdout:
            return res
        time.sleep(0.1)


def test_kamailio_presents_leaf_and_intermediate(kamailio: Running) -> None:
    root = kamailio.pki / "root" / "ca.crt"
    stored = [
        x509.load_pem_x509_certificate((kamailio.pki / "leaves" / "sip1" / "kamailio" / "cert.pem").read_bytes()),
        x509.load_pem_x509_certificate((kamailio.pki / "intermediate" / "ca.crt").read_bytes()),
    ]
    assert kamailio.node.kamailio is not None
    ports = sorted({lst.port for lst in kamailio.node.kamailio.listeners if lst.proto in ("tls", "wss")})
    assert ports == [443, 5061]
    for port in ports:
        for name in kamailio.node.kamailio.tls.cert.dns_names:
            res = _handshake(kamailio, port, name, root)
            out = res.stdout
            assert res.returncode == 0, f"port {port} {name}: {out[-800:]} {res.stderr[-800:]} " \
                                        f"log: {kamailio.log.read_text()[-1500:]}"
            assert out.count("-----BEGIN CERTIFICATE-----") == 2
            assert "Verify return code: 0 (ok)" in out
            assert x509.load_pem_x509_certificates(out.encode()) == stored

    # The checker can fail: the same handshake against an unrelated trust store is rejected.
    other = _handshake(kamailio, 5061, "sip1.lab.voipctl.test", Path("/etc/ssl/certs/ca-certificates.crt"))
    assert other.returncode != 0
    assert "Verify return code: 0 (ok)" not in other.stdout


def test_s_client_argv() -> None:
    assert s_client_argv("198.51.100.11", 5061, "sip1.example.com", Path("/r.pem")) == [
        "openssl", "s_client", "-connect", "198.51.100.11:5061", "-servername", "sip1.example.com", "-showcerts",
        "-CAfile", "/r.pem", "-verify_return_error", "-verify_hostname", "sip1.example.com",
    ]


def _peer_handshake(run: Running, client_cert: bool = True) -> Result:
    """TLS 1.2 (a refused client certificate then fails the handshake itself) to SIP-TLS, presenting
    sip1's own kamailio leaf and the intermediate as a TLS peer would."""
    leaf = run.pki / "leaves" / "sip1" / "kamailio"
    argv = [*s_client_argv(run.node.client_address, 5061, "sip1.lab.voipctl.test", run.pki / "root" / "ca.crt"),
            "-tls1_2"]
    if client_cert:
        argv += ["-cert", str(leaf / "cert.pem"), "-key", str(leaf / "privkey.pem"),
                 "-cert_chain", str(run.pki / "intermediate" / "ca.crt")]
    deadline = time.monotonic() + 20
    while True:
        res = run.ns.run(argv, timeout=10)
        if "BEGIN CERTIFICATE" in res.stdout or time.monotonic() > deadline:
            return res
        time.sleep(0.1)


def test_kamailio_refuses_a_revoked_peer_after_the_crl_is_reloaded(verifying_kamailio: Running) -> None:
    run = verifying_kamailio
    assert (run.etc / "tls.cfg").read_text().count("crl = /etc/kamailio/tls/crl.pem") == 2
    ok = _peer_handshake(run)
    assert ok.returncode == 0 and "Verify return code: 0 (ok)" in ok.stdout, (ok.stderr[-800:],
                                                                               run.log.read_text()[-1500:])
    assert "Cipher is ECDHE" in ok.stdout
    anonymous = _peer_handshake(run, client_cert=False)
    assert anonymous.returncode != 0, "the profile demands a client certificate at all"

    assert main(["pki", "revoke", str(run.site), "kamailio", "--pki-dir", str(run.pki.parent)]) == 0
    site, plan = pipeline.load_and_plan(run.site)
    crl = next(f for f in pipeline.render(site, plan, run.pki.parent).for_node("sip1")
               if f.path == "/etc/kamailio/tls/crl.pem")
    (run.etc / "tls" / "crl.pem").write_bytes(crl.content)
    still = _peer_handshake(run)
    assert still.returncode == 0, "kamailio holds the CRL it loaded until tls.reload"
    res = run.ns.run([sys.executable, str(KAMRPC), "--socket", str(run.run_dir / "kamailio_rpc.sock"), "tls.reload"])
    assert res.returncode == 0 and json.loads(res.stdout)["ok"], (res.stdout, res.stderr)
    refused = _peer_handshake(run)
    assert refused.returncode != 0, refused.stdout[-800:]
    assert "certificate revoked" in refused.stderr, refused.stderr[-800:]
    assert "certificate verify failed" in run.log.read_text(), "kamailio itself refused the chain"
