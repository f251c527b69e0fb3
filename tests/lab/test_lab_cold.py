"""`voipctl lab up --cold`: hosts without the VoIP packages, which install through the proxy.

This is what lets deploy's package tasks run for real against the lab: a whole deploy on cold
hosts installs the pinned packages and passes its health gates.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.labsites import lab_site_copy
from voipctl.lab import commands as cmd
from voipctl.lab.state import LabPaths
from voipctl.pipeline import load_and_plan

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, bridges, mounts)"),
]



def _voipctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voipctl", *args], capture_output=True, text=True,
                          timeout=900, check=False)


def test_deploy_installs_the_voip_packages_on_cold_hosts(tmp_path: Path) -> None:
    site = lab_site_copy(tmp_path, "labcold")
    plan = load_and_plan(site)[1]
    paths = LabPaths.for_site(plan.site)
    assert not paths.state_file.exists(), f"a {plan.site} lab is already up: run `voipctl lab down {plan.site}`"
    up = _voipctl("lab", "up", "--cold", str(site))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "cold image" in up.stdout
        media = plan.node("media1").private

        def ssh(*remote: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(cmd.ssh(paths.ssh_key, media, list(remote), timeout=5), capture_output=True,
                                  text=True, timeout=300, check=False)

        assert ssh("dpkg", "-s", "coturn").returncode != 0, "the cold image must not contain coturn"
        assert ssh("systemctl", "is-system-running", "--wait").stdout.strip() == "running"
        # deploy installs the pinned packages for real (through the lab's apt proxy) and passes its gates
        for step in (("pki", "init"), ("pki", "issue")):
            res = _voipctl(*step, str(site), "--pki-dir", str(tmp_path / "pki"))
            assert res.returncode == 0, res.stdout + res.stderr
        deploy = _voipctl("deploy", str(site), "-o", str(tmp_path / "build"), "--pki-dir", str(tmp_path / "pki"))
        assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-2000:]
        assert ssh("dpkg", "-s", "coturn", "rtpengine-daemon").returncode == 0
        assert ssh("systemctl", "is-active", "coturn", "rtpengine-daemon").stdout.split() == ["active", "active"]
        # A warm `up` on a cold lab is refused rather than silently keeping the cold hosts.
        again = _voipctl("lab", "up", str(site))
        assert again.returncode == 2 and "cold image" in again.stderr
    finally:
        down = _voipctl("lab", "down", plan.site)
    assert down.returncode == 0, down.stderr
    assert not paths.site_dir.exists()
