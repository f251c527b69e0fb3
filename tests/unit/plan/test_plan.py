"""Derived values, computed once in the plan: what every later stage relies on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import REPO
from voipctl.plan.build import build_plan
from voipctl.plan.crosschecks import turn_reaches_only_media
from voipctl.plan.model import Plan
from voipctl.site.addresses import host_port, uri_host
from voipctl.site.load import load_site


def plan_of(rel: str) -> Plan:
    return build_plan(load_site(REPO / rel))


def test_single_node_keeps_ng_on_loopback_and_listens_on_the_public_address() -> None:
    plan = plan_of("tests/golden/allinone/site.yml")
    node = plan.nodes[0]
    assert node.rtpengine is not None and node.kamailio is not None
    assert node.rtpengine.ng_socket == "udp:127.0.0.1:2223"
    assert node.kamailio.rtpengine_sockets == ("udp:127.0.0.1:2223",)
    assert {lst.socket for lst in node.kamailio.listeners} == {
        "udp:198.51.100.5:5060", "tcp:198.51.100.5:5060", "tls:198.51.100.5:5061", "wss:198.51.100.5:443"}
    assert all(lst.advertise is None for lst in node.kamailio.listeners), "public is on an interface: no advertise"
    assert node.kamailio.children == 8 and node.kamailio.shm_mb == 512, "derived from 4 cores and 4096 MB"


def test_split_site_advertises_nat_addresses_and_keeps_ng_private() -> None:
    plan = plan_of("inventories/split/site.yml")
    sip, media, turn = plan.node("sip-a"), plan.node("media-a"), plan.node("turn-a")
    assert sip.kamailio is not None and media.rtpengine is not None and turn.coturn is not None
    assert {(lst.address, lst.advertise) for lst in sip.kamailio.listeners} == {("172.20.1.10", "203.0.113.10")}
    assert sip.kamailio.rtpengine_sockets == ("udp:172.20.1.20:2223",) == (media.rtpengine.ng_socket,)
    assert media.rtpengine.advertise == "203.0.113.20"
    assert turn.coturn.external_ip == "203.0.113.30"
    ng = next(b for b in media.bindings if b.what == "rtpengine ng")
    assert not ng.public
    assert sip.kamailio.tls.cert.ip_addresses == ("172.20.1.10", "203.0.113.10")


def test_tls_names_and_origins_come_from_the_plan() -> None:
    plan = plan_of("inventories/lab/site.yml")
    kam = plan.node("sip1").kamailio
    assert kam is not None
    names = {lst.proto: lst.tls_name for lst in kam.listeners}
    assert names == {"udp": None, "tcp": None, "tls": "lab.voipctl.test", "wss": "sip1.lab.voipctl.test"}
    assert set(kam.tls.cert.dns_names) >= {n for n in names.values() if n}
    assert kam.ws_origins == ("https://web.lab.voipctl.test", "https://sip1.lab.voipctl.test")


def test_default_origin_is_the_wss_host(tmp_path: Path) -> None:
    site = tmp_path / "site.yml"
    site.write_text((REPO / "tests/golden/allinone/site.yml").read_text().replace(
        "kamailio:\n  ws_origins: [https://phone.example.com]\n", ""))
    kam = build_plan(load_site(site)).nodes[0].kamailio
    assert kam is not None and kam.ws_origins == ("https://voip1.example.com",)


def test_turn_relays_to_media_addresses_only_and_denies_every_other_address() -> None:
    lab = plan_of("inventories/lab/site.yml").node("media1").coturn
    assert lab is not None
    assert lab.denied_peers == ("0.0.0.0/0", "::/0")
    assert lab.media_peers == ("198.51.100.12",) and lab.extra_peers == ()
    assert lab.allowed_peers == ("198.51.100.12/32",)
    split = plan_of("inventories/split/site.yml").node("turn-a").coturn
    assert split is not None
    assert split.allowed_peers == ("203.0.113.20/32",), "only the advertised address: ng listens on 172.20.1.20"
    assert split.external_ip == "203.0.113.30", "no /private part: coturn would whitelist 172.20.1.30"


def test_extra_turn_peers_come_after_the_media_addresses(tmp_path: Path) -> None:
    site = tmp_path / "site.yml"
    site.write_text((REPO / "tests/golden/allinone/site.yml").read_text()
                    + "coturn:\n  allowed_peers: [81.2.69.0/24, '2a02:1234::/32']\n")
    turn = build_plan(load_site(site)).nodes[0].coturn
    assert turn is not None
    assert turn.allowed_peers == ("198.51.100.5/32", "81.2.69.0/24", "2a02:1234::/32")


def test_a_turn_permission_towards_a_control_socket_is_refused() -> None:
    site = load_site(REPO / "inventories/split/site.yml")
    plan = build_plan(site)
    turn = plan.node("turn-a")
    assert turn.coturn is not None
    leaky = replace(turn, coturn=replace(turn.coturn, media_peers=("172.20.1.20", "203.0.113.20")))
    bad = replace(plan, nodes=tuple(leaky if n.name == "turn-a" else n for n in plan.nodes))
    assert turn_reaches_only_media(site, plan) == []
    assert [str(p) for p in turn_reaches_only_media(site, bad)] == [
        f"{REPO / 'inventories/split/site.yml'}:45: coturn: node turn-a: coturn may relay to 172.20.1.20, "
        "where rtpengine ng listens"]


@pytest.mark.parametrize(("address", "port", "want"), [
    ("192.0.2.1", 5060, "192.0.2.1:5060"),
    ("2001:db8::1", 5061, "[2001:db8::1]:5061"),
    ("sip.example.net", 443, "sip.example.net:443"),
])
def test_one_ipv6_bracketing_rule(address: str, port: int, want: str) -> None:
    """Every socket string (kamailio, rtpengine, SIP URIs, ssh specs) goes through site.addresses.host_port."""
    assert host_port(address, port) == want
    assert uri_host(address) == want.rsplit(":", 1)[0]
