"""Load YAML keeping line numbers, so every error can name FILE:LINE.

Pure parsing lives here; the caller reads the bytes. Anything that is not
plain, bounded YAML (binary data, duplicate keys, alias bombs, a non-mapping
top level) becomes a `SiteError` instead of a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from voipctl.errors import Problem, SiteError

MAX_BYTES = 1 << 20
MAX_NODES = 50_000

PathPart = str | int
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_:+-][A-Za-z0-9_.:+-]*")


@dataclass(frozen=True)
class SourceMap:
    """Maps a path inside the document (keys and indices) to a 1-based line.

    Built from the round-trip document, or from the file's bytes alone when the fast parser's
    document was valid: the round-trip parse (a third of a 171-node site's load) then happens only
    if a line is asked for (a later problem, `explain`, the audit).
    """

    file: str
    parsed: Any = field(default=None, repr=False, compare=False)
    data: bytes = field(default=b"", repr=False, compare=False)

    @cached_property
    def root(self) -> Any:
        return self.parsed if self.parsed is not None else parse_yaml(self.data, self.file)[1].parsed

    def line_of(self, path: Sequence[PathPart]) -> int:
        """Line of the deepest part of `path` that exists in the document."""
        node = self.root
        line = 1
        for part in path:
            if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line

    def problem(self, path: Sequence[PathPart], message: str) -> Problem:
        return Problem(self.file, self.line_of(path), dotted(path), message)


def dotted(path: Sequence[PathPart]) -> str:
    """`("nodes", 1, "private")` -> `nodes[1].private`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
    return out


def _count_nodes(node: Any, budget: list[int]) -> None:
    """Walk the tree, failing fast once it is larger than any sane site (alias bombs)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise OverflowError
    if isinstance(node, dict):
        for value in node.values():
            _count_nodes(value, budget)
    elif isinstance(node, list):
        for value in node:
            _count_nodes(value, budget)


def plain_load(data: bytes) -> Any | None:
    """The document without line numbers, via the C parser (ruamel.yaml.clib): for big files that
    are valid, where the round-trip parser's line tracking costs ~8x. None whenever the located
    path must decide: too big, binary, not UTF-8, anchors/aliases (alias bombs), any YAML error."""
    if len(data) > MAX_BYTES or b"\x00" in data or b"&" in data or b"*" in data:
        return None
    try:
        return YAML(typ="safe").load(data.decode("utf-8"))
    except (YAMLError, UnicodeDecodeError, RecursionError):
        return None


def parse_yaml(data: bytes, file: str) -> tuple[dict[str, Any], SourceMap]:
    """Parse a site (or subscribers) document into a mapping plus its source map."""
    def fail(line: int, message: str) -> SiteError:
        return SiteError([Problem(file, line, "", message)])

    if len(data) > MAX_BYTES:
        raise fail(1, f"file is larger than {MAX_BYTES} bytes")
    if b"\x00" in data:
        raise fail(1, "file is binary (contains NUL bytes), expected YAML text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(line, "file is not valid UTF-8 text") from None
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise fail(1, "file is empty, expected a YAML mapping")

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if "duplicate key" in str(exc):
            reason = "duplicate key " + _dup_key(str(exc))
        raise fail(line, f"YAML error: {reason}") from None
    except YAMLError as exc:
        raise fail(1, f"YAML error: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:
        raise fail(1, "YAML error: document nests too deeply") from None

    if not isinstance(doc, CommentedMap):
        raise fail(1, f"top level must be a mapping, found {_kind(doc)}")
    try:
        _count_nodes(doc, [MAX_NODES])
    except (OverflowError, RecursionError):
        raise fail(1, f"document expands to more than {MAX_NODES} values (alias bomb?)") from None
    return doc, SourceMap(file, doc)


def _dup_key(message: str) -> str:
    for line in message.splitlines():
        if "found duplicate key" in line:
            return line.split("found duplicate key", 1)[1].split("with value")[0].strip()
    return ""


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a sequence"
    if value is None:
        return "nothing"
    return f"a scalar ({value!r})"[:60]
