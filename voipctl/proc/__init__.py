"""The one process layer: every child process voipctl starts is started, waited for and ended here.

- `argv`: pure argv builders, among them the only `ip netns exec` (`in_netns`).
- `run`: run to completion with captured output and a timeout (`run`, `must`).
- `process`: long-running children with their output in a log file or pipes (`spawn`,
  `spawn_piped`), ended by `Process.stop` (TERM, wait, KILL their process group, reap).
- `daemon`: detached daemons known by PID plus start time, which outlive voipctl (the lab's).

Only this package imports subprocess (tests/unit/proc/test_proc.py asserts it). Argv are lists, never
shell strings; secrets travel on stdin or in 0600 files, never on argv.
"""

from voipctl.proc.argv import in_netns, netns_pids_argv
from voipctl.proc.process import Process, spawn, spawn_piped
from voipctl.proc.run import Result, must, run

__all__ = ["Process", "Result", "in_netns", "must", "netns_pids_argv", "run", "spawn", "spawn_piped"]
