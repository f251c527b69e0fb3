"""Lifecycle on real daemons: registrations survive a kamailio restart, certificates renew
without one.

Restart: usrloc writes bindings to the site DB (db_mode 2). A UDP phone registers
once with a long expiry, kamailio is stopped (as a deploy, rollback or renewal
would) and started again on the same rendered files and DB,
and an INVITE still reaches the phone, which has sent nothing since its REGISTER.
The negative run empties the location table before the restart: the same INVITE
then finds nobody, so the test proves the DB is what carries the binding.

Subscribers: kamailio checks digests against an in-memory HA1 cache; `htable.reload auth` (what
deploy runs after changing the subscriber DB) makes an added account usable and a removed one
unusable without a restart.

Renewal: new certificate files, then `tls.reload` over jsonrpcs' socket (the deploy
role's own helper) for kamailio and SIGUSR2 for coturn 4.6.1; the PIDs stay, the new
certificate is served, and a TLS connection opened before the reload keeps working.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.daemon.test_kamailio_daemon import (
    CLIENT,
    PEER,
    Lab,
    _wait_udp_port,
    install_etc,
    kamailio_argv,
    make_pki,
    rtpengine_argv,
)
from tests.unit.render.test_kamailio_render import secrets_for, solo_site
from voipctl.check import argv
from voipctl.check.daemons import node_addresses, staged
from voipctl.check.stage import throwaway_cert
from voipctl.netns import NETNS_ETC, Netns
from voipctl.plan.build import build_plan
from voipctl.render.coturn import render_coturn
from voipctl.render.kamailio import render_kamailio
from voipctl.render.subscribers import digest_ha1
from voipctl.secrets import Secrets
from voipctl.site.load import load_site

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.skipif(not (shutil.which("kamailio") and shutil.which("rtpengine") and shutil.which("ip")),
                       reason="needs kamailio, rtpengine and iproute2"),
]
PHONE = Path(__file__).resolve().parents[1] / "busy_phone.py"


class Restartable:
    """kamailio in a namespace that the test can stop and start again on the same files and DB."""

    def __init__(self, lab: Lab, rundir: Path) -> None:
        self.lab, self.rundir = lab, rundir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = self.lab.ns.popen(kamailio_argv(self.lab.kam.cfg_path, self.rundir, self.lab.kam), log=self.lab.log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.lab.probe("options", *self.lab.at("udp"))["status"] == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"kamailio did not come up:\n{self.lab.log_tail()}")

    def stop(self) -> float:
        """SIGTERM (what systemd sends on restart); returns the seconds it took to exit."""
        assert self.proc is not None
        began = time.monotonic()
        code = self.lab.ns.stop(self.proc, grace=10)
        assert code in (0, -15), f"kamailio exited {code}:\n{self.lab.log_tail()}"
        return time.monotonic() - began


@pytest.fixture(scope="module")
def kam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    tmp = tmp_path_factory.mktemp("vr-kamailio")
    plan = build_plan(load_site(solo_site(tmp, sqlite_path=str(tmp / "kamailio.sqlite"))))
    node = plan.nodes[0]
    assert node.kamailio is not None and node.rtpengine is not None
    secrets = secrets_for(plan)
    files = {f.path: f.content for f in render_kamailio(plan, node, secrets)}
    with sqlite3.connect(node.kamailio.db.sqlite_path) as db:
        db.executescript(files[node.kamailio.db.sql_path].decode())
    pki = make_pki(node.kamailio.tls.cert)
    (tmp / "ca.pem").write_bytes(pki[node.kamailio.tls.cert.ca_path])
    passwords = {}
    for user in ("alice", "bob"):
        passwords[user] = tmp / f"{user}.pw"
        passwords[user].write_text(secrets.subscriber(user))
        passwords[user].chmod(0o600)
    (tmp / "run").mkdir()
    with Netns([node.public or node.private, node.private, CLIENT, PEER], prefix="vr") as ns:
        install_etc(NETNS_ETC / ns.name, {p: c for p, c in files.items() if p.startswith("/etc/kamailio/")} | pki)
        ns.popen(rtpengine_argv(node.rtpengine), log=tmp / "rtpengine.log")
        _wait_udp_port(ns, node.rtpengine.ng_port)
        lab = Lab(ns, node, node.kamailio, files, tmp / "ca.pem", passwords, tmp / "kamailio.log")
        server = Restartable(lab, tmp / "run")
        server.start()
        yield server
        if server.proc is not None:
            ns.stop(server.proc)


def _register_bob(kam: Restartable) -> tuple[str, int]:
    lab = kam.lab
    out = lab.probe("register", *lab.at("udp", bind=PEER), "--domain", lab.kam.domain, "--user", "bob",
                    "--password-file", str(lab.passwords["bob"]), "--expires", "3600", bind=PEER)
    assert out["status"] == 200, (out, lab.log_tail())
    contact = {k.lower(): v for k, v in out["headers"]}["contact"]
    assert "expires=3600" in contact, contact
    m = re.search(r"@([0-9.]+):(\d+)", contact)
    assert m, contact
    return m.group(1), int(m.group(2))


def _bindings(kam: Restartable) -> list[tuple[str, str]]:
    with sqlite3.connect(kam.lab.kam.db.sqlite_path) as db:
        return db.execute("SELECT username, contact FROM location ORDER BY username").fetchall()


def _call_bob(kam: Restartable, address: str, port: int) -> tuple[dict[str, object], list[str]]:
    """alice INVITEs bob while the 'phone' listens where bob registered from: (alice's answer, what it got)."""
    lab = kam.lab
    phone = lab.ns.popen([sys.executable, str(PHONE), address, str(port), "8"], log=lab.log.with_name("phone.log"))
    deadline = time.monotonic() + 5
    while "listening" not in lab.log.with_name("phone.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    out = lab.probe("invite", *lab.at("udp"), "--domain", lab.kam.domain, "--user", "alice",
                    "--password-file", str(lab.passwords["alice"]), "--peer-user", "bob", "--timeout", "5")
    phone.wait(15)
    lines = lab.log.with_name("phone.log").read_text().splitlines()
    received: list[str] = json.loads(lines[-1])["received"]
    return out, received


def test_a_udp_registration_survives_a_restart(kam: Restartable) -> None:
    address, port = _register_bob(kam)
    assert address == PEER
    took = kam.stop()
    rows = _bindings(kam)
    assert [u for u, _ in rows] == ["bob"], "usrloc wrote the binding back at shutdown"
    kam.start()
    out, received = _call_bob(kam, address, port)
    assert received and received[0].startswith("INVITE sip:bob@"), (received, kam.lab.log_tail())
    assert not any(r.startswith("REGISTER") for r in received)
    assert (out["status"], out["reason"]) == (486, "Busy Here"), (out, kam.lab.log_tail())
    print(f"kamailio stopped in {took:.2f} s; after the restart the INVITE reached the phone registered before it")


def test_without_the_stored_binding_the_same_invite_finds_nobody(kam: Restartable) -> None:
    """The negative run: the location table emptied while kamailio is down."""
    address, port = _register_bob(kam)
    kam.stop()
    with sqlite3.connect(kam.lab.kam.db.sqlite_path) as db:
        db.execute("DELETE FROM location")
    kam.start()
    out, received = _call_bob(kam, address, port)
    assert received == [], received
    assert out["status"] in (404, 480), out


# --- certificate renewal without a restart -------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
KAMRPC = REPO_ROOT / "playbooks/roles/kamailio/files/voipctl_kamrpc.py"
KEEPER = Path(__file__).resolve().parents[1] / "tls_keeper.py"
_SERVED = "import ssl, sys; print(ssl.get_server_certificate((sys.argv[1], int(sys.argv[2]))))"


def served_sha256(ns: Netns, address: str, port: int) -> str:
    """SHA-256 of the certificate a TLS listener shows to a new connection (from inside the namespace)."""
    res = ns.run([sys.executable, "-c", _SERVED, address, str(port)], timeout=20)
    assert res.returncode == 0, res.stderr[-1000:]
    return cert_sha256(res.stdout.encode())


def cert_sha256(pem: bytes) -> str:
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()


def test_kamailio_renews_its_certificate_without_a_restart(kam: Restartable, tmp_path: Path) -> None:
    lab = kam.lab
    assert kam.proc is not None
    pid = kam.proc.pid
    cert = lab.kam.tls.cert
    tls = next(x for x in lab.kam.listeners if x.proto == "tls")
    old = served_sha256(lab.ns, tls.address, tls.port)
    trigger = tmp_path / "go"
    keeper_log = tmp_path / "keeper.log"
    keeper = lab.ns.popen([sys.executable, str(KEEPER), tls.address, str(tls.port), lab.kam.wss_host,
                           str(lab.ca_file), CLIENT, str(trigger)], log=keeper_log)
    deadline = time.monotonic() + 10
    while '"first"' not in keeper_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    first = json.loads(keeper_log.read_text().splitlines()[0])
    assert first == {"first": 200, "cert_sha256": old}, first

    renewed = make_pki(cert)  # a new key and certificate at the same paths (a new CA too: told apart below)
    install_etc(NETNS_ETC / lab.ns.name, renewed)
    new_ca = tmp_path / "new-ca.pem"
    new_ca.write_bytes(renewed[cert.ca_path])
    with_new_ca = [*lab.at("tls")]
    with_new_ca[with_new_ca.index("--ca-file") + 1] = str(new_ca)
    assert served_sha256(lab.ns, tls.address, tls.port) == old, "files alone change nothing: kamailio holds the old"
    assert not lab.probe("options", *with_new_ca)["answered"]

    began = time.monotonic()
    res = lab.ns.run([sys.executable, str(KAMRPC), "--socket", str(kam.rundir / "kamailio_rpc.sock"), "tls.reload"])
    took = time.monotonic() - began
    assert res.returncode == 0 and json.loads(res.stdout)["ok"], (res.stdout, res.stderr, lab.log_tail())

    new = cert_sha256(renewed[cert.cert_path])
    assert served_sha256(lab.ns, tls.address, tls.port) == new != old
    out = lab.probe("options", *with_new_ca)
    assert out["status"] == 200, (out, lab.log_tail())
    trigger.touch()
    keeper.wait(15)
    assert json.loads(keeper_log.read_text().splitlines()[1]) == {"second": 200}, "the open connection carried on"
    assert kam.proc.poll() is None and kam.proc.pid == pid
    print(f"tls.reload answered in {took:.3f} s; kamailio pid {pid} unchanged; new certificate served")


def test_kamrpc_reports_an_unknown_method_and_a_missing_socket(kam: Restartable, tmp_path: Path) -> None:
    sock = str(kam.rundir / "kamailio_rpc.sock")
    bad = kam.lab.ns.run([sys.executable, str(KAMRPC), "--socket", sock, "no.such.method"])
    assert bad.returncode == 1 and not json.loads(bad.stdout)["ok"]
    gone = kam.lab.ns.run([sys.executable, str(KAMRPC), "--socket", str(tmp_path / "none.sock"), "tls.reload"])
    assert gone.returncode == 1 and "no answer" in json.loads(gone.stdout)["msg"]


def test_subscriber_changes_apply_on_htable_reload_without_a_restart(kam: Restartable, tmp_path: Path) -> None:
    """kamailio checks digests against its in-memory HA1 cache: a subscriber added to the DB is
    refused until `htable.reload auth` (what deploy runs when the subscribers change), then
    accepted; removed and reloaded, refused again; kamailio's pid never changes."""
    lab = kam.lab
    assert kam.proc is not None
    pid = kam.proc.pid
    password = tmp_path / "carol.pw"
    password.write_text("carol-Secret_0123456789")
    password.chmod(0o600)
    ha1 = digest_ha1("carol", lab.kam.domain, password.read_text())

    def carol() -> int:
        out = lab.probe("register", *lab.at("udp"), "--domain", lab.kam.domain, "--user", "carol",
                        "--password-file", str(password), "--remove")
        return int(out["status"])

    def reload() -> None:
        res = lab.ns.run([sys.executable, str(KAMRPC), "--socket", str(kam.rundir / "kamailio_rpc.sock"),
                          "htable.reload", "auth"])
        assert res.returncode == 0 and json.loads(res.stdout)["ok"], (res.stdout, res.stderr, lab.log_tail())

    assert carol() == 401
    with sqlite3.connect(lab.kam.db.sqlite_path) as db:
        db.execute("INSERT INTO subscriber (username, domain, ha1) VALUES ('carol', ?, ?)", (lab.kam.domain, ha1))
    assert carol() == 401, "the cache, not the DB, answers: unchanged until reloaded"
    reload()
    assert carol() == 200, lab.log_tail()
    with sqlite3.connect(lab.kam.db.sqlite_path) as db:
        db.execute("DELETE FROM subscriber WHERE username = 'carol'")
    reload()
    assert carol() == 401
    assert kam.proc.poll() is None and kam.proc.pid == pid


@pytest.mark.skipif(not shutil.which("turnserver"), reason="needs coturn")
def test_coturn_renews_its_certificate_on_sigusr2(tmp_path: Path) -> None:
    """coturn 4.6.1 reloads its certificate and key on SIGUSR2 (mainrelay.c reload_ssl_certs)."""
    plan = build_plan(load_site(REPO_ROOT / "inventories/lab/site.yml"))
    node = plan.node("media1")
    tc = node.coturn
    assert tc is not None
    secrets = Secrets({"turn_secret": "turn-Secret_0123456789"})
    files = render_coturn(plan, node, secrets) + throwaway_cert(tc.tls.cert)
    with staged(files) as stage, Netns(node_addresses(node), prefix="vr") as ns:
        proc = ns.popen(argv.sandbox_argv(str(stage), argv.coturn_argv(tc.conf_path)), log=tmp_path / "coturn.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if ns.run([sys.executable, "-c", _SERVED, tc.listen_address, str(tc.tls_port)]).returncode == 0:
                break
            time.sleep(0.1)
        old = served_sha256(ns, tc.listen_address, tc.tls_port)
        renewed = throwaway_cert(tc.tls.cert)
        for f in renewed:  # into the daemon's own view of /etc (its sandbox overlay)
            Path(f"/proc/{proc.pid}/root{f.path}").write_bytes(f.content)
        assert served_sha256(ns, tc.listen_address, tc.tls_port) == old, "files alone change nothing"
        os.kill(proc.pid, signal.SIGUSR2)
        new = cert_sha256(next(f.content for f in renewed if f.path == tc.tls.cert.cert_path))
        deadline = time.monotonic() + 5
        while served_sha256(ns, tc.listen_address, tc.tls_port) != new and time.monotonic() < deadline:
            time.sleep(0.1)
        assert served_sha256(ns, tc.listen_address, tc.tls_port) == new != old
        assert proc.poll() is None, (tmp_path / "coturn.log").read_text()[-2000:]
        assert "Reloading TLS certificates and keys" in (tmp_path / "coturn.log").read_text()
        ns.stop(proc)
