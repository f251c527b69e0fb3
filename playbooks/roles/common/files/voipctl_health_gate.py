#!/usr/bin/python3
# Copyright: voipctl contributors. Apache-2.0.
"""Health gate run on a deployed host right after a restart (stdlib only).

Why on the host: the gate must tell "this daemon answers on the sockets the plan
gave it" independently of the network between the controller and the host.
Each check retries until the deadline, since daemons need a moment after a
restart. Prints one JSON line per check; exits 1 if any check failed.

Checks (a JSON list given with --checks, or read from --checks-file; exit 3 when
that file does not exist, i.e. no deploy of the service ever passed its gate):
  {"kind": "tcp", "host": H, "port": P}                      a TCP connect succeeds
  {"kind": "tls", "host": H, "port": P, "server_name": N, "ca": F}
                                       a TLS 1.2+ handshake verified against CA file F as name N
  {"kind": "sip-options", "proto": "udp"|"tcp"|"tls"|"ws"|"wss", "host": H, "port": P,
   ["server_name": N, "ca": F, "origin": O]}  OPTIONS answered 200 (TLS verified as above;
                                       ws/wss after an upgrade with Origin O and Host N)
  {"kind": "ng-ping", "host": H, "port": P}                  rtpengine answers pong
  {"kind": "stun", "host": H, "port": P}                     STUN binding success
A socket that merely accepts, or a SIP answer other than 200, is not healthy.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import ssl
import struct
import sys
import time
import uuid
from pathlib import Path

STEP_TIMEOUT = 1.0
RETRY_PAUSE = 0.3
STUN_MAGIC = 0x2112A442
EXIT_NO_RECORD = 3


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _uri_host(host):
    return f"[{host}]" if ":" in host else host


def check_tcp(check):
    with socket.create_connection((check["host"], check["port"]), timeout=STEP_TIMEOUT):
        return "connected"


def options_request(check, local_host, local_port):
    """A minimal, well-formed OPTIONS with a probe User-Agent no scanner filter matches.

    tests/unit/probe/test_health_gate.py parses it with voipctl.probe (the contract with the controller's probes).
    """
    proto = check["proto"].upper()
    target = f"{_uri_host(check['host'])}:{check['port']}"
    branch = "z9hG4bK-" + uuid.uuid4().hex
    call_id = uuid.uuid4().hex + "@voipctl-gate"
    lines = [
        f"OPTIONS sip:{target} SIP/2.0",
        f"Via: SIP/2.0/{proto} {_uri_host(local_host)}:{local_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:gate@{target}>;tag={uuid.uuid4().hex[:10]}",
        f"To: <sip:{target}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:gate@{_uri_host(local_host)}:{local_port}>",
        "User-Agent: voipctl-deploy-gate",
        "Accept: application/sdp",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def _status(data):
    first = data.split(b"\r\n", 1)[0].decode("ascii", "replace")
    if not first.startswith("SIP/2.0 "):
        raise OSError(f"not a SIP reply: {first[:60]!r}")
    if not first.startswith("SIP/2.0 200"):
        raise OSError(f"answered {first[8:60]!r}, not 200")
    return first


def _tls(sock, check):
    """Wrap `sock` in TLS 1.2+ that verifies the chain against the site CA and the name clients use."""
    if not check.get("ca"):
        raise ValueError("no CA file to verify the TLS socket against")
    ctx = ssl.create_default_context(cafile=check["ca"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        return ctx.wrap_socket(sock, server_hostname=check["server_name"])
    except OSError:
        sock.close()
        raise


def check_tls(check):
    with _tls(socket.create_connection((check["host"], check["port"]), timeout=STEP_TIMEOUT), check) as tls:
        return f"{tls.version()} verified as {check['server_name']}"


def _ws_frame(payload):
    """One masked text frame, as RFC 6455 wants from a client."""
    mask = os.urandom(4)
    head = bytes([0x81])
    size = len(payload)
    head += bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _read(sock, buf, size):
    while len(buf) < size:
        data = sock.recv(65535)
        if not data:
            raise OSError("connection closed")
        buf += data
    return buf


def _ws_upgrade(sock, check):
    """The WebSocket handshake kamailio accepts (Host, allowed Origin, sip subprotocol); leftover bytes."""
    default = 443 if check["proto"] == "wss" else 80
    host = check["server_name"] if check["port"] == default else f"{check['server_name']}:{check['port']}"
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
                  f"Origin: {check['origin']}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf = _read(sock, buf, len(buf) + 1)
    head, _, rest = buf.partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0].decode("ascii", "replace")
    if " 101 " not in f"{first} ":
        raise OSError(f"websocket upgrade answered {first[:60]!r}")
    return rest


def _ws_message(sock, buf):
    """The payload of the server's next (unmasked, unfragmented) frame."""
    buf = _read(sock, buf, 2)
    size, at = buf[1] & 0x7F, 2
    if size == 126:
        buf = _read(sock, buf, 4)
        size, at = struct.unpack("!H", buf[2:4])[0], 4
    elif size == 127:
        buf = _read(sock, buf, 10)
        size, at = struct.unpack("!Q", buf[2:10])[0], 10
    return _read(sock, buf, at + size)[at:at + size]


def check_sip_options(check):
    addr = (check["host"], check["port"])
    proto = check["proto"]
    if proto == "udp":
        with socket.socket(_family(check["host"]), socket.SOCK_DGRAM) as sock:
            sock.settimeout(STEP_TIMEOUT)
            sock.connect(addr)
            local = sock.getsockname()
            sock.send(options_request(check, local[0], local[1]))
            return _status(sock.recv(65535))
    sock = socket.create_connection(addr, timeout=STEP_TIMEOUT)
    if proto in ("tls", "wss"):
        sock = _tls(sock, check)
    with sock:
        local = sock.getsockname()
        request = options_request(check, local[0], local[1])
        if proto in ("ws", "wss"):
            rest = _ws_upgrade(sock, check)
            sock.sendall(_ws_frame(request))
            return _status(_ws_message(sock, rest))
        sock.sendall(request)
        return _status(sock.recv(65535))


def check_ng_ping(check):
    cookie = uuid.uuid4().hex[:12].encode()
    with socket.socket(_family(check["host"]), socket.SOCK_DGRAM) as sock:
        sock.settimeout(STEP_TIMEOUT)
        sock.connect((check["host"], check["port"]))
        sock.send(cookie + b" d7:command4:pinge")
        reply = sock.recv(65535)
    if not reply.startswith(cookie + b" ") or b"pong" not in reply:
        raise OSError(f"unexpected ng reply: {reply[:60]!r}")
    return "pong"


def stun_binding_request(tid):
    """A STUN Binding request (RFC 5389) without attributes; `tid` is the 12-byte transaction id."""
    return struct.pack("!HHI", 0x0001, 0, STUN_MAGIC) + tid


def check_stun(check):
    tid = os.urandom(12)
    request = stun_binding_request(tid)
    with socket.socket(_family(check["host"]), socket.SOCK_DGRAM) as sock:
        sock.settimeout(STEP_TIMEOUT)
        sock.connect((check["host"], check["port"]))
        sock.send(request)
        reply = sock.recv(2048)
    if len(reply) < 20:
        raise OSError("short STUN reply")
    kind, _length, magic = struct.unpack("!HHI", reply[:8])
    if kind != 0x0101 or magic != STUN_MAGIC or reply[8:20] != tid:
        raise OSError(f"not a binding success (type 0x{kind:04x})")
    return "binding success"


CHECKS = {"tcp": check_tcp, "tls": check_tls, "sip-options": check_sip_options, "ng-ping": check_ng_ping,
          "stun": check_stun}


def describe(check):
    proto = f"{check['proto']}:" if "proto" in check else ""
    return f"{check['kind']} {proto}{_uri_host(check['host'])}:{check['port']}"


def run_check(check, deadline):
    last = "not tried"
    while True:
        try:
            return True, CHECKS[check["kind"]](check)
        except (OSError, ValueError) as exc:
            last = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            return False, last
        time.sleep(RETRY_PAUSE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checks", help="JSON list of checks")
    source.add_argument("--checks-file", type=Path, help="file holding the JSON list of checks")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds for all checks together")
    parser.add_argument("--record", type=Path, help="when every check passes, keep the checks in this file")
    args = parser.parse_args()
    if args.checks_file is not None:
        if not args.checks_file.is_file():
            print(f"no health checks recorded at {args.checks_file}", file=sys.stderr)
            return EXIT_NO_RECORD
        checks = json.loads(args.checks_file.read_text())
    else:
        checks = json.loads(args.checks)
    deadline = time.monotonic() + args.timeout
    failed = []
    for check in checks:
        ok, detail = run_check(check, deadline)
        print(json.dumps({"check": describe(check), "ok": ok, "detail": detail}))
        if not ok:
            failed.append(f"{describe(check)}: {detail}")
    if failed:
        print("health gate failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    if args.record is not None:
        print("recorded" if record(args.record, checks) else "record unchanged")
    return 0


def record(path, checks):
    """Keep the checks that passed (root-only dir, no secrets); True when the file changed."""
    text = json.dumps(checks, indent=2, sort_keys=True) + "\n"
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)
    return True


if __name__ == "__main__":
    sys.exit(main())
