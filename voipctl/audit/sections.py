"""Exposure, secrets and drift sections of the audit, from the plan, the render and verify's report.

The secrets section says which secret sits in which file, with owner and mode;
it never carries a value or a hash of one.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from voipctl.plan.model import Plan
from voipctl.render.derived import DERIVED_KEYS, derived_key
from voipctl.render.subscribers import digest_ha1
from voipctl.render.tree import RenderedTree
from voipctl.secrets import Secrets

FIREWALL_NOTE = ("voipctl deploys no firewall: each socket's audience is enforced only by the address it binds "
                 "(and by the checks that prove nothing else answers)")


def secret_forms(plan: Plan, secrets: Secrets) -> dict[str, list[str]]:
    """Every form in which each stored secret can appear in output: its value, keys derived from it, HA1s."""
    forms = {name: [value] for name, value in secrets.values.items() if value}
    if "topology_key" in forms:
        forms["topology_key"] += [derived_key(secrets, purpose) for purpose in DERIVED_KEYS.values()]
    realms = {n.kamailio.domain for n in plan.nodes if n.kamailio is not None}
    for user in plan.subscribers:
        key = f"subscriber:{user}"
        if key in forms:
            forms[key] += [digest_ha1(u, realm, secrets.subscriber(user))
                           for realm in realms for u in (user, f"{user}@{realm}")]
    return forms


def _form_name(secret: str, form: int) -> str:
    if form == 0:
        return "value"
    return "digest HA1" if secret.startswith("subscriber:") else "derived key (HMAC-SHA256)"


def secrets_section(tree: RenderedTree, forms: Mapping[str, list[str]], store: Path) -> dict[str, Any]:
    """Which secret lives in which rendered file (found by its forms, reported by name only)."""
    files = []
    for f in tree.files:
        text = f.content.decode(errors="replace")
        held = sorted({f"{name} ({_form_name(name, i)})" for name, values in forms.items()
                       for i, value in enumerate(values) if value in text})
        if f.path.endswith(".pem") and f.sensitive:
            held.append("TLS private key")
        elif f.path.endswith(".p12"):
            held.append("TLS private key in a PKCS#12 keystore (locked with openfire_keystore_password)")
        if held or f.sensitive:
            files.append({"node": f.node, "path": f.path, "owner": f.owner, "group": f.group,
                          "mode": f"{f.mode:04o}", "holds": held})
    try:
        mode = f"{stat.S_IMODE(store.stat().st_mode):04o}"
    except OSError:
        mode = "missing"
    return {"store": {"path": str(store), "mode": mode, "names": sorted(forms)}, "files": files}


def audience(address: str, public: bool) -> str:
    if ip_address(address).is_loopback:
        return "loopback"
    return "public" if public else "private"


def exposure_section(plan: Plan) -> list[dict[str, Any]]:
    """Per node every socket the plan makes a daemon bind, with its audience; there is no firewall to cite."""
    nodes = []
    for node in plan.nodes:
        sockets = [{"service": b.service, "what": b.what, "proto": b.proto, "address": b.address,
                    "ports": b.ports, "audience": audience(b.address, b.public), "firewall": None}
                   for b in node.bindings]
        nodes.append({"node": node.name, "private": node.private, "public": node.public, "sockets": sockets,
                      "firewall": FIREWALL_NOTE})
    return nodes


def drift_section(verify: Mapping[str, Any] | None) -> dict[str, Any]:
    """Manifest vs hosts, as verify found it (its host:file and render checks); nothing else reaches the hosts."""
    if verify is None:
        return {"checked": False, "note": "not checked: give --verify-json with a report of `voipctl verify`"}
    files = [o for o in verify.get("outcomes", []) if o.get("group") in ("host:file", "render")]
    drifted = [{"host": o.get("host", ""), "check": o.get("name", ""), "status": o.get("status", ""),
                "detail": o.get("detail", "")} for o in files if o.get("status") != "passed"]
    note = (f"{len(files)} file checks, {len(drifted)} not passed" if files
            else "the verify report holds no file checks (run without --no-hosts)")
    return {"checked": bool(files), "at": verify.get("started"), "note": note, "problems": drifted}
