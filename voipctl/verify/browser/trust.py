"""TLS for the probe: the page's certificate from the site CA, and chromium's trust store.

chromium verifies every certificate it sees (page and WSS) against an NSS database
made for the run at $HOME/.pki/nssdb that trusts only the site's root; no flag
relaxes certificate checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from voipctl.atomicfile import write_atomic
from voipctl.errors import ToolError
from voipctl.pki.ca import load_ca
from voipctl.pki.leaf import issue_leaf
from voipctl.pki.passphrase import unattended_passphrase
from voipctl.pki.store import PkiLayout, cert_pem, key_pem, layout
from voipctl.plan.services import CertPlan
from voipctl.proc import run
from voipctl.proc.run import NOT_FOUND
from voipctl.verify.browser import argv

PAGE_CERT_DAYS = 1


@dataclass(frozen=True)
class PagePki:
    """Where the run's TLS files were written (all inside the run's 0700 directory)."""

    key: Path
    chain: Path
    root: Path


def page_cert_plan(host: str, node: str) -> CertPlan:
    """The page origin's certificate, computed here because the plan has none for it.

    It is a kamailio-side name (kamailio's allowed WebSocket origin), served only by
    the probe for its lifetime; the paths are unused (files go to the run directory).
    """
    return CertPlan(service="kamailio", node=node, common_name=host, dns_names=(host,), ip_addresses=(),
                    client_auth=False, key_path="", cert_path="", chain_path="", ca_path="", owner="root",
                    group="root")


def write_page_pki(lay: PkiLayout, site: str, want: CertPlan, out: Path, now: datetime) -> PagePki:
    """A short-lived leaf for the page signed by the site's intermediate, plus the root to trust."""
    ca = load_ca(lay, site, unattended_passphrase(lay.intermediate_key))
    leaf = issue_leaf(want, "ecdsa-p256", ca, PAGE_CERT_DAYS, now)
    files = PagePki(key=out / "page.key", chain=out / "page.chain.pem", root=out / "root.pem")
    write_atomic(files.key, key_pem(leaf.key), 0o600)
    files.chain.write_bytes(b"".join(cert_pem(c) for c in (leaf.cert, *leaf.intermediates)))
    files.root.write_bytes(b"".join(cert_pem(c) for c in leaf.roots))
    return files


def site_layout(pki_dir: Path, site: str) -> PkiLayout:
    return layout(pki_dir, site)


def _run(cmd: list[str]) -> str:
    res = run(cmd, timeout=30)
    if res.returncode == NOT_FOUND:
        raise ToolError(f"{cmd[0]} is not installed (Debian package libnss3-tools)")
    if not res.ok:
        raise ToolError(f"{' '.join(cmd)} failed: {res.detail(500)}")
    return res.stdout


def make_nssdb(home: Path, root_ca: Path) -> Path:
    """$HOME/.pki/nssdb trusting exactly the site root; returns the database directory."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, mode=0o700)
    _run(argv.nssdb_create_argv(db))
    _run(argv.nssdb_add_ca_argv(db, root_ca))
    if argv.NSS_NICKNAME not in _run(argv.nssdb_list_argv(db)):
        raise ToolError(f"certutil did not record the site root in {db}")
    return db
