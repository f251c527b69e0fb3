"""The plan of each service on a node (kamailio, rtpengine, coturn, Openfire, PostgreSQL) and the
certificate and TLS settings they carry: frozen values computed once by plan.build, read by render,
deploy and verify. Split from plan.model, which holds the node, the site plan and the bindings."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import PurePosixPath
from typing import Literal

from voipctl.site.addresses import host_port

SipProto = Literal["udp", "tcp", "tls", "ws", "wss"]
CertService = Literal["kamailio", "coturn", "openfire"]


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
    workers: int | None = None  # TCP readers dedicated to this socket (kamailio socket_workers); None: shared

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
    libpq_sslmode: str | None = None  # PGSSLMODE for kamailio's libpq (None: libpq's default)
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
    # kamailio's server_id, 1.. in site order: the rtpengine module builds its ng cookies from it and the
    # process id, and nodes started alike have the same pids; rtpengine answers a cookie it saw in the
    # last 30-60 s from its cache, so two nodes sharing it would get each other's replies
    server_id: int

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
class UsrlocPlan:
    """How usrloc keeps bindings: in the site DB, written back by its timer (2), on a single sip node;
    in memory only (0) in a cluster, where a restarting node gets them from its peers (dmq_usrloc sync).

    dmq_usrloc finds a replicated binding by its ruid, else by its Contact, and an update keeps the
    ruid it found. Write-back leaves a removed binding in memory until usrloc's timer; a client that
    registers the same Contact on another node meanwhile gets a new ruid there while the peer keeps
    the old one, so that binding's removals never replicate and the peer forks calls to a ghost.
    Write-through (1) would drop it at once, but kamailio 5.6's sqlite has no busy timeout: workers
    writing each REGISTER lock the file and other readers fail ("database is locked"). In memory, a
    removed binding goes at once and nothing touches the DB; the short timer narrows the same window
    for bindings that expired instead of being removed."""

    db_mode: Literal[0, 2]
    timer_interval: int

    @property
    def in_db(self) -> bool:
        return self.db_mode != 0


SINGLE_NODE_USRLOC = UsrlocPlan(db_mode=2, timer_interval=60)
CLUSTER_USRLOC = UsrlocPlan(db_mode=0, timer_interval=10)

# kamailio's htable sizes are powers of two, 2^3..2^14 slots (larger values are cut to 14).
CREDENTIAL_SLOTS_MIN, CREDENTIAL_SLOTS_MAX = 8, 14


def credential_slots(subscribers: int | None) -> int:
    """htable size (log2 of its slots) for the credential cache: about one subscriber per slot.
    None (an external DB whose accounts the site does not list) gets the largest table."""
    if subscribers is None:
        return CREDENTIAL_SLOTS_MAX
    return max(CREDENTIAL_SLOTS_MIN, min(CREDENTIAL_SLOTS_MAX, max(subscribers - 1, 0).bit_length()))


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
    tcp_shared_readers: int  # kamailio's tcp_children: readers not dedicated to one socket (Listener.workers)
    shm_mb: int
    pkg_mb: int
    memory_manager: Literal["tlsf", "fm", "qm"]  # kamailio -x (shm and pkg)
    credential_slots: int  # htable size of the in-memory HA1 cache (credential_slots())
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
    usrloc: UsrlocPlan = SINGLE_NODE_USRLOC


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
    # The server's major version (the node's platform) names its package, cluster and unit.
    package: str  # e.g. postgresql-15
    unit: str  # e.g. postgresql@15-main
    conf_path: str  # the cluster's conf.d drop-in, e.g. /etc/postgresql/15/main/conf.d/voipctl.conf
    hba_path: str = "/etc/voipctl/postgresql/pg_hba.conf"
    roles_sql_path: str = "/etc/voipctl/postgresql/roles.sql"
    subscribers_sql_path: str = "/etc/voipctl/postgresql/subscribers.sql"

    @property
    def clients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for g in self.grants for c in g.clients))
