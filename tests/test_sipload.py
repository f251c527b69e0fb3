"""voipctl.sipload's pure parts: SIPp and kamailio argv, credentials file, statistics, /proc CPU sums."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_kamailio_render import solo_site

from voipctl.errors import ToolError
from voipctl.plan.build import build_plan
from voipctl.render.kamailio import service_args
from voipctl.sipload.bed import generated_argv, pinned
from voipctl.sipload.cpu import named_cpu_ns
from voipctl.sipload.sipp import Load, credentials_table, load_argv, read_outcome, uas_argv
from voipctl.site.load import load_site


def test_load_argv_keeps_secrets_off_argv(tmp_path: Path) -> None:
    load = Load("register.xml", 500, 1500, "198.51.100.50", "198.51.100.21:5060", "d.test",
                tmp_path / "u.csv", tmp_path / "s.csv")
    argv = load_argv("sipp", load)
    assert argv[0] == "sipp" and argv[-1] == "198.51.100.21:5060"
    assert argv[argv.index("-r") + 1] == "500" and argv[argv.index("-m") + 1] == "1500"
    assert argv[argv.index("-inf") + 1] == str(tmp_path / "u.csv")
    assert argv[argv.index("-stf") + 1] == str(tmp_path / "s.csv")
    assert "-s" not in argv and "-p" not in argv
    call = load_argv("sipp", Load("uac.xml", 20, 40, "a", "t", "d", tmp_path / "u", tmp_path / "s", "callee", 5090))
    assert call[call.index("-s") + 1] == "callee" and call[call.index("-p") + 1] == "5090"
    uas = uas_argv("sipp", "callee", "d.test", "198.51.100.51", 5070)
    assert uas[uas.index("-s") + 1] == "callee" and uas[uas.index("-i") + 1 :][:3] == ["198.51.100.51", "-p", "5070"]


def test_credentials_table_and_refusals() -> None:
    table = credentials_table([("u1", "pw-1"), ("u2", "pw-2")])
    assert table.splitlines() == ["SEQUENTIAL", "u1;[authentication username=u1 password=pw-1]",
                                  "u2;[authentication username=u2 password=pw-2]"]
    with pytest.raises(ToolError):
        credentials_table([("u1", "has;semicolon")])
    with pytest.raises(ToolError):
        credentials_table([])


def test_read_outcome_takes_the_last_row(tmp_path: Path) -> None:
    stat = tmp_path / "s.csv"
    stat.write_text("StartTime;TotalCallCreated;SuccessfulCall(C);FailedCall(C);\n"
                    "x;10;8;0;\nx;30;27;2;\n")
    out = read_outcome(stat, 3.0)
    assert (out.created, out.successful, out.failed, out.seconds) == (30, 27, 2, 3.0)
    assert out.failed_share == pytest.approx(2 / 30)
    stat.write_text("StartTime;Other\nx;1\n")
    with pytest.raises(ToolError, match="lack a counter"):
        read_outcome(stat, 1.0)
    with pytest.raises(ToolError, match="no statistics"):
        read_outcome(tmp_path / "missing.csv", 1.0)


def test_named_cpu_sums_every_thread_of_matching_processes(tmp_path: Path) -> None:
    for pid, comm, threads in ((10, "kamailio", (100, 50)), (11, "kamailio", (7,)), (12, "sipp", (999,))):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
        for tid, ns in enumerate(threads):
            task = tmp_path / str(pid) / "task" / str(pid + tid)
            task.mkdir(parents=True)
            task.joinpath("schedstat").write_text(f"{ns} 0 0\n")
    assert named_cpu_ns([10, 11, 12, 13], "kamailio", proc=tmp_path) == (157, 2)


def test_generated_argv_is_the_unit_s_options_in_the_sandbox(tmp_path: Path) -> None:
    kam = build_plan(load_site(solo_site(tmp_path))).nodes[0].kamailio
    assert kam is not None
    argv = generated_argv(kam, tmp_path / "stage", tmp_path / "run")
    assert argv[argv.index("--") + 1 :] == ["kamailio", "-DD", "-E", "-f", kam.cfg_path, "-Y",
                                            str(tmp_path / "run"), *service_args(kam)]
    assert pinned(0, ["kamailio"]) == ["taskset", "-c", "0", "kamailio"]
