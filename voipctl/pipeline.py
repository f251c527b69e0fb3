"""The stages in order, each taking only the previous stage's output.

site file -> Site -> Plan (+ checks) -> RenderedTree -> disk (voipctl.output).
"""

from __future__ import annotations

from pathlib import Path

from voipctl.errors import SiteError
from voipctl.plan.build import build_plan
from voipctl.plan.checks import check_plan
from voipctl.plan.crosschecks import CROSS_CHECKS
from voipctl.plan.model import Plan
from voipctl.render.site import render_site
from voipctl.render.tree import RenderedTree
from voipctl.secrets import Secrets, ensure_secrets, required_keys
from voipctl.site.load import load_site
from voipctl.site.model import Site


def load_and_plan(path: Path) -> tuple[Site, Plan]:
    """Load, validate and plan a site; raises SiteError with every problem (exit 2)."""
    site = load_site(path)
    plan = build_plan(site)
    problems = check_plan(site, plan, extra=CROSS_CHECKS)
    if problems:
        raise SiteError(problems)
    return site, plan


def secrets_for(site: Site, plan: Plan) -> Secrets:
    """The site's secrets, generating (once, 0600) any the plan needs and the store lacks."""
    return ensure_secrets(site.secrets_path, required_keys(site, plan))


def render(site: Site, plan: Plan, pki_root: Path | None = None) -> RenderedTree:
    """Render every file of the site in memory (nothing written but missing secrets)."""
    secrets = secrets_for(site, plan)
    pki_dir = pki_root / site.name if pki_root is not None else None
    return render_site(plan, secrets, pki_dir)
