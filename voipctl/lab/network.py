"""Bridges, namespaces, veth pairs and the NAT gateway of the lab.

`network_steps` lists every command in order with what each creates (pure, so
tests can check that everything made is also recorded for `down`).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path

from voipctl.lab import commands as cmd
from voipctl.lab.state import LabState, ResourceKind
from voipctl.lab.topology import IF_CLIENTS, IF_PRIVATE, IF_PUBLIC, IF_UPLINK, CloudNat, LabTopology
from voipctl.proc import must

NETNS_ETC = Path("/etc/netns")
NAT_TABLE = "vlab_nat"


@dataclass(frozen=True)
class Step:
    argv: list[str]
    creates: tuple[ResourceKind, str] | None = None
    stdin: str | None = None


def nat_ruleset(topo: LabTopology) -> str:
    """The gateway's rules: the client network leaves with the gateway's public address.

    `fully-random` rewrites source ports too, as carrier-grade NATs do, so the SIP
    side has to rely on rport/received rather than on the Via port.
    """
    a = topo.addresses
    return "\n".join([
        f"table ip {NAT_TABLE} {{",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f'    ip saddr {a.client_net} oifname "{IF_PUBLIC}" masquerade fully-random',
        "  }",
        "}",
        "",
    ])


CLOUD_TABLE = "vlab_cloud"


def cloud_ruleset(cloud: CloudNat) -> str:
    """1:1 NAT as a cloud does it: the NAT address maps to the private one for every port and
    protocol, both ways; a node reaching another by its NAT address hairpins with its own NAT
    address as source, so both ends see only NAT addresses."""
    dnat = ", ".join(f"{nat} : {private}" for nat, private in cloud.mappings)
    snat = ", ".join(f"{private} : {nat}" for nat, private in cloud.mappings)
    return "\n".join([
        f"table ip {CLOUD_TABLE} {{",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        f"    dnat to ip daddr map {{ {dnat} }}",
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f"    snat to ip saddr map {{ {snat} }}",
        "  }",
        "}",
        "",
    ])


def _cloud_steps(topo: LabTopology) -> list[Step]:
    cloud = topo.cloud
    if cloud is None:
        return []
    a = topo.addresses
    steps = _ns(cloud.netns)
    steps += _leg(cloud.netns, cloud.veth_private, IF_PRIVATE, topo.bridge_private, a.cidr(cloud.private))
    steps += [
        Step(cmd.veth_into_ns(cloud.veth_public, cloud.netns, IF_PUBLIC), ("link", cloud.veth_public)),
        Step(cmd.link_master(cloud.veth_public, topo.bridge_public)),
        *(Step(cmd.addr_add(a.cidr(nat), IF_PUBLIC, cloud.netns)) for nat, _ in cloud.mappings),
        Step(cmd.link_up(IF_PUBLIC, cloud.netns)),
        Step(cmd.ip_forward(cloud.netns)),
        Step(cmd.no_redirects(cloud.netns)),
        Step(cmd.nft_load(cloud.netns), stdin=cloud_ruleset(cloud)),
    ]
    steps += [Step(cmd.route_default(cloud.private, h.netns)) for h in topo.hosts if h.nat is not None]
    return steps


def _ns(ns: str) -> list[Step]:
    return [Step(cmd.netns_add(ns), ("netns", ns)), Step(cmd.link_up("lo", ns))]


def _leg(ns: str, outer: str, inner: str, bridge: str, cidr: str) -> list[Step]:
    """A veth from a bridge into `ns` carrying one address."""
    return [
        Step(cmd.veth_into_ns(outer, ns, inner), ("link", outer)),
        Step(cmd.link_master(outer, bridge)),
        Step(cmd.addr_add(cidr, inner, ns)),
        Step(cmd.link_up(inner, ns)),
    ]


def network_steps(topo: LabTopology) -> list[Step]:
    """Every command that builds the lab network, in order."""
    a = topo.addresses
    steps: list[Step] = []
    steps += [
        Step(cmd.bridge_add(topo.bridge_private), ("link", topo.bridge_private)),
        Step(cmd.addr_add(a.cidr(a.control_private), topo.bridge_private)),
        Step(cmd.link_up(topo.bridge_private)),
        # No address here: the public /24 is not routed in the control machine's namespace.
        Step(cmd.bridge_add(topo.bridge_public), ("link", topo.bridge_public)),
        Step(cmd.link_up(topo.bridge_public)),
    ]
    dns = topo.resolver_netns
    steps += _ns(dns)
    steps += _leg(dns, topo.resolver_veth_private, IF_PRIVATE, topo.bridge_private, a.cidr(a.resolver_private))
    steps += _leg(dns, topo.resolver_veth_public, IF_PUBLIC, topo.bridge_public, a.cidr(a.resolver_public))
    for host in topo.hosts:
        steps += _ns(host.netns)
        steps += _leg(host.netns, host.veth_private, IF_PRIVATE, topo.bridge_private, a.cidr(host.private))
        if host.public is not None and host.veth_public is not None:
            steps += _leg(host.netns, host.veth_public, IF_PUBLIC, topo.bridge_public, a.cidr(host.public))
    steps += _cloud_steps(topo)
    gw, cnat = topo.gateway_netns, topo.nat_client_netns
    steps += _ns(gw)
    steps += _leg(gw, topo.gateway_veth, IF_PUBLIC, topo.bridge_public, a.cidr(a.gateway_public))
    steps += _ns(cnat)
    steps += [
        Step(cmd.veth_between(gw, IF_CLIENTS, cnat, IF_UPLINK)),
        Step(cmd.addr_add(a.cidr(a.gateway_inner), IF_CLIENTS, gw)),
        Step(cmd.link_up(IF_CLIENTS, gw)),
        Step(cmd.addr_add(a.cidr(a.nat_client), IF_UPLINK, cnat)),
        Step(cmd.link_up(IF_UPLINK, cnat)),
        Step(cmd.route_default(a.gateway_inner, cnat)),
        Step(cmd.ip_forward(gw)),
        Step(cmd.nft_load(gw), stdin=nat_ruleset(topo)),
    ]
    steps += _ns(topo.public_client_netns)
    steps += _leg(topo.public_client_netns, topo.public_client_veth, IF_PUBLIC, topo.bridge_public,
                  a.cidr(a.public_client))
    return steps + neighbour_steps(topo)


def neighbour_steps(topo: LabTopology) -> list[Step]:
    """Make the public client a neighbour on the public segment: each node's private address routed
    via the node's public address, so its packets reach the node's public MAC with a private destination
    (what any host on a cloud's or carrier's public segment can do). Idempotent, for labs already up."""
    return [Step(cmd.route_replace(f"{h.private}/32", h.public, topo.public_client_netns))
            for h in topo.hosts if h.public is not None]


def add_neighbour_routes(topo: LabTopology) -> None:
    for step in neighbour_steps(topo):
        must(step.argv, timeout=30)


_ROUTE_TYPES = frozenset({"unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit",
                          "blackhole", "nat", "anycast"})


def route_conflicts(routes: str, network: str) -> list[str]:
    """Routes of the control machine (`ip -4 route show`) that the lab's `network` would shadow."""
    net = ip_network(network)
    found = []
    for line in routes.splitlines():
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:  # `blackhole 10.0.0.0/26`, `unreachable ...`
            words = words[1:]
        dest = words[0] if words else "default"
        if dest != "default" and ip_network(dest, strict=False).overlaps(net):
            found.append(line.strip())
    return found


def netns_resolv_conf(topo: LabTopology) -> str:
    """resolv.conf that `ip netns exec` shows inside the lab's own namespaces."""
    return f"nameserver {topo.addresses.resolver_public}\nsearch {topo.domain}\noptions timeout:1 attempts:2\n"


def bring_up(topo: LabTopology, state: LabState) -> None:
    """Create the network, recording each namespace, link and /etc/netns dir as it appears."""
    for step in network_steps(topo):
        must(step.argv, stdin=step.stdin, timeout=30)
        if step.creates is not None:
            state.add(*step.creates)
    # `ip netns exec` bind-mounts these over /etc/resolv.conf: the machine's own resolver
    # is unreachable from the lab and would stall every lookup.
    for ns in (topo.gateway_netns, *topo.client_netns):
        etc = NETNS_ETC / ns
        etc.mkdir(parents=True, exist_ok=True)
        state.add("dir", str(etc))
        (etc / "resolv.conf").write_text(netns_resolv_conf(topo))
