"""`verify`: prove the deployed site is what its file says and that it works, with a report."""

from __future__ import annotations

from pathlib import Path

import click

from voipctl.cli import err_console, out_console
from voipctl.cli.options import PKI_OPT
from voipctl.errors import UsageError
from voipctl.verify.hosts.access import Backend
from voipctl.verify.orchestrator import VerifyOptions, raise_for_report, verify
from voipctl.verify.probes.vantage import parse_vantage
from voipctl.verify.report.formats import table, to_json, to_junit

EXIT_CODES = """\b
Exit codes:
  0  every check passed (skipped checks are listed with their reason, never counted as passed)
  1  at least one check failed
  2  invalid site or command line (no inventory, unknown namespace, no lab and no --vantage, ...)
  3  a tool verify needs before it can start (ansible-inventory, pytest-testinfra) is missing or failed
"""


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


@click.command(epilog=EXIT_CODES)
@click.argument("site", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None,
              help="Ansible inventory to reach the hosts (default: the site's lab inventory while it is up).")
@click.option("-o", "--render-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Render directory whose manifest.json deployed files must match (default: build/SITE).")
@PKI_OPT
@click.option("--junit", "junit_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the report as JUnit XML.")
@click.option("--json", "json_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the report as JSON.")
@click.option("--browser", is_flag=True, help="Also run the browser (WebRTC) call probe.")
@click.option("--vantage", "vantages", multiple=True, metavar="[NAME=]NETNS|local",
              help="Run probes from this network namespace (repeatable; the first hosts the callee and the "
                   "scanners, the last the caller and TURN). Default: the lab's clients; without a lab it "
                   "must be given (`local` for this machine).")
@click.option("--backend", type=click.Choice(["ssh", "paramiko"]), default="ssh", show_default=True,
              help="testinfra backend for the host suite.")
@click.option("--no-hosts", is_flag=True, help="Skip the host suite (SSH).")
@click.option("--no-probes", is_flag=True, help="Skip the functional probes.")
@click.option("--brief", is_flag=True, help="List only failed and skipped checks in the table.")
def verify_cmd(site: Path, inventory: Path | None, render_dir: Path | None, pki_dir: Path, junit_file: Path | None,
               json_file: Path | None, browser: bool, vantages: tuple[str, ...], backend: Backend, no_hosts: bool,
               no_probes: bool, brief: bool) -> None:
    """Verify the deployed SITE: a testinfra suite generated from the plan, and probes from clients.

    Hosts: packages and versions, services, every socket on exactly its address,
    no control port beyond the plan, owners, modes and sha256 of deployed files
    against the render manifest, certificates (> 30 days, chain to the site CA).
    Probes: SIP OPTIONS over every transport (TLS verified), REGISTER with digest,
    a SIPp call with media through rtpengine, WebSocket Origin check, SIP scanner,
    STUN/TURN (credentials, denied peers), control ports unreachable, TLS scan.
    """
    options = VerifyOptions(inventory=inventory, render_dir=render_dir, pki_dir=pki_dir,
                            vantages=tuple(parse_vantage(v) for v in vantages), backend=backend, browser=browser,
                            hosts=not no_hosts, probes=not no_probes)
    report = verify(site, options, on_progress=lambda text: err_console.print(f"verify: {text}", markup=False))
    if json_file is not None:
        _write(json_file, to_json(report))
    if junit_file is not None:
        _write(junit_file, to_junit(report))
    out_console.print(table(report, only_problems=brief))
    out_console.print(report.summary(), markup=False, style="bold red" if report.failed else "bold green")
    raise_for_report(report)


def register(group: click.Group) -> None:
    group.add_command(verify_cmd, name="verify")
