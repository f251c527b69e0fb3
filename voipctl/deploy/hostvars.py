"""Manifest + plan -> the variables playbooks/site.yml runs on (pure).

The manifest says which file goes where with which owner, group and mode; the
plan says what each node runs and on which sockets the health gate checks it.
Nothing here is secret: files are referenced by path, never inlined.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from voipctl.errors import RenderError, UsageError
from voipctl.output.manifest import Manifest, ManifestEntry
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import CertPlan
from voipctl.render.tree import RenderedTree
from voipctl.site.hostdirs import SYSTEM_DIRS

# Play order in site.yml: the firewall first (every later gate and verify runs behind it),
# the site's DB and rtpengine must answer before kamailio starts.
SERVICES: tuple[str, ...] = ("firewall", "postgresql", "rtpengine", "coturn", "kamailio", "openfire")
_KEY_SUFFIXES = ("privkey.pem", ".key", ".p12")

FileVar = dict[str, Any]


def sensitive_rels(tree: RenderedTree, secret_values: Iterable[str]) -> frozenset[str]:
    """Files whose content must never be shown: marked sensitive by their renderer, private, keys, or
    found to hold a secret (a second net under the renderers' flag).

    The playbook copies these with no_log and without diffs.
    """
    needles = [v.encode() for v in secret_values if v]
    found = set()
    for f in tree.files:
        private = f.mode & 0o077 == 0
        if f.sensitive or private or f.path.endswith(_KEY_SUFFIXES) or any(n in f.content for n in needles):
            found.add(f.rel)
    return frozenset(found)


def directories_for(files: list[FileVar]) -> list[dict[str, str]]:
    """Owner and mode of each directory holding a service's files (system dirs left alone).

    A directory whose files all share one owner (or group) gets that owner (or
    group); with a service group it is 0750, so only that daemon can enter it.
    """
    by_dir: dict[str, list[FileVar]] = {}
    for f in files:
        by_dir.setdefault(posixpath.dirname(f["dest"]), []).append(f)
    dirs = []
    for path in sorted(by_dir):
        if path in SYSTEM_DIRS:
            continue
        owners = {f["owner"] for f in by_dir[path]}
        groups = {f["group"] for f in by_dir[path]}
        owner = owners.pop() if len(owners) == 1 else "root"
        group = groups.pop() if len(groups) == 1 else "root"
        dirs.append({"path": path, "owner": owner, "group": group, "mode": "0755" if group == "root" else "0750"})
    return dirs


def _kamailio_gate(node: NodePlan) -> list[dict[str, Any]]:
    """An OPTIONS answered 200 on every listener: over TLS verified against the site CA as the name
    clients check, over WebSocket after an upgrade with the first allowed Origin."""
    kam = node.kamailio
    assert kam is not None  # noqa: S101 - called for kamailio nodes only
    cert = _cert_of(node, "kamailio")
    checks: list[dict[str, Any]] = []
    for lst in kam.listeners:
        check: dict[str, Any] = {"kind": "sip-options", "proto": lst.proto, "host": lst.address, "port": lst.port}
        if lst.proto in ("tls", "wss", "ws"):
            check["server_name"] = lst.tls_name or kam.domain
        if lst.proto in ("tls", "wss"):
            check["ca"] = cert.ca_path if cert is not None else None
        if lst.proto in ("ws", "wss"):
            check["origin"] = kam.ws_origins[0]
        if check not in checks:
            checks.append(check)
    return checks


def gate_checks(node: NodePlan, service: str) -> list[dict[str, Any]]:
    """What the health gate probes on the host after a restart, from the plan's sockets."""
    checks: list[dict[str, Any]] = []
    if service == "kamailio" and node.kamailio is not None:
        checks = _kamailio_gate(node)
    elif service == "rtpengine" and node.rtpengine is not None:
        rtp = node.rtpengine
        checks.append({"kind": "ng-ping", "host": rtp.ng_address, "port": rtp.ng_port})
    elif service == "coturn" and node.coturn is not None:
        turn = node.coturn
        cert = _cert_of(node, "coturn")
        checks += [
            {"kind": "stun", "host": turn.listen_address, "port": turn.port},
            {"kind": "tcp", "host": turn.listen_address, "port": turn.port},
            {"kind": "tls", "host": turn.listen_address, "port": turn.tls_port, "server_name": turn.host,
             "ca": cert.ca_path if cert is not None else None},
        ]
    elif service == "openfire" and node.openfire is not None:
        of = node.openfire
        checks.append({"kind": "tcp", "host": of.client_address, "port": of.client_port})
    elif service == "postgresql" and node.postgresql is not None:
        checks.append({"kind": "tcp", "host": node.postgresql.listen_address, "port": node.postgresql.port})
    return checks


def _tls(cert: CertPlan) -> dict[str, str]:
    """The TLS files of a service; the CRL bundle too where it verifies peers (a new CRL reloads TLS)."""
    paths = {"key": cert.key_path, "cert": cert.cert_path, "chain": cert.chain_path, "ca": cert.ca_path}
    return paths | ({"crl": cert.crl_path} if cert.crl_path is not None else {})


def _cert_of(node: NodePlan, service: str) -> CertPlan | None:
    return next((c for c in node.certs if c.service == service), None)


def _tls_paths(node: NodePlan, service: str) -> frozenset[str]:
    """Paths the certificates role places for this service (the four PEMs, the CRL, Openfire's keystore)."""
    cert = _cert_of(node, service)
    if cert is None:
        return frozenset()
    paths = set(_tls(cert).values())
    if service == "openfire" and node.openfire is not None:
        paths.add(node.openfire.keystore_path)
    return frozenset(paths)


def package_source(package: str | None, site_dir: Path) -> str | None:
    """Openfire's package as Ansible takes it: a URL as is, a path made absolute (relative to the site)."""
    if package is None or package.startswith(("http://", "https://")):
        return package
    path = (site_dir / package).resolve()
    if not path.is_file():
        raise UsageError(f"openfire.package {package}: no such file ({path})")
    return str(path)


def _file_var(entry: ManifestEntry, render_dir: Path, sensitive: frozenset[str], tls: frozenset[str]) -> FileVar:
    return {
        "src": str(render_dir / entry.rel),
        "dest": entry.path,
        "owner": entry.owner,
        "group": entry.group,
        "mode": entry.mode,
        "sha256": entry.sha256,
        "sensitive": entry.rel in sensitive,
        "tls": entry.path in tls,
        "handover": entry.handover_doc(),
    }


def _service_vars(node: NodePlan, service: str, files: list[FileVar], site_dir: Path) -> dict[str, Any]:
    cert = _cert_of(node, service)
    doc: dict[str, Any] = {
        "files": files,
        "dirs": directories_for(files),
        "gate": gate_checks(node, service),
        "tls": _tls(cert) if cert is not None else None,
    }
    if (pin := node.platform.pin(service)) is not None:
        doc["version"] = pin  # apt pin prefix of the node's platform
    if service == "kamailio" and node.kamailio is not None:
        db = node.kamailio.db
        doc["cfg_path"] = node.kamailio.cfg_path
        doc["db"] = {"backend": db.backend, "sqlite_path": db.sqlite_path, "sqlite_dir": db.sqlite_dir,
                     "sql": db.sql_path, "served_by": db.served_by}
    if service == "postgresql" and node.postgresql is not None:
        pg = node.postgresql
        doc |= {"package": pg.package, "unit": pg.unit, "roles_sql": pg.roles_sql_path,
                "subscriber_database": pg.subscriber_database,
                "subscriber_owner": next((g.user for g in pg.grants if g.database == pg.subscriber_database), ""),
                "subscribers_sql": pg.subscribers_sql_path if pg.subscriber_database else None}
    if service == "firewall" and node.firewall is not None:
        fw = node.firewall
        doc["path"], doc["table"], doc["unit"], doc["helper"] = fw.path, fw.table, fw.unit, fw.helper
        doc["revert_seconds"] = fw.revert_seconds
    if service == "openfire" and node.openfire is not None:
        doc["package"] = package_source(node.openfire.package, site_dir)
    return doc


def node_vars(node: NodePlan, entries: Sequence[ManifestEntry], render_dir: Path, sensitive: frozenset[str],
              site_dir: Path) -> dict[str, Any]:
    """One node's variables: its services in play order, each with files, dirs, gate and TLS paths."""
    services = [s for s in SERVICES if getattr(node, s) is not None]
    tls = frozenset().union(*(_tls_paths(node, s) for s in services))
    grouped: dict[str, list[FileVar]] = {s: [] for s in services}
    other: list[FileVar] = []
    for entry in entries:
        var = _file_var(entry, render_dir, sensitive, tls)
        grouped.get(entry.service, other).append(var)
    doc: dict[str, Any] = {"services": services, "other": {"files": other, "dirs": directories_for(other)}}
    for service in services:
        doc[service] = _service_vars(node, service, grouped[service], site_dir)
    return doc


def deploy_vars(plan: Plan, manifest: Manifest, render_dir: Path, sensitive: frozenset[str],
                site_dir: Path) -> dict[str, Any]:
    """Everything site.yml needs, keyed as the playbook reads it."""
    if not manifest.same_model(plan.site, plan.model_hash):
        raise RenderError(f"{render_dir}: the render is not of this site's current model; render it again")
    entries: dict[str, list[ManifestEntry]] = {n.name: [] for n in plan.nodes}
    for entry in manifest.entries:
        if entry.node not in entries:
            raise RenderError(f"{render_dir}: manifest names node {entry.node}, which the site does not have")
        entries[entry.node].append(entry)
    return {
        "voipctl_site": plan.site,
        "voipctl_model_hash": plan.model_hash,
        "voipctl_nodes": {
            n.name: node_vars(n, entries[n.name], render_dir.absolute(), sensitive, site_dir) for n in plan.nodes
        },
    }
