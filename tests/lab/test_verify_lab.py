"""`voipctl verify` and the browser probe against a deployed lab, and proof that their checks can fail.

A copy of the lab site under its own name and private network gets its own lab
(`voipctl lab up`), PKI and deploy, so it never touches a lab someone else runs; one lab
serves the module (the browser tests run on it too, before the tests that break it).
Needs root, the lab's Debian packages, ansible-core, pytest-testinfra, sipvicious,
sslyze, SIPp, chromium and web/'s npm packages. Set VOIPCTL_KEEP_VERIFY_LAB=1 to leave the lab up afterwards.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import REPO
from tests.labsites import lab_site_copy
from voipctl.lab import commands as cmd
from voipctl.lab.state import LabPaths, LabState
from voipctl.lab.topology import lab_topology
from voipctl.pipeline import load_and_plan, secrets_for
from voipctl.plan.model import Plan
from voipctl.proc.daemon import alive
from voipctl.resources import web_dir
from voipctl.secrets import Secrets
from voipctl.verify.browser import argv
from voipctl.verify.browser.probe import missing_tools, run_browser_probe

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, bridges, mounts)"),
]

SITE_NAME = "vfytest"
BROWSER_MISSING = (f"needs sipp and {argv.CHROMIUM}" if shutil.which("sipp") is None or not Path(argv.CHROMIUM).exists()
                   else "web/ needs `npm ci` (scripts/setup)" if missing_tools(web_dir()) else "")
needs_browser = pytest.mark.skipif(bool(BROWSER_MISSING), reason=BROWSER_MISSING)
WAIT_FOR_OTHER_RUN = 600


def voipctl(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voipctl", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=REPO)


def _wait_for_other_run(name: str) -> None:
    """Another run of these tests owns the lab while its processes live: wait for it, do not take it."""
    state_file = LabPaths.for_site(name).state_file
    deadline = time.monotonic() + WAIT_FOR_OTHER_RUN
    while time.monotonic() < deadline:
        state = LabState.load(state_file)
        if state is None:
            return
        if not any(alive(p.pid, p.start) for p in state.processes):
            return  # left over by a crashed run: `lab up` tears it down itself
        time.sleep(10)
    pytest.fail(f"the {name} lab stayed in use for {WAIT_FOR_OTHER_RUN}s")


@dataclass(frozen=True)
class Lab:
    site: Path
    pki: Path
    render: Path
    plan: Plan
    secrets: tuple[str, ...]

    def ssh(self, node: str, *remote: str) -> subprocess.CompletedProcess[str]:
        key = LabPaths.for_site(self.plan.site).ssh_key
        address = self.plan.node(node).private
        return subprocess.run(cmd.ssh(key, address, list(remote), timeout=5), capture_output=True, text=True,
                              timeout=120, check=False)

    @contextmanager
    def edited(self, node: str, conf: str, sed: str, service: str) -> Iterator[None]:
        """The deployed `conf` on `node` changed by a sed script, `service` restarted; restored afterwards."""
        saved = f"/root/{Path(conf).name}.verify"
        res = self.ssh(node, "sh", "-c", f"cp -p {conf} {saved} && sed -i {shlex.quote(sed)} {conf} && "
                       f"systemctl restart {service}")
        assert res.returncode == 0, res.stderr
        try:
            yield
        finally:
            self.ssh(node, "sh", "-c", f"cp -p {saved} {conf} && systemctl restart {service}")

    def verify(self, *extra: str, pki: Path | None = None) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        out = self.site.parent / f"report-{time.monotonic_ns()}.json"
        res = voipctl("verify", str(self.site), "-o", str(self.render), "--pki-dir", str(pki or self.pki),
                      "--json", str(out), *extra, timeout=600)
        assert out.exists(), f"verify wrote no report (exit {res.returncode}):\n{res.stdout}\n{res.stderr}"
        return res, json.loads(out.read_text())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with deployed_lab(tmp_path_factory.mktemp("verify-lab"), SITE_NAME) as found:
        yield found


@contextmanager
def deployed_lab(base: Path, name: str) -> Iterator[Lab]:
    """A copy of the lab site called `name`, with its own PKI, lab and deploy, taken down afterwards."""
    _wait_for_other_run(name)
    site = lab_site_copy(base, name)
    pki, render = base / "pki", base / "build"
    for step in (("pki", "init"), ("pki", "issue")):
        res = voipctl(*step, str(site), "--pki-dir", str(pki))
        assert res.returncode == 0, res.stdout + res.stderr
    plan = load_and_plan(site)[1]
    try:
        started = time.monotonic()
        res = voipctl("lab", "up", str(site))
        assert res.returncode == 0, f"lab up failed:\n{res.stdout}\n{res.stderr}"
        res = voipctl("deploy", str(site), "-o", str(render), "--pki-dir", str(pki))
        assert res.returncode == 0, f"deploy failed:\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}"
        print(f"verify lab up and deployed in {time.monotonic() - started:.1f}s")
        secrets = tuple(v.split(": ", 1)[1].strip("'") for v in (base / "site.secrets.yml").read_text().splitlines()
                        if ": " in v and not v.startswith("#"))
        yield Lab(site, pki, render, plan, secrets)
    finally:
        if not os.environ.get("VOIPCTL_KEEP_VERIFY_LAB"):
            voipctl("lab", "down", name, timeout=180)


def _failed(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{o['group']}|{o['vantage']}|{o['name']}": o for o in report["outcomes"] if o["status"] == "failed"}


def test_verify_passes_on_the_deployed_lab(lab: Lab) -> None:
    junit = lab.site.parent / "verify.xml"
    started = time.monotonic()
    res, report = lab.verify("--junit", str(junit))
    took = time.monotonic() - started
    print(f"voipctl verify took {took:.1f}s: {report['summary']}")
    assert res.returncode == 0, f"{_failed(report)}\n{res.stderr}"
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] >= 90
    groups = {o["group"] for o in report["outcomes"] if o["status"] == "passed"}
    assert {"render", "host:package", "host:service", "host:listening", "host:listeners", "host:file", "host:cert",
            "host:firewall", "firewall",
            "sip", "websocket", "register", "call", "scanner", "exposure", "stun", "turn", "tls"} <= groups
    skipped = [o for o in report["outcomes"] if o["status"] == "skipped"]
    # only Openfire is skipped (no package in the lab), each with its reason
    assert skipped and all(o["host"] == "xmpp1" and "openfire.package" in o["detail"] for o in skipped)
    assert any(o["group"] == "xmpp" for o in skipped)
    turn = {o["name"]: o["status"] for o in report["outcomes"] if o["group"] == "turn"}
    sip1, media1 = lab.plan.node("sip1"), lab.plan.node("media1")
    for addr in (sip1.public, sip1.private):
        assert turn[f"TURN permission towards {addr} (SIP node sip1) is denied"] == "passed", turn
    assert turn["TURN permission towards 198.51.100.254 (not a site address) is denied"] == "passed"
    assert turn[f"TURN permission towards the media address {media1.public} is granted"] == "passed"
    root = ET.parse(junit).getroot()  # noqa: S314 - our own output
    assert root.get("failures") == "0" and root.get("skipped") == str(len(skipped))
    # no secret in anything verify printed or wrote
    everything = res.stdout + res.stderr + json.dumps(report) + junit.read_text()
    assert lab.secrets and not [s for s in lab.secrets if s in everything]
    assert took < 120


def _site_secrets(lab: Lab) -> Secrets:
    loaded, plan = load_and_plan(lab.site)
    return secrets_for(loaded, plan)


@needs_browser
def test_reference_scenario_on_the_deployed_lab(lab: Lab) -> None:
    outcomes = run_browser_probe(lab.plan, _site_secrets(lab), lab.pki)
    detail = "\n".join(f"{o.status}: {o.name}: {o.detail}" for o in outcomes)
    # 2 registrations + 4 calls x 4 checks + 2 relay checks + 2 re-INVITEs + 1 fork check
    assert len(outcomes) == 23 and all(o.ok for o in outcomes), detail
    names = {o.name for o in outcomes}
    assert "phone calls browser and desk phone: desk phone branch offered plain RTP, then cancelled" in names
    assert "phone calls browser: browser re-INVITE (target refresh) answered" in names
    assert all(o.vantage == lab_topology(lab.plan).nat_client_netns for o in outcomes)


@needs_browser
def test_relay_call_on_the_lab_fails_with_a_wrong_turn_secret(lab: Lab) -> None:
    secrets = _site_secrets(lab)
    wrong = Secrets({**secrets.values, "turn_secret": "not-the-site-secret"})
    outcomes = run_browser_probe(lab.plan, wrong, lab.pki, calls=("relay",))
    failed = {o.name.split(": ", 1)[-1] for o in outcomes if not o.ok}
    assert {"browser used a relay candidate", "media relayed by coturn", "browser leg DTLS-SRTP"} <= failed


def test_a_wrong_ca_fails_the_tls_probes(lab: Lab) -> None:
    other = lab.site.parent / "other-pki"
    res = voipctl("pki", "init", str(lab.site), "--pki-dir", str(other))
    assert res.returncode == 0, res.stderr
    res, report = lab.verify(pki=other)
    assert res.returncode == 1
    failed = _failed(report)
    certs = [o for k, o in failed.items() if k.startswith("host:cert|")]
    assert len(certs) == 3 and all("does not verify to the site CA" in o["detail"] for o in certs)
    for vantage in ("public", "nat"):
        assert any(k.startswith(f"sip|{vantage}|OPTIONS over TLS") for k in failed), failed.keys()
        assert any(k.startswith(f"sip|{vantage}|OPTIONS over WSS") for k in failed)
    chains = [o for k, o in failed.items() if k.startswith("tls|") and "chain verifies" in k]
    assert len(chains) == 3
    passed = {o["name"] for o in report["outcomes"] if o["status"] == "passed"}
    assert "OPTIONS over UDP 198.51.100.11:5060" in passed  # only what depends on the CA failed


def _neighbour_ng_key(media: Any) -> str:
    rtp = media.rtpengine
    return (f"exposure|public|rtpengine ng unreachable at udp {rtp.ng_address}:{rtp.ng_port} "
            "through the public interface (neighbour)")


def test_without_the_firewall_the_neighbour_reaches_rtpengine_ng(lab: Lab) -> None:
    """Live negative of the firewall: the table removed on the media node, exactly the neighbour's
    ng ping through the public interface goes red (with pong); the deployed ruleset restores it."""
    media = next(n for n in lab.plan.nodes if n.rtpengine is not None)
    rtp = media.rtpengine
    assert media.firewall is not None and rtp is not None
    resolver = lab_topology(lab.plan).addresses.resolver_private
    key = _neighbour_ng_key(media)
    host_key = (f"host:firewall||table inet {media.firewall.table} loaded as deployed from {media.firewall.path}, "
                "policy drop")
    assert lab.ssh(media.name, "nft", "delete", "table", "inet", media.firewall.table).returncode == 0
    try:
        res, report = lab.verify()
        assert res.returncode == 1
        failed = _failed(report)
        private_key = (f"firewall|private|rtpengine ng at udp {rtp.ng_address}:{rtp.ng_port} silent to "
                       f"{resolver} (a private neighbour, no SIP node)")
        assert set(failed) == {key, host_key, private_key}, failed.keys()
        assert "pong" in failed[key]["detail"] and "pong" in failed[private_key]["detail"]
        assert "the table is not loaded" in failed[host_key]["detail"]
    finally:
        assert lab.ssh(media.name, "nft", "-f", media.firewall.path).returncode == 0
    res, report = lab.verify("--no-hosts")
    assert res.returncode == 0, _failed(report)
    passed = {f"{o['group']}|{o['vantage']}|{o['name']}": o for o in report["outcomes"] if o["status"] == "passed"}
    assert "no answer" in passed[key]["detail"]


def test_a_public_ng_socket_fails_the_host_checks_behind_the_firewall(lab: Lab) -> None:
    media = next(n for n in lab.plan.nodes if n.rtpengine is not None)
    rtp = media.rtpengine
    assert rtp is not None
    conf = rtp.conf_path
    with lab.edited(media.name, conf, f"s/^listen-ng = .*/listen-ng = 0.0.0.0:{rtp.ng_port}/", "rtpengine-daemon"):
        res, report = lab.verify()
        assert res.returncode == 1
        failed = _failed(report)
        # the firewall still drops ng from clients: the socket is caught on the host, not from outside
        assert not [k for k in failed if k.startswith("exposure|")], failed.keys()
        assert any(k.startswith("host:listening||rtpengine ng") and "0.0.0.0" in o["detail"]
                   for k, o in failed.items())
        assert any(k.startswith("host:listeners||") for k in failed)
        assert any(k == f"host:file||{conf} root:root 0644 as rendered" and "drift" in o["detail"]
                   for k, o in failed.items())
    assert f"{rtp.ng_address}:{rtp.ng_port}" in lab.ssh(media.name, "ss", "-Hlun").stdout


def test_a_stopped_rtpengine_fails_the_call(lab: Lab) -> None:
    media = next(n for n in lab.plan.nodes if n.rtpengine is not None)
    assert lab.ssh(media.name, "systemctl", "stop", "rtpengine-daemon").returncode == 0
    try:
        res, report = lab.verify("--no-hosts")
        assert res.returncode == 1
        failed = _failed(report)
        sdp = [o for k, o in failed.items() if k.startswith("call|") and "SDP" in k]
        assert len(sdp) == 2, failed.keys()
        assert all("not a media node address" in o["detail"] or "no SDP" in o["detail"] for o in sdp)
    finally:
        lab.ssh(media.name, "systemctl", "start", "rtpengine-daemon")


def test_a_turn_server_relaying_anywhere_fails_the_permission_checks(lab: Lab) -> None:
    """Without the deny-all lines coturn 4.6.1 grants every peer but loopback: verify must say so."""
    node = next(n for n in lab.plan.nodes if n.coturn is not None)
    tc = node.coturn
    assert tc is not None
    with lab.edited(node.name, tc.conf_path, "/^denied-peer-ip=/d", "coturn"):
        res, report = lab.verify("--no-hosts")
        assert res.returncode == 1
        failed = {o["name"]: o["detail"] for o in report["outcomes"]
                  if o["group"] == "turn" and o["status"] == "failed"}
        sip1 = lab.plan.node("sip1")
        for peer in (f"{sip1.public} (SIP node sip1)", f"{sip1.private} (SIP node sip1)",
                     "198.51.100.254 (not a site address)", "169.254.169.254 (cloud metadata)"):
            assert failed.get(f"TURN permission towards {peer} is denied") == "permission granted", failed
        passed = {o["name"] for o in report["outcomes"] if o["status"] == "passed"}
        assert "TURN permission towards 127.0.0.1 (loopback) is denied" in passed  # coturn's own rule
