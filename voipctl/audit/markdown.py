"""audit.md: the report's blocks as Markdown (pipes escaped, config lines in code spans)."""

from __future__ import annotations

from voipctl.audit.layout import blocks
from voipctl.audit.tables import Doc, Table

_HEAD = {"h1": "#", "h2": "##", "h3": "###"}


def _cell(text: str, code: bool) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    if not code:
        return text
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
    lines += ["| " + " | ".join(_cell(c, i == table.code_column) for i, c in enumerate(row)) + " |"
              for row in table.rows]
    return [*lines, ""]


def to_markdown(doc: Doc) -> str:
    lines: list[str] = []
    for b in blocks(doc):
        if b.kind in _HEAD:
            lines += [f"{_HEAD[b.kind]} {b.text}", ""]
        elif b.kind == "verdict":
            lines += [f"**Verdict: {b.text}**", ""]
        elif b.table is not None:
            lines += _table(b.table)
        else:
            lines += [b.text, ""]
    return "\n".join(lines).rstrip("\n") + "\n"
