"""Static check of openfire.xml and security.xml: Openfire cannot run here, so check what it will read.

Both files must be well-formed, every property name in them must be one the
targeted Openfire reads (voipctl.render.openfire_names, taken from its source),
every property the plan relies on must appear exactly once with the plan's value,
and secrets must be present (not shown).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from voipctl.plan.services import OpenfirePlan
from voipctl.render.openfire_names import unknown_openfire_xml, unknown_security_xml

SECRET = object()  # the value must be present and non-empty; never printed


def expectations(of: OpenfirePlan) -> dict[str, object]:
    """Dotted property -> value the plan requires (SECRET: non-empty, not compared)."""
    want: dict[str, object] = {
        "autosetup.run": "true",
        "autosetup.xmpp.domain": of.domain,
        "autosetup.xmpp.fqdn": of.fqdn,
        "autosetup.xmpp.auth.anonymous": "false",
        "autosetup.xmpp.socket.ssl.active": "true",
        "autosetup.encryption.algorithm": "AES",
        "autosetup.encryption.key": SECRET,
        "autosetup.database.mode": "standard" if of.db_url else "embedded",
        "autosetup.admin.password": SECRET,
        "autosetup.admin.email": of.admin_email,
        "adminConsole.interface": of.admin_address,
        "adminConsole.port": str(of.admin_port),
        "adminConsole.securePort": str(of.admin_tls_port),
        "network.interface": of.client_address,
        "xmpp.socket.plain.port": str(of.client_port),
        "xmpp.socket.ssl.port": str(of.client_tls_port),
        # Client TLS (and the admin console, which falls back to it): the site's keystore.
        "xmpp.socket.ssl.client.keystore": of.keystore_path,
        "xmpp.socket.ssl.client.keypass": SECRET,
        "xmpp.socket.ssl.client.identityStoreType": "PKCS12",
        "xmpp.socket.ssl.client.protocols": "TLSv1.2,TLSv1.3",
        "xmpp.client.tls.policy": "required",
        "xmpp.server.socket.active": "true" if of.s2s else "false",
        # Legacy direct-TLS ports: federation 5270, components 5276, connection managers 5263.
        "xmpp.server.socket.ssl.active": "false",
        "xmpp.component.socket.active": "false",
        "xmpp.component.ssl.active": "false",
        "xmpp.multiplex.socket.active": "false",
        "xmpp.multiplex.ssl.active": "false",
        "register.inband": "false",
        "httpbind.enabled": "false",
        "xmpp.proxy.enabled": "false",
    }
    if of.db_url:
        want["autosetup.database.defaultProvider.serverURL"] = of.db_url
        want["autosetup.database.defaultProvider.username"] = of.db_user or ""
        want["autosetup.database.defaultProvider.password"] = SECRET
    return want


# Properties Openfire must store encrypted: security.xml must list them.
MUST_ENCRYPT = ("xmpp.socket.ssl.client.keypass", "database.defaultProvider.password")


def _find(root: ET.Element, dotted: str) -> list[ET.Element]:
    return root.findall("./" + "/".join(dotted.split(".")))


def property_names(root: ET.Element, prefix: str = "") -> list[str]:
    """Dotted names of the leaf elements under root, as Openfire's XMLProperties names them."""
    names: list[str] = []
    for child in root:
        name = f"{prefix}{child.tag}"
        names += property_names(child, name + ".") if len(child) else [name]
    return names


def _parse(content: bytes, root_tag: str) -> ET.Element | str:
    try:
        root = ET.fromstring(content)  # noqa: S314 - the XML voipctl itself rendered
    except ET.ParseError as exc:
        return f"not well-formed XML: {exc}"
    if root.tag != root_tag:
        return f"root element is <{root.tag}>, Openfire expects <{root_tag}>"
    return root


def _unknown(names: list[str]) -> list[str]:
    return [f"{n} is not a property Openfire reads" for n in dict.fromkeys(names)]


def security_problems(content: bytes) -> list[str]:
    """Everything wrong with a rendered security.xml: unknown names, passwords not listed for encryption."""
    root = _parse(content, "security")
    if isinstance(root, str):
        return [root]
    out = _unknown(unknown_security_xml(property_names(root)))
    listed = {(e.text or "").strip() for e in _find(root, "encrypt.property.name")}
    out += [f"{name} is not listed for encryption (it would stay readable)"
            for name in MUST_ENCRYPT if name not in listed]
    return out


def problems(content: bytes, of: OpenfirePlan) -> list[str]:
    """Everything wrong with a rendered openfire.xml, in plain words (no secret values)."""
    root = _parse(content, "jive")
    if isinstance(root, str):
        return [root]
    out = _unknown(unknown_openfire_xml(property_names(root)))
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
