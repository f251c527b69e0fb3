"""Where PKI material lives under `pki/<site>/`, and how it is written.

Every write is atomic (temp file in the same directory, mode set before any
byte is written, then rename), and a write of identical bytes and mode is
skipped, so an idempotent run leaves every mtime alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from voipctl import atomicfile
from voipctl.errors import PkiError

KEY_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700

# Leaf file names inside leaves/<node>/<service>/ (the host paths come from the plan).
KEY_FILE = "privkey.pem"
CERT_FILE = "cert.pem"
CHAIN_FILE = "fullchain.pem"
CA_FILE = "ca.pem"
KEYSTORE_FILE = "keystore.p12"
ORIGIN_FILE = "origin"


@dataclass(frozen=True)
class PkiLayout:
    """Paths of one site's material; `root` is DIR/<site name>."""

    root: Path

    @property
    def root_key(self) -> Path:
        return self.root / "root" / "ca.key"

    @property
    def root_cert(self) -> Path:
        return self.root / "root" / "ca.crt"

    @property
    def intermediate_key(self) -> Path:
        return self.root / "intermediate" / "ca.key"

    @property
    def intermediate_cert(self) -> Path:
        return self.root / "intermediate" / "ca.crt"

    def leaf_dir(self, node: str, service: str) -> Path:
        return self.root / "leaves" / node / service


def layout(pki_dir: Path, site: str) -> PkiLayout:
    """Material of `site` under the --pki-dir directory."""
    return PkiLayout(pki_dir / site)


def write_atomic(path: Path, data: bytes, mode: int) -> bool:
    """Write `data` to `path` with `mode` (directories created 0700); True when written."""
    _make_dirs(path.parent)
    return atomicfile.write_atomic(path, data, mode)


def _make_dirs(path: Path) -> None:
    """Create missing directories as 0700: the tree holds private keys."""
    missing: list[Path] = []
    cur = path
    while not cur.exists():
        missing.append(cur)
        cur = cur.parent
    for item in reversed(missing):
        item.mkdir(mode=DIR_MODE, exist_ok=True)
        item.chmod(DIR_MODE)


def read_optional(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PkiError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_origin(lay: PkiLayout, node: str, service: str) -> str | None:
    """`issued` or `byo` for a stored leaf, None when there is none."""
    data = read_optional(lay.leaf_dir(node, service) / ORIGIN_FILE)
    return data.decode(errors="replace").strip() if data is not None else None


def load_cert(path: Path) -> x509.Certificate:
    """One PEM certificate from the store."""
    data = read_optional(path)
    if data is None:
        raise PkiError(f"{path}: missing")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PkiError(f"{path}: not a PEM certificate") from None


def load_key(path: Path, passphrase: str | None = None) -> PrivateKeyTypes:
    """One PEM private key from the store (decrypted with `passphrase` when given)."""
    data = read_optional(path)
    if data is None:
        raise PkiError(f"{path}: missing")
    password = passphrase.encode() if passphrase is not None else None
    try:
        return serialization.load_pem_private_key(data, password)
    except TypeError:
        if password is None:
            raise PkiError(f"{path}: key is encrypted but no passphrase was given") from None
        raise PkiError(f"{path}: key is not encrypted; unset pki.encrypt_root or re-create the CA") from None
    except ValueError:
        raise PkiError(f"{path}: cannot load private key (wrong passphrase or not a PEM key)") from None


def is_encrypted(path: Path) -> bool:
    """Whether a stored PEM key is encrypted (PKCS#8 or legacy), read from its header only."""
    data = read_optional(path) or b""
    return data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") or b"Proc-Type: 4,ENCRYPTED" in data[:200]


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKeyTypes, passphrase: str | None = None) -> bytes:
    """PKCS#8 PEM; encrypted with the best available scheme when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase is not None
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
