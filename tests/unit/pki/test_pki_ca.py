"""`pki init`: the root and intermediate, their extensions, key protection and idempotence."""

from __future__ import annotations

import stat
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.pki_support import now, pki_layout, plan_of, site_copy, snapshot
from voipctl.errors import PkiError, UsageError
from voipctl.pki.ca import init_ca, load_ca

T = TypeVar("T", bound=x509.ExtensionType)


def _ext(cert: x509.Certificate, cls: type[T]) -> x509.Extension[T]:
    return cert.extensions.get_extension_for_class(cls)


def _curve(cert: x509.Certificate) -> str:
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key.curve.name


def test_init_creates_two_tier_ca(tmp_path: Path) -> None:
    site, _ = plan_of(site_copy(tmp_path, "lab"))
    lay = pki_layout(site, tmp_path)
    t0 = now()
    done = init_ca(lay, site.name, site.spec.pki.root_key, None, t0)
    assert len(done) == 2
    root = x509.load_pem_x509_certificate(lay.root_cert.read_bytes())
    inter = x509.load_pem_x509_certificate(lay.intermediate_cert.read_bytes())

    assert _curve(root) == "secp384r1"
    bc = _ext(root, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1
    ku = _ext(root, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    root_ski = _ext(root, x509.SubjectKeyIdentifier).value
    assert _ext(root, x509.AuthorityKeyIdentifier).value.key_identifier == root_ski.digest
    life = root.not_valid_after_utc - root.not_valid_before_utc
    assert timedelta(days=3650) <= life <= timedelta(days=3653)
    assert root.not_valid_before_utc.tzinfo is not None

    assert inter.issuer == root.subject
    assert _curve(inter) == "secp384r1"
    bc = _ext(inter, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert _ext(inter, x509.KeyUsage).value.key_cert_sign
    assert _ext(inter, x509.AuthorityKeyIdentifier).value.key_identifier == root_ski.digest
    assert inter.not_valid_after_utc - inter.not_valid_before_utc <= timedelta(days=5 * 365 + 2)
    inter.verify_directly_issued_by(root)

    # Independent check: OpenSSL accepts the intermediate as a CA under the root.
    res = subprocess.run(["openssl", "verify", "-CAfile", str(lay.root_cert), str(lay.intermediate_cert)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr

    for key in (lay.root_key, lay.intermediate_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(lay.root.stat().st_mode) == 0o700
    assert b"ENCRYPTED" not in lay.root_key.read_bytes()
    assert load_ca(lay, site.name).intermediate == inter


def test_init_twice_changes_nothing(tmp_path: Path) -> None:
    site, _ = plan_of(site_copy(tmp_path, "lab"))
    lay = pki_layout(site, tmp_path)
    init_ca(lay, site.name, "ecdsa-p384", None, now())
    before = snapshot(lay.root)
    assert init_ca(lay, site.name, "ecdsa-p384", None, now()) == []
    assert snapshot(lay.root) == before


def test_init_finishes_a_missing_intermediate_only(tmp_path: Path) -> None:
    site, _ = plan_of(site_copy(tmp_path, "lab"))
    lay = pki_layout(site, tmp_path)
    init_ca(lay, site.name, "ecdsa-p384", None, now())
    root_bytes = lay.root_cert.read_bytes()
    lay.intermediate_cert.unlink()
    assert init_ca(lay, site.name, "ecdsa-p384", None, now()) == ["created intermediate CA (ecdsa-p384)"]
    assert lay.root_cert.read_bytes() == root_bytes
    load_ca(lay, site.name)


def test_rsa_root_with_encrypted_key(tmp_path: Path) -> None:
    site, _ = plan_of(site_copy(tmp_path, "lab", "pki:\n  root_key: rsa-3072\n  encrypt_root: true\n"))
    lay = pki_layout(site, tmp_path)
    init_ca(lay, site.name, site.spec.pki.root_key, "s3cret-passphrase", now())
    data = lay.root_key.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, None)
    key = serialization.load_pem_private_key(data, b"s3cret-passphrase")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072
    root = x509.load_pem_x509_certificate(lay.root_cert.read_bytes())
    assert isinstance(root.public_key(), rsa.RSAPublicKey)
    load_ca(lay, site.name).intermediate.verify_directly_issued_by(root)

    # Re-creating the intermediate needs the root key: a wrong passphrase is a clear error.
    lay.intermediate_cert.unlink()
    with pytest.raises(PkiError, match="wrong passphrase"):
        init_ca(lay, site.name, "rsa-3072", "not-it", now())
    with pytest.raises(PkiError, match="encrypted"):
        init_ca(lay, site.name, "rsa-3072", None, now())
    assert init_ca(lay, site.name, "rsa-3072", "s3cret-passphrase", now()) == ["created intermediate CA (ecdsa-p384)"]


def test_issue_without_ca_points_at_init(tmp_path: Path) -> None:
    site, _ = plan_of(site_copy(tmp_path, "lab"))
    with pytest.raises(UsageError, match="pki init"):
        load_ca(pki_layout(site, tmp_path), site.name)


def test_intermediate_without_root_is_refused(tmp_path: Path) -> None:
    site, _ = plan_of(site_copy(tmp_path, "lab"))
    lay = pki_layout(site, tmp_path)
    init_ca(lay, site.name, "ecdsa-p384", None, now())
    lay.root_cert.unlink()
    with pytest.raises(PkiError, match="without its root"):
        init_ca(lay, site.name, "ecdsa-p384", None, now())
