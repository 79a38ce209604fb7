"""A rule's conditions, compiled for the engine.

Each rule becomes a :class:`Compiled`: the header-space part as boxes (per-field
:class:`IntervalSet`, a disjunction of boxes for the rare ``multiport --ports``), the
parts that are concrete on any one path (interfaces, conntrack state, marks, bridge
flags), the *stateful* parts whose outcome depends on traffic history rather than on the
packet (``limit``, ``statistic``, ``recent`` but for its ``--set``: either outcome can happen), and the
*unknown* parts dnlint does not model, which make an answer "possible" rather than proved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import InterfaceMatch, Match, Rule
from .intervals import IntervalSet, addr_max, cidr_interval
from .values import icmp_type, mark_value, port_list, port_range, protocol_number, tcp_flags

PORT_ALL = IntervalSet.range(0, 65535)

STATEFUL_MODULES = {
    "limit": "rate limit not exceeded", "hashlimit": "rate limit not exceeded",
    "statistic": "statistic chose this rule", "recent": "recent list state",
    "connlimit": "connection count", "quota": "quota left", "time": "time of day",
    "connbytes": "bytes so far", "nfacct": "accounting", "cpu": "the CPU handling it",
    "cluster": "cluster node", "rateest": "rate estimate",
}
NOOP_MODULES = {"comment"}
CT_STATES = {"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED", "SNAT", "DNAT"}


@dataclass(slots=True)
class MetaTest:
    """A condition on what is concrete along a path (not on header fields)."""

    kind: str  # ctstate, mark, connmark, bridged, physdev-in, physdev-out, pkttype, tcpflags, ctdir
    args: tuple
    negated: bool = False
    text: str = ""


@dataclass(slots=True)
class Compiled:
    boxes: list[dict[str, IntervalSet]]  # [] = can never match; [{}] = no header condition
    in_iface: InterfaceMatch | None = None
    out_iface: InterfaceMatch | None = None
    meta: list[MetaTest] = field(default_factory=list)
    stateful: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def iface_matches(m: InterfaceMatch | None, name: str | None) -> bool:
    """iptables interface matching: exact, or a prefix when the rule's name ends with ``+``."""
    if m is None:
        return True
    if name is None:
        ok = False  # -i on a hook without an input device (OUTPUT) never matches
    elif m.name.endswith("+"):
        ok = name.startswith(m.name[:-1])
    else:
        ok = name == m.name
    return ok != m.negated


def _and_box(boxes: list[dict[str, IntervalSet]], fld: str, s: IntervalSet) -> list[dict[str, IntervalSet]]:
    out = []
    for b in boxes:
        nb = dict(b)
        nb[fld] = nb[fld].intersect(s) if fld in nb else s
        if nb[fld]:
            out.append(nb)
    return out


def _full(fld: str, family: int) -> IntervalSet:
    if fld in ("src", "dst", "osrc", "odst"):
        return IntervalSet.range(0, addr_max(family))
    if fld == "proto":
        return IntervalSet.range(0, 255)
    if fld == "icmp":
        return IntervalSet.range(0, 0xFFFF)
    return PORT_ALL


def _set(fld: str, ivs: list[tuple[int, int]], negated: bool, family: int) -> IntervalSet:
    s = IntervalSet(ivs)
    return s.complement(*_full(fld, family).ivs[0]) if negated else s


class RuleCompiler:
    """Compiles rules for one host; addrtype needs the host's address classes."""

    def __init__(self, family: int, local_addrs: IntervalSet, addrtype_classes: dict[str, IntervalSet],
                 local_by_iface: dict[str, IntervalSet] | None = None, ipsets: dict | None = None):
        self.family = family
        self.ipsets = ipsets or {}
        self.local = local_addrs
        self.classes = addrtype_classes
        self.local_by_iface = local_by_iface or {}
        self._cache: dict[int, Compiled] = {}

    def compile(self, rule: Rule) -> Compiled:
        key = id(rule)
        c = self._cache.get(key)
        if c is None:
            c = self._compile(rule)
            self._cache[key] = c
        return c

    def _compile(self, rule: Rule) -> Compiled:
        fam = self.family
        c = Compiled(boxes=[{}], in_iface=rule.in_iface, out_iface=rule.out_iface)
        if "in_iface" in rule.unknown or "out_iface" in rule.unknown:
            c.unknown.append("interfaces not shown by the listing (-v missing)")
        for text in rule.lossy:
            if "not decoded" in text or "undecoded" in text or "unknown" in text:
                c.unknown.append(f"listing: {text}")
        proto_num = None
        if rule.protocol is not None:
            proto_num = protocol_number(rule.protocol.name)
            if proto_num is None:
                c.unknown.append(f"protocol {rule.protocol.name}")
            elif proto_num != 0:
                c.boxes = _and_box(c.boxes, "proto", _set("proto", [(proto_num, proto_num)], rule.protocol.negated, fam))
            elif rule.protocol.negated:
                c.boxes = []  # ! -p all never matches
        for fld, m in (("src", rule.src), ("dst", rule.dst)):
            if m is None:
                continue
            iv = cidr_interval(m.value, fam) if m.resolved else None
            if iv is None:
                c.unknown.append(f"{'-s' if fld == 'src' else '-d'} {m.value} (host name not resolved)")
                continue
            c.boxes = _and_box(c.boxes, fld, _set(fld, [iv], m.negated, fam))
        if rule.fragment is True:
            c.meta.append(MetaTest("fragment", (), False, "-f"))
        elif rule.fragment is False:
            c.meta.append(MetaTest("fragment", (), True, "! -f"))
        for m in rule.matches:
            self._match(c, m, proto_num)
        return c

    # ------------------------------------------------------------------ modules

    def _match(self, c: Compiled, m: Match, proto_num: int | None) -> None:
        fam = self.family
        mod = m.module
        if mod in NOOP_MODULES:
            return
        if not m.known or mod == "?":
            raw = " ".join(f"{'! ' if o.negated else ''}{o.name} {' '.join(o.args)}".strip() for o in m.options)
            c.unknown.append(f"-m {mod} {raw}".strip() if mod != "?" else f"undecoded listing text {raw!r}")
            return
        if mod in ("tcp", "udp", "sctp", "udplite", "dccp"):
            for o in m.options:
                if o.name in ("--dport", "--destination-port", "--sport", "--source-port"):
                    fld = "dport" if "d" in o.name[2:3] else "sport"
                    r = port_range(o.args[0]) if o.args else None
                    if r is None:
                        c.unknown.append(f"{o.name} {' '.join(o.args)}")
                        continue
                    c.boxes = _and_box(c.boxes, fld, _set(fld, [r], o.negated, fam))
                elif o.name == "--syn":
                    c.meta.append(MetaTest("tcpflags", (0x17, 0x02), o.negated, "--syn"))
                elif o.name == "--tcp-flags" and len(o.args) == 2:
                    mask, comp = tcp_flags(o.args[0]), tcp_flags(o.args[1])
                    if mask is None or comp is None:
                        c.unknown.append(f"--tcp-flags {' '.join(o.args)}")
                    else:
                        c.meta.append(MetaTest("tcpflags", (mask, comp), o.negated, f"--tcp-flags {' '.join(o.args)}"))
                else:
                    c.unknown.append(f"-m {mod} {o.name} {' '.join(o.args)}".strip())
            return
        if mod == "multiport":
            for o in m.options:
                ports = port_list(o.args[0]) if o.args else None
                if ports is None:
                    c.unknown.append(f"-m multiport {o.name} {' '.join(o.args)}")
                    continue
                if o.name in ("--dports", "--destination-ports"):
                    c.boxes = _and_box(c.boxes, "dport", _set("dport", ports, o.negated, fam))
                elif o.name in ("--sports", "--source-ports"):
                    c.boxes = _and_box(c.boxes, "sport", _set("sport", ports, o.negated, fam))
                elif o.name == "--ports":
                    s = IntervalSet(ports)
                    if o.negated:  # neither port in the set
                        comp = s.complement(0, 65535)
                        c.boxes = _and_box(_and_box(c.boxes, "sport", comp), "dport", comp)
                    else:
                        c.boxes = _and_box(c.boxes, "sport", s) + _and_box(c.boxes, "dport", s)
                else:
                    c.unknown.append(f"-m multiport {o.name}")
            return
        if mod in ("icmp", "icmp6", "icmpv6", "ipv6-icmp"):
            for o in m.options:
                if o.name in ("--icmp-type", "--icmpv6-type"):
                    if o.args and o.args[0] == "any":
                        continue
                    t = icmp_type(o.args[0]) if o.args else None
                    if t is None:
                        c.unknown.append(f"{o.name} {' '.join(o.args)}")
                        continue
                    lo, hi = (t[0] * 256, t[0] * 256 + 255) if t[1] is None else (t[0] * 256 + t[1],) * 2
                    c.boxes = _and_box(c.boxes, "icmp", _set("icmp", [(lo, hi)], o.negated, fam))
            return
        if mod in ("conntrack", "state"):
            for o in m.options:
                if o.name in ("--ctstate", "--state"):
                    states = {s.strip().upper() for s in (o.args[0] if o.args else "").split(",") if s.strip()}
                    if not states <= CT_STATES:
                        c.unknown.append(f"{o.name} {' '.join(o.args)}")
                        continue
                    c.meta.append(MetaTest("ctstate", (frozenset(states),), o.negated, f"{o.name} {o.args[0]}"))
                elif o.name in ("--ctorigdst", "--ctorigsrc", "--ctrepldst", "--ctreplsrc"):
                    fld = {"--ctorigdst": "odst", "--ctorigsrc": "osrc", "--ctrepldst": "rdst",
                           "--ctreplsrc": "rsrc"}[o.name]
                    iv = cidr_interval(o.args[0], fam) if o.args else None
                    if iv is None:
                        c.unknown.append(f"{o.name} {' '.join(o.args)}")
                        continue
                    c.boxes = _and_box(c.boxes, fld, _set(fld, [iv], o.negated, fam))
                elif o.name in ("--ctorigdstport", "--ctorigsrcport", "--ctrepldstport", "--ctreplsrcport"):
                    fld = {"--ctorigdstport": "odport", "--ctorigsrcport": "osport", "--ctrepldstport": "rdport",
                           "--ctreplsrcport": "rsport"}[o.name]
                    r = port_range(o.args[0]) if o.args else None
                    if r is None:
                        c.unknown.append(f"{o.name} {' '.join(o.args)}")
                        continue
                    c.boxes = _and_box(c.boxes, fld, _set(fld, [r], o.negated, fam))
                elif o.name == "--ctproto":
                    p = protocol_number(o.args[0]) if o.args else None
                    if p is None:
                        c.unknown.append(f"--ctproto {' '.join(o.args)}")
                    elif p:
                        c.boxes = _and_box(c.boxes, "proto", _set("proto", [(p, p)], o.negated, fam))
                elif o.name == "--ctdir":
                    c.meta.append(MetaTest("ctdir", (o.args[0].upper() if o.args else "",), o.negated, "--ctdir"))
                elif o.name == "--ctstatus":
                    c.meta.append(MetaTest("ctstatus", (frozenset(s.strip().upper() for s in o.args[0].split(",")),),
                                           o.negated, f"--ctstatus {o.args[0]}"))
                else:
                    c.unknown.append(f"-m {mod} {o.name} {' '.join(o.args)}".strip())
            return
        if mod == "addrtype":
            limit_in = limit_out = None
            for o in m.options:
                if o.name == "--limit-iface-in":
                    limit_in = True
                elif o.name == "--limit-iface-out":
                    limit_out = True
            for o in m.options:
                if o.name in ("--src-type", "--dst-type"):
                    fld = "src" if o.name == "--src-type" else "dst"
                    types = [t.strip().upper() for t in (o.args[0] if o.args else "").split(",")]
                    s = IntervalSet()
                    ok = True
                    for t in types:
                        cls = self.classes.get(t)
                        if cls is None:
                            ok = False
                            break
                        s = s.union(cls)
                    if not ok:
                        c.unknown.append(f"-m addrtype {o.name} {o.args[0] if o.args else ''}")
                        continue
                    if limit_in or limit_out:
                        c.meta.append(MetaTest("addrtype-limit", (fld, tuple(types), bool(limit_in)), o.negated,
                                               f"{o.name} {o.args[0]} with --limit-iface"))
                        continue
                    c.boxes = _and_box(c.boxes, fld, s.complement(*_full(fld, fam).ivs[0]) if o.negated else s)
            return
        if mod == "iprange":
            for o in m.options:
                fld = "src" if o.name == "--src-range" else "dst" if o.name == "--dst-range" else None
                a, _, b = (o.args[0] if o.args else "").partition("-")
                lo, hi = cidr_interval(a, fam), cidr_interval(b or a, fam)
                if fld is None or lo is None or hi is None:
                    c.unknown.append(f"-m iprange {o.name} {' '.join(o.args)}")
                    continue
                c.boxes = _and_box(c.boxes, fld, _set(fld, [(lo[0], hi[1])], o.negated, fam))
            return
        if mod in ("mark", "connmark"):
            for o in m.options:
                mv = mark_value(o.args[0]) if o.args and o.name == "--mark" else None
                if mv is None:
                    c.unknown.append(f"-m {mod} {o.name} {' '.join(o.args)}")
                    continue
                c.meta.append(MetaTest(mod, mv, o.negated, f"-m {mod} --mark {o.args[0]}"))
            return
        if mod == "physdev":
            for o in m.options:
                if o.name == "--physdev-is-bridged":
                    c.meta.append(MetaTest("bridged", (), o.negated, "--physdev-is-bridged"))
                elif o.name in ("--physdev-in", "--physdev-out", "--physdev-is-in", "--physdev-is-out"):
                    c.meta.append(MetaTest("physdev", (o.name, o.args[0] if o.args else None), o.negated,
                                           f"{o.name} {' '.join(o.args)}".strip()))
                else:
                    c.unknown.append(f"-m physdev {o.name}")
            return
        if mod == "pkttype":
            for o in m.options:
                c.meta.append(MetaTest("pkttype", ((o.args[0] if o.args else "").lower(),), o.negated,
                                       f"--pkt-type {' '.join(o.args)}"))
            return
        if mod == "set":
            self._set_match(c, m)
            return
        if mod == "recent" and m.option("--set") is not None:
            # xt_recent's recent_mt(): --set adds or refreshes the entry and returns !invert,
            # whatever the list held before
            if m.option("--set").negated:
                c.boxes = []
            return
        if mod in STATEFUL_MODULES:
            text = " ".join(f"{'! ' if o.negated else ''}{o.name} {' '.join(o.args)}".strip() for o in m.options)
            c.stateful.append(f"-m {mod} {text}".strip())
            return
        raw = " ".join(f"{'! ' if o.negated else ''}{o.name} {' '.join(o.args)}".strip() for o in m.options)
        c.unknown.append(f"-m {mod} {raw}".strip())


def addrtype_classes(family: int, local: IntervalSet, routes) -> dict[str, IntervalSet]:
    """Address classes for ``-m addrtype``, from the host's local table and routes (RTN_* types)."""
    full = IntervalSet.range(0, addr_max(family))
    if family == 4:
        multicast = IntervalSet.range(0xE0000000, 0xEFFFFFFF)
        # inet_addr_type(): 0.0.0.0/8 and 255.255.255.255 are RTN_BROADCAST
        bcast = IntervalSet(((0, 0x00FFFFFF), (0xFFFFFFFF, 0xFFFFFFFF)))
    else:
        multicast = IntervalSet.range(0xFF << 120, (1 << 128) - 1)
        bcast = IntervalSet()
    for r in routes:
        if r.table == "local" and r.type == "broadcast":
            bcast = bcast.union(IntervalSet.range(r.lo, r.hi))
    by_type: dict[str, IntervalSet] = {}
    for r in routes:
        if r.type in ("blackhole", "unreachable", "prohibit", "throw"):
            by_type[r.type.upper()] = by_type.get(r.type.upper(), IntervalSet()).union(IntervalSet.range(r.lo, r.hi))
    unspec = IntervalSet() if family == 4 else IntervalSet.point(0)
    special = local.union(multicast).union(bcast).union(unspec)
    for s in by_type.values():
        special = special.union(s)
    classes = {
        "LOCAL": local,
        "MULTICAST": multicast,
        "BROADCAST": bcast,
        "UNSPEC": unspec,
        "UNICAST": special.complement(0, full.ivs[0][1]),
        "ANYCAST": IntervalSet(),
        "NAT": IntervalSet(),
        "XRESOLVE": IntervalSet(),
    }
    for name in ("BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW"):
        classes[name] = by_type.get(name, IntervalSet())
    return classes


def _set_member_box(member: str, dims: list[str], flags: list[str], family: int) -> dict[str, IntervalSet] | None:
    """One ipset member as a box: ``10.0.0.0/24`` or ``10.0.0.1,tcp:80`` with the match's src/dst flags."""
    parts = member.split(",")
    if len(parts) < len(dims):
        return None
    box: dict[str, IntervalSet] = {}
    for dim, part, flag in zip(dims, parts, flags):
        if dim in ("ip", "net"):
            if "-" in part and "/" not in part:
                a, _, b = part.partition("-")
                lo, hi = cidr_interval(a, family), cidr_interval(b, family)
                if lo is None or hi is None:
                    return None
                iv = (lo[0], hi[1])
            else:
                iv = cidr_interval(part, family)
                if iv is None:
                    return None
            fld = "src" if flag == "src" else "dst"
            box[fld] = box[fld].intersect(IntervalSet.range(*iv)) if fld in box else IntervalSet.range(*iv)
        elif dim == "port":
            proto_name, sep, port = part.rpartition(":")
            r = port_range(port.replace("-", ":"))
            if r is None:
                return None
            fld = "sport" if flag == "src" else "dport"
            box[fld] = IntervalSet.range(*r)
            p = protocol_number(proto_name) if sep else 6
            if p is None:
                return None
            box["proto"] = IntervalSet.point(p)
        else:
            return None  # iface, mark, mac: not modelled
    return box


def _set_match_boxes(ipset, flags: list[str], family: int, sets: dict, depth: int = 0):
    if ipset.type.startswith("list:set"):
        if depth > 4:
            return None
        out = []
        for name in ipset.members:
            sub = sets.get(name)
            if sub is None or not sub.complete:
                return None
            boxes = _set_match_boxes(sub, flags, family, sets, depth + 1)
            if boxes is None:
                return None
            out.extend(boxes)
        return out
    kind, _, dims_text = ipset.type.partition(":")
    dims = dims_text.split(",")
    if kind not in ("hash", "bitmap") or len(flags) < len(dims):
        return None
    if len(dims) > 1 and len(ipset.members) > 2000:
        return None
    if dims in (["ip"], ["net"]) and flags:
        fld = "src" if flags[0] == "src" else "dst"
        ivs = []
        for member in ipset.members:
            b = _set_member_box(member, dims, flags, family)
            if b is None:
                return None
            ivs.extend(b[fld].ivs)
        return [{fld: IntervalSet(ivs)}]
    out = []
    for member in ipset.members:
        b = _set_member_box(member, dims, flags, family)
        if b is None:
            return None
        out.append(b)
    return out


def _compile_set(self, c: Compiled, m: Match) -> None:
    for o in m.options:
        if o.name == "--match-set":
            if len(o.args) < 2:
                c.unknown.append(f"-m set --match-set {' '.join(o.args)}")
                continue
            name, flags = o.args[0], o.args[1].split(",")
            ipset = self.ipsets.get(name)
            if ipset is None or not ipset.complete:
                c.unknown.append(f"-m set --match-set {name} {o.args[1]} (the set's members are not in the dump; "
                                 "add `ipset save`)")
                continue
            boxes = _set_match_boxes(ipset, flags, self.family, self.ipsets)
            if boxes is None:
                c.unknown.append(f"-m set --match-set {name} {o.args[1]} (set type {ipset.type} not modelled)")
                continue
            if o.negated:
                if len(boxes) == 1 and len(boxes[0]) == 1:
                    (fld, sset), = boxes[0].items()
                    c.boxes = _and_box(c.boxes, fld, sset.complement(*_full(fld, self.family).ivs[0]))
                else:
                    c.unknown.append(f"! -m set --match-set {name} (negated multi-field set)")
                continue
            new = []
            for box in c.boxes:
                for sb in boxes:
                    nb = dict(box)
                    ok = True
                    for fld, sset in sb.items():
                        nb[fld] = nb[fld].intersect(sset) if fld in nb else sset
                        if not nb[fld]:
                            ok = False
                            break
                    if ok:
                        new.append(nb)
            c.boxes = new
        elif o.name in ("--return-nomatch", "--update-counters", "--update-subcounters"):
            continue
        elif o.name.startswith(("--packets", "--bytes")):
            c.stateful.append(f"-m set {o.name} {' '.join(o.args)}")
        else:
            c.unknown.append(f"-m set {o.name} {' '.join(o.args)}".strip())


RuleCompiler._set_match = _compile_set
