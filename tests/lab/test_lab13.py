"""Debian 13 on the lab: a mixed site deployed and verified end to end, browser call included.

One lab, brought up once for the module (CI budget): a copy of the lab site named `v13`
whose sip1 and media1 run Debian 13 (kamailio 6.0, rtpengine 12.5) while xmpp1 stays on
Debian 12, so both images boot side by side. `voipctl deploy` and `voipctl verify --browser`
must pass as the main job runs them. The first run builds the trixie image (minutes); later
runs unpack the cached one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.labsites import lab_site_copy
from voipctl.lab import commands as cmd
from voipctl.lab.state import LabPaths
from voipctl.pipeline import load_and_plan, secrets_for
from voipctl.plan.model import Plan
from voipctl.verify.browser.probe import run_browser_probe

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, bridges, mounts)"),
    pytest.mark.skipif(shutil.which("debootstrap") is None, reason="needs debootstrap (scripts/setup)"),
]

NAME = "v13"


def voipctl(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voipctl", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=REPO)


def mixed_site(directory: Path) -> Path:
    """The lab site as `v13`: Debian 13 for the site, xmpp1 kept on Debian 12."""
    site = lab_site_copy(directory, NAME)
    text = site.read_text().replace("\nnodes:\n", "\nplatform: debian13\n\nnodes:\n", 1)
    site.write_text(text.replace("  - name: xmpp1\n", "  - name: xmpp1\n    platform: debian12\n", 1))
    return site


@dataclass(frozen=True)
class Lab13:
    site: Path
    build: Path
    pki: Path
    plan: Plan

    def ssh(self, node: str, *remote: str) -> str:
        key = LabPaths.for_site(NAME).ssh_key
        res = subprocess.run(cmd.ssh(key, self.plan.node(node).private, list(remote), timeout=5),
                             capture_output=True, text=True, timeout=120, check=False)
        return res.stdout + res.stderr


@pytest.fixture(scope="module")
def lab13(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab13]:
    tmp = tmp_path_factory.mktemp(NAME)
    site = mixed_site(tmp)
    pki, build = tmp / "pki", tmp / "build"
    for step in (("pki", "init", str(site), "--pki-dir", str(pki)), ("pki", "issue", str(site), "--pki-dir", str(pki))):
        res = voipctl(*step)
        assert res.returncode == 0, res.stdout + res.stderr
    try:
        up = voipctl("lab", "up", str(site))
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        print(up.stdout.strip())  # the timings (cold image build or warm) belong in the log
        dep = voipctl("deploy", str(site), "--pki-dir", str(pki), "-o", str(build / NAME))
        assert dep.returncode == 0, dep.stdout[-4000:] + dep.stderr[-3000:]
        yield Lab13(site, build, pki, load_and_plan(site)[1])
    finally:
        if not os.environ.get("VOIPCTL_KEEP_LAB13"):
            down = voipctl("lab", "down", str(site))
            assert down.returncode == 0, down.stdout[-2000:] + down.stderr[-2000:]


def test_each_host_runs_its_platforms_release(lab13: Lab13) -> None:
    assert "kamailio 6.0.1" in lab13.ssh("sip1", "kamailio", "-v")
    assert "Version: 12.5.1.31" in lab13.ssh("media1", "dpkg", "-s", "rtpengine-daemon")
    assert 'VERSION_ID="12"' in lab13.ssh("xmpp1", "cat", "/etc/os-release")
    assert 'VERSION_ID="13"' in lab13.ssh("media1", "cat", "/etc/os-release")


def test_verify_with_the_browser_passes_on_debian13(lab13: Lab13) -> None:
    report = lab13.build / f"{NAME}-verify.json"
    res = voipctl("verify", str(lab13.site), "-o", str(lab13.build / NAME), "--pki-dir", str(lab13.pki),
                  "--browser", "--json", str(report))
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    checks = json.dumps(json.loads(report.read_text()))
    assert "bundlePolicy=max-bundle (expected max-bundle)" in checks, "the browser calls ran under max-bundle"


def test_max_bundle_calls_fail_without_the_bundle_group(lab13: Lab13) -> None:
    """The live negative: the deployed route(BUNDLE) writes an unrelated attribute instead of the
    group, so no BUNDLE group reaches the browser, and chromium under max-bundle refuses the call."""
    cfg = "/etc/kamailio/kamailio.cfg"
    broken = lab13.ssh("sip1", "sh", "-c", f"cp -p {cfg} /root/kamailio.cfg.lab13 && "
                       f"sed -i 's/a=group:BUNDLE \" +/a=x-voipctl-no-group:\" +/' {cfg} && "
                       f"grep -c x-voipctl-no-group {cfg} "
                       "&& systemctl restart kamailio && systemctl is-active kamailio")
    assert broken.split()[-2:] == ["1", "active"], broken
    try:
        site = load_and_plan(lab13.site)[0]
        outcomes = run_browser_probe(lab13.plan, secrets_for(site, lab13.plan), lab13.pki, calls=("outbound",))
    finally:
        restored = lab13.ssh("sip1", "sh", "-c", f"mv /root/kamailio.cfg.lab13 {cfg} && systemctl restart kamailio "
                             "&& systemctl is-active kamailio")
    assert restored.strip().endswith("active"), restored
    failed = {o.name for o in outcomes if not o.ok}
    assert "browser calls phone: call" in failed, [(o.name, o.status, o.detail) for o in outcomes]
