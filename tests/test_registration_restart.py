"""Registrations survive a kamailio restart: usrloc writes them to the site DB (db_mode 2).

A UDP phone registers once with a long expiry, kamailio is stopped (as a deploy,
rollback or renewal would) and started again on the same rendered files and DB,
and an INVITE still reaches the phone, which has sent nothing since its REGISTER.
The negative run empties the location table before the restart: the same INVITE
then finds nobody, so the test proves the DB is what carries the binding.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_kamailio_daemon import (
    CLIENT,
    PEER,
    Lab,
    _wait_udp_port,
    install_etc,
    kamailio_argv,
    make_pki,
    rtpengine_argv,
)
from test_kamailio_render import secrets_for, solo_site

from voipctl.netns import NETNS_ETC, Netns
from voipctl.plan.build import build_plan
from voipctl.render.kamailio import render_kamailio
from voipctl.site.load import load_site

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.skipif(not (shutil.which("kamailio") and shutil.which("rtpengine") and shutil.which("ip")),
                       reason="needs kamailio, rtpengine and iproute2"),
]
PHONE = Path(__file__).with_name("busy_phone.py")


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
