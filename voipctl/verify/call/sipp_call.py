"""The call probe's SIPp runs (built by voipctl.sipp.argv) and the verdicts on what they logged.

Scenarios (voipctl/sipp/scenarios) honour record-route: the UAC stores the route set
of the 200 and sends ACK and BYE to [next_url] with [routes]; the UAS echoes
Record-Route. Both log the SDP connection address they received, which must be
a media node's advertised address (rtpengine rewrote it). Passwords reach SIPp
only in a 0600 CSV (-inf, voipctl.sipp.credentials), as the [authentication] keyword of field1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from voipctl.sipp.argv import REGISTER, UAC, UAS, callee_keys, register_keys, sipp_argv
from voipctl.sipp.argv import SippRun as Sipp
from voipctl.verify.report.outcome import Outcome, Status

UAS_PORT = 5070
UAS_MEDIA_PORT, UAC_MEDIA_PORT = 6100, 6200
CALL_TIMEOUT = 15
_CONN = re.compile(r"^sdp-connection (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class SippRun:
    """One SIPp invocation: where its log and error file go."""

    argv: list[str]
    log: Path
    errors: Path


def _run(binary: str, workdir: Path, name: str, run: Sipp) -> SippRun:
    log, err = workdir / f"{name}.log", workdir / f"{name}.errors"
    return SippRun(sipp_argv(binary, replace(run, log_file=log, error_file=err)), log, err)


def register_run(sipp: str, workdir: Path, csv: Path, domain: str, local_ip: str, port: int, target: str,
                 expires: int, name: str = "register") -> SippRun:
    keys = register_keys(domain, expires, port)
    return _run(sipp, workdir, name, Sipp(REGISTER, local_ip, target, port, keys=keys, inf=csv, timeout_s=10))


def uas_run(sipp: str, workdir: Path, callee: str, domain: str, local_ip: str, port: int,
            name: str = "uas") -> SippRun:
    return _run(sipp, workdir, name, Sipp(UAS, local_ip, None, port, callee, callee_keys(domain),
                                           media_port=UAS_MEDIA_PORT, rtp_echo=True, timeout_s=CALL_TIMEOUT + 5))


def uac_run(sipp: str, workdir: Path, csv: Path, callee: str, domain: str, local_ip: str, target: str,
            call_id: str, name: str = "uac") -> SippRun:
    """The caller; `call_id` is the Call-ID of its INVITE (no % in it), by which rtpengine is asked."""
    return _run(sipp, workdir, name, Sipp(UAC, local_ip, target, None, callee, (("domain", domain),), inf=csv,
                                           media_port=UAC_MEDIA_PORT, call_id=call_id, timeout_s=CALL_TIMEOUT))


@dataclass(frozen=True)
class CallLog:
    connection: str | None
    events: frozenset[str]


def parse_log(text: str) -> CallLog:
    """What a scenario logged: the SDP connection address it received and the events it saw."""
    found = _CONN.search(text)
    events = frozenset(line.strip() for line in text.splitlines() if line.strip() and " " not in line.strip())
    return CallLog(found.group(1) if found else None, events)


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def failure_detail(run: SippRun, returncode: int, output: str) -> str:
    """Why a SIPp run failed, from its error file and the events it printed (no message bodies)."""
    events = [line.split(": ", 1)[-1] for line in output.splitlines() if re.match(r"^\d{4}-\d\d-\d\d\t", line)]
    unexpected = re.findall(r"^(SIP/2\.0 \d{3}[^\r\n]*|[A-Z]+ sip:\S+ SIP/2\.0)", read_text(run.errors), re.MULTILINE)
    parts = [f"SIPp exit {returncode}"]
    if events:
        parts.append("; ".join(events[-3:]))
    if unexpected:
        parts.append("unexpected: " + ", ".join(unexpected[-3:]))
    return ": ".join(parts)


def judge_call(uas: CallLog, uac: CallLog, uas_rc: int, uac_rc: int, media: Sequence[str], detail: str,
               ) -> list[tuple[str, Status, str]]:
    """Three verdicts: the dialog ran end to end, and each side got the media node's address."""
    ok = uas_rc == 0 and uac_rc == 0 and {"ack-received", "bye-received"} <= uas.events \
        and "bye-answered" in uac.events
    out: list[tuple[str, Status, str]] = [
        ("call set up (INVITE with digest, 200, ACK) and hung up (BYE) along the record-route",
         "passed" if ok else "failed", "UAS and UAC completed" if ok else detail),
    ]
    for side, log in (("offer the callee received", uas), ("answer the caller received", uac)):
        name = f"SDP of the {side} points at the media node"
        if log.connection is None:
            out.append((name, "failed", "no SDP received"))
        elif log.connection in media:
            out.append((name, "passed", f"c={log.connection}"))
        else:
            out.append((name, "failed", f"c={log.connection}, not a media node address ({', '.join(media)})"))
    return out


def outcomes(verdicts: Sequence[tuple[str, Status, str]], host: str, vantage: str, seconds: float) -> list[Outcome]:
    return [Outcome("call", name, status, detail, host, vantage, seconds) for name, status, detail in verdicts]
