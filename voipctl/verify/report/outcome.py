"""One verify outcome. Skips carry their reason and never count as passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Outcome:
    """Result of one check: `group` (testinfra, sip, turn, tls, browser, ...), `name`, where it ran from."""

    group: str
    name: str
    status: Status
    detail: str
    host: str = ""
    vantage: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "passed"
