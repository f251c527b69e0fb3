"""Copies of the lab site for lab tests: their own name, domain and a free private /24.

A user's lab (`scripts/main-job` leaves `lab` up) and other test modules' labs are never
touched: the lab refuses a private /24 that is already routed, so each copy takes a free one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from voipctl.lab.network import route_conflicts

REPO = Path(__file__).resolve().parent.parent
LAB_SITE = REPO / "inventories" / "lab" / "site.yml"


def free_private_prefix(first: int = 81, last: int = 160) -> str:
    """`10.N.0.` for the first N whose /24 no route on this machine overlaps (the lab's own rule)."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    for third in range(first, last):
        if not route_conflicts(routes, f"10.{third}.0.0/24"):
            return f"10.{third}.0."
    raise RuntimeError(f"no free 10.x.0.0/24 between 10.{first}.0.0 and 10.{last}.0.0 for a test lab")


def lab_site_copy(directory: Path, name: str) -> Path:
    """The lab site renamed `name` (domain `name.voipctl.test`) on a free private /24."""
    text = LAB_SITE.read_text()
    text = text.replace("site: lab\n", f"site: {name}\n").replace("lab.voipctl.test", f"{name}.voipctl.test")
    site = directory / "site.yml"
    site.write_text(text.replace("10.77.0.", free_private_prefix()))
    return site
