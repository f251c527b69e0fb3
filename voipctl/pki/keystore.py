"""Openfire's PKCS#12 keystore: Java reads it directly (no keytool import step on the host).

PKCS#12 files carry random salts, so a keystore is built once and kept while
it still holds the same key and chain under the same password; render only
copies the stored bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from voipctl.pki import keys

# PBES2/AES-256 with an HMAC-SHA256 MAC: what Java 17's keytool reads and writes by default.
_KDF_ROUNDS = 10_000


def build_keystore(
    alias: str, key: keys.SigningKey, cert: x509.Certificate, chain: Sequence[x509.Certificate], password: str
) -> bytes:
    """A password-protected PKCS#12 with one private-key entry: `key`, `cert` and its intermediates."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    return pkcs12.serialize_key_and_certificates(alias.encode(), key, cert, list(chain), encryption)


def keystore_holds(
    data: bytes, password: str, key: keys.SigningKey, cert: x509.Certificate, chain: Sequence[x509.Certificate]
) -> bool:
    """Whether a stored keystore opens with `password` and holds exactly this key and chain."""
    try:
        got_key, got_cert, got_chain = pkcs12.load_key_and_certificates(data, password.encode())
    except ValueError:
        return False
    if got_key is None or got_cert is None:
        return False
    return (
        keys.same_public_key(got_key.public_key(), key.public_key())
        and got_cert == cert
        and list(got_chain) == list(chain)
    )
