"""verify's probes without the lab: which probes a plan gets, how results are judged, SIPp argv and
logs, scanner and TLS-scan verdicts, TURN/XMPP encodings, and the agent on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.pki_support import site_copy
from voipctl import pipeline
from voipctl.errors import ToolError
from voipctl.plan.model import Plan
from voipctl.probe import turn
from voipctl.resources import find_executable
from voipctl.sipp.argv import SCENARIOS
from voipctl.sipp.credentials import credentials_csv, write_credentials
from voipctl.verify.browser.media import FlowSnapshot, LegFlow
from voipctl.verify.call import media as callmedia
from voipctl.verify.call import sipp_call as sipp
from voipctl.verify.probes.build import BAD_ORIGIN, Probe, ProbeInputs, build_probes
from voipctl.verify.probes.dispatch import run_agents
from voipctl.verify.probes.executor import run_jobs
from voipctl.verify.probes.judge import judge
from voipctl.verify.probes.turn_permission import xor_peer_address
from voipctl.verify.probes.vantage import Vantage, parse_route_src, parse_vantage
from voipctl.verify.probes.xmpp import parse_features, stream_open
from voipctl.verify.scanners import svmap
from voipctl.verify.scanners import tls as tlsscan
from voipctl.verify.scanners.executables import shebang_python

PASSWORD = "s3cret-Password_1"
TURN_SECRET = "turn-shared-secret"


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return pipeline.load_and_plan(site_copy(tmp_path_factory.mktemp("p"), "lab"))[1]


@pytest.fixture(scope="module")
def probes(plan: Plan) -> tuple[list[Probe], list[object]]:
    vantages = (Vantage("public", "ns-pub", "198.51.100.253", "198.51.100.253"),
                Vantage("nat", "ns-nat", "192.168.77.2", "198.51.100.254"))
    found, decided = build_probes(plan, vantages, ProbeInputs("/ca.crt", "alice", PASSWORD, TURN_SECRET))
    return found, list(decided)


def test_probes_cover_transports_auth_exposure_and_turn(probes: tuple[list[Probe], list[object]]) -> None:
    found, decided = probes
    options = {(p.vantage, p.params["transport"]) for p in found if p.kind == "sip_options" and p.group == "sip"}
    assert options == {(v, t) for v in ("public", "nat") for t in ("udp", "tcp", "tls", "wss")}
    tls = [p for p in found if p.kind == "sip_options" and p.params["transport"] in ("tls", "wss")]
    assert all(p.params["ca_file"] == "/ca.crt" and p.expect.get("tls") for p in tls if p.group == "sip")
    origin = [p for p in found if p.group == "websocket"]
    assert len(origin) == 1 and origin[0].params["origin"] == BAD_ORIGIN and origin[0].expect == {"refused": True}
    register = [p for p in found if p.kind == "sip_register"]
    assert {p.params["transport"] for p in register} == {"udp", "tls"} and len(register) == 6
    assert {p.vantage for p in register} == {"nat"}
    right = [p for p in register if p.expect.get("status") == 200]
    assert all(p.params["password"] == PASSWORD and p.params["user"] == "alice" for p in right)
    wrong = [p for p in register if "same_as" in p.expect]
    unknown = {p.id: p for p in register if p.expect.get("compared")}
    for w in wrong:
        u = unknown[w.expect["same_as"]]
        assert w.params["password"] == u.params["password"] != PASSWORD and u.params["user"] != "alice"
    exposure = {(p.kind, p.params["host"], p.params["port"]) for p in found if p.group == "exposure"}
    assert {("ng_ping", "198.51.100.12", 2223), ("ng_ping", "10.77.0.12", 2223),
            ("tcp_connect", "198.51.100.12", 9900), ("tcp_connect", "198.51.100.13", 9090),
            ("tcp_connect", "198.51.100.12", 5766)} <= exposure
    assert not any(p.params["host"].startswith("127.") for p in found if p.group == "exposure")
    perm = next(p for p in found if p.kind == "turn_permissions")
    assert {"127.0.0.1", "10.77.0.12", "169.254.169.254"} <= set(perm.expect["denied"])
    assert perm.expect["allowed"] == ["198.51.100.12"] and perm.vantage == "nat"
    stun = {p.vantage: p.expect["mapped"] for p in found if p.kind == "stun_binding"}
    assert stun == {"public": "198.51.100.253", "nat": "198.51.100.254"}
    assert [getattr(o, "status", None) for o in decided] == ["skipped"]
    # passwords sit in params only, which a Probe never shows
    assert all(PASSWORD not in repr(p) and TURN_SECRET not in repr(p) for p in found)


def _probe(found: list[Probe], **match: object) -> Probe:
    return next(p for p in found if all(p.params.get(k) == v or getattr(p, k, None) == v for k, v in match.items()))


def test_judging_raw_results(probes: tuple[list[Probe], list[object]]) -> None:
    found, _ = probes
    udp = _probe(found, kind="sip_options", transport="udp", vantage="nat")
    tls = _probe(found, kind="sip_options", transport="tls", vantage="nat")
    origin = next(p for p in found if p.group == "websocket")
    wrong = next(p for p in found if "same_as" in p.expect and p.params["transport"] == "udp")
    ng = next(p for p in found if p.kind == "ng_ping")
    alloc_ok, alloc_bad = [p for p in found if p.kind == "turn_allocate"]
    perm = next(p for p in found if p.kind == "turn_permissions")
    challenge = {"challenge": {"status": 401, "reason": "Unauthorized"}}
    www = [["WWW-Authenticate", "Digest"], ["Via", "x"]]
    results = {
        udp.id: {"answered": True, "status": 200, "reason": "OK"},
        tls.id: {"answered": True, "status": 200, "reason": "OK", "tls_version": "TLSv1.1"},
        origin.id: {"answered": False, "error": "websocket handshake refused: HTTP 403 Forbidden", "http_status": 403},
        wrong.id: {"answered": True, "status": 401, "reason": "Unauthorized", "details": challenge, "headers": www},
        wrong.expect["same_as"]: {"answered": True, "status": 403, "reason": "Forbidden", "details": challenge,
                                  "headers": www},
        ng.id: {"answered": True, "pong": True},
        alloc_ok.id: {"ok": True, "relayed": ["198.51.100.12", 40000]},
        alloc_bad.id: {"ok": False, "relayed": None, "error_code": 401, "reason": "Unauthorized"},
        perm.id: {"allocated": True, "peers": {"127.0.0.1": [403, "Forbidden IP"], "10.77.0.12": None,
                                               "198.51.100.12": None}},
    }
    verdicts = {(o.name, o.vantage): o for o in judge(found, results)}
    assert verdicts[(udp.name, "nat")].status == "passed"
    assert verdicts[(tls.name, "nat")].status == "failed"  # TLS 1.1 is not acceptable
    assert verdicts[(origin.name, "public")].status == "passed"
    unequal = verdicts[(wrong.name, "nat")]
    assert unequal.status == "failed" and "answers differ" in unequal.detail
    assert verdicts[(ng.name, ng.vantage)].status == "failed"
    assert verdicts[(alloc_ok.name, "nat")].status == "passed"
    assert verdicts[(alloc_bad.name, "nat")].status == "passed"
    by_peer = {o.name: o.status for o in judge([perm], results)}
    details = {o.name: o.detail for o in judge([perm], results)}
    assert details["TURN permission towards 169.254.169.254 (cloud metadata) is denied"] == "not tried"
    assert details["TURN permission towards 10.77.0.12 (the node's private address) is denied"] == \
        "permission granted"
    assert by_peer["TURN permission towards 127.0.0.1 (loopback) is denied"] == "passed"
    assert by_peer["TURN permission towards 10.77.0.12 (the node's private address) is denied"] == "failed"
    assert by_peer["TURN permission towards 169.254.169.254 (cloud metadata) is denied"] == "failed"
    assert by_peer["TURN permission towards the media address 198.51.100.12 is granted"] == "passed"
    # a probe whose agent never answered is a failure, not a pass
    missing = judge([udp], {})
    assert missing[0].status == "failed" and "did not run" in missing[0].detail
    same = dict(results)
    same[wrong.expect["same_as"]] = results[wrong.id]
    assert {o.name: o.status for o in judge(found, same)}[wrong.name] == "passed"
    accepted = dict(same)
    accepted[wrong.id] = {**results[wrong.id], "status": 200}
    assert {o.name: o.status for o in judge(found, accepted)}[wrong.name] == "failed"
    for o in judge(found, results):
        assert PASSWORD not in o.detail and TURN_SECRET not in o.detail


def test_sipp_argv_keeps_passwords_in_the_csv(tmp_path: Path) -> None:
    csv = write_credentials(tmp_path / "c.csv", [("alice", PASSWORD)])
    assert csv.stat().st_mode & 0o777 == 0o600
    assert csv.read_text() == f"SEQUENTIAL\nalice;[authentication username=alice password={PASSWORD}]\n"
    runs = [
        sipp.register_run("sipp", tmp_path, csv, "lab.test", "198.51.100.253", 5070, "198.51.100.11:5060", 60),
        sipp.uas_run("sipp", tmp_path, "bob", "lab.test", "198.51.100.253", 5070),
        sipp.uac_run("sipp", tmp_path, csv, "bob", "lab.test", "192.168.77.2", "198.51.100.11:5060", "cid-1"),
    ]
    for run in runs:
        assert all(PASSWORD not in a for a in run.argv)
        assert run.argv[run.argv.index("-sf") + 1].endswith(".xml") and "-timeout_error" in run.argv
        assert run.argv[run.argv.index("-key") + 1:][:2] == ["domain", "lab.test"]
    assert runs[0].argv[-1] == "198.51.100.11:5060" and "-inf" in runs[2].argv and "-inf" not in runs[1].argv
    assert runs[1].argv[runs[1].argv.index("-p") + 1] == "5070"
    assert "-rtp_echo" in runs[1].argv and runs[1].argv[runs[1].argv.index("-mi") + 1] == "198.51.100.253"
    assert runs[2].argv[runs[2].argv.index("-cid_str") + 1] == "cid-1" and "-rtp_echo" not in runs[2].argv
    for bad in ("pass word", "a;b", "x]y", "new\nline"):
        with pytest.raises(ToolError):
            credentials_csv([("alice", bad)])


def test_sipp_scenarios_follow_the_route_set() -> None:
    uac = ET.parse(SCENARIOS / "uac.xml").getroot()  # noqa: S314 - our own file
    uas = ET.parse(SCENARIOS / "uas.xml").getroot()  # noqa: S314
    reg = ET.parse(SCENARIOS / "register.xml").getroot()  # noqa: S314
    ok200 = [r for r in uac.iter("recv") if r.get("response") == "200" and r.get("rrs") == "true"]
    assert len(ok200) == 1
    sends = [s.text or "" for s in uac.iter("send")]
    in_dialog = [s for s in sends if s.strip().startswith(("ACK [next_url]", "BYE [next_url]"))]
    assert len(in_dialog) == 2 and all("[routes]" in s for s in in_dialog)
    assert any("[last_Record-Route:]" in (s.text or "") for s in uas.iter("send"))
    for tree in (uac, reg):
        text = "".join(s.text or "" for s in tree.iter("send"))
        assert "[field1]" in text and "password" not in text
    # the caller plays the pcap sip-tester ships (30 ms PCMA), which its SDP offers
    plays = [e.get("play_pcap_audio") for e in uac.iter("exec")]
    assert plays == [str(callmedia.PCAP)]
    assert all("RTP/AVP 8" in (s.text or "") for s in uac.iter("send") if "m=audio" in (s.text or ""))


def test_sdp_connection_from_sipp_logs_and_call_verdicts() -> None:
    uas = sipp.parse_log("sdp-connection 198.51.100.12 (c=IN IP4 198.51.100.12)\nack-received\nbye-received\n")
    uac = sipp.parse_log("sdp-connection 198.51.100.12 (c=IN IP4 198.51.100.12)\nbye-answered\n")
    assert uas.connection == "198.51.100.12" and uas.events == {"ack-received", "bye-received"}
    good = sipp.judge_call(uas, uac, 0, 0, ["198.51.100.12"], "")
    assert [s for _, s, _ in good] == ["passed"] * 3
    direct = sipp.parse_log("sdp-connection 192.168.77.2 (c=IN IP4 192.168.77.2)\nack-received\nbye-received\n")
    bad = sipp.judge_call(direct, uac, 0, 0, ["198.51.100.12"], "")
    assert [s for _, s, _ in bad] == ["passed", "failed", "passed"] and "192.168.77.2" in bad[1][2]
    broken = sipp.judge_call(uas, sipp.parse_log(""), 0, 1, ["198.51.100.12"], "UAC SIPp exit 1")
    assert [s for _, s, _ in broken] == ["failed", "passed", "failed"]
    assert sipp.parse_log("sdp-connection 2001:db8::5 (c=IN IP6 2001:db8::5)").connection == "2001:db8::5"


SVMAP_FOUND = """\
+-----------------+-------------+
| SIP Device      | User Agent  |
+=================+=============+
| 127.0.0.1:15060 | FakePBX 1.0 |
+-----------------+-------------+
"""


ANSWERED = {"answered": True, "status": 200, "reason": "OK"}


def test_svmap_verdicts() -> None:
    target = "127.0.0.1:15060"
    assert svmap.found_devices(SVMAP_FOUND) == {"127.0.0.1:15060": "FakePBX 1.0"}
    assert svmap.judge_svmap(SVMAP_FOUND, 0, target, ANSWERED) == (
        False, "svmap found 127.0.0.1:15060 (User-Agent FakePBX 1.0)")
    passed, detail = svmap.judge_svmap("WARNING:root:found nothing\n", 30, target, ANSWERED)
    assert passed and "200 OK" in detail
    assert not svmap.judge_svmap("Traceback ...\nOSError: boom\n", 1, target, ANSWERED)[0]


def test_svmap_fails_on_what_a_broken_scanner_or_a_dead_target_prints() -> None:
    """What sipvicious 0.3.8 prints after a send error, an unhandled exception or a bind failure, each
    also saying "found nothing"; and a clean run whose control OPTIONS got no answer either."""
    target = "198.51.100.11:5060"
    send_error = ("ERROR:DrinkOrSip:socket error while sending to 198.51.100.11:5060 -> [Errno 101] "
                  "Network is unreachable\nWARNING:root:found nothing\n")
    crashed = "CRITICAL:root:Got unhandled exception\nWARNING:root:found nothing\n"
    no_bind = "CRITICAL:DrinkOrSip:Could not bind to any port\nWARNING:root:found nothing\n"
    for output, rc in ((send_error, 30), (crashed, 20), (no_bind, 30), ("WARNING:root:found nothing\n", 0),
                       ("", 30), ("WARNING:root:found nothing\n", 1)):
        passed, detail = svmap.judge_svmap(output, rc, target, ANSWERED)
        assert not passed and "did not complete cleanly" in detail, (output, rc)
    for control in ({"answered": False, "error": "no answer"}, {"error": "agent at public failed: boom"}, {}):
        passed, detail = svmap.judge_svmap("WARNING:root:found nothing\n", 30, target, control)
        assert not passed and "not reachable from here" in detail
    assert svmap.svmap_argv("/bin/svmap", "198.51.100.11", 5060) == ["/bin/svmap", "198.51.100.11", "-p", "5060"]


@pytest.fixture
def sip_responder() -> Iterator[int]:
    """A UDP SIP 'device' on loopback that answers every OPTIONS, as an unprotected PBX would."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            keep = [ln for ln in data.decode().split("\r\n")[1:]
                    if ln.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
            sock.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) +
                         "\r\nServer: TestPBX\r\nContent-Length: 0\r\n\r\n").encode(), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_real_svmap_finds_an_unprotected_device(sip_responder: int) -> None:
    binary = find_executable("sipvicious_svmap")
    if binary is None:
        pytest.skip("sipvicious is not installed (pip install sipvicious)")
    res = subprocess.run(svmap.svmap_argv(binary, "127.0.0.1", sip_responder), capture_output=True, text=True,
                         timeout=60, check=False)
    passed, detail = svmap.judge_svmap(res.stdout + res.stderr, res.returncode, f"127.0.0.1:{sip_responder}",
                                       ANSWERED)
    assert not passed and "TestPBX" in detail


def test_svmap_and_its_control_against_a_silent_port_fail() -> None:
    """Nothing listens: svmap's silence is real, but the control OPTIONS is not answered either."""
    binary = find_executable("sipvicious_svmap")
    if binary is None:
        pytest.skip("sipvicious is not installed (pip install sipvicious)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hold:
        hold.bind(("127.0.0.1", 0))
        port = hold.getsockname()[1]
    res = subprocess.run(svmap.svmap_argv(binary, "127.0.0.1", port), capture_output=True, text=True,
                         timeout=60, check=False)
    control = run_jobs([{"id": "c", "kind": "sip_options",
                         "params": {"transport": "udp", "host": "127.0.0.1", "port": port, "timeout": 0.5}}])["c"]
    passed, detail = svmap.judge_svmap(res.stdout + res.stderr, res.returncode, f"127.0.0.1:{port}", control)
    assert res.returncode == svmap.SILENT_EXIT and not passed and "not reachable from here" in detail


def test_tls_scan_targets_and_verdicts(plan: Plan) -> None:
    targets = tlsscan.tls_targets(plan)
    assert [(t.label, t.host, t.port, t.name) for t in targets] == [
        ("SIP-TLS", "198.51.100.11", 5061, "lab.voipctl.test"),
        ("WSS", "198.51.100.11", 443, "sip1.lab.voipctl.test"),
        ("TURN-TLS", "198.51.100.12", 5349, "turn.lab.voipctl.test"),
    ]
    job = tlsscan.scan_job(targets, "/ca.crt")
    assert job["ca_file"] == "/ca.crt" and len(job["targets"]) == 3
    # kamailio's TLS sockets are scanned one connection at a time (a burst crashes kamailio 5.6), coturn's not
    assert [t["concurrency"] for t in job["targets"]] == [1, 1, tlsscan.CONCURRENCY]
    modern = {"connectivity": "ok", "protocols": {"SSL 2.0": 0, "SSL 3.0": 0, "TLS 1.0": 0, "TLS 1.1": 0,
                                                  "TLS 1.2": 3, "TLS 1.3": 0}, "errors": {},
              "ca_valid": True, "chain": ["CN=leaf", "CN=intermediate"]}
    assert tlsscan.judge_target(modern) == (("passed", "only TLS 1.2 (3 suites)"),
                                            ("passed", "CN=leaf <- CN=intermediate"))
    legacy = {**modern, "protocols": {**modern["protocols"], "TLS 1.0": 5}}
    assert tlsscan.judge_target(legacy)[0] == ("failed", "accepts TLS 1.0")
    untrusted = {**modern, "ca_valid": False, "ca_error": "unable to get local issuer"}
    assert tlsscan.judge_target(untrusted)[1][0] == "failed"
    retried = tlsscan.judge_target({**modern, "retried": "Server rejected the connection"})[0]
    assert retried == ("passed", "only TLS 1.2 (3 suites) (on a retry; the first attempt: Server rejected the "
                                 "connection)")
    errors = {**modern, "errors": {"TLS 1.1": "BUG_IN_SSLYZE"}}
    assert tlsscan.judge_target(errors)[0][0] == "failed"
    assert tlsscan.judge_target({"error": "sslyze is not installed"})[0][0] == "failed"
    outs = tlsscan.outcomes_for(targets, {}, "public", 1.0)
    assert len(outs) == 6 and all(o.status == "failed" for o in outs)


def test_turn_peer_address_and_xmpp_features() -> None:
    txid = turn.new_txid()
    for addr in ("127.0.0.1", "169.254.169.254", "2001:db8::1"):
        assert turn.xor_address(xor_peer_address(addr, txid, 5000), txid) == (addr, 5000)
    required = (b"<stream:stream><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                b"<required/></starttls><mechanisms/></stream:features>")
    optional = b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
    assert parse_features(required[:40]) is None
    got = parse_features(required)
    assert got is not None and got.offered and got.required
    got = parse_features(optional)
    assert got is not None and got.offered and not got.required
    got = parse_features(b"<stream:features><mechanisms/></stream:features>")
    assert got is not None and not got.offered
    assert b"to='lab.test'" in stream_open("lab.test")
    with pytest.raises(ValueError):
        stream_open("x'><evil")


def test_vantages(tmp_path: Path) -> None:
    assert parse_vantage("local") == Vantage("local")
    with pytest.raises(Exception, match="no network namespace"):
        parse_vantage("pub=voipctl-no-such-ns")
    assert Vantage("p", "ns1").wrap(["sipp", "-v"]) == ["ip", "netns", "exec", "ns1", "sipp", "-v"]
    assert Vantage("local").wrap(["sipp"]) == ["sipp"]
    out = "198.51.100.11 dev pub0 src 198.51.100.253 uid 0 \n    cache \n"
    assert parse_route_src(out) == "198.51.100.253" and parse_route_src("unreachable") is None
    script = tmp_path / "sslyze"
    script.write_text("#!/opt/tools/bin/python3.11\nimport sys\n")
    assert shebang_python(script) == "/opt/tools/bin/python3.11"
    script.write_text("#!/usr/bin/env python3\n")
    assert shebang_python(script) == "python3"
    script.write_text("#!/bin/sh\n")
    assert shebang_python(script) is None


def test_agent_runs_jobs_and_reports_raw_observations() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        open_port = listener.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        jobs = [
            {"id": "open", "kind": "tcp_connect", "params": {"host": "127.0.0.1", "port": open_port}},
            {"id": "closed", "kind": "tcp_connect", "params": {"host": "127.0.0.1", "port": closed_port}},
            {"id": "silent", "kind": "ng_ping", "params": {"host": "127.0.0.1", "port": closed_port, "timeout": 0.3}},
            {"id": "bug", "kind": "stun_binding", "params": {}},
        ]
        results = run_jobs(jobs)
    assert results["open"]["connected"] and not results["closed"]["connected"]
    assert results["closed"]["blocked"] == "refused"
    assert not results["silent"]["answered"] and results["silent"]["blocked"] == "timeout"
    assert results["bug"]["error"].startswith("probe crashed")
    # the same through the module entry point, jobs on stdin
    proc = subprocess.run([sys.executable, "-m", "voipctl.verify.probes.executor"],
                          input=json.dumps({"jobs": jobs[1:2]}), capture_output=True, text=True, timeout=60, check=True)
    assert not json.loads(proc.stdout)["results"]["closed"]["connected"]


def _exposure_verdicts(found: list[Probe], results: dict[str, dict[str, object]]) -> dict[str, str]:
    return {f"{o.vantage}|{o.name}": o.status for o in judge(found, results) if o.group == "exposure"}


def test_exposure_passes_only_on_refused_or_timed_out(probes: tuple[list[Probe], list[object]]) -> None:
    """What a broken probe or a dead vantage returns must fail every exposure check."""
    found, _ = probes
    exposure = [p for p in found if p.group == "exposure"]
    ng = next(p for p in exposure if p.kind == "ng_ping")
    tcp = next(p for p in exposure if p.kind == "tcp_connect")
    alive = next(p for p in found if p.kind == "sip_options" and p.vantage == ng.vantage)
    base = {alive.id: ANSWERED}
    good = {**base, ng.id: {"answered": False, "blocked": "timeout", "error": "timed out"},
            tcp.id: {"connected": False, "blocked": "refused", "error": "[Errno 111] Connection refused"}}
    verdicts = _exposure_verdicts([alive, ng, tcp], good)
    assert set(verdicts.values()) == {"passed"}
    no_route = {"connected": False, "blocked": "unreachable", "error": "[Errno 101] Network is unreachable"}
    assert set(_exposure_verdicts([alive, tcp], {**base, tcp.id: no_route}).values()) == {"passed"}
    assert set(_exposure_verdicts([tcp], {tcp.id: no_route}).values()) == {"failed"}  # a vantage with no routes
    broken: list[dict[str, object]] = [
        {"error": "probe crashed: KeyError: 'host'"},
        {"error": "agent at public failed: [Errno 2] No such file or directory: 'ip'"},
        {"error": "agent at public exited 1: Cannot open network namespace"},
        {"answered": False, "connected": False, "blocked": None, "error": "[Errno 22] Invalid argument"},
        {"connected": False, "error": "timed out"},  # an agent that does not classify
        {},
    ]
    for raw in broken:
        verdicts = _exposure_verdicts([alive, ng, tcp], {**base, ng.id: raw, tcp.id: raw})
        assert set(verdicts.values()) == {"failed"}, raw
    opened = _exposure_verdicts([alive, tcp], {**base, tcp.id: {"connected": True}})
    assert set(opened.values()) == {"failed"}


def test_a_vantage_that_reached_nothing_fails_its_exposure_checks(probes: tuple[list[Probe], list[object]]) -> None:
    """A vantage whose packets go nowhere times out on everything; that is no evidence of closed ports."""
    found, _ = probes
    mine = [p for p in found if p.vantage == "public"]
    silence = {p.id: {"answered": False, "connected": False, "mapped": None, "blocked": "timeout",
                      "error": "timed out"} for p in mine}
    verdicts = _exposure_verdicts(mine, silence)
    assert verdicts and set(verdicts.values()) == {"failed"}
    assert all("proves nothing" in o.detail for o in judge(mine, silence) if o.group == "exposure")
    one_answer = next(p for p in mine if p.kind == "sip_options")
    verdicts = _exposure_verdicts(mine, {**silence, one_answer.id: ANSWERED})
    assert set(verdicts.values()) == {"passed"}


def test_origin_passes_only_on_a_403(probes: tuple[list[Probe], list[object]]) -> None:
    found, _ = probes
    origin = next(p for p in found if p.group == "websocket")
    wrong = [
        {"answered": False, "error": "websocket handshake refused: server did not agree to the sip subprotocol",
         "http_status": 101},
        {"answered": False, "error": "websocket handshake refused: HTTP 500 Internal Server Error",
         "http_status": 500},
        {"answered": False, "error": "websocket handshake refused: connection closed during the handshake"},
        {"answered": False, "error": "cannot reach wss:198.51.100.11:443: [Errno 111] Connection refused"},
        {"answered": True, "status": 200, "reason": "OK"},
        {"error": "probe crashed: ValueError"},
    ]
    for raw in wrong:
        assert judge([origin], {origin.id: raw})[0].status == "failed", raw
    ok = {"answered": False, "error": "websocket handshake refused: HTTP 403 Forbidden", "http_status": 403}
    assert judge([origin], {origin.id: ok})[0].status == "passed"


def _snap(at: float, caller: int, callee: int) -> FlowSnapshot:
    return FlowSnapshot(at, (LegFlow("caller", "RTP/AVP", "198.51.100.254", 6200, caller),
                             LegFlow("callee", "RTP/AVP", "198.51.100.253", 6100, callee)))


def test_call_media_needs_rtp_from_both_parties_at_the_pcap_rate() -> None:
    """What rtpengine reports for a signalling-only call, one-way forwarding or stopped media fails."""
    good = [_snap(1.0, 40, 38), _snap(2.5, 90, 88)]
    assert callmedia.judge_media(good, None)[0] == "passed"
    for snaps in ([_snap(1.0, 40, 0), _snap(2.5, 90, 0)],      # the callee's echo never came back
                  [_snap(1.0, 1, 1), _snap(2.5, 2, 2)],        # a trickle
                  [_snap(1.0, 90, 88), _snap(2.5, 90, 88)],    # frozen counts
                  [_snap(1.0, 40, 38)],                        # one snapshot
                  [FlowSnapshot(1.0, ()), FlowSnapshot(2.5, ())]):
        assert callmedia.judge_media(snaps, None)[0] == "failed", snaps
    assert callmedia.judge_media(good, "ng query failed: timed out") == ("failed", "ng query failed: timed out")


def test_call_media_sampling_reads_rtpengine_until_both_parties_send(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callmedia, "POLL", 0.0)
    monkeypatch.setattr(callmedia, "SETTLE", 0.0)
    monkeypatch.setattr(callmedia, "GAP", 0.0)
    unknown: dict[bytes, object] = {b"result": b"error", b"error-reason": b"Unknown call-id"}
    replies = iter([unknown, _reply(5, 0), _reply(5, 3), _reply(50, 48), _reply(100, 98)])
    snaps, error = callmedia.sample(lambda: next(replies))  # type: ignore[arg-type, return-value]
    assert error is None and [[f.packets for f in s.flows] for s in snaps] == [[50, 48], [100, 98]]
    snaps, error = callmedia.sample(lambda: unknown, find_timeout=0.0)  # type: ignore[arg-type, return-value]
    assert snaps == [] and error is not None and "Unknown call-id" in error


def _reply(caller: int, callee: int) -> dict[bytes, object]:
    def party(port: int, packets: int) -> dict[bytes, object]:
        return {b"medias": [{b"type": b"audio", b"protocol": b"RTP/AVP", b"streams": [
            {b"endpoint": {b"address": b"198.51.100.253", b"port": port}, b"flags": [b"RTP"],
             b"stats": {b"packets": packets}}]}]}
    return {b"result": b"ok", b"tags": {b"a": party(6200, caller), b"b": party(6100, callee)}}


def test_an_empty_allowed_turn_list_is_reported(probes: tuple[list[Probe], list[object]]) -> None:
    """When no media address may be relayed to, the 'granted' check must not simply vanish."""
    found, _ = probes
    perm = next(p for p in found if p.kind == "turn_permissions")
    raw = {"allocated": True, "peers": {peer: [403, "Forbidden IP"] for peer in perm.expect["denied"]}}
    for media, status in ((["10.77.0.12"], "failed"), ([], "skipped")):
        bare = Probe(perm.id, perm.vantage, perm.kind, perm.group, perm.name, perm.host, perm.params,
                     {**perm.expect, "allowed": [], "media": media})
        rows = {o.name: o for o in judge([bare], {perm.id: raw})}
        row = rows["TURN permission towards a media address is granted"]
        assert row.status == status and row.detail


def test_a_dead_vantage_fails_every_check_run_from_it(probes: tuple[list[Probe], list[object]]) -> None:
    """The agent cannot even start in a namespace that is gone: nothing from there may pass."""
    found, _ = probes
    mine = [p for p in found if p.vantage == "public"]
    results = run_agents([Vantage("public", "voipctl-no-such-ns")], mine)
    assert results and all("agent at public" in str(r.get("error")) for r in results.values())
    verdicts = judge(mine, results)
    assert verdicts and all(o.status == "failed" for o in verdicts)
