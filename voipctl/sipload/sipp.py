"""SIPp at a fixed rate: argv lists (pure, unit-tested) and the outcome read from its statistics file.

Scenarios and argv come from voipctl.sipp (REGISTER with digest, and a caller/callee pair that
honours record-route). Passwords reach SIPp only in a 0600 CSV (-inf), never on argv.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.sipp.argv import PCMA_30MS, REGISTER, UAS, SippRun, sipp_argv

# A lost message fails its call after this long instead of stalling the run.
RECV_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class Load:
    """`calls` scenario runs started at `rate` per second from `local_ip` to `target`."""

    scenario: str
    rate: float
    calls: int
    local_ip: str
    target: str
    domain: str
    csv: Path
    stat_file: Path
    service: str | None = None
    local_port: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What SIPp counted: scenario runs created, completed, failed; and the run's wall time."""

    created: int
    successful: int
    failed: int
    seconds: float

    @property
    def failed_share(self) -> float:
        return self.failed / self.created if self.created else 1.0


def load_argv(sipp: str, load: Load) -> list[str]:
    """One SIPp client run; statistics go to `stat_file` (read by `read_outcome`)."""
    # the load's own registrations are never called: without a fixed port their Contact names 5060
    contact = ("contact_port", str(load.local_port or 5060)) if load.scenario == REGISTER else None
    keys = (("domain", load.domain), ("expires", "3600"), *((contact,) if contact else ()))
    return sipp_argv(sipp, SippRun(load.scenario, load.local_ip, load.target, load.local_port, load.service, keys,
                                   load.csv, calls=load.calls, rate=load.rate, recv_timeout_ms=RECV_TIMEOUT_MS,
                                   stat_file=load.stat_file, extra=("-fd", "1", "-max_socket", "64")))


def uas_argv(sipp: str, service: str, domain: str, local_ip: str, port: int) -> list[str]:
    """The callee: answers every INVITE it gets until stopped."""
    return sipp_argv(sipp, SippRun(UAS, local_ip, None, port, service, (("domain", domain), *PCMA_30MS.keys()),
                                   calls=None))


def read_outcome(stat_file: Path, seconds: float) -> Outcome:
    """The last row of SIPp's statistics CSV (cumulative counters)."""
    try:
        text = stat_file.read_text(errors="replace")
    except FileNotFoundError:
        raise ToolError(f"SIPp wrote no statistics ({stat_file})") from None
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    if not rows:
        raise ToolError(f"SIPp statistics {stat_file} are empty")
    last = rows[-1]
    try:
        return Outcome(int(last["TotalCallCreated"]), int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"]),
                       seconds)
    except (KeyError, ValueError) as exc:
        raise ToolError(f"SIPp statistics {stat_file} lack a counter: {exc}") from None
