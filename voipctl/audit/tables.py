"""The audit document as titled tables of plain strings: one layout, shared by audit.md and audit.html."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Doc = Mapping[str, Any]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: list[list[str]]
    code_column: int | None = None  # a column holding config text, shown verbatim
    link_column: int | None = None  # a column of control ids, linked to their sections
    verdict_column: int | None = None


def where(loc: Mapping[str, Any]) -> str:
    node = loc["node"] or "control host"
    return f"{node}:{loc['path']}:{loc['line']}"


def decider_text(d: Mapping[str, Any]) -> str:
    if d["source"] == "rule":
        return f"voipctl rule: {d['rule']}"
    value = d["value"] if isinstance(d["value"], str) else repr(d["value"])
    if d["source"] == "site":
        return f"{d['field']} = {value} (set in {d['file']}:{d['line']})"
    return f"{d['field']} = {value} (default)"


def summary(doc: Doc) -> Table:
    rows = [[c["id"], c["title"], c["verdict"], str(len(c["locations"])), str(len(c["evidence"]))]
            for c in doc["controls"]]
    return Table(("control", "title", "verdict", "lines", "checks"), rows, link_column=0, verdict_column=2)


def locations(control: Mapping[str, Any]) -> Table:
    return Table(("where (node:path:line)", "line"), [[where(loc), loc["text"]] for loc in control["locations"]],
                 code_column=1)


def deciders(control: Mapping[str, Any]) -> Table:
    return Table(("decided by",), [[decider_text(d)] for d in control["decided_by"]])


def evidence(control: Mapping[str, Any]) -> Table:
    rows = [[e["status"], e["group"], e["host"], e["vantage"], e["check"], e["detail"], e["at"] or ""]
            for e in control["evidence"]]
    return Table(("result", "group", "host", "from", "check", "detail", "time"), rows)


def exposure(node: Mapping[str, Any]) -> Table:
    rows = [[s["service"], s["what"], s["proto"], s["address"], s["ports"], s["audience"], s["firewall"] or "none"]
            for s in node["sockets"]]
    return Table(("daemon", "socket", "protocol", "address", "ports", "audience", "firewall rule"), rows)


def endpoints(doc: Doc) -> Table:
    rows = [[e["node"], e["service"], e["socket"], e["floor"], e["ciphers"], e["certificate"],
             "required" if e["client_certificates"] else "not requested"] for e in doc["tls"]["endpoints"]]
    return Table(("node", "daemon", "socket", "floor", "ciphers", "certificate", "client certificates"), rows)


def _cert_row(label: str, c: Mapping[str, Any]) -> list[str]:
    if "subject" not in c:
        return [label, c["state"], "", "", "", "", "", ""]
    chain = " <- ".join(c.get("chain", [c["issuer"]]))
    return [label, c["subject"], ", ".join(c["sans"]), chain, c["key"], c["not_after"], str(c["days_left"]),
            c["serial"]]


def certificates(doc: Doc) -> Table:
    ca = doc["tls"]["ca"]
    rows = [_cert_row("root CA", ca["root"]), _cert_row("intermediate CA", ca["intermediate"])]
    rows += [_cert_row(f"{c['node']} {c['service']}", c) for c in doc["tls"]["certificates"]]
    return Table(("certificate", "subject", "SANs", "issuer chain", "key", "expires", "days left", "serial"), rows)


def _constraints(c: Mapping[str, Any]) -> str:
    bc = c.get("basic_constraints")
    text = f"CA={bc['ca']}, path length {bc['path_length']}" if bc else "no basic constraints"
    nc = c.get("name_constraints")
    return text + (f"; names permitted {nc['permitted']} excluded {nc['excluded']}" if nc else "; no name constraints")


def _key(k: Mapping[str, Any]) -> str:
    if not k["present"]:
        return "not present on this control host"
    return f"mode {k['mode']}, {'encrypted' if k['encrypted'] else 'not encrypted'}"


def ca(doc: Doc) -> Table:
    c = doc["tls"]["ca"]
    rows = [["root CA", _constraints(c["root"]) if "subject" in c["root"] else c["root"]["state"],
             _key(c["root_key"]), c["root_key"]["path"]],
            ["intermediate CA", _constraints(c["intermediate"]) if "subject" in c["intermediate"]
             else c["intermediate"]["state"], _key(c["intermediate_key"]), c["intermediate_key"]["path"]]]
    return Table(("CA", "constraints", "key protection", "key file"), rows)


def secret_files(doc: Doc) -> Table:
    rows = [[f["node"], f["path"], f"{f['owner']}:{f['group']}", f["mode"], ", ".join(f["holds"]) or "(keys)"]
            for f in doc["secrets"]["files"]]
    store = doc["secrets"]["store"]
    rows.insert(0, ["control host", store["path"], "(operator)", store["mode"],
                    f"the secrets store: {', '.join(store['names'])}"])
    return Table(("host", "file", "owner", "mode", "holds (names only, never values)"), rows)


def drift(doc: Doc) -> Table:
    d = doc["drift"]
    rows = [[p["status"], p["host"], p["check"], p["detail"]] for p in d.get("problems", [])]
    return Table(("result", "host", "check", "detail"), rows)


def changes(doc: Doc) -> list[tuple[str, Table]]:
    ch = doc["changes"]
    if ch is None:
        return []
    def sock(s: Mapping[str, Any]) -> list[str]:
        return [s["node"], s["what"], f"{s['proto']} {s['address']}:{s['ports']}", s["audience"]]
    return [
        ("Controls added / removed", Table(("change", "control"), [["added", c] for c in ch["controls_added"]]
                                          + [["removed", c] for c in ch["controls_removed"]])),
        ("Lines moved", Table(("control", "file", "from", "to", "line"), [
            [m["control"], f"{m['node'] or 'control host'}:{m['path']}", str(m["from"]), str(m["to"]), m["text"]]
            for m in ch["lines_moved"]], code_column=4)),
        ("Lines added / removed", Table(("change", "control", "file", "lines", "line"), [
            [kind, m["control"], f"{m['node'] or 'control host'}:{m['path']}", str(m["lines"]), m["text"]]
            for kind in ("added", "removed") for m in ch[f"lines_{kind}"]], code_column=4)),
        ("Listeners added / removed", Table(("change", "node", "socket", "address", "audience"),
                                            [["added", *sock(s)] for s in ch["listeners_added"]]
                                            + [["removed", *sock(s)] for s in ch["listeners_removed"]])),
        ("Certificates renewed", Table(("node", "service", "serial before", "serial", "expiry before", "expiry"), [
            [r["node"], r["service"], str(r["serial_before"]), str(r["serial"]), str(r["not_after_before"]),
             str(r["not_after"])] for r in ch["certificates_renewed"]])),
    ]
