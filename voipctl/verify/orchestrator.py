"""`verify`, start to end: the host suite over SSH and the functional probes from the vantages.

Independent parts run at once (each is its own process): the testinfra suite,
one probe agent per vantage, the SIPp call, svmap and the sslyze scan. The
browser probe, which registers subscribers of its own, runs after them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from voipctl import pipeline
from voipctl.deploy.inventory import choose_inventory
from voipctl.errors import UsageError, VerifyFailed
from voipctl.pki.crl import revocation_check
from voipctl.pki.store import layout
from voipctl.plan.model import Plan
from voipctl.secrets import Secrets
from voipctl.site.model import Site
from voipctl.verify.call import probe as callprobe
from voipctl.verify.hosts.access import Backend, HostAccess, load_accesses
from voipctl.verify.hosts.checks import HostCheck, host_checks
from voipctl.verify.hosts.freshness import manifest_entries, render_outcome
from voipctl.verify.hosts.packages import package_pins
from voipctl.verify.hosts.suite_runner import require_testinfra, run_suite
from voipctl.verify.probes.build import ProbeInputs, build_probes
from voipctl.verify.probes.dispatch import run_agents
from voipctl.verify.probes.judge import judge
from voipctl.verify.probes.vantage import Vantage, lab_node_netns, lab_private_neighbour, lab_vantages
from voipctl.verify.report.formats import VerifyReport
from voipctl.verify.report.outcome import Outcome
from voipctl.verify.report.reachability import reachability
from voipctl.verify.scanners import svmap
from voipctl.verify.scanners import tls as tlsscan


@dataclass(frozen=True)
class VerifyOptions:
    inventory: Path | None = None
    render_dir: Path | None = None
    pki_dir: Path = Path("pki")
    vantages: tuple[Vantage, ...] = ()
    backend: Backend = "ssh"
    browser: bool = False
    hosts: bool = True
    probes: bool = True
    lab_root: Path | None = None


def _quiet(_: str) -> None:
    return None


def _vantages(plan: Plan, options: VerifyOptions) -> tuple[Vantage, ...]:
    """Where the probes run from: as asked, else the lab's clients; never a silent guess."""
    if options.vantages:
        return options.vantages
    found = lab_vantages(plan, options.lab_root)
    if found is None and options.probes:
        raise UsageError(f"no lab of site {plan.site} is up and no --vantage was given: say where the probes "
                         "run from (--vantage NETNS, or --vantage local for this machine), or use --no-probes")
    return found or ()


@dataclass(frozen=True)
class HostSuite:
    checks: tuple[HostCheck, ...]
    accesses: dict[str, HostAccess]


def prepare_hosts(site: Site, plan: Plan, options: VerifyOptions, ca: Path) -> HostSuite:
    """Resolve the inventory and generate the checks before anything starts (bad input fails early)."""
    require_testinfra()
    inventory = choose_inventory(site.name, options.inventory, options.lab_root).absolute()
    accesses = load_accesses(inventory, [n.name for n in plan.nodes], dict(os.environ))
    pins = {n.name: package_pins(n) for n in plan.nodes}
    files = manifest_entries(site, options.render_dir)
    return HostSuite(tuple(host_checks(plan, files, pins, ca)), accesses)


def _host_suite(suite: HostSuite, backend: Backend, work: Path) -> list[Outcome]:
    suite_dir = work / "hosts"
    suite_dir.mkdir(mode=0o700)
    return run_suite(suite.checks, suite.accesses, backend, suite_dir)


def _probes(plan: Plan, secrets: Secrets, vantages: tuple[Vantage, ...], ca: Path,
            private: Vantage | None) -> list[Outcome]:
    user = plan.subscribers[0] if plan.subscribers else None
    inputs = ProbeInputs(str(ca), user, secrets.subscriber(user) if user else None, secrets["turn_secret"])
    probes, decided = build_probes(plan, vantages, inputs, private)
    everywhere = (*vantages, private) if private is not None else vantages
    return judge(probes, run_agents(everywhere, probes)) + decided


def _call(plan: Plan, secrets: Secrets, vantages: tuple[Vantage, ...], work: Path,
          lab_root: Path | None) -> list[Outcome]:
    setup = callprobe.call_setup(plan, vantages, secrets, lab_node_netns(plan, lab_root))
    if isinstance(setup, Outcome):
        return [setup]
    call_dir = work / "call"
    call_dir.mkdir(mode=0o700)
    return callprobe.run_call(setup, call_dir)


def _browser(plan: Plan, secrets: Secrets, pki_dir: Path, lab_root: Path | None) -> list[Outcome]:
    """The browser probe, asked for with --browser: whatever keeps it from running is a failure."""
    if lab_vantages(plan, lab_root) is None:
        return [Outcome("browser", "browser call probe", "failed",
                        f"--browser runs in the lab's client namespaces, and no lab of site {plan.site} is up")]
    try:
        from voipctl.verify.browser.probe import run_browser_probe  # noqa: PLC0415 - optional part, loaded on demand
    except ImportError as exc:
        return [Outcome("browser", "browser call probe", "failed", f"browser probe not available ({exc})")]
    try:
        found = run_browser_probe(plan, secrets, pki_dir)
    except Exception as exc:  # a broken probe is a failed check, never a lost report
        return [Outcome("browser", "browser call probe", "failed", f"crashed: {type(exc).__name__}: {exc}")]
    return [replace(o, status="failed", detail=f"asked for with --browser but cannot run: {o.detail}")
            if o.status == "skipped" else o for o in found]


def _collect(futures: Mapping[str, Future[list[Outcome]]]) -> list[Outcome]:
    out: list[Outcome] = []
    for name, f in futures.items():
        try:
            out += f.result()
        except Exception as exc:  # one broken part must not hide the others' results, nor the report
            out.append(Outcome(name, f"{name} checks", "failed", f"crashed: {type(exc).__name__}: {exc}"))
    return out


def verify(site_path: Path, options: VerifyOptions, on_progress: Callable[[str], None] = _quiet) -> VerifyReport:
    """Run every check on the deployed site; the report lists each outcome. Raises only for bad input."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    site, plan = pipeline.load_and_plan(site_path)
    secrets = pipeline.secrets_for(site, plan)
    lay = layout(options.pki_dir, site.name)
    ca, revocation = lay.root_cert.absolute(), revocation_check(lay)
    vantages = _vantages(plan, options)
    private = None if options.vantages else lab_private_neighbour(plan, options.lab_root)
    suite = prepare_hosts(site, plan, options, ca) if options.hosts else None
    render_part = render_outcome(site, plan, options.render_dir, options.pki_dir, ca)
    outcomes: list[Outcome] = list(render_part)
    work = Path(tempfile.mkdtemp(prefix="voipctl-verify-"))
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            host = None
            if suite is not None:
                on_progress(f"host suite: {len(suite.checks)} checks on {len(suite.accesses)} nodes over SSH")
                host = pool.submit(_host_suite, suite, options.backend, work)
            if options.probes:
                on_progress(f"probes from {', '.join(v.name for v in vantages)}: SIP, REGISTER, call, scanner, "
                            "exposure, STUN/TURN")
                first = {
                    "probes": pool.submit(_probes, plan, secrets, vantages, ca, private),
                    "call": pool.submit(_call, plan, secrets, vantages, work, options.lab_root),
                    "tls": pool.submit(tlsscan.run_scan, plan, vantages[0], ca, ("coturn", "openfire"),
                                       revocation),
                }
                outcomes += _collect(first)
                # The scanner runs alone: SIP probes from its source at the same time could get that source
                # banned, and a ban would look like a filtered scanner.
                on_progress("SIP scanner (sipvicious_svmap) and its control OPTIONS")
                outcomes += _collect({"scanner": pool.submit(svmap.run_svmap, plan, vantages[0])})
                # kamailio 5.6 can crash under concurrent failing TLS handshakes (tlsscan.SERIAL_SERVICES):
                # its scan runs alone, after the SIP probes, so a crash cannot break them.
                on_progress("TLS scan of kamailio (sslyze)")
                outcomes += _collect({"tls": pool.submit(tlsscan.run_scan, plan, vantages[0], ca, ("kamailio",),
                                                         revocation)})
                if not tlsscan.tls_targets(plan):
                    outcomes.append(Outcome("tls", "TLS scan (sslyze)", "skipped", "the plan has no TLS socket",
                                            vantage=vantages[0].name))
            if host is not None:
                outcomes[len(render_part):len(render_part)] = _collect({"host": host})
        if options.browser:
            on_progress("browser call probe")
            outcomes += _browser(plan, secrets, options.pki_dir, options.lab_root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return VerifyReport(site.name, plan.model_hash, started_at, time.monotonic() - started, tuple(outcomes),
                        tuple(reachability(plan)))


def raise_for_report(report: VerifyReport) -> None:
    failed = report.failed
    if failed:
        names = ", ".join(f"{o.group}: {o.name}" for o in failed[:3])
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        raise VerifyFailed(f"verify of site {report.site} failed: {len(failed)} check(s) failed ({names}{more})")
