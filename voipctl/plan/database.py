"""The `db` node's PostgreSQL and the DB address kamailio uses: derived once, here.

Kamailio reaches a DB the site serves at the `db` node's private address (never a
name: its db_url must not depend on DNS). Who may log in is derived from the
roles: kamailio's database from the SIP nodes, Openfire's from the XMPP nodes.
"""

from __future__ import annotations

from ipaddress import ip_network

from voipctl.plan.model import Binding
from voipctl.plan.platform import Platform
from voipctl.plan.services import DbGrant, DbPlan, PostgresqlPlan
from voipctl.site.database import POSTGRES_PORT, db_node, dsn_parts, jdbc_parts, names_node
from voipctl.site.model import Site
from voipctl.site.spec import ExternalDb, NodeSpec

_MODULES = {"sqlite": "db_sqlite", "postgres": "db_postgres", "mysql": "db_mysql"}


def _hosts(nodes: tuple[NodeSpec, ...]) -> tuple[str, ...]:
    return tuple(str(ip_network(str(n.private))) for n in nodes)


def kamailio_db(site: Site) -> DbPlan:
    """The subscriber and usrloc DB: sqlite, the site's `db` node (by private address) or an external server."""
    auth = site.spec.kamailio.auth
    user, host, _, database = dsn_parts(auth.dsn or "@/")
    hostport = (auth.dsn or "@/").partition("@")[2].partition("/")[0]  # an external DB: as the site wrote it
    server = db_node(site.spec)
    if server is not None and auth.dsn is not None and names_node(host, server, site.spec.domain):
        private = str(server.private)
        hostport = f"[{private}]" if ":" in private else private
    else:
        server = None
    return DbPlan(
        backend=auth.backend,
        module=_MODULES[auth.backend],
        sqlite_path=auth.sqlite_path,
        user=user,
        host=hostport,
        database=database,
        served_by=server.name if server is not None else None,
    )


def _grants(site: Site, node: NodeSpec) -> tuple[DbGrant, ...]:
    grants = []
    auth = site.spec.kamailio.auth
    if auth.dsn is not None:
        user, _, _, database = dsn_parts(auth.dsn)
        grants.append(DbGrant(database, user, "db_password", _hosts(site.nodes_with("sip"))))
    of = site.spec.openfire
    if of.enabled and isinstance(of.database, ExternalDb):
        _, host, _, database = jdbc_parts(of.database.url)
        if names_node(host, node, site.spec.domain):
            grants.append(DbGrant(database, of.database.username, "openfire_db_password",
                                  _hosts(site.nodes_with("xmpp"))))
    return tuple(grants)


def postgresql(site: Site, node: NodeSpec, platform: Platform) -> tuple[PostgresqlPlan, list[Binding]]:
    """PostgreSQL on the node's private address, open to the grants' clients only."""
    grants = _grants(site, node)
    major = platform.postgresql_major
    plan = PostgresqlPlan(
        listen_address=str(node.private),
        port=POSTGRES_PORT,
        grants=grants,
        subscriber_database=grants[0].database if grants else "",
        package=f"postgresql-{major}",
        unit=f"postgresql@{major}-main",
        conf_path=f"/etc/postgresql/{major}/main/conf.d/voipctl.conf",
    )
    binding = Binding("postgresql", "postgresql", "tcp", plan.listen_address, plan.port, plan.port, False,
                      ("nodes", site.node_index(node.name), "roles"), "db-clients")
    return plan, [binding]
