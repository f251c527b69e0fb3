"""`lab up` of sites with `nat:` nodes: a cloud's 1:1 NAT in front of them, hairpin included.

Two copies of the lab site (own names, free private /24s), one at a time, each taken down
after its tests: one of NAT nodes only, and one mixing public and NAT nodes that serves both
the SSH checks and a deploy + verify (its lab is brought up once). What crosses the NAT is
proven with SSH: the node that answers (`hostname`) and the source address it sees ($SSH_CONNECTION).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.labsites import lab_site_copy
from voipctl.lab import commands as cmd
from voipctl.lab.state import LabPaths
from voipctl.lab.topology import lab_topology
from voipctl.pipeline import load_and_plan
from voipctl.plan.model import Plan
from voipctl.proc import in_netns

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, bridges, mounts)"),
]


def voipctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voipctl", *args], capture_output=True, text=True, timeout=600,
                          check=False, cwd=REPO)


def _nat_site(tmp_path: Path, name: str, nodes: tuple[str, ...]) -> Path:
    """The lab site with `nodes` moved behind the 1:1 NAT (their public address becomes their NAT one)."""
    site = lab_site_copy(tmp_path, name)
    text = site.read_text()
    for node in nodes:
        text = re.sub(rf"(- name: {node}\n(?:    .*\n)*?)    public:", r"\1    nat:", text)
    site.write_text(text)
    return site


def _ssh_from(netns: str, key: Path, address: str) -> tuple[str, str]:
    """hostname and the client address of $SSH_CONNECTION, SSHing to `address` from inside `netns`."""
    argv = in_netns(netns, cmd.ssh(key, address, ["sh", "-c", "hostname; echo $SSH_CONNECTION"], timeout=5))
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, f"ssh to {address} from {netns}: {res.stderr}"
    host, conn = res.stdout.splitlines()[:2]
    return host.strip(), conn.split()[0]


def _up(site: Path) -> None:
    res = voipctl("lab", "up", str(site))
    assert res.returncode == 0, f"lab up failed:\n{res.stdout}\n{res.stderr}"


def test_a_site_of_nat_nodes_only(tmp_path: Path) -> None:
    site = _nat_site(tmp_path, "natall", ("sip1", "media1", "xmpp1"))
    plan = load_and_plan(site)[1]
    assert all(n.nat is not None and n.public is None for n in plan.nodes)
    topo = lab_topology(plan)
    key = LabPaths.for_site(plan.site).ssh_key
    nat_of = {n.name: n.nat for n in plan.nodes}
    try:
        _up(site)
        for node in plan.nodes:
            assert node.nat is not None
            assert _ssh_from(topo.nat_client_netns, key, node.nat) == (node.name, topo.addresses.gateway_public)
        assert _ssh_from(topo.host("sip1").netns, key, nat_of["media1"] or "") == ("media1", nat_of["sip1"])
    finally:
        voipctl("lab", "down", str(site))


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Plan]]:
    """sip1 public, media1 and a TURN+XMPP node behind the 1:1 NAT: one lab for the SSH checks and the deploy."""
    site = _nat_site(tmp_path_factory.mktemp("natsplit"), "natsplit", ("media1", "xmpp1"))
    site.write_text(site.read_text().replace("roles: [media, turn]", "roles: [media]")
                    .replace("roles: [xmpp]", "roles: [xmpp, turn]"))
    try:
        _up(site)
        yield site, load_and_plan(site)[1]
    finally:
        voipctl("lab", "down", str(site))


def test_a_site_mixing_public_and_nat_nodes(split: tuple[Path, Plan]) -> None:
    site, plan = split
    media, xmpp, sip = plan.node("media1"), plan.node("xmpp1"), plan.node("sip1")
    assert media.nat and xmpp.nat and sip.public and media.public is None
    topo = lab_topology(plan)
    key = LabPaths.for_site(plan.site).ssh_key
    # a client on the public side reaches the node behind the NAT address, and is seen as itself
    assert _ssh_from(topo.public_client_netns, key, media.nat) == ("media1", topo.addresses.public_client)
    # hairpin: a NAT node reaches another by its NAT address, which sees the caller's NAT address
    assert _ssh_from(topo.host("xmpp1").netns, key, media.nat) == ("media1", xmpp.nat)
    # a node with a public address reaches a NAT node's NAT address from its public address
    assert _ssh_from(topo.host("sip1").netns, key, media.nat) == ("media1", sip.public)
    # and the NAT node reaches the public node as its NAT address
    assert _ssh_from(topo.host("media1").netns, key, sip.public) == ("sip1", media.nat)
    status = voipctl("lab", "status", str(site))
    assert status.returncode == 0, status.stdout + status.stderr


def test_deploy_and_verify_a_site_with_nat_nodes(split: tuple[Path, Plan]) -> None:
    """Deploy, then verify is green with every client probe aimed at NAT addresses, and rtpengine's SDP
    carrying media1's NAT address."""
    site, plan = split
    media = plan.node("media1")
    pki, render, report = site.parent / "pki", site.parent / "build", site.parent / "verify.json"
    for step in (("pki", "init"), ("pki", "issue")):
        res = voipctl(*step, str(site), "--pki-dir", str(pki))
        assert res.returncode == 0, res.stderr
    res = voipctl("deploy", str(site), "-o", str(render), "--pki-dir", str(pki))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    res = voipctl("verify", str(site), "-o", str(render), "--pki-dir", str(pki), "--json", str(report))
    doc = json.loads(report.read_text())
    failed = [o for o in doc["outcomes"] if o["status"] == "failed"]
    assert res.returncode == 0 and not failed, failed
    passed = {o["name"] for o in doc["outcomes"] if o["status"] == "passed"}
    assert f"STUN binding at udp {plan.node('xmpp1').nat}:3478" in passed
    assert f"TURN permission towards the media address {media.nat} is granted" in passed
    sdp = [o for o in doc["outcomes"] if o["group"] == "call" and "SDP" in o["name"]]
    assert sdp and all(o["status"] == "passed" for o in sdp) and any(str(media.nat) in o["name"] + o["detail"]
                                                                     for o in sdp), sdp
