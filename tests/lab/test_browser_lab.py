"""The browser probe on the real lab: nspawn hosts, `voipctl deploy`, the lab's DNS and NAT.

A copy of the lab site named `vbt` (its own namespaces, links and state) is brought
up, PKI'd and deployed, the probe runs from the lab's NAT'd client, and the lab is
removed again. Needs what test_lab_up needs plus what test_browser_call needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.labsites import lab_site_copy
from voipctl.pipeline import load_and_plan, secrets_for
from voipctl.plan.model import Plan
from voipctl.resources import web_dir
from voipctl.secrets import Secrets
from voipctl.verify.browser import argv
from voipctl.verify.browser.probe import missing_tools, run_browser_probe

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, bridges, mounts)"),
    pytest.mark.skipif(shutil.which("sipp") is None or not Path(argv.CHROMIUM).exists(),
                       reason=f"needs sipp and {argv.CHROMIUM}"),
    pytest.mark.skipif(bool(missing_tools(web_dir())), reason="web/ needs `npm ci` (scripts/setup)"),
]


def voipctl(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voipctl", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plan, Secrets, Path]]:
    tmp = tmp_path_factory.mktemp("vbt")
    site = lab_site_copy(tmp, "vbt")
    pki = tmp / "pki"
    for step in (("pki", "init", str(site), "--pki-dir", str(pki)), ("pki", "issue", str(site), "--pki-dir", str(pki))):
        res = voipctl(*step)
        assert res.returncode == 0, res.stdout + res.stderr
    try:
        up = voipctl("lab", "up", str(site))
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        dep = voipctl("deploy", str(site), "--pki-dir", str(pki), "-o", str(tmp / "build"))
        assert dep.returncode == 0, dep.stdout[-3000:] + dep.stderr[-3000:]
        loaded, plan = load_and_plan(site)
        yield plan, secrets_for(loaded, plan), pki
    finally:
        down = voipctl("lab", "down", str(site))
        assert down.returncode == 0, down.stdout[-2000:] + down.stderr[-2000:]


def test_reference_scenario_on_the_deployed_lab(deployed: tuple[Plan, Secrets, Path]) -> None:
    plan, secrets, pki = deployed
    outcomes = run_browser_probe(plan, secrets, pki)
    detail = "\n".join(f"{o.status}: {o.name}: {o.detail}" for o in outcomes)
    # 2 registrations + 4 calls x 4 checks + 2 relay checks + 2 re-INVITEs + 1 fork check
    assert len(outcomes) == 23 and all(o.ok for o in outcomes), detail
    names = {o.name for o in outcomes}
    assert "phone calls browser and desk phone: desk phone branch offered plain RTP, then cancelled" in names
    assert "phone calls browser: browser re-INVITE (target refresh) answered" in names
    assert all(o.vantage == "vlab.vbt._cnat" for o in outcomes)


def test_relay_call_on_the_lab_fails_with_a_wrong_turn_secret(deployed: tuple[Plan, Secrets, Path]) -> None:
    plan, secrets, pki = deployed
    wrong = Secrets({**secrets.values, "turn_secret": "not-the-site-secret"})
    outcomes = run_browser_probe(plan, wrong, pki, calls=("relay",))
    failed = {o.name.split(": ", 1)[-1] for o in outcomes if not o.ok}
    assert {"browser used a relay candidate", "media relayed by coturn", "browser leg DTLS-SRTP"} <= failed
