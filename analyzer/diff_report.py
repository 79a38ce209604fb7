"""Reports of `dnlint diff`: text, json, markdown (a pull-request comment), sarif and github
annotations (a changed flow at the NEW rule that decides it).

JSON (version 1): the address-space view ``{"version": 1, "view": "space", "family", "path",
"changed", "assumptions", "services": [{"proto", "dport", "sport", "classes": [...the classes the
changes name...], "changes": [{"from", "to", "kind": "opened" | "closed" | "changed", "old",
"new", "witness", "old_path", "new_path"}]}]}``; the endpoint view ``{"version": 1, "view":
"endpoints", "family", "changed", "assumptions", "changes": [{"from", "to", "proto", "ports",
"kind", "old", "new", "witness", "old_rule", "new_rule"}]}``.
"""

from __future__ import annotations

import json

from .engine.diff import EndpointDiff, SpaceDiff, meaning_text


def _rule(step: dict | None) -> str:
    if not step:
        return "-"
    if step.get("table") is None:
        return str(step.get("action") or step.get("reason") or "the kernel")
    idx = f" #{step['index']}" if step.get("index") else ""
    what = step.get("action") or step.get("reason") or ""
    return f"{step.get('table')} {step.get('chain')}{idx} (line {step.get('line')}){' ' + what if what else ''}"


def _last(path: list[dict]) -> dict | None:
    return path[-1] if path else None


def rows(d) -> list[dict]:
    """One row per changed flow, the same for every format."""
    from .engine.space import ranges_text
    from .model.intervals import IntervalSet

    out = []
    if isinstance(d, SpaceDiff):
        for s in d.services:
            # a change reads as rectangles: the destinations one source class changes alike towards,
            # then the source classes that change alike towards those
            by_src: dict[tuple, list] = {}
            for c in s.changes:
                by_src.setdefault((c.kind, c.src, c.old, c.new), []).append(c)
            groups: dict[tuple, list] = {}
            for (kind, src_id, o, n), cs in by_src.items():
                dst = frozenset(x.dst for x in cs)
                groups.setdefault((kind, dst, o, n), []).append(cs[0])
            for (kind, dsts, o, n), cs in groups.items():
                c = cs[0]
                src = IntervalSet()
                for x in cs:
                    src = src.union(IntervalSet(s.classes[x.src].ranges))
                dst = IntervalSet()
                for j in dsts:
                    dst = dst.union(IntervalSet(s.classes[j].ranges))
                out.append({"kind": kind, "service": f"{s.proto} {s.dport}",
                            "from": ranges_text(src, d.family, 4),
                            "to": ranges_text(dst, d.family, 4),
                            "old": meaning_text(o, d.family), "new": meaning_text(n, d.family),
                            "witness": f"{c.witness['src']} -> {c.witness['dst']} ({c.witness['proto']} "
                                       f"{c.witness['sport']} -> {c.witness['dport']})",
                            "old_rule": _rule(_last(c.old_path)), "new_rule": _rule(_last(c.new_path)),
                            "new_line": (_last(c.new_path) or {}).get("line")})
    else:
        for c in d.changes:
            ports = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in c.ports) or "echo"
            w = c.witness
            out.append({"kind": c.kind, "service": f"{c.proto} {ports}", "from": c.src, "to": c.dst,
                        "old": c.old, "new": c.new,
                        "witness": f"{w.get('src')} -> {w.get('dst')}" + (f":{w.get('dport')}" if w.get("dport") else ""),
                        "old_rule": _rule(c.old_rule), "new_rule": _rule(c.new_rule),
                        "new_line": (c.new_rule or {}).get("line")})
    return out


def render_text(d, *, old: str, new: str, limit: int = 100) -> str:
    rs = rows(d)
    view = "address-space view, path " + d.path if isinstance(d, SpaceDiff) else "endpoint view"
    if isinstance(d, SpaceDiff):
        view += "; " + ", ".join(f"{s.proto} {s.dport}" for s in d.services)
    lines = [f"diff {old} -> {new} ({view}): " + (f"{len(rs)} changed flow{'s' if len(rs) != 1 else ''}" if rs else
                                                 "no flow changes its fate (the edits change nothing)")]
    for r in rs[:limit]:
        lines.append(f"  {r['kind']:7} {r['service']}: from {r['from']} to {r['to']}: {r['old']} -> {r['new']}")
        lines.append(f"          witness {r['witness']}; old: {r['old_rule']}; new: {r['new_rule']}")
    if len(rs) > limit:
        lines.append(f"  ... {len(rs) - limit} more (--format json lists them all)")
    return "\n".join(lines) + "\n"


def render_json(d) -> str:
    return json.dumps(d.as_dict(), indent=2) + "\n"


def render_markdown(d, *, old: str, new: str) -> str:
    rs = rows(d)
    if not rs:
        return f"**dnlint diff** `{old}` → `{new}`: no flow changes its fate.\n"
    counts = {k: sum(1 for r in rs if r["kind"] == k) for k in ("opened", "closed", "changed")}
    head = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    out = [f"**dnlint diff** `{old}` → `{new}`: {len(rs)} changed flows ({head})", "",
           "| | service | from | to | before | after | witness | decided by (new) |", "|---|---|---|---|---|---|---|---|"]
    icon = {"opened": "🔓", "closed": "🔒", "changed": "🔁"}
    for r in rs[:200]:
        cells = [icon[r["kind"]] + " " + r["kind"], r["service"], r["from"], r["to"], r["old"], r["new"], r["witness"],
                 r["new_rule"]]
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    if len(rs) > 200:
        out.append(f"\n… and {len(rs) - 200} more")
    return "\n".join(out) + "\n"


def render_sarif(d, *, new: str) -> str:
    from . import __version__

    results = []
    for r in rows(d):
        loc = {"physicalLocation": {"artifactLocation": {"uri": new}}}
        if r["new_line"]:
            loc["physicalLocation"]["region"] = {"startLine": int(r["new_line"])}
        results.append({"ruleId": f"flow-{r['kind']}", "level": "warning" if r["kind"] == "opened" else "note",
                        "message": {"text": f"{r['service']} from {r['from']} to {r['to']}: {r['old']} -> {r['new']} "
                                            f"(witness {r['witness']}; old: {r['old_rule']})"},
                        "locations": [loc]})
    rules = [{"id": f"flow-{k}", "name": f"flow-{k}", "shortDescription": {"text": f"a flow is {k} by the change"}}
             for k in ("opened", "closed", "changed")]
    doc = {"$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
           "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "dnlint diff", "version": __version__, "rules": rules}},
                     "results": results}]}
    return json.dumps(doc, indent=2) + "\n"


def render_github(d, *, new: str) -> str:
    out = []
    for r in rows(d):
        level = "warning" if r["kind"] == "opened" else "notice"
        where = f"file={new}" + (f",line={r['new_line']}" if r["new_line"] else "")
        msg = f"{r['kind']}: {r['service']} from {r['from']} to {r['to']}: {r['old']} -> {r['new']} (witness {r['witness']})"
        out.append(f"::{level} {where},title=dnlint diff::{msg.replace('%', '%25').replace(chr(10), '%0A')}")
    return "\n".join(out) + ("\n" if out else "")


def exit_code(d, fail_on: str) -> int:
    kinds = d.kinds()
    if fail_on == "never" or not kinds:
        return 0
    if fail_on == "any":
        return 1
    return 1 if fail_on in kinds else 0


__all__ = ["render_text", "render_json", "render_markdown", "render_sarif", "render_github", "exit_code", "rows",
           "EndpointDiff", "SpaceDiff"]
