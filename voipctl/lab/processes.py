"""Executing the lab's argv lists, and processes identified by PID plus start time.

A PID alone can be reused after a reboot or a crash; pairing it with the kernel's
start time of the process keeps `down` from signalling a stranger.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.lab.cgroups import enter as cgroup_enter


def run(argv: Sequence[str], *, stdin: str | None = None, timeout: float = 120,
        env: Mapping[str, str] | None = None) -> str:
    """Run a command to completion; its stdout, or ToolError with its stderr."""
    try:
        res = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError:
        raise ToolError(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{' '.join(argv)} did not finish within {timeout:.0f}s") from None
    if res.returncode != 0:
        detail = (res.stderr.strip() or res.stdout.strip())[-2000:]
        raise ToolError(f"{' '.join(argv)} failed ({res.returncode}): {detail}")
    return res.stdout


def attempt(argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command whose failure the caller inspects (probes, best-effort teardown)."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(list(argv), 124, "", f"timed out after {exc.timeout}s")
    except FileNotFoundError:
        return subprocess.CompletedProcess(list(argv), 127, "", f"{argv[0]} is not installed")


def spawn(argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
          cgroups: Sequence[Path] = ()) -> tuple[int, int]:
    """Start a detached daemon (own session, output to `log`, in `cgroups` if given).

    Returns (pid, start time).
    """
    dirs = list(cgroups)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=dict(env) if env is not None else None,
                # Only a write to cgroup.procs between fork and exec; no locks taken.
                preexec_fn=(lambda: cgroup_enter(dirs)) if dirs else None,  # noqa: PLW1509
            )
        except FileNotFoundError:
            raise ToolError(f"{argv[0]} is not installed") from None
        except subprocess.SubprocessError as exc:
            raise ToolError(f"could not start {argv[0]} in its cgroup: {exc}") from None
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


def terminate(pid: int, start: int, grace: float) -> None:
    """SIGTERM the recorded process, SIGKILL its session after `grace` seconds."""
    if not alive(pid, start):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, start, grace):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, start, 5)


def kill_pids(pids: Sequence[int]) -> None:
    """SIGKILL processes found inside a lab namespace after its owner is gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


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


def require_alive(pid: int, start: int, what: str, log: Path, settle: float = 0.5) -> None:
    """Our process still runs after `settle` s: the port that answered is ours, not another service's."""
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        if not alive(pid, start):
            raise ToolError(f"{what} exited right after starting (is its port taken by another service?): "
                            f"{tail(log)}")
        time.sleep(0.05)
