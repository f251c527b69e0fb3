"""The catalogue of the site's security and robustness controls.

Each control names what decides it (site fields, or a fixed voipctl rule), the
verify checks that prove it (matched on verify's group and check name), and when
it applies. Its lines come from the render: templates wrap them in
`{% control "ID" %}` and playbooks mark them with `# control: ID`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voipctl.plan.model import Plan

Applies = Callable[[Plan], str | None]  # None: the control applies; else why it does not


def _always(_: Plan) -> str | None:
    return None


def _with_scanners(plan: Plan) -> str | None:
    if any(n.kamailio and n.kamailio.scanner_user_agents for n in plan.nodes):
        return None
    return "kamailio.flood.scanner_user_agents is empty: no User-Agent is dropped"


def _with_websocket(plan: Plan) -> str | None:
    if any(n.kamailio and n.kamailio.ws_ports for n in plan.nodes):
        return None
    return "no WebSocket transport is enabled"


def _with_openfire(plan: Plan) -> str | None:
    return None if any(n.openfire for n in plan.nodes) else "the site runs no Openfire"


@dataclass(frozen=True)
class Evidence:
    """Verify outcomes whose group matches `group` exactly and whose name contains `name`."""

    group: str
    name: str = ""


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    why: str
    decided_by: tuple[str, ...]  # dotted site fields, or "rule: ..." for what voipctl always does
    evidence: tuple[Evidence, ...] = ()
    applies: Applies = _always


CATALOGUE: tuple[Control, ...] = (
    Control("no-open-relay", "No open relay",
            "Only requests for the site domain, from local subscribers, are routed; others get 403.",
            ("domain", "rule: the site has no trusted peers, so From must be a local subscriber")),
    Control("no-open-relay-in-dialog", "No open relay inside dialogs",
            "A request with a To-tag is relayed only along a Record-Route this site sealed (MAC over Call-ID "
            "and start time); forged Routes or To-tags get 403/404.",
            ("rule: seal = nested SHA-256 (HMAC's construction) under two keys derived from secret topology_key, "
             "honoured for 24 h",),
            (Evidence("relay", "forged in-dialog"),)),
    Control("digest-auth-uniform", "Digest authentication, identical answers for unknown user and wrong password",
            "Every request from a local identity must carry valid digest credentials; a failure of any kind "
            "gets the same fresh challenge, so accounts cannot be enumerated.",
            ("domain", "rule: the HA1 of the To (REGISTER) or From user, pv_auth_check check 1 (credentials' "
             "user = that user); a stored value that is not a 32-digit HA1 never matches"),
            (Evidence("register", "wrong password and unknown user"),)),
    Control("ha1-only-store", "HA1-only subscriber store",
            "kamailio loads only the HA1 column of the subscriber table (into shared memory, reloaded when "
            "deploy changes the subscribers); the plaintext password column stays empty.",
            ("kamailio.auth.backend", "rule: htable auth loads cols username,ha1"),
            (Evidence("register", "with the right password"),)),
    Control("scanner-drop", "Known SIP scanners get silence",
            "Requests whose User-Agent names a known scanner are dropped without an answer.",
            ("kamailio.flood.scanner_user_agents",), (Evidence("scanner"),), _with_scanners),
    Control("flood-ban", "Flood ban",
            "A source over the request rate is banned for a while (pike + htable); exempt sources still "
            "authenticate.",
            ("kamailio.flood.sampling_seconds", "kamailio.flood.max_requests", "kamailio.flood.ban_seconds",
             "kamailio.flood.aggregators"),
            (Evidence("flood"),)),
    Control("websocket-origin-host", "WebSocket upgrade checks Host and Origin",
            "Only an upgrade on a WebSocket port, for the WSS host name, from an allowed web origin is accepted.",
            ("kamailio.wss_host", "kamailio.ws_origins", "kamailio.transports.wss"),
            (Evidence("websocket", "Origin"),), _with_websocket),
    Control("sip-on-ws-port-refused", "Plain SIP on the WebSocket port refused",
            "A SIP request reaching a WebSocket port outside a WebSocket gets 403.",
            ("kamailio.transports.wss", "kamailio.transports.ws"), (), _with_websocket),
    Control("tls-floor-ciphers", "TLS 1.2 floor and cipher policy per endpoint",
            "Every TLS endpoint (SIP TLS/WSS, TURNS, XMPP) refuses TLS 1.0/1.1 and legacy ciphers.",
            ("rule: floor TLSv1.2, ECDHE with AES-GCM or ChaCha20 for TLS 1.2", "kamailio.tls_peer_verify"),
            (Evidence("tls", "accepts only TLS 1.2/1.3"),)),
    Control("turn-rest-auth", "TURN REST API authentication",
            "TURN allocations need short-lived credentials minted from the shared secret.",
            ("coturn.credential_ttl", "coturn.realm"), (Evidence("turn", "TURN allocation"),)),
    Control("turn-peer-policy", "TURN relays only to media addresses",
            "coturn denies every peer, then allows the site's rtpengine addresses (and coturn.allowed_peers).",
            ("coturn.allowed_peers", "rule: deny all IPv4/IPv6, allow every rtpengine SDP address"),
            (Evidence("turn", "TURN permission"),)),
    Control("rtpengine-control-private", "rtpengine control never public",
            "The ng control socket binds the media node's private address, the CLI loopback.",
            ("rtpengine.ng_port", "rtpengine.cli_port", "rule: ng on the private address, CLI on 127.0.0.1"),
            (Evidence("exposure", "rtpengine"), Evidence("host:listening", "rtpengine ng"))),
    Control("admin-consoles-private", "Admin consoles private",
            "Openfire's admin console binds the private address; coturn's telnet CLI is off.",
            ("openfire.admin_port", "openfire.admin_tls_port", "rule: coturn no-cli"),
            (Evidence("exposure", "openfire admin"), Evidence("exposure", "coturn cli"),
             Evidence("host:listening", "openfire admin"), Evidence("host:listeners"))),
    Control("no-version-headers", "No software version in headers",
            "Kamailio answers with Server/User-Agent 'SIP' and no signature; coturn omits its SOFTWARE attribute.",
            ("rule: always",)),
    Control("topology-hiding", "Topology hiding",
            "Via, Record-Route, Route, Contact and Call-ID reach the other party encoded (topoh), so no private "
            "address leaks.",
            ("rule: always; mask key derived from secret topology_key",), (Evidence("topology"),)),
    Control("xmpp-tls-required", "XMPP clients must use TLS",
            "Openfire requires STARTTLS on client connections.", ("rule: always",),
            (Evidence("xmpp", "STARTTLS"),), _with_openfire),
    Control("validate-before-install", "Validate before install",
            "Deploy checks kamailio.cfg with `kamailio -c` before it replaces the running one.",
            ("rule: always",)),
    Control("backup-and-rollback", "Backup and rollback",
            "Every replaced file is backed up; a failed activation or health gate restores the previous files.",
            ("rule: always",)),
    Control("secrets-never-logged", "Secrets never logged",
            "Tasks that place a sensitive file run no_log and show no diff; voipctl never prints a secret.",
            ("rule: always",)),
)

BY_ID = {c.id: c for c in CATALOGUE}
