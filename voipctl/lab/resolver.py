"""The lab's DNS: dnsmasq in its own namespace, on both lab networks.

It answers for the site's names only (node FQDNs, the service names in the plan,
PTR for every node address, SIP SRV), so nothing in the lab waits on the
machine's own resolver, which the namespaces cannot reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path

from voipctl.lab import commands as cmd
from voipctl.lab.state import LabState
from voipctl.lab.topology import LabTopology
from voipctl.plan.model import NaptrRecord, NodePlan, Plan, SrvRecord
from voipctl.proc import in_netns
from voipctl.proc.daemon import require_alive, start_daemon, wait_tcp

DNS_PORT = 53


@dataclass(frozen=True)
class HostRecord:
    """A and PTR: `names` resolve to `address`, which points back at the first name."""

    address: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class DnsRecords:
    hosts: tuple[HostRecord, ...]
    ptrs: tuple[tuple[str, str], ...]
    srvs: tuple[SrvRecord, ...]
    naptrs: tuple[NaptrRecord, ...] = ()


def _claims(node: NodePlan) -> list[tuple[int, str]]:
    """(role rank, name) for the service names this node serves: 0 SIP, 1 TURN, 2 XMPP."""
    claims: list[tuple[int, str]] = []
    if node.kamailio is not None:
        claims += [(0, node.kamailio.wss_host), (0, node.kamailio.domain)]
    if node.coturn is not None:
        claims.append((1, node.coturn.host))
    if node.openfire is not None:
        claims += [(2, name) for name in (node.openfire.domain, *node.openfire.service_subdomains)]
    return claims


def _name_owners(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Which nodes each service name points at.

    A name two roles share (the XMPP domain defaults to the SIP domain) goes to the
    lower-ranked role only; XMPP clients find their server through SRV instead.
    Node FQDNs always point at their own node.
    """
    fqdns = {n.fqdn for n in plan.nodes}
    best: dict[str, int] = {}
    for node in plan.nodes:
        for rank, name in _claims(node):
            best[name] = min(rank, best.get(name, rank))
    owners: dict[str, list[str]] = {}
    for node in plan.nodes:
        for rank, name in _claims(node):
            if name not in fqdns and rank == best[name] and node.name not in owners.get(name, []):
                owners.setdefault(name, []).append(node.name)
    return {name: tuple(nodes) for name, nodes in owners.items()}


def dns_records(plan: Plan) -> DnsRecords:
    """Every record the lab serves, read from the plan."""
    owners = _name_owners(plan)
    hosts = []
    ptrs = []
    for node in plan.nodes:
        extra = [name for name, nodes in owners.items() if node.name in nodes]
        # Clients (and, through the NAT's hairpin, the nodes) reach a node at its advertised address.
        hosts.append(HostRecord(node.advertised, (node.fqdn, *extra)))
        if node.private != node.advertised:
            ptrs.append((node.private, node.fqdn))
    return DnsRecords(tuple(hosts), tuple(ptrs), plan.srv, plan.naptr)


def reverse_zone(network: str) -> str:
    """The in-addr.arpa zone of a /24 (the lab's networks are all /24s)."""
    net = ip_network(network)
    return ".".join(reversed(str(net.network_address).split(".")[:3])) + ".in-addr.arpa"


def ptr_name(address: str) -> str:
    return ip_address(address).reverse_pointer


def dnsmasq_conf(topo: LabTopology, records: DnsRecords, pid_file: Path) -> str:
    """dnsmasq configuration: authoritative-style answers for the lab, nothing forwarded."""
    a = topo.addresses
    lines = [
        f"# voipctl lab resolver for site {topo.site}",
        *(f"listen-address={addr}" for addr in a.resolvers),
        "bind-interfaces",
        f"port={DNS_PORT}",
        "no-resolv",
        "no-hosts",
        "no-poll",
        f"pid-file={pid_file}",
        # Answer NXDOMAIN for unknown names in the lab's zones instead of looking elsewhere.
        f"local=/{topo.domain}/",
        *(f"local=/{reverse_zone(net)}/" for net in (a.private_net, a.public_net)),
    ]
    for host in records.hosts:
        lines.append(f"host-record={','.join(host.names)},{host.address}")
    for address, name in records.ptrs:
        lines.append(f"ptr-record={ptr_name(address)},{name}")
    for srv in records.srvs:
        lines.append(f"srv-host={srv.service},{srv.target},{srv.port},{srv.priority},{srv.weight}")
    for naptr in records.naptrs:
        # flags "s": the replacement is an SRV name; no regexp (RFC 3263)
        lines.append(f"naptr-record={naptr.domain},{naptr.order},{naptr.preference},s,{naptr.service},,"
                     f"{naptr.replacement}")
    return "\n".join(lines) + "\n"


def start_resolver(topo: LabTopology, plan: Plan, state: LabState, workdir: Path, logs: Path) -> None:
    conf = workdir / "dnsmasq.conf"
    conf.write_text(dnsmasq_conf(topo, dns_records(plan), workdir / "dnsmasq.pid"))
    log = logs / "dnsmasq.log"
    # `ip netns exec` execs dnsmasq in place, so the recorded PID is dnsmasq's own.
    pid, start = start_daemon(in_netns(topo.resolver_netns, cmd.dnsmasq(conf)), log)
    state.add_process("dnsmasq", pid, start)
    wait_tcp(topo.addresses.resolver_private, DNS_PORT, 10, "dnsmasq", log)
    require_alive(pid, start, "dnsmasq", log)
