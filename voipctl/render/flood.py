"""Flood protection in kamailio.cfg: pike's per-source limit and the few sources it never applies to.

Only loopback (the node's own tools) and the site's declared aggregators skip pike. A request
relayed from any other address, one of this node's own included, counts against its source, so
relayed traffic cannot bypass the ban. Aggregators are matched with kamailio's core `src_ip ==
network` test (no module, no string conversion); their clients still authenticate.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_network
from typing import Any

from voipctl.plan.services import KamailioPlan

LOOPBACK = ("127.0.0.0/8", "::1/128")


def _bare(network: str) -> str:
    """A host network as its address (kamailio compares a bare address exactly), others as a CIDR."""
    net = ip_network(network)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def src_match(network: str) -> str:
    """One kamailio condition: the source address is in `network`."""
    return f"src_ip == {_bare(network)}"


def exempt_expr(aggregators: Sequence[str]) -> str:
    """Condition true for a source pike must not limit: loopback, then each aggregator."""
    return " || ".join(src_match(n) for n in (*LOOPBACK, *aggregators))


def exempt_note(aggregators: Sequence[str]) -> str:
    if not aggregators:
        return "loopback only"
    return f"loopback and the site's aggregators ({', '.join(_bare(n) for n in aggregators)})"


def flood_context(kam: KamailioPlan) -> dict[str, Any]:
    """What reqinit and the pike/htable modparams print."""
    return {
        "sampling": kam.flood_sampling,
        "max_requests": kam.flood_max_requests,
        "ban_seconds": kam.flood_ban_seconds,
        "exempt_expr": exempt_expr(kam.flood_aggregators),
        "exempt_note": exempt_note(kam.flood_aggregators),
    }
