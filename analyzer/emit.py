"""Write the IR back as iptables-save text (what ``iptables-restore`` reads).

``parse_save(emit_save(rs))`` gives ``rs`` back (ignoring source spans) for every ruleset
read from iptables-save / iptables-restore input; see tests/test_save_corpus.py.
"""

from __future__ import annotations

import re

from .ir import Match, Option, Rule, Ruleset, Target
from .parse.modules import STRING_OPTIONS

_SAVE_STRING_SAFE = re.compile(r'[A-Za-z0-9_-]+\Z')
_NEEDS_QUOTES = re.compile(r'[ \t"]')


def _escape(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'") + '"'


def quote(value: str, string_option: bool = False) -> str:
    """One argument as iptables-save prints it.

    Values of string options (``--comment``, ``--log-prefix``...) follow
    xtables_save_string(): bare when made of letters, digits, ``_`` and ``-`` only, else
    double-quoted with ``"``, ``\\`` and ``'`` escaped by a backslash. Other values are
    printed bare unless iptables-restore would read them differently (empty, white space,
    a double quote, a leading ``-``, a lone ``!``).
    """
    if string_option:
        return value if _SAVE_STRING_SAFE.match(value) else _escape(value)
    if not value or value[0] == "-" or value == "!" or _NEEDS_QUOTES.search(value):
        return _escape(value)
    return value


def _options(parts: list[str], options: tuple[Option, ...]) -> None:
    for o in options:
        if o.negated:
            parts.append("!")
        parts.append(o.name)
        s = o.name in STRING_OPTIONS
        for a in o.args:
            parts.append(quote(a, s))


def rule_spec(rule: Rule) -> str:
    """The words after ``-A CHAIN`` for one rule."""
    parts: list[str] = []
    for flag, m in (("-s", rule.src), ("-d", rule.dst)):
        if m is not None:
            if m.negated:
                parts.append("!")
            parts += [flag, quote(m.value)]
    for flag, m in (("-i", rule.in_iface), ("-o", rule.out_iface)):
        if m is not None:
            if m.negated:
                parts.append("!")
            parts += [flag, quote(m.name)]
    if rule.protocol is not None:
        if rule.protocol.negated:
            parts.append("!")
        parts += ["-p", quote(rule.protocol.name)]
    if rule.fragment is not None:
        parts += ["-f"] if rule.fragment else ["!", "-f"]
    for m in rule.matches:
        _match(parts, m)
    if rule.target is not None:
        _target(parts, rule.target)
    return " ".join(parts)


def _match(parts: list[str], m: Match) -> None:
    if not m.implicit:
        parts += ["-m", quote(m.module)]
    _options(parts, m.options)


def _target(parts: list[str], t: Target) -> None:
    parts += ["-g" if t.goto else "-j", quote(t.name)]
    _options(parts, t.options)


def emit_save(ruleset: Ruleset, *, counters: bool = True) -> str:
    """iptables-save text of ``ruleset``: ``*table``, ``:CHAIN POLICY [p:b]``, ``-A ...``,
    ``COMMIT`` per table. With ``counters`` the chain and rule counters the IR holds are
    written (``[p:b] -A ...``, as ``iptables-save -c``); without, chains get ``[0:0]`` and
    rules none."""
    out: list[str] = []
    if ruleset.header:
        out.append(ruleset.header)
    for table in ruleset.tables:
        out.append(f"*{table.name}")
        for chain in table.chains:
            policy = chain.policy or "-"
            if not counters:
                out.append(f":{chain.name} {policy} [0:0]")
            elif chain.counters is not None:
                out.append(f":{chain.name} {policy} "
                           f"[{chain.counters.packets}:{chain.counters.bytes}]")
            else:
                out.append(f":{chain.name} {policy}")
        for chain in table.chains:
            name = quote(chain.name)
            for rule in chain.rules:
                spec = rule_spec(rule)
                line = f"-A {name} {spec}" if spec else f"-A {name}"
                if counters and rule.counters is not None:
                    line = f"[{rule.counters.packets}:{rule.counters.bytes}] {line}"
                out.append(line)
        out.append("COMMIT")
    return "\n".join(out) + "\n"
