"""Stage a node's rendered files for the sandbox, and a throwaway TLS certificate if needed.

Files go to STAGE/root/<absolute path> with the rendered mode and, when the
user and group exist on this machine, the rendered owner. Nothing is written
outside the stage directory.
"""

from __future__ import annotations

import datetime
import grp
import os
import pwd
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from voipctl.atomicfile import write_atomic
from voipctl.plan.services import CertPlan
from voipctl.render.tree import PlannedFile


def _uid(name: str) -> int:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return 0


def _gid(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return 0


def staged_path(stage: Path, path: str) -> Path:
    """Where an absolute host path lands inside the stage; refuses paths escaping it."""
    if not path.startswith("/") or ".." in Path(path).parts:
        raise ValueError(f"rendered path {path!r} is not a clean absolute path")
    return stage / "root" / path.lstrip("/")


def stage_files(stage: Path, files: Iterable[PlannedFile]) -> None:
    """Write files into the stage with their mode (and owner where it exists here)."""
    for f in files:
        target = staged_path(stage, f.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, f.content, 0o600)
        os.chown(target, _uid(f.owner), _gid(f.group))
        target.chmod(f.mode)


def throwaway_cert(cert: CertPlan, days: int = 2) -> list[PlannedFile]:
    """A self-signed P-256 certificate with the plan's names, at the plan's paths.

    Only for `voipctl check` when the PKI material was not rendered: it proves
    the daemon loads a key and certificate from those paths, nothing more.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cert.common_name)])
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in cert.dns_names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = built.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    out = [PlannedFile(cert.node, cert.key_path, cert.owner, cert.group, 0o600, key_pem, cert.service,
                       sensitive=True)]
    for path in dict.fromkeys((cert.cert_path, cert.chain_path, cert.ca_path)):
        out.append(PlannedFile(cert.node, path, cert.owner, cert.group, 0o644, pem, cert.service))
    return out


def missing_cert_files(cert: CertPlan, files: Iterable[PlannedFile]) -> bool:
    """True when the tree lacks the key or chain a daemon will load."""
    present = {f.path for f in files}
    return cert.key_path not in present or cert.chain_path not in present
