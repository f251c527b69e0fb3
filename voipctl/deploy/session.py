"""One deploy, start to end: fresh render, inventory, vars file, ansible-playbook, outcome.

The CLI, the lab tests and the benchmark all go through `deploy`, so what they
measure and check is what users run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from voipctl import pipeline
from voipctl.deploy.ansible import ANSIBLE_INSTALL, PlaybookRun, ansible_env, limit_hosts, playbook_argv
from voipctl.deploy.events import Event, HostRecap, failures_by_host, recap_from
from voipctl.deploy.hostvars import deploy_vars, sensitive_rels
from voipctl.deploy.inventory import choose_inventory, read_inventory
from voipctl.deploy.playbook import private_vars_file, run_playbook
from voipctl.errors import DeployFailed, HostsUnreachable, ToolError
from voipctl.output.manifest import Manifest
from voipctl.output.writer import ensure_fresh
from voipctl.plan.model import Plan
from voipctl.resources import playbooks_dir, require_executable

# ansible-playbook's exit codes (bit flags: 2 host failed, 4 host unreachable) that come
# with a complete recap; 4 is also a parse error, which ends without one.
_RECAP_CODES = frozenset({0, 2, 4, 6})


@dataclass(frozen=True)
class DeployOptions:
    inventory: Path | None = None
    check: bool = False
    diff: bool = False
    limit: str | None = None
    render_dir: Path | None = None
    pki_dir: Path = Path("pki")
    pipelining: bool | None = None
    control_persist: bool | None = None
    log_path: Path | None = None
    verbosity: int = 0
    lab_root: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True)
class DeployOutcome:
    site: str
    render_dir: Path
    rerendered: tuple[str, ...]
    inventory: Path
    hosts: tuple[str, ...]
    argv: tuple[str, ...]
    recap: tuple[HostRecap, ...]
    failures: Mapping[str, list[str]]
    returncode: int
    stderr: tuple[str, ...]
    seconds: float

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.recap)


def default_render_dir(site: str) -> Path:
    return Path("build") / site


def _ignore(_: Event) -> None:
    return None


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Prepared:
    """Everything decided before Ansible runs: the plan, the (fresh) render, where to run."""

    site: str
    plan: Plan
    render_dir: Path
    manifest: Manifest
    sensitive: frozenset[str]
    site_dir: Path
    rerendered: tuple[str, ...]
    inventory: Path
    hosts: tuple[str, ...]
    env: Mapping[str, str]
    host_nodes: Mapping[str, str] = field(default_factory=dict)  # inventory host -> site node


def prepare(site_path: Path, options: DeployOptions, on_notice: Callable[[str], None] = _quiet) -> Prepared:
    """Load and plan the site, make its render directory current, pick inventory and hosts."""
    site, plan = pipeline.load_and_plan(site_path)
    tree = pipeline.render(site, plan, options.pki_dir)
    secrets = pipeline.secrets_for(site, plan)
    render_dir = (options.render_dir or default_render_dir(site.name)).absolute()
    reasons = ensure_fresh(tree, render_dir)
    if reasons:
        more = f" and {len(reasons) - 1} more" if len(reasons) > 1 else ""
        on_notice(f"render {render_dir} was out of date ({reasons[0]}{more}): re-rendered")
    manifest = Manifest.read(render_dir)
    if manifest is None:
        raise ToolError(f"{render_dir}: no manifest after rendering")
    env = ansible_env(options.env, playbooks_dir(), options.pipelining, options.control_persist, options.log_path)
    inventory = choose_inventory(site.name, options.inventory, options.lab_root).absolute()
    # ansible-inventory may print the inventory's own secrets: keep them out of any Ansible log.
    listing_env = {k: v for k, v in env.items() if k != "ANSIBLE_LOG_PATH"}
    host_nodes = read_inventory(inventory, listing_env)
    hosts = limit_hosts(host_nodes, [n.name for n in plan.nodes], options.limit)
    return Prepared(site.name, plan, render_dir, manifest, sensitive_rels(tree, secrets.values.values()),
                    site.path.parent, tuple(str(r) for r in reasons), inventory, hosts, env, host_nodes)


def execute(prep: Prepared, options: DeployOptions, on_event: Callable[[Event], None] = _ignore) -> DeployOutcome:
    """Run site.yml on the prepared render; raises only when Ansible gave no usable recap."""
    started = time.monotonic()
    doc = deploy_vars(prep.plan, prep.manifest, prep.render_dir, prep.sensitive, prep.site_dir)
    playbooks = playbooks_dir()
    with private_vars_file(doc) as vars_file:
        run = PlaybookRun(playbooks, prep.inventory, vars_file, prep.hosts, options.check, options.diff,
                          options.verbosity)
        argv = playbook_argv(run, require_executable("ansible-playbook", ANSIBLE_INSTALL))
        result = run_playbook(argv, prep.env, on_event)
    recap = recap_from(result.events)
    if recap is None or result.returncode not in _RECAP_CODES:
        tail = "\n".join(result.stderr[-10:])
        raise ToolError(f"ansible-playbook ended with exit {result.returncode} and no complete recap:\n{tail}")
    return DeployOutcome(
        site=prep.site,
        render_dir=prep.render_dir,
        rerendered=prep.rerendered,
        inventory=prep.inventory,
        hosts=prep.hosts,
        argv=tuple(argv),
        recap=tuple(recap),
        failures=failures_by_host(result.events),
        returncode=result.returncode,
        stderr=result.stderr,
        seconds=time.monotonic() - started,
    )


def deploy(site_path: Path, options: DeployOptions, on_event: Callable[[Event], None] = _ignore,
           on_notice: Callable[[str], None] = _quiet) -> DeployOutcome:
    """Deploy the site's current render to its hosts (prepare, then execute)."""
    return execute(prepare(site_path, options, on_notice), options, on_event)


def raise_for_outcome(outcome: DeployOutcome) -> None:
    """Exit 4 when a host failed, 5 when one was unreachable; hosts that ran nothing count as failed."""
    seen = {r.host for r in outcome.recap}
    failed = sorted({r.host for r in outcome.recap if r.failed} | (set(outcome.hosts) - seen))
    unreachable = sorted(r.host for r in outcome.recap if r.unreachable)
    if failed:
        raise DeployFailed(f"deploy failed on {', '.join(failed)} (each failed host keeps its previous files)")
    if unreachable:
        raise HostsUnreachable(f"could not reach {', '.join(unreachable)}")
