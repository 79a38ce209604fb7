"""Render a matrix (``dnlint matrix``) and read it back: text, json, csv, html.

Text (people)
    A table, sources down and destinations across, folded into groups of columns that fit the
    width; each cell lists its port classes in short (``tcp 8080 DNAT web:80``; ``else``: the
    ports no other class of the cell names). Below it, every class in full: its ports, fate, the
    one-line summary (where it goes, the source the server sees, or what blocks it, with the rule
    and line) and the witness packet.

JSON (``--format json``, version 1; keys are stable, new keys may be added)::

    {"version": 1, "family": 4, "protos": ["tcp", "udp", "icmp"], "ports": [[1, 65535]],
     "sources": [{"ref": "host", "label": "host", "kind": "host", "addresses": null}, ...],
     "destinations": [...same shape...],
     "assumptions": ["..."],                      # what every cell rests on
     "cells": [{"from": "host", "to": "127.0.0.1", "error": null,
                "classes": [{"proto": "tcp", "ports": [[8080, 8080]],   # [] for icmp (echo)
                             "fate": "direct"|"dnat"|"masqueraded"|"proxied"|"blackhole"|
                                     "no-listener"|"answer-elsewhere"|"isolated"|"unknown",
                             "reachable": true|false|null, "summary": "...",
                             "witness_port": 8080,
                             "answer": {...}}]}]}    # the query answer for witness_port (query's JSON)

CSV (``--format csv``): one row per class, with a header: from, to, proto, ports (``80,443``,
``1-79``; empty for icmp), fate, reachable (true/false/empty), summary, witness_src,
witness_dst, witness_sport, witness_dport, delivered_ip, delivered_port, seen_src,
blocked_table, blocked_chain, blocked_index, blocked_line.

HTML (``--format html``): one self-contained page (no fetches): a heat map of the matrix, each
cell coloured by its fates; a click (or hover) shows the cell's classes, witness and path
(``page.html#cell=N`` opens on cell N, in the JSON's order).
"""

from __future__ import annotations

import csv
import html
import io
import json
import shutil

from .engine.answer import Answer
from .engine.matrix import FATES, Cell, Matrix, MatrixEndpoint, PortClass, ports_text

CSV_FIELDS = ["from", "to", "proto", "ports", "fate", "reachable", "summary", "witness_src", "witness_dst",
              "witness_sport", "witness_dport", "delivered_ip", "delivered_port", "seen_src", "blocked_table",
              "blocked_chain", "blocked_index", "blocked_line"]

SHORT = {"direct": "direct", "dnat": "DNAT", "masqueraded": "masq", "proxied": "proxy", "blackhole": "black hole",
         "no-listener": "no listener", "answer-elsewhere": "answer elsewhere", "isolated": "", "unknown": "possible"}


# --------------------------------------------------------------------------- text


def short_label(c: PortClass) -> str:
    """A class in a few words: its fate and where it goes, or what stops it."""
    a = c.answer
    d = a.delivered or {}
    if c.fate == "isolated":
        b = a.blocked_by or {}
        if b.get("line"):
            return f"{a.verdict} L{b['line']}"
        if b.get("chain") and not b.get("index"):
            return f"{a.verdict} policy"
        return a.verdict
    word = SHORT[c.fate]
    if c.fate in ("dnat", "proxied"):
        s = c.summary.split(" (")[0]
        return s.replace("docker-proxy -> ", "proxy ")
    if c.fate == "masqueraded":
        return f"masq {d.get('seen_src')}" if d.get("seen_src") else word
    return word


def cell_lines(cell: Cell) -> list[str]:
    """The cell in the table: per protocol, each short label with its ports (classes with one
    label shown together), the one with the most ports as ``else``."""
    if cell.error:
        return ["error"]
    labels: dict[str, dict[str, list[tuple[int, int]]]] = {}
    for c in cell.classes:
        per = labels.setdefault(c.proto, {})
        per.setdefault(short_label(c), []).extend(c.ports)
    if len(labels) > 1 and all(len(v) == 1 for v in labels.values()) and \
            len({next(iter(v)) for v in labels.values()}) == 1:
        return [f"all {next(iter(next(iter(labels.values()))))}"]
    lines = []
    for p, per in labels.items():
        if len(per) == 1:
            lines.append(f"{p} {next(iter(per))}")
            continue
        widest = max(per, key=lambda lab: sum(hi - lo + 1 for lo, hi in per[lab]))
        for lab, ports in per.items():
            if lab != widest:
                lines.append(f"{p} {_short_ports(sorted(ports))} {lab}")
        lines.append(f"{p} else {widest}")
    return lines


def _short_ports(ports: list[tuple[int, int]], limit: int = 18) -> str:
    t = ports_text(ports)
    return t if len(t) <= limit else t[:limit - 3] + "..."


def render_text(m: Matrix, *, title: str = "", width: int | None = None, details: bool = True) -> str:
    width = width or shutil.get_terminal_size((120, 24)).columns
    out = []
    head = (f"matrix{' of ' + title if title else ''} (IPv{m.family}; {', '.join(m.protos)}; ports "
            f"{ports_text(m.ports)}): {len(m.sources)} sources x {len(m.destinations)} destinations, "
            f"{sum(len(c.classes) for c in m.cells)} classes from {m.queries} queries")
    out.append(head)
    grid = {(c.src.ref, c.dst.ref): cell_lines(c) for c in m.cells}
    row_w = max(len("from \\ to") + 2, min(28, max(len(s.label) for s in m.sources) + 2)) if m.sources else 12
    col_ws = {}
    for d in m.destinations:
        col_ws[d.ref] = min(30, max([len(d.label)] + [len(line) for s in m.sources
                                                      for line in grid.get((s.ref, d.ref), [])]) + 2)
    groups, cur, used = [], [], row_w
    for d in m.destinations:
        if cur and used + col_ws[d.ref] > width:
            groups.append(cur)
            cur, used = [], row_w
        cur.append(d)
        used += col_ws[d.ref]
    if cur:
        groups.append(cur)
    for gi, group in enumerate(groups):
        out.append("")
        if len(groups) > 1:
            out.append(f"[destinations {gi + 1}/{len(groups)}]")
        out.append("from \\ to".ljust(row_w) + "".join(_fit(d.label, col_ws[d.ref]) for d in group))
        for s in m.sources:
            cols = [grid.get((s.ref, d.ref), []) for d in group]
            n = max([1] + [len(c) for c in cols])
            for i in range(n):
                left = _fit(s.label, row_w) if i == 0 else " " * row_w
                out.append((left + "".join(_fit(c[i] if i < len(c) else "", col_ws[d.ref])
                                           for c, d in zip(cols, group))).rstrip())
            out.append("")
    if m.assumptions:
        out.append("assumptions:")
        out.extend(f"  - {a}" for a in m.assumptions)
    if details:
        out.append("")
        out.append("classes:")
        for c in m.cells:
            out.append(f"{c.src.label} -> {c.dst.label}")
            if c.error:
                out.append(f"    error: {c.error}")
            for k in c.classes:
                ports = f" {k.ports_text()}" if k.ports else ""
                out.append(f"    {k.proto}{ports}: {k.fate}: {k.summary}")
                w = k.answer.witness
                if w:
                    out.append(f"        witness {w.get('src')}:{w.get('sport')} -> {w.get('dst')}:{w.get('dport')}"
                               f" in {w.get('in_iface') or '-'} out {w.get('out_iface') or '-'}")
    return "\n".join(out).rstrip() + "\n"


def _fit(text: str, w: int) -> str:
    if len(text) > w - 1:
        text = text[:w - 2] + "…"
    return text.ljust(w)


# --------------------------------------------------------------------------- json


def render_json(m: Matrix) -> str:
    return json.dumps(m.as_dict(), indent=2) + "\n"


def answer_from_dict(d: dict) -> Answer:
    a = Answer(d.get("reachable"), d.get("verdict") or "UNKNOWN", d.get("witness"))
    for k in ("translations", "delivered", "path", "blocked_by", "assumptions", "approximated", "query",
              "source_ports", "how_it_ends", "ends_with"):
        if k in d and d[k] is not None:
            setattr(a, k, d[k])
    return a


def _endpoint(d: dict) -> MatrixEndpoint:
    return MatrixEndpoint(d["ref"], d.get("label") or d["ref"], d.get("kind") or "address", d.get("addresses"))


def matrix_from_dict(d: dict) -> Matrix:
    """The Matrix a ``--format json`` document describes."""
    srcs = [_endpoint(e) for e in d.get("sources", [])]
    dsts = [_endpoint(e) for e in d.get("destinations", [])]
    by_ref = {e.ref: e for e in srcs}
    by_dst = {e.ref: e for e in dsts}
    cells = []
    for c in d.get("cells", []):
        cell = Cell(by_ref.get(c["from"]) or MatrixEndpoint(c["from"], c["from"], "address"),
                    by_dst.get(c["to"]) or MatrixEndpoint(c["to"], c["to"], "address"), error=c.get("error"))
        for k in c.get("classes", []):
            cell.classes.append(PortClass(k["proto"], [tuple(r) for r in k.get("ports", [])], k["fate"],
                                          k.get("reachable"), k.get("summary", ""),
                                          answer_from_dict(k.get("answer") or {}), k.get("witness_port")))
        cells.append(cell)
    return Matrix(d.get("family", 4), srcs, dsts, list(d.get("protos", [])), [tuple(r) for r in d.get("ports", [])],
                  cells, assumptions=list(d.get("assumptions", [])))


# --------------------------------------------------------------------------- csv


def _s(v) -> str:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def csv_rows(m: Matrix) -> list[dict[str, str]]:
    rows = []
    for c in m.cells:
        for k in c.classes:
            a = k.answer
            w = a.witness or {}
            d = a.delivered or {}
            b = a.blocked_by or {}
            rows.append({"from": c.src.ref, "to": c.dst.ref, "proto": k.proto, "ports": k.ports_text(),
                         "fate": k.fate, "reachable": _s(k.reachable), "summary": k.summary,
                         "witness_src": _s(w.get("src")), "witness_dst": _s(w.get("dst")),
                         "witness_sport": _s(w.get("sport")), "witness_dport": _s(w.get("dport")),
                         "delivered_ip": _s(d.get("ip")), "delivered_port": _s(d.get("port")),
                         "seen_src": _s(d.get("seen_src")), "blocked_table": _s(b.get("table")),
                         "blocked_chain": _s(b.get("chain")), "blocked_index": _s(b.get("index")),
                         "blocked_line": _s(b.get("line"))})
    return rows


def render_csv(m: Matrix) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(csv_rows(m))
    return buf.getvalue()


def _int(v: str) -> int | None:
    return int(v) if v not in ("", None) else None


def _ports(v: str) -> list[tuple[int, int]]:
    out = []
    for part in filter(None, v.split(",")):
        lo, _, hi = part.partition("-")
        out.append((int(lo), int(hi or lo)))
    return out


def matrix_from_csv(text: str, family: int = 4) -> Matrix:
    """The Matrix a ``--format csv`` table describes (answers hold the columns the table has)."""
    srcs: dict[str, MatrixEndpoint] = {}
    dsts: dict[str, MatrixEndpoint] = {}
    cells: dict[tuple[str, str], Cell] = {}
    protos: list[str] = []
    for row in csv.DictReader(io.StringIO(text)):
        s = srcs.setdefault(row["from"], MatrixEndpoint(row["from"], row["from"], "address"))
        d = dsts.setdefault(row["to"], MatrixEndpoint(row["to"], row["to"], "address"))
        cell = cells.setdefault((s.ref, d.ref), Cell(s, d))
        reach = {"true": True, "false": False}.get(row["reachable"])
        w = {"src": row["witness_src"] or None, "dst": row["witness_dst"] or None, "proto": row["proto"],
             "sport": _int(row["witness_sport"]), "dport": _int(row["witness_dport"])}
        a = Answer(reach, "", w if row["witness_dst"] else None)
        if row["delivered_ip"] or row["seen_src"]:
            a.delivered = {"ip": row["delivered_ip"] or None, "port": _int(row["delivered_port"]),
                           "seen_src": row["seen_src"] or None}
        if row["blocked_chain"]:
            a.blocked_by = {"table": row["blocked_table"] or None, "chain": row["blocked_chain"],
                            "index": _int(row["blocked_index"]), "line": _int(row["blocked_line"])}
        ports = _ports(row["ports"])
        cell.classes.append(PortClass(row["proto"], ports, row["fate"], reach, row["summary"], a,
                                      w["dport"] if ports else None))
        if row["proto"] not in protos:
            protos.append(row["proto"])
    return Matrix(family, list(srcs.values()), list(dsts.values()), protos, [], list(cells.values()))


# --------------------------------------------------------------------------- html

_COLOURS = {"direct": "#2e9d57", "dnat": "#2f7fd1", "masqueraded": "#7a5bd6", "proxied": "#1aa3a3",
            "blackhole": "#444444", "no-listener": "#c9a227", "answer-elsewhere": "#d9822b",
            "isolated": "#c8453c", "unknown": "#9a9a9a"}


def render_html(m: Matrix, *, title: str = "") -> str:
    data = m.as_dict()
    for c in data["cells"]:
        for k in c["classes"]:
            a = k["answer"]
            k["answer"] = {x: a.get(x) for x in ("witness", "translations", "delivered", "path", "blocked_by",
                                                  "assumptions", "approximated", "verdict", "how_it_ends")}
    payload = json.dumps(data).replace("</", "<\\/")
    legend = "".join(f'<span class="lg"><i style="background:{_COLOURS[f]}"></i>{html.escape(f)}</span>'
                     for f in FATES)
    head = "".join(f'<th title="{html.escape(d.ref)}">{html.escape(d.label)}</th>' for d in m.destinations)
    rows = []
    by = {(c.src.ref, c.dst.ref): (i, c) for i, c in enumerate(m.cells)}
    for s in m.sources:
        tds = []
        for d in m.destinations:
            i, c = by.get((s.ref, d.ref), (None, None))
            if c is None:
                tds.append("<td></td>")
                continue
            fates = [k.fate for k in c.classes]
            stripes = _gradient(fates)
            lines = "<br>".join(html.escape(x) for x in cell_lines(c))
            tds.append(f'<td class="cell" data-i="{i}" tabindex="0" style="background:{stripes}">'
                       f'<div class="lab">{lines}</div></td>')
        rows.append(f'<tr><th class="row" title="{html.escape(s.ref)}">{html.escape(s.label)}</th>{"".join(tds)}</tr>')
    t = html.escape(title or "dnlint matrix")
    return _PAGE.format(title=t, legend=legend, head=head, rows="".join(rows), payload=payload,
                        heading=html.escape(f"{title} — " if title else "") +
                        html.escape(f"IPv{m.family}, {', '.join(m.protos)}, ports {ports_text(m.ports)}: "
                                    f"{len(m.sources)} sources x {len(m.destinations)} destinations"))


def _gradient(fates: list[str]) -> str:
    if not fates:
        return "#fff"
    n = len(fates)
    parts = []
    for i, f in enumerate(fates):
        parts.append(f"{_COLOURS[f]}33 {i * 100 / n:.1f}% {(i + 1) * 100 / n:.1f}%")
    return f"linear-gradient(90deg, {', '.join(parts)})"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font:13px/1.35 system-ui,sans-serif;margin:16px;color:#222}}
table{{border-collapse:collapse}} th,td{{border:1px solid #ccc;padding:4px 6px;vertical-align:top}}
th{{background:#f4f4f4;font-weight:600;position:sticky;top:0}} th.row{{position:sticky;left:0;text-align:left}}
td.cell{{cursor:pointer;min-width:120px}} td.cell:hover,td.cell:focus,td.cell.sel{{outline:2px solid #333}}
.lab{{font:12px ui-monospace,monospace;white-space:nowrap}}
.lg{{margin-right:12px;white-space:nowrap}} .lg i{{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px}}
#detail{{margin-top:14px;padding:10px;border:1px solid #bbb;background:#fafafa;min-height:40px;white-space:pre-wrap;font:12px ui-monospace,monospace}}
</style></head><body>
<h1 style="font-size:18px">dnlint matrix</h1><p>{heading}</p><p>{legend}</p>
<table id="matrix"><thead><tr><th>from \\ to</th>{head}</tr></thead><tbody>{rows}</tbody></table>
<div id="detail">Click a cell to see its classes, witness packets and paths.</div>
<script>
const M = {payload};
function show(i) {{
  const c = M.cells[i]; const out = [c.from + " -> " + c.to];
  if (c.error) out.push("  error: " + c.error);
  for (const k of c.classes) {{
    const ports = k.ports.map(r => r[0] === r[1] ? r[0] : r[0] + "-" + r[1]).join(",");
    out.push("  " + k.proto + (ports ? " " + ports : "") + ": " + k.fate + ": " + k.summary);
    const w = k.answer.witness;
    if (w) out.push("      witness " + w.src + ":" + w.sport + " -> " + w.dst + ":" + w.dport +
                    " in " + (w.in_iface || "-") + " out " + (w.out_iface || "-"));
    for (const p of (k.answer.path || [])) out.push("      " + p.table + " " + p.chain +
                    (p.index ? " #" + p.index : "") + (p.line ? " (line " + p.line + ")" : "") + ": " + p.action);
    const b = k.answer.blocked_by;
    if (b) out.push("      blocked: " + [b.table, b.chain, b.index ? "#" + b.index : "",
                    b.line ? "(line " + b.line + ")" : ""].filter(x => x).join(" ") + " " + (b.reason || ""));
    for (const x of (k.answer.assumptions || [])) out.push("      assumes: " + x);
    for (const t of (k.answer.translations || [])) out.push("      " + t.kind + " " + t.from + " -> " + t.to);
  }}
  const d = document.getElementById("detail"); d.textContent = out.join("\\n");
  document.querySelectorAll("td.sel").forEach(e => e.classList.remove("sel"));
  const td = document.querySelector('td.cell[data-i="' + i + '"]'); if (td) td.classList.add("sel");
}}
document.querySelectorAll("td.cell").forEach(td => {{
  td.addEventListener("click", () => show(+td.dataset.i));
  td.addEventListener("mouseenter", () => show(+td.dataset.i));
  td.addEventListener("keydown", e => {{ if (e.key === "Enter") show(+td.dataset.i); }});
}});
const h = location.hash.match(/cell=([0-9]+)/); if (h) show(+h[1]);  // a link to one cell: page.html#cell=N
</script></body></html>
"""
