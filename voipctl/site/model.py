"""The frozen Site: the validated spec plus where it came from.

Everything after loading takes a `Site`; nothing re-reads the YAML.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from voipctl.errors import Problem
from voipctl.site.spec import DEFAULT_PLATFORM, NodeSpec, Role, SiteSpec, Subscriber
from voipctl.site.yamlsource import PathPart, SourceMap

REQUIRED_ROLES: tuple[Role, ...] = ("sip", "media", "turn")


@dataclass(frozen=True)
class Site:
    """A loaded, validated site. `model_hash` identifies its content in provenance lines."""

    spec: SiteSpec
    path: Path
    source: SourceMap
    subscribers: tuple[Subscriber, ...]
    model_hash: str

    @property
    def name(self) -> str:
        return self.spec.site

    @property
    def secrets_path(self) -> Path:
        if self.spec.secrets_file:
            return (self.path.parent / self.spec.secrets_file).resolve()
        return self.path.with_name(f"{self.path.stem}.secrets.yml")

    def nodes_with(self, role: Role) -> tuple[NodeSpec, ...]:
        return self._by_role.get(role, ())

    @cached_property
    def _by_role(self) -> dict[str, tuple[NodeSpec, ...]]:
        """Nodes per role, computed once: planning asks for each node (quadratic in big clusters)."""
        roles: dict[str, list[NodeSpec]] = {}
        for n in self.spec.nodes:
            for role in n.roles:
                roles.setdefault(role, []).append(n)
        return {role: tuple(nodes) for role, nodes in roles.items()}

    def node_index(self, name: str) -> int:
        return next(i for i, n in enumerate(self.spec.nodes) if n.name == name)

    def problem(self, path: Sequence[PathPart], message: str) -> Problem:
        """A problem located in the site file."""
        return self.source.problem(path, message)


# Keys added after sites were first hashed, left out while unset so that a site not using
# them keeps its hash (and its rendered files their provenance line).
_LATER_KEYS: tuple[tuple[str, ...], ...] = (("kamailio", "cluster"), ("coturn", "uris"))
_LATER_NODE_KEYS = ("weight", "platform", "turn_relay")


def _hashed(spec: SiteSpec) -> dict[str, Any]:
    doc: dict[str, Any] = spec.model_dump(mode="json")
    for section, key in _LATER_KEYS:
        if doc[section][key] is None:
            del doc[section][key]
    for node in doc["nodes"]:
        for key in _LATER_NODE_KEYS:
            if node[key] is None:
                del node[key]
    return doc


def model_hash(spec: SiteSpec, subscribers: Sequence[Subscriber]) -> str:
    """Stable content hash of the validated model (no secrets, no paths, no time)."""
    dumped = _hashed(spec)
    # A site that names no platform hashes as before platforms existed, so its deployed
    # files (provenance lines) stay unchanged across this voipctl upgrade.
    if dumped["platform"] == DEFAULT_PLATFORM:
        del dumped["platform"]
    doc = {
        "spec": dumped,
        "subscribers": [s.model_dump(mode="json") for s in subscribers],
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
