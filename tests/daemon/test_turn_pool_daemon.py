"""Two turn nodes on their rendered configs: each relays only from its own range, one REST secret for both.

turn-b's range is two ports wide, so the third allocation that coturn must refuse (508, out of
relay ports) shows the rendered range is the one the daemon uses; turn-a relays from the site's range.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.daemon.test_rtpengine_coturn_openfire import SECRETS, listening, need, running
from voipctl.check import argv
from voipctl.check.netns_socket import socket_in_netns
from voipctl.check.stage import throwaway_cert
from voipctl.plan.build import build_plan
from voipctl.plan.model import Plan
from voipctl.probe import turn
from voipctl.render.coturn import render_coturn
from voipctl.site.load import load_site

pytestmark = pytest.mark.daemon

SITE = """\
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


def plan_of(tmp_path: Path) -> Plan:
    (tmp_path / "site.yml").write_text(SITE)
    return build_plan(load_site(tmp_path / "site.yml"))


def test_each_turn_node_relays_from_its_own_range_with_the_shared_secret(tmp_path: Path) -> None:
    need("turnserver", "ip", "ss")
    plan = plan_of(tmp_path)
    user, password = turn.rest_credentials(SECRETS["turn_secret"], "alice", ttl=600)
    relayed: dict[str, list[turn.Allocation]] = {}
    for name, count in (("turn-a", 1), ("turn-b", 3)):
        node = plan.node(name)
        tc = node.coturn
        assert tc is not None
        files = render_coturn(plan, node, SECRETS) + throwaway_cert(tc.tls.cert)
        server = (tc.listen_address, tc.port)
        ready = listening("udp", tc.listen_address, tc.port)
        with running(node, files, argv.coturn_argv(tc.conf_path), ready) as ns, ExitStack() as held:
            # each allocation on its own client socket, all held at once: they must use distinct relay ports
            socks = [held.enter_context(socket_in_netns(ns.name)) for _ in range(count)]
            relayed[name] = [turn.turn_allocate(s, server, user, password, release=False) for s in socks]
    (a,) = relayed["turn-a"]
    assert a.relayed is not None and a.relayed[0] == "198.51.100.31" and 40000 <= a.relayed[1] <= 49999
    first, second, third = relayed["turn-b"]
    assert first.relayed is not None and second.relayed is not None
    assert {first.relayed, second.relayed} == {("203.0.113.32", 45000), ("203.0.113.32", 45001)}
    assert third.relayed is None and third.error is not None and third.error[0] == 508, third
