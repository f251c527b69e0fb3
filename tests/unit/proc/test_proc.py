"""The process layer (voipctl.proc): argv builders as data, then run/spawn/stop on real processes.

Also the rule that makes it the one layer: nothing else in voipctl imports subprocess or
builds an `ip netns exec` argv (an AST scan of the package).
"""

from __future__ import annotations

import ast
import itertools
import os
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from voipctl.errors import ToolError
from voipctl.lab import commands as lab_cmd
from voipctl.proc import in_netns, must, netns_pids_argv, run, spawn, spawn_piped
from voipctl.proc.daemon import alive, start_daemon, start_time, stop_daemon, stop_daemons
from voipctl.verify.probes.vantage import Vantage

PACKAGE = REPO / "voipctl"
PROC = PACKAGE / "proc"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def _builds_netns_exec(tree: ast.Module) -> bool:
    """A list literal holding "netns" then "exec", or one starting with "nsenter"."""
    for node in ast.walk(tree):
        if isinstance(node, ast.List):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if "nsenter" in words[:1] or any(a == "netns" and b == "exec" for a, b in itertools.pairwise(words)):
                return True
    return False


def test_only_the_process_layer_imports_subprocess() -> None:
    offenders = [str(p.relative_to(REPO)) for p, tree in _modules()
                 if not p.is_relative_to(PROC) and {"subprocess", "asyncio.subprocess"} & _imports(tree)]
    assert offenders == []
    assert any("subprocess" in _imports(tree) for p, tree in _modules() if p.is_relative_to(PROC))


def test_only_the_process_layer_builds_netns_exec() -> None:
    builders = [str(p.relative_to(REPO)) for p, tree in _modules() if _builds_netns_exec(tree)]
    assert builders == ["voipctl/proc/argv.py"]


def test_scan_finds_a_builder_and_an_import() -> None:
    tree = ast.parse('import subprocess\nx = ["ip", "netns", "exec", ns, *cmd]\n')
    assert _builds_netns_exec(tree) and "subprocess" in _imports(tree)
    assert not _builds_netns_exec(ast.parse('x = ["ip", "netns", "add", ns]\n'))


def test_in_netns_argv() -> None:
    assert in_netns("ns1", ["ss", "-H"]) == ["ip", "netns", "exec", "ns1", "ss", "-H"]
    assert in_netns(None, ("ss",)) == ["ss"]
    assert netns_pids_argv("ns1") == ["ip", "netns", "pids", "ns1"]
    assert Vantage("p", "ns1").wrap(["sipp"]) == in_netns("ns1", ["sipp"])
    assert lab_cmd.nft_load("gw") == ["ip", "netns", "exec", "gw", "nft", "-f", "-"]


def test_run_captures_output_exit_code_and_stdin() -> None:
    res = run([sys.executable, "-c", "import sys; d = sys.stdin.read(); print(d.upper()); sys.exit(3)"],
              stdin="secret-free input", timeout=30)
    assert (res.returncode, res.stdout, res.error, res.ok) == (3, "SECRET-FREE INPUT\n", None, False)
    closed = run(["cat"], timeout=30)  # without stdin the child reads EOF at once, never our terminal
    assert closed.ok and closed.stdout == ""


def test_run_reports_a_timeout_and_a_missing_program() -> None:
    began = time.monotonic()
    slow = run([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"], timeout=1)
    assert time.monotonic() - began < 10
    assert slow.timed_out and slow.returncode == 124 and "timed out after 1s" in slow.detail()
    gone = run(["voipctl-no-such-program"], timeout=5)
    assert (gone.returncode, gone.error, gone.timed_out) == (127, "voipctl-no-such-program is not installed", False)


def test_must_returns_stdout_or_raises_with_stderr() -> None:
    assert must(["echo", "hi"]) == "hi\n"
    with pytest.raises(ToolError, match=r"failed \(2\): went wrong"):
        must([sys.executable, "-c", "import sys; sys.stderr.write('went wrong'); sys.exit(2)"])
    with pytest.raises(ToolError, match="did not finish within 1s"):
        must(["sleep", "5"], timeout=1)


_FORKS = "import subprocess, sys, signal, time\n" \
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" \
         "child = subprocess.Popen(['sleep', '300'])\n" \
         "print(child.pid, flush=True)\n" \
         "time.sleep(300)\n"


def _grandchild(log: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = log.read_text().strip()
        if text:
            return int(text.splitlines()[-1])
        time.sleep(0.05)
    raise AssertionError("the child printed no PID")


def test_spawn_logs_and_stop_kills_the_whole_group(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text("")
    proc = spawn([sys.executable, "-c", _FORKS], log)
    grandchild = _grandchild(log)
    began = time.monotonic()
    code = proc.stop(grace=0.5)  # SIGTERM is ignored: SIGKILL to the group ends child and grandchild
    assert code == -9 and time.monotonic() - began < 5
    deadline = time.monotonic() + 5
    while start_time(grandchild) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert start_time(grandchild) is None, "the grandchild survived its group's SIGKILL"


def test_spawn_appends_or_truncates_its_log(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_text("before\n")
    assert spawn(["echo", "one"], log).wait(10) == 0
    assert log.read_text() == "before\none\n"
    assert spawn(["echo", "two"], log, append=False).wait(10) == 0
    assert log.read_text() == "two\n"
    with pytest.raises(ToolError, match="is not installed"):
        spawn(["voipctl-no-such-program"], log)


def test_spawn_piped_talks_and_a_timeout_kills(tmp_path: Path) -> None:
    echo = spawn_piped([sys.executable, "-c", "import sys; print(sys.stdin.readline().strip()[::-1])"], stdin=True)
    assert echo.stdin is not None
    echo.stdin.write("olleh\n")
    echo.stdin.flush()
    assert echo.communicate(10) == (0, "hello\n")
    err_log = tmp_path / "err.log"
    noisy = spawn_piped([sys.executable, "-c", "import sys; sys.stderr.write('to the log')"], stderr=err_log)
    assert noisy.communicate(10) == (0, "") and err_log.read_text() == "to the log"
    merged = spawn_piped([sys.executable, "-c", "import sys; sys.stderr.write('both')"], stderr="stdout",
                         session=False)
    assert merged.communicate(10) == (0, "both")
    hung = spawn_piped(["sleep", "30"])
    began = time.monotonic()
    code, _ = hung.communicate(0.5)
    assert code == -9 and time.monotonic() - began < 5


def test_wait_leaves_a_running_child_running() -> None:
    proc = spawn(["sleep", "30"])
    assert proc.wait(0.2) is None and proc.running()
    assert proc.stop(grace=5) == -15


def test_daemon_by_pid_and_start_time(tmp_path: Path) -> None:
    log = tmp_path / "d" / "daemon.log"
    pid, start = start_daemon(["sleep", "30"], log)
    assert alive(pid, start) and not alive(pid, start + 1), "another start time is another process"
    assert os.getsid(pid) == pid, "the daemon leads its own session"
    stop_daemon(pid, start, grace=5)
    assert not alive(pid, start)


def test_daemons_stop_side_by_side_and_a_stubborn_one_is_killed_after_its_grace(tmp_path: Path) -> None:
    """All get SIGTERM before any has exited: each, 1 s after its own, counts those the others left
    (stopped one by one, the first would count 1). One that ignores SIGTERM is killed after its grace."""
    on_term = 'touch "$0.term"; sleep 1; ls "$(dirname "$0")" | grep -c "term$" > "$0.saw"; exit 0'
    slow = ["sh", "-c", f"trap '{on_term}' TERM; while :; do sleep 0.1; done"]
    daemons = [start_daemon([*slow, str(tmp_path / f"d{i}")], tmp_path / f"d{i}.log") for i in range(3)]
    stubborn = start_daemon(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], tmp_path / "stubborn.log")
    time.sleep(0.3)  # the shells have set their traps
    stop_daemons([(pid, start, 5.0) for pid, start in daemons] + [(*stubborn, 1.0)])
    assert not any(alive(pid, start) for pid, start in [*daemons, stubborn])
    assert [(tmp_path / f"d{i}.saw").read_text().strip() for i in range(3)] == ["3", "3", "3"]
