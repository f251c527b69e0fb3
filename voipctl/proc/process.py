"""Long-running children: started with their output in a log file or on pipes, ended as a group.

A child started with `session=True` (the default) leads its own session and process group,
so `stop` reaches whatever it forked (`ip netns exec` -> sandbox -> daemon) and a Ctrl-C
at the terminal does not; `session=False` keeps it in ours (it then gets that Ctrl-C too).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Literal, overload

from voipctl.errors import ToolError

STOP_WAIT = 5.0  # seconds a child gets to go after SIGKILL before we wait for it without limit


class Process:
    """A started child. Streams are text (only those asked for at start are set)."""

    def __init__(self, popen: subprocess.Popen[str], group: bool) -> None:
        self._popen, self.group = popen, group

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    @property
    def stdin(self) -> IO[str] | None:
        return self._popen.stdin

    @property
    def stdout(self) -> IO[str] | None:
        return self._popen.stdout

    @property
    def stderr(self) -> IO[str] | None:
        return self._popen.stderr

    def poll(self) -> int | None:
        return self._popen.poll()

    def running(self) -> bool:
        return self._popen.poll() is None

    @overload
    def wait(self) -> int: ...

    @overload
    def wait(self, timeout: float) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit code, or None if it still runs after `timeout` seconds (it is left running)."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig: signal.Signals) -> None:
        """`sig` to its process group (or to it alone when it shares ours); gone already is fine."""
        with contextlib.suppress(ProcessLookupError):
            if self.group:
                os.killpg(self._popen.pid, sig)
            else:
                self._popen.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def stop(self, grace: float = 5.0, then: float = STOP_WAIT) -> int | None:
        """SIGTERM, up to `grace` seconds to exit, then SIGKILL and up to `then` seconds; its exit code."""
        if self.running():
            self.signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self.kill()
                self.wait(then)
        return self.returncode

    def communicate(self, timeout: float) -> tuple[int, str]:
        """Wait up to `timeout` s for its exit, reading its stdout; killed after that. (exit code, stdout)."""
        try:
            out, _ = self._popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, _ = self._popen.communicate()
        return self._popen.returncode, out or ""


def spawn(argv: Sequence[str], log: Path | None = None, *, append: bool = True,
          env: Mapping[str, str] | None = None, session: bool = True,
          before_exec: Callable[[], None] | None = None) -> Process:
    """Start `argv` with stdin closed and stdout+stderr going to `log` (appended, or truncated), or nowhere.

    `before_exec` runs in the child between fork and exec: it must take no locks (a write to a file).
    """
    cmd = list(argv)
    out = log.open("a" if append else "w") if log is not None else None
    try:
        popen = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out if out is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT, text=True, start_new_session=session,
            env=dict(env) if env is not None else None,
            preexec_fn=before_exec,  # noqa: PLW1509 - only what the caller's docstring allows
        )
    except FileNotFoundError:
        raise ToolError(f"{cmd[0]} is not installed") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolError(f"could not start {cmd[0]}: {exc}") from None
    finally:
        if out is not None:
            out.close()
    return Process(popen, session)


def spawn_piped(argv: Sequence[str], *, stdin: bool = False, stderr: Literal["pipe", "stdout"] | Path = "pipe",
                env: Mapping[str, str] | None = None, session: bool = True) -> Process:
    """Start `argv` with its stdout on a pipe (line-buffered text); stdin a pipe if asked, else closed.

    stderr goes to its own pipe, into stdout, or (a Path) appended to a log file.
    """
    cmd = list(argv)
    err_file = stderr.open("a") if isinstance(stderr, Path) else None
    err: IO[str] | int = err_file if err_file is not None else (
        subprocess.PIPE if stderr == "pipe" else subprocess.STDOUT)
    try:
        popen = subprocess.Popen(
            cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            text=True, errors="replace", bufsize=1, start_new_session=session,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError:
        raise ToolError(f"{cmd[0]} is not installed") from None
    except OSError as exc:
        raise ToolError(f"cannot run {cmd[0]}: {exc}") from None
    finally:
        if err_file is not None:
            err_file.close()
    return Process(popen, session)
