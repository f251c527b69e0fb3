"""The browser probe's pure parts: targets, credentials, argv lists, parsers and verdicts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.browserbed.network import ROLES, BedNames, bed_steps, nat_ruleset
from voipctl.lab.topology import lab_addresses
from voipctl.pki.ca import init_ca
from voipctl.pki.store import layout
from voipctl.plan.build import build_plan
from voipctl.plan.model import Plan
from voipctl.probe.ng import BValue
from voipctl.probe.sdp import summarize
from voipctl.resources import web_dir
from voipctl.sipp.argv import SCENARIOS
from voipctl.sipp.credentials import credentials_csv, write_credentials
from voipctl.site.load import load_site
from voipctl.verify.browser import argv, judge, media, phone
from voipctl.verify.browser.config import ProbeUnavailable, ice_servers, page_config, page_origin, site_targets
from voipctl.verify.browser.driver import driver_env
from voipctl.verify.browser.scenario import CallRecord
from voipctl.verify.browser.serve import make_server
from voipctl.verify.browser.trust import page_cert_plan, write_page_pki

REPO = Path(__file__).resolve().parents[3]
SECRET = "turn-secret-for-tests"
PASSWORD = "pw_for-tests.1"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return build_plan(load_site(REPO / "inventories" / "lab" / "site.yml"))


def test_targets_come_from_the_plan(plan: Plan) -> None:
    t = site_targets(plan)
    assert t.ws_url == "wss://sip1.lab.voipctl.test/"
    assert (t.page_origin, t.page_host, t.page_port) == ("https://web.lab.voipctl.test", "web.lab.voipctl.test", 443)
    assert t.page_url == "https://web.lab.voipctl.test/index.html"
    assert t.sip_udp == ("198.51.100.11", 5060)
    assert [(m.name, m.ng) for m in t.media] == [("media1", ("10.77.0.12", 2223))]
    assert t.kamailio_node == t.phone_node, "one sip node: browser and phone share it"
    assert (t.browser_user, t.phone_user) == ("alice", "bob")
    assert [(x.host, x.address, x.relay_min, x.relay_max) for x in t.turn] == [
        ("turn.lab.voipctl.test", "198.51.100.12", 40000, 49999)]
    assert t.site_names() == {"sip1.lab.voipctl.test": "198.51.100.11", "turn.lab.voipctl.test": "198.51.100.12"}


def test_targets_refuse_what_cannot_host_the_scenario(plan: Plan) -> None:
    with pytest.raises(ProbeUnavailable, match="two different subscribers"):
        site_targets(plan, "alice", "alice")
    with pytest.raises(ProbeUnavailable, match="two different subscribers"):
        site_targets(plan, "alice", "mallory")
    with pytest.raises(ProbeUnavailable, match="https"):
        page_origin(("http://web.example", "wss://x"))
    assert page_origin(("https://web.example:8443/",)) == ("https://web.example:8443", "web.example", 8443)


def test_ice_servers_are_the_plans_turn_uris_with_rest_credentials(plan: Plan) -> None:
    now = 1_700_000_000.0
    (turn,) = ice_servers(site_targets(plan), SECRET, now=now)
    assert turn["urls"] == list(plan.turn_uris) == [
        "turn:turn.lab.voipctl.test:3478?transport=udp", "turn:turn.lab.voipctl.test:3478?transport=tcp",
        "turns:turn.lab.voipctl.test:5349?transport=tcp"]
    username = str(turn["username"])
    assert username == f"{int(now) + 600}:alice"
    digest = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()
    (by_address,) = ice_servers(site_targets(plan), SECRET, by_address=True, now=now)
    assert by_address["urls"] == ["turn:198.51.100.12:3478?transport=udp", "turn:198.51.100.12:3478?transport=tcp",
                                  "turns:198.51.100.12:5349?transport=tcp"]


def test_cluster_browser_and_phone_register_through_different_sip_nodes() -> None:
    plan = build_plan(load_site(REPO / "inventories" / "cluster" / "site.yml"))
    t = site_targets(plan)
    assert (t.kamailio_node, t.phone_node) == ("sip1", "sip2")
    assert t.ws_url == "wss://sip1.cluster.voipctl.test/" and t.sip_udp == ("203.0.113.12", 5060)
    assert [(m.name, m.weight) for m in t.media] == [("media1", 2), ("media2", 1)]
    assert t.turn_uris == plan.turn_uris


def test_page_config_holds_what_the_page_needs(plan: Plan) -> None:
    cfg = page_config(site_targets(plan), PASSWORD, [])
    assert cfg["uri"] == "sip:alice@lab.voipctl.test"
    assert cfg["wsUrl"] == "wss://sip1.lab.voipctl.test/"
    assert cfg["password"] == PASSWORD
    assert cfg["bundlePolicy"] == "balanced", "debian12: no BUNDLE group reaches the browser"


def test_chromium_flags_verify_certificates_and_stay_quiet() -> None:
    args = argv.chromium_args({"web.x.test": "127.0.0.1", "sip1.x.test": "198.51.100.11"})
    for flag in ("--headless=new", "--no-sandbox", "--use-fake-device-for-media-stream",
                 "--use-fake-ui-for-media-stream", "--disable-background-networking"):
        assert flag in args
    assert not [a for a in args if "certificate" in a or "insecure" in a or "allow-running" in a]
    assert args[-1] == "--host-resolver-rules=MAP sip1.x.test 198.51.100.11, MAP web.x.test 127.0.0.1"


def test_nssdb_and_server_argvs() -> None:
    db = Path("/h/.pki/nssdb")
    assert argv.nssdb_create_argv(db) == ["certutil", "-N", "-d", "sql:/h/.pki/nssdb", "--empty-password"]
    assert argv.nssdb_add_ca_argv(db, Path("/r.pem"))[-4:] == ["-t", "C,,", "-i", "/r.pem"]
    serve = argv.serve_argv(Path("/d"), Path("/c"), Path("/k"), "127.0.0.1", 443, python="py")
    assert serve == ["py", "-m", "voipctl.verify.browser.serve", "--root", "/d", "--cert", "/c", "--key", "/k",
                     "--bind", "127.0.0.1", "--port", "443"]
    assert argv.driver_argv(Path("/w")) == ["node", "/w/driver.mjs"]
    assert "-p" in argv.relay_sockets_argv("198.51.100.12", 40000, 49999)


def test_driver_environment_has_no_debug_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "pw:api")
    env = driver_env(Path("/tmp/home"))
    assert "DEBUG" not in env
    assert env["HOME"] == "/tmp/home"


def _run(tmp: Path) -> phone.PhoneRun:
    return phone.PhoneRun(phone.CALL, 5092, 16100, phone.phone_keys("lab.test", callee="alice"),
                          tmp / "t.msg", tmp / "t.err", tmp / "t.log")


def test_sipp_password_goes_through_a_0600_file(tmp_path: Path) -> None:
    creds = write_credentials(tmp_path / "c.csv", [("bob", PASSWORD)])
    assert creds.stat().st_mode & 0o777 == 0o600
    assert creds.read_text() == f"SEQUENTIAL\nbob;[authentication username=bob password={PASSWORD}]\n"
    cmd = phone.sipp_argv(_run(tmp_path), "198.51.100.253", "bob", ("198.51.100.11", 5060), creds)
    assert PASSWORD not in " ".join(cmd)
    assert "-ap" not in cmd
    assert cmd[cmd.index("-inf") + 1] == str(creds)
    assert cmd[-1] == "198.51.100.11:5060"
    assert cmd[cmd.index("-key") + 1: cmd.index("-key") + 3] == ["domain", "lab.test"]
    assert cmd[cmd.index("-mi"):cmd.index("-mi") + 5] == ["-mi", "198.51.100.253", "-mp", "16100", "-rtp_echo"]
    with pytest.raises(Exception, match="injection file"):
        credentials_csv([("bob", "a;b")])


def test_scenario_files_exist_and_use_the_injected_credentials() -> None:
    for name in (phone.REGISTER, phone.ANSWER, phone.CALL):
        assert (SCENARIOS / name).is_file()
    for name in (phone.REGISTER, phone.CALL):
        text = (SCENARIOS / name).read_text()
        assert "[field1]" in text and "password=" not in text


TRACE = """----------------------------------------------- 2026-01-01 00:00:00.000001
UDP message received [300] bytes :

INVITE sip:bob@198.51.100.253:5090 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.11;branch=z9hG4bK1
Content-Type: application/sdp

v=0
o=- 1 2 IN IP4 198.51.100.12
s=-
c=IN IP4 198.51.100.12
t=0 0
m=audio 20000 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtcp:20001

----------------------------------------------- 2026-01-01 00:00:00.000002
UDP message sent (200 bytes):

SIP/2.0 200 OK
Content-Type: application/sdp

v=0
c=IN IP4 198.51.100.253
m=audio 16000 UDP/TLS/RTP/SAVPF 0
a=candidate:1 1 udp 1 198.51.100.253 16000 typ host

"""


def test_sdp_the_phone_received_is_read_from_the_sipp_trace() -> None:
    msgs = phone.received_messages(TRACE)
    assert len(msgs) == 1 and msgs[0].startswith("INVITE ")
    sdp = phone.received_sdp(TRACE, "INVITE ")
    assert sdp is not None
    assert (sdp.proto, sdp.address, sdp.port, sdp.candidates, sdp.ice) == ("RTP/AVP", "198.51.100.12", 20000, 0,
                                                                           False)
    assert phone.received_sdp(TRACE, "SIP/2.0 200") is None  # sent, not received


def _stream(address: str, port: int, packets: int, flags: list[bytes]) -> dict[bytes, BValue]:
    return {b"endpoint": {b"address": address.encode(), b"port": port}, b"flags": list[BValue](flags),
            b"stats": {b"packets": packets, b"bytes": packets * 172}}


def ng_reply(web_from: tuple[str, int], web_packets: int, plain_packets: int) -> dict[bytes, BValue]:
    """Shaped like rtpengine 10.5's `query` answer (recorded from a real call)."""
    web: dict[bytes, BValue] = {b"type": b"audio", b"protocol": b"UDP/TLS/RTP/SAVPF", b"streams": [
        _stream(*web_from, web_packets, [b"RTP", b"RTCP", b"ICE"]),
        _stream("198.51.100.12", 9, 0, [b"RTCP", b"fallback RTCP"])]}
    plain: dict[bytes, BValue] = {b"type": b"audio", b"protocol": b"RTP/AVP", b"streams": [
        _stream("198.51.100.253", 16000, plain_packets, [b"RTP"]),
        _stream("198.51.100.253", 16001, 0, [b"RTCP"])]}
    return {b"result": b"ok", b"tags": {b"webtag": {b"medias": [web]}, b"phonetag": {b"medias": [plain]}}}


def test_leg_flows_read_rtp_streams_per_party() -> None:
    flows = media.leg_flows(ng_reply(("198.51.100.254", 5555), 300, 299))
    assert [(f.tag, f.webrtc, f.address, f.port, f.packets) for f in flows] == [
        ("phonetag", False, "198.51.100.253", 16000, 299), ("webtag", True, "198.51.100.254", 5555, 300)]
    assert media.in_relay_range(flows[1], "198.51.100.254", 5000, 6000)
    assert not media.in_relay_range(flows[1], "198.51.100.12", 40000, 49999)
    assert media.leg_flows({b"result": b"ok"}) == []


def test_relay_sockets_are_counted_for_turnserver_only() -> None:
    out = ('UNCONN 0 0 198.51.100.12:40001 0.0.0.0:* users:(("turnserver",pid=9,fd=30))\n'
           'UNCONN 0 0 198.51.100.12:40002 0.0.0.0:* users:(("python3",pid=8,fd=3))\n')
    assert media.count_relay_sockets(out) == 1


def good_record(plan: Plan, relay: bool = False) -> CallRecord:
    web_from = ("198.51.100.12", 41000) if relay else ("198.51.100.254", 5555)
    rec = CallRecord("c", "outbound", "relay" if relay else "all", call_id="x", held=6.0, hangup="local: Terminated",
                     phone_rc=0, relay_sockets=1 if relay else 0)
    rec.stats = {"dtlsState": "connected", "srtpCipher": "SRTP_AEAD_AES_256_GCM", "packetsSent": 300,
                 "packetsReceived": 300, "local": {"type": "relay" if relay else "prflx"}, "bundlePolicy": "balanced"}
    rec.first = media.FlowSnapshot(4.0, tuple(media.leg_flows(ng_reply(web_from, 190, 190))))
    rec.flows = media.leg_flows(ng_reply(web_from, 290, 290))
    rec.flows_at = rec.stats_at = 6.0
    rec.phone_sdp = summarize(b"v=0\r\nc=IN IP4 198.51.100.12\r\nm=audio 20000 RTP/AVP 0\r\n")
    return rec


def _failed(rec: CallRecord, plan: Plan) -> set[str]:
    return {o.name.split(": ", 1)[1] for o in judge.judge_call(rec, site_targets(plan)) if not o.ok}


def test_a_call_with_media_both_ways_passes(plan: Plan) -> None:
    assert _failed(good_record(plan), plan) == set()
    assert _failed(good_record(plan, relay=True), plan) == set()


def test_verdicts_fail_without_positive_evidence(plan: Plan) -> None:
    rec = good_record(plan)
    rec.flows = media.leg_flows(ng_reply(("198.51.100.254", 5555), 300, 0))
    assert _failed(rec, plan) == {"rtpengine media both legs, both ways"}
    rec = good_record(plan)
    rec.stats["packetsReceived"] = 0
    assert _failed(rec, plan) == {"browser leg DTLS-SRTP", "rtpengine media both legs, both ways"}
    rec = good_record(plan)
    rec.held = 3.0
    assert _failed(rec, plan) == {"call"}
    rec = good_record(plan)
    rec.hangup = "remote: Terminated"
    assert _failed(rec, plan) == {"call"}
    rec = good_record(plan)
    rec.stats["dtlsState"] = "new"
    assert _failed(rec, plan) == {"browser leg DTLS-SRTP"}
    rec = good_record(plan)
    rec.stats["bundlePolicy"] = "max-bundle"  # not what the debian12 lab site's browser must use
    assert _failed(rec, plan) == {"browser leg DTLS-SRTP"}
    rec = good_record(plan)
    rec.phone_sdp = summarize(b"v=0\r\nm=audio 1 UDP/TLS/RTP/SAVPF 0\r\na=ice-ufrag:x\r\n"
                              b"a=candidate:1 1 udp 1 h 1 typ host\r\n")
    assert _failed(rec, plan) == {"plain leg SDP"}
    rec = good_record(plan)
    rec.ng_error = "rtpengine does not know the call"
    assert _failed(rec, plan) == {"rtpengine media both legs, both ways"}


def test_media_counts_must_match_the_time_held_and_rise(plan: Plan) -> None:
    """A trickle of packets, counts that stopped, or one direction only are what a broken media path
    gives: each fails the media check (20 ms ptime: at least 25 packets a second each way)."""
    name = "rtpengine media both legs, both ways"
    web_from = ("198.51.100.254", 5555)
    for first, second in (((1, 1), (2, 2)),        # one packet each way at the start, then almost nothing
                          ((290, 290), (290, 290)),  # plenty, but frozen: media stopped before the query
                          ((190, 0), (290, 0)),      # the phone never sent (rtpengine forwards one way)
                          ((0, 190), (0, 290)),      # the browser never sent
                          ((190, 190), (290, 140))):  # the plain leg lost half its packets
        rec = good_record(plan)
        rec.first = media.FlowSnapshot(4.0, tuple(media.leg_flows(ng_reply(web_from, *first))))
        rec.flows = media.leg_flows(ng_reply(web_from, *second))
        assert _failed(rec, plan) == {name}, (first, second)
    rec = good_record(plan)
    rec.stats["packetsReceived"] = 60  # rtpengine -> browser: 60 packets in 6 s
    assert _failed(rec, plan) == {name}
    rec = good_record(plan)
    rec.first = None
    assert _failed(rec, plan) == {name}
    assert media.min_packets(6.0) == 150 and media.min_packets(2.0) == 50 and media.min_packets(0.0) == 1


def test_relay_verdicts_need_relay_candidate_and_coturn_evidence(plan: Plan) -> None:
    rec = good_record(plan, relay=True)
    rec.stats["local"] = {"type": "srflx"}
    assert _failed(rec, plan) == {"browser used a relay candidate"}
    rec = good_record(plan, relay=True)
    rec.relay_sockets = 0
    assert _failed(rec, plan) == {"media relayed by coturn"}
    rec = good_record(plan, relay=True)
    rec.flows = media.leg_flows(ng_reply(("198.51.100.254", 5555), 300, 300))
    assert _failed(rec, plan) == {"media relayed by coturn"}


def test_bed_steps_stay_inside_the_beds_namespaces(plan: Plan) -> None:
    names = BedNames("vb-1")
    steps = bed_steps(names, plan, lab_addresses(plan))
    created = [s.argv[3] for s in steps if s.argv[:3] == ["ip", "netns", "add"]]
    assert created == [names.ns(r) for r in ROLES]
    for step in steps[len(created):]:
        assert step.argv[:2] == ["ip", "-n"] or step.argv[:3] == ["ip", "netns", "exec"], step.argv
        assert step.argv[2] in names.all or step.argv[3] in names.all
    assert "masquerade fully-random" in nat_ruleset("192.168.77.0/24")


def test_page_certificate_is_signed_by_the_site_ca_and_served(tmp_path: Path) -> None:
    lay = layout(tmp_path / "pki", "t")
    now = datetime.now(UTC)
    init_ca(lay, "t", "ecdsa-p256", None, now)
    out = tmp_path / "run"
    out.mkdir()
    pki = write_page_pki(lay, "t", page_cert_plan("web.t.test", "sip1"), out, now)
    assert pki.key.stat().st_mode & 0o777 == 0o600
    assert pki.root.read_bytes() == lay.root_cert.read_bytes()
    site = tmp_path / "dist"
    site.mkdir()
    (site / "index.html").write_text("<p>probe</p>")
    (site / "sub").mkdir()
    server = make_server(site, pki.chain, pki.key, "127.0.0.1", 0)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ctx = ssl.create_default_context(cafile=str(pki.root))
        ctx.check_hostname = False  # the name is web.t.test; loopback has no such name
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/index.html", context=ctx, timeout=5) as resp:
            assert resp.read() == b"<p>probe</p>"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"https://127.0.0.1:{port}/sub/", context=ctx, timeout=5)
        strict = ssl.create_default_context()  # the machine's roots do not know the site CA
        strict.check_hostname = False
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"https://127.0.0.1:{port}/index.html", context=strict, timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_the_probe_finds_the_page_and_driver_of_this_checkout() -> None:
    assert web_dir() == Path(__file__).resolve().parents[3] / "web" and (web_dir() / "driver.mjs").is_file()
