"""The `voipctl check` orchestrator: does every daemon accept the config rendered for it?

kamailio gets `kamailio -c`; rtpengine and coturn (no check flag) are started
for a few seconds in a throwaway network namespace carrying the node's
addresses and probed; openfire.xml is checked statically (Openfire cannot run
here); each node's firewall gets `nft -c` in a namespace of its own. Nothing is left
running or configured afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

from voipctl.check import argv
from voipctl.check import openfire as openfire_check
from voipctl.check.daemons import CheckResult, Options, check_coturn, check_kamailio, check_rtpengine
from voipctl.check.firewall import check_firewall
from voipctl.check.platforms import platform_roots
from voipctl.errors import ToolError
from voipctl.plan.model import NodePlan, Plan
from voipctl.proc import run
from voipctl.render.openfire_names import OPENFIRE_COMMIT, OPENFIRE_VERSION
from voipctl.render.tree import RenderedTree

__all__ = ["CheckResult", "Options", "check_tree", "required_tools"]

_TOOLS = {
    "kamailio": ("kamailio", "apt-get install kamailio"),
    "rtpengine": ("rtpengine", "apt-get install rtpengine-daemon"),
    "coturn": ("turnserver", "apt-get install coturn"),
}


def required_tools(plan: Plan, opts: Options | None = None) -> dict[str, str]:
    """Executables this plan's check needs -> how to get them (a node checked in a root brings its own)."""
    needed = {"ip": "apt-get install iproute2", "ss": "apt-get install iproute2", "mount": "util-linux"}
    if any(n.firewall is not None for n in plan.nodes):
        needed["nft"] = "apt-get install nftables"
    for node in plan.nodes:
        if opts is not None and opts.root_for(node) is not None:
            continue
        for service, (exe, how) in _TOOLS.items():
            if getattr(node, service) is not None:
                needed[exe] = how
    return needed


def _preflight(plan: Plan, opts: Options) -> None:
    if os.geteuid() != 0:
        raise ToolError("voipctl check needs root: it creates network namespaces and starts daemons in them")
    missing = [f"{exe} ({how})" for exe, how in required_tools(plan, opts).items() if shutil.which(exe) is None]
    if missing:
        raise ToolError("voipctl check needs: " + ", ".join(missing))


def _rtpengine_help(root: str | None) -> str:
    return run(argv.rtpengine_help_argv(root), timeout=30).output


def _openfire(node: NodePlan, tree: RenderedTree) -> CheckResult:
    of = node.openfire
    if of is None:  # pragma: no cover - only called for openfire nodes
        raise ValueError(node.name)
    rendered = {f.path: f.content for f in tree.for_node(node.name)}
    missing = [p for p in (of.conf_path, of.security_path) if p not in rendered]
    if missing:
        return CheckResult(node.name, "openfire", False, f"{', '.join(missing)} not rendered")
    problems = [f"{of.conf_path}: {p}" for p in openfire_check.problems(rendered[of.conf_path], of)]
    problems += [f"{of.security_path}: {p}" for p in openfire_check.security_problems(rendered[of.security_path])]
    if problems:
        return CheckResult(node.name, "openfire", False, "; ".join(problems))
    count = len(openfire_check.expectations(of))
    return CheckResult(node.name, "openfire", True,
                       f"{of.conf_path} and {of.security_path}: every property name is one Openfire "
                       f"{OPENFIRE_VERSION} reads (its source, commit {OPENFIRE_COMMIT[:10]}), {count} required "
                       "properties match the plan, passwords listed for encryption "
                       "(proof by name: Openfire itself not started, not installable here)")


def _jobs(plan: Plan, tree: RenderedTree, opts: Options) -> list[Callable[[], CheckResult]]:
    jobs: list[Callable[[], CheckResult]] = []
    helps: dict[str | None, str] = {}  # rtpengine --help of each root (None: this machine's)
    for node in plan.nodes:
        files = tree.for_node(node.name)
        if node.kamailio is not None:
            jobs.append(partial(check_kamailio, node, node.kamailio, files, opts))
        if node.rtpengine is not None:
            root = opts.root_for(node)
            if root not in helps:
                helps[root] = _rtpengine_help(root)
            jobs.append(partial(check_rtpengine, node, node.rtpengine, files, opts, helps[root]))
        if node.coturn is not None:
            jobs.append(partial(check_coturn, node, node.coturn, files, opts))
        if node.openfire is not None:
            jobs.append(partial(_openfire, node, tree))
        if node.firewall is not None:
            jobs.append(partial(check_firewall, node, files, opts))
    return jobs


def check_tree(plan: Plan, tree: RenderedTree, opts: Options | None = None) -> list[CheckResult]:
    """Check every daemon of every node against its rendered files; one result each, in plan order.

    Daemons run concurrently, each in its own namespace, so the whole check
    takes about one settle period. A node of another release than this machine's
    runs that release's daemons (voipctl.check.platforms; its image is built once
    if absent). Raises ToolError when not root or a tool is missing; a daemon
    rejecting its config is a failed result, not an error.
    """
    opts = opts or Options()
    if os.geteuid() == 0 and opts.roots is None:
        opts = replace(opts, roots=platform_roots(plan))
    _preflight(plan, opts)
    jobs = _jobs(plan, tree, opts)
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(jobs)), thread_name_prefix="voipctl-check") as pool:
        futures = [pool.submit(job) for job in jobs]
        results = [f.result() for f in futures]
    return [replace(r, detail=opts.scrub(r.detail)) for r in results]
