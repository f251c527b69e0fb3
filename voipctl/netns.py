"""Throwaway network namespaces that carry a node's addresses, for check and tests.

Argv lists are built by pure functions (unit-tested) and run by `Netns`, which
records every process it starts and removes everything it made on exit.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path
from types import TracebackType

from voipctl.errors import ToolError

_counter = itertools.count()
NETNS_ETC = Path("/etc/netns")


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


def exec_argv(name: str, cmd: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", name, *cmd]


def teardown_argv(name: str) -> list[str]:
    return ["ip", "netns", "delete", name]


class Netns:
    """A namespace living for the `with` block; its processes die with it."""

    def __init__(self, addresses: Sequence[str], prefix: str = "vctl") -> None:
        if shutil.which("ip") is None:
            raise ToolError("`ip` (iproute2) is not installed")
        self.name = f"{prefix}-{os.getpid()}-{next(_counter)}"
        self.addresses = tuple(addresses)
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Netns:
        etc = NETNS_ETC / self.name
        etc.mkdir(parents=True, exist_ok=True)
        # The machine's resolver is unreachable from here; fail lookups fast instead of hanging.
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        try:
            for argv in setup_argvs(self.name, self.addresses):
                _run(argv)
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._cleanup()

    def run(self, cmd: Sequence[str], timeout: float = 30, check: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Run a command inside the namespace and wait for it."""
        return subprocess.run(exec_argv(self.name, cmd), capture_output=True, timeout=timeout, check=check)

    def popen(self, cmd: Sequence[str], log: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running command inside the namespace, recorded for cleanup."""
        out = log.open("wb") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                exec_argv(self.name, cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5) -> int:
        """SIGTERM a recorded process group, SIGKILL after `grace` seconds; returns its exit code."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(5)
        return proc.returncode

    def _cleanup(self) -> None:
        for proc in self._procs:
            self.stop(proc, grace=3)
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False)
        for pid in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        for _ in range(50):
            if subprocess.run(teardown_argv(self.name), capture_output=True, check=False).returncode == 0:
                break
            if not Path(f"/run/netns/{self.name}").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(NETNS_ETC / self.name, ignore_errors=True)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _run(argv: list[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ToolError(f"{' '.join(argv)} failed: {res.stderr.strip()}")
