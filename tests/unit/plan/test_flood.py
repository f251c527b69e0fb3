"""Flood protection as rendered: pike's 16-bit limit, loopback and declared aggregators only exempt."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.render.test_kamailio_render import secrets_for, solo_site
from voipctl.errors import SiteError
from voipctl.plan.build import build_plan
from voipctl.render.flood import exempt_expr, src_match
from voipctl.render.kamailio import render_kamailio
from voipctl.site.load import load_site


def reqinit(cfg: str) -> str:
    return cfg.split("route[REQINIT] {", 1)[1].split("\n}\n", 1)[0]


def rendered_cfg(tmp_path: Path, **flood: object) -> str:
    plan = build_plan(load_site(solo_site(tmp_path, flood=flood)))
    node = plan.nodes[0]
    assert node.kamailio is not None
    files = {f.path: f.content for f in render_kamailio(plan, node, secrets_for(plan))}
    return files[node.kamailio.cfg_path].decode()


def test_src_match_writes_hosts_bare_and_networks_as_cidr() -> None:
    assert src_match("203.0.113.7/32") == "src_ip == 203.0.113.7"
    assert src_match("192.0.2.0/28") == "src_ip == 192.0.2.0/28"
    assert src_match("2001:db8::5/128") == "src_ip == 2001:db8::5"
    assert exempt_expr(()) == "src_ip == 127.0.0.0/8 || src_ip == ::1"


def test_only_loopback_is_exempt_by_default(tmp_path: Path) -> None:
    block = reqinit(rendered_cfg(tmp_path))
    guard = re.search(r"if \(!\((.*)\)\) \{\n\t\tif \(\$sht\(ipban=>\$si\)", block)
    assert guard is not None, block
    assert guard.group(1) == "src_ip == 127.0.0.0/8 || src_ip == ::1"
    assert "myself" not in block.split("pike_check_req")[0]


def test_aggregators_skip_pike_but_not_the_other_checks(tmp_path: Path) -> None:
    block = reqinit(rendered_cfg(tmp_path, aggregators=["198.51.100.40", "192.0.2.0/28"]))
    guard = "if (!(src_ip == 127.0.0.0/8 || src_ip == ::1 || src_ip == 198.51.100.40 || src_ip == 192.0.2.0/28)) {"
    assert guard in block
    pike_block = block.split(guard, 1)[1].split("\n\t}\n", 1)[0]
    assert "pike_check_req()" in pike_block and "sanity_check" not in pike_block
    assert block.index("sanity_check") > block.index(guard)


@pytest.mark.parametrize(("limit", "ok"), [(65535, True), (65536, False), (1_000_000_000, False)])
def test_pike_limit_fits_16_bits(tmp_path: Path, limit: int, ok: bool) -> None:
    site = solo_site(tmp_path, flood={"max_requests": limit})
    if ok:
        assert build_plan(load_site(site)).nodes[0].kamailio.flood_max_requests == limit  # type: ignore[union-attr]
        return
    with pytest.raises(SiteError, match="16 bits"):
        load_site(site)


@pytest.mark.skipif(shutil.which("kamailio") is None, reason="kamailio is not installed")
def test_kamailio_parses_aggregators_of_both_families(tmp_path: Path) -> None:
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(rendered_cfg(tmp_path, aggregators=["203.0.113.7", "192.0.2.0/28", "2001:db8:40::/48"]))
    res = subprocess.run(["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
