"""rtpengine's ng control protocol: bencode over UDP, for check and verify.

A request is `<cookie> <bencoded dict>`; the answer echoes the cookie. Encoding
and decoding are pure; `ng_request` is the only function doing I/O, on a socket
the caller made (so it may live in a network namespace).
"""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Mapping, Sequence
from typing import TypeAlias

BValue: TypeAlias = "int | bytes | list[BValue] | dict[bytes, BValue]"
BInput: TypeAlias = "int | str | bytes | Sequence[BInput] | Mapping[str, BInput] | Mapping[bytes, BInput]"

MAX_DEPTH = 64
_INTEGER = re.compile(rb"-?(0|[1-9][0-9]*)")


class BencodeError(ValueError):
    """Bytes that are not valid bencode (or nest deeper than MAX_DEPTH)."""


def bencode(value: BInput) -> bytes:
    """Encode ints, strings, lists and dicts (keys sorted as raw bytes, as the format demands)."""
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list | tuple):  # a str is a Sequence too, so name the concrete types
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, Mapping):
        items = sorted((((k.encode() if isinstance(k, str) else k), v) for k, v in value.items()), key=_first)
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def _first(item: tuple[bytes, BInput]) -> bytes:
    return item[0]


def bdecode(data: bytes) -> BValue:
    """Decode exactly one bencoded value; trailing bytes are an error."""
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise BencodeError(f"trailing data at offset {end}")
    return value


def _decode(data: bytes, pos: int, depth: int) -> tuple[BValue, int]:
    if depth > MAX_DEPTH:
        raise BencodeError("nesting too deep")
    if pos >= len(data):
        raise BencodeError("truncated input")
    lead = data[pos : pos + 1]
    if lead == b"i":
        end = data.find(b"e", pos)
        text = data[pos + 1 : end] if end > 0 else b""
        if not _INTEGER.fullmatch(text) or text == b"-0":
            raise BencodeError(f"bad integer at offset {pos}")
        return int(text), end + 1
    if lead == b"l":
        items: list[BValue] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        out: dict[bytes, BValue] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            key, pos = _decode(data, pos, depth + 1)
            if not isinstance(key, bytes):
                raise BencodeError(f"dictionary key is not a string at offset {pos}")
            out[key], pos = _decode(data, pos, depth + 1)
        return out, pos + 1
    if lead.isdigit():
        colon = data.find(b":", pos)
        if colon < 0 or not data[pos:colon].isdigit():
            raise BencodeError(f"bad string length at offset {pos}")
        start = colon + 1
        end = start + int(data[pos:colon])
        if end > len(data):
            raise BencodeError("truncated string")
        return data[start:end], end
    raise BencodeError(f"unexpected byte {lead!r} at offset {pos}")


def encode_request(cookie: bytes, command: Mapping[str, BInput]) -> bytes:
    """One ng datagram."""
    if b" " in cookie or not cookie:
        raise ValueError("ng cookie must be non-empty and contain no space")
    return cookie + b" " + bencode(command)


def decode_reply(cookie: bytes, datagram: bytes) -> dict[bytes, BValue]:
    """The reply dict, after checking it answers `cookie`."""
    got, sep, body = datagram.partition(b" ")
    if not sep or got != cookie:
        raise BencodeError("reply does not carry our cookie")
    value = bdecode(body)
    if not isinstance(value, dict):
        raise BencodeError("reply is not a dictionary")
    return value


def ng_request(sock: socket.socket, server: tuple[str, int], command: Mapping[str, BInput],
               timeout: float = 2.0) -> dict[bytes, BValue]:
    """Send one command to rtpengine and wait for its answer (replies to other cookies are skipped)."""
    cookie = secrets.token_hex(8).encode()
    sock.settimeout(timeout)
    sock.sendto(encode_request(cookie, command), server)
    while True:
        datagram, _ = sock.recvfrom(65535)
        try:
            return decode_reply(cookie, datagram)
        except BencodeError:
            continue


def ping(sock: socket.socket, server: tuple[str, int], timeout: float = 2.0) -> bool:
    """True when rtpengine answers `ping` with `pong`; raises OSError (e.g. timeout) when it is silent."""
    return ng_request(sock, server, {"command": "ping"}, timeout).get(b"result") == b"pong"
