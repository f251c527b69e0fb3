"""Assemble audit.json: controls with their lines, deciders and evidence, then the other sections.

The document is plain JSON with a versioned schema (SCHEMA, SCHEMA_VERSION);
audit.md and audit.html are views of it, and `--previous` compares two of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from voipctl import __version__
from voipctl.audit.catalogue import CATALOGUE, Control
from voipctl.audit.locate import Location
from voipctl.errors import AuditError
from voipctl.plan.model import Plan
from voipctl.site.model import Site
from voipctl.site.yamlsource import PathPart

SCHEMA = "voipctl-audit"
SCHEMA_VERSION = 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def set_in_file(site: Site, path: Sequence[PathPart]) -> int | None:
    """The site file line that sets `path`, or None when the default applies."""
    node: Any = site.source.root
    for part in path:
        in_map = isinstance(node, CommentedMap) and isinstance(part, str) and part in node
        in_seq = isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_map or in_seq):
            return None
        node = node[part]
    return site.source.line_of(path)


def decider(site: Site, field: str) -> dict[str, Any]:
    """A site field with its value and whether the site file sets it (with its line) or the default applies."""
    if field.startswith("rule: "):
        return {"field": None, "source": "rule", "rule": field.removeprefix("rule: ")}
    value: Any = site.spec
    for part in field.split("."):
        value = getattr(value, part)
    line = set_in_file(site, field.split("."))
    entry: dict[str, Any] = {"field": field, "value": _jsonable(value), "source": "default" if line is None else "site"}
    if line is not None:
        entry |= {"file": site.source.file, "line": line}
    return entry


def _evidence(control: Control, verify: Mapping[str, Any] | None) -> tuple[list[dict[str, Any]], str]:
    """Matching verify outcomes, and the verdict: proven, failed, or why it is not verified."""
    if verify is None:
        return [], "not verified (no --verify-json given)"
    found = [
        {"check": o["name"], "group": o["group"], "host": o.get("host", ""), "vantage": o.get("vantage", ""),
         "status": o["status"], "detail": o.get("detail", ""), "at": verify.get("started")}
        for o in verify["outcomes"]
        if any(o["group"] == e.group and e.name in o["name"] for e in control.evidence)
    ]
    statuses = {e["status"] for e in found}
    if "failed" in statuses:
        return found, "failed"
    if "passed" in statuses:
        return found, "proven"
    if found:
        return found, "not verified (its checks were skipped)"
    return found, "not verified (no verify check covers it)"


def controls_section(site: Site, plan: Plan, locations: Mapping[str, Sequence[Location]],
                     verify: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One entry per catalogue control; an applicable control without a single line is an error."""
    missing = [c.id for c in CATALOGUE if not locations.get(c.id) and c.applies(plan) is None]
    if missing:
        raise AuditError(f"control(s) {', '.join(missing)} apply to site {site.name} but no rendered or playbook "
                         "line implements them: a control marker was removed or its lines are no longer rendered")
    out = []
    for c in CATALOGUE:
        locs = sorted(locations.get(c.id, ()), key=lambda loc: (loc.source, loc.node, loc.path, loc.line))
        evidence, verdict = _evidence(c, verify)
        reason = c.applies(plan) if not locs else None
        out.append({
            "id": c.id, "title": c.title, "why": c.why,
            "status": "not applicable" if reason else "enforced", "not_applicable_because": reason,
            "locations": [loc.as_json() for loc in locs],
            "decided_by": [decider(site, f) for f in c.decided_by],
            "evidence": evidence, "verdict": "not applicable" if reason else verdict,
        })
    return out


def verify_summary(verify: Mapping[str, Any] | None, plan: Plan, path: Path | None) -> dict[str, Any] | None:
    if verify is None:
        return None
    return {"file": str(path), "started": verify.get("started"), "summary": verify.get("summary"),
            "ok": verify.get("ok"), "same_model": verify.get("model_hash") == plan.model_hash}


def document(site: Site, plan: Plan, render_dir: Path, now: datetime, sections: Mapping[str, Any]) -> dict[str, Any]:
    """The top of audit.json; `sections` holds controls, exposure, tls, secrets, drift, verify and changes."""
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "voipctl": __version__, "site": site.name,
            "domain": plan.domain, "model_hash": plan.model_hash, "generated": now.isoformat(timespec="seconds"),
            "render_dir": str(render_dir), **sections}
