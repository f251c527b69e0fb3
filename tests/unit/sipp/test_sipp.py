"""voipctl.sipp: each scenario once, one argv builder, one credentials file, and the drivers agree with both."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from voipctl.errors import ToolError
from voipctl.sipload.sipp_load import callee_run, load_run
from voipctl.sipp.argv import PCMA_30MS, REGISTER, RING, SCENARIOS, UAC, UAC_UNTIL_BYE, UAS, SippRun, sipp_argv
from voipctl.sipp.credentials import credentials_csv, write_credentials
from voipctl.verify.browser import phone
from voipctl.verify.call import sipp_call

PASSWORD = "s3cret-Pw.1"
# SIPp's own keywords; every other [word] in a scenario must come from a -key on argv.
BUILTIN = {"authentication", "branch", "branch-3", "call_id", "call_number", "field0", "field1", "len",
           "local_ip", "local_ip_type", "local_port", "media_ip", "media_ip_type", "media_port", "next_url", "pid",
           "routes", "service", "transport", "last_cseq_number"}


def used_keys(scenario: str) -> set[str]:
    words = set(re.findall(r"\[([A-Za-z_0-9-]+)\]", (SCENARIOS / scenario).read_text()))
    return {w for w in words if w not in BUILTIN and not w.isdigit()}


def given_keys(argv: list[str]) -> set[str]:
    return {argv[i + 1] for i, a in enumerate(argv) if a == "-key"}


def scenario_of(argv: list[str]) -> str:
    return Path(argv[argv.index("-sf") + 1]).name


def test_each_scenario_exists_once_in_the_product() -> None:
    found = sorted(p.relative_to(SCENARIOS.parent.parent) for p in SCENARIOS.parent.parent.rglob("*.xml"))
    assert found == sorted(Path("sipp/scenarios") / s for s in (REGISTER, RING, UAC, UAC_UNTIL_BYE, UAS))


def test_every_request_asks_for_rport_and_names_one_user_agent() -> None:
    for path in SCENARIOS.glob("*.xml"):
        text = path.read_text()
        vias = re.findall(r"^\s*Via: SIP/2\.0/.*$", text, re.MULTILINE)
        assert all(";rport" in v for v in vias), path.name
        assert set(re.findall(r"User-Agent: (\S+)", text)) <= {"voipctl-sipp"}, path.name


def test_the_callee_rings_then_answers_with_the_codec_it_is_given() -> None:
    text = (SCENARIOS / UAS).read_text()
    assert text.index("SIP/2.0 180 Ringing") < text.index("SIP/2.0 200 OK")
    assert "100 Trying" not in text and "m=audio [media_port] RTP/AVP [audio_pt]" in text


def test_every_driver_gives_the_keys_its_scenario_uses(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    runs = [
        sipp_call.register_run("sipp", tmp_path, csv, "d.test", "198.51.100.253", 5070, "198.51.100.11:5060", 60).argv,
        sipp_call.uas_run("sipp", tmp_path, "bob", "d.test", "198.51.100.253", 5070).argv,
        sipp_call.uac_run("sipp", tmp_path, csv, "bob", "d.test", "192.168.77.2", "198.51.100.11:5060", "c1").argv,
        sipp_argv("sipp", load_run(REGISTER, 5, 10, "a", "t:5060", "d.test", csv, tmp_path / "s")),
        sipp_argv("sipp", load_run(UAC, 5, 10, "a", "t:5060", "d.test", csv, tmp_path / "s", "callee", 5090)),
        sipp_argv("sipp", callee_run("callee", "d.test", "198.51.100.51", 5070)),
    ]
    for scenario, keys in ((phone.REGISTER, {"contact_port": "5090", "expires": "60"}), (phone.ANSWER, {}),
                           (phone.CALL, {"callee": "alice"}), (phone.RING, {})):
        run = phone.PhoneRun(scenario, 5091, None, phone.phone_keys("d.test", **keys),
                             tmp_path / "t", tmp_path / "e", tmp_path / "l")
        runs.append(phone.sipp_argv(run, "198.51.100.253", "bob", ("198.51.100.11", 5060), csv))
    assert {scenario_of(a) for a in runs} == {REGISTER, UAS, UAC, UAC_UNTIL_BYE, RING}
    for argv in runs:
        assert used_keys(scenario_of(argv)) <= given_keys(argv), argv


def test_sipp_argv_orders_and_omits() -> None:
    argv = sipp_argv("sipp", SippRun(UAS, "192.0.2.1", None, 5070, "bob", (("domain", "d"), *PCMA_30MS.keys()),
                                     media_port=6000, rtp_echo=True, calls=None))
    assert argv == ["sipp", "-sf", str(SCENARIOS / UAS), "-s", "bob", "-key", "domain", "d", "-key", "audio_pt", "8",
                    "-key", "audio_codec", "PCMA", "-key", "audio_ptime", "30", "-i", "192.0.2.1", "-p", "5070",
                    "-mi", "192.0.2.1", "-mp", "6000", "-rtp_echo", "-t", "u1", "-nostdin"]
    uac = sipp_argv("sipp", SippRun(UAC, "192.0.2.2", "192.0.2.9:5060", inf=Path("/x.csv"), timeout_s=9,
                                    error_file=Path("/e")))
    assert uac[-1] == "192.0.2.9:5060" and uac[uac.index("-timeout") : uac.index("-timeout") + 3] == [
        "-timeout", "9s", "-timeout_error"]
    assert uac[uac.index("-trace_err") : uac.index("-trace_err") + 3] == ["-trace_err", "-error_file", "/e"]
    assert "-p" not in uac and "-rtp_echo" not in uac and uac[uac.index("-m") + 1] == "1"


def test_credentials_file_is_0600_and_refuses_what_sipp_cannot_carry(tmp_path: Path) -> None:
    path = write_credentials(tmp_path / "c.csv", [("alice", PASSWORD), ("bob", "pw-2")])
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().splitlines() == ["SEQUENTIAL", f"alice;[authentication username=alice password={PASSWORD}]",
                                             "bob;[authentication username=bob password=pw-2]"]
    for user, password in (("alice", "pass word"), ("alice", "a;b"), ("alice", "x]y"), ("alice", "new\nline"),
                           ("al ice", "pw"), ("alice", 'q"uote'), ("alice", "")):
        with pytest.raises(ToolError, match="injection file"):
            credentials_csv([(user, password)])
    with pytest.raises(ToolError):
        credentials_csv([])


@pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (apt-get install sip-tester)")
def test_sipp_loads_every_scenario_with_the_keys_and_refuses_a_missing_one(tmp_path: Path) -> None:
    """SIPp parses a scenario and its keywords at start: a wrong or missing key fails at once."""
    keys = {"domain": "d.test", "expires": "1", "contact_port": "5070", "callee": "c", **dict(PCMA_30MS.keys())}
    inf = write_credentials(tmp_path / "c.csv", [("u", "pw")])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for scenario in (REGISTER, RING, UAC, UAC_UNTIL_BYE, UAS):
        errors = tmp_path / f"{scenario}.errors"
        argv = sipp_argv("sipp", SippRun(scenario, "127.0.0.1", None, port, "u", tuple(keys.items()), inf,
                                         timeout_s=1, error_file=errors))
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        assert "Unsupported keyword" not in out.stdout + out.stderr + (errors.read_text() if errors.exists() else "")
    argv = sipp_argv("sipp", SippRun(UAS, "127.0.0.1", None, port, "u", (("domain", "d.test"),), timeout_s=1))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    assert out.returncode != 0 and "Unsupported keyword 'audio_pt'" in out.stdout + out.stderr
