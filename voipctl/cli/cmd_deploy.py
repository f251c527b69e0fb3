"""`deploy`: push the site's (fresh) render to its hosts with Ansible, with live progress and a recap."""

from __future__ import annotations

import re
from pathlib import Path

import click
from rich.table import Table

from voipctl.cli import err_console, out_console
from voipctl.deploy.events import Event
from voipctl.deploy.rolling import clustered, roll_prepared
from voipctl.deploy.session import DeployOptions, DeployOutcome, Prepared, execute, prepare, raise_for_outcome

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
@click.option("--serial", type=click.IntRange(min=1), default=None, metavar="N",
              help="Roll out N nodes of a role at a time after a one-node canary, stopping at the first "
                   "failure (default for sites with several nodes of a role: 1).")
def deploy_cmd(site: Path, inventory: Path | None, check: bool, show_diff: bool, limit: str | None,
               render_dir: Path | None, pki_dir: Path, serial: int | None) -> None:
    """Deploy SITE's rendered configuration to its hosts (Ansible), safely and idempotently.

    Each daemon's new files are checked, placed with backups, the daemon restarted
    and health-gated; a host whose daemon fails is rolled back and reported failed.
    """
    options = DeployOptions(inventory=inventory, check=check, diff=show_diff, limit=limit,
                            render_dir=render_dir, pki_dir=pki_dir)
    deploy_and_report(site, options, serial)


def _batch(index: int, hosts: tuple[str, ...]) -> None:
    what = "canary" if len(hosts) == 1 else f"{len(hosts)} hosts"
    out_console.print(f"\n=== rollout batch {index + 1} ({what}): {', '.join(hosts)}", markup=False, style="bold")


def _roll_and_report(prep: Prepared, options: DeployOptions, serial: int) -> None:
    rollout = roll_prepared(prep, options, serial, _show, _batch)
    for outcome in rollout.outcomes:
        _report(outcome)
    table = Table(title=f"rollout of site {rollout.site} ({len(rollout.outcomes)}/{len(rollout.batches)} batches)",
                  title_justify="left")
    table.add_column("host")
    table.add_column("config")
    for host, state in rollout.host_states():
        table.add_row(host, state, style="green" if state.startswith("new") else "bold red")
    out_console.print(table)
    if rollout.stopped:
        out_console.print("rollout stopped at the first failed batch; later batches were not touched",
                          markup=False, style="bold red")
    raise_for_outcome(rollout.outcomes[-1])


def deploy_and_report(site: Path, options: DeployOptions, serial: int | None = None) -> None:
    """Deploy with live progress (rolling for clustered sites), print recap and notes, raise on failure."""
    prep = prepare(site, options, _notice)
    if options.limit is None and not options.check and (serial is not None or clustered(prep.plan)):
        _roll_and_report(prep, options, serial or 1)
        return
    outcome = execute(prep, options, _show)
    _report(outcome)
    raise_for_outcome(outcome)


def _report(outcome: DeployOutcome) -> None:
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


def register(group: click.Group) -> None:
    group.add_command(deploy_cmd, name="deploy")
