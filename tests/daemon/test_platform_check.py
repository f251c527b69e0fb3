"""`voipctl check` proves a Debian 13 config with Debian 13's own daemons, on this Debian 12 machine.

The debian13 render carries a kamailio 6.0-only line (rtpengine's `ping_interval`):
kamailio 6.0 in the trixie root filesystem accepts it, this machine's kamailio 5.6
refuses it. That difference is the evidence that the right binary judged the file.
The first run builds the trixie image (a few minutes) and caches it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import REPO
from voipctl import pipeline
from voipctl.check.orchestrator import Options, check_tree
from voipctl.check.platforms import host_platform, platform_roots
from voipctl.plan.model import Plan
from voipctl.render.tree import RenderedTree

pytestmark = pytest.mark.daemon


@pytest.fixture(scope="module")
def lab13(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, RenderedTree]:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("needs root and debootstrap (the trixie root filesystem)")
    if host_platform(Path("/etc/os-release").read_text()) != "debian12":
        pytest.skip("the contrast below needs a Debian 12 machine")
    tmp = tmp_path_factory.mktemp("lab13")
    shutil.copytree(REPO / "inventories/lab13", tmp / "lab13")
    site, plan = pipeline.load_and_plan(tmp / "lab13" / "site.yml")
    return plan, pipeline.render(site, plan, None)


def test_debian13_daemons_judge_a_debian13_site(lab13: tuple[Plan, RenderedTree]) -> None:
    plan, tree = lab13
    roots = platform_roots(plan)
    assert [name for name, _ in roots] == ["debian13"]
    version = subprocess.run(["chroot", roots[0][1], "kamailio", "-v"], capture_output=True, text=True, check=True)
    assert "kamailio 6.0.1" in version.stdout
    results = check_tree(plan, tree, Options(prefix="vp13"))
    judged = {(r.node, r.daemon): r for r in results}
    assert all(r.ok for r in results), results
    for key in (("sip1", "kamailio"), ("media1", "rtpengine"), ("media1", "coturn")):
        assert judged[key].detail.endswith("[Debian 13 (trixie) root filesystem]"), judged[key]


def test_this_machines_kamailio_refuses_the_debian13_config(lab13: tuple[Plan, RenderedTree]) -> None:
    plan, tree = lab13
    assert any(b'modparam("rtpengine", "ping_interval", 10)' in f.content for f in tree.for_node("sip1"))
    results = check_tree(plan, tree, Options(prefix="vp12", roots=()))
    kamailio = next(r for r in results if r.daemon == "kamailio")
    assert not kamailio.ok and "ping_interval" in kamailio.detail and "this machine's daemon" in kamailio.detail


def test_a_broken_ruleset_fails_nft_of_the_nodes_release(lab13: tuple[Plan, RenderedTree]) -> None:
    plan, tree = lab13
    path = "/etc/voipctl/firewall.nft"
    files = tuple(replace(f, content=f.content + b"\nnot a rule\n") if f.node == "sip1" and f.path == path else f
                  for f in tree.files)
    results = check_tree(plan, RenderedTree(tree.site, tree.model_hash, files), Options(prefix="vp13"))
    firewall = {r.node: r for r in results if r.daemon == "firewall"}
    assert not firewall["sip1"].ok and firewall["sip1"].detail.endswith("[Debian 13 (trixie) root filesystem]")
    assert firewall["media1"].ok, firewall["media1"]
