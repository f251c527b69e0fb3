"""Where the browser probe runs from: which namespaces play browser, phone and nodes.

The probe never creates network state itself; the lab (or a test bed) owns the
namespaces, and this says which of them to use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from voipctl.lab.topology import lab_topology
from voipctl.plan.model import Plan


@dataclass(frozen=True)
class BrowserVantage:
    """The browser sits behind NAT, the phone on the public side; nodes are reached in their own namespaces.

    `node_netns` maps node name to the namespace holding that node's sockets: rtpengine's
    ng socket is queried there and coturn's relay sockets are counted there.
    `map_site_names` makes chromium resolve the site's names to the plan's client
    addresses itself (a bed without a resolver); the lab has its own DNS.
    """

    browser_netns: str
    phone_netns: str
    phone_address: str
    node_netns: Mapping[str, str]
    map_site_names: bool = False


def lab_vantage(plan: Plan) -> BrowserVantage:
    """The on-machine lab's clients: NAT'd client namespace for the browser, public one for the phone."""
    topo = lab_topology(plan)
    return BrowserVantage(
        browser_netns=topo.nat_client_netns,
        phone_netns=topo.public_client_netns,
        phone_address=topo.addresses.public_client,
        node_netns={h.node: h.netns for h in topo.hosts},
    )
