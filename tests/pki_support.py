"""Helpers for the PKI tests (no tests here): site copies, planning, openssl as the checker."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_site
from voipctl.cli import main
from voipctl.errors import SiteError
from voipctl.pki.ca import init_ca
from voipctl.pki.issue import IssueResult, issue_site
from voipctl.pki.passphrase import ENV, read_passphrase
from voipctl.pki.store import PkiLayout, layout
from voipctl.plan.build import build_plan
from voipctl.plan.checks import check_plan
from voipctl.plan.model import Plan
from voipctl.site.load import load_site
from voipctl.site.model import Site

KEYSTORE_PASSWORD = "test-keystore-password"


def now() -> datetime:
    return datetime.now(UTC)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`voipctl ARGS` in process: exit code, stdout, stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def issued_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, PkiLayout]:
    """A lab site copy with its CA made and every leaf issued through the CLI: site, pki dir, layout."""
    site = site_copy(tmp_path, "lab")
    pki = tmp_path / "pki"
    for step in ("init", "issue"):
        assert run_cli(capsys, "pki", step, str(site), "--pki-dir", str(pki))[0] == 0
    return site, pki, layout(pki, "lab")


def ca_passphrase_of_tests() -> str:
    """The CA key passphrase conftest gives every `voipctl pki` run (for library calls after the CLI's init)."""
    return read_passphrase(Path(os.environ[ENV]))


def site_copy(tmp_path: Path, name: str, extra_yaml: str = "", replace: tuple[str, str] | None = None) -> Path:
    """A copy of inventories/<name> in tmp (secrets land beside it), optionally edited."""
    site = copy_site(REPO / "inventories" / name, tmp_path / name)
    text = site.read_text()
    if replace is not None:
        assert replace[0] in text
        text = text.replace(*replace, 1)
    site.write_text(text + extra_yaml)
    return site


def edit_site(site: Path, old: str, new: str) -> None:
    text = site.read_text()
    assert old in text
    site.write_text(text.replace(old, new))


def plan_of(site_path: Path) -> tuple[Site, Plan]:
    site = load_site(site_path)
    plan = build_plan(site)
    problems = check_plan(site, plan)
    if problems:
        raise SiteError(problems)
    return site, plan


def pki_layout(site: Site, tmp_path: Path) -> PkiLayout:
    return layout(tmp_path / "pki", site.name)


def init_and_issue(
    site_path: Path, tmp_path: Path, when: datetime | None = None
) -> tuple[Site, Plan, PkiLayout, list[IssueResult]]:
    """`pki init` + `pki issue` through the library, at `when` (default: now)."""
    when = when or now()
    site, plan = plan_of(site_path)
    lay = pki_layout(site, tmp_path)
    init_ca(lay, site.name, site.spec.pki.root_key, None, when)
    return site, plan, lay, issue_site(site, plan, lay, KEYSTORE_PASSWORD, when)


def openssl_verify(
    lay: PkiLayout, cert: Path, purpose: str = "sslserver", host: str | None = None, ip: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The independent check: OpenSSL's own path validation against root + untrusted intermediate."""
    argv = ["openssl", "verify", "-CAfile", str(lay.root_cert), "-untrusted", str(lay.intermediate_cert),
            "-purpose", purpose]
    if host is not None:
        argv += ["-verify_hostname", host]
    if ip is not None:
        argv += ["-verify_ip", ip]
    return subprocess.run([*argv, str(cert)], capture_output=True, text=True, check=False, timeout=30)


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `root`: (mtime_ns, mode, bytes) by relative path."""
    out: dict[str, tuple[int, int, bytes]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_mode, path.read_bytes())
    return out
