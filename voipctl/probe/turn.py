"""A small STUN/TURN client (RFC 5389/5766) over UDP, for check and verify.

Message encoding, decoding and TURN REST credentials are pure functions; the
I/O functions take a socket the caller made (possibly inside a network
namespace). Only what probing coturn needs: Binding, Allocate, Refresh (and
CreatePermission in verify.turnperm).

Why not aioice (the maintained Python STUN/TURN implementation), measured with
aioice 0.13.0 on 2026-11-27: its message codec has a closed attribute table
without REQUESTED-ADDRESS-FAMILY (RFC 6156, 0x0017) - encoding it raises
KeyError and parsing drops it - and its TURN client's Allocate sends only
LIFETIME and REQUESTED-TRANSPORT. coturn 4.6.1 answers 440 to an Allocate on an
IPv6-only relay without that attribute (allocate_attrs below), so aioice cannot
probe an IPv6 site's TURN. Its client also has no CreatePermission request,
which is how verify sees coturn's 403 for a denied peer. Taking aioice's codec
for some messages and ours for the rest would give two codecs for one protocol,
so this module stays the one STUN codec; RFC 5769's test vectors pin it
(tests/unit/check/test_check.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import socket
import struct
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from voipctl.probe.datagrams import datagrams_until

MAGIC = 0x2112A442
HEADER = struct.Struct("!HHI12s")
FINGERPRINT_XOR = 0x5354554E
# A probe needs its credentials for seconds; a leaked one stays useless after this.
PROBE_CREDENTIAL_TTL = 600

BINDING = 0x0001
ALLOCATE = 0x0003
REFRESH = 0x0004
SUCCESS = 0x0100
ERROR = 0x0110

MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
LIFETIME = 0x000D
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_TRANSPORT = 0x0019
REQUESTED_ADDRESS_FAMILY = 0x0017
XOR_MAPPED_ADDRESS = 0x0020
FINGERPRINT = 0x8028

UDP = 17


class StunError(ValueError):
    """Bytes that are not a well-formed STUN message."""


@dataclass(frozen=True)
class StunMessage:
    msg_type: int
    txid: bytes
    attrs: tuple[tuple[int, bytes], ...]

    def attr(self, kind: int) -> bytes | None:
        """First attribute of a type (RFC 5389: later duplicates are ignored)."""
        return next((value for t, value in self.attrs if t == kind), None)

    @property
    def is_success(self) -> bool:
        return self.msg_type & 0x0110 == SUCCESS

    @property
    def is_error(self) -> bool:
        return self.msg_type & 0x0110 == ERROR

    @property
    def method(self) -> int:
        return self.msg_type & ~0x0110 & 0x3FFF


def new_txid() -> bytes:
    return os.urandom(12)


def _attr(kind: int, value: bytes) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * pad


def encode_message(msg_type: int, txid: bytes, attrs: list[tuple[int, bytes]],
                   key: bytes | None = None, fingerprint: bool = True) -> bytes:
    """A STUN message; with `key`, MESSAGE-INTEGRITY (HMAC-SHA1), then FINGERPRINT (CRC-32)."""
    if len(txid) != 12:
        raise ValueError("transaction id must be 12 bytes")
    body = b"".join(_attr(k, v) for k, v in attrs)
    if key is not None:
        # The length field covers the MESSAGE-INTEGRITY attribute while the HMAC is computed.
        head = HEADER.pack(msg_type, len(body) + 24, MAGIC, txid)
        body += _attr(MESSAGE_INTEGRITY, hmac.new(key, head + body, hashlib.sha1).digest())
    if fingerprint:
        head = HEADER.pack(msg_type, len(body) + 8, MAGIC, txid)
        crc = binascii.crc32(head + body) ^ FINGERPRINT_XOR
        body += _attr(FINGERPRINT, struct.pack("!I", crc & 0xFFFFFFFF))
    return HEADER.pack(msg_type, len(body), MAGIC, txid) + body


def decode_message(data: bytes) -> StunMessage:
    """Parse one STUN message, checking header, length, padding and FINGERPRINT if present."""
    if len(data) < HEADER.size:
        raise StunError("shorter than a STUN header")
    msg_type, length, magic, txid = HEADER.unpack_from(data)
    if msg_type & 0xC000 or magic != MAGIC:
        raise StunError("not a STUN message (bad type bits or magic cookie)")
    if length % 4 or HEADER.size + length != len(data):
        raise StunError("length field does not match the datagram")
    attrs: list[tuple[int, bytes]] = []
    pos = HEADER.size
    while pos < len(data):
        if pos + 4 > len(data):
            raise StunError("truncated attribute header")
        kind, size = struct.unpack_from("!HH", data, pos)
        end = pos + 4 + size
        if end > len(data):
            raise StunError(f"attribute 0x{kind:04x} runs past the end")
        if kind == FINGERPRINT:
            expect = (binascii.crc32(data[:pos]) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
            if size != 4 or struct.unpack_from("!I", data, pos + 4)[0] != expect:
                raise StunError("FINGERPRINT does not match")
        attrs.append((kind, data[pos + 4 : end]))
        pos = end + (-size) % 4
    return StunMessage(msg_type, txid, tuple(attrs))


def integrity_ok(data: bytes, key: bytes) -> bool:
    """Whether a received message's MESSAGE-INTEGRITY matches `key`."""
    pos = HEADER.size
    while pos + 4 <= len(data):
        kind, size = struct.unpack_from("!HH", data, pos)
        if kind == MESSAGE_INTEGRITY and size == 20:
            # As when it was made: the length field ends right after MESSAGE-INTEGRITY.
            signed = data[:2] + struct.pack("!H", pos + 24 - HEADER.size) + data[4:pos]
            mac = hmac.new(key, signed, hashlib.sha1).digest()
            return hmac.compare_digest(mac, data[pos + 4 : pos + 24])
        pos += 4 + size + (-size) % 4
    return False


def xor_address(value: bytes, txid: bytes) -> tuple[str, int]:
    """Decode XOR-MAPPED-ADDRESS / XOR-RELAYED-ADDRESS."""
    if len(value) < 8:
        raise StunError("address attribute too short")
    family = value[1]
    port = struct.unpack_from("!H", value, 2)[0] ^ (MAGIC >> 16)
    mask = struct.pack("!I", MAGIC) + txid
    if family == 0x01 and len(value) == 8:
        raw = bytes(a ^ b for a, b in zip(value[4:8], mask[:4], strict=True))
        return str(IPv4Address(raw)), port
    if family == 0x02 and len(value) == 20:
        raw = bytes(a ^ b for a, b in zip(value[4:20], mask, strict=True))
        return str(IPv6Address(raw)), port
    raise StunError(f"unknown address family {family}")


def error_code(msg: StunMessage) -> tuple[int, str] | None:
    value = msg.attr(ERROR_CODE)
    if value is None or len(value) < 4:
        return None
    return (value[2] & 0x07) * 100 + value[3], value[4:].decode(errors="replace")


def rest_credentials(secret: str, user: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """TURN REST API credentials: ("<expiry>:<user>", base64(HMAC-SHA1(secret, username)))."""
    expiry = int(time.time() if now is None else now) + ttl
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def probe_credentials(secret: str, user: str, site_ttl: int, now: float | None = None) -> tuple[str, str]:
    """REST credentials for voipctl's own probes: never outliving the site's lifetime, nor PROBE_CREDENTIAL_TTL."""
    return rest_credentials(secret, user, min(site_ttl, PROBE_CREDENTIAL_TTL), now)


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """RFC 5389 long-term credential key: MD5(username:realm:password)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).digest()


def transact(sock: socket.socket, server: tuple[str, int], request: bytes, timeout: float = 2.0) -> StunMessage:
    """Send a request over UDP and return the response with the same transaction id.

    Retransmits at 0.5 s, 1 s, ... (RFC 5389 style) until `timeout`; raises
    TimeoutError when nothing answers.
    """
    txid = request[8:20]
    deadline = time.monotonic() + timeout
    interval = 0.5
    while True:
        sock.sendto(request, server)
        for data in datagrams_until(sock, min(deadline, time.monotonic() + interval)):
            try:
                msg = decode_message(data)
            except StunError:
                continue
            if msg.txid == txid:
                return msg
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no STUN answer from {server[0]}:{server[1]} in {timeout:g} s")
        interval *= 2


def stun_binding(sock: socket.socket, server: tuple[str, int], timeout: float = 2.0) -> tuple[str, int]:
    """The address:port the server saw us as (XOR-MAPPED-ADDRESS)."""
    reply = transact(sock, server, encode_message(BINDING, new_txid(), []), timeout)
    value = reply.attr(XOR_MAPPED_ADDRESS)
    if not reply.is_success or value is None:
        raise StunError(f"binding failed: {error_code(reply)}")
    return xor_address(value, reply.txid)


@dataclass(frozen=True)
class Allocation:
    """Outcome of a TURN Allocate: relayed address on success, else the error code."""

    relayed: tuple[str, int] | None
    error: tuple[int, str] | None
    realm: str

    @property
    def ok(self) -> bool:
        return self.relayed is not None


def allocate_attrs(server_host: str) -> list[tuple[int, bytes]]:
    """Allocate attributes for a UDP relay of the server's own family.

    Without REQUESTED-ADDRESS-FAMILY coturn allocates IPv4 (RFC 6156) and answers
    440 when it relays on IPv6 only (measured on 4.6.1).
    """
    attrs = [(REQUESTED_TRANSPORT, bytes([UDP, 0, 0, 0]))]
    if ip_address(server_host).version == 6:
        attrs.append((REQUESTED_ADDRESS_FAMILY, bytes([0x02, 0, 0, 0])))
    return attrs


def turn_allocate(sock: socket.socket, server: tuple[str, int], username: str, password: str,
                  timeout: float = 2.0, release: bool = True) -> Allocation:
    """Allocate a UDP relay with long-term credentials; release it again unless told not to."""
    transport = allocate_attrs(server[0])
    challenge = transact(sock, server, encode_message(ALLOCATE, new_txid(), transport), timeout)
    realm_raw, nonce = challenge.attr(REALM), challenge.attr(NONCE)
    if not challenge.is_error or realm_raw is None or nonce is None:
        raise StunError("server did not challenge an unauthenticated Allocate (is auth off?)")
    realm = realm_raw.decode()
    key = long_term_key(username, realm, password)
    for _ in range(2):  # a 438 Stale Nonce carries a fresh nonce: retry once
        auth = [(USERNAME, username.encode()), (REALM, realm_raw), (NONCE, nonce)]
        reply = transact(sock, server, encode_message(ALLOCATE, new_txid(), transport + auth, key=key), timeout)
        err = error_code(reply)
        if err is not None and err[0] == 438 and reply.attr(NONCE):
            nonce = reply.attr(NONCE) or nonce
            continue
        break
    relayed_raw = reply.attr(XOR_RELAYED_ADDRESS)
    if not reply.is_success or relayed_raw is None:
        return Allocation(None, err or (0, "no relayed address"), realm)
    relayed = xor_address(relayed_raw, reply.txid)
    if release:
        auth = [(LIFETIME, struct.pack("!I", 0)), (USERNAME, username.encode()), (REALM, realm_raw), (NONCE, nonce)]
        transact(sock, server, encode_message(REFRESH, new_txid(), auth, key=key), timeout)
    return Allocation(relayed, None, realm)
