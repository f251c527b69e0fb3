"""Openfire's openfire.xml (autosetup seed) for one XMPP node."""

from __future__ import annotations

from voipctl.errors import RenderError
from voipctl.plan.model import NodePlan, OpenfirePlan, Plan
from voipctl.render.engine import provenance, render_traced
from voipctl.render.tree import PlannedFile
from voipctl.secrets import Secrets

# Java (JSSE) protocol names; OpenSSL-style cipher strings do not apply to Openfire.
TLS_PROTOCOLS = "TLSv1.2,TLSv1.3"

_JDBC_DRIVERS = {
    "jdbc:postgresql:": "org.postgresql.Driver",
    "jdbc:mysql:": "com.mysql.cj.jdbc.Driver",
}


def jdbc_driver(url: str) -> str:
    """The JDBC driver class for an external database URL.

    Computed here because OpenfirePlan carries only the URL; the lead may move
    this into the plan as `db_driver`.
    """
    for prefix, driver in _JDBC_DRIVERS.items():
        if url.startswith(prefix):
            return driver
    raise RenderError(f"no JDBC driver known for {url.split('//', 1)[0]} (postgresql or mysql)")


def xml_comment(text: str) -> str:
    """Wrap text in an XML comment; `--` is not allowed inside one."""
    return f"<!-- {text.replace('--', '- -')} -->"


def _context(plan: Plan, node: NodePlan, of: OpenfirePlan, secrets: Secrets) -> dict[str, object]:
    body = provenance("", plan.site, plan.model_hash).strip()
    return {
        "header": xml_comment(body),
        "node": node,
        "of": of,
        "tls_protocols": TLS_PROTOCOLS,
        "admin_password": secrets["openfire_admin_password"],
        "keystore_password": secrets["openfire_keystore_password"],
        "db_password": secrets["openfire_db_password"] if of.db_url else "",
        "db_driver": jdbc_driver(of.db_url) if of.db_url else "",
    }


def render_openfire(plan: Plan, node: NodePlan, secrets: Secrets) -> list[PlannedFile]:
    """openfire.xml; Openfire rewrites it after autosetup, so openfire must own it."""
    of = node.openfire
    if of is None:
        raise RenderError(f"node {node.name} has no openfire in the plan")
    content, controls = render_traced("openfire/openfire.xml.j2", **_context(plan, node, of, secrets))
    return [PlannedFile(node.name, of.conf_path, "openfire", "openfire", 0o640, content.encode(), "openfire",
                        sensitive=True, controls=controls)]
