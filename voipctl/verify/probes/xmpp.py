"""XMPP client-to-server: does the server demand STARTTLS before anything else (RFC 6120 §5.3.1)?

Reads the stream features the server offers to a fresh, unencrypted client and
reports whether <starttls> is offered and marked <required/>.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass

_FEATURES = re.compile(rb"<(?:stream:)?features[\s>].*?</(?:stream:)?features>", re.DOTALL)
_STARTTLS = re.compile(rb"<starttls\b[^>]*urn:ietf:params:xml:ns:xmpp-tls[^>]*?(/>|>(.*?)</starttls>)", re.DOTALL)


@dataclass(frozen=True)
class StartTls:
    offered: bool
    required: bool
    features: str


def stream_open(domain: str) -> bytes:
    if any(c in domain for c in "'\"<>&"):
        raise ValueError(f"bad XMPP domain {domain!r}")
    return (f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams'>").encode()


def parse_features(data: bytes) -> StartTls | None:
    """The STARTTLS verdict once the whole <stream:features> arrived, else None."""
    found = _FEATURES.search(data)
    if found is None:
        return None
    block = found.group(0)
    tls = _STARTTLS.search(block)
    required = tls is not None and tls.group(2) is not None and b"<required" in tls.group(2)
    return StartTls(tls is not None, required, block.decode("utf-8", "replace")[:500])


def probe_starttls(host: str, port: int, domain: str, timeout: float = 5.0) -> StartTls:
    """Open a client stream and read the features; raises OSError/TimeoutError when none arrive."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(stream_open(domain))
        data = b""
        while (verdict := parse_features(data)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no stream features within the timeout")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the stream before sending its features")
            data += chunk
    return verdict
