"""audit.html: one self-contained page (inline style, no script, font or image from anywhere)."""

from __future__ import annotations

from html import escape

from voipctl.audit.layout import Block, blocks
from voipctl.audit.tables import Doc, Table

STYLE = """
body { font: 14px/1.45 sans-serif; margin: 2em auto; max-width: 78em; padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #444; margin-top: 2em; } h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0 1em; width: 100%; }
th, td { border: 1px solid #bbb; padding: .25em .5em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #eee; } code { font: 12px monospace; white-space: pre-wrap; tab-size: 4; }
.verdict { display: inline-block; padding: .1em .6em; border-radius: .3em; font-weight: bold; }
.proven { background: #d7f5d7; } .failed { background: #f9d0d0; } .other { background: #f3ecc8; }
nav a { margin-right: 1em; }
"""


def _verdict_class(text: str) -> str:
    return text if text in ("proven", "failed") else "other"


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = []
    for row in table.rows:
        cells = []
        for i, cell in enumerate(row):
            inner = escape(cell)
            if i == table.code_column:
                inner = f"<code>{inner}</code>"
            elif i == table.link_column:
                inner = f'<a href="#control-{inner}">{inner}</a>'
            elif i == table.verdict_column:
                inner = f'<span class="verdict {_verdict_class(cell)}">{inner}</span>'
            cells.append(f"<td>{inner}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _block(b: Block) -> str:
    anchor = f' id="{escape(b.anchor)}"' if b.anchor else ""
    if b.kind in ("h1", "h2", "h3"):
        return f"<{b.kind}{anchor}>{escape(b.text)}</{b.kind}>"
    if b.kind == "verdict":
        return f'<p>Verdict: <span class="verdict {_verdict_class(b.text)}">{escape(b.text)}</span></p>'
    if b.table is not None:
        return _table(b.table)
    return f"<p>{escape(b.text)}</p>"


def to_html(doc: Doc) -> str:
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (("controls", "Controls"), ("exposure", "Exposure"),
                                                         ("tls", "TLS and PKI"), ("secrets", "Secrets"),
                                                         ("drift", "Drift and change")))
    body = "\n".join(_block(b) for b in blocks(doc))
    title = escape(f"voipctl audit of site {doc['site']}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{STYLE}</style></head>\n<body><nav>{nav}</nav>\n{body}\n</body></html>\n")
