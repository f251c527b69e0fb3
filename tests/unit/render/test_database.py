"""The `db` node: plan (who may log in, where kamailio connects), its rendered files, SCRAM verifiers.

The live proof (PostgreSQL accepting the verifiers, kamailio authenticating from it, the
firewall and pg_hba refusing others) is tests/lab/test_lab_cloud.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from tests.conftest import REPO
from tests.unit.render.test_kamailio_render import secrets_for
from voipctl.pipeline import load_and_plan
from voipctl.plan.model import Plan
from voipctl.render.database import hba_lines, render_postgresql, scram_verifier
from voipctl.render.kamailio import memory_env, render_kamailio
from voipctl.verify.hosts.packages import PackagePin, package_pins, unit_of

SPLIT = REPO / "inventories" / "split" / "site.yml"


def _plan() -> Plan:
    return load_and_plan(SPLIT)[1]


def test_kamailio_connects_to_the_db_nodes_private_address_and_only_its_clients_may() -> None:
    plan = _plan()
    sip, xmpp, db = plan.node("sip-a"), plan.node("xmpp-a"), plan.node("db-a")
    assert sip.kamailio is not None and db.postgresql is not None and db.firewall is not None
    assert (sip.kamailio.db.host, sip.kamailio.db.served_by) == (db.private, "db-a")
    pg = db.postgresql
    assert pg.listen_address == db.private
    assert [(g.database, g.user, g.secret, g.clients) for g in pg.grants] == [
        ("kamailio", "kamailio", "db_password", (f"{sip.private}/32",)),
        ("openfire", "openfire", "openfire_db_password", (f"{xmpp.private}/32",)),
    ]
    rule = next(r for r in db.firewall.rules if r.what == "postgresql")
    assert (rule.address, rule.port_min, rule.sources) == (db.private, 5432, pg.clients)
    for node in plan.nodes:
        assert node.firewall is not None
        opened = [r for r in node.firewall.rules if r.port_min <= 5432 <= r.port_max and r.proto == "tcp"]
        assert opened == ([rule] if node.name == "db-a" else []), node.name


def test_db_node_files_hold_no_password_and_admit_the_clients_only() -> None:
    plan = _plan()
    db, sip = plan.node("db-a"), plan.node("sip-a")
    assert db.postgresql is not None
    secrets = secrets_for(plan, openfire_db_password="of-pw-not-on-the-db-node")
    files = {f.path: f for f in render_postgresql(plan, db, secrets)}
    pg = db.postgresql
    assert set(files) == {pg.conf_path, pg.hba_path, pg.roles_sql_path, pg.subscribers_sql_path}
    for f in files.values():
        assert (f.owner, f.group, f.service) == ("postgres", "postgres", "postgresql")
        assert secrets["db_password"].encode() not in f.content
        assert secrets["openfire_db_password"].encode() not in f.content
        assert (f.mode, f.sensitive) == ((0o600, True) if f.path.endswith(".sql") else (0o644, False))
    conf = files[pg.conf_path].content.decode()
    assert f"listen_addresses = '{db.private}'\n" in conf and f"hba_file = '{pg.hba_path}'\n" in conf
    hba = [ln for ln in files[pg.hba_path].content.decode().splitlines() if ln and not ln.startswith("#")]
    assert hba == ["local   all       postgres  peer", *hba_lines(pg)]
    assert hba_lines(pg) == (f"host    kamailio  kamailio  {sip.private}/32  scram-sha-256",
                             f"host    openfire  openfire  {plan.node('xmpp-a').private}/32  scram-sha-256")
    roles = files[pg.roles_sql_path].content.decode()
    assert roles.count("PASSWORD 'SCRAM-SHA-256$4096:") == 2
    kam_sql = next(f for f in render_kamailio(plan, sip, secrets) if f.path.endswith(".sql"))
    assert files[pg.subscribers_sql_path].content == kam_sql.content
    assert render_postgresql(plan, db, secrets) == render_postgresql(plan, db, secrets)


def test_scram_verifier_checks_rfc7677s_exchange() -> None:
    """The server side of RFC 7677's example exchange, run on our verifier: the proof verifies, and the
    server signature is the one the RFC prints."""
    verifier = scram_verifier("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    head, keys = verifier.split("$", 1)[1].split("$")
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    assert head == "4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth = f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}".encode()
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    signature = hmac.new(stored, auth, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored
    assert base64.b64encode(hmac.new(server, auth, hashlib.sha256).digest()).decode() == \
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_a_debian13_db_node_runs_its_releases_postgresql(tmp_path: Path) -> None:
    """PostgreSQL's major version names its package, unit and cluster directory: 17 on Debian 13."""
    site = tmp_path / "site.yml"
    text = SPLIT.read_text()
    site.write_text(text.replace("  - name: db-a\n", "  - name: db-a\n    platform: debian13\n", 1))
    (tmp_path / "subscribers.yml").write_text((SPLIT.parent / "subscribers.yml").read_text())
    old, new = _plan().node("db-a"), load_and_plan(site)[1].node("db-a")
    assert old.postgresql is not None and new.postgresql is not None
    assert (old.postgresql.package, old.postgresql.unit) == ("postgresql-15", "postgresql@15-main")
    assert (new.postgresql.package, new.postgresql.unit) == ("postgresql-17", "postgresql@17-main")
    assert new.postgresql.conf_path == "/etc/postgresql/17/main/conf.d/voipctl.conf"
    assert package_pins(new)["postgresql"] == (PackagePin("postgresql-17", "17."),)
    assert unit_of(new, "postgresql") == "postgresql@17-main"


def test_debian12_kamailio_reaches_the_db_node_without_ssl_and_debian13_keeps_libpqs_default(tmp_path: Path) -> None:
    """kamailio 5.6's children share OpenSSL's error state: their SSL connects at start hung the unit."""
    plan = _plan()
    sip = plan.node("sip-a")
    assert sip.kamailio is not None and sip.kamailio.db.libpq_sslmode == "disable"
    assert "\nPGSSLMODE=disable\n" in memory_env(plan, sip)
    site = tmp_path / "site.yml"
    site.write_text(SPLIT.read_text().replace("  - name: sip-a\n", "  - name: sip-a\n    platform: debian13\n", 1))
    (tmp_path / "subscribers.yml").write_text((SPLIT.parent / "subscribers.yml").read_text())
    plan13 = load_and_plan(site)[1]
    sip13 = plan13.node("sip-a")
    assert sip13.kamailio is not None and sip13.kamailio.db.libpq_sslmode is None
    assert "PGSSLMODE" not in memory_env(plan13, sip13)
