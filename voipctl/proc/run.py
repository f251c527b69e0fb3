"""Commands run to completion: output captured, a timeout always, the outcome as data.

`run` never raises for the command's own failure: a timeout, a missing program or any other
failure to start comes back as a `Result` with `error` set, so each caller words its own
report. `must` is for the commands whose failure ends the operation (ToolError).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import ToolError

TIMED_OUT, NOT_FOUND, NOT_STARTED = 124, 127, 126  # exit codes as the shell reports these


@dataclass(frozen=True)
class Result:
    """How a command ended; `error` says why it did not run to its end (then returncode is 124/126/127)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.error is None

    @property
    def timed_out(self) -> bool:
        return self.error is not None and self.returncode == TIMED_OUT

    @property
    def output(self) -> str:
        """stdout and stderr together, for judging and for failure details."""
        return self.stdout + self.stderr

    def detail(self, limit: int = 2000) -> str:
        """Why it failed, in one string: the start error, else stderr (or stdout), last `limit` chars."""
        return self.error or (self.stderr.strip() or self.stdout.strip())[-limit:]


def run(argv: Sequence[str], *, timeout: float, stdin: str | None = None,
        env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Result:
    """Run `argv` to completion (`stdin` as its input, or closed), killing it after `timeout` seconds."""
    cmd = tuple(argv)
    try:
        res = subprocess.run(
            cmd, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True,
            text=True, errors="replace", timeout=timeout, env=dict(env) if env is not None else None, cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return Result(cmd, TIMED_OUT, _text(exc.stdout), _text(exc.stderr), f"timed out after {timeout:g}s")
    except FileNotFoundError:
        return Result(cmd, NOT_FOUND, "", "", f"{cmd[0]} is not installed")
    except OSError as exc:
        return Result(cmd, NOT_STARTED, "", "", f"cannot run {cmd[0]}: {exc}")
    return Result(cmd, res.returncode, res.stdout, res.stderr)


def must(argv: Sequence[str], *, timeout: float = 120, stdin: str | None = None,
         env: Mapping[str, str] | None = None) -> str:
    """Run a command that has to succeed: its stdout, or ToolError naming it with its stderr."""
    res = run(argv, timeout=timeout, stdin=stdin, env=env)
    if res.timed_out:
        raise ToolError(f"{' '.join(argv)} did not finish within {timeout:.0f}s")
    if res.error is not None:
        raise ToolError(res.error)
    if res.returncode != 0:
        raise ToolError(f"{' '.join(argv)} failed ({res.returncode}): {res.detail()}")
    return res.stdout


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
