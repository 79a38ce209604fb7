"""Reader of iptables-save output, iptables-restore input and ``iptables -S`` output.

The line language is ``grammars/iptables_save.lark``; :mod:`dnlint.parse.rulespec` applies
it (once per line shape) and builds rules. This module keeps the state iptables-restore
keeps between lines: the current table, chain declarations, ``-I`` insertions, COMMIT.

Choices (documented behaviour):

- One :class:`Ruleset` per call. Its family is the ``family`` argument, else 6 when the
  header names ip6tables, else the family of most distinct ``-s``/``-d`` addresses, else 4.
- A table that appears twice (two ``*filter`` blocks, as when restore files are
  concatenated) is merged: chains by name, rules appended, a later declaration's policy
  and counters win. Tables keep the order of their first appearance. (``load_dump`` first
  cuts such input into one block per output, so that the model uses the last block of a
  repeated table, as iptables-restore does.)
- ``-I CHAIN [N]`` inserts at position N (default 1) of the chain as built so far, as
  iptables-restore would; a position beyond the end is DN001 and the rule is skipped.
- A rule for a chain that was not declared creates the chain (lenient: iptables-restore
  accepts this for built-in chains only). Built-in chains without a declaration line get
  policy ACCEPT (the policy of a fresh table). Chains keep the order of first mention.
- A missing COMMIT (at the end, or before the next ``*table``) is DN015: iptables-restore
  rejects such input (``COMMIT expected``, ``Bad argument `*nat'``); the table is read as far
  as it goes and marked ``complete=False``. ``-S`` lines (no ``*table``) need no COMMIT.
- ``-S`` mode (no ``*table`` lines; ``-P``/``-N``/``-A`` lines) puts everything in
  ``table`` (default filter). In save mode a rule before any ``*table`` line is DN001.
- Every line the grammar rejects is one DN001 (file:line:col and a sentence); the line
  is skipped and reading goes on. No exception escapes :func:`parse_save`.
"""

from __future__ import annotations

import gc
import re

from ..diagnostics import diag
from ..ir import (BUILTIN_CHAINS, Chain, Counters, Diagnostic, Rule, Ruleset, RulesetFormat,
                  Span, Table)
from ..source import Text
from .rulespec import (COUNTERS_RE, Plan, PlanCache, QuoteError, RuleBuilder, RuleError,
                       compile_builder, word_columns)

_COUNTERS_PREFIX = re.compile(r'\[\d+:\d+\][ \t]')
_TABLE_NAME = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]*\Z')
_STRIP = " \t\r\n\x0b\x0c"


class _ChainState:
    __slots__ = ("name", "span", "policy", "counters", "rules", "declared")

    def __init__(self, name: str, span: Span):
        self.name = name
        self.span = span
        self.policy: str | None = None
        self.counters: Counters | None = None
        self.rules: list[Rule] = []
        self.declared = False


class _TableState:
    __slots__ = ("name", "span", "chains", "pending", "targets", "complete", "opened_at")

    def __init__(self, name: str, span: Span):
        self.name = name
        self.span = span
        self.chains: dict[str, _ChainState] = {}
        self.targets: dict = {}  # RuleBuilder's cache of this table's targets
        self.pending = False  # some rule jumps to a target not (yet) known
        self.complete = True  # every `*table` block of it reached its COMMIT
        self.opened_at: int | None = None  # line index of the `*table` line of the open block


def parse_save(text: Text, *, family: int | None = None, table: str | None = None,
               spec: bool | None = None) -> tuple[list[Ruleset], list[Diagnostic]]:
    """Read a block of iptables-save / iptables-restore / ``iptables -S`` lines."""
    return _parse_save(text, family=family, table=table, spec=spec, cache=True)


def _parse_save(text: Text, *, family=None, table=None, spec=None, cache: bool = True):
    # The IR is acyclic: the cyclic garbage collector has nothing to find in it, but with
    # hundreds of thousands of new objects it would walk them again and again (about half
    # of the parse time on a 100k-rule file).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Reader(text, family, table, spec, PlanCache(cache)).run()
    except Exception as e:  # pragma: no cover - last resort; per-line errors are caught below
        span = Span(getattr(text, "file", "<input>"), getattr(text, "first_line", 1))
        return [], [diag("DN001", f"could not read this block ({type(e).__name__}: {e})", span)]
    finally:
        if gc_was_enabled:
            gc.enable()


class _Reader:
    def __init__(self, text: Text, family, table, spec, cache: PlanCache):
        self.text = text
        self.family = family
        self.default_table = table or "filter"
        self.cache = cache
        self.rb = RuleBuilder()
        self.diags: list[Diagnostic] = []
        self.tables: dict[str, _TableState] = {}
        self.current: _TableState | None = None
        self.header: str | None = None
        self.spec = spec
        self.saw_content = False

    # ------------------------------------------------------------------ helpers

    def error(self, i: int, line: str, at: int | None, message: str, offset: int = 0) -> None:
        if at is None:
            col = len(line) + 1
        else:
            cols = word_columns(line)
            col = cols[at] if at < len(cols) else len(line) + 1
        t = self.text
        self.diags.append(diag("DN001", message, Span(t.file, t.first_line + i,
                                                      t.indent + offset + col)))

    def open_table(self, name: str, span: Span) -> _TableState:
        ts = self.tables.get(name)
        if ts is None:
            ts = self.tables[name] = _TableState(name, span)
        self.rb.set_table(ts.chains, ts.targets)
        return ts

    def table_for_rule(self, i: int, line: str) -> _TableState | None:
        if self.current is not None:
            return self.current
        if self.spec:
            self.current = self.open_table(self.default_table, self.span(i))
            return self.current
        self.error(i, line, 0, "this line comes before any *table line (*filter, *nat, "
                               "*mangle, *raw or *security); it was skipped")
        return None

    def span(self, i: int, col: int = 1) -> Span:
        t = self.text
        return Span(t.file, t.first_line + i, t.indent + col)

    # ------------------------------------------------------------------ main loop

    def run(self):
        lines = self.text.lines
        if self.spec is None:
            self.spec = not any(l.lstrip(_STRIP).startswith("*") for l in lines if l)
        t = self.text
        file, first, indent = t.file, t.first_line, t.indent
        plan_of = self.cache.plan
        build = self.rb.build_rule
        use_cache = self.cache.enabled
        prefix = _COUNTERS_PREFIX.match
        new_span = object.__new__
        set_file, set_line, set_col = Span.file.__set__, Span.line.__set__, Span.col.__set__
        for i, line in enumerate(lines):
            if not line:
                continue
            if line[-1] in _STRIP:
                line = line.rstrip(_STRIP)
                if not line:
                    continue
            offset = 0
            c = line[0]
            if c in " \t\x0b\x0c":
                stripped = line.lstrip(_STRIP)
                offset = len(line) - len(stripped)
                line = stripped
                c = line[0]
            if c == "#":
                if self.header is None and line.startswith("# Generated by"):
                    self.header = line
                continue
            try:
                plan, words = plan_of(line, c == "[" and prefix(line) is not None)
                cmd = plan.cmd
                if cmd == "A" or cmd == "I":
                    ts = self.current or self.table_for_rule(i, line)
                    if ts is None:
                        continue
                    chain = words[plan.chain]
                    span = new_span(Span)
                    set_file(span, file)
                    set_line(span, first + i)
                    set_col(span, indent + offset + 1)
                    fast = plan.fast
                    if fast is not None:
                        rule = fast(words, span, chain)
                    elif use_cache:
                        # reused plans get a builder specialised to them
                        fast = plan.fast = compile_builder(self.rb, plan)
                        rule = fast(words, span, chain)
                    else:
                        rule = build(plan, words, span, chain)
                    cs = ts.chains.get(chain)
                    if cs is None:
                        cs = ts.chains[chain] = _ChainState(chain, span)
                    tg = rule.target
                    if tg is not None and not tg.known:
                        ts.pending = True  # a jump to a chain declared later, or unknown
                    if cmd == "A":
                        cs.rules.append(rule)
                    else:
                        self.insert(i, line, plan, words, cs, rule, offset)
                    self.saw_content = True
                elif cmd == "ERROR":
                    self.error(i, line, plan.error_at, plan.message(words), offset)
                else:
                    self.other(i, line, plan, words, offset)
            except QuoteError:
                self.error(i, line, None, "a double quote is not closed before the end of "
                                          "the line", offset)
            except RuleError as e:
                self.error(i, line, e.at, e.message, offset)
            except Exception as e:  # never let one line stop the rest
                self.error(i, line, None, f"this line could not be read "
                                          f"({type(e).__name__}: {e})", offset)
        return self.finish()

    def insert(self, i, line, plan: Plan, words, cs: _ChainState, rule: Rule, offset):
        pos = 1
        if plan.position is not None:
            w = words[plan.position]
            if not w.isdigit() or int(w) < 1:
                raise RuleError(plan.position, f"-I takes a rule number (1, 2, ...), not '{w}'")
            pos = int(w)
        if pos > len(cs.rules) + 1:
            raise RuleError(plan.position, f"rule number {pos} is beyond the end of chain "
                                           f"{cs.name} ({len(cs.rules)} rules at this point)")
        cs.rules.insert(pos - 1, rule)

    def other(self, i: int, line: str, plan: Plan, words: list[str], offset: int) -> None:
        cmd = plan.cmd
        span = self.span(i, offset + 1)
        if cmd == "TABLE":
            name = words[0][1:]
            if not _TABLE_NAME.match(name):
                raise RuleError(0, f"expected a table name after '*', found '{words[0]}'")
            prev = self.current
            if prev is not None and prev.opened_at is not None:
                # iptables-restore: "Bad argument `*nat'" at this line
                prev.complete = False
                self.diags.append(diag(
                    "DN015", f"table {prev.name} (line {self.text.first_line + prev.opened_at}) has no COMMIT "
                             f"before this `*{name}` line: iptables-restore rejects the input here, and the "
                             f"rules of table {prev.name} may be cut short", span))
            self.current = self.open_table(name, span)
            self.current.opened_at = i
            self.saw_content = True
        elif cmd == "COMMIT":
            if self.current is not None:
                self.current.opened_at = None
            self.current = None
            self.rb.set_table(set(), {})
        elif cmd == "CHAIN" or cmd == "P" or cmd == "N":
            name = words[plan.chain][1:] if cmd == "CHAIN" else words[plan.chain]
            if not name:
                raise RuleError(0, "expected a chain name after ':'")
            ts = self.current or self.table_for_rule(i, line)
            if ts is None:
                return
            cs = ts.chains.get(name)
            if cs is None:
                cs = ts.chains[name] = _ChainState(name, span)
            elif not cs.declared:
                cs.span = span
            cs.declared = True
            if cmd != "N":
                policy = words[plan.policy]
                if cmd == "P" and policy == "-":
                    raise RuleError(plan.policy, "-P needs a policy (ACCEPT or DROP)")
                cs.policy = None if policy == "-" else policy
                if plan.counters is not None:
                    m = COUNTERS_RE.match(words[plan.counters])
                    cs.counters = self.rb.counters(m.group(1), m.group(2))
                elif plan.setcounters is not None:
                    p, b = (words[j] for j in plan.setcounters)
                    if not (p.isdigit() and b.isdigit()):
                        raise RuleError(plan.setcounters[0],
                                        f"-c needs two numbers, not '{p} {b}'")
                    cs.counters = self.rb.counters(p, b)
            self.saw_content = True

    # ------------------------------------------------------------------ result

    def truncated(self) -> None:
        """The input ended inside a ``*table`` block (iptables-restore: "COMMIT expected at line N")."""
        ts = self.current
        if ts is None or ts.opened_at is None:
            return  # -S output, or the last table was committed
        ts.complete = False
        lines = self.text.lines
        last = next((k for k in range(len(lines) - 1, -1, -1) if lines[k].strip()), ts.opened_at)
        line = lines[last].strip()
        shown = line if len(line) <= 80 else line[:77] + "..."
        cut = (f"; its last line, `{shown}`, may itself be cut in the middle"
               if line[:1] in "-[:" or "COMMIT".startswith(line) else "")
        t = self.text
        indent = len(lines[last]) - len(lines[last].lstrip(_STRIP))
        self.diags.append(diag(
            "DN015", f"table {ts.name} (line {t.first_line + ts.opened_at}) has no COMMIT: the save input "
                     f"ends inside it at line {t.first_line + last}, so it is truncated{cut}. "
                     "iptables-restore rejects it ('COMMIT expected'), and the rules after the cut are missing",
            Span(t.file, t.first_line + last, t.indent + indent + 1)))

    def finish(self):
        self.truncated()
        if not self.saw_content and not self.tables:
            return [], self.rb.diagnostics + self.diags
        tables = []
        reported: set[str] = set()
        unknown_diags = []
        for ts in self.tables.values():
            builtin = BUILTIN_CHAINS.get(ts.name, ())
            chains = []
            for cs in ts.chains.values():
                rules = cs.rules
                if ts.pending:
                    rules = [self._resolve(ts, r, reported, unknown_diags) for r in rules]
                policy = cs.policy
                if policy is None and not cs.declared and cs.name in builtin:
                    policy = "ACCEPT"
                chains.append(Chain(cs.name, cs.span, policy, cs.counters, tuple(rules)))
            tables.append(Table(ts.name, ts.span, tuple(chains), ts.complete))
        family = self.family
        header = self.header
        if family is None and header and "ip6tables" in header:
            family = 6
        if family is None:
            v4, v6 = self.rb.family_votes
            family = 6 if v6 > v4 else 4
        backend = None
        if header:
            if "nf_tables" in header or "xtables-save" in header:
                backend = "nf_tables"
            elif "legacy" in header:
                backend = "legacy"
        rs = Ruleset(family, RulesetFormat.SPEC if self.spec else RulesetFormat.SAVE,
                     self.span(0) if self.text.lines else Span(self.text.file, 1),
                     tuple(tables), backend, header)
        diags = self.rb.diagnostics + unknown_diags + self.diags
        diags.sort(key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
        return [rs], diags

    def _resolve(self, ts: _TableState, r: Rule, reported: set, out: list) -> Rule:
        t = r.target
        if t is None or t.known:
            return r
        if t.name in ts.chains:
            return Rule(r.chain, r.span, r.protocol, r.src, r.dst, r.in_iface, r.out_iface,
                        r.fragment, r.matches, self.rb.known_target(t), r.counters)
        if t.name not in reported:
            reported.add(t.name)
            out.append(diag("DN003", f"target '{t.name}' is neither a chain of table "
                                     f"{ts.name} nor a target dnlint models; rules using it "
                                     f"are approximated", r.span))
        return r
