"""`dnlint matrix --space`: the address-space view, a service matrix over whole address spaces.

For one service (a protocol and destination port, the client's source port fixed, 10000 by
default as the peers take it) and one path through the host (``forward``: what filter FORWARD
and the chains around it do to a routed packet; ``input``: what reaches the host itself), the
IPv4 or IPv6 space is split into *classes*: sets of addresses that the rule set treats alike,
both as a source (towards every destination) and as a destination (from every source). The
matrix is the classes and, for each ordered pair, the fate of a connection's first packet
from one to the other: accepted, dropped, or possible.

How: every source and destination range any rule on the path names cuts its axis into
*atoms*; the fate of each (source atom, destination atom) cell is computed for all cells at
once by walking the chains over rectangles of a numpy grid (a rule's match on the two address
fields is a union of rectangles; jumps, gotos and RETURN restrict the region that goes on),
in blocks of source rows so that memory stays bounded. What the walk cannot decide (an
interface the dump does not tie to addresses, a rate limit, an unknown module) is taken both
ways, as FFFUU's upper and lower closures: a cell that one way accepts and the other drops is
"possible", never a confident answer. Classes are the atoms with equal rows and columns
(hashed row by row, with random linear hashes for columns).

The numpy grid was chosen over the engine's per-packet interval sets and over a BDD (``dd``):
a first-match rule list over two address fields is rectangle painting, which numpy does at
memory speed; interval sets would walk the rules once per source atom in Python, and a BDD's
nodes for tens of thousands of /24 and /32 ranges cost more than the grid they replace.
Every class's witness is replayed through the concrete evaluator (the same per-packet
semantics ``query`` replays its witnesses with).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from dataclasses import dataclass, field

from ..model.concrete import ConcreteRun, ReplayMismatch, _NoCompiler
from ..model.intervals import IntervalSet, addr_max, ip_str
from ..model.matches import RuleCompiler, addrtype_classes, iface_matches
from ..model.path import NAT_TARGETS, NOOP_TARGETS, Flow, Path
from ..model.values import protocol_number

#: the hooks each path crosses, in order (table, chain)
PATHS = {
    "forward": (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("mangle", "FORWARD"), ("filter", "FORWARD"),
                ("security", "FORWARD"), ("mangle", "POSTROUTING")),
    "input": (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("mangle", "INPUT"), ("filter", "INPUT"),
              ("security", "INPUT")),
}
DEFAULT_SERVICES = (("tcp", 22), ("tcp", 80))
DEFAULT_SPORT = 10000

DENY, ACCEPT, POSSIBLE = 0, 1, 2
NAT_NONE, NAT_UNCERTAIN, NAT_FIRST = 0, 1, 2  # labels of the nat walk: no translation, not decided, rules
FATE_NAMES = {DENY: "deny", ACCEPT: "accept", POSSIBLE: "possible"}

_CELLS_PER_BLOCK = 1 << 22
REPLAY_RULE_VISITS = 1_500_000  # the default replay budget, in rules the per-packet evaluator visits
_ADDR_FIELDS = {"src": "src", "dst": "dst", "osrc": "src", "odst": "dst", "rsrc": "dst", "rdst": "src"}
_PORT_FIELDS = {"sport": "sport", "dport": "dport", "osport": "sport", "odport": "dport",
                "rsport": "dport", "rdport": "sport"}


class SpaceError(ValueError):
    pass


# --------------------------------------------------------------------------- result types


@dataclass
class SpaceClass:
    """One class: address ranges (inclusive) that every rule on the path treats alike."""

    id: int
    ranges: list[tuple[int, int]]
    family: int

    @property
    def size(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def witness(self) -> int:
        lo, hi = self.ranges[0]
        return lo + 1 if hi - lo >= 2 else lo  # not a /24's network address where there is a choice

    def texts(self) -> list[str]:
        return [_range_text(lo, hi, self.family) for lo, hi in self.ranges]

    def as_dict(self) -> dict:
        return {"id": self.id, "ranges": self.texts(), "addresses": self.size,
                "witness": ip_str(self.witness(), self.family)}


@dataclass
class SpaceEdge:
    """One replayed witness: a packet from class ``src``'s witness to class ``dst``'s, the fate the
    grid gives it and the rules the per-packet evaluator saw it cross."""

    src: int
    dst: int
    fate: str  # accept | deny | possible
    witness: dict
    path: list[dict] = field(default_factory=list)
    why: str | None = None  # possible: what the answer turns on

    def as_dict(self) -> dict:
        d = {"from": self.src, "to": self.dst, "fate": self.fate, "witness": self.witness, "path": self.path}
        if self.why:
            d["why"] = self.why
        return d


@dataclass
class ServiceMatrix:
    """The service matrix of one protocol and port: the classes, and for each class as a source the
    classes it reaches (``reach[i]``: (destination class ids, fate codes), deny omitted)."""

    proto: str
    dport: int
    sport: int
    classes: list[SpaceClass]
    reach: list[tuple]  # per source class: (numpy int32 destination ids, numpy int8 fate codes)
    source_classes: int  # classes as sources only (rows that differ)
    destination_classes: int
    upper_classes: int  # classes when "possible" counts as accepted (FFFUU's upper closure)
    atoms: tuple[int, int]  # source atoms, destination atoms
    proofs: list[SpaceEdge] = field(default_factory=list)
    replay_failures: list[str] = field(default_factory=list)
    upper_partition: list[list[tuple[int, int]]] = field(default_factory=list)  # the upper closure's classes
    code_nat: dict[int, str] = field(default_factory=dict)  # full path: the translations of a fate code
    # --from/--to: the classes kept as sources and as destinations (None: all); edges of others dropped
    allowed_src: object = None
    allowed_dst: object = None

    def edges(self):
        """(from, to, fate) for every pair that is not denied, in class order."""
        for i, (dsts, codes) in enumerate(self.reach):
            for j, c in zip(dsts.tolist(), codes.tolist()):
                yield i, j, FATE_NAMES[c % 3]

    def nat(self, i: int, j: int) -> str | None:
        """The translations of the pair's packets (full path): DNAT to, masqueraded, ..."""
        dsts, codes = self.reach[i]
        k = int(dsts.searchsorted(j))
        return self.code_nat.get(int(codes[k])) if k < len(dsts) and dsts[k] == j else None

    def fate(self, i: int, j: int) -> str:
        dsts, codes = self.reach[i]
        k = int(dsts.searchsorted(j))
        return FATE_NAMES[int(codes[k]) % 3] if k < len(dsts) and dsts[k] == j else "deny"

    @property
    def edge_count(self) -> int:
        return sum(len(d) for d, _ in self.reach)

    @property
    def possible_count(self) -> int:
        return sum(int((c % 3 == POSSIBLE).sum()) for _, c in self.reach)

    def class_of(self, addr: int) -> SpaceClass:
        for c in self.classes:
            for lo, hi in c.ranges:
                if lo <= addr <= hi:
                    return c
        raise KeyError(addr)

    def _edge(self, e) -> list:
        nat = self.nat(e[0], e[1]) if self.code_nat else None
        return [*e, nat] if nat else list(e)

    def stats(self) -> dict:
        return {"classes": len(self.classes), "source_classes": self.source_classes,
                "destination_classes": self.destination_classes, "classes_upper_closure": self.upper_classes,
                "edges": self.edge_count, "possible_edges": self.possible_count,
                "source_atoms": self.atoms[0], "destination_atoms": self.atoms[1],
                "witnesses_replayed": len(self.proofs), "replay_failures": self.replay_failures}

    def as_dict(self) -> dict:
        return {"proto": self.proto, "dport": self.dport, "sport": self.sport,
                "classes": [c.as_dict() for c in self.classes], "edges": [self._edge(e) for e in self.edges()],
                "proofs": [e.as_dict() for e in self.proofs], "stats": self.stats()}


@dataclass
class SpaceMatrix:
    family: int
    path: str
    services: list[ServiceMatrix]
    in_iface: str | None
    out_iface: str | None
    assumptions: list[str]

    def as_dict(self) -> dict:
        return {"version": 1, "view": "space", "family": self.family, "path": self.path,
                "in_iface": self.in_iface, "out_iface": self.out_iface, "assumptions": self.assumptions,
                "services": [s.as_dict() for s in self.services]}


def _range_text(lo: int, hi: int, family: int) -> str:
    import ipaddress

    a = ipaddress.ip_address(lo) if family == 4 else ipaddress.IPv6Address(lo)
    b = ipaddress.ip_address(hi) if family == 4 else ipaddress.IPv6Address(hi)
    nets = list(ipaddress.summarize_address_range(a, b))
    if len(nets) == 1:
        return str(nets[0])
    return f"{a}-{b}"


# --------------------------------------------------------------------------- rules on the grid


@dataclass(slots=True)
class _Info:
    kind: str  # accept deny return call notrack noop unknown never
    # (src atom lo, hi, dst atom lo, hi, sure): half-open atom ranges; sure is True when the conditions
    # off the grid hold there, None when the dump does not decide them (taken both ways)
    rects: list[tuple[int, int, int, int, bool | None]]
    callee: object = None
    goto: bool = False
    row_lo: int = 0
    row_hi: int = 0
    label: int = 0  # nat table: the translation this rule makes (an index into the service's nat labels)


class _Service:
    """One service on one path: rules prepared, atoms cut, the grid walked block by block."""

    def __init__(self, host, compiler, path: str, proto: str, dport: int, sport: int,
                 in_iface: str | None, out_iface: str | None, tables: tuple[str, ...] | None = None,
                 stages: list[tuple[str, str]] | None = None, nat_labels: dict | None = None,
                 lo_sources: bool | None = None):
        self.host = host
        self.compiler = compiler
        self.family = host.family
        self.path = path  # forward | input: which hook's devices (no output device on INPUT)
        # whether sources of 127.0.0.0/8 and the host's own arrive on lo (the input path's view)
        self.lo_sources = (path == "input") if lo_sources is None else lo_sources
        self.proto = proto
        self.proto_num = protocol_number(proto)
        self.dport = dport
        self.sport = sport
        self.in_iface = in_iface
        self.out_iface = out_iface
        self.tables = tables
        if stages is None:
            stages = [(t, c) for t, c in PATHS[path]]
        self.stages = [(t, c) for t, c in stages if c in host.tables.get(t, {}) and (tables is None or t in tables)]
        self.mark_setters = self._mark_setters()
        self.notes: set[str] = set()
        self.nat_labels = nat_labels if nat_labels is not None else {}
        self._boxes: dict[int, list | None] = {}
        src_cuts, dst_cuts = {0}, {0}
        for rule in self._rules():
            for s, d in self._boxes_of(rule) or ():
                for lo, hi in s:
                    src_cuts.update((lo, hi + 1))
                for lo, hi in d:
                    dst_cuts.update((lo, hi + 1))
        top = addr_max(self.family) + 1
        if self.lo_sources:
            for lo, hi in self.loopback.ivs:
                src_cuts.update((lo, hi + 1))
        self.top = top
        self._infos: dict[int, _Info] = {}
        self.set_cuts(src_cuts, dst_cuts)

    def set_cuts(self, src_cuts, dst_cuts) -> None:
        self.src_b = sorted(x for x in set(src_cuts) | {0} if x < self.top)
        self.dst_b = sorted(x for x in set(dst_cuts) | {0} if x < self.top)
        self._infos.clear()

    # ---------------------------------------------------------------- preparation

    def _rules(self):
        seen = set()
        todo = [self.host.tables[t][c] for t, c in self.stages]
        tables = [t for t, _ in self.stages]
        for chain, table in zip(todo, tables):
            stack = [chain]
            while stack:
                ch = stack.pop()
                if id(ch) in seen:
                    continue
                seen.add(id(ch))
                for r in ch.rules:
                    yield r
                    if r.target is not None:
                        callee = self.host.tables[table].get(r.target.name)
                        if callee is not None and callee.policy is None:
                            stack.append(callee)

    def _mark_setters(self) -> set[str]:
        kinds = set()
        for chains in self.host.tables.values():
            for ch in chains.values():
                for r in ch.rules:
                    if r.target is not None and r.target.name in ("MARK", "CONNMARK"):
                        kinds.add("mark")
                        kinds.add("connmark")
        return kinds

    def _boxes_of(self, rule):
        key = id(rule)
        if key in self._boxes:
            return self._boxes[key]
        c = self.compiler.compile(rule)
        out = []
        top = addr_max(self.family)
        for box in c.boxes:
            src = IntervalSet.range(0, top)
            dst = IntervalSet.range(0, top)
            ok = True
            for fld, s in box.items():
                if fld == "proto":
                    ok = self.proto_num in s
                elif fld in _PORT_FIELDS:
                    ok = (self.dport if _PORT_FIELDS[fld] == "dport" else self.sport) in s
                elif fld in _ADDR_FIELDS:
                    if _ADDR_FIELDS[fld] == "src":
                        src = src.intersect(s)
                    else:
                        dst = dst.intersect(s)
                    ok = bool(src) and bool(dst)
                else:  # icmp type on a TCP/UDP packet: never
                    ok = False
                if not ok:
                    break
            if ok:
                out.append((src.ivs, dst.ivs))
        self._boxes[key] = out
        return out

    def info(self, rule, table: str) -> _Info:
        key = id(rule)
        got = self._infos.get(key)
        if got is not None:
            return got
        t = rule.target
        callee = None
        label = NAT_NONE
        if t is None:
            kind = "noop"
        elif t.name == "ACCEPT":
            kind = "accept"
        elif t.name in ("DROP", "REJECT"):
            kind = "deny"
        elif t.name == "RETURN":
            kind = "return"
        elif (ch := self.host.tables[table].get(t.name)) is not None and ch.policy is None:
            kind, callee = "call", ch
        elif t.name in NAT_TARGETS:
            kind = "accept" if table == "nat" else "unknown"
            if table == "nat":
                label = self._nat_label(rule, table)
        elif t.name in NOOP_TARGETS or t.name in ("MARK", "CONNMARK") or (t.name == "CT" and not t.option("--notrack")):
            kind = "noop"
        elif t.name == "NOTRACK" or t.name == "CT":
            kind = "notrack"
        else:
            kind = "unknown"
            self.notes.add(f"{t.name} ({table} {rule.chain}, line {rule.span.line}): its verdict is not modelled")
        rects = []
        if kind != "noop":
            base = self._certain(rule)
            if base is not False:
                for part, dpart, verdict in self._iface_parts(rule):
                    sure = _and3(base, verdict)
                    if sure is False:
                        continue
                    for s, d in self._boxes_of(rule) or ():
                        if part is not None:
                            s = IntervalSet(s).intersect(part).ivs
                        if dpart is not None:
                            d = IntervalSet(d).intersect(dpart).ivs
                        srs = [(bisect_left(self.src_b, lo), _hi_index(self.src_b, hi, self.top)) for lo, hi in s]
                        drs = [(bisect_left(self.dst_b, lo), _hi_index(self.dst_b, hi, self.top)) for lo, hi in d]
                        rects.extend((a, b, c, e, sure) for a, b in srs for c, e in drs)
        if not rects:
            kind = "never"
        got = _Info(kind, rects, callee, bool(t and t.goto),
                    min((r[0] for r in rects), default=0), max((r[1] for r in rects), default=0), label)
        self._infos[key] = got
        return got

    def _nat_label(self, rule, table: str) -> int:
        """The translation a nat rule makes, as a label shared by the services of one full path."""
        from ..model.values import nat_spec, port_range

        t = rule.target
        name = t.name
        spec = None
        if name == "DNAT":
            opt = t.option("--to-destination") or t.option("--to")
            spec = nat_spec(opt.args[0], self.family) if opt and opt.args else None
        elif name == "SNAT":
            opt = t.option("--to-source") or t.option("--to")
            spec = nat_spec(opt.args[0], self.family) if opt and opt.args else None
        elif name in ("REDIRECT", "MASQUERADE"):
            opt = t.option("--to-ports")
            port = port_range(opt.args[0].replace("-", ":")) if opt and opt.args else None
            spec = (None, port)
        addr, port = (spec.addr, spec.port) if spec is not None and not isinstance(spec, tuple) else \
            (spec if spec is not None else (None, None))
        where = f"nat {rule.chain}, line {rule.span.line}"
        key = (name, addr, port, where)
        if key not in self.nat_labels:
            self.nat_labels[key] = len(self.nat_labels) + NAT_FIRST
            if name not in ("DNAT", "SNAT", "REDIRECT", "MASQUERADE") or (name in ("DNAT", "SNAT") and addr is None):
                self.notes.add(f"{name} ({where}): its translation is not followed here; taken as unknown")
        return self.nat_labels[key]

    def _iface_parts(self, rule) -> list[tuple[IntervalSet | None, IntervalSet | None, bool | None]]:
        """The rule's interface conditions, per part of the space: [(sources or None for all,
        destinations or None for all, True | False | None undecided)]. On the input path a source in
        127.0.0.0/8 (::1) or one of the host's own addresses arrives on lo; every other source
        arrives from the network, never on lo. Where the dump shows the routes, the output device
        of a forwarded packet is its destination's route's."""
        c = self.compiler.compile(rule)
        if c.in_iface is None and c.out_iface is None:
            return [(None, None, True)]
        outs: list[tuple[IntervalSet | None, bool | None]] = [(None, True)]
        if c.out_iface is not None:
            if self.path == "input":
                outs = [(None, iface_matches(c.out_iface, None))]  # no output device on INPUT
            elif self.out_iface is not None:
                outs = [(None, iface_matches(c.out_iface, self.out_iface))]
            elif (routed := _out_sets(self.host)) is not None:
                by_dev, unknown = routed
                yes, no = IntervalSet(), IntervalSet()
                for dev, addrs in by_dev.items():
                    if iface_matches(c.out_iface, dev):
                        yes = yes.union(addrs)
                    else:
                        no = no.union(addrs)
                outs = [(yes, True), (unknown, None)] if unknown else [(yes, True)]
                if unknown:
                    self._iface_note(c.out_iface.name)
            else:
                v = _lo_test(c.out_iface)  # a forwarded packet never leaves on lo
                if v is None:
                    self._iface_note(c.out_iface.name)
                outs = [(None, v)]
        m = c.in_iface
        rp = _rp_sets(self.host) if m is not None and self.in_iface is None else None
        if m is None:
            ins = [(None, True)]
        elif self.in_iface is not None:
            ins = [(None, iface_matches(m, self.in_iface))]
        elif rp is not None:
            # strict reverse-path filtering on every device: a source arrives only where its route leaves
            by_dev, unknown = rp
            yes = IntervalSet()
            for dev, addrs in by_dev.items():
                if iface_matches(m, dev):
                    yes = yes.union(addrs)
            ins = [(yes, True)] + ([(unknown, None)] if unknown else [])
            if self.lo_sources:
                loop = self.loopback
                rest = loop.complement(0, self.top - 1)
                ins = [(loop, iface_matches(m, "lo"))] + [(part.intersect(rest), v) for part, v in ins]
        else:
            net = _lo_test(m)
            if net is None:
                self._iface_note(m.name)
            if not self.lo_sources:
                ins = [(None, net)]
            else:
                loop = self.loopback
                on_lo = iface_matches(m, "lo")
                if self.localnet and not on_lo:
                    on_lo = None  # route_localnet=1 somewhere: 127.0.0.0/8 may arrive on that device too
                ins = [(loop, on_lo), (loop.complement(0, self.top - 1), net)]
        return [(sp, dp, _and3(sv, dv)) for sp, sv in ins for dp, dv in outs]

    def _iface_note(self, name: str) -> None:
        self.notes.add(f"interface {name}: the dump does not say which addresses use it; rules naming it "
                       "are taken both ways (--in/--out fix the interfaces)")

    @property
    def localnet(self) -> bool:
        """Whether a 127.0.0.0/8 source may arrive on a device other than lo: route_localnet=1 there
        (shown, or not shown for every device); the kernel drops it as a martian otherwise."""
        if self.family != 4:
            return False
        vals = {k: v for k, v in self.host.sysctls.items() if k.endswith(".route_localnet")}
        return any(v.strip() == "1" for v in vals.values())

    @property
    def loopback(self) -> IntervalSet:
        return _loopback_sources(self.host)

    def _certain(self, rule) -> bool | None:
        """Whether the conditions off the address grid but for interfaces hold for this service's first
        packet: True, False, or None when the dump does not decide them."""
        c = self.compiler.compile(rule)
        if c.unknown or c.stateful:
            for text in c.unknown + c.stateful:
                self.notes.add(f"{text} (line {rule.span.line}): taken both ways")
            return None
        verdict: bool | None = True
        for t in c.meta:
            r = self._meta(t)
            if r is None:
                verdict = None
            elif r == t.negated:
                return False
        return verdict

    def _meta(self, t) -> bool | None:
        k = t.kind
        if k == "ctstate":
            return self._ctstate in t.args[0]
        if k == "tcpflags":
            if self.proto != "tcp":
                return False
            mask, comp = t.args
            return (0x02 & mask) == comp
        if k == "fragment":
            return False  # a connection's first packet is not a later fragment
        if k == "ctdir":
            return t.args[0] == "ORIGINAL"
        if k in ("mark", "connmark"):
            if k in self.mark_setters:
                self.notes.add(f"{t.text}: marks set by rules on the way are not followed; taken both ways")
                return None
            value, mask = t.args
            return (0 & mask) == value
        return None  # ctstatus, pkttype, physdev, addrtype --limit-iface-*: not decided here

    _ctstate = "NEW"

    # ---------------------------------------------------------------- the walk

    def evaluate(self):
        """Yield (row offset, code block) for blocks of source atoms: DENY/ACCEPT/POSSIBLE per cell."""
        ns, nd = len(self.src_b), len(self.dst_b)
        rows = max(1, _CELLS_PER_BLOCK // max(nd, 1))
        for r0 in range(0, ns, rows):
            r1 = min(ns, r0 + rows)
            code, _ = self.evaluate_block(r0, r1)
            yield r0, code

    def evaluate_block(self, r0: int, r1: int):
        """(code, possibly untracked) for source atoms r0..r1 by every destination atom."""
        import numpy as np

        nd = len(self.dst_b)
        raw = [(t, c) for t, c in self.stages if t == "raw"]
        rest = [(t, c) for t, c in self.stages if t != "raw"]
        denied = {}
        untracked = None
        for mode in ("upper", "lower"):
            dn = np.zeros((r1 - r0, nd), dtype=bool)
            flag = np.zeros((r1 - r0, nd), dtype=bool)
            for t, c in raw:
                self._stage(t, c, mode, r0, r1, dn, flag)
            if mode == "upper":
                untracked = flag if flag.any() else None
            if not flag.any():
                self._ctstate = "NEW"
                for t, c in rest:
                    self._stage(t, c, mode, r0, r1, dn, None)
            else:
                out = {}
                for state in ("NEW", "UNTRACKED"):
                    self._ctstate = state
                    self._infos.clear()
                    d2 = dn.copy()
                    for t, c in rest:
                        self._stage(t, c, mode, r0, r1, d2, None)
                    out[state] = d2
                self._ctstate = "NEW"
                self._infos.clear()
                dn = np.where(flag, out["UNTRACKED"], out["NEW"])
                self.notes.add("raw NOTRACK: untracked packets are followed as UNTRACKED")
            denied[mode] = dn
        code = np.full((r1 - r0, nd), POSSIBLE, dtype=np.int8)
        code[~denied["lower"]] = ACCEPT
        code[denied["upper"]] = DENY
        return code, untracked

    def labels_block(self, table: str, chain_name: str, r0: int, r1: int):
        """The nat walk of one chain: per cell the label of the translation that applies."""
        import numpy as np

        nd = len(self.dst_b)
        fate = np.zeros((r1 - r0, nd), dtype=np.int32)
        chain = self.host.tables.get(table, {}).get(chain_name)
        if chain is None or (self.tables is not None and table not in self.tables):
            return fate
        alive = np.ones((r1 - r0, nd), dtype=bool)
        self._walk(table, chain, "label", r0, (0, r1 - r0, 0, nd), alive, None, fate, None, 0)
        return fate

    def _stage(self, table, chain_name, mode, r0, r1, denied, flag) -> None:
        import numpy as np

        chain = self.host.tables[table][chain_name]
        fate = np.zeros(denied.shape, dtype=np.int8)  # 1 accepted in this table, 2 dropped
        start = ~denied
        self._walk(table, chain, mode, r0, (0, r1 - r0, 0, denied.shape[1]), start.copy(), None, fate, flag, 0)
        rest = start & (fate == 0)  # fell off the end or RETURNed from the built-in chain: its policy
        if (chain.policy or "ACCEPT") != "ACCEPT":
            fate[rest] = 2
        denied |= fate == 2

    def _walk(self, table, chain, mode, r0, win, alive, taint, fate, flag, depth) -> None:
        """Run ``chain`` over the window ``win`` (block rows a..b, columns c..d) of the cells
        ``alive`` (owned by this call, shaped like the window); ``taint`` marks the cells for
        which the rules from here on hold only under a condition taken both ways."""
        import numpy as np

        if depth > 64:
            raise SpaceError(f"chain {chain.name}: jumps nest deeper than 64 (a loop?)")
        wa, wb, wc, wd = win
        upper = mode == "upper"
        for rule in chain.rules:
            info = self.info(rule, table)
            kind = info.kind
            if kind in ("never", "noop"):
                continue
            if info.row_hi <= r0 + wa or info.row_lo >= r0 + wb:
                continue
            for s0, s1, d0, d1, certain in info.rects:
                a, b = max(s0 - r0, wa), min(s1 - r0, wb)
                c, d = max(d0, wc), min(d1, wd)
                if a >= b or c >= d:
                    continue
                la, lb, lc, ld = a - wa, b - wa, c - wc, d - wc
                sub = alive[la:lb, lc:ld]
                if not sub.any():
                    continue
                tsub = taint[la:lb, lc:ld] if taint is not None else None
                sure = certain is True
                if mode == "label":
                    if kind == "notrack":
                        continue
                    if kind in ("accept", "deny", "unknown"):
                        fv = fate[a:b, c:d]
                        if sure and kind == "accept":
                            clean = sub & ~tsub if tsub is not None else sub
                            np.putmask(fv, clean, info.label)
                            np.putmask(fv, sub & ~clean, NAT_UNCERTAIN)
                        else:
                            np.putmask(fv, sub, NAT_UNCERTAIN)
                        sub[:] = False
                        continue
                if kind in ("accept", "deny", "unknown"):
                    applies = (kind == "accept") == upper or kind == "unknown"
                    if kind == "unknown":
                        value = 1 if upper else 2
                        hit = sub.copy()
                    elif applies:
                        value = 1 if kind == "accept" else 2
                        hit = sub.copy()
                    else:
                        if not sure:
                            continue
                        value = 1 if kind == "accept" else 2
                        hit = sub & ~tsub if tsub is not None else sub.copy()
                    fv = fate[a:b, c:d]
                    np.putmask(fv, hit, value)
                    sub &= ~hit
                elif kind == "notrack":
                    if flag is None:
                        continue
                    hit = sub if upper or (sure and tsub is None) else (sub & ~tsub if sure else None)
                    if hit is not None:
                        fv = flag[a:b, c:d]
                        fv |= hit
                elif kind == "return":
                    if sure:
                        sub[:] = False
                    else:
                        if taint is None:
                            taint = np.zeros(alive.shape, dtype=bool)
                            tsub = taint[la:lb, lc:ld]
                        tsub |= sub
                elif kind == "call":
                    inner = sub.copy()
                    itaint = None
                    if not sure:
                        itaint = np.ones(inner.shape, dtype=bool)
                    elif tsub is not None and tsub.any():
                        itaint = tsub.copy()
                    self._walk(table, info.callee, mode, r0, (a, b, c, d), inner, itaint, fate, flag, depth + 1)
                    decided = fate[a:b, c:d] != 0
                    sub &= ~decided
                    if info.goto:
                        if sure:
                            gone = sub if tsub is None else sub & ~tsub
                            sub &= ~gone
                        else:
                            if taint is None:
                                taint = np.zeros(alive.shape, dtype=bool)
                                tsub = taint[la:lb, lc:ld]
                            tsub |= sub


FULL_PRE = (("raw", "PREROUTING"), ("mangle", "PREROUTING"))
FULL_FORWARD = (("mangle", "FORWARD"), ("filter", "FORWARD"), ("security", "FORWARD"), ("mangle", "POSTROUTING"))
FULL_INPUT = (("mangle", "INPUT"), ("filter", "INPUT"), ("security", "INPUT"))


class _FullService:
    """The full path of a packet from the network: raw and mangle PREROUTING, nat PREROUTING's
    DNAT or REDIRECT, then, by where the translated destination is, the INPUT chains or the
    FORWARD chains and nat POSTROUTING's SNAT or MASQUERADE. Each part is a grid over the same
    atoms; a translated cell takes its fate from the column of its new destination (and the grid
    of its new port). Codes: fate + 3 * (DNAT label) + 3 * N * (SNAT label); deny carries none."""

    path = "full"

    def __init__(self, host, compiler, proto: str, dport: int, sport: int, in_iface, out_iface, tables):
        self.host, self.compiler = host, compiler
        self.family = host.family
        self.proto, self.dport, self.sport = proto, dport, sport
        self.proto_num = protocol_number(proto)
        self.in_iface, self.out_iface, self.tables = in_iface, out_iface, tables
        self.labels: dict = {}
        mk = lambda hook, stages, port: _Service(host, compiler, hook, proto, port, sport, in_iface, out_iface,  # noqa: E731
                                                 tables, list(stages), self.labels)
        self.pre = mk("forward", FULL_PRE, dport)
        self.nat_pre = mk("forward", (("nat", "PREROUTING"),), dport)
        self.by_port: dict[int, tuple] = {}
        self._port_services(dport)
        for x in (self.nat_pre, self.by_port[dport][2]):
            for r in x._rules():
                if r.target is not None and r.target.name in NAT_TARGETS:
                    x._nat_label(r, "nat")
        # the DNAT and REDIRECT ports the nat table can lead to, and the addresses it leads to
        ports, extra = set(), set()
        for (name, addr, port, _), _k in list(self.labels.items()):
            if name in ("DNAT", "REDIRECT") and port is not None:
                ports.add(port[0])
            if addr is not None:
                extra.update((addr[0], addr[0] + 1))
        for p in ports:
            self._port_services(p)
        self.services = [self.pre, self.nat_pre] + [x for t in self.by_port.values() for x in t]
        src, dst = set(), set(extra)
        for x in self.services:
            src.update(x.src_b)
            dst.update(x.dst_b)
        if host.addresses_known:
            for lo, hi in host.local_addrs.ivs:
                dst.update((lo, hi + 1))
                src.update((lo, hi + 1))
        special = ((0, 0x00FFFFFF), (0x7F000000, 0x7FFFFFFF), (0xE0000000, 0xEFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF)) \
            if self.family == 4 else ((1, 1), (0xFF << 120, (1 << 128) - 1))
        for lo, hi in special:
            src.update((lo, hi + 1))
            dst.update((lo, hi + 1))
        routed = _out_sets(host)
        if routed is not None:
            for addrs in routed[0].values():
                for lo, hi in addrs.ivs:
                    dst.update((lo, hi + 1))
        for x in self.services:
            x.set_cuts(src, dst)
        self.src_b, self.dst_b, self.top = self.pre.src_b, self.pre.dst_b, self.pre.top
        self.notes: set[str] = set()
        self.code_nat: dict[int, str] = {}

    @property
    def _names(self) -> dict:
        return {v: k for k, v in self.labels.items()}

    def set_cuts(self, src_cuts, dst_cuts) -> None:
        for x in self.services:
            x.set_cuts(src_cuts, dst_cuts)
        self.src_b, self.dst_b = self.pre.src_b, self.pre.dst_b
        self._kfacts = None  # over the new destination atoms

    def _port_services(self, port: int) -> None:
        if port in self.by_port:
            return
        mk = lambda hook, stages: _Service(self.host, self.compiler, hook, self.proto, port, self.sport,  # noqa: E731
                                           self.in_iface, self.out_iface, self.tables, list(stages), self.labels,
                                           lo_sources=False)
        self.by_port[port] = (mk("forward", FULL_FORWARD), mk("input", FULL_INPUT), mk("forward", (("nat", "POSTROUTING"),)))

    def _rules(self):
        seen = set()
        for x in self.services:
            for r in x._rules():
                if id(r) not in seen:
                    seen.add(id(r))
                    yield r

    def evaluate(self):
        import numpy as np

        ns, nd = len(self.src_b), len(self.dst_b)
        rows = max(1, _CELLS_PER_BLOCK // max(nd, 1) // 4)
        n_lab = len(self.labels) + NAT_FIRST
        names = self._names
        local = np.zeros(nd, dtype=bool)
        known = self.host.addresses_known
        for k, lo in enumerate(self.dst_b):
            local[k] = _is_own(self.host, lo)
        for r0 in range(0, ns, rows):
            r1 = min(ns, r0 + rows)
            pre, untracked = self.pre.evaluate_block(r0, r1)
            dn_label = self.nat_pre.labels_block("nat", "PREROUTING", r0, r1)
            grids = {}
            for port, (fwd, inp, post) in self.by_port.items():
                grids[port] = (fwd.evaluate_block(r0, r1)[0], inp.evaluate_block(r0, r1)[0],
                               post.labels_block("nat", "POSTROUTING", r0, r1))
            fate = np.full((r1 - r0, nd), POSSIBLE, dtype=np.int64)
            dnat = np.zeros((r1 - r0, nd), dtype=np.int64)
            snat = np.zeros((r1 - r0, nd), dtype=np.int64)
            for lab in np.unique(dn_label).tolist():
                mask = dn_label == lab
                if lab == NAT_UNCERTAIN:
                    continue  # possible
                if lab == NAT_NONE:
                    port, is_local = self.dport, local[None, :]
                else:
                    name, addr, tport, _ = names[lab]
                    port = tport[0] if tport is not None else self.dport
                    if name == "REDIRECT" or addr is None:
                        if name != "REDIRECT":
                            continue  # a translation not followed: possible
                        # to the incoming device's own address: INPUT, whatever the rules say of it
                        f_inp = grids[port][1]
                        uniform = (f_inp == f_inp[:, :1]).all(axis=1)
                        v = np.where(uniform, f_inp[:, 0], POSSIBLE)[:, None]
                        fate = np.where(mask, v, fate)
                        dnat = np.where(mask, lab, dnat)
                        continue
                    k = bisect_left(self.dst_b, addr[0] + 1) - 1
                    is_local = np.full((1, 1), local[k])
                    dnat = np.where(mask, lab, dnat)
                f_fwd, f_inp, p_lab = grids[port]
                if lab == NAT_NONE:
                    g_fwd, g_inp, g_post = f_fwd, f_inp, p_lab
                else:
                    g_fwd, g_inp, g_post = f_fwd[:, k:k + 1], f_inp[:, k:k + 1], p_lab[:, k:k + 1]
                if known:
                    v = np.where(is_local, g_inp, g_fwd)
                else:  # whether the destination is the host's own is not known: both must agree
                    v = np.where(is_local, g_inp, np.where(g_inp == g_fwd, g_fwd, POSSIBLE))
                fate = np.where(mask, v, fate)
                forwarded = mask & ~np.broadcast_to(is_local, mask.shape)
                snat = np.where(forwarded & (g_post >= NAT_FIRST), g_post, snat)
                fate = np.where(forwarded & (g_post == NAT_UNCERTAIN) & (fate != DENY), POSSIBLE, fate)
            fate = self._kernel_checks(fate, dn_label, r0, r1, local)
            fate = np.where(pre == DENY, DENY, np.where((pre == POSSIBLE) & (fate != DENY), POSSIBLE, fate))
            if untracked is not None:  # an untracked packet gets no NAT: not followed here
                fate = np.where(untracked & (fate != DENY), POSSIBLE, fate)
                self.notes.add("raw NOTRACK: untracked packets get no NAT; their answers are possible")
            code = fate + 3 * dnat + 3 * n_lab * snat
            code = np.where(fate == DENY, 0, code)
            for c in np.unique(code).tolist():
                if c not in self.code_nat and c >= 3:
                    self.code_nat[c] = self._describe(c, n_lab)
            yield r0, code

    def _kernel_facts(self) -> dict:
        """What the kernel checks take from the destination atoms and the host's sysctls: the same for
        every block of source rows, so derived once."""
        import numpy as np

        got = getattr(self, "_kfacts", None)
        if got is not None:
            return got
        host, dst_lo, v4 = self.host, self.dst_b, self.family == 4
        got = {"zero_dst": np.array([a <= 0x00FFFFFF for a in dst_lo], dtype=bool) if v4 else None,
               "loop_dst": np.array([(0x7F000000 <= a <= 0x7FFFFFFF) if v4 else a == 1 for a in dst_lo], dtype=bool),
               "route_localnet": iface_fact(host, self.in_iface, host.route_localnet_state) if v4 else None,
               "accept_local": iface_fact(host, self.in_iface, host.accept_local_state) if v4 else None,
               "forwarding": iface_fact(host, self.in_iface, host.forwarding_state), "no_route": None}
        routed = _out_sets(host)
        if routed is not None and host.main_routes_shown:
            any_route = IntervalSet()
            for addrs in routed[0].values():
                any_route = any_route.union(addrs)
            got["no_route"] = np.array([a not in any_route for a in dst_lo], dtype=bool)
        self._kfacts = got
        return got

    def _kernel_checks(self, fate, dn_label, r0: int, r1: int, local):
        """What ip_route_input_slow decides after PREROUTING (on the translated destination): martian
        sources and destinations, forwarding off, no route. A check the dump does not decide makes
        the cell possible."""
        import numpy as np

        host = self.host
        names = self._names
        src_lo = np.array(self.src_b[r0:r1], dtype=object)
        nd = len(self.dst_b)
        # the destination column each cell is routed by
        col = np.broadcast_to(np.arange(nd), fate.shape).copy()
        for lab in np.unique(dn_label).tolist():
            if lab >= NAT_FIRST:
                name, addr, _p, _w = names[lab]
                if addr is not None:
                    col[dn_label == lab] = bisect_left(self.dst_b, addr[0] + 1) - 1
        k = self._kernel_facts()

        def per_src(test) -> np.ndarray:
            return np.array([bool(test(a)) for a in src_lo], dtype=bool)[:, None]

        maybe = np.zeros(fate.shape, dtype=bool)
        if self.family == 6:
            # ip6_rcv_core, before PREROUTING (on the addresses as sent): ::1 on the wire, a multicast source
            deny = per_src(lambda a: a == 1 or a >> 120 == 0xFF) | k["loop_dst"][None, :]
        else:
            bad_src = per_src(lambda a: a <= 0x00FFFFFF or 0xE0000000 <= a <= 0xEFFFFFFF or a == 0xFFFFFFFF)
            loop_src = per_src(lambda a: 0x7F000000 <= a <= 0x7FFFFFFF)
            own_src = per_src(lambda a: host.addresses_known and a in host.local_addrs
                              and not 0x7F000000 <= a <= 0x7FFFFFFF)
            deny = bad_src | k["zero_dst"][col]
            for mask, state in ((loop_src | k["loop_dst"][col], k["route_localnet"]), (own_src, k["accept_local"])):
                if state is False:
                    deny = deny | mask
                elif state is None:
                    maybe = maybe | mask
        forwarded = ~local[col]
        if k["forwarding"] is False:
            deny = deny | forwarded
        elif k["forwarding"] is None:
            maybe = maybe | forwarded
        if k["no_route"] is not None:
            deny = deny | (k["no_route"][col] & forwarded)
        fate = np.where(deny, DENY, fate)
        return np.where(maybe & (fate != DENY), POSSIBLE, fate)

    def _describe(self, code: int, n_lab: int) -> str:
        from ..model.intervals import ip_str as _s

        d, sn = (code // 3) % n_lab, code // (3 * n_lab)
        out = []
        for lab in (d, sn):
            if lab < NAT_FIRST:
                continue
            name, addr, port, where = self._names[lab]
            to = ""
            if addr is not None:
                to = _s(addr[0], self.family) + (f"-{_s(addr[1], self.family)}" if addr[1] != addr[0] else "")
            if port is not None:
                to += f":{port[0]}" + (f"-{port[1]}" if port[1] != port[0] else "")
            verb = {"DNAT": "DNAT to", "SNAT": "SNAT to", "REDIRECT": "REDIRECT to port",
                    "MASQUERADE": "masqueraded"}.get(name, name)
            out.append(f"{verb}{' ' + to.lstrip(':') if to else ''} ({where})")
        return "; ".join(out)

    @property
    def all_notes(self) -> set[str]:
        out = set(self.notes)
        for x in self.services:
            out |= x.notes
        return out


def _host_cache(host) -> dict:
    """Per host model: what the space view derives from its facts once (a model copied with
    ``dataclasses.replace`` starts without it)."""
    cache = host.__dict__.get("_space_cache")
    if cache is None:
        cache = host.__dict__["_space_cache"] = {}
    return cache


def _out_sets(host):
    """Where the dump shows the host's routes: (device -> the destinations its routes take, by longest
    prefix; the destinations no shown route covers, when the main table is not shown whole), else None."""
    if not host.addresses_known or not host.routes:
        return None
    cache = _host_cache(host)
    if "out_sets" in cache:
        return cache["out_sets"]
    full = IntervalSet.range(0, addr_max(host.family))
    left = full.intersect(host.local_addrs.complement(*full.ivs[0]))
    by_dev: dict[str, IntervalSet] = {}
    routes = [r for r in host.routes if r.table in ("main", "default")]
    routes.sort(key=lambda r: (-r.plen, r.metric, ("main", "default").index(r.table)))
    for r in routes:
        seg = left.intersect(IntervalSet.range(r.lo, r.hi))
        if not seg:
            continue
        left = left.intersect(IntervalSet.range(r.lo, r.hi).complement(*full.ivs[0]))
        if r.type == "unicast" and r.dev:
            by_dev[r.dev] = by_dev.get(r.dev, IntervalSet()).union(seg)
    unknown = IntervalSet() if host.main_routes_shown else left
    cache["out_sets"] = (by_dev, unknown)
    return by_dev, unknown


def _rp_strict(host, dev: str) -> bool | None:
    """rp_filter=1 (strict) on ``dev``: max(conf.all, conf.<dev>) as the kernel takes it; None when the
    dump does not show it."""
    from ..parse.facts.sysctl import sysctl_iface_key

    vals = []
    for n in ("all", dev):
        key = sysctl_iface_key(4, n, "rp_filter")
        v = host._sysctl(key)
        if v is None:
            if host.coverage is None or not host.coverage.sysctl(key):
                return None
            v = "0"
        try:
            vals.append(int(v.split()[0]))
        except (ValueError, IndexError):
            return None
    return max(vals) == 1


def _rp_sets(host):
    """Where every device of the dump filters by strict reverse path (rp_filter=1, IPv4) and the routes
    are shown: the sources each device can receive (its routes' destinations), as ``_out_sets``."""
    if host.family != 4:
        return None
    cache = _host_cache(host)
    if "rp_strict" not in cache:
        devs = [d for d in host.ifaces if d != "lo"]
        cache["rp_strict"] = bool(devs) and all(_rp_strict(host, d) for d in devs)
    return _out_sets(host) if cache["rp_strict"] else None


def _out_dev(host, addr: int) -> str | None:
    routed = _out_sets(host)
    if routed is None:
        return None
    for dev, addrs in routed[0].items():
        if addr in addrs:
            return dev
    return None


def _and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _lo_test(m) -> bool | None:
    """An interface match for a packet from (or to) another host: never lo, any other device undecided."""
    if m.name == "lo":
        return m.negated
    return None


def _hi_index(bounds: list[int], hi: int, top: int) -> int:
    return len(bounds) if hi + 1 >= top else bisect_left(bounds, hi + 1)


# --------------------------------------------------------------------------- classes


def _classes(svc: _Service):
    """Run the grid and group atoms: returns (row class per source atom, column class per destination
    atom, code per (row class, column class), upper-closure row and column classes)."""
    import numpy as np

    ns, nd = len(svc.src_b), len(svc.dst_b)
    rng = np.random.default_rng(20261203)
    w1 = rng.integers(1, 2**63, size=ns, dtype=np.uint64) | np.uint64(1)
    w2 = rng.integers(1, 2**63, size=ns, dtype=np.uint64) | np.uint64(1)
    col1 = np.zeros(nd, dtype=np.uint64)
    col2 = np.zeros(nd, dtype=np.uint64)
    ucol1 = np.zeros(nd, dtype=np.uint64)
    row_class = np.zeros(ns, dtype=np.int64)
    urow_class = np.zeros(ns, dtype=np.int64)
    row_ids: dict[bytes, int] = {}
    urow_ids: dict[bytes, int] = {}
    reps: list[tuple[np.ndarray, np.ndarray]] = []  # per row class: (change positions, values) of its row
    for r0, code in svc.evaluate():
        c64 = code.astype(np.uint64) + np.uint64(1)
        up = (code != DENY).astype(np.uint64) + np.uint64(1)
        with np.errstate(over="ignore"):
            col1 += w1[r0:r0 + len(code)] @ c64
            col2 += w2[r0:r0 + len(code)] @ c64
            ucol1 += w1[r0:r0 + len(code)] @ up
        for i, row in enumerate(code):
            key = hashlib.blake2b(row.tobytes(), digest_size=16).digest()
            rid = row_ids.get(key)
            if rid is None:
                rid = row_ids[key] = len(row_ids)
                pos = np.flatnonzero(np.diff(row)) + 1
                reps.append((np.concatenate(([0], pos)), row[np.concatenate(([0], pos))].copy()))
            row_class[r0 + i] = rid
            ukey = hashlib.blake2b((row != DENY).tobytes(), digest_size=16).digest()
            urow_class[r0 + i] = urow_ids.setdefault(ukey, len(urow_ids))
    col_class = _ids(col1, col2)
    ucol_class = _ids(ucol1, np.zeros(nd, dtype=np.uint64))
    return row_class, col_class, reps, urow_class, ucol_class


def _ids(h1, h2):
    import numpy as np

    keys = np.stack([h1, h2], axis=1)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    return inverse.reshape(-1)


def _merge(svc: _Service, row_class, col_class):
    """One partition of the address space: address ranges keyed by (row class, column class)."""
    sb, db = svc.src_b, svc.dst_b
    cuts = sorted(set(sb) | set(db))
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    order: list[tuple[int, int]] = []
    si = di = 0
    for k, lo in enumerate(cuts):
        hi = (cuts[k + 1] - 1) if k + 1 < len(cuts) else svc.top - 1
        while si + 1 < len(sb) and sb[si + 1] <= lo:
            si += 1
        while di + 1 < len(db) and db[di + 1] <= lo:
            di += 1
        key = (int(row_class[si]), int(col_class[di]))
        lst = groups.get(key)
        if lst is None:
            lst = groups[key] = []
            order.append(key)
        if lst and lst[-1][1] + 1 == lo:
            lst[-1] = (lst[-1][0], hi)
        else:
            lst.append((lo, hi))
    return [(key, groups[key]) for key in order]


def _code_at(reps, row_cls: int, col_atom: int) -> int:
    import numpy as np

    pos, vals = reps[row_cls]
    return int(vals[int(np.searchsorted(pos, col_atom, side="right")) - 1])


# --------------------------------------------------------------------------- replay


class _Choosing(ConcreteRun):
    """A concrete run that takes every undecided match one fixed way (the grid proved the
    class's fate the same either way, or the edge is possible and this is one scenario)."""

    choice = False
    quiet_lines: frozenset = frozenset()  # rules whose match changes nothing (LOG ...): not worth a word

    def rewrite(self, fld, values) -> None:
        if not self.nat_values and not values.is_point():
            self._set(fld, values.min())  # the grid follows a translation to a range by its first address
            return
        super().rewrite(fld, values)

    def rewrite_free(self, flow, fld) -> None:
        self._set(fld, 0)
        flow.approximations.append(f"{fld} rewritten to an address the dump does not show")

    def free_choice(self, what, flow, *, unknown, line=None, texts=None) -> bool:
        if line not in self.quiet_lines:
            self.log.append(f"{what}: {'assumed to match' if self.choice else 'assumed not to match'}")
        return self.choice


def replay_edge(host, path: str, packet: dict, in_iface: str | None, out_iface: str | None,
                choice: bool = False, quiet_lines: frozenset = frozenset(),
                tables: tuple[str, ...] | None = None) -> tuple[str, list[dict], list[str]]:
    """The verdict of one packet on ``path``, by the per-packet evaluator: (ACCEPT | DROP | REJECT |
    UNKNOWN, the rules it crossed, the undecided matches it took one way)."""
    run = _Choosing(host, packet)
    run.choice = choice
    run.quiet_lines = quiet_lines
    if in_iface is None and path == "input" and _is_loopback_source(host, packet["src"]):
        in_iface = "lo"
    elif in_iface is None and _rp_sets(host) is not None:
        in_iface = _out_dev(host, packet["src"])  # strict rp_filter: where the source's route leaves
    user_out = out_iface
    if out_iface is None and path != "input":
        out_iface = _out_dev(host, packet["dst"])
    flow = Flow(proto=packet["proto_name"], in_iface=in_iface or "dnlint-in",
                out_iface=(out_iface or "dnlint-out") if path != "input" else None)
    p = Path(host, run, _NoCompiler())
    verdict = "ACCEPT"
    if path == "full":
        stages = [(t, "PREROUTING") for t in ("raw", "mangle", "nat")]
    else:
        stages = list(PATHS[path])
    if path == "full" and host.family == 6 and (packet["src"] == 1 or packet["dst"] == 1
                                                 or packet["src"] >> 120 == 0xFF):
        return "MARTIAN", [], list(run.log)  # ip6_rcv_core drops it before PREROUTING
    k = 0
    while k < len(stages):
        table, chain = stages[k]
        k += 1
        if chain in host.tables.get(table, {}) and (tables is None or table in tables) and not (
                table == "nat" and flow.untracked):  # no NAT for an untracked packet
            verdict, _ = p.traverse(flow, table, chain)
            if verdict != "ACCEPT":
                break
        if path == "full" and (table, chain) == ("nat", "PREROUTING"):
            martian = _martian(host, run.value("src"), run.value("dst"), in_iface, run.log)
            if martian:
                verdict = martian
                break
            if _is_own(host, run.value("dst")):
                flow.out_iface = None
                stages += [(t, "INPUT") for t in ("mangle", "filter", "security")]
            else:
                blocked = _forward_blocked(host, run.value("dst"), in_iface, run.log)
                if blocked:
                    verdict = blocked
                    break
                if user_out is None and flow.dst_changed:
                    flow.out_iface = _out_dev(host, run.value("dst")) or "dnlint-out"
                stages += [(t, "FORWARD") for t in ("mangle", "filter", "security")]
                stages += [(t, "POSTROUTING") for t in ("mangle", "nat")]
    steps = [s.as_dict() for s in flow.trace if s.index is not None or s.action.startswith("policy")]
    if verdict in ("MARTIAN", "NO_ROUTE", "FORWARDING_DISABLED"):
        what = {"MARTIAN": "the kernel drops it as a martian (ip_route_input_slow)",
                "NO_ROUTE": "no route", "FORWARDING_DISABLED": "forwarding is disabled"}[verdict]
        steps.append({"table": None, "chain": None, "index": None, "line": None, "action": what})
    return verdict, steps, list(run.log)


def _loopback_sources(host) -> IntervalSet:
    """The sources that arrive on lo: 127.0.0.0/8 (::1), and the host's own addresses where the dump
    shows them (a bare rule set's placeholder addresses are not)."""
    lo = IntervalSet.range(0x7F000000, 0x7FFFFFFF) if host.family == 4 else IntervalSet.point(1)
    return lo.union(host.local_addrs) if host.addresses_known else lo


def iface_fact(host, in_iface: str | None, fn) -> bool | None:
    """A per-device fact over the devices a packet from the network may arrive on (``in_iface``, or
    every device of the dump but lo): True or False when all agree and the dump shows it, else None."""
    from ..model.host import Unknown

    names = [in_iface] if in_iface else [d for d in host.ifaces if d != "lo"]
    vals = [fn(d) for d in names]
    if not vals or any(isinstance(v, Unknown) for v in vals):
        return None
    if all(vals):
        return True
    return False if not any(vals) else None


def _martian(host, src: int, dst: int, in_iface: str | None, log: list[str]) -> str | None:
    """The replay's ip_route_input_slow and ip6_rcv_core: the checks the full path's grid makes (a fact
    the dump does not show goes to ``log`` and the packet goes on)."""
    if host.family == 6:
        return None  # checked before PREROUTING
    if src <= 0x00FFFFFF or 0xE0000000 <= src <= 0xEFFFFFFF or src == 0xFFFFFFFF or dst <= 0x00FFFFFF:
        return "MARTIAN"
    checks = []
    if 0x7F000000 <= src <= 0x7FFFFFFF or 0x7F000000 <= dst <= 0x7FFFFFFF:
        checks.append(("route_localnet", host.route_localnet_state))
    if host.addresses_known and src in host.local_addrs:
        checks.append(("accept_local", host.accept_local_state))
    for what, fn in checks:
        v = iface_fact(host, in_iface, fn)
        if v is False:
            return "MARTIAN"
        if v is None:
            log.append(f"{what} on the arriving device: not in the dump")
    return None


def _forward_blocked(host, dst: int, in_iface: str | None, log: list[str]) -> str | None:
    state = iface_fact(host, in_iface, host.forwarding_state)
    if state is False:
        return "FORWARDING_DISABLED"
    routed = _out_sets(host)
    if routed is not None and host.main_routes_shown and not any(dst in a for a in routed[0].values()):
        return "NO_ROUTE"
    if state is None:
        log.append("forwarding on the arriving device: not in the dump")
    return None


def _is_own(host, addr: int) -> bool:
    """The full path's routing decision: a destination of the host's own (as the grid takes it)."""
    if host.family == 4 and 0x7F000000 <= addr <= 0x7FFFFFFF:
        return True
    return host.addresses_known and addr in host.local_addrs


def _is_loopback_source(host, addr: int) -> bool:
    return addr in _loopback_sources(host)


# --------------------------------------------------------------------------- entry point


def space_compiler(host) -> RuleCompiler:
    """The engine's rule compiler, but an address class the dump does not show (LOCAL on a bare rule
    set) stays undecided instead of empty."""
    classes = addrtype_classes(host.family, host.local_addrs, host.routes)
    if not host.addresses_known:
        for k in ("LOCAL", "UNICAST", "BROADCAST"):
            classes.pop(k, None)
    return RuleCompiler(host.family, host.local_addrs, classes, host.local_by_iface, None)


def compute_space(host, *, path: str = "forward", services=DEFAULT_SERVICES, sport: int = DEFAULT_SPORT,
                  in_iface: str | None = None, out_iface: str | None = None, replay_budget: int | None = 256,
                  ipsets: dict | None = None, tables: tuple[str, ...] | None = None,
                  sources: IntervalSet | None = None, destinations: IntervalSet | None = None) -> SpaceMatrix:
    if path not in PATHS and path != "full":
        raise SpaceError(f"unknown path {path!r} (forward, input or full)")
    compiler = space_compiler(host)
    if ipsets:
        compiler.ipsets = ipsets
    fam = host.family
    assumptions = [f"each connection's first packet: state NEW, TCP SYN, source port {sport}",
                   "sources arrive from the network, never on lo" if path != "input" else
                   "sources in 127.0.0.0/8 (::1) and the host's own addresses arrive on lo (on any other "
                   "device the kernel drops 127.0.0.0/8 as a martian while route_localnet is 0, its default), "
                   "every other source from the network"]
    if path == "full":
        assumptions.append("the full path: raw, mangle and nat PREROUTING on the addresses as sent, then the "
                           "INPUT chains for a destination of the host's own (127.0.0.0/8 and, where the dump "
                           "shows them, its addresses) or the FORWARD chains and nat POSTROUTING; where the dump "
                           "does not say whether an address is the host's own, both must agree; packets are "
                           "routed (traffic between two ports of one bridge is bridged, not this view's)")
    elif path == "forward":
        assumptions.append("addresses as filter FORWARD sees them (after any DNAT in nat PREROUTING)")
    else:
        assumptions.append("addresses as filter INPUT sees them (after any DNAT in nat PREROUTING); "
                           "the kernel's own checks (martian sources, reverse path) are not part of this view")
    if in_iface:
        assumptions.append(f"packets arrive on {in_iface}")
    if out_iface and path == "forward":
        assumptions.append(f"packets leave on {out_iface}")
    fname = "ip6tables" if fam == 6 else "iptables"
    if tables is not None:
        left = [t for t in (("raw", "mangle", "nat", "filter", "security") if path == "full" else
                            dict.fromkeys(t for t, _ in PATHS[path])) if t not in tables]
        if left:
            assumptions.append(f"only the {', '.join(tables)} table{'s' if len(tables) > 1 else ''}: "
                               f"{', '.join(left)} left out as asked")
    path_tables = ("raw", "mangle", "nat", "filter", "security") if path == "full" else \
        tuple(dict.fromkeys(t for t, _ in PATHS[path]))
    for table in path_tables:
        if tables is not None and table not in tables:
            continue
        if table not in host.tables_known:
            if table == "filter":
                assumptions.append(f"the {fname} filter table is not in the dump: no rule filters, every "
                                   "answer turns on it")
            else:
                assumptions.append(f"the {fname} {table} table is not in the dump: taken as empty")
    for what, sel in (("sources", sources), ("destinations", destinations)):
        if sel is not None:
            assumptions.append(f"{what} restricted to the classes that meet {ranges_text(sel, fam, 8)}")
    results = []
    notes: set[str] = set()
    for proto, dport in services:
        if protocol_number(proto) is None or proto not in ("tcp", "udp", "sctp", "udplite", "dccp"):
            raise SpaceError(f"--space takes a port protocol (tcp, udp), not {proto!r}")
        svc = make_service(host, compiler, path, proto, dport, sport, in_iface, out_iface, tables)
        results.append(_service_matrix(host, svc, replay_budget, sources, destinations))
        notes |= service_notes(svc)
    return SpaceMatrix(fam, path, results, in_iface, out_iface, assumptions + _grouped(notes))


def _grouped(notes: set[str]) -> list[str]:
    """One note per match text: "-m limit --limit 5/min (lines 12, 40): taken both ways"."""
    import re

    by: dict[tuple[str, str], list[int]] = {}
    rest = []
    for n in notes:
        m = re.match(r"^(.*) \(line (\d+)\): (.*)$", n)
        if m:
            by.setdefault((m.group(1), m.group(3)), []).append(int(m.group(2)))
        else:
            rest.append(n)
    out = sorted(rest)
    for (text, tail), lines in sorted(by.items()):
        lines.sort()
        shown = ", ".join(map(str, lines[:8])) + (f" and {len(lines) - 8} more" if len(lines) > 8 else "")
        out.append(f"{text} (line{'s' if len(lines) > 1 else ''} {shown}): {tail}")
    return out


def _restrict(m: ServiceMatrix, sources: IntervalSet | None, destinations: IntervalSet | None) -> None:
    """Keep the edges from classes that meet ``sources`` to classes that meet ``destinations``."""
    import numpy as np

    if sources is None and destinations is None:
        return
    meets = lambda c, s: s is None or IntervalSet(c.ranges).overlaps(s)  # noqa: E731
    src_ok = np.array([i for i, c in enumerate(m.classes) if meets(c, sources)], dtype=np.int32)
    dst_ok = np.array([i for i, c in enumerate(m.classes) if meets(c, destinations)], dtype=np.int32)
    keep_src = set(src_ok.tolist())
    reach = []
    for i, (dsts, codes) in enumerate(m.reach):
        if i not in keep_src:
            reach.append((dsts[:0], codes[:0]))
            continue
        sel = np.isin(dsts, dst_ok)
        reach.append((dsts[sel], codes[sel]))
    m.reach = reach
    m.allowed_src, m.allowed_dst = src_ok, dst_ok


def make_service(host, compiler, path: str, proto: str, dport: int, sport: int, in_iface, out_iface, tables):
    """The grid of one service on one path (a view's and a diff's building block)."""
    if path == "full":
        return _FullService(host, compiler, proto, dport, sport, in_iface, out_iface, tables)
    return _Service(host, compiler, path, proto, dport, sport, in_iface, out_iface, tables)


def service_notes(svc) -> set[str]:
    return svc.all_notes if isinstance(svc, _FullService) else svc.notes


def semantic_of(svc, code: int) -> tuple:
    """What a cell's code means, without rule lines: (fate, DNAT, SNAT), each translation as (target,
    address range, port range); equal for two rule sets that treat the packet alike."""
    if not isinstance(svc, _FullService):
        return (int(code), None, None)
    n_lab = len(svc.labels) + NAT_FIRST
    names = svc._names
    fate, d, sn = code % 3, (code // 3) % n_lab, code // (3 * n_lab)
    key = lambda lab: None if lab < NAT_FIRST else names[lab][:3]  # noqa: E731
    return (int(fate), key(int(d)), key(int(sn)))


def _service_matrix(host, svc: _Service, replay_budget: int | None, sources=None,
                    destinations=None) -> ServiceMatrix:
    import numpy as np

    fam = host.family
    row_class, col_class, reps, urow, ucol = _classes(svc)
    merged = _merge(svc, row_class, col_class)
    upper = _merge(svc, urow, ucol)
    classes = [SpaceClass(i, rs, fam) for i, (_, rs) in enumerate(merged)]
    # the destination atom of each class's witness (every atom of a class is alike)
    atoms = np.array([bisect_left(svc.dst_b, c.witness() + 1) - 1 for c in classes])
    reach = []
    for rc, _ in (k for k, _ in merged):
        pos, vals = reps[rc]
        codes = vals[np.searchsorted(pos, atoms, side="right") - 1]
        js = np.flatnonzero(codes != DENY).astype(np.int32)
        reach.append((js, codes[js].astype(np.int64 if codes.dtype != np.int8 else np.int8)))
    m = ServiceMatrix(svc.proto, svc.dport, svc.sport, classes, reach,
                      source_classes=len(reps), destination_classes=int(col_class.max()) + 1 if len(col_class) else 0,
                      upper_classes=len(upper), atoms=(len(svc.src_b), len(svc.dst_b)))
    m.upper_partition = [rs for _, rs in upper]
    m.code_nat = dict(getattr(svc, "code_nat", {}))
    _restrict(m, sources, destinations)
    _replay(host, svc, m, replay_budget)
    return m


def _replay(host, svc: _Service, m: ServiceMatrix, budget: int | None) -> None:
    """Replay witnesses through the per-packet evaluator: each class as a source towards the first
    class it reaches (or, reaching none, towards itself), then other edges, ``budget`` in all
    (None: every class and every edge)."""
    fam = host.family
    import numpy as np

    todo: list[tuple[int, int, int]] = []
    n = len(m.classes)
    for i, (dsts, codes) in enumerate(m.reach):
        if len(dsts):
            todo.append((i, int(dsts[0]), int(codes[0])))
        # and one it does not reach, for the rule or kernel check that blocks it
        blocked = np.setdiff1d(np.arange(n), dsts, assume_unique=True)
        blocked = blocked[np.isin(blocked, m.allowed_dst)] if m.allowed_dst is not None else blocked
        if len(blocked) and (m.allowed_src is None or i in m.allowed_src):
            todo.append((i, int(blocked[0]), DENY))
    seen = {(i, j) for i, j, _ in todo}
    limit = None if budget is None else max(budget, 0)
    if limit is None or len(todo) < limit:
        for i, (dsts, codes) in enumerate(m.reach):
            for j, c in zip(dsts.tolist(), codes.tolist()):
                if limit is not None and len(todo) >= limit:
                    break
                if (i, j) not in seen:
                    todo.append((i, j, c))
                    seen.add((i, j))
    rules = list(svc._rules())
    quiet = frozenset(r.span.line for r in rules if r.target is None or r.target.name in NOOP_TARGETS)
    if limit is not None:
        # the per-packet evaluator visits every rule on the path: on a huge rule set a sample
        # (the first classes, deterministic) stands for the rest, and the stats say how many
        visits = max(1, len(rules))
        todo = todo[:max(32, min(limit, REPLAY_RULE_VISITS // visits))]
    for i, j, full_code in todo:
        code = full_code % 3
        pkt = {"src": m.classes[i].witness(), "dst": m.classes[j].witness(), "proto": svc.proto_num,
               "proto_name": svc.proto, "sport": svc.sport, "dport": svc.dport}
        w = {"src": ip_str(pkt["src"], fam), "dst": ip_str(pkt["dst"], fam), "proto": svc.proto,
             "sport": svc.sport, "dport": svc.dport}
        try:
            verdict, steps, log = replay_edge(host, svc.path, pkt, svc.in_iface, svc.out_iface, False, quiet, svc.tables)
            verdicts = {verdict}
            logs = list(log)
            if log:  # something was taken one way: take it the other way too
                v2, _, log2 = replay_edge(host, svc.path, pkt, svc.in_iface, svc.out_iface, True, quiet, svc.tables)
                verdicts.add(v2)
                logs += log2
        except ReplayMismatch as e:
            m.replay_failures.append(f"class {i} -> class {j}: {e}")
            continue
        want = {ACCEPT: {"ACCEPT"}, DENY: {"DROP", "REJECT", "MARTIAN", "NO_ROUTE", "FORWARDING_DISABLED"}}.get(code)
        if want is not None and not verdicts <= want:
            m.replay_failures.append(
                f"class {i} -> class {j} ({w['src']} -> {w['dst']}): the grid says {FATE_NAMES[code]}, "
                f"the per-packet evaluator {'/'.join(sorted(verdicts))}")
        why = None
        if code == POSSIBLE:
            reasons = list(dict.fromkeys(logs))
            if svc.path == "full" and not host.addresses_known and not _is_own(host, pkt["dst"]):
                reasons.append(f"whether {w['dst']} is one of the host's own addresses (the dump does not show "
                               "them): INPUT and FORWARD answer differently")
            why = "; ".join(reasons) or "an interface the dump does not tie to addresses"
        nat = m.code_nat.get(full_code)
        if nat:
            w["nat"] = nat
        m.proofs.append(SpaceEdge(i, j, FATE_NAMES[code], w, steps, why))


def address_set(texts: list[str], family: int) -> IntervalSet:
    """``--from``/``--to`` of the space view: addresses, CIDR blocks or first-last ranges."""
    from ..model.intervals import cidr_interval

    out = IntervalSet()
    for t in texts:
        a, sep, b = t.partition("-")
        lo = cidr_interval(a.strip(), family)
        hi = cidr_interval(b.strip(), family) if sep else lo
        if lo is None or hi is None or lo[0] > hi[1]:
            raise SpaceError(f"--space takes addresses, CIDR blocks or first-last ranges of IPv{family} in "
                             f"--from/--to, not {t!r}")
        out = out.union(IntervalSet.range(lo[0], hi[1]))
    return out


def space_dump(dump, *, family: int = 4, **kw) -> SpaceMatrix:
    from ..model.host import build_host

    host = build_host(dump, family)
    ipsets = {s.name: s for s in dump.facts.ipsets if s.family == family}
    return compute_space(host, ipsets=ipsets, **kw)


# --------------------------------------------------------------------------- for the checks


@dataclass
class SourceClasses:
    """The sources of one service to one destination on the full path, by fate (what the checks
    say instead of one witness): ``accept`` and ``possible`` address sets, and for the sources
    that are denied the rule (or kernel check) the first of them meets."""

    family: int
    accept: IntervalSet
    possible: IntervalSet
    denied_by: dict | None = None  # a step of the replayed path: table, chain, index, line, action

    def text(self, limit: int = 5, fill: IntervalSet | None = None) -> str:
        """The sources that get through as CIDR blocks; ``fill`` (addresses no client beyond the uplink
        can send from: the host's own, martians) may close the gaps between them."""
        got = self.accept.union(self.possible)
        if fill:
            got = IntervalSet(iv for iv in got.union(fill).ivs if IntervalSet([iv]).overlaps(got))
        return ranges_text(got, self.family, limit)

    def denied_text(self) -> str | None:
        s = self.denied_by
        if not s:
            return None
        if s.get("table") is None:
            return s.get("action")
        if s.get("index") is None:
            return f"the {s.get('table')} {s.get('chain')} policy (line {s.get('line')})"
        return f"{s.get('chain')} rule #{s.get('index')} (line {s.get('line')})"


def ranges_text(s: IntervalSet, family: int, limit: int = 5) -> str:
    """10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16 (CIDR blocks; the rest counted past ``limit``)."""
    import ipaddress

    blocks = []
    for lo, hi in s.ivs:
        a = ipaddress.ip_address(lo) if family == 4 else ipaddress.IPv6Address(lo)
        b = ipaddress.ip_address(hi) if family == 4 else ipaddress.IPv6Address(hi)
        blocks.extend(str(n) for n in ipaddress.summarize_address_range(a, b))
    if len(blocks) > limit:
        return ", ".join(blocks[:limit]) + f" and {len(blocks) - limit} more blocks"
    return blocks[0] if len(blocks) == 1 else ", ".join(blocks[:-1]) + " and " + blocks[-1]


def sources_reaching(host, dst: int, proto: str, port: int, in_iface: str | None,
                     sport: int = DEFAULT_SPORT) -> SourceClasses:
    """Which sources arriving on ``in_iface`` reach ``dst``:``port`` on the full path (DNAT and
    FORWARD or INPUT), as address sets, and what stops the others (once per host and question: the
    checks ask it for every finding)."""
    key = ("sources", dst, proto, port, in_iface, sport)
    cache = _host_cache(host)
    if key not in cache:
        cache[key] = _sources_reaching(host, dst, proto, port, in_iface, sport)
    return cache[key]


def _sources_reaching(host, dst: int, proto: str, port: int, in_iface: str | None, sport: int) -> SourceClasses:
    m = compute_space(host, path="full", services=[(proto, port)], sport=sport, in_iface=in_iface,
                      replay_budget=0)
    s = m.services[0]
    j = s.class_of(dst).id
    acc, pos = IntervalSet(), IntervalSet()
    denied = None
    for c in s.classes:
        f = s.fate(c.id, j)
        if f == "accept":
            acc = acc.union(IntervalSet(c.ranges))
        elif f == "possible":
            pos = pos.union(IntervalSet(c.ranges))
        elif denied is None:
            top = addr_max(host.family)
            usable = IntervalSet(c.ranges).intersect(unusable_sources(host).complement(0, top))
            if not usable:
                continue
            lo, hi = usable.ivs[0]
            pkt = {"src": lo + 1 if hi > lo else lo, "dst": dst, "proto": protocol_number(proto),
                   "proto_name": proto, "sport": sport, "dport": port}
            try:
                verdict, steps, _ = replay_edge(host, "full", pkt, in_iface, None)
            except ReplayMismatch:
                continue
            if verdict in ("DROP", "REJECT") and steps:
                denied = steps[-1]
    return SourceClasses(host.family, acc, pos, denied)


def unusable_sources(host) -> IntervalSet:
    """Sources no packet from beyond the uplink gets through with: the host's own addresses and the
    kernel's martian sources."""
    s = host.local_addrs
    if host.family == 4:
        s = s.union(IntervalSet(((0, 0x00FFFFFF), (0x7F000000, 0x7FFFFFFF), (0xE0000000, 0xFFFFFFFF))))
    else:
        s = s.union(IntervalSet(((1, 1), (0xFF << 120, (1 << 128) - 1))))
    return s
