"""The reference scenario for real: headless chromium behind NAT calls a SIPp phone through
kamailio (WSS), rtpengine and coturn running on the lab site's rendered files, in namespaces
made by tests.browserbed (prefix vb). Then the same probe must fail when trust, the TURN
secret or rtpengine is wrong.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.browserbed.testbed import Bed
from voipctl.pki.ca import init_ca
from voipctl.pki.store import layout
from voipctl.resources import web_dir
from voipctl.secrets import Secrets
from voipctl.verify.browser import argv
from voipctl.verify.browser.probe import missing_tools, run_browser_probe
from voipctl.verify.report.outcome import Outcome

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "inventories" / "lab" / "site.yml"
DAEMONS = ("kamailio", "rtpengine", "turnserver", "sipp", "node", "certutil", "ip", "nft")

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in DAEMONS) or not Path(argv.CHROMIUM).exists(),
                       reason=f"needs {', '.join(DAEMONS)} and {argv.CHROMIUM}"),
    pytest.mark.skipif(bool(missing_tools(web_dir())), reason="web/ needs `npm ci` (scripts/setup)"),
]


@pytest.fixture(scope="module")
def bed() -> Iterator[Bed]:
    with Bed(SITE) as up:
        yield up
    assert not [ns for ns in up.names.all if Path(f"/run/netns/{ns}").exists()]


def by_name(outcomes: list[Outcome]) -> dict[str, Outcome]:
    return {o.name: o for o in outcomes}


def report(outcomes: list[Outcome]) -> str:
    return "\n".join(f"{o.status}: {o.name}: {o.detail}" for o in outcomes)


def test_browser_behind_nat_calls_and_is_called_through_wss_rtpengine_and_turn(bed: Bed, tmp_path: Path) -> None:
    assert bed.site is not None
    keep = tmp_path / "kept"
    outcomes = run_browser_probe(bed.site.plan, bed.site.secrets, bed.site.pki_root, bed.vantage, keep_dir=keep)
    assert all(o.ok for o in outcomes), report(outcomes)
    got = by_name(outcomes)
    calls = ("browser calls phone", "browser calls phone via TURN relay", "phone calls browser",
             "phone calls browser and desk phone")
    for call in calls:
        for check in ("call", "browser leg DTLS-SRTP", "rtpengine media both legs, both ways", "plain leg SDP"):
            assert f"{call}: {check}" in got, report(outcomes)
    # a target refresh from the browser in calls the public phone started (issue: nat=yes either side)
    for call in ("phone calls browser", "phone calls browser and desk phone"):
        assert got[f"{call}: browser re-INVITE (target refresh) answered"].ok
    # forked to the browser (WebRTC offer) and a desk phone of the same user (plain offer of its own)
    fork = got["phone calls browser and desk phone: desk phone branch offered plain RTP, then cancelled"]
    assert fork.ok and "RTP/AVP" in fork.detail and "ICE=no" in fork.detail, report(outcomes)
    assert "browser calls phone via TURN relay: browser used a relay candidate" in got
    assert "browser calls phone via TURN relay: media relayed by coturn" in got
    assert "relay 198.51.100.12:" in got["browser calls phone via TURN relay: browser used a relay candidate"].detail
    assert all(o.group == "browser" and o.host == "sip1" for o in outcomes)
    # the run's kept logs and traces never hold the SIP passwords or the TURN secret
    secrets = bed.site.secrets
    words = [secrets["turn_secret"], secrets.subscriber("alice"), secrets.subscriber("bob")]
    kept = list(keep.iterdir())
    assert any(p.name == "driver.log" for p in kept)
    for path in kept:
        text = path.read_text(errors="replace")
        assert not [w for w in words if w in text], f"a secret leaked into {path.name}"


def test_browser_refuses_a_kamailio_certificate_from_another_ca(bed: Bed, tmp_path: Path) -> None:
    """Trusting only a different CA (the page's own), the WSS connection must not open."""
    assert bed.site is not None
    other = tmp_path / "other-pki"
    init_ca(layout(other, bed.site.plan.site), bed.site.plan.site, "ecdsa-p256", None, datetime.now(UTC))
    outcomes = run_browser_probe(bed.site.plan, bed.site.secrets, other, bed.vantage, calls=())
    got = by_name(outcomes)
    assert got["phone registers (plain SIP)"].ok
    wss = got["browser registers over WSS"]
    assert wss.status == "failed" and "never opened" in wss.detail, report(outcomes)


def test_relay_call_fails_with_a_wrong_turn_secret(bed: Bed) -> None:
    assert bed.site is not None
    wrong = Secrets({**bed.site.secrets.values, "turn_secret": "not-the-site-secret"})
    outcomes = run_browser_probe(bed.site.plan, wrong, bed.site.pki_root, bed.vantage, calls=("relay",))
    failed = {o.name for o in outcomes if not o.ok}
    prefix = "browser calls phone via TURN relay: "
    assert {prefix + "browser leg DTLS-SRTP", prefix + "browser used a relay candidate",
            prefix + "media relayed by coturn", prefix + "rtpengine media both legs, both ways"} <= failed, \
        report(outcomes)
    assert by_name(outcomes)["browser registers over WSS"].ok


def test_call_fails_when_rtpengine_is_down(bed: Bed) -> None:
    """Runs last: kamailio keeps a dead rtpengine disabled for a while after this."""
    assert bed.site is not None and bed.daemons is not None
    bed.daemons.stop("rtpengine")
    outcomes = run_browser_probe(bed.site.plan, bed.site.secrets, bed.site.pki_root, bed.vantage,
                                 calls=("outbound",), hold=5.0)
    got = by_name(outcomes)
    assert got["browser registers over WSS"].ok, report(outcomes)
    media = got["browser calls phone: rtpengine media both legs, both ways"]
    assert media.status == "failed" and "ng query" in media.detail, report(outcomes)
    # without rtpengine, kamailio passes the browser's SDP on unchanged: the plain leg is not plain
    assert got["browser calls phone: plain leg SDP"].status == "failed", report(outcomes)
    assert got["browser calls phone: call"].status == "failed", report(outcomes)
