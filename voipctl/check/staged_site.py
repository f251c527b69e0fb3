"""A site made ready for its daemons to run from a staging directory: the load bed's, the tests'.

A copy of the site file gets its secrets, a fresh CA and leaves, and its kamailio, rtpengine
and coturn files staged for voipctl.check.sandbox (which lays them over /etc and /var in the
daemon's own mount namespace), with the subscriber sqlite DB filled. Nothing reaches the machine.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from voipctl import pipeline
from voipctl.check.stage import stage_files, staged_path
from voipctl.pki.ca import init_ca
from voipctl.pki.issue import issue_site
from voipctl.pki.store import layout
from voipctl.plan.model import Plan
from voipctl.plan.services import KamailioPlan
from voipctl.render.kamailio import service_args
from voipctl.render.site import render_site
from voipctl.secrets import Secrets

SERVICES = ("kamailio", "rtpengine", "coturn")


@dataclass(frozen=True)
class StagedSite:
    plan: Plan
    secrets: Secrets
    pki_root: Path
    stage: Path


def stage_site(site_file: Path, workdir: Path) -> StagedSite:
    """Copy the site file, make its secrets, CA and leaves, render and stage the daemons' files."""
    copy = workdir / site_file.name
    shutil.copyfile(site_file, copy)
    site, plan = pipeline.load_and_plan(copy)
    secrets = pipeline.secrets_for(site, plan)
    pki_root = workdir / "pki"
    lay = layout(pki_root, site.name)
    now = datetime.now(UTC)
    passphrase = secrets["pki_root_passphrase"] if site.spec.pki.encrypt_root else None
    init_ca(lay, site.name, site.spec.pki.root_key, passphrase, now)
    keystore = secrets["openfire_keystore_password"] if any(n.openfire for n in plan.nodes) else None
    issue_site(site, plan, lay, keystore, now)
    tree = render_site(plan, secrets, lay.root)
    stage = workdir / "stage"
    stage.mkdir(mode=0o700)
    stage_files(stage, [f for f in tree.files if f.service in SERVICES])
    sql_paths = {n.kamailio.db.sql_path for n in plan.nodes if n.kamailio is not None}
    for f in tree.files:
        if f.path in sql_paths:
            _subscriber_db(stage, plan, f.content.decode())
    return StagedSite(plan, secrets, pki_root, stage)


def _subscriber_db(stage: Path, plan: Plan, sql: str) -> None:
    for node in plan.nodes:
        if node.kamailio is not None and node.kamailio.db.backend == "sqlite":
            path = staged_path(stage, node.kamailio.db.sqlite_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path)
            db.executescript(sql)
            db.close()


def kamailio_argv(kam: KamailioPlan, rundir: Path) -> list[str]:
    """Foreground kamailio logging to stderr, memory sizes as the unit passes them."""
    return ["kamailio", "-DD", "-E", "-f", kam.cfg_path, "-Y", str(rundir), *service_args(kam)]
