# Copyright: voipctl contributors. Apache-2.0.
"""Ansible stdout callback for `voipctl deploy`: one JSON event per line.

voipctl reads these lines to show live progress and the per-host summary. Only
host names, task names, states, short messages and (when asked) diffs are
emitted; module results are never dumped, so nothing a module returns can leak
into the output by accident. Results of `no_log` tasks carry no message at all.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: voipctl_events
    type: stdout
    short_description: JSON-lines events for voipctl deploy
    description:
      - Emits one JSON object per line, prefixed with a marker, for voipctl to parse.
    requirements:
      - set as stdout callback in configuration
"""

MARKER = "VOIPCTL-EVENT "
_MSG_LIMIT = 2000
_TAIL_LINES = 12


def _result(result: Any) -> dict[str, Any]:
    """The module result dict (ansible-core 2.19 renamed `_result` to `result`)."""
    res = getattr(result, "result", None)
    if not isinstance(res, dict):
        res = getattr(result, "_result", {})
    return res if isinstance(res, dict) else {}


def _host(result: Any) -> str:
    host = getattr(result, "host", None) or result._host
    return str(host.get_name())


def _task(result: Any) -> Any:
    return getattr(result, "task", None) or result._task


def _tail(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        return ""
    return "\n".join(text.strip().splitlines()[-_TAIL_LINES:])


def _message(res: dict[str, Any]) -> str:
    """A short reason for a failed/skipped result; nothing when the task was no_log."""
    if res.get("censored"):
        return "details hidden (no_log: the task handles secrets)"
    parts = [str(res.get("msg") or "").strip()]
    for key in ("stderr", "stdout", "module_stderr"):
        tail = _tail(res.get(key))
        if tail and tail not in parts[0]:
            parts.append(tail)
    for item in res.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            parts.append(_message(item))
    text = "\n".join(p for p in parts if p)
    return text[:_MSG_LIMIT]


class CallbackModule(CallbackBase):
    """Emit play, task, result, diff and stats events as JSON lines."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "voipctl_events"

    def _emit(self, **event: Any) -> None:
        self._display.display(MARKER + json.dumps(event, sort_keys=True, default=str))

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._emit(event="play", name=play.get_name().strip())

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._emit(event="task", name=task.get_name().strip(), handler=False)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._emit(event="task", name=task.get_name().strip(), handler=True)

    def _state(self, result: Any, state: str) -> None:
        res = _result(result)
        event: dict[str, Any] = {
            "event": "result",
            "host": _host(result),
            "task": _task(result).get_name().strip(),
            "state": state,
        }
        if state in ("failed", "unreachable", "ignored") or (state == "skipped" and res.get("skip_reason")):
            event["msg"] = _message(res) if state != "skipped" else str(res.get("skip_reason", ""))
        self._emit(**event)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._state(result, "changed" if _result(result).get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._state(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._state(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._state(result, "unreachable")

    def v2_on_file_diff(self, result: Any) -> None:
        res = _result(result)
        entries = res.get("results") if isinstance(res.get("results"), list) else [res]
        for entry in entries:
            if isinstance(entry, dict) and entry.get("diff") and entry.get("changed"):
                text = self._get_diff(entry["diff"])
                if text:
                    self._emit(event="diff", host=_host(result), task=_task(result).get_name().strip(), text=text)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        hosts = {}
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            custom = stats.custom.get(host, {}) if isinstance(stats.custom, dict) else {}
            hosts[host] = {
                "ok": summary.get("ok", 0),
                "changed": summary.get("changed", 0),
                "failed": summary.get("failures", 0),
                "skipped": summary.get("skipped", 0),
                "unreachable": summary.get("unreachable", 0),
                "rescued": summary.get("rescued", 0),
                "ignored": summary.get("ignored", 0),
                "notes": list(custom.get("voipctl_notes", [])),
            }
        self._emit(event="stats", hosts=hosts)
