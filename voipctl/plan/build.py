"""Build the Plan from a Site: the one place where derived values are computed."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address
from urllib.parse import urlsplit

from voipctl.plan.cluster import cluster_binding, naptr_records, sip_cluster, srv_records, turn_uris
from voipctl.plan.database import kamailio_db, postgresql
from voipctl.plan.firewall import SiteSources, build_firewall
from voipctl.plan.model import Audience, Binding, NodePlan, Plan
from voipctl.plan.platform import PLATFORMS, Platform
from voipctl.plan.services import (
    CLUSTER_USRLOC,
    SINGLE_NODE_USRLOC,
    CoturnPlan,
    KamailioPlan,
    Listener,
    OpenfirePlan,
    RtpenginePlan,
    SipProto,
    credential_slots,
)
from voipctl.plan.tls import advertised, cert_plan, client_address, fqdn, tls_plan
from voipctl.site.addresses import host_port
from voipctl.site.model import Site
from voipctl.site.spec import ExternalDb, NodeSpec, Transport
from voipctl.site.yamlsource import PathPart

_TCP_BASED = {"tcp", "tls", "ws", "wss"}
# coturn denies every peer; allowed-peer-ip lines (which win over denied ones) open the media addresses.
DENY_ALL_PEERS = ("0.0.0.0/0", "::/0")


def _is_public(node: NodeSpec, address: str) -> bool:
    """Whether a control socket on `address` would face clients directly.

    A 1:1 NAT node's private address is its management address (the cloud's
    security groups guard it); a node with only a private address has no other.
    """
    if node.public is not None:
        return address == str(node.public)
    return node.nat is None and address == str(node.private)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def ng_address(site: Site, media: NodeSpec) -> str:
    """rtpengine's control address: loopback when Kamailio is on the same node only."""
    sip_nodes = site.nodes_with("sip")
    if all(n.name == media.name for n in sip_nodes):
        return "127.0.0.1"
    return str(media.private)


def _kamailio(site: Site, node: NodeSpec, platform: Platform) -> tuple[KamailioPlan, list[Binding]]:
    spec = site.spec.kamailio
    advertise = str(node.nat) if node.nat is not None else None
    wss_host = spec.wss_host or fqdn(site, node)
    names: dict[SipProto, str] = {"tls": site.spec.domain, "wss": wss_host, "ws": wss_host}
    listeners: list[Listener] = []
    bindings: list[Binding] = []
    tr = spec.transports
    main: tuple[tuple[SipProto, Transport], ...] = (("udp", tr.udp), ("tcp", tr.tcp), ("tls", tr.tls), ("wss", tr.wss))
    for proto, transport in main:
        if transport.enabled:
            listeners.append(Listener(proto, client_address(node), transport.port, advertise, names.get(proto)))
    ws = spec.transports.ws
    if ws.enabled:
        address = client_address(node) if ws.public else str(node.private)
        listeners.append(Listener("ws", address, ws.port, advertise if ws.public else None, wss_host))
    cluster = sip_cluster(site, node)
    if cluster is not None:
        bindings.append(cluster_binding(cluster, _is_public(node, cluster.address)))
    for lst in listeners:
        bindings.append(
            Binding(
                service="kamailio",
                what=f"kamailio {lst.proto}",
                proto="tcp" if lst.proto in _TCP_BASED else "udp",
                address=lst.address,
                port_min=lst.port,
                port_max=lst.port,
                public=lst.address == client_address(node),
                site_path=("kamailio", "transports", lst.proto, "port"),
                audience="anyone" if lst.address == client_address(node) else "management",
            )
        )
    origins = tuple(_origin(str(o)) for o in spec.ws_origins) or (f"https://{wss_host}",)
    db = kamailio_db(site)
    if db.served_by is not None and not platform.kamailio_libpq_ssl:
        db = replace(db, libpq_sslmode="disable")  # the site's own db node, on the private network
    sizing = spec.sizing
    children = sizing.children or max(4, min(16, node.cores * 2))
    tcp_children = sizing.tcp_children or children
    shared_readers = tcp_children
    if platform.kamailio_tls_one_reader and any(lst.proto in ("tls", "wss") for lst in listeners):
        # TLS/WSS go to the one shared reader; plain TCP/WS keep the sized count on their own readers.
        shared_readers = 1
        listeners = [replace(lst, workers=tcp_children) if lst.proto in ("tcp", "ws") else lst for lst in listeners]
    dns = [wss_host, site.spec.domain, fqdn(site, node)]
    plan = KamailioPlan(
        domain=site.spec.domain,
        listeners=tuple(listeners),
        ws_ports=tuple(sorted({lst.port for lst in listeners if lst.proto in ("ws", "wss")})),
        wss_host=wss_host,
        ws_origins=origins,
        rtpengine_sockets=tuple(
            _rtp_socket(ng_address(site, m), site.spec.rtpengine.ng_port) for m in site.nodes_with("media")
        ),
        db=db,
        children=children,
        tcp_children=tcp_children,
        tcp_shared_readers=shared_readers,
        shm_mb=sizing.shm_mb or max(64, min(1024, node.memory_mb // 8)),
        pkg_mb=sizing.pkg_mb or 16,
        memory_manager=sizing.memory_manager,
        credential_slots=credential_slots(
            None if db.backend != "sqlite" and db.served_by is None else len(site.subscribers)),
        min_expires=spec.registrar.min_expires,
        default_expires=spec.registrar.default_expires,
        max_expires=spec.registrar.max_expires,
        flood_sampling=spec.flood.sampling_seconds,
        flood_max_requests=spec.flood.max_requests,
        flood_ban_seconds=spec.flood.ban_seconds,
        flood_aggregators=tuple(spec.flood.aggregators),
        scanner_user_agents=tuple(spec.flood.scanner_user_agents),
        max_message_bytes=spec.max_message_bytes,
        tls=tls_plan(site, cert_plan(site, node, "kamailio", "kamailio", dns, client_auth=True)),
        rtpengine_weights=tuple(m.weight or 1 for m in site.nodes_with("media")),
        cluster=cluster,
        usrloc=SINGLE_NODE_USRLOC if cluster is None else CLUSTER_USRLOC,
    )
    return plan, bindings


def _rtp_socket(address: str, port: int) -> str:
    return f"udp:{host_port(address, port)}"


def _rtpengine(site: Site, node: NodeSpec) -> tuple[RtpenginePlan, list[Binding]]:
    spec = site.spec.rtpengine
    plan = RtpenginePlan(
        interface_address=client_address(node),
        advertise=str(node.nat) if node.nat is not None else None,
        ng_address=ng_address(site, node),
        ng_port=spec.ng_port,
        cli_port=spec.cli_port,
        port_min=spec.port_min,
        port_max=spec.port_max,
        timeout=spec.timeout,
        silent_timeout=spec.silent_timeout,
        final_timeout=spec.final_timeout,
        table=0 if spec.kernel else -1,
        threads=spec.threads or node.cores,
        log_level=spec.log_level,
    )
    path = ("rtpengine",)
    bindings = [
        Binding("rtpengine", "rtpengine RTP", "udp", plan.interface_address, plan.port_min, plan.port_max,
                True, (*path, "port_min"), "anyone"),
        Binding("rtpengine", "rtpengine ng", "udp", plan.ng_address, plan.ng_port, plan.ng_port,
                _is_public(node, plan.ng_address), (*path, "ng_port"),
                "local" if ip_address(plan.ng_address).is_loopback else "sip-nodes"),
        Binding("rtpengine", "rtpengine cli", "tcp", "127.0.0.1", plan.cli_port, plan.cli_port,
                False, (*path, "cli_port"), "local"),
    ]
    return plan, bindings


def _media_peers(site: Site) -> tuple[str, ...]:
    """Every media address as advertised in SDP: the only peers TURN relays to by default.

    Only the advertised address: a permission covers every port of an IP, and a
    NAT node's private address also carries rtpengine's ng control.
    """
    found = {advertised(m) for m in site.nodes_with("media")}
    return tuple(sorted(found, key=lambda a: ip_address(a).packed))


def _coturn(site: Site, node: NodeSpec) -> tuple[CoturnPlan, list[Binding]]:
    spec = site.spec.coturn
    host = spec.host or fqdn(site, node)
    listen = client_address(node)
    # A node's own relay range, else the site's. Ranges of different nodes may overlap: every
    # node relays on its own address (site validation refuses an address used by two nodes).
    own = node.turn_relay
    relay_min, relay_max = (own.min, own.max) if own is not None else (spec.relay_min, spec.relay_max)
    relay_path: tuple[PathPart, ...] = (
        ("nodes", site.node_index(node.name), "turn_relay", "min") if own is not None else ("coturn", "relay_min"))
    plan = CoturnPlan(
        realm=spec.realm or site.spec.domain,
        host=host,
        listen_address=listen,
        relay_address=listen,
        external_ip=str(node.nat) if node.nat is not None else None,
        port=spec.port,
        tls_port=spec.tls_port,
        relay_min=relay_min,
        relay_max=relay_max,
        user_quota=spec.user_quota,
        total_quota=spec.total_quota,
        stale_nonce=spec.stale_nonce,
        credential_ttl=spec.credential_ttl,
        denied_peers=DENY_ALL_PEERS,
        media_peers=_media_peers(site),
        extra_peers=tuple(str(net) for net in spec.allowed_peers),
        tls=tls_plan(site, cert_plan(site, node, "coturn", "turnserver", [host, fqdn(site, node)], client_auth=False)),
    )
    path = ("coturn",)
    bindings = [
        Binding("coturn", f"coturn {what}", proto, listen, port, port, True, (*path, key), "anyone")
        for what, key, port in (("stun/turn", "port", plan.port), ("turn-tls", "tls_port", plan.tls_port))
        for proto in ("udp", "tcp")
    ]
    bindings.append(
        Binding("coturn", "coturn relay", "udp", plan.relay_address, plan.relay_min, plan.relay_max, True,
                relay_path, "anyone")
    )
    return plan, bindings


def _openfire(site: Site, node: NodeSpec) -> tuple[OpenfirePlan, list[Binding]]:
    spec = site.spec.openfire
    domain = spec.domain or site.spec.domain
    node_fqdn = fqdn(site, node)
    db = spec.database if isinstance(spec.database, ExternalDb) else None
    subdomains = tuple(f"{s}.{domain}" for s in spec.service_subdomains)
    plan = OpenfirePlan(
        domain=domain,
        fqdn=node_fqdn,
        admin_address=str(node.private),
        client_address=client_address(node),
        client_port=spec.client_port,
        client_tls_port=spec.client_tls_port,
        admin_port=spec.admin_port,
        admin_tls_port=spec.admin_tls_port,
        admin_user=spec.admin_user,
        admin_email=spec.admin_email,
        db_url=db.url if db else None,
        db_user=db.username if db else None,
        s2s=spec.s2s,
        package=spec.package,
        service_subdomains=subdomains,
        cert=cert_plan(site, node, "openfire", "openfire", [domain, node_fqdn, *subdomains], client_auth=spec.s2s),
    )
    sockets: tuple[tuple[str, str, str, int, Audience], ...] = (
        ("c2s", "client_port", plan.client_address, plan.client_port, "anyone"),
        ("c2s-tls", "client_tls_port", plan.client_address, plan.client_tls_port, "anyone"),
        ("admin", "admin_port", plan.admin_address, plan.admin_port, "management"),
        ("admin-tls", "admin_tls_port", plan.admin_address, plan.admin_tls_port, "management"),
    )
    bindings = [
        Binding("openfire", f"openfire {what}", "tcp", addr, port, port,
                audience == "anyone" or _is_public(node, addr), ("openfire", key), audience)
        for what, key, addr, port, audience in sockets
    ]
    return plan, bindings


def build_plan(site: Site) -> Plan:
    """Derive every node's services, sockets and certificates from the site."""
    nodes: list[NodePlan] = []
    shared = SiteSources.of(site)
    for node in site.spec.nodes:
        bindings: list[Binding] = []
        platform = PLATFORMS[node.platform or site.spec.platform]
        kam = rtp = turn = xmpp = pg = None
        if "sip" in node.roles:
            kam, b = _kamailio(site, node, platform)
            bindings += b
        if "media" in node.roles:
            rtp, b = _rtpengine(site, node)
            bindings += b
        if "turn" in node.roles:
            turn, b = _coturn(site, node)
            bindings += b
        if "xmpp" in node.roles and site.spec.openfire.enabled:
            xmpp, b = _openfire(site, node)
            bindings += b
        if "db" in node.roles:
            pg, b = postgresql(site, node, platform)
            bindings += b
        nodes.append(
            NodePlan(
                name=node.name,
                fqdn=fqdn(site, node),
                roles=tuple(node.roles),
                private=str(node.private),
                public=str(node.public) if node.public is not None else None,
                nat=str(node.nat) if node.nat is not None else None,
                client_address=client_address(node),
                advertised=advertised(node),
                cores=node.cores,
                memory_mb=node.memory_mb,
                platform=platform,
                kamailio=kam,
                rtpengine=rtp,
                coturn=turn,
                openfire=xmpp,
                postgresql=pg,
                firewall=build_firewall(site, bindings, pg.clients if pg is not None else (), shared),
                bindings=tuple(bindings),
                weight=node.weight or 1,
            )
        )
    srv = srv_records(tuple(nodes))
    return Plan(
        site=site.name,
        domain=site.spec.domain,
        model_hash=site.model_hash,
        nodes=tuple(nodes),
        subscribers=tuple(s.user for s in site.subscribers),
        srv=srv,
        naptr=naptr_records(site.spec.domain, srv),
        turn_uris=turn_uris(site, tuple(nodes)),
    )
