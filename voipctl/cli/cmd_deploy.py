"""`deploy`: push the site's (fresh) render to its hosts with Ansible, with live progress and a recap."""

from __future__ import annotations

import re
from pathlib import Path

import click
from rich.table import Table

from voipctl.cli import err_console, out_console
from voipctl.deploy.events import Event
from voipctl.deploy.session import DeployOptions, DeployOutcome, deploy, raise_for_outcome

# Ansible warns about a service play no host of the site runs (e.g. no Openfire node): expected.
_EMPTY_GROUP = re.compile(r"Could not match supplied host pattern, ignoring: voipctl_\w+")
_STATE_STYLE = {"ok": "green", "changed": "yellow", "failed": "bold red", "unreachable": "bold red",
                "skipped": "cyan", "ignored": "magenta"}

EXIT_CODES = """\b
Exit codes:
  0  every host deployed (with --check: nothing failed)
  1  rendering failed
  2  invalid site or command line (including a --limit or inventory without the site's nodes)
  3  Ansible missing or broken (no recap), or another external tool failed
  4  at least one host failed; each kept (or was rolled back to) its previous files
  5  no host failed, but at least one was unreachable
"""


def _show(event: Event) -> None:
    """Live progress: plays, then one line per host and task; failures with their reason."""
    if event.kind == "play":
        out_console.print(f"\n== {event.name}", markup=False, style="bold")
    elif event.kind == "result":
        style = _STATE_STYLE.get(event.state, "")
        out_console.print(f"  {event.host:14} {event.state:11} {event.task}", markup=False, style=style)
        if event.msg and event.state != "skipped":
            for line in event.msg.splitlines():
                out_console.print(f"  {'':14} {'':11}   {line}", markup=False, style=style)
    elif event.kind == "diff":
        out_console.print(event.text.rstrip("\n"), markup=False)
    elif event.kind == "text" and event.text.strip():
        out_console.print(event.text, markup=False, style="dim")


def _notice(text: str) -> None:
    err_console.print(f"note: {text}", markup=False)


def summary_table(outcome: DeployOutcome) -> Table:
    """The recap: ok, changed, failed, skipped, unreachable per host."""
    mode = " (check mode)" if "--check" in outcome.argv else ""
    table = Table(title=f"deploy of site {outcome.site}{mode}", title_justify="left")
    counters = ("ok", "changed", "failed", "skipped", "unreachable")
    table.add_column("host")
    for col in counters:
        table.add_column(col, justify="right")
    table.add_column("result")
    for r in outcome.recap:
        table.add_row(r.host, *(str(getattr(r, c)) for c in counters), r.status,
                      style=_STATE_STYLE.get(r.status, ""))
    return table


def summary_notes(outcome: DeployOutcome) -> list[str]:
    """What the roles reported (skipped services, rollbacks), and why failed hosts failed."""
    lines = []
    for r in outcome.recap:
        notes = list(r.notes)
        if r.status in ("failed", "unreachable") and not notes and outcome.failures.get(r.host):
            notes.append(outcome.failures[r.host][-1].splitlines()[0])
        lines += [f"{r.host}: {n}" for n in notes]
    return lines


@click.command(epilog=EXIT_CODES)
@click.argument("site", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None,
              help="Ansible inventory (default: the site's lab inventory while `voipctl lab up` runs).")
@click.option("--check", is_flag=True, help="Report what would change; change nothing on the hosts.")
@click.option("--diff", "show_diff", is_flag=True, help="Show diffs of changed files (files holding secrets never).")
@click.option("--limit", metavar="HOST", default=None, help="Deploy to this one node (node or inventory host name).")
@click.option("-o", "--render-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Render directory to deploy from; re-rendered first if stale (default: build/SITE).")
@click.option("--pki-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("pki"), show_default=True,
              help="PKI root; certificates of site S are read from DIR/S.")
def deploy_cmd(site: Path, inventory: Path | None, check: bool, show_diff: bool, limit: str | None,
               render_dir: Path | None, pki_dir: Path) -> None:
    """Deploy SITE's rendered configuration to its hosts (Ansible), safely and idempotently.

    Each daemon's new files are checked, placed with backups, the daemon restarted
    and health-gated; a host whose daemon fails is rolled back and reported failed.
    """
    options = DeployOptions(inventory=inventory, check=check, diff=show_diff, limit=limit,
                            render_dir=render_dir, pki_dir=pki_dir)
    deploy_and_report(site, options)


def deploy_and_report(site: Path, options: DeployOptions) -> None:
    """Deploy with live progress, print the recap and notes, raise for a failed or unreachable host."""
    outcome = deploy(site, options, on_event=_show, on_notice=_notice)
    for line in outcome.stderr:
        if line.strip() and not _EMPTY_GROUP.search(line):
            err_console.print(f"ansible: {line}", markup=False)
    out_console.print()
    out_console.print(summary_table(outcome))
    for line in summary_notes(outcome):
        out_console.print(line, markup=False)
    out_console.print(f"{sum(r.changed for r in outcome.recap)} change(s) on {len(outcome.recap)} host(s) "
                      f"in {outcome.seconds:.1f}s; render {outcome.render_dir}, inventory {outcome.inventory}",
                      markup=False)
    raise_for_outcome(outcome)


def register(group: click.Group) -> None:
    group.add_command(deploy_cmd, name="deploy")
