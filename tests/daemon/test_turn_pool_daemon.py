"""Two turn nodes on their rendered configs: each relays only from its own range, one REST secret for both.

turn-b's range is two ports wide, so the third allocation that coturn must refuse (508, out of
relay ports) shows the rendered range is the one the daemon uses; turn-a relays from the site's range.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.daemon.test_rtpengine_coturn_openfire import SECRETS, listening, need, running
from tests.unit.plan.test_turn_pool import two_turn
from voipctl.check import argv
from voipctl.check.netns_socket import socket_in_netns
from voipctl.check.stage import throwaway_cert
from voipctl.probe import turn
from voipctl.render.coturn import render_coturn

pytestmark = pytest.mark.daemon


def test_each_turn_node_relays_from_its_own_range_with_the_shared_secret(tmp_path: Path) -> None:
    need("turnserver", "ip", "ss")
    plan = two_turn(tmp_path)  # turn-b: relay ports 45000-45001 only
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
