"""Lab addressing and naming, derived once from the Plan.

Every address the lab uses beyond the nodes' own (bridge, gateway, clients,
resolver) comes out of `lab_topology`; no other module picks an address.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network

from voipctl.errors import UsageError
from voipctl.plan.model import NodePlan, Plan

PREFIX = "vlab"
# Candidate networks for the clients behind the NAT gateway; the first that overlaps
# neither lab /24 is used.
CLIENT_NET_CANDIDATES = ("192.168.77.0/24", "192.168.78.0/24", "172.31.77.0/24")
# Interface names inside the namespaces (each namespace has its own name space).
IF_PUBLIC = "pub0"
IF_PRIVATE = "prv0"
IF_CLIENTS = "cli0"
IF_UPLINK = "nat0"
APT_PROXY_PORT = 3142


@dataclass(frozen=True)
class LabHost:
    """One nspawn host for one plan node."""

    node: str
    fqdn: str
    netns: str
    private: str
    public: str | None
    veth_private: str
    veth_public: str | None
    # Outside repr (the lab's fingerprint): labs without NAT keep theirs; `LabTopology.cloud` covers it.
    nat: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CloudNat:
    """The cloud's 1:1 NAT in front of `nat:` nodes: one namespace on both bridges that owns every NAT
    address on the public side and maps each, for every port and protocol, to its node's private
    address (hairpin included); the NAT nodes route everything else through it."""

    netns: str
    veth_private: str
    veth_public: str
    private: str  # its address on the private /24: the NAT nodes' default gateway
    mappings: tuple[tuple[str, str], ...]  # (nat, private) per NAT node


@dataclass(frozen=True)
class LabAddresses:
    """The lab's own addresses.

    Only the private /24 is routed in the control machine's namespace (it SSHes to
    the hosts and serves the apt proxy there); the public /24 exists on the lab's
    bridge and namespaces only, so it can never shadow a real destination of the
    machine (documentation ranges are used by real mirrors on some networks).
    """

    private_net: str
    public_net: str
    control_private: str
    resolver_private: str
    resolver_public: str
    gateway_public: str
    public_client: str
    client_net: str
    gateway_inner: str
    nat_client: str

    @property
    def resolvers(self) -> tuple[str, str]:
        return (self.resolver_private, self.resolver_public)

    @property
    def apt_proxy_url(self) -> str:
        return f"http://{self.control_private}:{APT_PROXY_PORT}/"

    def cidr(self, address: str) -> str:
        """`address/len` with the length of whichever lab network holds it."""
        for net in (self.private_net, self.public_net, self.client_net):
            if ip_address(address) in ip_network(net):
                return f"{address}/{ip_network(net).prefixlen}"
        raise ValueError(f"{address} is in no lab network")



@dataclass(frozen=True)
class LabTopology:
    site: str
    domain: str
    tag: str
    bridge_private: str
    bridge_public: str
    addresses: LabAddresses
    hosts: tuple[LabHost, ...]
    resolver_netns: str
    resolver_veth_private: str
    resolver_veth_public: str
    gateway_netns: str
    gateway_veth: str
    public_client_netns: str
    public_client_veth: str
    nat_client_netns: str
    cloud: CloudNat | None = field(default=None, repr=False)  # fingerprinted apart (lifecycle)

    @property
    def client_netns(self) -> tuple[str, str]:
        return (self.public_client_netns, self.nat_client_netns)

    @property
    def all_netns(self) -> tuple[str, ...]:
        cloud = (self.cloud.netns,) if self.cloud is not None else ()
        return (*(h.netns for h in self.hosts), self.resolver_netns, self.gateway_netns, *self.client_netns, *cloud)

    @property
    def fingerprint_text(self) -> str:
        """What `lab up` compares with a running lab: the NAT part only when there is one."""
        return repr(self) + (repr(self.cloud) if self.cloud is not None else "")

    def host(self, node: str) -> LabHost:
        return next(h for h in self.hosts if h.node == node)


def interface_tag(site: str) -> str:
    """A short per-site tag for interface names, which the kernel caps at 15 characters."""
    return PREFIX + hashlib.sha256(site.encode()).hexdigest()[:4]


def netns_name(site: str, member: str) -> str:
    """Namespace names: nodes by name, lab machinery with a leading `_` no node name can have."""
    return f"{PREFIX}.{site}.{member}"


def _one_net(nodes: list[NodePlan], addresses: list[str], what: str) -> IPv4Network:
    nets = {ip_network(f"{a}/24", strict=False) for a in addresses}
    if len(nets) != 1:
        names = ", ".join(n.name for n in nodes)
        raise UsageError(f"the lab puts every {what} address in one /24; nodes {names} span {len(nets)}")
    net = nets.pop()
    if not isinstance(net, IPv4Network):
        raise UsageError(f"the lab supports IPv4 {what} addresses only ({net})")
    return net


def _free(net: IPv4Network, used: set[IPv4Address]) -> list[IPv4Address]:
    return [a for a in net.hosts() if a not in used]


def lab_addresses(plan: Plan) -> LabAddresses:
    """Derive the two lab /24s from the nodes and pick the lab's own addresses in them.

    The control machine and the resolver take the first free private addresses, the
    resolver the first free public one, the gateway and the public client the last
    two free public ones; node addresses never move.
    """
    nodes = list(plan.nodes)
    with_public = [n for n in nodes if n.public is not None or n.nat is not None]
    if not with_public:
        raise UsageError("the lab needs at least one node with a public or NAT address for its clients")
    private_net = _one_net(nodes, [n.private for n in nodes], "private")
    public_net = _one_net(with_public, [a for n in with_public for a in (n.public, n.nat) if a is not None],
                          "public and NAT")
    if private_net.overlaps(public_net):
        raise UsageError(f"the lab needs different /24s for private and public addresses ({private_net})")
    used = {IPv4Address(a) for n in nodes for a in (n.private, n.public, n.nat) if a is not None}
    free_private = _free(private_net, used)
    free_public = _free(public_net, used)
    if len(free_private) < 3 or len(free_public) < 3:
        raise UsageError("the lab needs 3 free private and 3 free public addresses for its own use")
    client_net = next(
        (ip_network(c) for c in CLIENT_NET_CANDIDATES
         if not ip_network(c).overlaps(private_net) and not ip_network(c).overlaps(public_net)),
        None,
    )
    if client_net is None:
        raise UsageError("no free network for the NAT'd clients")
    inner = list(client_net.hosts())
    return LabAddresses(
        private_net=str(private_net),
        public_net=str(public_net),
        control_private=str(free_private[0]),
        resolver_private=str(free_private[1]),
        resolver_public=str(free_public[0]),
        gateway_public=str(free_public[-1]),
        public_client=str(free_public[-2]),
        client_net=str(client_net),
        gateway_inner=str(inner[0]),
        nat_client=str(inner[1]),
    )


def _cloud(plan: Plan, tag: str) -> CloudNat | None:
    """The 1:1 NAT for the plan's `nat:` nodes; it takes the third free private address."""
    mappings = tuple((n.nat, n.private) for n in plan.nodes if n.nat is not None)
    if not mappings:
        return None
    nodes = list(plan.nodes)
    private_net = _one_net(nodes, [n.private for n in nodes], "private")
    used = {IPv4Address(a) for n in nodes for a in (n.private, n.public, n.nat) if a is not None}
    return CloudNat(netns=netns_name(plan.site, "_cloud"), veth_private=f"{tag}nr", veth_public=f"{tag}nu",
                    private=str(_free(private_net, used)[2]), mappings=mappings)


def lab_topology(plan: Plan) -> LabTopology:
    """Names and addresses of everything the lab creates for this plan."""
    addresses = lab_addresses(plan)
    tag = interface_tag(plan.site)
    hosts = tuple(
        LabHost(
            node=n.name,
            fqdn=n.fqdn,
            netns=netns_name(plan.site, n.name),
            private=n.private,
            public=n.public,
            veth_private=f"{tag}{i}r",
            veth_public=f"{tag}{i}u" if n.public is not None else None,
            nat=n.nat,
        )
        for i, n in enumerate(plan.nodes)
    )
    return LabTopology(
        site=plan.site,
        domain=plan.domain,
        tag=tag,
        bridge_private=f"{tag}-prv",
        bridge_public=f"{tag}-pub",
        addresses=addresses,
        hosts=hosts,
        resolver_netns=netns_name(plan.site, "_dns"),
        resolver_veth_private=f"{tag}dr",
        resolver_veth_public=f"{tag}du",
        gateway_netns=netns_name(plan.site, "_gw"),
        gateway_veth=f"{tag}gw",
        public_client_netns=netns_name(plan.site, "_cpub"),
        public_client_veth=f"{tag}cp",
        nat_client_netns=netns_name(plan.site, "_cnat"),
        cloud=_cloud(plan, tag),
    )
