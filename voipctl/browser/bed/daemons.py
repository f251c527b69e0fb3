"""The bed's site: a copy of a site file, its CA and leaves, and its daemons in the server namespace.

Each daemon runs under voipctl.check.sandbox, which lays the staged rendered files
over /etc and /var in the daemon's own mount namespace, so it reads them at their
real paths and the machine keeps nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from voipctl import pipeline
from voipctl.check import argv as check_argv
from voipctl.check.stage import stage_files, staged_path
from voipctl.errors import ToolError
from voipctl.netns import exec_argv
from voipctl.pki.ca import init_ca
from voipctl.pki.issue import issue_site
from voipctl.pki.store import layout
from voipctl.plan.model import KamailioPlan, Plan
from voipctl.render.kamailio import service_args
from voipctl.render.site import render_site
from voipctl.secrets import Secrets

SERVICES = ("kamailio", "rtpengine", "coturn")


@dataclass(frozen=True)
class BedSite:
    plan: Plan
    secrets: Secrets
    pki_root: Path
    stage: Path


def prepare_site(site_file: Path, workdir: Path) -> BedSite:
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
    return BedSite(plan, secrets, pki_root, stage)


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


class Daemons:
    """The site's daemons in one namespace, started rtpengine first (kamailio disables a dead one)."""

    def __init__(self, netns: str, bed: BedSite, logs: Path) -> None:
        self.netns, self.bed, self.logs = netns, bed, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def _start(self, name: str, cmd: list[str]) -> None:
        full = exec_argv(self.netns, check_argv.sandbox_argv(str(self.bed.stage), cmd))
        with self.log(name).open("ab") as out:
            self.procs[name] = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait_listening(self, name: str, proto: str, port: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                tail = self.log(name).read_text(errors="replace")[-1500:]
                raise ToolError(f"{name} exited with {proc.returncode} in the bed: {tail}")
            out = subprocess.run(exec_argv(self.netns, ["ss", "-H", "-l", "-n", f"-{proto}", f"sport = :{port}"]),
                                 capture_output=True, text=True, check=False).stdout
            if out.strip():
                return
            time.sleep(0.1)
        raise ToolError(f"{name} did not listen on {proto} port {port} within {timeout:.0f} s")

    def start_all(self) -> None:
        plan = self.bed.plan
        for node in plan.nodes:
            if node.rtpengine is not None:
                self._start("rtpengine", check_argv.rtpengine_argv(node.rtpengine.conf_path))
                self._wait_listening("rtpengine", "u", node.rtpengine.ng_port)
        for node in plan.nodes:
            if node.coturn is not None:
                self._start("coturn", check_argv.coturn_argv(node.coturn.conf_path))
                self._wait_listening("coturn", "u", node.coturn.port)
        for node in plan.nodes:
            if node.kamailio is not None:
                rundir = self.logs / "kamailio-run"
                rundir.mkdir(exist_ok=True)
                self._start("kamailio", kamailio_argv(node.kamailio, rundir))
                # the WSS socket opens last (TLS setup), so it marks kamailio ready for the browser
                last = sorted(node.kamailio.listeners, key=lambda lst: lst.proto != "wss")[0]
                self._wait_listening("kamailio", "u" if last.proto == "udp" else "t", last.port)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def stop_all(self) -> None:
        for name in ("kamailio", "coturn", "rtpengine"):
            self.stop(name)
