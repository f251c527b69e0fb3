"""What changed since a previous audit (`--previous DIR`): controls, their lines, listeners, certificates."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voipctl.audit.build import SCHEMA, SCHEMA_VERSION
from voipctl.errors import UsageError

AUDIT_JSON = "audit.json"


def load_previous(directory: Path) -> dict[str, Any]:
    """DIR/audit.json of an earlier run; another schema or version is a usage error (exit 2)."""
    path = directory / AUDIT_JSON
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--previous: cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or doc.get("schema_version") != SCHEMA_VERSION:
        raise UsageError(f"--previous: {path} is not a {SCHEMA} v{SCHEMA_VERSION} document")
    return doc


def _lines(doc: Mapping[str, Any]) -> dict[tuple[str, str, str, str], list[int]]:
    """(control, node, path, text) -> the lines holding that text."""
    found: dict[tuple[str, str, str, str], list[int]] = {}
    for c in doc["controls"]:
        for loc in c["locations"]:
            found.setdefault((c["id"], loc["node"], loc["path"], loc["text"]), []).append(loc["line"])
    return found


def _sockets(doc: Mapping[str, Any]) -> set[tuple[str, str, str, str, str, str]]:
    return {(n["node"], s["what"], s["proto"], s["address"], s["ports"], s["audience"])
            for n in doc["exposure"] for s in n["sockets"]}


def _certs(doc: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(c["node"], c["service"]): c for c in doc["tls"]["certificates"]}


def _located(doc: Mapping[str, Any]) -> set[str]:
    return {c["id"] for c in doc["controls"] if c["locations"]}


def compare(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    before, after = _lines(previous), _lines(current)
    moved, added_lines, removed_lines = [], [], []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, []), after.get(key, [])
        where = {"control": key[0], "node": key[1], "path": key[2], "text": key[3]}
        if old and new and old != new:
            moved.append(where | {"from": old, "to": new})
        elif new and not old:
            added_lines.append(where | {"lines": new})
        elif old and not new:
            removed_lines.append(where | {"lines": old})
    old_sockets, new_sockets = _sockets(previous), _sockets(current)
    fields = ("node", "what", "proto", "address", "ports", "audience")
    old_certs, new_certs = _certs(previous), _certs(current)
    renewed = [
        {"node": k[0], "service": k[1], "serial_before": old_certs[k].get("serial"), "serial": c.get("serial"),
         "not_after_before": old_certs[k].get("not_after"), "not_after": c.get("not_after")}
        for k, c in sorted(new_certs.items())
        if k in old_certs and old_certs[k].get("sha256") != c.get("sha256")
    ]
    return {
        "previous": {"generated": previous.get("generated"), "model_hash": previous.get("model_hash")},
        "controls_added": sorted(_located(current) - _located(previous)),
        "controls_removed": sorted(_located(previous) - _located(current)),
        "lines_moved": moved, "lines_added": added_lines, "lines_removed": removed_lines,
        "listeners_added": [dict(zip(fields, s, strict=True)) for s in sorted(new_sockets - old_sockets)],
        "listeners_removed": [dict(zip(fields, s, strict=True)) for s in sorted(old_sockets - new_sockets)],
        "certificates_renewed": renewed,
    }
