"""Detached daemons known by PID plus start time, and the processes of a namespace.

A daemon started here outlives voipctl (the lab's hosts, resolver, apt proxy): the caller
records its PID and start time, and a later voipctl ends it by those. A PID alone can be
reused after a reboot or a crash; pairing it with the kernel's start time of the process
keeps a later `stop` from signalling a stranger.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.proc.argv import netns_pids_argv
from voipctl.proc.process import spawn
from voipctl.proc.run import run


def start_daemon(argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
                 before_exec: Callable[[], None] | None = None) -> tuple[int, int]:
    """Start a detached daemon (own session, output appended to `log`); (pid, start time)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = spawn(argv, log, env=env, before_exec=before_exec)
    start = start_time(proc.pid)
    if start is None:
        raise ToolError(f"{argv[0]} exited at once; see {log}")
    return proc.pid, start


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int, start: int) -> bool:
    _reap(pid)
    return start_time(pid) == start


def stop_daemon(pid: int, start: int, grace: float) -> None:
    """SIGTERM the recorded process, SIGKILL its session after `grace` seconds."""
    stop_daemons([(pid, start, grace)])


def stop_daemons(daemons: Sequence[tuple[int, int, float]]) -> None:
    """stop_daemon for (pid, start, grace) each, all SIGTERMed at once: they shut down side by side
    (a lab's hosts each take seconds to), and each is SIGKILLed only after its own grace."""
    began = time.monotonic()
    running = [(pid, start, grace) for pid, start, grace in daemons if alive(pid, start)]
    for pid, _, _ in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid, start, grace in running:
        if _wait_gone(pid, start, max(0.0, began + grace - time.monotonic())):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, start, 5)


def kill_pids(pids: Sequence[int]) -> None:
    """SIGKILL processes left behind by an owner that is gone (a namespace's, a cgroup's)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def netns_pids(ns: str) -> list[int]:
    """PIDs of every process in network namespace `ns` (none if it cannot be listed)."""
    return [int(p) for p in run(netns_pids_argv(ns), timeout=30).stdout.split()]


def kill_netns(ns: str) -> None:
    """SIGKILL whatever still runs in `ns`, before the namespace is deleted."""
    kill_pids(netns_pids(ns))


def wait_tcp(address: str, port: int, timeout: float, what: str, log: Path) -> None:
    """Wait until something accepts TCP connections on address:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ToolError(f"{what} did not listen on {address}:{port} within {timeout:.0f}s: "
                                f"{tail(log)}") from None
            time.sleep(0.1)


def tail(log: Path, lines: int = 15) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def require_alive(pid: int, start: int, what: str, log: Path, settle: float = 0.5) -> None:
    """Our process still runs after `settle` s: the port that answered is ours, not another service's."""
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        if not alive(pid, start):
            raise ToolError(f"{what} exited right after starting (is its port taken by another service?): "
                            f"{tail(log)}")
        time.sleep(0.05)


def _wait_gone(pid: int, start: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid, start):
            return True
        time.sleep(0.05)
    return not alive(pid, start)


def _reap(pid: int) -> None:
    """Collect our own exited child (after a failed `up`) so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
