"""The site's two-tier CA: an offline-able root and the intermediate that signs leaves.

The root signs only the intermediate, so once the intermediate exists the root
key may be moved off the machine; `issue` never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from voipctl.errors import PkiError, UsageError
from voipctl.pki import keys
from voipctl.pki.store import KEY_MODE, PUBLIC_MODE, PkiLayout, cert_pem, is_encrypted, key_pem, load_cert, load_key
from voipctl.pki.store import write_atomic as _write

ROOT_DAYS = 3652  # ten years, leap days included
INTERMEDIATE_DAYS = 1826  # five years at most; clamped to the root's end
BACKDATE = timedelta(minutes=5)  # tolerate small clock skew between hosts


@dataclass(frozen=True)
class CertificateAuthority:
    """What issuing leaves needs: the intermediate's key, and both certificates for chains."""

    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: keys.SigningKey


def _name(site: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "voipctl"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"site {site}"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )


def build_root(site: str, key: keys.SigningKey, now: datetime) -> x509.Certificate:
    """Self-signed root: CA:TRUE pathlen 1 (it signs only the intermediate level)."""
    name = _name(site, f"voipctl {site} Root CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    start = now - BACKDATE
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    return builder.sign(key, keys.signature_hash(key))


def build_intermediate(
    site: str, key: keys.SigningKey, root: x509.Certificate, root_key: keys.SigningKey, now: datetime,
    constraints: x509.NameConstraints | None = None,
) -> x509.Certificate:
    """Intermediate: CA:TRUE pathlen 0, never outliving the root, limited to `constraints` (critical)."""
    start = now - BACKDATE
    end = min(start + timedelta(days=INTERMEDIATE_DAYS), root.not_valid_after_utc)
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(site, f"voipctl {site} Intermediate CA"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
    )
    if constraints is not None:
        builder = builder.add_extension(constraints, critical=True)
    return builder.sign(root_key, keys.signature_hash(root_key))


def init_ca(
    lay: PkiLayout, site: str, root_kind: keys.KeyKind, passphrase: str | None, now: datetime,
    constraints: x509.NameConstraints | None = None, rotate_intermediate: bool = False,
    key_passphrase: str | None = None,
) -> list[str]:
    """Create whatever part of the CA is missing; an existing CA is left exactly as it is, except
    that `rotate_intermediate` retires the intermediate (kept under intermediate/retired/) for a
    new one with the current `constraints`, and that with `key_passphrase` the intermediate key
    (and the root key, unless `passphrase` is the root's own) is stored encrypted with it, an
    existing unencrypted one included.

    A certificate's presence marks its part complete (keys are written first),
    so a run interrupted half-way is finished by the next one.
    """
    done: list[str] = []
    passphrase = passphrase if passphrase is not None else key_passphrase
    done += _encrypt_existing(lay, passphrase, key_passphrase)
    if rotate_intermediate and lay.intermediate_cert.exists():
        done.append(_retire_intermediate(lay))
    if lay.root_cert.exists():
        root = load_cert(lay.root_cert)
        root_key: keys.SigningKey | None = None
    else:
        if lay.intermediate_cert.exists():
            raise PkiError(f"{lay.intermediate_cert} exists without its root {lay.root_cert}; "
                           "restore the root or remove the CA directory")
        root_key = keys.generate(root_kind)
        _write(lay.root_key, key_pem(root_key, passphrase), KEY_MODE)
        root = build_root(site, root_key, now)
        _write(lay.root_cert, cert_pem(root), PUBLIC_MODE)
        done.append(f"created root CA ({root_kind}, encrypted key)" if passphrase else f"created root CA ({root_kind})")
    if not lay.intermediate_cert.exists():
        if root_key is None:
            if not lay.root_key.exists():
                raise PkiError(f"{lay.root_key} is missing: the root key is needed to create the intermediate")
            root_key = keys.as_signing_key(load_key(lay.root_key, passphrase), str(lay.root_key))
        inter_key = keys.generate("ecdsa-p384")
        _write(lay.intermediate_key, key_pem(inter_key, key_passphrase), KEY_MODE)
        inter = build_intermediate(site, inter_key, root, root_key, now, constraints)
        _write(lay.intermediate_cert, cert_pem(inter), PUBLIC_MODE)
        done.append("created intermediate CA (ecdsa-p384" + (", name-constrained" if constraints else "")
                    + (", encrypted key)" if key_passphrase else ")"))
    return done


def _encrypt_existing(lay: PkiLayout, root_passphrase: str | None, key_passphrase: str | None) -> list[str]:
    """Encrypt CA keys made before keys were encrypted by default (the certificates stay as they are)."""
    if key_passphrase is None:
        return []
    done = []
    for path, new in ((lay.root_key, root_passphrase), (lay.intermediate_key, key_passphrase)):
        if path.exists() and not is_encrypted(path) and new is not None:
            _write(path, key_pem(load_key(path), new), KEY_MODE)
            done.append(f"encrypted the existing {path.parent.name} key")
    return done


def _retire_intermediate(lay: PkiLayout) -> str:
    """Move the intermediate's key and certificate aside, as stored (never deleted: the leaves it
    signed still chain to the root)."""
    serial = f"{load_cert(lay.intermediate_cert).serial_number:x}"[:16]
    retired = lay.intermediate_cert.parent / "retired" / serial
    retired.mkdir(parents=True, exist_ok=True, mode=0o700)
    lay.intermediate_key.replace(retired / lay.intermediate_key.name)
    lay.intermediate_cert.replace(retired / lay.intermediate_cert.name)
    return f"retired intermediate CA {serial} to {retired}"


def load_ca(lay: PkiLayout, site: str, passphrase: str | None = None) -> CertificateAuthority:
    """The CA for issuing; a usage error pointing at `pki init` when there is none. `passphrase`
    decrypts an encrypted intermediate key."""
    if not lay.root_cert.exists() or not lay.intermediate_cert.exists():
        raise UsageError(f"no CA for site {site} under {lay.root}: run `voipctl pki init` first")
    root = load_cert(lay.root_cert)
    inter = load_cert(lay.intermediate_cert)
    try:
        inter.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise PkiError(f"{lay.intermediate_cert} was not issued by {lay.root_cert}") from None
    key = keys.as_signing_key(load_key(lay.intermediate_key, passphrase if is_encrypted(lay.intermediate_key)
                                       else None), str(lay.intermediate_key))
    if not keys.same_public_key(key.public_key(), inter.public_key()):
        raise PkiError(f"{lay.intermediate_key} does not match {lay.intermediate_cert}")
    return CertificateAuthority(root=root, intermediate=inter, intermediate_key=key)
