"""rtpengine's view of the SIPp call's media: two `query` snapshots while the call is up, and a verdict.

The caller plays 30 ms PCMA (sip-tester's g711a.pcap) and the callee echoes every
packet, so rtpengine must count RTP arriving from both parties: the caller's
audio, and the callee's echo of what rtpengine forwarded to it. The counts must
match the time since media started (half the pcap's rate at least) and rise
between the two queries; a signalling-only call or one-way forwarding fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from voipctl.probe.ng import BValue
from voipctl.verify.browser.media import FlowSnapshot, flow_problems, leg_flows
from voipctl.verify.report.outcome import Status

PCAP = Path("/usr/share/sip-tester/g711a.pcap")
PCAP_PPS = 1000 / 30  # the pcap carries one 240-byte PCMA packet every 30 ms
NAME = "RTP through rtpengine on both legs (caller's audio in, callee's echo back), counts rising"
POLL, SETTLE, GAP = 0.2, 1.0, 1.5
FIND_TIMEOUT = 8.0

Query = Callable[[], dict[bytes, BValue]]


def _flows(query: Query) -> tuple[FlowSnapshot | None, str]:
    try:
        reply = query()
    except OSError as exc:
        return None, f"ng query failed: {exc}"
    if reply.get(b"result") != b"ok":
        return None, f"rtpengine does not know the call: {reply.get(b'error-reason', reply.get(b'result'))!r}"
    return FlowSnapshot(0.0, tuple(leg_flows(reply))), ""


def sample(query: Query, find_timeout: float = FIND_TIMEOUT) -> tuple[list[FlowSnapshot], str | None]:
    """Wait until rtpengine counts RTP from both parties, then take two snapshots (at is seconds since)."""
    deadline = time.monotonic() + find_timeout
    why = "not asked"
    while True:
        snap, why = _flows(query)
        if snap is not None and len(snap.flows) >= 2 and all(f.packets > 0 for f in snap.flows):
            break
        if snap is not None:
            why = "counts: " + ("; ".join(f.describe() for f in snap.flows) or "no parties")
        if time.monotonic() >= deadline:
            return [], f"rtpengine never counted RTP from both parties within {find_timeout:.0f} s ({why})"
        time.sleep(POLL)
    media_seen = time.monotonic()
    snaps: list[FlowSnapshot] = []
    for wait in (SETTLE, GAP):
        time.sleep(wait)
        snap, why = _flows(query)
        if snap is None:
            return snaps, why
        snaps.append(FlowSnapshot(time.monotonic() - media_seen, snap.flows))
    return snaps, None


def judge_media(snaps: Sequence[FlowSnapshot], error: str | None) -> tuple[Status, str]:
    """Passed only with two snapshots of two parties whose counts match the pcap's rate and rise."""
    if error is not None:
        return "failed", error
    if len(snaps) != 2:
        return "failed", f"{len(snaps)} rtpengine snapshots, 2 needed"
    first, second = snaps
    seen = "; ".join(f.describe() for f in second.flows) or "no parties"
    problems = [] if len(second.flows) == 2 else [f"{len(second.flows)} parties, 2 expected"]
    problems += flow_problems(first, second, PCAP_PPS)
    if problems:
        return "failed", f"{seen}: " + "; ".join(problems)
    return "passed", f"{seen} after {second.at:.1f} s; rose over the last {second.at - first.at:.1f} s"
