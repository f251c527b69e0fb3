"""Kamailio started on its rendered config presents the issued chain (checked by openssl s_client)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.test_pki_support import site_copy
from voipctl import pipeline
from voipctl.cli import main
from voipctl.netns import NETNS_ETC, Netns
from voipctl.plan.model import NodePlan

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


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Running]:
    db = tmp_path / "kamailio.sqlite"
    site_path = site_copy(tmp_path, "lab", replace=("kamailio:\n", f"kamailio:\n  auth:\n    sqlite_path: {db}\n"))
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
        running = Running(ns, node, pki / site.name, log)
        try:
            yield running
        finally:
            ns.stop(proc)


def _handshake(run: Running, port: int, servername: str, ca_file: Path) -> subprocess.CompletedProcess[bytes]:
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
