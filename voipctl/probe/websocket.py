"""Pure WebSocket (RFC 6455) for SIP over WS (RFC 7118): handshake bytes and frames.

The client side only: requests carry Host and Origin and ask for the `sip`
subprotocol; frames we send are masked, frames we read are not.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(ValueError):
    """A handshake or frame that does not follow RFC 6455."""


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a server must return for `key`."""
    digest = hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def handshake_request(host: str, path: str, key: str, origin: str | None, protocol: str = "sip") -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {protocol}",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    for line in lines:
        if "\r" in line or "\n" in line:
            raise WebSocketError(f"line break in handshake value: {line!r}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def parse_http_response(head: bytes) -> HttpResponse:
    """Parse the status line and headers of an HTTP/1.1 response (up to the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise WebSocketError(f"not an HTTP response: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return HttpResponse(int(parts[1]), parts[2] if len(parts) > 2 else "", tuple(headers))


def handshake_problem(resp: HttpResponse, key: str, protocol: str = "sip") -> str | None:
    """Why an upgrade response is not a valid acceptance of our request, or None if it is."""
    if resp.status != 101:
        return f"HTTP {resp.status} {resp.reason}".strip()
    if (resp.header("Upgrade") or "").lower() != "websocket":
        return "101 without Upgrade: websocket"
    if resp.header("Sec-WebSocket-Accept") != accept_for(key):
        return "wrong Sec-WebSocket-Accept"
    if (resp.header("Sec-WebSocket-Protocol") or "").lower() != protocol:
        return f"server did not agree to the {protocol} subprotocol"
    return None


def encode_frame(payload: bytes, opcode: int = OP_TEXT, mask: bytes | None = None) -> bytes:
    """One final frame, masked as RFC 6455 requires of clients."""
    mask = os.urandom(4) if mask is None else mask
    if len(mask) != 4:
        raise WebSocketError("mask must be 4 bytes")
    size = len(payload)
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


def decode_frame(buffer: bytes) -> tuple[Frame, int] | None:
    """The first frame in `buffer` and the bytes it used, or None while incomplete."""
    if len(buffer) < 2:
        return None
    fin = bool(buffer[0] & 0x80)
    opcode = buffer[0] & 0x0F
    masked = bool(buffer[1] & 0x80)
    size = buffer[1] & 0x7F
    pos = 2
    if size == 126:
        if len(buffer) < 4:
            return None
        size = struct.unpack("!H", buffer[2:4])[0]
        pos = 4
    elif size == 127:
        if len(buffer) < 10:
            return None
        size = struct.unpack("!Q", buffer[2:10])[0]
        pos = 10
    mask = b""
    if masked:
        if len(buffer) < pos + 4:
            return None
        mask = buffer[pos : pos + 4]
        pos += 4
    if len(buffer) < pos + size:
        return None
    payload = buffer[pos : pos + size]
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return Frame(fin, opcode, payload), pos + size
