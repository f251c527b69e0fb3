"""voipctl.sipload's pure parts: SIPp and kamailio argv, credentials file, statistics, /proc CPU sums."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import pytest

from tests.unit.render.test_kamailio_render import solo_site
from voipctl.errors import ToolError
from voipctl.plan.build import build_plan
from voipctl.render.kamailio import service_args
from voipctl.sipload.bed import CLIENT, NATTED_CALLER, generated_argv, nat_ruleset, pinned
from voipctl.sipload.cpu import named_cpu_ns
from voipctl.sipload.sipp_load import callee_run, load_run, read_outcome
from voipctl.sipp.argv import sipp_argv
from voipctl.sipp.credentials import credentials_csv
from voipctl.site.load import load_site


def test_load_argv_keeps_secrets_off_argv(tmp_path: Path) -> None:
    load = load_run("register.xml", 500, 1500, "198.51.100.50", "198.51.100.21:5060", "d.test",
                    tmp_path / "u.csv", tmp_path / "s.csv")
    argv = sipp_argv("sipp", load)
    assert argv[0] == "sipp" and argv[-1] == "198.51.100.21:5060"
    assert argv[argv.index("-r") + 1] == "500" and argv[argv.index("-m") + 1] == "1500"
    assert argv[argv.index("-inf") + 1] == str(tmp_path / "u.csv")
    assert argv[argv.index("-stf") + 1] == str(tmp_path / "s.csv")
    assert "-s" not in argv and "-p" not in argv
    assert argv[argv.index("-recv_timeout") + 1] == "2000" and argv[-5:-1] == ["-fd", "1", "-max_socket", "64"]
    assert argv[argv.index("contact_port") + 1] == "5060" and argv[argv.index("expires") + 1] == "3600"
    call = sipp_argv("sipp", load_run("uac.xml", 20, 40, "a", "t", "d", tmp_path / "u", tmp_path / "s", "callee", 5090))
    assert call[call.index("-s") + 1] == "callee" and call[call.index("-p") + 1] == "5090"
    uas = sipp_argv("sipp", callee_run("callee", "d.test", "198.51.100.51", 5070))
    assert uas[uas.index("-s") + 1] == "callee" and uas[uas.index("-i") + 1 :][:3] == ["198.51.100.51", "-p", "5070"]


def test_credentials_table_and_refusals() -> None:
    table = credentials_csv([("u1", "pw-1"), ("u2", "pw-2")])
    assert table.splitlines() == ["SEQUENTIAL", "u1;[authentication username=u1 password=pw-1]",
                                  "u2;[authentication username=u2 password=pw-2]"]
    with pytest.raises(ToolError):
        credentials_csv([("u1", "has;semicolon")])
    with pytest.raises(ToolError):
        credentials_csv([])


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


def test_stock_argv_changes_nothing_but_command_line_options(tmp_path: Path) -> None:
    from voipctl.sipload.stock import STOCK_CFG, stock_argv

    kam = build_plan(load_site(solo_site(tmp_path))).nodes[0].kamailio
    assert kam is not None
    argv = stock_argv(kam, tmp_path / "s.sqlite", tmp_path / "run")
    assert argv[argv.index("-f") + 1] == STOCK_CFG
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-A"] == [
        "WITH_AUTH", "WITH_NAT", "WITH_RTPENGINE", f'DBURL="sqlite://{tmp_path / "s.sqlite"}"']
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-l"] == [
        f"{lst.proto}:{lst.address}:{lst.port}" for lst in kam.listeners if lst.proto in ("udp", "tcp")]
    assert argv[argv.index("-n") + 1] == str(kam.children) and argv[argv.index("-N") + 1] == str(kam.tcp_children)
    assert argv[-4:] == ["-m", "64", "-M", "8"]
    assert stock_argv(kam, tmp_path / "s", tmp_path / "r", service_args(kam))[-len(service_args(kam)):] == \
        service_args(kam)


def test_stock_db_uses_the_package_schema(tmp_path: Path) -> None:
    import sqlite3

    from voipctl.render.subscribers import digest_ha1
    from voipctl.sipload.stock import SCHEMA_DIR, stock_db

    if not (SCHEMA_DIR / "auth_db-create.sql").is_file():
        with pytest.raises(ToolError, match="kamailio-sqlite-modules"):
            stock_db(tmp_path / "x.sqlite", "d.test", [("u1", "pw")])
        return
    path = tmp_path / "x.sqlite"
    stock_db(path, "d.test", [("u1", "pw-1"), ("u2", "pw-2")])
    db = sqlite3.connect(path)
    rows = db.execute("SELECT username, domain, password, ha1 FROM subscriber ORDER BY username").fetchall()
    version = db.execute("SELECT table_version FROM version WHERE table_name = 'subscriber'").fetchone()
    db.close()
    assert rows == [("u1", "d.test", "pw-1", digest_ha1("u1", "d.test", "pw-1")),
                    ("u2", "d.test", "pw-2", digest_ha1("u2", "d.test", "pw-2"))]
    assert version == (7,)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ToolError, match="missing"):
        stock_db(tmp_path / "y.sqlite", "d.test", [("u1", "pw")], schema_dir=tmp_path)


def test_ratios_divide_the_right_way_round() -> None:
    from voipctl.sipload.bench import Figures, Settings
    from voipctl.sipload.report import medians, ratios, table

    settings = Settings(register_rates=(300, 5000))
    figures = Figures()
    for config, reg300, reg5000, call, top in (("A", 100, 50, 1000, 20000), ("B", 120, 45, 1500, 16000)):
        for _ in range(3):
            figures.add(config, "register_cpu_us_at_300", reg300)
            figures.add(config, "register_cpu_us_at_5000", reg5000)
            figures.add(config, "call_cpu_us", call)
            figures.add(config, "max_register_rate", top)
    out = ratios(medians(figures), settings, "B")
    assert out["register_cpu_ratio_at_300"] == pytest.approx(1.2)
    assert out["register_cpu_ratio"] == pytest.approx(0.9)  # the worse of the two rates
    assert out["call_cpu_ratio"] == pytest.approx(1.5)
    assert out["max_register_ratio"] == pytest.approx(1.25)
    assert "B/A" in table(medians(figures), settings).splitlines()[0]


def test_rcvbuf_errors_reads_the_udp_counter() -> None:
    from voipctl.sipload.bed import rcvbuf_errors

    snmp = ("Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n"
            "Udp: 1544518 3 304328 1500000 304328 0\nUdpLite: InDatagrams\nUdpLite: 0\n")
    assert rcvbuf_errors(snmp) == 304328
    with pytest.raises(ToolError):
        rcvbuf_errors("Tcp: A\nTcp: 1\n")


def test_the_natted_caller_leaves_as_the_public_client() -> None:
    """The call load's caller is a phone behind NAT: its private source becomes CLIENT for every other
    address, so the stock config anchors its calls in rtpengine too."""
    rules = nat_ruleset(NATTED_CALLER, CLIENT)
    assert f"ip saddr {NATTED_CALLER} ip daddr != {NATTED_CALLER} snat to {CLIENT}" in rules
    assert "type nat hook postrouting priority srcnat" in rules and ip_address(NATTED_CALLER).is_private
