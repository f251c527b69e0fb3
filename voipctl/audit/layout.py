"""The order and wording of the audit report as blocks; audit.md and audit.html only format them."""

from __future__ import annotations

from dataclasses import dataclass

from voipctl.audit import tables
from voipctl.audit.tables import Doc, Table


@dataclass(frozen=True)
class Block:
    kind: str  # h1, h2, h3, p, verdict, table
    text: str = ""
    table: Table | None = None
    anchor: str = ""


def _p(text: str) -> Block:
    return Block("p", text)


def _table(table: Table, empty: str) -> Block:
    return Block("table", table=table) if table.rows else _p(empty)


def _verify(doc: Doc) -> str:
    v = doc["verify"]
    if v is None:
        return "No verify report was given (--verify-json): every control below is marked \"not verified\"."
    s = v["summary"] or {}
    stale = "" if v["same_model"] else " It was made for another version of the site model: re-run verify."
    return (f"Evidence from {v['file']}, verify started {v['started']}: {s.get('passed')} passed, "
            f"{s.get('failed')} failed, {s.get('skipped')} skipped.{stale}")


def _controls(doc: Doc) -> list[Block]:
    out = [Block("h2", "Controls", anchor="controls"), _p(_verify(doc)), Block("table", table=tables.summary(doc))]
    for c in doc["controls"]:
        out += [Block("h3", f"{c['title']} ({c['id']})", anchor=f"control-{c['id']}"),
                Block("verdict", c["verdict"]), _p(c["why"])]
        if c["not_applicable_because"]:
            out.append(_p(f"Not applicable: {c['not_applicable_because']}."))
        out += [_table(tables.locations(c), "No line implements it for this site."),
                Block("table", table=tables.deciders(c)),
                _table(tables.evidence(c), "Evidence: not verified.")]
    return out


def _exposure(doc: Doc) -> list[Block]:
    out = [Block("h2", "Exposure", anchor="exposure")]
    for node in doc["exposure"]:
        addresses = f"private {node['private']}" + (f", public {node['public']}" if node["public"] else "")
        out += [Block("h3", f"Node {node['node']} ({addresses})", anchor=f"node-{node['node']}"),
                _p(f"Firewall: {node['firewall']}."), _table(tables.exposure(node), "No listening socket.")]
    return out


def _tls(doc: Doc) -> list[Block]:
    return [Block("h2", "TLS and PKI", anchor="tls"), Block("h3", "Endpoints"),
            _table(tables.endpoints(doc), "No TLS endpoint."), Block("h3", "Certificates"),
            Block("table", table=tables.certificates(doc)), Block("h3", "Certificate authority"),
            _p(doc["tls"]["ca"]["note"] + "."), Block("table", table=tables.ca(doc))]


def _secrets(doc: Doc) -> list[Block]:
    return [Block("h2", "Secrets", anchor="secrets"),
            _p("Which secret lives in which file, with owner and mode. Values and hashes are never shown."),
            Block("table", table=tables.secret_files(doc))]


def _drift(doc: Doc) -> list[Block]:
    drift = doc["drift"]
    out = [Block("h2", "Drift and change", anchor="drift"), Block("h3", "Deployed files vs the render"),
           _p(f"Drift: {drift['note']}.")]
    if drift["checked"]:
        out.append(_table(tables.drift(doc), f"No drift: every deployed file matched the render ({drift['at']})."))
    if doc["changes"] is None:
        return [*out, Block("h3", "Since the previous audit"), _p("No previous audit was given (--previous).")]
    prev = doc["changes"]["previous"]
    out += [Block("h3", "Since the previous audit"), _p(f"Compared with the audit of {prev['generated']}.")]
    for title, table in tables.changes(doc):
        out += [Block("h3", title), _table(table, "None.")]
    return out


def blocks(doc: Doc) -> list[Block]:
    head = [Block("h1", f"Audit of site {doc['site']} ({doc['domain']})"),
            _p(f"Generated {doc['generated']} by voipctl {doc['voipctl']} from model sha256:{doc['model_hash'][:16]}; "
               f"line numbers refer to the render in {doc['render_dir']}. Schema {doc['schema']} "
               f"v{doc['schema_version']}.")]
    return head + _controls(doc) + _exposure(doc) + _tls(doc) + _secrets(doc) + _drift(doc)
