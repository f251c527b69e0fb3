"""The load's SIPp runs (built by voipctl.sipp.argv) and their outcome, read from SIPp's statistics file.

Only what is particular to load lives here: a fixed rate and count, a receive timeout, SIPp's
socket options for many calls, and the statistics CSV. Scenarios, argv and the 0600 credentials
file (-inf; passwords never on argv) are voipctl.sipp's, as for every other SIPp run.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.sipp.argv import REGISTER, UAS, SippRun, callee_keys, register_keys

# A lost message fails its call after this long instead of stalling the run.
RECV_TIMEOUT_MS = 2000
# One socket for every call (-fd 1 shares the descriptor), at most 64 of them.
LOAD_OPTIONS = ("-fd", "1", "-max_socket", "64")
# The load's own registrations are never called: they may stay all the while.
LOAD_EXPIRES = 3600


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


def load_run(scenario: str, rate: float, calls: int, local_ip: str, target: str, domain: str, inf: Path,
             stat_file: Path, service: str | None = None, local_port: int | None = None) -> SippRun:
    """`calls` scenario runs started at `rate` per second; statistics go to `stat_file` (see `read_outcome`)."""
    # without a fixed port the Contact of a registration names 5060: nobody calls it
    keys = register_keys(domain, LOAD_EXPIRES, local_port or 5060) if scenario == REGISTER else (("domain", domain),)
    return SippRun(scenario, local_ip, target, local_port, service, keys, inf, calls=calls, rate=rate,
                   recv_timeout_ms=RECV_TIMEOUT_MS, stat_file=stat_file, extra=LOAD_OPTIONS)


def callee_run(service: str, domain: str, local_ip: str, port: int) -> SippRun:
    """The callee: answers every INVITE it gets until stopped."""
    return SippRun(UAS, local_ip, None, port, service, callee_keys(domain), calls=None)


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
