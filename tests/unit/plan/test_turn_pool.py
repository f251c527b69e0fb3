"""Several turn nodes: each its own relay range (default the site's) and certificate, one REST secret."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.conftest import REPO
from voipctl.plan.build import build_plan
from voipctl.plan.checks import check_plan
from voipctl.plan.crosschecks import CROSS_CHECKS, relay_rtp_ranges
from voipctl.plan.model import Plan
from voipctl.render.coturn import render_coturn
from voipctl.render.firewall import render_firewall
from voipctl.secrets import Secrets
from voipctl.site.load import load_site

TWO_TURN = """\
site: tp
domain: tp.example.net
nodes:
  - name: sip1
    roles: [sip, media]
    private: 10.77.0.11
    public: 198.51.100.11
  - name: turn-a
    roles: [turn]
    private: 10.77.0.31
    public: 198.51.100.31
  - name: turn-b
    roles: [turn]
    private: 10.77.0.32
    nat: 203.0.113.32
    turn_relay: {min: 45000, max: 45001}
"""
SECRETS = Secrets({"turn_secret": "pool-Secret_0123456789"})


def two_turn(tmp_path: Path) -> Plan:
    path = tmp_path / "site.yml"
    path.write_text(TWO_TURN)
    return build_plan(load_site(path))


def conf_lines(plan: Plan, node: str) -> list[str]:
    files = render_coturn(plan, plan.node(node), SECRETS)
    conf = next(f for f in files if f.path == "/etc/turnserver.conf").content.decode()
    return [ln for ln in conf.splitlines() if ln and not ln.startswith("#")]


def test_each_turn_node_relays_on_its_own_range_with_the_one_secret(tmp_path: Path) -> None:
    plan = two_turn(tmp_path)
    a, b = conf_lines(plan, "turn-a"), conf_lines(plan, "turn-b")
    assert [ln for ln in a if ln.startswith(("min-port", "max-port"))] == ["min-port=40000", "max-port=49999"]
    assert [ln for ln in b if ln.startswith(("min-port", "max-port"))] == ["min-port=45000", "max-port=45001"]
    assert "relay-ip=198.51.100.31" in a and "relay-ip=10.77.0.32" in b and "external-ip=203.0.113.32" in b
    secret_lines = [[ln for ln in c if ln.startswith("static-auth-secret=")] for c in (a, b)]
    assert secret_lines == [["static-auth-secret=pool-Secret_0123456789"]] * 2
    nft = {n: next(f for f in render_firewall(plan, plan.node(n)) if f.path.endswith(".nft")).content.decode()
           for n in ("turn-a", "turn-b")}
    assert 'ip daddr 198.51.100.31 udp dport 40000-49999 accept comment "coturn relay"' in nft["turn-a"]
    assert 'ip daddr 10.77.0.32 udp dport 45000-45001 accept comment "coturn relay"' in nft["turn-b"]


def test_each_turn_node_has_its_own_certificate(tmp_path: Path) -> None:
    plan = two_turn(tmp_path)
    turns = {n: plan.node(n).coturn for n in ("turn-a", "turn-b")}
    certs = {n: t.tls.cert for n, t in turns.items() if t is not None}
    assert [c.node for c in certs.values()] == ["turn-a", "turn-b"]
    assert "turn-a.tp.example.net" in certs["turn-a"].dns_names
    assert "turn-b.tp.example.net" in certs["turn-b"].dns_names
    assert "turn-b.tp.example.net" not in certs["turn-a"].dns_names
    assert plan.turn_uris == tuple(f"{scheme}:turn-{n}.tp.example.net:{port}?transport={t}" for n in "ab"
                                   for scheme, port, t in (("turn", 3478, "udp"), ("turn", 3478, "tcp"),
                                                           ("turns", 5349, "tcp")))


def test_a_nodes_own_range_that_meets_rtp_is_located_at_the_node() -> None:
    path = REPO / "tests/fixtures/crosscheck/node_relay_overlap/site.yml"
    site = load_site(path)
    plan = build_plan(site)
    assert [str(p) for p in check_plan(site, plan, extra=CROSS_CHECKS)] == [
        f"{path}:11: nodes[0].turn_relay.min: node all1: coturn relay (udp 198.51.100.11:25000-25999) collides "
        "with rtpengine RTP (udp 198.51.100.11:20000-31999)"]
    node = plan.node("all1")
    assert node.coturn is not None
    moved = replace(plan, nodes=(replace(node, coturn=replace(node.coturn, relay_address="10.77.0.11")),))
    assert [str(p) for p in relay_rtp_ranges(site, moved)] == [
        f"{path}:11: nodes[0].turn_relay.min: node all1: coturn relay ports 25000-25999 overlap rtpengine RTP "
        "ports 20000-31999"]
