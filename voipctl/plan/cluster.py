"""Several nodes of a role: the kamailio cluster, SRV/NAPTR over the sip nodes, TURN URIs.

Registrations are replicated with kamailio's DMQ (dmq + dmq_usrloc) over a socket
on each sip node's private address; the same socket carries requests one node hands
to the node holding a client's connection (Path). Everything here is derived once
and read by the kamailio render, the lab resolver and the browser probe.
"""

from __future__ import annotations

import re
from ipaddress import ip_address

from voipctl.errors import Problem
from voipctl.plan.model import Binding, NaptrRecord, NodePlan, Plan, SrvRecord
from voipctl.plan.services import SipClusterPlan
from voipctl.site.model import Site
from voipctl.site.spec import Cluster, NodeSpec

# RFC 3263: SRV service label per SIP transport (TLS is _sips._tcp) and its NAPTR service,
# in the preference order we publish (TLS first: clients that can should use it).
SIP_SRV = (("tls", "_sips._tcp", "SIPS+D2T"), ("tcp", "_sip._tcp", "SIP+D2T"), ("udp", "_sip._udp", "SIP+D2U"))
SRV_PRIORITY = 10
# SRV weight per unit of node weight: a node of weight 1 publishes 10, as sites did before weights.
SRV_WEIGHT_UNIT = 10


def cluster_spec(site: Site) -> Cluster | None:
    """The cluster settings: explicit, or the defaults as soon as there are two sip nodes."""
    spec = site.spec.kamailio.cluster
    if spec is None and len(site.nodes_with("sip")) > 1:
        return Cluster()
    return spec


def sip_cluster(site: Site, node: NodeSpec) -> SipClusterPlan | None:
    spec = cluster_spec(site)
    if spec is None:
        return None
    sip_nodes = site.nodes_with("sip")
    peers = tuple(str(n.private) for n in sip_nodes if n.name != node.name)
    server_id = 1 + [n.name for n in sip_nodes].index(node.name)
    return SipClusterPlan(address=str(node.private), port=spec.port, peers=peers, server_id=server_id)


def cluster_binding(cluster: SipClusterPlan, public: bool) -> Binding:
    return Binding("kamailio", "kamailio cluster (dmq)", "udp", cluster.address, cluster.port, cluster.port,
                   public, ("kamailio", "cluster", "port"), "sip-nodes")


def srv_records(nodes: tuple[NodePlan, ...]) -> tuple[SrvRecord, ...]:
    """SIP SRV for every transport over every sip node (weighted), and XMPP client SRV."""
    out: list[SrvRecord] = []
    for proto, label, _ in SIP_SRV:
        for node in nodes:
            kam = node.kamailio
            if kam is None:
                continue
            for lst in kam.listeners:
                if lst.proto == proto:
                    out.append(SrvRecord(f"{label}.{kam.domain}", node.fqdn, lst.port, SRV_PRIORITY,
                                         SRV_WEIGHT_UNIT * node.weight))
    for node in nodes:
        xmpp = node.openfire
        if xmpp is not None:
            out.append(SrvRecord(f"_xmpp-client._tcp.{xmpp.domain}", node.fqdn, xmpp.client_port, SRV_PRIORITY,
                                 SRV_WEIGHT_UNIT * node.weight))
    return tuple(dict.fromkeys(out))


def naptr_records(domain: str, srv: tuple[SrvRecord, ...]) -> tuple[NaptrRecord, ...]:
    """One NAPTR per SIP transport that has SRV records, TLS preferred."""
    names = {r.service for r in srv}
    out = []
    for rank, (_, label, service) in enumerate(SIP_SRV, start=1):
        if f"{label}.{domain}" in names:
            out.append(NaptrRecord(domain, 10, 10 * rank, service, f"{label}.{domain}"))
    return tuple(out)


def turn_uris(site: Site, nodes: tuple[NodePlan, ...]) -> tuple[str, ...]:
    """The site's `coturn.uris`, or turn: (UDP, TCP) and turns: of every turn node, heaviest first."""
    if site.spec.coturn.uris is not None:
        return tuple(site.spec.coturn.uris)
    out: list[str] = []
    turns = sorted(((n, n.coturn) for n in nodes if n.coturn is not None), key=lambda nt: -nt[0].weight)
    for node, turn in turns:
        # several turn nodes: each URI names its own node, so a client's ICE tries every one
        host = node.fqdn if len(turns) > 1 else turn.host
        out += [f"turn:{host}:{turn.port}?transport=udp", f"turn:{host}:{turn.port}?transport=tcp",
                f"turns:{host}:{turn.tls_port}?transport=tcp"]
    return tuple(dict.fromkeys(out))


_URI_HOST = re.compile(r"^turns?:(\[[^\]]+\]|[^:?]+)")


def turn_uri_hosts(site: Site, plan: Plan) -> list[Problem]:
    """Every TURN URI the site gives clients names a turn node (its TURN host, FQDN or client address)."""
    known: set[str] = set()
    for node in plan.nodes:
        if node.coturn is not None:
            known |= {node.coturn.host, node.fqdn, node.coturn.reached_at}
    out = []
    for i, uri in enumerate(plan.turn_uris):
        match = _URI_HOST.match(uri)
        host = match.group(1).strip("[]") if match else ""
        if host not in known and not _same_address(host, known):
            out.append(site.problem(("coturn", "uris", i),
                                    f"{uri}: {host} is no turn node's TURN host, name or address"))
    return out


def _same_address(host: str, known: set[str]) -> bool:
    try:
        addr = ip_address(host)
    except ValueError:
        return False
    return any(_parses_to(k, addr) for k in known)


def _parses_to(text: str, addr: object) -> bool:
    try:
        return ip_address(text) == addr
    except ValueError:
        return False


def cluster_socket_private(site: Site, plan: Plan) -> list[Problem]:
    """DMQ trusts its peers: the cluster socket must never face clients."""
    out = []
    for node in plan.nodes:
        if any(b.public and b.what == "kamailio cluster (dmq)" for b in node.bindings):
            out.append(site.problem(("nodes", site.node_index(node.name), "private"),
                                    f"node {node.name}: the kamailio cluster socket would face clients on "
                                    f"{node.private}; give each sip node a public or nat address"))
    return out
