"""SIP user-agent steps on an open channel: request from an identity, wait for the answer, digest, REGISTER.

Shared by the one-shot probes in `sip` and the call flow in `call`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from voipctl.errors import ProbeError
from voipctl.probe.sipmsg import (
    Request,
    SipMessage,
    SipParseError,
    angle_uri,
    build_request,
    digest_authorization,
    new_branch,
    new_token,
    parse_challenge,
    parse_message,
)
from voipctl.probe.transport import Channel, Target
from voipctl.site.addresses import host_port

DEFAULT_UA = "voipctl-probe"


@dataclass(frozen=True)
class Identity:
    """Who the probe claims to be: From user and domain, and its User-Agent."""

    user: str = "probe"
    domain: str | None = None
    user_agent: str | None = DEFAULT_UA


def local_via(ch: Channel) -> tuple[str, str, int | None]:
    """Via transport, host, port; a WebSocket client uses its channel's .invalid name."""
    if ch.target.websocket:
        return ch.target.transport.upper(), ch.invalid_host, None
    return ch.target.transport.upper(), ch.local[0], ch.local[1]


def contact_uri(user: str, ch: Channel) -> str:
    _, host, port = local_via(ch)
    hostport = host if port is None else host_port(host, port)
    transport = "ws" if ch.target.websocket else ch.target.transport
    return f"<sip:{user}@{hostport};transport={transport}>"


def default_uri(target: Target, domain: str | None) -> str:
    if domain:
        return f"sip:{domain}"
    return f"sip:{host_port(target.host, target.port)}"


def make_request(
    ch: Channel, method: str, uri: str, ident: Identity, to_uri: str, call_id: str, from_tag: str, cseq: int,
    contact: str | None = None, extra: tuple[tuple[str, str], ...] = (),
) -> Request:
    """A request from `ident` sent over `ch` (its Via names the channel); tweak with dataclasses.replace."""
    transport, host, port = local_via(ch)
    domain = ident.domain or ch.target.name
    return Request(
        method=method, uri=uri, from_uri=f"sip:{ident.user}@{domain}", from_tag=from_tag, to_uri=to_uri,
        call_id=call_id, cseq=cseq, via_transport=transport, via_host=host, via_port=port, branch=new_branch(),
        contact=contact, user_agent=ident.user_agent, extra=extra,
    )


def read_message(ch: Channel, timeout: float) -> SipMessage | None:
    """The next parseable SIP message on the channel within `timeout`, or None."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        data = ch.recv(remaining)
        if data is None:
            return None
        try:
            return parse_message(data)
        except SipParseError:
            continue
    return None


def final_response(ch: Channel, req: Request, timeout: float) -> SipMessage | None:
    """Wait for `req`'s final response; provisional and unrelated messages are skipped."""
    deadline = time.monotonic() + timeout
    cseq = f"{req.cseq} {req.method}"
    while (remaining := deadline - time.monotonic()) > 0:
        msg = read_message(ch, remaining)
        if msg is None:
            return None
        if (msg.is_response and (msg.status or 0) >= 200 and msg.header("Call-ID") == req.call_id
                and msg.header("CSeq") == cseq):
            return msg
    return None


def exchange(ch: Channel, req: Request, timeout: float) -> SipMessage | None:
    """Send `req` and return its final response (None on timeout)."""
    ch.send(build_request(req))
    return final_response(ch, req, timeout)


def credentials(challenge: SipMessage, req: Request, user: str, password: str) -> tuple[str, str]:
    """The (header name, value) answering a 401/407 for `req`."""
    name = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
    header = challenge.header(name)
    if header is None:
        raise ProbeError(f"{challenge.status} without {name}")
    try:
        value = digest_authorization(parse_challenge(header), req.method, req.uri, user, password, new_token())
    except ValueError as exc:
        raise ProbeError(f"cannot answer the challenge: {exc}") from exc
    return ("Authorization" if challenge.status == 401 else "Proxy-Authorization"), value


def ack_for(req: Request, reply: SipMessage) -> Request:
    """ACK of a non-2xx final reply: same branch and Via, To with the reply's tag (RFC 3261 17.1.1.3)."""
    to_tag = None
    to = reply.header("To") or ""
    if ";tag=" in to:
        to_tag = to.split(";tag=", 1)[1].split(";", 1)[0]
    return replace(req, method="ACK", to_tag=to_tag, extra=(), body=b"", content_type=None, contact=None)


def authorized(
    ch: Channel, req: Request, ident: Identity, password: str, timeout: float
) -> tuple[SipMessage | None, SipMessage | None]:
    """Send `req`; if challenged, ACK when needed and resend once with credentials.

    Returns (challenge or None, final response or None).
    """
    first = exchange(ch, req, timeout)
    if first is None or first.status not in (401, 407):
        return None, first
    if req.method == "INVITE":
        ch.send(build_request(ack_for(req, first)))
    cred = credentials(first, req, ident.user, password)
    again = replace(req, cseq=req.cseq + 1, branch=new_branch(), extra=(*req.extra, cred))
    return first, exchange(ch, again, timeout)


def fetch_bindings(ch: Channel, ident: Identity, domain: str, password: str, timeout: float) -> SipMessage | None:
    """REGISTER without a Contact (RFC 3261 10.2.3): the answer lists ident@domain's bindings as the
    node `ch` reaches sees them, changing none."""
    me = Identity(ident.user, domain, ident.user_agent)
    aor = f"sip:{ident.user}@{domain}"
    req = make_request(ch, "REGISTER", f"sip:{domain}", me, aor, new_token(), new_token(), 1)
    return authorized(ch, req, me, password, timeout)[1]


def lists_contact(answer: SipMessage | None, contact: str) -> bool:
    """True when a 200 to REGISTER lists `contact` (its user@host:port part; a node may add parameters)."""
    if answer is None or answer.status != 200:
        return False
    want = angle_uri(contact).split(";")[0].lower()
    return any(angle_uri(c).split(";")[0].lower() == want
               for h in answer.header_all("Contact") for c in h.split(","))


def register(
    ch: Channel, ident: Identity, domain: str, password: str, expires: int, timeout: float
) -> tuple[SipMessage | None, SipMessage | None]:
    """REGISTER this channel's contact for ident@domain; returns (challenge, final answer)."""
    me = Identity(ident.user, domain, ident.user_agent)
    aor = f"sip:{ident.user}@{domain}"
    req = make_request(ch, "REGISTER", f"sip:{domain}", me, aor, new_token(), new_token(), 1,
                       contact_uri(ident.user, ch), (("Expires", str(expires)),))
    return authorized(ch, req, me, password, timeout)
