"""kamailio.cfg / tls.cfg / subscriber SQL rendering: the real `kamailio -c`, sqlite3, and the context.

Sites: inventories/lab, inventories/split and single-node all-roles sites built here.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from voipctl.errors import RenderError
from voipctl.plan.build import build_plan
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import Listener
from voipctl.render import kamailio as kr
from voipctl.render.subscribers import TABLE_VERSIONS
from voipctl.render.tree import PlannedFile
from voipctl.secrets import Secrets
from voipctl.site.load import load_site

REPO = Path(__file__).resolve().parents[3]
KAMAILIO = shutil.which("kamailio")
SHIPPED_SCHEMA = Path("/usr/share/kamailio/db_sqlite")
needs_kamailio = pytest.mark.skipif(KAMAILIO is None, reason="kamailio is not installed")
ROUTES = ("REQINIT", "NATDETECT", "WITHINDLG", "AUTH", "REGISTRAR", "NATMANAGE", "RELAY")


def secrets_for(plan: Plan, **extra: str) -> Secrets:
    values = {"turn_secret": "t" * 32, "topology_key": "k" * 32, "db_password": "Db-pass_1"}
    values |= {f"subscriber:{u}": f"pw-{u}" for u in plan.subscribers}
    return Secrets(values | extra)


def solo_site(directory: Path, sqlite_path: str | None = None, **kamailio: Any) -> Path:
    """A single node carrying every role (written as JSON, which is YAML)."""
    kam: dict[str, Any] = {
        "wss_host": "pbx.solo.voipctl.test",
        "ws_origins": ["https://app.solo.voipctl.test"],
        "transports": {"ws": {"enabled": True, "port": 8080}},
        "sizing": {"children": 2, "tcp_children": 2, "shm_mb": 64, "pkg_mb": 8},
    }
    if sqlite_path is not None:
        kam["auth"] = {"sqlite_path": sqlite_path}
    kam |= kamailio
    doc = {
        "site": "solo",
        "domain": "solo.voipctl.test",
        "nodes": [{"name": "pbx", "roles": ["sip", "media", "turn", "xmpp"], "private": "10.77.0.21",
                   "public": "198.51.100.21"}],
        "kamailio": kam,
        "subscribers": [{"user": "alice"}, {"user": "bob"}],
    }
    path = directory / "site.yml"
    path.write_text(json.dumps(doc, indent=1))
    return path


def minimal_site(directory: Path) -> Path:
    """UDP and TCP only, MySQL auth, no TLS/WebSocket, no scanner list: the optional parts must vanish."""
    off = {"enabled": False, "port": 1}
    return solo_site(
        directory,
        transports={"tls": off | {"port": 5061}, "wss": off | {"port": 443}, "ws": {"enabled": False}},
        auth={"backend": "mysql", "dsn": "kam@db.solo.voipctl.test/kamailio"},
        flood={"scanner_user_agents": []},
    )


def sip_nodes(plan: Plan) -> list[NodePlan]:
    return [n for n in plan.nodes if n.kamailio is not None]


def rendered(plan: Plan, node: NodePlan, secrets: Secrets | None = None) -> dict[str, PlannedFile]:
    return {f.path: f for f in kr.render_kamailio(plan, node, secrets or secrets_for(plan))}


def cfg_text(plan: Plan, node: NodePlan) -> str:
    return rendered(plan, node)["/etc/kamailio/kamailio.cfg"].content.decode()


def _plan(path: Path) -> Plan:
    return build_plan(load_site(path))


@pytest.fixture(params=["lab", "split", "solo", "minimal"])
def site_plan(request: pytest.FixtureRequest, tmp_path: Path) -> Plan:
    if request.param in ("lab", "split"):
        return _plan(REPO / "inventories" / request.param / "site.yml")
    if request.param == "solo":
        return _plan(solo_site(tmp_path))
    return _plan(minimal_site(tmp_path))


@needs_kamailio
def test_real_kamailio_accepts_every_rendered_cfg(site_plan: Plan, tmp_path: Path) -> None:
    nodes = sip_nodes(site_plan)
    assert nodes
    for node in nodes:
        cfg = tmp_path / f"{node.name}.cfg"
        cfg.write_text(cfg_text(site_plan, node))
        res = subprocess.run([str(KAMAILIO), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60,
                             check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        for lst in node.kamailio.listeners if node.kamailio else ():
            assert f"{lst.address}]:{lst.port}" in res.stdout + res.stderr


def test_cfg_is_one_file_with_every_named_route_and_no_ifdef(site_plan: Plan) -> None:
    for node in sip_nodes(site_plan):
        text = cfg_text(site_plan, node)
        assert not re.search(r"^\s*#!(ifdef|ifndef|else|endif|trydef|redefine)", text, re.M)
        assert not re.search(r"^\s*(include_file|import_file)", text, re.M)
        for name in ROUTES:
            assert len(re.findall(rf"^route\[{name}\]", text, re.M)) == 1, name
            assert f"route({name});" in text, name
        assert "{{" not in text and "{%" not in text


def test_files_owners_modes_and_provenance(site_plan: Plan) -> None:
    for node in sip_nodes(site_plan):
        files = rendered(site_plan, node)
        cfg, tls = files["/etc/kamailio/kamailio.cfg"], files["/etc/kamailio/tls.cfg"]
        sql = files[node.kamailio.db.sql_path]
        assert (cfg.owner, cfg.group, cfg.mode) == ("root", "kamailio", 0o640)
        assert (tls.owner, tls.group, tls.mode) == ("root", "kamailio", 0o640)
        assert (sql.owner, sql.group, sql.mode) == ("kamailio", "kamailio", 0o600)
        assert all(f.node == node.name and f.service == "kamailio" for f in files.values())
        marker = f"site {site_plan.site}, model sha256:{site_plan.model_hash[:16]}"
        for f in (cfg, tls, files[kr.MEMORY_ENV_PATH]):
            assert f.content.decode().splitlines()[0].startswith("# generated by voipctl"), f.path
            assert marker in f.content.decode().splitlines()[0]
        assert sql.content.decode().splitlines()[0].startswith("-- generated by voipctl")


def test_rendering_is_deterministic(site_plan: Plan) -> None:
    for node in sip_nodes(site_plan):
        assert kr.render_kamailio(site_plan, node, secrets_for(site_plan)) == kr.render_kamailio(
            site_plan, node, secrets_for(site_plan))


def test_listeners_and_advertise_follow_the_plan() -> None:
    plan = _plan(REPO / "inventories" / "split" / "site.yml")
    node = plan.node("sip-a")
    assert node.kamailio is not None
    text = cfg_text(plan, node)
    listens = re.findall(r"^listen=.*$", text, re.M)
    assert len(listens) == len(node.kamailio.listeners)
    assert "listen=udp:172.20.1.10:5060 advertise 203.0.113.10:5060" in listens
    assert "listen=tls:172.20.1.10:443 advertise 203.0.113.10:443" in listens
    assert 'alias="203.0.113.10"' in text


def test_lab_cfg_carries_plan_values() -> None:
    plan = _plan(REPO / "inventories" / "lab" / "site.yml")
    node = plan.node("sip1")
    kam = node.kamailio
    assert kam is not None
    text = cfg_text(plan, node)
    for module in ("tm", "sl", "rr", "pv", "maxfwd", "usrloc", "registrar", "textops", "siputils", "xlog",
                   "sanity", "jsonrpcs", "kex", "corex", "tls", "xhttp", "websocket", "nathelper", "rtpengine",
                   "auth", "db_sqlite", "pike", "htable"):
        assert f'loadmodule "{module}.so"' in text, module
    assert "auth_db" not in text  # credentials come from the htable cache, not a query per request
    assert f"children={kam.children}\n" in text and f"tcp_children={kam.tcp_shared_readers}\n" in text
    assert f"shm_mem_size={kam.shm_mb}\n" in text
    assert "server_signature=no" in text and "kamailio" not in text.split("server_header=")[1].split("\n")[0]
    assert f'modparam("pike", "sampling_time_unit", {kam.flood_sampling})' in text
    assert f'modparam("pike", "reqs_density_per_unit", {kam.flood_max_requests})' in text
    assert f"autoexpire={kam.flood_ban_seconds};" in text
    assert f"if ($ml > {kam.max_message_bytes})" in text
    assert f'modparam("registrar", "max_expires", {kam.max_expires})' in text
    assert f'modparam("rtpengine", "rtpengine_sock", "{" ".join(kam.rtpengine_sockets)}")' in text
    assert "udp:10.77.0.12:2223" in kam.rtpengine_sockets
    assert 'modparam("htable", "db_url", "sqlite:///var/lib/kamailio/kamailio.sqlite")' in text
    assert f"auth=>size={kam.credential_slots};dbtable=subscriber;cols='username,ha1';" in text
    assert 'pv_auth_check("lab.voipctl.test", "$var(ha1)", "1", "1")' in text
    assert "friendly-scanner|sipvicious" in text
    for origin in kam.ws_origins:
        assert f'$(hdr(Origin){{s.tolower}}) == "{origin}"' in text
    assert '$(hdr(Host){s.tolower}) == "sip1.lab.voipctl.test:443"' in text
    assert "if (($Rp == 443) && !(proto == WS || proto == WSS))" in text
    assert f'rtpengine_manage("{kr.RTP_TO_WEBRTC}")' in text
    assert f'rtpengine_manage("{kr.RTP_TO_PLAIN}")' in text
    assert 'nat_uac_test("83")' in text


def test_split_registrar_bounds_and_postgres_url() -> None:
    plan = _plan(REPO / "inventories" / "split" / "site.yml")
    node = plan.node("sip-a")
    text = cfg_text(plan, node)
    for name, value in (("min_expires", 120), ("default_expires", 600), ("max_expires", 7200)):
        assert f'modparam("registrar", "{name}", {value})' in text
    assert 'loadmodule "db_postgres.so"' in text and "db_sqlite" not in text
    assert 'db_url", "postgres://kamailio:Db-pass_1@172.20.1.50/kamailio")' in text, "db-a by private address"
    assert "tcp_connection_lifetime=7205" in text


def test_unsafe_db_password_is_refused() -> None:
    plan = _plan(REPO / "inventories" / "split" / "site.yml")
    with pytest.raises(RenderError, match="db_password"):
        kr.render_kamailio(plan, plan.node("sip-a"), secrets_for(plan, db_password='a"b@c'))


def test_minimal_site_drops_tls_and_websocket(tmp_path: Path) -> None:
    plan = _plan(minimal_site(tmp_path))
    text = cfg_text(plan, plan.nodes[0])
    for module in ("tls", "xhttp", "websocket"):
        assert f'loadmodule "{module}.so"' not in text
    assert "event_route[xhttp:request]" not in text and "enable_tls=no" in text
    assert "$(ua{s.tolower})" not in text
    assert 'loadmodule "db_mysql.so"' in text
    assert "mysql://kam:Db-pass_1@db.solo.voipctl.test/kamailio" in text


def test_tls_cfg_follows_the_plan(site_plan: Plan) -> None:
    for node in sip_nodes(site_plan):
        assert node.kamailio is not None
        tls = node.kamailio.tls
        text = rendered(site_plan, node)["/etc/kamailio/tls.cfg"].content.decode()
        assert text.count("method = TLSv1.2+") == 2
        assert text.count(f"cipher_list = {tls.ciphers}") == 2
        assert f"private_key = {tls.cert.key_path}" in text
        assert f"certificate = {tls.cert.chain_path}" in text
        assert f"ca_list = {tls.cert.ca_path}" in text
        assert "[server:default]" in text and "[client:default]" in text


def test_tls_floor_kamailio_cannot_enforce_is_refused(tmp_path: Path) -> None:
    plan = _plan(solo_site(tmp_path))
    node = plan.nodes[0]
    assert node.kamailio is not None
    kam = replace(node.kamailio, tls=replace(node.kamailio.tls, min_version="TLSv1.3"))
    with pytest.raises(RenderError, match=r"TLSv1\.3"):
        kr.render_kamailio(plan, replace(node, kamailio=kam), secrets_for(plan))


def _shipped_version(sql_file: str, table: str) -> int:
    text = (SHIPPED_SCHEMA / sql_file).read_text()
    pattern = rf"INSERT INTO version \(table_name, table_version\) values \('{table}','(\d+)'\)"  # noqa: S608
    m = re.search(pattern, text)
    assert m, f"{table} not in {sql_file}"
    return int(m.group(1))


@pytest.mark.skipif(not SHIPPED_SCHEMA.is_dir(), reason="kamailio schema files are not installed")
def test_table_versions_match_kamailio_shipped_schema() -> None:
    assert dict(TABLE_VERSIONS) == {
        "version": _shipped_version("standard-create.sql", "version"),
        "subscriber": _shipped_version("auth_db-create.sql", "subscriber"),
        "location": _shipped_version("usrloc-create.sql", "location"),
    }


def test_sqlite_sql_applies_twice_stores_only_hashes_and_removes_stale(tmp_path: Path) -> None:
    plan = _plan(REPO / "inventories" / "lab" / "site.yml")
    node = plan.node("sip1")
    secrets = secrets_for(plan)
    sql = rendered(plan, node, secrets)[node.kamailio.db.sql_path].content.decode()
    for user in plan.subscribers:
        assert secrets.subscriber(user) not in sql
    db = sqlite3.connect(tmp_path / "k.sqlite")
    db.executescript("CREATE TABLE subscriber (id INTEGER PRIMARY KEY NOT NULL, username VARCHAR(64) DEFAULT '' "
                     "NOT NULL, domain VARCHAR(64) DEFAULT '' NOT NULL, password VARCHAR(64) DEFAULT '' NOT NULL, "
                     "ha1 VARCHAR(128) DEFAULT '' NOT NULL, ha1b VARCHAR(128) DEFAULT '' NOT NULL, CONSTRAINT "
                     "subscriber_account_idx UNIQUE (username, domain));"
                     "INSERT INTO subscriber (username, domain, ha1) VALUES ('gone', 'lab.voipctl.test', 'x'), "
                     "('other', 'elsewhere.test', 'y');")
    db.executescript(sql)
    db.executescript(sql)
    rows = db.execute("SELECT username, domain, password, ha1, ha1b FROM subscriber ORDER BY username").fetchall()
    versions = dict(db.execute("SELECT table_name, table_version FROM version").fetchall())
    db.close()
    assert versions == dict(TABLE_VERSIONS)
    assert [r[0] for r in rows] == ["alice", "bob", "carol", "other"]
    for user, domain, password, ha1, ha1b in rows[:3]:
        pw = secrets.subscriber(user)
        assert domain == "lab.voipctl.test" and password == ""
        assert ha1 == hashlib.md5(f"{user}:lab.voipctl.test:{pw}".encode(), usedforsecurity=False).hexdigest()
        assert ha1b == hashlib.md5(f"{user}@lab.voipctl.test:lab.voipctl.test:{pw}".encode(),
                                   usedforsecurity=False).hexdigest()


def test_server_db_sql_dialects() -> None:
    plan = _plan(REPO / "inventories" / "split" / "site.yml")
    node = plan.node("sip-a")
    assert node.kamailio is not None
    sql = rendered(plan, node)[node.kamailio.db.sql_path].content.decode()
    assert "id SERIAL PRIMARY KEY NOT NULL" in sql
    assert "ON CONFLICT (username, domain) DO UPDATE" in sql
    assert "AND username NOT IN ('1001', '1002', 'ops.oncall'" in sql


@pytest.mark.skipif(not SHIPPED_SCHEMA.is_dir(), reason="kamailio schema files are not installed")
def test_location_table_is_the_one_usrloc_ships(tmp_path: Path) -> None:
    """Same columns, types, defaults and indexes as kamailio's own usrloc-create.sql (sqlite)."""
    plan = _plan(REPO / "inventories" / "lab" / "site.yml")
    node = plan.node("sip1")
    ours = sqlite3.connect(tmp_path / "ours.sqlite")
    ours.executescript(rendered(plan, node, secrets_for(plan))[node.kamailio.db.sql_path].content.decode())
    shipped = sqlite3.connect(tmp_path / "shipped.sqlite")
    shipped.executescript("CREATE TABLE version (table_name VARCHAR(32), table_version INTEGER);\n"
                          + (SHIPPED_SCHEMA / "usrloc-create.sql").read_text())

    def shape(db: sqlite3.Connection) -> tuple[object, ...]:
        columns = db.execute("PRAGMA table_info(location)").fetchall()
        indexes = sorted(tuple(r[2] for r in db.execute(f"PRAGMA index_info('{name}')"))
                         for _, name, *_ in db.execute("PRAGMA index_list(location)"))
        return tuple(columns), tuple(indexes)

    assert shape(ours) == shape(shipped)


def test_mysql_sql_dialect(tmp_path: Path) -> None:
    plan = _plan(minimal_site(tmp_path))
    node = plan.nodes[0]
    assert node.kamailio is not None
    sql = rendered(plan, node)[node.kamailio.db.sql_path].content.decode()
    assert sql.count("ON DUPLICATE KEY UPDATE") == 5
    assert "START TRANSACTION;" in sql and "AUTO_INCREMENT" in sql and "ON CONFLICT" not in sql
    assert "`partition` INTEGER" in sql and "CREATE INDEX" not in sql, "mysql: reserved word quoted, indexes inline"


def test_memory_env_carries_shm_and_pkg(tmp_path: Path) -> None:
    plan = _plan(solo_site(tmp_path))
    env = rendered(plan, plan.nodes[0])[kr.MEMORY_ENV_PATH]
    assert (env.owner, env.mode) == ("root", 0o644)
    text = env.content.decode()
    assert text.endswith('SHM_MEMORY=64\nPKG_MEMORY="8 -x tlsf"\n')
    # kamailio.service's `-m $SHM_MEMORY -M $PKG_MEMORY`, each unbraced $VAR split at whitespace as systemd does
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    words = ["-m", *values["SHM_MEMORY"].strip('"').split(), "-M", *values["PKG_MEMORY"].strip('"').split()]
    assert kr.service_args(plan.nodes[0].kamailio) == words  # type: ignore[arg-type]
    qm = _plan(solo_site(tmp_path, sizing={"children": 2, "memory_manager": "qm"}))
    assert rendered(qm, qm.nodes[0])[kr.MEMORY_ENV_PATH].content.decode().endswith('PKG_MEMORY="16 -x qm"\n')


# ---- the render context, decided in Python ----

def test_listen_line_maps_websocket_to_stream_sockets_and_brackets_ipv6() -> None:
    assert kr.listen_line(Listener("wss", "192.0.2.1", 443, "203.0.113.1")) == kr.ListenLine(
        "tls:192.0.2.1:443", "203.0.113.1:443")
    assert kr.listen_line(Listener("ws", "2001:db8::1", 8080, None)) == kr.ListenLine("tcp:[2001:db8::1]:8080", None)
    assert kr.listen_line(Listener("udp", "192.0.2.1", 5060, "2001:db8::9")).advertise == "[2001:db8::9]:5060"


def test_aliases_bracket_ipv6_advertised_addresses(tmp_path: Path) -> None:
    plan = _plan(solo_site(tmp_path))
    node = plan.nodes[0]
    assert node.kamailio is not None
    lst = replace(node.kamailio.listeners[0], advertise="2001:db8::7")
    kam = replace(node.kamailio, listeners=(lst, *node.kamailio.listeners[1:]))
    assert kr.aliases(plan, replace(node, kamailio=kam))[-1] == "[2001:db8::7]"


def test_scanner_regex_is_lower_case_with_literal_dots() -> None:
    assert kr.scanner_regex(("Friendly-Scanner", "sip.scan/1")) == "friendly-scanner|sip[.]scan/1"
    assert kr.scanner_regex(()) is None


def test_nat_test_includes_websocket_bit() -> None:
    assert kr.nat_test_flags() & 64
    assert kr.nat_test_flags() == 1 + 2 + 16 + 64


def test_rtpengine_flags_per_recipient() -> None:
    webrtc, plain = kr.RTP_TO_WEBRTC.split(), kr.RTP_TO_PLAIN.split()
    for flag in ("UDP/TLS/RTP/SAVPF", "ICE=force", "DTLS=passive", "rtcp-mux-offer", "rtcp-mux-accept"):
        assert flag in webrtc
    for flag in ("RTP/AVP", "ICE=remove", "DTLS=off", "rtcp-mux-demux"):
        assert flag in plain
    assert not set(webrtc) & {"RTP/AVP", "ICE=remove", "rtcp-mux-demux"}


def test_cfg_str_refuses_quotes_and_newlines() -> None:
    assert kr.cfg_str("sip:pinger@x.test") == "sip:pinger@x.test"
    for bad in ('a"b', "a\\b", "a\nb"):
        with pytest.raises(RenderError):
            kr.cfg_str(bad)


def test_context_decides_features(tmp_path: Path) -> None:
    plan = _plan(solo_site(tmp_path))
    node = plan.nodes[0]
    ctx = kr.kamailio_context(plan, node, secrets_for(plan))
    assert ctx["use_ws"] and ctx["enable_tls"] and ctx["enable_tcp"]
    assert ctx["ws_port_expr"] == "$Rp == 443 || $Rp == 8080"
    assert ctx["aliases"] == ("solo.voipctl.test", "pbx.solo.voipctl.test")
    assert ctx["modules"][0] == "tls" and ctx["modules"][-2:] == ("xhttp", "websocket")
    minimal = _plan(minimal_site(tmp_path))
    mctx = kr.kamailio_context(minimal, minimal.nodes[0], secrets_for(minimal))
    assert not mctx["use_ws"] and not mctx["enable_tls"] and mctx["ws_port_expr"] is None


def test_node_without_kamailio_is_an_error() -> None:
    plan = _plan(REPO / "inventories" / "lab" / "site.yml")
    with pytest.raises(RenderError):
        kr.render_kamailio(plan, plan.node("media1"), secrets_for(plan))
