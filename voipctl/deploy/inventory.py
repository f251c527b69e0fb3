"""Which inventory to use and which of its hosts are the site's nodes.

The lab's inventory is the default while the site's lab is up; otherwise the
user names one with -i. `ansible-inventory --list` resolves any inventory kind
(file, directory, script) the way ansible-playbook will.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voipctl.deploy.ansible import ANSIBLE_INSTALL, inventory_argv
from voipctl.errors import ToolError, UsageError
from voipctl.lab.state import running_lab
from voipctl.proc import run
from voipctl.resources import require_executable

INVENTORY_TIMEOUT = 60


def lab_inventory(site: str, root: Path | None = None) -> Path | None:
    """The inventory `voipctl lab up` wrote for this site, if its lab is up."""
    paths = running_lab(site) if root is None else running_lab(site, root)
    return paths.inventory if paths is not None and paths.inventory.is_file() else None


def choose_inventory(site: str, given: Path | None, root: Path | None = None) -> Path:
    """-i when given, else the running lab's inventory."""
    if given is not None:
        if not given.exists():
            raise UsageError(f"inventory {given} does not exist")
        return given
    found = lab_inventory(site, root)
    if found is None:
        raise UsageError(f"no inventory: pass -i INVENTORY, or start the lab (voipctl lab up) for site {site}")
    return found


def inventory_nodes(listing: Mapping[str, Any]) -> dict[str, str]:
    """Inventory host -> site node name, from `ansible-inventory --list` JSON (pure).

    A host maps to the node named by its `voipctl_node_name` variable, else to itself.
    """
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    hosts: set[str] = set(hostvars)
    for name, group in listing.items():
        if name != "_meta" and isinstance(group, dict):
            hosts.update(group.get("hosts", []))
    mapping = {}
    for host in sorted(hosts):
        node = hostvars.get(host, {}).get("voipctl_node_name", host)
        mapping[host] = node if isinstance(node, str) else host
    return mapping


def read_inventory(inventory: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Run ansible-inventory and map its hosts to nodes."""
    return inventory_nodes(list_inventory(inventory, env))


def list_inventory(inventory: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """Resolve any inventory (file, dir, script) with `ansible-inventory --list`.

    Its output may hold secrets: it is only parsed, never printed.
    """
    argv = inventory_argv(inventory, require_executable("ansible-inventory", ANSIBLE_INSTALL))
    quiet = {k: v for k, v in env.items() if k != "ANSIBLE_LOG_PATH"}  # the listing must not reach a log
    proc = run(argv, env=quiet, timeout=INVENTORY_TIMEOUT)
    if proc.error is not None:
        raise ToolError(f"ansible-inventory failed: {proc.error}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ToolError(f"ansible-inventory -i {inventory} failed (exit {proc.returncode}): {tail}")
    try:
        listing = json.loads(proc.stdout)
    except ValueError as exc:
        raise ToolError(f"ansible-inventory -i {inventory} printed no JSON") from exc
    return listing if isinstance(listing, dict) else {}
