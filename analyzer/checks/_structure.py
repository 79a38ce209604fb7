"""Shared analysis of the DN1xx structure checks: the jump graph of each table and a proof
that a rule can never match (it is *shadowed*).

The proof
---------
A packet that reaches rule ``j`` of a chain has passed every earlier rule of that chain
(chains are entered at their first rule; a jump returns to the rule after it). If an
earlier rule ``i`` ends the traversal of the chain when it matches (ACCEPT, DROP, REJECT,
RETURN, a goto, a NAT target in the nat table), the packet did *not* match ``i`` at the
moment it passed it. If nothing between ``i`` and ``j`` can change what ``i`` tested, the
packet does not match ``i`` at ``j`` either. So when ``cond(j) ⇒ cond(i1) ∨ ... ∨ cond(ik)``
for such rules, ``j`` never matches.

Only *fully modelled* earlier rules take part: no unknown match, no stateful match (limit,
recent, ...), no unresolved host name, no addrtype test when the host's addresses are
unknown. The later rule may hold unknown or stateful matches: they only narrow it.

``cond(r)`` is ``boxes(r) ∧ interfaces(r) ∧ meta(r)``. An earlier rule is used only when
its interface and meta tests are *implied* by the later rule's (identical, a weaker
wildcard, a superset of conntrack states, ...). Then ``cond(j) ⇒ ∨ cond(i)`` follows from
``boxes(j) ⊆ ∪ boxes(i)``, checked field by field over independent variables (a superset of
the real packet space, so a proof there holds for real packets): by interval arithmetic
(one earlier box contains it; slabs over a single field; box subtraction with a cap), and
by z3 (one BitVec per field) when intervals cannot decide.

Guards that keep it sound:
- marks, connmarks, conntrack state and ipset membership can change between ``i`` and ``j``
  (MARK, CONNMARK, CT, NOTRACK, SET, an unknown target, a jump to a chain that does any of
  these): an earlier rule testing them is used only when no such rule stands between.
- port, ICMP and tcp-flag matches never match a non-first fragment: an earlier rule with
  one is used only when the later rule cannot match such a fragment either.
- conntrack tuple tests (``--ctorigdst`` ...) never match a packet without a connection:
  used only when the later rule also requires one.

A time budget bounds the analysis of very large chains; a rule not decided within it is
not reported (never reported wrongly).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..ir import Chain, InterfaceMatch, Rule, Table
from ..model.intervals import IntervalSet, addr_max
from .base import CheckContext, RuleRef

TERMINAL = frozenset({"ACCEPT", "DROP", "REJECT", "RETURN"})
NAT_TARGETS = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"})
# targets that let the packet go on and change nothing a rule condition here tests
PURE_CONTINUE = frozenset({"LOG", "NFLOG", "ULOG", "TRACE", "AUDIT", "TCPMSS", "TOS", "DSCP", "TTL", "HL",
                           "CLASSIFY", "CHECKSUM", "ECN", "IDLETIMER", "LED", "RATEEST"})
MUTABLE_META = frozenset({"mark", "connmark", "ctstate", "ctstatus"})
PORT_MODULES = frozenset({"tcp", "udp", "sctp", "udplite", "dccp", "multiport", "icmp", "icmp6", "icmpv6",
                          "ipv6-icmp"})
MAIN_STATES = frozenset({"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"})
TRACKED_STATES = frozenset({"NEW", "ESTABLISHED", "RELATED", "SNAT", "DNAT"})

DEFAULT_BUDGET = 4.0  # seconds for the whole shadow analysis of one dump
MAX_RESIDUALS = 256
Z3_TIMEOUT_MS = 500


# --------------------------------------------------------------------------- targets and graph


def is_terminal(rule: Rule, table: str) -> bool:
    """True when matching ``rule`` always ends the traversal of its chain."""
    t = rule.target
    if t is None:
        return False
    if t.goto:
        return True
    return t.name in TERMINAL or (table == "nat" and t.name in NAT_TARGETS)


def user_chains(table: Table) -> dict[str, Chain]:
    return {c.name: c for c in table.chains if not c.builtin}


def edges(table: Table) -> dict[str, list[tuple[int, Rule, str]]]:
    """chain -> [(1-based index, rule, target user chain)] for every jump or goto to a user chain."""
    users = user_chains(table)
    out: dict[str, list[tuple[int, Rule, str]]] = {}
    for c in table.chains:
        lst = out.setdefault(c.name, [])
        for i, r in enumerate(c.rules, 1):
            if r.target is not None and r.target.name in users:
                lst.append((i, r, r.target.name))
    return out


def referenced(table: Table) -> set[str]:
    """User chains some rule of the table jumps or goes to (or a listing says are referenced)."""
    refs = {dst for lst in edges(table).values() for _i, _r, dst in lst}
    refs |= {c.name for c in table.chains if c.references}
    return refs


def reachable(table: Table) -> set[str]:
    """Chains reachable from a built-in chain (a listing's reference count counts as reachable)."""
    g = edges(table)
    seen = {c.name for c in table.chains if c.builtin or c.references}
    todo = list(seen)
    while todo:
        for _i, _r, dst in g.get(todo.pop(), ()):
            if dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return seen


def mutating_chains(table: Table) -> set[str]:
    """User chains whose traversal may change a mark, conntrack state or set (and come back)."""
    users = user_chains(table)
    direct: set[str] = set()
    calls: dict[str, set[str]] = {}
    for c in table.chains:
        for r in c.rules:
            t = r.target
            if t is None or t.goto or t.name in TERMINAL or t.name in PURE_CONTINUE or (
                    table.name == "nat" and t.name in NAT_TARGETS):
                continue
            if t.name in users:
                calls.setdefault(t.name, set()).add(c.name)  # callee -> callers
                continue
            direct.add(c.name)
    # a chain mutates when it or a chain it jumps (or goes) to does
    for c in table.chains:
        for r in c.rules:
            t = r.target
            if t is not None and t.goto and t.name in users:
                calls.setdefault(t.name, set()).add(c.name)
    out = set(direct)
    todo = list(direct)
    while todo:
        for caller in calls.get(todo.pop(), ()):
            if caller not in out:
                out.add(caller)
                todo.append(caller)
    return out


def _mutates(rule: Rule, table: str, mutating: set[str], users: dict[str, Chain]) -> bool:
    t = rule.target
    if t is None or t.goto or t.name in TERMINAL or t.name in PURE_CONTINUE:
        return False
    if table == "nat" and t.name in NAT_TARGETS:
        return False
    if t.name in users:
        return t.name in mutating
    return True


# --------------------------------------------------------------------------- fields and boxes


def _full(fld: str, family: int) -> IntervalSet:
    if fld in ("src", "dst", "osrc", "odst", "rsrc", "rdst"):
        return IntervalSet.range(0, addr_max(family))
    if fld == "proto":
        return IntervalSet.range(0, 255)
    return IntervalSet.range(0, 0xFFFF)  # ports, icmp type/code


def _width(fld: str, family: int) -> int:
    if fld in ("src", "dst", "osrc", "odst", "rsrc", "rdst"):
        return 32 if family == 4 else 128
    return 8 if fld == "proto" else 16


Box = dict  # field -> IntervalSet; a missing field is unconstrained


def _subset(t: IntervalSet, s: IntervalSet) -> bool:
    if len(s.ivs) == 1:
        lo, hi = s.ivs[0]
        return not t.ivs or (t.ivs[0][0] >= lo and t.ivs[-1][1] <= hi)
    return t.subset_of(s)


def _overlaps(s: IntervalSet, t: IntervalSet) -> bool:
    if len(s.ivs) == 1 and len(t.ivs) == 1:
        return s.ivs[0][0] <= t.ivs[0][1] and t.ivs[0][0] <= s.ivs[0][1]
    return s.overlaps(t)


def box_overlaps(a: Box, b: Box) -> bool:
    for f, s in a.items():
        t = b.get(f)
        if t is not None and not _overlaps(s, t):
            return False
    return True


def box_contains(a: Box, b: Box, fulls: dict[str, IntervalSet]) -> bool:
    """a ⊇ b (a field absent from a box is full)."""
    for f, s in a.items():
        t = b.get(f)
        if t is None:
            if s != fulls[f]:
                return False
        elif not _subset(t, s):
            return False
    return True


FIELDS = ("src", "dst", "osrc", "odst", "rsrc", "rdst", "proto", "icmp", "sport", "dport", "osport", "odport",
          "rsport", "rdport")
_FULLS = {fam: {f: _full(f, fam) for f in FIELDS} for fam in (4, 6)}


def _subtract(b: Box, a: Box, fulls: dict[str, IntervalSet]) -> list[Box]:
    """b minus a, as disjoint boxes."""
    out = []
    cur = dict(b)
    for f, s in a.items():
        t = cur.get(f, fulls[f])
        outside = t.intersect(s.complement(*fulls[f].ivs[0]))
        if outside:
            nb = dict(cur)
            nb[f] = outside
            out.append(nb)
        inside = t.intersect(s)
        if not inside:
            return [b]
        cur[f] = inside
    return out


def covered(jbox: Box, iboxes: list[Box], family: int, deadline: float, stats: dict) -> bool | None:
    """Is ``jbox`` inside the union of ``iboxes``? None when undecided within the budget."""
    fulls = _FULLS[family]
    rel = []
    for a in iboxes:
        if not box_overlaps(a, jbox):
            continue
        # only the fields where a actually cuts jbox matter
        cut = {}
        for f, s in a.items():
            if not _subset(jbox.get(f) or fulls[f], s):
                cut[f] = s
        if not cut:
            return True
        rel.append(cut)
    if not rel:
        return False
    # slabs: boxes that cut a single field each; covered iff one field's union covers jbox there
    if all(len(a) == 1 for a in rel):
        parts: dict[str, list] = {}
        for a in rel:
            (f, s), = a.items()
            parts.setdefault(f, []).extend(s.ivs)
        return any(jbox.get(f, fulls[f]).subset_of(IntervalSet(ivs)) for f, ivs in parts.items())
    # necessary: every field's projection must be covered where a box leaves the field free
    for f in {f for a in rel for f in a}:
        if all(f in a for a in rel):
            u = IntervalSet([iv for a in rel for iv in a[f].ivs])
            if not jbox.get(f, fulls[f]).subset_of(u):
                return False
    # box subtraction, exact while it stays small
    residual = [dict(jbox)]
    ok = True
    for a in rel:
        nxt = []
        for r in residual:
            nxt.extend(_subtract(r, a, fulls) if box_overlaps(a, r) else [r])
        residual = nxt
        if not residual:
            return True
        if len(residual) > MAX_RESIDUALS:
            ok = False
            break
    if ok:
        return not residual
    if time.monotonic() > deadline:
        return None
    return _z3_covered(jbox, rel, family, stats)


def _z3_covered(jbox: Box, rel: list[Box], family: int, stats: dict) -> bool | None:
    import z3

    stats["z3"] = stats.get("z3", 0) + 1
    s = z3.Solver()
    s.set("timeout", Z3_TIMEOUT_MS)
    xs: dict[str, object] = {}

    def var(f):
        if f not in xs:
            xs[f] = z3.BitVec(f, _width(f, family))
        return xs[f]

    def inside(x, ivs: IntervalSet):
        terms = [x == lo if lo == hi else z3.And(z3.UGE(x, lo), z3.ULE(x, hi)) for lo, hi in ivs.ivs]
        return terms[0] if len(terms) == 1 else z3.Or(*terms)

    for f, sset in jbox.items():
        s.add(inside(var(f), sset))
    for a in rel:
        s.add(z3.Not(z3.And(*[inside(var(f), sset) for f, sset in a.items()])))
    r = s.check()
    if r == z3.unsat:
        return True
    if r == z3.sat:
        return False
    return None


# --------------------------------------------------------------------------- conditions


def iface_implies(j: InterfaceMatch | None, i: InterfaceMatch | None) -> bool:
    """Every interface name (or none) that ``j`` accepts, ``i`` accepts too."""
    if i is None:
        return True
    if j is None:
        return False

    def names(m: InterfaceMatch):
        return (m.name[:-1], True) if m.name.endswith("+") else (m.name, False)

    jn, jw = names(j)
    inn, iw = names(i)

    def subset(an, aw, bn, bw):  # set(a) ⊆ set(b), as positive matches
        if bw:
            return an.startswith(bn)
        return not aw and an == bn

    def disjoint(an, aw, bn, bw):
        if aw and bw:
            return not (an.startswith(bn) or bn.startswith(an))
        if aw:
            return not bn.startswith(an)
        if bw:
            return not an.startswith(bn)
        return an != bn

    if not j.negated and not i.negated:
        return subset(jn, jw, inn, iw)
    if j.negated and i.negated:
        return subset(inn, iw, jn, jw)
    if not j.negated and i.negated:
        return disjoint(jn, jw, inn, iw)
    return False  # ! -i a never implies -i b


def meta_implies(j, i) -> bool:
    """Meta test ``j`` (kind, args, negated) implies meta test ``i``."""
    if j == i:
        return True
    jk, ja, jneg = j
    ik, ia, ineg = i
    if jk != ik:
        return False
    if jk == "ctstate":
        js, is_ = ja[0], ia[0]
        if not jneg and not ineg:
            return js <= is_
        if jneg and ineg:
            return is_ <= js
        if not jneg and ineg:
            return js <= MAIN_STATES and not (is_ - MAIN_STATES) and not (js & is_)
    return False


@dataclass(slots=True)
class RuleInfo:
    index: int  # 0-based
    rule: Rule
    boxes: list | None  # None: the rule's boxes cannot be trusted (addrtype without addresses)
    sig: tuple
    usable: bool  # may shadow later rules: terminal and fully modelled
    mutable: bool  # tests something a target between may change
    needs_nonfrag: bool
    implies_nonfrag: bool
    needs_ct: bool
    implies_ct: bool
    unconditional: bool
    hull: dict = field(default_factory=dict)  # field -> (lo, hi) over all boxes, for dst/src


def rule_info(index: int, rule: Rule, table: str, compiler, addresses_known: bool) -> RuleInfo:
    c = compiler.compile(rule)
    uses_addrtype = rule.match("addrtype") is not None
    boxes = None if (uses_addrtype and not addresses_known) else c.boxes
    meta = tuple((m.kind, m.args, m.negated) for m in c.meta)
    # an option the parser attached to a verdict that takes none (`-j ACCEPT --dports 22`: iptables
    # gives it to the match) or a port match left without ports means the rule was not read as
    # the kernel reads it: do not build proofs on it
    misread = bool(rule.target is not None and rule.target.name in ("ACCEPT", "DROP", "RETURN")
                   and rule.target.options) or any(m.module == "multiport" and not m.options
                                                    for m in rule.matches)
    modelled = not c.unknown and not c.stateful and not rule.unknown and boxes is not None and not misread
    mods = {m.module for m in rule.matches}
    port_mod = bool(mods & PORT_MODULES)
    ct_opts = {o.name for m in rule.matches if m.module == "conntrack" for o in m.options}
    tuple_ct = bool(ct_opts - {"--ctstate", "--state"})
    pos_states = [m[1][0] for m in meta if m[0] == "ctstate" and not m[2]]
    implies_ct = tuple_ct or any(s <= TRACKED_STATES for s in pos_states)
    terminal = is_terminal(rule, table)
    unconditional = (terminal and not misread and not c.unknown and not c.stateful and not rule.unknown and not c.meta
                     and c.in_iface is None and c.out_iface is None and boxes is not None
                     and any(all(s == _FULLS[compiler.family][f] for f, s in b.items()) for b in boxes))
    info = RuleInfo(
        index=index, rule=rule, boxes=boxes,
        sig=(c.in_iface, c.out_iface, meta),
        usable=terminal and modelled,
        mutable=any(m[0] in MUTABLE_META for m in meta) or "set" in mods,
        needs_nonfrag=port_mod or any(m[0] == "tcpflags" for m in meta),
        implies_nonfrag=port_mod or rule.fragment is False or any(m[0] == "tcpflags" and not m[2] for m in meta),
        needs_ct=tuple_ct, implies_ct=implies_ct, unconditional=unconditional,
    )
    if boxes:
        for f in ("dst", "src"):
            lo = hi = None
            for b in boxes:
                s = b.get(f)
                if s is None:
                    lo = None
                    break
                lo = s.ivs[0][0] if lo is None else min(lo, s.ivs[0][0])
                hi = s.ivs[-1][1] if hi is None else max(hi, s.ivs[-1][1])
            if lo is not None:
                info.hull[f] = (lo, hi)
    return info


def _sig_implies(j: RuleInfo, i: RuleInfo, cache: dict) -> bool:
    key = (i.sig, j.sig, i.needs_nonfrag and not j.implies_nonfrag, i.needs_ct and not j.implies_ct)
    r = cache.get(key)
    if r is None:
        r = (not key[2] and not key[3]
             and iface_implies(j.sig[0], i.sig[0]) and iface_implies(j.sig[1], i.sig[1])
             and all(any(meta_implies(tj, ti) for tj in j.sig[2]) for ti in i.sig[2]))
        cache[key] = r
    return r


# --------------------------------------------------------------------------- the index


class _Index:
    """Earlier usable rules, by their dst and src hulls in a hierarchy of buckets.

    A rule is filed at the finest level (bucket size a power of two) where its hull spans at
    most ``SPAN`` buckets; the top level (one bucket) takes rules that leave the field free.
    A query collects, level by level, the buckets its own hull touches.
    """

    SPAN = 4

    def __init__(self, family: int):
        width = 32 if family == 4 else 128
        step = 8 if family == 4 else 16
        self.shifts = list(range(0, width, step)) + [width]
        self.levels = {f: [dict() for _ in self.shifts] for f in ("dst", "src")}
        self.all: list[RuleInfo] = []
        self.width = width

    def add(self, info: RuleInfo) -> None:
        self.all.append(info)
        for f in ("dst", "src"):
            lo, hi = info.hull.get(f, (0, (1 << self.width) - 1))
            for lvl, sh in enumerate(self.shifts):
                a, b = lo >> sh, hi >> sh
                if b - a < self.SPAN:
                    buckets = self.levels[f][lvl]
                    for k in range(a, b + 1):
                        buckets.setdefault(k, []).append(info)
                    break

    def candidates(self, info: RuleInfo) -> list[RuleInfo]:
        best = None
        for f in ("dst", "src"):
            h = info.hull.get(f)
            if h is None:
                continue
            lo, hi = h
            lists = []
            size = 0
            for lvl, sh in enumerate(self.shifts):
                buckets = self.levels[f][lvl]
                if not buckets:
                    continue
                a, b = lo >> sh, hi >> sh
                if b - a + 1 <= len(buckets):
                    got = [buckets[k] for k in range(a, b + 1) if k in buckets]
                else:
                    got = [v for k, v in buckets.items() if a <= k <= b]
                lists.extend(got)
                size += sum(map(len, got))
            if best is None or size < best[0]:
                best = (size, lists)
        if best is None:
            return self.all
        seen = {}
        for lst in best[1]:
            for x in lst:
                seen[x.index] = x
        return [seen[k] for k in sorted(seen)]


# --------------------------------------------------------------------------- results


@dataclass
class Shadow:
    ref: RuleRef
    by: list[RuleRef]
    same_target: bool  # every rule named has the rule's own (terminal) target
    duplicate: bool  # one earlier rule with exactly the same condition and target


@dataclass
class AfterTerminal:
    terminal: RuleRef
    first: RuleRef
    count: int


@dataclass
class StructureAnalysis:
    shadowed: dict[tuple, Shadow] = field(default_factory=dict)  # (table, chain, index) -> Shadow
    unsat: dict[tuple, RuleRef] = field(default_factory=dict)
    after_terminal: dict[tuple, AfterTerminal] = field(default_factory=dict)  # (table, chain) -> ...
    unreachable_chains: dict[str, set[str]] = field(default_factory=dict)  # table -> chains
    timed_out: bool = False
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)

    def dead(self, ref: RuleRef) -> str | None:
        """Why the model says ``ref`` never matches, or None."""
        key = (ref.table, ref.chain.name, ref.index)
        if key in self.shadowed:
            by = self.shadowed[key].by
            return "it is shadowed by " + describe(by)
        if key in self.unsat:
            return "its own conditions cannot all hold at once"
        at = self.after_terminal.get((ref.table, ref.chain.name))
        if at is not None and ref.index > at.terminal.index:
            return f"it follows the unconditional {at.terminal.rule.target.name} rule {describe([at.terminal])}"
        if ref.chain.name in self.unreachable_chains.get(ref.table, ()):
            return f"chain {ref.chain.name} is reached from no built-in chain"
        return None


def describe(refs: list[RuleRef], limit: int = 3) -> str:
    parts = []
    for k, r in enumerate(refs[:limit]):
        head = r.where if k == 0 or r.chain.name != refs[0].chain.name else f"#{r.index}"
        parts.append(f"{head} (line {r.rule.span.line})")
    text = ", ".join(parts)
    if len(refs) > limit:
        text += f" and {len(refs) - limit} more"
    return text


def _same_target(a: Rule, b: Rule) -> bool:
    return a.target == b.target


def _cond_key(r: Rule) -> tuple:
    return (r.protocol, r.src, r.dst, r.in_iface, r.out_iface, r.fragment,
            tuple(m for m in r.matches if m.module != "comment"), r.target)


def analyse(ctx: CheckContext, family: int) -> StructureAnalysis:
    key = ("dnlint.structure", family)
    cache = ctx._engines
    if key in cache:
        return cache[key]
    budget = float((ctx.options.get("DN103") or {}).get("budget-seconds", DEFAULT_BUDGET))
    start = time.monotonic()
    deadline = start + budget
    res = StructureAnalysis()
    tables = ctx.tables(family)
    if not any(c.rules for t in tables.values() for c in t.chains):
        cache[key] = res
        return res
    eng = ctx.engine(family)
    compiler = eng.compiler
    addresses_known = bool(getattr(eng.host, "addresses_known", False))
    sig_cache: dict = {}
    listing = ctx.listing_tables(family)
    for tname, table in tables.items():
        res.unreachable_chains[tname] = {c.name for c in table.chains} - reachable(table)
        users = user_chains(table)
        mutating = mutating_chains(table)
        for chain in table.chains:
            if not chain.rules:
                continue
            infos = [rule_info(k, r, tname, compiler, addresses_known) for k, r in enumerate(chain.rules)]
            stop = len(infos)
            for inf in infos:
                if inf.unconditional:
                    stop = inf.index + 1
                    if stop < len(infos):
                        res.after_terminal[(tname, chain.name)] = AfterTerminal(
                            RuleRef(family, tname, chain, inf.index + 1, inf.rule),
                            RuleRef(family, tname, chain, stop + 1, chain.rules[stop]), len(infos) - stop)
                    break
            index = _Index(family)
            last_mut = -1
            for j in infos[:stop]:
                if j.boxes is not None and not j.boxes:
                    res.unsat[(tname, chain.name, j.index + 1)] = RuleRef(family, tname, chain, j.index + 1, j.rule)
                    if _mutates(j.rule, tname, mutating, users):
                        last_mut = j.index
                    continue
                shadow = None
                # a listing can hide a condition (two lines that look alike may differ): no
                # shadowing proofs on listing input, only on what iptables-save shows
                if j.boxes is not None and index.all and not res.timed_out and tname not in listing:
                    if time.monotonic() > deadline:
                        res.timed_out = True
                    else:
                        shadow = _shadowed_by(j, index.candidates(j), last_mut, sig_cache, family, deadline,
                                              res.stats)
                if shadow:
                    refs = [RuleRef(family, tname, chain, i.index + 1, i.rule) for i in shadow]
                    same = j.rule.target is not None and is_terminal(j.rule, tname) and all(
                        _same_target(i.rule, j.rule) for i in shadow)
                    dup = len(shadow) == 1 and _cond_key(shadow[0].rule) == _cond_key(j.rule)
                    res.shadowed[(tname, chain.name, j.index + 1)] = Shadow(
                        RuleRef(family, tname, chain, j.index + 1, j.rule), refs, same, dup)
                else:
                    if j.usable:
                        index.add(j)
                if _mutates(j.rule, tname, mutating, users):
                    last_mut = j.index
    res.seconds = time.monotonic() - start
    cache[key] = res
    return res


def _shadowed_by(j: RuleInfo, cands: list[RuleInfo], last_mut: int, sig_cache: dict, family: int,
                 deadline: float, stats: dict) -> list[RuleInfo] | None:
    """The earlier rules that together take every packet of ``j``, or None (not proved)."""
    fulls = _FULLS[family]
    use: list[RuleInfo] = []
    for i in cands:
        if i.mutable and i.index < last_mut:
            continue
        if not any(box_overlaps(a, b) for a in i.boxes for b in j.boxes):
            continue
        if not _sig_implies(j, i, sig_cache):
            continue
        use.append(i)
    if not use:
        return None
    # one rule alone?
    for i in use:
        if all(any(box_contains(a, b, fulls) for a in i.boxes) for b in j.boxes):
            return [i]
    same = [i for i in use if _same_target(i.rule, j.rule)]
    for group in ((same, use) if same and len(same) < len(use) else (use,)):
        ok = True
        for b in j.boxes:
            r = covered(b, [a for i in group for a in i.boxes], family, deadline, stats)
            if r is not True:
                ok = False
                break
        if ok:
            return [i for i in group if any(box_overlaps(a, b) for a in i.boxes for b in j.boxes)]
    return None
