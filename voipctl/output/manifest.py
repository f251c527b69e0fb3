"""manifest.json: what was rendered, for whom, with which owner, mode and sha256.

Deploy copies by it and verify checks drift against it, so it is canonical JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voipctl import __version__
from voipctl.render.tree import PlannedFile, RenderedTree

MANIFEST = "manifest.json"


def _entry(f: PlannedFile) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "node": f.node,
        "path": f.path,
        "rel": f.rel,
        "owner": f.owner,
        "group": f.group,
        "mode": f"{f.mode:04o}",
        "service": f.service,
        "sha256": f.sha256,
    }
    if f.handover is not None:  # only seeds carry the key, so other entries keep their shape
        entry["handover"] = {"path": f.handover.path, "marker": f.handover.marker}
    return entry


def manifest_bytes(tree: RenderedTree) -> bytes:
    doc = {
        "voipctl": __version__,
        "site": tree.site,
        "model_hash": tree.model_hash,
        "files": [_entry(f) for f in tree.files],
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of an existing output dir, or None when there is none or it is unreadable."""
    try:
        doc = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("files"), list) else None
