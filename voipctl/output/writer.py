"""All-or-nothing writes of a rendered tree.

The new tree is staged beside DIR (unchanged files hard-linked so their mtime
survives), flushed to disk with one syncfs, then swapped in with one rename. Any
failure removes the staging dir and leaves DIR exactly as it was. Staged files are
written directly: nobody else sees the staging dir, so per-file temp names and
fsyncs (785 of them for a big cluster) would buy nothing the final rename does not.
A file whose bytes another staged file already holds (every sip node's subscriber
SQL) is a hard link to it: a 50-node cluster writes 3 MB of SQL once, not 150 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import RenderError, UsageError
from voipctl.output.manifest import MANIFEST, Difference, Manifest
from voipctl.render.tree import RenderedTree

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@dataclass(frozen=True)
class WriteReport:
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]


def _owned_or_new(out: Path) -> None:
    """Refuse to replace a directory voipctl did not write."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"{out}: exists and is not a directory")
    if any(out.iterdir()) and Manifest.read(out) is None:
        raise UsageError(
            f"{out}: not empty and has no {MANIFEST}; refusing to replace a directory voipctl did not write"
        )


def _same(path: Path, content: bytes) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.read_bytes() == content
    except OSError:
        return False


@dataclass
class _Staging:
    """What is staged so far: directories made, and the first staged file of each content."""

    root: Path
    made: set[Path]
    by_content: dict[bytes, Path]


def _make_dir(directory: Path, made: set[Path], mode: int = 0o700) -> None:
    """Create `directory` (mode 0700) and its missing parents (default mode, like mkdir -p) top down:
    one mkdir each, where pathlib's parents=True tries each new level twice (a cluster has over a thousand)."""
    if directory in made:
        return
    _make_dir(directory.parent, made, 0o777)
    directory.mkdir(mode=mode)
    made.add(directory)


def _put(staging: _Staging, old: Path, rel: str, content: bytes) -> bool:
    """Place one file in staging; returns True when its content changed."""
    dest = staging.root / rel
    _make_dir(dest.parent, staging.made)
    prev = old / rel
    if _same(prev, content):
        os.link(prev, dest)
        return False
    twin = staging.by_content.setdefault(content, dest)
    if twin != dest:
        os.link(twin, dest)
        return True
    with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # the umask may have narrowed it
        fh.write(content)
    return True


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name is not None else None


def _flush(staging: Path) -> None:
    """Everything staged on disk before the swap: one syncfs, else one fsync per file."""
    libc = _libc()
    if libc is not None and hasattr(libc, "syncfs"):
        fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in staging.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False when unsupported."""
    libc = _libc()
    if libc is None or not hasattr(libc, "renameat2"):
        return False
    res = libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(res == 0)


def _swap_in(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    if _exchange(staging, out):
        shutil.rmtree(staging)
        return
    old = out.with_name(f".{out.name}.voipctl-old-{os.getpid()}")
    out.rename(old)
    staging.rename(out)
    shutil.rmtree(old)


def write_tree(tree: RenderedTree, out: Path) -> WriteReport:
    """Write `tree` under `out` (NODE/abs/path files + manifest.json), all or nothing."""
    out = out.absolute()
    _owned_or_new(out)
    old = Manifest.read(out)
    previous = old.rels if old is not None else frozenset()
    staging = out.with_name(f".{out.name}.voipctl-staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    written: list[str] = []
    unchanged: list[str] = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir(mode=0o700)
        staged = _Staging(staging, {staging}, {})
        for f in tree.files:
            (written if _put(staged, out, f.rel, f.content) else unchanged).append(f.rel)
        _put(staged, out, MANIFEST, Manifest.of(tree).to_bytes())
        _flush(staging)
        _swap_in(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RenderError(f"writing {out} failed, nothing changed: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    current = {f.rel for f in tree.files}
    return WriteReport(tuple(written), tuple(unchanged), tuple(sorted(previous - current)))


def ensure_fresh(tree: RenderedTree, render_dir: Path) -> list[Difference]:
    """Make `render_dir` hold exactly `tree`; returns why it had to be re-rendered (empty: it was fresh).

    Deploy copies files straight from the render directory, so a stale or hand-edited
    render would push the wrong configuration.
    """
    manifest = Manifest.read(render_dir)
    if manifest is None:
        reasons = [Difference("", f"no {MANIFEST}")]
    else:
        reasons = manifest.differences(tree) or manifest.disk_differences(render_dir)
    if reasons:
        write_tree(tree, render_dir)
    return reasons
