"""Deploy's pure parts: ansible argv/env, event and recap parsing, manifest -> vars, freshness;
plus the role's helper scripts run for real on this machine (drift, subscriber DB, probe)."""

from __future__ import annotations

import json
import socket
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import REPO, copy_site
from voipctl import pipeline
from voipctl.deploy.ansible import (
    NO_CONTROL_PERSIST_ARGS,
    PlaybookRun,
    ansible_env,
    inventory_argv,
    limit_hosts,
    playbook_argv,
)
from voipctl.deploy.events import MARKER, HostRecap, failures_by_host, parse_line, parse_recap, recap_from
from voipctl.deploy.hostvars import deploy_vars, directories_for, gate_checks, package_source, sensitive_rels
from voipctl.deploy.inventory import choose_inventory, inventory_nodes, lab_inventory
from voipctl.deploy.playbook import private_vars_file
from voipctl.deploy.session import DeployOutcome, raise_for_outcome
from voipctl.errors import DeployFailed, HostsUnreachable, RenderError, UsageError
from voipctl.lab.state import LabPaths, LabState
from voipctl.output.manifest import Manifest
from voipctl.output.writer import ensure_fresh, write_tree
from voipctl.render.tree import PlannedFile, RenderedTree
from voipctl.resources import find_executable, playbooks_dir
from voipctl.site.spec import Auth

ROLE_FILES = REPO / "playbooks" / "roles"
GATE = "voipctl_health_gate.py"


@pytest.fixture(scope="module")
def lab_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_site(REPO / "tests" / "golden" / "lab", tmp_path_factory.mktemp("site") / "lab")


@pytest.fixture(scope="module")
def rendered(lab_site: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, RenderedTree, Path]:
    site, plan = pipeline.load_and_plan(lab_site)
    tree = pipeline.render(site, plan, None)
    out = tmp_path_factory.mktemp("render") / "out"
    write_tree(tree, out)
    return site, plan, tree, out


# ----- argv and environment -------------------------------------------------------------------


def _run(**kw: Any) -> PlaybookRun:
    base: dict[str, Any] = {"playbooks": Path("/pb"), "inventory": Path("/inv.yml"), "vars_file": Path("/t/v.json"),
                            "limit": ("sip1", "media1")}
    return PlaybookRun(**(base | kw))


def test_playbook_argv_is_a_list_with_vars_file_only() -> None:
    argv = playbook_argv(_run(), "/venv/bin/ansible-playbook")
    assert argv == ["/venv/bin/ansible-playbook", "-i", "/inv.yml", "-e", "@/t/v.json", "--limit", "sip1,media1",
                    "/pb/site.yml"]


def test_playbook_argv_check_diff_verbosity() -> None:
    argv = playbook_argv(_run(check=True, diff=True, verbosity=7))
    assert argv[-4:] == ["--check", "--diff", "-vvvv", "/pb/site.yml"]


def test_playbook_argv_never_empty_limit() -> None:
    with pytest.raises(ValueError, match="at least one host"):
        playbook_argv(_run(limit=()))


def test_inventory_argv() -> None:
    assert inventory_argv(Path("/i.yml"), "ai") == ["ai", "-i", "/i.yml", "--list"]


def test_env_points_at_our_config_and_can_turn_off_speedups() -> None:
    base = {"PATH": "/bin", "ANSIBLE_STDOUT_CALLBACK": "yaml"}
    env = ansible_env(base, Path("/pb"))
    assert env["ANSIBLE_CONFIG"] == "/pb/ansible.cfg"
    assert "ANSIBLE_STDOUT_CALLBACK" not in env, "our JSON callback must be the one in use"
    assert "ANSIBLE_PIPELINING" not in env and "ANSIBLE_SSH_ARGS" not in env
    off = ansible_env(base, Path("/pb"), pipelining=False, control_persist=False, log_path=Path("/l"))
    assert off["ANSIBLE_PIPELINING"] == "False"
    assert off["ANSIBLE_SSH_ARGS"] == NO_CONTROL_PERSIST_ARGS
    assert off["ANSIBLE_LOG_PATH"] == "/l"
    assert base == {"PATH": "/bin", "ANSIBLE_STDOUT_CALLBACK": "yaml"}, "the caller's mapping is not modified"


def test_playbooks_dir_has_site_and_config() -> None:
    pb = playbooks_dir()
    assert (pb / "site.yml").is_file() and (pb / "ansible.cfg").is_file()


def test_limit_hosts_maps_inventory_names_to_nodes() -> None:
    inv = {"sip1": "sip1", "m-1.example": "media1", "other": "other"}
    assert limit_hosts(inv, ["sip1", "media1"], None) == ("m-1.example", "sip1")
    assert limit_hosts(inv, ["sip1", "media1"], "media1") == ("m-1.example",)
    assert limit_hosts(inv, ["sip1", "media1"], "m-1.example") == ("m-1.example",)
    with pytest.raises(UsageError, match="--limit other"):
        limit_hosts(inv, ["sip1", "media1"], "other")
    with pytest.raises(UsageError, match="xmpp1"):
        limit_hosts(inv, ["sip1", "media1", "xmpp1"], None)


# ----- events and recap -----------------------------------------------------------------------


def _line(**doc: Any) -> str:
    return MARKER + json.dumps(doc) + "\n"


def test_parse_line_events_and_text() -> None:
    ev = parse_line(_line(event="result", host="sip1", task="kamailio : Restart", state="failed", msg="boom"))
    assert (ev.kind, ev.host, ev.task, ev.state, ev.msg) == ("result", "sip1", "kamailio : Restart", "failed", "boom")
    assert parse_line("[WARNING]: something\n").kind == "text"
    assert parse_line(MARKER + "{not json\n").kind == "text"
    assert parse_line(_line(event="bogus")).kind == "text"


def test_parse_recap_and_status() -> None:
    stats = {"sip1": {"ok": 30, "changed": 0, "failed": 0, "skipped": 2, "unreachable": 0, "rescued": 0,
                      "ignored": 0, "notes": []},
             "media1": {"ok": 10, "changed": 3, "failed": 1, "skipped": 0, "unreachable": 0, "rescued": 1,
                        "ignored": 0, "notes": ["coturn not activated"]},
             "xmpp1": {"ok": 1, "unreachable": 1, "changed": "x"}}
    recap = parse_recap(stats)
    assert [r.host for r in recap] == ["media1", "sip1", "xmpp1"]
    assert recap[0] == HostRecap("media1", 10, 3, 1, 0, 0, 1, 0, ("coturn not activated",))
    assert [r.status for r in recap] == ["failed", "ok", "unreachable"]
    assert recap[2].changed == 0, "malformed counters count as 0"


def test_recap_from_takes_the_stats_event_and_failures_are_collected() -> None:
    events = [parse_line(x) for x in (
        _line(event="play", name="p"),
        _line(event="result", host="sip1", task="t1", state="failed", msg="first"),
        _line(event="result", host="sip1", task="t2", state="failed", msg="rolled back"),
        _line(event="result", host="media1", task="t1", state="ok"),
        _line(event="stats", hosts={"sip1": {"failed": 1}, "media1": {"ok": 1}}),
    )]
    recap = recap_from(events)
    assert recap is not None and [r.status for r in recap] == ["ok", "failed"]
    assert failures_by_host(events) == {"sip1": ["t1: first", "t2: rolled back"]}
    assert recap_from(events[:-1]) is None


def _outcome(recap: list[HostRecap], hosts: tuple[str, ...]) -> DeployOutcome:
    return DeployOutcome("s", Path("/r"), (), Path("/i"), hosts, (), tuple(recap), {}, 0, (), 1.0)


def test_raise_for_outcome_exit_codes() -> None:
    ok = HostRecap("sip1", 5, 0, 0, 0, 0, 0, 0)
    raise_for_outcome(_outcome([ok], ("sip1",)))
    with pytest.raises(DeployFailed) as failed:
        raise_for_outcome(_outcome([replace(ok, failed=1)], ("sip1",)))
    assert failed.value.exit_code == 4
    with pytest.raises(HostsUnreachable) as unreachable:
        raise_for_outcome(_outcome([replace(ok, unreachable=1)], ("sip1",)))
    assert unreachable.value.exit_code == 5
    with pytest.raises(DeployFailed, match="media1"):  # a host that ran nothing did not deploy
        raise_for_outcome(_outcome([ok], ("sip1", "media1")))


# ----- manifest -> vars -----------------------------------------------------------------------


def test_deploy_vars_follow_manifest_and_plan(rendered: tuple[Any, Any, RenderedTree, Path]) -> None:
    site, plan, tree, out = rendered
    manifest = Manifest.read(out)
    assert manifest is not None
    sensitive = sensitive_rels(tree, pipeline.secrets_for(site, plan).values.values())
    doc = deploy_vars(plan, manifest, out, sensitive, site.path.parent)
    assert doc["voipctl_site"] == "lab" and doc["voipctl_model_hash"] == plan.model_hash
    nodes = doc["voipctl_nodes"]
    assert set(nodes) == {"sip1", "media1", "xmpp1"}
    assert nodes["media1"]["services"] == ["firewall", "rtpengine", "coturn"], "play order: firewall, rtpengine first"
    fw = nodes["media1"]["firewall"]
    assert {f["dest"]: f["mode"] for f in fw["files"]} == {"/etc/voipctl/firewall.nft": "0644",
                                                          "/etc/systemd/system/voipctl-firewall.service": "0644"}
    assert fw["gate"] == [] and fw["path"] == "/etc/voipctl/firewall.nft" and fw["table"] == "voipctl"
    assert fw["dirs"] == [{"path": "/etc/voipctl", "owner": "root", "group": "root", "mode": "0755"}], \
        "systemd's own directory is not re-owned"
    kam = nodes["sip1"]["kamailio"]
    by_dest = {f["dest"]: f for f in kam["files"]}
    entry = next(e for e in manifest.entries if e.path == "/etc/kamailio/kamailio.cfg")
    cfg = by_dest["/etc/kamailio/kamailio.cfg"]
    assert cfg == {"src": str(out / entry.rel), "dest": "/etc/kamailio/kamailio.cfg", "owner": entry.owner,
                   "group": entry.group, "mode": entry.mode, "sha256": entry.sha256,
                   "sensitive": True, "tls": False,
                   "handover": None}, "kamailio.cfg holds the dialog-seal and topoh keys"
    sql_path = "/etc/kamailio/voipctl-subscribers.sql"
    assert by_dest[sql_path]["sensitive"], "the digest hashes are private (0600)"
    assert kam["db"] == {"backend": "sqlite", "sqlite_path": "/var/lib/kamailio/kamailio.sqlite",
                         "sqlite_dir": "/var/lib/kamailio", "sql": sql_path, "served_by": None}
    assert kam["cfg_path"] == "/etc/kamailio/kamailio.cfg"
    assert kam["tls"]["key"] == "/etc/kamailio/tls/privkey.pem"
    turn = {f["dest"]: f for f in nodes["media1"]["coturn"]["files"]}
    assert turn["/etc/turnserver.conf"]["sensitive"], "holds the TURN REST secret"
    assert nodes["xmpp1"]["openfire"]["package"] is None
    assert nodes["sip1"]["other"] == {"files": [], "dirs": []}
    assert "golden-turn-secret" not in json.dumps(doc), "vars reference files, never inline them"


def test_deploy_vars_refuse_a_render_of_another_model(rendered: tuple[Any, Any, RenderedTree, Path]) -> None:
    site, plan, _, out = rendered
    read = Manifest.read(out)
    assert read is not None
    manifest = replace(read, model_hash="0" * 64)
    with pytest.raises(RenderError, match="not of this site's current model"):
        deploy_vars(plan, manifest, out, frozenset(), site.path.parent)


def test_tls_files_are_marked_for_the_certificates_role(rendered: tuple[Any, Any, RenderedTree, Path]) -> None:
    site, plan, tree, out = rendered
    pem = b"-----BEGIN PRIVATE KEY-----\nx\n"
    files = (*tree.files, PlannedFile("sip1", "/etc/kamailio/tls/privkey.pem", "kamailio", "kamailio", 0o600, pem,
                                      "kamailio"))
    with_key = RenderedTree(tree.site, tree.model_hash, files)
    out2 = out.parent / "withkey"
    write_tree(with_key, out2)
    manifest = Manifest.read(out2)
    assert manifest is not None
    doc = deploy_vars(plan, manifest, out2, sensitive_rels(with_key, []), site.path.parent)
    key = next(f for f in doc["voipctl_nodes"]["sip1"]["kamailio"]["files"] if f["dest"].endswith("privkey.pem"))
    assert key["tls"] and key["sensitive"] and key["mode"] == "0600" and key["owner"] == "kamailio"


def test_sensitive_rels_by_mode_suffix_and_content() -> None:
    def pf(path: str, mode: int, content: bytes) -> PlannedFile:
        return PlannedFile("n", path, "root", "root", mode, content, "coturn")

    tree = RenderedTree("s", "h", (pf("/etc/a.conf", 0o644, b"plain"), pf("/etc/b.conf", 0o640, b"x=S3CRET\n"),
                                   pf("/etc/c.sql", 0o600, b"rows"), pf("/etc/tls/privkey.pem", 0o644, b"k")))
    assert sensitive_rels(tree, ["S3CRET", ""]) == {"n/etc/b.conf", "n/etc/c.sql", "n/etc/tls/privkey.pem"}


def test_directories_for_service_files() -> None:
    def fv(dest: str, owner: str, group: str) -> dict[str, Any]:
        return {"dest": dest, "owner": owner, "group": group}

    dirs = directories_for([fv("/etc/kamailio/kamailio.cfg", "root", "kamailio"),
                            fv("/etc/kamailio/voipctl-subscribers.sql", "kamailio", "kamailio"),
                            fv("/etc/kamailio/tls/privkey.pem", "kamailio", "kamailio"),
                            fv("/etc/default/kamailio.d/mem", "root", "root"),
                            fv("/etc/turnserver.conf", "root", "turnserver")])
    assert dirs == [
        {"path": "/etc/default/kamailio.d", "owner": "root", "group": "root", "mode": "0755"},
        {"path": "/etc/kamailio", "owner": "root", "group": "kamailio", "mode": "0750"},
        {"path": "/etc/kamailio/tls", "owner": "kamailio", "group": "kamailio", "mode": "0750"},
    ], "/etc itself is never re-owned"


@pytest.mark.parametrize("directory", ["/etc/systemd/system", "/tmp", "/var/log", "/root", "/run"])
def test_system_dirs_are_never_reowned_nor_hold_the_db(directory: str) -> None:
    """One list (site.hostdirs) for deploy's directory owners and the DB-path check."""
    assert directories_for([{"dest": f"{directory}/x", "owner": "kamailio", "group": "kamailio"}]) == []
    with pytest.raises(ValidationError, match="directory of its own"):
        Auth(sqlite_path=f"{directory}/kamailio.sqlite")
    assert Auth(sqlite_path="/var/lib/kamailio/kamailio.sqlite").sqlite_path.endswith("kamailio.sqlite")


def test_the_db_never_goes_in_kamailio_config_dir() -> None:
    """deploy re-modes /etc/kamailio root:kamailio 0750 (above) but makes the DB's directory kamailio's own."""
    with pytest.raises(ValidationError, match="directory of its own"):
        Auth(sqlite_path="/etc/kamailio/kamailio.sqlite")


def test_gate_checks_come_from_plan_sockets(rendered: tuple[Any, Any, RenderedTree, Path]) -> None:
    _, plan, _, _ = rendered
    sip, media = plan.node("sip1"), plan.node("media1")
    kam = gate_checks(sip, "kamailio")
    udp = next(lst for lst in sip.kamailio.listeners if lst.proto == "udp")
    assert {"kind": "sip-options", "proto": "udp", "host": udp.address, "port": udp.port} in kam
    assert all(c["kind"] in ("sip-options", "tcp") for c in kam) and len(kam) == len(sip.kamailio.listeners)
    assert gate_checks(media, "rtpengine") == [
        {"kind": "ng-ping", "host": media.rtpengine.ng_address, "port": media.rtpengine.ng_port}]
    assert gate_checks(media, "coturn")[0] == {"kind": "stun", "host": media.coturn.listen_address,
                                               "port": media.coturn.port}
    assert gate_checks(sip, "rtpengine") == []


def test_package_source(tmp_path: Path) -> None:
    assert package_source(None, tmp_path) is None
    assert package_source("https://example.org/openfire.deb", tmp_path) == "https://example.org/openfire.deb"
    (tmp_path / "of.deb").write_bytes(b"deb")
    assert package_source("of.deb", tmp_path) == str(tmp_path / "of.deb")
    with pytest.raises(UsageError, match="no such file"):
        package_source("missing.deb", tmp_path)


# ----- freshness ------------------------------------------------------------------------------


def test_freshness_detects_model_content_and_hand_edits(rendered: tuple[Any, Any, RenderedTree, Path],
                                                          tmp_path: Path) -> None:
    _, _, tree, _ = rendered
    out = tmp_path / "out"
    assert [str(d) for d in ensure_fresh(tree, out)] == ["no manifest.json"]
    assert ensure_fresh(tree, out) == [], "a fresh render is left alone"
    manifest = Manifest.read(out)
    assert manifest is not None and manifest.differences(tree) == []
    assert manifest.to_bytes() == (out / "manifest.json").read_bytes(), "read and written alike"
    other = RenderedTree(tree.site, "f" * 64, tree.files[1:])
    reasons = [str(d) for d in manifest.differences(other)]
    assert reasons[0].startswith("model hash differs") and reasons[1].endswith("no longer rendered")
    cfg = out / "sip1/etc/kamailio/kamailio.cfg"
    cfg.write_text("edited\n")
    edited = ["sip1/etc/kamailio/kamailio.cfg: edited since it was rendered"]
    assert [str(d) for d in manifest.disk_differences(out)] == edited
    assert [str(d) for d in ensure_fresh(tree, out)] == edited
    assert cfg.read_bytes() == next(f.content for f in tree.files if f.rel == "sip1/etc/kamailio/kamailio.cfg")


# ----- inventory ------------------------------------------------------------------------------


def test_inventory_nodes_from_listing() -> None:
    listing = {"_meta": {"hostvars": {"a": {"voipctl_node_name": "sip1"}, "b": {}}},
               "all": {"children": ["ungrouped", "sip"]}, "sip": {"hosts": ["a"]}, "ungrouped": {"hosts": ["c"]}}
    assert inventory_nodes(listing) == {"a": "sip1", "b": "b", "c": "c"}


def test_choose_inventory_prefers_given_then_running_lab(tmp_path: Path) -> None:
    given = tmp_path / "inv.yml"
    given.write_text("all: {}\n")
    assert choose_inventory("s", given, tmp_path) == given
    with pytest.raises(UsageError, match="does not exist"):
        choose_inventory("s", tmp_path / "nope.yml", tmp_path)
    with pytest.raises(UsageError, match="lab up"):
        choose_inventory("s", None, tmp_path)
    paths = LabPaths.for_site("s", tmp_path)
    state = LabState("s", paths.state_file, status="starting")
    state.save()
    paths.inventory.write_text("all: {}\n")
    assert lab_inventory("s", tmp_path) is None, "a lab still starting is not used"
    state.status = "up"
    state.save()
    assert choose_inventory("s", None, tmp_path) == paths.inventory


# ----- the vars file --------------------------------------------------------------------------


def test_vars_file_is_private_and_removed() -> None:
    with private_vars_file({"voipctl_site": "x"}) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert json.loads(path.read_text()) == {"voipctl_site": "x"}
    assert not path.exists() and not path.parent.exists()
    with pytest.raises(RuntimeError), private_vars_file({}) as path2:
        raise RuntimeError
    assert not path2.parent.exists(), "removed even when the run fails"


# ----- the roles' helper scripts, run for real ------------------------------------------------


def _script(role: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROLE_FILES / role / "files" / name), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_drift_script_lists_only_differing_files(tmp_path: Path) -> None:
    import grp
    import hashlib
    import os
    import pwd

    me, mygroup = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    same, other = tmp_path / "same", tmp_path / "other"
    for p in (same, other):
        p.write_bytes(b"content\n")
        p.chmod(0o640)
    digest = hashlib.sha256(b"content\n").hexdigest()

    def entry(path: Path, **kw: str) -> dict[str, str]:
        return {"dest": str(path), "sha256": digest, "owner": me, "group": mygroup, "mode": "0640"} | kw

    files = [entry(same), entry(other, mode="0600"), entry(tmp_path / "missing"),
             entry(same, sha256="0" * 64), entry(same, owner="nobody")]
    tmp_path.chmod(0o750)
    dirs = [{"path": str(tmp_path), "owner": me, "group": mygroup, "mode": "0750"},
            {"path": str(tmp_path), "owner": me, "group": mygroup, "mode": "0755"},
            {"path": str(tmp_path / "absent"), "owner": me, "group": mygroup, "mode": "0750"},
            {"path": str(same), "owner": me, "group": mygroup, "mode": "0640"}]
    res = _script("common", "voipctl_drift.py", "--files", json.dumps(files), "--dirs", json.dumps(dirs))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {
        "files": [str(other), str(tmp_path / "missing"), str(same), str(same)],
        "dirs": [str(tmp_path), str(tmp_path / "absent"), str(same)],
        "owned": [],
    }


def test_drift_script_state_reads_packages_accounts_unit_and_helpers_at_once(tmp_path: Path) -> None:
    """--state: what a role would check task by task, in one round trip (a converged host skips those tasks)."""
    import hashlib
    import pwd

    root = pwd.getpwnam("root")
    helper = tmp_path / "helper.py"
    helper.write_bytes(b"print()\n")
    helper.chmod(0o755)
    tmp_path.chmod(0o750)

    def account(user: str, login: str = root.pw_shell) -> dict[str, str]:
        return {"user": user, "group": "root", "home": root.pw_dir, "shell": login}

    doc = {"packages": ["dpkg", "voipctl-no-such-package"],
           "accounts": [account("root"), account("root", login="/bin/false"), account("voipctl-no-such-user")],
           "unit": "voipctl-no-such.service",
           "helpers": [{"dest": str(helper), "owner": "root", "group": "root", "mode": "0755"},
                       {"dest": str(helper), "owner": "root", "group": "root", "mode": "0700"},
                       {"dest": str(tmp_path / "absent.py"), "owner": "root", "group": "root", "mode": "0755"}],
           "helper_sha256": [hashlib.sha256(b"print()\n").hexdigest()] * 3,
           "dirs": [{"path": str(tmp_path), "owner": "root", "group": "root", "mode": "0750"},
                    {"path": str(tmp_path / "absent"), "owner": "root", "group": "root", "mode": "0755"}]}
    doc["spec"] = {"files": [{"dest": str(helper), "sha256": doc["helper_sha256"][0], "owner": "root", "group": "root",
                              "mode": "0755"}], "dirs": doc["dirs"]}
    res = _script("common", "voipctl_drift.py", "--state", json.dumps(doc))
    assert res.returncode == 0, res.stderr
    state = json.loads(res.stdout)
    assert [line.split("|")[0] for line in state["packages"]] == ["dpkg"]
    assert state["packages"][0].split("|")[1] == "ii "
    assert state["accounts"] == ["root", "voipctl-no-such-user"], "wrong shell or missing: the user task runs"
    assert state["unit_ok"] is False
    assert state["helpers"] == [str(helper), str(tmp_path / "absent.py")]
    assert state["dirs"] == [str(tmp_path / "absent")]
    assert state["drift"] == {"files": [], "dirs": [str(tmp_path / "absent")], "owned": []}, "as --files/--dirs"


def test_drift_script_leaves_a_seed_to_its_daemon_after_handover(tmp_path: Path) -> None:
    """openfire.xml is placed until Openfire wrote <setup>true</setup> into it, never after."""
    import grp
    import os
    import pwd

    conf, security = tmp_path / "openfire.xml", tmp_path / "security.xml"
    handover = {"path": str(conf), "marker": "<setup>true</setup>"}
    files = [{"dest": str(p), "sha256": "0" * 64, "owner": pwd.getpwuid(os.getuid()).pw_name,
              "group": grp.getgrgid(os.getgid()).gr_name, "mode": "0600", "handover": handover}
             for p in (conf, security)]

    def listed() -> list[str]:
        res = _script("common", "voipctl_drift.py", "--files", json.dumps(files))
        assert res.returncode == 0, res.stderr
        files_: list[str] = json.loads(res.stdout)["files"]
        return files_

    assert listed() == [str(conf), str(security)], "first setup: both seeds are placed"
    conf.write_text("<jive><autosetup><run>true</run></autosetup></jive>\n")  # e.g. the package's own file
    security.write_text("<security/>\n")
    assert listed() == [str(conf), str(security)], "not set up yet: still replaced"
    conf.write_text("<jive><setup>true</setup></jive>\n")
    assert listed() == [], "Openfire owns both after its setup, whatever their content"
    res = _script("common", "voipctl_drift.py", "--files", json.dumps(files))
    assert json.loads(res.stdout)["owned"] == [str(conf), str(security)], "differing from the render: reported"


@pytest.mark.skipif(not Path("/usr/sbin/kamailio").exists(), reason="needs the kamailio package (its user)")
def test_subscriber_script_applies_once_and_reports_changes(tmp_path: Path) -> None:
    sql = tmp_path / "subs.sql"
    db = tmp_path / "db" / "kamailio.sqlite"
    db.parent.mkdir()
    sql.write_text("BEGIN;\nCREATE TABLE IF NOT EXISTS subscriber (username TEXT PRIMARY KEY, ha1 TEXT);\n"
                   "INSERT OR REPLACE INTO subscriber VALUES ('alice', 'h1');\nCOMMIT;\n")
    args = ("--sql", str(sql), "--db", str(db), "--owner", "kamailio")
    check = _script("kamailio", "voipctl_subscribers.py", *args, "--check")
    assert json.loads(check.stdout)["changed"] and not db.exists(), "--check changes nothing"
    first = _script("kamailio", "voipctl_subscribers.py", *args)
    assert first.returncode == 0 and json.loads(first.stdout) == {"changed": True, "msg": "subscriber DB created"}
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and db.owner() == "kamailio"
    again = _script("kamailio", "voipctl_subscribers.py", *args)
    assert json.loads(again.stdout)["changed"] is False
    db.chmod(0o644)
    assert json.loads(_script("kamailio", "voipctl_subscribers.py", *args).stdout)["changed"], "mode drift is fixed"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT ha1 FROM subscriber WHERE username='alice'").fetchone() == ("h1",)
    assert "h1" not in first.stdout + again.stdout


@pytest.mark.skipif(not Path("/usr/sbin/kamailio").exists(), reason="needs the kamailio package (its user)")
def test_subscriber_script_keeps_and_restores_the_previous_db(tmp_path: Path) -> None:
    """Rollback must put the old credentials back: the DB is kept before a change and restored on demand."""
    sql, db = tmp_path / "subs.sql", tmp_path / "db" / "kamailio.sqlite"
    db.parent.mkdir()
    schema = "BEGIN;\nCREATE TABLE IF NOT EXISTS subscriber (username TEXT PRIMARY KEY, ha1 TEXT);\n"
    args = ("--db", str(db), "--owner", "kamailio")

    def ha1() -> str:
        with sqlite3.connect(db) as conn:
            return str(conn.execute("SELECT ha1 FROM subscriber WHERE username='alice'").fetchone()[0])

    rows = "INSERT OR REPLACE INTO subscriber VALUES ('alice', '{}');\nCOMMIT;\n"
    sql.write_text(schema + rows.format("old"))
    assert _script("kamailio", "voipctl_subscribers.py", "--sql", str(sql), *args).returncode == 0
    stamp = db.with_name(db.name + ".voipctl-sha256").read_text()
    # a first deploy created the DB: restore removes it again
    restored = json.loads(_script("kamailio", "voipctl_subscribers.py", *args, "--restore").stdout)
    assert restored == {"changed": True, "msg": "subscriber DB created by this deploy removed"} and not db.exists()
    assert _script("kamailio", "voipctl_subscribers.py", "--sql", str(sql), *args).returncode == 0
    assert json.loads(_script("kamailio", "voipctl_subscribers.py", *args, "--forget").stdout)["changed"]
    # a later deploy changes alice's credentials, then its activation fails: the old ones come back
    sql.write_text(schema + rows.format("new"))
    assert _script("kamailio", "voipctl_subscribers.py", "--sql", str(sql), *args).returncode == 0
    assert ha1() == "new"
    kept = db.with_name(db.name + ".voipctl-prev")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.owner() == "kamailio"
    restored = json.loads(_script("kamailio", "voipctl_subscribers.py", *args, "--restore").stdout)
    assert restored["changed"] and ha1() == "old"
    assert db.with_name(db.name + ".voipctl-sha256").read_text() == stamp
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and not kept.exists()
    again = json.loads(_script("kamailio", "voipctl_subscribers.py", *args, "--restore").stdout)
    assert again["changed"] is False


def test_health_gate_script_tcp_record_and_timeout(tmp_path: Path) -> None:
    record = tmp_path / "gate" / "svc.json"
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        checks = json.dumps([{"kind": "tcp", "host": "127.0.0.1", "port": port}])
        # the kernel completes the handshake from the listen backlog: no accept() needed
        ok = _script("common", GATE, "--timeout", "3", "--checks", checks, "--record", str(record))
        again = _script("common", GATE, "--timeout", "3", "--checks", checks, "--record", str(record))
        replay = _script("common", GATE, "--timeout", "3", "--checks-file", str(record))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout.splitlines()[0])["ok"] is True
    assert ok.stdout.splitlines()[-1] == "recorded" and again.stdout.splitlines()[-1] == "record unchanged"
    assert json.loads(record.read_text()) == json.loads(checks)
    assert replay.returncode == 0
    bad = _script("common", GATE, "--timeout", "1", "--checks",
                  json.dumps([{"kind": "sip-options", "proto": "udp", "host": "127.0.0.1", "port": port}]))
    assert bad.returncode == 1 and "health gate failed: sip-options udp:127.0.0.1" in bad.stderr
    none = _script("common", GATE, "--checks-file", "/nonexistent/gate.json")
    assert none.returncode == 3


# ----- the playbook itself --------------------------------------------------------------------


@pytest.mark.skipif(find_executable("ansible-lint") is None, reason="ansible-lint is not installed")
def test_playbooks_are_ansible_lint_clean() -> None:
    res = subprocess.run([str(find_executable("ansible-lint")), "--offline", "site.yml"], cwd=playbooks_dir(),
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
