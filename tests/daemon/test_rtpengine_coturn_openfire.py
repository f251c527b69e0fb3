"""rtpengine, coturn and Openfire configs: rendered content, and the daemons accepting it.

Renderer tests read the rendered text; daemon tests start the real rtpengine
and coturn on the rendered files inside a throwaway namespace (prefix "vd") and
talk to them with voipctl's own ng and STUN/TURN clients.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO
from voipctl.check import argv
from voipctl.check import openfire as openfire_check
from voipctl.check.daemons import node_addresses, staged
from voipctl.check.netns_socket import socket_in_netns
from voipctl.check.scan import parse_listeners, unknown_rtpengine_keys
from voipctl.check.stage import throwaway_cert
from voipctl.errors import RenderError
from voipctl.netns import Netns
from voipctl.plan.build import build_plan
from voipctl.plan.model import NodePlan, Plan
from voipctl.probe import ng, turn
from voipctl.render.coturn import peer_range, render_coturn
from voipctl.render.engine import provenance
from voipctl.render.openfire import jdbc_driver, render_openfire, xml_comment
from voipctl.render.rtpengine import render_rtpengine
from voipctl.render.tree import Handover, PlannedFile
from voipctl.secrets import Secrets
from voipctl.site.addresses import socket_family
from voipctl.site.load import load_site
from voipctl.verify.probes.turn_permission import check_permissions

SECRETS = Secrets({
    "turn_secret": "turn-Secret_0123456789",
    "openfire_admin_password": "adm<in>&\"pw'",
    "openfire_keystore_password": "keystore-pw",
    "openfire_db_password": "db&pw",
    "openfire_property_key": "prop-key",
})
ALL_IN_ONE = """\
site: t
domain: t.example.net
nodes:
  - name: all1
    roles: [sip, media, turn, xmpp]
    private: 10.77.0.21
    public: 198.51.100.21
"""


def plan_of(site_file: str) -> Plan:
    return build_plan(load_site(REPO / site_file))


def plan_from(tmp_path: Path, extra: str = "") -> Plan:
    path = tmp_path / "site.yml"
    path.write_text(ALL_IN_ONE + extra)
    return build_plan(load_site(path))


def text(files: Sequence[PlannedFile], path: str) -> str:
    return next(f.content.decode() for f in files if f.path == path)


def lines(conf: str) -> list[str]:
    return [ln for ln in conf.splitlines() if ln and not ln.startswith("#")]


def need(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


# --- rtpengine -------------------------------------------------------------------------------------------


def test_rtpengine_conf_from_the_plan() -> None:
    plan = plan_of("inventories/lab/site.yml")
    node = plan.node("media1")
    files = render_rtpengine(plan, node)
    assert [(f.path, f.owner, f.group, f.mode, f.service) for f in files] == [
        ("/etc/rtpengine/rtpengine.conf", "root", "root", 0o644, "rtpengine"),
        ("/etc/default/rtpengine-daemon", "root", "root", 0o644, "rtpengine"),
    ]
    conf = text(files, "/etc/rtpengine/rtpengine.conf")
    assert conf.splitlines()[0] == provenance("#", "lab", plan.model_hash)
    assert lines(conf) == [
        "[rtpengine]", "table = -1", "interface = 198.51.100.12", "listen-ng = 10.77.0.12:2223",
        "listen-cli = 127.0.0.1:9900", "port-min = 20000", "port-max = 31999", "timeout = 60",
        "silent-timeout = 3600", "final-timeout = 10800", "num-threads = 2", "log-level = 5", "tos = 184",
    ]
    defaults = text(files, "/etc/default/rtpengine-daemon")
    assert "CONFIG_FILE=/etc/rtpengine/rtpengine.conf\n" in defaults
    assert "MANAGE_IPTABLES=no\n" in defaults


def test_rtpengine_behind_nat_advertises_the_mapping_and_keeps_ng_private() -> None:
    plan = plan_of("inventories/split/site.yml")
    node = plan.node("media-a")
    conf = text(render_rtpengine(plan, node), "/etc/rtpengine/rtpengine.conf")
    assert "interface = 172.20.1.20!203.0.113.20\n" in conf
    assert "listen-ng = 172.20.1.20:2223\n" in conf
    assert "num-threads = 8\n" in conf and "port-min = 16384\n" in conf


@pytest.mark.parametrize("site_file", ["inventories/lab/site.yml", "inventories/split/site.yml"])
def test_ng_is_never_on_a_wildcard_or_client_facing_address(site_file: str) -> None:
    plan = plan_of(site_file)
    for node in plan.nodes:
        if node.rtpengine is None:
            continue
        conf = text(render_rtpengine(plan, node), "/etc/rtpengine/rtpengine.conf")
        (ng_line,) = re.findall(r"^listen-ng = (.+):(\d+)$", conf, re.M)
        assert ng_line[0] not in ("0.0.0.0", "[::]", node.public, node.nat)
        assert re.search(r"^listen-cli = 127\.0\.0\.1:\d+$", conf, re.M)


def test_rtpengine_with_the_kernel_module(tmp_path: Path) -> None:
    plan = plan_from(tmp_path, "rtpengine: {kernel: true, threads: 3, log_level: 6}\n")
    files = render_rtpengine(plan, plan.node("all1"))
    conf = text(files, "/etc/rtpengine/rtpengine.conf")
    assert lines(conf)[1:3] == ["table = 0", "no-fallback = false"]
    assert "num-threads = 3\n" in conf and "log-level = 6\n" in conf
    assert "listen-ng = 127.0.0.1:2223\n" in conf  # kamailio on the same node: loopback only
    assert "MANAGE_IPTABLES=yes\n" in text(files, "/etc/default/rtpengine-daemon")


def test_every_rtpengine_key_is_one_rtpengine_knows() -> None:
    need("rtpengine")
    help_text = subprocess.run(argv.rtpengine_help_argv(), capture_output=True, text=True, check=False).stdout
    plan = plan_of("inventories/split/site.yml")
    conf = text(render_rtpengine(plan, plan.node("media-a")), "/etc/rtpengine/rtpengine.conf")
    assert unknown_rtpengine_keys(conf, help_text) == []
    assert unknown_rtpengine_keys(conf + "port-mn = 3\n", help_text) == ["port-mn"]


# --- coturn ----------------------------------------------------------------------------------------------


def test_peer_ranges_in_the_syntax_coturn_4_6_1_accepts() -> None:
    assert peer_range("10.0.0.0/8") == "10.0.0.0-10.255.255.255"
    assert peer_range("100.64.0.0/10") == "100.64.0.0-100.127.255.255"
    assert peer_range("::1/128") == "::1"
    assert peer_range("fc00::/7") == "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    with pytest.raises(ValueError, match="has host bits set"):
        peer_range("10.0.0.1/8")


def test_turnserver_conf_from_the_plan() -> None:
    plan = plan_of("inventories/lab/site.yml")
    node = plan.node("media1")
    files = render_coturn(plan, node, SECRETS)
    assert [(f.path, f.owner, f.group, f.mode, f.service) for f in files] == [
        ("/etc/turnserver.conf", "root", "turnserver", 0o640, "coturn"),
        ("/etc/default/coturn", "root", "root", 0o644, "coturn"),
    ]
    conf = lines(text(files, "/etc/turnserver.conf"))
    for want in (
        "listening-ip=198.51.100.12", "relay-ip=198.51.100.12", "listening-port=3478", "tls-listening-port=5349",
        "min-port=40000", "max-port=49999", "use-auth-secret", "static-auth-secret=turn-Secret_0123456789",
        "realm=lab.voipctl.test", "server-name=turn.lab.voipctl.test", "fingerprint", "stale-nonce=600",
        "user-quota=12", "total-quota=1200", "cert=/etc/coturn/tls/fullchain.pem", "pkey=/etc/coturn/tls/privkey.pem",
        "no-tlsv1", "no-tlsv1_1", "no-cli", "no-tcp-relay", "no-multicast-peers", "no-software-attribute",
        "allowed-peer-ip=198.51.100.12",
    ):
        assert want in conf
    assert node.coturn is not None
    assert f'cipher-list="{node.coturn.tls.ciphers}"' in conf
    denied = [ln.split("=", 1)[1] for ln in conf if ln.startswith("denied-peer-ip=")]
    assert denied == ["0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
    assert [ln for ln in conf if ln.startswith("allowed-peer-ip=")] == ["allowed-peer-ip=198.51.100.12"]
    assert not any(ln.startswith(("CA-file", "no-loopback-peers", "allow-loopback-peers", "external-ip"))
                   for ln in conf)
    assert "TURNSERVER_ENABLED=1\n" in text(files, "/etc/default/coturn")


def test_turnserver_behind_nat_maps_the_external_address() -> None:
    plan = plan_of("inventories/split/site.yml")
    conf = lines(text(render_coturn(plan, plan.node("turn-a"), SECRETS), "/etc/turnserver.conf"))
    assert "external-ip=203.0.113.30" in conf, "no /private part: coturn would whitelist 172.20.1.30 as a peer"
    assert "listening-ip=172.20.1.30" in conf and "relay-ip=172.20.1.30" in conf
    assert "server-name=turn.voice.example.com" in conf and "realm=voice.example.com" in conf


def test_turn_secret_that_would_break_the_config_line_is_refused() -> None:
    plan = plan_of("inventories/lab/site.yml")
    with pytest.raises(RenderError, match="turn_secret"):
        render_coturn(plan, plan.node("media1"), Secrets({"turn_secret": "a\nno-auth"}))


# --- Openfire --------------------------------------------------------------------------------------------


def openfire_xml(plan: Plan, name: str) -> tuple[NodePlan, PlannedFile]:
    node = plan.node(name)
    f, security = render_openfire(plan, node, SECRETS)
    assert security.path == "/etc/openfire/security.xml" and security.handover == f.handover
    assert openfire_check.security_problems(security.content) == []
    return node, f


def prop(content: bytes, dotted: str) -> str | None:
    found = ET.fromstring(content).findall("./" + "/".join(dotted.split(".")))  # noqa: S314 - our own output
    assert len(found) <= 1, dotted
    return (found[0].text or "") if found else None


def test_openfire_xml_embedded_database() -> None:
    plan = plan_of("inventories/lab/site.yml")
    node, f = openfire_xml(plan, "xmpp1")
    assert (f.path, f.owner, f.group, f.mode, f.service) == ("/etc/openfire/openfire.xml", "openfire", "openfire",
                                                             0o600, "openfire")
    assert f.handover == Handover("/etc/openfire/openfire.xml", "<setup>true</setup>")
    first = f.content.decode().splitlines()[0]
    assert first == f"<!-- {provenance('', 'lab', plan.model_hash).strip()} -->"
    assert node.openfire is not None
    assert openfire_check.problems(f.content, node.openfire) == []
    assert prop(f.content, "autosetup.database.mode") == "embedded"
    assert prop(f.content, "connectionProvider.className") == "org.jivesoftware.database.EmbeddedConnectionProvider"
    assert prop(f.content, "adminConsole.interface") == "10.77.0.13"
    assert prop(f.content, "network.interface") == "198.51.100.13"
    assert prop(f.content, "autosetup.admin.password") == "adm<in>&\"pw'"  # escaped in the file, intact when parsed
    assert b"adm&lt;in&gt;&amp;&quot;pw&apos;" in f.content
    # Clients (and the admin console, which falls back to them) read the xmpp.socket.ssl.client.* names.
    assert prop(f.content, "xmpp.socket.ssl.client.keypass") == "keystore-pw"
    assert prop(f.content, "xmpp.socket.ssl.client.keystore") == "/etc/openfire/security/keystore.p12"
    assert prop(f.content, "xmpp.socket.ssl.client.identityStoreType") == "PKCS12"
    assert prop(f.content, "xmpp.socket.ssl.client.protocols") == "TLSv1.2,TLSv1.3"
    assert prop(f.content, "xmpp.socket.ssl.keypass") is None and prop(f.content, "xmpp.socket.ssl.keystore") is None
    for legacy in ("xmpp.server.socket.ssl.active", "xmpp.component.ssl.active", "xmpp.multiplex.ssl.active"):
        assert prop(f.content, legacy) == "false", legacy
    assert prop(f.content, "autosetup.encryption.key") == "prop-key"
    assert prop(f.content, "autosetup.users") is None and prop(f.content, "admin.authorizedUsernames") is None
    assert prop(f.content, "xmpp.server.dialback.enabled") is None


def test_openfire_xml_external_database() -> None:
    plan = plan_of("inventories/split/site.yml")
    node, f = openfire_xml(plan, "xmpp-a")
    assert node.openfire is not None
    assert openfire_check.problems(f.content, node.openfire) == []
    assert prop(f.content, "autosetup.database.mode") == "standard"
    assert prop(f.content, "autosetup.database.defaultProvider.driver") == "org.postgresql.Driver"
    assert prop(f.content, "autosetup.database.defaultProvider.password") == "db&pw"
    assert prop(f.content, "connectionProvider.className") is None
    assert prop(f.content, "autosetup.xmpp.domain") == "chat.voice.example.com"


def test_openfire_other_admin_and_s2s(tmp_path: Path) -> None:
    plan = plan_from(tmp_path, "openfire: {admin_user: boss, s2s: true}\n")
    node, f = openfire_xml(plan, "all1")
    assert node.openfire is not None
    assert openfire_check.problems(f.content, node.openfire) == []
    assert prop(f.content, "admin.authorizedUsernames") == "boss"
    assert prop(f.content, "autosetup.users.user1.username") == "boss"
    assert prop(f.content, "xmpp.server.socket.active") == "true"
    assert prop(f.content, "xmpp.server.tls.policy") == "required"


def test_openfire_helpers() -> None:
    assert jdbc_driver("jdbc:mysql://db/x") == "com.mysql.cj.jdbc.Driver"
    with pytest.raises(RenderError, match="no JDBC driver"):
        jdbc_driver("jdbc:oracle://db/x")
    assert xml_comment("site a--b") == "<!-- site a- -b -->"


# --- daemons on rendered configs ---------------------------------------------------------------------------


@contextmanager
def running(node: NodePlan, files: Sequence[PlannedFile], cmd: list[str],
            ready: Callable[[Netns], bool]) -> Iterator[Netns]:
    """The daemon on the rendered files, in a namespace with the node's addresses, until the block ends."""
    with staged(files) as stage, Netns(node_addresses(node), prefix="vd") as ns:
        proc = ns.popen(argv.sandbox_argv(str(stage), cmd), log=stage / "daemon.log")
        deadline = time.monotonic() + 10
        while not ready(ns):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{cmd[0]} did not come up: {(stage / 'daemon.log').read_text()[-2000:]}")
            time.sleep(0.05)
        yield ns
        ns.stop(proc)


def listening(proto: str, address: str, port: int) -> Callable[[Netns], bool]:
    def check(ns: Netns) -> bool:
        seen = parse_listeners(ns.run(argv.listeners_argv()).stdout)
        return any(s.proto == proto and s.address == address and s.port == port for s in seen)
    return check


@pytest.mark.daemon
@pytest.mark.parametrize("site_file,name", [("inventories/lab/site.yml", "media1"),
                                            ("inventories/split/site.yml", "media-a")])
def test_rtpengine_on_its_rendered_config_answers_ng_ping(site_file: str, name: str) -> None:
    need("rtpengine", "ip", "ss")
    plan = plan_of(site_file)
    node = plan.node(name)
    rtp = node.rtpengine
    assert rtp is not None
    files = render_rtpengine(plan, node)
    with running(node, files, argv.rtpengine_argv(rtp.conf_path), listening("udp", rtp.ng_address, rtp.ng_port)) as ns:
        with socket_in_netns(ns.name) as sock:
            assert ng.ping(sock, (rtp.ng_address, rtp.ng_port)) is True
            reply = ng.ng_request(sock, (rtp.ng_address, rtp.ng_port), {"command": "list"})
            assert reply[b"result"] == b"ok"
        with socket_in_netns(ns.name) as sock, pytest.raises(TimeoutError):
            ng.ping(sock, (rtp.ng_address, rtp.ng_port + 1), timeout=0.5)  # nothing there: the probe can fail


@pytest.mark.daemon
@pytest.mark.parametrize("site_file,name,relayed", [("inventories/lab/site.yml", "media1", "198.51.100.12"),
                                                    ("inventories/split/site.yml", "turn-a", "203.0.113.30")])
def test_coturn_on_its_rendered_config_serves_stun_and_rest_turn(site_file: str, name: str, relayed: str) -> None:
    need("turnserver", "ip", "ss")
    plan = plan_of(site_file)
    node = plan.node(name)
    tc = node.coturn
    assert tc is not None
    files = render_coturn(plan, node, SECRETS) + throwaway_cert(tc.tls.cert)
    server = (tc.listen_address, tc.port)
    with running(node, files, argv.coturn_argv(tc.conf_path), listening("udp", tc.listen_address, tc.port)) as ns:
        with socket_in_netns(ns.name) as sock:
            sock.bind(("127.0.0.1", 0))  # not the listen address: coturn maps that one to external-ip
            assert turn.stun_binding(sock, server) == sock.getsockname()

        user, password = turn.rest_credentials(SECRETS["turn_secret"], "alice", ttl=600)
        assert re.fullmatch(r"\d{10}:alice", user)
        with socket_in_netns(ns.name) as sock:
            good = turn.turn_allocate(sock, server, user, password)
        assert good.ok and good.realm == tc.realm and good.relayed is not None
        assert good.relayed[0] == relayed and tc.relay_min <= good.relayed[1] <= tc.relay_max

        for secret, ttl in (("not-the-site-secret", 600), (SECRETS["turn_secret"], -60)):
            with socket_in_netns(ns.name) as sock:
                bad = turn.turn_allocate(sock, server, *turn.rest_credentials(secret, "alice", ttl=ttl))
            assert not bad.ok and bad.error is not None and bad.error[0] == 401


@pytest.mark.daemon
def test_coturn_refuses_loopback_peers_by_default() -> None:
    """4.6 dropped no-loopback-peers: loopback is denied unless allow-loopback-peers, which we never render.
    Proven on the running daemon: a permission towards loopback gets 403, one towards the media address
    (the control) is granted on the same allocation."""
    need("turnserver", "ip", "ss")
    plan = plan_of("inventories/lab/site.yml")
    node = plan.node("media1")
    tc = node.coturn
    assert tc is not None
    conf = text(render_coturn(plan, node, SECRETS), "/etc/turnserver.conf")
    assert "allow-loopback-peers" not in lines(conf)
    files = render_coturn(plan, node, SECRETS) + throwaway_cert(tc.tls.cert)
    server = (tc.listen_address, tc.port)
    user, password = turn.rest_credentials(SECRETS["turn_secret"], "alice", ttl=600)
    peers = ["127.0.0.1", "127.0.0.2", node.advertised]
    ready = listening("udp", tc.listen_address, tc.port)
    with running(node, files, argv.coturn_argv(tc.conf_path), ready) as ns, socket_in_netns(ns.name) as sock:
        sock.bind(("127.0.0.1", 0))
        report = check_permissions(sock, server, user, password, peers, 2.0)
    assert report.allocated, report.alloc_error
    assert report.peers["127.0.0.1"] is not None and report.peers["127.0.0.1"][0] == 403
    assert report.peers["127.0.0.2"] is not None and report.peers["127.0.0.2"][0] == 403
    assert report.peers[node.advertised] is None, "the control: the media address must be granted"


def test_socket_family_helper() -> None:
    assert socket_family("::1") == socket.AF_INET6
    assert socket_family("127.0.0.1") == socket.AF_INET
