"""The text form of an answer, for people: the verdict first, then the path, translations, assumptions."""

from __future__ import annotations

from .answer import Answer


def rule_place(d: dict | None, *, kernel: str = "kernel", long: bool = False) -> str:
    """Where a path step, blocker or translation rule stands: ``filter FORWARD #2 (line 9)``;
    ``long`` says ``rule #2`` and names a chain's ``policy``; ``kernel`` when no rule decided."""
    if not d or not d.get("chain"):
        return kernel
    if long:
        idx = f" rule #{d['index']}" if d.get("index") else " policy"
    else:
        idx = f" #{d['index']}" if d.get("index") else ""
    line = f" (line {d['line']})" if d.get("line") else ""
    return f"{d['table']} {d['chain']}{idx}{line}"


def letting_step(a: Answer) -> dict | None:
    """The last step of the answer's path that let the packet on or translated it: the rule a
    reachable answer names (table, chain, index, line, action)."""
    for s in reversed(a.path or []):
        if s.get("action") in ("ACCEPT", "DNAT", "MASQUERADE", "SNAT", "REDIRECT"):
            return {k: s.get(k) for k in ("table", "chain", "index", "line", "action")}
    return None


def render_answer(a: Answer) -> str:
    q = a.query
    flow = f"{q.get('from')} -> {q.get('to')}" + (f":{q['port']}" if q.get("port") is not None else "") + f"/{q.get('proto')}"
    out = []
    if a.reachable is True:
        d = a.delivered or {}
        head = f"REACHABLE  {flow}: delivered to {d.get('by')} at {d.get('ip')}" + (
            f":{d['port']}" if d.get("port") is not None else "") + f", which sees the source {d.get('seen_src')}"
    elif a.reachable is False:
        b = a.blocked_by or {}
        head = f"BLOCKED ({a.verdict})  {flow}: {b.get('reason')}"
        if b.get("chain"):
            head += f" [{rule_place(b)}]"
    else:
        lets = "the rules let it through" if a.verdict == "ACCEPT" else f"the path ends {a.verdict}"
        head = f"UNKNOWN  {flow}: {lets}, but the answer turns on what the dump does not show (below)"
    out.append(head)
    if a.source_ports:
        out.append(f"Source ports: {a.source_ports['summary']}")
    w = a.witness
    if w:
        sp = f":{w['sport']}" if w.get("sport") is not None else ""
        dp = f":{w['dport']}" if w.get("dport") is not None else ""
        via = ""
        if w.get("in_iface"):
            via += f" in {w['in_iface']}"
        if w.get("out_iface"):
            via += f" out {w['out_iface']}"
        out.append(f"Witness: {w['proto']} {w['src']}{sp} -> {w['dst']}{dp}{via}")
    if a.path:
        out.append("Path:")
        for i, s in enumerate(a.path, 1):
            out.append(f"  {i}. {rule_place(s)}: {s['action']}")
    if a.translations:
        out.append("Translations:")
        for t in a.translations:
            rule = f" ({rule_place(t['rule'])})" if t.get("rule") else ""
            out.append(f"  {t['kind']} {t['from']} -> {t['to']}{rule}")
    if a.also_blocked_by:
        out.append("Other packets of this query are blocked by:")
        for b in a.also_blocked_by[:10]:
            out.append(f"  - {b.get('reason')} [{rule_place(b)}]")
    if a.approximated:
        out.append("Unknown (the answer turns on these):")
        out.extend(f"  - {x}" for x in a.approximated)
    if a.assumptions:
        out.append("Assumptions:")
        out.extend(f"  - {x}" for x in a.assumptions)
    return "\n".join(out) + "\n"
