"""What a lint check is, what it sees, and what it reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from ..ir import Chain, Diagnostic, HostDump, Rule, Severity, Span, Table

DOC_HEADINGS = ("What it does", "Why is this bad?", "Example", "How to fix")


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: a code at a place, with a message, an optional one-line fix and witness flow."""

    code: str
    severity: Severity
    message: str
    span: Span | None
    fix: str | None = None
    flow: str | None = None  # e.g. "outside 192.0.2.9:40000 -> 192.0.2.1:8080/tcp reaches container web"
    related: tuple[Span, ...] = ()

    def as_diagnostic(self) -> Diagnostic:
        return Diagnostic(self.code, self.severity, self.message, self.span)


class Check:
    """Base class of every check. Subclasses set the class attributes and implement :meth:`run`."""

    code: str = ""
    name: str = ""  # dotted: structure.jump-to-missing-chain
    severity: Severity = Severity.WARNING
    summary: str = ""  # one line: what is reported
    fix: str = ""  # one line: how to fix it
    needs_engine: bool = False

    def run(self, ctx: "CheckContext") -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, message: str, span: Span | None, *, fix: str | None = None, flow: str | None = None,
                related: tuple[Span, ...] = (), severity: Severity | None = None) -> Finding:
        return Finding(self.code, severity or self.severity, message, span, fix or self.fix or None, flow, related)

    @classmethod
    def docs(cls) -> dict[str, str]:
        """The docstring split by its headings (``## What it does`` ...)."""
        text = cls.__doc__ or ""
        parts: dict[str, str] = {}
        current = "summary"
        buf: list[str] = []
        for line in _dedent(text).splitlines():
            m = re.match(r"^#+\s*(.+?)\s*$", line)
            if m and m.group(1) in DOC_HEADINGS:
                parts[current] = "\n".join(buf).strip()
                current, buf = m.group(1), []
            else:
                buf.append(line)
        parts[current] = "\n".join(buf).strip()
        return parts


def _dedent(text: str) -> str:
    import textwrap

    lines = text.splitlines()
    if not lines:
        return ""
    return lines[0].strip() + "\n" + textwrap.dedent("\n".join(lines[1:]))


def chains_reachable_from(table: Table, start: str) -> set[str]:
    """The user chains (and ``start``) a packet entering ``start`` can reach by jumps and gotos."""
    chains = {c.name: c for c in table.chains}
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in chains:
            continue
        seen.add(name)
        for r in chains[name].rules:
            if r.target is not None and r.target.name in chains and chains[r.target.name].policy is None:
                todo.append(r.target.name)
    return seen


@dataclass
class RuleRef:
    """A rule with where it stands: table, chain, 1-based index."""

    family: int
    table: str
    chain: Chain
    index: int
    rule: Rule

    @property
    def where(self) -> str:
        return f"{self.table} {self.chain.name} #{self.index}"


@dataclass
class CheckContext:
    """What a check sees: the dump, its tables per family, the engine on demand, options."""

    dump: HostDump
    options: dict = field(default_factory=dict)
    _engines: dict = field(default_factory=dict)

    def tables(self, family: int = 4) -> dict[str, Table]:
        """The tables the model uses for ``family`` (a save section wins over a listing)."""
        return self._tables(family)

    def _tables(self, family: int) -> dict[str, Table]:
        key = ("tables", family)
        if key not in self._engines:
            from ..model.host import select_tables

            self._engines[key] = {name: t for name, (t, _f, _b) in select_tables(self.dump, family).items()}
        return self._engines[key]

    def listing_tables(self, family: int = 4) -> set[str]:
        """Tables read from an `iptables -L` listing, which may hide conditions a rule has."""
        key = ("listing-tables", family)
        if key not in self._engines:
            from ..ir import RulesetFormat
            from ..model.host import select_tables

            self._engines[key] = {name for name, (_t, fmt, _b) in select_tables(self.dump, family).items()
                                  if fmt is RulesetFormat.LISTING}
        return self._engines[key]

    def families(self) -> list[int]:
        return sorted({rs.family for rs in self.dump.rulesets}) or [4]

    def rules(self, family: int = 4) -> Iterator[RuleRef]:
        for tname, t in self.tables(family).items():
            for c in t.chains:
                for i, r in enumerate(c.rules, 1):
                    yield RuleRef(family, tname, c, i, r)

    def engine(self, family: int = 4):
        key = ("engine", family)
        if key not in self._engines:
            from ..engine.query import engine_for

            self._engines[key] = engine_for(self.dump, family)
        return self._engines[key]

    @cached_property
    def docker(self) -> bool:
        f = self.dump.facts
        return bool(f.docker_networks or f.docker_containers or any(
            (p.program or "").startswith(("dockerd", "docker-proxy")) for p in f.processes) or any(
            "DOCKER" in c.name for t in self.tables(4).values() for c in t.chains))
