"""Unified diff of a rendered tree against an output dir, with secrets redacted."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from voipctl.output.manifest import Manifest
from voipctl.render.tree import RenderedTree

REDACTED = "<secret>"


def _text(data: bytes | None, secrets: Iterable[str]) -> list[str] | None:
    if data is None:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, REDACTED)
    return text.splitlines(keepends=True)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def diff_tree(tree: RenderedTree, out: Path, secrets: Iterable[str]) -> str:
    """What writing `tree` to `out` would change; keys and hashes are summarised, never shown."""
    secret_values = list(secrets)
    chunks: list[str] = []
    previous = Manifest.read(out)
    old_rels = previous.rels if previous is not None else frozenset()
    for f in tree.files:
        old = _read(out / f.rel)
        if old == f.content:
            continue
        if f.sensitive:
            state = "new" if old is None else "changed"
            chunks.append(f"sensitive file {state}: {f.rel} (content not shown)\n")
            continue
        before, after = _text(old, secret_values), _text(f.content, secret_values)
        if before is None or after is None:
            chunks.append(f"binary file changed: {f.rel}\n")
            continue
        chunks.extend(difflib.unified_diff(before, after, f"a/{f.rel}", f"b/{f.rel}"))
    for rel in sorted(old_rels - {f.rel for f in tree.files}):
        chunks.append(f"removed: {rel}\n")
    return "".join(chunks)
