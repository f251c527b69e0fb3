"""`voipctl deploy` against real hosts: the on-machine lab (systemd-nspawn, real systemd and daemons).

One lab for the module, under its own site name and networks so it never touches
another lab on the machine. The tests run in order on the same hosts: cold
deploy, no-op redeploy, --check --diff, a config `kamailio -c` refuses, a config
that passes `-c` but cannot start (rollback), a gate failure with kamailio running
and new subscriber credentials (rollback of files and DB), a coturn certificate from another CA
(rollback of the certificates role's files), rtpengine answering on another port (its rollback),
and finally a scan of everything
the runs printed or logged for the site's secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from tests.conftest import REPO
from voipctl import pipeline
from voipctl.check.stage import throwaway_cert
from voipctl.cli import main as cli_main
from voipctl.deploy.events import Event
from voipctl.deploy.session import DeployOptions, DeployOutcome, Prepared, execute, prepare
from voipctl.errors import ToolError
from voipctl.lab import commands as lab_cmd
from voipctl.lab import lifecycle
from voipctl.lab.state import LabPaths
from voipctl.lab.topology import lab_topology
from voipctl.output.manifest import Manifest
from voipctl.proc import in_netns
from voipctl.resources import find_executable

pytestmark = pytest.mark.lab

SITE = "deptest"
PRIVATE = "10.246.17"
PUBLIC = "198.18.117"
GATE = REPO / "playbooks" / "roles" / "common" / "files" / "voipctl_health_gate.py"


@dataclass
class Lab:
    site_file: Path
    workdir: Path
    render_dir: Path
    pki_dir: Path
    log_path: Path
    key: Path
    addresses: dict[str, tuple[str, str]]
    client_netns: str
    output: list[str] = field(default_factory=list)

    def options(self, **kw: object) -> DeployOptions:
        base = DeployOptions(render_dir=self.render_dir, pki_dir=self.pki_dir, log_path=self.log_path)
        return replace(base, **kw)  # type: ignore[arg-type]

    def record(self, event: Event) -> None:
        self.output.append(f"{event.kind} {event.host} {event.task} {event.state} {event.msg} {event.text}")

    def run(self, prep: Prepared, **kw: object) -> DeployOutcome:
        outcome = execute(prep, self.options(**kw), self.record)
        self.output.extend(outcome.stderr)
        return outcome

    def ssh(self, node: str, *remote: str) -> str:
        argv = lab_cmd.ssh(self.key, self.addresses[node][0], list(remote), timeout=5)
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout


def _site_text() -> str:
    text = (REPO / "inventories" / "lab" / "site.yml").read_text()
    text = re.sub(r"^site: lab$", f"site: {SITE}", text, flags=re.MULTILINE)
    return text.replace("10.77.0.", f"{PRIVATE}.").replace("198.51.100.", f"{PUBLIC}.")


def _skip_without_lab() -> None:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    try:
        lifecycle.check_tools()
    except ToolError as exc:
        pytest.skip(str(exc))
    if find_executable("ansible-playbook") is None:
        pytest.skip("ansible-core is not installed")


def lab_of(work: Path, site_file: Path, site: str) -> Iterator[Lab]:
    """A lab of `site` brought up with its PKI under `work`, for a module fixture; down afterwards."""
    pki = work / "pki"
    for step in ("init", "issue"):
        assert cli_main(["pki", step, str(site_file), "--pki-dir", str(pki)]) == 0
    _, plan = pipeline.load_and_plan(site_file)
    lifecycle.down(site)  # a lab of this test's own site left by an interrupted run
    lifecycle.up(plan, cold=False)
    try:
        yield Lab(site_file, work, work / "render", pki, work / "ansible.log", LabPaths.for_site(site).ssh_key,
                  {n.name: (n.private, n.public or n.private) for n in plan.nodes},
                  lab_topology(plan).public_client_netns)
    finally:
        lifecycle.down(site)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _skip_without_lab()
    work = tmp_path_factory.mktemp("deploylab")
    site_file = work / "site.yml"
    site_file.write_text(_site_text())
    yield from lab_of(work, site_file, SITE)


def _changed(outcome: DeployOutcome) -> dict[str, int]:
    return {r.host: r.changed for r in outcome.recap}


def _assert_all_ok_on(outcome: DeployOutcome, hosts: set[str]) -> None:
    bad = {r.host: outcome.failures.get(r.host) for r in outcome.recap if r.failed or r.unreachable}
    assert not bad, bad
    assert {r.host for r in outcome.recap} == hosts


def _assert_all_ok(outcome: DeployOutcome) -> None:
    _assert_all_ok_on(outcome, {"sip1", "media1", "xmpp1"})


def _kamailio_state(lab: Lab) -> tuple[str, str, str]:
    out = lab.ssh("sip1", "sh", "-c", "systemctl show -p MainPID --value kamailio; "
                  "sha256sum /etc/kamailio/kamailio.cfg /etc/kamailio/tls.cfg")
    lines = out.split("\n")
    return lines[0].strip(), lines[1].split()[0], lines[2].split()[0]


def _answers_options(lab: Lab, node: str) -> bool:
    """OPTIONS from the lab's public client namespace (the public /24 exists only inside the lab)."""
    check = [{"kind": "sip-options", "proto": "udp", "host": lab.addresses[node][1], "port": 5060}]
    probe = [sys.executable, str(GATE), "--timeout", "5", "--checks", json.dumps(check)]
    res = subprocess.run(in_netns(lab.client_netns, probe), capture_output=True, text=True, timeout=30,
                         check=False)
    return res.returncode == 0


def _tampered(lab: Lab, prep: Prepared, edits: dict[str, str], host: str = "sip1") -> Prepared:
    """A copy of the render with files edited (manifest sha256s updated), deployed to `host` only."""
    bad = lab.workdir / f"render-{hashlib.sha256(repr(sorted(edits.items())).encode()).hexdigest()[:8]}"
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(prep.render_dir, bad)
    manifest = Manifest.read(bad)
    assert manifest is not None
    for rel, text in edits.items():
        (bad / rel).write_text(text)
        manifest = replace(manifest, entries=tuple(
            replace(e, sha256=hashlib.sha256(text.encode()).hexdigest()) if e.rel == rel else e
            for e in manifest.entries))
    return replace(prep, render_dir=bad, manifest=manifest, hosts=(host,))


def test_cold_deploy_then_redeploy_changes_nothing(lab: Lab) -> None:
    prep = prepare(lab.site_file, lab.options())
    first = lab.run(prep)
    _assert_all_ok(first)
    assert first.changed > 0
    xmpp = next(r for r in first.recap if r.host == "xmpp1")
    assert any("openfire: service skipped" in n for n in xmpp.notes), "no package in the lab: reported, not passed"
    assert _answers_options(lab, "sip1")
    second = lab.run(prepare(lab.site_file, lab.options()))
    _assert_all_ok(second)
    assert _changed(second) == {"sip1": 0, "media1": 0, "xmpp1": 0}


def test_files_have_manifest_owner_and_mode_and_db_is_private(lab: Lab) -> None:
    out = lab.ssh("sip1", "stat", "-c", "%n %U %G %a", "/etc/kamailio/kamailio.cfg", "/etc/kamailio/tls/privkey.pem",
                  "/var/lib/kamailio/kamailio.sqlite")
    assert out.split("\n")[:3] == [
        "/etc/kamailio/kamailio.cfg root kamailio 640",
        "/etc/kamailio/tls/privkey.pem kamailio kamailio 600",
        "/var/lib/kamailio/kamailio.sqlite kamailio kamailio 600",
    ]


def test_kamailio_runs_with_the_rendered_memory_options(lab: Lab) -> None:
    """The unit's `-M $PKG_MEMORY` is split at whitespace, so the rendered allocator option reaches kamailio."""
    pid = _kamailio_state(lab)[0]
    argv = lab.ssh("sip1", "cat", f"/proc/{pid}/cmdline").split("\0")
    assert argv[argv.index("-M") + 1] == "16" and argv[argv.index("-x") + 1] == "tlsf", argv


def test_cli_check_diff_on_converged_hosts_reports_no_change(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["deploy", str(lab.site_file), "--check", "--diff", "-o", str(lab.render_dir),
                     "--pki-dir", str(lab.pki_dir)])
    out = capsys.readouterr()
    lab.output += [out.out, out.err]
    assert code == 0, out.out[-3000:] + out.err
    assert "0 change(s) on 3 host(s)" in out.out
    assert "+++" not in out.out and "---" not in out.out, "no diff on a converged host"


def test_check_diff_shows_a_pending_change_but_never_a_secret_file(lab: Lab) -> None:
    before = _kamailio_state(lab)
    prep = prepare(lab.site_file, lab.options())
    # tls.cfg: kamailio.cfg holds derived keys and, like the SQL, is never diffed
    cfg, sql = "sip1/etc/kamailio/tls.cfg", "sip1/etc/kamailio/voipctl-subscribers.sql"
    marker = "# pending change seen by --check --diff"
    sql_marker = "-- pending-sql-row-not-to-be-shown"
    changed = _tampered(lab, prep, {cfg: (prep.render_dir / cfg).read_text() + marker + "\n",
                                    sql: (prep.render_dir / sql).read_text() + sql_marker + "\n"})
    events: list[Event] = []
    outcome = execute(changed, lab.options(check=True, diff=True), events.append)
    lab.output += [f"{e.kind} {e.host} {e.task} {e.state} {e.msg} {e.text}" for e in events]
    _assert_all_ok_on(outcome, {"sip1"})
    assert _changed(outcome)["sip1"] > 0
    diffs = "\n".join(e.text for e in events if e.kind == "diff")
    assert "+" + marker in diffs
    assert sql_marker not in "\n".join(lab.output), "a file holding secrets is never diffed"
    assert _kamailio_state(lab) == before, "check mode changed nothing"


def test_config_refused_by_kamailio_check_leaves_running_kamailio_alone(lab: Lab) -> None:
    pid, cfg_sha, tls_sha = _kamailio_state(lab)
    prep = prepare(lab.site_file, lab.options())
    rel = "sip1/etc/kamailio/kamailio.cfg"
    broken = _tampered(lab, prep, {rel: (prep.render_dir / rel).read_text() + "\nthis is not kamailio syntax;\n"})
    outcome = lab.run(broken)
    sip = next(r for r in outcome.recap if r.host == "sip1")
    assert sip.failed
    # kamailio.cfg holds the dialog-seal and topoh keys, so Ansible keeps its check output out of
    # the logs (no_log); the failure names the checked placement (run `voipctl check` for the reason)
    assert any("must pass its check first for kamailio" in m and "no_log" in m
               for m in outcome.failures["sip1"]), outcome.failures
    assert any("running kamailio untouched" in n for n in sip.notes), sip.notes
    assert _kamailio_state(lab) == (pid, cfg_sha, tls_sha), "same PID, same files"


def test_config_that_cannot_start_is_rolled_back(lab: Lab) -> None:
    _, cfg_sha, tls_sha = _kamailio_state(lab)
    prep = prepare(lab.site_file, lab.options())
    rel = "sip1/etc/kamailio/tls.cfg"
    text = (prep.render_dir / rel).read_text().replace("/etc/kamailio/tls/privkey.pem", "/etc/kamailio/tls/absent.pem")
    outcome = lab.run(_tampered(lab, prep, {rel: text}))
    sip = next(r for r in outcome.recap if r.host == "sip1")
    assert sip.failed
    assert any("restarted on its previous files and answers" in n for n in sip.notes), sip.notes
    _, cfg_after, tls_after = _kamailio_state(lab)
    assert (cfg_after, tls_after) == (cfg_sha, tls_sha), "previous files back in place"
    assert _answers_options(lab, "sip1")
    again = lab.run(replace(prepare(lab.site_file, lab.options()), hosts=("sip1",)))
    _assert_all_ok_on(again, {"sip1"})
    assert _changed(again) == {"sip1": 0}, "the rollback left no trace"


def _ssh_rc(lab: Lab, node: str, *remote: str) -> int:
    argv = lab_cmd.ssh(lab.key, lab.addresses[node][0], list(remote), timeout=3)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).returncode


def test_a_firewall_that_shuts_deploy_out_reverts_itself(lab: Lab) -> None:
    """SSH opened to the wrong network: the ruleset loads, deploy's new connection cannot get in, and
    the armed timer puts the previous table (and file) back; a redeploy then converges as usual."""
    fw_rel, fw_path = "sip1/etc/voipctl/firewall.nft", "/etc/voipctl/firewall.nft"
    before = lab.ssh("sip1", "nft", "--stateless", "list", "table", "inet", "voipctl")
    assert f"ip saddr {PRIVATE}.0/24 tcp dport 22 accept" in before
    prep = prepare(lab.site_file, lab.options())
    text = (prep.render_dir / fw_rel).read_text()
    assert f"ip saddr {{ {PRIVATE}.0/24 }} tcp dport 22" in text
    locked = _tampered(lab, prep, {fw_rel: text.replace(f"ip saddr {{ {PRIVATE}.0/24 }} tcp dport 22",
                                                        "ip saddr { 192.0.2.0/24 } tcp dport 22")})
    started = time.monotonic()
    outcome = lab.run(locked)
    sip = next(r for r in outcome.recap if r.host == "sip1")
    assert sip.unreachable or sip.failed, outcome.recap
    assert _ssh_rc(lab, "sip1", "true") != 0, "the bad ruleset is loaded: SSH from the control machine is dropped"
    while _ssh_rc(lab, "sip1", "true") != 0:
        assert time.monotonic() - started < 120, "the revert timer did not restore SSH"
        time.sleep(2)
    print(f"SSH back {time.monotonic() - started:.0f}s after the locked-out deploy began")
    assert lab.ssh("sip1", "nft", "--stateless", "list", "table", "inet", "voipctl") == before
    assert "192.0.2.0/24" not in lab.ssh("sip1", "cat", fw_path), "the file went back with the table"
    assert _answers_options(lab, "sip1")
    again = lab.run(replace(prep, hosts=("sip1",)))
    _assert_all_ok_on(again, {"sip1"})
    again = lab.run(replace(prep, hosts=("sip1",)))
    assert _changed(again) == {"sip1": 0}


DB = "/var/lib/kamailio/kamailio.sqlite"
# A digest of the subscriber rows, computed on the host: the rows (hashes) never leave it.
DB_DIGEST = ("import hashlib, sqlite3, sys; rows = sorted(sqlite3.connect(sys.argv[1]).execute("
             "'SELECT * FROM subscriber')); print(hashlib.sha256(repr(rows).encode()).hexdigest())")


def _db_state(lab: Lab) -> tuple[str, str, str]:
    """Digest of the subscriber rows, the applied-SQL stamp, and what else lies beside the DB."""
    out = lab.ssh("sip1", "sh", "-c", f"python3 -c \"{DB_DIGEST}\" {DB}; cat {DB}.voipctl-sha256; ls /var/lib/kamailio")
    lines = out.split("\n")
    return lines[0], lines[1], " ".join(lines[2:]).strip()


def test_gate_failure_with_kamailio_running_rolls_back_files_and_subscriber_db(lab: Lab) -> None:
    """New credentials and a kamailio.cfg that starts but answers OPTIONS 500: the gate fails with the
    daemon up, and rollback must restore the config AND the subscriber DB (old cfg, old credentials)."""
    _, cfg_sha, tls_sha = _kamailio_state(lab)
    db_before = _db_state(lab)
    prep = prepare(lab.site_file, lab.options())
    cfg, sql = "sip1/etc/kamailio/kamailio.cfg", "sip1/etc/kamailio/voipctl-subscribers.sql"
    cfg_text = (prep.render_dir / cfg).read_text()
    options_200 = 'uri == myself && $rU == $null) {\n\t\tsl_send_reply("200", "OK");'
    assert options_200 in cfg_text
    sql_text = (prep.render_dir / sql).read_text()
    first_ha1 = re.findall(r"'([0-9a-f]{32})'", sql_text)[0]
    edits = {cfg: cfg_text.replace(options_200, options_200.replace('"200", "OK"', '"500", "Broken"')),
             sql: sql_text.replace(first_ha1, first_ha1[::-1])}
    outcome = lab.run(_tampered(lab, prep, edits))
    sip = next(r for r in outcome.recap if r.host == "sip1")
    assert sip.failed
    assert any("not 200" in m for m in outcome.failures["sip1"]), outcome.failures
    assert any("restarted on its previous files and answers" in n for n in sip.notes), sip.notes
    _, cfg_after, tls_after = _kamailio_state(lab)
    assert (cfg_after, tls_after) == (cfg_sha, tls_sha), "previous files back in place"
    assert _db_state(lab) == db_before, "previous subscriber rows and stamp back, no copy left behind"
    assert _answers_options(lab, "sip1")
    again = lab.run(replace(prepare(lab.site_file, lab.options()), hosts=("sip1",)))
    _assert_all_ok_on(again, {"sip1"})
    assert _changed(again) == {"sip1": 0}, "the rollback left no trace"


def _coturn_tls(lab: Lab) -> str:
    return lab.ssh("media1", "sh", "-c", "systemctl show -p MainPID --value coturn; "
                   "sha256sum /etc/coturn/tls/*.pem /etc/turnserver.conf")


def test_certificate_from_another_ca_fails_the_turn_tls_gate_and_is_rolled_back(lab: Lab) -> None:
    """The certificates role's files are rolled back too: coturn starts on a chain the site CA does not
    sign, the gate's verified TLS handshake on TURN-TLS fails, and the previous chain comes back."""
    _, plan = pipeline.load_and_plan(lab.site_file)
    cert = plan.node("media1").coturn.tls.cert  # type: ignore[union-attr]
    before = _coturn_tls(lab).split("\n", 1)[1]
    prep = prepare(lab.site_file, lab.options())
    edits = {f"media1{f.path}": f.content.decode() for f in throwaway_cert(cert) if f.path != cert.ca_path}
    outcome = lab.run(_tampered(lab, prep, edits, host="media1"))
    media = next(r for r in outcome.recap if r.host == "media1")
    assert media.failed
    assert any("certificate verify failed" in m for m in outcome.failures["media1"]), outcome.failures
    assert any("coturn restarted on its previous files and answers" in n for n in media.notes), media.notes
    assert _coturn_tls(lab).split("\n", 1)[1] == before, "previous certificate, key and config back"
    again = lab.run(replace(prepare(lab.site_file, lab.options()), hosts=("media1",)))
    _assert_all_ok_on(again, {"media1"})
    assert _changed(again) == {"media1": 0}, "the rollback left no trace"


def test_rtpengine_answering_elsewhere_fails_its_gate_and_is_rolled_back(lab: Lab) -> None:
    """rtpengine starts on a config whose ng socket moved: the daemon runs, the ng ping gate fails."""
    before = lab.ssh("media1", "sha256sum", "/etc/rtpengine/rtpengine.conf")
    prep = prepare(lab.site_file, lab.options())
    rel = "media1/etc/rtpengine/rtpengine.conf"
    text = re.sub(r"^(listen-ng = .*:)(\d+)$", lambda m: f"{m.group(1)}{int(m.group(2)) + 1}",
                  (prep.render_dir / rel).read_text(), count=1, flags=re.MULTILINE)
    outcome = lab.run(_tampered(lab, prep, {rel: text}, host="media1"))
    media = next(r for r in outcome.recap if r.host == "media1")
    assert media.failed
    assert any("ng-ping" in m for m in outcome.failures["media1"]), outcome.failures
    assert any("rtpengine restarted on its previous files and answers" in n for n in media.notes), media.notes
    assert lab.ssh("media1", "sha256sum", "/etc/rtpengine/rtpengine.conf") == before
    again = lab.run(replace(prepare(lab.site_file, lab.options()), hosts=("media1",)))
    _assert_all_ok_on(again, {"media1"})
    assert _changed(again) == {"media1": 0}, "the rollback left no trace"


def test_a_rotated_secret_is_deployed_and_no_backup_keeps_the_old_one(lab: Lab) -> None:
    secrets_file = lab.site_file.with_name("site.secrets.yml")
    kept = [ln for ln in secrets_file.read_text().splitlines(keepends=True) if not ln.startswith("'turn_secret'")]
    secrets_file.write_text("".join(kept))  # render generates a new TURN secret
    outcome = lab.run(prepare(lab.site_file, lab.options()))
    _assert_all_ok(outcome)
    assert _changed(outcome)["media1"] > 0
    manifest = json.loads((lab.render_dir / "manifest.json").read_text())
    want = next(e["sha256"] for e in manifest["files"] if e["rel"] == "media1/etc/turnserver.conf")
    remote = lab.ssh("media1", "sh", "-c", "sha256sum /etc/turnserver.conf; find /etc -name 'turnserver.conf*'")
    lines = remote.split()
    assert lines[0] == want, "the rotated secret is live"
    assert lines[2:] == ["/etc/turnserver.conf"], f"a backup still holds the old secret: {lines[2:]}"


def test_no_secret_in_output_or_logs(lab: Lab) -> None:
    site, plan = pipeline.load_and_plan(lab.site_file)
    needles = [v for v in pipeline.secrets_for(site, plan).values.values() if len(v) >= 8]
    for key in lab.pki_dir.rglob("privkey.pem"):
        needles += [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
    sql = (lab.render_dir / "sip1/etc/kamailio/voipctl-subscribers.sql").read_text()
    needles += re.findall(r"'([0-9a-f]{32})'", sql)
    assert len(needles) > 10
    assert lab.output and lab.log_path.stat().st_size > 0
    texts = {"deploy output": "\n".join(lab.output), "ansible log": lab.log_path.read_text()}
    for node in lab.addresses:
        texts[f"journal of {node}"] = lab.ssh(node, "journalctl", "--no-pager", "-o", "cat")
    leaks = [(where, n[:6] + "...") for where, text in texts.items() for n in needles if n in text]
    assert not leaks, leaks
