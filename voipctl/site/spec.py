"""The parse model: exactly what a site file may say, with defaults.

Values that depend on other parts of the site (WSS host, TURN realm, Kamailio
process counts, ...) are left `None` here and derived once, in the plan.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    field_validator,
    model_validator,
)

from voipctl.site.addresses import IPAddress, ManagementNetwork, PeerNetwork
from voipctl.site.fieldtypes import Domain, Name, Port, SipUser, TurnUri
from voipctl.site.flood import Flood
from voipctl.site.hostdirs import holds_no_db

Role = Literal["sip", "media", "turn", "xmpp", "db"]
# The Debian release a node runs (voipctl.plan.platform holds what each one means). A site
# that names none keeps debian12, what every site targeted before platforms existed: a moving
# default would re-pin packages on hosts still running the older release.
PlatformName = Literal["debian12", "debian13"]
DEFAULT_PLATFORM: PlatformName = "debian12"


class Spec(BaseModel):
    """Strict base: unknown keys are errors and loaded objects never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PortRange(Spec):
    """An inclusive port range, `min` below `max`."""

    min: Port
    max: Port

    @model_validator(mode="after")
    def _order(self) -> PortRange:
        if self.max <= self.min:
            raise ValueError("max must be greater than min")
        return self


class NodeSpec(Spec):
    """One host. `private` is always on an interface; `public` too when set.

    `nat` is the external address of a 1:1 NAT onto `private` (cloud style):
    daemons listen on `private` and advertise `nat`.
    """

    name: Name
    roles: Annotated[list[Role], Field(min_length=1)]
    private: IPAddress
    public: IPAddress | None = None
    nat: IPAddress | None = None
    fqdn: Domain | None = None
    cores: Annotated[int, Field(ge=1, le=512)] = 2
    memory_mb: Annotated[int, Field(ge=256, le=4_194_304)] = 2048
    platform: PlatformName | None = Field(default=None, description="this node's release; default the site's")
    weight: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None, description="share of new work among nodes of a role (SRV weight, rtpengine set weight); 1")
    turn_relay: PortRange | None = Field(
        default=None, description="this turn node's coturn relay ports; default coturn.relay_min..relay_max")

    @model_validator(mode="after")
    def _addresses(self) -> NodeSpec:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("roles: each role may be listed once")
        if self.public is not None and self.nat is not None:
            raise ValueError("set either public (address on an interface) or nat (1:1 NAT), not both")
        for other in (self.public, self.nat):
            if other is not None and other == self.private:
                raise ValueError(f"{other} is both the private and the public address")
        return self


class Transport(Spec):
    enabled: bool = True
    port: Port


class PlainWs(Spec):
    """Plain WebSocket: off by default; never on a public address unless `public`."""

    enabled: bool = False
    port: Port = 8080
    public: bool = False


class Transports(Spec):
    udp: Transport = Transport(port=5060)
    tcp: Transport = Transport(port=5060)
    tls: Transport = Transport(port=5061)
    wss: Transport = Transport(port=443)
    ws: PlainWs = PlainWs()

    @model_validator(mode="after")
    def _some(self) -> Transports:
        if not any(t.enabled for t in (self.udp, self.tcp, self.tls, self.wss, self.ws)):
            raise ValueError("enable at least one transport (with none, kamailio would listen on every address)")
        return self


def _db_file(value: str) -> str:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts or path.name in {"", "."}:
        raise ValueError(f"{value!r} must be an absolute file path without '..'")
    if holds_no_db(str(path.parent)):
        raise ValueError(f"{value!r}: put the DB in a directory of its own (e.g. /var/lib/kamailio/), "
                         f"deploy makes its directory kamailio-owned")
    return str(path)


class Auth(Spec):
    """Subscriber database. sqlite is embedded; postgres/mysql take a DSN without password."""

    backend: Literal["sqlite", "postgres", "mysql"] = "sqlite"
    dsn: str | None = Field(
        default=None,
        description="user@host[:port]/database; the password comes from secrets (db_password)",
        pattern=r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.:\[\]-]+/[A-Za-z0-9_]+$",
    )
    sqlite_path: Annotated[str, AfterValidator(_db_file)] = "/var/lib/kamailio/kamailio.sqlite"

    @model_validator(mode="after")
    def _dsn(self) -> Auth:
        if self.backend != "sqlite" and self.dsn is None:
            raise ValueError(f"backend {self.backend} needs dsn (user@host/database)")
        if self.backend == "sqlite" and self.dsn is not None:
            raise ValueError("dsn is only for postgres or mysql")
        return self


class Registrar(Spec):
    min_expires: Annotated[int, Field(ge=10, le=86400)] = 60
    default_expires: Annotated[int, Field(ge=10, le=86400)] = 600
    max_expires: Annotated[int, Field(ge=10, le=86400)] = 3600

    @model_validator(mode="after")
    def _order(self) -> Registrar:
        if not self.min_expires <= self.default_expires <= self.max_expires:
            raise ValueError("need min_expires <= default_expires <= max_expires")
        return self


class Sizing(Spec):
    """Process and memory sizing; `None` means derived from the node's cores and memory.

    `memory_manager` is kamailio's allocator (-x): tlsf by default, since qm's allocation path
    dominated the generated config's CPU under load (benchmarks/sip_load.py).
    """

    children: Annotated[int, Field(ge=1, le=256)] | None = None
    tcp_children: Annotated[int, Field(ge=1, le=256)] | None = None
    shm_mb: Annotated[int, Field(ge=64, le=65536)] | None = None
    pkg_mb: Annotated[int, Field(ge=8, le=1024)] | None = None
    memory_manager: Literal["tlsf", "fm", "qm"] = "tlsf"


class Cluster(Spec):
    """Several sip nodes: registrations replicated with kamailio's DMQ (dmq + dmq_usrloc).

    `port` is each sip node's cluster socket (UDP on its private address): DMQ messages
    and requests a node hands to the node holding a client's connection (Path).
    """

    port: Port = 5090


class Kamailio(Spec):
    transports: Transports = Transports()
    wss_host: Domain | None = None
    ws_origins: list[HttpUrl] = []
    auth: Auth = Auth()
    registrar: Registrar = Registrar()
    flood: Flood = Flood()
    sizing: Sizing = Sizing()
    max_message_bytes: Annotated[int, Field(ge=1024, le=65535)] = 16384
    tls_peer_verify: bool = False
    cluster: Cluster | None = Field(default=None, description="set by default when the site has several sip nodes")

    @field_validator("ws_origins")
    @classmethod
    def _bare_origins(cls, origins: list[HttpUrl]) -> list[HttpUrl]:
        for url in origins:
            if url.username or url.password or url.query or url.fragment or (url.path or "/") != "/":
                raise ValueError(f"{str(url)!r}: an origin is scheme://host[:port] only (browsers send no more)")
        return origins

    @model_validator(mode="after")
    def _peer_verify(self) -> Kamailio:
        if self.tls_peer_verify and self.transports.wss.enabled:
            raise ValueError("tls_peer_verify demands client certificates, which browsers on WSS never send: "
                             "disable transports.wss or tls_peer_verify")
        return self


class Rtpengine(Spec):
    port_min: Port = 20000
    port_max: Port = 31999
    ng_port: Port = 2223
    cli_port: Port = 9900
    timeout: Annotated[int, Field(ge=5, le=3600)] = 60
    silent_timeout: Annotated[int, Field(ge=5, le=86400)] = 3600
    final_timeout: Annotated[int, Field(ge=0, le=604800)] = 10800
    kernel: bool = False
    threads: Annotated[int, Field(ge=1, le=256)] | None = None
    log_level: Annotated[int, Field(ge=0, le=7)] = 5

    @model_validator(mode="after")
    def _range(self) -> Rtpengine:
        if self.port_max - self.port_min + 1 < 10000:
            raise ValueError("RTP port range needs at least 10000 ports (port_min..port_max)")
        return self


class Coturn(Spec):
    realm: Domain | None = None
    host: Domain | None = None
    port: Port = 3478
    tls_port: Port = 5349
    relay_min: Port = 40000
    relay_max: Port = 49999
    user_quota: Annotated[int, Field(ge=1, le=10000)] = 12
    total_quota: Annotated[int, Field(ge=1, le=1_000_000)] = 1200
    stale_nonce: Annotated[int, Field(ge=60, le=86400)] = 600
    credential_ttl: Annotated[int, Field(ge=60, le=604800)] = 3600
    allowed_peers: Annotated[list[PeerNetwork], Field(max_length=64)] = Field(
        default=[], description="extra networks TURN may relay to besides the site's media addresses")
    uris: Annotated[list[TurnUri], Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="TURN URIs clients get; default: turn: and turns: of every turn node")

    @model_validator(mode="after")
    def _range(self) -> Coturn:
        if self.relay_max <= self.relay_min:
            raise ValueError("relay_max must be greater than relay_min")
        return self


class Firewall(Spec):
    """The host firewall on every node: inbound dropped unless a planned listener's audience.

    `management` may reach SSH and the admin consoles; unset, it is each node's private
    /24 (IPv6: /64), where deploy and the operators' bastion are expected to sit.
    """

    management: Annotated[list[ManagementNetwork], Field(min_length=1, max_length=64)] | None = None
    ssh_port: Port = 22
    revert_seconds: Annotated[int, Field(ge=20, le=600)] = 45


class ExternalDb(Spec):
    url: Annotated[str, Field(pattern=r"^jdbc:(postgresql|mysql)://[^\s'\"<>]+$")]
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,63}$")]


class Openfire(Spec):
    enabled: bool = True
    domain: Domain | None = None
    database: Literal["embedded"] | ExternalDb = "embedded"
    admin_user: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,31}$")] = "admin"
    admin_email: str = "admin@localhost"
    s2s: bool = False
    package: str | None = Field(default=None, description="URL or local path of the Openfire .deb")
    client_port: Port = 5222
    client_tls_port: Port = 5223
    admin_port: Port = 9090
    admin_tls_port: Port = 9091
    service_subdomains: list[Name] = ["conference", "pubsub", "upload"]


class ByoCert(Spec):
    """Bring your own certificate (e.g. from an ACME client) for one service."""

    key: str
    cert: str
    chain: str | None = None
    ca: str


class Pki(Spec):
    root_key: Literal["ecdsa-p384", "rsa-3072"] = "ecdsa-p384"
    leaf_key: Literal["ecdsa-p256", "rsa-2048"] = "ecdsa-p256"
    leaf_days: Annotated[int, Field(ge=1, le=397)] = 90
    encrypt_root: bool = False
    byo: dict[Literal["kamailio", "coturn", "openfire"], ByoCert] = {}


class Subscriber(Spec):
    user: SipUser
    display_name: Annotated[str, Field(max_length=64, pattern=r"^[^\"\\\r\n]*$")] | None = None


class SubscribersFile(Spec):
    subscribers: list[Subscriber]


class SiteSpec(Spec):
    """Top level of a site file."""

    site: Name
    domain: Domain
    platform: PlatformName = Field(default=DEFAULT_PLATFORM, description="Debian release of every node "
                                   "that names none: debian12 (kamailio 5.6) or debian13 (kamailio 6.0)")
    nodes: Annotated[list[NodeSpec], Field(min_length=1)]
    kamailio: Kamailio = Kamailio()
    rtpengine: Rtpengine = Rtpengine()
    coturn: Coturn = Coturn()
    openfire: Openfire = Openfire()
    firewall: Firewall = Firewall()
    pki: Pki = Pki()
    subscribers: list[Subscriber] = []
    subscribers_file: str | None = Field(
        default=None, description="YAML file (relative to the site) with a `subscribers:` list"
    )
    secrets_file: str | None = Field(
        default=None, description="0600 secrets file; default <site>.secrets.yml beside the site"
    )
