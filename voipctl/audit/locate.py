"""Where each control is implemented: lines recorded by the render, and marked playbook lines.

Rendered locations come from the spans the templates' `{% control %}` tags
recorded while rendering (voipctl.render.controls); they are then read back from
the render directory, so a location that does not hold its text there is an error.
Playbooks are copied, never rendered: a `# control: ID` line marks the line below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from voipctl.audit.catalogue import BY_ID
from voipctl.errors import AuditError, UsageError
from voipctl.render.tree import RenderedTree

PLAYBOOK_MARK = "# control: "
Source = Literal["render", "playbook"]


@dataclass(frozen=True)
class Location:
    """One line implementing a control: `path` on `node` (render) or inside playbooks/ (node "")."""

    node: str
    path: str
    line: int
    text: str
    source: Source

    def as_json(self) -> dict[str, object]:
        return {"node": self.node, "path": self.path, "line": self.line, "text": self.text, "source": self.source}


def _known(control: str, where: str) -> str:
    if control not in BY_ID:
        raise AuditError(f"{where} marks control {control!r}, which the audit catalogue does not know")
    return control


def rendered_locations(tree: RenderedTree) -> dict[str, list[Location]]:
    """Every non-blank line inside a control span of every rendered file, by control id."""
    found: dict[str, list[Location]] = {}
    for f in tree.files:
        if not f.controls:
            continue
        lines = f.content.decode().splitlines()
        for span in f.controls:
            control = _known(span.control, f"{f.node}:{f.path}")
            for n in range(span.first, span.last + 1):
                if lines[n - 1].strip():
                    found.setdefault(control, []).append(Location(f.node, f.path, n, lines[n - 1], "render"))
    return found


def playbook_locations(playbooks: Path) -> dict[str, list[Location]]:
    """The line after each `# control: ID` comment in the playbooks (paths relative to their parent)."""
    found: dict[str, list[Location]] = {}
    for path in sorted(playbooks.rglob("*.yml")):
        lines = path.read_text().splitlines()
        rel = str(path.relative_to(playbooks.parent))
        for i, line in enumerate(lines):
            mark = line.strip()
            if mark.startswith(PLAYBOOK_MARK):
                control = _known(mark[len(PLAYBOOK_MARK):].strip(), rel)
                if i + 1 >= len(lines) or not lines[i + 1].strip():
                    raise AuditError(f"{rel}:{i + 1}: control {control} marks no line")
                found.setdefault(control, []).append(Location("", rel, i + 2, lines[i + 1], "playbook"))
    return found


def merge(*parts: Mapping[str, list[Location]]) -> dict[str, list[Location]]:
    merged: dict[str, list[Location]] = {}
    for part in parts:
        for control, locs in part.items():
            merged.setdefault(control, []).extend(locs)
    return merged


def check_render_dir(tree: RenderedTree, render_dir: Path) -> None:
    """The render directory must hold exactly this render's bytes, or its line numbers mean nothing."""
    if not render_dir.is_dir():
        raise UsageError(f"{render_dir} does not exist: run `voipctl render SITE -o {render_dir}` first")
    stale = []
    for f in tree.files:
        try:
            same = (render_dir / f.rel).read_bytes() == f.content
        except OSError:
            same = False
        if not same:
            stale.append(f.rel)
    if stale:
        raise AuditError(f"{render_dir} is not the current render of site {tree.site} ({len(stale)} files differ, "
                         f"e.g. {stale[0]}): run `voipctl render` again")


def read_back(locations: Iterable[Location], render_dir: Path, playbooks: Path) -> None:
    """Every location must exist and hold exactly its text in the files an auditor reads."""
    cache: dict[Path, list[str]] = {}
    for loc in locations:
        path = render_dir / loc.node / loc.path.lstrip("/") if loc.source == "render" else playbooks.parent / loc.path
        if path not in cache:
            try:
                cache[path] = path.read_text().splitlines()
            except OSError as exc:
                raise AuditError(f"cited file {path} cannot be read: {exc.strerror or exc}") from None
        lines = cache[path]
        if not 1 <= loc.line <= len(lines) or lines[loc.line - 1] != loc.text:
            raise AuditError(f"{path}:{loc.line} does not hold the line the render recorded for it")


def refuse_secrets(locations: Iterable[Location], secret_values: Iterable[str]) -> None:
    """A cited line must never carry a secret: a template marking one is a bug, reported by location only."""
    values = [v for v in secret_values if v]
    for loc in locations:
        if any(v in loc.text for v in values):
            raise AuditError(f"{loc.node}:{loc.path}:{loc.line} is marked as a control line but holds a secret; "
                             "move the control marker off that line")
