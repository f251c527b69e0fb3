"""What the probe talks to, read once from the plan, and the page's configuration.

Everything here is pure. `page_config` holds a SIP password and TURN credentials:
it goes to the page through the driver's stdin only, never onto argv or into logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import Listener
from voipctl.probe.turn import probe_credentials
from voipctl.verify.browser.mediaset import MediaNode, media_nodes

REGISTER_EXPIRES = 120


class ProbeUnavailable(Exception):
    """The site cannot host the browser scenario (no WSS, no coturn, too few subscribers)."""


@dataclass(frozen=True)
class TurnTarget:
    node: str
    host: str
    address: str
    port: int
    relay_address: str
    relay_min: int
    relay_max: int
    credential_ttl: int
    fqdn: str = ""

    def names(self) -> set[str]:
        """What a TURN URI the plan gives clients may call this node."""
        return {self.host, self.fqdn, self.address} - {""}


@dataclass(frozen=True)
class SiteTargets:
    """The sockets and names of one site that the browser scenario uses.

    The browser registers over WSS through `kamailio_node`, the phone over UDP
    (`sip_udp`) through `phone_node`: another sip node where the site has one, so a
    cluster's calls cross from node to node.
    """

    domain: str
    kamailio_node: str
    phone_node: str
    wss_host: str
    wss_port: int
    wss_address: str
    sip_udp: tuple[str, int]
    page_origin: str
    page_host: str
    page_port: int
    media: tuple[MediaNode, ...]
    turn: tuple[TurnTarget, ...]
    turn_uris: tuple[str, ...]  # what the plan gives clients, in its order
    browser_user: str
    phone_user: str
    # RTCPeerConnection bundlePolicy: "max-bundle" where the SIP node's kamailio groups
    # single-media SDP for browsers (its platform), else "balanced" (no group arrives).
    bundle_policy: str = "balanced"

    @property
    def ws_url(self) -> str:
        port = "" if self.wss_port == 443 else f":{self.wss_port}"
        return f"wss://{self.wss_host}{port}/"

    @property
    def page_url(self) -> str:
        return f"{self.page_origin}/index.html"

    def site_names(self) -> dict[str, str]:
        """Every site name the browser resolves, mapped to the address a client reaches."""
        names = {self.wss_host: self.wss_address}
        names.update({t.host: t.address for t in self.turn})
        return names


def _listener(node: NodePlan, proto: str) -> Listener | None:
    if node.kamailio is None:
        return None
    return next((lst for lst in node.kamailio.listeners if lst.proto == proto), None)


def page_origin(origins: tuple[str, ...]) -> tuple[str, str, int]:
    """The first https origin kamailio accepts WebSockets from: (origin, host, port)."""
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme == "https" and parts.hostname:
            return origin.rstrip("/"), parts.hostname, parts.port or 443
    raise ProbeUnavailable("kamailio.ws_origins has no https:// origin for the probe page")


def _sip_nodes(plan: Plan) -> tuple[NodePlan, NodePlan]:
    """The browser's node (the first with WSS) and the phone's (the next with UDP, else the same one)."""
    sips = [n for n in plan.nodes if _listener(n, "wss") is not None]
    if not sips:
        raise ProbeUnavailable("no node has a kamailio WSS listener")
    browser = sips[0]
    phones = [n for n in plan.nodes if _listener(n, "udp") is not None]
    phone = next((n for n in phones if n.name != browser.name), browser)
    if _listener(browser, "udp") is None and phone is browser:
        raise ProbeUnavailable(f"node {browser.name} needs both WSS and UDP listeners (browser and phone)")
    return browser, phone


def site_targets(plan: Plan, browser_user: str | None = None, phone_user: str | None = None) -> SiteTargets:
    """Pick the browser's and the phone's sip nodes, the media set, the TURN URIs and the two subscribers."""
    sip, phone_sip = _sip_nodes(plan)
    wss, udp = _listener(sip, "wss"), _listener(phone_sip, "udp")
    if sip.kamailio is None or wss is None or udp is None:
        raise ProbeUnavailable(f"node {sip.name} has no kamailio WSS listener")
    media = media_nodes(plan)
    if not media:
        raise ProbeUnavailable("no node runs rtpengine")
    turns = tuple(
        TurnTarget(n.name, n.coturn.host, n.coturn.reached_at, n.coturn.port, n.coturn.relay_address,
                   n.coturn.relay_min, n.coturn.relay_max, n.coturn.credential_ttl, n.fqdn)
        for n in plan.nodes if n.coturn is not None
    )
    if not turns or not plan.turn_uris:
        raise ProbeUnavailable("no node runs coturn")
    users = list(plan.subscribers)
    browser = browser_user or (users[0] if users else None)
    phone = phone_user or next((u for u in users if u != browser), None)
    if browser is None or phone is None or browser == phone or {browser, phone} - set(users):
        raise ProbeUnavailable("the scenario needs two different subscribers of the site")
    origin, host, port = page_origin(sip.kamailio.ws_origins)
    return SiteTargets(
        domain=sip.kamailio.domain, kamailio_node=sip.name, phone_node=phone_sip.name, wss_host=sip.kamailio.wss_host,
        wss_port=wss.port, wss_address=wss.reached_at, sip_udp=(udp.reached_at, udp.port), page_origin=origin,
        page_host=host, page_port=port, media=media, turn=turns, turn_uris=plan.turn_uris, browser_user=browser,
        phone_user=phone, bundle_policy="max-bundle" if sip.platform.kamailio_bundle_single_media else "balanced",
    )


_URI_HOST = re.compile(r"^(turns?:)(\[[^\]]+\]|[^:?]+)(.*)$")


def _by_address(uri: str, turns: tuple[TurnTarget, ...]) -> str:
    """The URI with its host replaced by the address of the turn node it names (unchanged if none)."""
    match = _URI_HOST.match(uri)
    if match is None:
        return uri
    scheme, host, rest = match.groups()
    node = next((t for t in turns if host.strip("[]") in t.names()), None)
    return uri if node is None else f"{scheme}{node.address}{rest}"


def ice_servers(targets: SiteTargets, turn_secret: str, by_address: bool = False,
                now: float | None = None) -> list[dict[str, object]]:
    """The TURN URIs the plan gives clients, as one ICE server with TURN REST credentials.

    A TURN server also answers the browser's binding requests, so no separate STUN entry is
    needed for a server-reflexive candidate. `by_address` writes each URI's turn node address
    instead of its name: chromium's --host-resolver-rules do not reach WebRTC's ICE server
    lookups (measured), so a bed without DNS must hand the address over.
    """
    ttl = min(t.credential_ttl for t in targets.turn)  # equal on every TURN node (plan cross-check)
    username, credential = probe_credentials(turn_secret, targets.browser_user, ttl, now)
    uris = [_by_address(u, targets.turn) if by_address else u for u in targets.turn_uris]
    return [{"urls": list(dict.fromkeys(uris)), "username": username, "credential": credential}]


def page_config(targets: SiteTargets, password: str, servers: list[dict[str, object]],
                answer_policy: str = "all") -> dict[str, object]:
    """The page's configure() argument (holds secrets: stdin only)."""
    return {
        "wsUrl": targets.ws_url,
        "uri": f"sip:{targets.browser_user}@{targets.domain}",
        "password": password,
        "displayName": f"{targets.browser_user} (voipctl browser probe)",
        "registerExpires": REGISTER_EXPIRES,
        "iceServers": servers,
        "autoAnswer": True,
        "answerPolicy": answer_policy,
        "bundlePolicy": targets.bundle_policy,
    }
