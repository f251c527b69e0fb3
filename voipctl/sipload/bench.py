"""The SIP load benchmark: the generated config (A) against the stock config (B), interleaved.

Each repetition starts every configuration in turn on the same bed and measures kamailio CPU per
authenticated REGISTER at fixed rates, per authenticated call through rtpengine, and the highest
REGISTER rate it sustains (at most 1 % failed, SIPp keeping its schedule).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.render.kamailio import service_args
from voipctl.sipload.bed import CLIENT, NATTED_CALLER, PEER, LoadBed, Trial, generated_argv
from voipctl.sipload.sipp_load import load_run
from voipctl.sipload.stock import PACKAGE_MEMORY, stock_argv, stock_db
from voipctl.sipp.argv import SippRun
from voipctl.sipp.credentials import write_credentials

CALLEE = "callee"
UAS_PORT = 5070
# what each configuration is; the first is the one every ratio divides by
CONFIGS = {
    "A": "generated kamailio.cfg, daemon options as voipctl deploys them",
    "B": "stock kamailio.cfg (WITH_AUTH WITH_NAT WITH_RTPENGINE), package memory defaults",
    "B=": "stock kamailio.cfg, with A's daemon options (same-options comparison)",
}


@dataclass(frozen=True)
class Settings:
    repeats: int = 3
    register_rates: tuple[int, ...] = (300, 5000)
    call_rate: int = 50
    seconds: float = 5.0
    max_seconds: float = 3.0
    max_start: int = 2000
    max_cap: int = 60000
    max_bisect: int = 3
    max_failed_share: float = 0.01


@dataclass
class Figures:
    """Per configuration, per metric: one value per repetition."""

    runs: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, config: str, metric: str, value: float) -> None:
        self.runs.setdefault(config, {}).setdefault(metric, []).append(value)


def log_label(config: str) -> str:
    return config.replace("=", "-same")


def register_metric(rate: int) -> str:
    return f"register_cpu_us_at_{rate}"


CALL_METRIC = "call_cpu_us"
MAX_METRIC = "max_register_rate"
CORE_METRIC = "max_register_core_share"


class SipLoadBench:
    """Runs the configurations on one bed; `run` returns every repetition's figures."""

    def __init__(self, bed: LoadBed, settings: Settings, progress: Callable[[str], None]) -> None:
        self.bed, self.settings, self.progress = bed, settings, progress
        work = bed.workdir
        secrets = bed.site.secrets
        users = [(u, secrets.subscriber(u)) for u in bed.site.plan.subscribers]
        callers = [(u, pw) for u, pw in users if u != CALLEE]
        if len(callers) == len(users):
            raise ToolError(f"the benchmark site needs a subscriber named {CALLEE!r}")
        self.callers_csv = write_credentials(work / "callers.csv", callers)
        self.callee_csv = write_credentials(work / "callee.csv", [(CALLEE, secrets.subscriber(CALLEE))])
        rundir = work / "run"
        rundir.mkdir(exist_ok=True)
        db = work / "stock.sqlite"
        stock_db(db, bed.kam.domain, users)
        kam = bed.kam
        self.argvs: dict[str, list[str]] = {
            "A": generated_argv(kam, bed.site.stage, rundir),
            "B": stock_argv(kam, db, rundir, PACKAGE_MEMORY),
            "B=": stock_argv(kam, db, rundir, service_args(kam)),
        }

    def _load(self, scenario: str, rate: float, calls: int, csv: Path, local_ip: str = CLIENT,
              service: str | None = None, local_port: int | None = None) -> SippRun:
        bed = self.bed
        return load_run(scenario, rate, calls, local_ip, bed.target, bed.kam.domain, csv, bed.workdir / "stat.csv",
                        service=service, local_port=local_port)

    def _register(self, rate: float, seconds: float) -> Trial:
        return self.bed.run(self._load("register.xml", rate, max(1, int(rate * seconds)), self.callers_csv))

    def _sustains(self, rate: int) -> Trial | None:
        """The trial at `rate` if kamailio sustained it, else None."""
        s = self.settings
        trial = self._register(rate, s.max_seconds)
        planned = max(1, int(rate * s.max_seconds))
        out = trial.outcome
        ok = (out.failed_share <= s.max_failed_share and out.successful >= (1 - s.max_failed_share) * planned
              and out.seconds <= s.max_seconds * 1.25 + 1.0)
        self.progress(f"    max search {rate}/s: {out.successful}/{planned} ok, {out.failed} failed, "
                      f"{out.seconds:.1f} s, kamailio core {trial.core_share:.0%}, "
                      f"SIPp core {trial.sipp_core_share:.0%}, {trial.udp_drops} UDP datagrams dropped "
                      f"-> {'sustained' if ok else 'not'}")
        if not self.bed.kamailio_alive():
            raise ToolError("kamailio died during the maximum-rate search")
        time.sleep(1.0)  # let a backlog drain before the next trial
        return trial if ok else None

    def max_register_rate(self) -> tuple[int, float]:
        """The highest sustained REGISTER rate and kamailio's core share at it (near 1: kamailio
        was the limit; well below: the load generator or the network was)."""
        s = self.settings
        low, high, rate, share = 0, 0, s.max_start, 0.0
        while rate <= s.max_cap:
            trial = self._sustains(rate)
            if trial is None:
                high = rate
                break
            low, share, rate = rate, trial.core_share, int(rate * 1.5)
        for _ in range(s.max_bisect if high else 0):
            mid = (low + high) // 2
            if mid <= low:
                break
            trial = self._sustains(mid)
            if trial is None:
                high = mid
            else:
                low, share = mid, trial.core_share
        return low, share

    def measure(self, config: str, figures: Figures) -> None:
        """Start one configuration and take every figure of it once."""
        bed, s = self.bed, self.settings
        bed.start_kamailio(self.argvs[config], log_label(config))
        reg = bed.run(self._load("register.xml", 1, 1, self.callee_csv, local_ip=PEER, local_port=UAS_PORT))
        if reg.outcome.successful != 1:
            raise ToolError(f"{config}: the callee could not register (see {bed.kamailio_log(log_label(config))})")
        uas = bed.start_uas(CALLEE, UAS_PORT)
        try:
            for rate in s.register_rates:
                trial = self._register(rate, s.seconds)
                self._check(config, trial, f"REGISTER at {rate}/s")
                figures.add(config, register_metric(rate), trial.cpu_us_per_op)
                figures.add(config, f"register_failed_at_{rate}", trial.outcome.failed)
            calls = max(1, int(s.call_rate * s.seconds))
            anchored = bed.rtpengine_calls()
            trial = bed.run(self._load("uac.xml", s.call_rate, calls, self.callers_csv, local_ip=NATTED_CALLER,
                                       service=CALLEE))
            self._check(config, trial, f"calls at {s.call_rate}/s")
            anchored = bed.rtpengine_calls() - anchored
            if anchored < trial.outcome.successful:
                raise ToolError(f"{config}: rtpengine created {anchored} calls for {trial.outcome.successful} "
                                "successful ones: the comparison is of calls through rtpengine")
            figures.add(config, "call_anchored", anchored)
            figures.add(config, CALL_METRIC, trial.cpu_us_per_op)
            figures.add(config, "call_failed", trial.outcome.failed)
            top, share = self.max_register_rate()
            figures.add(config, MAX_METRIC, top)
            figures.add(config, CORE_METRIC, share)
        finally:
            bed.ns.stop(uas)
            bed.stop_kamailio()

    def _check(self, config: str, trial: Trial, what: str) -> None:
        out = trial.outcome
        self.progress(f"  {config}: {what}: {out.successful}/{out.created} ok in {out.seconds:.1f} s, "
                      f"{trial.cpu_us_per_op:.0f} µs kamailio CPU each ({trial.processes} processes)")
        if out.successful == 0:
            raise ToolError(f"{config}: no {what} succeeded (kamailio log: {self.bed.kamailio_log(log_label(config))})")

    def run(self, configs: Sequence[str] = tuple(CONFIGS)) -> Figures:
        figures = Figures()
        for rep in range(self.settings.repeats):
            # rotate the order so no configuration always runs first (warm caches, a busy neighbour)
            order = list(configs[rep % len(configs):]) + list(configs[:rep % len(configs)])
            for config in order:
                self.progress(f"repetition {rep + 1}/{self.settings.repeats}: {config} ({CONFIGS[config]})")
                self.measure(config, figures)
        return figures
