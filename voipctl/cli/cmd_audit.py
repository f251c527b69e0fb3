"""`audit` and `explain`: the auditor's report, and what produced one rendered line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from voipctl.audit.explain import explain
from voipctl.audit.orchestrator import AuditOptions, build_audit, write_reports
from voipctl.cli import out_console
from voipctl.cli.options import PKI_OPT, SITE_ARG

EXIT_CODES = """\b
Exit codes:
  0  the reports were written
  1  the audit cannot vouch for them: a catalogued control has no line, the render dir is stale,
     a cited line does not hold its text or would show a secret (nothing written)
  2  invalid site or command line (no render dir, unreadable --verify-json or --previous)
"""


@click.command(epilog=EXIT_CODES)
@SITE_ARG
@click.option("-o", "--render-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Render directory the line numbers refer to (default: build/SITE).")
@PKI_OPT
@click.option("--verify-json", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Report of `voipctl verify --json FILE`: each control's evidence.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where audit.html, audit.md and audit.json go (default: RENDER_DIR-audit, beside it).")
@click.option("--previous", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Directory of an earlier audit.json: list what changed since.")
def audit(site: Path, render_dir: Path | None, pki_dir: Path, verify_json: Path | None, report_dir: Path | None,
          previous: Path | None) -> None:
    """Write the auditor's report of SITE: every control, the rendered lines enforcing it and the checks proving it.

    Also: every listening socket per node with its audience, every TLS endpoint and
    certificate, which secret sits in which file (names, never values), drift from
    verify's report and changes since a previous audit.
    """
    options = AuditOptions(render_dir=render_dir, pki_dir=pki_dir, verify_json=verify_json, previous=previous)
    doc, forms = build_audit(site, options, datetime.now(UTC))
    rendered = Path(doc["render_dir"])
    written = write_reports(doc, forms, report_dir or rendered.with_name(f"{rendered.name}-audit"))
    verdicts: dict[str, int] = {}
    for c in doc["controls"]:
        verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1
    counts = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
    out_console.print(f"audit of site {doc['site']}: {len(doc['controls'])} controls ({counts})", markup=False)
    for path in written:
        out_console.print(f"wrote {path}", markup=False)


@click.command(name="explain")
@SITE_ARG
@click.argument("target", metavar="NODE:PATH:LINE")
@PKI_OPT
def explain_cmd(site: Path, target: str, pki_dir: Path) -> None:
    """Explain one rendered line: its controls, the site fields, defaults and rules behind them, its plan values."""
    for line in explain(site, target, pki_dir):
        out_console.print(line, markup=False)


def register(group: click.Group) -> None:
    group.add_command(audit, name="audit")
    group.add_command(explain_cmd)
