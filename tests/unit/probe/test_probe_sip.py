"""Unit tests of the SIP probe's pure parts: message building and parsing, digest, WebSocket, SDP.

The daemon tests (test_kamailio_daemon.py) run the same code against a real kamailio.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from websockets.frames import Frame
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from voipctl.errors import HandshakeRefused, ProbeError
from voipctl.probe import sdp
from voipctl.probe import websocket as ws
from voipctl.probe.call import route_set
from voipctl.probe.dialog import ack_for, lists_contact
from voipctl.probe.sip import main, parser
from voipctl.probe.sipmsg import (
    DigestChallenge,
    Request,
    SipParseError,
    angle_uri,
    build_request,
    build_response,
    digest_authorization,
    header_param,
    message_length,
    parse_challenge,
    parse_message,
)
from voipctl.probe.transport import Target, connect

BASE = Request(
    method="OPTIONS", uri="sip:example.test", from_uri="sip:probe@example.test", from_tag="ft",
    to_uri="sip:example.test", call_id="cid-1", cseq=1, via_transport="udp", via_host="192.0.2.1",
    via_port=5062, branch="z9hG4bKabc",
)


def _request(**kw: Any) -> Request:
    return replace(BASE, **kw)


def test_build_request_has_the_mandatory_headers_in_order() -> None:
    raw = build_request(_request(user_agent="ua", contact="<sip:probe@192.0.2.1:5062>"))
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "OPTIONS sip:example.test SIP/2.0"
    assert lines[1] == "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKabc;rport"
    assert "Max-Forwards: 70" in lines
    assert "From: <sip:probe@example.test>;tag=ft" in lines
    assert "To: <sip:example.test>" in lines
    assert "CSeq: 1 OPTIONS" in lines
    assert lines[-1] == "Content-Length: 0"
    assert body == b""


def test_build_request_with_body_counts_bytes_and_websocket_via_has_no_port() -> None:
    payload = "v=0\r\ns=é\r\n".encode()
    raw = build_request(_request(via_transport="wss", via_host="abc.invalid", via_port=None, body=payload,
                                 content_type="application/sdp", to_tag="tt", routes=("<sip:10.0.0.1;lr>",)))
    msg = parse_message(raw)
    assert msg.header("Via") == "SIP/2.0/WSS abc.invalid;branch=z9hG4bKabc;rport"
    assert msg.header("Content-Length") == str(len(payload))
    assert msg.body == payload
    assert msg.header("Route") == "<sip:10.0.0.1;lr>"
    assert header_param(msg.header("To") or "", "tag") == "tt"


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        build_request(_request(user_agent="ua\r\nX-Evil: 1"))


RESPONSE = (
    b"SIP/2.0 401 Unauthorized\r\n"
    b"v: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKabc;rport=5062;received=192.0.2.1\r\n"
    b"f: <sip:alice@example.test>;tag=ft\r\n"
    b"t: <sip:alice@example.test>;tag=srv\r\n"
    b"i: cid-1\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b'WWW-Authenticate: Digest realm="example.test",\r\n nonce="n, o", qop="auth,auth-int"\r\n'
    b"l: 4\r\n\r\nbodyEXTRA"
)


def test_parse_response_compact_headers_folding_and_body_cut() -> None:
    msg = parse_message(RESPONSE)
    assert msg.is_response
    assert (msg.status, msg.reason) == (401, "Unauthorized")
    assert msg.header("Call-ID") == "cid-1"
    assert msg.header("via") is not None
    assert msg.header("To") == "<sip:alice@example.test>;tag=srv"
    assert msg.cseq_method == "REGISTER"
    assert msg.body == b"body"
    challenge = parse_challenge(msg.header("WWW-Authenticate") or "")
    assert challenge.realm == "example.test"
    assert challenge.nonce == "n, o"
    assert challenge.qop == ("auth", "auth-int")


def test_parse_request_line() -> None:
    msg = parse_message(b"INVITE sip:bob@example.test SIP/2.0\r\nCall-ID: x\r\n\r\n")
    assert (msg.method, msg.uri, msg.status) == ("INVITE", "sip:bob@example.test", None)


@pytest.mark.parametrize("data", [b"garbage", b"HTTP/1.1 200 OK\r\n\r\n", b"SIP/2.0 200 OK\r\nno colon\r\n\r\n"])
def test_parse_rejects_non_sip(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)


def test_message_length_frames_a_stream() -> None:
    first = b"SIP/2.0 200 OK\r\nl: 3\r\n\r\nabc"
    second = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert message_length(first[:10]) is None
    assert message_length(first[:-1]) is None
    assert message_length(first + second) == len(first)
    assert message_length(second) == len(second)
    with pytest.raises(SipParseError):
        message_length(b"SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n")


def test_digest_matches_rfc2617_example() -> None:
    # RFC 2617 section 3.5: the response for this challenge is 6629fae49393a05397450978507c4ef1.
    ch = DigestChallenge(realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop=("auth",),
                         opaque="5ccc069c403ebaf9f0171e9517f40e41")
    value = digest_authorization(ch, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1)
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert "nc=00000001" in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value


def test_digest_without_qop_and_unknown_algorithm() -> None:
    ch = parse_challenge('Digest realm="r", nonce="n"')
    value = digest_authorization(ch, "REGISTER", "sip:r", "u", "p", "c")
    assert "qop" not in value and "cnonce" not in value
    with pytest.raises(ValueError, match="algorithm"):
        digest_authorization(DigestChallenge("r", "n", algorithm="SHA-512-256"), "REGISTER", "sip:r", "u", "p", "c")
    with pytest.raises(SipParseError):
        parse_challenge('Basic realm="r"')


def test_build_response_copies_transaction_headers_and_adds_tag() -> None:
    req = parse_message(
        b"INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
        b"Via: SIP/2.0/UDP b;branch=z9hG4bK2\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\n"
        b"From: <sip:alice@example.test>;tag=1\r\nTo: <sip:bob@example.test>\r\nCall-ID: c\r\n"
        b"CSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    resp = parse_message(build_response(req, 200, "OK", "tt", "<sip:bob@192.0.2.9>", b"x", "application/sdp"))
    assert resp.header_all("Via") == ["SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2"]
    assert resp.header("To") == "<sip:bob@example.test>;tag=tt"
    assert resp.header("CSeq") == "2 INVITE"
    assert route_set(resp) == ("<sip:p2;lr>", "<sip:p1;lr>")
    assert angle_uri(resp.header("Contact") or "") == "sip:bob@192.0.2.9"


def test_ack_for_negative_reply_keeps_the_branch() -> None:
    invite = _request(method="INVITE", body=b"sdp", content_type="application/sdp")
    reply = parse_message(b"SIP/2.0 407 Proxy Authentication Required\r\nTo: <sip:x>;tag=zz\r\n\r\n")
    ack = ack_for(invite, reply)
    assert (ack.method, ack.branch, ack.cseq, ack.to_tag, ack.body) == ("ACK", invite.branch, 1, "zz", b"")


def test_websocket_upgrade_carries_host_origin_and_sip_protocol() -> None:
    headers = ws.request_headers("sip.example.test", 443, True, "/", "https://app.example.test")
    assert headers["Host"] == "sip.example.test", "the default port stays out of Host"
    assert (headers["Origin"], headers["Sec-WebSocket-Protocol"]) == ("https://app.example.test", "sip")
    assert (headers["Upgrade"], headers["Sec-WebSocket-Version"]) == ("websocket", "13")
    assert "User-Agent" not in headers
    assert ws.request_headers("2001:db8::1", 8080, False, "/", None)["Host"] == "[2001:db8::1]:8080"


def _server(sock: socket.socket, answer: Callable[[ServerProtocol, HttpRequest], Response],
            then: Callable[[ServerProtocol, socket.socket], None] | None = None) -> threading.Thread:
    """A real RFC 6455 server end (websockets' own ServerProtocol) on the other side of a socketpair."""
    def run() -> None:
        server = ServerProtocol(subprotocols=[Subprotocol("sip")])
        request = None
        while request is None:
            server.receive_data(sock.recv(65536))
            request = next((e for e in server.events_received() if isinstance(e, HttpRequest)), None)
        server.send_response(answer(server, request))
        for data in server.data_to_send():
            sock.sendall(data)
        if then is not None:
            then(server, sock)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _client(sock: socket.socket) -> ws.WsClient:
    return ws.WsClient(sock, "sip.example.test", 443, True, "/", "https://app.example.test")


def test_websocket_handshake_refusals_name_the_problem() -> None:
    def forbidden(server: ServerProtocol, request: HttpRequest) -> Response:
        return server.reject(403, "origin not allowed")

    def no_sip(server: ServerProtocol, request: HttpRequest) -> Response:
        response = server.accept(request)
        del response.headers["Sec-WebSocket-Protocol"]
        return response

    def bad_accept(server: ServerProtocol, request: HttpRequest) -> Response:
        response = server.accept(request)
        response.headers["Sec-WebSocket-Accept"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
        return response

    for answer, problem, status in ((forbidden, "HTTP 403 Forbidden", 403), (no_sip, "subprotocol", 101),
                                    (bad_accept, "Sec-WebSocket-Accept", 101)):
        left, right = socket.socketpair()
        with left, right:
            thread = _server(right, answer)
            with pytest.raises(HandshakeRefused, match=problem) as refused:
                _client(left).handshake(2.0)
            thread.join(5)  # the server end finishes sending before its socket closes
            assert refused.value.http_status == status


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_websocket_messages_round_trip_masked(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    seen: list[bytes] = []

    def echo(server: ServerProtocol, sock: socket.socket) -> None:
        while not seen:
            server.receive_data(sock.recv(65536))
            for frame in (e for e in server.events_received() if isinstance(e, Frame)):
                seen.append(bytes(frame.data))  # ServerProtocol refuses unmasked client frames
                server.send_ping(b"keepalive")  # the client must answer pongs by itself
                server.send_text(frame.data[: size // 2], fin=False)
                server.send_continuation(frame.data[size // 2 :], fin=True)
        for data in server.data_to_send():
            sock.sendall(data)

    left, right = socket.socketpair()
    with left, right:
        thread = _server(right, lambda server, request: server.accept(request), echo)
        client = _client(left)
        assert client.handshake(2.0).headers["Sec-WebSocket-Protocol"] == "sip"
        client.send(payload)
        assert client.recv(time.monotonic() + 5) == payload, "a fragmented answer comes back whole"
        thread.join(5)
        assert seen == [payload]


def test_websocket_close_is_an_error() -> None:
    def close(server: ServerProtocol, sock: socket.socket) -> None:
        server.send_close(1001, "going away")
        for data in server.data_to_send():
            sock.sendall(data)

    left, right = socket.socketpair()
    with left, right:
        _server(right, lambda server, request: server.accept(request), close)
        client = _client(left)
        client.handshake(2.0)
        with pytest.raises(ProbeError, match="closed the websocket"):
            client.recv(time.monotonic() + 5)


def test_sdp_bodies_and_summary() -> None:
    offer = sdp.summarize(sdp.body("webrtc", "192.0.2.5", 40000, offer=True))
    assert (offer.proto, offer.address, offer.port) == ("UDP/TLS/RTP/SAVPF", "192.0.2.5", 40000)
    assert offer.ice and offer.fingerprint and offer.rtcp_mux and offer.candidates == 1
    assert offer.setup == "actpass"
    answer = sdp.summarize(sdp.body("webrtc", "192.0.2.5", 40000, offer=False, mid="1"))
    assert (answer.setup, answer.mid) == ("active", "1")
    plain = sdp.summarize(sdp.body("plain", "192.0.2.6", 30000, offer=True))
    assert (plain.proto, plain.ice, plain.fingerprint, plain.rtcp_mux) == ("RTP/AVP", False, False, False)


def test_cli_needs_a_password_source_and_never_takes_one_on_argv() -> None:
    names = {a.dest for a in parser()._actions}
    assert "password" not in names
    with pytest.raises(SystemExit):
        parser().parse_args(["options", "--transport", "sctp", "--host", "x", "--port", "1"])


def test_cli_rejects_a_malformed_header(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["options", "--transport", "udp", "--host", "127.0.0.1", "--port", "9", "--header", "nocolon"])
    assert rc == 2
    assert "NAME:VALUE" in json.loads(capsys.readouterr().out)["error"]


def test_cli_reports_register_without_password_as_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["register", "--transport", "udp", "--host", "127.0.0.1", "--port", "9", "--domain", "d.test"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 2
    assert "password" in out["error"]


def _closed_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_json_on_unreachable_server() -> None:
    # A subprocess, as tests and verify run it; loopback only.
    port = _closed_tcp_port()
    res = subprocess.run(
        [sys.executable, "-m", "voipctl.probe.sip", "options", "--transport", "tcp", "--host", "127.0.0.1",
         "--port", str(port), "--timeout", "1"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert out["answered"] is False
    assert out["status"] is None
    assert "cannot reach" in out["error"]


def test_a_binding_fetch_answer_lists_a_contact_by_its_address_not_its_parameters() -> None:
    """A cluster node may add parameters to a replicated Contact; user@host:port is what identifies it."""
    ok = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKx\r\nCSeq: 2 REGISTER\r\n"
                       b"Contact: <sip:bob@192.0.2.7:5090;transport=udp>;expires=58, <sip:bob@192.0.2.8:41000>\r\n"
                       b"Content-Length: 0\r\n\r\n")
    assert lists_contact(ok, "<sip:bob@192.0.2.7:5090;transport=udp>")
    assert lists_contact(ok, "<sip:bob@192.0.2.8:41000;transport=tcp>")
    assert not lists_contact(ok, "<sip:bob@192.0.2.7:5091;transport=udp>")
    refused = replace(ok, start_line="SIP/2.0 403 Forbidden")
    assert not lists_contact(refused, "<sip:bob@192.0.2.7:5090;transport=udp>")
    assert not lists_contact(None, "<sip:bob@192.0.2.7:5090;transport=udp>")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_fixed_bind_port_is_the_source_port_of_what_the_probe_sends(transport: str) -> None:
    """--bind-port: one client's same Contact at several servers (a phone failing over)."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as server, socket.socket(socket.AF_INET, kind) as probe_port:
        server.bind(("127.0.0.1", 0))
        probe_port.bind(("127.0.0.1", 0))
        fixed = probe_port.getsockname()[1]
        probe_port.close()
        if transport == "tcp":
            server.listen(1)
        target = Target(transport, "127.0.0.1", server.getsockname()[1], bind="127.0.0.1", bind_port=fixed)
        with connect(target, 2.0) as ch:
            ch.send(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
            if transport == "udp":
                _, source = server.recvfrom(100)
            else:
                conn, source = server.accept()
                conn.close()
    assert source == ("127.0.0.1", fixed)
