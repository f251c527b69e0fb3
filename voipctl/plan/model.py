"""Plan dataclasses: what each node runs, on which sockets, with which files.

Templates, the PKI, checks, the lab and deploy read these; none of them derive
addresses, SANs or sockets again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import PurePosixPath
from typing import Literal

from voipctl.plan.platform import Platform
from voipctl.site.addresses import host_port
from voipctl.site.yamlsource import PathPart

SipProto = Literal["udp", "tcp", "tls", "ws", "wss"]
Service = Literal["kamailio", "rtpengine", "coturn", "openfire", "postgresql"]
# Who may reach a socket: clients anywhere, the site's kamailio nodes (rtpengine ng),
# the nodes using the site's DB (kamailio, Openfire), the site's management networks
# (admin consoles), or this host only (loopback).
Audience = Literal["anyone", "sip-nodes", "db-clients", "management", "local"]
CertService = Literal["kamailio", "coturn", "openfire"]


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
class CertPlan:
    """One leaf certificate for one service on one node, and where it lives on the host."""

    service: CertService
    node: str
    common_name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    client_auth: bool
    key_path: str
    cert_path: str
    chain_path: str
    ca_path: str
    owner: str
    group: str
    crl_path: str | None = None  # the CRL bundle, where this service verifies peers against the site CA


@dataclass(frozen=True)
class Listener:
    proto: SipProto
    address: str
    port: int
    advertise: str | None
    tls_name: str | None = None  # the name a client verifies on a TLS/WSS listener

    @property
    def socket(self) -> str:
        return f"{self.proto}:{host_port(self.address, self.port)}"

    @property
    def reached_at(self) -> str:
        """The address clients send to: the 1:1 NAT address when there is one, else the bound one."""
        return self.advertise or self.address


@dataclass(frozen=True)
class DbPlan:
    """Subscriber DB; the password is added at render time from the secrets store."""

    backend: Literal["sqlite", "postgres", "mysql"]
    module: str
    sqlite_path: str
    user: str
    host: str
    database: str
    served_by: str | None = None  # the site's `db` node loading this DB, None: sqlite or an external DB
    sql_path: str = "/etc/kamailio/voipctl-subscribers.sql"

    @property
    def sqlite_dir(self) -> str:
        """Directory deploy creates for the DB, owned by kamailio (never a shared one: validated)."""
        return str(PurePosixPath(self.sqlite_path).parent)


@dataclass(frozen=True)
class TlsPlan:
    min_version: Literal["TLSv1.2", "TLSv1.3"]
    ciphers: str
    verify_peer: bool
    cert: CertPlan


@dataclass(frozen=True)
class SipClusterPlan:
    """This sip node in the cluster: its DMQ/cluster socket (private, UDP) and the other nodes'."""

    address: str
    port: int
    peers: tuple[str, ...]  # private addresses of the other sip nodes, site order

    @staticmethod
    def uri(address: str, port: int) -> str:
        host = f"[{address}]" if ":" in address else address
        return f"sip:{host}:{port}"

    @property
    def socket(self) -> str:
        return "udp:" + self.uri(self.address, self.port).removeprefix("sip:")

    @property
    def server_uri(self) -> str:
        return self.uri(self.address, self.port)

    @property
    def peer_uris(self) -> tuple[str, ...]:
        return tuple(self.uri(p, self.port) for p in self.peers)


@dataclass(frozen=True)
class KamailioPlan:
    domain: str
    listeners: tuple[Listener, ...]
    ws_ports: tuple[int, ...]
    wss_host: str
    ws_origins: tuple[str, ...]
    rtpengine_sockets: tuple[str, ...]
    db: DbPlan
    children: int
    tcp_children: int
    shm_mb: int
    pkg_mb: int
    memory_manager: Literal["tlsf", "fm", "qm"]  # kamailio -x (shm and pkg)
    min_expires: int
    default_expires: int
    max_expires: int
    flood_sampling: int
    flood_max_requests: int
    flood_ban_seconds: int
    flood_aggregators: tuple[str, ...]  # networks exempt from the per-source limit (besides loopback)
    scanner_user_agents: tuple[str, ...]
    max_message_bytes: int
    tls: TlsPlan
    cfg_path: str = "/etc/kamailio/kamailio.cfg"
    tls_cfg_path: str = "/etc/kamailio/tls.cfg"
    rtpengine_weights: tuple[int, ...] = ()  # per rtpengine_sockets entry, same order
    cluster: SipClusterPlan | None = None  # several sip nodes: DMQ replication and Path


@dataclass(frozen=True)
class RtpenginePlan:
    interface_address: str
    advertise: str | None
    ng_address: str
    ng_port: int
    cli_port: int
    port_min: int
    port_max: int
    timeout: int
    silent_timeout: int
    final_timeout: int
    table: int
    threads: int
    log_level: int
    conf_path: str = "/etc/rtpengine/rtpengine.conf"

    @property
    def sdp_address(self) -> str:
        """The address rtpengine writes into SDP: what peers (and TURN relays) send media to."""
        return self.advertise or self.interface_address

    @property
    def ng_socket(self) -> str:
        return f"udp:{host_port(self.ng_address, self.ng_port)}"


@dataclass(frozen=True)
class CoturnPlan:
    realm: str
    host: str
    listen_address: str
    relay_address: str
    external_ip: str | None
    port: int
    tls_port: int
    relay_min: int
    relay_max: int
    user_quota: int
    total_quota: int
    stale_nonce: int
    credential_ttl: int
    denied_peers: tuple[str, ...]  # networks: every IPv4 and IPv6 address
    media_peers: tuple[str, ...]  # addresses: every rtpengine SDP address of the site
    extra_peers: tuple[str, ...]  # networks the site adds (coturn.allowed_peers), in site order
    tls: TlsPlan
    cli_port: int = 5766  # coturn's telnet CLI: rendered off (no-cli); verify checks it stays closed
    conf_path: str = "/etc/turnserver.conf"

    @property
    def reached_at(self) -> str:
        """The address clients send to: the 1:1 NAT address when there is one, else the bound one."""
        return self.external_ip or self.listen_address

    @property
    def allowed_peers(self) -> tuple[str, ...]:
        """Networks coturn relays to (allowed-peer-ip wins over denied-peer-ip): media hosts, then extras."""
        hosts = tuple(str(ip_network(a)) for a in self.media_peers)
        return hosts + self.extra_peers


@dataclass(frozen=True)
class OpenfirePlan:
    domain: str
    fqdn: str
    admin_address: str
    client_address: str
    client_port: int
    client_tls_port: int
    admin_port: int
    admin_tls_port: int
    admin_user: str
    admin_email: str
    db_url: str | None
    db_user: str | None
    s2s: bool
    package: str | None
    service_subdomains: tuple[str, ...]
    cert: CertPlan
    keystore_path: str = "/etc/openfire/security/keystore.p12"
    conf_path: str = "/etc/openfire/openfire.xml"
    security_path: str = "/etc/openfire/security.xml"


@dataclass(frozen=True)
class DbGrant:
    """One database on the `db` node: its owner role, the secret holding its password, who may log in."""

    database: str
    user: str
    secret: str  # key in the secrets store
    clients: tuple[str, ...]  # host networks (pg_hba lines and the firewall's sources)


@dataclass(frozen=True)
class PostgresqlPlan:
    """PostgreSQL on the site's `db` node: private address only, password (SCRAM) logins of the grants."""

    listen_address: str
    port: int
    grants: tuple[DbGrant, ...]
    subscriber_database: str  # the grant loaded with kamailio's subscriber SQL
    cluster: str = "15/main"
    unit: str = "postgresql@15-main"
    conf_path: str = "/etc/postgresql/15/main/conf.d/voipctl.conf"
    hba_path: str = "/etc/voipctl/postgresql/pg_hba.conf"
    roles_sql_path: str = "/etc/voipctl/postgresql/roles.sql"
    subscribers_sql_path: str = "/etc/voipctl/postgresql/subscribers.sql"

    @property
    def clients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for g in self.grants for c in g.clients))


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
