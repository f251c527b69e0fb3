"""Live negatives: break the deployed lab the way production breaks, and exactly the right verify checks
go red, having been green before the tampering.

One lab for the module (its own site name and private /24, see test_verify_lab.deployed_lab). The first
report is the baseline every test compares with; each test restores what it broke, and the last one
proves the lab is green again.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.lab.test_verify_lab import Lab, deployed_lab
from voipctl.check.stage import throwaway_cert
from voipctl.lab.state import LabPaths
from voipctl.lab.topology import lab_topology

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, bridges, mounts)"),
]

SITE_NAME = "vfytamper"
Report = dict[str, Any]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with deployed_lab(tmp_path_factory.mktemp("verify-tamper"), SITE_NAME) as found:
        yield found


@pytest.fixture(scope="module")
def baseline(lab: Lab) -> Report:
    """The untouched lab's report: every check the tampering turns red must be green here."""
    res, report = lab.verify()
    assert res.returncode == 0, {k: o["detail"] for k, o in _by_status(report, "failed").items()}
    return report


def _key(o: dict[str, Any]) -> str:
    return f"{o['group']}|{o['vantage']}|{o['name']}"


def _by_status(report: Report, status: str) -> dict[str, dict[str, Any]]:
    return {_key(o): o for o in report["outcomes"] if o["status"] == status}


def assert_exactly_red(baseline: Report, report: Report, red: Callable[[str], bool], needed: list[str]) -> None:
    """Every failure is one `red` allows, each `needed` pattern matches a failure, and all of those
    failures passed in the baseline (and ran in it)."""
    failed = _by_status(report, "failed")
    passed_before = _by_status(baseline, "passed")
    stray = sorted(k for k in failed if not red(k))
    assert not stray, f"checks that should have stayed green: {stray}"
    for pattern in needed:
        assert any(re.search(pattern, k) for k in failed), f"no failure matches {pattern!r}: {sorted(failed)}"
    assert all(k in passed_before for k in failed), [k for k in failed if k not in passed_before]


def _root(lab: Lab, node: str) -> Path:
    """The node's root filesystem as the controller sees it (the lab's overlay mount)."""
    return LabPaths.for_site(lab.plan.site).host_dir(node) / "root"


@contextmanager
def edited(lab: Lab, node: str, path: str, change: Callable[[str], str], unit: str) -> Iterator[None]:
    """A deployed file rewritten in place (owner and mode kept) and `unit` restarted, for the block."""
    file = _root(lab, node) / path.lstrip("/")
    before = file.read_bytes()
    after = change(before.decode())
    assert after != before.decode(), f"the edit of {path} changed nothing"
    file.write_text(after)
    try:
        assert lab.ssh(node, "systemctl", "restart", unit).returncode == 0
        yield
    finally:
        file.write_bytes(before)
        assert lab.ssh(node, "systemctl", "restart", unit).returncode == 0


def test_baseline_is_green(baseline: Report) -> None:
    groups = {o["group"] for o in baseline["outcomes"] if o["status"] == "passed"}
    assert {"websocket", "call", "scanner", "exposure", "turn", "tls", "host:file", "host:cert"} <= groups


def test_any_origin_allowed_fails_the_origin_check(lab: Lab, baseline: Report) -> None:
    sip = next(n for n in lab.plan.nodes if n.kamailio is not None)
    assert sip.kamailio is not None

    def allow_any(text: str) -> str:
        return re.sub(r"if \(\$hdr\(Origin\) == \$null \|\| !\(.*\)\) \{", "if (0) {", text)
    with edited(lab, sip.name, sip.kamailio.cfg_path, allow_any, "kamailio"):
        res, report = lab.verify("--no-hosts")
    assert res.returncode == 1
    assert_exactly_red(baseline, report, lambda k: k.startswith("websocket|"), [r"^websocket\|.*Origin"])


def test_stopped_kamailio_fails_the_sip_checks_only(lab: Lab, baseline: Report) -> None:
    sip = next(n for n in lab.plan.nodes if n.kamailio is not None)
    assert lab.ssh(sip.name, "systemctl", "stop", "kamailio").returncode == 0
    try:
        res, report = lab.verify("--no-hosts")
    finally:
        assert lab.ssh(sip.name, "systemctl", "start", "kamailio").returncode == 0
    assert res.returncode == 1
    sip_groups = ("sip|", "websocket|", "register|", "call|", "scanner|", "relay|", "topology|")
    kamailio_tls = re.compile(r"^tls\|.*(SIP-TLS|WSS) ")
    assert_exactly_red(baseline, report, lambda k: k.startswith(sip_groups) or bool(kamailio_tls.match(k)),
                       [r"^sip\|public\|OPTIONS over UDP", r"^sip\|nat\|OPTIONS over TLS", r"^scanner\|",
                        r"^call\|", r"^tls\|.*SIP-TLS", r"^relay\|public\|", r"^topology\|"])
    # the exposure checks still pass: the vantages got answers from coturn, so their silence counts
    exposure = {k for k in _by_status(baseline, "passed") if k.startswith("exposure|")}
    assert exposure and _by_status(report, "passed").keys() >= exposure


def test_a_changed_file_mode_fails_that_file_check(lab: Lab, baseline: Report) -> None:
    media = next(n for n in lab.plan.nodes if n.coturn is not None)
    assert media.coturn is not None
    conf = media.coturn.conf_path
    mode = lab.ssh(media.name, "stat", "-c", "%a", conf).stdout.strip()
    assert lab.ssh(media.name, "chmod", "0644", conf).returncode == 0
    try:
        res, report = lab.verify("--no-probes")
    finally:
        lab.ssh(media.name, "chmod", mode, conf)
    assert res.returncode == 1
    key = next(k for k in _by_status(report, "failed"))
    assert_exactly_red(baseline, report, lambda k: k.startswith(f"host:file||{conf} "), [re.escape(conf)])
    assert "mode is 0644" in _by_status(report, "failed")[key]["detail"]


def test_an_extra_kamailio_port_fails_the_listeners_check(lab: Lab, baseline: Report) -> None:
    sip = next(n for n in lab.plan.nodes if n.kamailio is not None)
    assert sip.kamailio is not None
    cfg = sip.kamailio.cfg_path

    def extra_listen(text: str) -> str:
        first = re.search(r"^listen=udp:.*$", text, re.MULTILINE)
        assert first is not None
        return text[:first.end()] + f"\nlisten=udp:{sip.client_address}:5999" + text[first.end():]
    with edited(lab, sip.name, cfg, extra_listen, "kamailio"):
        res, report = lab.verify("--no-probes")
    assert res.returncode == 1
    assert_exactly_red(baseline, report,
                       lambda k: k.startswith("host:listeners||") or k.startswith(f"host:file||{cfg} "),
                       [r"^host:listeners\|\|", re.escape(cfg)])
    detail = next(o["detail"] for k, o in _by_status(report, "failed").items() if k.startswith("host:listeners"))
    assert f"{sip.client_address}:5999" in detail


def test_a_certificate_from_another_ca_fails_the_chain_checks(lab: Lab, baseline: Report) -> None:
    media = next(n for n in lab.plan.nodes if n.coturn is not None)
    assert media.coturn is not None
    cert = media.coturn.tls.cert
    root = _root(lab, media.name)
    files = {f.path: f.content for f in throwaway_cert(cert)}
    kept = {p: (root / p.lstrip("/")).read_bytes() for p in files}
    for path, content in files.items():
        (root / path.lstrip("/")).write_bytes(content)
    try:
        assert lab.ssh(media.name, "systemctl", "restart", "coturn").returncode == 0
        res, report = lab.verify()
    finally:
        for path, content in kept.items():
            (root / path.lstrip("/")).write_bytes(content)
        lab.ssh(media.name, "systemctl", "restart", "coturn")
    assert res.returncode == 1
    tls_paths = tuple(f"host:file||{p} " for p in files)
    assert_exactly_red(baseline, report,
                       lambda k: k.startswith(tls_paths) or k.startswith("host:cert||coturn")
                       or bool(re.match(r"^tls\|.*TURN-TLS .* chain verifies", k)),
                       [r"^tls\|.*TURN-TLS .* chain verifies", r"^host:cert\|\|coturn", re.escape(cert.cert_path)])


def test_one_way_media_fails_the_call_media_check(lab: Lab, baseline: Report) -> None:
    """rtpengine forwards to the callee but the callee's packets never reach it: media in one direction."""
    media = next(n for n in lab.plan.nodes if n.rtpengine is not None)
    assert media.rtpengine is not None
    netns = next(h.netns for h in lab_topology(lab.plan).hosts if h.node == media.name)
    rtp = media.rtpengine
    public_client = lab_topology(lab.plan).addresses.public_client
    rules = ("table inet vfytamper {\n  chain in {\n    type filter hook input priority 0;\n"
             f"    ip saddr {public_client} udp dport {rtp.port_min}-{rtp.port_max} drop\n  }}\n}}\n")
    nft = ["ip", "netns", "exec", netns, "nft"]
    subprocess.run([*nft, "-f", "-"], input=rules, text=True, check=True, timeout=30)
    try:
        res, report = lab.verify("--no-hosts")
    finally:
        subprocess.run([*nft, "delete", "table", "inet", "vfytamper"], check=True, timeout=30)
    assert res.returncode == 1
    assert_exactly_red(baseline, report, lambda k: k.startswith("call|") and "RTP through rtpengine" in k,
                       [r"^call\|.*RTP through rtpengine"])


def test_a_dropped_turn_deny_range_fails_those_permission_checks(lab: Lab, baseline: Report) -> None:
    """10/8 made relayable: coturn denies every peer but the media addresses, and an operator's
    `allowed-peer-ip` for 10/8 (allowed wins over denied) opens the private range."""
    media = next(n for n in lab.plan.nodes if n.coturn is not None)
    assert media.coturn is not None

    def allow_ten(text: str) -> str:
        return text + "allowed-peer-ip=10.0.0.0-10.255.255.255\n"
    with edited(lab, media.name, media.coturn.conf_path, allow_ten, "coturn"):
        res, report = lab.verify("--no-hosts")
    assert res.returncode == 1
    assert_exactly_red(baseline, report, lambda k: k.startswith("turn|") and "TURN permission towards 10." in k,
                       [r"TURN permission towards 10\.0\.0\.1 "])


def test_tls_1_0_accepted_fails_the_protocol_checks(lab: Lab, baseline: Report) -> None:
    """kamailio's server side opened to TLS 1.0 (with the CBC suites and security level it needs)."""
    sip = next(n for n in lab.plan.nodes if n.kamailio is not None)
    assert sip.kamailio is not None

    def legacy(text: str) -> str:
        text = text.replace("method = TLSv1.2+", "method = TLSv1+", 1)
        return re.sub(r"^(cipher_list = .*)$", r"\1:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0", text,
                      count=1, flags=re.MULTILINE)
    with edited(lab, sip.name, sip.kamailio.tls_cfg_path, legacy, "kamailio"):
        res, report = lab.verify("--no-hosts")
    assert res.returncode == 1
    assert_exactly_red(baseline, report, lambda k: bool(re.match(r"^tls\|.*(SIP-TLS|WSS) .* accepts only TLS", k)),
                       [r"^tls\|.*SIP-TLS .* accepts only TLS"])
    detail = next(o["detail"] for k, o in _by_status(report, "failed").items() if "SIP-TLS" in k)
    assert "TLS 1.0" in detail


def test_lab_is_green_again_after_the_tampering(lab: Lab) -> None:
    res, report = lab.verify()
    assert res.returncode == 0, sorted(_by_status(report, "failed"))
