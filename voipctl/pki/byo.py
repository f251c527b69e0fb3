"""Bring your own certificate: check a supplied key/cert/chain before any of it is deployed.

Checks, each reported against the site file's `pki.byo.<service>` entry: the key
matches the certificate, the certificate is currently valid, it names every DNS
name the plan needs for every node running the service, and it chains to the
given CA. IP SANs are not required: public CAs rarely issue them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store
from cryptography.x509.verification import VerificationError as ChainError

from voipctl.errors import Problem, SiteError
from voipctl.pki import keys
from voipctl.pki.leaf import LeafMaterial, san_names
from voipctl.plan.services import CertPlan, CertService
from voipctl.site.dnsnames import dns_covered
from voipctl.site.model import Site


class _Bad(Exception):
    """One BYO problem at a field of the byo entry (internal to this module)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _read(site: Site, field: str, rel: str) -> tuple[Path, bytes]:
    path = (site.path.parent / rel).resolve()
    try:
        return path, path.read_bytes()
    except FileNotFoundError:
        raise _Bad(field, f"{rel}: no such file ({path})") from None
    except OSError as exc:
        raise _Bad(field, f"{rel}: cannot read: {exc.strerror or exc}") from None


def _certs(site: Site, field: str, rel: str) -> list[x509.Certificate]:
    path, data = _read(site, field, rel)
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _Bad(field, f"{rel}: no PEM certificate in {path}") from None
    return found


def _key(site: Site, rel: str) -> keys.SigningKey:
    path, data = _read(site, "key", rel)
    try:
        loaded = serialization.load_pem_private_key(data, None)
    except TypeError:
        raise _Bad("key", f"{rel}: the key is encrypted; supply it unencrypted (it is deployed 0600)") from None
    except ValueError:
        raise _Bad("key", f"{rel}: not a PEM private key ({path})") from None
    try:
        return keys.as_signing_key(loaded, rel)
    except TypeError:
        raise _Bad("key", f"{rel}: only ECDSA and RSA keys are supported") from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _check_chain(cert: x509.Certificate, chain: list[x509.Certificate], roots: list[x509.Certificate],
                 name: str, now: datetime, ca_rel: str) -> None:
    """Path validation with `cryptography`'s verifier: signatures, validity, CA flags, name."""
    # Web-PKI-strict extension rules would reject many private CAs (no keyUsage); require the essentials.
    ca_policy = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
    ee_policy = ExtensionPolicy.permit_all().require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    verifier = (
        PolicyBuilder().store(Store(roots)).time(now).extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_server_verifier(x509.DNSName(name))
    )
    try:
        verifier.verify(cert, chain)
    except ChainError as exc:
        anchors = "; ".join(r.subject.rfc4514_string() for r in roots)
        raise _Bad("ca", f"the certificate (issuer {cert.issuer.rfc4514_string()}) does not chain to {ca_rel} "
                         f"({anchors}) through the given chain: {exc}") from None


def _validate(site: Site, service: CertService, wants: Sequence[CertPlan], now: datetime) -> LeafMaterial:
    byo = site.spec.pki.byo[service]
    key = _key(site, byo.key)
    cert, *extra = _certs(site, "cert", byo.cert)
    chain = extra + (_certs(site, "chain", byo.chain) if byo.chain is not None else [])
    chain = [c for c in dict.fromkeys(chain) if c != cert]  # accept a full chain file too
    roots = _certs(site, "ca", byo.ca)
    for root in roots:
        if not _is_ca(root):
            raise _Bad("ca", f"{byo.ca}: {root.subject.rfc4514_string()} is not a CA certificate (CA:TRUE)")
    if not keys.same_public_key(key.public_key(), cert.public_key()):
        raise _Bad("key", f"{byo.key} does not match the certificate in {byo.cert}")
    if cert.not_valid_after_utc <= now:
        raise _Bad("cert", f"{byo.cert} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if cert.not_valid_before_utc > now:
        raise _Bad("cert", f"{byo.cert} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    dns, _ = san_names(cert)
    for want in wants:
        missing = [n for n in want.dns_names if not dns_covered(n, dns)]
        if missing:
            raise _Bad("cert", f"{byo.cert} does not cover {', '.join(missing)} (needed by {service} on node "
                               f"{want.node}); its DNS names are: {', '.join(dns) or 'none'}")
    try:
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = {ExtendedKeyUsageOID.SERVER_AUTH}
    if ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        raise _Bad("cert", f"{byo.cert} is not allowed for TLS servers (no serverAuth extended key usage)")
    _check_chain(cert, chain, roots, wants[0].dns_names[0], now, byo.ca)
    return LeafMaterial(key=key, cert=cert, intermediates=tuple(chain), roots=tuple(roots))


def load_byo(site: Site, service: CertService, wants: Sequence[CertPlan], now: datetime) -> LeafMaterial:
    """The validated material for `service`, or a SiteError naming the byo entry's line."""
    try:
        return _validate(site, service, wants, now)
    except _Bad as bad:
        raise SiteError([byo_problem(site, service, bad.field, bad.message)]) from None


def load_all_byo(site: Site, wants: dict[CertService, list[CertPlan]], now: datetime) -> dict[str, LeafMaterial]:
    """Every BYO entry the plan uses, checked before anything is written; all problems at once."""
    found: dict[str, LeafMaterial] = {}
    problems: list[Problem] = []
    for service in site.spec.pki.byo:
        if service not in wants:
            problems.append(byo_problem(site, service, None, f"no node runs {service}; remove this entry"))
            continue
        try:
            found[service] = load_byo(site, service, wants[service], now)
        except SiteError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SiteError(problems)
    return found


def byo_problem(site: Site, service: str, field: str | None, message: str) -> Problem:
    path: tuple[str, ...] = ("pki", "byo", service) + ((field,) if field else ())
    return site.problem(path, message)
