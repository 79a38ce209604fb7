"""Symbolic execution of the packet path: header fields as constrained variables, z3 for proofs.

Each header field (src, dst, sport, dport, proto, icmp) holds a *variable*; a variable's
domain is an :class:`IntervalSet`. NAT gives a field a new variable, so the original
tuple stays available (``--ctorigdst``) and translations can be reported. A path's
constraint is the domains plus *negative boxes*: rules that did not match, whose
condition spans several fields, so "not all of these at once".

The path code (:mod:`dnlint.model.path`) asks the explorer at each rule whether it
matches. Where the answer is fixed by the domains, no fork happens — with a concrete
destination and port most rules are decided by interval arithmetic alone. Where both
outcomes are possible, the run takes "matches" and records the other branch; the driver
re-runs the path with the recorded decisions to explore it (depth-first, re-execution).
A branch is taken only if it is satisfiable: negative boxes that the domains cannot
decide are handed to z3, which also produces every witness packet.

Matches dnlint does not model fork freely and mark the path *approximated*; matches
whose outcome depends on traffic history (limit, statistic, recent) fork freely too, but
both outcomes are real, so they only add a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.intervals import IntervalSet, addr_max
from ..model.matches import Compiled, MetaTest, iface_matches

WIDTH = {"src": None, "dst": None, "sport": 16, "dport": 16, "proto": 8, "icmp": 16}
ALIASES = {"osrc": "src", "odst": "dst", "osport": "sport", "odport": "dport"}
REPLY = {"rsrc": "dst", "rdst": "src", "rsport": "dport", "rdport": "sport"}


class Infeasible(Exception):
    pass


class TooManyPaths(Exception):
    pass


@dataclass
class RunState:
    cur: dict[str, int]
    initial: dict[str, int]
    doms: dict[int, IntervalSet]
    negs: list[dict[int, IntervalSet]]
    kinds: dict[int, str]  # var -> field kind (for widths)
    # (var a, var b, equal?): relations between two fields that no box can say (the original
    # source is the final destination: a hairpin)
    rels: tuple[tuple[int, int, bool], ...] = ()

    def but(self, *, doms=None, negs=None, rels=None) -> "RunState":
        return RunState(self.cur, self.initial, self.doms if doms is None else doms,
                        self.negs if negs is None else negs, self.kinds, self.rels if rels is None else rels)


class Checker:
    """Satisfiability of (domains, negative boxes), with z3 where intervals cannot decide."""

    def __init__(self, family: int):
        self.family = family
        self.z3_calls = 0

    def width(self, kind: str) -> int:
        w = WIDTH[kind]
        return w if w is not None else (32 if self.family == 4 else 128)

    @staticmethod
    def relevant(doms: dict[int, IntervalSet], negs: list[dict[int, IntervalSet]]) -> list[dict[int, IntervalSet]] | None:
        """Negative boxes that still constrain; None if one of them excludes everything."""
        out = []
        for neg in negs:
            alive = True
            covers = True
            for v, s in neg.items():
                d = doms[v]
                if not d.overlaps(s):
                    alive = False
                    break
                if covers and not d.subset_of(s):
                    covers = False
            if not alive:
                continue
            if covers:
                return None
            out.append(neg)
        return out

    @staticmethod
    def live_rels(doms: dict[int, IntervalSet], rels) -> list[tuple[int, int, bool]] | None:
        """Relations that still constrain; None if one of them cannot hold."""
        out = []
        for a, b, eq in rels:
            da, db = doms[a], doms[b]
            if eq:
                if not da.overlaps(db):
                    return None
                if da.is_point() and db.is_point():
                    continue
            else:
                if not da.overlaps(db):
                    continue
                if da.is_point() and db.is_point():
                    return None
            out.append((a, b, eq))
        return out

    def feasible(self, st: RunState) -> bool:
        for d in st.doms.values():
            if not d:
                return False
        negs = self.relevant(st.doms, st.negs)
        if negs is None:
            return False
        rels = self.live_rels(st.doms, st.rels)
        if rels is None:
            return False
        if not negs and not rels:
            return True
        return self.model(st, negs, rels) is not None

    def _in(self, x, s: IntervalSet):
        import z3

        terms = []
        for lo, hi in s.ivs:
            if lo == hi:
                terms.append(x == lo)
            else:
                terms.append(z3.And(z3.UGE(x, lo), z3.ULE(x, hi)))
        return z3.Or(*terms) if len(terms) != 1 else terms[0]

    def model(self, st: RunState, negs=None, rels=None) -> dict[int, int] | None:
        if negs is None:
            negs = self.relevant(st.doms, st.negs)
            if negs is None:
                return None
        if rels is None:
            rels = self.live_rels(st.doms, st.rels)
            if rels is None:
                return None
        if not negs and not rels:
            return {v: _nice(st.kinds[v], d) for v, d in st.doms.items()}
        import z3  # only when intervals cannot decide: most queries never load it

        self.z3_calls += 1
        s = z3.Solver()
        xs = {}
        involved = {v for neg in negs for v in neg} | {v for a, b, _eq in rels for v in (a, b)}
        for v in involved:
            xs[v] = z3.BitVec(f"v{v}", self.width(st.kinds[v]))
            s.add(self._in(xs[v], st.doms[v]))
        for neg in negs:
            s.add(z3.Not(z3.And(*[self._in(xs[v], sset) for v, sset in neg.items()])))
        for a, b, eq in rels:
            s.add(xs[a] == xs[b] if eq else xs[a] != xs[b])
        if s.check() != z3.sat:
            return None
        m = s.model()
        out = {v: _nice(st.kinds[v], d) for v, d in st.doms.items()}
        for v, x in xs.items():
            val = m.eval(x, model_completion=True)
            out[v] = val.as_long()
        return out


def _nice(kind: str, d: IntervalSet) -> int:
    if kind == "sport":
        return d.pick((40000,)) if 40000 in d else d.pick((d.ivs[-1][0],))
    if kind in ("src", "dst"):
        lo, hi = d.ivs[0]
        return lo + 1 if hi > lo + 1 and (lo & 0xFF) == 0 else lo
    return d.min()


class SymbolicRun:
    """One run of the path: replays ``script`` decisions, records new forks in ``pending``."""

    def __init__(self, family: int, init: dict[str, IntervalSet], script: list[bool], checker: Checker,
                 max_forks: int = 100000):
        self.family = family
        self.checker = checker
        self.script = script
        self.pos = 0
        self.taken: list[bool] = []
        self.pending: list[list[bool]] = []
        kinds = {}
        doms = {}
        cur = {}
        for i, fld in enumerate(("src", "dst", "sport", "dport", "proto", "icmp")):
            cur[fld] = i
            kinds[i] = fld
            doms[i] = init.get(fld, _full(fld, family))
        self.st = RunState(cur, dict(cur), doms, [], kinds)
        self.next_var = len(cur)
        self.approximated: list[str] = []
        self.forks = 0

    # ------------------------------------------------------------------ fields

    def var(self, fld: str) -> int:
        return self.st.cur[fld]

    def point(self, fld: str) -> int | None:
        d = self.st.doms[self.st.cur[fld]]
        return d.min() if d.is_point() else None

    def domain(self, fld: str) -> IntervalSet:
        return self.st.doms[self.st.cur[fld]]

    def rewrite(self, fld: str, values: IntervalSet) -> None:
        v = self.next_var
        self.next_var += 1
        self.st.kinds[v] = fld
        self.st.doms[v] = values
        self.st.cur[fld] = v

    def rewrite_free(self, flow, fld: str) -> None:
        self.rewrite(fld, _full(fld, self.family))
        flow.approximations.append(f"{fld} rewritten to an unknown value")

    def _resolve(self, fld: str) -> int:
        if fld in ALIASES:
            return self.st.initial[ALIASES[fld]]
        if fld in REPLY:
            return self.st.cur[REPLY[fld]]
        return self.st.cur[fld]

    # ------------------------------------------------------------------ forks

    def _decide(self, branches) -> bool:
        """``branches`` = (apply_true, apply_false): each returns a new RunState or None if infeasible.

        Only real forks (both sides satisfiable) are recorded, so a replayed run meets the
        same forks in the same order and follows ``script`` through them.
        """
        t = branches[0]()
        f = branches[1]()
        if t is not None and f is not None:
            if self.pos < len(self.script):
                choice = self.script[self.pos]
                self.pos += 1
            else:
                choice = True
                self.forks += 1
                self.pending.append(self.taken + [False])
            self.taken.append(choice)
            self.st = t if choice else f
            return choice
        if t is not None:
            self.st = t
            return True
        if f is not None:
            self.st = f
            return False
        raise Infeasible()

    def _with_dom(self, v: int, d: IntervalSet) -> RunState | None:
        if not d:
            return None
        doms = dict(self.st.doms)
        doms[v] = d
        st = self.st.but(doms=doms)
        return st if self.checker.feasible(st) else None

    def _with_box(self, box: dict[int, IntervalSet]) -> RunState | None:
        doms = dict(self.st.doms)
        for v, s in box.items():
            d = doms[v].intersect(s)
            if not d:
                return None
            doms[v] = d
        st = self.st.but(doms=doms)
        return st if self.checker.feasible(st) else None

    def _with_neg(self, box: dict[int, IntervalSet]) -> RunState | None:
        # a field whose domain lies inside the box holds in every packet left (domains only
        # shrink): not(A and B) with A certain is not(B), often one field, an interval
        box = {v: s for v, s in box.items() if not self.st.doms[v].subset_of(s)} or box
        if len(box) == 1:
            (v, s), = box.items()
            d = self.st.doms[v]
            return self._with_dom(v, d.intersect(s.complement(*_full(self.st.kinds[v], self.family).ivs[0])))
        st = self.st.but(doms=dict(self.st.doms), negs=self.st.negs + [box])
        return st if self.checker.feasible(st) else None

    def holds(self, fld: str, s: IntervalSet, flow=None) -> bool:
        v = self._resolve(fld)
        d = self.st.doms[v]
        if not d.overlaps(s):
            return False
        if d.subset_of(s):
            return True
        return self._decide((lambda: self._with_dom(v, d.intersect(s)),
                             lambda: self._with_neg({v: s})))

    def equal(self, a: str, b: str, flow) -> bool:
        """Do two fields hold the same value (e.g. the original source and the final destination)?

        One side a single value: a fork on the other side's domain. Two ranges: a fork on the
        relation itself, which z3 keeps with the path's other constraints (no box can say it)."""
        va, vb = self._resolve(a), self._resolve(b)
        if va == vb:
            return True
        da, db = self.st.doms[va], self.st.doms[vb]
        if not da.overlaps(db):
            return False
        if da.is_point():
            return self.holds(b, da, flow)
        if db.is_point():
            return self.holds(a, db, flow)

        def same():
            both = da.intersect(db)
            doms = dict(self.st.doms)
            doms[va] = doms[vb] = both
            st = self.st.but(doms=doms, rels=self.st.rels + ((va, vb, True),))
            return st if self.checker.feasible(st) else None

        def differ():
            st = self.st.but(rels=self.st.rels + ((va, vb, False),))
            return st if self.checker.feasible(st) else None

        return self._decide((same, differ))

    def free_choice(self, what: str, flow, *, unknown: bool, texts: tuple[str, str] | None = None) -> bool:
        """Both outcomes of a condition the headers do not decide (a match dnlint does not
        model, a stateful match, a host fact the dump does not show). ``texts``: what to record
        for each outcome (default: "<what>: assumed to match / not to match")."""
        def same():
            return self.st.but()
        choice = self._decide((same, same))
        text = (texts[0] if choice else texts[1]) if texts else \
            f"{what}: {'assumed to match' if choice else 'assumed not to match'}"
        if unknown:
            flow.approximations.append(text)
        else:
            flow.choices.append(text)
        return choice

    # ------------------------------------------------------------------ rules

    def rule_matches(self, rule, c: Compiled, flow) -> bool:
        if c.in_iface is not None and not iface_matches(c.in_iface, flow.in_iface):
            return False
        if c.out_iface is not None and not iface_matches(c.out_iface, flow.out_iface):
            return False
        unknown_meta = []
        for t in c.meta:
            r = meta_holds(t, flow)
            if r is None:
                unknown_meta.append(t.text)
            elif not r:
                return False
        if not c.boxes:
            return False
        if not self._header(c.boxes):
            return False
        where = f"line {rule.span.line}"
        for s in c.stateful:
            if not self.free_choice(f"{s} ({where})", flow, unknown=False):
                return False
        for u in list(c.unknown) + unknown_meta:
            if not self.free_choice(f"{u} ({where})", flow, unknown=True):
                return False
        return True

    def _header(self, boxes: list[dict[str, IntervalSet]]) -> bool:
        doms = self.st.doms
        cand: list[dict[int, IntervalSet]] = []
        for box in boxes:
            vbox: dict[int, IntervalSet] = {}
            possible = True
            certain = True
            for fld, s in box.items():
                v = self._resolve(fld)
                if v in vbox:
                    s = vbox[v].intersect(s)
                d = doms[v]
                if not d.overlaps(s):
                    possible = False
                    break
                if certain and not d.subset_of(s):
                    certain = False
                vbox[v] = s
            if not possible:
                continue
            if certain:
                return True
            cand.append(vbox)
        for vbox in cand:
            if self._decide((lambda b=vbox: self._with_box(b), lambda b=vbox: self._with_neg(b))):
                return True
        return False

    # ------------------------------------------------------------------ results

    def model(self) -> dict[int, int] | None:
        return self.checker.model(self.st)


def _full(fld: str, family: int) -> IntervalSet:
    if fld in ("src", "dst"):
        return IntervalSet.range(0, addr_max(family))
    if fld == "proto":
        return IntervalSet.range(0, 255)
    return IntervalSet.range(0, 0xFFFF)


def meta_holds(t: MetaTest, flow) -> bool | None:
    """Conditions that are concrete along a path. None: not modelled (approximated)."""
    k = t.kind
    if k == "ctstate":
        states = t.args[0]
        r = flow.ctstate in states or bool(states & flow.ctstatus & {"SNAT", "DNAT"})
    elif k in ("mark", "connmark"):
        value, mask = t.args
        cur = flow.mark if k == "mark" else flow.connmark
        r = (cur & mask) == value  # xt_mark: the value is not masked
    elif k == "bridged":
        r = flow.bridged
    elif k == "tcpflags":
        mask, comp = t.args
        r = (flow.tcpflags & mask) == comp
    elif k == "fragment":
        r = False  # the first packet of a connection is never a non-first fragment
    elif k == "ctdir":
        r = t.args[0] == "ORIGINAL"
    elif k == "pkttype":
        r = t.args[0] == "unicast"
    elif k == "ctstatus":
        r = bool(t.args[0] & flow.ctstatus)  # NONE is no status bit: it never matches
    else:
        return None
    return r != t.negated


@dataclass
class Leaf:
    outcome: object
    run: SymbolicRun
    values: dict[int, int] | None = None


@dataclass
class Exploration:
    leaves: list[Leaf] = field(default_factory=list)
    runs: int = 0
    truncated: bool = False
    z3_calls: int = 0


def explore(family: int, init: dict[str, IntervalSet], body, *, max_runs: int = 5000,
            stop_when=None) -> Exploration:
    """Run ``body(run)`` over every feasible path (depth-first); ``body`` returns an Outcome.

    ``stop_when(leaf)`` may end the search early (e.g. once a proved accepting path is found).
    """
    checker = Checker(family)
    result = Exploration()
    stack: list[list[bool]] = [[]]
    while stack:
        script = stack.pop()
        if result.runs >= max_runs:
            result.truncated = True
            break
        result.runs += 1
        run = SymbolicRun(family, init, script, checker)
        try:
            outcome = body(run)
        except Infeasible:
            continue
        stack.extend(reversed(run.pending))
        leaf = Leaf(outcome, run, run.model())
        if leaf.values is None:
            continue
        result.leaves.append(leaf)
        if stop_when is not None and stop_when(leaf):
            break
    result.z3_calls = checker.z3_calls
    return result
