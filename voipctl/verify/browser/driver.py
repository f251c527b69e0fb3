"""The node driver (web/driver.mjs) as a Python object: one JSON request per line.

The driver runs inside the browser's namespace with a private $HOME (the NSS trust
store). Requests go on its stdin, which is how the page's credentials travel; its
stderr goes to a log file that holds no request data.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from voipctl.proc import Process, in_netns, spawn_piped
from voipctl.verify.browser import argv


class DriverError(Exception):
    """The page or the browser reported a failure for one request (message safe to show)."""


def driver_env(home: Path) -> dict[str, str]:
    """A minimal environment: no DEBUG (playwright would log requests), HOME for NSS."""
    return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


class BrowserDriver:
    """chromium under playwright-core, in `netns`, until close()."""

    def __init__(self, netns: str, web_dir: Path, home: Path, log: Path) -> None:
        self.netns, self.web_dir, self.home, self.log = netns, web_dir, home, log
        self._proc: Process | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self._next = 0

    def __enter__(self) -> BrowserDriver:
        self._proc = spawn_piped(in_netns(self.netns, argv.driver_argv(self.web_dir)), stdin=True, stderr=self.log,
                                 env=driver_env(self.home))
        threading.Thread(target=self._read, daemon=True, name="browser-driver").start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _read(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        for line in proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def _send(self, message: dict[str, Any], timeout: float) -> Any:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise DriverError(f"the browser driver is not running{self._log_hint()}")
        try:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            raise DriverError(f"the browser driver exited{self._log_hint()}") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise DriverError(f"the browser driver did not answer within {timeout:.0f} s") from None
            if not line:
                raise DriverError(f"the browser driver exited{self._log_hint()}")
            reply = json.loads(line)
            if reply.get("id") == message.get("id", 0):
                if not reply.get("ok"):
                    raise DriverError(str(reply.get("error", "unknown error")))
                return reply.get("value")

    def _log_hint(self) -> str:
        text = self.log.read_text(errors="replace").strip() if self.log.exists() else ""
        return f": {text.splitlines()[-1][:300]}" if text else ""

    def launch(self, url: str, names: dict[str, str], timeout: float = 30) -> dict[str, Any]:
        spec = {"executablePath": argv.CHROMIUM, "args": argv.chromium_args(names), "url": url,
                "timeoutMs": int(timeout * 1000)}
        value: dict[str, Any] = self._send({"launch": spec}, timeout + 5)
        return value

    def call(self, op: str, *args: Any, timeout: float = 30) -> Any:
        """Run window.voipctlProbe[op](*args) in the page; page-side timeouts come first."""
        self._next += 1
        return self._send({"id": self._next, "op": op, "args": list(args)}, timeout)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.write('{"id": -1, "op": "close"}\n')
                proc.stdin.close()
        if proc.wait(10) is None:
            proc.kill()
            proc.wait(5)
