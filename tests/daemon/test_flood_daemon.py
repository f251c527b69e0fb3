"""Flood protection on a real kamailio under SIPp load: a declared aggregator carries 1,000
authenticated REGISTER/s without a ban; an unknown source at the same rate is banned.

The site keeps the default pike limit (40 requests per 2 s per source); the load runs for a few
seconds from addresses of the test's own namespace (voipctl.sipload.bed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.loadbed import LOAD_BED_MARKS
from voipctl.sipload.bed import CLIENT, FLOODER, LoadBed, generated_argv
from voipctl.sipload.sipp_load import load_run
from voipctl.sipp.argv import SippRun
from voipctl.sipp.credentials import write_credentials

RATE, SECONDS = 1000, 3

pytestmark = LOAD_BED_MARKS


def flood_site(directory: Path) -> Path:
    doc = {
        "site": "floodtest",
        "domain": "flood.voipctl.test",
        "nodes": [{"name": "pbx", "roles": ["sip", "media", "turn"], "private": "10.77.0.21",
                   "public": "198.51.100.21"}],
        "kamailio": {"wss_host": "pbx.flood.voipctl.test", "flood": {"aggregators": [CLIENT]},
                     "sizing": {"children": 4, "tcp_children": 2}},
        "subscribers": [{"user": f"u{i:03d}"} for i in range(200)],
    }
    path = directory / "site.yml"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadBed]:
    tmp = tmp_path_factory.mktemp("vk-flood")
    with LoadBed(flood_site(tmp), tmp / "bed") as found:
        rundir = tmp / "run"
        rundir.mkdir()
        found.start_kamailio(generated_argv(found.kam, found.site.stage, rundir), "flood")
        yield found


def options(bed: LoadBed, bind: str, *extra: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "voipctl.probe.sip", "options", "--bind", bind, "--transport", "udp",
            "--host", bed.node.client_address, "--port", str(bed.udp_port), "--timeout", "2", *extra]
    out: dict[str, Any] = json.loads(bed.ns.run(argv, timeout=30).stdout)
    return out


def register_load(bed: LoadBed, source: str, name: str) -> SippRun:
    users = [(u, bed.site.secrets.subscriber(u)) for u in bed.site.plan.subscribers]
    csv = write_credentials(bed.workdir / f"{name}.csv", users)
    return load_run("register.xml", RATE, RATE * SECONDS, source, bed.target, bed.kam.domain, csv,
                    bed.workdir / f"{name}-stat.csv")


def test_aggregator_carries_1000_register_per_second_and_a_flooder_is_banned(bed: LoadBed) -> None:
    log = bed.kamailio_log("flood")
    trusted = bed.run(register_load(bed, CLIENT, "trusted")).outcome
    assert trusted.created == RATE * SECONDS
    # every run was challenged (401) and then accepted with digest: the aggregator still authenticates
    assert trusted.failed_share <= 0.01 and trusted.successful >= 0.99 * RATE * SECONDS, trusted
    assert trusted.seconds < SECONDS * 2, f"SIPp fell behind: {trusted}"
    assert f"banning {CLIENT}" not in log.read_text(errors="replace")
    assert options(bed, CLIENT)["status"] == 200

    flood = bed.run(register_load(bed, FLOODER, "flood")).outcome
    assert flood.successful < 0.05 * flood.created, flood
    assert f"pike: banning {FLOODER}" in log.read_text(errors="replace")
    assert not options(bed, FLOODER)["answered"]
    assert options(bed, CLIENT)["status"] == 200
    assert bed.kamailio_alive(), log.read_text(errors="replace")[-2000:]


@pytest.mark.parametrize("agent", ["friendly-scanner", "Friendly-Scanner", "SIPVicious 0.3.4", "x sipcli/v1.8"])
def test_scanner_user_agents_get_silence_in_any_case(bed: LoadBed, agent: str) -> None:
    assert not options(bed, CLIENT, "--user-agent", agent)["answered"]
    assert options(bed, CLIENT, "--user-agent", "Linphone/5.2 (belle-sip)")["status"] == 200
