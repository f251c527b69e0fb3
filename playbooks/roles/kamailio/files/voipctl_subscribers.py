#!/usr/bin/python3
# Copyright: voipctl contributors. Apache-2.0.
"""Apply voipctl's rendered subscriber SQL to kamailio's sqlite DB (stdlib only).

Why a script: the SQL is idempotent (upserts) but applying it is not free and
must be reported as a change only when something changed. A stamp file beside
the DB records the sha256 of the SQL last applied; the DB and the stamp are
owned by kamailio and mode 0600, so only kamailio (and root) can read hashes.
Prints one JSON object {"changed": bool, "msg": str}; never prints the SQL.

Before changing the DB it keeps what was there (a consistent sqlite copy and the
stamp, 0600, or a marker saying there was no DB): `--restore` puts that back when
the activation fails later (rollback), `--forget` drops it once the gate passed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import sqlite3
import sys
from pathlib import Path

DB_MODE = 0o600


def _owner_ok(path, uid, gid):
    st = path.stat()
    return st.st_uid == uid and st.st_gid == gid and (st.st_mode & 0o777) == DB_MODE


def _read(path):
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _write_stamp(path, digest, uid, gid):
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, DB_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(digest + "\n")
    os.chown(tmp, uid, gid)
    tmp.replace(path)


def _kept(db_path):
    """Where the pre-deploy state is kept: the DB copy, its stamp, and the "there was no DB" marker."""
    return (db_path.with_name(f"{db_path.name}.voipctl-prev"),
            db_path.with_name(f"{db_path.name}.voipctl-sha256.voipctl-prev"),
            db_path.with_name(f"{db_path.name}.voipctl-created"))


def forget(db_path):
    removed = False
    for path in _kept(db_path):
        if path.exists():
            path.unlink()
            removed = True
    return {"changed": removed, "msg": "pre-deploy copy of the subscriber DB removed" if removed
            else "no pre-deploy copy of the subscriber DB"}


def _copy_db(src, dst):
    """sqlite's online backup: consistent even while kamailio has the DB open."""
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    source.close()
    target.close()


def _keep(db_path, stamp, uid, gid):
    forget(db_path)
    prev_db, prev_stamp, created = _kept(db_path)
    old_umask = os.umask(0o077)
    try:
        if not db_path.exists():
            created.touch(mode=DB_MODE)
            return
        _copy_db(db_path, prev_db)
        os.chown(prev_db, uid, gid)
        if stamp.exists():
            _write_stamp(prev_stamp, _read(stamp), uid, gid)
    finally:
        os.umask(old_umask)


def restore(db_path, owner):
    """Put back the DB as it was before this deploy changed it (rollback)."""
    user = pwd.getpwnam(owner)
    prev_db, prev_stamp, created = _kept(db_path)
    stamp = db_path.with_name(f"{db_path.name}.voipctl-sha256")
    if prev_db.exists():
        _copy_db(prev_db, db_path)
        os.chown(db_path, user.pw_uid, user.pw_gid)
        db_path.chmod(DB_MODE)
        if prev_stamp.exists():
            _write_stamp(stamp, _read(prev_stamp), user.pw_uid, user.pw_gid)
        else:
            stamp.unlink(missing_ok=True)
        msg = "subscriber DB restored to its pre-deploy content"
    elif created.exists():
        db_path.unlink(missing_ok=True)
        stamp.unlink(missing_ok=True)
        msg = "subscriber DB created by this deploy removed"
    else:
        return {"changed": False, "msg": "no pre-deploy copy of the subscriber DB to restore"}
    forget(db_path)
    return {"changed": True, "msg": msg}


def apply(sql_path, db_path, owner, check):
    user = pwd.getpwnam(owner)
    if check and not sql_path.exists():
        return {"changed": True, "msg": "subscriber DB would be created once the SQL is placed"}
    sql = sql_path.read_bytes()
    digest = hashlib.sha256(sql).hexdigest()
    stamp = db_path.with_name(f"{db_path.name}.voipctl-sha256")
    exists = db_path.exists()
    if exists and _read(stamp) == digest and _owner_ok(db_path, user.pw_uid, user.pw_gid):
        return {"changed": False, "msg": "subscriber DB already holds this SQL"}
    if check:
        return {"changed": True, "msg": "subscriber DB would be updated"}
    _keep(db_path, stamp, user.pw_uid, user.pw_gid)
    old_umask = os.umask(0o077)
    try:
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.executescript(sql.decode("utf-8"))
        finally:
            conn.close()
    finally:
        os.umask(old_umask)
    os.chown(db_path, user.pw_uid, user.pw_gid)
    db_path.chmod(DB_MODE)
    _write_stamp(stamp, digest, user.pw_uid, user.pw_gid)
    return {"changed": True, "msg": "subscriber DB created" if not exists else "subscriber DB updated"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sql")
    parser.add_argument("--db", required=True)
    parser.add_argument("--owner", default="kamailio")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report what would change, change nothing")
    mode.add_argument("--restore", action="store_true", help="put back the DB as it was before this deploy")
    mode.add_argument("--forget", action="store_true", help="drop the pre-deploy copy (the gate passed)")
    args = parser.parse_args()
    if not (args.restore or args.forget or args.sql):
        parser.error("--sql is required to apply")
    try:
        if args.restore:
            result = restore(Path(args.db), args.owner)
        elif args.forget:
            result = forget(Path(args.db))
        else:
            result = apply(Path(args.sql), Path(args.db), args.owner, args.check)
    except (OSError, KeyError, sqlite3.Error, UnicodeDecodeError) as exc:
        print(json.dumps({"changed": False, "msg": f"applying subscriber SQL failed: {type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
