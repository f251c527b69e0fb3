"""How to reach each node over SSH, read from the Ansible inventory deploy used.

Kept apart from what verify asserts: the suite gets a node -> HostAccess map and
never looks at inventories. Only SSH keys are supported; an inventory carrying
passwords is refused rather than passed on.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from voipctl.deploy.inventory import list_inventory
from voipctl.errors import UsageError
from voipctl.site.addresses import host_port

Backend = Literal["ssh", "paramiko"]
_PASSWORD_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")


@dataclass(frozen=True)
class HostAccess:
    """One node's SSH endpoint; `ssh_args` are extra ssh options (e.g. the lab's host key settings)."""

    node: str
    address: str
    user: str
    port: int
    identity_file: str | None
    ssh_args: tuple[str, ...]
    sudo: bool = False
    sudo_user: str | None = None

    def hostspec(self, backend: Backend) -> str:
        return f"{backend}://{self.user}@{host_port(self.address, self.port)}"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["ssh_args"] = list(self.ssh_args)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> HostAccess:
        return cls(doc["node"], doc["address"], doc["user"], int(doc["port"]), doc["identity_file"],
                   tuple(doc["ssh_args"]), bool(doc["sudo"]), doc["sudo_user"])


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def accesses_from_listing(listing: Mapping[str, Any], nodes: Sequence[str]) -> dict[str, HostAccess]:
    """node -> HostAccess from `ansible-inventory --list` JSON (pure).

    A host maps to the node named by its `voipctl_node_name`, else to its own name.
    """
    hostvars: Mapping[str, Mapping[str, Any]] = listing.get("_meta", {}).get("hostvars", {})
    found: dict[str, HostAccess] = {}
    for host in sorted(hostvars):
        hv = hostvars[host]
        node = str(hv.get("voipctl_node_name", host))
        if node not in nodes:
            continue
        if any(k in hv for k in _PASSWORD_VARS) or "ansible_become_password" in hv:
            raise UsageError(f"inventory host {host} uses a password; verify connects with SSH keys only")
        args = shlex.split(str(hv.get("ansible_ssh_common_args", ""))) + shlex.split(
            str(hv.get("ansible_ssh_extra_args", "")))
        key = hv.get("ansible_ssh_private_key_file") or hv.get("ansible_private_key_file")
        found[node] = HostAccess(
            node=node,
            address=str(hv.get("ansible_host", host)),
            user=str(hv.get("ansible_user", "root")),
            port=int(hv.get("ansible_port", 22)),
            identity_file=str(key) if key else None,
            ssh_args=tuple(args),
            sudo=_truthy(hv.get("ansible_become", False)),
            sudo_user=str(hv["ansible_become_user"]) if "ansible_become_user" in hv else None,
        )
    missing = sorted(set(nodes) - set(found))
    if missing:
        raise UsageError(f"the inventory has no host for node(s) {', '.join(missing)}")
    return found


def ssh_option(args: Sequence[str], name: str) -> str | None:
    """The value of `-o Name=value` among ssh arguments (case-insensitive name), if present."""
    for i, arg in enumerate(args):
        text = args[i + 1] if arg == "-o" and i + 1 < len(args) else (arg[2:] if arg.startswith("-o") else "")
        key, sep, value = text.partition("=")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


def paramiko_config(access: HostAccess) -> str:
    """An ssh_config snippet for testinfra's paramiko backend, which reads only a few keys."""
    lines = [f"Host {access.address}"]
    if (ssh_option(access.ssh_args, "StrictHostKeyChecking") or "").lower() == "no":
        lines.append("  StrictHostKeyChecking no")
    return "\n".join(lines) + "\n"


def load_accesses(inventory: Path, nodes: Sequence[str], env: Mapping[str, str]) -> dict[str, HostAccess]:
    """Resolve the inventory with ansible-inventory (any kind: file, dir, script). Its output is only parsed."""
    return accesses_from_listing(list_inventory(inventory, env), nodes)
