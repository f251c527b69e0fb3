"""Run the SIPp call: register the callee at one vantage, answer there, call from another.

The UAS sits at the first vantage (public client in the lab), the UAC at the
last (behind NAT), so the call crosses the NAT and neither side shares an
address with rtpengine.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.plan.model import Plan
from voipctl.secrets import Secrets
from voipctl.verify import sipp
from voipctl.verify.result import Outcome
from voipctl.verify.vantage import Vantage, source_address

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

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def vantage(self) -> str:
        return f"{self.uac.name}->{self.uas.name}"


def call_setup(plan: Plan, vantages: Sequence[Vantage], secrets: Secrets) -> CallSetup | Outcome:
    """Who calls whom where, or the skip that says why no call can be tried."""
    if len(plan.subscribers) < 2:
        return Outcome(GROUP, NAME, "skipped", "the site needs two subscribers for a call")
    for node in plan.nodes:
        kam = node.kamailio
        udp = [lst for lst in kam.listeners if lst.proto == "udp" and lst.address == node.client_address] \
            if kam is not None else []
        if udp:
            caller, callee = plan.subscribers[0], plan.subscribers[1]
            return CallSetup(node.name, udp[0].address, udp[0].port, plan.domain, caller, callee,
                             vantages[0], vantages[-1],
                             tuple(n.advertised for n in plan.nodes if n.rtpengine is not None),
                             secrets.subscriber(caller), secrets.subscriber(callee))
    return Outcome(GROUP, NAME, "skipped", "no SIP node has a public UDP listener for SIPp")


def _run(run: sipp.SippRun, vantage: Vantage, timeout: float) -> tuple[int, str]:
    proc = subprocess.Popen(vantage.wrap(run.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return _finish(proc, timeout)


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


def _all_failed(setup: CallSetup, detail: str, seconds: float) -> list[Outcome]:
    verdicts = sipp.judge_call(sipp.CallLog(None, frozenset()), sipp.CallLog(None, frozenset()), 1, 1,
                               setup.media, detail)
    return sipp.outcomes([(n, s, detail) for n, s, _ in verdicts], setup.node, setup.vantage, seconds)


def run_call(setup: CallSetup, workdir: Path) -> list[Outcome]:
    """Register the callee, run UAS and UAC, unregister; three outcomes (dialog, offer SDP, answer SDP)."""
    started = time.monotonic()
    binary = shutil.which("sipp")
    if binary is None:
        return _all_failed(setup, "SIPp is not installed (apt-get install sip-tester)", 0.0)
    uas_ip = source_address(setup.uas, setup.host)
    uac_ip = source_address(setup.uac, setup.host)
    if uas_ip is None or uac_ip is None:
        return _all_failed(setup, f"no route from the vantages to {setup.host}", 0.0)
    try:
        callee_csv = sipp.write_private(workdir / "callee.csv",
                                        sipp.credentials_csv(setup.callee, setup.callee_password))
        caller_csv = sipp.write_private(workdir / "caller.csv",
                                        sipp.credentials_csv(setup.caller, setup.caller_password))
    except ToolError as exc:
        return _all_failed(setup, str(exc), 0.0)
    reg = sipp.register_run(binary, workdir, callee_csv, setup.domain, uas_ip, sipp.UAS_PORT, setup.target, 60)
    rc, out = _run(reg, setup.uas, 20)
    if rc != 0:
        return _all_failed(setup, "the callee could not register: " + sipp.failure_detail(reg, rc, out),
                           time.monotonic() - started)
    uas = sipp.uas_run(binary, workdir, setup.callee, setup.domain, uas_ip, sipp.UAS_PORT)
    uac = sipp.uac_run(binary, workdir, caller_csv, setup.callee, setup.domain, uac_ip, setup.target)
    uas_proc = subprocess.Popen(setup.uas.wrap(uas.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(0.3)  # the UAS binds before the INVITE can reach it
        uac_rc, uac_out = _run(uac, setup.uac, sipp.CALL_TIMEOUT + 5)
        uas_rc, uas_out = _finish(uas_proc, 10 if uac_rc == 0 else 1)
    finally:
        if uas_proc.poll() is None:
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
    return sipp.outcomes(verdicts, setup.node, setup.vantage, time.monotonic() - started)
