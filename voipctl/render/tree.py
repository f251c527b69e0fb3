"""The rendered tree: every file for every node, with owner, group and mode."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

from voipctl.render.controls import ControlSpan


@dataclass(frozen=True)
class Handover:
    """When a seed file becomes the daemon's: once the daemon has written `marker` into `path`.

    Why: Openfire rewrites its seed configuration after first setup; replacing it
    then would re-run setup, so deploy places it only before the handover and
    drift checks stop comparing its content after it.
    """

    path: str
    marker: str


@dataclass(frozen=True)
class PlannedFile:
    """One file destined for `path` on `node`. `service` names the daemon that reads it."""

    node: str
    path: str
    owner: str
    group: str
    mode: int
    content: bytes = field(repr=False)
    service: str
    sensitive: bool = False  # holds a secret or key: diffs show that it changed, never its content
    controls: tuple[ControlSpan, ...] = field(default=(), compare=False)  # lines implementing each control
    handover: Handover | None = None  # a seed: the daemon owns the file once this says so

    @property
    def rel(self) -> str:
        """Location inside the output directory: NODE/absolute/path/without/leading/slash."""
        return f"{self.node}/{self.path.lstrip('/')}"

    @property
    def sha256(self) -> str:
        return _digest(self.content)


@lru_cache(maxsize=16)  # a small window: files are digested in tree order, where twins sit close
def _digest(content: bytes) -> str:
    """sha256 of content; files sharing one bytes object (the subscriber SQL of every sip node) hash once."""
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class RenderedTree:
    site: str
    model_hash: str
    files: tuple[PlannedFile, ...]

    def for_node(self, node: str) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if f.node == node)
