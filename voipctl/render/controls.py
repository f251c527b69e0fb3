"""Control markers: templates say which lines implement which security control.

A template wraps the lines of a control in `{% control "ID" %} ... {% endcontrol %}`.
While rendering, the tag leaves invisible sentinels around the lines it produced;
`extract` removes them, writes one `# control: ID` comment (`<!-- control: ID -->` in
XML) above the lines and records their 1-based line range. So the audit's
control -> line mapping comes from the render itself, never from searching output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser

from voipctl.errors import RenderError

_OPEN, _CLOSE = "\x02", "\x03"
_MARK = re.compile(f"{_OPEN}([^{_CLOSE}]*){_CLOSE}")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class ControlSpan:
    """Lines `first`..`last` (1-based, inclusive) of a rendered file implement `control`."""

    control: str
    first: int
    last: int


class ControlExtension(Extension):
    """The `{% control "ID" %}` block tag; XML templates (`*.xml.j2`) get XML comments."""

    tags = {"control"}  # noqa: RUF012 - jinja2 declares it a plain set attribute

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        control = parser.parse_expression()
        body = parser.parse_statements(("name:endcontrol",), drop_needle=True)
        xml = nodes.Const((parser.name or "").endswith(".xml.j2"))
        call = self.call_method("_mark", [control, xml])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _mark(self, control: Any, xml: bool, caller: Any) -> str:
        if not isinstance(control, str) or not _ID.match(control):
            raise RenderError(f"control id {control!r} must be lower-case letters, digits and dashes")
        body = str(caller())
        if not body.strip():
            return ""  # the guarded lines are not rendered for this site: no location
        style = "x" if xml else "#"
        return f"{_OPEN}{style}{control}{_CLOSE}{body}{_OPEN}/{_CLOSE}"


def _comment(style: str, control: str, indent: str) -> str:
    if style == "x":
        return f"{indent}<!-- control: {control} -->\n"
    return f"{indent}# control: {control}\n"


def extract(marked: str) -> tuple[str, tuple[ControlSpan, ...]]:
    """Replace the sentinels by marker comments; return the text and each control's line range."""
    parts = _MARK.split(marked)
    out: list[str] = []
    line = 1  # the line the next character of output lands on
    stack: list[tuple[str, int]] = []
    spans: list[ControlSpan] = []
    tail = "\n"  # the last non-empty output: markers must start a line
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
            line += part.count("\n")
            tail = part or tail
            continue
        if not tail.endswith("\n"):
            raise RenderError("a {% control %} tag must stand on a line of its own")
        if part == "/":
            control, first = stack.pop()
            spans.append(ControlSpan(control, first, line - 1))
            continue
        following = next((p for p in parts[i + 1::2] if p), "")
        indent = following[: len(following) - len(following.lstrip(" \t"))]
        tail = _comment(part[0], part[1:], indent)
        out.append(tail)
        line += 1
        stack.append((part[1:], line))
    if stack:
        raise RenderError(f"control {stack[-1][0]} was opened and never closed")
    return "".join(out), tuple(sorted(spans, key=lambda s: (s.first, s.control)))
