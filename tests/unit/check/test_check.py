"""`voipctl check`: argv builders, log/socket readers, probes' wire formats, and the real thing.

The daemon tests render a real site, start the real daemons through check_tree
(namespace prefix "vd") and show that a deliberately broken file of each kind
is caught, and that nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import REPO
from voipctl import pipeline
from voipctl.check import argv, scan
from voipctl.check import openfire as openfire_check
from voipctl.check.daemons import coturn_setting, node_addresses
from voipctl.check.orchestrator import CheckResult, Options, check_tree, required_tools
from voipctl.check.sandbox import mount_argvs
from voipctl.check.stage import staged_path, throwaway_cert
from voipctl.cli import main
from voipctl.errors import ToolError
from voipctl.plan.build import build_plan
from voipctl.plan.model import Binding, Plan
from voipctl.probe import ng, turn
from voipctl.probe.sdp import summarize
from voipctl.render.openfire_names import OPENFIRE_COMMIT, OPENFIRE_VERSION, unknown_openfire_xml
from voipctl.render.tree import RenderedTree
from voipctl.site.load import load_site

# RFC 5769 section 2.1 and 2.2: sample request and IPv4 response, short-term password below.
RFC5769_REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff"
    "80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249"
    "c1b571a280280004e57a3bcf"
)
RFC5769_RESPONSE = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96"
)
RFC5769_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"


# --- pure parts --------------------------------------------------------------------------------------------


def test_argv_builders() -> None:
    assert argv.kamailio_check_argv("/etc/kamailio/kamailio.cfg") == ["kamailio", "-c", "-f",
                                                                      "/etc/kamailio/kamailio.cfg"]
    assert argv.rtpengine_argv("/etc/rtpengine/rtpengine.conf") == [
        "rtpengine", "--foreground", "--log-stderr", "--no-log-timestamps", "--config-file",
        "/etc/rtpengine/rtpengine.conf"]
    assert argv.coturn_argv("/etc/turnserver.conf") == ["turnserver", "-c", "/etc/turnserver.conf", "--pidfile="]
    assert argv.listeners_argv() == ["ss", "-H", "-l", "-n", "-t", "-u"]
    assert argv.sandbox_argv("/tmp/s", ["turnserver", "-c", "x"], python="/py") == [
        "/py", "-m", "voipctl.check.sandbox", "--stage", "/tmp/s", "--overlay", "/etc", "--overlay", "/var",
        "--", "turnserver", "-c", "x"]


def test_sandbox_mounts() -> None:
    assert mount_argvs(Path("/tmp/s"), ["/etc", "/var"]) == [
        ["mount", "-t", "tmpfs", "-o", "mode=0700,size=64m", "voipctl-check", "/tmp/s/mnt"],
        ["mount", "-t", "overlay", "voipctl-check", "-o",
         "lowerdir=/etc,upperdir=/tmp/s/mnt/upper/etc,workdir=/tmp/s/mnt/work/etc", "/etc"],
        ["mount", "-t", "overlay", "voipctl-check", "-o",
         "lowerdir=/var,upperdir=/tmp/s/mnt/upper/var,workdir=/tmp/s/mnt/work/var", "/var"],
    ]
    for bad in ("/", "etc", "/e,tc", "/a:b"):
        with pytest.raises(ValueError, match="cannot overlay"):
            mount_argvs(Path("/tmp/s"), [bad])


def test_log_readers() -> None:
    coturn_log = ("0: : Listener address to use: 10.0.0.1\n0: : Bad configuration format: no-loopback-peers\n"
                  "0: : ERROR: \nCONFIG ERROR: Empty cli-password\n")
    assert scan.first_error(coturn_log, scan.COTURN_ERRORS) == "Bad configuration format: no-loopback-peers"
    assert scan.first_error("0: : ERROR: \nCONFIG ERROR: Empty cli-password\n", scan.COTURN_ERRORS[2:3]) == \
        "CONFIG ERROR: Empty cli-password"
    assert scan.first_error("socket: Protocol not supported\n0: : Relay ports initialization done\n",
                            scan.COTURN_ERRORS) is None
    rtp_log = "INFO: [core] Startup complete\nCRIT: [core] Fatal error: Failed to open UDP NG control connection\n"
    assert scan.first_error(rtp_log, scan.RTPENGINE_ERRORS) == \
        "CRIT: [core] Fatal error: Failed to open UDP NG control connection"
    assert scan.first_error("WARNING: [core] slow\n", scan.RTPENGINE_ERRORS) is None
    assert scan.last_lines("a\n\nb\nc\n") == "b | c"
    assert scan.last_lines("") == "no output"


def test_listener_comparison() -> None:
    ss = ("udp   UNCONN 0 0      127.0.0.1:2223      0.0.0.0:*\n"
          "tcp   LISTEN 0 5      127.0.0.1:9900      0.0.0.0:*\n"
          "udp   UNCONN 0 0   198.51.100.12:20004    0.0.0.0:*\n"
          "tcp   LISTEN 0 5          [::1]:5766         [::]:*\n"
          "tcp   LISTEN 0 5              *:8080            *:*\n")
    seen = scan.parse_listeners(ss)
    assert scan.Socket("tcp", "::1", 5766) in seen and scan.Socket("tcp", "*", 8080) in seen
    plan = [
        Binding("rtpengine", "rtpengine ng", "udp", "127.0.0.1", 2223, 2223, False, (), "local"),
        Binding("rtpengine", "rtpengine cli", "tcp", "127.0.0.1", 9900, 9900, False, (), "local"),
        Binding("rtpengine", "rtpengine RTP", "udp", "198.51.100.12", 20000, 31999, True, (), "anyone"),
        Binding("coturn", "coturn stun", "udp", "198.51.100.12", 3478, 3478, True, (), "anyone"),
    ]
    assert scan.compare_listeners(plan, "rtpengine", seen) == (
        "also listening on tcp:*:8080, tcp:[::1]:5766 (not in the plan)")
    fixed = {s for s in seen if s.port in (2223, 9900, 20004)}
    assert scan.compare_listeners(plan, "rtpengine", fixed) is None
    assert scan.compare_listeners(plan, "coturn", set()) == "not listening on udp:198.51.100.12:3478"


def test_rtpengine_key_reader() -> None:
    help_text = "  -i, --interface=[NAME/]IP[!IP]   Local\n  --listen-ng=PORT\n  --config-file=FILE\n"
    conf = "[rtpengine]\ninterface = 1.2.3.4\n# port-mn = 1\nlisten-ng = 2223\nport-mn = 3\nbroken line\n" \
           "[other]\nfoo = 1\n"
    assert scan.config_keys(conf) == ["interface", "listen-ng", "port-mn", "broken line"]
    assert scan.unknown_rtpengine_keys(conf, help_text) == ["port-mn", "broken line"]
    assert scan.unknown_rtpengine_keys("[rtpengine]\nconfig-file = x\n", help_text) == ["config-file"]


def test_small_parsers() -> None:
    assert coturn_setting("# c\nrealm=a.example\ncipher-list=\"X:Y\"\n", "cipher-list") == "X:Y"
    assert coturn_setting("realm=a\n", "static-auth-secret") is None
    def media(body: bytes) -> tuple[str | None, int | None]:
        summary = summarize(body)  # check's rtpengine offer is judged by the probes' SDP summary
        return summary.address, summary.port

    assert media(b"v=0\r\nc=IN IP4 203.0.113.20\r\nm=audio 20004 RTP/AVP 0\r\n") == ("203.0.113.20", 20004)
    assert media(b"v=0\r\n") == (None, None)
    assert media(b"m=audio x RTP/AVP 0\r\n") == (None, None)
    with pytest.raises(ValueError, match="not a clean absolute path"):
        staged_path(Path("/tmp/s"), "/etc/../root/.ssh/x")


def test_bencode_roundtrip_and_errors() -> None:
    msg: dict[str, ng.BInput] = {"command": "offer", "flags": ["trust-address", b"\x00raw"], "n": -12,
                                 "sdp": "v=0\r\n"}
    data = ng.bencode(msg)
    assert data.startswith(b"d7:command5:offer5:flagsl13:trust-address4:\x00rawe1:ni-12e3:sdp5:v=0\r\ne")
    assert ng.bdecode(data) == {b"command": b"offer", b"flags": [b"trust-address", b"\x00raw"], b"n": -12,
                                b"sdp": b"v=0\r\n"}
    for bad in (b"i-0e", b"i03e", b"ie", b"5:abc", b"d1:ae", b"li1e", b"i1ei2e", b"di1ei2ee", b"x"):
        with pytest.raises(ng.BencodeError):
            ng.bdecode(bad)
    with pytest.raises(ng.BencodeError, match="too deep"):
        ng.bdecode(b"l" * 100 + b"e" * 100)
    with pytest.raises(TypeError):
        ng.bencode({"ok": 1.5})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="booleans"):
        ng.bencode(True)


def test_ng_framing() -> None:
    assert ng.encode_request(b"c00kie", {"command": "ping"}) == b"c00kie d7:command4:pinge"
    assert ng.decode_reply(b"c00kie", b"c00kie d6:result4:ponge") == {b"result": b"pong"}
    with pytest.raises(ng.BencodeError, match="cookie"):
        ng.decode_reply(b"c00kie", b"other d6:result4:ponge")
    with pytest.raises(ValueError, match="cookie"):
        ng.encode_request(b"a b", {"command": "ping"})


def test_stun_against_rfc5769_vectors() -> None:
    req = turn.decode_message(RFC5769_REQUEST)
    assert req.method == turn.BINDING and not req.is_success
    assert req.attr(turn.USERNAME) == b"evtj:h6vY"
    assert turn.integrity_ok(RFC5769_REQUEST, RFC5769_PASSWORD)
    assert not turn.integrity_ok(RFC5769_REQUEST, b"wrong")
    resp = turn.decode_message(RFC5769_RESPONSE)
    assert resp.is_success and turn.integrity_ok(RFC5769_RESPONSE, RFC5769_PASSWORD)
    value = resp.attr(turn.XOR_MAPPED_ADDRESS)
    assert value is not None and turn.xor_address(value, resp.txid) == ("192.0.2.1", 32853)
    corrupt = RFC5769_RESPONSE[:-1] + bytes([RFC5769_RESPONSE[-1] ^ 1])
    with pytest.raises(turn.StunError, match="FINGERPRINT"):
        turn.decode_message(corrupt)
    with pytest.raises(turn.StunError):
        turn.decode_message(RFC5769_RESPONSE[:-4])


def test_stun_encoding_with_integrity() -> None:
    txid = bytes(range(12))
    key = turn.long_term_key("user", "realm", "pass")
    data = turn.encode_message(turn.ALLOCATE, txid, [(turn.USERNAME, b"user"), (turn.REALM, b"realm")], key=key)
    msg = turn.decode_message(data)
    assert [t for t, _ in msg.attrs] == [turn.USERNAME, turn.REALM, turn.MESSAGE_INTEGRITY, turn.FINGERPRINT]
    assert msg.attr(turn.REALM) == b"realm" and len(data) % 4 == 0
    assert turn.integrity_ok(data, key) and not turn.integrity_ok(data, turn.long_term_key("user", "realm", "x"))


def test_rest_credentials() -> None:
    user, password = turn.rest_credentials("secret", "alice", ttl=600, now=1_700_000_000)
    assert user == "1700000600:alice"
    assert password == "5PrY1fcLQr5jls8N4ZU7fEnmVNE="  # openssl dgst -sha1 -hmac secret -binary | base64


def test_openfire_static_check_catches_broken_xml() -> None:
    plan = build_plan(load_site(REPO / "inventories/lab/site.yml"))
    of = plan.node("xmpp1").openfire
    assert of is not None
    good = b"<jive><autosetup><run>true</run></autosetup></jive>"
    assert openfire_check.problems(b"<jive><oops></jive>", of)[0].startswith("not well-formed XML: mismatched tag")
    assert openfire_check.problems(b"<root/>", of) == ["root element is <root>, Openfire expects <jive>"]
    found = openfire_check.problems(good, of)
    assert "autosetup.xmpp.domain is missing" in found and "autosetup.run is missing" not in found
    twice = b"<jive><register><inband>true</inband></register><register><inband>false</inband></register></jive>"
    assert "register.inband appears 2 times" in openfire_check.problems(twice, of)
    wrong = b"<jive><xmpp><client><tls><policy>optional</policy></tls></client></xmpp></jive>"
    assert "xmpp.client.tls.policy is 'optional', the plan says 'required'" in openfire_check.problems(wrong, of)


def test_openfire_names_are_those_openfire_reads() -> None:
    """The names the issue found wrong are refused; the ones Openfire's source reads pass."""
    plan = build_plan(load_site(REPO / "inventories/lab/site.yml"))
    of = plan.node("xmpp1").openfire
    assert of is not None
    old = (b"<jive><xmpp><socket><ssl><keystore>k</keystore><storeType>PKCS12</storeType>"
           b"<protocols><enabled>TLSv1.2</enabled></protocols></ssl></socket></xmpp></jive>")
    found = openfire_check.problems(old, of)
    for name in ("xmpp.socket.ssl.keystore", "xmpp.socket.ssl.storeType", "xmpp.socket.ssl.protocols.enabled"):
        assert f"{name} is not a property Openfire reads" in found, found
    assert "xmpp.socket.ssl.client.keystore is missing" in found
    assert unknown_openfire_xml(["xmpp.socket.ssl.client.keypass", "autosetup.users.user2.email",
                                 "xmpp.socket.ssl.client.keypas", "autosetup.users.user0.email"]) == [
        "xmpp.socket.ssl.client.keypas", "autosetup.users.user0.email"]
    assert OPENFIRE_VERSION == "5.1.1" and len(OPENFIRE_COMMIT) == 40


def test_openfire_security_xml_must_list_the_passwords() -> None:
    listed = b"<security><encrypt><property><name>%s</name></property></encrypt></security>"
    assert openfire_check.security_problems(b"<security><encrypt><algorithm>AES</algorithm></encrypt></security>") == [
        "xmpp.socket.ssl.client.keypass is not listed for encryption (it would stay readable)",
        "database.defaultProvider.password is not listed for encryption (it would stay readable)"]
    assert "database.defaultProvider.password is not listed" in openfire_check.security_problems(
        listed % b"xmpp.socket.ssl.client.keypass")[0]
    # Any other element would be migrated into the database as a property, not read as configuration.
    assert "foo.bar is not a property Openfire reads" in openfire_check.security_problems(
        b"<security><foo><bar>x</bar></foo></security>")
    assert openfire_check.security_problems(b"<jive/>") == ["root element is <jive>, Openfire expects <security>"]


def test_throwaway_cert_names_and_paths() -> None:
    plan = build_plan(load_site(REPO / "inventories/lab/site.yml"))
    tc = plan.node("media1").coturn
    assert tc is not None
    files = throwaway_cert(tc.tls.cert)
    assert sorted(f.path for f in files) == sorted({tc.tls.cert.key_path, tc.tls.cert.cert_path,
                                                    tc.tls.cert.chain_path, tc.tls.cert.ca_path})
    key = next(f for f in files if f.path == tc.tls.cert.key_path)
    assert key.mode == 0o600 and key.content.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_node_addresses_and_required_tools() -> None:
    plan = build_plan(load_site(REPO / "inventories/split/site.yml"))
    assert node_addresses(plan.node("turn-a")) == ["172.20.1.30", "203.0.113.30", "127.0.0.1"]
    assert set(required_tools(plan)) == {"ip", "ss", "mount", "nft", "kamailio", "rtpengine", "turnserver"}


def test_details_never_show_secrets() -> None:
    opts = Options(redact=("s3", "s3cret-value"))
    assert opts.scrub("near 's3cret-value' and s3") == "near '<redacted>' and <redacted>"
    assert "s3cret" not in repr(opts)


def test_check_refuses_to_run_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = build_plan(load_site(REPO / "inventories/lab/site.yml"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ToolError, match="needs root"):
        check_tree(plan, RenderedTree(plan.site, plan.model_hash, ()))


# --- the real daemons ----------------------------------------------------------------------------------------

FAST = Options(settle=1.2, prefix="vd")


def need_daemons() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    for tool in ("kamailio", "rtpengine", "turnserver", "ip", "ss"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


@pytest.fixture
def lab(tmp_path: Path) -> tuple[Path, Plan, RenderedTree]:
    need_daemons()
    shutil.copytree(REPO / "inventories/lab", tmp_path / "lab")
    site_file = tmp_path / "lab" / "site.yml"
    site, plan = pipeline.load_and_plan(site_file)
    return site_file, plan, pipeline.render(site, plan, None)


def corrupt(tree: RenderedTree, path: str, change: Callable[[bytes], bytes]) -> RenderedTree:
    assert any(f.path == path for f in tree.files), path
    files = tuple(replace(f, content=change(f.content)) if f.path == path else f for f in tree.files)
    return RenderedTree(tree.site, tree.model_hash, files)


def by_daemon(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.daemon: r for r in results}


def leftovers(tmp: Path) -> tuple[set[str], set[str], set[str], int]:
    """This process's namespaces, their /etc/netns dirs, stage dirs under `tmp`, and host-visible mounts."""
    mine = f"vd-{os.getpid()}-"
    spaces = {ln.split()[0] for ln in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                                     check=True).stdout.splitlines() if ln.startswith(mine)}
    etc = {p.name for p in Path("/etc/netns").glob(mine + "*")} if Path("/etc/netns").exists() else set()
    stages = {p.name for p in tmp.iterdir()}
    mounts = Path("/proc/self/mountinfo").read_text().count("voipctl-check")
    return spaces, etc, stages, mounts


@pytest.mark.daemon
def test_a_rendered_site_passes_and_leaves_nothing(lab: tuple[Path, Plan, RenderedTree], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _, plan, tree = lab
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # stage dirs land here, apart from other runs
    before = leftovers(tmp)
    assert before == (set(), set(), set(), 0)
    results = check_tree(plan, tree, FAST)
    assert [(r.node, r.daemon, r.ok) for r in results] == [
        ("sip1", "kamailio", True), ("sip1", "firewall", True), ("media1", "rtpengine", True),
        ("media1", "coturn", True), ("media1", "firewall", True), ("xmpp1", "openfire", True),
        ("xmpp1", "firewall", True)], results
    coturn = by_daemon(results)["coturn"]
    assert "used a throwaway certificate" in coturn.detail and "TLS serves turn.lab.voipctl.test" in coturn.detail
    assert leftovers(tmp) == before
    assert not subprocess.run(["pgrep", "-f", "voipctl.check.sandbox"], capture_output=True, check=False).stdout


@pytest.mark.daemon
@pytest.mark.parametrize("case,path,change,daemon,expect", [
    ("rtpengine malformed line", "/etc/rtpengine/rtpengine.conf", lambda c: c + b"port-min = lots\n",
     "rtpengine", "exited with code 255 within 1.2 s"),
    ("rtpengine unknown key", "/etc/rtpengine/rtpengine.conf", lambda c: c + b"port-mn = 3\n",
     "rtpengine", "keys rtpengine does not know: port-mn"),
    ("rtpengine interface not on the node", "/etc/rtpengine/rtpengine.conf",
     lambda c: c.replace(b"interface = 198.51.100.12", b"interface = 192.0.2.99"), "rtpengine", "ng offer failed"),
    ("rtpengine ng moved", "/etc/rtpengine/rtpengine.conf",
     lambda c: c.replace(b"listen-ng = 10.77.0.12:2223", b"listen-ng = 10.77.0.12:2224"), "rtpengine",
     "no ng answer on udp:10.77.0.12:2223"),
    ("coturn bad line", "/etc/turnserver.conf", lambda c: c + b"no-loopback-peers\n",
     "coturn", "Bad configuration format: no-loopback-peers"),
    ("coturn CIDR peer", "/etc/turnserver.conf", lambda c: c + b"denied-peer-ip=10.0.0.0/8\n",
     "coturn", "Wrong address format: 10.0.0.0/8"),
    ("coturn cli left on", "/etc/turnserver.conf", lambda c: c.replace(b"\nno-cli\n", b"\n"),
     "coturn", "CONFIG ERROR: Empty cli-password"),
    ("coturn extra listener", "/etc/turnserver.conf", lambda c: c + b"listening-ip=127.0.0.1\n",
     "coturn", "also listening on tcp:127.0.0.1:3478, tcp:127.0.0.1:5349, udp:127.0.0.1:3478, udp:127.0.0.1:5349"),
    ("kamailio unknown function", "/etc/kamailio/kamailio.cfg", lambda c: c + b"\nroute[X] { no_such_fn(); }\n",
     "kamailio", "kamailio -c exited 255"),
    ("openfire truncated", "/etc/openfire/openfire.xml", lambda c: c[:-8], "openfire", "not well-formed XML"),
])
def test_a_broken_file_fails_its_daemon(lab: tuple[Path, Plan, RenderedTree], case: str, path: str,
                                        change: Callable[[bytes], bytes], daemon: str, expect: str) -> None:
    _, plan, tree = lab
    results = by_daemon(check_tree(plan, corrupt(tree, path, change), FAST))
    assert not results[daemon].ok and expect in results[daemon].detail, (case, results[daemon])
    assert all(r.ok for d, r in results.items() if d != daemon), results


@pytest.mark.daemon
def test_cli_check(lab: tuple[Path, Plan, RenderedTree], capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    site_file, _, _ = lab
    argv_ok = ["check", str(site_file), "--settle", "1", "--netns-prefix", "vd", "--pki-dir", str(site_file.parent)]
    assert main(argv_ok) == 0
    out = capsys.readouterr().out.splitlines()
    assert [ln.split()[:3] for ln in out] == [["ok", "sip1", "kamailio"], ["ok", "sip1", "firewall"],
                                              ["ok", "media1", "rtpengine"], ["ok", "media1", "coturn"],
                                              ["ok", "media1", "firewall"], ["ok", "xmpp1", "openfire"],
                                              ["ok", "xmpp1", "firewall"]]

    real_render = pipeline.render

    def broken_render(*args: object, **kwargs: object) -> RenderedTree:
        tree = real_render(*args, **kwargs)  # type: ignore[arg-type]
        return corrupt(tree, "/etc/turnserver.conf", lambda c: c + b"no-such-option\n")

    monkeypatch.setattr(pipeline, "render", broken_render)
    assert main(argv_ok) == 1
    captured = capsys.readouterr()
    assert "FAILED media1       coturn     Bad configuration format: no-such-option" in captured.out
    assert captured.err == "1 of 7 checks failed: media1 coturn\n"
    assert main(["check", str(site_file), "--netns-prefix", "a b"]) == 2


def test_cli_check_help() -> None:
    res = subprocess.run([sys.executable, "-m", "voipctl", "check", "--help"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0 and "--pki-dir" in res.stdout and "--settle" in res.stdout
