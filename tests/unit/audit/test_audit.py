"""`voipctl audit` and `voipctl explain` on the lab site, rendered with a real PKI.

Locations are read back from the render directory; evidence comes from outcomes
named exactly as verify names them (built by verify's own probe and host-check builders).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO, copy_site
from voipctl.audit.catalogue import CATALOGUE
from voipctl.audit.change import compare
from voipctl.audit.locate import Location, refuse_secrets
from voipctl.cli import main
from voipctl.errors import AuditError
from voipctl.output.manifest import Manifest
from voipctl.pipeline import load_and_plan
from voipctl.render import engine
from voipctl.resources import playbooks_dir, templates_dir
from voipctl.verify.hosts.checks import host_checks
from voipctl.verify.probes.build import ProbeInputs, build_probes
from voipctl.verify.probes.vantage import Vantage
from voipctl.verify.report.formats import VerifyReport, to_json
from voipctl.verify.report.outcome import Outcome

CASE = REPO / "tests/golden/lab"


@dataclass(frozen=True)
class Audited:
    site: Path
    pki: Path
    out: Path
    report: Path

    def doc(self, report: Path | None = None) -> dict[str, Any]:
        return dict(json.loads(((report or self.report) / "audit.json").read_text()))

    def secrets(self) -> list[str]:
        values = YAML(typ="safe").load((self.site.parent / "site.secrets.yml").read_text())
        return [str(v) for v in values.values()]

    def audit(self, *extra: str, report: Path | None = None) -> int:
        return main(["audit", str(self.site), "-o", str(self.out), "--pki-dir", str(self.pki),
                     "--report", str(report or self.report), *extra])


def _prepare(root: Path) -> Audited:
    site = copy_site(CASE, root / "site")
    pki, out = root / "pki", root / "out"
    for argv in (["pki", "init", str(site), "--pki-dir", str(pki)], ["pki", "issue", str(site), "--pki-dir", str(pki)],
                 ["render", str(site), "-o", str(out), "--pki-dir", str(pki)]):
        assert main(argv) == 0, argv
    return Audited(site, pki, out, root / "report")


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    a = _prepare(tmp_path_factory.mktemp("audit"))
    assert a.audit() == 0
    return a


def _cited(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for c in doc["controls"]:
        for loc in c["locations"]:
            yield c["id"], loc


def test_every_cited_location_exists_and_holds_the_cited_text(audited: Audited) -> None:
    doc = audited.doc()
    assert doc["schema"] == "voipctl-audit" and doc["schema_version"] == 1
    assert [c["id"] for c in doc["controls"]] == [c.id for c in CATALOGUE]
    cited = list(_cited(doc))
    assert len(cited) > 60
    for control, loc in cited:
        if loc["source"] == "render":
            path = audited.out / loc["node"] / loc["path"].lstrip("/")
        else:
            path = playbooks_dir().parent / loc["path"]
        lines = path.read_text().splitlines()
        assert lines[loc["line"] - 1] == loc["text"], (control, loc)
        # the marker comment the render kept stands above the control's lines
        markers = (f"# control: {control}", f"<!-- control: {control} -->")
        assert any(line.strip() in markers for line in lines[: loc["line"] - 1]), (control, loc)
    for c in doc["controls"]:
        assert c["status"] == "enforced" and c["locations"], c["id"]
        assert c["decided_by"] and c["verdict"] == "not verified (no --verify-json given)"


def test_the_key_lines_land_in_the_controls_that_implement_them(audited: Audited) -> None:
    by_id = {c["id"]: {loc["text"].strip() for loc in c["locations"]} for c in audited.doc()["controls"]}
    assert "if (uri != myself) {" in by_id["no-open-relay"]
    assert 'sl_send_reply("404", "Not here");' in by_id["no-open-relay-in-dialog"]
    assert "no-multicast-peers" in by_id["turn-peer-policy"]
    assert any(t.startswith("denied-peer-ip=") for t in by_id["turn-peer-policy"])
    assert any(t.startswith("listen-ng = 10.77.0.12:") for t in by_id["rtpengine-control-private"])
    assert "<interface>10.77.0.13</interface>" in by_id["admin-consoles-private"]
    assert "method = TLSv1.2+" in by_id["tls-floor-ciphers"]
    assert "validate: \"{{ common_validate[item.dest] }}\"" in by_id["validate-before-install"]
    assert any("cols='username,ha1'" in t for t in by_id["ha1-only-store"])


def test_decided_by_names_the_site_line_or_the_default(audited: Audited) -> None:
    controls = {c["id"]: c for c in audited.doc()["controls"]}
    domain = controls["no-open-relay"]["decided_by"][0]
    assert domain["source"] == "site" and domain["value"] == "lab.voipctl.test" and domain["line"] > 1
    flood = {d["field"]: d for d in controls["flood-ban"]["decided_by"]}
    assert flood["kamailio.flood.ban_seconds"] == {"field": "kamailio.flood.ban_seconds", "value": 300,
                                                   "source": "default"}


def _broken_templates(tmp: Path, template: str, control: str) -> Path:
    copy = tmp / "templates"
    shutil.copytree(templates_dir(), copy)
    path = copy / template
    text = path.read_text()
    opening = f'{{% control "{control}" %}}\n'
    start = text.index(opening)
    end = text.index("{% endcontrol %}\n", start)
    without = text[:start] + text[start + len(opening):end] + text[end + len("{% endcontrol %}\n"):]
    path.write_text(without)
    return copy


@pytest.fixture
def templates_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def use(directory: Path) -> None:
        monkeypatch.setattr(engine, "templates_dir", lambda: directory)
        engine.environment.cache_clear()
    yield use
    engine.environment.cache_clear()


def test_removing_a_control_marker_makes_the_audit_fail_loudly(tmp_path: Path, templates_at: Any,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    a = _prepare(tmp_path)
    templates_at(_broken_templates(tmp_path, "coturn/turnserver.conf.j2", "turn-peer-policy"))
    assert main(["render", str(a.site), "-o", str(a.out), "--pki-dir", str(a.pki)]) == 0
    capsys.readouterr()
    assert a.audit() == 1
    err = capsys.readouterr().err
    assert "turn-peer-policy" in err and "no rendered or playbook line implements" in err
    assert not a.report.exists()


def test_removing_a_playbook_marker_makes_the_audit_fail_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    a = _prepare(tmp_path)
    playbooks = tmp_path / "copy" / "playbooks"
    shutil.copytree(playbooks_dir(), playbooks)
    for path in playbooks.rglob("*.yml"):
        text = path.read_text()
        path.write_text(re.sub(r"^ *# control: validate-before-install\n", "", text, flags=re.M))
    monkeypatch.setattr("voipctl.audit.orchestrator.playbooks_dir", lambda: playbooks)
    assert a.audit() == 1
    assert "validate-before-install" in capsys.readouterr().err and not a.report.exists()


def test_a_missing_render_dir_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _prepare(tmp_path)
    shutil.rmtree(a.out)
    assert a.audit() == 2
    assert "run `voipctl render" in capsys.readouterr().err


def test_a_stale_render_dir_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _prepare(tmp_path)
    conf = a.out / "media1/etc/rtpengine/rtpengine.conf"
    conf.write_text("# edited by hand\n" + conf.read_text())
    assert a.audit() == 1
    assert "not the current render" in capsys.readouterr().err and not a.report.exists()


def test_a_marked_line_holding_a_secret_is_refused() -> None:
    loc = Location("media1", "/etc/turnserver.conf", 20, "static-auth-secret=s3cret-value", "render")
    with pytest.raises(AuditError, match="holds a secret") as exc:
        refuse_secrets([loc], ["s3cret-value"])
    assert "s3cret-value" not in str(exc.value)


def _verify_json(a: Audited, path: Path, fail: str = "") -> Path:
    """A verify report whose checks carry the names verify gives them (its own builders), all passed but `fail`."""
    _, plan = load_and_plan(a.site)
    vantages = [Vantage("public"), Vantage("nat")]
    inputs = ProbeInputs(ca_file="ca.pem", subscriber="alice", password="not-used", turn_secret="not-used")
    probes, decided = build_probes(plan, vantages, inputs)
    outcomes = [Outcome(p.group, p.name, "failed" if fail and fail in p.name else "passed", "as expected",
                        p.host, p.vantage) for p in probes if p.name]
    outcomes += [Outcome("scanner", "sipvicious_svmap against udp 198.51.100.11:5060 gets no answer", "passed",
                         "no answer", "sip1", "public"),
                 Outcome("tls", "sip1 tls:198.51.100.11:5061 accepts only TLS 1.2/1.3", "passed", "only TLSv1.2",
                         "sip1", "public")]
    manifest = Manifest.read(a.out)
    assert manifest is not None
    outcomes += [Outcome(f"host:{c.kind}", c.name, "passed", "ok", c.node)
                 for c in host_checks(plan, manifest.entries, {}, Path("ca.pem"))]
    outcomes += decided
    from datetime import UTC, datetime
    report = VerifyReport(plan.site, plan.model_hash, datetime(2026, 11, 27, 12, 0, tzinfo=UTC), 42.0,
                          tuple(outcomes))
    path.write_text(to_json(report))
    return path


def test_a_report_with_verify_json_shows_each_controls_evidence(audited: Audited, tmp_path: Path) -> None:
    verify = _verify_json(audited, tmp_path / "verify.json", fail="disallowed Origin")
    report = tmp_path / "with-verify"
    assert audited.audit("--verify-json", str(verify), report=report) == 0
    doc = audited.doc(report)
    assert doc["verify"]["same_model"] and doc["verify"]["started"] == "2026-11-27T12:00:00+00:00"
    verdicts = {c["id"]: c["verdict"] for c in doc["controls"]}
    html, md = (report / "audit.html").read_text(), (report / "audit.md").read_text()
    for c in doc["controls"]:
        for e in c["evidence"]:
            assert e["check"] and e["status"] in ("passed", "failed", "skipped")
            assert e["at"] == "2026-11-27T12:00:00+00:00"
            assert escape(e["check"]) in html
            assert e["check"].replace("|", "\\|") in md
    assert verdicts["websocket-origin-host"] == "failed"
    for control in ("no-open-relay-in-dialog", "digest-auth-uniform", "ha1-only-store",
                    "scanner-drop", "tls-floor-ciphers", "turn-rest-auth", "turn-peer-policy",
                    "rtpengine-control-private", "admin-consoles-private", "topology-hiding"):
        assert verdicts[control] == "proven", (control, verdicts[control])
    # the lab's Openfire has no package: verify skips its checks, with the reason
    assert verdicts["xmpp-tls-required"] == "not verified (its checks were skipped)"
    for control in ("no-open-relay", "flood-ban", "sip-on-ws-port-refused", "no-version-headers",
                    "validate-before-install"):
        assert verdicts[control].startswith("not verified"), control
    assert doc["drift"]["checked"] and doc["drift"]["problems"] == []


def test_no_secret_value_appears_in_any_output(audited: Audited, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    verify = _verify_json(audited, tmp_path / "verify.json")
    report = tmp_path / "r"
    assert audited.audit("--verify-json", str(verify), report=report) == 0
    conf = (audited.out / "media1/etc/turnserver.conf").read_text().splitlines()
    secret_line = next(i for i, line in enumerate(conf, 1) if line.startswith("static-auth-secret="))
    assert main(["explain", str(audited.site), f"media1:/etc/turnserver.conf:{secret_line}",
                 "--pki-dir", str(audited.pki)]) == 0
    printed = capsys.readouterr()
    assert "holds a secret; not shown" in printed.out
    everything = printed.out + printed.err + "".join(p.read_text() for p in report.iterdir())
    everything += "".join(p.read_text() for p in audited.report.iterdir())
    secrets = audited.secrets()
    assert len(secrets) >= 5 and not [s for s in secrets if s in everything]


def test_explain_names_the_control_and_the_site_fields(audited: Audited, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = (audited.out / "sip1/etc/kamailio/kamailio.cfg").read_text().splitlines()
    line = cfg.index("\tif (uri != myself) {") + 1
    assert main(["explain", str(audited.site), f"sip1:/etc/kamailio/kamailio.cfg:{line}"]) == 0
    out = capsys.readouterr().out
    assert "control no-open-relay (No open relay)" in out
    assert re.search(r"domain = lab\.voipctl\.test \(set in .*site\.yml:\d+\)", out)
    listen = next(i for i, t in enumerate(cfg, 1) if t.startswith("listen=udp:198.51.100.11:5060"))
    assert main(["explain", str(audited.site), f"sip1:/etc/kamailio/kamailio.cfg:{listen}"]) == 0
    out = capsys.readouterr().out
    assert "socket kamailio udp (udp 198.51.100.11:5060) comes from site field kamailio.transports.udp.port" in out
    assert "kamailio tcp" not in out  # the TCP socket on the same port is another line
    assert "plan.nodes[sip1].kamailio.listeners[0].port = 5060" in out
    assert "listeners[1]" not in out  # of the listeners, only the one this line prints
    ng = next(i for i, t in enumerate((audited.out / "media1/etc/rtpengine/rtpengine.conf").read_text().splitlines(), 1)
              if t.startswith("listen-ng"))
    assert main(["explain", str(audited.site), f"media1:/etc/rtpengine/rtpengine.conf:{ng}"]) == 0
    out = capsys.readouterr().out
    assert "control rtpengine-control-private" in out and "rtpengine.ng_port = 2223 (default)" in out
    assert main(["explain", str(audited.site), "sip1:kamailio.cfg"]) == 2
    assert main(["explain", str(audited.site), "sip1:/etc/nothing:1"]) == 2


def test_previous_audit_lists_moved_lines_new_listeners_and_renewed_certificates(audited: Audited) -> None:
    now = audited.doc()
    before = json.loads(json.dumps(now))
    relay = next(c for c in before["controls"] if c["id"] == "no-open-relay")
    for loc in relay["locations"]:
        loc["line"] -= 3
    before["controls"] = [c for c in before["controls"] if c["id"] != "scanner-drop"]
    before["exposure"][1]["sockets"] = before["exposure"][1]["sockets"][1:]
    before["tls"]["certificates"][0]["sha256"] = "00" * 32
    changes = compare(before, now)
    assert changes["controls_added"] == ["scanner-drop"] and changes["controls_removed"] == []
    assert {m["control"] for m in changes["lines_moved"]} == {"no-open-relay"}
    assert [s["what"] for s in changes["listeners_added"]] == [now["exposure"][1]["sockets"][0]["what"]]
    assert [(r["node"], r["service"]) for r in changes["certificates_renewed"]] == [("sip1", "kamailio")]


def test_previous_is_read_from_an_earlier_audit_dir(audited: Audited, tmp_path: Path) -> None:
    report = tmp_path / "again"
    assert audited.audit("--previous", str(audited.report), report=report) == 0
    doc = audited.doc(report)
    assert doc["changes"]["lines_moved"] == [] and doc["changes"]["controls_added"] == []
    assert "Since the previous audit" in (report / "audit.md").read_text()
    (tmp_path / "bogus").mkdir()
    (tmp_path / "bogus/audit.json").write_text("{}")
    assert audited.audit("--previous", str(tmp_path / "bogus"), report=tmp_path / "x") == 2


def test_bad_verify_json_is_a_usage_error(audited: Audited, tmp_path: Path) -> None:
    bad = tmp_path / "v.json"
    bad.write_text(json.dumps({"outcomes": [{"group": "x"}]}))
    assert audited.audit("--verify-json", str(bad), report=tmp_path / "x") == 2


def test_tls_exposure_and_secrets_sections(audited: Audited) -> None:
    doc = audited.doc()
    sockets = {e["socket"] for e in doc["tls"]["endpoints"]}
    assert {"tls:198.51.100.11:5061", "wss:198.51.100.11:443", "tls+dtls:198.51.100.12:5349"} <= sockets
    assert all(e["floor"] == "TLSv1.2" for e in doc["tls"]["endpoints"])
    certs = {(c["node"], c["service"]): c for c in doc["tls"]["certificates"]}
    sip = certs[("sip1", "kamailio")]
    assert sip["key"] == "ecdsa-p256" and 85 <= sip["days_left"] <= 90 and "lab.voipctl.test" in sip["sans"]
    assert len(sip["chain"]) == 2 and "Root CA" in sip["chain"][1]
    ca = doc["tls"]["ca"]
    assert ca["root"]["basic_constraints"] == {"ca": True, "path_length": 1}
    assert ca["root_key"]["mode"] == "0600" and ca["root_key"]["encrypted"] is True, "CA keys are encrypted by default"
    media = next(n for n in doc["exposure"] if n["node"] == "media1")
    audiences = {s["what"]: s["audience"] for s in media["sockets"]}
    assert audiences["rtpengine ng"] == "private" and audiences["rtpengine cli"] == "loopback"
    assert audiences["coturn stun/turn"] == "public" and "no firewall" in media["firewall"]
    held = {(f["node"], f["path"]): f for f in doc["secrets"]["files"]}
    assert held[("media1", "/etc/turnserver.conf")]["holds"] == ["turn_secret (value)"]
    assert held[("media1", "/etc/turnserver.conf")]["mode"] == "0640"
    assert held[("sip1", "/etc/kamailio/kamailio.cfg")]["holds"] == ["topology_key (derived key (HMAC-SHA256))"]
    assert doc["secrets"]["store"]["mode"] == "0600"


def test_previous_after_a_real_change_of_site_and_certificate(tmp_path: Path) -> None:
    """A new TURN name renews coturn's certificate; a new ng port moves rtpengine's control socket."""
    a = _prepare(tmp_path)
    first = tmp_path / "first"
    assert a.audit(report=first) == 0
    text = a.site.read_text().replace("host: turn.lab.voipctl.test", "host: turn2.lab.voipctl.test")
    a.site.write_text(text + "\nrtpengine:\n  ng_port: 2224\n")
    for argv in (["pki", "issue", str(a.site), "--pki-dir", str(a.pki)],
                 ["render", str(a.site), "-o", str(a.out), "--pki-dir", str(a.pki)]):
        assert main(argv) == 0, argv
    assert a.audit("--previous", str(first)) == 0
    changes = a.doc()["changes"]
    assert [(r["node"], r["service"]) for r in changes["certificates_renewed"]] == [("media1", "coturn")]
    assert [(s["what"], s["ports"]) for s in changes["listeners_added"]] == [("rtpengine ng", "2224")]
    assert [(s["what"], s["ports"]) for s in changes["listeners_removed"]] == [("rtpengine ng", "2223")]
    added = {(m["control"], m["text"]) for m in changes["lines_added"]}
    assert ("rtpengine-control-private", "listen-ng = 10.77.0.12:2224") in added
    assert changes["controls_added"] == changes["controls_removed"] == []
