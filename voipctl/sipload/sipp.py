"""SIPp at a fixed rate: argv lists (pure, unit-tested) and the outcome read from its statistics file.

Scenarios are verify's (voipctl/verify/sipp): REGISTER with digest, and a caller/callee pair that
honours record-route. Passwords reach SIPp only in a 0600 CSV (-inf), never on argv.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.verify.call.judge import SCENARIOS, credentials_csv

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


def credentials_table(users: Sequence[tuple[str, str]]) -> str:
    """A SEQUENTIAL -inf file, one line per user (field0 user, field1 the [authentication] keyword)."""
    if not users:
        raise ToolError("SIPp needs at least one subscriber")
    lines = [credentials_csv(user, password).splitlines()[1] for user, password in users]
    return "SEQUENTIAL\n" + "".join(f"{line}\n" for line in lines)


def load_argv(sipp: str, load: Load) -> list[str]:
    """One SIPp client run; statistics go to `stat_file` (read by `read_outcome`)."""
    argv = [sipp, "-sf", str(SCENARIOS / load.scenario), "-inf", str(load.csv), "-key", "domain", load.domain,
            "-key", "expires", "3600", "-i", load.local_ip, "-t", "u1", "-r", f"{load.rate:g}",
            "-m", str(load.calls), "-recv_timeout", str(RECV_TIMEOUT_MS), "-nostdin",
            "-trace_stat", "-stf", str(load.stat_file), "-fd", "1", "-max_socket", "64"]
    if load.service is not None:
        argv += ["-s", load.service]
    if load.local_port is not None:
        argv += ["-p", str(load.local_port)]
    return [*argv, load.target]


def uas_argv(sipp: str, service: str, domain: str, local_ip: str, port: int) -> list[str]:
    """The callee: answers every INVITE it gets until stopped."""
    return [sipp, "-sf", str(SCENARIOS / "uas.xml"), "-s", service, "-key", "domain", domain,
            "-i", local_ip, "-p", str(port), "-t", "u1", "-nostdin"]


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
