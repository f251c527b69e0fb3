"""TURN peer policy: coturn relays to the site's media addresses (and coturn.allowed_peers) only.

Unit tests read the plan and verify's probe list; daemon tests start the real
coturn on its rendered config in a throwaway namespace whose only interface is
loopback carrying the node's addresses, and ask it for permissions with
verify's own CreatePermission client. A CreatePermission sends nothing to the
peer (RFC 5766 §9), and the namespace has no route anywhere else, so naming a
public address here reaches no one.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.daemon.test_rtpengine_coturn_openfire import SECRETS, listening, need, running
from voipctl.check import argv
from voipctl.check.netns_socket import socket_in_netns
from voipctl.check.stage import throwaway_cert
from voipctl.plan.build import build_plan
from voipctl.plan.model import NodePlan, Plan
from voipctl.probe import turn
from voipctl.render.coturn import render_coturn
from voipctl.site.addresses import socket_family
from voipctl.site.load import load_site
from voipctl.verify.probes.build import outsider, turn_peers
from voipctl.verify.probes.turn_permission import (
    CREATE_PERMISSION,
    XOR_PEER_ADDRESS,
    check_permissions,
    xor_peer_address,
)

# Addresses outside every special-purpose range, so only the new policy (not the
# old special-range deny list) can refuse them. They exist only inside the namespace.
SPLIT_SITE = """\
site: pol
domain: voice.example.net
nodes:
  - name: sip1
    roles: [sip]
    private: 10.20.0.11
    public: 81.2.69.11
  - name: media1
    roles: [media, turn]
    private: 10.20.0.12
    public: 81.2.69.12
coturn:
  allowed_peers: [81.2.71.0/24]
"""
ALL_IN_ONE_SITE = """\
site: aio
domain: voice.example.net
nodes:
  - name: aio1
    roles: [sip, media, turn]
    private: 10.20.0.21
    public: 81.2.69.21
"""


def plan_of(tmp_path: Path, text: str) -> Plan:
    path = tmp_path / "site.yml"
    path.write_text(text)
    return build_plan(load_site(path))


# --- what verify asks for -------------------------------------------------------------------------------


def test_verify_asks_for_the_sip_node_and_an_outsider_and_expects_only_media_granted(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SPLIT_SITE)
    refused, granted = turn_peers(plan, plan.node("media1"))
    assert granted == ["81.2.69.12"]
    assert refused["81.2.69.11"] == refused["10.20.0.11"] == "SIP node sip1"
    assert refused["81.2.69.254"] == "not a site address"
    assert refused["10.20.0.12"] == "the node's private address"
    assert {"127.0.0.1", "169.254.169.254", "10.0.0.1", "100.64.0.1"} <= set(refused)
    assert all(":" not in a for a in refused), "an IPv4 relay answers 443 to IPv6 peers: proves nothing"


def test_on_an_all_in_one_node_the_sip_address_is_the_media_address(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, ALL_IN_ONE_SITE)
    refused, granted = turn_peers(plan, plan.node("aio1"))
    assert granted == ["81.2.69.21"] and "81.2.69.21" not in refused
    assert refused["10.20.0.21"] == "the node's private address" and refused["81.2.69.254"] == "not a site address"


def test_the_outsider_is_no_node_address(tmp_path: Path) -> None:
    plan = build_plan(load_site(REPO / "inventories/lab/site.yml"))
    assert outsider(plan, "198.51.100.12") == "198.51.100.254"
    assert outsider(plan, "2001:db8:5::7") == "2001:db8:5:0:ffff:ffff:ffff:fffe"
    taken = plan_of(tmp_path, SPLIT_SITE.replace("81.2.69.11", "81.2.69.254"))
    assert outsider(taken, "81.2.69.12") == "81.2.69.253"


def test_ipv6_relays_are_probed_with_ipv6_peers(tmp_path: Path) -> None:
    site = ALL_IN_ONE_SITE.replace("10.20.0.21", "fd20::21").replace("81.2.69.21", "2a02:1234::21")
    plan = plan_of(tmp_path, site)
    refused, granted = turn_peers(plan, plan.node("aio1"))
    assert granted == ["2a02:1234::21"]
    assert {"::1", "fe80::1", "fd00::1", "fd20::21", "2a02:1234::ffff:ffff:ffff:fffe"} <= set(refused)
    assert all(":" in a for a in refused)


def test_probe_credentials_never_outlive_the_site_lifetime() -> None:
    user, _ = turn.probe_credentials("s", "u", site_ttl=3600, now=1000)
    assert user == f"{1000 + turn.PROBE_CREDENTIAL_TTL}:u"
    user, _ = turn.probe_credentials("s", "u", site_ttl=120, now=1000)
    assert user == "1120:u"


def test_an_ipv6_server_is_asked_for_an_ipv6_relay() -> None:
    assert turn.allocate_attrs("81.2.69.21") == [(turn.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))]
    assert turn.allocate_attrs("2a02:1234::21")[1] == (turn.REQUESTED_ADDRESS_FAMILY, bytes([2, 0, 0, 0]))


# --- the real coturn ------------------------------------------------------------------------------------


def permissions(node: NodePlan, ns_name: str, peers: list[str]) -> dict[str, tuple[int, str] | None]:
    tc = node.coturn
    assert tc is not None
    user, password = turn.probe_credentials(SECRETS["turn_secret"], "policy-test", tc.credential_ttl)
    with socket_in_netns(ns_name, socket_family(tc.listen_address)) as sock:
        report = check_permissions(sock, (tc.listen_address, tc.port), user, password, peers)
    assert report.allocated, report.alloc_error
    return report.peers


def coturn_answers(plan: Plan, name: str, peers: list[str]) -> dict[str, int]:
    """CreatePermission per peer against coturn on its rendered config: 0 granted, else the error code."""
    need("turnserver", "ip", "ss")
    node = plan.node(name)
    tc = node.coturn
    assert tc is not None
    files = render_coturn(plan, node, SECRETS) + throwaway_cert(tc.tls.cert)
    with running(node, files, argv.coturn_argv(tc.conf_path), listening("udp", tc.listen_address, tc.port)) as ns:
        route = ns.run(["ip", "route", "get", "81.2.69.254"])
        assert route.returncode != 0, "the namespace must have no route beyond its own addresses"
        answers = permissions(node, ns.name, peers)
    return {peer: 0 if code is None else code[0] for peer, code in answers.items()}


@pytest.mark.daemon
def test_coturn_relays_to_media_and_extra_peers_only(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SPLIT_SITE)
    refused, granted = turn_peers(plan, plan.node("media1"))
    extra_in, extra_out = "81.2.71.9", "81.2.72.9"
    got = coturn_answers(plan, "media1", [*refused, *granted, extra_in, extra_out])
    assert {p: got[p] for p in granted} == {"81.2.69.12": 0}, "the media address is granted"
    assert got[extra_in] == 0, "coturn.allowed_peers is granted"
    assert {p: got[p] for p in [*refused, extra_out]} == dict.fromkeys([*refused, extra_out], 403), got
    assert {"81.2.69.11", "81.2.69.254", "169.254.169.254", "127.0.0.1", "10.20.0.12"} <= set(refused)


@pytest.mark.daemon
@pytest.mark.parametrize("private,public,neighbour", [("10.20.0.21", "81.2.69.21", "81.2.69.22"),
                                                     ("fd20::21", "2a02:1234::21", "2a02:1234::22")])
def test_coturn_on_an_all_in_one_node_relays_to_its_own_media_address_only(
    tmp_path: Path, private: str, public: str, neighbour: str,
) -> None:
    plan = plan_of(tmp_path, ALL_IN_ONE_SITE.replace("10.20.0.21", private).replace("81.2.69.21", public))
    refused, granted = turn_peers(plan, plan.node("aio1"))
    got = coturn_answers(plan, "aio1", [*refused, *granted, neighbour])
    assert {p: got[p] for p in granted} == {public: 0}, "media (and so the SIP address) is granted"
    assert {p: got[p] for p in [*refused, neighbour]} == dict.fromkeys([*refused, neighbour], 403), got


@pytest.mark.daemon
def test_coturn_behind_nat_refuses_its_own_private_and_nat_addresses() -> None:
    """external-ip without "/private": coturn 4.6.1 would whitelist the private part and map the NAT address onto it."""
    plan = build_plan(load_site(REPO / "inventories/split/site.yml"))
    got = coturn_answers(plan, "turn-a", ["172.20.1.30", "203.0.113.30", "172.20.1.20", "203.0.113.10", "203.0.113.20"])
    assert got == {"172.20.1.30": 403, "203.0.113.30": 403, "172.20.1.20": 403, "203.0.113.10": 403,
                   "203.0.113.20": 0}


def _allocate_wait_permit(sock: socket.socket, server: tuple[str, int], user: str, password: str, peer: str,
                          wait: float) -> tuple[turn.StunMessage, turn.StunMessage]:
    """Allocate, wait, then CreatePermission on the same allocation (same 5-tuple, same nonce)."""
    transport = turn.allocate_attrs(server[0])
    challenge = turn.transact(sock, server, turn.encode_message(turn.ALLOCATE, turn.new_txid(), transport))
    realm, nonce = challenge.attr(turn.REALM), challenge.attr(turn.NONCE)
    assert realm is not None and nonce is not None
    key = turn.long_term_key(user, realm.decode(), password)
    auth = [(turn.USERNAME, user.encode()), (turn.REALM, realm), (turn.NONCE, nonce)]
    alloc = turn.transact(sock, server, turn.encode_message(turn.ALLOCATE, turn.new_txid(), transport + auth, key=key))
    time.sleep(wait)
    tid = turn.new_txid()
    perm = turn.transact(sock, server, turn.encode_message(
        CREATE_PERMISSION, tid, [(XOR_PEER_ADDRESS, xor_peer_address(peer, tid)), *auth], key=key))
    return alloc, perm


@pytest.mark.daemon
def test_a_rest_credential_must_be_valid_at_allocate_only(tmp_path: Path) -> None:
    """coturn 4.6.1 checks the username's expiry when a 5-tuple authenticates; the allocation then lives on.

    This is what lets the site's credential lifetime be short (per call): it has
    to cover ICE gathering and restarts, not the whole call.
    """
    need("turnserver", "ip", "ss")
    plan = plan_of(tmp_path, ALL_IN_ONE_SITE)
    node = plan.node("aio1")
    tc = node.coturn
    assert tc is not None
    server = (tc.listen_address, tc.port)
    user, password = turn.rest_credentials(SECRETS["turn_secret"], "short", ttl=2)
    files = render_coturn(plan, node, SECRETS) + throwaway_cert(tc.tls.cert)
    with running(node, files, argv.coturn_argv(tc.conf_path), listening("udp", tc.listen_address, tc.port)) as ns:
        with socket_in_netns(ns.name) as sock:
            alloc, perm = _allocate_wait_permit(sock, server, user, password, "81.2.69.21", wait=3.5)
        with socket_in_netns(ns.name) as sock:
            late = turn.turn_allocate(sock, server, user, password)
    assert alloc.is_success, turn.error_code(alloc)
    assert perm.is_success, f"the allocation outlives its credential: {turn.error_code(perm)}"
    assert not late.ok and late.error is not None and late.error[0] == 401, "an expired credential allocates nothing"
