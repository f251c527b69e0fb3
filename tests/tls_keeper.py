"""A SIP-over-TLS client that keeps its connection across a certificate reload.

Connects, sends OPTIONS, prints the answer and the SHA-256 of the certificate the
server showed, then waits until the trigger file exists and sends OPTIONS again
on the same connection. Run inside the test's namespace by the TLS reload test:
the second answer proves a connection open during `tls.reload` carried on.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import sys
import time
from pathlib import Path


def options(domain: str, local: tuple[str, int], seq: int) -> bytes:
    lines = [
        f"OPTIONS sip:{domain} SIP/2.0",
        f"Via: SIP/2.0/TLS {local[0]}:{local[1]};branch=z9hG4bK-keeper-{seq};rport",
        "Max-Forwards: 70",
        f"From: <sip:keeper@{domain}>;tag=keeper",
        f"To: <sip:{domain}>",
        "Call-ID: keeper-call",
        f"CSeq: {seq} OPTIONS",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def status(conn: ssl.SSLSocket) -> int:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65535)
        if not chunk:
            return 0
        data += chunk
    return int(data.split(b" ", 2)[1])


def main(host: str, port: int, server_name: str, ca_file: str, bind: str, trigger: str) -> int:
    ctx = ssl.create_default_context(cafile=ca_file)
    raw = socket.create_connection((host, port), timeout=10, source_address=(bind, 0))
    conn = ctx.wrap_socket(raw, server_hostname=server_name)
    der = conn.getpeercert(binary_form=True) or b""
    local = conn.getsockname()
    conn.sendall(options(server_name, local, 1))
    print(json.dumps({"first": status(conn), "cert_sha256": hashlib.sha256(der).hexdigest()}), flush=True)
    deadline = time.monotonic() + 60
    while not Path(trigger).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    conn.sendall(options(server_name, local, 2))
    print(json.dumps({"second": status(conn)}), flush=True)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]))
