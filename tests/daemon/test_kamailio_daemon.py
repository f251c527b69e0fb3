"""The rendered kamailio config run for real: kamailio (and rtpengine) in a network namespace
carrying the node's addresses, probed from inside it with `python -m voipctl.probe.sip`.

The rendered /etc/kamailio tree is written to /etc/netns/<ns>/kamailio, which `ip netns exec`
bind-mounts over /etc/kamailio, so kamailio reads exactly the paths the config names.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.unit.render.test_kamailio_render import secrets_for, solo_site
from voipctl.deploy.hostvars import gate_checks
from voipctl.netns import NETNS_ETC, Netns
from voipctl.plan.build import build_plan
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import CertPlan, KamailioPlan, RtpenginePlan
from voipctl.proc import in_netns
from voipctl.render.kamailio import render_kamailio, service_args
from voipctl.secrets import Secrets
from voipctl.site.load import load_site
from voipctl.verify.probes.dialogchecks import leaked

CLIENT, PEER, FLOODER = "198.51.100.50", "198.51.100.51", "198.51.100.66"
ORIGIN = "https://app.solo.voipctl.test"

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(not (shutil.which("kamailio") and shutil.which("rtpengine") and shutil.which("ip")),
                       reason="needs kamailio, rtpengine and iproute2"),
]


def kamailio_argv(cfg: str, rundir: Path, kam: KamailioPlan) -> list[str]:
    """Foreground kamailio logging to stderr, memory sizes from the plan, as the unit would pass them."""
    return ["kamailio", "-DD", "-E", "-f", cfg, "-Y", str(rundir), *service_args(kam)]


def rtpengine_argv(rtp: RtpenginePlan) -> list[str]:
    return [
        "rtpengine", "--config-file=none", "--foreground", "--log-stderr", f"--table={rtp.table}",
        f"--interface={rtp.interface_address}", f"--listen-ng={rtp.ng_address}:{rtp.ng_port}",
        f"--port-min={rtp.port_min}", f"--port-max={rtp.port_max}",
    ]


def test_argvs(tmp_path: Path) -> None:
    node = build_plan(load_site(solo_site(tmp_path))).nodes[0]
    assert node.kamailio is not None and node.rtpengine is not None
    argv = kamailio_argv("/etc/kamailio/kamailio.cfg", Path("/run/x"), node.kamailio)
    assert argv[-6:] == ["-m", "64", "-M", "8", "-x", "tlsf"]
    assert "--listen-ng=127.0.0.1:2223" in rtpengine_argv(node.rtpengine)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(plan_cert: CertPlan) -> dict[str, bytes]:
    """A throwaway CA and a leaf for the plan's names and addresses, keyed by CertPlan path."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "voipctl test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in plan_cert.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in plan_cert.ip_addresses]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, plan_cert.common_name)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return {
        plan_cert.key_path: key_pem,
        plan_cert.cert_path: _pem(leaf),
        plan_cert.chain_path: _pem(leaf) + _pem(ca),
        plan_cert.ca_path: _pem(ca),
    }


def install_etc(etc: Path, files: dict[str, bytes]) -> None:
    """Write absolute /etc/... paths under the namespace's /etc/netns/<ns> directory."""
    for path, content in files.items():
        assert path.startswith("/etc/"), path
        target = etc / path.removeprefix("/etc/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


@dataclass
class Lab:
    ns: Netns
    node: NodePlan
    kam: KamailioPlan
    rendered: dict[str, bytes]
    ca_file: Path
    passwords: dict[str, Path]
    log: Path

    def probe(self, action: str, *args: str, bind: str = CLIENT) -> dict[str, Any]:
        argv = [sys.executable, "-m", "voipctl.probe.sip", action, "--bind", bind, *args]
        res = self.ns.run(argv, timeout=60)
        assert res.stdout, res.stderr[-2000:]
        out: dict[str, Any] = json.loads(res.stdout)
        return out

    def at(self, transport: str, bind: str = CLIENT) -> list[str]:
        """Probe arguments reaching this node's listener for `transport` (TLS/WS settings always
        given: a call's callee leg shares them)."""
        lst = next(x for x in self.kam.listeners if x.proto == transport)
        return ["--transport", transport, "--host", lst.address, "--port", str(lst.port), "--timeout", "3",
                "--server-name", self.kam.wss_host, "--ca-file", str(self.ca_file), "--origin", ORIGIN]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _wait_udp_port(ns: Netns, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = ns.run(["ss", "-Hlun", f"sport = :{port}"]).stdout
        if out.strip():
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on udp port {port}")


def stage_kamailio(plan: Plan, node: NodePlan, secrets: Secrets,
                   tmp: Path) -> tuple[dict[str, bytes], dict[str, bytes], Path]:
    """The node's rendered kamailio files, its sqlite subscriber DB loaded, a throwaway PKI for its
    certificate and the CA file clients trust: (files by path, PKI files by path, CA file)."""
    kam = node.kamailio
    assert kam is not None
    files = {f.path: f.content for f in render_kamailio(plan, node, secrets)}
    db = sqlite3.connect(kam.db.sqlite_path)
    db.executescript(files[kam.db.sql_path].decode())
    db.close()
    pki = make_pki(kam.tls.cert)
    ca_file = tmp / "ca.pem"
    ca_file.write_bytes(pki[kam.tls.cert.ca_path])
    return files, pki, ca_file


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("vk-kamailio")
    site = solo_site(tmp, sqlite_path=str(tmp / "kamailio.sqlite"),
                     flood={"max_requests": 30, "sampling_seconds": 2, "ban_seconds": 60})
    plan = build_plan(load_site(site))
    node = plan.nodes[0]
    kam, rtp = node.kamailio, node.rtpengine
    assert kam is not None and rtp is not None
    secrets = secrets_for(plan)
    files, pki, ca_file = stage_kamailio(plan, node, secrets, tmp)
    passwords = {}
    for user in ("alice", "bob"):
        passwords[user] = tmp / f"{user}.pw"
        passwords[user].write_text(secrets.subscriber(user))
        passwords[user].chmod(0o600)
    (tmp / "wrong.pw").write_text("not-the-password")
    passwords["wrong"] = tmp / "wrong.pw"
    rundir = tmp / "run"
    rundir.mkdir()
    log = tmp / "kamailio.log"
    with Netns([node.public or node.private, node.private, CLIENT, PEER, FLOODER], prefix="vk") as ns:
        install_etc(NETNS_ETC / ns.name, {p: c for p, c in files.items() if p.startswith("/etc/kamailio/")} | pki)
        ns.popen(rtpengine_argv(rtp), log=tmp / "rtpengine.log")
        _wait_udp_port(ns, rtp.ng_port)
        proc = ns.popen(kamailio_argv(kam.cfg_path, rundir, kam), log=log)
        found = Lab(ns, node, kam, files, ca_file, passwords, log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            if found.probe("options", *found.at("udp"))["status"] == 200:
                break
            time.sleep(0.2)
        assert proc.poll() is None, f"kamailio exited {proc.returncode}:\n{found.log_tail()}"
        yield found
        assert proc.poll() is None, f"kamailio died during the tests:\n{found.log_tail()}"


def test_namespace_sees_the_rendered_tree(lab: Lab) -> None:
    shown = lab.ns.run(["cat", lab.kam.cfg_path, lab.kam.tls_cfg_path], check=True).stdout
    assert shown.encode() == lab.rendered[lab.kam.cfg_path] + lab.rendered[lab.kam.tls_cfg_path]


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls", "wss", "ws"])
def test_options_answered_on_every_transport(lab: Lab, transport: str) -> None:
    out = lab.probe("options", *lab.at(transport))
    assert (out["status"], out["reason"]) == (200, "OK"), (out, lab.log_tail())
    names = {name.lower() for name, _ in out["headers"]}
    assert "server" not in names and "user-agent" not in names
    assert "kamailio" not in json.dumps(out["headers"] + out["http_headers"]).lower()
    if transport in ("tls", "wss"):
        assert out["tls_version"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("transport", ["udp", "wss"])
def test_register_with_right_password(lab: Lab, transport: str) -> None:
    out = lab.probe("register", *lab.at(transport), "--domain", lab.kam.domain, "--user", "alice",
                    "--password-file", str(lab.passwords["alice"]))
    assert out["details"]["challenge"] == {"status": 401, "reason": "Unauthorized"}
    assert out["status"] == 200, (out, lab.log_tail())
    contact = {k.lower(): v for k, v in out["headers"]}["contact"]
    assert "expires=60" in contact


def test_register_with_remove_leaves_no_binding_behind(lab: Lab) -> None:
    """verify's REGISTER check removes its binding: the removal's 200 no longer lists the contact,
    and a call to the user then finds nobody (480) instead of forking to a closed port."""
    out = lab.probe("register", *lab.at("udp"), "--domain", lab.kam.domain, "--user", "bob",
                    "--password-file", str(lab.passwords["bob"]), "--remove")
    assert out["status"] == 200, (out, lab.log_tail())
    assert out["details"]["unregister"] == {"status": 200, "still_bound": False}, out
    call = lab.probe("invite", *lab.at("udp"), "--domain", lab.kam.domain, "--user", "alice",
                     "--password-file", str(lab.passwords["alice"]), "--peer-user", "bob")
    assert (call["status"], call["reason"]) == (480, "Temporarily Unavailable"), (call, lab.log_tail())


FORGER = Path(__file__).resolve().parents[1] / "digest_forger.py"


def test_a_subscriber_cannot_register_another_account_with_her_own_password(lab: Lab) -> None:
    """alice knows only her password and tries to bind bob's address: with her own name in the
    credentials, with bob's name answered from her secret, and with a decoy Proxy-Authorization
    naming her (the header kamailio's $au would read). Every attempt is refused; bob's own password,
    sent by the same code, is accepted."""
    udp = next(x for x in lab.kam.listeners if x.proto == "udp")
    res = lab.ns.run([sys.executable, str(FORGER), udp.address, str(udp.port), CLIENT, lab.kam.domain,
                      "alice", str(lab.passwords["alice"]), "bob", str(lab.passwords["bob"])], timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["victim-own-password"] == 200, (out, lab.log_tail())
    forged = {name: status for name, status in out.items() if name != "victim-own-password"}
    assert forged == {"own-credentials-for-victim": 401, "victim-name-own-secret": 401,
                      "decoy-proxy-authorization": 401}, (out, lab.log_tail())


def test_wrong_password_and_unknown_user_get_the_same_answer(lab: Lab) -> None:
    args = [*lab.at("udp"), "--domain", lab.kam.domain, "--password-file", str(lab.passwords["wrong"])]
    wrong = lab.probe("register", *args, "--user", "alice")
    unknown = lab.probe("register", *args, "--user", "mallory")
    assert wrong["status"] == unknown["status"] == 401
    assert wrong["reason"] == unknown["reason"]
    assert [n for n, _ in wrong["headers"]] == [n for n, _ in unknown["headers"]]
    assert wrong["details"] == unknown["details"]


def test_websocket_handshake_checks_origin_and_host(lab: Lab) -> None:
    good = lab.at("wss")
    for change, value in (("--origin", "https://evil.example"), ("--server-name", lab.kam.domain)):
        args = list(good)
        args[args.index(change) + 1] = value
        out = lab.probe("options", *args)
        assert out["http_status"] == 403 and not out["answered"], out
    assert lab.probe("options", *good)["status"] == 200


def test_scanner_user_agent_gets_silence(lab: Lab) -> None:
    out = lab.probe("options", *lab.at("udp"), "--user-agent", "friendly-scanner")
    assert not out["answered"] and out["error"] == "no answer"
    assert lab.probe("options", *lab.at("udp"), "--user-agent", "Linphone/5.2")["status"] == 200


def test_plain_sip_on_the_wss_port_is_forbidden(lab: Lab) -> None:
    wss = next(x for x in lab.kam.listeners if x.proto == "wss")
    args = lab.at("tls")
    args[args.index("--port") + 1] = str(wss.port)
    out = lab.probe("options", *args)
    assert out["status"] == 403


def test_oversized_request_is_refused(lab: Lab) -> None:
    pad = "x" * (lab.kam.max_message_bytes + 100)
    big = lab.probe("options", *lab.at("udp"), "--header", f"X-Pad: {pad}")
    assert (big["status"], big["reason"]) == (513, "Message Too Large")
    small = lab.probe("options", *lab.at("udp"), "--header", f"X-Pad: {pad[:1000]}")
    assert small["status"] == 200


def test_no_open_relay_and_local_users_must_authenticate(lab: Lab) -> None:
    foreign = lab.probe("options", *lab.at("udp"), "--uri", "sip:someone@example.com", "--domain", lab.kam.domain)
    assert (foreign["status"], foreign["reason"]) == (403, "Relaying Forbidden")
    local = lab.probe("options", *lab.at("udp"), "--uri", f"sip:bob@{lab.kam.domain}", "--domain", lab.kam.domain)
    assert local["status"] == 407


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_floor_is_1_2(lab: Lab) -> None:
    lst = next(x for x in lab.kam.listeners if x.proto == "tls")
    results = {}
    for version in ("-tls1_1", "-tls1_2"):
        argv = ["openssl", "s_client", "-connect", f"{lst.address}:{lst.port}", version,
                "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", str(lab.ca_file)]
        res = subprocess.run(in_netns(lab.ns.name, argv), stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=20, check=False)
        results[version] = res
    assert results["-tls1_1"].returncode != 0
    assert "protocol version" in results["-tls1_1"].stderr
    assert results["-tls1_2"].returncode == 0, results["-tls1_2"].stderr
    assert "Verify return code: 0 (ok)" in results["-tls1_2"].stdout


def test_probe_refuses_a_wrong_server_name(lab: Lab) -> None:
    args = lab.at("tls")
    args[args.index("--server-name") + 1] = "impostor.example"
    out = lab.probe("options", *args)
    assert not out["answered"] and "TLS" in out["error"]


def test_flooding_source_is_banned(lab: Lab) -> None:
    burst = lab.probe("burst", *lab.at("udp"), "--count", "200", bind=FLOODER)
    assert burst["details"]["sent"] == 200
    assert 0 < burst["details"]["answered"] < 200
    assert not lab.probe("options", *lab.at("udp"), bind=FLOODER)["answered"]
    assert lab.probe("options", *lab.at("udp"))["status"] == 200


WEBRTC = {"proto": "UDP/TLS/RTP/SAVPF", "ice": True, "fingerprint": True, "rtcp_mux": True}
PLAIN = {"proto": "RTP/AVP", "ice": False, "fingerprint": False, "rtcp_mux": False, "candidates": 0}


@pytest.mark.parametrize(
    ("caller", "caller_media", "callee", "callee_media", "bye_from"),
    [
        ("wss", "webrtc", "udp", "plain", "caller"),
        ("wss", "webrtc", "udp", "plain", "callee"),
        ("udp", "plain", "wss", "webrtc", "caller"),
        ("udp", "plain", "wss", "webrtc", "callee"),
        ("udp", "webrtc", "tcp", "plain", "callee"),
        ("tcp", "plain", "udp", "plain", "caller"),
        # an SDES-SRTP desk phone offering RTP/SAVPF is a phone, not WebRTC: its answer stays plain
        ("udp", "sdes", "tcp", "plain", "caller"),
    ],
)
def test_call_media_is_shaped_for_each_recipient(
    lab: Lab, caller: str, caller_media: str, callee: str, callee_media: str, bye_from: str
) -> None:
    """SDP each side receives is rewritten for it; in-dialog requests reach WebSocket and NATed legs."""
    peer = lab.at(callee)
    out = lab.probe(
        "call", *lab.at(caller), "--media", caller_media, "--domain", lab.kam.domain,
        "--user", "alice", "--password-file", str(lab.passwords["alice"]),
        "--peer-transport", callee, "--peer-host", peer[peer.index("--host") + 1],
        "--peer-port", peer[peer.index("--port") + 1], "--peer-bind", PEER, "--peer-media", callee_media,
        "--peer-user", "bob", "--peer-password-file", str(lab.passwords["bob"]), "--bye-from", bye_from,
    )
    assert out["status"] == 200, (out, lab.log_tail())
    details = out["details"]
    assert details["challenge"] == 407
    assert details["callee_got_ack"] and details["bye"] == 200
    relay = lab.node.rtpengine.interface_address if lab.node.rtpengine else None
    for side, media in (("callee_sdp", callee_media), ("caller_sdp", caller_media)):
        seen = details[side]
        want = WEBRTC if media == "webrtc" else PLAIN
        assert {k: seen[k] for k in want} == want, (side, seen)
        assert seen["address"] == relay, "media must be anchored in rtpengine"
    # topology hiding: the callee learns neither the caller's address nor the node's private one
    # (the start line is the callee's own contact)
    heads = [m.partition("\r\n")[2] for m in details["callee_received"]]
    assert leaked(heads, [CLIENT, lab.node.private]) == [], heads


@pytest.mark.parametrize("transport", ["udp", "wss"])
def test_in_dialog_requests_outside_our_dialogs_are_never_relayed(lab: Lab, transport: str) -> None:
    """A made-up To-tag with a Route naming us, our address as Request-URI, or a forged seal:
    refused with 403/404, and nothing reaches the listener the attacker picked."""
    out = lab.probe("relay", *lab.at(transport), "--domain", lab.kam.domain, "--victim-host", PEER,
                    "--victim-port", "5099")
    details = out["details"]
    assert details["control_received"], out
    assert details["delivered"] == [], (details, lab.log_tail())
    refused = {(a["method"], a["variant"]): a["status"] for a in details["attempts"] if a["method"] != "ACK"}
    assert len(refused) == 9 and set(refused.values()) <= {403, 404}, refused


def test_a_closed_websocket_leaves_no_binding_behind(lab: Lab) -> None:
    """bob registers over WSS and closes the connection (the probe exits): a call to bob gets 480
    at once instead of waiting on a connection that is gone."""
    reg = lab.probe("register", *lab.at("wss"), "--domain", lab.kam.domain, "--user", "bob",
                    "--password-file", str(lab.passwords["bob"]), "--expires", "600")
    assert reg["status"] == 200, reg
    out = lab.probe("invite", *lab.at("udp"), "--domain", lab.kam.domain, "--user", "alice",
                    "--password-file", str(lab.passwords["alice"]), "--peer-user", "bob")
    assert out["details"]["challenge"] == 407
    assert (out["status"], out["reason"]) == (480, "Temporarily Unavailable"), (out, lab.log_tail())
    assert out["elapsed_ms"] < 2500, out


GATE = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "common" / "files" / "voipctl_health_gate.py"


def _gate(lab: Lab, checks: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]], str]:
    """The deploy health gate run where deploy runs it: on the node, reading the CA at its plan path."""
    res = lab.ns.run(["python3", str(GATE), "--timeout", "3", "--checks", json.dumps(checks)], timeout=60)
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    return res.returncode, lines, res.stderr


def test_health_gate_demands_200_and_a_verified_tls_handshake_on_every_socket(lab: Lab) -> None:
    checks = gate_checks(lab.node, "kamailio")
    assert {c["proto"] for c in checks} == {"udp", "tcp", "tls", "ws", "wss"}
    rc, lines, err = _gate(lab, checks)
    assert rc == 0 and all(x["ok"] for x in lines) and len(lines) == len(checks), (lines, err, lab.log_tail())
    assert all(x["detail"] == "SIP/2.0 200 OK" for x in lines)
    tls = next(c for c in checks if c["proto"] == "tls")
    rc, lines, _ = _gate(lab, [{"kind": "tls", **{k: tls[k] for k in ("host", "port", "server_name", "ca")}}])
    assert rc == 0 and lines[0]["detail"].startswith("TLSv1.")


def test_health_gate_fails_what_only_looks_alive(lab: Lab, tmp_path: Path) -> None:
    """A SIP answer other than 200, a chain from another CA, a wrong name, a refused upgrade: unhealthy."""
    checks = {c["proto"]: c for c in gate_checks(lab.node, "kamailio")}
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(make_pki(lab.kam.tls.cert)[lab.kam.tls.cert.ca_path])
    wss = checks["wss"]
    bad = [
        {**checks["tls"], "port": wss["port"]},           # plain SIP on the WSS port: 403 Forbidden
        {**checks["tls"], "ca": str(other_ca)},           # served chain is not from this CA
        {"kind": "tls", "host": wss["host"], "port": wss["port"], "server_name": "impostor.example",
         "ca": wss["ca"]},
        {**wss, "origin": "https://evil.example"},        # upgrade refused
        {"kind": "tls", "host": wss["host"], "port": wss["port"], "server_name": wss["server_name"], "ca": None},
    ]
    for check in bad:
        rc, lines, err = _gate(lab, [check])
        assert rc == 1 and not lines[0]["ok"] and "health gate failed" in err, (check, lines)
    rc, lines, _ = _gate(lab, [bad[0]])
    assert "not 200" in lines[0]["detail"]
    rc, lines, _ = _gate(lab, [bad[3]])
    assert "403" in lines[0]["detail"]
