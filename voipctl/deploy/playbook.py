"""Run ansible-playbook: vars file in, events out.

The vars file lives in a private (0700) temporary directory, is created 0600
and removed when the run ends, however it ends. Output is streamed line by
line to the caller, so progress shows while the play runs.
"""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from voipctl.atomicfile import write_atomic
from voipctl.deploy.events import Event, parse_line
from voipctl.proc import spawn_piped

VARS_FILE = "deploy-vars.json"


@dataclass(frozen=True)
class PlaybookResult:
    returncode: int
    events: tuple[Event, ...]
    stderr: tuple[str, ...]


@contextlib.contextmanager
def private_vars_file(doc: Mapping[str, Any]) -> Iterator[Path]:
    """A 0600 JSON vars file in a fresh 0700 directory, deleted on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="voipctl-deploy-"))
    try:
        path = workdir / VARS_FILE
        write_atomic(path, json.dumps(doc, sort_keys=True).encode(), 0o600)
        yield path
    finally:
        for child in workdir.iterdir():
            child.unlink()
        workdir.rmdir()


def _drain(stream: IO[str], sink: list[str]) -> None:
    sink.extend(line.rstrip("\n") for line in stream)


def run_playbook(argv: list[str], env: Mapping[str, str], on_event: Callable[[Event], None]) -> PlaybookResult:
    """Execute the argv from `ansible.playbook_argv`, calling `on_event` for every stdout line."""
    events: list[Event] = []
    stderr: list[str] = []
    # In our process group: a Ctrl-C reaches ansible-playbook as it does us.
    proc = spawn_piped(argv, env=env, session=False)
    assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - set by PIPE above
    reader = threading.Thread(target=_drain, args=(proc.stderr, stderr), daemon=True)
    reader.start()
    try:
        for line in proc.stdout:
            event = parse_line(line)
            events.append(event)
            on_event(event)
        returncode = proc.wait()
    except BaseException:
        proc.signal(signal.SIGTERM)
        proc.wait()
        raise
    finally:
        reader.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    return PlaybookResult(returncode, tuple(events), tuple(stderr))
