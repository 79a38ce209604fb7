"""``ipset save`` and ``ipset list`` output -> :class:`IpSet` facts.

``ipset save`` lines are read with grammars/ipset.lark (one LALR parse per line; sets are
small next to rule sets). ``ipset list`` blocks (``Name:``, ``Type:``, ``Header:``,
``Members:``) are read by plain code: a header line and its value.
"""

from __future__ import annotations

from functools import lru_cache

from ...diagnostics import diag
from ...ir import Diagnostic, IpSet, Span
from ...source import Text


@lru_cache(maxsize=1)
def _parser():
    from importlib.resources import files



    from ...grammar import lark_parser

    return lark_parser(files("dnlint.grammars").joinpath("ipset.lark").read_text(), "ipset.lark", parser="lalr")


class _SetBuilder:
    def __init__(self, name: str, type_: str, span: Span, family: int):
        self.name, self.type, self.span, self.family = name, type_, span, family
        self.members: list[str] = []
        self.complete = True

    def build(self) -> IpSet:
        return IpSet(self.name, self.type, self.span, self.family, tuple(self.members), self.complete)


def parse_ipset(text: Text) -> tuple[list[IpSet], list[Diagnostic]]:
    lines = text.lines
    if any(line.strip().startswith("Name:") for line in lines[:50]):
        return _parse_list(text)
    return _parse_save(text)


def _parse_save(text: Text) -> tuple[list[IpSet], list[Diagnostic]]:
    from lark.exceptions import LarkError

    sets: dict[str, _SetBuilder] = {}
    diags: list[Diagnostic] = []
    for i, raw in enumerate(text.lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tree = _parser().parse(line)
        except LarkError:
            diags.append(diag("DN001", f"not an `ipset save` line (create/add): {line[:60]!r}", text.span(i)))
            continue
        node = tree.children[0]
        words = [str(t) for t in node.scan_values(lambda v: True)]
        if node.data == "create":
            name, type_ = words[0], words[1]
            opts = words[2:]
            family = 6 if "inet6" in opts else 4
            sets[name] = _SetBuilder(name, type_, text.span(i), family)
        elif node.data == "add":
            name, member = words[0], words[1]
            if name not in sets:
                diags.append(diag("DN001", f"`add` to set {name!r} before its `create`", text.span(i)))
                sets[name] = _SetBuilder(name, "unknown", text.span(i), 6 if ":" in member.split(",")[0] else 4)
            sets[name].members.append(member)
    return [b.build() for b in sets.values()], diags


def _parse_list(text: Text) -> tuple[list[IpSet], list[Diagnostic]]:
    sets: list[_SetBuilder] = []
    cur: _SetBuilder | None = None
    in_members = False
    diags: list[Diagnostic] = []
    for i, raw in enumerate(text.lines):
        line = raw.strip()
        if not line:
            in_members = False
            continue
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Type", "Revision", "Header", "Size in memory", "References",
                           "Number of entries", "Members") and not in_members or key == "Name":
            value = value.strip()
            if key == "Name":
                cur = _SetBuilder(value, "unknown", text.span(i), 4)
                cur.complete = False  # until a Members: line is seen
                sets.append(cur)
                in_members = False
            elif cur is None:
                diags.append(diag("DN001", "an `ipset list` field before any `Name:` line", text.span(i)))
            elif key == "Type":
                cur.type = value
            elif key == "Header":
                cur.family = 6 if "inet6" in value else 4
            elif key == "Members":
                in_members = True
                cur.complete = True
            continue
        if in_members and cur is not None:
            cur.members.append(line.split()[0])
        else:
            diags.append(diag("DN001", f"not part of `ipset list` output: {line[:60]!r}", text.span(i)))
    return [b.build() for b in sets], diags
