"""How a certificate's DNS names cover a name clients dial (RFC 6125).

The plan's cross-checks (planned SANs) and the bring-your-own-certificate check
(SANs of a supplied certificate) ask the same question, so it is answered here once.
"""

from __future__ import annotations

from collections.abc import Sequence


def dns_covered(name: str, patterns: Sequence[str]) -> bool:
    """RFC 6125 matching: exact, or a `*.` wildcard standing for exactly one leftmost label."""
    name = name.lower().rstrip(".")
    for pat in (p.lower().rstrip(".") for p in patterns):
        if pat == name:
            return True
        if pat.startswith("*.") and "." in name and name.split(".", 1)[1] == pat[2:]:
            return True
    return False
