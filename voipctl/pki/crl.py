"""The CRLs verifiers load: the intermediate's (revoked leaves) and the root's (retired intermediates).

Why both: kamailio's `crl` turns on OpenSSL's CRL_CHECK | CRL_CHECK_ALL, so every
certificate of a peer's chain needs a current CRL from its issuer — the intermediate
one from the root too. The intermediate's CRL lives CRL_DAYS and `pki issue`/`renew`
re-sign it at half its life (the daily timer); the root's lives ROOT_CRL_DAYS and
`pki init` re-signs it (it needs the root key, which may live offline).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from voipctl.errors import PkiError
from voipctl.pki import keys
from voipctl.pki.ca import CertificateAuthority
from voipctl.pki.revoke import CRL_DAYS, build_crl, crl_path, revoked_records
from voipctl.pki.store import (
    PUBLIC_MODE,
    PkiLayout,
    is_encrypted,
    load_cert,
    load_key,
    read_optional,
    write_atomic,
)

ROOT_CRL_DAYS = 365
ROOT_CRL_RESIGN = timedelta(days=90)  # `pki init` re-signs the root's CRL when less is left
CRL_RESIGN = timedelta(days=CRL_DAYS) / 2  # `pki issue`/`renew` re-sign the intermediate's at half life


def root_crl_path(lay: PkiLayout) -> Path:
    return lay.root_cert.parent / "crl.pem"


def load_crl(path: Path) -> x509.CertificateRevocationList | None:
    data = read_optional(path)
    if data is None:
        return None
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError:
        raise PkiError(f"{path}: not a PEM CRL") from None


def _due(path: Path, now: datetime, margin: timedelta) -> bool:
    crl = load_crl(path)
    return crl is None or crl.next_update_utc is None or crl.next_update_utc - now < margin


def intermediate_crl_due(lay: PkiLayout, now: datetime) -> bool:
    """Missing, past half its life, or not signed by the current intermediate (after a rotation)."""
    crl = load_crl(crl_path(lay))
    if crl is None or _due(crl_path(lay), now, CRL_RESIGN):
        return True
    try:
        return not crl.is_signature_valid(load_cert(lay.intermediate_cert).public_key())  # type: ignore[arg-type]
    except TypeError:
        return True


def refresh_intermediate_crl(lay: PkiLayout, ca: CertificateAuthority, now: datetime) -> str | None:
    """Re-sign the intermediate's CRL when `intermediate_crl_due`; what was done, or None."""
    if not intermediate_crl_due(lay, now):
        return None
    crl = build_crl(ca, revoked_records(lay), now)
    write_atomic(crl_path(lay), crl.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE)
    return f"signed the intermediate's CRL ({len(crl)} revoked, next update {crl.next_update_utc:%Y-%m-%d})"


def retired_intermediates(lay: PkiLayout) -> list[x509.Certificate]:
    """Intermediates `init --rotate-intermediate` retired: the root's CRL revokes them."""
    return [load_cert(p) for p in sorted((lay.intermediate_cert.parent / "retired").glob("*/ca.crt"))]


def root_crl_due(lay: PkiLayout, now: datetime) -> bool:
    """Missing, near its next update, or not listing every retired intermediate."""
    if _due(root_crl_path(lay), now, ROOT_CRL_RESIGN):
        return True
    crl = load_crl(root_crl_path(lay))
    assert crl is not None  # noqa: S101 - _due is True for a missing CRL
    return any(crl.get_revoked_certificate_by_serial_number(c.serial_number) is None
               for c in retired_intermediates(lay))


def sign_root_crl(lay: PkiLayout, root: x509.Certificate, root_key: keys.SigningKey, now: datetime) -> str:
    """The root's CRL: every retired intermediate revoked (a rotation cuts the old one off)."""
    builder = (x509.CertificateRevocationListBuilder().issuer_name(root.subject).last_update(now)
               .next_update(now + timedelta(days=ROOT_CRL_DAYS)))
    retired = retired_intermediates(lay)
    for cert in retired:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build())
    crl = builder.sign(root_key, keys.signature_hash(root_key))
    write_atomic(root_crl_path(lay), crl.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE)
    return f"signed the root's CRL ({len(retired)} retired intermediate(s) revoked, next update " \
           f"{crl.next_update_utc:%Y-%m-%d})"


def ensure_root_crl(lay: PkiLayout, root_passphrase: str | None, now: datetime) -> str | None:
    """`pki init`'s part: (re-)sign the root's CRL when due and the root key is here; what was done."""
    if not root_crl_due(lay, now):
        return None
    if not lay.root_key.exists():
        return f"the root's CRL is due but {lay.root_key} is not here (offline?): sign it where the key is"
    secret = root_passphrase if is_encrypted(lay.root_key) else None
    root_key = keys.as_signing_key(load_key(lay.root_key, secret), str(lay.root_key))
    return sign_root_crl(lay, load_cert(lay.root_cert), root_key, now)


def crl_bundle(lay: PkiLayout) -> bytes | None:
    """What a verifier loads: the intermediate's CRL then the root's; None until both exist."""
    parts = [read_optional(crl_path(lay)), read_optional(root_crl_path(lay))]
    if parts[0] is None or parts[1] is None:
        return None
    return parts[0] + parts[1]


def _current(path: Path, issuer: Path, now: datetime) -> tuple[x509.CertificateRevocationList | None, str]:
    """The CRL at `path` if signed by the certificate at `issuer` and not past its next update; else why not."""
    crl = load_crl(path)
    if crl is None:
        return None, f"no CRL at {path}"
    try:
        valid = crl.is_signature_valid(load_cert(issuer).public_key())  # type: ignore[arg-type]
    except (TypeError, InvalidSignature):
        valid = False
    if not valid:
        return None, f"{path} is not signed by {issuer}"
    if crl.next_update_utc is None or crl.next_update_utc <= now:
        return None, f"the CRL {path} expired at {crl.next_update_utc}"
    return crl, ""


def revocation_problem(lay: PkiLayout, serials: list[int], now: datetime) -> str | None:
    """Why a chain with these certificate serials must not be trusted, or None: one of them is revoked
    (a leaf by the intermediate, a retired intermediate by the root), or a CRL is missing or stale."""
    why = []
    for path, issuer, fix in ((crl_path(lay), lay.intermediate_cert, "`voipctl pki renew`"),
                              (root_crl_path(lay), lay.root_cert, "`voipctl pki init`")):
        crl, problem = _current(path, issuer, now)
        if crl is None:
            return f"{problem}: run {fix}"
        why += [f"certificate {s:x} is revoked ({path}, since {entry.revocation_date_utc:%Y-%m-%d %H:%M} UTC)"
                for s in serials if (entry := crl.get_revoked_certificate_by_serial_number(s)) is not None]
    return "; ".join(why) or None


def revocation_check(lay: PkiLayout) -> Callable[[list[int]], str | None]:
    """`revocation_problem` of this site's store at the time of each call (what verify's TLS checks use)."""
    return lambda serials: revocation_problem(lay, serials, datetime.now(UTC))
