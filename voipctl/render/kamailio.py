"""Kamailio: kamailio.cfg, tls.cfg, the subscriber SQL (render/subscribers.py) and memory sizes of one node.

Every feature choice (modules, listeners, rtpengine flags per direction, the
WebSocket policy) is made here from the plan; the templates only
print what this module decided, so one rendered kamailio.cfg holds no #!ifdef.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from voipctl.errors import RenderError
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import DbPlan, KamailioPlan, Listener
from voipctl.render.controls import ControlSpan
from voipctl.render.derived import DERIVED_KEYS, derived_key
from voipctl.render.engine import provenance, render_traced
from voipctl.render.flood import flood_context
from voipctl.render.kamcluster import cluster_context, cluster_modules, rtpengine_set
from voipctl.render.subscribers import subscriber_sql
from voipctl.render.tree import PlannedFile
from voipctl.secrets import Secrets
from voipctl.site.addresses import host_port, uri_host

MEMORY_ENV_PATH = "/etc/default/kamailio.d/voipctl-memory"

# Kamailio has no ws/wss socket type: WebSocket listeners are plain TCP/TLS
# sockets whose HTTP upgrade is taken by the xhttp event route.
_SOCKET_PROTO = {"udp": "udp", "tcp": "tcp", "tls": "tls", "ws": "tcp", "wss": "tls"}

# nat_uac_test bits: Contact in a private range, Via host != source address,
# Via port != source port, and "arrived over a WebSocket" (whose Contact is a
# made-up .invalid host that can never be reached directly).
NAT_TEST_BITS = {"contact_private": 1, "via_host_differs": 2, "via_port_differs": 16, "websocket": 64}

# rtpengine flags, named for the recipient of the SDP. rtcp-mux: a WebRTC recipient gets it offered
# (and accepted if the other side offered it); a plain SIP recipient gets RTCP on its own port.
# via-branch=auto-next: an offer is keyed by the Via branch of the branch it goes out on, an
# answer by the top Via of the reply, so each callee of a forked call has its own media session.
RTP_TO_WEBRTC = (
    "UDP/TLS/RTP/SAVPF ICE=force DTLS=passive SDES-off rtcp-mux-offer rtcp-mux-accept generate-mid"
    " replace-origin via-branch=auto-next"
)
RTP_TO_PLAIN = "RTP/AVP ICE=remove DTLS=off SDES-off rtcp-mux-demux replace-origin via-branch=auto-next"

# What makes an offer WebRTC over a SIP transport: all three, not just "SAVPF" somewhere
# (an SDES-SRTP phone offers RTP/SAVP or RTP/SAVPF without ICE or a DTLS fingerprint).
WEBRTC_SDP = {
    "proto": "^m=[a-z]+ [0-9]+ UDP/TLS/RTP/SAVPF ",
    "ice": "^a=ice-ufrag:",
    "fingerprint": "^a=fingerprint:",
}

# TCP keepalive for NATed TCP/TLS phones: probes after 30 s idle (below common NAT
# TCP idle timers), every 10 s, 3 lost = dead; a dead peer's bindings go within ~1 min.
TCP_KEEPALIVE = {"idle": 30, "interval": 10, "count": 3}

# The dialog seal (route[SEAL]/route[WITHINDLG]): Record-Route parameter name, the
# MAC's hex characters kept (128 bits) and the longest dialog honoured (24 h).
SEAL_PARAM = "vs"
SEAL_MAC_CHARS = 32
SEAL_MAX_AGE = 86400

_SAFE_CFG = re.compile(r"^[^\"\\\r\n]*$")
_SAFE_DB_PASSWORD = re.compile(r"^[A-Za-z0-9_.~-]+$")


@dataclass(frozen=True)
class ListenLine:
    socket: str
    advertise: str | None
    workers: int | None = None


def _kam(node: NodePlan) -> KamailioPlan:
    if node.kamailio is None:
        raise RenderError(f"node {node.name} runs no kamailio")
    return node.kamailio


def cfg_str(value: str) -> str:
    """A value safe inside a kamailio double-quoted string (nothing needs escaping)."""
    if not _SAFE_CFG.match(value):
        raise RenderError(f"value {value!r} cannot be written into kamailio.cfg")
    return value


def listen_line(lst: Listener) -> ListenLine:
    """`listen=` for one plan listener; the advertised address keeps the listener's port."""
    advertise = host_port(lst.advertise, lst.port) if lst.advertise is not None else None
    return ListenLine(f"{_SOCKET_PROTO[lst.proto]}:{host_port(lst.address, lst.port)}", advertise, lst.workers)


def aliases(plan: Plan, node: NodePlan) -> tuple[str, ...]:
    """Names requests may carry for us: the SIP domain, the WSS host, the node, NAT addresses."""
    kam = _kam(node)
    names = [kam.domain, kam.wss_host, node.fqdn]
    names += [uri_host(a) for a in (lst.advertise for lst in kam.listeners) if a is not None]
    return tuple(cfg_str(n) for n in dict.fromkeys(names))


def scanner_regex(user_agents: tuple[str, ...]) -> str | None:
    """One lower-case POSIX regex matching any listed scanner User-Agent (dots literal); None: no check."""
    parts = [cfg_str(ua.lower()).replace(".", "[.]") for ua in user_agents]
    return "|".join(parts) if parts else None


def nat_test_flags() -> int:
    return sum(NAT_TEST_BITS.values())


def _or(terms: list[str]) -> str:
    return " || ".join(terms)


def ws_port_expr(kam: KamailioPlan) -> str | None:
    """Condition true when a message arrived on a WebSocket port; None without WebSocket."""
    if not kam.ws_ports:
        return None
    return _or([f"$Rp == {port}" for port in kam.ws_ports])


def ws_host_expr(kam: KamailioPlan) -> str:
    """Accepted Host headers: the WSS host name, bare or with a WebSocket port."""
    host = cfg_str(kam.wss_host.lower())
    values = [host, *(f"{host}:{port}" for port in kam.ws_ports)]
    return _or([f'$(hdr(Host){{s.tolower}}) == "{v}"' for v in values])


def ws_origin_expr(kam: KamailioPlan) -> str:
    values = dict.fromkeys(cfg_str(o.lower()) for o in kam.ws_origins)
    return _or([f'$(hdr(Origin){{s.tolower}}) == "{v}"' for v in values])


def db_url(db: DbPlan, secrets: Secrets) -> str:
    """The DB URL of usrloc and the credential cache (htable); for a server DB it embeds
    secrets['db_password'] (file is 0640)."""
    if db.backend == "sqlite":
        return cfg_str(f"sqlite://{db.sqlite_path}")
    password = secrets["db_password"]
    if not _SAFE_DB_PASSWORD.match(password):
        raise RenderError("db_password must use only letters, digits and _.~- to fit a kamailio db_url")
    scheme = {"postgres": "postgres", "mysql": "mysql"}[db.backend]
    return cfg_str(f"{scheme}://{db.user}:{password}@{db.host}/{db.database}")


def modules(kam: KamailioPlan) -> tuple[str, ...]:
    """Modules in load order; tls first (it hooks TCP), xhttp before websocket."""
    tls = any(lst.proto in ("tls", "wss") for lst in kam.listeners)
    ws = bool(kam.ws_ports)
    mods = ["tls"] if tls else []
    mods += [
        "jsonrpcs", "kex", "corex", "tm", "tmx", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "xlog",
        "sanity", "usrloc", "registrar", kam.db.module, "auth", "nathelper", "rtpengine",
        "pike", "htable", "crypto", "topoh",
    ]
    if ws:
        mods += ["xhttp", "websocket"]
    return (*mods, *cluster_modules(kam))


def kamailio_context(plan: Plan, node: NodePlan, secrets: Secrets) -> dict[str, Any]:
    """Everything kamailio.cfg.j2 prints, decided here."""
    kam = _kam(node)
    protos = {lst.proto for lst in kam.listeners}
    ws_ports = ws_port_expr(kam)
    return {
        "header": provenance("#", plan.site, plan.model_hash),
        "site": plan.site,
        "node": node.name,
        "domain": kam.domain,
        "realm": cfg_str(kam.domain),
        "children": kam.children,
        "tcp_children": kam.tcp_shared_readers,
        "shm_mb": kam.shm_mb,
        "enable_tcp": bool(protos & {"tcp", "tls", "ws", "wss"}),
        "enable_tls": bool(protos & {"tls", "wss"}),
        "use_ws": ws_ports is not None,
        # a TCP/WS client's connection must outlive its longest registration
        "tcp_connection_lifetime": kam.max_expires + 5,
        "tcp_rd_buf_size": min(65536, max(16384, kam.max_message_bytes + 1024)),
        "tcp_keepalive": TCP_KEEPALIVE,
        "seal": {"param": SEAL_PARAM, "mac_chars": SEAL_MAC_CHARS, "max_age": SEAL_MAX_AGE,
                 **{part: derived_key(secrets, DERIVED_KEYS[f"seal_{part}"]) for part in ("inner", "outer")}},
        "topology": {"mask_key": derived_key(secrets, DERIVED_KEYS["topoh"])},
        "webrtc_sdp": WEBRTC_SDP,
        "listeners": tuple(listen_line(lst) for lst in kam.listeners)
        + tuple(ListenLine(c.socket, None) for c in (kam.cluster,) if c is not None),
        "aliases": aliases(plan, node),
        "modules": modules(kam),
        "registrar": {"min_expires": kam.min_expires, "default_expires": kam.default_expires,
                      "max_expires": kam.max_expires},
        "flood": flood_context(kam),
        "db_url": db_url(kam.db, secrets),
        "usrloc": kam.usrloc,
        "credential_slots": kam.credential_slots,
        "sipping_from": cfg_str(f"sip:pinger@{kam.domain}"),
        "rtpengine_sock": cfg_str(rtpengine_set(kam)),
        "rtpengine_ping_timer": node.platform.kamailio_rtpengine_ping_timer,
        "bundle": node.platform.kamailio_bundle_single_media,
        "tls_cfg_path": cfg_str(kam.tls_cfg_path),
        "scanner_regex": scanner_regex(kam.scanner_user_agents),
        "max_message_bytes": kam.max_message_bytes,
        "nat_test_flags": nat_test_flags(),
        "rtp_to_webrtc": RTP_TO_WEBRTC,
        "rtp_to_plain": RTP_TO_PLAIN,
        "ws_port_expr": ws_ports,
        "ws_host_expr": ws_host_expr(kam) if ws_ports else None,
        "ws_origin_expr": ws_origin_expr(kam) if ws_ports else None,
    } | cluster_context(kam)


def tls_context(plan: Plan, node: NodePlan) -> dict[str, Any]:
    kam = _kam(node)
    tls = kam.tls
    methods = dict(node.platform.kamailio_tls_methods)  # 5.6 has no TLS-1.3-only method
    if tls.min_version not in methods:
        raise RenderError(f"kamailio of {node.platform.title} cannot require {tls.min_version} as the minimum "
                          "TLS version")
    return {
        "header": provenance("#", plan.site, plan.model_hash),
        "node": node.name,
        "min_version": tls.min_version,
        "method": methods[tls.min_version],
        "verify": "yes" if tls.verify_peer else "no",
        "crl_line": f"crl = {tls.cert.crl_path}\n" if tls.cert.crl_path else "",
        "cert": tls.cert,
        "ciphers": tls.ciphers,
    }


def memory_env(plan: Plan, node: NodePlan) -> str:
    """Debian's kamailio.service passes `-m $SHM_MEMORY -M $PKG_MEMORY` from these variables.

    pkg memory can only be set with -M; shm is also in kamailio.cfg (which wins over -m
    in 5.6, measured), and is repeated here so the two never disagree. The allocator has no
    cfg parameter and the unit no variable for it: systemd splits an unbraced $VAR at
    whitespace, so PKG_MEMORY carries `-x` as extra words.
    """
    kam = _kam(node)
    pkg = " ".join(_pkg_words(kam))
    return (
        f"{provenance('#', plan.site, plan.model_hash)}\n"
        f"# kamailio memory (MB) and allocator for node {node.name}; read by kamailio.service\n"
        f"# (EnvironmentFile), whose ExecStart has -m $SHM_MEMORY -M $PKG_MEMORY: the words after the\n"
        f"# pkg size are further options (-x {kam.memory_manager}: measured cheaper than kamailio's default qm).\n"
        f'SHM_MEMORY={kam.shm_mb}\nPKG_MEMORY="{pkg}"\n'
    ) + (_libpq_env(kam.db.libpq_sslmode) if kam.db.libpq_sslmode is not None else "")


def _libpq_env(mode: str) -> str:
    return ("# libpq without SSL to the site's db node (private network, SCRAM logins): kamailio 5.6 shares\n"
            "# OpenSSL's error state between its children, and their SSL connects at start hung the unit.\n"
            f"PGSSLMODE={mode}\n")


def _pkg_words(kam: KamailioPlan) -> list[str]:
    return [str(kam.pkg_mb), "-x", kam.memory_manager]


def service_args(kam: KamailioPlan) -> list[str]:
    """The options kamailio.service passes from the rendered env (`-m $SHM_MEMORY -M $PKG_MEMORY`)."""
    return ["-m", str(kam.shm_mb), "-M", *_pkg_words(kam)]


def render_kamailio(plan: Plan, node: NodePlan, secrets: Secrets) -> list[PlannedFile]:
    """kamailio.cfg and tls.cfg (root:kamailio 0640), the subscriber SQL (kamailio 0600), memory sizes."""
    kam = _kam(node)
    cfg, cfg_controls = render_traced("kamailio/kamailio.cfg.j2", **kamailio_context(plan, node, secrets))
    tls, tls_controls = render_traced("kamailio/tls.cfg.j2", **tls_context(plan, node))
    sql = subscriber_sql(plan, kam, secrets)

    def planned(path: str, owner: str, group: str, mode: int, text: str | bytes, sensitive: bool = False,
                controls: tuple[ControlSpan, ...] = ()) -> PlannedFile:
        content = text if isinstance(text, bytes) else text.encode()
        return PlannedFile(node.name, path, owner, group, mode, content, "kamailio", sensitive, controls)

    return [
        # kamailio.cfg carries keys derived from topology_key (dialog seal, topoh mask) and,
        # for postgres/mysql, the DB password in db_url
        planned(kam.cfg_path, "root", "kamailio", 0o640, cfg, sensitive=True, controls=cfg_controls),
        planned(kam.tls_cfg_path, "root", "kamailio", 0o640, tls, controls=tls_controls),
        planned(kam.db.sql_path, "kamailio", "kamailio", 0o600, sql, sensitive=True),
        planned(MEMORY_ENV_PATH, "root", "root", 0o644, memory_env(plan, node)),
    ]
