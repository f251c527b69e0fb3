"""SIP probes (OPTIONS, REGISTER with digest, a flood burst, a call, the in-dialog relay attack) and their CLI.

Run inside a namespace as `python -m voipctl.probe.sip options --transport wss ...`.
It prints one JSON object saying what came back; deciding whether that is
right is the caller's job. Passwords come from a file or an environment
variable, never from argv.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from voipctl.errors import ProbeError
from voipctl.probe.call import Leg, probe_call
from voipctl.probe.dialog import (
    DEFAULT_UA,
    Identity,
    authorized,
    contact_uri,
    default_uri,
    exchange,
    lists_contact,
    make_request,
    read_message,
    register,
)
from voipctl.probe.relay import probe_relay
from voipctl.probe.result import ProbeResult, recording
from voipctl.probe.sdp import MediaKind, body
from voipctl.probe.sipmsg import build_request, new_token
from voipctl.probe.transport import TRANSPORTS, Channel, Target, connect


def _start(ch: Channel, result: ProbeResult) -> None:
    result.tls_version = ch.tls_version
    result.http_headers = list(ch.http_headers)


def probe_options(
    target: Target, ident: Identity, uri: str | None = None, timeout: float = 3.0,
    extra: tuple[tuple[str, str], ...] = (),
) -> ProbeResult:
    """One OPTIONS (with `extra` headers); to the server itself (no user part) a keepalive answers 200."""
    ruri = uri or default_uri(target, ident.domain)
    result = ProbeResult.for_target("options", target)
    with recording(result), connect(target, timeout) as ch:
        _start(ch, result)
        req = make_request(ch, "OPTIONS", ruri, ident, ruri, new_token(), new_token(), 1, extra=extra)
        result.answer(exchange(ch, req, timeout))
    return result


def probe_register(
    target: Target, ident: Identity, domain: str, password: str, expires: int = 60, timeout: float = 3.0,
    remove: bool = False,
) -> ProbeResult:
    """REGISTER, answer the digest challenge once, report the final answer (and the challenge).

    With `remove`, a binding it made is removed again (Expires: 0 for its Contact), so a check never
    leaves the subscriber a stale contact that later calls would fork to; `details["unregister"]` says
    whether the removal was answered 200 and whether that 200 still listed the contact.
    """
    result = ProbeResult.for_target("register", target)
    with recording(result), connect(target, timeout) as ch:
        _start(ch, result)
        challenge, final = register(ch, ident, domain, password, expires, timeout)
        if challenge is not None:
            result.details["challenge"] = {"status": challenge.status, "reason": challenge.reason}
        result.answer(final)
        if remove and final is not None and final.status == 200:
            result.details["unregister"] = _unregister(ch, ident, domain, password, timeout)
    return result


def _unregister(ch: Channel, ident: Identity, domain: str, password: str, timeout: float) -> dict[str, Any]:
    """Expires: 0 for this channel's contact: the answer's status and whether it still lists the contact."""
    _, final = register(ch, ident, domain, password, 0, timeout)
    return {"status": final.status if final else None,
            "still_bound": lists_contact(final, contact_uri(ident.user, ch))}


def probe_invite(
    target: Target, ident: Identity, domain: str, callee: str, password: str, timeout: float = 3.0
) -> ProbeResult:
    """An authenticated INVITE to callee@domain, for callees that cannot answer: its final status
    (480 for a subscriber with no live binding). Not for reachable callees (no ACK/BYE is sent)."""
    result = ProbeResult.for_target("invite", target)
    aor = f"sip:{callee}@{domain}"
    with recording(result), connect(target, timeout) as ch:
        _start(ch, result)
        me = Identity(ident.user, domain, ident.user_agent)
        req = make_request(ch, "INVITE", aor, me, aor, new_token(), new_token(), 1, contact_uri(me.user, ch))
        req = replace(req, body=body("plain", ch.local[0], 40000, offer=True), content_type="application/sdp")
        challenge, final = authorized(ch, req, me, password, timeout)
        if challenge is not None:
            result.details["challenge"] = challenge.status
        result.answer(final)
    return result


def probe_burst(
    target: Target, ident: Identity, count: int, uri: str | None = None, timeout: float = 2.0
) -> ProbeResult:
    """`count` OPTIONS back to back (a flood), counting how many were answered."""
    ruri = uri or default_uri(target, ident.domain)
    result = ProbeResult.for_target("burst", target)
    with recording(result), connect(target, timeout) as ch:
        _start(ch, result)
        sent: set[str] = set()
        for _ in range(count):
            req = make_request(ch, "OPTIONS", ruri, ident, ruri, new_token(), new_token(), 1)
            ch.send(build_request(req))
            sent.add(req.call_id)
        answered: set[str] = set()
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0 and (msg := read_message(ch, remaining)):
            call_id = msg.header("Call-ID")
            if msg.is_response and call_id in sent:
                answered.add(str(call_id))
                result.answer(msg)
        result.details = {"sent": len(sent), "answered": len(answered)}
    return result


def _headers(values: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, colon, rest = value.partition(":")
        if not colon or not name.strip():
            raise ProbeError(f"--header wants NAME:VALUE, got {value[:40]!r}")
        pairs.append((name.strip(), rest.strip()))
    return tuple(pairs)


def _secret(file: str | None, env: str | None, what: str) -> str:
    if file:
        return Path(file).read_text().strip()
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ProbeError(f"environment variable {env} is not set")
        return value
    raise ProbeError(f"{what} needs a password file or environment variable")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m voipctl.probe.sip", description=str(__doc__).splitlines()[0])
    p.add_argument("action", choices=("options", "register", "burst", "call", "relay", "invite"))
    p.add_argument("--transport", choices=TRANSPORTS, required=True)
    p.add_argument("--host", required=True, help="address to connect to")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-name", help="TLS server name to verify, and the WebSocket Host")
    p.add_argument("--ca-file", help="CA bundle that must have signed the server certificate")
    p.add_argument("--origin", help="WebSocket Origin header")
    p.add_argument("--ws-path", default="/")
    p.add_argument("--bind", help="local source address")
    p.add_argument("--bind-port", type=int, default=0, help="local source port (default: any)")
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--domain", help="SIP domain (From/To host, REGISTER and call target)")
    p.add_argument("--uri", help="request URI (default sip:DOMAIN or sip:HOST:PORT)")
    p.add_argument("--user", default="probe")
    p.add_argument("--user-agent", default=DEFAULT_UA)
    p.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                   help="options: extra header (repeatable)")
    p.add_argument("--password-file")
    p.add_argument("--password-env", help="name of the environment variable holding the password")
    p.add_argument("--expires", type=int, default=60)
    p.add_argument("--remove", action="store_true", help="register: remove the binding again after a 200")
    p.add_argument("--count", type=int, default=50, help="burst: requests to send")
    p.add_argument("--victim-host", help="relay: a local address the probe listens on (UDP)")
    p.add_argument("--victim-port", type=int, default=5099, help="relay: the UDP port it listens on")
    p.add_argument("--media", choices=("webrtc", "plain", "sdes"), help="call: caller SDP (default by transport)")
    callee = p.add_argument_group("call: the callee (same server name, CA and origin)")
    callee.add_argument("--peer-transport", choices=TRANSPORTS)
    callee.add_argument("--peer-host")
    callee.add_argument("--peer-port", type=int)
    callee.add_argument("--peer-bind")
    callee.add_argument("--peer-user")
    callee.add_argument("--peer-password-file")
    callee.add_argument("--peer-password-env")
    callee.add_argument("--peer-media", choices=("webrtc", "plain", "sdes"))
    callee.add_argument("--bye-from", choices=("caller", "callee"), default="caller", help="who hangs up")
    return p


def _media(transport: str, chosen: str | None) -> MediaKind:
    """Explicit choice, else what a client on that transport usually is (browsers use WS/WSS)."""
    if chosen is None:
        return "webrtc" if transport in ("ws", "wss") else "plain"
    if chosen == "webrtc":
        return "webrtc"
    return "sdes" if chosen == "sdes" else "plain"


def _call(args: argparse.Namespace, target: Target, ident: Identity) -> ProbeResult:
    if not (args.domain and args.peer_transport and args.peer_host and args.peer_port and args.peer_user):
        raise ProbeError("call needs --domain and --peer-transport/--peer-host/--peer-port/--peer-user")
    peer = Target(args.peer_transport, args.peer_host, args.peer_port, args.server_name, args.ca_file,
                  args.origin, args.ws_path, args.peer_bind)
    caller = Leg(target, ident, _secret(args.password_file, args.password_env, "call"),
                 _media(args.transport, args.media), 40000)
    callee = Leg(peer, Identity(args.peer_user, args.domain, ident.user_agent),
                 _secret(args.peer_password_file, args.peer_password_env, "call"),
                 _media(args.peer_transport, args.peer_media), 42000)
    return probe_call(caller, callee, args.domain, args.bye_from, args.timeout)


def run(argv: Sequence[str]) -> ProbeResult:
    args = parser().parse_args(argv)
    target = Target(args.transport, args.host, args.port, args.server_name, args.ca_file, args.origin,
                    args.ws_path, args.bind, args.bind_port)
    ident = Identity(args.user, args.domain, args.user_agent or None)
    if args.action == "options":
        return probe_options(target, ident, args.uri, args.timeout, _headers(args.header))
    if args.action == "burst":
        return probe_burst(target, ident, args.count, args.uri, args.timeout)
    if args.action == "call":
        return _call(args, target, ident)
    if args.action == "invite":
        if not (args.domain and args.peer_user):
            raise ProbeError("invite needs --domain and --peer-user (the callee)")
        password = _secret(args.password_file, args.password_env, "invite")
        return probe_invite(target, ident, args.domain, args.peer_user, password, args.timeout)
    if args.action == "relay":
        if not args.victim_host:
            raise ProbeError("relay needs --victim-host")
        return probe_relay(target, ident, args.victim_host, args.victim_port, args.timeout)
    if not args.domain:
        raise ProbeError("register needs --domain")
    password = _secret(args.password_file, args.password_env, "register")
    return probe_register(target, ident, args.domain, password, args.expires, args.timeout, args.remove)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the result as one JSON line; exit 0 when a final SIP answer came back, 1 if not, 2 on bad use."""
    try:
        result = run(sys.argv[1:] if argv is None else argv)
    except ProbeError as exc:
        print(ProbeResult("error", "", "", error=str(exc)).to_json())
        return 2
    print(result.to_json())
    return 0 if result.answered else 1


if __name__ == "__main__":
    sys.exit(main())
