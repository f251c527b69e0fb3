"""The in-dialog open-relay attack, aimed at a UDP listener the probe itself holds.

An attacker needs no account: a made-up To-tag, a Route naming the proxy (or the proxy's
own address as Request-URI) and a Request-URI or Route naming where the request should go.
Each variant is sent to the proxy while the probe listens on the victim address; the result
says what the proxy answered and how many requests reached the victim (must be none).
A `control` request, sent straight to the victim, proves the listener itself works.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, replace

from voipctl.errors import ProbeError
from voipctl.probe.datagrams import datagrams_until
from voipctl.probe.dialog import Identity, make_request, read_message
from voipctl.probe.result import ProbeResult, recording
from voipctl.probe.sipmsg import SipParseError, build_request, new_token, parse_message
from voipctl.probe.transport import Channel, Target, connect
from voipctl.site.addresses import host_port, socket_family

METHODS = ("BYE", "MESSAGE", "ACK", "INVITE")
# the Route names the proxy / the Request-URI is the proxy / a Route with a forged dialog seal
VARIANTS = ("route-to-proxy", "ruri-is-proxy", "forged-seal")


@dataclass(frozen=True)
class Attempt:
    method: str
    variant: str
    status: int | None


def _routes_and_uri(variant: str, proxy: str, victim: str) -> tuple[tuple[str, ...], str]:
    if variant == "route-to-proxy":
        return (f"<sip:{proxy};lr>",), f"sip:victim@{victim}"
    if variant == "ruri-is-proxy":
        return (f"<sip:{victim};lr>",), f"sip:{proxy}"
    # a seal of the right shape that this site never issued
    forged = f"{int(time.time())}.{'0' * 32}"
    return (f"<sip:{proxy};lr;vs={forged};nat=yes>",), f"sip:victim@{victim}"


def _drain(listener: socket.socket, seconds: float) -> list[str]:
    """Request lines that reached the victim listener within `seconds`."""
    seen: list[str] = []
    for data in datagrams_until(listener, time.monotonic() + seconds):
        try:
            msg = parse_message(data)
        except SipParseError:
            seen.append("<unparseable>")
            continue
        seen.append(f"{msg.method} {msg.uri}")
    return seen


def _attempt(ch: Channel, ident: Identity, method: str, variant: str, victim: str, timeout: float) -> Attempt:
    proxy = host_port(ch.target.host, ch.target.port)
    routes, uri = _routes_and_uri(variant, proxy, victim)
    req = replace(make_request(ch, method, uri, ident, uri, new_token(), new_token(), 1),
                  to_tag=new_token(), routes=routes)
    ch.send(build_request(req))
    deadline = time.monotonic() + (0.5 if method == "ACK" else timeout)
    while (remaining := deadline - time.monotonic()) > 0:
        msg = read_message(ch, remaining)
        if msg is None:
            break
        if msg.is_response and msg.header("Call-ID") == req.call_id and (msg.status or 0) >= 200:
            return Attempt(method, variant, msg.status)
    return Attempt(method, variant, None)


def probe_relay(target: Target, ident: Identity, victim_host: str, victim_port: int,
                timeout: float = 2.0) -> ProbeResult:
    """Every method x variant toward the victim through the proxy; `details.delivered` lists what arrived."""
    result = ProbeResult.for_target("relay", target)
    victim = host_port(victim_host, victim_port)
    family = socket_family(victim_host)
    with recording(result), socket.socket(family, socket.SOCK_DGRAM) as listener:
        try:
            listener.bind((victim_host, victim_port))
        except OSError as exc:
            raise ProbeError(f"cannot listen on the victim address {victim}: {exc}") from exc
        listener.sendto(b"OPTIONS sip:control SIP/2.0\r\n\r\n", (victim_host, victim_port))
        result.details["control_received"] = bool(_drain(listener, 0.5))
        attempts: list[Attempt] = []
        with connect(target, timeout) as ch:
            for method in METHODS:
                for variant in VARIANTS:
                    attempts.append(_attempt(ch, ident, method, variant, victim, timeout))
        delivered = _drain(listener, 1.0)
        result.details |= {
            "attempts": [{"method": a.method, "variant": a.variant, "status": a.status} for a in attempts],
            "delivered": delivered,
        }
        answered = [a for a in attempts if a.status is not None]
        result.answered = bool(answered)
        result.status = max((a.status or 0) for a in attempts) or None
    return result
