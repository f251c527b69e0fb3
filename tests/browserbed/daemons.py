"""The bed's daemons: the staged site's kamailio, rtpengine and coturn in the server namespace.

Each daemon runs under voipctl.check.sandbox, which lays the staged rendered files
over /etc and /var in the daemon's own mount namespace, so it reads them at their
real paths and the machine keeps nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from voipctl.check import argv as check_argv
from voipctl.check.staged_site import StagedSite, kamailio_argv
from voipctl.errors import ToolError
from voipctl.proc import Process, in_netns, run, spawn


class Daemons:
    """The site's daemons in one namespace, started rtpengine first (kamailio disables a dead one)."""

    def __init__(self, netns: str, bed: StagedSite, logs: Path) -> None:
        self.netns, self.bed, self.logs = netns, bed, logs
        self.procs: dict[str, Process] = {}

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def _start(self, name: str, cmd: list[str]) -> None:
        self.procs[name] = spawn(in_netns(self.netns, check_argv.sandbox_argv(str(self.bed.stage), cmd)),
                                 self.log(name))

    def _wait_listening(self, name: str, proto: str, port: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                tail = self.log(name).read_text(errors="replace")[-1500:]
                raise ToolError(f"{name} exited with {proc.returncode} in the bed: {tail}")
            out = run(in_netns(self.netns, ["ss", "-H", "-l", "-n", f"-{proto}", f"sport = :{port}"]),
                      timeout=30).stdout
            if out.strip():
                return
            time.sleep(0.1)
        raise ToolError(f"{name} did not listen on {proto} port {port} within {timeout:.0f} s")

    def start_all(self) -> None:
        plan = self.bed.plan
        for node in plan.nodes:
            if node.rtpengine is not None:
                self._start("rtpengine", check_argv.rtpengine_argv(node.rtpengine.conf_path))
                self._wait_listening("rtpengine", "u", node.rtpengine.ng_port)
        for node in plan.nodes:
            if node.coturn is not None:
                self._start("coturn", check_argv.coturn_argv(node.coturn.conf_path))
                self._wait_listening("coturn", "u", node.coturn.port)
        for node in plan.nodes:
            if node.kamailio is not None:
                rundir = self.logs / "kamailio-run"
                rundir.mkdir(exist_ok=True)
                self._start("kamailio", kamailio_argv(node.kamailio, rundir))
                # the WSS socket opens last (TLS setup), so it marks kamailio ready for the browser
                last = sorted(node.kamailio.listeners, key=lambda lst: lst.proto != "wss")[0]
                self._wait_listening("kamailio", "u" if last.proto == "udp" else "t", last.port)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.stop(grace=5)

    def stop_all(self) -> None:
        for name in ("kamailio", "coturn", "rtpengine"):
            self.stop(name)
