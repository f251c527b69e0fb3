"""TLS material for a node's services, copied byte for byte from the PKI store.

Nothing is generated here (keys, serials and PKCS#12 salts are random), so
rendering twice gives identical bytes; `voipctl pki issue` fills the store.
"""

from __future__ import annotations

from pathlib import Path

from voipctl.pki.crl import crl_bundle
from voipctl.pki.store import CA_FILE, CERT_FILE, CHAIN_FILE, KEY_FILE, KEY_MODE, KEYSTORE_FILE, PUBLIC_MODE, PkiLayout
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import CertPlan
from voipctl.render.tree import PlannedFile


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _leaf_files(lay: PkiLayout, cert: CertPlan) -> list[PlannedFile]:
    """The four PEM files for one service (and the CRL bundle where it verifies peers), or none if any of
    them has not been issued."""
    leaf = lay.leaf_dir(cert.node, cert.service)
    wanted = (
        (KEY_FILE, cert.key_path, KEY_MODE),
        (CERT_FILE, cert.cert_path, PUBLIC_MODE),
        (CHAIN_FILE, cert.chain_path, PUBLIC_MODE),
        (CA_FILE, cert.ca_path, PUBLIC_MODE),
    )
    files: list[PlannedFile] = []
    for name, host_path, mode in wanted:
        data = _read(leaf / name)
        if data is None:
            return []
        files.append(PlannedFile(cert.node, host_path, cert.owner, cert.group, mode, data, cert.service,
                                 sensitive=host_path == cert.key_path))
    if cert.crl_path is not None:
        crl = crl_bundle(lay)
        if crl is None:
            return []
        files.append(PlannedFile(cert.node, cert.crl_path, cert.owner, cert.group, PUBLIC_MODE, crl, cert.service))
    return files


def render_certs(plan: Plan, node: NodePlan, pki_dir: Path | None) -> list[PlannedFile]:
    """Key (0600, service user), certificate, full chain and CA bundle per service; Openfire's keystore.

    `pki_dir` is the site's own directory (DIR/<site>); None or an empty store
    renders nothing, so configs can be rendered before `pki issue`.
    """
    if pki_dir is None:
        return []
    lay = PkiLayout(pki_dir)
    files: list[PlannedFile] = []
    for cert in node.certs:
        leaf = _leaf_files(lay, cert)
        files += leaf
        if leaf and node.openfire is not None and cert == node.openfire.cert:
            keystore = _read(lay.leaf_dir(cert.node, cert.service) / KEYSTORE_FILE)
            if keystore is not None:
                files.append(PlannedFile(node.name, node.openfire.keystore_path, cert.owner, cert.group,
                                         KEY_MODE, keystore, "openfire", sensitive=True))
    return files
