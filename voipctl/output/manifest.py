"""manifest.json: what was rendered, for whom, with which owner, mode and sha256.

Deploy copies by it and verify checks drift against it: both read it as this one
typed Manifest, and both ask it the same question ("does it still describe what
the site renders to now?") through `differences`. It is canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voipctl import __version__
from voipctl.render.tree import Handover, PlannedFile, RenderedTree

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ManifestEntry:
    """One rendered file: `rel` inside the render directory, `path` on `node`; mode as written ("0640")."""

    node: str
    path: str
    rel: str
    owner: str
    group: str
    mode: str
    service: str
    sha256: str
    handover: Handover | None = None

    @classmethod
    def of(cls, f: PlannedFile) -> ManifestEntry:
        return cls(f.node, f.path, f.rel, f.owner, f.group, f"{f.mode:04o}", f.service, f.sha256, f.handover)

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> ManifestEntry:
        """One entry of the JSON; KeyError/TypeError/ValueError when it is not one."""
        hand = doc.get("handover")
        handover = Handover(str(hand["path"]), str(hand["marker"])) if isinstance(hand, Mapping) else None
        text = {k: doc[k] for k in ("node", "path", "rel", "owner", "group", "mode", "service", "sha256")}
        if not all(isinstance(v, str) for v in text.values()):
            raise TypeError("manifest entry fields are strings")
        return cls(**text, handover=handover)

    def handover_doc(self) -> dict[str, str] | None:
        """The handover as the playbook and the host suite read it (JSON)."""
        return None if self.handover is None else {"path": self.handover.path, "marker": self.handover.marker}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"node": self.node, "path": self.path, "rel": self.rel, "owner": self.owner,
                               "group": self.group, "mode": self.mode, "service": self.service, "sha256": self.sha256}
        if self.handover is not None:  # only seeds carry the key, so other entries keep their shape
            doc["handover"] = self.handover_doc()
        return doc


@dataclass(frozen=True)
class Difference:
    """One way a manifest does not describe a tree: about one file (`rel`), or the whole render (rel "")."""

    rel: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rel}: {self.reason}" if self.rel else self.reason


_COMPARED = ("node", "path", "owner", "group", "mode", "service", "sha256")


@dataclass(frozen=True)
class Manifest:
    """The manifest of one render directory."""

    site: str
    model_hash: str
    entries: tuple[ManifestEntry, ...]
    voipctl: str = __version__

    @classmethod
    def of(cls, tree: RenderedTree) -> Manifest:
        return cls(tree.site, tree.model_hash, tuple(ManifestEntry.of(f) for f in tree.files))

    @classmethod
    def read(cls, out: Path) -> Manifest | None:
        """The manifest of an existing output dir, or None when there is none or it is unreadable.

        Entries that are not entries are left out: whatever they stood for then shows as a difference.
        """
        try:
            doc = json.loads((out / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
            return None
        entries = []
        for item in doc["files"]:
            try:
                entries.append(ManifestEntry.parse(item))
            except (KeyError, TypeError, ValueError):
                continue
        return cls(str(doc.get("site", "")), str(doc.get("model_hash", "")), tuple(entries),
                   str(doc.get("voipctl", "")))

    def to_bytes(self) -> bytes:
        doc = {"voipctl": self.voipctl, "site": self.site, "model_hash": self.model_hash,
               "files": [e.to_json() for e in self.entries]}
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @property
    def rels(self) -> frozenset[str]:
        return frozenset(e.rel for e in self.entries)

    def for_node(self, node: str) -> tuple[ManifestEntry, ...]:
        return tuple(e for e in self.entries if e.node == node)

    def same_model(self, site: str, model_hash: str) -> bool:
        """Whether this render is of that site's model (anything else is another site's, or stale)."""
        return self.site == site and self.model_hash == model_hash

    def differences(self, tree: RenderedTree) -> list[Difference]:
        """Why this manifest does not describe `tree` (empty when it does). Names files, never content."""
        out = []
        if self.site != tree.site:
            out.append(Difference("", f"rendered for site {self.site!r}, not {tree.site!r}"))
        if self.model_hash != tree.model_hash:
            out.append(Difference("", "model hash differs (the site changed since it was rendered)"))
        old = {e.rel: e for e in self.entries}
        new = {f.rel: ManifestEntry.of(f) for f in tree.files}
        out += [Difference(rel, "missing from the render") for rel in sorted(new.keys() - old.keys())]
        out += [Difference(rel, "no longer rendered") for rel in sorted(old.keys() - new.keys())]
        for rel in sorted(new.keys() & old.keys()):
            changed = [k for k in _COMPARED if getattr(old[rel], k) != getattr(new[rel], k)]
            if changed:
                out.append(Difference(rel, f"{', '.join(changed)} differ"))
        return out

    def disk_differences(self, render_dir: Path) -> list[Difference]:
        """Files in the render directory whose bytes no longer match the manifest (edited by hand)."""
        out = []
        for entry in self.entries:
            try:
                digest = hashlib.sha256((render_dir / entry.rel).read_bytes()).hexdigest()
            except OSError:
                out.append(Difference(entry.rel, "missing on disk"))
                continue
            if digest != entry.sha256:
                out.append(Difference(entry.rel, "edited since it was rendered"))
        return out
