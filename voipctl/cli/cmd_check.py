"""`voipctl check`: smoke-start every daemon on the config rendered for it."""

from __future__ import annotations

from pathlib import Path

import click

from voipctl import pipeline
from voipctl.cli import out_console
from voipctl.cli.options import PKI_OPT, SITE_ARG
from voipctl.errors import CheckError, UsageError
from voipctl.plan.model import Plan
from voipctl.render.tree import RenderedTree
from voipctl.secrets import Secrets


def result_line(ok: bool, node: str, daemon: str, detail: str) -> str:
    """One line per node and daemon, aligned like `render --check`."""
    return f"{'ok' if ok else 'FAILED':6} {node:12} {daemon:10} {detail}"


def smoke_check(plan: Plan, tree: RenderedTree, settle: float, prefix: str, secrets: Secrets) -> None:
    """Run the daemon checks, print one line per node and daemon, raise CheckError on any failure."""
    from voipctl.check.orchestrator import Options, check_tree  # noqa: PLC0415 - keeps `voipctl --help` light

    results = check_tree(plan, tree, Options(settle=settle, prefix=prefix, redact=tuple(secrets.values.values())))
    for r in results:
        out_console.print(result_line(r.ok, r.node, r.daemon, r.detail), markup=False)
    failed = [r for r in results if not r.ok]
    if failed:
        raise CheckError(f"{len(failed)} of {len(results)} checks failed: "
                         + ", ".join(f"{r.node} {r.daemon}" for r in failed))


@click.command()
@SITE_ARG
@PKI_OPT
@click.option("--settle", type=click.FloatRange(0.5, 30), default=3.0, show_default=True,
              help="Seconds each daemon must stay up before it is probed.")
@click.option("--netns-prefix", default="vchk", show_default=True,
              type=click.STRING, help="Name prefix of the throwaway network namespaces (for parallel runs).")
def check(site: Path, pki_dir: Path, settle: float, netns_prefix: str) -> None:
    """Start each daemon on its rendered files in a throwaway namespace (needs root); exit 1 on any failure.

    kamailio: `kamailio -c`. rtpengine: runs, answers ng ping and an offer.
    coturn: runs, answers STUN, allocates with the site secret, refuses a wrong
    one. Both must listen exactly where the plan says. openfire.xml and
    security.xml: checked statically, every property name against the list the
    targeted Openfire reads. Nothing is left running or configured.
    """
    if not netns_prefix.replace("-", "").isalnum() or len(netns_prefix) > 12:
        raise UsageError(f"--netns-prefix {netns_prefix!r}: use up to 12 letters, digits or dashes")
    loaded, plan = pipeline.load_and_plan(site)
    tree = pipeline.render(loaded, plan, pki_dir)
    smoke_check(plan, tree, settle, netns_prefix, pipeline.secrets_for(loaded, plan))


def register(group: click.Group) -> None:
    group.add_command(check)
