"""The site's own database node (role `db`): which DSNs it serves, and the rules for it.

Why a node of the site: kamailio's subscriber credentials and usrloc (and Openfire) need a server DB
in a split deployment; with a `db` node, deploy installs PostgreSQL there, secures it and
loads the subscriber SQL, instead of handing the SQL to whoever runs an external DB.
A DSN or JDBC URL is served by the `db` node when its host names that node (its name,
FQDN or private address); any other host is an external DB, left to its owner.
"""

from __future__ import annotations

import re

from voipctl.errors import Problem
from voipctl.site.spec import ExternalDb, NodeSpec, SiteSpec
from voipctl.site.yamlsource import SourceMap

POSTGRES_PORT = 5432
_JDBC = re.compile(r"^jdbc:(?P<kind>postgresql|mysql)://(?P<host>\[[^\]]+\]|[^/:]+)(:(?P<port>\d+))?/(?P<db>[^?;]+)")


def db_node(spec: SiteSpec) -> NodeSpec | None:
    return next((n for n in spec.nodes if "db" in n.roles), None)


def names_node(host: str, node: NodeSpec, domain: str) -> bool:
    """Whether a DSN host (name, FQDN or address, no port) is this node."""
    fqdn = node.fqdn or f"{node.name}.{domain}"
    return host.strip("[]").lower() in {node.name, fqdn, str(node.private)}


def dsn_parts(dsn: str) -> tuple[str, str, int, str]:
    """user, host, port, database of a `user@host[:port]/database` DSN."""
    user, _, rest = dsn.partition("@")
    hostport, _, database = rest.partition("/")
    host, port = hostport, POSTGRES_PORT
    m = re.fullmatch(r"(\[[^\]]+\]|[^:]+):(\d+)", hostport)
    if m:
        host, port = m.group(1), int(m.group(2))
    return user, host.strip("[]"), port, database


def jdbc_parts(url: str) -> tuple[str, str, int, str]:
    """kind (postgresql/mysql), host, port, database of a JDBC URL."""
    m = _JDBC.match(url)
    if m is None:
        return "", "", 0, ""
    return m["kind"], m["host"].strip("[]"), int(m["port"] or POSTGRES_PORT), m["db"]


def db_problems(spec: SiteSpec, source: SourceMap) -> list[Problem]:
    """One `db` node at most; what it serves must be PostgreSQL on its default port."""
    out: list[Problem] = []
    found = [i for i, n in enumerate(spec.nodes) if "db" in n.roles]
    for i in found[1:]:
        out.append(source.problem(("nodes", i, "roles"), "only one node may have role 'db'"))
    node = db_node(spec)
    if node is None:
        return out
    auth = spec.kamailio.auth
    if auth.backend != "postgres" or auth.dsn is None:
        out.append(source.problem(("kamailio", "auth", "backend"),
                                  f"node {node.name} has role 'db' (PostgreSQL): set backend: postgres and a dsn "
                                  f"naming it (e.g. kamailio@{node.name}/kamailio)"))
    else:
        _, host, port, _ = dsn_parts(auth.dsn)
        if not names_node(host, node, spec.domain):
            out.append(source.problem(("kamailio", "auth", "dsn"),
                                      f"{host} is not the db node {node.name} (name, FQDN or private address)"))
        elif port != POSTGRES_PORT:
            out.append(source.problem(("kamailio", "auth", "dsn"), f"the db node serves port {POSTGRES_PORT} only"))
    db = spec.openfire.database
    if isinstance(db, ExternalDb):
        kind, host, port, _ = jdbc_parts(db.url)
        if names_node(host, node, spec.domain) and (kind != "postgresql" or port != POSTGRES_PORT):
            out.append(source.problem(("openfire", "database", "url"),
                                      f"the db node {node.name} serves PostgreSQL on port {POSTGRES_PORT} only"))
    return out
