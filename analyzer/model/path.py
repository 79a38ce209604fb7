"""A connection's first packet through the Linux IPv4 stack, hook by hook.

This module is the one place where a packet's path is decided. It is written once and
driven by an *explorer* (see :mod:`dnlint.engine.explore`) that owns the header fields:
a symbolic explorer forks wherever a rule or route may or may not apply, a concrete one
follows a single packet. What the path does mirrors the kernel:

- hooks and table order (legacy priorities): PREROUTING raw, mangle, nat; routing;
  INPUT mangle, filter, security, nat; FORWARD mangle, filter, security; OUTPUT raw,
  mangle, nat, filter, security; POSTROUTING mangle, nat;
- the nat table sees a connection's first packet once per manipulation: DNAT at
  PREROUTING or OUTPUT, SNAT at POSTROUTING or INPUT; a locally generated packet to a
  local address crosses OUTPUT and POSTROUTING, then PREROUTING and INPUT on ``lo``
  without the nat table (its bindings are already set up);
- after OUTPUT changes the destination or the mark, the route is looked up again
  (``ip_route_me_harder``); a 127/8 source may not leave through a non-loopback device
  unless route_localnet is set on it (``__mkroute_output``): the seed's silent drop;
- on input, 127/8 sources or destinations on a non-loopback device are martians unless
  route_localnet is set on that device (``ip_route_input_slow``); so is a source that is
  one of the host's own addresses (unless accept_local); forwarding needs the input
  device's ``forwarding``;
- IPv6 has no route_localnet: ``ip6_rcv_core`` drops any packet with ::1 as source or
  destination received on a non-loopback device (RFC 4291 2.5.3), before the IP layer's
  PREROUTING, but after the bridge layer's when br_netfilter passed the packet through
  PREROUTING on its way in over a bridge (so a reply conntrack un-NATs to ::1 dies there);
  a receiver's stack drops a packet that arrives from the host with a ::1 source;
- between two ports of one bridge, iptables is crossed only with br_netfilter and
  bridge-nf-call-iptables=1 (then PREROUTING, FORWARD, POSTROUTING with -i/-o the bridge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Rule
from ..parse.modules import KNOWN_TARGETS
from .host import LOOPBACK_V4, HostModel, RouteResult, Unknown
from .intervals import IntervalSet, ip_str
from .values import mark_value, nat_spec, port_range

TERMINAL_VERDICTS = ("DROP", "REJECT", "MARTIAN", "NO_ROUTE", "FORWARDING_DISABLED", "NO_LISTENER",
                     "BLACKHOLE", "HAIRPIN", "NO_CONNTRACK", "UNKNOWN")
NOOP_TARGETS = {
    "LOG", "NFLOG", "ULOG", "TRACE", "AUDIT", "TCPMSS", "TOS", "DSCP", "TTL", "HL", "CLASSIFY",
    "CHECKSUM", "SET", "SECMARK", "CONNSECMARK", "IDLETIMER", "LED", "RATEEST", "HMARK", "ECN", "TEE",
}
NAT_TARGETS = {"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"}
#: notes of a reply's path that the answer repeats (the rest of a reply's notes stay out of it)
ECHO_REPLY_NOTE = "echo reply:"
_BAD_SOURCES = IntervalSet(((0, 0x00FFFFFF), (0xE0000000, 0xEFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF)))
_ZERONET = IntervalSet(((0, 0x00FFFFFF),))


@dataclass(slots=True)
class Step:
    table: str | None
    chain: str | None
    index: int | None
    line: int | None
    action: str

    def as_dict(self) -> dict:
        return {"table": self.table, "chain": self.chain, "index": self.index, "line": self.line,
                "action": self.action}


@dataclass(slots=True)
class Translation:
    kind: str
    field_from: tuple[str, str]  # (addr field, port field) names before
    before: tuple[int, int]  # var ids of (addr, port) before
    after: tuple[int, int]  # var ids after
    step: Step | None


@dataclass(slots=True)
class Flow:
    """What is concrete along one path: devices, conntrack state, marks, and the record."""

    proto: str
    in_iface: str | None = None
    out_iface: str | None = None
    ctstate: str = "NEW"
    ctdir: str = "ORIGINAL"
    # for a later packet of a connection (a reply, or the next packet of the original
    # direction): the (addr, port) conntrack's NAT binding writes where the nat table would run
    ct_dst: tuple[int, int] | None = None  # the destination becomes this at PREROUTING/OUTPUT
    ct_src: tuple[int, int] | None = None  # the source becomes this at POSTROUTING/INPUT
    ctstatus: set[str] = field(default_factory=set)
    mark: int = 0
    connmark: int = 0
    bridged: bool = False
    untracked: bool = False
    # the packet already has its conntrack entry when it meets raw (a locally generated packet back in
    # through lo; a RST or ICMP error the REJECT target made, which nf_ct_attach gives the entry of
    # the packet it answers): xt_CT's NOTRACK does nothing to it
    looped: bool = False
    tcpflags: int = 0x02  # the first packet of a TCP connection is a SYN
    to_client: bool = False  # an answer that conntrack did not match (a new packet), bound for the client's socket
    trace: list[Step] = field(default_factory=list)
    translations: list[Translation] = field(default_factory=list)
    approximations: list[str] = field(default_factory=list)
    # what the dump does not show that could change any outcome of this path, a block included
    open_ended: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)  # stateful matches taken or not
    notes: list[str] = field(default_factory=list)
    changed_route_by: Step | None = None
    ingress: str | None = None  # the device the packet entered the host on (a bridge for a container)
    dst_changed: bool = False  # a DNAT/REDIRECT changed the destination
    hop: int = 0  # guards against loops


@dataclass(slots=True)
class Delivery:
    kind: str  # socket, container, network
    iface: str | None
    by: str  # kernel, docker-proxy, daemon (a dockerd-held black hole), <process>, container NAME ...
    container: str | None = None
    listener: str | None = None
    # a UDP socket's answer comes from: "dst" (the address the client sent to: a socket bound to it,
    # or one that replies with IP_PKTINFO), "route" (the source the route to the client picks: a
    # wildcard socket without IP_PKTINFO), None (the dump does not tell)
    reply_from: str | None = "dst"


@dataclass(slots=True)
class Outcome:
    verdict: str  # ACCEPT or one of TERMINAL_VERDICTS
    flow: Flow
    blocked_by: Step | None = None
    reason: str | None = None
    delivery: Delivery | None = None
    second_leg: "Outcome | None" = None
    proxy: tuple | None = None


class Path:
    """Runs one path. ``ex`` is the explorer: it owns the header fields and every fork."""

    def __init__(self, host: HostModel, ex, compiler):
        self.host = host
        self.ex = ex
        self.compiler = compiler
        self._facts: dict[str, bool] = {}  # the value each unknown host fact took on this run

    def known(self, flow: Flow, state) -> bool:
        """A host fact's value on this path. One the dump does not show (:class:`Unknown`) is
        explored both ways, its likely value first; the path records which value it took, so an
        answer that turns on it is "possible", never a proof. One value per fact and run."""
        if not isinstance(state, Unknown):
            return state
        if state.key in self._facts:
            return self._facts[state.key]
        texts = (f"{state.text}: taken as {int(state.likely)}", f"{state.text}: taken as {int(not state.likely)}")
        same = self.ex.free_choice(state.text, flow, unknown=True, texts=texts)
        value = state.likely if same else not state.likely
        self._facts[state.key] = value
        return value

    # ------------------------------------------------------------------ chains

    def traverse(self, flow: Flow, table: str, hook: str) -> tuple[str, Step | None]:
        if table not in self.host.tables_known:
            self.unknown_table(flow, table)
        chains = self.host.tables.get(table)
        if chains is None:
            return "ACCEPT", None
        chain = chains.get(hook)
        if chain is None:
            return "ACCEPT", None
        stack: list[tuple] = []
        rules = chain.rules
        i = 0
        depth = 0
        ex = self.ex
        while True:
            if i >= len(rules):
                if stack:
                    chain, i = stack.pop()
                    rules = chain.rules
                    continue
                step = Step(table, hook, None, self.host.tables[table][hook].span.line,
                            f"policy {self.host.tables[table][hook].policy or 'ACCEPT'}")
                flow.trace.append(step)
                policy = self.host.tables[table][hook].policy or "ACCEPT"
                return ("ACCEPT" if policy == "ACCEPT" else "DROP"), step
            rule = rules[i]
            if not ex.rule_matches(rule, self.compiler.compile(rule), flow):
                i += 1
                continue
            target = rule.target
            if target is None:
                i += 1
                continue
            name = target.name
            step = Step(table, chain.name, i + 1, rule.span.line, name)
            if name == "ACCEPT":
                flow.trace.append(step)
                return "ACCEPT", step
            if name in ("DROP", "REJECT"):
                flow.trace.append(step)
                return name, step
            if name == "RETURN":
                flow.trace.append(step)
                if stack:
                    chain, i = stack.pop()
                    rules = chain.rules
                    continue
                i = len(rules)
                continue
            target_chain = chains.get(name)
            if target_chain is not None and target_chain.policy is None:
                depth += 1
                if depth > 10000:
                    flow.approximations.append(f"jump loop through {name}")
                    return "UNKNOWN", step
                step.action = f"{'goto' if target.goto else 'jump'} {name}"
                flow.trace.append(step)
                if not target.goto:
                    stack.append((chain, i + 1))
                chain, rules, i = target_chain, target_chain.rules, 0
                continue
            if name in NAT_TARGETS:
                if table != "nat":
                    flow.approximations.append(f"{name} outside the nat table")
                    return "UNKNOWN", step
                self.nat(flow, rule, step, hook)
                flow.trace.append(step)
                return "ACCEPT", step
            if name in NOOP_TARGETS:
                flow.trace.append(step)
                i += 1
                continue
            if name in ("MARK", "CONNMARK"):
                self.set_mark(flow, rule, step)
                flow.trace.append(step)
                i += 1
                continue
            if name in ("NOTRACK", "CT") and (name == "NOTRACK" or target.option("--notrack")):
                if flow.looped:
                    # xt_CT: "Previously seen (loopback)? Ignore." The entry made in OUTPUT stays
                    step.action += " (no effect: the packet already has its conntrack entry)"
                else:
                    flow.untracked = True
                    flow.ctstate = "UNTRACKED"
                flow.trace.append(step)
                i += 1
                continue
            if name == "CT":
                flow.trace.append(step)
                i += 1
                continue
            # a chain that does not exist, QUEUE/NFQUEUE (userspace decides), TPROXY, unknown targets
            if name in ("QUEUE", "NFQUEUE"):
                what = f"{name}: a userspace program decides"
            elif name in KNOWN_TARGETS:
                what = f"target {name} is not modelled"
            else:
                what = f"{name} is neither a chain of table {table} in the dump nor a target dnlint knows"
            flow.approximations.append(f"{what} ({table} {chain.name} rule {i + 1}, line {rule.span.line})")
            flow.trace.append(step)
            return "UNKNOWN", step

    def unknown_table(self, flow: Flow, table: str) -> None:
        """A table the dump does not show whole (no iptables-save of this family, a listing of another
        table, or of one chain only): the nat and filter tables decide; raw, mangle and security
        are taken as empty, and the answer says so."""
        fam = "ip6tables" if self.host.family == 6 else "iptables"
        shown = self.host.tables.get(table)
        what = (f"the {table} table is shown only in part (one chain listed, or the file cut short)" if shown else
                f"the {fam} {table} table is not in the dump")
        if table in ("nat", "filter") or shown:
            if what not in flow.approximations:
                flow.approximations.append(what)
            if (table == "nat" or shown) and what not in flow.open_ended:
                # a DNAT there could send the packet anywhere; rules after a cut could accept it
                flow.open_ended.append(what)
        elif f"{what}: taken as empty" not in flow.notes:
            flow.notes.append(f"{what}: taken as empty")

    def set_mark(self, flow: Flow, rule: Rule, step: Step) -> None:
        t = rule.target
        which = "connmark" if t.name == "CONNMARK" else "mark"
        cur = flow.connmark if which == "connmark" else flow.mark
        for o in t.options:
            mv = mark_value(o.args[0]) if o.args else None
            if o.name in ("--set-xmark",) and mv:
                v, m = mv
                cur = (cur & ~m & 0xFFFFFFFF) ^ v
            elif o.name == "--set-mark" and mv:
                v, m = mv
                cur = (cur & ~m & 0xFFFFFFFF) | (v & m) if "/" in o.args[0] else v
            elif o.name == "--and-mark" and mv:
                cur &= mv[0]
            elif o.name == "--or-mark" and mv:
                cur |= mv[0]
            elif o.name == "--xor-mark" and mv:
                cur ^= mv[0]
            elif o.name == "--save-mark" and t.name == "CONNMARK":
                flow.connmark = flow.mark
                return
            elif o.name == "--restore-mark" and t.name == "CONNMARK":
                flow.mark = flow.connmark
                return
        if which == "connmark":
            flow.connmark = cur
        else:
            if cur != flow.mark:
                flow.changed_route_by = step
            flow.mark = cur
        step.action = f"{t.name} {which}=0x{cur:x}"

    # ------------------------------------------------------------------ NAT

    def nat(self, flow: Flow, rule: Rule, step: Step, hook: str) -> None:
        t = rule.target
        ex = self.ex
        fam = self.host.family
        name = t.name
        if name == "DNAT":
            opt = t.option("--to-destination") or t.option("--to")
            spec = nat_spec(opt.args[0], fam) if opt and opt.args else None
            if spec is None:
                flow.approximations.append(f"DNAT target not understood (line {rule.span.line})")
                return
            if self._rewrite(flow, "DNAT", "dst", "dport", spec.addr, spec.port, step):
                flow.ctstatus.add("DNAT")
            if hook == "OUTPUT":
                flow.changed_route_by = step
        elif name == "REDIRECT":
            opt = t.option("--to-ports")
            port = port_range(opt.args[0].replace("-", ":")) if opt and opt.args else None
            if flow.in_iface is None:
                addr = (LOOPBACK_V4[0] + 1,) * 2 if fam == 4 else (1, 1)  # locally generated: 127.0.0.1 / ::1
            else:
                a = self.host.primary_address(flow.in_iface)
                if a is None:
                    flow.approximations.append(f"REDIRECT on {flow.in_iface}, whose address is unknown")
                    return
                addr = (a, a)
            if self._rewrite(flow, "REDIRECT", "dst", "dport", addr, port, step):
                flow.ctstatus.add("DNAT")
            if hook == "OUTPUT":
                flow.changed_route_by = step
        elif name in ("SNAT", "MASQUERADE"):
            if name == "SNAT":
                opt = t.option("--to-source") or t.option("--to")
                spec = nat_spec(opt.args[0], fam) if opt and opt.args else None
                if spec is None:
                    flow.approximations.append(f"SNAT target not understood (line {rule.span.line})")
                    return
                addr, port = spec.addr, spec.port
            else:
                out = flow.out_iface
                dst = ex.point("dst")
                nexthop = dst
                if dst is not None:
                    r = self.host.route(dst)
                    nexthop = r.via if r.via is not None else dst
                a = self.host.select_address(out, nexthop) if out else None
                if a is not None and not self.host.addresses_known:
                    what = (f"the address MASQUERADE takes on {out} is not in the dump (no `ip addr` section): "
                            f"{ip_str(a, self.host.family)} stands for it")
                    flow.approximations.append(what)
                    flow.open_ended.append(what)  # whether the source changes decides --ctstate SNAT too
                if a is None:
                    flow.approximations.append(f"MASQUERADE on {out}, whose address is unknown")
                    ex.rewrite_free(flow, "src")
                    step.action = "MASQUERADE"
                    return
                addr = (a, a)
                opt = t.option("--to-ports")
                port = port_range(opt.args[0].replace("-", ":")) if opt and opt.args else None
            if self._rewrite(flow, name, "src", "sport", addr, port, step, keep_port=port is None):
                flow.ctstatus.add("SNAT")
        elif name == "NETMAP":
            flow.approximations.append(f"NETMAP (line {rule.span.line}) is approximated: any address of its prefix")
            opt = t.option("--to")
            from .intervals import cidr_interval

            iv = cidr_interval(opt.args[0], fam) if opt and opt.args else None
            fld = "dst" if hook in ("PREROUTING", "OUTPUT") else "src"
            self._rewrite(flow, "NETMAP", fld, "dport" if fld == "dst" else "sport", iv, None, step)

    def _rewrite(self, flow, kind, afld, pfld, addr, port, step, keep_port=True) -> bool:
        """Apply a NAT mapping; returns whether it changed the tuple. nf_nat_setup_info sets
        the connection's SNAT/DNAT status (what `--ctstate SNAT/DNAT` and br_netfilter's
        re-route look at) only when the new tuple differs from the old one."""
        ex = self.ex
        same_addr = True
        if addr is not None and addr[0] == addr[1]:
            same_addr = ex.holds(afld, IntervalSet.point(addr[0]), flow)
        elif addr is not None:
            same_addr = False
        same = same_addr
        if same and port is not None:
            same = port[0] == port[1] and ex.holds(pfld, IntervalSet.point(port[0]), flow)
        before = (ex.var(afld), ex.var(pfld))
        if addr is not None:
            ex.rewrite(afld, IntervalSet.range(*addr))
        if port is not None:
            ex.rewrite(pfld, IntervalSet.range(*port))
        after = (ex.var(afld), ex.var(pfld))
        flow.translations.append(Translation(kind, (afld, pfld), before, after, step))
        step.action = kind
        if not same_addr and afld == "dst":
            flow.dst_changed = True  # br_netfilter re-routes when the address changed (not the port)
        return not same

    # ------------------------------------------------------------------ routing

    def route(self, flow: Flow) -> RouteResult:
        """Longest prefix match on the current destination; forks where the destination is not fixed."""
        host = self.host
        ex = self.ex
        point = ex.point("dst")
        if point is not None:
            return host.route(point)
        for table in ("local", "main", "default"):
            entries = sorted((r for r in host.routes if r.table == table), key=lambda r: (-r.plen, r.metric))
            for r in entries:
                if r.type in ("broadcast",) and table == "local":
                    continue
                if ex.holds("dst", IntervalSet.range(r.lo, r.hi), flow):
                    return RouteResult(r.type, r.dev, r.via, r.src, r)
        return RouteResult("none" if host.main_routes_shown else "unknown", None, None, None, None)

    def _unknown_route(self, flow: Flow) -> Outcome:
        """No route the dump shows matches, and the dump does not list the main table: the
        kernel's route (a default route, most likely) is unknown, and so is the rest of the path."""
        dst = self.ex.point("dst")
        where = ip_str(dst, self.host.family) if dst is not None else "the destination"
        what = (f"the route to {where} is not in the dump (no `ip {'-6 ' if self.host.family == 6 else ''}route` "
                "section: only the connected routes of the interface addresses are known)")
        flow.approximations.append(what)
        flow.open_ended.append(what)
        return Outcome("UNKNOWN", flow, _kernel_step("route unknown"), reason=what)

    def is_loopback_addr(self, fld: str, flow: Flow) -> bool:
        if self.host.family != 4:
            return self.ex.holds(fld, IntervalSet.point(1), flow)
        return self.ex.holds(fld, IntervalSet.range(*LOOPBACK_V4), flow)

    # ------------------------------------------------------------------ journeys

    def native(self, flow: Flow, hook: str) -> None:
        """Native nftables base chains the kernel runs on this path beside the iptables tables: their
        rules are not modelled, so an answer that passes them is unknown (and a "no" too where a
        nat or route chain could send the packet elsewhere). An empty chain with policy accept
        changes nothing."""
        h = hook.lower()
        for nc in self.host.native_chains:
            if nc.rules == 0 and (nc.policy or "accept") == "accept":
                continue
            if nc.layer == "ip":
                hit = nc.hook == h or (nc.hook == "ingress" and h == "prerouting" and nc.device in (None, flow.in_iface))
            elif nc.layer == "bridge":
                hit = bool({flow.in_iface, flow.out_iface, flow.ingress} & self.host.bridges)
            elif nc.layer == "netdev":
                hit = nc.device in (flow.in_iface, flow.out_iface, flow.ingress) or nc.device is None
            else:
                hit = False  # arp: neighbour resolution, not this packet
            if not hit:
                continue
            what = (f"native nftables {nc.describe}, line {nc.span.line}, is on this path "
                    f"({'the bridge layer' if nc.layer == 'bridge' else nc.hook + ' hook'}); the iptables model "
                    "does not see its rules")
            if what not in flow.approximations:
                flow.approximations.append(what)
                if nc.type in ("nat", "route"):
                    flow.open_ended.append(what)

    def hooks(self, flow: Flow, hook: str, tables: tuple[str, ...]) -> tuple[str, Step | None]:
        if self.host.native_chains:
            self.native(flow, hook)
        for table in tables:
            if table == "nat" and (flow.untracked or flow.ctstate != "NEW"):
                if not flow.untracked:  # an untracked packet (raw NOTRACK) gets no NAT at all
                    self.conntrack_nat(flow, hook)
                continue
            verdict, step = self.traverse(flow, table, hook)
            if verdict != "ACCEPT":
                return verdict, step
        return "ACCEPT", None

    def conntrack_nat(self, flow: Flow, hook: str) -> None:
        """conntrack applies a connection's NAT binding to its later packets where the nat table
        would run (the nat table itself sees only the first packet): the destination at
        PREROUTING/OUTPUT, the source at POSTROUTING/INPUT. For a reply that undoes the SNAT
        and the DNAT; for the next packets of the original direction it repeats them."""
        ex = self.ex
        which = "reply's" if flow.ctdir == "REPLY" else "packet's"
        if hook in ("PREROUTING", "OUTPUT") and flow.ct_dst is not None:
            addr, port = flow.ct_dst
            if ex.point("dst") != addr:
                flow.dst_changed = True
            ex.rewrite("dst", IntervalSet.point(addr))
            ex.rewrite("dport", IntervalSet.point(port))
            flow.trace.append(Step(None, None, None, None, f"conntrack rewrites the {which} destination ({hook})"))
            flow.ct_dst = None
            if hook == "OUTPUT":
                flow.changed_route_by = flow.trace[-1]
        elif hook in ("POSTROUTING", "INPUT") and flow.ct_src is not None:
            addr, port = flow.ct_src
            ex.rewrite("src", IntervalSet.point(addr))
            ex.rewrite("sport", IntervalSet.point(port))
            flow.trace.append(Step(None, None, None, None, f"conntrack rewrites the {which} source ({hook})"))
            flow.ct_src = None

    def from_local(self, flow: Flow) -> Outcome:
        """A socket on the host connects: OUTPUT, (re-route), POSTROUTING, then out or back in on lo."""
        host = self.host
        r = self.route(flow)
        if r.type == "unknown":
            return self._unknown_route(flow)
        if r.type not in ("local", "unicast"):
            return Outcome("NO_ROUTE", flow, Step(None, None, None, r.entry.span.line if r.entry and r.entry.span else None,
                                                  "no route"), reason=_no_route_reason(r))
        flow.out_iface = "lo" if r.type == "local" else r.dev
        flow.in_iface = None
        new_out = None
        for tables in (("raw", "mangle"), ("nat",), ("filter", "security")):
            dst_var, mark0 = self.ex.var("dst"), flow.mark
            verdict, step = self.hooks(flow, "OUTPUT", tables)
            if verdict != "ACCEPT":
                return Outcome(verdict, flow, step)
            if tables[-1] in ("mangle", "nat") and (self.ex.var("dst") != dst_var or flow.mark != mark0):
                # ip_route_me_harder, called by the mangle and nat OUTPUT hooks themselves when
                # they changed the destination or the mark. The hook's own state keeps the
                # device of the first route, so `-o` in the rest of OUTPUT still matches that
                # one; POSTROUTING sees the new device.
                hook_out = flow.out_iface
                blocked = self.reroute_local(flow)
                if blocked is not None:
                    return blocked
                new_out, flow.out_iface = flow.out_iface, hook_out
        if new_out is not None:
            flow.out_iface = new_out
        verdict, step = self.hooks(flow, "POSTROUTING", ("mangle", "nat"))
        if verdict != "ACCEPT":
            return Outcome(verdict, flow, step)
        if flow.out_iface == "lo":
            return self.loopback_input(flow)
        return self.transmit(flow)

    def reroute_local(self, flow: Flow) -> Outcome | None:
        host = self.host
        r = self.route(flow)
        if r.type == "unknown":
            return self._unknown_route(flow)
        if r.type not in ("local", "unicast"):
            return Outcome("NO_ROUTE", flow, flow.changed_route_by, reason=_no_route_reason(r))
        out = "lo" if r.type == "local" else r.dev
        if (out != "lo" and host.family == 4 and self.is_loopback_addr("src", flow)
                and not self.known(flow, host.route_localnet_state(out))):
            return Outcome("MARTIAN", flow, flow.changed_route_by,
                           reason=f"a 127.0.0.0/8 source may not leave through {out} while "
                                  f"net.ipv4.conf.{out}.route_localnet=0 (the kernel drops it when the "
                                  "route is looked up again after nat OUTPUT)")
        flow.out_iface = out
        return None

    def loopback_input(self, flow: Flow) -> Outcome:
        flow.in_iface, flow.out_iface = "lo", None
        flow.looped = True
        verdict, step = self.hooks(flow, "PREROUTING", ("raw", "mangle"))
        if verdict != "ACCEPT":
            return Outcome(verdict, flow, step)
        verdict, step = self.hooks(flow, "INPUT", ("mangle", "filter", "security"))
        if verdict != "ACCEPT":
            return Outcome(verdict, flow, step)
        return self.deliver_local(flow)

    def from_iface(self, flow: Flow, iface: str, *, skip_prerouting: bool = False) -> Outcome:
        """A packet arrives on ``iface``: PREROUTING, the input route decision, INPUT or FORWARD."""
        host = self.host
        flow.in_iface, flow.out_iface = iface, None
        flow.ingress = iface
        # IPv6: ip6_rcv_core's loopback check runs before the IP layer's PREROUTING, unless
        # br_netfilter already ran PREROUTING at the bridge layer (then it sees the result)
        v6 = host.family == 6 and iface != "lo"

        def bridge_layer_prerouting() -> bool:
            return skip_prerouting or (iface in host.bridges and self.known(flow, host.bridge_nf_state()))

        if v6 and not skip_prerouting:
            blocked = self._v6_loopback_on_wire(flow, iface, applies=lambda: not bridge_layer_prerouting())
            if blocked is not None:
                return blocked
        if not skip_prerouting:
            verdict, step = self.hooks(flow, "PREROUTING", ("raw", "mangle", "nat"))
            if verdict != "ACCEPT":
                return Outcome(verdict, flow, step)
        if v6:
            blocked = self._v6_loopback_on_wire(flow, iface, applies=bridge_layer_prerouting)
            if blocked is not None:
                return blocked
        if host.family == 4 and iface != "lo":
            rl = None
            # ip_route_input_slow: multicast, limited broadcast and 0.0.0.0/8 sources are martians
            if self.ex.holds("src", _BAD_SOURCES, flow):
                return Outcome("MARTIAN", flow, _kernel_step("martian source"),
                               reason=f"martian source: a multicast, broadcast or 0.0.0.0/8 source arrived on {iface}")
            if self.ex.holds("dst", _ZERONET, flow):
                return Outcome("MARTIAN", flow, flow.changed_route_by or _kernel_step("martian destination"),
                               reason=f"martian destination: a 0.0.0.0/8 destination arrived on {iface} "
                                      "(ip_route_input_slow drops it; only the host itself can send to 0.0.0.0, "
                                      "which it turns into 127.0.0.1)")
            if self.is_loopback_addr("src", flow):
                rl = self.known(flow, host.route_localnet_state(iface))
                if not rl:
                    return Outcome("MARTIAN", flow, _kernel_step("martian source"),
                                   reason=f"martian source: a 127.0.0.0/8 source arrived on {iface} "
                                          f"and net.ipv4.conf.{iface}.route_localnet=0")
            if self.is_loopback_addr("dst", flow):
                rl = self.known(flow, host.route_localnet_state(iface)) if rl is None else rl
                if not rl:
                    return Outcome("MARTIAN", flow, flow.changed_route_by or _kernel_step("martian destination"),
                                   reason=f"martian destination: a 127.0.0.0/8 destination on {iface} "
                                          f"and net.ipv4.conf.{iface}.route_localnet=0")
            if self.ex.holds("src", host.local_addrs, flow) and not self.known(flow, host.accept_local_state(iface)):
                return Outcome("MARTIAN", flow, _kernel_step("martian source"),
                               reason=f"martian source: a packet from one of the host's own addresses arrived "
                                      f"on {iface} (accept_local=0)")
        r = self.route(flow)
        if r.type == "local":
            verdict, step = self.hooks(flow, "INPUT", ("mangle", "filter", "security", "nat"))
            if verdict != "ACCEPT":
                return Outcome(verdict, flow, step)
            return self.deliver_local(flow)
        if r.type == "unknown":
            return self._unknown_route(flow)
        if r.type != "unicast":
            return Outcome("NO_ROUTE", flow, _kernel_step("no route"), reason=_no_route_reason(r))
        if not self.known(flow, host.forwarding_state(iface)):
            return Outcome("FORWARDING_DISABLED", flow, _kernel_step("forwarding disabled"),
                           reason=f"forwarding is disabled on {iface} (net.ipv4.ip_forward / "
                                  f"net.ipv4.conf.{iface}.forwarding = 0)")
        flow.out_iface = r.dev
        return self.forward_out(flow)

    def _v6_loopback_on_wire(self, flow: Flow, iface: str, applies=lambda: True) -> Outcome | None:
        """ip6_rcv_core: ::1 as source or destination on a non-loopback device is dropped
        (no sysctl relaxes it, unlike IPv4's route_localnet). ``applies``: whether the check
        runs at this point of the path (asked only for a packet that holds ::1)."""
        for fld in ("src", "dst"):
            if self.is_loopback_addr(fld, flow) and applies():
                what = "source" if fld == "src" else "destination"
                return Outcome("MARTIAN", flow, (flow.changed_route_by if fld == "dst" else None)
                               or _kernel_step(f"loopback {what} on {iface}"),
                               reason=f"a packet with the loopback {what} ::1 arrived on {iface}: the kernel "
                                      "drops ::1 on any non-loopback device (ip6_rcv_core; IPv6 has no "
                                      "route_localnet)")
        return None

    def forward_out(self, flow: Flow) -> Outcome:
        """FORWARD, POSTROUTING, then out of ``flow.out_iface``."""
        verdict, step = self.hooks(flow, "FORWARD", ("mangle", "filter", "security"))
        if verdict != "ACCEPT":
            return Outcome(verdict, flow, step)
        verdict, step = self.hooks(flow, "POSTROUTING", ("mangle", "nat"))
        if verdict != "ACCEPT":
            return Outcome(verdict, flow, step)
        return self.transmit(flow)

    def bridged(self, flow: Flow, bridge: str) -> Outcome:
        """A frame between two ports of ``bridge`` (one container to another on the same network)."""
        host = self.host
        flow.bridged = True
        flow.ingress = bridge
        if not self.known(flow, host.bridge_nf_state()):
            flow.notes.append(f"bridged on {bridge} without iptables (bridge-nf-call-iptables=0)")
            flow.out_iface = bridge
            return self.transmit(flow)
        flow.in_iface, flow.out_iface = bridge, None
        verdict, step = self.hooks(flow, "PREROUTING", ("raw", "mangle", "nat"))
        if verdict != "ACCEPT":
            return Outcome(verdict, flow, step)
        if flow.dst_changed:
            # br_netfilter: a DNATed bridged packet is routed, not bridged
            flow.bridged = False
            return self.from_iface(flow, bridge, skip_prerouting=True)
        flow.out_iface = bridge
        return self.forward_out(flow)

    # ------------------------------------------------------------------ delivery

    def transmit(self, flow: Flow) -> Outcome:
        """The packet leaves the host on ``out``. The receiver is another stack with its own
        martian checks (default sysctls assumed): it drops a packet whose source is its own
        address (a hairpin DNAT back to the sender without MASQUERADE) or a 127/8 source
        (a loopback DNAT without MASQUERADE)."""
        host = self.host
        out = flow.out_iface
        ex = self.ex
        if flow.ctstate != "NEW" and (flow.ct_dst or flow.ct_src) and not self._echo_reply_taken(flow):
            return self._not_unnatted(flow)
        if host.family == 4 and self.is_loopback_addr("src", flow):
            # in either direction: a reply that conntrack did not translate back (raw NOTRACK on
            # the host's answer to a loopback DNAT) keeps its 127/8 source too
            return Outcome("MARTIAN", flow, _kernel_step("receiver's martian check"),
                           reason=f"the packet leaves {out} with a 127.0.0.0/8 source (no MASQUERADE after the "
                                  "loopback DNAT, or a reply conntrack did not translate back); the receiving "
                                  "stack drops it as a martian source")
        if host.family == 6 and self.is_loopback_addr("src", flow):
            return Outcome("MARTIAN", flow, _kernel_step("receiver's loopback check"),
                           reason=f"the packet leaves {out} with the loopback source ::1 (no MASQUERADE after "
                                  "a DNAT of ::1); the receiving stack drops it (ip6_rcv_core)")
        if (flow.ctdir == "ORIGINAL" and out == flow.ingress and out in host.bridges
                and ex.equal("osrc", "dst", flow) and self.known(flow, host.bridge_nf_state())
                and not self._hairpin(flow, out)):
            # br_netfilter bridges a packet DNATed back onto its own bridge; a bridge port does
            # not send a frame back out the port it came in on unless hairpin mode is on
            return Outcome("HAIRPIN", flow, flow.changed_route_by or _kernel_step("bridge hairpin"),
                           reason=f"the packet is DNATed back to its sender on {out}, and the bridge does not "
                                  "send a frame back out the port it came in on (hairpin mode off)")
        if flow.ctdir == "ORIGINAL" and ex.equal("src", "dst", flow):
            return Outcome("MARTIAN", flow, _kernel_step("receiver's martian check"),
                           reason="the packet comes back to its sender with the sender's own address as source "
                                  "(a hairpin DNAT without MASQUERADE): the sender's stack drops it")
        dst = ex.point("dst")
        if dst is None:  # a range of destinations: which container (if any) gets it is a fork
            for ep in host.endpoints:
                if (ep.bridge is None or ep.bridge == out) and ex.holds("dst", IntervalSet.point(ep.ip), flow):
                    dst = ep.ip
                    break
        if dst is not None:
            ep = host.endpoint_by_ip(dst)
            if ep is not None and (ep.bridge is None or ep.bridge == out):
                return Outcome("ACCEPT", flow, delivery=Delivery("container", out, f"container {ep.container}",
                                                                 container=ep.container))
        return Outcome("ACCEPT", flow, delivery=Delivery("network", out, f"the network on {out}"))

    def _hairpin(self, flow: Flow, bridge: str) -> bool:
        mode = self.known(flow, self.host.hairpin_state(bridge))
        if mode is None:
            flow.approximations.append(f"the ports of {bridge} differ in hairpin mode and the dump does not "
                                       "say which one is the sender's")
            return True
        return mode

    def _echo_reply_taken(self, flow: Flow) -> bool:
        """An ICMP echo reply that bypassed the host's conntrack (a sibling's DNAT answered
        straight over the bridge) keeps the DNAT target as its source, but its destination
        and echo id are the sender's own (no SNAT to undo). Unlike a TCP or UDP socket, a
        ping socket takes an echo reply by its echo id from any address (``ping_lookup``; a
        raw-socket ping matches the id too): the ping gets its answer, from another address
        (iputils ping marks it "DIFFERENT ADDRESS!")."""
        if flow.ctdir != "REPLY" or flow.proto not in ("icmp", "icmpv6") or flow.ct_dst is not None:
            return False
        fam = self.host.family
        addr, _port = flow.ct_src
        src = self.ex.point("src")
        flow.notes.append(f"{ECHO_REPLY_NOTE} the echo reply is not translated back (it never met the host's "
                          f"conntrack), so it comes from {ip_str(src, fam) if src is not None else 'the DNAT target'} "
                          f"instead of {ip_str(addr, fam)}; a ping takes an echo reply by its echo id from any "
                          "address (iputils ping marks it \"DIFFERENT ADDRESS!\")")
        flow.ct_src = None
        return True

    def _not_unnatted(self, flow: Flow) -> Outcome:
        why = ("it was not tracked (raw NOTRACK)" if flow.untracked else
               "it went straight back over the bridge and never met the host's conntrack "
               "(bridge-nf-call-iptables=0)" if flow.bridged else "it missed the host's conntrack")
        if flow.ctdir == "REPLY":
            return Outcome("NO_CONNTRACK", flow, _kernel_step("reply not un-NATed"),
                           reason=f"the reply is not translated back because {why}: the sender sees an answer "
                                  "from an address it did not talk to and drops it")
        return Outcome("NO_CONNTRACK", flow, _kernel_step("packet not NATed"),
                       reason=f"the connection's next packets are not translated because {why}")

    def _sockets(self, proto: str) -> list[tuple[int, int | None]]:
        """(port, address or None for a wildcard) of every socket that can take ``proto``."""
        host = self.host
        out: list[tuple[int, int | None]] = []
        for ls in host.listeners:
            if ls.proto != proto or not ls.port:
                continue
            if ls.family != host.family and not (host.family == 4 and ls.address in ("::", "*")
                                                 and ls.v6only is not True):
                continue
            out.append((ls.port, _socket_addr(ls.address) if ls.family == host.family else None))
        for p in host.proxies:
            if p.proto == proto and host.proxy_serves_family(p):
                out.append((p.host_port, _socket_addr(p.host_ip)))
        return list(dict.fromkeys(out))

    def deliver_local(self, flow: Flow) -> Outcome:
        host = self.host
        ex = self.ex
        if flow.ctstate != "NEW" and (flow.ct_dst or flow.ct_src):
            return self._not_unnatted(flow)
        if flow.ctdir == "REPLY" or flow.to_client:
            return Outcome("ACCEPT", flow, delivery=Delivery("socket", flow.in_iface, "the sender"))
        dst, dport = ex.point("dst"), ex.point("dport")
        proto = flow.proto
        if proto not in ("tcp", "udp", "sctp"):
            return Outcome("ACCEPT", flow, delivery=Delivery("socket", flow.in_iface, "kernel"))
        covered = host.listeners_cover(proto)
        if dst is None or dport is None:
            # the query leaves the port (or address) open: fork over the sockets that exist
            for port, addr in self._sockets(proto):
                if not ex.holds("dport", IntervalSet.point(port), flow):
                    continue
                if addr is not None and not ex.holds("dst", IntervalSet.point(addr), flow):
                    continue
                break
            dst, dport = ex.point("dst"), ex.point("dport")
            if dport is None:
                if covered:
                    return Outcome("NO_LISTENER", flow, _kernel_step("no listener"), reason=_no_listener(proto))
                return self._unknown_socket(flow, proto, None)
            if dst is None:
                dst = ex.domain("dst").min()
        proxy = host.proxy_for(proto, dst, dport)
        listener = host.listener_for(proto, dst, dport)
        if proxy is not None and (listener is None or (listener.process or "").startswith(("docker-pr", "exe"))
                                  or listener.pid == proxy.pid):
            if proxy.why:
                flow.notes.append(proxy.why)
            reply_from = "dst"
            if proto == "udp" and proxy.host_ip in ("0.0.0.0", "::", "", "*"):
                new = host.docker.udp_proxy_answers_from_dst() if host.docker else None
                reply_from = None if new is None else ("dst" if new else "route")
            return Outcome("ACCEPT", flow, delivery=Delivery("socket", flow.in_iface, "docker-proxy",
                                                             listener=_listener_text(listener), reply_from=reply_from),
                           proxy=(proxy.container_ip, proxy.container_port))
        if listener is not None:
            prog = listener.process or "a process"
            if prog in ("dockerd", "docker", "dockerd-current") and (
                    host.dockerd.get("--userland-proxy") is False or host.published_port(proto, dport)):
                return self._daemon_hole(flow, proto, dport, _listener_text(listener))
            wildcard = listener.address in ("*", "0.0.0.0", "::", "")
            return Outcome("ACCEPT", flow, delivery=Delivery("socket", flow.in_iface, prog,
                                                             listener=_listener_text(listener),
                                                             reply_from=None if proto == "udp" and wildcard else "dst"))
        held = host.daemon_port_for(proto, dst, dport)
        if held is not None:
            flow.notes.append(f"dockerd holds {proto} port {dport} ({held.sources[0]} publishes it and the userland "
                              "proxy is off: the daemon binds the port to reserve it)")
            return self._daemon_hole(flow, proto, dport, None)
        if covered:
            return Outcome("NO_LISTENER", flow, _kernel_step("no listener"), reason=_no_listener(proto))
        return self._unknown_socket(flow, proto, dport)

    def _daemon_hole(self, flow: Flow, proto: str, dport: int, listener: str | None) -> Outcome:
        return Outcome("BLACKHOLE", flow, _kernel_step("daemon socket"),
                       reason=f"dockerd holds {proto} port {dport} (userland-proxy=false) and nothing "
                              "forwards what reaches its socket: the handshake completes (dockerd 28 accepts "
                              "nothing, so only the first ones do), no data flows",
                       delivery=Delivery("socket", flow.in_iface, "daemon", listener=listener))

    def _unknown_socket(self, flow: Flow, proto: str, dport: int | None) -> Outcome:
        """The packet reaches a local socket the dump cannot name: whatever listens (or does not)
        is outside every section's scope, so the answer turns on it."""
        flow.approximations.append(self.host.listeners_unknown_text(proto, dport))
        return Outcome("ACCEPT", flow, delivery=Delivery("socket", flow.in_iface, "unknown"))


def _no_listener(proto: str) -> str:
    return (f"nothing listens on the {proto} destination port (per the ss/netstat section): "
            + ("the connection is refused" if proto == "tcp" else "the packet is answered with ICMP port unreachable"))


def _socket_addr(address: str) -> int | None:
    """A listener's address as an int, or None for a wildcard (0.0.0.0, ::, *)."""
    from .intervals import ip_int

    if address in ("*", "0.0.0.0", "::", ""):
        return None
    return ip_int(address)


def _listener_text(ls) -> str | None:
    if ls is None:
        return None
    return f"{ls.proto} {ls.address}:{ls.port}" + (f" ({ls.process})" if ls.process else "")


def _kernel_step(action: str) -> Step:
    return Step(None, None, None, None, action)


def _no_route_reason(r: RouteResult) -> str:
    if r.type in ("blackhole", "unreachable", "prohibit"):
        return f"the route is of type {r.type}"
    return "no route to the destination"
