"""The host firewall of a node, from its bindings: each planned socket open to its audience only.

The bindings already say who a socket is for (Binding.audience); this module only
turns audiences into source networks. SSH is the one rule without a binding: no
voipctl daemon owns it, but deploy needs it from the management networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from voipctl.plan.model import Binding, FirewallPlan, FirewallRule
from voipctl.site.model import Site


def _sorted_nets(nets: Sequence[str]) -> tuple[str, ...]:
    """Distinct networks, IPv4 first, each parsed once (a big site has hundreds)."""
    parsed: dict[str, IPv4Network | IPv6Network] = {n: ip_network(n) for n in nets}
    return tuple(sorted(parsed, key=lambda n: (parsed[n].version, parsed[n])))


def management_networks(site: Site) -> tuple[str, ...]:
    """The site's `firewall.management`, or each node's private /24 (/64): deploy's own path in."""
    nets = site.spec.firewall.management
    if nets is None:
        nets = [str(ip_network(f"{n.private}/{24 if n.private.version == 4 else 64}", strict=False))
                for n in site.spec.nodes]
    return _sorted_nets(nets)


def sip_node_sources(site: Site) -> tuple[str, ...]:
    """Where kamailio sends rtpengine's ng from: the SIP nodes' private addresses (ng lives there)."""
    return _sorted_nets([str(ip_network(n.private)) for n in site.nodes_with("sip")])


@dataclass(frozen=True)
class SiteSources:
    """The audiences every node's firewall shares: computed once per site, not once per node."""

    management: tuple[str, ...]
    sip_nodes: tuple[str, ...]

    @classmethod
    def of(cls, site: Site) -> SiteSources:
        return cls(management_networks(site), sip_node_sources(site))


def build_firewall(site: Site, bindings: Sequence[Binding], db_clients: tuple[str, ...] = (),
                   shared: SiteSources | None = None) -> FirewallPlan:
    """One accept rule per binding that leaves the host, plus SSH from the management networks.

    `db_clients`: on the `db` node, the hosts its PostgreSQL grants may log in from.
    `shared`: the site's audiences when the caller plans many nodes (else computed here).
    """
    shared = shared if shared is not None else SiteSources.of(site)
    management, sip_nodes = shared.management, shared.sip_nodes
    sources = {"anyone": (), "sip-nodes": sip_nodes, "db-clients": db_clients, "management": management}
    rules = [
        FirewallRule(b.what, b.proto, b.address, b.port_min, b.port_max, sources[b.audience])
        for b in bindings
        if b.audience != "local" and not ip_address(b.address).is_loopback
    ]
    ssh = site.spec.firewall.ssh_port
    rules.append(FirewallRule("ssh", "tcp", None, ssh, ssh, management))
    return FirewallPlan(management=management, sip_nodes=sip_nodes, rules=tuple(rules),
                        revert_seconds=site.spec.firewall.revert_seconds)
