"""Atomic all-or-nothing writes, manifest, mtime preservation and redacted diffs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from voipctl.errors import RenderError, UsageError
from voipctl.output.diff import diff_tree
from voipctl.output.writer import write_tree
from voipctl.render.tree import PlannedFile, RenderedTree


def tree(*files: tuple[str, str, bytes], sensitive: tuple[str, ...] = ()) -> RenderedTree:
    return RenderedTree(
        site="t",
        model_hash="0" * 64,
        files=tuple(PlannedFile(n, p, "root", "root", 0o640, c, "kamailio", p in sensitive) for n, p, c in files),
    )


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_writes_tree_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = write_tree(tree(("n1", "/etc/a.cfg", b"A\n"), ("n2", "/etc/b.cfg", b"B\n")), out)
    assert report.written == ("n1/etc/a.cfg", "n2/etc/b.cfg")
    assert (out / "n1/etc/a.cfg").read_bytes() == b"A\n"
    assert stat.S_IMODE((out / "n1/etc/a.cfg").stat().st_mode) == 0o600, "local copies are private"
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["files"][0]
    assert entry == {
        "node": "n1", "path": "/etc/a.cfg", "rel": "n1/etc/a.cfg", "owner": "root", "group": "root",
        "mode": "0640", "service": "kamailio",
        "sha256": "06f961b802bc46ee168555f066d28f4f0e9afdf3f88174c1ee6f9de004fc30a0",
    }


def test_unchanged_files_keep_inode_and_mtime(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(tree(("n1", "/etc/a.cfg", b"A\n"), ("n1", "/etc/b.cfg", b"B\n")), out)
    before = snapshot(out)
    report = write_tree(tree(("n1", "/etc/a.cfg", b"A\n"), ("n1", "/etc/b.cfg", b"B2\n")), out)
    after = snapshot(out)
    assert report.written == ("n1/etc/b.cfg",) and report.unchanged == ("n1/etc/a.cfg",)
    assert after["n1/etc/a.cfg"] == before["n1/etc/a.cfg"]
    assert after["n1/etc/b.cfg"][0] == b"B2\n"


def test_files_no_longer_rendered_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(tree(("n1", "/etc/a.cfg", b"A\n"), ("n2", "/etc/b.cfg", b"B\n")), out)
    report = write_tree(tree(("n1", "/etc/a.cfg", b"A\n")), out)
    assert report.removed == ("n2/etc/b.cfg",)
    assert not (out / "n2").exists()


def test_refuses_a_directory_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(UsageError, match="refusing to replace"):
        write_tree(tree(("n1", "/etc/a.cfg", b"A\n")), out)
    assert (out / "notes.txt").read_text() == "precious"


def test_failure_midway_leaves_existing_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(tree(("n1", "/etc/a.cfg", b"A\n")), out)
    before = snapshot(out)
    # A file and a directory at the same place cannot both be written: the write fails half-way.
    broken = tree(("n1", "/etc/a.cfg", b"changed\n"), ("n1", "/etc/z", b"file\n"), ("n1", "/etc/z/x", b"under\n"))
    with pytest.raises(RenderError, match="nothing changed"):
        write_tree(broken, out)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no staging directory left behind"


def test_diff_redacts_secrets_and_hides_keys(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(tree(("n1", "/etc/turnserver.conf", b"realm=a\nstatic-auth-secret=s3cr3t-old\n")), out)
    new = tree(
        ("n1", "/etc/turnserver.conf", b"realm=b\nstatic-auth-secret=s3cr3t-old\n"),
        ("n1", "/etc/coturn/tls/privkey.pem", b"-----BEGIN PRIVATE KEY-----\n"),
        sensitive=("/etc/coturn/tls/privkey.pem",),
    )
    text = diff_tree(new, out, ["s3cr3t-old"])
    assert "-realm=a\n+realm=b\n" in text
    assert "s3cr3t" not in text and "PRIVATE KEY" not in text
    assert "sensitive file new: n1/etc/coturn/tls/privkey.pem (content not shown)" in text
    assert diff_tree(tree(("n1", "/etc/turnserver.conf", b"realm=a\nstatic-auth-secret=s3cr3t-old\n")), out, []) == ""
