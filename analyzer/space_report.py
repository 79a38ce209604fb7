"""Reports of the address-space view (`dnlint matrix --space`): text, json, csv and html.

JSON (version 1): ``{"version": 1, "view": "space", "family", "path", "in_iface", "out_iface",
"assumptions": [...], "services": [{"proto", "dport", "sport", "classes": [{"id", "ranges",
"addresses", "witness"}], "edges": [[from, to, "accept" | "possible"], ...], "proofs": [{"from",
"to", "fate", "witness", "path", "why"?}], "stats": {...}}]}``. A pair of classes not in
``edges`` is denied. ``ranges`` are CIDR blocks or ``first-last`` address ranges.
"""

from __future__ import annotations

import csv
import html
import io
import ipaddress
import json
import shutil

from .engine.space import FATE_NAMES, ServiceMatrix, SpaceClass, SpaceEdge, SpaceMatrix

_CODES = {v: k for k, v in FATE_NAMES.items()}


# --------------------------------------------------------------------------- text


def _ids_text(ids: list[int]) -> str:
    """1,2,3,5 -> '1-3, 5'."""
    out, start, prev = [], None, None
    for i in ids:
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            out.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = i
    if start is not None:
        out.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(out)


def _class_text(c: SpaceClass, limit: int = 6) -> str:
    t = c.texts()
    more = f" and {len(t) - limit} more ranges" if len(t) > limit else ""
    return ", ".join(t[:limit]) + more


def render_text(m: SpaceMatrix, *, title: str = "", class_limit: int = 60, width: int | None = None,
                hint: str = "") -> str:
    width = width or shutil.get_terminal_size((100, 24)).columns
    out = []
    if title:
        out.append(title)
    where = f"arriving on {m.in_iface}" if m.in_iface else ""
    if m.out_iface and m.path == "forward":
        where += f"{', ' if where else ''}leaving on {m.out_iface}"
    out.append(f"address-space matrix, IPv{m.family}, path {m.path}{f' ({where})' if where else ''}")
    if hint:
        out.append(f"({hint})")
    for s in m.services:
        st = s.stats()
        out.append("")
        out.append(f"{s.proto} {s.dport} (source port {s.sport}): {st['classes']} classes, {st['edges']} edges "
                   f"({st['possible_edges']} possible); {st['witnesses_replayed']} witnesses replayed")
        keep = None
        if s.allowed_src is not None:
            keep = set(s.allowed_src.tolist()) | set(s.allowed_dst.tolist())
        listed = [c for c in s.classes if keep is None or c.id in keep]
        for c in listed[:class_limit]:
            out.append(_fit(f"  [{c.id}] {_class_text(c)}", width))
        if len(listed) > class_limit:
            out.append(f"  ... {len(listed) - class_limit} more classes (--format json lists them all)")
        out.append("  reaches:")
        shown = 0
        rows = set(s.allowed_src.tolist()) if s.allowed_src is not None else None
        for i, (dsts, codes) in enumerate(s.reach):
            if shown >= class_limit:
                break
            if rows is not None and i not in rows:
                continue
            if not len(dsts):
                out.append(f"    [{i}] -> nothing (denied to every class{' asked' if rows is not None else ''})")
                shown += 1
                continue
            groups: dict[tuple[int, str | None], list[int]] = {}
            for j, c in zip(dsts.tolist(), codes.tolist()):
                groups.setdefault((c % 3, s.code_nat.get(c)), []).append(int(j))
            parts = []
            for (f, nat), ids in sorted(groups.items(), key=lambda kv: (-kv[0][0] % 3, kv[0][1] or "")):
                parts.append(f"{FATE_NAMES[f]} {_ids_text(ids)}{f' ({nat})' if nat else ''}")
            out.append(_fit(f"    [{i}] -> {'; '.join(parts)}", width))
            shown += 1
        deny = [p for p in s.proofs if p.fate == "deny" and p.path][:3]
        for p in deny:
            last = p.path[-1]
            if last.get("table") is None:
                where = last.get("action")
            else:
                where = (f"{last.get('table')} {last.get('chain')} #{last.get('index')}" if last.get("index") else
                         f"{last.get('table')} {last.get('chain')} {last.get('action')}") + f" (line {last.get('line')})"
            out.append(_fit(f"  denied [{p.src}] -> [{p.dst}]: {where}", width))
        if len(s.reach) > class_limit and shown >= class_limit:
            out.append("    ... more sources (--format json lists them all)")
        why = [p for p in s.proofs if p.fate == "possible" and p.why][:3]
        for p in why:
            out.append(_fit(f"  possible [{p.src}] -> [{p.dst}]: {p.why}", width))
        for f in s.replay_failures:
            out.append(f"  REPLAY DISAGREES: {f}")
    if m.assumptions:
        out.append("")
        out.append("assumptions:")
        out.extend(_fit(f"  - {a}", width) for a in m.assumptions)
    return "\n".join(out) + "\n"


def _fit(text: str, w: int) -> str:
    return text if len(text) <= w else text[:max(w - 3, 10)] + "..."


# --------------------------------------------------------------------------- json


def render_json(m: SpaceMatrix) -> str:
    buf = io.StringIO()
    write_json(m, buf)
    return buf.getvalue()


def write_json(m: SpaceMatrix, out) -> None:
    """The json report, written as it goes: the edges of a huge matrix (millions on a 50,000-rule
    set) are never all in memory as Python objects. Classes, proofs and stats as ``as_dict``; the
    edges one line per source class."""
    head = {"version": 1, "view": "space", "family": m.family, "path": m.path, "in_iface": m.in_iface,
            "out_iface": m.out_iface, "assumptions": m.assumptions}
    body = json.dumps(head, indent=2)
    out.write(body[:-2] + ',\n  "services": [')
    for k, s in enumerate(m.services):
        out.write(",\n" if k else "\n")
        meta = {"proto": s.proto, "dport": s.dport, "sport": s.sport,
                "classes": [c.as_dict() for c in s.classes]}
        text = json.dumps(meta)
        out.write("    " + text[:-1] + ', "edges": [')
        first = True
        names = {c: FATE_NAMES[c % 3] for c in range(3)}
        for i, (dsts, codes) in enumerate(s.reach):
            if not len(dsts):
                continue
            if s.code_nat:
                parts = [json.dumps([i, j, FATE_NAMES[c % 3], *([s.code_nat[c]] if c in s.code_nat else [])])
                         for j, c in zip(dsts.tolist(), codes.tolist())]
            else:
                parts = [f'[{i},{j},"{names[c]}"]' for j, c in zip(dsts.tolist(), codes.tolist())]
            out.write(("" if first else ",") + "\n      " + ",".join(parts))
            first = False
        out.write("\n    ], " + json.dumps({"proofs": [e.as_dict() for e in s.proofs], "stats": s.stats()})[1:])
    out.write("\n  ]\n}\n")


def _range(text: str, family: int) -> tuple[int, int]:
    if "-" in text and "/" not in text:
        a, b = text.split("-", 1)
        return int(ipaddress.ip_address(a)), int(ipaddress.ip_address(b))
    net = ipaddress.ip_network(text, strict=False)
    return int(net.network_address), int(net.broadcast_address)


def _reach(n: int, edges) -> tuple[list[tuple], dict[int, str]]:
    """Per source class (destination ids, codes), and the translations of the codes: a fate with a
    translation gets a code of its own (fate + 3 * k), as the engine's full path gives them."""
    import numpy as np

    per: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    nat_ids: dict[str, int] = {}
    code_nat: dict[int, str] = {}
    for e in edges:
        i, j, f = e[0], e[1], e[2]
        c = _CODES[f]
        if len(e) > 3 and e[3]:
            k = nat_ids.setdefault(e[3], len(nat_ids) + 1)
            c += 3 * k
            code_nat[c] = e[3]
        per[int(i)].append((int(j), c))
    out = []
    for lst in per:
        lst.sort()
        out.append((np.array([j for j, _ in lst], dtype=np.int32), np.array([c for _, c in lst], dtype=np.int64)))
    return out, code_nat


def space_from_dict(d: dict) -> SpaceMatrix:
    fam = d["family"]
    services = []
    for s in d["services"]:
        classes = [SpaceClass(c["id"], [_range(r, fam) for r in c["ranges"]], fam) for c in s["classes"]]
        st = s["stats"]
        proofs = [SpaceEdge(p["from"], p["to"], p["fate"], p["witness"], p.get("path", []), p.get("why"))
                  for p in s.get("proofs", [])]
        reach, code_nat = _reach(len(classes), s["edges"])
        services.append(ServiceMatrix(s["proto"], s["dport"], s["sport"], classes, reach,
                                      st["source_classes"], st["destination_classes"], st["classes_upper_closure"],
                                      (st["source_atoms"], st["destination_atoms"]), proofs,
                                      list(st.get("replay_failures", [])), code_nat=code_nat))
    return SpaceMatrix(fam, d["path"], services, d.get("in_iface"), d.get("out_iface"), list(d.get("assumptions", [])))


# --------------------------------------------------------------------------- csv

CSV_FIELDS = ["proto", "dport", "sport", "from", "from_ranges", "to", "to_ranges", "fate", "nat"]


def render_csv(m: SpaceMatrix) -> str:
    """One row per pair of classes that is not denied; ``to`` empty for a class that reaches nothing
    (so that every class is in the file)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for s in m.services:
        texts = [" ".join(c.texts()) for c in s.classes]
        for i, (dsts, codes) in enumerate(s.reach):
            if not len(dsts):
                w.writerow({"proto": s.proto, "dport": s.dport, "sport": s.sport, "from": i,
                            "from_ranges": texts[i], "to": "", "to_ranges": "", "fate": "deny"})
            for j, c in zip(dsts.tolist(), codes.tolist()):
                w.writerow({"proto": s.proto, "dport": s.dport, "sport": s.sport, "from": i,
                            "from_ranges": texts[i], "to": j, "to_ranges": texts[j], "fate": FATE_NAMES[c % 3],
                            "nat": s.code_nat.get(c, "")})
    return buf.getvalue()


def space_from_csv(text: str, family: int = 4, path: str = "forward") -> SpaceMatrix:
    """The classes and edges of a csv report (stats and proofs are not in the csv)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    by: dict[tuple, dict] = {}
    for r in rows:
        key = (r["proto"], int(r["dport"]), int(r["sport"]))
        svc = by.setdefault(key, {"classes": {}, "edges": []})
        svc["classes"][int(r["from"])] = r["from_ranges"]
        if r["to"] != "":
            svc["classes"][int(r["to"])] = r["to_ranges"]
            svc["edges"].append((int(r["from"]), int(r["to"]), r["fate"], r.get("nat") or None))
    services = []
    for (proto, dport, sport), svc in by.items():
        n = max(svc["classes"]) + 1
        classes = [SpaceClass(i, [_range(x, family) for x in svc["classes"][i].split()], family) for i in range(n)]
        reach, code_nat = _reach(n, svc["edges"])
        services.append(ServiceMatrix(proto, dport, sport, classes, reach, 0, 0, 0, (0, 0), code_nat=code_nat))
    return SpaceMatrix(family, path, services, None, None, [])


# --------------------------------------------------------------------------- html

_COLOURS = {"accept": "#2e9d57", "possible": "#e0a526", "deny": "#c8ccd2"}
HTML_CLASS_LIMIT = 150


def render_html(m: SpaceMatrix, *, title: str = "") -> str:
    data = m.as_dict()
    for s in data["services"]:
        s["classes"] = s["classes"][:HTML_CLASS_LIMIT]
        s["edges"] = [e for e in s["edges"] if e[0] < HTML_CLASS_LIMIT and e[1] < HTML_CLASS_LIMIT]
    payload = json.dumps(data).replace("</", "<\\/")
    sections = []
    for k, s in enumerate(m.services):
        n = min(len(s.classes), HTML_CLASS_LIMIT)
        head = "".join(f'<th title="{html.escape(_class_text(c, 3))}">{c.id}</th>' for c in s.classes[:n])
        rows = []
        for i in range(n):
            dsts, codes = s.reach[i]
            fate = dict(zip(dsts.tolist(), codes.tolist()))
            tds = "".join(
                f'<td class="cell" data-s="{k}" data-i="{i}" data-j="{j}" tabindex="0" '
                f'style="background:{_COLOURS[FATE_NAMES[fate.get(j, 0)]]}"></td>' for j in range(n))
            rows.append(f'<tr><th class="row" title="{html.escape(_class_text(s.classes[i], 3))}">{i}</th>{tds}</tr>')
        more = (f"<p>the first {HTML_CLASS_LIMIT} of {len(s.classes)} classes</p>"
                if len(s.classes) > HTML_CLASS_LIMIT else "")
        sections.append(f"<h2>{html.escape(s.proto)} {s.dport} (source port {s.sport}): {len(s.classes)} classes</h2>"
                        f"{more}<table><tr><th>from \\ to</th>{head}</tr>{''.join(rows)}</table>")
    legend = "".join(f'<span class="lg"><i style="background:{c}"></i>{f}</span>' for f, c in _COLOURS.items())
    t = html.escape(title or "dnlint matrix --space")
    return _PAGE.format(title=t, heading=html.escape(f"{title} — " if title else "") +
                        html.escape(f"address-space matrix, IPv{m.family}, path {m.path}"),
                        legend=legend, sections="".join(sections), payload=payload)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th {{ font-weight: 600; padding: 2px 4px; font-size: 11px; }}
td.cell {{ width: 14px; height: 14px; border: 1px solid #fff; cursor: pointer; }}
td.cell:hover, td.cell:focus {{ outline: 2px solid #1d2330; }}
.lg {{ margin-right: 1em; }} .lg i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; }}
#details {{ position: sticky; top: 0; background: #f5f6f8; border: 1px solid #d5d9e0; padding: .6em 1em;
  white-space: pre-wrap; font-family: ui-monospace, monospace; min-height: 3em; margin: 1em 0; }}
</style></head><body>
<h1>{heading}</h1>
<div>{legend}</div>
<div id="details">click a cell for its classes, fate, witness and path</div>
{sections}
<script id="data" type="application/json">{payload}</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
function show(el) {{
  const s = data.services[+el.dataset.s], i = +el.dataset.i, j = +el.dataset.j;
  const e = s.edges.find(x => x[0] === i && x[1] === j);
  const fate = e ? e[2] : "deny";
  const p = (s.proofs || []).find(x => x.from === i && x.to === j);
  let t = `${{s.proto}} ${{s.dport}}: class ${{i}} -> class ${{j}}: ${{fate}}${{e && e[3] ? ", " + e[3] : ""}}\\n`;
  t += `from ${{s.classes[i].ranges.join(", ")}}\\nto   ${{s.classes[j].ranges.join(", ")}}\\n`;
  t += `witness ${{s.classes[i].witness}} -> ${{s.classes[j].witness}} (${{s.proto}} sport ${{s.sport}} dport ${{s.dport}})\\n`;
  if (p) {{
    t += "path: " + p.path.map(x => x.table ? `${{x.table}} ${{x.chain}}${{x.index ? " #" + x.index : ""}} (line ${{x.line}}) ${{x.action}}` : x.action).join(" -> ");
    if (p.why) t += "\\nturns on: " + p.why;
  }}
  document.getElementById("details").textContent = t;
}}
const want = new URLSearchParams(location.hash.slice(1));
if (want.has("i")) {{
  const el = document.querySelector(`td.cell[data-s="${{want.get("s") || 0}}"][data-i="${{want.get("i")}}"][data-j="${{want.get("j") || 0}}"]`);
  if (el) show(el);
}}
document.querySelectorAll("td.cell").forEach(el => {{
  el.addEventListener("click", () => show(el));
  el.addEventListener("mouseenter", () => show(el));
  el.addEventListener("focus", () => show(el));
}});
</script></body></html>
"""
