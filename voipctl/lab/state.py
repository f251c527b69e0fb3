"""The lab's record of what it created, written as each thing is made.

`down` (and a failed `up`) removes exactly what is recorded here, in reverse
order: processes by PID and start time, then mounts, namespaces, links, dirs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

STATE_ROOT = Path("/var/lib/voipctl/lab")
CACHE_ROOT = Path("/var/cache/voipctl")

ResourceKind = Literal["netns", "link", "mount", "cgroup", "dir"]
Status = Literal["starting", "up"]


@dataclass(frozen=True)
class LabPaths:
    """Where one site's lab keeps its state; all of it goes away on `down`."""

    site_dir: Path

    @classmethod
    def for_site(cls, site: str, root: Path = STATE_ROOT) -> LabPaths:
        return cls(root / site)

    @property
    def state_file(self) -> Path:
        return self.site_dir / "state.json"

    @property
    def ssh_key(self) -> Path:
        return self.site_dir / "id_ed25519"

    @property
    def inventory(self) -> Path:
        return self.site_dir / "inventory.yml"

    @property
    def golden(self) -> Path:
        return self.site_dir / "golden"

    @property
    def logs(self) -> Path:
        return self.site_dir / "logs"

    def host_dir(self, node: str) -> Path:
        return self.site_dir / "hosts" / node


@dataclass
class Proc:
    name: str
    pid: int
    start: int


@dataclass
class Resource:
    kind: ResourceKind
    name: str


@dataclass
class LabState:
    """Serialised after every change so a crash leaves a usable record."""

    site: str
    path: Path
    status: Status = "starting"
    image: str = ""
    topology: str = ""  # fingerprint of the addresses the lab was built with
    processes: list[Proc] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> LabState | None:
        if not path.exists():
            return None
        doc = json.loads(path.read_text())
        return cls(
            site=doc["site"],
            path=path,
            status=doc["status"],
            image=doc.get("image", ""),
            topology=doc.get("topology", ""),
            processes=[Proc(**p) for p in doc["processes"]],
            resources=[Resource(**r) for r in doc["resources"]],
        )

    def save(self) -> None:
        doc = {
            "site": self.site,
            "status": self.status,
            "image": self.image,
            "topology": self.topology,
            "processes": [asdict(p) for p in self.processes],
            "resources": [asdict(r) for r in self.resources],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(self.path)

    def add(self, kind: ResourceKind, name: str) -> None:
        self.resources.append(Resource(kind, name))
        self.save()

    def add_process(self, name: str, pid: int, start: int) -> None:
        self.processes.append(Proc(name, pid, start))
        self.save()

    def process(self, name: str) -> Proc | None:
        """The latest process of that name (a host restarted while booting has two)."""
        return next((p for p in reversed(self.processes) if p.name == name), None)

    def of_kind(self, kind: ResourceKind) -> list[str]:
        return [r.name for r in self.resources if r.kind == kind]


def running_lab(site: str, root: Path = STATE_ROOT) -> LabPaths | None:
    """The site's lab paths when its lab is up (its record says so), else None.

    The one "is the lab up" query: deploy picks the lab's inventory by it, verify its client vantages.
    """
    paths = LabPaths.for_site(site, root)
    state = LabState.load(paths.state_file)
    return paths if state is not None and state.status == "up" else None
