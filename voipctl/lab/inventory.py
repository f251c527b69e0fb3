"""The Ansible inventory of a running lab, written from the plan.

Hosts are reached on their private addresses from the control machine; the
relaxed host key checking is set here, for the lab's throwaway hosts only.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from voipctl.lab.commands import LAB_SSH_OPTIONS
from voipctl.lab.topology import LabTopology
from voipctl.plan.model import Plan


def inventory(plan: Plan, topo: LabTopology, key: Path) -> dict[str, Any]:
    """Inventory document: every node under `all`, plus one group per role."""
    hosts: dict[str, Any] = {h.node: {"ansible_host": h.private} for h in topo.hosts}
    roles: dict[str, list[str]] = {}
    for node in plan.nodes:
        for role in node.roles:
            roles.setdefault(role, []).append(node.name)
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "ansible_ssh_common_args": " ".join(LAB_SSH_OPTIONS),
                "ansible_python_interpreter": "/usr/bin/python3",
                "voipctl_site": plan.site,
                "voipctl_lab_apt_proxy": topo.addresses.apt_proxy_url,
            },
            "hosts": hosts,
            "children": {role: {"hosts": dict.fromkeys(names)} for role, names in sorted(roles.items())},
        }
    }


def inventory_yaml(doc: dict[str, Any]) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    buf = io.StringIO()
    buf.write("# Ansible inventory of the voipctl lab (written by `voipctl lab up`; removed by `down`)\n")
    yaml.dump(doc, buf)
    return buf.getvalue()
