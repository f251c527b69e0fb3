"""Run the SIPp call: register the callee at one vantage, answer there, call from another.

The UAS sits at the first vantage (public client in the lab), the UAC at the
last (behind NAT), so the call crosses the NAT and neither side shares an
address with rtpengine.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex

from voipctl.errors import ToolError
from voipctl.plan.model import Plan
from voipctl.proc import Process, spawn_piped
from voipctl.secrets import Secrets
from voipctl.sipp.credentials import write_credentials
from voipctl.verify.browser.media import FlowSnapshot, ng_query
from voipctl.verify.call import media as callmedia
from voipctl.verify.call import sipp_call as sipp
from voipctl.verify.probes.vantage import Vantage, source_address
from voipctl.verify.report.outcome import Outcome, Status

GROUP = "call"
NAME = "SIP call UAC -> kamailio -> UAS"


@dataclass(frozen=True)
class CallSetup:
    node: str
    host: str
    port: int
    domain: str
    caller: str
    callee: str
    uas: Vantage
    uac: Vantage
    media: tuple[str, ...]
    caller_password: str = field(repr=False)
    callee_password: str = field(repr=False)
    ng: tuple[str, int] | None = None
    ng_netns: str | None = None  # where rtpengine's ng socket can be asked (the lab's node namespace)

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def vantage(self) -> str:
        return f"{self.uac.name}->{self.uas.name}"


def call_setup(plan: Plan, vantages: Sequence[Vantage], secrets: Secrets,
               node_netns: Mapping[str, str] | None = None) -> CallSetup | Outcome:
    """Who calls whom where, or the skip that says why no call can be tried. `node_netns` (node ->
    namespace, the lab's) says where rtpengine can be asked for the call's packet counts."""
    if len(plan.subscribers) < 2:
        return Outcome(GROUP, NAME, "skipped", "the site needs two subscribers for a call")
    media_node = next((n for n in plan.nodes if n.rtpengine is not None), None)
    ng = (media_node.rtpengine.ng_address, media_node.rtpengine.ng_port) \
        if media_node is not None and media_node.rtpengine is not None else None
    ng_netns = (node_netns or {}).get(media_node.name) if media_node is not None else None
    for node in plan.nodes:
        kam = node.kamailio
        udp = [lst for lst in kam.listeners if lst.proto == "udp" and lst.address == node.client_address] \
            if kam is not None else []
        if udp:
            caller, callee = plan.subscribers[0], plan.subscribers[1]
            return CallSetup(node.name, udp[0].reached_at, udp[0].port, plan.domain, caller, callee,
                             vantages[0], vantages[-1],
                             tuple(n.advertised for n in plan.nodes if n.rtpengine is not None),
                             secrets.subscriber(caller), secrets.subscriber(callee), ng, ng_netns)
    return Outcome(GROUP, NAME, "skipped", "no SIP node has a public UDP listener for SIPp")


def _start(run: sipp.SippRun, vantage: Vantage) -> Process:
    """SIPp at `vantage`, stdout and stderr on one pipe; in our process group (a Ctrl-C ends it too)."""
    return spawn_piped(vantage.wrap(run.argv), stderr="stdout", session=False)


def _run(run: sipp.SippRun, vantage: Vantage, timeout: float) -> tuple[int, str]:
    return _start(run, vantage).communicate(timeout)


def _all_failed(setup: CallSetup, detail: str, seconds: float) -> list[Outcome]:
    verdicts = sipp.judge_call(sipp.CallLog(None, frozenset()), sipp.CallLog(None, frozenset()), 1, 1,
                               setup.media, detail)
    verdicts.append((callmedia.NAME, "failed", detail))
    return sipp.outcomes([(n, s, detail) for n, s, _ in verdicts], setup.node, setup.vantage, seconds)


def _media_query(setup: CallSetup, call_id: str) -> callmedia.Query | None:
    if setup.ng is None or setup.ng_netns is None:
        return None
    netns, server = setup.ng_netns, setup.ng
    return lambda: ng_query(netns, server, call_id)


def _media_verdict(setup: CallSetup, sampled: tuple[list[FlowSnapshot], str | None] | None,
                   ) -> tuple[str, Status, str]:
    if sampled is None:
        why = "no rtpengine in the plan" if setup.ng is None else \
            "rtpengine's ng socket is private and can be asked only from inside the lab's node namespace"
        return callmedia.NAME, "skipped", why
    return (callmedia.NAME, *callmedia.judge_media(*sampled))


def run_call(setup: CallSetup, workdir: Path) -> list[Outcome]:
    """Register the callee, run UAS and UAC, unregister; three outcomes (dialog, offer SDP, answer SDP)."""
    started = time.monotonic()
    binary = shutil.which("sipp")
    if binary is None:
        return _all_failed(setup, "SIPp is not installed (apt-get install sip-tester)", 0.0)
    if not callmedia.PCAP.exists():
        return _all_failed(setup, f"{callmedia.PCAP} is missing (it comes with sip-tester)", 0.0)
    uas_ip = source_address(setup.uas, setup.host)
    uac_ip = source_address(setup.uac, setup.host)
    if uas_ip is None or uac_ip is None:
        return _all_failed(setup, f"no route from the vantages to {setup.host}", 0.0)
    try:
        callee_csv = write_credentials(workdir / "callee.csv", [(setup.callee, setup.callee_password)])
        caller_csv = write_credentials(workdir / "caller.csv", [(setup.caller, setup.caller_password)])
    except ToolError as exc:
        return _all_failed(setup, str(exc), 0.0)
    reg = sipp.register_run(binary, workdir, callee_csv, setup.domain, uas_ip, sipp.UAS_PORT, setup.target, 60)
    rc, out = _run(reg, setup.uas, 20)
    if rc != 0:
        return _all_failed(setup, "the callee could not register: " + sipp.failure_detail(reg, rc, out),
                           time.monotonic() - started)
    uas = sipp.uas_run(binary, workdir, setup.callee, setup.domain, uas_ip, sipp.UAS_PORT)
    call_id = f"voipctl-verify-{token_hex(8)}"
    uac = sipp.uac_run(binary, workdir, caller_csv, setup.callee, setup.domain, uac_ip, setup.target, call_id)
    query = _media_query(setup, call_id)
    sampled = None
    uas_proc = _start(uas, setup.uas)
    try:
        time.sleep(0.3)  # the UAS binds before the INVITE can reach it
        uac_proc = _start(uac, setup.uac)
        try:
            sampled = callmedia.sample(query) if query is not None else None
        finally:
            uac_rc, uac_out = uac_proc.communicate(sipp.CALL_TIMEOUT + 5)
        uas_rc, uas_out = uas_proc.communicate(10 if uac_rc == 0 else 1)
    finally:
        if uas_proc.running():
            uas_proc.kill()
            uas_proc.wait()
    unreg = sipp.register_run(binary, workdir, callee_csv, setup.domain, uas_ip, sipp.UAS_PORT, setup.target, 0,
                              name="unregister")
    _run(unreg, setup.uas, 20)
    details = []
    if uac_rc != 0:
        details.append("UAC " + sipp.failure_detail(uac, uac_rc, uac_out))
    if uas_rc != 0:
        details.append("UAS " + sipp.failure_detail(uas, uas_rc, uas_out))
    verdicts = sipp.judge_call(sipp.parse_log(sipp.read_text(uas.log)), sipp.parse_log(sipp.read_text(uac.log)),
                               uas_rc, uac_rc, setup.media, "; ".join(details))
    verdicts.append(_media_verdict(setup, sampled))
    return sipp.outcomes(verdicts, setup.node, setup.vantage, time.monotonic() - started)
