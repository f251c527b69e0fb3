"""Key generation and naming: the site's key kinds mapped to `cryptography` keys."""

from __future__ import annotations

from typing import Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PublicKeyTypes

KeyKind = Literal["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072"]
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_CURVES: dict[str, ec.EllipticCurve] = {"ecdsa-p256": ec.SECP256R1(), "ecdsa-p384": ec.SECP384R1()}
_RSA_BITS = {"rsa-2048": 2048, "rsa-3072": 3072}


def generate(kind: KeyKind) -> SigningKey:
    """A fresh private key of `kind`."""
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind])
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[kind])


def kind_of(public_key: PublicKeyTypes) -> str:
    """The site-file name of a key (`ecdsa-p256`, `rsa-2048`, ...), or a description of a foreign one."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for name, curve in _CURVES.items():
            if public_key.curve.name == curve.name:
                return name
        return f"ecdsa-{public_key.curve.name}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}"
    return type(public_key).__name__


def signature_hash(issuer_key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | hashes.SHA384:
    """SHA-384 for P-384 signers (matching strength), SHA-256 otherwise."""
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey) and issuer_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def as_signing_key(key: object, what: str) -> SigningKey:
    """Narrow a loaded key to one we can sign with; the store only ever holds EC or RSA keys."""
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return key
    raise TypeError(f"{what}: unsupported key type {type(key).__name__}")


def same_public_key(a: PublicKeyTypes, b: PublicKeyTypes) -> bool:
    """Whether two public keys are the same key (compared by their DER encoding)."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(serialization.Encoding.DER, fmt) == b.public_bytes(serialization.Encoding.DER, fmt)
