"""`nft -c` on a node's rendered firewall, inside a throwaway namespace (this machine's rules untouched)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from voipctl.check import argv
from voipctl.check.daemons import CheckResult, Options, staged
from voipctl.netns import Netns
from voipctl.plan.model import NodePlan
from voipctl.render.tree import PlannedFile


def nft_check_argv(path: str) -> list[str]:
    """Parse and try the ruleset in the kernel without committing it."""
    return ["nft", "-c", "-f", path]


def check_firewall(node: NodePlan, files: Sequence[PlannedFile], opts: Options) -> CheckResult:
    """The ruleset as the host's kernel would take it: a syntax or kernel (e.g. fib) problem fails."""
    fw = node.firewall
    if fw is None:  # pragma: no cover - only called for nodes with a firewall
        raise ValueError(node.name)
    content = next((f.content for f in files if f.path == fw.path), None)
    if content is None:
        return CheckResult(node.name, "firewall", False, f"{fw.path} was not rendered")
    root = opts.root_for(node)
    if root is not None:  # the release's own nft, on the file at its real path
        with staged(files) as stage, Netns([], prefix=opts.prefix) as ns:
            res = ns.run(argv.sandbox_argv(str(stage), nft_check_argv(fw.path), root=root), timeout=30)
    else:
        with tempfile.TemporaryDirectory(prefix="voipctl-nft-") as tmp, Netns([], prefix=opts.prefix) as ns:
            path = Path(tmp) / "firewall.nft"
            path.write_bytes(content)
            res = ns.run(nft_check_argv(str(path)), timeout=30)
    if res.returncode != 0:
        err = (res.stderr.strip().splitlines() or ["no message"])[0]
        return CheckResult(node.name, "firewall", False,
                           f"nft -c exited {res.returncode}: {err[:300]}{opts.where(node)}")
    rules = len(fw.rules)
    return CheckResult(node.name, "firewall", True,
                       f"nft -c accepted {fw.path} ({rules} planned openings){opts.where(node)}")
