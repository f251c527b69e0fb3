"""`pki status`: every certificate of the site, how long it has left, and what needs attention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from voipctl.errors import CertificatesNeedAttention, PkiError
from voipctl.pki.crl import load_crl, root_crl_path
from voipctl.pki.leaf import common_name, plan_mismatch, san_names
from voipctl.pki.revoke import CRL_DAYS, crl_path, revoked_serials
from voipctl.pki.store import CERT_FILE, PkiLayout, load_cert, read_origin
from voipctl.plan.model import Plan

WARN_DAYS = 30
State = Literal["ok", "expiring", "expired", "missing", "revoked"]
FAILING: frozenset[State] = frozenset({"expiring", "expired", "missing", "revoked"})


@dataclass(frozen=True)
class CertStatus:
    """One row of `pki status`."""

    label: str
    path: Path
    subject: str
    sans: tuple[str, ...]
    issuer: str
    not_after: datetime | None
    days_left: int | None
    state: State
    note: str = ""
    crl: bool = False  # a CRL: not_after is its next update, subject says how many it revokes


def _days_left(not_after: datetime, now: datetime) -> int:
    """Whole days remaining, rounded down; negative once expired."""
    return (not_after - now) // timedelta(days=1)


def _state(not_after: datetime, now: datetime, warn_days: int) -> State:
    if not_after <= now:
        return "expired"
    if not_after - now <= timedelta(days=warn_days):
        return "expiring"
    return "ok"


def _row(label: str, path: Path, now: datetime, warn_days: int, note: str = "",
         revoked: frozenset[int] = frozenset()) -> CertStatus:
    if not path.exists():
        return CertStatus(label, path, "", (), "", None, None, "missing", note or "not issued yet")
    cert = load_cert(path)
    if cert.serial_number in revoked:
        note = "revoked: run `voipctl pki renew`"
    dns, ips = san_names(cert)
    end = cert.not_valid_after_utc
    return CertStatus(
        label=label,
        path=path,
        subject=common_name(cert.subject),
        sans=(*dns, *ips),
        issuer=common_name(cert.issuer),
        not_after=end,
        days_left=_days_left(end, now),
        state="revoked" if cert.serial_number in revoked else _state(end, now, warn_days),
        note=note,
    )


def _leaf_note(origin: str | None, want_note: str | None) -> str:
    if origin == "byo":
        return "bring-your-own"
    return f"{want_note}: run `voipctl pki issue`" if want_note else ""


def collect_status(plan: Plan, lay: PkiLayout, now: datetime, warn_days: int = WARN_DAYS) -> list[CertStatus]:
    """Root, intermediate and every leaf the plan needs, in plan order."""
    rows = [
        _row("root CA", lay.root_cert, now, warn_days, "" if lay.root_cert.exists() else "run `voipctl pki init`"),
        _row("intermediate CA", lay.intermediate_cert, now, warn_days,
             "" if lay.intermediate_cert.exists() else "run `voipctl pki init`"),
    ]
    revoked = revoked_serials(lay)
    for node in plan.nodes:
        for want in node.certs:
            path = lay.leaf_dir(want.node, want.service) / CERT_FILE
            origin = read_origin(lay, want.node, want.service)
            mismatch: str | None = None
            if path.exists() and origin != "byo":
                try:
                    mismatch = plan_mismatch(load_cert(path), want)
                except PkiError as exc:
                    mismatch = str(exc)
            rows.append(_row(f"{want.node} {want.service}", path, now, warn_days,
                             _leaf_note(origin, mismatch), revoked if origin != "byo" else frozenset()))
    return rows


def _crl_row(label: str, path: Path, now: datetime, stale: timedelta, fix: str) -> CertStatus:
    """A CRL as a status row: `expiring` once less than `stale` is left (whoever re-signs it has not run)."""
    crl = load_crl(path)
    if crl is None:
        return CertStatus(label, path, "", (), "", None, None, "missing", f"not signed yet: {fix}", crl=True)
    end = crl.next_update_utc
    if end is None:
        return CertStatus(label, path, "", (), "", None, None, "expired", f"no next update: {fix}", crl=True)
    state: State = "expired" if end <= now else "expiring" if end - now < stale else "ok"
    return CertStatus(label, path, f"{len(crl)} revoked", (), common_name(crl.issuer), end, _days_left(end, now),
                      state, f"next update due: {fix}" if state != "ok" else "", crl=True)


def collect_crl_status(lay: PkiLayout, now: datetime, warn_days: int = WARN_DAYS) -> list[CertStatus]:
    """The intermediate's CRL (stale after 3/4 of its life: `pki renew` re-signs it at half) and the root's."""
    return [
        _crl_row("intermediate CRL", crl_path(lay), now, timedelta(days=CRL_DAYS) / 4, "run `voipctl pki renew`"),
        _crl_row("root CRL", root_crl_path(lay), now, timedelta(days=warn_days),
                 "run `voipctl pki init` where the root key is"),
    ]


def failing(rows: list[CertStatus]) -> list[CertStatus]:
    """Rows that make `pki status --strict` fail: expired, expiring soon, missing, revoked, or a stale CRL."""
    return [r for r in rows if r.state in FAILING]


def require_healthy(rows: list[CertStatus], warn_days: int = WARN_DAYS) -> None:
    """Raise (exit 1) when any row is expired, expires within `warn_days`, or is missing."""
    bad = failing(rows)
    if bad:
        listed = ", ".join(f"{r.label} ({r.state})" for r in bad)
        raise CertificatesNeedAttention(
            f"{len(bad)} certificate(s) or CRL(s) expired, expiring within {warn_days} days (a CRL: due for "
            f"re-signing), missing or revoked: {listed}"
        )
