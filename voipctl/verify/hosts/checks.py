"""The host suite, generated from the Plan and the render manifest: what to assert on each node.

Pure data: each HostCheck names a node, a kind and its parameters; the testinfra
plugin (`plugin`) decides how to reach the node and `judge` how to judge
what it finds. Nothing here knows about SSH.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from voipctl.output.manifest import ManifestEntry
from voipctl.plan.model import NodePlan, Plan
from voipctl.verify.hosts.packages import PROCESSES, PackagePin, openfire_skip_reason, services_of, unit_of

CheckKind = Literal["package", "service", "listening", "listeners", "file", "cert", "firewall"]
CERT_MIN_DAYS = 30


@dataclass(frozen=True)
class HostCheck:
    """One assertion about one node; `skip` says why it cannot apply there."""

    node: str
    kind: CheckKind
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    skip: str | None = None

    @property
    def ident(self) -> str:
        return f"{self.node}: {self.kind} {self.name}"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["params"] = dict(self.params)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> HostCheck:
        return cls(doc["node"], doc["kind"], doc["name"], dict(doc["params"]), doc.get("skip"))


def _service_checks(node: NodePlan, pins: Mapping[str, Sequence[PackagePin]]) -> list[HostCheck]:
    checks: list[HostCheck] = []
    for service in services_of(node):
        skip = openfire_skip_reason(node) if service == "openfire" else None
        for pin in pins.get(service, ()):
            want = f"{pin.version_prefix}*" if pin.version_prefix else "any version"
            checks.append(HostCheck(node.name, "package", f"{pin.name} {want}",
                                    {"package": pin.name, "version_prefix": pin.version_prefix}, skip))
        unit = unit_of(node, service)
        checks.append(HostCheck(node.name, "service", f"{unit} running and enabled", {"unit": unit}, skip))
    return checks


def _listener_checks(node: NodePlan) -> list[HostCheck]:
    """Every single-port binding on exactly its address; port ranges are opened per call, not checked."""
    checks: list[HostCheck] = []
    for b in node.bindings:
        if b.port_min != b.port_max:
            continue
        skip = openfire_skip_reason(node) if b.service == "openfire" else None
        scope = "public" if b.public else "private"
        checks.append(HostCheck(
            node.name, "listening", f"{b.what} listens on {b.proto} {b.address}:{b.port_min} only ({scope})",
            {"proto": b.proto, "address": b.address, "port": b.port_min, "what": b.what}, skip,
        ))
    bindings = [
        {"service": b.service, "proto": b.proto, "address": b.address, "port_min": b.port_min,
         "port_max": b.port_max, "what": b.what}
        for b in node.bindings
    ]
    checks.append(HostCheck(
        node.name, "listeners", "no daemon socket beyond the plan's (control ports stay closed)",
        {"bindings": bindings, "processes": dict(PROCESSES)},
    ))
    return checks


def _firewall_checks(node: NodePlan) -> list[HostCheck]:
    """The loaded table is the one deploy loaded from the placed file and confirmed, dropping by default."""
    fw = node.firewall
    if fw is None:
        return []
    return [HostCheck(node.name, "firewall", f"table inet {fw.table} loaded as deployed from {fw.path}, policy drop",
                      {"helper": fw.helper, "path": fw.path, "table": fw.table})]


def _file_checks(node: NodePlan, manifest_entries: Sequence[ManifestEntry]) -> list[HostCheck]:
    checks = []
    for entry in sorted((e for e in manifest_entries if e.node == node.name), key=lambda e: e.path):
        checks.append(HostCheck(
            node.name, "file", f"{entry.path} {entry.owner}:{entry.group} {entry.mode} as rendered",
            {"path": entry.path, "owner": entry.owner, "group": entry.group, "mode": entry.mode,
             "sha256": entry.sha256, "handover": entry.handover_doc()},
        ))
    return checks


def _cert_checks(node: NodePlan, root_ca: Path) -> list[HostCheck]:
    checks = []
    for cert in node.certs:
        checks.append(HostCheck(
            node.name, "cert", f"{cert.service} certificate valid > {CERT_MIN_DAYS} days, chains to the site CA",
            {"service": cert.service, "cert_path": cert.cert_path, "chain_path": cert.chain_path,
             "key_path": cert.key_path, "dns_names": list(cert.dns_names), "ip_addresses": list(cert.ip_addresses),
             "root_ca": str(root_ca), "min_days": CERT_MIN_DAYS},
        ))
    return checks


def host_checks(plan: Plan, manifest_entries: Sequence[ManifestEntry],
                pins: Mapping[str, Mapping[str, Sequence[PackagePin]]], root_ca: Path) -> list[HostCheck]:
    """The whole suite, node by node: packages, services, sockets, files, certificates.

    `pins` maps node -> service -> packages (from `expect.package_pins`).
    """
    checks: list[HostCheck] = []
    for node in plan.nodes:
        checks += _service_checks(node, pins.get(node.name, {}))
        checks += _listener_checks(node)
        checks += _firewall_checks(node)
        checks += _file_checks(node, manifest_entries)
        checks += _cert_checks(node, root_ca)
    return checks
