"""verify's report (table, JSON, JUnit XML) and its command line, without hosts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from click.testing import CliRunner
from rich.console import Console

from tests.pki_support import site_copy
from voipctl.cli import cli, main
from voipctl.errors import VerifyFailed
from voipctl.verify.orchestrator import raise_for_report
from voipctl.verify.report.formats import VerifyReport, table, to_json, to_junit
from voipctl.verify.report.outcome import Outcome

OUTCOMES = (
    Outcome("sip", "OPTIONS over UDP", "passed", "200 OK", "sip1", "public", 0.01),
    Outcome("call", "call set up", "failed", "UAC SIPp exit 1: <Timeout> & \"quotes\"", "sip1", "nat->public", 2.5),
    Outcome("xmpp", "STARTTLS required", "skipped", "Openfire has no package", "xmpp1", "public"),
    Outcome("host:file", "/etc/kamailio/kamailio.cfg", "passed", "", "sip1"),
)


def _report(outcomes: tuple[Outcome, ...] = OUTCOMES) -> VerifyReport:
    return VerifyReport("lab", "abc", datetime(2026, 1, 2, tzinfo=UTC), 12.5, outcomes)


def test_json_counts_skips_apart_from_passes() -> None:
    doc = json.loads(to_json(_report()))
    assert doc["summary"] == {"passed": 2, "failed": 1, "skipped": 1, "total": 4}
    assert doc["ok"] is False and doc["site"] == "lab"
    assert doc["outcomes"][2] == {"group": "xmpp", "name": "STARTTLS required", "status": "skipped",
                                  "detail": "Openfire has no package", "host": "xmpp1", "vantage": "public",
                                  "seconds": 0.0}
    assert json.loads(to_json(_report(OUTCOMES[2:3])))["ok"] is True


def test_junit_has_one_suite_per_group_and_skips_as_skipped() -> None:
    root = ET.fromstring(to_junit(_report()))  # noqa: S314 - our own output
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["sip", "call", "xmpp", "host:file"]
    failure = suites["call"].find("testcase/failure")
    assert failure is not None and failure.get("message") == "UAC SIPp exit 1: <Timeout> & \"quotes\""
    skipped = suites["xmpp"].find("testcase/skipped")
    assert skipped is not None and skipped.get("message") == "Openfire has no package"
    case = suites["sip"].find("testcase")
    assert case is not None and case.get("name") == "[sip1 from public] OPTIONS over UDP"
    assert case.find("failure") is None and case.find("skipped") is None


def test_table_and_exit() -> None:
    console = Console(record=True, width=200)
    console.print(table(_report()))
    text = console.export_text()
    assert "FAILED" in text and "SKIPPED" in text and "Openfire has no package" in text
    console = Console(record=True, width=200)
    console.print(table(_report(), only_problems=True))
    assert "OPTIONS over UDP" not in console.export_text()
    assert _report().summary() == "2 passed, 1 failed, 1 skipped of 4 checks in 12.5s"
    try:
        raise_for_report(_report())
    except VerifyFailed as exc:
        assert exc.exit_code == 1 and "call: call set up" in str(exc)
    else:
        raise AssertionError("a failed check must fail verify")
    raise_for_report(_report(OUTCOMES[2:]))  # skipped and passed only: no error


def test_cli_help_and_usage_errors(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["verify", "--help"])
    assert res.exit_code == 0 and "Exit codes:" in res.output and "--junit" in res.output
    site = site_copy(tmp_path, "lab", replace=("site: lab\n", "site: nolab\n"))  # no running lab has this name
    # no lab and no -i: nothing to reach the hosts with
    assert main(["verify", str(site), "--pki-dir", str(tmp_path / "pki"), "--no-probes"]) == 2
    assert main(["verify", str(site), "--vantage", "x=voipctl-no-such-ns"]) == 2
    # no lab and no --vantage: the probes must not quietly run from this machine
    assert main(["verify", str(site), "--pki-dir", str(tmp_path / "pki"), "--no-hosts"]) == 2


def test_browser_asked_for_but_impossible_fails_the_run(tmp_path: Path) -> None:
    site = site_copy(tmp_path, "lab", replace=("site: lab\n", "site: nolab\n"))
    out_json = tmp_path / "r.json"
    code = main(["verify", str(site), "--no-hosts", "--no-probes", "--browser", "-o", str(tmp_path / "none"),
                 "--pki-dir", str(tmp_path / "pki"), "--json", str(out_json)])
    assert code == 1
    browser = [o for o in json.loads(out_json.read_text())["outcomes"] if o["group"] == "browser"]
    assert [o["status"] for o in browser] == ["failed"] and "no lab of site nolab is up" in browser[0]["detail"]


def test_cli_writes_reports_and_fails_without_a_render(tmp_path: Path) -> None:
    site = site_copy(tmp_path, "lab")
    out_json, out_xml = tmp_path / "r.json", tmp_path / "r.xml"
    code = main(["verify", str(site), "--no-hosts", "--no-probes", "-o", str(tmp_path / "none"),
                 "--pki-dir", str(tmp_path / "pki"), "--json", str(out_json), "--junit", str(out_xml)])
    assert code == 1
    doc = json.loads(out_json.read_text())
    assert {o["name"] for o in doc["outcomes"] if o["status"] == "failed"} == {
        "site CA", "render manifest matches the site, its secrets and PKI"}
    assert ET.parse(out_xml).getroot().get("failures") == "2"  # noqa: S314
