"""The call probe: a SIPp UAC calls a SIPp UAS through kamailio, then hangs up.

Scenarios (sipp/*.xml) honour record-route: the UAC stores the route set of the
200 and sends ACK and BYE to [next_url] with [routes]; the UAS echoes
Record-Route. Both log the SDP connection address they received, which must be
a media node's advertised address (rtpengine rewrote it). Passwords reach SIPp
only in a 0600 CSV (-inf), as the [authentication] keyword of field1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.verify.report.outcome import Outcome, Status

SCENARIOS = Path(__file__).parents[2] / "sipp" / "scenarios"
UAS_PORT = 5070
UAS_MEDIA_PORT, UAC_MEDIA_PORT = 6100, 6200
CALL_TIMEOUT = 15
# What SIPp's keyword parser can carry inside [authentication ... password=X].
_SAFE_SECRET = re.compile(r"^[A-Za-z0-9._~!@#$%^&*()+=:,/?{}|-]+$")
_CONN = re.compile(r"^sdp-connection (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class SippRun:
    """One SIPp invocation: where its log and error file go."""

    argv: list[str]
    log: Path
    errors: Path


def credentials_csv(user: str, password: str) -> str:
    """The -inf file: field0 the user, field1 the [authentication] keyword SIPp expands in the scenario."""
    for what, value in (("user", user), ("password", password)):
        if not _SAFE_SECRET.match(value):
            raise ToolError(f"the subscriber's {what} has characters SIPp cannot carry; the call probe cannot run")
    return f"SEQUENTIAL\n{user};[authentication username={user} password={password}]\n"


def write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _common(workdir: Path, name: str, timeout: int) -> tuple[list[str], Path, Path]:
    log, err = workdir / f"{name}.log", workdir / f"{name}.errors"
    argv = ["-t", "u1", "-m", "1", "-timeout", f"{timeout}s", "-timeout_error", "-nostdin",
            "-trace_logs", "-log_file", str(log), "-trace_err", "-error_file", str(err)]
    return argv, log, err


def register_run(sipp: str, workdir: Path, csv: Path, domain: str, local_ip: str, port: int, target: str,
                 expires: int, name: str = "register") -> SippRun:
    common, log, err = _common(workdir, name, 10)
    argv = [sipp, "-sf", str(SCENARIOS / "register.xml"), "-inf", str(csv), "-key", "domain", domain,
            "-key", "expires", str(expires), "-i", local_ip, "-p", str(port), *common, target]
    return SippRun(argv, log, err)


def uas_run(sipp: str, workdir: Path, callee: str, domain: str, local_ip: str, port: int) -> SippRun:
    common, log, err = _common(workdir, "uas", CALL_TIMEOUT + 5)
    argv = [sipp, "-sf", str(SCENARIOS / "uas.xml"), "-s", callee, "-key", "domain", domain,
            "-i", local_ip, "-p", str(port), "-mi", local_ip, "-mp", str(UAS_MEDIA_PORT), "-rtp_echo", *common]
    return SippRun(argv, log, err)


def uac_run(sipp: str, workdir: Path, csv: Path, callee: str, domain: str, local_ip: str, target: str,
            call_id: str) -> SippRun:
    """The caller; `call_id` is the Call-ID of its INVITE (no % in it), by which rtpengine is asked."""
    common, log, err = _common(workdir, "uac", CALL_TIMEOUT)
    argv = [sipp, "-sf", str(SCENARIOS / "uac.xml"), "-inf", str(csv), "-s", callee, "-key", "domain", domain,
            "-i", local_ip, "-mi", local_ip, "-mp", str(UAC_MEDIA_PORT), "-cid_str", call_id, *common, target]
    return SippRun(argv, log, err)


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
