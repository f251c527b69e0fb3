"""Checks across components: what one daemon's config assumes about another's.

Several guard invariants that plan/build.py establishes today (kamailio's
rtpengine sockets, advertised addresses, SANs). They are kept as checks so a
future per-node override or a build change cannot silently break them; each
names the site key to look at. Decisions documented here:

- TURN realm: must equal the site domain or be a subdomain of it, so a realm
  never names another organisation's zone and sites sharing one secret store
  stay apart.
- Relay and RTP ranges: on one node they must not overlap even on different
  addresses (firewall rules and kernel forwarding match ports per host). The
  same-address case is already reported by port_collisions, so it is skipped
  here to avoid two lines for one mistake.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from voipctl.errors import Problem
from voipctl.plan.checks import PlanCheck
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import CertPlan
from voipctl.site.dnsnames import dns_covered
from voipctl.site.model import Site


def _node_path(site: Site, node: NodePlan, key: str) -> tuple[str | int, ...]:
    return ("nodes", site.node_index(node.name), key)


def rtpengine_sockets(site: Site, plan: Plan) -> list[Problem]:
    """Every kamailio drives exactly the rtpengine ng listeners, and loopback only on its own node."""
    listeners = {n.rtpengine.ng_socket: n for n in plan.nodes if n.rtpengine is not None}
    out: list[Problem] = []
    for node in plan.nodes:
        if node.kamailio is None:
            continue
        used = set(node.kamailio.rtpengine_sockets)
        missing, unknown = sorted(set(listeners) - used), sorted(used - set(listeners))
        if missing or unknown:
            detail = "; ".join(
                part for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"no rtpengine listens on {', '.join(unknown)}" if unknown else "",
                ) if part
            )
            out.append(site.problem(("rtpengine", "ng_port"),
                                    f"node {node.name}: kamailio's rtpengine sockets differ from the ng listeners: "
                                    f"{detail}"))
        for sock in sorted(used & set(listeners)):
            media = listeners[sock]
            rtp = media.rtpengine
            if rtp is not None and ip_address(rtp.ng_address).is_loopback and media.name != node.name:
                out.append(site.problem(_node_path(site, media, "private"),
                                        f"node {node.name}: kamailio would reach rtpengine of node {media.name} "
                                        f"on loopback ({sock})"))
    return out


def _own(node: NodePlan) -> set[str]:
    return {a for a in (node.private, node.public) if a is not None}


def advertised_addresses(site: Site, plan: Plan) -> list[Problem]:
    """Daemons bind only the node's interface addresses and advertise only them or its 1:1 NAT."""
    out: list[Problem] = []
    for node in plan.nodes:
        own = _own(node)
        advertisable = own | ({node.nat} if node.nat else set())
        binds: list[tuple[str, str]] = []
        adverts: list[tuple[str, str]] = []
        if node.kamailio is not None:
            for lst in node.kamailio.listeners:
                binds.append((f"kamailio {lst.proto} listener", lst.address))
                if lst.advertise is not None:
                    adverts.append((f"kamailio {lst.proto} advertise", lst.advertise))
        if node.rtpengine is not None:
            binds.append(("rtpengine interface", node.rtpengine.interface_address))
            if node.rtpengine.advertise is not None:
                adverts.append(("rtpengine advertised address", node.rtpengine.advertise))
        if node.coturn is not None:
            binds += [("coturn listening-ip", node.coturn.listen_address),
                      ("coturn relay-ip", node.coturn.relay_address)]
            if node.coturn.external_ip is not None:
                adverts.append(("coturn external-ip", node.coturn.external_ip))
        if node.openfire is not None:
            binds += [("openfire client interface", node.openfire.client_address),
                      ("openfire admin interface", node.openfire.admin_address)]
        for what, addr in binds:
            if addr not in own and not ip_address(addr).is_loopback:
                out.append(site.problem(_node_path(site, node, "private"),
                                        f"node {node.name}: {what} {addr} is not an address of the node"))
        advert_key = "nat" if node.nat else "public" if node.public else "private"
        for what, addr in adverts:
            if addr not in advertisable:
                out.append(site.problem(_node_path(site, node, advert_key),
                                        f"node {node.name}: {what} {addr} is neither an address of the node "
                                        f"nor its nat mapping"))
    return out


def turn_consumers(site: Site, plan: Plan) -> list[Problem]:
    """All coturn nodes validate the one REST secret the same way: same realm, same credential lifetime.

    Credentials are minted once per site (secret `turn_secret`) and a client may
    be sent to any TURN node, so nodes disagreeing would reject valid credentials.
    """
    turns = [(n, n.coturn) for n in plan.nodes if n.coturn is not None]
    out: list[Problem] = []
    if not turns:
        return out
    first_node, first = turns[0]
    for node, tc in turns[1:]:
        if tc.realm != first.realm:
            out.append(site.problem(("coturn", "realm"),
                                    f"node {node.name}: TURN realm {tc.realm} differs from {first.realm} on node "
                                    f"{first_node.name}; every TURN node must accept the same credentials"))
        if tc.credential_ttl != first.credential_ttl:
            out.append(site.problem(("coturn", "credential_ttl"),
                                    f"node {node.name}: TURN credential lifetime differs between TURN nodes"))
    return out


def turn_realm(site: Site, plan: Plan) -> list[Problem]:
    """The TURN realm is the site domain or a subdomain of it."""
    out: list[Problem] = []
    realms = sorted({n.coturn.realm for n in plan.nodes if n.coturn is not None})
    for realm in realms:
        if realm != plan.domain and not realm.endswith("." + plan.domain):
            out.append(site.problem(("coturn", "realm"),
                                    f"TURN realm {realm} is neither the site domain {plan.domain} nor a subdomain "
                                    "of it"))
    return out


def relay_rtp_ranges(site: Site, plan: Plan) -> list[Problem]:
    """coturn's relay range and rtpengine's RTP range never overlap on one node."""
    out: list[Problem] = []
    for node in plan.nodes:
        rtp, tc = node.rtpengine, node.coturn
        if rtp is None or tc is None or rtp.interface_address == tc.relay_address:
            continue  # same address: port_collisions reports it
        if rtp.port_min <= tc.relay_max and tc.relay_min <= rtp.port_max:
            relay = next(b for b in node.bindings if b.what == "coturn relay")
            out.append(site.problem(relay.site_path,
                                    f"node {node.name}: coturn relay ports {tc.relay_min}-{tc.relay_max} overlap "
                                    f"rtpengine RTP ports {rtp.port_min}-{rtp.port_max}"))
    return out


def san_covers(cert: CertPlan, name: str) -> bool:
    """Whether a DNS SAN of the planned certificate matches `name`."""
    return dns_covered(name, cert.dns_names)


def tls_names(site: Site, plan: Plan) -> list[Problem]:
    """Every name a client dials over TLS is in the SANs of the certificate that answers it."""
    out: list[Problem] = []
    for node in plan.nodes:
        wanted: list[tuple[CertPlan, str, tuple[str | int, ...]]] = []
        if node.kamailio is not None:
            cert = node.kamailio.tls.cert
            wanted.append((cert, node.kamailio.domain, ("domain",)))
            wanted.append((cert, node.kamailio.wss_host, ("kamailio", "wss_host")))
        if node.coturn is not None:
            wanted.append((node.coturn.tls.cert, node.coturn.host, ("coturn", "host")))
        if node.openfire is not None:
            cert = node.openfire.cert
            wanted.append((cert, node.openfire.domain, ("openfire", "domain")))
            wanted += [(cert, sub, ("openfire", "service_subdomains")) for sub in node.openfire.service_subdomains]
        for cert, name, path in wanted:
            if not san_covers(cert, name):
                out.append(site.problem(path, f"node {node.name}: clients dial {name} but the {cert.service} "
                                              f"certificate only names {', '.join(cert.dns_names)}"))
    return out


def _covered(address: str, networks: Sequence[str]) -> bool:
    return _in(address, [ip_network(n) for n in networks])


def _in(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    ip = ip_address(address)
    return any(ip.version == net.version and ip in net for net in networks)


def turn_reaches_media(site: Site, plan: Plan) -> list[Problem]:
    """coturn may relay to every media address: allowed-peer-ip wins over its deny-all, special ranges included."""
    out: list[Problem] = []
    media = sorted({n.rtpengine.sdp_address for n in plan.nodes if n.rtpengine is not None})
    refused: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}  # turn nodes mostly share one policy
    for node in plan.nodes:
        tc = node.coturn
        if tc is None:
            continue
        policy = (tc.allowed_peers, tc.denied_peers)
        if policy not in refused:
            allowed = [ip_network(n) for n in tc.allowed_peers]
            denied = [ip_network(n) for n in tc.denied_peers]
            refused[policy] = [a for a in media if not _in(a, allowed) and _in(a, denied)]
        for addr in refused[policy]:
            out.append(site.problem(("coturn",), f"node {node.name}: coturn denies relaying to media address {addr}"))
    return out


def _forbidden_peers(plan: Plan) -> tuple[dict[str, str], dict[str, str]]:
    """Addresses TURN must never reach: control sockets, and every node address that is not a media address.

    A TURN permission opens every port of an address, so a media address that
    also carries a control socket is forbidden too.
    """
    control = {b.address: f"where {b.what} listens" for n in plan.nodes for b in reversed(n.bindings) if not b.public}
    media = {n.rtpengine.sdp_address for n in plan.nodes if n.rtpengine is not None}
    nodes = dict(control)
    for n in plan.nodes:
        role = " (kamailio)" if n.kamailio is not None else ""
        for key, addr in (("private", n.private), ("public", n.public), ("nat", n.nat)):
            if addr is not None and addr not in media:
                nodes.setdefault(addr, f"node {n.name}'s {key} address{role}")
    return control, nodes


def turn_reaches_only_media(site: Site, plan: Plan) -> list[Problem]:
    """TURN relays to media addresses and `coturn.allowed_peers` only, never to the site's other addresses."""
    control, nodes = _forbidden_peers(plan)
    out: list[Problem] = []
    for node in plan.nodes:
        tc = node.coturn
        if tc is None:
            continue
        for addr in tc.media_peers:
            if addr in control:
                out.append(site.problem(("coturn",), f"node {node.name}: coturn may relay to {addr}, "
                                                     f"{control[addr]}"))
        for i, cidr in enumerate(tc.extra_peers):
            for addr, what in nodes.items():
                if _covered(addr, [cidr]):
                    out.append(site.problem(("coturn", "allowed_peers", i),
                                            f"{cidr} contains {addr}, {what}: TURN reaches the site's own "
                                            "nodes only at their media addresses"))
    return out


CROSS_CHECKS: tuple[PlanCheck, ...] = (
    rtpengine_sockets,
    advertised_addresses,
    turn_consumers,
    turn_realm,
    relay_rtp_ranges,
    tls_names,
    turn_reaches_media,
    turn_reaches_only_media,
)
