"""The calls of the browser scenario, each recorded for judging (no verdicts here).

1. browser -> phone, ICE policy "all"; 2. the same with policy "relay" (through coturn);
3. phone -> browser, which auto-answers and then refreshes the session (re-INVITE);
4. (on request) phone -> the browser's user registered on the browser and on a ringing desk
   phone: the call forks, the browser answers, the desk phone's branch is cancelled.
The browser hangs up every call after `hold` s.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from voipctl.probe.sdp import SdpSummary
from voipctl.verify.browser import media, phone
from voipctl.verify.browser.config import SiteTargets
from voipctl.verify.browser.driver import BrowserDriver, DriverError
from voipctl.verify.browser.mediaset import find_carrier
from voipctl.verify.browser.vantage import BrowserVantage

CALL_TIMEOUT = 25.0  # ICE gathering + INVITE + answer
HANGUP_TIMEOUT = 10.0
QUERY_GAP = 2.0  # seconds between the two rtpengine queries: the counts must rise in between
REFRESH_TIMEOUT = 8.0  # the browser's re-INVITE: offer, answer, ACK
DESK_EXPIRES = 120


@dataclass
class CallRecord:
    """What one call did, from the browser, the phone, rtpengine and coturn."""

    name: str
    direction: str  # "outbound" (browser calls) or "inbound"
    policy: str
    error: str | None = None
    call_id: str | None = None
    held: float = 0.0
    hangup: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    stats_at: float = 0.0
    first: media.FlowSnapshot | None = None
    flows: list[media.LegFlow] = field(default_factory=list)
    flows_at: float = 0.0
    ng_error: str | None = None
    media_node: str | None = None  # the media node whose rtpengine knew the call
    phone_rc: int | None = None
    phone_sdp: SdpSummary | None = None
    relay_sockets: int = 0
    refresh: str | None = None  # "ok", or why the browser's re-INVITE failed
    desk_registered: int | None = None  # forked call only: the desk phone's REGISTER exit code
    desk_rc: int | None = None
    desk_sdp: SdpSummary | None = None


@dataclass(frozen=True)
class CallContext:
    """Everything a call needs besides the driver."""

    targets: SiteTargets
    vantage: BrowserVantage
    workdir: Path
    credentials: Path
    hold: float
    desk_credentials: Path | None = None  # the browser user's, for the desk phone of a forked call


def _query(ctx: CallContext, rec: CallRecord) -> None:
    """Ask the media nodes for the call: the first time every node (which one carried it is
    recorded), then the node that did."""
    if rec.call_id is None:
        rec.ng_error = "the browser reported no Call-ID"
        return
    nodes = ctx.targets.media
    if rec.media_node is not None:
        nodes = tuple(n for n in nodes if n.name == rec.media_node)
    found = find_carrier(nodes, ctx.vantage.node_netns, rec.call_id)
    if found.node is None:
        rec.ng_error = found.why
        return
    rec.media_node = found.node
    rec.flows = media.leg_flows(found.reply)
    (ctx.workdir / f"{rec.name}-ng.log").write_text(json.dumps(media.printable(found.reply), indent=1))


def _relay_sockets(ctx: CallContext) -> int:
    count = 0
    for t in ctx.targets.turn:
        netns = ctx.vantage.node_netns.get(t.node)
        if netns is not None:
            count += media.relay_socket_count(netns, t.relay_address, t.relay_min, t.relay_max)
    return count


def _in_call(ctx: CallContext, drv: BrowserDriver, rec: CallRecord, started: float) -> None:
    """Hold the call, reading rtpengine's counts twice (they must rise) and the browser's view while it
    is still up, then hang up."""
    time.sleep(max(0.0, ctx.hold - QUERY_GAP - (time.monotonic() - started)))
    _query(ctx, rec)
    rec.first = media.FlowSnapshot(time.monotonic() - started, tuple(rec.flows))
    time.sleep(QUERY_GAP)
    rec.stats = drv.call("stats", timeout=10)
    rec.stats_at = time.monotonic() - started
    _query(ctx, rec)
    rec.flows_at = time.monotonic() - started
    rec.relay_sockets = _relay_sockets(ctx)
    rec.held = time.monotonic() - started
    rec.hangup = drv.call("hangup", int(HANGUP_TIMEOUT * 1000), timeout=HANGUP_TIMEOUT + 5)["cause"]


def _phone_run(ctx: CallContext, name: str, scenario: str, port: int, media_port: int | None,
               **keys: str) -> phone.PhoneRun:
    base = ctx.workdir / name
    return phone.PhoneRun(scenario, port, media_port, phone.phone_keys(ctx.targets.domain, **keys),
                          base.with_suffix(".msg"), base.with_suffix(".err"), base.with_suffix(".log"))


def _wait_bound(ctx: CallContext, port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if media.udp_bound(ctx.vantage.phone_netns, ctx.vantage.phone_address, port):
            return
        time.sleep(0.05)


def _call_with_phone(ctx: CallContext, drv: BrowserDriver, rec: CallRecord, proc: phone.PhoneProcess,
                     run: phone.PhoneRun, sdp_from: str, connect: Callable[[], float]) -> CallRecord:
    """One call between the browser and the running phone: `connect` sets it up and returns when it was
    up; then hold, hang up, wait for the phone. A driver error abandons the call; the phone always stops.
    The phone's SDP is that of the first message it received starting with `sdp_from`."""
    try:
        _in_call(ctx, drv, rec, connect())
        rec.phone_rc = proc.wait(10)
    except DriverError as exc:
        rec.error = str(exc)
        _abandon(ctx, drv, rec)
    finally:
        proc.stop()
    rec.phone_sdp = phone.received_sdp(_read(run.trace), sdp_from)
    return rec


def outbound_call(ctx: CallContext, drv: BrowserDriver, name: str, policy: str) -> CallRecord:
    """The browser calls the phone, which answers and echoes RTP."""
    rec = CallRecord(name, "outbound", policy)
    run = _phone_run(ctx, f"{name}-phone", phone.ANSWER, phone.UAS_PORT, phone.UAS_MEDIA_PORT)
    uas = phone.start_phone(ctx.vantage.phone_netns, run, ctx.vantage.phone_address, ctx.targets.phone_user,
                            None, None)

    def connect() -> float:
        _wait_bound(ctx, phone.UAS_PORT)
        target = f"sip:{ctx.targets.phone_user}@{ctx.targets.domain}"
        answered = drv.call("call", target, policy, int(CALL_TIMEOUT * 1000), timeout=CALL_TIMEOUT + 5)
        started = time.monotonic()
        rec.call_id = answered.get("callId")
        return started

    return _call_with_phone(ctx, drv, rec, uas, run, "INVITE ", connect)


def inbound_call(ctx: CallContext, drv: BrowserDriver, name: str) -> CallRecord:
    """The phone calls the browser, which answers by itself; the browser hangs up."""
    rec = CallRecord(name, "inbound", "all")
    # rtpengine knows the call by the phone's Call-ID; the browser sees it encoded by topology
    # hiding, so the phone is given its Call-ID and rtpengine is asked for that one
    token = f"voipctl-{secrets.token_hex(8)}"
    run = replace(_phone_run(ctx, f"{name}-phone", phone.CALL, phone.UAC_PORT, phone.UAC_MEDIA_PORT,
                             callee=ctx.targets.browser_user), call_id_format=f"{token}-%u")
    uac = phone.start_phone(ctx.vantage.phone_netns, run, ctx.vantage.phone_address, ctx.targets.phone_user,
                            ctx.targets.sip_udp, ctx.credentials)

    def connect() -> float:
        drv.call("waitIncoming", int(CALL_TIMEOUT * 1000), timeout=CALL_TIMEOUT + 5)
        started = time.monotonic()
        rec.call_id = f"{token}-1"  # the phone makes one call (-m 1)
        rec.refresh = _refresh(drv)
        return started

    return _call_with_phone(ctx, drv, rec, uac, run, "SIP/2.0 200", connect)


def _refresh(drv: BrowserDriver) -> str:
    """The browser re-INVITEs the phone that called it: "ok" once the 2xx came back."""
    try:
        drv.call("refresh", int(REFRESH_TIMEOUT * 1000), timeout=REFRESH_TIMEOUT + 5)
    except DriverError as exc:
        return str(exc)
    return "ok"


def register_device(ctx: CallContext, user: str, creds: Path, contact_port: int, expires: int, name: str) -> int:
    """SIPp REGISTER of `user` with Contact on `contact_port` of the phone's address; its exit code."""
    run = phone.PhoneRun(phone.REGISTER, phone.REGISTER_PORT, None,
                         phone.phone_keys(ctx.targets.domain, contact_port=str(contact_port), expires=str(expires)),
                         ctx.workdir / f"{name}.msg", ctx.workdir / f"{name}.err", ctx.workdir / f"{name}.log")
    proc = phone.start_phone(ctx.vantage.phone_netns, run, ctx.vantage.phone_address, user,
                             ctx.targets.sip_udp, creds)
    rc = proc.wait(20)
    return -1 if rc is None else rc


def forked_call(ctx: CallContext, drv: BrowserDriver, name: str) -> CallRecord:
    """The phone calls the browser's user, also registered on a desk phone that only rings."""
    if ctx.desk_credentials is None:
        raise ValueError("a forked call needs the browser user's credentials for the desk phone")
    user = ctx.targets.browser_user
    desk_run = _phone_run(ctx, f"{name}-desk", phone.RING, phone.DESK_PORT, None)
    registered = register_device(ctx, user, ctx.desk_credentials, phone.DESK_PORT, DESK_EXPIRES, f"{name}-desk-reg")
    desk = phone.start_phone(ctx.vantage.phone_netns, desk_run, ctx.vantage.phone_address, user, None, None)
    try:
        _wait_bound(ctx, phone.DESK_PORT)
        rec = inbound_call(ctx, drv, name)
        rec.desk_rc = desk.wait(10)
    finally:
        desk.stop()
        register_device(ctx, user, ctx.desk_credentials, phone.DESK_PORT, 0, f"{name}-desk-unreg")
    rec.desk_registered = registered
    rec.desk_sdp = phone.received_sdp(_read(desk_run.trace), "INVITE ")
    return rec


def _abandon(ctx: CallContext, drv: BrowserDriver, rec: CallRecord) -> None:
    """After a failure: keep what the browser saw, and make sure no call is left up."""
    with contextlib.suppress(DriverError):
        if not rec.stats:
            rec.stats = drv.call("stats", timeout=10)
    if rec.call_id is None:
        rec.call_id = rec.stats.get("callId")
    if not rec.flows and rec.ng_error is None:
        _query(ctx, rec)
    with contextlib.suppress(DriverError):
        drv.call("hangup", 3000, timeout=8)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
