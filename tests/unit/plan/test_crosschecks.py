"""Cross-component plan checks: exact messages, located in the site file.

Checks a site file can trip are tested on invalid fixtures. Checks that guard
invariants plan/build.py keeps today are tested on a valid fixture whose plan is
altered the way a build bug or a future per-node override would alter it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from voipctl.plan.build import build_plan
from voipctl.plan.checks import PLAN_CHECKS, check_plan
from voipctl.plan.crosschecks import (
    CROSS_CHECKS,
    advertised_addresses,
    relay_rtp_ranges,
    rtpengine_sockets,
    san_covers,
    tls_names,
    turn_consumers,
    turn_reaches_media,
    turn_realm,
)
from voipctl.plan.model import Plan
from voipctl.site.load import load_site
from voipctl.site.model import Site

FIXTURES = REPO / "tests/fixtures/crosscheck"


def load(name: str) -> tuple[Site, Plan, str]:
    path = FIXTURES / name / "site.yml"
    site = load_site(path)
    return site, build_plan(site), str(path)


def with_node(plan: Plan, name: str, **changes: Any) -> Plan:
    """The plan with one node's fields replaced (the nodes are frozen dataclasses)."""
    return replace(plan, nodes=tuple(replace(n, **changes) if n.name == name else n for n in plan.nodes))


def messages(problems: list[Any]) -> list[str]:
    return [str(p) for p in problems]


@pytest.mark.parametrize("site_file", ["inventories/lab/site.yml", "inventories/split/site.yml",
                                       "tests/fixtures/crosscheck/base/site.yml",
                                       "tests/fixtures/crosscheck/realm_subdomain/site.yml"])
def test_valid_sites_pass_every_cross_check(site_file: str) -> None:
    site = load_site(REPO / site_file)
    assert check_plan(site, build_plan(site), extra=CROSS_CHECKS) == []


def test_cross_checks_are_all_registered_and_new() -> None:
    assert len(CROSS_CHECKS) == 8
    assert not set(CROSS_CHECKS) & set(PLAN_CHECKS)


def test_turn_realm_outside_the_site_domain() -> None:
    site, plan, path = load("realm_foreign")
    assert messages(check_plan(site, plan, extra=CROSS_CHECKS)) == [
        f"{path}:12: coturn.realm: TURN realm example.org is neither the site domain xc.example.net "
        "nor a subdomain of it",
    ]


def test_overlap_on_one_address_is_reported_once() -> None:
    site, plan, path = load("ranges_overlap")
    assert relay_rtp_ranges(site, plan) == []  # port_collisions already names it
    problems = check_plan(site, plan, extra=CROSS_CHECKS)
    assert [(p.file, p.line, p.path) for p in problems] == [(path, 16, "coturn.relay_min")]


def test_overlap_on_different_addresses_of_one_node() -> None:
    site, plan, path = load("ranges_overlap")
    node = plan.node("all1")
    assert node.coturn is not None
    moved = with_node(plan, "all1", coturn=replace(node.coturn, relay_address="10.77.0.11"))
    assert messages(relay_rtp_ranges(site, moved)) == [
        f"{path}:16: coturn.relay_min: node all1: coturn relay ports 40000-49999 overlap rtpengine RTP ports "
        "30000-41999",
    ]


def test_kamailio_rtpengine_sockets_must_equal_ng_listeners() -> None:
    site, plan, path = load("base")
    sip = plan.node("sip1")
    assert sip.kamailio is not None
    assert sip.kamailio.rtpengine_sockets == ("udp:10.77.0.12:2223",)
    broken = with_node(plan, "sip1", kamailio=replace(sip.kamailio, rtpengine_sockets=("udp:10.77.0.99:2223",)))
    assert messages(rtpengine_sockets(site, broken)) == [
        f"{path}:24: rtpengine.ng_port: node sip1: kamailio's rtpengine sockets differ from the ng listeners: "
        "missing udp:10.77.0.12:2223; no rtpengine listens on udp:10.77.0.99:2223",
    ]


def test_rtpengine_on_loopback_of_another_node() -> None:
    site, plan, path = load("base")
    media, sip = plan.node("media1"), plan.node("sip1")
    assert media.rtpengine is not None and sip.kamailio is not None
    broken = with_node(plan, "media1", rtpengine=replace(media.rtpengine, ng_address="127.0.0.1"))
    broken = with_node(broken, "sip1", kamailio=replace(sip.kamailio, rtpengine_sockets=("udp:127.0.0.1:2223",)))
    assert messages(rtpengine_sockets(site, broken)) == [
        f"{path}:12: nodes[1].private: node sip1: kamailio would reach rtpengine of node media1 on loopback "
        "(udp:127.0.0.1:2223)",
    ]


def test_advertised_address_must_be_the_nodes_own_or_its_nat() -> None:
    site, plan, path = load("base")
    media = plan.node("media1")
    assert media.rtpengine is not None
    broken = with_node(plan, "media1", rtpengine=replace(media.rtpengine, advertise="203.0.113.77"))
    assert messages(advertised_addresses(site, broken)) == [
        f"{path}:13: nodes[1].public: node media1: rtpengine advertised address 203.0.113.77 is neither an address "
        "of the node nor its nat mapping",
    ]


def test_bound_address_and_nat_mapping_must_belong_to_the_node() -> None:
    site, plan, path = load("base")
    turn2 = plan.node("turn2")
    assert turn2.coturn is not None
    assert turn2.coturn.external_ip == "203.0.113.14"
    broken = with_node(plan, "turn2", coturn=replace(turn2.coturn, listen_address="10.77.0.99",
                                                     external_ip="203.0.113.98"))
    assert messages(advertised_addresses(site, broken)) == [
        f"{path}:16: nodes[2].private: node turn2: coturn listening-ip 10.77.0.99 is not an address of the node",
        f"{path}:17: nodes[2].nat: node turn2: coturn external-ip 203.0.113.98 is neither an address of the node "
        "nor its nat mapping",
    ]


def test_turn_nodes_must_accept_the_same_credentials() -> None:
    site, plan, path = load("base")
    turn2 = plan.node("turn2")
    assert turn2.coturn is not None
    broken = with_node(plan, "turn2", coturn=replace(turn2.coturn, realm="other.xc.example.net", credential_ttl=60))
    assert messages(turn_consumers(site, broken)) == [
        f"{path}:26: coturn.realm: node turn2: TURN realm other.xc.example.net differs from xc.example.net on node "
        "media1; every TURN node must accept the same credentials",
        f"{path}:26: coturn.credential_ttl: node turn2: TURN credential lifetime differs between TURN nodes",
    ]
    assert turn_realm(site, broken) == []  # both realms are inside the site domain


def test_every_dialled_tls_name_is_in_a_san() -> None:
    site, plan, path = load("base")
    media = plan.node("media1")
    assert media.coturn is not None
    cert = replace(media.coturn.tls.cert, dns_names=("media1.xc.example.net",))
    broken = with_node(plan, "media1", coturn=replace(media.coturn, tls=replace(media.coturn.tls, cert=cert)))
    assert messages(tls_names(site, broken)) == [
        f"{path}:27: coturn.host: node media1: clients dial turn.xc.example.net but the coturn certificate only "
        "names media1.xc.example.net",
    ]


def test_xmpp_service_subdomains_need_a_san() -> None:
    site, plan, _ = load("base")
    xmpp = plan.node("xmpp1")
    assert xmpp.openfire is not None
    assert xmpp.openfire.service_subdomains == ("conference.xc.example.net", "pubsub.xc.example.net",
                                                "upload.xc.example.net")
    cert = replace(xmpp.openfire.cert, dns_names=("xc.example.net", "conference.xc.example.net"))
    broken = with_node(plan, "xmpp1", openfire=replace(xmpp.openfire, cert=cert))
    assert [p.message for p in tls_names(site, broken)] == [
        f"node xmpp1: clients dial {name} but the openfire certificate only names xc.example.net, "
        "conference.xc.example.net"
        for name in ("pubsub.xc.example.net", "upload.xc.example.net")
    ]


def test_san_wildcards_cover_one_label_only() -> None:
    _, plan, _ = load("base")
    media = plan.node("media1")
    assert media.coturn is not None
    cert = replace(media.coturn.tls.cert, dns_names=("*.xc.example.net",))
    assert san_covers(cert, "turn.xc.example.net")
    assert san_covers(cert, "TURN.xc.example.net.")
    assert not san_covers(cert, "xc.example.net")
    assert not san_covers(cert, "a.turn.xc.example.net")


def test_turn_must_be_allowed_to_reach_every_media_address() -> None:
    site, plan, path = load("base")
    media = plan.node("media1")
    assert media.coturn is not None
    assert media.coturn.allowed_peers == ("198.51.100.12/32",)  # everything else is denied
    broken = with_node(plan, "media1", coturn=replace(media.coturn, media_peers=()))
    assert messages(turn_reaches_media(site, broken)) == [
        f"{path}:26: coturn: node media1: coturn denies relaying to media address 198.51.100.12",
    ]


def test_problem_paths_point_into_the_site_file() -> None:
    site, plan, _ = load("realm_foreign")
    (problem,) = check_plan(site, plan, extra=CROSS_CHECKS)
    assert Path(problem.file).read_text().splitlines()[problem.line - 1].strip() == "realm: example.org"
