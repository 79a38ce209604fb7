"""`dnlint verify DUMP --policy FILE`: policy assertions on a host, proved or refuted by the engine.

A policy is TOML: ``[[assert]]`` tables (``[[invariant]]``, the ruleset's form, is read too), each
with a ``name`` (and optional ``description``), the flow (``from``, ``to``, ``port``, ``proto``
as `dnlint query` takes them) and what must hold (``expect``):

- ``reachable`` / ``unreachable``: the query's answer (a "possible" answer is not a proof: it fails
  and says what it turns on);
- ``isolated``: every ordered pair of ``endpoints`` (a list; ``network:*`` and ``container:*``
  expand to the inventory's) is unreachable (any port, or ``port``);
- ``dnat``: reachable through a DNAT to ``target`` ("172.17.0.2:80", or an address);
- ``masqueraded``: reachable, and the server sees another source than the client's (MASQUERADE or
  SNAT), ``source`` if given;
- ``seen_source``: reachable, and the server sees ``source``;
- ``served_by``: reachable, delivered by ``by`` (``docker-proxy``, a container's name, a program);
- ``only_ports``: from ``from`` to ``to``, only ``ports`` ("22,80,8000-8100") of ``proto`` are
  reachable (the endpoint matrix's classes: any other reachable or possible class fails).

Example::

    [[assert]]
    name = "web is published on 8080 only"
    from = "outside"
    to = "host"
    expect = "only_ports"
    ports = "8080"

    [[assert]]
    name = "networks isolated"
    expect = "isolated"
    endpoints = ["network:*"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

from .engine.explain import letting_step
from .engine.query import EndpointError, query

EXPECTS = ("reachable", "unreachable", "isolated", "dnat", "masqueraded", "seen_source", "served_by", "only_ports")


class PolicyError(ValueError):
    pass


@dataclass
class Assertion:
    name: str
    expect: str
    src: str | None = None
    dst: str | None = None
    port: int | None = None
    proto: str = "tcp"
    description: str = ""
    endpoints: list[str] = field(default_factory=list)
    target: str | None = None
    source: str | None = None
    by: str | None = None
    ports: str | None = None
    line: int | None = None


@dataclass
class Result:
    assertion: Assertion
    passed: bool
    message: str
    witness: dict | None = None
    rule: dict | None = None

    def as_dict(self) -> dict:
        a = self.assertion
        return {"name": a.name, "expect": a.expect, "from": a.src, "to": a.dst, "port": a.port, "proto": a.proto,
                "passed": self.passed, "message": self.message, "witness": self.witness, "rule": self.rule}


def load_policy(text: str, source: str = "<policy>") -> list[Assertion]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{source}: {e}") from None
    items = list(data.get("assert", []) or []) + list(data.get("invariant", []) or [])
    if not items:
        raise PolicyError(f"{source}: no [[assert]] in the policy")
    out = []
    for k, it in enumerate(items, 1):
        if not isinstance(it, dict):
            raise PolicyError(f"{source}: assertion {k} is not a table")
        unknown = set(it) - {"name", "description", "from", "to", "port", "proto", "expect", "endpoints", "target",
                             "source", "by", "ports"}
        if unknown:
            raise PolicyError(f"{source}: assertion {it.get('name', k)!r}: unknown keys {', '.join(sorted(unknown))}")
        expect = str(it.get("expect", "unreachable")).lower()
        if expect not in EXPECTS:
            raise PolicyError(f"{source}: assertion {it.get('name', k)!r}: expect is one of {', '.join(EXPECTS)}, "
                              f"not {expect!r}")
        a = Assertion(str(it.get("name") or f"assertion {k}"), expect, it.get("from"), it.get("to"), it.get("port"),
                      str(it.get("proto", "tcp")), str(it.get("description", "")), list(it.get("endpoints", [])),
                      it.get("target"), it.get("source"), it.get("by"), it.get("ports"))
        need = {"isolated": ("endpoints",), "only_ports": ("from", "to", "ports"), "dnat": ("from", "to", "target"),
                "seen_source": ("from", "to", "source"), "served_by": ("from", "to", "by")}.get(expect, ("from", "to"))
        missing = [n for n in need if not it.get(n)]
        if missing:
            raise PolicyError(f"{source}: assertion {a.name!r} ({expect}) needs {', '.join(missing)}")
        out.append(a)
    return out


def _blocked_rule(ans) -> dict | None:
    return ans.blocked_by or None


def _where(rule: dict | None) -> str:
    if not rule:
        return ""
    if rule.get("table") is None:
        return f" ({rule['reason']})" if rule.get("reason") else ""
    if rule.get("index") is None:
        return f" ({rule.get('table')} {rule.get('chain')} policy, line {rule.get('line')})"
    return f" ({rule.get('table')} {rule.get('chain')} #{rule.get('index')}, line {rule.get('line')})"


def _flow(a: Assertion) -> str:
    return f"{a.src} -> {a.dst}" + (f":{a.port}" if a.port else "") + f"/{a.proto}"


def _one(eng, a: Assertion, ctx) -> list[Result]:
    if a.expect == "isolated":
        return _isolated(eng, a, ctx)
    if a.expect == "only_ports":
        return [_only_ports(eng, a)]
    ans = query(eng, a.src, a.dst, a.port, a.proto)
    w = ans.witness
    if ans.reachable is None:
        why = ", ".join(ans.approximated[:3]) or "what the dump does not show"
        return [Result(a, False, f"{_flow(a)}: not proved either way: it turns on {why}", w)]
    if a.expect == "unreachable":
        if ans.reachable:
            rule = letting_step(ans)
            return [Result(a, False, f"{_flow(a)} is reachable{_where(rule)}", w, rule)]
        return [Result(a, True, f"{_flow(a)} is unreachable{_where(_blocked_rule(ans))}", w, _blocked_rule(ans))]
    if not ans.reachable:
        rule = _blocked_rule(ans)
        return [Result(a, False, f"{_flow(a)} is blocked: {(rule or {}).get('reason') or ans.verdict}{_where(rule)}",
                       w, rule)]
    d = ans.delivered or {}
    rule = letting_step(ans)
    if a.expect == "reachable":
        return [Result(a, True, f"{_flow(a)} is reachable{_where(rule)}", w, rule)]
    if a.expect == "dnat":
        tos = [t.get("to") for t in ans.translations if t.get("kind") == "DNAT"]
        ok = any(t == a.target or str(t).split(":")[0] == a.target for t in tos)
        text = (f"DNAT to {', '.join(map(str, tos))}" if tos else "no DNAT") + ("" if ok else f", expected {a.target}")
    elif a.expect == "masqueraded":
        seen, src = d.get("seen_src"), (w or {}).get("src")
        ok = seen is not None and seen != src and (a.source is None or seen == a.source)
        text = f"the server sees {seen} (the client is {src})" + ("" if ok else ", expected " + (a.source or "another source"))
    elif a.expect == "seen_source":
        ok = d.get("seen_src") == a.source
        text = f"the server sees {d.get('seen_src')}" + ("" if ok else f", expected {a.source}")
    else:  # served_by
        by = f"{d.get('by') or ''} {d.get('container') or ''}"
        ok = a.by is not None and a.by in by
        text = f"delivered by {by.strip() or '?'}" + ("" if ok else f", expected {a.by}")
    return [Result(a, ok, f"{_flow(a)}: {text}", w, rule)]


def _isolated(eng, a: Assertion, ctx) -> list[Result]:
    from .checks._docker_inventory import bridge_networks

    names = []
    for e in a.endpoints:
        if e == "network:*":
            names += [f"network:{n.name}" for n in bridge_networks(ctx, eng)]
        elif e == "container:*":
            names += [f"container:{c}" for c in sorted({x.container for x in eng.host.endpoints})]
        else:
            names.append(e)
    out = []
    bad = []
    for s in names:
        for d in names:
            if s == d:
                continue
            ans = query(eng, s, d, a.port, a.proto)
            if ans.reachable is not False:
                rule = letting_step(ans)
                bad.append(Result(a, False, f"{s} -> {d}" + (f":{a.port}" if a.port else "") +
                                  (" is reachable" if ans.reachable else " is possibly reachable") + _where(rule),
                                  ans.witness, rule))
    if bad:
        return bad
    out.append(Result(a, True, f"{len(names)} endpoints pairwise isolated ({', '.join(names)})"))
    return out


def _only_ports(eng, a: Assertion) -> Result:
    from .engine.matrix import compute_matrix, parse_ports, ports_text

    allowed = parse_ports(str(a.ports))
    m = compute_matrix(eng, sources=[a.src], destinations=[a.dst], protos=[a.proto])
    extra = []
    for cell in m.cells:
        for k in cell.classes:
            if k.reachable is False:
                continue
            outside = [(lo, hi) for lo, hi in k.ports if not any(x <= lo and hi <= y for x, y in allowed)]
            if outside:
                extra.append((k, outside))
    if not extra:
        return Result(a, True, f"{a.src} -> {a.dst}/{a.proto}: only {ports_text(allowed)} reachable")
    k, rng = extra[0]
    more = f" (and {len(extra) - 1} more classes)" if len(extra) > 1 else ""
    return Result(a, False, f"{a.src} -> {a.dst}/{a.proto}: {ports_text(rng)} "
                  f"{'reachable' if k.reachable else 'possibly reachable'}: {k.summary}{more}",
                  k.answer.witness, letting_step(k.answer))


def verify(dump, assertions: list[Assertion], family: int = 4) -> list[Result]:
    from .checks.base import CheckContext
    from .engine.query import engine_for

    eng = engine_for(dump, family)
    ctx = CheckContext(dump)
    out = []
    for a in assertions:
        try:
            out += _one(eng, a, ctx)
        except EndpointError as e:
            out.append(Result(a, False, f"{_flow(a)} cannot be asked: {e}"))
    return out


# --------------------------------------------------------------------------- reports


def render_text(results: list[Result], verbose: bool = False) -> str:
    lines = []
    for r in results:
        if r.passed and not verbose:
            continue
        w = r.witness or {}
        wit = f" (witness {w.get('src')} -> {w.get('dst')}" + (f":{w['dport']}" if w.get("dport") else "") + ")" if w else ""
        lines.append(f"{'PASS' if r.passed else 'FAIL'} {r.assertion.name}: {r.message}{wit}")
    failed = sum(1 for r in results if not r.passed)
    names = {r.assertion.name for r in results}
    failing = {r.assertion.name for r in results if not r.passed}
    lines.append(f"{len(names)} assertions: {len(names) - len(failing)} hold, {len(failing)} fail"
                 + (f" ({failed} flows)" if failed else ""))
    return "\n".join(lines) + "\n"


def render_json(results: list[Result]) -> str:
    import json

    return json.dumps({"version": 1, "passed": all(r.passed for r in results),
                       "results": [r.as_dict() for r in results]}, indent=2) + "\n"


def render_junit(results: list[Result], suite: str = "dnlint verify") -> str:
    """JUnit XML: one testcase per assertion, a failure per failing flow (CI systems show it natively)."""
    from xml.sax.saxutils import escape, quoteattr

    by: dict[str, list[Result]] = {}
    for r in results:
        by.setdefault(r.assertion.name, []).append(r)
    fails = sum(1 for rs in by.values() if not all(r.passed for r in rs))
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites><testsuite name={quoteattr(suite)} tests="{len(by)}" failures="{fails}" errors="0">']
    for name, rs in by.items():
        out.append(f'  <testcase classname="dnlint.verify" name={quoteattr(name)}>')
        for r in rs:
            if not r.passed:
                out.append(f"    <failure message={quoteattr(r.message)}>{escape(r.message)}</failure>")
        if all(r.passed for r in rs):
            out.append(f"    <system-out>{escape('; '.join(r.message for r in rs))}</system-out>")
        out.append("  </testcase>")
    out.append("</testsuite></testsuites>")
    return "\n".join(out) + "\n"
