"""Revocation: the intermediate's list of revoked leaves and the CRL it signs.

Why: a leaf whose key leaked must stop being trusted before it expires. `pki revoke`
records it, `pki issue`/`renew` then replace it (new key) and deploy the new one,
and the CRL lets verifiers refuse the old one.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from voipctl.errors import PkiError
from voipctl.pki import keys
from voipctl.pki.ca import CertificateAuthority
from voipctl.pki.store import PUBLIC_MODE, PkiLayout, read_optional, write_atomic

CRL_DAYS = 7  # next update: verifiers treat an older CRL as stale, so renew runs must re-sign it


def revoked_path(lay: PkiLayout) -> Path:
    return lay.intermediate_cert.parent / "revoked.json"


def crl_path(lay: PkiLayout) -> Path:
    return lay.intermediate_cert.parent / "crl.pem"


def revoked_records(lay: PkiLayout) -> list[dict[str, str]]:
    """Every revocation so far: serial (hex), when, and what it was."""
    data = read_optional(revoked_path(lay))
    if data is None:
        return []
    try:
        records = json.loads(data)
    except ValueError:
        raise PkiError(f"{revoked_path(lay)}: not valid JSON") from None
    if not isinstance(records, list):
        raise PkiError(f"{revoked_path(lay)}: expected a list of revocations")
    return records


def revoked_serials(lay: PkiLayout) -> frozenset[int]:
    return frozenset(int(r["serial"], 16) for r in revoked_records(lay))


def build_crl(ca: CertificateAuthority, records: list[dict[str, str]], now: datetime) -> x509.CertificateRevocationList:
    """The intermediate's CRL over `records`, valid for CRL_DAYS."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.intermediate.subject)
        .last_update(now)
        .next_update(now + timedelta(days=CRL_DAYS))
    )
    for rec in records:
        entry = (x509.RevokedCertificateBuilder().serial_number(int(rec["serial"], 16))
                 .revocation_date(datetime.fromisoformat(rec["revoked_at"])).build())
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(ca.intermediate_key, keys.signature_hash(ca.intermediate_key))


def revoke(lay: PkiLayout, ca: CertificateAuthority, serials: dict[int, str], now: datetime) -> list[str]:
    """Record `serials` (serial -> what it was) as revoked and re-sign the CRL; returns what was done."""
    records = revoked_records(lay)
    known = {int(r["serial"], 16) for r in records}
    done = []
    for serial, what in serials.items():
        if serial in known:
            done.append(f"{serial:x} ({what}) was already revoked")
            continue
        records.append({"serial": f"{serial:x}", "revoked_at": now.isoformat(), "what": what})
        done.append(f"revoked {serial:x} ({what})")
    write_atomic(revoked_path(lay), (json.dumps(records, indent=1) + "\n").encode(), PUBLIC_MODE)
    crl = build_crl(ca, records, now)
    write_atomic(crl_path(lay), crl.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE)
    done.append(f"CRL {crl_path(lay)}: {len(records)} revoked, next update {crl.next_update_utc:%Y-%m-%d}")
    return done
