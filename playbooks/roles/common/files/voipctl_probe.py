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
  {"kind": "sip-options", "proto": "udp"|"tcp", "host": H, "port": P}  any SIP reply
  {"kind": "ng-ping", "host": H, "port": P}                  rtpengine answers pong
  {"kind": "stun", "host": H, "port": P}                     STUN binding success
"""

from __future__ import annotations

import argparse
import json
import os
import socket
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


def _options(check, local_host, local_port):
    """A minimal, well-formed OPTIONS with a probe User-Agent no scanner filter matches."""
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
    return first


def check_sip_options(check):
    addr = (check["host"], check["port"])
    if check["proto"] == "udp":
        with socket.socket(_family(check["host"]), socket.SOCK_DGRAM) as sock:
            sock.settimeout(STEP_TIMEOUT)
            sock.connect(addr)
            local = sock.getsockname()
            sock.send(_options(check, local[0], local[1]))
            return _status(sock.recv(65535))
    with socket.create_connection(addr, timeout=STEP_TIMEOUT) as sock:
        local = sock.getsockname()
        sock.sendall(_options(check, local[0], local[1]))
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


def check_stun(check):
    tid = os.urandom(12)
    request = struct.pack("!HHI", 0x0001, 0, STUN_MAGIC) + tid
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


CHECKS = {"tcp": check_tcp, "sip-options": check_sip_options, "ng-ping": check_ng_ping, "stun": check_stun}


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
