"""The host firewall: audiences from the plan's bindings, the nft rules, the lab's neighbour, verify's demands."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from voipctl.check.daemons import Options
from voipctl.check.firewall import check_firewall
from voipctl.errors import UsageError
from voipctl.lab import lifecycle
from voipctl.lab.network import neighbour_steps
from voipctl.lab.topology import lab_topology
from voipctl.pipeline import load_and_plan
from voipctl.plan.model import FirewallRule, Plan
from voipctl.render.firewall import render_firewall, rule_lines
from voipctl.verify.probes.build import ProbeInputs, build_probes
from voipctl.verify.probes.judge import judge
from voipctl.verify.probes.vantage import Vantage
from voipctl.verify.report.formats import VerifyReport, to_json
from voipctl.verify.report.reachability import reachability

REPO = Path(__file__).resolve().parents[3]
LAB_SITE = REPO / "inventories" / "lab" / "site.yml"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_and_plan(LAB_SITE)[1]


def _rules(plan: Plan, node: str) -> dict[str, FirewallRule]:
    fw = plan.node(node).firewall
    assert fw is not None
    return {f"{r.what} {r.proto}": r for r in fw.rules}


def test_each_socket_is_open_to_its_audience_only(plan: Plan) -> None:
    media = _rules(plan, "media1")
    assert media["rtpengine ng udp"].sources == ("10.77.0.11/32",), "ng only from the SIP node"
    assert media["rtpengine ng udp"].address == "10.77.0.12"
    assert (media["rtpengine RTP udp"].port_min, media["rtpengine RTP udp"].port_max) == (20000, 31999)
    assert media["rtpengine RTP udp"].sources == () and media["coturn relay udp"].sources == ()
    assert "rtpengine cli tcp" not in media, "loopback sockets need no rule"
    assert media["ssh tcp"].sources == ("10.77.0.0/24",) and media["ssh tcp"].address is None
    xmpp = _rules(plan, "xmpp1")
    assert xmpp["openfire admin tcp"].sources == ("10.77.0.0/24",)
    assert xmpp["openfire c2s tcp"].sources == () and xmpp["openfire c2s tcp"].address == "198.51.100.13"
    sip = _rules(plan, "sip1")
    assert {k for k, r in sip.items() if r.sources == ()} == {"kamailio udp udp", "kamailio tcp tcp",
                                                            "kamailio tls tcp", "kamailio wss tcp"}


def test_management_networks_come_from_the_site(tmp_path: Path) -> None:
    site = tmp_path / "site.yml"
    extra = "\nfirewall:\n  management: [192.0.2.0/28, 2001:db8::/48]\n  ssh_port: 2222\n"
    site.write_text(LAB_SITE.read_text() + extra)
    fw = load_and_plan(site)[1].node("media1").firewall
    assert fw is not None and fw.management == ("192.0.2.0/28", "2001:db8::/48")
    ssh = next(r for r in fw.rules if r.what == "ssh")
    assert (ssh.port_min, ssh.sources) == (2222, ("192.0.2.0/28", "2001:db8::/48"))
    assert rule_lines(ssh) == ['ip saddr { 192.0.2.0/28 } tcp dport 2222 accept comment "ssh"',
                               'ip6 saddr { 2001:db8::/48 } tcp dport 2222 accept comment "ssh"']


def test_rules_never_widen_to_a_family_without_sources() -> None:
    v6_admin = FirewallRule("admin", "tcp", "2001:db8::5", 9090, 9090, ("10.0.0.0/24",))
    assert rule_lines(v6_admin) == [], "IPv4 management sources open nothing on an IPv6 socket"
    anyone = FirewallRule("rtp", "udp", "2001:db8::5", 20000, 29999, ())
    assert rule_lines(anyone) == ['ip6 daddr 2001:db8::5 udp dport 20000-29999 accept comment "rtp"']


def test_ruleset_drops_by_default_and_what_is_not_for_the_incoming_interface(plan: Plan) -> None:
    files = {f.path: f for f in render_firewall(plan, plan.node("media1"))}
    text = files["/etc/voipctl/firewall.nft"].content.decode()
    assert files["/etc/voipctl/firewall.nft"].mode == 0o644
    assert "policy drop;" in text and 'iif "lo" accept' in text
    lines = [ln.strip() for ln in text.splitlines()]
    fib = next(i for i, ln in enumerate(lines) if ln.startswith("fib daddr . iif type != { local, broadcast"))
    assert fib < lines.index("ct state established,related accept"), "spoofed 'replies' to private addresses too"
    assert 'ip daddr 10.77.0.12 ip saddr { 10.77.0.11/32 } udp dport 2223 accept comment "rtpengine ng"' in lines
    unit = files["/etc/systemd/system/voipctl-firewall.service"].content.decode()
    assert "ExecStart=/usr/sbin/nft -f /etc/voipctl/firewall.nft" in unit


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="nft -c needs root and nftables")
def test_nft_check_accepts_the_render_and_refuses_a_broken_one(plan: Plan) -> None:
    node = plan.node("media1")
    files = render_firewall(plan, node)
    ok = check_firewall(node, files, Options(prefix="vfwt"))
    assert ok.ok, ok.detail
    fw = node.firewall
    assert fw is not None
    broken = [f if f.path != fw.path else type(f)(f.node, f.path, f.owner, f.group, f.mode,
                                                  f.content.replace(b"policy drop", b"policy dorp"), f.service)
              for f in files]
    bad = check_firewall(node, broken, Options(prefix="vfwt"))
    assert not bad.ok and "nft -c exited 1" in bad.detail


def test_lab_public_client_is_a_neighbour_of_every_public_node(plan: Plan) -> None:
    topo = lab_topology(plan)
    argvs = [s.argv for s in neighbour_steps(topo)]
    assert ["ip", "-n", topo.public_client_netns, "route", "replace", "10.77.0.12/32", "via",
            "198.51.100.12"] in argvs
    assert len(argvs) == 3


def test_lab_refuses_management_networks_without_its_control_machine(tmp_path: Path) -> None:
    site = tmp_path / "site.yml"
    site.write_text(LAB_SITE.read_text() + "\nfirewall:\n  management: [10.77.0.128/25]\n")
    plan = load_and_plan(site)[1]
    with pytest.raises(UsageError, match=r"SSHes to sip1 from 10.77.0.1, outside firewall.management"):
        lifecycle._control_is_management(plan, lab_topology(plan))


def _neighbour_probe(plan: Plan) -> tuple[list, str]:  # type: ignore[type-arg]
    vantages = (Vantage("public", "ns-pub", "198.51.100.253", "198.51.100.253", neighbour=True),
                Vantage("nat", "ns-nat", "192.168.77.2", "198.51.100.254"))
    probes, _ = build_probes(plan, vantages, ProbeInputs(ca_file="/nonexistent"))
    ng = [p for p in probes if p.group == "exposure" and p.kind == "ng_ping" and p.params["host"] == "10.77.0.12"]
    return ng, "rtpengine ng unreachable at udp 10.77.0.12:2223 through the public interface (neighbour)"


def test_the_neighbour_must_reach_the_node_for_silence_to_count(plan: Plan) -> None:
    ng, name = _neighbour_probe(plan)
    by_vantage = {p.vantage: p for p in ng}
    assert by_vantage["public"].name == name and by_vantage["public"].expect["routed"]
    assert "routed" not in by_vantage["nat"].expect
    probe = by_vantage["public"]
    live = {"answered": True, "status": 200}
    other = next(p for p in build_probes(plan, (Vantage("public", neighbour=True),),
                                         ProbeInputs(ca_file="/x"))[0] if p.kind == "sip_options")
    outcomes = {o.name: o for o in judge([probe, other], {probe.id: {"blocked": "unreachable", "error": "no route"},
                                                          other.id: live})}
    assert outcomes[name].status == "failed" and "no route to the target" in outcomes[name].detail
    outcomes = {o.name: o for o in judge([probe, other], {probe.id: {"blocked": "timeout", "error": "timed out"},
                                                          other.id: live})}
    assert outcomes[name].status == "passed"
    outcomes = {o.name: o for o in judge([probe, other], {probe.id: {"answered": True, "pong": True},
                                                          other.id: live})}
    assert outcomes[name].status == "failed" and "pong" in outcomes[name].detail


def test_the_report_lists_who_may_reach_what(plan: Plan) -> None:
    rows = {(r["node"], r["what"], r["proto"]): r for r in reachability(plan)}
    assert rows[("media1", "rtpengine ng", "udp")] == {"node": "media1", "what": "rtpengine ng", "proto": "udp",
                                                       "address": "10.77.0.12", "ports": "2223",
                                                       "from": ["10.77.0.11/32"]}
    assert rows[("media1", "rtpengine RTP", "udp")]["from"] == ["anyone"]
    assert rows[("xmpp1", "ssh", "tcp")]["from"] == ["10.77.0.0/24"]
    assert rows[("sip1", "everything else", "any")]["from"][0].startswith("nobody")
    report = VerifyReport("lab", "abc", datetime(2026, 1, 2, tzinfo=UTC), 1.0, (), tuple(reachability(plan)))
    assert json.loads(to_json(report))["reachability"] == reachability(plan)


def test_a_private_neighbour_checks_both_sides_of_the_firewall(plan: Plan) -> None:
    public = (Vantage("public", "ns-pub", "198.51.100.253", "198.51.100.253", neighbour=True),)
    inside = Vantage("private", "ns-dns", "10.77.0.2")
    probes, _ = build_probes(plan, public, ProbeInputs(ca_file="/x"), inside)
    mine = {p.name: p for p in probes if p.vantage == "private"}
    ssh = mine["SSH at tcp 10.77.0.12:22 open to 10.77.0.2 (in the management networks)"]
    assert ssh.kind == "tcp_connect" and ssh.expect == {"open": True}
    ng = mine["rtpengine ng at udp 10.77.0.12:2223 silent to 10.77.0.2 (a private neighbour, no SIP node)"]
    assert ng.expect == {"silent": True, "routed": True}
    assert len(mine) == 4, "SSH on each of 3 nodes, ng on the media node"
    results = {ssh.id: {"connected": True}, ng.id: {"blocked": "timeout", "error": "timed out"}}
    assert {o.name: o.status for o in judge([ssh, ng], results)} == {ssh.name: "passed", ng.name: "passed"}
    results = {ssh.id: {"blocked": "timeout", "error": "timed out"}, ng.id: {"answered": True, "pong": True}}
    assert {o.name: o.status for o in judge([ssh, ng], results)} == {ssh.name: "failed", ng.name: "failed"}
    outside = Vantage("private", "ns-x", "10.99.0.2")
    probes, _ = build_probes(plan, public, ProbeInputs(ca_file="/x"), outside)
    ssh_out = next(p for p in probes if p.vantage == "private" and p.name.startswith("SSH at tcp 10.77.0.11:22"))
    assert ssh_out.expect == {"closed": True, "routed": True} and "outside the management" in ssh_out.name


def test_probes_reach_nat_nodes_at_their_nat_address() -> None:
    split = load_and_plan(REPO / "inventories" / "split" / "site.yml")[1]
    vantages = (Vantage("public", "ns-pub", "198.51.100.253", "198.51.100.253", neighbour=True),)
    probes, _ = build_probes(split, vantages, ProbeInputs(ca_file="/x"))
    options = [p for p in probes if p.kind == "sip_options" and p.group == "sip"]
    assert options and {p.params["host"] for p in options} == {"203.0.113.10"}
    assert {p.params["host"] for p in probes if p.kind == "stun_binding"} == {"203.0.113.30"}
    ng = [p for p in probes if p.group == "exposure" and p.kind == "ng_ping"]
    assert {p.params["host"] for p in ng} == {"203.0.113.20", "172.20.1.20"}
    assert not [p for p in ng if p.expect.get("routed")], "a NAT node has no public interface to reach it through"
