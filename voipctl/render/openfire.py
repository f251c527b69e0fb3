"""Openfire's seed files (openfire.xml with <autosetup>, security.xml) for one XMPP node.

Both are placed only until Openfire has finished its first setup (it then writes
<setup>true</setup> into openfire.xml and owns both files); see Handover.
"""

from __future__ import annotations

from voipctl.errors import RenderError
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import OpenfirePlan
from voipctl.render.engine import provenance, render_traced
from voipctl.render.openfire_names import OPENFIRE_VERSION
from voipctl.render.tree import Handover, PlannedFile
from voipctl.secrets import Secrets

# Java (JSSE) protocol names, comma-separated as ConnectionListener reads them.
TLS_PROTOCOLS = "TLSv1.2,TLSv1.3"
# Openfire writes this into openfire.xml when its first setup has finished.
SETUP_DONE = "<setup>true</setup>"
# Properties Openfire must keep encrypted (openfire.xml and database), via security.xml.
ENCRYPTED = ("database.defaultProvider.username", "database.defaultProvider.password",
             "xmpp.socket.ssl.client.keypass")

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
        "openfire_version": OPENFIRE_VERSION,
        "property_key": secrets["openfire_property_key"],
        "admin_password": secrets["openfire_admin_password"],
        "keystore_password": secrets["openfire_keystore_password"],
        "db_password": secrets["openfire_db_password"] if of.db_url else "",
        "db_driver": jdbc_driver(of.db_url) if of.db_url else "",
    }


def render_openfire(plan: Plan, node: NodePlan, secrets: Secrets) -> list[PlannedFile]:
    """openfire.xml and security.xml: seeds Openfire rewrites, so openfire owns them (0600: secrets)."""
    of = node.openfire
    if of is None:
        raise RenderError(f"node {node.name} has no openfire in the plan")
    context = _context(plan, node, of, secrets)
    handover = Handover(of.conf_path, SETUP_DONE)
    files = []
    for template, path in (("openfire/openfire.xml.j2", of.conf_path), ("openfire/security.xml.j2", of.security_path)):
        content, controls = render_traced(template, **context, encrypted_names=ENCRYPTED)
        files.append(PlannedFile(node.name, path, "openfire", "openfire", 0o600, content.encode(), "openfire",
                                 sensitive=True, controls=controls, handover=handover))
    return files
