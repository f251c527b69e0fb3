"""The host firewall of a node, from its bindings: each planned socket open to its audience only.

The bindings already say who a socket is for (Binding.audience); this module only
turns audiences into source networks. SSH is the one rule without a binding: no
voipctl daemon owns it, but deploy needs it from the management networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address, ip_network

from voipctl.plan.model import Binding, FirewallPlan, FirewallRule
from voipctl.site.model import Site


def _host_net(address: str) -> str:
    return str(ip_network(address))


def management_networks(site: Site) -> tuple[str, ...]:
    """The site's `firewall.management`, or each node's private /24 (/64): deploy's own path in."""
    nets = site.spec.firewall.management
    if nets is None:
        nets = [str(ip_network(f"{n.private}/{24 if n.private.version == 4 else 64}", strict=False))
                for n in site.spec.nodes]
    return tuple(sorted(dict.fromkeys(nets), key=lambda n: (ip_network(n).version, ip_network(n))))


def sip_node_sources(site: Site) -> tuple[str, ...]:
    """Where kamailio sends rtpengine's ng from: the SIP nodes' private addresses (ng lives there)."""
    found = {_host_net(str(n.private)) for n in site.nodes_with("sip")}
    return tuple(sorted(found, key=lambda n: (ip_network(n).version, ip_network(n))))


def build_firewall(site: Site, bindings: Sequence[Binding], db_clients: tuple[str, ...] = ()) -> FirewallPlan:
    """One accept rule per binding that leaves the host, plus SSH from the management networks.

    `db_clients`: on the `db` node, the hosts its PostgreSQL grants may log in from.
    """
    management = management_networks(site)
    sip_nodes = sip_node_sources(site)
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
