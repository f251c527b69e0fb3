"""How to reach a SIP server: UDP, TCP, TLS, WS and WSS channels that carry whole messages.

Each channel sends one SIP message and returns one SIP message per recv, so
the exchange logic in `voipctl.probe.sip` never sees transport details. TLS
always verifies the server against a CA file and a server name, TLS >= 1.2.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from voipctl.errors import ProbeError
from voipctl.probe import websocket as ws
from voipctl.probe.sipmsg import message_length
from voipctl.site.addresses import socket_family

Transport = Literal["udp", "tcp", "tls", "ws", "wss"]
TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls", "ws", "wss")
MAX_MESSAGE = 65535


@dataclass(frozen=True)
class Target:
    """Where the server is and how to talk to it; `server_name` is the TLS name and WS Host."""

    transport: Transport
    host: str
    port: int
    server_name: str | None = None
    ca_file: str | None = None
    origin: str | None = None
    ws_path: str = "/"
    bind: str | None = None
    bind_port: int = 0  # a fixed local port: the same Contact from one client at several servers

    @property
    def name(self) -> str:
        return self.server_name or self.host

    @property
    def secure(self) -> bool:
        return self.transport in ("tls", "wss")

    @property
    def websocket(self) -> bool:
        return self.transport in ("ws", "wss")


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify the server chain and name; refuse anything older than TLS 1.2."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class Channel:
    """One connection (or UDP flow) to the target that yields whole SIP messages."""

    def __init__(self, target: Target, sock: socket.socket) -> None:
        self.target = target
        self.sock = sock
        self.buffer = b""
        self.tls_version: str | None = sock.version() if isinstance(sock, ssl.SSLSocket) else None
        addr = sock.getsockname()
        self.local: tuple[str, int] = (str(addr[0]), int(addr[1]))
        # A WebSocket client has no reachable address of its own (RFC 7118): it names
        # itself with one stable .invalid host so transactions still match.
        self.invalid_host = f"{secrets.token_hex(6)}.invalid"
        self.http_headers: tuple[tuple[str, str], ...] = ()
        self.ws: ws.WsClient | None = None

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.send(data)
        elif self.target.transport == "udp":
            self.sock.send(data)
        else:
            self.sock.sendall(data)

    def recv(self, timeout: float) -> bytes | None:
        """The next SIP message, or None when nothing (more) arrives within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        if self.target.transport == "udp":
            return self._recv_datagram(deadline)
        if self.ws is not None:
            return self.ws.recv(deadline)
        return self._recv_stream(deadline)

    def _read(self, deadline: float, size: int = 65536) -> bytes | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(size)
        except TimeoutError:
            return None
        if not data:
            raise ProbeError("server closed the connection")
        return data

    def _recv_datagram(self, deadline: float) -> bytes | None:
        return self._read(deadline, MAX_MESSAGE)

    def _recv_stream(self, deadline: float) -> bytes | None:
        while True:
            self.buffer = self.buffer.lstrip(b"\r\n")  # CRLF keepalives between messages
            size = message_length(self.buffer)
            if size is not None:
                msg, self.buffer = self.buffer[:size], self.buffer[size:]
                return msg
            data = self._read(deadline)
            if data is None:
                return None
            self.buffer += data


def _open(target: Target, timeout: float) -> socket.socket:
    source = (target.bind or "", target.bind_port) if target.bind or target.bind_port else None
    if target.transport == "udp":
        sock = socket.socket(socket_family(target.host), socket.SOCK_DGRAM)
        try:
            if source is not None:
                sock.bind(source)
            sock.connect((target.host, target.port))
        except OSError:
            sock.close()
            raise
        return sock
    sock = socket.create_connection((target.host, target.port), timeout=timeout, source_address=source)
    if target.secure:
        try:
            return tls_context(target.ca_file).wrap_socket(sock, server_hostname=target.name)
        except OSError:
            sock.close()
            raise
    return sock


def connect(target: Target, timeout: float) -> Channel:
    """Open a channel to `target`; raises ProbeError (or HandshakeRefused) when that fails."""
    try:
        sock = _open(target, timeout)
    except ssl.SSLError as exc:
        raise ProbeError(f"TLS with {target.name} failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise ProbeError(f"cannot reach {target.transport}:{target.host}:{target.port}: {exc}") from exc
    channel = Channel(target, sock)
    if target.websocket:
        client = ws.WsClient(sock, target.name, target.port, target.secure, target.ws_path, target.origin)
        try:
            client.handshake(timeout)
        except (ProbeError, OSError) as exc:
            channel.close()
            if isinstance(exc, ProbeError):
                raise
            raise ProbeError(f"websocket handshake with {target.name} failed: {exc}") from exc
        channel.ws, channel.http_headers = client, client.response_headers
    return channel
