"""The plain SIP phone of the scenario: SIPp with RTP echo, in the public client namespace.

Its scenarios and argv come from voipctl.sipp, like every SIPp run. The phone's password reaches
SIPp through a 0600 injection file (`-inf`, voipctl.sipp.credentials), never through argv (`-ap`).
SIPp's message trace gives the SDP the phone received, which shows what the plain leg looked like.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from voipctl.probe.sdp import SdpSummary, summarize
from voipctl.proc import in_netns, spawn
from voipctl.sipp import argv as sipp

# The phone registers, answers (UAS), calls and waits to be hung up, or rings without answering.
REGISTER, ANSWER, CALL, RING = sipp.REGISTER, sipp.UAS, sipp.UAC_UNTIL_BYE, sipp.RING
# Ports of the phone in its namespace: answering UAS, registration, calling UAC, their RTP;
# the desk phone that shares the browser's user (forking) rings on DESK_PORT.
UAS_PORT, REGISTER_PORT, UAC_PORT, DESK_PORT = 5090, 5091, 5092, 5093
UAS_MEDIA_PORT, UAC_MEDIA_PORT = 16000, 16100
SIPP_TIMEOUT = 90
_TRACE_RULE = "-" * 20


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
    return sipp.sipp_argv("sipp", sipp.SippRun(
        run.scenario, address, f"{proxy[0]}:{proxy[1]}" if proxy is not None else None, run.port, user,
        (*run.keys, *sipp.PCMU_20MS.keys()), inf, run.media_port, run.media_port is not None, run.call_id_format,
        timeout_s=timeout, message_file=run.trace, error_file=run.errors))


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
