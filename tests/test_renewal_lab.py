"""Lab: a certificate renewal and a restarting deploy log nobody out.

On its own copy of the lab site (own name, free private /24), deployed for real:
a UDP phone registers once from the public client namespace; `voipctl pki renew`
renews what is due (kamailio's and coturn's leaves, removed) and deploys it, and the
daemons keep their PIDs while serving the new certificates; then a change that restarts kamailio is
deployed, and an INVITE still reaches the phone, which sent no REGISTER since.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from labsites import lab_site_copy
from test_deploy_lab import Lab, _answers_options, _assert_all_ok, _skip_without_lab, lab_of

from voipctl import pipeline
from voipctl.cli import main as cli_main
from voipctl.deploy.session import Prepared, prepare
from voipctl.output.manifest import read_manifest
from voipctl.pki.store import layout
from voipctl.proc import in_netns

pytestmark = pytest.mark.lab
SITE = "renewlab"
PHONE = Path(__file__).with_name("busy_phone.py")
_SERVED = "import ssl, sys; print(ssl.get_server_certificate((sys.argv[1], int(sys.argv[2]))))"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _skip_without_lab()
    work = tmp_path_factory.mktemp("renewlab")
    yield from lab_of(work, lab_site_copy(work, SITE), SITE)


def _in_client(lab: Lab, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(in_netns(lab.client_netns, argv), capture_output=True, timeout=timeout,
                          check=False)


def _sip(lab: Lab, action: str, *args: str) -> dict[str, Any]:
    res = _in_client(lab, [sys.executable, "-m", "voipctl.probe.sip", action, *args])
    assert res.stdout, res.stderr.decode()[-2000:]
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def _main_pid(lab: Lab, node: str, unit: str) -> str:
    pid = lab.ssh(node, "systemctl", "show", "-p", "MainPID", "--value", unit).strip()
    assert pid not in ("", "0"), f"{unit} is not running on {node}"
    return pid


def _served(lab: Lab, address: str, port: int) -> str:
    """Fingerprint of the certificate a new TLS connection from the public client namespace sees."""
    res = _in_client(lab, [sys.executable, "-c", _SERVED, address, str(port)], timeout=30)
    assert res.returncode == 0, res.stderr.decode()[-1000:]
    return x509.load_pem_x509_certificate(res.stdout).fingerprint(hashes.SHA256()).hex()


def _restarting(lab: Lab, prep: Prepared) -> Prepared:
    """The render with a comment added to kamailio.cfg (valid, but a change: kamailio restarts)."""
    copy = lab.workdir / "render-restart"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(prep.render_dir, copy)
    manifest = read_manifest(copy)
    assert manifest is not None
    rel = "sip1/etc/kamailio/kamailio.cfg"
    text = (copy / rel).read_text() + "\n# lab test: a change that restarts kamailio\n"
    (copy / rel).write_text(text)
    entry = next(e for e in manifest["files"] if e["rel"] == rel)
    entry["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return replace(prep, render_dir=copy, manifest=manifest, hosts=("sip1",))


def test_renewal_and_restart_keep_phones_registered(lab: Lab) -> None:
    _assert_all_ok(lab.run(prepare(lab.site_file, lab.options())))
    site, plan = pipeline.load_and_plan(lab.site_file)
    secrets = pipeline.secrets_for(site, plan)
    kam, turn = plan.node("sip1").kamailio, plan.node("media1").coturn
    assert kam is not None and turn is not None
    udp = next(x for x in kam.listeners if x.proto == "udp" and x.address == lab.addresses["sip1"][1])
    at = ["--transport", "udp", "--host", udp.address, "--port", str(udp.port), "--domain", kam.domain]
    pw = {}
    for user in ("alice", "bob"):
        pw[user] = lab.workdir / f"{user}.pw"
        pw[user].write_text(secrets.subscriber(user))
        pw[user].chmod(0o600)

    reg = _sip(lab, "register", *at, "--user", "bob", "--password-file", str(pw["bob"]), "--expires", "3600")
    assert reg["status"] == 200, reg
    contact = {k.lower(): v for k, v in reg["headers"]}["contact"]
    m = re.search(r"@([0-9.]+):(\d+)", contact)
    assert m and "expires=3600" in contact, contact

    # 1. Renewal: new keys and certificates for kamailio and coturn, deployed.
    sips = next(x for x in kam.listeners if x.proto == "tls")
    targets = {"kamailio": (sips.address, sips.port), "coturn": (turn.listen_address, turn.tls_port)}
    pids = {"kamailio": _main_pid(lab, "sip1", "kamailio"), "coturn": _main_pid(lab, "media1", "coturn")}
    before = {svc: _served(lab, *where) for svc, where in targets.items()}
    leaves = {"kamailio": layout(lab.pki_dir, SITE).leaf_dir("sip1", "kamailio"),
              "coturn": layout(lab.pki_dir, SITE).leaf_dir("media1", "coturn")}
    for leaf in leaves.values():
        shutil.rmtree(leaf)  # both are due now (missing); openfire's is not
    began = time.monotonic()
    assert cli_main(["pki", "renew", str(lab.site_file), "--pki-dir", str(lab.pki_dir),
                     "-o", str(lab.render_dir)]) == 0
    took = time.monotonic() - began
    assert {"kamailio": _main_pid(lab, "sip1", "kamailio"), "coturn": _main_pid(lab, "media1", "coturn")} == pids
    for svc, where in targets.items():
        want = x509.load_pem_x509_certificate((leaves[svc] / "cert.pem").read_bytes()).fingerprint(hashes.SHA256())
        assert _served(lab, *where) == want.hex() != before[svc], svc

    # 2. A change that restarts kamailio.
    restart = lab.run(_restarting(lab, prepare(lab.site_file, lab.options())))
    sip1 = next(r for r in restart.recap if r.host == "sip1")
    assert not (sip1.failed or sip1.unreachable) and sip1.changed > 0, restart.failures
    assert _main_pid(lab, "sip1", "kamailio") != pids["kamailio"], "kamailio restarted"
    assert _answers_options(lab, "sip1")

    # 3. bob's phone, silent since its REGISTER, still gets alice's INVITE.
    phone_log = lab.workdir / "phone.log"
    with phone_log.open("wb") as log:
        phone = subprocess.Popen(in_netns(lab.client_netns, [sys.executable, str(PHONE), m.group(1),
                                                                         m.group(2), "10"]),
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 5
        while "listening" not in phone_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = _sip(lab, "invite", *at, "--user", "alice", "--password-file", str(pw["alice"]), "--peer-user", "bob",
                   "--timeout", "5")
        phone.wait(20)
    finally:
        if phone.poll() is None:
            phone.kill()
    received = json.loads(phone_log.read_text().splitlines()[-1])["received"]
    assert received and str(received[0]).startswith("INVITE sip:bob@"), (received, out)
    assert (out["status"], out["reason"]) == (486, "Busy Here"), out
    print(f"renewal deploy {took:.1f} s, same PIDs {pids}; after a kamailio restart the INVITE reached bob")
