"""Rules for sites with several nodes of a role: the kamailio cluster, weights, TURN relay ranges.

Several sip nodes replicate registrations with kamailio's DMQ over their private
addresses, so those must share one address family; a `kamailio.cluster` section
with a single sip node would replicate to nobody and is refused rather than ignored.
"""

from __future__ import annotations

from voipctl.errors import Problem
from voipctl.site.spec import SiteSpec
from voipctl.site.yamlsource import SourceMap

# Roles whose nodes share work by weight: SRV (sip), the rtpengine set (media), TURN URI order (turn).
WEIGHTED_ROLES = frozenset({"sip", "media", "turn"})


def cluster_problems(spec: SiteSpec, source: SourceMap) -> list[Problem]:
    out: list[Problem] = []
    sip = [(i, n) for i, n in enumerate(spec.nodes) if "sip" in n.roles]
    if spec.kamailio.cluster is not None and len(sip) < 2:
        out.append(source.problem(("kamailio", "cluster"), "a cluster needs at least two nodes with role 'sip'"))
    if len(sip) > 1:
        first_i, first = sip[0]
        for i, node in sip[1:]:
            if node.private.version != first.private.version:
                out.append(source.problem(("nodes", i, "private"),
                                          f"sip nodes replicate registrations over their private addresses: "
                                          f"{node.private} is not of the family of {first.private} "
                                          f"(node {spec.nodes[first_i].name})"))
    for i, node in enumerate(spec.nodes):
        if node.weight is not None and not WEIGHTED_ROLES & set(node.roles):
            out.append(source.problem(("nodes", i, "weight"), "weight applies to nodes with role sip, media or turn"))
        if node.turn_relay is not None and "turn" not in node.roles:
            out.append(source.problem(("nodes", i, "turn_relay"), "turn_relay applies to nodes with role turn"))
    return out
