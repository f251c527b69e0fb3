"""The cloud example end to end: inventories/split/site.yml (four 1:1 NAT nodes and a PostgreSQL node).

One lab for the module (its own name, a free private /24; the NAT addresses are the site's):
`lab up`, PKI, deploy, `verify --browser` green with every advertised address the NAT one,
subscribers authenticated from PostgreSQL (proven by taking a row away and reloading kamailio's
credential cache from it), the DB reachable by
its clients only, and a redeploy that changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO
from tests.labsites import free_private_prefix
from voipctl.lab import commands as cmd
from voipctl.lab.state import LabPaths
from voipctl.lab.topology import lab_topology
from voipctl.pipeline import load_and_plan
from voipctl.plan.model import Plan
from voipctl.proc import in_netns

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, bridges, mounts)"),
]

SITE = "cloudlab"
SPLIT = REPO / "inventories" / "split"


def voipctl(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voipctl", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=REPO)


@dataclass(frozen=True)
class Cloud:
    site: Path
    plan: Plan
    pki: Path
    render: Path
    key: Path
    public_client_netns: str
    first_deploy_s: float

    def args(self, *more: str) -> list[str]:
        return [str(self.site), "-o", str(self.render), "--pki-dir", str(self.pki), *more]

    def ssh(self, node: str, *remote: str, check: bool = True, stdin: str = "") -> subprocess.CompletedProcess[str]:
        res = subprocess.run(cmd.ssh(self.key, self.plan.node(node).private, list(remote), timeout=5),
                             capture_output=True, text=True, timeout=120, check=False, input=stdin)
        assert not check or res.returncode == 0, f"{node}: {remote}: {res.stderr}"
        return res

    def psql(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """psql as postgres over db-a's local socket (what deploy uses)."""
        return self.ssh("db-a", "sh", "-c", 'cd / && exec runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 "$@"',
                        "psql", *args, check=check)

    def secret(self, key: str) -> str:
        doc = YAML(typ="safe").load(self.site.with_name("site.secrets.yml").read_text())
        return str(doc[key])


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    work = tmp_path_factory.mktemp("cloudlab")
    site = work / "site.yml"
    text = (SPLIT / "site.yml").read_text().replace("site: split\n", f"site: {SITE}\n")
    site.write_text(text.replace("172.20.1.", free_private_prefix()))
    shutil.copy(SPLIT / "subscribers.yml", work / "subscribers.yml")
    plan = load_and_plan(site)[1]
    cloud = Cloud(site, plan, work / "pki", work / "render", LabPaths.for_site(SITE).ssh_key,
                  lab_topology(plan).public_client_netns, 0.0)
    voipctl("lab", "down", str(site))  # a lab of this module left by an interrupted run
    try:
        res = voipctl("lab", "up", str(site))
        assert res.returncode == 0, res.stdout + res.stderr
        for step in ("init", "issue"):
            res = voipctl("pki", step, str(site), "--pki-dir", str(cloud.pki))
            assert res.returncode == 0, res.stderr
        start = time.monotonic()
        res = voipctl("deploy", *cloud.args())
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        yield replace(cloud, first_deploy_s=time.monotonic() - start)
    finally:
        voipctl("lab", "down", str(site))


def _probe_register(cloud: Cloud, user: str) -> dict[str, Any]:
    """REGISTER `user` from the public client to sip-a's NAT address (UDP); the password via the environment."""
    sip = cloud.plan.node("sip-a")
    argv = in_netns(cloud.public_client_netns, [
        sys.executable, "-m", "voipctl.probe.sip", "register", "--transport", "udp", "--host", sip.advertised,
        "--port", "5060", "--domain", cloud.plan.domain, "--user", user, "--password-env", "VOIPCTL_TEST_PW",
        "--timeout", "5"])
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
                         env={**os.environ, "VOIPCTL_TEST_PW": cloud.secret(f"subscriber:{user}")})
    assert res.stdout, res.stderr[-2000:]
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def _tcp_from(cloud: Cloud, node: str, address: str, port: int) -> str:
    script = ("import socket,sys\ns=socket.socket(); s.settimeout(3)\n"
              "try:\n s.connect((sys.argv[1], int(sys.argv[2]))); print('connected')\n"
              "except OSError as e:\n print(type(e).__name__)")
    return cloud.ssh(node, "python3", "-c", script, address, str(port)).stdout.strip()


def test_verify_browser_is_green_with_every_advertised_address_the_nat_one(cloud: Cloud) -> None:
    report = cloud.render.parent / "verify.json"
    start = time.monotonic()
    res = voipctl("verify", *cloud.args("--browser", "--json", str(report)))
    took = time.monotonic() - start
    doc = json.loads(report.read_text())
    failed = [o for o in doc["outcomes"] if o["status"] == "failed"]
    if failed:  # say what the SIP node's kamailio was doing, the lab is gone once the module ends
        state = cloud.ssh("sip-a", "sh", "-c", "systemctl status --no-pager kamailio | head -5; "
                          "journalctl -u kamailio --no-pager -p warning | tail -20", check=False).stdout
        pytest.fail(f"verify failed: {failed}\nsip-a kamailio:\n{state}")
    assert res.returncode == 0, res.stdout[-2000:]
    skipped = [o for o in doc["outcomes"] if o["status"] == "skipped"]
    assert all("Openfire" in o["detail"] for o in skipped), skipped  # it cannot be installed here (no package)
    passed = {o["name"]: o["detail"] for o in doc["outcomes"] if o["status"] == "passed"}
    turn, media, sip = (cloud.plan.node(n) for n in ("turn-a", "media-a", "sip-a"))
    assert turn.nat and media.nat and sip.nat
    assert f"STUN binding at udp {turn.nat}:3478" in passed
    assert f"TURN permission towards the media address {media.nat} is granted" in passed
    relay = [d for n, d in passed.items() if n.endswith("browser used a relay candidate")]
    assert relay and all(f"relay {turn.nat}:" in d for d in relay), relay
    sdp = [d for n, d in passed.items() if n.endswith("plain leg SDP")]
    assert sdp and all(f" {media.nat}:" in d for d in sdp), sdp
    # nothing private is advertised: kamailio's listeners, rtpengine's SDP address and coturn's external-ip
    kam, rtp, co = sip.kamailio, media.rtpengine, turn.coturn
    assert kam and rtp and co
    assert {lst.advertise for lst in kam.listeners if lst.address == sip.private} == {sip.nat}
    assert (rtp.sdp_address, co.external_ip) == (media.nat, turn.nat)
    print(f"\ncloudlab: first deploy {cloud.first_deploy_s:.0f} s, verify --browser {took:.0f} s")


def test_subscribers_authenticate_from_postgresql(cloud: Cloud) -> None:
    sip = cloud.plan.node("sip-a")
    sessions = cloud.psql("-c", "SELECT DISTINCT usename, client_addr FROM pg_stat_activity "
                          "WHERE datname = 'kamailio'").stdout.split()
    assert sessions == [f"kamailio|{sip.private}"], sessions
    assert _probe_register(cloud, "1002")["status"] == 200
    # kamailio checks digests against its copy of the HA1 column, refreshed by `htable.reload auth`
    # (deploy runs it when the db node loaded new subscriber SQL): reloaded from PostgreSQL, the
    # deleted account is refused; reloaded after the row is back, accepted again.
    reload = ["python3", "/usr/local/lib/voipctl/kamrpc.py", "--socket", "/run/kamailio/kamailio_rpc.sock",
              "htable.reload", "auth"]
    cloud.psql("-d", "kamailio", "-c", "DELETE FROM subscriber WHERE username = '1002'")
    try:
        cloud.ssh("sip-a", *reload)
        refused = _probe_register(cloud, "1002")
        assert refused["answered"] and refused["status"] in (401, 403), refused
    finally:  # put the row back the way deploy loads it
        cloud.psql("-d", "kamailio", "-c", 'SET ROLE "kamailio"', "-f", "/etc/voipctl/postgresql/subscribers.sql")
        cloud.ssh("sip-a", *reload)
    assert _probe_register(cloud, "1002")["status"] == 200


def test_the_db_listens_privately_and_admits_its_clients_only(cloud: Cloud) -> None:
    db, media = cloud.plan.node("db-a"), cloud.plan.node("media-a")
    listening = cloud.ssh("db-a", "ss", "-Hltnp").stdout
    pg = sorted(line.split()[3] for line in listening.splitlines() if '"postgres"' in line)
    assert pg == [f"{db.private}:5432"], listening
    assert _tcp_from(cloud, "sip-a", db.private, 5432) == "connected"
    assert _tcp_from(cloud, "media-a", db.private, 5432) == "TimeoutError", "the firewall drops a non-client"
    # pg_hba: the kamailio role from an address that is not one of its clients is refused by PostgreSQL itself
    res = cloud.ssh("db-a", "sh", "-c", "cd / && runuser -u postgres -- psql -Xw -h \"$1\" -U kamailio -d kamailio "
                    "-c 'SELECT 1'", "sh", db.private, check=False)
    assert res.returncode != 0 and "no pg_hba.conf entry" in res.stderr, res.stderr
    stored = cloud.psql("-c", "SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('kamailio', 'openfire') "
                        "ORDER BY 1").stdout.split()
    assert [r.split("|")[0] for r in stored] == ["kamailio", "openfire"]
    assert all(r.split("|")[1].startswith("SCRAM-SHA-256$4096:") for r in stored)
    # the passwords themselves are nowhere on the DB node
    for key in ("db_password", "openfire_db_password"):
        grep = cloud.ssh("db-a", "grep", "-rlF", "-f", "-", "/etc", "/var/lib/voipctl", check=False,
                         stdin=cloud.secret(key) + "\n")
        assert grep.returncode == 1 and not grep.stdout, grep.stdout
    assert media.nat is not None


def test_a_redeploy_changes_nothing(cloud: Cloud) -> None:
    start = time.monotonic()
    res = voipctl("deploy", *cloud.args())
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "\n0 change(s) on 5 host(s)" in res.stdout + res.stderr, res.stdout[-3000:]
    print(f"\ncloudlab: redeploy {time.monotonic() - start:.0f} s, 0 changes")
