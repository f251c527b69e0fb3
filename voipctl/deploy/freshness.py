"""Is the render directory what the site renders to now? Re-render it if not.

Deploy copies files straight from the render directory, so a stale or
hand-edited render would push the wrong configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voipctl.output.manifest import read_manifest
from voipctl.output.writer import write_tree
from voipctl.render.tree import RenderedTree

_COMPARED = ("node", "path", "owner", "group", "mode", "service", "sha256")


def manifest_differences(tree: RenderedTree, manifest: Mapping[str, Any] | None) -> list[str]:
    """Why `manifest` does not describe `tree` (empty when it does). Names files, never content."""
    if manifest is None:
        return ["no manifest.json"]
    reasons = []
    if manifest.get("site") != tree.site:
        reasons.append(f"rendered for site {manifest.get('site')!r}, not {tree.site!r}")
    if manifest.get("model_hash") != tree.model_hash:
        reasons.append("model hash differs (the site changed since it was rendered)")
    old: dict[str, Mapping[str, Any]] = {
        str(e.get("rel")): e for e in manifest.get("files", []) if isinstance(e, dict)
    }
    new = {f.rel: f for f in tree.files}
    for rel in sorted(new.keys() - old.keys()):
        reasons.append(f"{rel}: missing from the render")
    for rel in sorted(old.keys() - new.keys()):
        reasons.append(f"{rel}: no longer rendered")
    for rel in sorted(new.keys() & old.keys()):
        f = new[rel]
        want = {"node": f.node, "path": f.path, "owner": f.owner, "group": f.group, "mode": f"{f.mode:04o}",
                "service": f.service, "sha256": f.sha256}
        changed = [k for k in _COMPARED if old[rel].get(k) != want[k]]
        if changed:
            reasons.append(f"{rel}: {', '.join(changed)} differ")
    return reasons


def disk_differences(manifest: Mapping[str, Any], render_dir: Path) -> list[str]:
    """Files in the render directory whose bytes no longer match the manifest (edited by hand)."""
    reasons = []
    for entry in manifest.get("files", []):
        path = render_dir / entry["rel"]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            reasons.append(f"{entry['rel']}: missing on disk")
            continue
        if digest != entry["sha256"]:
            reasons.append(f"{entry['rel']}: edited since it was rendered")
    return reasons


def ensure_fresh(tree: RenderedTree, render_dir: Path) -> list[str]:
    """Make `render_dir` hold exactly `tree`; returns why it had to be re-rendered (empty: it was fresh)."""
    manifest = read_manifest(render_dir)
    reasons = manifest_differences(tree, manifest)
    if not reasons and manifest is not None:
        reasons = disk_differences(manifest, render_dir)
    if reasons:
        write_tree(tree, render_dir)
    return reasons
