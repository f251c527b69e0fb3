"""The functional probes, generated from the Plan: what to try from which vantage and what must happen.

Pure: a Probe is a job for the `executor` (kind + params, which may hold a password and
are never reported) plus the expectation `judge` applies to what came back.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from typing import Any

from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import Listener
from voipctl.probe.turn import probe_credentials
from voipctl.verify.hosts.packages import openfire_skip_reason
from voipctl.verify.probes.vantage import Vantage
from voipctl.verify.report.outcome import Outcome

BAD_ORIGIN = "https://voipctl-verify.invalid"
TURN_USER = "voipctl-verify"
METADATA = "169.254.169.254"
# Peers coturn must refuse whatever the site, per address family of the relay.
REFUSED_SAMPLES: dict[int, dict[str, str]] = {
    4: {"127.0.0.1": "loopback", METADATA: "cloud metadata", "10.0.0.1": "private", "172.16.0.1": "private",
        "192.168.0.1": "private", "100.64.0.1": "carrier-grade NAT"},
    6: {"::1": "loopback", "fe80::1": "link-local", "fd00::1": "unique local", "::ffff:10.0.0.1": "IPv4-mapped"},
}


@dataclass(frozen=True)
class Probe:
    id: str
    vantage: str
    kind: str
    group: str
    name: str
    host: str
    params: Mapping[str, Any] = field(repr=False)
    expect: Mapping[str, Any] = field(default_factory=dict)

    def job(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "params": dict(self.params)}


@dataclass(frozen=True)
class ProbeInputs:
    """What the probes need beyond the plan: the CA to verify with and credentials (never reported)."""

    ca_file: str
    subscriber: str | None = None
    password: str | None = field(default=None, repr=False)
    turn_secret: str | None = field(default=None, repr=False)


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind: str) -> str:
        self.n += 1
        return f"{kind}-{self.n}"


def _sip_params(lst: Listener, node: NodePlan, plan: Plan, inp: ProbeInputs) -> dict[str, Any]:
    kam = node.kamailio
    assert kam is not None  # noqa: S101 - callers pass SIP nodes only
    server_name = lst.tls_name or plan.domain
    return {"transport": lst.proto, "host": lst.reached_at, "port": lst.port, "server_name": server_name,
            "ca_file": inp.ca_file, "origin": kam.ws_origins[0], "domain": plan.domain}


def _client_listeners(node: NodePlan) -> list[Listener]:
    """Listeners a client can reach: those on the node's client address."""
    assert node.kamailio is not None  # noqa: S101
    return [lst for lst in node.kamailio.listeners if lst.address == node.client_address]


def _sip(plan: Plan, node: NodePlan, vantages: Sequence[Vantage], inp: ProbeInputs, ids: _Ids) -> list[Probe]:
    probes = []
    for v in vantages:
        for lst in _client_listeners(node):
            tls = lst.proto in ("tls", "wss")
            probes.append(Probe(ids("options"), v.name, "sip_options", "sip",
                                f"OPTIONS over {lst.proto.upper()} {lst.reached_at}:{lst.port}"
                                + (" (TLS verified against the site CA)" if tls else ""),
                                node.name, _sip_params(lst, node, plan, inp), {"status": 200, "tls": tls}))
    for lst in _client_listeners(node):
        if lst.proto in ("ws", "wss"):
            params = {**_sip_params(lst, node, plan, inp), "origin": BAD_ORIGIN}
            probes.append(Probe(ids("origin"), vantages[0].name, "sip_options", "websocket",
                                f"{lst.proto.upper()} handshake with a disallowed Origin is refused with HTTP 403",
                                node.name, params, {"refused": True}))
    return probes


def _register(plan: Plan, node: NodePlan, vantage: Vantage, inp: ProbeInputs, ids: _Ids) -> list[Probe]:
    if inp.subscriber is None or inp.password is None:
        return []
    unknown = "voipctl-verify-nobody"
    while unknown in plan.subscribers:
        unknown += "x"
    wrong = "wrong-" + secrets.token_urlsafe(12)
    probes = []
    for lst in _client_listeners(node):
        if lst.proto not in ("udp", "tls"):
            continue
        base = _sip_params(lst, node, plan, inp)
        where = f"over {lst.proto.upper()} {lst.reached_at}:{lst.port}"
        right_id, wrong_id, unknown_id = ids("register"), ids("register"), ids("register")
        probes += [
            Probe(right_id, vantage.name, "sip_register", "register",
                  f"REGISTER {inp.subscriber} with the right password {where} gets 200", node.name,
                  {**base, "user": inp.subscriber, "password": inp.password}, {"status": 200}),
            Probe(wrong_id, vantage.name, "sip_register", "register",
                  f"REGISTER: wrong password and unknown user get identical answers {where}", node.name,
                  {**base, "user": inp.subscriber, "password": wrong}, {"same_as": unknown_id}),
            Probe(unknown_id, vantage.name, "sip_register", "register", "", node.name,
                  {**base, "user": unknown, "password": wrong}, {"compared": True}),
        ]
    return probes


def _dialog(plan: Plan, node: NodePlan, vantages: Sequence[Vantage], inp: ProbeInputs, ids: _Ids) -> list[Probe]:
    """The in-dialog relay attack from every vantage, and a call from the last (NATed) one
    whose callee must see no private address of the nodes or of the caller."""
    udp = [lst for lst in _client_listeners(node) if lst.proto == "udp"]
    if not udp:
        return []
    base = _sip_params(udp[0], node, plan, inp)
    where = f"{udp[0].reached_at}:{udp[0].port}"
    probes = [Probe(ids("relay"), v.name, "sip_relay", "relay",
                    f"forged in-dialog BYE/MESSAGE/ACK/INVITE via {where} are refused and never relayed",
                    node.name, {**base, "victim_host": v.address or "auto"}, {"refused": True})
              for v in vantages]
    if inp.subscriber is not None and inp.password is not None:
        v = vantages[-1]
        forbidden = [n.private for n in plan.nodes] + ([v.address] if v.address else [])
        probes.append(Probe(ids("topology"), v.name, "sip_call", "topology",
                            f"a call via {where}: the callee sees no private address of a node or the caller",
                            node.name, {**base, "user": inp.subscriber, "password": inp.password},
                            {"forbidden": forbidden}))
    return probes


def _exposure(node: NodePlan, vantages: Sequence[Vantage], ids: _Ids) -> list[Probe]:
    """Every control socket of the plan, tried at its own and at the node's client address."""
    targets: list[tuple[str, str, int, str]] = []
    for b in node.bindings:
        if b.public or b.port_min != b.port_max:
            continue
        for addr in dict.fromkeys((node.advertised, b.address)):
            if not ip_address(addr).is_loopback:
                targets.append((b.proto, addr, b.port_min, b.what))
    if node.coturn is not None:
        targets.append(("tcp", node.advertised, node.coturn.cli_port, "coturn cli"))
    probes = []
    for v in vantages:
        for proto, addr, port, what in targets:
            if proto == "udp" and what != "rtpengine ng":
                continue
            kind = "ng_ping" if proto == "udp" else "tcp_connect"
            expect: dict[str, Any] = {"silent": True} if proto == "udp" else {"closed": True}
            name = f"{what} unreachable at {proto} {addr}:{port}"
            if v.neighbour and node.public is not None and addr != node.advertised:
                # A neighbour's packet reaches the node: "no route" would prove nothing.
                expect["routed"] = True
                name += " through the public interface (neighbour)"
            probes.append(Probe(ids("exposure"), v.name, kind, "exposure", name, node.name,
                                {"host": addr, "port": port}, expect))
    return probes


def _firewall(node: NodePlan, v: Vantage, ids: _Ids) -> list[Probe]:
    """From a private neighbour: SSH open exactly when it is in the management networks, rtpengine's ng
    silent unless it is a SIP node (it has a route on the segment: "no route" fails)."""
    fw = node.firewall
    if fw is None or v.address is None:
        return []
    src = ip_address(v.address)
    probes = []
    ssh = next(r for r in fw.rules if r.what == "ssh")
    managed = any(src in ip_network(n) for n in fw.management)
    expect: dict[str, Any] = {"open": True} if managed else {"closed": True, "routed": True}
    probes.append(Probe(ids("firewall"), v.name, "tcp_connect", "firewall",
                        f"SSH at tcp {node.private}:{ssh.port_min} {'open' if managed else 'closed'} to "
                        f"{v.address} ({'in' if managed else 'outside'} the management networks)", node.name,
                        {"host": node.private, "port": ssh.port_min}, expect))
    rtp = node.rtpengine
    sip = any(src in ip_network(n) for n in fw.sip_nodes)
    if rtp is not None and not ip_address(rtp.ng_address).is_loopback and not sip:
        probes.append(Probe(ids("firewall"), v.name, "ng_ping", "firewall",
                            f"rtpengine ng at udp {rtp.ng_address}:{rtp.ng_port} silent to {v.address} "
                            "(a private neighbour, no SIP node)", node.name,
                            {"host": rtp.ng_address, "port": rtp.ng_port}, {"silent": True, "routed": True}))
    return probes


def outsider(plan: Plan, media: str) -> str:
    """An address next to the media address (same /24 or /64) that no node of the site has.

    CreatePermission sends nothing to the peer, so naming it reaches no one.
    """
    ip = ip_address(media)
    net = ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False)
    taken = {a for n in plan.nodes for a in (n.private, n.public, n.nat) if a is not None}
    return next(str(c) for c in (net.broadcast_address - k for k in range(1, 256)) if str(c) not in taken)


def turn_peers(plan: Plan, node: NodePlan) -> tuple[dict[str, str], list[str]]:
    """Peers to ask TURN permissions for: those coturn must refuse (with why), and the media addresses it grants.

    Only peers of the relay's address family: others get 443, which proves nothing.
    """
    turn = node.coturn
    assert turn is not None  # noqa: S101 - callers pass TURN nodes only
    family = ip_address(turn.relay_address).version
    media = [a for a in turn.media_peers if ip_address(a).version == family]
    refused = dict(REFUSED_SAMPLES[family])
    refused.setdefault(node.private, "the node's private address")
    for sip in (n for n in plan.nodes if n.kamailio is not None):
        for addr in (sip.private, sip.public, sip.nat):
            if addr is not None and addr not in media:
                refused.setdefault(addr, f"SIP node {sip.name}")
    if media:
        refused.setdefault(outsider(plan, media[0]), "not a site address")
    refused = {a: why for a, why in refused.items() if ip_address(a).version == family and a not in media}
    return refused, media


def _turn(plan: Plan, node: NodePlan, vantages: Sequence[Vantage], inp: ProbeInputs, ids: _Ids) -> list[Probe]:
    turn = node.coturn
    assert turn is not None  # noqa: S101
    server = {"host": turn.reached_at, "port": turn.port}
    probes = [
        Probe(ids("stun"), v.name, "stun_binding", "stun", f"STUN binding at udp {turn.reached_at}:{turn.port}",
              node.name, server, {"mapped": v.mapped})
        for v in vantages
    ]
    if inp.turn_secret is None:
        return probes
    v = vantages[-1]
    user, password = probe_credentials(inp.turn_secret, TURN_USER, turn.credential_ttl)
    _, wrong = probe_credentials("not-" + inp.turn_secret, TURN_USER, turn.credential_ttl)
    creds = {**server, "username": user, "password": password}
    probes += [
        Probe(ids("turn"), v.name, "turn_allocate", "turn", "TURN allocation with valid REST credentials",
              node.name, creds, {"ok": True}),
        Probe(ids("turn"), v.name, "turn_allocate", "turn", "TURN allocation with a wrong password gets 401",
              node.name, {**creds, "password": wrong}, {"error_code": 401}),
    ]
    denied, allowed = turn_peers(plan, node)
    probes.append(Probe(ids("turn"), v.name, "turn_permissions", "turn", "TURN permissions", node.name,
                        {**creds, "peers": [*denied, *allowed]},
                        {"denied": denied, "allowed": allowed, "media": list(turn.media_peers)}))
    return probes


def _xmpp(node: NodePlan, vantage: Vantage, ids: _Ids) -> tuple[list[Probe], list[Outcome]]:
    of = node.openfire
    assert of is not None  # noqa: S101
    name = f"XMPP c2s on {node.advertised}:{of.client_port} requires STARTTLS"
    reason = openfire_skip_reason(node)
    if reason is not None:
        return [], [Outcome("xmpp", name, "skipped", reason, host=node.name, vantage=vantage.name)]
    return [Probe(ids("xmpp"), vantage.name, "xmpp_starttls", "xmpp", name, node.name,
                  {"host": node.advertised, "port": of.client_port, "domain": of.domain},
                  {"required": True})], []


def build_probes(plan: Plan, vantages: Sequence[Vantage], inp: ProbeInputs,
                 private: Vantage | None = None) -> tuple[list[Probe], list[Outcome]]:
    """Probes for the agents, and outcomes already decided (skips with their reason).

    `private`: a neighbour on the nodes' private segment, for the firewall's private side.
    """
    if not vantages:
        raise ValueError("at least one vantage is needed")
    ids = _Ids()
    probes: list[Probe] = []
    decided: list[Outcome] = []
    for node in plan.nodes:
        if node.kamailio is not None:
            probes += _sip(plan, node, vantages, inp, ids)
            probes += _register(plan, node, vantages[-1], inp, ids)
            probes += _dialog(plan, node, vantages, inp, ids)
            if inp.subscriber is None:
                decided.append(Outcome("register", "REGISTER with digest", "skipped",
                                       "the site has no subscribers", host=node.name))
        probes += _exposure(node, vantages, ids)
        if private is not None:
            probes += _firewall(node, private, ids)
        if node.coturn is not None:
            probes += _turn(plan, node, vantages, inp, ids)
        if node.openfire is not None:
            more, skipped = _xmpp(node, vantages[0], ids)
            probes += more
            decided += skipped
    return probes, decided
