"""Leaf certificates: what one service on one node presents, and when it must be renewed.

SANs, the common name and clientAuth come from the plan's CertPlan; nothing
here derives names or addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from voipctl.errors import PkiError
from voipctl.pki import keys
from voipctl.pki.ca import BACKDATE, CertificateAuthority
from voipctl.pki.store import CA_FILE, CERT_FILE, CHAIN_FILE, KEY_FILE, KEY_MODE, PUBLIC_MODE, cert_pem, key_pem
from voipctl.plan.services import CertPlan

RENEW_FRACTION = 2 / 3


@dataclass(frozen=True)
class LeafMaterial:
    """A key, its certificate, the intermediates above it and the roots clients should trust."""

    key: keys.SigningKey
    cert: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]

    def files(self) -> dict[str, tuple[bytes, int]]:
        """File name -> (bytes, mode) as stored under leaves/<node>/<service>/."""
        chain = b"".join(cert_pem(c) for c in (self.cert, *self.intermediates))
        return {
            KEY_FILE: (key_pem(self.key), KEY_MODE),
            CERT_FILE: (cert_pem(self.cert), PUBLIC_MODE),
            CHAIN_FILE: (chain, PUBLIC_MODE),
            CA_FILE: (b"".join(cert_pem(c) for c in self.roots), PUBLIC_MODE),
        }


def build_leaf(
    want: CertPlan, key: keys.SigningKey, ca: CertificateAuthority, days: int, now: datetime
) -> x509.Certificate:
    """Sign a server (and optionally client) certificate for `want` with the intermediate."""
    start = now - BACKDATE
    end = min(start + timedelta(days=days), ca.intermediate.not_valid_after_utc)
    if end <= now:
        raise PkiError(
            f"the intermediate CA expired on {ca.intermediate.not_valid_after_utc:%Y-%m-%d}; "
            "move the pki/<site>/intermediate directory away and run `voipctl pki init` to make a new one"
        )
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if want.client_auth else [])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in want.dns_names]
    sans += [x509.IPAddress(ip_address(a)) for a in want.ip_addresses]
    inter_ski = ca.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, want.common_name)]))
        .issuer_name(ca.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=is_rsa,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(inter_ski), critical=False)
    )
    return builder.sign(ca.intermediate_key, keys.signature_hash(ca.intermediate_key))


def issue_leaf(want: CertPlan, kind: keys.KeyKind, ca: CertificateAuthority, days: int, now: datetime) -> LeafMaterial:
    """A fresh key and certificate for `want`, with the site's chain."""
    key = keys.generate(kind)
    cert = build_leaf(want, key, ca, days, now)
    return LeafMaterial(key=key, cert=cert, intermediates=(ca.intermediate,), roots=(ca.root,))


def san_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) in the certificate's SAN extension, in certificate order."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), [str(a) for a in ext.get_values_for_type(x509.IPAddress)]


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def renew_at(cert: x509.Certificate) -> datetime:
    """The moment a leaf has used 2/3 of its lifetime and is replaced."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * RENEW_FRACTION


def _eku(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def plan_mismatch(cert: x509.Certificate, want: CertPlan) -> str | None:
    """Why an issued leaf no longer fits the plan's names or usages, or None."""
    dns, ips = san_names(cert)
    if set(dns) != set(want.dns_names) or {ip_address(a) for a in ips} != {ip_address(a) for a in want.ip_addresses}:
        return "SANs changed"
    if common_name(cert.subject) != want.common_name:
        return "common name changed"
    wanted = {ExtendedKeyUsageOID.SERVER_AUTH} | ({ExtendedKeyUsageOID.CLIENT_AUTH} if want.client_auth else set())
    if _eku(cert) != wanted:
        return "extended key usage changed"
    return None


def renewal_reason(
    cert: x509.Certificate, key: keys.SigningKey, want: CertPlan, kind: str, ca: CertificateAuthority, now: datetime,
    revoked: frozenset[int] = frozenset(),
) -> str | None:
    """Why an existing issued leaf must be replaced, or None when it can stay as it is."""
    if cert.serial_number in revoked:
        return "revoked"
    if not keys.same_public_key(key.public_key(), cert.public_key()):
        return "key does not match certificate"
    mismatch = plan_mismatch(cert, want)
    if mismatch is not None:
        return mismatch
    have = keys.kind_of(cert.public_key())
    if have != kind:
        return f"key type {have} -> {kind}"
    try:
        cert.verify_directly_issued_by(ca.intermediate)
    except (ValueError, TypeError, InvalidSignature):
        return "issued by another CA"
    if now >= cert.not_valid_after_utc:
        return "expired"
    if now >= renew_at(cert):
        return "past 2/3 of its lifetime"
    return None
