"""The cluster example on the on-machine lab: 2 sip and 2 media nodes (one also TURN).

One lab for the module (site `vclu`, a free private /24), deployed with the rolling deploy
(canary first, one node per role at a time). Then, on the same hosts, in order: a call between
clients of different sip nodes; SRV and NAPTR from the lab resolver; `verify --browser` green with the
browser and the phone on different sip nodes and every media node carrying a test call; a stopped media
node (new calls land on the other, and verify's check of that node alone turns red); a stopped sip
node (a client following SRV registers through the other and is reached); a rolling deploy of a
change while OPTIONS are watched on both sip nodes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.lab.test_deploy_lab import Lab, _skip_without_lab, _tampered, lab_of
from tests.labsites import free_private_prefix
from voipctl import pipeline
from voipctl.deploy.rolling import Rollout, roll_prepared
from voipctl.deploy.session import prepare
from voipctl.lab.topology import lab_topology
from voipctl.plan.model import Plan
from voipctl.proc import in_netns
from voipctl.verify.call import probe as callprobe
from voipctl.verify.probes.vantage import lab_node_netns, lab_vantages

pytestmark = pytest.mark.lab

SITE = "vclu"
DOMAIN = f"{SITE}.voipctl.test"

# One OPTIONS over UDP to HOST:5060: True on a 200 within 1 s (no answer, ICMP refused: False).
OPTIONS_FN = r"""
import json, os, socket, sys, time, uuid
def options(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((host, 5060))
    me, port = s.getsockname()
    branch, tag = "z9hG4bK" + uuid.uuid4().hex[:16], uuid.uuid4().hex[:8]
    msg = (f"OPTIONS sip:{host}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {me}:{port};branch={branch};rport\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:watch@{host}>;tag={tag}\r\nTo: <sip:{host}>\r\n"
           f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nUser-Agent: cluster-watch\r\n"
           f"Content-Length: 0\r\n\r\n")
    try:
        s.send(msg.encode())
        while True:
            data = s.recv(65535).decode(errors="replace")
            if branch in data and not data.startswith("SIP/2.0 1"):
                return data.startswith("SIP/2.0 200 ")
    except OSError:
        return False
    finally:
        s.close()
"""
# Every 0.25 s until the stop file exists, OPTIONS to every address given; one JSON line per round.
WATCH = OPTIONS_FN + r"""
stop, targets = sys.argv[1], sys.argv[2:]
while not os.path.exists(stop):
    print(json.dumps({"at": time.time(), "ok": [h for h in targets if options(h)]}), flush=True)
    time.sleep(0.25)
"""
# A SIP client's server choice (RFC 3263): SRV targets of the domain by priority, then weight, the
# first answering OPTIONS wins. Prints what it tried and chose.
SRV_CLIENT = OPTIONS_FN + r"""
import dns.resolver
server, domain = sys.argv[1], sys.argv[2]
r = dns.resolver.Resolver(configure=False); r.nameservers = [server]; r.lifetime = 3
srv = sorted(r.resolve(f"_sip._udp.{domain}", "SRV"), key=lambda a: (a.priority, -a.weight, str(a.target)))
tried = []
for rec in srv:
    target = str(rec.target).rstrip(".")
    address = r.resolve(target, "A")[0].to_text()
    ok = options(address)
    tried.append([target, address, ok])
    if ok:
        break
print(json.dumps({"tried": tried}))
"""


@dataclass
class Cluster:
    lab: Lab
    plan: Plan
    passwords: dict[str, Path]
    rollout: Rollout

    def public(self, node: str) -> str:
        return self.lab.addresses[node][1]

    def sip(self, action: str, *args: str, timeout: float = 90) -> dict[str, Any]:
        argv = [sys.executable, "-m", "voipctl.probe.sip", action, *args]
        res = subprocess.run(in_netns(self.lab.client_netns, argv), capture_output=True, timeout=timeout,
                             check=False)
        assert res.stdout, res.stderr.decode()[-2000:]
        out: dict[str, Any] = json.loads(res.stdout)
        return out

    def call(self, caller_node: str, callee_node: str, callee_transport: str = "tcp",
             timeout: int = 10) -> dict[str, Any]:
        return self.sip(
            "call", "--transport", "udp", "--host", self.public(caller_node), "--port", "5060",
            "--timeout", str(timeout),
            "--domain", DOMAIN, "--user", "alice", "--password-file", str(self.passwords["alice"]),
            "--media", "plain", "--peer-transport", callee_transport, "--peer-host", self.public(callee_node),
            "--peer-port", "5060", "--peer-media", "plain", "--peer-user", "bob",
            "--peer-password-file", str(self.passwords["bob"]))

    def systemctl(self, node: str, verb: str, unit: str) -> None:
        self.lab.ssh(node, "systemctl", verb, unit)


def _site_text() -> str:
    """The cluster example without its turn and xmpp nodes (media2 also runs coturn): four hosts, since
    every nspawn host holds inotify instances, of which the machine's labs share 128."""
    text = (REPO / "inventories" / "cluster" / "site.yml").read_text()
    text = text.replace("site: cluster\n", f"site: {SITE}\n").replace("cluster.voipctl.test", DOMAIN)
    head, _, tail = text.partition("  - name: turn1\n")
    tail = tail[tail.index("\nkamailio:"):]
    head = head.replace("  - name: media2\n    roles: [media]\n", "  - name: media2\n    roles: [media, turn]\n")
    return (head + tail).replace("10.78.0.", free_private_prefix())


def _rolled(lab: Lab) -> Rollout:
    options = lab.options()
    return roll_prepared(prepare(lab.site_file, options), options, 1, lab.record, lambda i, b: None)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _skip_without_lab()
    work = tmp_path_factory.mktemp("clusterlab")
    site_file = work / "site.yml"
    site_file.write_text(_site_text())
    for lab in lab_of(work, site_file, SITE):
        rollout = _rolled(lab)
        states = dict(rollout.host_states())
        assert not rollout.stopped and all(s.startswith("new config") for s in states.values()), (
            states, [o.failures for o in rollout.outcomes], lab.output[-40:])
        loaded, plan = pipeline.load_and_plan(site_file)
        secrets = pipeline.secrets_for(loaded, plan)
        passwords = {}
        for user in ("alice", "bob"):
            passwords[user] = work / f"{user}.pw"
            passwords[user].write_text(secrets.subscriber(user))
            passwords[user].chmod(0o600)
        yield Cluster(lab, plan, passwords, rollout)


def test_rollout_went_canary_first_one_node_per_role_at_a_time(cluster: Cluster) -> None:
    assert cluster.rollout.batches == (("media1",), ("media2",), ("sip1",), ("sip2",))


def test_clients_of_different_sip_nodes_call_each_other(cluster: Cluster) -> None:
    """bob on sip1 over TCP (his connection stays there), alice calls through sip2; and the reverse over UDP."""
    media = {cluster.public("media1"), cluster.public("media2")}
    for caller, callee, transport in (("sip2", "sip1", "tcp"), ("sip1", "sip2", "udp")):
        out = cluster.call(caller, callee, transport)
        assert out["status"] == 200, out
        details = out["details"]
        assert details["callee_got_ack"] and details["bye"] == 200, details
        assert details["callee_sdp"]["address"] in media, details["callee_sdp"]


# A fixed client port (SIPp's 5090 in verify; a phone keeps its port when it fails over between nodes).
MOVING_PORT = 5166


def _holders(cluster: Cluster, contact: str) -> list[str]:
    """The sip nodes whose usrloc lists `contact` in any state (a binding marked deleted included)."""
    return [n for n in ("sip1", "sip2") if contact in cluster.lab.ssh(n, "kamctl", "ul", "show")]


def _register(cluster: Cluster, node: str, *remove: str) -> None:
    out = cluster.sip("register", "--transport", "udp", "--host", cluster.public(node), "--port", "5060",
                      "--bind-port", str(MOVING_PORT), "--domain", DOMAIN, "--user", "bob",
                      "--password-file", str(cluster.passwords["bob"]), "--expires", "300", *remove)
    assert out["status"] == 200, out
    assert not remove or out["details"]["unregister"] == {"status": 200, "still_bound": False}, out


def test_a_contact_that_moves_between_sip_nodes_leaves_no_ghost_binding(cluster: Cluster) -> None:
    """bob's Contact is registered through sip1, held past usrloc's timer (a phone between two
    registrations) and removed; once a node no longer holds it, the same Contact is registered and
    removed through that node. Afterwards no node may hold it: a binding left behind forks every later
    call to bob to a ghost. dmq_usrloc finds a replicated binding by ruid, else by Contact, and keeps the
    ruid it found; with usrloc write-back a removed binding that reached the DB lingers until each node's
    timer, so the node still holding it kept the old ruid, never matched the second removal and kept the
    binding alive (issue 16's cross-node call failures)."""
    kam = cluster.plan.node("sip1").kamailio
    assert kam is not None
    timer = kam.usrloc.timer_interval
    contact = f"sip:bob@{lab_topology(cluster.plan).addresses.public_client}:{MOVING_PORT}"
    _register(cluster, "sip1")
    time.sleep(timer + 5)
    _register(cluster, "sip1", "--remove")
    deadline = time.monotonic() + timer + 15
    while len(holders := _holders(cluster, contact)) == 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(holders) < 2, f"{contact} still on both sip nodes {timer + 15} s after its removal"
    moved_to = "sip2" if "sip2" not in holders else "sip1"
    _register(cluster, moved_to, "--remove")
    time.sleep(1)  # DMQ replication
    assert _holders(cluster, contact) == [], (f"{contact} removed through {moved_to} (first held by "
                                              f"{holders or 'none'}) is still bound")


def test_resolver_publishes_srv_and_naptr_over_both_sip_nodes(cluster: Cluster) -> None:
    query = (
        "import json, sys, dns.resolver\n"
        "r = dns.resolver.Resolver(configure=False); r.nameservers = [sys.argv[1]]; r.lifetime = 3\n"
        "print(json.dumps([sorted(a.to_text() for a in r.resolve(n, t)) for n, t in json.loads(sys.argv[2])]))\n"
    )
    server = lab_topology(cluster.plan).addresses.resolver_public
    asks = [(f"_sip._udp.{DOMAIN}", "SRV"), (DOMAIN, "NAPTR")]
    res = subprocess.run(in_netns(cluster.lab.client_netns,
                                            [sys.executable, "-c", query, server, json.dumps(asks)]),
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    srv, naptr = json.loads(res.stdout)
    assert srv == [f"10 10 5060 sip1.{DOMAIN}.", f"10 10 5060 sip2.{DOMAIN}."]
    assert [n.split()[:4] for n in naptr] == [["10", "10", '"s"', '"SIPS+D2T"'], ["10", "20", '"s"', '"SIP+D2T"'],
                                              ["10", "30", '"s"', '"SIP+D2U"']]


def _verify(cluster: Cluster, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    lab = cluster.lab
    report = lab.workdir / f"report-{time.monotonic_ns()}.json"
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "voipctl", "verify", str(lab.site_file), "-o", str(lab.render_dir),
                          "--pki-dir", str(lab.pki_dir), "--json", str(report), *extra],
                         capture_output=True, text=True, timeout=900, check=False, cwd=REPO)
    assert report.exists(), f"no report (exit {res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    outcomes: list[dict[str, Any]] = json.loads(report.read_text())["outcomes"]
    print(f"verify {' '.join(extra)}: exit {res.returncode}, {len(outcomes)} outcomes in "
          f"{time.monotonic() - started:.0f} s")
    return res.returncode, outcomes


def _one(outcomes: list[dict[str, Any]], group: str, name: str) -> dict[str, Any]:
    found = [o for o in outcomes if o["group"] == group and o["name"].startswith(name)]
    assert len(found) == 1, (name, [o["name"] for o in outcomes if o["group"] == group])
    return found[0]


def test_verify_browser_on_the_cluster_with_browser_and_phone_on_different_sip_nodes(cluster: Cluster) -> None:
    """`verify --browser` is green: the browser registers over WSS through sip1, the phone over UDP
    through sip2, the browser uses the plan's TURN URIs, every call between them (direct, via the TURN
    relay, phone to browser with its re-INVITE, the fork to browser and desk phone) passes, and each
    media node's rtpengine knew a test call. (The phone-to-browser calls failed in 2 of 3 runs while
    ghost bindings forked them: see the moving-contact test above.)"""
    rc, outcomes = _verify(cluster, "--browser")
    failed = [(o["group"], o["name"], o["detail"]) for o in outcomes if o["status"] != "passed"]
    assert not failed, failed
    assert rc == 0, rc
    browser = _one(outcomes, "browser", "browser registers over WSS")
    phone = _one(outcomes, "browser", "phone registers (plain SIP)")
    assert (browser["host"], phone["host"]) == ("sip1", "sip2"), (browser, phone)
    assert "through sip node sip1" in browser["detail"] and "through sip node sip2" in phone["detail"]
    relay = _one(outcomes, "browser", "browser calls phone via TURN relay: media relayed by coturn")
    print(relay["detail"])
    for node in ("media1", "media2"):
        carried = _one(outcomes, "call", f"media node {node} carried a test call")
        print(carried["detail"])
    media = [o["detail"].split(":")[0] for o in outcomes if o["name"].endswith("rtpengine media both legs, both ways")]
    print(f"browser calls by media node: {media}")


def test_a_stopped_media_node_leaves_new_calls_to_the_other(cluster: Cluster) -> None:
    """New calls through sip1 are anchored on media2 while media1's rtpengine is stopped. The limit is
    generous: media1's firewall drops ng silently, so kamailio may wait rtpengine_tout_ms x retries
    before it disables the relay (one run with a 10 s limit timed out here). verify's SIPp calls then
    all succeed through media2, and of its checks exactly the one of media1 fails, naming it."""
    cluster.systemctl("media1", "stop", "rtpengine-daemon")
    try:
        seen = []
        for _ in range(3):
            out = cluster.call("sip1", "sip2", "udp", timeout=60)
            assert out["status"] == 200, out
            seen.append((out["details"]["callee_sdp"]["address"], out["elapsed_ms"]))
        print(f"calls with media1 stopped (SDP address, ms): {seen}")
        assert {a for a, _ in seen} == {cluster.public("media2")}, seen
        plan, secrets = cluster.plan, pipeline.secrets_for(*pipeline.load_and_plan(cluster.lab.site_file))
        vantages = lab_vantages(plan)
        assert vantages is not None
        setup = callprobe.call_setup(plan, vantages, secrets, lab_node_netns(plan))
        assert isinstance(setup, callprobe.CallSetup), setup
        work = cluster.lab.workdir / "call-media1-stopped"
        work.mkdir(mode=0o700)
        outcomes = callprobe.run_call(setup, work)
    finally:
        cluster.systemctl("media1", "start", "rtpengine-daemon")
    failed = [o for o in outcomes if not o.ok]
    print("\n".join(f"{o.status}: {o.name}: {o.detail}" for o in outcomes))
    assert [o.name for o in failed] == ["media node media1 carried a test call (its rtpengine knew the Call-ID)"]
    assert "media node media1 carried none of" in failed[0].detail and "media1" not in failed[0].detail.split("(")[1]
    assert any(o.ok and o.name.startswith("media node media2 carried") for o in outcomes)


def test_a_stopped_sip_node_fails_over_to_the_other_by_srv(cluster: Cluster) -> None:
    """With kamailio stopped on sip1, a client choosing its server from the SRV records gets no
    answer from sip1 and moves to sip2, registers there and is reached by a call."""
    server = lab_topology(cluster.plan).addresses.resolver_public
    argv = [sys.executable, "-c", SRV_CLIENT, server, DOMAIN]
    cluster.systemctl("sip1", "stop", "kamailio")
    try:
        res = subprocess.run(in_netns(cluster.lab.client_netns, argv), capture_output=True, text=True,
                             timeout=60, check=False)
        assert res.returncode == 0, res.stderr
        tried = json.loads(res.stdout)["tried"]
        assert [t[0].split(".")[0] for t in tried] == ["sip1", "sip2"] and [t[2] for t in tried] == [False, True], tried
        out = cluster.call("sip2", "sip2", "tcp")
        assert out["status"] == 200 and out["details"]["bye"] == 200, out
    finally:
        cluster.systemctl("sip1", "start", "kamailio")


def test_a_rolling_change_never_leaves_zero_sip_nodes_answering(cluster: Cluster) -> None:
    lab = cluster.lab
    pids = {n: lab.ssh(n, "systemctl", "show", "-p", "MainPID", "--value", "kamailio").strip()
            for n in ("sip1", "sip2")}
    text = lab.site_file.read_text()
    lab.site_file.write_text(text.replace("kamailio:\n", "kamailio:\n  registrar: {default_expires: 900}\n", 1))
    stop = lab.workdir / "watch.stop"
    stop.unlink(missing_ok=True)
    log = lab.workdir / "watch.log"
    targets = [cluster.public("sip1"), cluster.public("sip2")]
    with log.open("w") as out:
        watch = subprocess.Popen(in_netns(lab.client_netns, [sys.executable, "-c", WATCH, str(stop),
                                                                         *targets]), stdout=out)
    try:
        time.sleep(2)
        rollout = _rolled(lab)
        time.sleep(2)
    finally:
        stop.touch()
        watch.wait(30)
    rounds = [json.loads(line) for line in log.read_text().splitlines()]
    states = dict(rollout.host_states())
    assert not rollout.stopped and all(s.startswith("new config") for s in states.values()), states
    after = {n: lab.ssh(n, "systemctl", "show", "-p", "MainPID", "--value", "kamailio").strip() for n in pids}
    assert all(after[n] != pids[n] for n in pids), (pids, after)  # both kamailios restarted
    assert len(rounds) > 20 and all(r["ok"] for r in rounds), [r for r in rounds if not r["ok"]]
    missed = {t: sum(1 for r in rounds if t not in r["ok"]) for t in targets}
    print(f"rolling change: {len(rounds)} OPTIONS rounds, none without an answer; rounds missed per node {missed}")


def _kamailio(lab: Lab, node: str) -> tuple[str, str]:
    out = lab.ssh(node, "sh", "-c", "systemctl show -p MainPID --value kamailio; sha256sum /etc/kamailio/kamailio.cfg")
    pid, sha = out.split("\n")[:2]
    return pid.strip(), sha.split()[0]


def test_a_failing_sip_canary_stops_the_rollout_and_the_other_node_keeps_its_config(cluster: Cluster) -> None:
    """A kamailio.cfg that `kamailio -c` refuses, for both sip nodes: sip1 (the canary of its role) fails
    and keeps its running kamailio; the rollout stops there, so sip2 is never touched."""
    lab = cluster.lab
    before = {n: _kamailio(lab, n) for n in ("sip1", "sip2")}
    prep = prepare(lab.site_file, lab.options())
    edits = {f"{n}/etc/kamailio/kamailio.cfg": (prep.render_dir / n / "etc/kamailio/kamailio.cfg").read_text()
             + "\nthis is not kamailio syntax;\n" for n in ("sip1", "sip2")}
    broken = replace(_tampered(lab, prep, edits), hosts=prep.hosts)
    rollout = roll_prepared(broken, lab.options(), 1, lab.record, lambda i, b: None)
    states = dict(rollout.host_states())
    assert rollout.stopped and len(rollout.outcomes) == 3, states
    assert states["sip1"] == "failed, rolled back: previous config", states
    assert states["sip2"] == "not deployed (rollout stopped): previous config", states
    assert {n: _kamailio(lab, n) for n in before} == before, "same PIDs, same files on both sip nodes"
