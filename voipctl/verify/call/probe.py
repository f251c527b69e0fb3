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
from voipctl.probe.ng import BValue
from voipctl.proc import Process, spawn_piped
from voipctl.secrets import Secrets
from voipctl.sipp.credentials import write_credentials
from voipctl.verify.browser.media import FlowSnapshot
from voipctl.verify.browser.mediaset import MediaNode, coverage, find_carrier, media_nodes, steered_call_id
from voipctl.verify.call import media as callmedia
from voipctl.verify.call import sipp_call as sipp
from voipctl.verify.probes.vantage import Vantage, source_address
from voipctl.verify.report.outcome import Outcome, Status

GROUP = "call"
NAME = "SIP call UAC -> kamailio -> UAS"
MAX_CALLS_PER_NODE = 4  # calls tried per media node to see each one carry a call


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
    media_nodes: tuple[MediaNode, ...] = ()  # the rtpengine set, in kamailio's order
    node_netns: Mapping[str, str] = field(default_factory=dict)  # where each ng socket can be asked (the lab's)

    @property
    def ng(self) -> tuple[str, int] | None:
        """The first media node's ng socket."""
        return self.media_nodes[0].ng if self.media_nodes else None

    @property
    def ng_netns(self) -> str | None:
        return self.node_netns.get(self.media_nodes[0].name) if self.media_nodes else None

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
    for node in plan.nodes:
        kam = node.kamailio
        udp = [lst for lst in kam.listeners if lst.proto == "udp" and lst.address == node.client_address] \
            if kam is not None else []
        if udp:
            caller, callee = plan.subscribers[0], plan.subscribers[1]
            return CallSetup(node.name, udp[0].reached_at, udp[0].port, plan.domain, caller, callee,
                             vantages[0], vantages[-1],
                             tuple(n.advertised for n in plan.nodes if n.rtpengine is not None),
                             secrets.subscriber(caller), secrets.subscriber(callee), media_nodes(plan),
                             dict(node_netns or {}))
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


class _CarrierQuery:
    """rtpengine's `query` for one call: every media node until one knows it, then that node."""

    def __init__(self, setup: CallSetup, call_id: str) -> None:
        self.setup, self.call_id = setup, call_id
        self.node: str | None = None

    def __call__(self) -> dict[bytes, BValue]:
        nodes = [n for n in self.setup.media_nodes if self.node in (None, n.name)]
        found = find_carrier(nodes, self.setup.node_netns, self.call_id)
        if found.node is None:
            return {b"result": b"error", b"error-reason": found.why.encode()}
        self.node = found.node
        return found.reply


def _can_ask(setup: CallSetup) -> bool:
    return bool(setup.media_nodes) and all(n.name in setup.node_netns for n in setup.media_nodes)


def _media_verdict(setup: CallSetup, sampled: tuple[list[FlowSnapshot], str | None] | None,
                   carrier: str | None) -> tuple[str, Status, str]:
    if sampled is None:
        why = "no rtpengine in the plan" if not setup.media_nodes else \
            "rtpengine's ng socket is private and can be asked only from inside the lab's node namespace"
        return callmedia.NAME, "skipped", why
    status, detail = callmedia.judge_media(*sampled)
    return callmedia.NAME, status, f"media node {carrier}: {detail}" if carrier else detail


@dataclass(frozen=True)
class _Parties:
    binary: str
    workdir: Path
    uas_ip: str
    uac_ip: str
    caller_csv: Path


@dataclass(frozen=True)
class _CallResult:
    verdicts: list[tuple[str, Status, str]]
    carrier: str | None


def _one_call(setup: CallSetup, parties: _Parties, call_id: str, suffix: str = "") -> _CallResult:
    """UAS and UAC for one call with `call_id`; its verdicts and the media node that knew the call."""
    binary, workdir = parties.binary, parties.workdir
    uas = sipp.uas_run(binary, workdir, setup.callee, setup.domain, parties.uas_ip, sipp.UAS_PORT, f"uas{suffix}")
    uac = sipp.uac_run(binary, workdir, parties.caller_csv, setup.callee, setup.domain, parties.uac_ip,
                       setup.target, call_id, f"uac{suffix}")
    query = _CarrierQuery(setup, call_id) if _can_ask(setup) else None
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
    details = []
    if uac_rc != 0:
        details.append("UAC " + sipp.failure_detail(uac, uac_rc, uac_out))
    if uas_rc != 0:
        details.append("UAS " + sipp.failure_detail(uas, uas_rc, uas_out))
    verdicts = sipp.judge_call(sipp.parse_log(sipp.read_text(uas.log)), sipp.parse_log(sipp.read_text(uac.log)),
                               uas_rc, uac_rc, setup.media, "; ".join(details))
    carrier = query.node if query is not None else None
    verdicts.append(_media_verdict(setup, sampled, carrier))
    return _CallResult(verdicts, carrier)


def _every_media_node(setup: CallSetup, parties: _Parties, first: str | None) -> list[tuple[str, Status, str]]:
    """More calls, each aimed at a media node that has carried none yet, until every node carried one
    or MAX_CALLS_PER_NODE calls per node were made; one verdict per media node."""
    carried = [first]
    limit = MAX_CALLS_PER_NODE * len(setup.media_nodes)
    while len(carried) < limit:
        left = [n.name for n in setup.media_nodes if n.name not in carried]
        if not left:
            break
        call_id = steered_call_id(setup.media_nodes, left[0])
        carried.append(_one_call(setup, parties, call_id, f"-{len(carried) + 1}").carrier)
    return coverage(setup.media_nodes, carried)


def run_call(setup: CallSetup, workdir: Path) -> list[Outcome]:
    """Register the callee, run UAS and UAC, unregister: the dialog, offer SDP, answer SDP and media
    outcomes; on a site with several media nodes, more calls until each carried one, and a verdict each."""
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
    parties = _Parties(binary, workdir, uas_ip, uac_ip, caller_csv)
    try:
        first = _one_call(setup, parties, f"voipctl-verify-{token_hex(8)}")
        verdicts = first.verdicts
        if len(setup.media_nodes) > 1 and _can_ask(setup):
            verdicts += _every_media_node(setup, parties, first.carrier)
    finally:
        unreg = sipp.register_run(binary, workdir, callee_csv, setup.domain, uas_ip, sipp.UAS_PORT, setup.target,
                                  0, name="unregister")
        _run(unreg, setup.uas, 20)
    return sipp.outcomes(verdicts, setup.node, setup.vantage, time.monotonic() - started)
