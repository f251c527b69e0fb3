"""`run_browser_probe`: the reference scenario as verify outcomes.

Sets up the run (page certificate, NSS trust store, page server, phone
registration, browser), runs the three calls of voipctl.verify.browser.scenario and
hands the records to voipctl.verify.browser.judge. Everything it starts is stopped and
its 0700 run directory removed, pass or fail.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from voipctl.errors import ToolError, VoipctlError
from voipctl.plan.model import Plan
from voipctl.proc import in_netns, run, spawn
from voipctl.resources import web_dir
from voipctl.secrets import Secrets
from voipctl.sipp.credentials import write_credentials
from voipctl.verify.browser import argv, judge, phone, scenario, trust
from voipctl.verify.browser.config import (
    REGISTER_EXPIRES,
    ProbeUnavailable,
    SiteTargets,
    ice_servers,
    page_config,
    site_targets,
)
from voipctl.verify.browser.driver import BrowserDriver, DriverError
from voipctl.verify.browser.vantage import BrowserVantage, lab_vantage
from voipctl.verify.report.outcome import Outcome

GROUP = "browser"
PAGE_BIND = "127.0.0.1"
TOOLS = ("node", "sipp", "certutil", "ip", "ss")
HOLD_SECONDS = 6.0
REGISTER_TIMEOUT = 15.0
CALLS = ("outbound", "relay", "inbound", "forked")


def missing_tools(web: Path) -> list[str]:
    """What this machine lacks to run the probe, each with the package that provides it."""
    missing = [f"{t}" for t in TOOLS if shutil.which(t) is None]
    if not Path(argv.CHROMIUM).exists():
        missing.append(f"{argv.CHROMIUM} (Debian package chromium)")
    if not (web / "node_modules" / "playwright-core").is_dir() or not (web / "node_modules" / "jssip").is_dir():
        missing.append(f"{web}/node_modules (run `npm ci` in {web})")
    return missing


def ensure_bundle(web: Path) -> Path:
    """web/dist with the bundled page, rebuilt when a source is newer than the bundle."""
    dist = web / "dist"
    bundle = dist / "page.js"
    sources = [*(web / "src").iterdir(), web / "build.mjs", web / "package-lock.json"]  # a new JsSIP too
    if not bundle.exists() or any(s.stat().st_mtime > bundle.stat().st_mtime for s in sources):
        res = run(argv.build_argv(web), timeout=120)
        if not res.ok:
            raise ToolError(f"building the probe page failed: {res.detail(500)}")
    return dist


@contextlib.contextmanager
def page_server(netns: str, dist: Path, pki: trust.PagePki, port: int, log: Path) -> Iterator[None]:
    """The page's HTTPS server in the browser's namespace, for the `with` block."""
    proc = spawn(in_netns(netns, argv.serve_argv(dist, pki.chain, pki.key, PAGE_BIND, port)), log)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ToolError(f"the page server exited: {log.read_text(errors='replace')[-300:]}")
            if "serving" in log.read_text(errors="replace"):
                break
            time.sleep(0.05)
        else:
            raise ToolError(f"the page server did not start within 10 s: {log.read_text(errors='replace')[-300:]}")
        yield
    finally:
        proc.stop(grace=5)


def _browser_names(targets: SiteTargets, vantage: BrowserVantage) -> dict[str, str]:
    names = targets.site_names() if vantage.map_site_names else {}
    return {**names, targets.page_host: PAGE_BIND}


def _calls(ctx: scenario.CallContext, drv: BrowserDriver, calls: tuple[str, ...]) -> list[scenario.CallRecord]:
    records = []
    for call in calls:
        if call == "outbound":
            records.append(scenario.outbound_call(ctx, drv, "browser calls phone", "all"))
        elif call == "relay":
            records.append(scenario.outbound_call(ctx, drv, "browser calls phone via TURN relay", "relay"))
        elif call == "inbound":
            records.append(scenario.inbound_call(ctx, drv, "phone calls browser"))
        elif call == "forked":
            records.append(scenario.forked_call(ctx, drv, "phone calls browser and desk phone"))
        else:
            raise ValueError(f"unknown call {call!r}")
    return records


def _in_browser(ctx: scenario.CallContext, secrets: Secrets, home: Path, servers: list[dict[str, object]],
                calls: tuple[str, ...]) -> list[Outcome]:
    """Launch chromium on the page, register over WSS, make the calls."""
    targets, work = ctx.targets, ctx.workdir
    with BrowserDriver(ctx.vantage.browser_netns, web_dir(), home, work / "driver.log") as drv:
        drv.launch(targets.page_url, _browser_names(targets, ctx.vantage))
        drv.call("configure", page_config(targets, secrets.subscriber(targets.browser_user), servers))
        try:
            drv.call("register", int(REGISTER_TIMEOUT * 1000), timeout=REGISTER_TIMEOUT + 5)
        except DriverError as exc:
            return [judge.browser_registration(targets, str(exc))]
        records = _calls(ctx, drv, calls)
        (work / "page-events.log").write_text(json.dumps(drv.call("events"), indent=1))
        drv.call("stop", 3000, timeout=8)
    outcomes = [judge.browser_registration(targets, None)]
    for rec in records:
        outcomes += judge.judge_call(rec, targets)
    return outcomes


def _run(plan: Plan, secrets: Secrets, pki_dir: Path, vantage: BrowserVantage, targets: SiteTargets,
         work: Path, hold: float, calls: tuple[str, ...]) -> list[Outcome]:
    dist = ensure_bundle(web_dir())
    pki = trust.write_page_pki(trust.site_layout(pki_dir, plan.site), plan.site,
                               trust.page_cert_plan(targets.page_host, targets.kamailio_node), work,
                               datetime.now(UTC))
    home = work / "home"
    trust.make_nssdb(home, pki.root)
    creds = write_credentials(work / "phone.csv", [(targets.phone_user, secrets.subscriber(targets.phone_user))])
    servers = ice_servers(targets, secrets["turn_secret"], by_address=vantage.map_site_names)
    desk = None
    if "forked" in calls:
        desk = write_credentials(work / "desk.csv", [(targets.browser_user, secrets.subscriber(targets.browser_user))])
    ctx = scenario.CallContext(targets, vantage, work, creds, hold, desk)
    with page_server(vantage.browser_netns, dist, pki, targets.page_port, work / "page-server.log"):
        rc = scenario.register_device(ctx, targets.phone_user, creds, phone.UAS_PORT, REGISTER_EXPIRES,
                                      "phone-register")
        outcomes = [judge.phone_registration(targets, rc)]
        if rc != 0:
            return outcomes
        try:
            outcomes += _in_browser(ctx, secrets, home, servers, calls)
        except DriverError as exc:
            outcomes.append(Outcome(GROUP, "browser", "failed", str(exc)))
        finally:
            scenario.register_device(ctx, targets.phone_user, creds, phone.UAS_PORT, 0, "phone-deregister")
    return outcomes


def run_browser_probe(plan: Plan, secrets: Secrets, pki_dir: Path, vantage: BrowserVantage | None = None, *,
                      hold: float = HOLD_SECONDS, calls: tuple[str, ...] = CALLS,
                      browser_user: str | None = None, phone_user: str | None = None,
                      keep_dir: Path | None = None) -> list[Outcome]:
    """Run the browser scenario against the deployed site; one Outcome per assertion.

    `pki_dir` is the --pki-dir root holding <site>/ (the page certificate is signed by
    the site's intermediate). `vantage` defaults to the on-machine lab's clients.
    `calls` picks among "outbound", "relay", "inbound" and "forked" (all four by default).
    `keep_dir`, when given, receives the run's logs and SIPp traces (never secrets).
    """
    started = time.monotonic()
    try:
        targets = site_targets(plan, browser_user, phone_user)
    except ProbeUnavailable as exc:
        return [Outcome(GROUP, "browser scenario", "skipped", str(exc))]
    missing = missing_tools(web_dir())
    if missing:
        return [Outcome(GROUP, "browser scenario", "failed", "missing: " + ", ".join(missing))]
    where = vantage or lab_vantage(plan)
    work = Path(tempfile.mkdtemp(prefix="voipctl-browser-"))
    try:
        outcomes = _run(plan, secrets, pki_dir, where, targets, work, hold, calls)
    except (VoipctlError, OSError) as exc:
        outcomes = [Outcome(GROUP, "browser scenario", "failed", str(exc))]
    finally:
        if keep_dir is not None:
            _keep(work, keep_dir)
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    return [Outcome(o.group, o.name, o.status, o.detail, o.host or targets.kamailio_node,
                    o.vantage or where.browser_netns, o.seconds or elapsed) for o in outcomes]


def _keep(work: Path, keep_dir: Path) -> None:
    """Copy logs and traces out; the key, trust store and credentials file stay behind."""
    keep_dir.mkdir(parents=True, exist_ok=True)
    for path in work.iterdir():
        if path.is_file() and path.suffix in (".log", ".msg", ".err"):
            shutil.copy2(path, keep_dir / path.name)
