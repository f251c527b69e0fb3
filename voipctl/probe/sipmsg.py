"""Pure SIP: build requests and responses, parse messages, frame streams, answer digest challenges.

No sockets here, so every byte the probe sends or reads is unit-testable.

Hand-written on purpose (issue #12): there is no maintained Python SIP stack to
build on. What PyPI offers (listing of 2026-11-27): aiosip (last release 2017),
bindings to the C stack PJSIP (pjsua2 wheels), and aiosipua (an asyncio 0.x
micro-library). The probe needs exact control of every byte - forged Routes and
To-tags, scanner User-Agents, oversized requests, WebSocket .invalid Vias - which
a user-agent stack is built to prevent; these few functions do only that.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
    "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via", "o": "event", "u": "allow-events",
}
_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)')
_STATUS = re.compile(r"^SIP/2\.0 (\d{3}) ?(.*)$")
_REQUEST = re.compile(r"^([A-Z]+) (\S+) SIP/2\.0$")


class SipParseError(ValueError):
    """Bytes that are not a SIP message we can read."""


def new_branch() -> str:
    """RFC 3261 branch: the magic cookie marks it as globally unique."""
    return "z9hG4bK" + secrets.token_hex(8)


def new_token() -> str:
    return secrets.token_hex(8)


def _canon(name: str) -> str:
    low = name.strip().lower()
    return COMPACT.get(low, low)


def _check(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"header value contains a line break: {value!r}")
    return value


@dataclass(frozen=True)
class SipMessage:
    """A parsed request or response; header lookups are case-insensitive and know compact forms."""

    start_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header_all(self, name: str) -> list[str]:
        want = _canon(name)
        return [v for k, v in self.headers if _canon(k) == want]

    def header(self, name: str) -> str | None:
        found = self.header_all(name)
        return found[0] if found else None

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int | None:
        m = _STATUS.match(self.start_line)
        return int(m.group(1)) if m else None

    @property
    def reason(self) -> str | None:
        m = _STATUS.match(self.start_line)
        return m.group(2) if m else None

    @property
    def method(self) -> str | None:
        m = _REQUEST.match(self.start_line)
        return m.group(1) if m else None

    @property
    def uri(self) -> str | None:
        m = _REQUEST.match(self.start_line)
        return m.group(2) if m else None

    @property
    def cseq_method(self) -> str | None:
        cseq = self.header("CSeq")
        return cseq.split()[-1] if cseq else None


def parse_message(data: bytes) -> SipMessage:
    """Parse one complete SIP message (header folding allowed, body cut at Content-Length)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no end of headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("headers are not UTF-8") from exc
    lines = text.split("\r\n")
    start = lines[0].strip()
    if not (_STATUS.match(start) or _REQUEST.match(start)):
        raise SipParseError(f"not a SIP start line: {start[:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"bad header line: {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
    msg = SipMessage(start, tuple(headers), b"")
    length = msg.header("Content-Length")
    if length is not None:
        try:
            body = body[: int(length)]
        except ValueError as exc:
            raise SipParseError(f"bad Content-Length {length!r}") from exc
    return SipMessage(start, tuple(headers), body)


def message_length(buffer: bytes) -> int | None:
    """Length of the first whole message in a stream buffer, or None while incomplete.

    On TCP/TLS a message ends Content-Length bytes after the blank line; a
    stream without Content-Length carries no body.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = 0
    for line in buffer[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if _canon(name.decode("latin-1")) == "content-length":
            try:
                length = int(value.strip() or b"0")
            except ValueError as exc:
                raise SipParseError(f"bad Content-Length {value!r}") from exc
    total = end + 4 + length
    return total if len(buffer) >= total else None


@dataclass(frozen=True)
class Request:
    """Everything that goes into one request; `build_request` turns it into bytes."""

    method: str
    uri: str
    from_uri: str
    from_tag: str
    to_uri: str
    call_id: str
    cseq: int
    via_transport: str
    via_host: str
    via_port: int | None
    branch: str
    to_tag: str | None = None
    contact: str | None = None
    user_agent: str | None = None
    routes: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = None
    max_forwards: int = 70


def build_request(req: Request) -> bytes:
    via_host = f"{req.via_host}:{req.via_port}" if req.via_port else req.via_host
    to = f"<{req.to_uri}>" + (f";tag={req.to_tag}" if req.to_tag else "")
    lines = [
        f"{req.method} {req.uri} SIP/2.0",
        f"Via: SIP/2.0/{req.via_transport.upper()} {via_host};branch={req.branch};rport",
        f"Max-Forwards: {req.max_forwards}",
        f"From: <{req.from_uri}>;tag={req.from_tag}",
        f"To: {to}",
        f"Call-ID: {req.call_id}",
        f"CSeq: {req.cseq} {req.method}",
    ]
    lines += [f"Route: {r}" for r in req.routes]
    if req.contact:
        lines.append(f"Contact: {req.contact}")
    if req.user_agent:
        lines.append(f"User-Agent: {req.user_agent}")
    lines += [f"{k}: {v}" for k, v in req.extra]
    if req.content_type:
        lines.append(f"Content-Type: {req.content_type}")
    lines.append(f"Content-Length: {len(req.body)}")
    return ("\r\n".join(_check(line) for line in lines) + "\r\n\r\n").encode() + req.body


def build_response(
    req: SipMessage, status: int, reason: str, to_tag: str | None = None, contact: str | None = None,
    body: bytes = b"", content_type: str | None = None,
) -> bytes:
    """A UAS reply: Vias, From, Call-ID, CSeq and Record-Route copied from the request."""
    to = req.header("To") or ""
    if to_tag and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {v}" for v in req.header_all("Via")]
    lines += [f"Record-Route: {r}" for r in req.header_all("Record-Route")]
    lines += [f"From: {req.header('From')}", f"To: {to}", f"Call-ID: {req.header('Call-ID')}",
              f"CSeq: {req.header('CSeq')}"]
    if contact:
        lines.append(f"Contact: {contact}")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(_check(line) for line in lines) + "\r\n\r\n").encode() + body


def header_param(value: str, name: str) -> str | None:
    """A ;name=value parameter of a header such as To (tag) or Via (received, rport)."""
    for part in value.split(";")[1:]:
        key, _, val = part.partition("=")
        if key.strip().lower() == name.lower():
            return val.strip()
    return None


def angle_uri(value: str) -> str:
    """The URI inside <...> of a name-addr (Contact, Record-Route), or the value itself."""
    start, end = value.find("<"), value.find(">")
    return value[start + 1 : end] if 0 <= start < end else value.split(";", maxsplit=1)[0].strip()


@dataclass(frozen=True)
class DigestChallenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    params: dict[str, str] = field(default_factory=dict, compare=False)


def parse_challenge(value: str) -> DigestChallenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate Digest challenge."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError(f"not a Digest challenge: {value[:40]!r}")
    params = {k.lower(): v[1:-1].replace('\\"', '"') if v.startswith('"') else v for k, v in _PARAM.findall(rest)}
    if "realm" not in params or "nonce" not in params:
        raise SipParseError("Digest challenge without realm or nonce")
    qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
    return DigestChallenge(
        realm=params["realm"], nonce=params["nonce"], algorithm=params.get("algorithm", "MD5"), qop=qop,
        opaque=params.get("opaque"), stale=params.get("stale", "").lower() == "true", params=params,
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def digest_authorization(
    ch: DigestChallenge, method: str, uri: str, username: str, password: str, cnonce: str, nc: int = 1
) -> str:
    """The Authorization header value answering `ch` (RFC 2617 MD5, qop=auth when offered)."""
    if ch.algorithm.upper() != "MD5":
        raise ValueError(f"unsupported digest algorithm {ch.algorithm}")
    ha1 = _md5(f"{username}:{ch.realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    parts = [f'username="{username}"', f'realm="{ch.realm}"', f'nonce="{ch.nonce}"', f'uri="{uri}"']
    if "auth" in ch.qop:
        ncs = f"{nc:08x}"
        response = _md5(f"{ha1}:{ch.nonce}:{ncs}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', "algorithm=MD5", f'cnonce="{cnonce}"', f"nc={ncs}", "qop=auth"]
    else:
        parts += [f'response="{_md5(f"{ha1}:{ch.nonce}:{ha2}")}"', "algorithm=MD5"]
    if ch.opaque is not None:
        parts.append(f'opaque="{ch.opaque}"')
    return "Digest " + ", ".join(parts)
