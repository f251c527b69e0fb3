"""Contract between the host health gate (stdlib only, runs on every deployed host) and voipctl.probe.

The gate builds its SIP OPTIONS and STUN Binding by hand because hosts have no
voipctl installed. These tests parse what it builds, and what it sends when run,
with voipctl.probe's own SIP and STUN parsers, and answer it with voipctl.probe's
builders: if either side drifts from the protocol, they disagree here.
Traffic stays on loopback.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.conftest import REPO
from voipctl.probe import turn
from voipctl.probe.sipmsg import SipMessage, build_response, header_param, parse_message

GATE = REPO / "playbooks" / "roles" / "common" / "files" / "voipctl_health_gate.py"


def _gate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("voipctl_health_gate", GATE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("proto", "host", "local"), [
    ("udp", "198.51.100.11", "198.51.100.20"),
    ("tls", "2001:db8::11", "2001:db8::20"),
    ("wss", "198.51.100.11", "10.0.0.5"),
])
def test_gate_options_parse_as_sip(proto: str, host: str, local: str) -> None:
    gate = _gate()
    msg = parse_message(gate.options_request({"proto": proto, "host": host, "port": 5061}, local, 40000))
    bracket = f"[{host}]" if ":" in host else host
    assert (msg.method, msg.uri, msg.cseq_method) == ("OPTIONS", f"sip:{bracket}:5061", "OPTIONS")
    via = msg.header("Via") or ""
    local_uri = f"[{local}]" if ":" in local else local
    assert via.startswith(f"SIP/2.0/{proto.upper()} {local_uri}:40000;")
    branch = header_param(via, "branch") or ""
    assert branch.startswith("z9hG4bK") and len(branch) > 7 and header_param(via, "rport") == ""
    assert header_param(msg.header("From") or "", "tag")
    assert msg.header("Call-ID") and msg.header("Max-Forwards") == "70"
    assert msg.header("Content-Length") == "0" and msg.body == b""
    assert msg.header("User-Agent") == "voipctl-deploy-gate", "a UA no scanner filter matches"


def test_gate_stun_binding_parses_as_stun() -> None:
    txid = bytes(range(12))
    msg = turn.decode_message(_gate().stun_binding_request(txid))
    assert (msg.method, msg.msg_type, msg.txid, msg.attrs) == (turn.BINDING, turn.BINDING, txid, ())


def _serve_udp(answer: Callable[[bytes], bytes | None]) -> tuple[socket.socket, list[bytes], threading.Thread]:
    """A loopback UDP server that records each datagram and sends back answer(datagram)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    seen: list[bytes] = []

    def run() -> None:
        try:
            data, peer = sock.recvfrom(65535)
        except OSError:
            return
        seen.append(data)
        reply = answer(data)
        if reply is not None:
            sock.sendto(reply, peer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return sock, seen, thread


def _run_gate(check: dict[str, object], timeout: str = "3") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GATE), "--timeout", timeout, "--checks", json.dumps([check])],
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(("status", "passes"), [(200, True), (404, False)])
def test_gate_sends_options_our_parser_reads_and_accepts_only_200(status: int, passes: bool) -> None:
    def answer(data: bytes) -> bytes:
        return build_response(parse_message(data), status, "OK" if status == 200 else "Not Found", to_tag="t1")

    sock, seen, thread = _serve_udp(answer)
    with sock:
        port = sock.getsockname()[1]
        res = _run_gate({"kind": "sip-options", "proto": "udp", "host": "127.0.0.1", "port": port}, "1")
        thread.join(5)
    request: SipMessage = parse_message(seen[0])
    assert (request.method, request.uri) == ("OPTIONS", f"sip:127.0.0.1:{port}")
    assert (request.header("Via") or "").startswith("SIP/2.0/UDP 127.0.0.1:")
    assert (res.returncode == 0) is passes, res.stdout + res.stderr
    assert json.loads(res.stdout.splitlines()[0])["ok"] is passes


@pytest.mark.parametrize(("reply_class", "passes"), [(turn.SUCCESS, True), (turn.ERROR, False)])
def test_gate_sends_a_stun_binding_our_parser_reads(reply_class: int, passes: bool) -> None:
    def answer(data: bytes) -> bytes:
        request = turn.decode_message(data)
        return turn.encode_message(turn.BINDING | reply_class, request.txid, [])

    sock, seen, thread = _serve_udp(answer)
    with sock:
        port = sock.getsockname()[1]
        res = _run_gate({"kind": "stun", "host": "127.0.0.1", "port": port}, "1")
        thread.join(5)
    request = turn.decode_message(seen[0])
    assert request.method == turn.BINDING and not request.is_success and not request.is_error
    assert (res.returncode == 0) is passes, res.stdout + res.stderr
