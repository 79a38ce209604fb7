"""`dnlint diff OLD NEW`: the flows whose fate differs between two dumps, as a view over the matrix.

The address-space diff runs both rule sets' grids over one set of atoms (the cuts of both), gives
each cell the pair (its meaning in OLD, its meaning in NEW) -- the fate and the translations, by
target, address and port, never by rule line, so that reordering independent rules, a comment or
a split rule change nothing -- and partitions the space by those pairs as the matrix does by
fates. Every pair of classes whose two meanings differ is a changed flow, with a witness packet
replayed through each side's per-packet evaluator (the rules it crossed there, the one that
decided it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.intervals import ip_str
from .space import (DEFAULT_SERVICES, DEFAULT_SPORT, FATE_NAMES, SpaceClass, _classes, _merge, make_service,
                    replay_edge, semantic_of, service_notes, space_compiler)

OPENED, CLOSED, CHANGED = "opened", "closed", "changed"


def meaning_text(sem: tuple, family: int) -> str:
    fate, dnat, snat = sem
    out = FATE_NAMES[fate]
    for what, t in (("DNAT", dnat), ("SNAT", snat)):
        if t is None:
            continue
        name, addr, port = t
        to = ""
        if addr is not None:
            to = ip_str(addr[0], family) + (f"-{ip_str(addr[1], family)}" if addr[1] != addr[0] else "")
        if port is not None:
            to += f":{port[0]}" + (f"-{port[1]}" if port[1] != port[0] else "")
        verb = {"DNAT": "DNAT to", "SNAT": "SNAT to", "REDIRECT": "REDIRECT to port", "MASQUERADE": "masqueraded"}
        out += f", {verb.get(name, name)}{' ' + to.lstrip(':') if to else ''}"
    return out


@dataclass
class Change:
    """One changed flow: from class ``src`` to class ``dst`` of the diff's partition."""

    src: int
    dst: int
    old: tuple
    new: tuple
    kind: str  # opened | closed | changed (the fate is the same, the translation or certainty is not)
    witness: dict
    old_path: list[dict] = field(default_factory=list)
    new_path: list[dict] = field(default_factory=list)

    def as_dict(self, family: int) -> dict:
        return {"from": self.src, "to": self.dst, "kind": self.kind, "old": meaning_text(self.old, family),
                "new": meaning_text(self.new, family), "witness": self.witness, "old_path": self.old_path,
                "new_path": self.new_path}


@dataclass
class ServiceDiff:
    proto: str
    dport: int
    sport: int
    classes: list[SpaceClass]
    changes: list[Change]

    def as_dict(self, family: int) -> dict:
        return {"proto": self.proto, "dport": self.dport, "sport": self.sport,
                "classes": [c.as_dict() for c in self.classes if any(c.id in (x.src, x.dst) for x in self.changes)],
                "changes": [c.as_dict(family) for c in self.changes]}


@dataclass
class SpaceDiff:
    family: int
    path: str
    services: list[ServiceDiff]
    assumptions: list[str]
    in_iface: str | None = None
    out_iface: str | None = None

    @property
    def changed(self) -> bool:
        return any(s.changes for s in self.services)

    def kinds(self) -> set[str]:
        return {c.kind for s in self.services for c in s.changes}

    def as_dict(self) -> dict:
        return {"version": 1, "view": "space", "family": self.family, "path": self.path,
                "in_iface": self.in_iface, "out_iface": self.out_iface, "changed": self.changed,
                "assumptions": self.assumptions, "services": [s.as_dict(self.family) for s in self.services]}


class _Pair:
    """A pseudo-service whose cells are (OLD's meaning, NEW's meaning) ids, for the matrix's classes."""

    def __init__(self, old, new, meanings: dict):
        self.old, self.new = old, new
        self.src_b, self.dst_b, self.top = old.src_b, old.dst_b, old.top
        self.meanings = meanings  # (old sem, new sem) -> id

    def evaluate(self):
        import numpy as np

        ids: dict[tuple, int] = self.meanings
        for (r0, a), (r1, b) in zip(self.old.evaluate(), self.new.evaluate()):
            assert r0 == r1
            ua, ia = np.unique(a, return_inverse=True)
            ub, ib = np.unique(b, return_inverse=True)
            sa = [semantic_of(self.old, int(c)) for c in ua]
            sb = [semantic_of(self.new, int(c)) for c in ub]
            combo = ia.reshape(a.shape).astype(np.int64) * len(ub) + ib.reshape(b.shape)
            uc, ic = np.unique(combo, return_inverse=True)
            table = np.empty(len(uc), dtype=np.int64)
            for k, c in enumerate(uc.tolist()):
                key = (sa[c // len(ub)], sb[c % len(ub)])
                table[k] = ids.setdefault(key, len(ids))
            yield r0, table[ic.reshape(a.shape)]


def rule_key(r) -> tuple:
    """What a rule matches and does, without its place in the file."""
    return (r.chain, r.protocol, r.src, r.dst, r.in_iface, r.out_iface, r.fragment, r.matches, r.target)


def changed_rules(old_host, new_host) -> list:
    """The rules that are not where they were: per chain, the rules outside the longest common
    subsequence of the two sides' rule lists (a moved rule counts on both sides), both sides' rules;
    None for a changed policy or a chain one side lacks."""
    from difflib import SequenceMatcher

    out: list = []
    for table in set(old_host.tables) | set(new_host.tables):
        ca, cb = old_host.tables.get(table, {}), new_host.tables.get(table, {})
        for name in set(ca) | set(cb):
            x, y = ca.get(name), cb.get(name)
            if x is None or y is None or x.policy != y.policy:
                out.append(None)
                continue
            ka, kb = [rule_key(r) for r in x.rules], [rule_key(r) for r in y.rules]
            if ka == kb:
                continue
            for tag, i1, i2, j1, j2 in SequenceMatcher(a=ka, b=kb, autojunk=False).get_opcodes():
                if tag != "equal":
                    out += list(x.rules[i1:i2]) + list(y.rules[j1:j2])
    return out


def services_for(old_host, new_host, base=DEFAULT_SERVICES, limit: int = 16) -> list[tuple[str, int]]:
    """The services a diff compares by default: tcp 22 and 80, and a port of each range that a
    changed rule names (for the protocols it names), so that a change on port 443 is not missed."""
    from ..model.values import port_range

    out = list(base)
    for r in changed_rules(old_host, new_host):
        if r is None:
            continue  # a policy: every port, the defaults speak for it
        protos = ("tcp", "udp")
        if r is not None and r.protocol is not None and r.protocol.name in ("tcp", "udp") and not r.protocol.negated:
            protos = (r.protocol.name,)
        ports = []
        for m in r.matches:
            for o in m.options:
                if o.name in ("--dport", "--destination-port", "--dports", "--destination-ports") and o.args:
                    for part in o.args[0].split(","):
                        pr = port_range(part)
                        if pr is not None:
                            ports.append(pr[0])
        if not ports:
            ports = [22, 80, 40000]  # the rule holds for every port: a high one besides the defaults
        for proto in protos:
            for p in ports:
                if (proto, p) not in out:
                    out.append((proto, p))
    return out[:limit]


def host_facts_key(host) -> tuple:
    """What of a host model decides a space matrix besides its rules (addresses, routes, sysctls,
    devices), without spans: two hosts with equal keys and equal chains have equal matrices."""
    routes = tuple((r.lo, r.hi, r.plen, r.type, r.table, r.dev, r.via, r.src, r.metric) for r in host.routes)
    ifaces = tuple(sorted((k, tuple(v)) for k, v in host.ifaces.items()))
    return (host.family, host.addresses_known, host.local_addrs, routes, tuple(sorted(host.sysctls.items())), ifaces,
            host.main_routes_shown, tuple(sorted(host.tables_known)))


def _inert(changed: list, a, b, old_host) -> bool:
    """No rule that differs can match this service's packets (so both sides treat them alike)."""
    if any(r is None for r in changed):
        return False  # a policy changed
    own = {id(r) for ch in old_host.tables.values() for c in ch.values() for r in c.rules}
    for r in changed:
        svc = a if id(r) in own else b
        subs = getattr(svc, "services", [svc])  # the full path's parts
        if any(x._boxes_of(r) for x in subs):
            return False
    return True


def _kind(old: tuple, new: tuple) -> str:
    o, n = old[0], new[0]
    if o == 0 and n != 0:
        return OPENED
    if o != 0 and n == 0:
        return CLOSED
    return CHANGED


def diff_space(old_host, new_host, *, path: str = "forward", services=None, sport: int = DEFAULT_SPORT,
               in_iface: str | None = None, out_iface: str | None = None, tables=None,
               max_changes: int = 10000) -> SpaceDiff:
    import numpy as np

    fam = old_host.family
    out = []
    notes: set[str] = set()
    changed = changed_rules(old_host, new_host)
    if services is None:
        services = services_for(old_host, new_host)
    c_old, c_new = space_compiler(old_host), space_compiler(new_host)
    same_facts = host_facts_key(old_host) == host_facts_key(new_host)
    for proto, dport in services:
        if not changed and same_facts and old_host.tables.keys() == new_host.tables.keys():
            out.append(ServiceDiff(proto, dport, sport, [], []))  # the same chains, rule for rule
            continue
        a = make_service(old_host, c_old, path, proto, dport, sport, in_iface, out_iface, tables)
        b = make_service(new_host, c_new, path, proto, dport, sport, in_iface, out_iface, tables)
        if same_facts and _inert(changed, a, b, old_host):
            out.append(ServiceDiff(proto, dport, sport, [], []))  # no changed rule matches this service
            continue
        src = set(a.src_b) | set(b.src_b)
        dst = set(a.dst_b) | set(b.dst_b)
        a.set_cuts(src, dst)
        b.set_cuts(src, dst)
        meanings: dict[tuple, int] = {}
        pair = _Pair(a, b, meanings)
        row_class, col_class, reps, _u, _v = _classes(pair)
        merged = _merge(pair, row_class, col_class)
        classes = [SpaceClass(i, rs, fam) for i, (_, rs) in enumerate(merged)]
        by_id = {v: k for k, v in meanings.items()}
        changed_ids = {v for (o, n), v in meanings.items() if o != n}
        atoms = np.array([np.searchsorted(pair.dst_b, c.witness(), side="right") - 1 for c in classes])
        changes = []
        if changed_ids:
            for i, (rc, _) in enumerate(k for k, _ in merged):
                pos, vals = reps[rc]
                codes = vals[np.searchsorted(pos, atoms, side="right") - 1]
                for j in np.flatnonzero(np.isin(codes, list(changed_ids))).tolist():
                    o, n = by_id[int(codes[j])]
                    w = {"src": ip_str(classes[i].witness(), fam), "dst": ip_str(classes[j].witness(), fam),
                         "proto": proto, "sport": sport, "dport": dport}
                    changes.append(Change(i, j, o, n, _kind(o, n), w))
                    if len(changes) >= max_changes:
                        break
        for ch in changes[:200]:  # the witnesses on both sides: the rules that make the difference
            pkt = {"src": classes[ch.src].witness(), "dst": classes[ch.dst].witness(),
                   "proto": a.proto_num, "proto_name": proto, "sport": sport, "dport": dport}
            for host, attr in ((old_host, "old_path"), (new_host, "new_path")):
                try:
                    _v, steps, _log = replay_edge(host, path, pkt, in_iface, out_iface, False, frozenset(), tables)
                except Exception:  # a replay that cannot follow leaves the path empty, never hides the change
                    steps = []
                setattr(ch, attr, steps)
        out.append(ServiceDiff(proto, dport, sport, classes, changes))
        notes |= service_notes(a) | service_notes(b)
    return SpaceDiff(fam, path, out, sorted(notes), in_iface, out_iface)


def candidate_dump(old_dump, new_dump, *, noflush: bool = False):
    """NEW as a rule file loaded over OLD: the tables NEW names replace OLD's (iptables-restore), or,
    with ``noflush``, NEW's rules are appended to OLD's chains and its chains added; OLD's host
    facts stay."""
    from dataclasses import replace

    rulesets = list(old_dump.rulesets)
    for nrs in new_dump.rulesets:
        idx = next((k for k, r in enumerate(rulesets) if r.family == nrs.family), None)
        if idx is None:
            rulesets.append(nrs)
            continue
        ors = rulesets[idx]
        tables = {t.name: t for t in ors.tables}
        for t in nrs.tables:
            if noflush and t.name in tables:
                chains = {c.name: c for c in tables[t.name].chains}
                for c in t.chains:
                    if c.name in chains:
                        old = chains[c.name]
                        chains[c.name] = replace(old, rules=old.rules + c.rules,
                                                 policy=c.policy if c.policy and c.policy != old.policy else old.policy)
                    else:
                        chains[c.name] = c
                tables[t.name] = replace(tables[t.name], chains=tuple(chains.values()))
            else:
                tables[t.name] = t
        rulesets[idx] = replace(ors, tables=tuple(tables.values()))
    return replace(old_dump, rulesets=tuple(rulesets))


def has_host_facts(dump) -> bool:
    f = dump.facts
    return bool(f.addresses or f.routes or f.docker_networks or f.docker_containers or f.sysctls or f.listeners)


def resolve_new(old_dump, new_dump, *, candidate: bool | None = None, noflush: bool = False):
    """NEW as diff compares it: as given, or, as a candidate (by default when NEW has no host facts and
    OLD has), loaded over OLD's host facts."""
    if candidate is None:
        candidate = has_host_facts(old_dump) and not has_host_facts(new_dump)
    return candidate_dump(old_dump, new_dump, noflush=noflush) if candidate else new_dump


def diff_dumps(old_dump, new_dump, *, family: int = 4, candidate: bool | None = None, noflush: bool = False,
               **kw) -> SpaceDiff:
    from ..model.host import build_host

    new_dump = resolve_new(old_dump, new_dump, candidate=candidate, noflush=noflush)
    return diff_space(build_host(old_dump, family), build_host(new_dump, family), **kw)


# --------------------------------------------------------------------------- the endpoint view


def _port_norm(v, port):
    if isinstance(v, int):
        return "{port}" if v == port else v
    if isinstance(v, str) and port is not None:
        return v.replace(f":{port}", ":{port}")
    return v


def class_meaning(pc) -> tuple:
    """A port class's fate without rule lines or indexes: what it does, whatever rule does it."""
    a = pc.answer
    if a.reachable is False:
        return ("blocked",)  # blocked is blocked, whichever rule or check does it
    p = pc.witness_port
    d = a.delivered or {}
    trans = tuple((t.get("kind"), _port_norm(t.get("to"), p)) for t in a.translations)
    return (pc.fate, a.reachable, trans, (d.get("ip"), _port_norm(d.get("port"), p), d.get("seen_src"), d.get("by")),
            a.verdict, a.how_it_ends)


def _where(a) -> dict | None:
    from .explain import letting_step

    b = a.blocked_by
    if b:
        return {k: b.get(k) for k in ("table", "chain", "index", "line", "reason")}
    return letting_step(a)


def _detail(pc) -> str:
    a = pc.answer
    d = a.delivered or {}
    parts = [f"{t.get('kind')} to {t.get('to')}" for t in a.translations]
    if d:
        parts.append(f"delivered to {d.get('ip')}:{d.get('port')} seen src {d.get('seen_src')}")
    return "; ".join(parts) or str(a.verdict)


@dataclass
class EndpointChange:
    src: str
    dst: str
    proto: str
    ports: list[tuple[int, int]]
    old: str
    new: str
    kind: str
    witness: dict
    old_rule: dict | None = None
    new_rule: dict | None = None

    def as_dict(self) -> dict:
        return {"from": self.src, "to": self.dst, "proto": self.proto, "ports": [list(r) for r in self.ports],
                "kind": self.kind, "old": self.old, "new": self.new, "witness": self.witness,
                "old_rule": self.old_rule, "new_rule": self.new_rule}


@dataclass
class EndpointDiff:
    family: int
    changes: list[EndpointChange]
    assumptions: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def kinds(self) -> set[str]:
        return {c.kind for c in self.changes}

    def as_dict(self) -> dict:
        return {"version": 1, "view": "endpoints", "family": self.family, "changed": self.changed,
                "assumptions": self.assumptions, "changes": [c.as_dict() for c in self.changes]}


def _fate_kind(old_pc, new_pc) -> str:
    o, n = old_pc.reachable, new_pc.reachable
    if o is False and n is not False:
        return OPENED
    if o is not False and n is False:
        return CLOSED
    return CHANGED


def diff_endpoints(old_eng, new_eng, *, protos=None, ports=None, sources=None, destinations=None) -> EndpointDiff:
    """The endpoint matrices of both sides, on OLD's rows and columns, compared port range by port
    range: a range whose class means something else in NEW is a change."""
    from .matrix import compute_matrix, default_destinations, default_sources

    notes: list[str] = []

    def common(what: str, given, fn) -> list[str]:
        """The rows (columns) both sides have; one side's own are said, not compared."""
        if given:
            return given
        old_refs, new_refs = [e.ref for e in fn(old_eng)], [e.ref for e in fn(new_eng)]
        gone = [r for r in old_refs if r not in new_refs]
        added = [r for r in new_refs if r not in old_refs]
        if gone:
            notes.append(f"{what} only OLD has (not compared): {', '.join(gone)}")
        if added:
            notes.append(f"{what} only NEW has (not compared): {', '.join(added)}")
        return [r for r in old_refs if r in new_refs]

    srcs = common("sources", sources, default_sources)
    dsts = common("destinations", destinations, default_destinations)
    a = compute_matrix(old_eng, sources=srcs, destinations=dsts, protos=protos, ports=ports)
    b = compute_matrix(new_eng, sources=srcs, destinations=dsts, protos=protos, ports=ports)
    changes = []
    for ca in a.cells:
        cb = b.cell(ca.src.ref, ca.dst.ref)
        if cb is None or ca.error or cb.error:
            continue
        for proto in a.protos:
            ka = [k for k in ca.classes if k.proto == proto]
            kb = [k for k in cb.classes if k.proto == proto]
            if proto == "icmp":
                pairs = [((0, 0), ka[0], kb[0])] if ka and kb else []
            else:
                cuts = sorted({lo for k in ka + kb for lo, _ in k.ports} | {hi + 1 for k in ka + kb for _, hi in k.ports})
                pairs = []
                for lo, nxt in zip(cuts, cuts[1:]):
                    x = next((k for k in ka if any(l <= lo <= h for l, h in k.ports)), None)
                    y = next((k for k in kb if any(l <= lo <= h for l, h in k.ports)), None)
                    if x is not None and y is not None:
                        pairs.append(((lo, nxt - 1), x, y))
            groups: dict[tuple, list] = {}
            for rng, x, y in pairs:
                if class_meaning(x) == class_meaning(y):
                    continue
                key = (id(x), id(y))
                g = groups.setdefault(key, [x, y, []])
                if g[2] and g[2][-1][1] + 1 == rng[0]:
                    g[2][-1] = (g[2][-1][0], rng[1])
                else:
                    g[2].append(rng)
            for x, y, rngs in groups.values():
                w = dict(y.answer.witness or x.answer.witness or {})
                xs, ys = x.summary, y.summary
                if xs == ys:  # the same words, another packet: say where it goes on each side
                    xs, ys = f"{xs} [{_detail(x)}]", f"{ys} [{_detail(y)}]"
                changes.append(EndpointChange(ca.src.ref, ca.dst.ref, proto, [] if proto == "icmp" else rngs,
                                              xs, ys, _fate_kind(x, y), w, _where(x.answer), _where(y.answer)))
    notes += sorted(set(a.assumptions) | set(b.assumptions))
    return EndpointDiff(old_eng.host.family, changes, notes)
