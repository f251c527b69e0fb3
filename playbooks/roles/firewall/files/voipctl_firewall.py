#!/usr/bin/env python3
"""voipctl's host firewall on the host: load it so that a ruleset locking deploy out undoes itself.

needs    is the placed ruleset the one loaded (and confirmed) last?  -> {"apply": bool, "why": str}
apply    snapshot the loaded table, arm a systemd timer that puts the snapshot back (in the kernel and
         in the file) after N seconds, then load the new ruleset atomically (nft -f)
confirm  run by deploy over a NEW connection: stop the timer; fails if it already fired
restore  rollback: stop the timer, load the (restored) file or remove the table
revert   what the timer runs
Prints one JSON line; exit 1 with a message on stderr on failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

UNIT = "voipctl-firewall-revert"
STATE = Path("/var/lib/voipctl/firewall")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def _listing(table: str) -> str | None:
    res = _run(["nft", "--stateless", "list", "table", "inet", table])  # no counters: comparable
    return res.stdout if res.returncode == 0 else None


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.chmod(mode)
    tmp.replace(path)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fail(msg: str) -> int:
    print(msg, file=sys.stderr)
    return 1


def needs(a: argparse.Namespace) -> int:
    record = STATE / "applied.json"
    done = json.loads(record.read_text()) if record.exists() else {}
    live = _listing(a.table)
    if live is None:
        why = "the table is not loaded"
    elif done.get("sha256") != _sha(Path(a.path)):
        why = "the ruleset file changed since it was last loaded"
    elif done.get("listing") != live:
        why = "the loaded table differs from the one deploy confirmed"
    else:
        print(json.dumps({"apply": False, "why": "loaded and confirmed"}))
        return 0
    print(json.dumps({"apply": True, "why": why}))
    return 0


def _disarm() -> None:
    _run(["systemctl", "stop", f"{UNIT}.timer"])
    _run(["systemctl", "reset-failed", f"{UNIT}.service", f"{UNIT}.timer"])


def apply(a: argparse.Namespace) -> int:
    STATE.mkdir(parents=True, exist_ok=True, mode=0o700)
    head = f"table inet {a.table} {{}}\ndelete table inet {a.table}\n"
    previous = STATE / "previous.nft"
    _write(previous, head + (_listing(a.table) or ""), 0o600)
    _disarm()
    timer = _run(["systemd-run", f"--unit={UNIT}", f"--on-active={a.seconds}s", "--timer-property=AccuracySec=1s",
                  "--", sys.executable, str(Path(__file__).resolve()), "revert", "--path", a.path,
                  "--previous", str(previous)])
    if timer.returncode != 0:
        return _fail(f"could not arm the revert timer: {timer.stderr.strip()}")
    load = _run(["nft", "-f", a.path])
    if load.returncode != 0:
        _disarm()
        return _fail(f"nft -f {a.path} failed (nothing changed): {load.stderr.strip()}")
    print(json.dumps({"changed": True, "revert_in": a.seconds}))
    return 0


def confirm(a: argparse.Namespace) -> int:
    state = _run(["systemctl", "show", "--property=SubState", "--value", f"{UNIT}.timer"]).stdout.strip()
    if state != "waiting":
        return _fail(f"the revert timer is {state or 'gone'}: the previous ruleset is back, the new one not confirmed")
    _disarm()
    _write(STATE / "applied.json",
           json.dumps({"sha256": _sha(Path(a.path)), "listing": _listing(a.table)}), 0o600)
    print(json.dumps({"confirmed": True}))
    return 0


def restore(a: argparse.Namespace) -> int:
    _disarm()
    (STATE / "applied.json").unlink(missing_ok=True)
    if Path(a.path).exists():
        res = _run(["nft", "-f", a.path])
    else:
        res = _run(["nft", "delete", "table", "inet", a.table]) if _listing(a.table) is not None else None
    if res is not None and res.returncode != 0:
        return _fail(f"could not restore the previous firewall: {res.stderr.strip()}")
    print(json.dumps({"changed": True}))
    return 0


def revert(a: argparse.Namespace) -> int:
    previous = Path(a.previous)
    res = _run(["nft", "-f", str(previous)])
    _write(Path(a.path), previous.read_text(), 0o644)
    return res.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("needs", "apply", "confirm", "restore", "revert"):
        p = sub.add_parser(name)
        p.add_argument("--path", required=True)
        p.add_argument("--table", default="voipctl")
        p.add_argument("--seconds", type=int, default=45)
        p.add_argument("--previous", default=str(STATE / "previous.nft"))
    a = parser.parse_args()
    return {"needs": needs, "apply": apply, "confirm": confirm, "restore": restore, "revert": revert}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
