"""Lab: a certificate renewal drops no call and no registration; a restarting deploy logs nobody out;
a revoked certificate turns the TLS verification check red.

On its own copy of the lab site (own name, free private /24), deployed for real:
a UDP phone registers once from the public client namespace; a SIPp call (alice behind the NAT
calls carol on the public side, PCMA RTP through rtpengine, echoed back) is up while `voipctl pki
renew` renews what is due (kamailio's and coturn's leaves, removed) and deploys it: kamailio,
rtpengine and coturn keep their PIDs, serve the new certificates, rtpengine's packet counts of
both parties keep rising after the reload, the BYE is answered 200, and an INVITE reaches the
phone, which sent no REGISTER since. Then a change that restarts kamailio is deployed and the
INVITE still reaches the phone. Last, kamailio's certificate is revoked and the CRL deployed:
exactly the kamailio TLS chain checks of verify's scan turn red; `pki renew` makes them green.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.lab.test_deploy_lab import Lab, _answers_options, _assert_all_ok, _skip_without_lab, lab_of
from tests.labsites import lab_site_copy
from voipctl import pipeline
from voipctl.cli import main as cli_main
from voipctl.deploy.session import Prepared, prepare
from voipctl.lab.topology import lab_topology
from voipctl.output.manifest import Manifest
from voipctl.pki.crl import revocation_check
from voipctl.pki.store import layout
from voipctl.plan.model import Plan
from voipctl.proc import in_netns
from voipctl.secrets import Secrets
from voipctl.sipp.argv import SCENARIOS
from voipctl.sipp.credentials import write_credentials
from voipctl.verify.browser.media import FlowSnapshot, ng_query
from voipctl.verify.call import media as callmedia
from voipctl.verify.call import sipp_call as sipp
from voipctl.verify.call.probe import CallSetup, call_setup
from voipctl.verify.probes.vantage import Vantage, source_address
from voipctl.verify.scanners import tls as tlsscan

pytestmark = pytest.mark.lab
SITE = "renewlab"
PHONE = Path(__file__).resolve().parents[1] / "busy_phone.py"
_SERVED = "import ssl, sys; print(ssl.get_server_certificate((sys.argv[1], int(sys.argv[2]))))"
_PLAY = """  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>
    </action>
  </nop>
"""
# Instead of one play and a 5 s pause: play the pcap (7.05 s) again and again until the test's hang-up
# trigger, an INFO sent straight to the UAC, arrives (a deploy under load took 208 s); then the BYE.
# The trigger is no part of the dialog and gets no answer (SIPp as UAC would send it to kamailio).
_LOOP = """  <label id="1"/>
""" + _PLAY + """  <recv request="INFO" timeout="7050" ontimeout="1"/>
"""
_SDP_LOG = '<log message="sdp-connection [$conn] ([$line])"/>'
# The 200's To (the callee's tag included), for the BYE: [last_To:] would then be the trigger's.
_KEEP_TO = '\n      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="dialog_to"/>'
UAC_PORT = 5072
CALL_LIMIT = 900  # SIPp's global timeout for the long call (seconds)
_HANGUP = """import socket, sys
ip, port, call_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
msg = (f"INFO sip:alice@{ip}:{port} SIP/2.0\\r\\nVia: SIP/2.0/UDP {ip}:5099;branch=z9hG4bK-hangup\\r\\n"
       f"From: <sip:test@{ip}>;tag=hangup\\r\\nTo: <sip:alice@{ip}>\\r\\nCall-ID: {call_id}\\r\\n"
       "CSeq: 1 INFO\\r\\nMax-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n")
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    sock.sendto(msg.encode(), (ip, port))
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _skip_without_lab()
    work = tmp_path_factory.mktemp("renewlab")
    yield from lab_of(work, lab_site_copy(work, SITE), SITE)


def _in_client(lab: Lab, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(in_netns(lab.client_netns, argv), capture_output=True, timeout=timeout,
                          check=False)


def _sip(lab: Lab, action: str, *args: str) -> dict[str, Any]:
    res = _in_client(lab, [sys.executable, "-m", "voipctl.probe.sip", action, *args])
    assert res.stdout, res.stderr.decode()[-2000:]
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def _main_pid(lab: Lab, node: str, unit: str) -> str:
    pid = lab.ssh(node, "systemctl", "show", "-p", "MainPID", "--value", unit).strip()
    assert pid not in ("", "0"), f"{unit} is not running on {node}"
    return pid


def _served(lab: Lab, address: str, port: int) -> str:
    """Fingerprint of the certificate a new TLS connection from the public client namespace sees."""
    res = _in_client(lab, [sys.executable, "-c", _SERVED, address, str(port)], timeout=30)
    assert res.returncode == 0, res.stderr.decode()[-1000:]
    return x509.load_pem_x509_certificate(res.stdout).fingerprint(hashes.SHA256()).hex()


def _restarting(lab: Lab, prep: Prepared) -> Prepared:
    """The render with a comment added to kamailio.cfg (valid, but a change: kamailio restarts)."""
    copy = lab.workdir / "render-restart"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(prep.render_dir, copy)
    manifest = Manifest.read(copy)
    assert manifest is not None
    rel = "sip1/etc/kamailio/kamailio.cfg"
    text = (copy / rel).read_text() + "\n# lab test: a change that restarts kamailio\n"
    (copy / rel).write_text(text)
    manifest = replace(manifest, entries=tuple(
        replace(e, sha256=hashlib.sha256(text.encode()).hexdigest()) if e.rel == rel else e
        for e in manifest.entries))
    return replace(prep, render_dir=copy, manifest=manifest, hosts=("sip1",))


@dataclass
class Call:
    """A SIPp call in progress: carol's UAS on the public side, alice's UAC behind the NAT."""

    setup: CallSetup
    uas: sipp.SippRun
    uac: sipp.SippRun
    uas_proc: subprocess.Popen[str]
    uac_proc: subprocess.Popen[str]
    call_id: str

    def counts(self) -> tuple[list[FlowSnapshot], str | None]:
        """Two snapshots of rtpengine's counts of both parties, a few seconds apart."""
        assert self.setup.ng is not None and self.setup.ng_netns is not None
        netns, server = self.setup.ng_netns, self.setup.ng
        return callmedia.sample(lambda: ng_query(netns, server, self.call_id))

    def hang_up(self) -> None:
        """Send the UAC its trigger (it then sends BYE through kamailio)."""
        ip = source_address(self.setup.uac, self.setup.host)
        assert ip is not None
        subprocess.run(self.setup.uac.wrap([sys.executable, "-c", _HANGUP, ip, str(UAC_PORT), self.call_id]),
                       capture_output=True, timeout=15, check=True)

    def finish(self) -> tuple[sipp.CallLog, sipp.CallLog, int, int]:
        for proc in (self.uac_proc, self.uas_proc):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        uac_rc, uas_rc = self.uac_proc.returncode, self.uas_proc.returncode
        return (sipp.parse_log(sipp.read_text(self.uas.log)), sipp.parse_log(sipp.read_text(self.uac.log)),
                uas_rc, uac_rc)


def _longer(argv: list[str], scenario: Path | None = None) -> list[str]:
    """SIPp argv of the verify call probe with a longer global timeout (and the UAC's scenario and port)."""
    out = list(argv)
    out[out.index("-timeout") + 1] = f"{CALL_LIMIT}s"
    if scenario is not None:
        out[out.index("-sf") + 1] = str(scenario)
        out[1:1] = ["-p", str(UAC_PORT)]
    return out


def _start_call(lab: Lab, plan: Plan, secrets: Secrets) -> Call:
    """verify's call probe (record-routing SIPp scenarios, pcap RTP, the callee echoing it) with the
    media part looped until `Call.hang_up`; carol is the callee (bob's phone keeps its own binding)."""
    topo = lab_topology(plan)
    vantages = [Vantage("public", topo.public_client_netns), Vantage("nat", topo.nat_client_netns)]
    found = call_setup(plan, vantages, secrets, {h.node: h.netns for h in topo.hosts})
    assert isinstance(found, CallSetup), found
    setup = replace(found, callee="carol", callee_password=secrets.subscriber("carol"))
    work = lab.workdir / "call"
    work.mkdir(exist_ok=True)
    scenario = work / "uac-long.xml"
    text = (SCENARIOS / "uac.xml").read_text()
    block = _PLAY + '\n  <pause milliseconds="5000"/>\n'
    assert block in text and _SDP_LOG in text, "verify's UAC scenario changed: adapt the long call"
    text = text.replace(block, _LOOP).replace(_SDP_LOG, _SDP_LOG + _KEEP_TO)
    head, _, tail = text.rpartition("[last_To:]")  # the BYE's: the trigger is the last message received then
    scenario.write_text(head + "To:[$dialog_to]" + tail)
    uas_ip, uac_ip = source_address(setup.uas, setup.host), source_address(setup.uac, setup.host)
    assert uas_ip is not None and uac_ip is not None
    csv = {who: write_credentials(work / f"{who}.csv", [(who, secrets.subscriber(who))])
           for who in ("alice", "carol")}
    binary = shutil.which("sipp")
    assert binary is not None, "SIPp (sip-tester) is not installed"
    reg = sipp.register_run(binary, work, csv["carol"], setup.domain, uas_ip, sipp.UAS_PORT, setup.target, 600)
    res = subprocess.run(setup.uas.wrap(reg.argv), capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, sipp.failure_detail(reg, res.returncode, res.stdout)
    uas = sipp.uas_run(binary, work, "carol", setup.domain, uas_ip, sipp.UAS_PORT)
    call_id = f"renewlab-{time.monotonic_ns()}"
    uac = sipp.uac_run(binary, work, csv["alice"], "carol", setup.domain, uac_ip, setup.target, call_id)
    uas_proc = subprocess.Popen(setup.uas.wrap(_longer(uas.argv)), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.3)  # the UAS binds before the INVITE can reach it
    uac_proc = subprocess.Popen(setup.uac.wrap(_longer(uac.argv, scenario)), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    return Call(setup, uas, uac, uas_proc, uac_proc, call_id)


def _invite_reaches_bob(lab: Lab, at: list[str], alice_pw: Path, contact: re.Match[str], tag: str) -> None:
    """alice's INVITE is delivered to the address bob registered from (his phone answers 486)."""
    phone_log = lab.workdir / f"phone-{tag}.log"
    with phone_log.open("wb") as log:
        phone = subprocess.Popen(in_netns(lab.client_netns, [sys.executable, str(PHONE), contact.group(1),
                                                                         contact.group(2), "10"]),
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 5
        while "listening" not in phone_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = _sip(lab, "invite", *at, "--user", "alice", "--password-file", str(alice_pw), "--peer-user", "bob",
                   "--timeout", "5")
        phone.wait(20)
    finally:
        if phone.poll() is None:
            phone.kill()
    received = json.loads(phone_log.read_text().splitlines()[-1])["received"]
    assert received and str(received[0]).startswith("INVITE sip:bob@"), (tag, received, out)
    assert (out["status"], out["reason"]) == (486, "Busy Here"), (tag, out)


def test_renewal_and_restart_keep_phones_registered(lab: Lab) -> None:
    _assert_all_ok(lab.run(prepare(lab.site_file, lab.options())))
    site, plan = pipeline.load_and_plan(lab.site_file)
    secrets = pipeline.secrets_for(site, plan)
    kam, turn = plan.node("sip1").kamailio, plan.node("media1").coturn
    assert kam is not None and turn is not None
    udp = next(x for x in kam.listeners if x.proto == "udp" and x.address == lab.addresses["sip1"][1])
    at = ["--transport", "udp", "--host", udp.address, "--port", str(udp.port), "--domain", kam.domain]
    pw = {}
    for user in ("alice", "bob"):
        pw[user] = lab.workdir / f"{user}.pw"
        pw[user].write_text(secrets.subscriber(user))
        pw[user].chmod(0o600)

    reg = _sip(lab, "register", *at, "--user", "bob", "--password-file", str(pw["bob"]), "--expires", "3600")
    assert reg["status"] == 200, reg
    contact = {k.lower(): v for k, v in reg["headers"]}["contact"]
    m = re.search(r"@([0-9.]+):(\d+)", contact)
    assert m and "expires=3600" in contact, contact

    # 1. Renewal while a call is up: new keys and certificates for kamailio and coturn, deployed.
    sips = next(x for x in kam.listeners if x.proto == "tls")
    targets = {"kamailio": (sips.address, sips.port), "coturn": (turn.listen_address, turn.tls_port)}
    units = {"kamailio": ("sip1", "kamailio"), "coturn": ("media1", "coturn"),
             "rtpengine": ("media1", "rtpengine-daemon")}
    pids = {svc: _main_pid(lab, *where) for svc, where in units.items()}
    before = {svc: _served(lab, *where) for svc, where in targets.items()}
    leaves = {"kamailio": layout(lab.pki_dir, SITE).leaf_dir("sip1", "kamailio"),
              "coturn": layout(lab.pki_dir, SITE).leaf_dir("media1", "coturn")}
    call = _start_call(lab, plan, secrets)
    try:
        media_before, why = call.counts()
        assert callmedia.judge_media(media_before, why)[0] == "passed", (why, media_before)
        for leaf in leaves.values():
            shutil.rmtree(leaf)  # both are due now (missing); openfire's is not
        began = time.monotonic()
        assert cli_main(["pki", "renew", str(lab.site_file), "--pki-dir", str(lab.pki_dir),
                         "-o", str(lab.render_dir)]) == 0
        took = time.monotonic() - began
        media_after, why = call.counts()
        assert call.uac_proc.poll() is None, "the call outlasted the renewal"
    finally:
        call.hang_up()
        uas_log, uac_log, uas_rc, uac_rc = call.finish()
    verdict = callmedia.judge_media(media_after, why)
    assert verdict[0] == "passed", verdict
    counted = {f.tag: f.packets for f in media_before[-1].flows}
    assert len(counted) == 2 and all(f.packets > counted[f.tag] for f in media_after[-1].flows), \
        (media_before, media_after)
    assert (uas_rc, uac_rc) == (0, 0) and {"ack-received", "bye-received"} <= uas_log.events, (uas_log, uac_log)
    assert "bye-answered" in uac_log.events, "the BYE after the renewal was answered 200"
    assert {svc: _main_pid(lab, *where) for svc, where in units.items()} == pids
    for svc, where in targets.items():
        want = x509.load_pem_x509_certificate((leaves[svc] / "cert.pem").read_bytes()).fingerprint(hashes.SHA256())
        assert _served(lab, *where) == want.hex() != before[svc], svc
    _invite_reaches_bob(lab, at, pw["alice"], m, "after-renewal")

    # 2. A change that restarts kamailio.
    restart = lab.run(_restarting(lab, prepare(lab.site_file, lab.options())))
    sip1 = next(r for r in restart.recap if r.host == "sip1")
    assert not (sip1.failed or sip1.unreachable) and sip1.changed > 0, restart.failures
    assert _main_pid(lab, "sip1", "kamailio") != pids["kamailio"], "kamailio restarted"
    assert _answers_options(lab, "sip1")

    # 3. bob's phone, silent since its REGISTER, still gets alice's INVITE.
    _invite_reaches_bob(lab, at, pw["alice"], m, "after-restart")
    print(f"renewal deploy {took:.1f} s during a call, same PIDs {pids}; media {media_before[-1].flows} -> "
          f"{media_after[-1].flows}; the INVITE reached bob after the renewal and after a kamailio restart")


def test_a_revoked_kamailio_certificate_turns_exactly_its_tls_chain_checks_red(lab: Lab) -> None:
    """verify's TLS scan (the same function, from the public client) before and after `pki revoke kamailio`
    and a deploy, then after `pki renew`. The lab site verifies no TLS peers, so its deploy places the
    CRL nowhere (the plan's choice; the daemon test proves kamailio's `crl` where it does)."""
    _assert_all_ok(lab.run(prepare(lab.site_file, lab.options())))
    _, plan = pipeline.load_and_plan(lab.site_file)
    lay = layout(lab.pki_dir, SITE)
    public = Vantage("public", lab.client_netns)

    def scan() -> dict[str, tuple[str, str]]:
        """The scan's verdicts (kamailio's sockets one connection at a time: a burst crashes kamailio 5.6)."""
        found = tlsscan.run_scan(plan, public, lay.root_cert.absolute(), ("kamailio", "coturn"),
                                 revocation_check(lay))
        return {o.name: (o.status, o.detail) for o in found}

    green = scan()
    assert len(green) == 6 and all(status == "passed" for status, _ in green.values()), green
    assert cli_main(["pki", "revoke", str(lab.site_file), "kamailio", "--pki-dir", str(lab.pki_dir)]) == 0
    _assert_all_ok(lab.run(prepare(lab.site_file, lab.options())))
    red = scan()
    turned = {name for name, (status, _) in red.items() if status != "passed"}
    want = {name for name in green if name.startswith(("SIP-TLS ", "WSS ")) and "chain verifies" in name}
    assert len(want) == 2 and turned == want, red
    assert all("is revoked" in red[name][1] for name in turned), red

    assert cli_main(["pki", "renew", str(lab.site_file), "--pki-dir", str(lab.pki_dir),
                     "-o", str(lab.render_dir)]) == 0
    again = scan()
    assert all(status == "passed" for status, _ in again.values()), again
    print(f"revoked kamailio: red {sorted(turned)}; after pki renew all {len(again)} TLS checks green")
