"""A kamailio under SIP load: one namespace with the site node's addresses and the load generators'.

rtpengine runs once on its rendered config; kamailio configurations are started and stopped one
after another on the same addresses. kamailio is pinned to one core, SIPp and rtpengine to the
other, and kamailio's CPU is read from /proc around each SIPp run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from voipctl.check import argv as check_argv
from voipctl.check.staged_site import StagedSite, kamailio_argv, stage_site
from voipctl.errors import ToolError
from voipctl.netns import Netns
from voipctl.plan.model import NodePlan
from voipctl.plan.services import KamailioPlan, RtpenginePlan
from voipctl.proc import Process
from voipctl.proc.daemon import netns_pids
from voipctl.sipload.cpu import named_cpu_ns
from voipctl.sipload.sipp_load import Outcome, callee_run, read_outcome
from voipctl.sipp.argv import SippRun, sipp_argv

CLIENT, PEER, FLOODER = "198.51.100.50", "198.51.100.51", "198.51.100.66"
# The caller of the call load: a phone behind NAT. Its SIP and RTP leave from this private address
# and reach kamailio from CLIENT (source NAT in the namespace), so both configurations see a NAT'd
# caller; the stock config anchors a call's media in rtpengine only then.
NATTED_CALLER = "10.99.0.50"
KAMAILIO_CORE, LOAD_CORE = 0, 1


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    """Run `argv` on one CPU core; every process it forks inherits the mask."""
    return ["taskset", "-c", str(core), *argv]


def generated_argv(kam: KamailioPlan, stage: Path, rundir: Path) -> list[str]:
    """The rendered config as the unit starts it (memory options from the rendered env), in the sandbox."""
    return check_argv.sandbox_argv(str(stage), kamailio_argv(kam, rundir))


def nat_ruleset(private: str, public: str) -> str:
    """nftables: what `private` sends to any other address leaves as `public` (replies come back)."""
    return (f"table ip voipctl_sipload_nat {{\n  chain post {{\n    type nat hook postrouting priority srcnat;\n"
            f"    ip saddr {private} ip daddr != {private} snat to {public}\n  }}\n}}\n")


def rcvbuf_errors(snmp: str) -> int:
    """RcvbufErrors from the two `Udp:` lines (names, then values) of /proc/net/snmp."""
    rows = [line.split()[1:] for line in snmp.splitlines() if line.startswith("Udp:")]
    if len(rows) < 2 or "RcvbufErrors" not in rows[0]:
        raise ToolError("/proc/net/snmp has no UDP RcvbufErrors counter")
    return int(rows[1][rows[0].index("RcvbufErrors")])


@dataclass(frozen=True)
class Trial:
    outcome: Outcome
    cpu_ns: int
    processes: int
    sipp_cpu_ns: int = 0
    udp_drops: int = 0  # datagrams the namespace's full UDP receive buffers dropped during the run

    @property
    def cpu_us_per_op(self) -> float:
        """kamailio CPU µs per successful scenario run (REGISTER pair or whole call)."""
        return self.cpu_ns / 1000 / self.outcome.successful if self.outcome.successful else float("inf")

    @property
    def core_share(self) -> float:
        """Share of kamailio's core used during the run."""
        return self.cpu_ns / 1e9 / self.outcome.seconds if self.outcome.seconds else 0.0

    @property
    def sipp_core_share(self) -> float:
        """Share of the load core the SIPp processes used during the run."""
        return self.sipp_cpu_ns / 1e9 / self.outcome.seconds if self.outcome.seconds else 0.0


class LoadBed:
    """The namespace, rtpengine and one kamailio at a time; everything goes on exit."""

    def __init__(self, site_file: Path, workdir: Path, sipp: str = "sipp") -> None:
        self.workdir, self.sipp = workdir, sipp
        workdir.mkdir(parents=True, exist_ok=True)
        self.site: StagedSite = stage_site(site_file, workdir)
        self.node: NodePlan = next(n for n in self.site.plan.nodes if n.kamailio is not None)
        if self.node.rtpengine is None or self.node.kamailio is None:
            raise ToolError("the load bed needs an all-in-one site (sip and media on one node)")
        self.kam: KamailioPlan = self.node.kamailio
        self.rtp: RtpenginePlan = self.node.rtpengine
        addresses = [self.node.private, self.node.client_address, CLIENT, PEER, FLOODER, NATTED_CALLER]
        self.ns = Netns(list(dict.fromkeys(addresses)), prefix="vsl")
        self._kamailio: Process | None = None
        self.runs = 0

    @property
    def target(self) -> str:
        return f"{self.node.client_address}:{self.udp_port}"

    @property
    def udp_port(self) -> int:
        return next(lst.port for lst in self.kam.listeners if lst.proto == "udp")

    def __enter__(self) -> LoadBed:
        self.ns.__enter__()
        try:
            cmd = check_argv.sandbox_argv(str(self.site.stage), check_argv.rtpengine_argv(self.rtp.conf_path))
            proc = self.ns.popen(pinned(LOAD_CORE, cmd), log=self.workdir / "rtpengine.log")
            self._wait_udp(self.rtp.ng_port, proc, "rtpengine")
            ruleset = self.workdir / "nat.nft"
            ruleset.write_text(nat_ruleset(NATTED_CALLER, CLIENT))
            self.ns.run(["nft", "-f", str(ruleset)], check=True)
        except BaseException:
            self.ns.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop_kamailio()
        self.ns.__exit__(et, ev, tb)

    def _wait_udp(self, port: int, proc: Process, name: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ToolError(f"{name} exited with {proc.returncode} (log in {self.workdir})")
            if self.ns.run(["ss", "-Hlun", f"sport = :{port}"]).stdout.strip():
                return
            time.sleep(0.1)
        raise ToolError(f"{name} did not listen on udp port {port} within {timeout:.0f} s")

    def kamailio_log(self, label: str) -> Path:
        return self.workdir / f"kamailio-{label}.log"

    def start_kamailio(self, argv: Sequence[str], label: str) -> None:
        """Start one kamailio configuration pinned to its core and wait until it takes UDP."""
        self.stop_kamailio()
        proc = self.ns.popen(pinned(KAMAILIO_CORE, argv), log=self.kamailio_log(label))
        self._kamailio = proc
        self._wait_udp(self.udp_port, proc, f"kamailio ({label})")
        time.sleep(1.0)  # children finish their init (rtpengine ping, DB connections)

    def stop_kamailio(self) -> None:
        if self._kamailio is not None:
            self.ns.stop(self._kamailio)
            self._kamailio = None

    def kamailio_alive(self) -> bool:
        return self._kamailio is not None and self._kamailio.poll() is None

    def udp_drops(self) -> int:
        """UDP RcvbufErrors of the namespace so far (/proc/net/snmp as seen inside it)."""
        return rcvbuf_errors(self.ns.run(["cat", "/proc/net/snmp"], check=True).stdout)

    def rtpengine_calls(self) -> int:
        """Calls rtpengine created so far (its "Creating new call" notices): proof a call was anchored."""
        return (self.workdir / "rtpengine.log").read_text(errors="replace").count("Creating new call")

    def cpu(self, name: str = "kamailio") -> tuple[int, int]:
        return named_cpu_ns(netns_pids(self.ns.name), name)

    def start_uas(self, service: str, port: int) -> Process:
        argv = sipp_argv(self.sipp, callee_run(service, self.kam.domain, PEER, port))
        return self.ns.popen(pinned(LOAD_CORE, argv), log=self.workdir / "uas.log")

    def run(self, load: SippRun) -> Trial:
        """One SIPp run at a fixed rate (voipctl.sipload.sipp_load.load_run); kamailio's CPU is summed over it."""
        if load.stat_file is None or load.rate is None or load.calls is None:
            raise ValueError("a load run needs a rate, a number of calls and a statistics file")
        if not self.kamailio_alive():
            raise ToolError("kamailio is not running")
        self.runs += 1
        load.stat_file.unlink(missing_ok=True)
        before, _ = self.cpu()
        sipp_before, _ = self.cpu("sipp")  # the callee's SIPp, if running; the client's starts at 0
        drops_before = self.udp_drops()
        start = time.perf_counter()
        limit = load.calls / load.rate * 3 + 30
        client = self.ns.popen(pinned(LOAD_CORE, sipp_argv(self.sipp, load)), log=self.workdir / "sipp.log")
        sipp_cpu = 0
        while client.poll() is None:
            # the client's CPU is gone from /proc once it exits: keep the largest sum seen
            sipp_cpu = max(sipp_cpu, self.cpu("sipp")[0] - sipp_before)
            if time.perf_counter() - start > limit:
                self.ns.stop(client)
                raise ToolError(f"SIPp did not finish within {limit:.0f} s")
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        after, count = self.cpu()
        if client.returncode not in (0, 1):  # 1: some calls failed, which the outcome counts
            tail = (self.workdir / "sipp.log").read_text(errors="replace")[-600:]
            raise ToolError(f"SIPp exited {client.returncode}: {tail}")
        return Trial(read_outcome(load.stat_file, seconds), after - before, count, max(0, sipp_cpu),
                     self.udp_drops() - drops_before)
