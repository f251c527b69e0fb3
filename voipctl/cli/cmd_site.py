"""`validate`, `render` and `schema`: the site -> files half of the pipeline."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from voipctl import pipeline
from voipctl.cli import err_console, out_console
from voipctl.cli.cmd_check import smoke_check
from voipctl.cli.options import PKI_OPT, SITE_ARG
from voipctl.output.diff import diff_tree
from voipctl.output.writer import write_tree
from voipctl.site.spec import SiteSpec


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Load, plan and render build ~a million short-lived objects and hold no cycles worth collecting
    before the process ends: the collector's passes were a quarter of a 171-node site's plan + render
    CPU, and its peak memory is the same without them (69 MB). Restored afterwards (tests call in-process)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@click.command()
@SITE_ARG
def validate(site: Path) -> None:
    """Check a site file (and everything it references); exit 2 listing every problem."""
    with _without_cyclic_gc():
        loaded, plan = pipeline.load_and_plan(site)
    counts = {
        name: sum(getattr(n, name) is not None for n in plan.nodes)
        for name in ("kamailio", "rtpengine", "coturn", "openfire")
    }
    services = ", ".join(f"{name} x{count}" for name, count in counts.items() if count)
    out_console.print(
        f"OK {site}: site {loaded.name}: {_plural(len(plan.nodes), 'node')} ({services}), "
        f"{_plural(len(plan.subscribers), 'subscriber')}",
        markup=False,
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@click.command()
@SITE_ARG
@click.option("-o", "--output", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output directory (NODE/abs/path files + manifest.json).")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff against what DIR holds.")
@click.option("--dry-run", is_flag=True, help="Render and diff only; write nothing.")
@click.option("--check", "smoke", is_flag=True, help="Smoke-start every daemon on its config first (voipctl check).")
@PKI_OPT
def render(site: Path, out: Path, show_diff: bool, dry_run: bool, smoke: bool, pki_dir: Path) -> None:
    """Render every config of the site into DIR atomically (all or nothing)."""
    with _without_cyclic_gc():
        loaded, plan = pipeline.load_and_plan(site)
        tree = pipeline.render(loaded, plan, pki_dir)
    if show_diff or dry_run:
        secrets = pipeline.secrets_for(loaded, plan)
        out_console.print(diff_tree(tree, out, secrets.values.values()) or "no changes\n", markup=False, end="")
    if smoke:
        smoke_check(plan, tree, settle=3.0, prefix="vchk", secrets=pipeline.secrets_for(loaded, plan))
    if dry_run:
        return
    report = write_tree(tree, out)
    if not any(f.service in ("kamailio", "coturn", "openfire") and f.path.endswith("privkey.pem") for f in tree.files):
        err_console.print(f"note: no certificates for site {loaded.name} under {pki_dir}; run `voipctl pki issue`",
                          markup=False)
    out_console.print(
        f"rendered {len(tree.files)} files for {len(plan.nodes)} nodes into {out}: "
        f"{len(report.written)} written, {len(report.unchanged)} unchanged, {len(report.removed)} removed",
        markup=False,
    )


@click.command()
def schema() -> None:
    """Print the site file's JSON Schema (for editor completion)."""
    out_console.print(json.dumps(SiteSpec.model_json_schema(), indent=2, sort_keys=True), markup=False)


def register(group: click.Group) -> None:
    for cmd in (validate, render, schema):
        group.add_command(cmd)
