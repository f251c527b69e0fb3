"""The real lab: `voipctl lab up` on the lab site, probes against it, `lab down`.

Needs root and the lab's Debian packages (systemd-container debootstrap dnsmasq-base
apt-cacher-ng zstd). The first run builds the golden image (a minute or two);
later runs take seconds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.labsites import lab_site_copy
from voipctl.lab import commands as cmd
from voipctl.lab.state import LabPaths
from voipctl.lab.topology import LabTopology, lab_topology
from voipctl.pipeline import load_and_plan
from voipctl.plan.model import Plan
from voipctl.proc import in_netns

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, bridges, mounts)"),
]



def voipctl(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voipctl", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def leftovers(topo: LabTopology, paths: LabPaths) -> list[str]:
    """Everything of the lab still present on the machine."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    found += [f"netns {line.split()[0]}" for line in netns.splitlines() if line.startswith(f"vlab.{topo.site}.")]
    found += [f"link {p.name}" for p in Path("/sys/class/net").iterdir() if p.name.startswith(topo.tag)]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line.split()[4]}" for line in mounts.splitlines() if str(paths.site_dir) in line.split()[4]]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(paths.site_dir) in cmdline:
            found.append(f"process {proc.name}: {cmdline[:120]}")
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"*/vlab.{topo.site}.*")]
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"vlab.{topo.site}.*")]
    found += [f"dir {p}" for p in Path("/etc/netns").glob(f"vlab.{topo.site}.*")]
    if paths.site_dir.exists():
        found.append(f"dir {paths.site_dir}")
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab site as `labtest` on a free private /24: a user's `lab` lab is never touched."""
    return lab_site_copy(tmp_path_factory.mktemp("labtest"), "labtest")


@pytest.fixture(scope="module")
def plan(site: Path) -> Plan:
    return load_and_plan(site)[1]


def test_failed_up_removes_what_it_made(site: Path, plan: Plan) -> None:
    """Runs before the lab fixture: a name clash half-way through `up` leaves nothing of the lab."""
    topo = lab_topology(plan)
    paths = LabPaths.for_site(plan.site)
    assert not paths.state_file.exists(), f"a {plan.site} lab is already up: run `voipctl lab down {plan.site}`"
    # Something else already owns the name of the lab's public bridge (created after the private one).
    subprocess.run(cmd.bridge_add(topo.bridge_public), check=True)
    try:
        res = voipctl("lab", "up", str(site), timeout=120)
        assert res.returncode == 3, res.stdout + res.stderr
        assert topo.bridge_public in res.stderr
        assert leftovers(topo, paths) == [f"link {topo.bridge_public}"]
    finally:
        subprocess.run(cmd.link_delete(topo.bridge_public), check=True)


@pytest.fixture(scope="module")
def lab(site: Path, plan: Plan) -> Iterator[LabTopology]:
    topo = lab_topology(plan)
    paths = LabPaths.for_site(plan.site)
    assert not paths.state_file.exists(), f"a {plan.site} lab is already up: run `voipctl lab down {plan.site}`"
    started = time.monotonic()
    res = voipctl("lab", "up", str(site))
    assert res.returncode == 0, f"lab up failed:\n{res.stdout}\n{res.stderr}"
    print(f"lab up took {time.monotonic() - started:.1f}s: {res.stdout.splitlines()[-5]}")
    try:
        yield topo
    finally:
        voipctl("lab", "down", plan.site, timeout=120)


def ssh(plan: Plan, address: str, *remote: str) -> subprocess.CompletedProcess[str]:
    key = LabPaths.for_site(plan.site).ssh_key
    return subprocess.run(cmd.ssh(key, address, list(remote), timeout=5), capture_output=True, text=True,
                          timeout=60, check=False)


def test_every_host_answers_ssh_and_systemd_is_up(plan: Plan, lab: LabTopology) -> None:
    for node in plan.nodes:
        res = ssh(plan, node.private, "systemctl", "is-system-running", "--wait")
        assert res.returncode != 255, f"{node.name}: ssh failed: {res.stderr}"
        state = res.stdout.strip()
        failed = ssh(plan, node.private, "systemctl", "--failed", "--plain", "--no-legend").stdout.strip()
        assert state == "running", f"{node.name} is {state!r}; failed units: {failed or 'none'}"
        assert ssh(plan, node.private, "hostname").stdout.strip() == node.name


def test_hosts_have_their_plan_addresses(plan: Plan, lab: LabTopology) -> None:
    for node in plan.nodes:
        addrs = ssh(plan, node.private, "ip", "-4", "-o", "addr", "show").stdout
        assert f" {node.private}/24 " in addrs
        assert f" {node.public}/24 " in addrs


def test_daemons_are_installed_but_not_enabled(plan: Plan, lab: LabTopology) -> None:
    node = plan.nodes[0]
    res = ssh(plan, node.private, "systemctl", "is-enabled", "kamailio", "coturn", "rtpengine-daemon", "ssh")
    assert res.stdout.split() == ["disabled", "disabled", "disabled", "enabled"]
    assert ssh(plan, node.private, "test", "-x", "/usr/sbin/kamailio").returncode == 0


def test_hosts_fetch_packages_through_the_apt_proxy(plan: Plan, lab: LabTopology) -> None:
    """Hosts have no route off the lab: the proxy is their only way to the archive."""
    host = plan.nodes[0].private
    assert ssh(plan, host, "ip", "route", "get", "192.0.2.1").returncode != 0
    res = ssh(plan, host, "apt-get", "-q", "update")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Err:" not in res.stdout, res.stdout


def test_nat_client_reaches_a_host_from_the_gateway_address(plan: Plan, lab: LabTopology) -> None:
    """A TCP connection from the NAT'd client shows up on the host as coming from the gateway."""
    target = plan.node("sip1")
    connect = (
        "import socket, time\n"
        f"s = socket.create_connection(({target.public!r}, 22), timeout=5)\n"
        "print(s.getsockname()[0], s.getsockname()[1], flush=True)\n"
        "time.sleep(4)\n"
    )
    client = subprocess.Popen(in_netns(lab.nat_client_netns, [sys.executable, "-c", connect]),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        local = client.stdout.readline().split()
        assert local and local[0] == lab.addresses.nat_client
        seen = ssh(plan, target.private, "ss", "-tnH", "state", "established", "( sport = :22 )").stdout
        peers = [line.split()[-1] for line in seen.splitlines()]
        assert any(p.startswith(f"{lab.addresses.gateway_public}:") for p in peers), seen
        assert not any(p.startswith(f"{lab.addresses.nat_client}:") for p in peers), seen
    finally:
        client.kill()
        client.wait()


def test_public_client_reaches_hosts_directly(plan: Plan, lab: LabTopology) -> None:
    probe = f"import socket; socket.create_connection(({plan.nodes[1].public!r}, 22), timeout=5)"
    res = subprocess.run(in_netns(lab.public_client_netns, [sys.executable, "-c", probe]),
                         capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr


# Runs inside a namespace: queries one server, prints the answers as JSON (NXDOMAIN -> null).
QUERY = """
import json, sys
import dns.resolver, dns.reversename
server, queries = sys.argv[1], json.loads(sys.argv[2])
r = dns.resolver.Resolver(configure=False)
r.nameservers = [server]
r.lifetime = 3
out = []
for name, rtype in queries:
    qname = dns.reversename.from_address(name) if rtype == "PTR" else name
    try:
        out.append(sorted(a.to_text() for a in r.resolve(qname, rtype)))
    except dns.resolver.NXDOMAIN:
        out.append(None)
print(json.dumps(out))
"""


def _ask(ns: str, server: str, queries: list[tuple[str, str]]) -> list[list[str] | None]:
    res = subprocess.run(in_netns(ns, [sys.executable, "-c", QUERY, server, json.dumps(queries)]),
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    answers: list[list[str] | None] = json.loads(res.stdout)
    return answers


def test_resolver_answers_a_ptr_and_srv(plan: Plan, lab: LabTopology) -> None:
    """Hosts ask on the private side, clients on the public side; both get the same records."""
    sip, media = plan.node("sip1"), plan.node("media1")
    assert sip.kamailio is not None and media.coturn is not None
    expected: list[tuple[tuple[str, str], list[str] | None]] = []
    for node in plan.nodes:
        expected.append(((node.fqdn, "A"), [node.public or ""]))
        expected += [((address, "PTR"), [f"{node.fqdn}."]) for address in (node.public or "", node.private)]
    expected += [
        ((sip.kamailio.wss_host, "A"), [sip.public or ""]),
        ((plan.domain, "A"), [sip.public or ""]),
        ((media.coturn.host, "A"), [media.public or ""]),
        ((f"_sip._udp.{plan.domain}", "SRV"), [f"10 10 5060 {sip.fqdn}."]),
        ((f"_sip._tcp.{plan.domain}", "SRV"), [f"10 10 5060 {sip.fqdn}."]),
        ((f"_sips._tcp.{plan.domain}", "SRV"), [f"10 10 5061 {sip.fqdn}."]),
        ((f"nowhere.{plan.domain}", "A"), None),
    ]
    queries = [q for q, _ in expected]
    for ns, server in ((plan.nodes[0].name, lab.addresses.resolver_private),
                       (lab.public_client_netns, lab.addresses.resolver_public),
                       (lab.nat_client_netns, lab.addresses.resolver_public)):
        ns_name = lab.host(ns).netns if ns in {n.name for n in plan.nodes} else ns
        answers = _ask(ns_name, server, queries)
        for (query, want), got in zip(expected, answers, strict=True):
            assert got == want, f"{query} via {server} from {ns}: {got} != {want}"


def test_hosts_and_clients_use_the_lab_resolver(plan: Plan, lab: LabTopology) -> None:
    got = ssh(plan, plan.nodes[0].private, "getent", "hosts", plan.nodes[1].fqdn).stdout
    assert got.split()[0] == plan.nodes[1].public
    res = subprocess.run(in_netns(lab.nat_client_netns, ["getent", "hosts", plan.nodes[0].fqdn]),
                         capture_output=True, text=True, timeout=10, check=False)
    assert res.stdout.split()[:1] == [plan.nodes[0].public]


def test_inventory_and_key(plan: Plan, lab: LabTopology) -> None:
    paths = LabPaths.for_site(plan.site)
    assert paths.ssh_key.stat().st_mode & 0o777 == 0o600
    text = paths.inventory.read_text()
    for node in plan.nodes:
        assert f"ansible_host: {node.private}" in text


def test_status_and_second_up_is_a_no_op(site: Path, plan: Plan, lab: LabTopology) -> None:
    res = voipctl("lab", "status", str(site), timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("ssh ok") == len(plan.nodes)
    started = time.monotonic()
    again = voipctl("lab", "up", str(site), timeout=60)
    assert again.returncode == 0 and "already up" in again.stdout
    assert time.monotonic() - started < 10


def test_up_refuses_a_running_lab_whose_site_moved(site: Path, plan: Plan, lab: LabTopology,
                                                   tmp_path: Path) -> None:
    moved = tmp_path / "site.yml"
    moved.write_text(site.read_text().replace("198.51.100.11", "198.51.100.21"))
    res = voipctl("lab", "up", str(moved), timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"lab is up with other addresses than the site now has: run `voipctl lab down {plan.site}`" in res.stderr


def test_down_leaves_nothing_behind(site: Path, plan: Plan, lab: LabTopology) -> None:
    paths = LabPaths.for_site(plan.site)
    state = paths.state_file.read_text()
    pids = [int(p) for p in re.findall(r'"pid": (\d+)', state)]
    assert pids
    res = voipctl("lab", "down", str(site), timeout=120)
    assert res.returncode == 0, res.stderr
    assert leftovers(lab, paths) == []
    assert not [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _proc_state(p)]
    assert voipctl("lab", "down", plan.site).stdout.startswith(f"lab {plan.site} is not up")


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "Z"
    return stat[stat.rindex(")") + 2]

