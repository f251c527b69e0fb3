"""TURN CreatePermission (RFC 5766 §9) on top of `voipctl.probe.turn`, which stops at Allocate.

verify needs the allocation to stay open and its nonce to be reused, so this
module runs its own authenticated Allocate, then one CreatePermission per peer
(coturn answers 403 for a denied peer), then releases the allocation.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address

from voipctl.probe import turn

CREATE_PERMISSION = 0x0008
XOR_PEER_ADDRESS = 0x0012


def xor_peer_address(address: str, txid: bytes, port: int = 0) -> bytes:
    """Encode XOR-PEER-ADDRESS (same layout as XOR-MAPPED-ADDRESS)."""
    ip = ip_address(address)
    mask = struct.pack("!I", turn.MAGIC) + txid
    raw = ip.packed
    xored = bytes(a ^ b for a, b in zip(raw, mask[: len(raw)], strict=True))
    family = 0x01 if ip.version == 4 else 0x02
    return struct.pack("!BBH", 0, family, port ^ (turn.MAGIC >> 16)) + xored


@dataclass
class PermissionReport:
    """What the server said: the allocation's outcome, then each peer's CreatePermission answer."""

    allocated: bool = False
    alloc_error: tuple[int, str] | None = None
    peers: dict[str, tuple[int, str] | None] = field(default_factory=dict)


@dataclass
class _Session:
    sock: socket.socket
    server: tuple[str, int]
    username: str
    key: bytes
    realm: bytes
    nonce: bytes
    timeout: float

    def request(self, method: int, attrs: Callable[[bytes], list[tuple[int, bytes]]]) -> turn.StunMessage:
        """An authenticated request (attributes made per transaction id); one retry after a 438 Stale Nonce."""
        reply = None
        for _ in range(2):
            tid = turn.new_txid()
            auth = [(turn.USERNAME, self.username.encode()), (turn.REALM, self.realm), (turn.NONCE, self.nonce)]
            msg = turn.encode_message(method, tid, attrs(tid) + auth, key=self.key)
            reply = turn.transact(self.sock, self.server, msg, self.timeout)
            err = turn.error_code(reply)
            if err is not None and err[0] == 438 and reply.attr(turn.NONCE):
                self.nonce = reply.attr(turn.NONCE) or self.nonce
                continue
            break
        assert reply is not None  # noqa: S101 - the loop runs at least once
        return reply


def _peer_attrs(peer: str) -> Callable[[bytes], list[tuple[int, bytes]]]:
    def attrs(txid: bytes) -> list[tuple[int, bytes]]:
        return [(XOR_PEER_ADDRESS, xor_peer_address(peer, txid))]
    return attrs


def check_permissions(sock: socket.socket, server: tuple[str, int], username: str, password: str,
                      peers: Sequence[str], timeout: float = 2.0) -> PermissionReport:
    """Allocate with long-term credentials, ask for a permission per peer, release the allocation."""
    report = PermissionReport()
    transport = turn.allocate_attrs(server[0])
    challenge = turn.transact(sock, server, turn.encode_message(turn.ALLOCATE, turn.new_txid(), transport), timeout)
    realm, nonce = challenge.attr(turn.REALM), challenge.attr(turn.NONCE)
    if not challenge.is_error or realm is None or nonce is None:
        report.alloc_error = (0, "the server did not challenge an unauthenticated Allocate")
        return report
    session = _Session(sock, server, username, turn.long_term_key(username, realm.decode(), password), realm, nonce,
                       timeout)
    reply = session.request(turn.ALLOCATE, lambda _: transport)
    if not reply.is_success:
        report.alloc_error = turn.error_code(reply) or (0, "Allocate failed without an error code")
        return report
    report.allocated = True
    try:
        for peer in peers:
            answer = session.request(CREATE_PERMISSION, _peer_attrs(peer))
            report.peers[peer] = None if answer.is_success else (turn.error_code(answer) or (0, "no error code"))
    finally:
        session.request(turn.REFRESH, lambda _: [(turn.LIFETIME, struct.pack("!I", 0))])
    return report
