"""The `db` node's PostgreSQL files: its settings, its pg_hba, roles and databases, the subscriber SQL.

Passwords reach the node only as SCRAM-SHA-256 verifiers (RFC 7677, PostgreSQL's stored
form), so the DB host never holds a password a client could replay; the salt is derived
from topology_key so the same secrets render the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any

from voipctl.errors import RenderError
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import DbGrant, PostgresqlPlan
from voipctl.render.derived import DERIVED_KEYS, derived_key
from voipctl.render.engine import provenance, render
from voipctl.render.subscribers import subscriber_sql
from voipctl.render.tree import PlannedFile
from voipctl.secrets import Secrets

SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations
_IDENT = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


@dataclass(frozen=True)
class GrantLines:
    database: str
    user: str
    verifier: str


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` as PostgreSQL stores it."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def _ident(value: str) -> str:
    if not _IDENT.match(value):
        raise RenderError(f"{value!r} cannot be a PostgreSQL role or database name here (letters, digits, _.-)")
    return value


def _grant(grant: DbGrant, secrets: Secrets) -> GrantLines:
    salt = bytes.fromhex(derived_key(secrets, f"{DERIVED_KEYS['scram_salt']} {grant.user}"))[:16]
    return GrantLines(_ident(grant.database), _ident(grant.user), scram_verifier(secrets[grant.secret], salt))


def hba_lines(pg: PostgresqlPlan) -> tuple[str, ...]:
    """One `host` line per database, owner and client host."""
    return tuple(f"host    {_ident(g.database)}  {_ident(g.user)}  {ip_network(c)}  scram-sha-256"
                 for g in pg.grants for c in g.clients)


def render_postgresql(plan: Plan, node: NodePlan, secrets: Secrets) -> list[PlannedFile]:
    """postgres-owned files; roles.sql holds the verifiers and subscribers.sql the HA1 hashes (sensitive)."""
    pg = node.postgresql
    if pg is None:
        raise RenderError(f"node {node.name} runs no PostgreSQL")
    common: dict[str, Any] = {"header": provenance("#", plan.site, plan.model_hash), "node": node.name, "pg": pg}
    grants = tuple(_grant(g, secrets) for g in pg.grants)
    files = [
        (pg.conf_path, render("postgresql/voipctl.conf.j2", **common), False),
        (pg.hba_path, render("postgresql/pg_hba.conf.j2", **common, lines=hba_lines(pg)), False),
        (pg.roles_sql_path, render("postgresql/roles.sql.j2", **common | {
            "header": provenance("--", plan.site, plan.model_hash)}, grants=grants), True),
    ]
    kam = next((n.kamailio for n in plan.nodes if n.kamailio is not None and n.kamailio.db.served_by == node.name),
               None)
    if kam is not None:
        files.append((pg.subscribers_sql_path, subscriber_sql(plan, kam, secrets).decode(), True))
    return [PlannedFile(node.name, path, "postgres", "postgres", 0o600 if sensitive else 0o644, text.encode(),
                        "postgresql", sensitive) for path, text, sensitive in files]
