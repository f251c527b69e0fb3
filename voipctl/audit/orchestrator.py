"""`voipctl audit`: render in memory, trace every control to its lines, read them back, write the reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from voipctl import pipeline
from voipctl.atomicfile import write_atomic
from voipctl.audit.build import controls_section, document, verify_summary
from voipctl.audit.change import AUDIT_JSON, compare, load_previous
from voipctl.audit.html import to_html
from voipctl.audit.locate import (
    check_render_dir,
    merge,
    playbook_locations,
    read_back,
    refuse_secrets,
    rendered_locations,
)
from voipctl.audit.markdown import to_markdown
from voipctl.audit.pkiinfo import tls_section
from voipctl.audit.sections import drift_section, exposure_section, secret_forms, secrets_section
from voipctl.deploy.session import default_render_dir
from voipctl.errors import AuditError, UsageError
from voipctl.resources import playbooks_dir


@dataclass(frozen=True)
class AuditOptions:
    render_dir: Path | None  # None: build/SITE, as for deploy and verify
    pki_dir: Path
    verify_json: Path | None = None
    previous: Path | None = None


def load_verify(path: Path | None) -> dict[str, Any] | None:
    """verify's JSON report (`voipctl verify --json FILE`); anything else is a usage error."""
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--verify-json: cannot read {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"--verify-json: {path} is not a report of `voipctl verify --json`")
    outcomes = doc.get("outcomes")
    if not isinstance(outcomes, list) or not all(
        isinstance(o, dict) and isinstance(o.get("group"), str) and isinstance(o.get("name"), str)
        and o.get("status") in ("passed", "failed", "skipped") for o in outcomes
    ):
        raise UsageError(f"--verify-json: {path} is not a report of `voipctl verify --json`")
    return {str(k): v for k, v in doc.items()}


def build_audit(site_path: Path, options: AuditOptions, now: datetime) -> tuple[dict[str, Any], list[str]]:
    """The audit document, and every form of every secret (for the caller's last check of the output)."""
    site, plan = pipeline.load_and_plan(site_path)
    render_dir = options.render_dir or default_render_dir(site.name)
    secrets = pipeline.secrets_for(site, plan)
    tree = pipeline.render(site, plan, options.pki_dir)
    check_render_dir(tree, render_dir)
    playbooks = playbooks_dir()
    locations = merge(rendered_locations(tree), playbook_locations(playbooks))
    cited = [loc for locs in locations.values() for loc in locs]
    read_back(cited, render_dir, playbooks)
    forms = secret_forms(plan, secrets)
    every_form = [v for values in forms.values() for v in values]
    refuse_secrets(cited, every_form)
    verify = load_verify(options.verify_json)
    doc = document(site, plan, render_dir, now, {
        "verify": verify_summary(verify, plan, options.verify_json),
        "controls": controls_section(site, plan, locations, verify),
        "exposure": exposure_section(plan),
        "tls": tls_section(plan, options.pki_dir / site.name, site.spec.pki.encrypt_root, now),
        "secrets": secrets_section(tree, forms, site.secrets_path),
        "drift": drift_section(verify),
    })
    doc["changes"] = compare(load_previous(options.previous), doc) if options.previous else None
    return doc, every_form


def write_reports(doc: dict[str, Any], secret_forms: list[str], report_dir: Path) -> list[Path]:
    """audit.json, audit.md and audit.html, or nothing at all if any of them would hold a secret."""
    outputs = {
        AUDIT_JSON: json.dumps(doc, indent=2) + "\n",
        "audit.md": to_markdown(doc),
        "audit.html": to_html(doc),
    }
    for name, text in outputs.items():
        if any(form in text for form in secret_forms if form):
            raise AuditError(f"{name} would hold a secret; nothing was written")
    report_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in outputs.items():
        write_atomic(report_dir / name, text.encode(), 0o644)
        written.append(report_dir / name)
    return written
