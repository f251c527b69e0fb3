"""SIP over WebSocket (RFC 7118) on a socket the probe already opened.

RFC 6455 itself (the upgrade, Sec-WebSocket-Accept, masking, framing, ping/pong,
close) is the `websockets` library's sans-I/O client (`ClientProtocol`); this
module only moves bytes between it and the socket. Sans-I/O rather than its
sync client because the Channel owns the socket: it was bound to a chosen source
address, possibly inside a network namespace, wrapped in our own TLS context
(CA file, server name, TLS >= 1.2), and its reads share one deadline with the
other SIP transports.

The request carries Host (the TLS name) and Origin, and asks for the `sip`
subprotocol; an upgrade that does not agree to `sip` is refused like any other.
"""

from __future__ import annotations

import socket
import time
from collections import deque

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidStatus, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from voipctl.errors import HandshakeRefused, ProbeError
from voipctl.site.addresses import host_port

SUBPROTOCOL = Subprotocol("sip")
MAX_MESSAGE = 1 << 20


class WsClient:
    """One client connection's WebSocket state: the handshake, then whole messages in and out."""

    def __init__(self, sock: socket.socket, name: str, port: int, secure: bool, path: str,
                 origin: str | None) -> None:
        uri = parse_uri(f"{'wss' if secure else 'ws'}://{host_port(name, port)}{path}")
        self.sock = sock
        self.protocol = ClientProtocol(uri, origin=Origin(origin) if origin is not None else None,
                                       subprotocols=[SUBPROTOCOL], max_size=MAX_MESSAGE)
        self.response_headers: tuple[tuple[str, str], ...] = ()
        self._frames: deque[Frame] = deque()
        self._parts: list[bytes] = []

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def _read(self, deadline: float) -> bytes | None:
        """Bytes from the socket; None when the deadline passes, b"" when the peer closed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(65536)
        except TimeoutError:
            return None

    def _feed(self, data: bytes) -> None:
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self._flush()  # pongs and close replies the library queued

    def handshake(self, timeout: float) -> Response:
        """Send the upgrade and read the answer; raises HandshakeRefused unless it is a 101 for `sip`."""
        request = self.protocol.connect()
        self.protocol.send_request(request)
        self._flush()
        deadline = time.monotonic() + timeout
        response: Response | None = None
        while response is None:
            data = self._read(deadline)
            if data is None:
                raise ProbeError("no answer to the websocket handshake")
            self._feed(data)
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    response = event
                elif isinstance(event, Frame):  # frames right behind the 101 belong to the channel
                    self._frames.append(event)
            if response is None and not data:
                raise HandshakeRefused("connection closed during the handshake", None)
        self._check(response)
        self.response_headers = tuple(response.headers.raw_items())
        return response

    def _check(self, response: Response) -> None:
        exc = self.protocol.handshake_exc
        if isinstance(exc, InvalidStatus):
            status = exc.response
            raise HandshakeRefused(f"HTTP {status.status_code} {status.reason_phrase}".strip(), status.status_code)
        if isinstance(exc, InvalidHandshake):
            raise HandshakeRefused(str(exc), response.status_code)
        if self.protocol.subprotocol != SUBPROTOCOL:
            raise HandshakeRefused(f"server did not agree to the {SUBPROTOCOL} subprotocol", response.status_code)

    def send(self, message: bytes) -> None:
        """One SIP message as one (masked) text frame."""
        self.protocol.send_text(message)
        self._flush()

    def recv(self, deadline: float) -> bytes | None:
        """The next whole message, or None when none arrives before `deadline`."""
        while True:
            while self._frames:
                frame = self._frames.popleft()
                if frame.opcode is Opcode.CLOSE:
                    raise ProbeError("server closed the websocket")
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                    self._parts.append(bytes(frame.data))
                    if frame.fin:
                        message, self._parts = b"".join(self._parts), []
                        return message
            data = self._read(deadline)
            if data is None:
                return None
            if not data:
                raise ProbeError("server closed the connection")
            try:
                self._feed(data)
            except ProtocolError as exc:
                raise ProbeError(f"websocket protocol error: {exc}") from exc
            self._frames.extend(e for e in self.protocol.events_received() if isinstance(e, Frame))
            if self.protocol.state is State.CLOSED and not self._frames:
                raise ProbeError(f"websocket closed: {self.protocol.close_exc}")


def request_headers(name: str, port: int, secure: bool, path: str, origin: str | None) -> Headers:
    """The upgrade request's headers as `WsClient` sends them (for tests and reports)."""
    uri = parse_uri(f"{'wss' if secure else 'ws'}://{host_port(name, port)}{path}")
    proto = ClientProtocol(uri, origin=Origin(origin) if origin is not None else None, subprotocols=[SUBPROTOCOL])
    return proto.connect().headers
