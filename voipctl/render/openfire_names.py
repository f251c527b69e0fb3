"""The property names the targeted Openfire reads, taken from its source.

Why: Openfire ignores a property it does not know, silently (the old
`xmpp.socket.ssl.keystore` rendering configured server-to-server TLS and left
clients on a self-signed certificate). Openfire cannot be installed on the
build machines, so `voipctl check` proves the rendered openfire.xml and
security.xml by name against this list instead of by running Openfire.

Source: github.com/igniterealtime/Openfire, tag v5.1.1 (commit
ed287dd068fec94621a4d7909ea8803e8d4a25e7). Each group names the class that
reads it. Update the version, the commit and the names together.
"""

from __future__ import annotations

import re

OPENFIRE_VERSION = "5.1.1"
OPENFIRE_COMMIT = "ed287dd068fec94621a4d7909ea8803e8d4a25e7"

# XMPPServer.XML_ONLY_PROPERTIES: read from openfire.xml on every start, never from the database.
XML_ONLY = frozenset({
    "adminConsole.port", "adminConsole.securePort", "adminConsole.interface", "network.interface",
    "locale", "fqdn", "setup", "connectionProvider.className",
    "database.defaultProvider.driver", "database.defaultProvider.serverURL", "database.defaultProvider.username",
    "database.defaultProvider.password", "database.defaultProvider.minConnections",
    "database.defaultProvider.maxConnections", "database.defaultProvider.connectionTimeout",
})

# Connection settings (session/ConnectionSettings.java, spi/ConnectionType.java prefixes and
# keystore/CertificateStoreManager.java + spi/ConnectionListener.java suffixes). SOCKET_C2S
# ("xmpp.socket.ssl.client.") has no fallback; WEBADMIN ("admin.web.ssl.") and BOSH fall back to it.
_C2S = "xmpp.socket.ssl.client."
CONNECTIONS = frozenset({
    "xmpp.socket.plain.active", "xmpp.socket.plain.port",
    "xmpp.socket.ssl.active", "xmpp.socket.ssl.port",  # client direct TLS (5223)
    "xmpp.client.tls.policy",
    _C2S + "keystore", _C2S + "keypass", _C2S + "identityStoreType", _C2S + "storeType",
    _C2S + "truststore", _C2S + "trustpass", _C2S + "trustStoreType", _C2S + "protocols", _C2S + "ciphersuites",
    "xmpp.server.socket.active", "xmpp.server.socket.port",
    "xmpp.server.socket.ssl.active", "xmpp.server.socket.ssl.port",  # server direct TLS (5270)
    "xmpp.server.tls.policy", "xmpp.server.dialback.enabled",
    "xmpp.component.socket.active", "xmpp.component.socket.port",
    "xmpp.component.ssl.active", "xmpp.component.ssl.port",  # component direct TLS (5276)
    "xmpp.multiplex.socket.active", "xmpp.multiplex.socket.port",
    "xmpp.multiplex.ssl.active", "xmpp.multiplex.ssl.port",  # connection manager direct TLS (5263)
})

# Services switched off (FileTransferProxy, IQRegisterHandler, HttpBindManager, MediaProxyService,
# UpdateManager, AnonymousSaslServer) and DefaultAdminProvider's XML property.
SERVICES = frozenset({
    "xmpp.proxy.enabled", "register.inband", "httpbind.enabled", "mediaproxy.enabled",
    "update.service-enabled", "xmpp.auth.anonymous", "admin.authorizedUsernames",
})

# XMPPServer.runAutoSetup: read once from <autosetup>, which it then deletes.
AUTOSETUP = frozenset({
    "autosetup.run", "autosetup.locale", "autosetup.xmpp.domain", "autosetup.xmpp.fqdn",
    "autosetup.xmpp.auth.anonymous", "autosetup.xmpp.socket.ssl.active",
    "autosetup.encryption.algorithm", "autosetup.encryption.key",
    "autosetup.database.mode", "autosetup.database.defaultProvider.driver",
    "autosetup.database.defaultProvider.serverURL", "autosetup.database.defaultProvider.username",
    "autosetup.database.defaultProvider.password", "autosetup.database.defaultProvider.minConnections",
    "autosetup.database.defaultProvider.maxConnections", "autosetup.database.defaultProvider.connectionTimeout",
    "autosetup.admin.email", "autosetup.admin.password",
})
# runAutoSetup numbers extra users from 1 until one is missing.
AUTOSETUP_USER = re.compile(r"^autosetup\.users\.user[1-9][0-9]*\.(username|password|name|email)$")

OPENFIRE_XML = XML_ONLY | CONNECTIONS | SERVICES | AUTOSETUP

# JiveGlobals (security.xml): "encrypt." names configure encryption; encrypt.property.name lists
# the properties stored encrypted in openfire.xml and the database.
SECURITY_XML = frozenset({"encrypt.algorithm", "encrypt.key.current", "encrypt.property.name"})


def unknown_openfire_xml(names: list[str]) -> list[str]:
    """Names of an openfire.xml that Openfire v5.1.1 does not read."""
    return [n for n in names if n not in OPENFIRE_XML and not AUTOSETUP_USER.match(n)]


def unknown_security_xml(names: list[str]) -> list[str]:
    """Names of a security.xml that Openfire would not treat as configuration (it would migrate them
    into the database as encrypted properties instead)."""
    return [n for n in names if n not in SECURITY_XML]
