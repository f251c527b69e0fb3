"""ansible-playbook / ansible-inventory command lines and environment (pure).

Every value voipctl hands Ansible goes in a vars file (`-e @FILE`), never on
argv: argv is visible to every user of the machine in /proc.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import UsageError
from voipctl.resources import PLAYBOOK

CONFIG = "ansible.cfg"
ANSIBLE_INSTALL = "pip install ansible-core (into voipctl's environment)"
CONTROL_PERSIST_ARGS = "-o ControlMaster=auto -o ControlPersist=60s"
NO_CONTROL_PERSIST_ARGS = "-o ControlMaster=no -o ControlPath=none"


@dataclass(frozen=True)
class PlaybookRun:
    """One ansible-playbook invocation."""

    playbooks: Path
    inventory: Path
    vars_file: Path
    limit: tuple[str, ...]
    check: bool = False
    diff: bool = False
    verbosity: int = 0


def playbook_argv(run: PlaybookRun, executable: str = "ansible-playbook") -> list[str]:
    """The ansible-playbook command line; no variable values, only the vars file's path."""
    if not run.limit:
        raise ValueError("a deploy needs at least one host to run on")
    argv = [
        executable,
        "-i", str(run.inventory),
        "-e", f"@{run.vars_file}",
        "--limit", ",".join(run.limit),
    ]
    if run.check:
        argv.append("--check")
    if run.diff:
        argv.append("--diff")
    if run.verbosity:
        argv.append("-" + "v" * min(run.verbosity, 4))
    argv.append(str(run.playbooks / PLAYBOOK))
    return argv


def inventory_argv(inventory: Path, executable: str = "ansible-inventory") -> list[str]:
    """Lists the inventory as JSON, to map inventory hosts to site nodes before the run."""
    return [executable, "-i", str(inventory), "--list"]


def ansible_env(
    base: Mapping[str, str],
    playbooks: Path,
    pipelining: bool | None = None,
    control_persist: bool | None = None,
    log_path: Path | None = None,
) -> dict[str, str]:
    """The environment for Ansible: voipctl's ansible.cfg, unbuffered, uncoloured output.

    `pipelining` / `control_persist` None keep ansible.cfg's setting (both on);
    the benchmark turns them off to measure what they save.
    """
    env = dict(base)
    env["ANSIBLE_CONFIG"] = str(playbooks / CONFIG)
    env["PYTHONUNBUFFERED"] = "1"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    if pipelining is not None:
        env["ANSIBLE_PIPELINING"] = "True" if pipelining else "False"
    if control_persist is not None:
        env["ANSIBLE_SSH_ARGS"] = CONTROL_PERSIST_ARGS if control_persist else NO_CONTROL_PERSIST_ARGS
    if log_path is not None:
        env["ANSIBLE_LOG_PATH"] = str(log_path)
    return env


def limit_hosts(inventory_nodes: Mapping[str, str], site_nodes: Sequence[str], only: str | None) -> tuple[str, ...]:
    """Inventory hosts to run on: those mapped to a site node (or to `only`, a node or host name).

    `inventory_nodes` maps inventory host -> node name (voipctl_node_name or the host's own name).
    """
    wanted = set(site_nodes)
    if only is not None:
        matches = {h for h, n in inventory_nodes.items() if only in (h, n) and n in wanted}
        if not matches:
            raise UsageError(f"--limit {only}: no inventory host is that node of the site")
        return tuple(sorted(matches))
    missing = sorted(wanted - set(inventory_nodes.values()))
    if missing:
        raise UsageError(f"the inventory has no host for node(s) {', '.join(missing)} (use --limit to deploy fewer)")
    return tuple(sorted(h for h, n in inventory_nodes.items() if n in wanted))
