"""CPU time of every process with a given name inside a network namespace, from /proc.

schedstat's first field is nanoseconds on CPU (utime/stime tick at 10 ms, too coarse for a
few seconds of load). Summed over every thread of every matching process.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

PROC = Path("/proc")


def process_cpu_ns(pid: int, proc: Path = PROC) -> int:
    """CPU nanoseconds of all threads of `pid` (0 if it has gone)."""
    total = 0
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in (proc / str(pid) / "task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += int((task / "schedstat").read_text().split()[0])
    return total


def named_cpu_ns(pids: list[int], name: str, proc: Path = PROC) -> tuple[int, int]:
    """(summed CPU ns, number of processes) over the `pids` whose command name is `name`."""
    total = count = 0
    for pid in pids:
        try:
            comm = (proc / str(pid) / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if comm == name:
            total += process_cpu_ns(pid, proc)
            count += 1
    return total, count
