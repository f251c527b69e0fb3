"""Plan dataclasses: what each node runs, on which sockets, with which files.

Templates, the PKI, checks, the lab and deploy read these; none of them derive
addresses, SANs or sockets again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from voipctl.plan.platform import Platform
from voipctl.plan.services import (
    CertPlan,
    CoturnPlan,
    KamailioPlan,
    OpenfirePlan,
    PostgresqlPlan,
    RtpenginePlan,
)
from voipctl.site.yamlsource import PathPart

Service = Literal["kamailio", "rtpengine", "coturn", "openfire", "postgresql"]
# Who may reach a socket: clients anywhere, the site's kamailio nodes (rtpengine ng),
# the nodes using the site's DB (kamailio, Openfire), the site's management networks
# (admin consoles), or this host only (loopback).
Audience = Literal["anyone", "sip-nodes", "db-clients", "management", "local"]


@dataclass(frozen=True)
class Binding:
    """A socket a daemon binds, for collision checks and verify's listener checks."""

    service: Service
    what: str
    proto: Literal["udp", "tcp"]
    address: str
    port_min: int
    port_max: int
    public: bool
    site_path: tuple[PathPart, ...]
    audience: Audience

    def overlaps(self, other: Binding) -> bool:
        return (
            self.proto == other.proto
            and self.address == other.address
            and self.port_min <= other.port_max
            and other.port_min <= self.port_max
        )

    @property
    def ports(self) -> str:
        if self.port_min == self.port_max:
            return str(self.port_min)
        return f"{self.port_min}-{self.port_max}"


@dataclass(frozen=True)
class FirewallRule:
    """Inbound traffic one rule accepts: to `address` (None: any of the node's) from `sources` (() = anyone)."""

    what: str
    proto: Literal["udp", "tcp"]
    address: str | None
    port_min: int
    port_max: int
    sources: tuple[str, ...]


@dataclass(frozen=True)
class FirewallPlan:
    """The node's nftables table: default drop inbound, these rules open, each from its audience."""

    management: tuple[str, ...]
    sip_nodes: tuple[str, ...]  # networks (host-sized) kamailio drives rtpengine from
    rules: tuple[FirewallRule, ...]
    revert_seconds: int
    table: str = "voipctl"
    path: str = "/etc/voipctl/firewall.nft"
    unit: str = "voipctl-firewall.service"
    unit_path: str = "/etc/systemd/system/voipctl-firewall.service"
    helper: str = "/usr/local/lib/voipctl/firewall.py"  # deploy's apply/confirm/restore, verify's `needs`


@dataclass(frozen=True)
class NodePlan:
    name: str
    fqdn: str
    roles: tuple[str, ...]
    private: str
    public: str | None
    nat: str | None
    client_address: str
    advertised: str
    cores: int
    memory_mb: int
    platform: Platform
    kamailio: KamailioPlan | None = None
    rtpengine: RtpenginePlan | None = None
    coturn: CoturnPlan | None = None
    openfire: OpenfirePlan | None = None
    postgresql: PostgresqlPlan | None = None
    firewall: FirewallPlan | None = None
    bindings: tuple[Binding, ...] = ()
    weight: int = 1  # share of new work among nodes of its roles (SRV, rtpengine set)

    @property
    def certs(self) -> tuple[CertPlan, ...]:
        found: list[CertPlan] = []
        for svc in (self.kamailio, self.coturn):
            if svc is not None:
                found.append(svc.tls.cert)
        if self.openfire is not None:
            found.append(self.openfire.cert)
        return tuple(found)


@dataclass(frozen=True)
class SrvRecord:
    service: str  # e.g. _sips._tcp.example.com
    target: str
    port: int
    priority: int
    weight: int


@dataclass(frozen=True)
class NaptrRecord:
    """RFC 3263 NAPTR of the SIP domain pointing at one SRV name."""

    domain: str
    order: int
    preference: int
    service: str  # SIP+D2U, SIP+D2T, SIPS+D2T
    replacement: str


@dataclass(frozen=True)
class Plan:
    site: str
    domain: str
    model_hash: str
    nodes: tuple[NodePlan, ...]
    subscribers: tuple[str, ...] = field(default=())
    srv: tuple[SrvRecord, ...] = ()  # SIP and XMPP SRV over the nodes, weighted
    naptr: tuple[NaptrRecord, ...] = ()
    turn_uris: tuple[str, ...] = ()  # what clients (and the browser probe) get

    def node(self, name: str) -> NodePlan:
        return next(n for n in self.nodes if n.name == name)
