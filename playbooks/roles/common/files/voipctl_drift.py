#!/usr/bin/python3
# Copyright: voipctl contributors. Apache-2.0.
"""Which of a service's files and directories differ from the render (stdlib only, read-only).

Why: one call checks every file's sha256, owner, group and mode (and every
directory's owner, group and mode), so a converged host skips the per-item
round trips entirely; only what is listed here goes through `file` / `copy`
(with backup, validation and handlers).
A seed file (entry with "handover": {path, marker}) belongs to its daemon once the
daemon has written the marker into that path (Openfire's <setup>true</setup>): it is
then never listed, so deploy never replaces what the daemon rewrote; it is listed
under "owned" instead when the render differs from what the daemon holds (so
deploy can say the site's change to it is not applied).
Reads --files (JSON list of {dest, sha256, owner, group, mode}) and --dirs (JSON
list of {path, owner, group, mode}); prints {"files": [dest...], "dirs": [path...]}
for those missing or different, and {"owned": [dest...]}. Never prints content.
With --state (JSON {packages, accounts, unit, helpers, dirs, spec}) it reads instead, in the same one
round trip, what a service role checks before its files: installed package versions
(dpkg-query lines), the service accounts missing or different, whether the unit is
enabled and active, the service's drift (spec: its {files, dirs}, as --files/--dirs
would report it) and which helper scripts differ (entries as for --files, their sha256
in helper_sha256, computed on the controller).
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import json
import pwd
import subprocess
import sys
from pathlib import Path


def _sha256(path):
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(65536), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _attrs_differ(path, entry):
    st = path.stat()
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        return True
    return (owner, group) != (entry["owner"], entry["group"]) or st.st_mode & 0o7777 != int(entry["mode"], 8)


def handed_over(handover):
    try:
        return handover["marker"].encode() in Path(handover["path"]).read_bytes()
    except OSError:
        return False


def owned(entry):
    """A seed its daemon took over, whose content is no longer the render's."""
    if not (entry.get("handover") and handed_over(entry["handover"])):
        return False
    path = Path(entry["dest"])
    return path.is_file() and _sha256(path) != entry["sha256"]


def differs(entry):
    if entry.get("handover") and handed_over(entry["handover"]):
        return False
    path = Path(entry["dest"])
    if path.is_symlink() or not path.is_file():
        return True
    return _attrs_differ(path, entry) or _sha256(path) != entry["sha256"]


def dir_differs(entry):
    path = Path(entry["path"])
    if path.is_symlink() or not path.is_dir():
        return True
    return _attrs_differ(path, entry)


def account_differs(entry):
    """{user, group, home, shell}: missing, or not as the role's user/group tasks would leave it."""
    try:
        user = pwd.getpwnam(entry["user"])
        group = grp.getgrnam(entry["group"])
    except KeyError:
        return True
    return (user.pw_gid, user.pw_dir, user.pw_shell) != (group.gr_gid, entry["home"], entry["shell"])


def unit_ok(unit):
    if not unit:
        return False
    verbs = ("is-enabled", "is-active")
    return all(subprocess.run(["systemctl", verb, "--quiet", unit], check=False).returncode == 0 for verb in verbs)


def drift(entries, dirs):
    return {"files": [e["dest"] for e in entries if differs(e)], "dirs": [e["path"] for e in dirs if dir_differs(e)],
            "owned": [e["dest"] for e in entries if owned(e)]}


def state(doc):
    lines = []
    if doc["packages"]:
        fmt = "--showformat=${Package}|${db:Status-Abbrev}|${Version}\n"
        run = subprocess.run(["dpkg-query", "-W", fmt, *doc["packages"]], capture_output=True, text=True, check=False)
        lines = run.stdout.splitlines()
    return {"packages": lines, "accounts": [a["user"] for a in doc["accounts"] if account_differs(a)],
            "unit_ok": unit_ok(doc["unit"]),
            "helpers": [e["dest"] for e, digest in zip(doc["helpers"], doc["helper_sha256"], strict=True)
                        if differs({**e, "sha256": digest})],
            "dirs": [d["path"] for d in doc.get("dirs", []) if dir_differs(d)],
            "drift": drift(doc["spec"]["files"], doc["spec"]["dirs"]) if doc.get("spec") else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", help="JSON list of {dest, sha256, owner, group, mode}")
    parser.add_argument("--dirs", default="[]", help="JSON list of {path, owner, group, mode}")
    parser.add_argument("--state", help="JSON {packages, accounts, unit, helpers, dirs, spec}: the host's state")
    args = parser.parse_args()
    if args.state:
        print(json.dumps(state(json.loads(args.state))))
        return 0
    if args.files is None:
        parser.error("--files or --state is required")
    print(json.dumps(drift(json.loads(args.files), json.loads(args.dirs))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
