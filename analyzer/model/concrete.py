"""A concrete explorer: one packet through :class:`~dnlint.model.path.Path`, every field an int.

This is the plain-Python evaluator the engine's witnesses are checked against
(tests/test_witness_replay.py). It implements the explorer interface Path drives
(``var``, ``point``, ``rewrite``, ``rewrite_free``, ``holds``, ``free_choice``,
``rule_matches``) for ONE packet, and it matches rules by reading the IR directly —
addresses, interfaces, protocol and the match modules' option strings — without the
:class:`~dnlint.model.matches.RuleCompiler` and its boxes, so a wrong box, a wrong
negation or a wrong fork in the symbolic engine shows up as a disagreement.

Two things a single packet cannot decide are taken from the symbolic run being replayed:

- ``nat_values``: the value every rewrite gave a field, in the order of the rewrites
  (the symbolic run's variables 6, 7, ... in a witness model). A rewrite to a one-value
  set needs no choice, but the value given must still lie in the set the path asks for;
- ``free_choices``: the outcome of every match dnlint does not model or whose outcome
  depends on traffic history (``limit``, ``recent``, unknown modules, undecoded listing
  text, interfaces a listing did not show), in order; an entry is a bool or a
  ``(line, bool)`` pair naming the rule's source line, which is then checked.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from functools import lru_cache

from .intervals import IntervalSet
from .path import Flow, Outcome, Path
from .values import icmp_type, mark_value, port_list, port_range, protocol_number, tcp_flags

FIELDS = ("src", "dst", "sport", "dport", "proto", "icmp")
TCP_LIKE = ("tcp", "udp", "sctp", "udplite", "dccp")
ICMP_MODULES = ("icmp", "icmp6", "icmpv6", "ipv6-icmp")
STATEFUL = {"limit", "hashlimit", "statistic", "recent", "connlimit", "quota", "time", "connbytes", "nfacct",
            "cpu", "cluster", "rateest"}
MODELLED = set(TCP_LIKE) | set(ICMP_MODULES) | {"multiport", "conntrack", "state", "addrtype", "iprange", "mark",
                                                "connmark", "physdev", "pkttype", "set"}
CT_STATE_NAMES = {"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED", "SNAT", "DNAT"}
CT_STATUS_BITS = {"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED"}
ADDRTYPES = {"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE",
             "PROHIBIT", "THROW", "NAT", "XRESOLVE"}


class ReplayMismatch(Exception):
    """The replay could not follow the symbolic run (a NAT value outside its set, a free choice
    asked for a rule the symbolic run never asked about, choices left over...)."""


class _NoCompiler:
    """Handed to Path so that nothing compiled can leak into the concrete matcher."""

    def compile(self, rule):
        return None


class _Free:
    """Conditions of one rule this evaluator does not decide: (text, stateful?)."""

    __slots__ = ("items",)

    def __init__(self):
        self.items: list[tuple[str, bool]] = []

    def add(self, text: str, stateful: bool = False) -> None:
        self.items.append((text, stateful))


class ConcreteRun:
    def __init__(self, host, packet: dict[str, int], *, nat_values=(), free_choices=(), ipsets=None,
                 quirks=frozenset(), nonpoint_vars=frozenset()):
        self.host = host
        # quirks: engine behaviours that differ from the kernel's, to confirm a disagreement's cause
        # ("addrtype-zeronet": 0.0.0.0 is UNSPEC and the rest of 0.0.0.0/8 an ordinary address);
        # nonpoint_vars: variables whose symbolic domain was not one value, for which ``point``
        # answers None as the symbolic explorer does (Path skips some checks then)
        self.quirks = frozenset(quirks)
        self.nonpoint_vars = frozenset(nonpoint_vars)
        self.family = host.family
        self.vals: dict[int, int] = {}
        self.cur: dict[str, int] = {}
        for i, fld in enumerate(FIELDS):
            self.vals[i] = packet.get(fld, 0)
            self.cur[fld] = i
        self.initial = dict(self.cur)
        self.next_var = len(FIELDS)
        self.nat_values = deque(nat_values)
        self.free = deque(free_choices)
        self.ipsets = ipsets or {}
        self.log: list[str] = []  # free choices taken, for messages
        self._addr_cache: dict[int, str] = {}

    # ------------------------------------------------------------------ fields

    def var(self, fld: str) -> int:
        return self.cur[fld]

    def value(self, fld: str) -> int:
        return self.vals[self.cur[fld]]

    def point(self, fld: str) -> int | None:
        if self.cur[fld] in self.nonpoint_vars:
            return None
        return self.value(fld)

    def values(self) -> dict[str, int]:
        return {f: self.value(f) for f in FIELDS}

    def rewrite(self, fld: str, values: IntervalSet) -> None:
        if self.nat_values:
            v = self.nat_values.popleft()
        elif values.is_point():
            v = values.min()
        else:
            raise ReplayMismatch(f"rewrite of {fld} to {values} and no value left to take")
        if v not in values:
            raise ReplayMismatch(f"rewrite of {fld}: the witness's value {v} is not in {values}")
        self._set(fld, v)

    def rewrite_free(self, flow, fld: str) -> None:
        if not self.nat_values:
            raise ReplayMismatch(f"{fld} rewritten to an unknown value and no value left to take")
        self._set(fld, self.nat_values.popleft())
        flow.approximations.append(f"{fld} rewritten to an unknown value")

    def _set(self, fld: str, v: int) -> None:
        var = self.next_var
        self.next_var += 1
        self.vals[var] = v
        self.cur[fld] = var

    def holds(self, fld: str, s: IntervalSet, flow=None) -> bool:
        return self._field(fld) in s

    def equal(self, a: str, b: str, flow) -> bool:
        if self._var_of(a) in self.nonpoint_vars and self._var_of(b) in self.nonpoint_vars \
                and self.nonpoint_overlap(a, b):
            # the symbolic run could not decide an equality between two ranges: follow it
            flow.approximations.append(f"whether {a} equals {b} is not decided for address ranges")
            return False
        return self._field(a) == self._field(b)

    def _var_of(self, fld: str) -> int:
        if fld in ("osrc", "odst", "osport", "odport"):
            return self.initial[fld[1:]]
        return self.cur[fld]

    def nonpoint_overlap(self, a: str, b: str) -> bool:
        doms = getattr(self, "nonpoint_domains", None)
        if not doms:
            return True
        da, db = doms.get(self._var_of(a)), doms.get(self._var_of(b))
        return da is None or db is None or da.overlaps(db)

    def _field(self, fld: str) -> int:
        if fld in ("osrc", "odst", "osport", "odport"):
            return self.vals[self.initial[fld[1:]]]
        if fld in ("rsrc", "rdst", "rsport", "rdport"):  # the reply tuple: the current one, reversed
            return self.value({"rsrc": "dst", "rdst": "src", "rsport": "dport", "rdport": "sport"}[fld])
        return self.value(fld)

    # ------------------------------------------------------------------ free decisions

    def free_choice(self, what: str, flow, *, unknown: bool, line: int | None = None,
                    texts: tuple[str, str] | None = None) -> bool:
        if not self.free:
            raise ReplayMismatch(f"no recorded choice for {what!r}")
        entry = self.free.popleft()
        if isinstance(entry, tuple):
            eline, choice = entry
            if line is not None and eline is not None and eline != line:
                raise ReplayMismatch(f"the next recorded choice is for line {eline}, the replay asks about "
                                     f"{what!r} (line {line})")
        else:
            choice = bool(entry)
        text = (texts[0] if choice else texts[1]) if texts else \
            f"{what}: {'assumed to match' if choice else 'assumed not to match'}"
        self.log.append(text)
        (flow.approximations if unknown else flow.choices).append(text)
        return choice

    def leftovers(self) -> list[str]:
        out = []
        if self.nat_values:
            out.append(f"rewrite values never used: {list(self.nat_values)}")
        if self.free:
            out.append(f"recorded choices never asked: {list(self.free)}")
        return out

    # ------------------------------------------------------------------ rules

    def rule_matches(self, rule, compiled, flow) -> bool:  # ``compiled`` is ignored on purpose
        free = _Free()
        if not self._decided(rule, flow, free):
            return False
        line = rule.span.line if rule.span else None
        # the history-dependent matches first, then what is not modelled (the symbolic run's order)
        items = [x for x in free.items if x[1]] + [x for x in free.items if not x[1]]
        for text, stateful in items:
            if not self.free_choice(f"{text} (line {line})", flow, unknown=not stateful, line=line):
                return False
        return True

    def _decided(self, rule, flow, free: _Free) -> bool:
        """False if a condition this evaluator decides fails; undecided ones go to ``free``."""
        if rule.unknown:
            free.add(f"fields not shown by the listing: {', '.join(sorted(rule.unknown))}")
        for text in rule.lossy:
            if "not decoded" in text or "undecoded" in text or "unknown" in text:
                free.add(f"listing: {text}")
        if rule.in_iface is not None and not _iface(rule.in_iface.name, rule.in_iface.negated, flow.in_iface):
            return False
        if rule.out_iface is not None and not _iface(rule.out_iface.name, rule.out_iface.negated, flow.out_iface):
            return False
        if rule.protocol is not None:
            p = protocol_number(rule.protocol.name)
            if p is None:
                free.add(f"protocol {rule.protocol.name}")
            elif p == 0:
                if rule.protocol.negated:
                    return False
            elif (self.value("proto") == p) == rule.protocol.negated:
                return False
        for fld, m in (("src", rule.src), ("dst", rule.dst)):
            if m is None:
                continue
            net = _network(m.value, self.family) if m.resolved else None
            if net is None:
                free.add(f"address {m.value}")
                continue
            if (net[0] <= self.value(fld) <= net[1]) == m.negated:
                return False
        if rule.fragment is True:
            return False  # a connection's first packet is never a second or later fragment
        for m in rule.matches:
            if not self._module(m, flow, free):
                return False
        return True

    def _module(self, m, flow, free: _Free) -> bool:
        mod = m.module
        if mod == "comment":
            return True
        if not m.known or mod == "?":
            free.add(f"module {mod}")
            return True
        if mod == "recent" and m.option("--set") is not None:
            return not m.option("--set").negated  # xt_recent: --set always matches (see matches.py)
        if mod in STATEFUL:
            free.add(f"-m {mod}", stateful=True)
            return True
        if mod not in MODELLED:
            free.add(f"-m {mod}")  # one undecided condition for the whole module
            return True
        if mod == "addrtype":
            return self._addrtype(m, free)
        for o in m.options:
            if mod == "set" and o.name in ("--return-nomatch", "--update-counters", "--update-subcounters"):
                continue  # counters and nomatch handling: no condition on the first packet
            if mod == "set" and o.name.startswith(("--packets", "--bytes")):
                free.add(f"-m set {o.name} {' '.join(o.args)}", stateful=True)  # the set's counters
                continue
            r = self._option(mod, o, flow, free)
            if r is None:
                free.add(f"-m {mod} {o.name} {' '.join(o.args)}")
            elif r is False:
                return False
        return True

    def _option(self, mod: str, o, flow, free: _Free) -> bool | None:
        """One option: True/False when decided (negation applied), None when not modelled."""
        arg = o.args[0] if o.args else None
        neg = o.negated
        hit: bool
        if mod in TCP_LIKE:
            if o.name in ("--dport", "--destination-port", "--sport", "--source-port"):
                r = port_range(arg) if arg is not None else None
                if r is None:
                    return None
                v = self.value("dport" if o.name in ("--dport", "--destination-port") else "sport")
                hit = r[0] <= v <= r[1]
            elif o.name == "--syn":
                hit = flow.tcpflags & 0x17 == 0x02  # SYN set; RST, ACK, FIN clear
            elif o.name == "--tcp-flags" and len(o.args) == 2:
                mask, comp = tcp_flags(o.args[0]), tcp_flags(o.args[1])
                if mask is None or comp is None:
                    return None
                hit = flow.tcpflags & mask == comp
            else:
                return None
        elif mod == "multiport":
            ports = port_list(arg) if arg is not None else None
            if ports is None:
                return None
            sport, dport = self.value("sport"), self.value("dport")

            def inside(v):
                return any(lo <= v <= hi for lo, hi in ports)

            if o.name in ("--dports", "--destination-ports"):
                hit = inside(dport)
            elif o.name in ("--sports", "--source-ports"):
                hit = inside(sport)
            elif o.name == "--ports":
                hit = inside(sport) or inside(dport)
            else:
                return None
        elif mod in ICMP_MODULES:
            if o.name not in ("--icmp-type", "--icmpv6-type"):
                return True  # the engine ignores other icmp options; so does the replay
            if arg == "any":
                return True
            t = icmp_type(arg) if arg is not None else None
            if t is None:
                return None
            v = self.value("icmp")
            hit = v >> 8 == t[0] and (t[1] is None or v & 0xFF == t[1])
        elif mod in ("conntrack", "state"):
            hit_or_none = self._conntrack(o, flow)
            if hit_or_none is None:
                return None
            hit = hit_or_none
        elif mod == "iprange":
            if o.name not in ("--src-range", "--dst-range") or arg is None:
                return None
            a, _, b = arg.partition("-")
            lo, hi = _network(a, self.family), _network(b or a, self.family)
            if lo is None or hi is None:
                return None
            hit = lo[0] <= self.value("src" if o.name == "--src-range" else "dst") <= hi[1]
        elif mod in ("mark", "connmark"):
            mv = mark_value(arg) if o.name == "--mark" and arg is not None else None
            if mv is None:
                return None
            value, mask = mv
            cur = flow.mark if mod == "mark" else flow.connmark
            hit = cur & mask == value  # xt_mark: (skb->mark & mask) == mark
        elif mod == "physdev":
            if o.name != "--physdev-is-bridged":
                return None  # the bridge port names are not part of a path
            hit = flow.bridged
        elif mod == "pkttype":
            hit = (arg or "").lower() == self._pkttype()
        elif mod == "set":
            return self._set_match(o)
        else:
            return None
        return hit != neg

    def _conntrack(self, o, flow) -> bool | None:
        arg = o.args[0] if o.args else None
        name = o.name
        if name in ("--ctstate", "--state"):
            states = {s.strip().upper() for s in (arg or "").split(",") if s.strip()}
            if not states <= CT_STATE_NAMES:
                return None
            have = {flow.ctstate} | (flow.ctstatus & {"SNAT", "DNAT"})
            return bool(states & have)
        if name in ("--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst"):
            net = _network(arg, self.family) if arg else None
            if net is None:
                return None
            fld = {"--ctorigsrc": "osrc", "--ctorigdst": "odst", "--ctreplsrc": "rsrc", "--ctrepldst": "rdst"}[name]
            return net[0] <= self._field(fld) <= net[1]
        if name in ("--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport"):
            r = port_range(arg) if arg else None
            if r is None:
                return None
            fld = {"--ctorigsrcport": "osport", "--ctorigdstport": "odport", "--ctreplsrcport": "rsport",
                   "--ctrepldstport": "rdport"}[name]
            return r[0] <= self._field(fld) <= r[1]
        if name == "--ctproto":
            p = protocol_number(arg) if arg else None
            if p is None:
                return None
            return p == 0 or self.value("proto") == p
        if name == "--ctdir":
            return (arg or "").upper() == flow.ctdir
        if name == "--ctstatus":
            names = {s.strip().upper() for s in (arg or "").split(",")}
            # xt_conntrack: (status_mask & ct->status) != 0; NONE adds no bit
            return bool(names & CT_STATUS_BITS & flow.ctstatus)
        return None

    # ------------------------------------------------------------------ address classes

    def _addrtype(self, m, free: _Free) -> bool:
        # with --limit-iface-in/out the type is asked on one device only: not modelled
        limited = any(o.name in ("--limit-iface-in", "--limit-iface-out") for o in m.options)
        for o in m.options:
            if o.name not in ("--src-type", "--dst-type"):
                continue
            types = [t.strip().upper() for t in (o.args[0] if o.args else "").split(",")]
            if limited or not all(t in ADDRTYPES for t in types):
                free.add(f"-m addrtype {o.name} {' '.join(o.args)}")
                continue
            a = self.value("src" if o.name == "--src-type" else "dst")
            if (self.addr_type(a) in types) == o.negated:
                return False
        return True

    def addr_type(self, a: int) -> str:
        """inet_addr_type(): the RTN_* type of an address, as xt_addrtype asks the kernel for it."""
        got = self._addr_cache.get(a)
        if got is not None:
            return got
        if self.family == 4:
            if "addrtype-zeronet" in self.quirks and a >> 24 == 0:
                t = "UNSPEC" if a == 0 else self._fib_type(a)
            elif a >> 24 == 0 or a == 0xFFFFFFFF:
                t = "BROADCAST"  # ipv4_is_zeronet / ipv4_is_lbcast
            elif a >> 28 == 0xE:
                t = "MULTICAST"
            else:
                t = self._fib_type(a)
        else:
            t = "MULTICAST" if a >> 120 == 0xFF else ("UNSPEC" if a == 0 else self._fib_type(a))
        self._addr_cache[a] = t
        return t

    def _fib_type(self, a: int) -> str:
        # lookup in the local table, which (without policy rules) the kernel merges with main
        best = None
        for r in self.host.routes:
            if r.table not in ("local", "main") or not (r.lo <= a <= r.hi):
                continue
            key = (r.plen, r.table == "local", -r.metric)
            if best is None or key > best[0]:
                best = (key, r)
        return best[1].type.upper() if best is not None else "UNICAST"

    def _pkttype(self) -> str:
        d = self.value("dst")
        if self.family == 4 and d >> 28 == 0xE or self.family == 6 and d >> 120 == 0xFF:
            return "multicast"
        if self.family == 4 and (d == 0xFFFFFFFF or any(
                r.table == "local" and r.type == "broadcast" and r.lo <= d <= r.hi for r in self.host.routes)):
            return "broadcast"
        return "unicast"

    # ------------------------------------------------------------------ ipset

    def _set_match(self, o) -> bool | None:
        if o.name != "--match-set" or len(o.args) < 2:
            return None
        name, flags = o.args[0], o.args[1].split(",")
        hit = self._in_set(name, flags, 0)
        if hit is None:
            return None
        if o.negated:
            s = self.ipsets.get(name)
            dims = _set_dims(s)
            if dims is None or not (dims in (["ip"], ["net"]) and flags):
                return None  # the engine approximates negated multi-field sets; so does the replay
        return hit != o.negated

    def _in_set(self, name: str, flags: list[str], depth: int) -> bool | None:
        s = self.ipsets.get(name)
        if s is None or not s.complete:
            return None
        if s.type.startswith("list:set"):
            if depth > 4:
                return None
            results = [self._in_set(sub, flags, depth + 1) for sub in s.members]
            if any(r is None for r in results):
                return None
            return any(results)
        dims = _set_dims(s)
        if dims is None or len(flags) < len(dims):
            return None
        if len(dims) > 1 and len(s.members) > 2000:
            return None
        found = False
        for member in s.members:
            r = self._member(member, dims, flags)
            if r is None:
                return None
            found = found or r
        return found

    def _member(self, member: str, dims: list[str], flags: list[str]) -> bool | None:
        parts = member.split(",")
        if len(parts) < len(dims):
            return None
        ok = True
        for dim, part, flag in zip(dims, parts, flags):
            if dim in ("ip", "net"):
                if "-" in part and "/" not in part:
                    a, _, b = part.partition("-")
                    lo, hi = _network(a, self.family), _network(b, self.family)
                    if lo is None or hi is None:
                        return None
                    iv = (lo[0], hi[1])
                else:
                    iv = _network(part, self.family)
                    if iv is None:
                        return None
                ok = ok and iv[0] <= self.value("src" if flag == "src" else "dst") <= iv[1]
            elif dim == "port":
                proto_name, sep, port = part.rpartition(":")
                r = port_range(port.replace("-", ":"))
                p = protocol_number(proto_name) if sep else 6
                if r is None or p is None:
                    return None
                ok = ok and r[0] <= self.value("sport" if flag == "src" else "dport") <= r[1] \
                    and self.value("proto") == p
            else:
                return None
        return ok


def _set_dims(s) -> list[str] | None:
    if s is None:
        return None
    kind, _, dims = s.type.partition(":")
    if kind not in ("hash", "bitmap"):
        return None
    return dims.split(",")


def _iface(pattern: str, negated: bool, name: str | None) -> bool:
    """iptables' interface test: exact name, or a prefix when the rule's name ends with ``+``."""
    if name is None:
        hit = False  # no such device on this hook (-i on OUTPUT, -o before routing)
    elif pattern.endswith("+"):
        hit = name.startswith(pattern[:-1])
    else:
        hit = name == pattern
    return hit != negated


@lru_cache(maxsize=65536)
def _network(text: str, family: int) -> tuple[int, int] | None:
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if net.version != family:
        return None
    return int(net.network_address), int(net.broadcast_address)


# --------------------------------------------------------------------------- replay


def replay_run(engine, origin, witness_values: dict[str, int], proto: str, free_choices=(), nat_values=(),
               flow: Flow | None = None, quirks=frozenset(), nonpoint_vars=frozenset()
               ) -> tuple[Outcome, ConcreteRun]:
    """Run one concrete packet from ``origin`` (a :class:`dnlint.engine.query.Origin`)."""
    host = engine.host
    run = ConcreteRun(host, witness_values, nat_values=nat_values, free_choices=free_choices,
                      ipsets=getattr(engine.compiler, "ipsets", None), quirks=quirks,
                      nonpoint_vars=nonpoint_vars)
    flow = flow if flow is not None else Flow(proto=proto)
    if getattr(origin, "unknown", None):  # as query._run_origin: a fact of the sender's link the dump lacks
        flow.approximations.append(origin.unknown)
        flow.open_ended.append(origin.unknown)
    path = Path(host, run, _NoCompiler())
    if origin.kind == "local":
        out = path.from_local(flow)
    elif origin.kind == "bridged":
        out = path.bridged(flow, origin.iface)
    else:
        out = path.from_iface(flow, origin.iface)
    return out, run


def replay(engine, origin, witness_values: dict[str, int], proto: str, free_choices=(), nat_values=(),
           flow: Flow | None = None) -> Outcome:
    """The Outcome of one concrete packet; raises :class:`ReplayMismatch` if it could not follow
    the recorded decisions or left some of them unused."""
    out, run = replay_run(engine, origin, witness_values, proto, free_choices, nat_values, flow)
    left = run.leftovers()
    if left:
        raise ReplayMismatch("; ".join(left))
    return out
