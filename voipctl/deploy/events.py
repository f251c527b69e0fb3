"""Parse what playbooks/callback_plugins/voipctl_events.py prints (pure).

One JSON event per line behind a marker; anything else on stdout is plain text
(Ansible's own messages). The `stats` event is the PLAY RECAP.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MARKER = "VOIPCTL-EVENT "

EventKind = Literal["play", "task", "result", "diff", "stats", "text"]
_KINDS = ("play", "task", "result", "diff", "stats")


@dataclass(frozen=True)
class Event:
    """One line of ansible-playbook's output, parsed."""

    kind: EventKind
    name: str = ""
    host: str = ""
    task: str = ""
    state: str = ""
    msg: str = ""
    text: str = ""
    handler: bool = False
    hosts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HostRecap:
    """One host's line of the PLAY RECAP, plus the notes its roles reported (set_stats)."""

    host: str
    ok: int
    changed: int
    failed: int
    skipped: int
    unreachable: int
    rescued: int
    ignored: int
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "changed" if self.changed else "ok"


def parse_line(line: str) -> Event:
    """An event for a marked line; any other line (or a malformed one) is `text`."""
    stripped = line.rstrip("\r\n")
    if not stripped.startswith(MARKER):
        return Event("text", text=stripped)
    try:
        doc = json.loads(stripped[len(MARKER):])
    except ValueError:
        return Event("text", text=stripped)
    kind = doc.get("event") if isinstance(doc, dict) else None
    if kind not in _KINDS:
        return Event("text", text=stripped)
    hosts = doc.get("hosts", {})
    return Event(
        kind=kind,
        name=str(doc.get("name", "")),
        host=str(doc.get("host", "")),
        task=str(doc.get("task", "")),
        state=str(doc.get("state", "")),
        msg=str(doc.get("msg", "")),
        text=str(doc.get("text", "")),
        handler=bool(doc.get("handler", False)),
        hosts=hosts if isinstance(hosts, dict) else {},
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def parse_recap(hosts: Mapping[str, Any]) -> list[HostRecap]:
    """The `stats` event's per-host counters, sorted by host."""
    recaps = []
    for host in sorted(hosts):
        c = hosts[host] if isinstance(hosts[host], dict) else {}
        notes = c.get("notes", [])
        recaps.append(
            HostRecap(
                host=host,
                ok=_count(c.get("ok")),
                changed=_count(c.get("changed")),
                failed=_count(c.get("failed")),
                skipped=_count(c.get("skipped")),
                unreachable=_count(c.get("unreachable")),
                rescued=_count(c.get("rescued")),
                ignored=_count(c.get("ignored")),
                notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
            )
        )
    return recaps


def recap_from(events: Iterable[Event]) -> list[HostRecap] | None:
    """The recap of a run (its last `stats` event), or None if the run ended without one."""
    last = None
    for event in events:
        if event.kind == "stats":
            last = event
    return parse_recap(last.hosts) if last is not None else None


def failures_by_host(events: Iterable[Event]) -> dict[str, list[str]]:
    """Why each host failed: the messages of its failed or unreachable results, in order.

    A failure that a rescue handled is followed by the rollback's own summary,
    which is the last message listed for that host.
    """
    found: dict[str, list[str]] = {}
    for event in events:
        if event.kind == "result" and event.state in ("failed", "unreachable"):
            found.setdefault(event.host, []).append(f"{event.task}: {event.msg}" if event.msg else event.task)
    return found
