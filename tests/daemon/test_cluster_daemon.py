"""Two rendered kamailio cluster nodes for real, sharing one network namespace (and rtpengine):
a client registered through sip1 is reached by a call sent to sip2, along sip1's Path.

Each kamailio reads its own rendered kamailio.cfg (-f) and its own sqlite DB (the site is
rendered once per node DB path, nothing else differs); TLS and WebSocket are off so that no
file under /etc/kamailio is shared. Both are up before the REGISTER, and usrloc keeps bindings
in memory (write-back), so sip2 can only know the binding from sip1 over DMQ.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.test_kamailio_daemon import _wait_udp_port, kamailio_argv, rtpengine_argv
from tests.unit.render.test_kamailio_render import secrets_for
from voipctl.netns import Netns
from voipctl.plan.build import build_plan
from voipctl.plan.services import KamailioPlan
from voipctl.proc import Process
from voipctl.render.kamailio import render_kamailio
from voipctl.site.load import load_site

CLIENT, PEER = "198.51.100.50", "198.51.100.51"
DOMAIN = "duo.voipctl.test"

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(not (shutil.which("kamailio") and shutil.which("rtpengine") and shutil.which("ip")),
                       reason="needs kamailio, rtpengine and iproute2"),
]


def duo_site(directory: Path, sqlite_path: str) -> Path:
    off = {"enabled": False, "port": 1}
    doc = {
        "site": "duo",
        "domain": DOMAIN,
        "nodes": [
            {"name": "sip1", "roles": ["sip"], "private": "10.79.0.11", "public": "198.51.100.11"},
            {"name": "sip2", "roles": ["sip"], "private": "10.79.0.12", "public": "198.51.100.12"},
            {"name": "media1", "roles": ["media", "turn"], "private": "10.79.0.13", "public": "198.51.100.13",
             "weight": 2},
            {"name": "media2", "roles": ["media"], "private": "10.79.0.14", "public": "198.51.100.14"},
        ],
        "kamailio": {
            "transports": {"tls": off | {"port": 5061}, "wss": off | {"port": 443}, "ws": {"enabled": False}},
            "auth": {"sqlite_path": sqlite_path},
            "sizing": {"children": 2, "tcp_children": 2, "shm_mb": 64, "pkg_mb": 8},
            # the tests' two clients place many calls in a few seconds: trusted, so pike never bans them
            "flood": {"aggregators": [CLIENT, PEER]},
        },
        "subscribers": [{"user": "alice"}, {"user": "bob"}],
    }
    path = directory / "site.yml"
    path.write_text(json.dumps(doc, indent=1))
    return path


@dataclass
class Node:
    kam: KamailioPlan
    cfg: Path
    log: Path


@dataclass
class Duo:
    ns: Netns
    nodes: dict[str, Node]
    passwords: dict[str, Path]
    relays: dict[str, Process]

    def probe(self, action: str, *args: str) -> dict[str, Any]:
        argv = [sys.executable, "-m", "voipctl.probe.sip", action, "--bind", CLIENT, *args]
        res = self.ns.run(argv, timeout=60)
        assert res.stdout, res.stderr[-2000:]
        out: dict[str, Any] = json.loads(res.stdout)
        return out

    def at(self, name: str, transport: str) -> list[str]:
        lst = next(x for x in self.nodes[name].kam.listeners if x.proto == transport)
        # The timeout only bounds a failure (a call answers in milliseconds); 3 s was too tight on loaded hosts.
        return ["--transport", transport, "--host", lst.address, "--port", str(lst.port), "--timeout", "10"]

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{x.log.read_text(errors='replace')[-2500:]}" for n, x in self.nodes.items())


@pytest.fixture(scope="module")
def duo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Duo]:
    tmp = tmp_path_factory.mktemp("vk-duo")
    nodes: dict[str, Node] = {}
    plan = None
    for name in ("sip1", "sip2"):
        home = tmp / name
        home.mkdir()
        plan = build_plan(load_site(duo_site(home, str(home / "kamailio.sqlite"))))
        node = plan.node(name)
        kam = node.kamailio
        assert kam is not None and kam.cluster is not None
        files = {f.path: f.content for f in render_kamailio(plan, node, secrets_for(plan))}
        cfg = home / "kamailio.cfg"
        cfg.write_bytes(files[kam.cfg_path])
        db = sqlite3.connect(kam.db.sqlite_path)
        db.executescript(files[kam.db.sql_path].decode())
        db.close()
        nodes[name] = Node(kam, cfg, home / "kamailio.log")
    assert plan is not None
    secrets = secrets_for(plan)
    passwords = {}
    for user in ("alice", "bob"):
        passwords[user] = tmp / f"{user}.pw"
        passwords[user].write_text(secrets.subscriber(user))
        passwords[user].chmod(0o600)
    addresses = [a for n in plan.nodes for a in (n.public or n.private, n.private)]
    with Netns([*addresses, CLIENT, PEER], prefix="vkd") as ns:
        relays = {}
        for media in ("media1", "media2"):
            rtp = plan.node(media).rtpengine
            assert rtp is not None
            relays[media] = ns.popen(rtpengine_argv(rtp), log=tmp / f"{media}.log")
        _wait_udp_port(ns, 2223)  # kamailio disables a relay that did not answer its first ping
        procs = []
        for name, node in nodes.items():
            rundir = tmp / name / "run"
            rundir.mkdir()
            procs.append(ns.popen(kamailio_argv(str(node.cfg), rundir, node.kam), log=node.log))
        found = Duo(ns, nodes, passwords, relays)
        deadline = time.monotonic() + 20
        for name in nodes:
            while time.monotonic() < deadline:
                if found.probe("options", *found.at(name, "udp"))["status"] == 200:
                    break
                time.sleep(0.2)
        assert all(p.poll() is None for p in procs), found.logs()
        time.sleep(1)  # DMQ nodes exchange their node lists at start
        yield found
        assert all(p.poll() is None for p in procs), f"a kamailio died during the tests:\n{found.logs()}"


@pytest.mark.parametrize(("callee_transport", "callee_node", "caller_node"),
                         [("tcp", "sip1", "sip2"), ("udp", "sip2", "sip1")])
def test_a_call_through_one_node_reaches_a_client_registered_on_the_other(
    duo: Duo, callee_transport: str, callee_node: str, caller_node: str,
) -> None:
    """bob registers (and keeps his connection) at one node; alice calls him through the other.
    The INVITE bob gets went through both nodes (two Vias of ours), media is anchored in rtpengine,
    and in-dialog requests (ACK, BYE from either side) follow both nodes' Record-Route."""
    for bye_from in ("caller", "callee"):
        peer = duo.at(callee_node, callee_transport)
        out = duo.probe(
            "call", *duo.at(caller_node, "udp"), "--domain", DOMAIN, "--user", "alice",
            "--password-file", str(duo.passwords["alice"]), "--media", "plain",
            "--peer-transport", callee_transport, "--peer-host", peer[peer.index("--host") + 1],
            "--peer-port", peer[peer.index("--port") + 1], "--peer-bind", PEER, "--peer-media", "plain",
            "--peer-user", "bob", "--peer-password-file", str(duo.passwords["bob"]), "--bye-from", bye_from,
        )
        assert out["status"] == 200, (out, duo.logs())
        details = out["details"]
        assert details["callee_got_ack"] and details["bye"] == 200, (details, duo.logs())
        assert details["callee_sdp"]["address"] in ("198.51.100.13", "198.51.100.14"), details["callee_sdp"]
        assert details["caller_sdp"]["address"] == details["callee_sdp"]["address"]
        invite = details["callee_received"][0]
        vias = [line for line in invite.split("\r\n") if line.lower().startswith(("via:", "v:"))]
        assert len(vias) >= 3, invite  # the caller's, the caller's node, the callee's node


def _call(duo: Duo, timeout: str = "10") -> dict[str, Any]:
    peer = duo.at("sip2", "udp")
    return duo.probe(
        "call", *duo.at("sip1", "udp"), "--domain", DOMAIN, "--user", "alice", "--password-file",
        str(duo.passwords["alice"]), "--media", "plain", "--peer-transport", "udp",
        "--peer-host", peer[peer.index("--host") + 1], "--peer-port", peer[peer.index("--port") + 1],
        "--peer-bind", PEER, "--peer-media", "plain", "--peer-user", "bob",
        "--peer-password-file", str(duo.passwords["bob"]), "--timeout", timeout)


def test_calls_spread_over_the_weighted_set_and_survive_a_stopped_media_node(duo: Duo) -> None:
    """Calls land on both relays of the set; with media1's rtpengine stopped, new calls work on media2."""
    seen = set()
    for _ in range(8):
        out = _call(duo)
        assert out["status"] == 200, (out, duo.logs())
        seen.add(out["details"]["callee_sdp"]["address"])
    assert seen == {"198.51.100.13", "198.51.100.14"}, seen
    duo.ns.stop(duo.relays["media1"])
    after = []
    for _ in range(4):
        out = _call(duo, timeout="15")
        assert out["status"] == 200, (out, duo.logs())
        after.append((out["details"]["callee_sdp"]["address"], out["elapsed_ms"]))
    assert {a for a, _ in after} == {"198.51.100.14"}, after
    print(f"after media1 stopped: {after}")


def test_the_cluster_socket_ignores_anyone_but_the_peers(duo: Duo) -> None:
    """OPTIONS from a client address to a node's cluster socket get no answer at all; the same
    request to the client-facing port gets 200."""
    cluster = duo.nodes["sip1"].kam.cluster
    assert cluster is not None
    args = ["--transport", "udp", "--host", cluster.address, "--port", str(cluster.port), "--timeout", "2"]
    out = duo.probe("options", *args)
    assert not out["answered"] and out["error"] == "no answer", out
    assert duo.probe("options", *duo.at("sip1", "udp"))["status"] == 200


def test_the_cluster_example_passes_kamailio_c(tmp_path: Path) -> None:
    """Every sip node's kamailio.cfg of inventories/cluster parses with the real kamailio -c
    (dmq, dmq_usrloc, registrar Path parameters and the weighted rtpengine set included)."""
    site = Path(__file__).resolve().parents[2] / "inventories/cluster/site.yml"
    plan = build_plan(load_site(site))
    checked = 0
    for node in plan.nodes:
        if node.kamailio is None:
            continue
        files = {f.path: f.content for f in render_kamailio(plan, node, secrets_for(plan))}
        text = files[node.kamailio.cfg_path].decode()
        assert 'loadmodule "dmq_usrloc.so"' in text and "=2 udp:" in text
        cfg = tmp_path / f"{node.name}.cfg"
        cfg.write_text(text)
        res = subprocess.run(["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60,
                             check=False)
        assert res.returncode == 0, res.stderr[-2000:]
        checked += 1
    assert checked == 2
