"""The verify report: a terminal table (rich), JSON and JUnit XML, all from the same Outcomes.

Skips are listed with their reason and counted apart: never as passes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from rich.table import Table

from voipctl.verify.report.outcome import Outcome

STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


@dataclass(frozen=True)
class VerifyReport:
    site: str
    model_hash: str
    started: datetime
    seconds: float
    outcomes: tuple[Outcome, ...]
    reachability: tuple[dict[str, Any], ...] = field(default=())  # who may reach what (firewall), not checks

    def count(self) -> Counter[str]:
        counts: Counter[str] = Counter(o.status for o in self.outcomes)
        for status in ("passed", "failed", "skipped"):
            counts.setdefault(status, 0)
        return counts

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> str:
        c = self.count()
        return (f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped "
                f"of {len(self.outcomes)} checks in {self.seconds:.1f}s")


def table(report: VerifyReport, only_problems: bool = False) -> Table:
    t = Table(title=f"verify of site {report.site}", title_justify="left")
    for col in ("result", "group", "host", "from", "check", "detail"):
        t.add_column(col, overflow="fold", ratio=3 if col in ("check", "detail") else None)
    for o in report.outcomes:
        if only_problems and o.status == "passed":
            continue
        t.add_row(o.status.upper() if o.status != "passed" else "ok", o.group, o.host, o.vantage, o.name, o.detail,
                  style=STYLE[o.status])
    return t


def to_json(report: VerifyReport) -> str:
    c = report.count()
    doc = {
        "site": report.site,
        "model_hash": report.model_hash,
        "started": report.started.isoformat(),
        "seconds": round(report.seconds, 3),
        "summary": {"passed": c["passed"], "failed": c["failed"], "skipped": c["skipped"],
                    "total": len(report.outcomes)},
        "ok": c["failed"] == 0,
        "outcomes": [asdict(o) for o in report.outcomes],
        "reachability": list(report.reachability),
    }
    return json.dumps(doc, indent=2) + "\n"


def _case_name(o: Outcome) -> str:
    where = " ".join(p for p in (o.host, f"from {o.vantage}" if o.vantage else "") if p)
    return f"[{where}] {o.name}" if where else o.name


def to_junit(report: VerifyReport) -> str:
    """JUnit XML: one testsuite per group, one testcase per outcome; skips are <skipped>, never passes."""
    c = report.count()
    root = ET.Element("testsuites", name=f"voipctl verify {report.site}", tests=str(len(report.outcomes)),
                      failures=str(c["failed"]), skipped=str(c["skipped"]), errors="0",
                      time=f"{report.seconds:.3f}", timestamp=report.started.isoformat())
    groups: dict[str, list[Outcome]] = {}
    for o in report.outcomes:
        groups.setdefault(o.group, []).append(o)
    for group, items in groups.items():
        counts = Counter(o.status for o in items)
        suite = ET.SubElement(root, "testsuite", name=group, tests=str(len(items)),
                              failures=str(counts["failed"]), skipped=str(counts["skipped"]), errors="0",
                              time=f"{sum(o.seconds for o in items):.3f}")
        for o in items:
            case = ET.SubElement(suite, "testcase", classname=f"voipctl.verify.{group}", name=_case_name(o),
                                 time=f"{o.seconds:.3f}")
            if o.status == "failed":
                ET.SubElement(case, "failure", message=o.detail).text = o.detail
            elif o.status == "skipped":
                ET.SubElement(case, "skipped", message=o.detail)
            elif o.detail:
                ET.SubElement(case, "system-out").text = o.detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
