"""`pki issue`: bring every node's leaf material in the store up to date with the plan.

Idempotent: a leaf that still fits the plan, the key type and its CA, and has
not used 2/3 of its lifetime, is kept, and no file is rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography import x509

from voipctl.errors import PkiError
from voipctl.pki import keys
from voipctl.pki.byo import load_all_byo
from voipctl.pki.ca import CertificateAuthority, load_ca
from voipctl.pki.constraints import require_within
from voipctl.pki.keystore import build_keystore, keystore_holds
from voipctl.pki.leaf import LeafMaterial, issue_leaf, renewal_reason
from voipctl.pki.revoke import revoked_serials
from voipctl.pki.store import (
    CERT_FILE,
    KEY_FILE,
    KEY_MODE,
    KEYSTORE_FILE,
    ORIGIN_FILE,
    PUBLIC_MODE,
    PkiLayout,
    load_cert,
    load_key,
    read_optional,
    read_origin,
    write_atomic,
)
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import CertPlan, CertService
from voipctl.site.model import Site

Action = Literal["issued", "renewed", "kept", "installed"]
Origin = Literal["issued", "byo"]


@dataclass(frozen=True)
class IssueResult:
    """What happened to one node's certificate for one service, and why."""

    node: str
    service: str
    action: Action
    reason: str
    written: tuple[str, ...]


def _existing(lay: PkiLayout, want: CertPlan) -> tuple[x509.Certificate, keys.SigningKey] | None:
    """The stored issued leaf for `want`, or None when absent or unreadable."""
    leaf = lay.leaf_dir(want.node, want.service)
    if read_origin(lay, want.node, want.service) != "issued":
        return None
    if not (leaf / CERT_FILE).exists() or not (leaf / KEY_FILE).exists():
        return None
    try:
        return load_cert(leaf / CERT_FILE), keys.as_signing_key(load_key(leaf / KEY_FILE), str(leaf / KEY_FILE))
    except (PkiError, TypeError):
        return None


def _store(lay: PkiLayout, want: CertPlan, material: LeafMaterial, origin: Origin, keep_key: bool) -> list[str]:
    """Write the leaf's files (skipping identical ones); the key is left alone when `keep_key`."""
    leaf = lay.leaf_dir(want.node, want.service)
    written: list[str] = []
    for name, (data, mode) in material.files().items():
        if keep_key and name == KEY_FILE:
            continue
        if write_atomic(leaf / name, data, mode):
            written.append(name)
    if write_atomic(leaf / ORIGIN_FILE, f"{origin}\n".encode(), PUBLIC_MODE):
        written.append(ORIGIN_FILE)
    return written


def _keystore(lay: PkiLayout, want: CertPlan, material: LeafMaterial, password: str) -> list[str]:
    """Openfire's PKCS#12, rebuilt only when its key, chain or password no longer match."""
    path = lay.leaf_dir(want.node, want.service) / KEYSTORE_FILE
    current = read_optional(path)
    if current is not None and keystore_holds(current, password, material.key, material.cert,
                                              material.intermediates):
        return []
    data = build_keystore(want.common_name, material.key, material.cert, material.intermediates, password)
    write_atomic(path, data, KEY_MODE)
    return [KEYSTORE_FILE]


def _one(
    site: Site, lay: PkiLayout, ca: CertificateAuthority, want: CertPlan, byo: LeafMaterial | None, now: datetime,
    revoked: frozenset[int] = frozenset(),
) -> tuple[IssueResult, LeafMaterial]:
    kind: keys.KeyKind = site.spec.pki.leaf_key
    if byo is not None:
        written = _store(lay, want, byo, "byo", keep_key=False)
        note = "bring-your-own material " + ("updated" if written else "unchanged")
        return IssueResult(want.node, want.service, "installed" if written else "kept", note,
                           tuple(written)), byo
    existing = _existing(lay, want)
    if existing is not None:
        cert, key = existing
        why = renewal_reason(cert, key, want, kind, ca, now, revoked)
        if why is None:
            material = LeafMaterial(key=key, cert=cert, intermediates=(ca.intermediate,), roots=(ca.root,))
            written = _store(lay, want, material, "issued", keep_key=True)
            return IssueResult(want.node, want.service, "kept", "valid and up to date", tuple(written)), material
        action: Action = "renewed"
        reason = why
    else:
        previous = read_origin(lay, want.node, want.service)
        reason = "replacing bring-your-own material" if previous == "byo" else "no certificate yet"
        action = "issued"
    material = issue_leaf(want, kind, ca, site.spec.pki.leaf_days, now)
    written = _store(lay, want, material, "issued", keep_key=False)
    return IssueResult(want.node, want.service, action, reason, tuple(written)), material


def wanted_certs(plan: Plan) -> dict[CertService, list[CertPlan]]:
    """The plan's CertPlans grouped by service, in node order."""
    found: dict[CertService, list[CertPlan]] = {}
    for node in plan.nodes:
        for want in node.certs:
            found.setdefault(want.service, []).append(want)
    return found


def _keystore_password(node: NodePlan, password: str | None) -> str:
    if password is None:
        raise PkiError(f"node {node.name} runs Openfire but no openfire_keystore_password was given")
    return password


def issue_site(
    site: Site, plan: Plan, lay: PkiLayout, keystore_password: str | None, now: datetime,
    ca_passphrase: str | None = None,
) -> list[IssueResult]:
    """Issue, renew, install (BYO) or keep every leaf the plan needs; returns one result per leaf.
    `ca_passphrase` decrypts an encrypted intermediate key."""
    ca = load_ca(lay, site.name, ca_passphrase)
    byo = load_all_byo(site, wanted_certs(plan), now)  # every BYO problem raised before any write
    require_within(ca.intermediate, [c for n in plan.nodes for c in n.certs if c.service not in byo])
    results: list[IssueResult] = []
    revoked = revoked_serials(lay)
    for node in plan.nodes:
        for want in node.certs:
            result, material = _one(site, lay, ca, want, byo.get(want.service), now, revoked)
            if node.openfire is not None and want is node.openfire.cert:
                extra = _keystore(lay, want, material, _keystore_password(node, keystore_password))
                if extra:
                    result = IssueResult(result.node, result.service, result.action, result.reason,
                                         (*result.written, *extra))
            results.append(result)
    return results
