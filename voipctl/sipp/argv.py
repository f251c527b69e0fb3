"""SIPp command lines, pure and unit-tested: the one builder every user of SIPp goes through.

verify's call probe, the browser probe's phone and sipload each describe a run as a `SippRun`
(scenario, addresses, keys, files) and get its argv from `sipp_argv`. Passwords never go on
argv: they reach SIPp only in the 0600 injection file (`-inf`, see voipctl.sipp.credentials).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).with_name("scenarios")
# REGISTER with digest; the callee (rings, answers, echoes RTP); the caller that plays PCMA and
# hangs up; the caller that waits for the other side's BYE; a phone that rings and never answers.
REGISTER, UAS, UAC, UAC_UNTIL_BYE, RING = "register.xml", "uas.xml", "uac.xml", "uac_until_bye.xml", "ring.xml"


@dataclass(frozen=True)
class Audio:
    """The codec a scenario offers or answers: its keys audio_pt, audio_codec and audio_ptime."""

    payload_type: int
    codec: str
    ptime_ms: int

    def keys(self) -> tuple[tuple[str, str], ...]:
        return (("audio_pt", str(self.payload_type)), ("audio_codec", self.codec),
                ("audio_ptime", str(self.ptime_ms)))


PCMA_30MS = Audio(8, "PCMA", 30)  # what uac.xml plays: sip-tester's g711a.pcap
PCMU_20MS = Audio(0, "PCMU", 20)  # the browser probe's plain phone


def register_keys(domain: str, expires: int, contact_port: int) -> tuple[tuple[str, str], ...]:
    """register.xml's keys; its Contact names `contact_port`, where calls to the user will go."""
    return (("domain", domain), ("expires", str(expires)), ("contact_port", str(contact_port)))


def callee_keys(domain: str, audio: Audio = PCMA_30MS) -> tuple[tuple[str, str], ...]:
    """uas.xml's keys: it answers with `audio`."""
    return (("domain", domain), *audio.keys())


@dataclass(frozen=True)
class SippRun:
    """One SIPp process. `target` (host:port) is None for a UAS that only answers."""

    scenario: str
    local_ip: str
    target: str | None = None
    local_port: int | None = None
    service: str | None = None  # -s: the user a UAC calls, or a UAS answers as
    keys: tuple[tuple[str, str], ...] = ()
    inf: Path | None = None
    media_port: int | None = None  # RTP on local_ip:media_port
    rtp_echo: bool = False  # every RTP packet reaching media_port goes back
    call_id: str | None = None  # -cid_str
    calls: int | None = 1  # -m; None: until stopped
    rate: float | None = None  # -r, calls per second
    timeout_s: int | None = None  # the whole run, failing when reached
    recv_timeout_ms: int | None = None  # a lost message fails its call after this long
    log_file: Path | None = None  # the scenario's <log> lines
    message_file: Path | None = None  # every message sent and received
    error_file: Path | None = None  # unexpected messages
    stat_file: Path | None = None  # statistics CSV (cumulative counters)
    extra: tuple[str, ...] = ()


def sipp_argv(binary: str, run: SippRun) -> list[str]:
    """The argv of `run`, ending with its target; never carries a password."""
    argv = [binary, "-sf", str(SCENARIOS / run.scenario)]
    if run.inf is not None:
        argv += ["-inf", str(run.inf)]
    if run.service is not None:
        argv += ["-s", run.service]
    for key, value in run.keys:
        argv += ["-key", key, value]
    argv += ["-i", run.local_ip]
    if run.local_port is not None:
        argv += ["-p", str(run.local_port)]
    if run.media_port is not None:
        argv += ["-mi", run.local_ip, "-mp", str(run.media_port)]
    if run.rtp_echo:
        argv.append("-rtp_echo")
    argv += ["-t", "u1"]
    if run.rate is not None:
        argv += ["-r", f"{run.rate:g}"]
    if run.calls is not None:
        argv += ["-m", str(run.calls)]
    if run.call_id is not None:
        argv += ["-cid_str", run.call_id]
    if run.recv_timeout_ms is not None:
        argv += ["-recv_timeout", str(run.recv_timeout_ms)]
    if run.timeout_s is not None:
        argv += ["-timeout", f"{run.timeout_s}s", "-timeout_error"]
    argv.append("-nostdin")
    for flag, option, path in (("-trace_logs", "-log_file", run.log_file),
                               ("-trace_msg", "-message_file", run.message_file),
                               ("-trace_err", "-error_file", run.error_file),
                               ("-trace_stat", "-stf", run.stat_file)):
        if path is not None:
            argv += [flag, option, str(path)]
    argv += run.extra
    return [*argv, run.target] if run.target is not None else argv
