"""The plain SIP phone of the scenario: SIPp with RTP echo, in the public client namespace.

Scenario files live beside this module (sipp/). The phone's password reaches SIPp
through a 0600 injection file (`-inf`), never through argv (`-ap`). SIPp's message
trace gives the SDP the phone received, which shows what the plain leg looked like.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.probe.sdp import SdpSummary, summarize
from voipctl.proc import in_netns, spawn

SCENARIOS = Path(__file__).with_name("sipp")
REGISTER, ANSWER, CALL, RING = "register.xml", "uas.xml", "uac.xml", "ring.xml"
# Ports of the phone in its namespace: answering UAS, registration, calling UAC, their RTP;
# the desk phone that shares the browser's user (forking) rings on DESK_PORT.
UAS_PORT, REGISTER_PORT, UAC_PORT, DESK_PORT = 5090, 5091, 5092, 5093
UAS_MEDIA_PORT, UAC_MEDIA_PORT = 16000, 16100
SIPP_TIMEOUT = 90
_TRACE_RULE = "-" * 20
_UNSAFE = set(";]\r\n")


@dataclass(frozen=True)
class PhoneRun:
    """One SIPp run: its scenario, local SIP/RTP ports and where its files go."""

    scenario: str
    port: int
    media_port: int | None
    keys: tuple[tuple[str, str], ...]
    trace: Path
    errors: Path
    log: Path
    # SIPp's Call-ID format (-cid_str; %u = call number): lets rtpengine be queried by the
    # Call-ID the phone sent, which topology hiding never shows the other party
    call_id_format: str | None = None


def sipp_argv(run: PhoneRun, address: str, user: str, proxy: tuple[str, int] | None, inf: Path | None,
              timeout: int = SIPP_TIMEOUT) -> list[str]:
    """One SIPp call from a scenario file; exits 0 only when the whole scenario succeeded."""
    cmd = ["sipp", "-sf", str(SCENARIOS / run.scenario), "-i", address, "-p", str(run.port), "-s", user,
           "-m", "1", "-nostdin", "-timeout", f"{timeout}s", "-timeout_error",
           "-trace_msg", "-message_file", str(run.trace), "-trace_err", "-error_file", str(run.errors)]
    for key, value in run.keys:
        cmd += ["-key", key, value]
    if run.call_id_format is not None:
        cmd += ["-cid_str", run.call_id_format]
    if inf is not None:
        cmd += ["-inf", str(inf)]
    if run.media_port is not None:
        cmd += ["-mi", address, "-mp", str(run.media_port), "-rtp_echo"]
    if proxy is not None:
        cmd.append(f"{proxy[0]}:{proxy[1]}")
    return cmd


def credentials_csv(user: str, password: str) -> str:
    """SIPp injection file: field0 the user, field1 the [authentication] keyword with the password."""
    if _UNSAFE & set(user + password):
        raise ToolError("the phone's user name or password has characters a SIPp injection file cannot carry")
    return f"SEQUENTIAL\n{user};[authentication username={user} password={password}]\n"


def write_credentials(path: Path, user: str, password: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(credentials_csv(user, password))
    return path


def received_messages(trace: str) -> list[str]:
    """The SIP messages a SIPp message trace says were received, in order."""
    found = []
    for block in trace.split("\n" + _TRACE_RULE):
        head, _, rest = block.partition("\n")
        if " message received " not in rest.split("\n", 1)[0] and " message received " not in head:
            continue
        body = rest.split("\n", 1)[1] if " message received " in rest.split("\n", 1)[0] else rest
        found.append(body.strip("\n"))
    return found


def received_sdp(trace: str, first_line_prefix: str) -> SdpSummary | None:
    """Summary of the SDP in the first received message whose first line starts with the prefix."""
    for msg in received_messages(trace):
        if msg.lstrip().startswith(first_line_prefix) and "\nm=audio" in msg.replace("\r\n", "\n"):
            text = msg.replace("\r\n", "\n")
            body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
            return summarize(body.encode())
    return None


class PhoneProcess:
    """A SIPp process started in a namespace; killed (its group) if still running on stop."""

    def __init__(self, netns: str, cmd: list[str], log: Path) -> None:
        self.proc = spawn(in_netns(netns, cmd), log)
        self.started = time.monotonic()

    def wait(self, timeout: float) -> int | None:
        """Exit code, or None if it was still running after `timeout` seconds (then it is stopped)."""
        code = self.proc.wait(timeout)
        if code is None:
            self.stop()
        return code

    def stop(self) -> None:
        self.proc.stop(grace=3, then=3)


def phone_keys(domain: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return (("domain", domain), *sorted(extra.items()))


def start_phone(netns: str, run: PhoneRun, address: str, user: str, proxy: tuple[str, int] | None,
                inf: Path | None) -> PhoneProcess:
    return PhoneProcess(netns, sipp_argv(run, address, user, proxy, inf), run.log)


def keys_dict(run: PhoneRun) -> Mapping[str, str]:
    return dict(run.keys)
