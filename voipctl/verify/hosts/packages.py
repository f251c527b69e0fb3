"""What a deployed node must have that the Plan does not carry: packages, versions, unit names.

The pinned package versions live in the playbooks' role defaults (deploy installs
exactly those), so verify reads them from there instead of keeping a second copy.
Unit names are fixed by the Debian packages the roles install.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from voipctl.errors import ToolError
from voipctl.plan.model import NodePlan
from voipctl.resources import playbooks_dir

# systemd unit of each service (playbooks/roles/*/tasks/main.yml, `common_unit`); PostgreSQL's
# names its major version, so the plan carries it (`unit_of`).
UNITS: dict[str, str] = {
    "kamailio": "kamailio",
    "rtpengine": "rtpengine-daemon",
    "coturn": "coturn",
    "openfire": "openfire",
}
SERVICES: tuple[str, ...] = ("kamailio", "rtpengine", "coturn", "openfire", "postgresql")
# Process names `ss -p` shows for each service's sockets.
PROCESSES: dict[str, str] = {
    "kamailio": "kamailio",
    "rtpengine": "rtpengine",
    "turnserver": "coturn",
    "java": "openfire",
    "postgres": "postgresql",
}


@dataclass(frozen=True)
class PackagePin:
    name: str
    version_prefix: str


def unit_of(node: NodePlan, service: str) -> str:
    return node.postgresql.unit if service == "postgresql" and node.postgresql is not None else UNITS[service]


def services_of(node: NodePlan) -> tuple[str, ...]:
    return tuple(s for s in SERVICES if getattr(node, s) is not None)


def openfire_skip_reason(node: NodePlan) -> str | None:
    """Why Openfire cannot run on this node, or None when it should be running."""
    if node.openfire is not None and node.openfire.package is None:
        return "Openfire has no package (openfire.package is unset), so its service cannot run"
    return None


def _defaults(role: str, root: Path) -> dict[str, Any]:
    path = root / "roles" / role / "defaults" / "main.yml"
    try:
        doc = YAML(typ="safe", pure=True).load(path.read_text())
    except OSError as exc:
        raise ToolError(f"cannot read the package pins in {path}: {exc}") from exc
    return doc if isinstance(doc, dict) else {}


def platform_pin(node: NodePlan, service: str) -> str:
    """The version prefix deploy pins `service`'s packages to on this node (its platform's row)."""
    pin = node.platform.pin(service)
    if pin is None:
        raise ToolError(f"the platform {node.platform.name} pins no package of {service}")
    return pin


def package_pins(node: NodePlan, root: Path | None = None) -> dict[str, tuple[PackagePin, ...]]:
    """Service -> the Debian packages deploy pins for it on this node."""
    base = root if root is not None else playbooks_dir()
    pins: dict[str, tuple[PackagePin, ...]] = {}
    for service in services_of(node):
        if service == "openfire":
            pins[service] = (PackagePin("openfire", ""),)
            continue
        if service == "postgresql" and node.postgresql is not None:
            pins[service] = (PackagePin(node.postgresql.package, platform_pin(node, service)),)
            continue  # the plan names it: the package carries the platform's major version
        doc = _defaults(service, base)
        names = list(doc.get(f"{service}_packages", []))
        if service == "kamailio" and node.kamailio is not None:
            names += list(doc.get("kamailio_db_packages", {}).get(node.kamailio.db.backend, []))
        prefix = platform_pin(node, service)
        pins[service] = tuple(PackagePin(str(n), prefix) for n in names)
    return pins
