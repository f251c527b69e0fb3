"""The TLS and PKI section: every TLS endpoint's floor, ciphers and certificate; the CA and its keys.

Certificates are read from the site's PKI store (public parts only); of the
private keys only the file mode and whether the PEM is encrypted are reported.
"""

from __future__ import annotations

import stat
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from voipctl.errors import PkiError
from voipctl.pki import keys
from voipctl.pki.leaf import san_names
from voipctl.pki.store import CERT_FILE, PkiLayout, load_cert
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import CertPlan, TlsPlan
from voipctl.render.openfire import TLS_PROTOCOLS


def _days(not_after: datetime, now: datetime) -> int:
    return (not_after - now) // timedelta(days=1)


def cert_info(path: Path, now: datetime) -> dict[str, Any]:
    """Subject, SANs, issuer, key type, validity and fingerprint of one certificate (missing: said so)."""
    if not path.exists():
        return {"path": str(path), "state": "missing"}
    try:
        cert = load_cert(path)
    except PkiError as exc:
        return {"path": str(path), "state": f"unreadable: {exc}"}
    dns, ips = san_names(cert)
    end = cert.not_valid_after_utc
    days = _days(end, now)
    return {"path": str(path), "state": "expired" if days < 0 else "ok", "subject": cert.subject.rfc4514_string(),
            "sans": [*dns, *ips], "issuer": cert.issuer.rfc4514_string(), "key": keys.kind_of(cert.public_key()),
            "serial": f"{cert.serial_number:x}", "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": end.isoformat(), "days_left": days,
            "sha256": cert.fingerprint(hashes.SHA256()).hex(), **_ca_facts(cert)}


def _ca_facts(cert: x509.Certificate) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        facts["basic_constraints"] = {"ca": bc.ca, "path_length": bc.path_length}
    except x509.ExtensionNotFound:
        facts["basic_constraints"] = None
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
        facts["name_constraints"] = {"permitted": [str(n.value) for n in nc.permitted_subtrees or []],
                                     "excluded": [str(n.value) for n in nc.excluded_subtrees or []]}
    except x509.ExtensionNotFound:
        facts["name_constraints"] = None
    return facts


def key_protection(path: Path) -> dict[str, Any]:
    """Mode and encryption of a private key file, from its mode bits and PEM header line only."""
    if not path.exists():
        return {"path": str(path), "present": False}
    with path.open("rb") as fh:
        header = fh.readline()
    return {"path": str(path), "present": True, "mode": f"{stat.S_IMODE(path.stat().st_mode):04o}",
            "encrypted": b"ENCRYPTED" in header}


def _endpoint(node: NodePlan, service: str, socket: str, tls: TlsPlan | None, cert: CertPlan, floor: str,
              ciphers: str) -> dict[str, Any]:
    return {"node": node.name, "service": service, "socket": socket, "floor": floor, "ciphers": ciphers,
            "certificate": f"{cert.node} {cert.service}", "client_certificates": bool(tls and tls.verify_peer)}


def endpoints(plan: Plan) -> list[dict[str, Any]]:
    """Every socket that speaks TLS, with the protocol floor and cipher policy its daemon is given."""
    found = []
    for node in plan.nodes:
        if node.kamailio is not None:
            tls = node.kamailio.tls
            for lst in node.kamailio.listeners:
                if lst.proto in ("tls", "wss"):
                    found.append(_endpoint(node, "kamailio", lst.socket, tls, tls.cert, tls.min_version, tls.ciphers))
        if node.coturn is not None:
            t = node.coturn
            found.append(_endpoint(node, "coturn", f"tls+dtls:{t.listen_address}:{t.tls_port}", t.tls, t.tls.cert,
                                   t.tls.min_version, t.tls.ciphers))
        if node.openfire is not None:
            of = node.openfire
            for port, how in ((of.client_tls_port, "direct TLS"), (of.client_port, "STARTTLS, required")):
                found.append(_endpoint(node, "openfire", f"tcp:{of.client_address}:{port} ({how})", None, of.cert,
                                       TLS_PROTOCOLS.split(",")[0], f"Java defaults for {TLS_PROTOCOLS}"))
    return found


def tls_section(plan: Plan, pki_site_dir: Path, encrypt_root: bool, now: datetime) -> dict[str, Any]:
    lay = PkiLayout(pki_site_dir)
    root, intermediate = cert_info(lay.root_cert, now), cert_info(lay.intermediate_cert, now)
    certs = []
    for node in plan.nodes:
        for want in node.certs:
            info = cert_info(lay.leaf_dir(want.node, want.service) / CERT_FILE, now)
            if "issuer" in info:  # the issuer chain up to the root, as the CA files name it
                info["chain"] = [info["issuer"]] + ([intermediate["issuer"]] if
                                                    info["issuer"] == intermediate.get("subject") else [])
            certs.append({"node": want.node, "service": want.service, "host_path": want.cert_path,
                          "key_path": want.key_path, "key_owner": want.owner, **info})
    ca = {
        "root": root,
        "intermediate": intermediate,
        "root_key": key_protection(lay.root_key) | {"site_requires_encryption": encrypt_root},
        "intermediate_key": key_protection(lay.intermediate_key),
        "note": "The CA keys stay on the control host under the PKI directory; only leaf keys are deployed",
    }
    return {"endpoints": endpoints(plan), "certificates": certs, "ca": ca}
