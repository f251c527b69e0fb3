"""Static check of openfire.xml: Openfire cannot run here, so check what it will read.

The file must be well-formed, every property the plan relies on must appear
exactly once with the plan's value, and secrets must be present (not shown).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from voipctl.plan.model import OpenfirePlan

SECRET = object()  # the value must be present and non-empty; never printed


def expectations(of: OpenfirePlan) -> dict[str, object]:
    """Dotted property -> value the plan requires (SECRET: non-empty, not compared)."""
    want: dict[str, object] = {
        "autosetup.run": "true",
        "autosetup.xmpp.domain": of.domain,
        "autosetup.xmpp.fqdn": of.fqdn,
        "autosetup.xmpp.auth.anonymous": "false",
        "autosetup.xmpp.socket.ssl.active": "true",
        "autosetup.database.mode": "standard" if of.db_url else "embedded",
        "autosetup.admin.password": SECRET,
        "autosetup.admin.email": of.admin_email,
        "adminConsole.interface": of.admin_address,
        "adminConsole.port": str(of.admin_port),
        "adminConsole.securePort": str(of.admin_tls_port),
        "network.interface": of.client_address,
        "xmpp.socket.plain.port": str(of.client_port),
        "xmpp.socket.ssl.port": str(of.client_tls_port),
        "xmpp.socket.ssl.keystore": of.keystore_path,
        "xmpp.socket.ssl.keypass": SECRET,
        "xmpp.socket.ssl.storeType": "PKCS12",
        "xmpp.client.tls.policy": "required",
        "xmpp.server.socket.active": "true" if of.s2s else "false",
        "register.inband": "false",
        "httpbind.enabled": "false",
        "xmpp.proxy.enabled": "false",
    }
    if of.db_url:
        want["autosetup.database.defaultProvider.serverURL"] = of.db_url
        want["autosetup.database.defaultProvider.username"] = of.db_user or ""
        want["autosetup.database.defaultProvider.password"] = SECRET
    return want


def _find(root: ET.Element, dotted: str) -> list[ET.Element]:
    return root.findall("./" + "/".join(dotted.split(".")))


def problems(content: bytes, of: OpenfirePlan) -> list[str]:
    """Everything wrong with a rendered openfire.xml, in plain words (no secret values)."""
    try:
        root = ET.fromstring(content)  # noqa: S314 - the XML voipctl itself rendered
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != "jive":
        return [f"root element is <{root.tag}>, Openfire expects <jive>"]
    out: list[str] = []
    for key, want in expectations(of).items():
        found = _find(root, key)
        if not found:
            out.append(f"{key} is missing")
        elif len(found) > 1:
            out.append(f"{key} appears {len(found)} times")
        else:
            value = (found[0].text or "").strip()
            if want is SECRET and not value:
                out.append(f"{key} is empty")
            elif want is not SECRET and value != want:
                out.append(f"{key} is {value!r}, the plan says {want!r}")
    return out
