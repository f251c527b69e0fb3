"""Throwaway network namespaces that carry a node's addresses, for check and tests.

Argv lists are built by pure functions (unit-tested) and run through the process layer
(voipctl.proc) by `Netns`, which records every process it starts and removes everything it
made on exit.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path
from types import TracebackType

from voipctl.errors import ToolError
from voipctl.proc import Process, Result, in_netns, must, run, spawn
from voipctl.proc.daemon import kill_netns

_counter = itertools.count()
NETNS_ETC = Path("/etc/netns")
# No resolver in a throwaway namespace (the machine's is unreachable there): lookups fail at once.
NO_RESOLVER = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"


def setup_argvs(name: str, addresses: Sequence[str]) -> list[list[str]]:
    """Commands that create namespace `name` with `addresses` as host routes on its loopback.

    Loopback needs no kernel module (this kernel has no `dummy`) and keeps every
    packet inside the namespace.
    """
    cmds = [
        ["ip", "netns", "add", name],
        ["ip", "-n", name, "link", "set", "lo", "up"],
    ]
    for addr in addresses:
        ip = ip_address(addr)
        if ip.is_loopback:
            continue
        plen = 32 if ip.version == 4 else 128
        extra = ["nodad"] if ip.version == 6 else []
        cmds.append(["ip", "-n", name, "addr", "add", f"{ip}/{plen}", "dev", "lo", *extra])
    return cmds


def teardown_argv(name: str) -> list[str]:
    return ["ip", "netns", "delete", name]


class Netns:
    """A namespace living for the `with` block; its processes die with it."""

    def __init__(self, addresses: Sequence[str], prefix: str = "vctl") -> None:
        if shutil.which("ip") is None:
            raise ToolError("`ip` (iproute2) is not installed")
        self.name = f"{prefix}-{os.getpid()}-{next(_counter)}"
        self.addresses = tuple(addresses)
        self._procs: list[Process] = []

    def __enter__(self) -> Netns:
        etc = NETNS_ETC / self.name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(NO_RESOLVER)
        try:
            for argv in setup_argvs(self.name, self.addresses):
                must(argv, timeout=30)
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._cleanup()

    def run(self, cmd: Sequence[str], timeout: float = 30, check: bool = False) -> Result:
        """Run a command inside the namespace and wait for it (`check`: ToolError unless it exits 0)."""
        res = run(in_netns(self.name, cmd), timeout=timeout)
        if check and not res.ok:
            raise ToolError(f"{' '.join(cmd)} in {self.name} failed ({res.returncode}): {res.detail()}")
        return res

    def popen(self, cmd: Sequence[str], log: Path | None = None) -> Process:
        """Start a long-running command inside the namespace (output truncating `log`), recorded for cleanup."""
        proc = spawn(in_netns(self.name, cmd), log, append=False)
        self._procs.append(proc)
        return proc

    def stop(self, proc: Process, grace: float = 5) -> int | None:
        """SIGTERM a recorded process group, SIGKILL after `grace` seconds; returns its exit code."""
        return proc.stop(grace)

    def _cleanup(self) -> None:
        for proc in self._procs:
            proc.stop(grace=3)
        kill_netns(self.name)
        for _ in range(50):
            if run(teardown_argv(self.name), timeout=30).returncode == 0:
                break
            if not Path(f"/run/netns/{self.name}").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(NETNS_ETC / self.name, ignore_errors=True)
