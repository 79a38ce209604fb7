"""``dnlint query``: can A reach B on port P? Endpoints, the search, and the explained answer.

Python API::

    from dnlint.load import load_dump
    from dnlint.engine.query import query_dump
    answer = query_dump(load_dump("host.txt"), "host", "127.0.0.1", 80, "tcp")
    answer.reachable, answer.verdict, answer.witness, answer.path, answer.blocked_by
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..ir import HostDump
from ..model.host import LOOPBACK_V4, HostModel, build_host
from ..model.intervals import IntervalSet, addr_max, cidr_interval, ip_int, ip_str
from ..model.matches import RuleCompiler, addrtype_classes
from ..model.path import ECHO_REPLY_NOTE, Flow, Outcome, Path, Step
from ..model.values import PROTOCOLS
from .answer import Answer
from .explore import Exploration, Leaf, explore


class EndpointError(ValueError):
    """An endpoint that cannot be resolved against the dump (unknown container, bad address)."""


@dataclass
class Origin:
    kind: str  # local, iface, bridged
    iface: str | None
    src: IntervalSet | None  # None: chosen by the host's routing (local origin)
    text: str
    no_route: str | None = None  # why the sender has no route to the destination (it sends nothing)
    alternatives: list["Origin"] | None = None  # `outside` on a bare rule set: each interface it may arrive on
    unknown: str | None = None  # a fact of the sender's link the dump does not show (the answer turns on it)


@dataclass
class Engine:
    host: HostModel
    compiler: RuleCompiler
    variants: dict | None = None

    def with_local(self, addr: int) -> "Engine":
        """The same host with ``addr`` one of its own addresses (on the first uplink of a bare rule
        set): whether it is, the dump does not say."""
        from dataclasses import replace

        from ..model.host import RouteEntry

        if self.variants is None:
            self.variants = {}
        key = ("local", addr)
        if key not in self.variants:
            h = self.host
            dev = h.outside_ifaces[0] if h.outside_ifaces else "lo"
            entry = RouteEntry(addr, addr, 32 if h.family == 4 else 128, "local", "local", dev, None, addr, 0, None)
            local = h.local_addrs.union(IntervalSet.point(addr))
            by_iface = dict(h.local_by_iface)
            by_iface[dev] = by_iface.get(dev, IntervalSet()).union(IntervalSet.point(addr))
            ifaces = {k: list(v) for k, v in h.ifaces.items()}
            ifaces.setdefault(dev, []).append((addr, 32 if h.family == 4 else 128))
            host = replace(h, routes=[*h.routes, entry], local_addrs=local, local_by_iface=by_iface, ifaces=ifaces)
            classes = addrtype_classes(h.family, local, host.routes)
            comp = RuleCompiler(h.family, local, classes, by_iface, self.compiler.ipsets)
            self.variants[key] = Engine(host, comp)
        return self.variants[key]

    def via(self, dev: str) -> "Engine":
        """The same host with its default route through ``dev`` (a bare rule set: `outside` may arrive
        on any of several interfaces, and its replies leave the way it came)."""
        from dataclasses import replace

        from ..model.host import RouteEntry

        if self.variants is None:
            self.variants = {}
        if dev not in self.variants:
            fam = self.host.family
            default = RouteEntry(0, addr_max(fam), 0, "unicast", "main", dev, None, None, 0, None)
            host = replace(self.host, routes=[*self.host.routes, default])
            self.variants[dev] = Engine(host, self.compiler)
        return self.variants[dev]


def engine_for(dump: HostDump, family: int = 4) -> Engine:
    host = build_host(dump, family)
    classes = addrtype_classes(family, host.local_addrs, host.routes)
    ipsets = {s.name: s for s in dump.facts.ipsets if s.family == family}
    return Engine(host, RuleCompiler(family, host.local_addrs, classes, host.local_by_iface, ipsets))


# --------------------------------------------------------------------------- endpoints


def _net_range(text: str, family: int) -> IntervalSet | None:
    iv = cidr_interval(text, family)
    return IntervalSet.range(*iv) if iv else None


def network_hosts(host: HostModel, net) -> IntervalSet:
    """The addresses a container of a Docker network can hold: its subnets without the
    gateways (host addresses), the network and the broadcast address."""
    fam = host.family
    full = IntervalSet.range(0, addr_max(fam))
    out = IntervalSet()
    for lo, hi in net[1]:
        inner = IntervalSet.range(lo + 1, hi - 1) if hi - lo >= 2 and fam == 4 else IntervalSet.range(lo, hi)
        out = out.union(inner)
    for g in net[2]:
        out = out.intersect(IntervalSet.point(g).complement(*full.ivs[0]))
    return out.intersect(host.local_addrs.complement(*full.ivs[0]))


def docker_name(host: HostModel, kind: str, text: str) -> str:
    """The inventory name a ``container:``/``network:`` endpoint means: the name as docker
    prints it (a leading "/" allowed) or an unambiguous id prefix (4 characters or more)."""
    known = sorted({e.container for e in host.endpoints} | set(host.container_ports) if kind == "container"
                   else set(host.networks))
    name = text.lstrip("/") if kind == "container" else text
    if name in known:
        return name
    if len(name) >= 4:
        hits = {n for i, n in host.ids.items() if i.startswith(name.lower()) and n in known}
        if len(hits) == 1:
            return hits.pop()
        if len(hits) > 1:
            raise EndpointError(f"{kind} id {name!r} is ambiguous: {', '.join(sorted(hits))}")
    what = "container named" if kind == "container" else "Docker network named"
    listed = f" (the dump has: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''})" if known else \
        " (the dump has no Docker inventory: add `docker inspect` / `docker network inspect` output)"
    raise EndpointError(f"no {what} {text!r} in the dump's Docker inventory{listed}")


def resolve_destination(host: HostModel, text: str) -> IntervalSet:
    fam = host.family
    if text.startswith("container:"):
        name = docker_name(host, "container", text.split(":", 1)[1])
        eps = [e for e in host.endpoints if e.container == name]
        return IntervalSet(((e.ip, e.ip) for e in eps))
    if text.startswith("network:"):
        name = docker_name(host, "network", text.split(":", 1)[1])
        return network_hosts(host, host.networks[name])
    if text == "host":
        loc = host.local_addrs
        return loc.intersect(IntervalSet.range(*LOOPBACK_V4).complement(0, addr_max(fam))) if fam == 4 else loc
    if text == "outside":
        # any address beyond the default route (a bare rule set: beyond any interface it may use)
        if host.default_route_dev() is None and not host.outside_ifaces:
            raise EndpointError("the dump has no default route, so `outside` has no address")
        out = _routed_via(host, None)
        if not out:
            raise EndpointError("every address has a route of its own here: `outside` has no address")
        return out
    s = _net_range(text, fam)
    if s is None:
        raise EndpointError(f"{text!r} is not an IPv{fam} address or CIDR, nor host, container:NAME or network:NAME")
    return s


def resolve_origin(host: HostModel, text: str, dst: IntervalSet) -> Origin:
    fam = host.family
    full = IntervalSet.range(0, addr_max(fam))
    dst_point = dst.min() if dst.is_point() else None
    if text == "host":
        return Origin("local", None, None, "host")
    if text.startswith("container:") or text.startswith("network:"):
        kind, name = text.split(":", 1)
        name = docker_name(host, kind, name)
        if kind == "container":
            eps = [e for e in host.endpoints if e.container == name]
            ep = None
            if dst_point is not None:
                for e in eps:
                    subnets = host.networks.get(e.network, (None, [], [], False))[1]
                    if any(lo <= dst_point <= hi for lo, hi in subnets):
                        ep = e
                        break
            if ep is None and dst_point is not None and all(e.has_gateway is False for e in eps):
                # no default route in the container (an --internal network since Docker 25):
                # connect() fails with ENETUNREACH before the host sees a packet
                e = eps[0]
                nets = ", ".join(sorted({x.network for x in eps}))
                return Origin("bridged", e.bridge, IntervalSet.point(e.ip), text,
                              no_route=f"container {name} has no route to this address: it has no gateway "
                                       f"(docker inspect: Gateway \"\" on {nets}), so only its own "
                                       f"subnets are reachable and the connection fails in the container "
                                       f"(network unreachable) before the host sees a packet")
            if ep is None:  # off its subnets: out through the network with the default route
                ep = next((e for e in eps if e.has_gateway is not False), eps[0])
            src = IntervalSet.point(ep.ip)
            network = ep.network
        else:
            src = network_hosts(host, host.networks[name])
            network = name
        bridge, subnets, gws, _internal = host.networks.get(network, (None, [], [], False))
        if bridge is None:
            raise EndpointError(f"the bridge of network {network!r} is not known")
        return _bridge_origin(host, bridge, subnets, gws, src, dst, text)
    if text.startswith("iface:"):
        name = text.split(":", 1)[1]
        src = full
        if fam == 4:  # sources the kernel drops on any interface (martians) are no witnesses
            for lo, hi in ((0, 0x00FFFFFF), (0xE0000000, 0xFFFFFFFF)):
                src = src.intersect(IntervalSet.range(lo, hi).complement(*full.ivs[0]))
        return Origin("iface", name, src, text)
    if text == "outside":
        dev = host.default_route_dev()
        if dev is None and host.outside_ifaces:
            # a bare rule set: any interface the rules do not treat as a bridge (each is a real way in)
            alts = [Origin("iface", d, _routed_via(host, d), f"outside (via {d})") for d in host.outside_ifaces]
            first = alts[0]
            return Origin(first.kind, first.iface, first.src, first.text, alternatives=alts)
        if dev is None:
            raise EndpointError("the dump has no default route, so `outside` has no interface")
        src = _routed_via(host, dev)
        return Origin("iface", dev, src, f"outside (via {dev})")
    s = _net_range(text, fam)
    if s is None:
        raise EndpointError(f"{text!r} is not an IPv{fam} address or CIDR, nor host, outside, iface:NAME, "
                            "container:NAME or network:NAME")
    if s.is_point() and host.is_local(s.min()):
        return Origin("local", None, s, f"host ({text})")
    if not s.is_point():
        # a network's packets arriving at the host come from its other addresses (one of the
        # host's own would be a martian source, no witness for what the network can reach)
        rest = s.intersect(host.local_addrs.complement(*full.ivs[0]))
        if fam == 4 and rest and s.ivs[0][1] - s.ivs[0][0] >= 3 and len(s.ivs) == 1:
            # nor its network and broadcast addresses, which no host of it sends from
            lo, hi = s.ivs[0]
            rest = rest.intersect(IntervalSet.range(lo + 1, hi - 1))
        s = rest or s
    r = host.route(s.min())
    if r.dev is None and r.type == "unknown" and host.outside_ifaces:
        # a bare rule set: the address arrives the way `outside` does, on any interface the rules
        # do not treat as a bridge
        alts = [Origin("iface", d, s, f"{text} (via {d})") for d in host.outside_ifaces]
        return Origin("iface", alts[0].iface, s, alts[0].text, alternatives=alts)
    if r.dev is None:
        raise EndpointError(f"the host has no route back to {text}, so the interface it arrives on is unknown")
    for name, (bridge, subnets, gws, _i) in host.networks.items():
        if bridge == r.dev:
            return _bridge_origin(host, bridge, subnets, gws, s, dst, text)
    if r.dev in host.bridges:
        subnets = [(e.lo, e.hi) for e in host.routes if e.dev == r.dev and e.table == "main" and e.type == "unicast"]
        gws = [a for a, _p in host.ifaces.get(r.dev, [])]
        return _bridge_origin(host, r.dev, subnets, gws, s, dst, text)
    o = Origin("iface", r.dev, s, f"{text} (via {r.dev})")
    if host.maybe_bridge(r.dev) is None and dst.is_point() and r.via is None and \
            host.route(dst.min()).dev == r.dev and not host.is_local(dst.min()):
        o.unknown = _kind_unknown(r.dev)
    return o


def _kind_unknown(dev: str) -> str:
    return (f"whether {dev} is a bridge is not in the dump (no `ip -d link` section): between two addresses of its "
            f"link the frames go over the bridge (through the host's netfilter only with br_netfilter) or, on a "
            "plain link, never through the host")


def _bridge_origin(host, bridge, subnets, gws, src, dst, text) -> Origin:
    """A sender behind a bridge: a destination in its own subnet (not the gateway) is reached on L2."""
    if dst.is_point():
        d = dst.min()
        if any(lo <= d <= hi for lo, hi in subnets) and d not in gws and not host.is_local(d):
            return Origin("bridged", bridge, src, text)
    return Origin("iface", bridge, src, text)


def _routed_via(host: HostModel, dev: str | None) -> IntervalSet:
    """Addresses whose best route (main table) leaves through ``dev``: where `outside` comes from.
    ``dev`` None: the addresses only a default route covers (beyond every link's own network),
    where `outside` as a destination is."""
    fam = host.family
    full = IntervalSet.range(0, addr_max(fam))
    out = full
    for r in host.routes:
        if r.table == "main" and (dev is None or r.dev != dev) and r.plen > 0:
            out = out.intersect(IntervalSet.range(r.lo, r.hi).complement(*full.ivs[0]))
    out = out.intersect(host.local_addrs.complement(*full.ivs[0]))
    if fam == 4:
        out = out.intersect(IntervalSet.range(0xE0000000, 0xFFFFFFFF).complement(*full.ivs[0]))
        out = out.intersect(IntervalSet.range(0, 0x00FFFFFF).complement(*full.ivs[0]))
    return out


# --------------------------------------------------------------------------- the search


def _run_origin(eng: Engine, origin: Origin, proto: str, unknown_source: str | None = None):
    host = eng.host

    def body(run):
        flow = Flow(proto=proto)
        if unknown_source:
            flow.approximations.append(unknown_source)
        if origin.unknown:
            flow.approximations.append(origin.unknown)
            flow.open_ended.append(origin.unknown)
        path = Path(host, run, eng.compiler)
        if origin.kind == "local":
            return path.from_local(flow)
        if origin.kind == "bridged":
            return path.bridged(flow, origin.iface)
        return path.from_iface(flow, origin.iface)

    return body


def _init(host: HostModel, origin: Origin, dst: IntervalSet, port: int | None, proto: str,
          sport: int | None = None) -> dict[str, IntervalSet]:
    init = {"dst": dst, "proto": IntervalSet.point(PROTOCOLS[proto])}
    if port is not None:
        init["dport"] = IntervalSet.point(port)
    elif proto in ("tcp", "udp"):
        init["dport"] = IntervalSet.range(1, 65535)
    if sport is not None:
        init["sport"] = IntervalSet.point(sport)
    elif proto in ("tcp", "udp"):
        init["sport"] = IntervalSet.range(1, 65535)
    if proto in ("icmp", "icmpv6"):
        init["icmp"] = IntervalSet.point(8 * 256 if proto == "icmp" else 128 * 256)  # echo-request
        init["sport"] = IntervalSet.point(0)
        init["dport"] = IntervalSet.point(0)
    if origin.src is not None:
        init["src"] = origin.src
    elif origin.kind == "local":
        src, _r = host.source_for(dst.min())
        if src is not None:
            init["src"] = IntervalSet.point(src)
    return init


def _proved_accept(leaf: Leaf) -> bool:
    o = leaf.outcome
    return o.verdict == "ACCEPT" and not leaf.outcome.flow.approximations and o.proxy is None


def search(eng: Engine, origin: Origin, dst: IntervalSet, port: int | None, proto: str,
           sport: int | None = None) -> Exploration:
    init = _init(eng.host, origin, dst, port, proto, sport)
    unknown_source = None
    if origin.kind == "local" and "src" not in init:
        # the kernel picks the source from the route and the addresses, which the dump does not show
        unknown_source = ("the host's source address for this connection is not known (no `ip addr` section, "
                          "no `src` on the route)")
    return explore(eng.host.family, init, _run_origin(eng, origin, proto, unknown_source), stop_when=_proved_accept)


# --------------------------------------------------------------------------- the answer


def endpoint_family(*endpoints: str) -> int:
    """6 when an endpoint is an IPv6 address or CIDR, else 4."""
    for ep in endpoints:
        try:
            if ipaddress.ip_network(ep, strict=False).version == 6:
                return 6
        except ValueError:
            continue
    return 4


def query_dump(dump: HostDump, src: str, dst: str, port: int | None = None, proto: str = "tcp",
               *, family: int | None = None, sport: int | None = None) -> Answer:
    fam = family or endpoint_family(src, dst)
    return query(engine_for(dump, fam), src, dst, port, proto, sport=sport)


def query(eng: Engine, src: str, dst: str, port: int | None = None, proto: str = "tcp",
          *, sport: int | None = None) -> Answer:
    """Can ``src`` reach ``dst`` on ``port``? ``sport`` fixes the source port (default: any)."""
    host = eng.host
    host.query_log = []
    dst_set = resolve_destination(host, dst)
    if src.startswith("container:") and proto != "all":
        name = docker_name(host, "container", src.split(":", 1)[1])
        if name in host.host_network:
            # --network host: the container's sockets are the host's own
            answer = query(eng, "host", dst, port, proto, sport=sport)
            answer.assumptions.insert(0, f"container {name} runs with --network host: its connections are the "
                                         "host's own")
            answer.query["from"] = src
            return answer
        own = _own_namespace(host, name, dst_set)
        if own is not None:
            answer = _in_container(host, name, own, dst, port, proto, sport)
            answer.query = {"from": src, "to": dst, "port": port, "proto": proto}
            return answer
    if src == "host" and _zero(host, dst_set):
        # connect() to 0.0.0.0 (::) is a local connection: the kernel sends it to 127.0.0.1 (::1)
        loop = "127.0.0.1" if host.family == 4 else "::1"
        answer = query(eng, "host", loop, port, proto, sport=sport)
        answer.assumptions.insert(0, f"a connection to {dst} goes to the host itself: the kernel turns the "
                                     f"destination into {loop} (loopback)")
        answer.query["to"] = dst
        return answer
    maybe_local = _maybe_local(host, dst_set)
    if maybe_local is not None and proto != "all":
        # a bare rule set: whether the destination is the host's own address is open; answer both
        mine = query(eng.with_local(maybe_local), src, dst, port, proto, sport=sport)
        other = query(_not_local(eng), src, dst, port, proto, sport=sport)
        return _both(mine, other, f"whether {dst} is an address of the host is not in the dump (no `ip addr` "
                                  "section)")
    origin = resolve_origin(host, src, dst_set)
    if proto == "all":
        answers = [query(eng, src, dst, port, p, sport=sport) for p in ("tcp", "udp", "icmp")]
        for a in answers:
            if a.reachable:
                return a
        return next((a for a in answers if a.reachable is None), answers[0])
    if proto == "icmp" and host.family == 6:
        proto = "icmpv6"
    if proto not in ("tcp", "udp", "icmp", "icmpv6", "sctp"):
        raise EndpointError(f"unknown protocol {proto!r} (tcp, udp, icmp or all)")
    if origin.no_route is not None:
        answer = _sender_has_no_route(host, origin, dst_set, port, proto, sport)
    elif origin.alternatives:
        answers = []
        for o in origin.alternatives:
            var = eng.via(o.iface)
            var.host.query_log = host.query_log
            answers.append(_assemble(var, o, search(var, o, dst_set, port, proto, sport), proto))
        answer = _any_of(answers)
    else:
        result = search(eng, origin, dst_set, port, proto, sport)
        answer = _assemble(eng, origin, result, proto)
        if sport is None and proto in ("tcp", "udp", "sctp") and answer.reachable is not False:
            answer.source_ports = _source_port_class(eng, origin, dst_set, port, proto, result)
    answer.query = {"from": src, "to": dst, "port": port, "proto": proto}
    if sport is not None:
        answer.query["sport"] = sport
    if answer.reachable is False:
        answer.how_it_ends, answer.ends_with = how_it_ends(host, origin, answer, proto)
        if answer.ends_with in ("tcp-reset",) or str(answer.ends_with or "").startswith("icmp"):
            lost = _signal_lost(eng, origin, answer, proto)
            if lost is SIGNAL_UNKNOWN:
                answer.how_it_ends, answer.ends_with = None, None
            elif lost is not None:
                answer.assumptions.append(f"the {answer.ends_with} the host sends back is stopped on its way: {lost}")
                answer.how_it_ends, answer.ends_with = "timeout", None
    static = host.assumptions[:host.static_assumptions]
    answer.assumptions = _dedupe(static + host.query_log + answer.assumptions)
    return answer


def _source_port_class(eng: Engine, origin: Origin, dst: IntervalSet, port: int | None, proto: str,
                       first: Exploration) -> dict | None:
    """The source ports the answer holds for, when that is not every one: the witness is
    existential over source ports (right for an attacker, who picks one), but a flow that passes
    only from, say, port 53 (a `--sport 53 ... -j RETURN` meant for DNS answers) is a different
    thing from an open port. None when every source port gets the same answer."""
    full = IntervalSet.range(1, 65535)

    def sports(exp: Exploration) -> IntervalSet:
        got = IntervalSet()
        for lf in exp.leaves:
            if lf.outcome.verdict == "ACCEPT":
                got = got.union(lf.run.st.doms[lf.run.st.initial["sport"]])
        return got

    open_ = sports(first)
    if not open_ or full.subset_of(open_):
        return None
    for _ in range(4):  # more accepting paths, each for other source ports
        rest = full.intersect(open_.complement(0, 0xFFFF))
        if not rest:
            return None
        exp = _search_sports(eng, origin, dst, port, proto, rest)
        more = sports(exp)
        if not more:
            break
        open_ = open_.union(more)
    rest = full.intersect(open_.complement(0, 0xFFFF))
    if not rest:
        return None
    # the same packet as the witness, from the other source ports: what stops it
    lf = next((x for x in first.leaves if x.outcome.verdict == "ACCEPT"), None)
    same = Origin(origin.kind, origin.iface, IntervalSet.point(lf.values[lf.run.st.initial["src"]])
                  if lf is not None and origin.src is not None else origin.src, origin.text)
    to = IntervalSet.point(lf.values[lf.run.st.initial["dst"]]) if lf is not None else dst
    blocked = _assemble(eng, same, _search_sports(eng, same, to, port, proto, rest), proto)
    if blocked.reachable is not False:
        return None  # the other source ports are not known to be blocked: no class to tell
    text = _ports_text(open_)
    b = blocked.blocked_by or {}
    from .explain import rule_place

    return {"reachable_from": text, "blocked_from": _ports_text(rest), "blocked_by": b,
            "summary": f"reachable only from source port{'s' if open_.size() > 1 else ''} {text}; other source ports "
                       f"are stopped: {b.get('reason')} [{rule_place(b)}]"}


def _search_sports(eng: Engine, origin: Origin, dst: IntervalSet, port: int | None, proto: str,
                   sports: IntervalSet) -> Exploration:
    init = _init(eng.host, origin, dst, port, proto, None)
    init["sport"] = sports
    return explore(eng.host.family, init, _run_origin(eng, origin, proto), stop_when=_proved_accept)


def _ports_text(s: IntervalSet) -> str:
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in s.ivs[:8]]
    return ", ".join(parts) + (", ..." if len(s.ivs) > 8 else "")


_UNREACHABLE_REJECTS = {"icmp-net-unreachable", "icmp-host-unreachable", "icmp-net-prohibited",
                        "icmp-host-prohibited", "icmp-admin-prohibited", "icmp6-no-route", "no-route",
                        "icmp6-adm-prohibited", "adm-prohibited", "icmp6-addr-unreachable", "addr-unreach"}


def how_it_ends(host: HostModel, origin: Origin, a: Answer, proto: str) -> tuple[str | None, str | None]:
    """What the sender sees when the answer is no, and the signal that tells it: ("refused",
    "tcp-reset" or "icmp-port-unreachable"), ("unreachable", an ICMP host/net unreachable, or
    ENETUNREACH when the sender has no route), ("error", EPERM from an OUTPUT drop of a UDP or ICMP
    send, EINVAL for a 127/8 source on a wire), ("connected", None: TCP's handshake completes, then
    nothing flows) or ("timeout", None: silence). The kernel rate-limits ICMP errors per peer (a
    burst of about six, then one a second), so a burst of attempts sees timeouts after the first."""
    b = a.blocked_by or {}
    reason = b.get("reason") or ""
    v = a.verdict
    local = origin.kind == "local"
    if reason.startswith("the first packet gets through, but the connection's next packets"):
        if v == "REJECT":  # the handshake's ACK meets a REJECT
            rule = _rule_at(host, b)
            with_ = (rule.target.option("--reject-with") if rule is not None and rule.target else None)
            kind = with_.args[0] if with_ is not None and with_.args else "icmp-port-unreachable"
            if kind in ("tcp-reset", "tcp-rst"):
                return "refused", "tcp-reset"  # the RST resets the connection the client holds
            if proto in ("tcp", "sctp"):
                # the client is connected once the SYN-ACK came back; an ICMP error for its ACK or
                # data is a soft error there (tcp_v4_err: sk_err_soft without IP_RECVERR), so the
                # connection stays up and stalls (kernel oracle seed 482005342)
                return "connected", None
            return ("unreachable", kind) if kind in _UNREACHABLE_REJECTS else ("refused", kind)
        return ("connected", None) if proto in ("tcp", "sctp") else ("timeout", None)
    if reason.startswith("the reply is stopped") or v in ("ANSWER_FROM_OTHER_ADDRESS", "HAIRPIN", "NO_CONNTRACK"):
        return "timeout", None
    if v == "BLACKHOLE":
        # dockerd 20.10 completes every handshake on the port it holds; dockerd 28 listens with a
        # backlog of 0, so only the first connection completes and the others time out
        since_28 = host.docker.since_28 if host.docker else None
        return ("connected", None) if proto in ("tcp", "sctp") and since_28 is not True else ("timeout", None)
    if v == "NO_LISTENER":
        return "refused", ("tcp-reset" if proto == "tcp" else "icmp-port-unreachable")
    if v in ("NO_ROUTE", "FORWARDING_DISABLED"):
        if "route is of type blackhole" in reason:
            return "timeout", None
        if local or "before the host sees a packet" in reason:
            return "unreachable", "ENETUNREACH"
        return "unreachable", ("icmp-host-unreachable" if v == "FORWARDING_DISABLED" or "unreachable" in reason
                               else "icmp-net-unreachable")
    out = b.get("chain") in ("OUTPUT", "POSTROUTING") or _chain_hook(host, b) in ("OUTPUT", "POSTROUTING")
    if v in ("DROP", "REJECT") and local and out and proto not in ("tcp", "sctp"):
        # a locally generated datagram (or ping) dropped or rejected on its way out: send() returns
        # EPERM at once (TCP ignores that error on its SYN: see below)
        return "error", "EPERM"
    if v == "REJECT":
        rule = _rule_at(host, b)
        with_ = (rule.target.option("--reject-with") if rule is not None and rule.target else None)
        kind = with_.args[0] if with_ is not None and with_.args else "icmp-port-unreachable"
        if kind in _UNREACHABLE_REJECTS:
            return "unreachable", kind
        return "refused", ("tcp-reset" if kind in ("tcp-reset", "tcp-rst") else kind)
    if v == "MARTIAN":
        if local and b.get("table") is not None and proto not in ("tcp", "sctp"):
            return "error", "EINVAL"  # the re-route after nat OUTPUT fails: send() returns EINVAL
        return "timeout", None
    if v == "DROP":
        # a TCP SYN dropped on its way out is retransmitted (the EPERM of the first send is ignored)
        return "timeout", None
    return None, None


_ICMP_CODES = {"icmp-port-unreachable": 3, "port-unreach": 3, "icmp-host-unreachable": 1, "host-unreach": 1,
               "icmp-net-unreachable": 0, "net-unreach": 0, "icmp-admin-prohibited": 13, "admin-prohib": 13,
               "icmp-host-prohibited": 10, "host-prohib": 10, "icmp-net-prohibited": 9, "net-prohib": 9}


#: _signal_lost's answer when whether the signal gets back turns on a fact the dump does not show
SIGNAL_UNKNOWN = "unknown"


def _signal_lost(eng: Engine, origin: Origin, a: Answer, proto: str) -> str | None:
    """Does the RST or ICMP error the host answers a blocked packet with get back to the sender?
    The host sends it through its own OUTPUT and POSTROUTING (a RST is ESTABLISHED in conntrack,
    an ICMP error RELATED), except a REJECT's RST for a packet that came in through a bridge
    port with br_netfilter; None when it gets back, SIGNAL_UNKNOWN when that turns on a fact the
    dump does not show, else what stops it."""
    leaf = getattr(a, "leaf", None)
    if leaf is None or eng.host.family != 4:
        return None
    tcp = a.ends_with == "tcp-reset"
    by_reject = a.verdict == "REJECT"
    is_bridge = eng.host.maybe_bridge(leaf.outcome.flow.in_iface)
    if tcp and by_reject and is_bridge is not False:
        direct = _reset_on_bridge_port(eng, leaf)
        bnf = eng.host.bridge_nf_state()
        if is_bridge and bnf is True:
            return direct
        through_output = _signal_lost_on_output(eng, a, leaf, tcp, by_reject)
        if through_output == direct:
            return direct
        return SIGNAL_UNKNOWN if is_bridge is None or not isinstance(bnf, bool) else through_output
    return _signal_lost_on_output(eng, a, leaf, tcp, by_reject)


def _reset_on_bridge_port(eng: Engine, leaf: Leaf) -> str | None:
    """nf_send_reset: when the rejected packet came in through a bridge port and br_netfilter
    saw it (bridge-nf-call-iptables=1), the RST goes straight out that port (dev_queue_xmit),
    through no OUTPUT or POSTROUTING hook: conntrack undoes no NAT. It comes from the packet's
    destination as the REJECT saw it and goes to its source as the REJECT saw it; the sender takes
    it only when neither was translated."""
    fam = eng.host.family
    i, f = _tuples(leaf)
    if (f["dst"], f["dport"]) == (i["dst"], i["dport"]) and (f["src"], f["sport"]) == (i["src"], i["sport"]):
        return None
    return (f"the REJECT's RST goes straight out the bridge port the packet came in on (br_netfilter: "
            f"nf_send_reset passes no OUTPUT or POSTROUTING hook, so conntrack undoes no NAT): it comes from "
            f"{_ipport(f['dst'], f['dport'], fam, 'tcp')} to {_ipport(f['src'], f['sport'], fam, 'tcp')}, and the "
            f"sender, connected from {_ipport(i['src'], i['sport'], fam, 'tcp')} to "
            f"{_ipport(i['dst'], i['dport'], fam, 'tcp')}, ignores it")


def _signal_lost_on_output(eng: Engine, a: Answer, leaf: Leaf, tcp: bool, by_reject: bool) -> str | None:
    i, f = _tuples(leaf)
    src = f["dst"]
    if not tcp and not eng.host.is_local(f["dst"]):
        # __icmp_send: an error about a packet for the host comes from that packet's destination;
        # about a forwarded one, from the source the route back to the sender picks
        rs, _r = eng.host.source_for(f["src"])
        src = rs if rs is not None else f["dst"]
    # it goes to the packet's source as the host saw it; conntrack then undoes the connection's
    # NAT on its way out, as for a reply (a RELATED ICMP error's outer header is rewritten to the
    # reply's addresses, whatever its source was: nf_nat_icmp_reply_translation)
    untracked = leaf.outcome.flow.untracked
    undo_snat = (i["src"], i["sport"] if tcp else 0) if (f["src"], f["sport"]) != (i["src"], i["sport"]) else None
    undo_dnat = (i["dst"], i["dport"] if tcp else 0) if (f["dst"], f["dport"]) != (i["dst"], i["dport"]) else None
    if untracked:
        undo_snat = undo_dnat = None
    init = {"src": IntervalSet.point(src), "dst": IntervalSet.point(f["src"]),
            "proto": IntervalSet.point(PROTOCOLS["tcp" if tcp else "icmp"])}
    if tcp:
        init["sport"], init["dport"] = IntervalSet.point(f["dport"]), IntervalSet.point(f["sport"])
    else:
        init["icmp"] = IntervalSet.point(3 * 256 + _ICMP_CODES.get(a.ends_with, 3))
        init["sport"] = init["dport"] = IntervalSet.point(0)
    status = set(leaf.outcome.flow.ctstatus)  # the connection's SNAT/DNAT status, which --ctstate matches

    def body(r):
        # a REJECT's signal is RELATED to the connection it answers (nf_ct_attach gives it the
        # entry as IP_CT_RELATED_REPLY); the RST of a closed port is the connection's reply.
        # After an untracked packet there is no entry: a RST or an ICMP error that starts none is
        # INVALID (tcp_new refuses a RST; the error's inner tuple finds nothing); raw may untrack
        # the stack's own signal, not a REJECT's (nf_ct_attach marked it, and xt_CT ignores a
        # packet already marked)
        if untracked:
            ctstate, ctdir = "INVALID", "ORIGINAL"
        else:
            ctstate, ctdir = ("ESTABLISHED" if tcp and not by_reject else "RELATED"), "REPLY"
        flow = Flow(proto="tcp" if tcp else "icmp", ctstate=ctstate, ctdir=ctdir, tcpflags=0x14, looped=by_reject,
                    ct_dst=undo_snat, ct_src=undo_dnat, ctstatus=set() if untracked else set(status))
        return Path(eng.host, r, eng.compiler).from_local(flow)

    status, rleaf = _later_packet(eng, init, body)
    if status == "blocked" and rleaf is not None:
        return _blocker(rleaf.outcome)["reason"]
    return None


def _rule_at(host: HostModel, b: dict):
    chains = host.tables.get(b.get("table") or "", {})
    chain = chains.get(b.get("chain") or "")
    idx = b.get("index")
    if chain is None or not idx or idx > len(chain.rules):
        return None
    return chain.rules[idx - 1]


def _chain_hook(host: HostModel, b: dict) -> str | None:
    """The built-in chain a user chain is reached from (the first that jumps to it)."""
    chains = host.tables.get(b.get("table") or "", {})
    name = b.get("chain")
    seen = set()
    while name and name not in ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING") and name not in seen:
        seen.add(name)
        name = next((c.name for c in chains.values() for r in c.rules if r.target and r.target.name == name), None)
    return name


def _zero(host: HostModel, dst: IntervalSet) -> bool:
    return dst.is_point() and dst.min() == 0


def _own_namespace(host: HostModel, name: str, dst: IntervalSet) -> int | None:
    """The destination when it never leaves container ``name``'s own network namespace: its
    loopback (127/8, ::1, and 0.0.0.0, which connect() turns into loopback) or one of its own
    addresses. None when the packet goes out of the container."""
    if not dst.is_point():
        return None
    d = dst.min()
    if host.family == 4 and (LOOPBACK_V4[0] <= d <= LOOPBACK_V4[1] or d == 0):
        return d
    if host.family == 6 and d in (0, 1):
        return d
    if any(e.ip == d for e in host.endpoints if e.container == name):
        return d
    return None


def _in_container(host: HostModel, name: str, d: int, dst_text: str, port: int | None, proto: str,
                  sport: int | None) -> Answer:
    """A container's packet to its own loopback or address: the kernel delivers it inside the
    container's namespace, on its lo; no bridge, none of the host's rules, no host martian check.
    The container's sockets are not in a host dump: a port the container exposes or publishes is
    taken to have its server (as for any delivery to a container), another one is unknown."""
    fam = host.family
    loop = d == 0 or (fam == 4 and LOOPBACK_V4[0] <= d <= LOOPBACK_V4[1]) or (fam == 6 and d == 1)
    target = (0x7F000001 if fam == 4 else 1) if d == 0 else d
    src = target if loop and fam == 6 else (0x7F000001 if loop else d)
    witness = {"src": ip_str(src, fam), "dst": ip_str(target, fam), "proto": proto,
               "sport": sport if sport is not None else (40000 if proto in ("tcp", "udp", "sctp") else None),
               "dport": port if proto in ("tcp", "udp", "sctp") else None, "in_iface": "lo", "out_iface": "lo"}
    where = "its own loopback" if loop else "its own address"
    note = (f"container {name} sends to {where}: the packet never leaves the container's network namespace "
            "(no bridge, none of the host's rules or checks)")
    assumptions = [note] + ([f"a connection to {dst_text} goes to the container itself: the kernel turns it "
                             f"into {ip_str(target, fam)}"] if d == 0 else [])
    delivered = {"ip": ip_str(target, fam), "port": port if proto in ("tcp", "udp", "sctp") else None,
                 "seen_src": ip_str(src, fam), "by": f"container {name}", "container": name}
    if proto in ("icmp", "icmpv6"):
        return Answer(True, "ACCEPT", witness, delivered=delivered, assumptions=assumptions + [
            "the container's kernel answers the ping itself"])
    if fam == 4 and target == 0x7F00000B and port == 53:  # 127.0.0.11: Docker's embedded DNS
        nets = [e.network for e in host.endpoints if e.container == name]
        user = [n for n in nets if n not in ("bridge", "default")]
        if user:
            delivered["by"] = "Docker's embedded DNS (dockerd, through the container's own NAT rules)"
            return Answer(True, "ACCEPT", witness, delivered=delivered, assumptions=assumptions + [
                f"127.0.0.11 is Docker's embedded DNS on a user-defined network ({user[0]})"])
        return Answer(False, "NO_LISTENER", witness, blocked_by={
            "table": None, "chain": None, "index": None, "line": None,
            "reason": f"Docker's embedded DNS (127.0.0.11) serves containers of user-defined networks only; "
                      f"container {name} is on {', '.join(nets) or 'no network'}"}, assumptions=assumptions)
    exposed = host.container_ports.get(name, set())
    if port is not None and (port, proto) in exposed:
        return Answer(True, "ACCEPT", witness, delivered=delivered, assumptions=assumptions + [
            f"a server in container {name} is assumed to listen on {proto}/{port} (it exposes that port), on a "
            "wildcard address or this one"])
    shown = ", ".join(f"{p}/{pr}" for p, pr in sorted(exposed)) or "no port"
    return Answer(None, "ACCEPT", witness, delivered=delivered, assumptions=assumptions, approximated=[
        f"whether anything in container {name} listens on {proto} port {port} is not in the dump (a host dump "
        f"does not show a container's sockets; it exposes {shown})"])


def _maybe_local(host: HostModel, dst: IntervalSet) -> int | None:
    """A bare rule set's destination address that may or may not be the host's own."""
    if not host.outside_ifaces or host.addresses_known or not dst.is_point():
        return None
    d = dst.min()
    if host.is_local(d):
        return None
    r = host.route(d)
    if r.entry is not None and r.entry.plen > 0:
        return None  # inside a subnet the rules show (a Docker bridge's)
    return d


def _not_local(eng: Engine) -> Engine:
    """The engine as it is, marked so that a nested query does not fork on locality again."""
    if eng.variants is None:
        eng.variants = {}
    if "plain" not in eng.variants:
        from dataclasses import replace

        eng.variants["plain"] = Engine(replace(eng.host, addresses_known=True), eng.compiler)
    return eng.variants["plain"]


def _both(a: Answer, b: Answer, what: str) -> Answer:
    """Two answers for the two values of a fact the dump does not show: one answer when they agree,
    else null naming the fact."""
    if a.reachable is b.reachable and a.reachable is not None:
        a.assumptions.append(f"{what}; the answer is the same either way")
        return a
    pick = a if a.reachable is not False else b
    if pick.reachable is False:
        pick = a
    pick.reachable = None
    pick.approximated.append(what)
    return pick


def _any_of(answers: list[Answer]) -> Answer:
    """The answer for a sender that may use any of several interfaces: reachable if one way in is
    proved, possible if one may be, blocked only when every way is (each blocker named)."""
    for want in (True, None):
        for a in answers:
            if a.reachable is want:
                return a
    first = answers[0]
    for a in answers[1:]:
        for b in [a.blocked_by, *a.also_blocked_by]:
            if b is not None and b != first.blocked_by and b not in first.also_blocked_by:
                first.also_blocked_by.append(b)
    return first


def _sender_has_no_route(host: HostModel, origin: Origin, dst: IntervalSet, port: int | None, proto: str,
                         sport: int | None) -> Answer:
    fam = host.family
    witness = {"src": ip_str(origin.src.min(), fam), "dst": ip_str(dst.min(), fam), "proto": proto,
               "sport": sport if sport is not None else (40000 if proto in ("tcp", "udp", "sctp") else None),
               "dport": port if proto in ("tcp", "udp", "sctp") else None,
               "in_iface": None, "out_iface": None}
    return Answer(False, "NO_ROUTE", witness, blocked_by={"table": None, "chain": None, "index": None,
                                                          "line": None, "reason": origin.no_route})


def _dedupe(items: list[str]) -> list[str]:
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _ipport(v_addr: int | None, v_port: int | None, fam: int, proto: str) -> str:
    a = ip_str(v_addr, fam) if v_addr is not None else "?"
    if proto in ("icmp", "icmpv6") or v_port is None:
        return a
    return f"{a}:{v_port}" if fam == 4 else f"[{a}]:{v_port}"


def _rule_ref(step: Step | None) -> dict | None:
    if step is None:
        return None
    return {"table": step.table, "chain": step.chain, "index": step.index, "line": step.line}


def _leaf_view(eng: Engine, leaf: Leaf, proto: str) -> dict:
    """Concrete values of one path: witness, translations, delivery."""
    fam = eng.host.family
    run, vals, o = leaf.run, leaf.values, leaf.outcome
    init, cur = run.st.initial, run.st.cur
    flow = o.flow
    witness = {
        "src": ip_str(vals[init["src"]], fam), "dst": ip_str(vals[init["dst"]], fam), "proto": proto,
        "sport": vals[init["sport"]] if proto in ("tcp", "udp", "sctp") else None,
        "dport": vals[init["dport"]] if proto in ("tcp", "udp", "sctp") else None,
        "in_iface": None, "out_iface": None,
    }
    translations = []
    for t in flow.translations:
        translations.append({
            "kind": t.kind,
            "from": _ipport(vals.get(t.before[0]), vals.get(t.before[1]), fam, proto),
            "to": _ipport(vals.get(t.after[0]), vals.get(t.after[1]), fam, proto),
            "rule": _rule_ref(t.step),
        })
    final = {"dst": vals[cur["dst"]], "dport": vals[cur["dport"]], "src": vals[cur["src"]],
             "sport": vals[cur["sport"]]}
    return {"witness": witness, "translations": translations, "final": final}


def _tuples(leaf: Leaf) -> tuple[dict[str, int], dict[str, int]]:
    """The witness's first packet as sent and as delivered (after every translation)."""
    vals, st = leaf.values, leaf.run.st
    fields = ("src", "dst", "sport", "dport")
    return {k: vals[st.initial[k]] for k in fields}, {k: vals[st.cur[k]] for k in fields}


def _reply(eng: Engine, leaf: Leaf, proto: str) -> tuple[str, Leaf | None]:
    """Does the reply of this path's connection make it back? conntrack undoes the NAT, the nat
    table is not consulted, and the filter chains see an ESTABLISHED packet."""
    o = leaf.outcome
    i, f = _tuples(leaf)
    undo_snat = (i["src"], i["sport"]) if (f["src"], f["sport"]) != (i["src"], i["sport"]) else None
    undo_dnat = (i["dst"], i["dport"]) if (f["dst"], f["dport"]) != (i["dst"], i["dport"]) else None
    reply_init = {"src": IntervalSet.point(f["dst"]), "dst": IntervalSet.point(f["src"]),
                  "sport": IntervalSet.point(f["dport"]), "dport": IntervalSet.point(f["sport"]),
                  "proto": IntervalSet.point(PROTOCOLS[proto])}
    if proto in ("icmp", "icmpv6"):
        reply_init["icmp"] = IntervalSet.point(0 if proto == "icmp" else 129 * 256)  # echo-reply
    d = o.delivery
    if d is None:
        return "ok", None
    if d.kind == "socket":
        start = ("local", None)
    elif eng.host.is_local(f["src"]):
        # the answer goes to one of the host's addresses (a MASQUERADE source): up to the host
        start = ("iface", d.iface)
    elif o.flow.bridged or (d.kind in ("container", "network") and _same_l2(eng.host, d.iface, f["dst"], f["src"])):
        # the replier reaches the address it answers on its own link: a bridged frame
        start = ("bridged", d.iface)
    else:
        start = ("iface", d.iface)
        if eng.host.maybe_bridge(d.iface) is None and eng.host.route(f["src"]).dev == d.iface \
                and eng.host.route(f["src"]).via is None and not eng.host.is_local(f["src"]):
            # the replier answers a neighbour of its own link: over a bridge, or straight on a plain link
            return "possible", _note_leaf(leaf, _kind_unknown(d.iface))
    status = set(o.flow.ctstatus)
    # an untracked connection (raw NOTRACK) left no conntrack entry for its reply to match
    ctstate = _untracked_reply_state(proto) if o.flow.untracked else "ESTABLISHED"
    ctdir = "ORIGINAL" if ctstate == "NEW" else "REPLY"

    def body(r):
        flow = Flow(proto=proto, ctstate=ctstate, ctdir=ctdir, ct_dst=undo_snat, ct_src=undo_dnat,
                    ctstatus=set(status), tcpflags=0x12)
        path = Path(eng.host, r, eng.compiler)
        if start[0] == "local":
            return path.from_local(flow)
        if start[0] == "bridged":
            return path.bridged(flow, start[1])
        return path.from_iface(flow, start[1])

    return _later_packet(eng, reply_init, body)


def _established(eng: Engine, origin: Origin, leaf: Leaf, proto: str) -> tuple[str, Leaf | None]:
    """Does the connection's next packet from the sender (the handshake's ACK, the data) get
    through? It is ESTABLISHED, takes the same path, and conntrack repeats the NAT binding."""
    o = leaf.outcome
    i, f = _tuples(leaf)
    redo_dnat = (f["dst"], f["dport"]) if (f["dst"], f["dport"]) != (i["dst"], i["dport"]) else None
    redo_snat = (f["src"], f["sport"]) if (f["src"], f["sport"]) != (i["src"], i["sport"]) else None
    start = {k: IntervalSet.point(v) for k, v in i.items()}
    start["proto"] = IntervalSet.point(PROTOCOLS[proto])
    status = set(o.flow.ctstatus)
    # after an untracked first packet, conntrack has no entry: a packet that raw does not untrack
    # again starts one (a TCP ACK is picked up mid-stream, nf_conntrack_tcp_loose=1) and is NEW
    ctstate = "NEW" if o.flow.untracked else "ESTABLISHED"

    def body(r):
        flow = Flow(proto=proto, ctstate=ctstate, ct_dst=redo_dnat, ct_src=redo_snat, ctstatus=set(status),
                    tcpflags=0x10)
        path = Path(eng.host, r, eng.compiler)
        if origin.kind == "local":
            return path.from_local(flow)
        if origin.kind == "bridged":
            return path.bridged(flow, origin.iface)
        return path.from_iface(flow, origin.iface)

    return _later_packet(eng, start, body)


def _untracked_reply_state(proto: str) -> str:
    """The conntrack state of a reply whose connection was never tracked, unless raw untracks
    it too. Mirrors the protocol trackers' rules for a packet that may start a connection: a
    TCP SYN-ACK, an SCTP INIT-ACK and an ICMP echo reply cannot (INVALID); anything else can (NEW)."""
    return "INVALID" if proto in ("tcp", "sctp", "icmp", "icmpv6") else "NEW"


def _later_packet(eng: Engine, init: dict[str, IntervalSet], body) -> tuple[str, Leaf | None]:
    result = explore(eng.host.family, init, body, stop_when=lambda lf: lf.outcome.verdict == "ACCEPT"
                     and not lf.outcome.flow.approximations)
    ok = [lf for lf in result.leaves if lf.outcome.verdict == "ACCEPT"]
    proved = [lf for lf in ok if not lf.outcome.flow.approximations]
    if proved:
        return "ok", proved[0]
    if ok:
        return "possible", ok[0]
    unknown = [lf for lf in result.leaves if lf.outcome.verdict == "UNKNOWN" or lf.outcome.flow.open_ended]
    if unknown or result.truncated:
        return "possible", unknown[0] if unknown else None
    blocked = result.leaves[0] if result.leaves else None
    return "blocked", blocked


def _note_leaf(leaf: Leaf, why: str) -> Leaf:
    """A copy of ``leaf`` whose path carries ``why`` as what it turns on (for "possible" answers)."""
    import copy

    lf = copy.copy(leaf)
    flow = copy.copy(leaf.outcome.flow)
    flow.approximations = [*flow.approximations, why]
    out = copy.copy(leaf.outcome)
    out.flow = flow
    lf.outcome = out
    return lf


def _same_l2(host: HostModel, bridge: str | None, a: int, b: int) -> bool:
    """Are ``a`` (a container) and ``b`` both container addresses in one subnet of ``bridge``?"""
    for _name, (br, subnets, gws, _internal) in host.networks.items():
        if br != bridge:
            continue
        for lo, hi in subnets:
            if lo <= a <= hi and lo <= b <= hi and b not in gws and not host.is_local(b):
                return True
    if bridge in host.bridges and not host.is_local(b):
        for addr, plen in host.ifaces.get(bridge, []):
            shift = (32 if host.family == 4 else 128) - plen
            if (a >> shift) == (addr >> shift) == (b >> shift):
                return True
    return False


def _assemble(eng: Engine, origin: Origin, result: Exploration, proto: str) -> Answer:
    host = eng.host
    fam = host.family
    leaves = result.leaves
    accepted: list[tuple[Leaf, Answer]] = []
    blocked: list[Leaf] = []
    reply_blocked: list[tuple[Leaf, Answer]] = []
    for leaf in leaves:
        o = leaf.outcome
        if o.verdict == "ACCEPT":
            ans = _accepted_answer(eng, origin, leaf, proto)
            status, rleaf = _reply(eng, leaf, proto)
            if status == "ok" and rleaf is not None:
                ans.assumptions.extend(n.split(ECHO_REPLY_NOTE, 1)[1].strip() for n in rleaf.outcome.flow.notes
                                       if n.startswith(ECHO_REPLY_NOTE))
            if status == "ok" and proto in ("tcp", "sctp"):
                status, rleaf = _established(eng, origin, leaf, proto)
                if status == "blocked" and rleaf is not None:
                    reply_blocked.append((rleaf, _reply_blocked_answer(ans, rleaf, later=True)))
                    continue
            if status == "blocked" and rleaf is not None:
                # a connection needs its reply; so does a ping (the echo reply is what it waits for)
                # and a UDP client (a connected socket waits for the answer from where it sent)
                reply_blocked.append((rleaf, _reply_blocked_answer(ans, rleaf, udp=proto == "udp")))
                continue
            far = _return_route(eng, leaf) if status in ("ok", "possible") else None
            if far is not None and far[0] == "assumed":
                ans.assumptions.append(far[1])
                far = None
            if far is not None and ans.reachable is not False:
                ans.reachable = None
                ans.approximated.append(far[1])
            if status == "ok" and proto == "udp":
                how, rs, remapped = _udp_answer_source(eng, leaf)
                if how == "other":
                    reply_blocked.append((leaf, _answer_from_elsewhere(eng, ans, leaf, rs, remapped=remapped)))
                    continue
                if how == "unknown":
                    ans.reachable = None
                    ans.approximated.append(_answer_source_unknown(eng, leaf, rs, remapped=remapped))
            if status == "possible" and ans.reachable is not False:
                ans.reachable = None
                if rleaf is not None:
                    ans.approximated.extend(a for a in rleaf.outcome.flow.approximations if a not in ans.approximated)
                else:
                    ans.approximated.append("the search for the reply's path stopped before an answer")
            accepted.append((leaf, ans))
        else:
            blocked.append(leaf)
    if reply_blocked and not any(a.reachable is not False for _l, a in accepted):
        return reply_blocked[0][1]
    proved = [a for _l, a in accepted if a.reachable is True]
    if proved:
        return proved[0]
    possible = [a for _l, a in accepted if a.reachable is None]
    unknown_blocks = [lf for lf in blocked if lf.outcome.verdict == "UNKNOWN"]
    if possible:
        return possible[0]
    second_leg_blocked = [a for _l, a in accepted if a.reachable is False]
    if unknown_blocks or result.truncated:
        leaf = unknown_blocks[0] if unknown_blocks else (blocked[0] if blocked else None)
        ans = _blocked_answer(eng, origin, leaf, proto) if leaf else Answer(None, "UNKNOWN", None)
        ans.reachable = None
        ans.verdict = "UNKNOWN"
        if result.truncated:
            ans.approximated.append(f"the search stopped after {result.runs} paths")
        return ans
    if second_leg_blocked:
        return second_leg_blocked[0]
    if not blocked:
        return Answer(False, "NO_PACKET", None, assumptions=["no packet matches the query"],
                      blocked_by={"table": None, "chain": None, "index": None, "line": None,
                                  "reason": "no packet of this kind exists (the endpoints exclude each other)"})
    # every path is blocked; name what blocks them, the most common blocker first
    ans = _blocked_answer(eng, origin, blocked[0], proto)
    open_ended = sorted({a for lf in blocked for a in lf.outcome.flow.open_ended})
    if open_ended:
        # what blocks it is shown, but a part of the rule set the dump lacks could change the path
        ans.reachable = None
        ans.approximated.extend(x for x in open_ended if x not in ans.approximated)
    others = []
    for lf in blocked[1:]:
        b = _blocker(lf.outcome)
        if b not in others and b != ans.blocked_by:
            others.append(b)
    ans.also_blocked_by = others
    approximated = sorted({a for lf in blocked for a in lf.outcome.flow.approximations})
    if approximated:
        # a "no" that holds in every branch of the approximated matches is still a proof
        ans.approximated = approximated
    return ans


def _return_route(eng: Engine, leaf: Leaf) -> tuple[str, str] | None:
    """The condition on the far side, when the first packet leaves the host un-NATed with a source
    the far side reaches only through this host (a container's address, a subnet behind it): the
    answer comes back only if the far side (or the path) routes that source back here: ("unknown",
    why), which says so for a private source sent to a public address: the internet does not
    route private addresses back (only an upstream NAT that routes the answers back helps); ("assumed",
    why) for a host on one of this router's own links answering a source from beyond the default
    route (through its gateway, this host); None when the way back is the host's own."""
    host = eng.host
    d = leaf.outcome.delivery
    if d is None or d.kind != "network" or d.iface in host.bridges or d.iface is None:
        return None
    i, f = _tuples(leaf)
    src, dst = f["src"], f["dst"]
    bits = 32 if host.family == 4 else 128
    if host.is_local(src) and (src in host.local_by_iface.get(d.iface, IntervalSet()) or host.iface_of_local(src)
                               in (None, "lo")):
        return None  # NATed to (or sent from) the host's own address on that link
    for addr, plen in host.ifaces.get(d.iface, []):
        if (addr >> (bits - plen)) == (src >> (bits - plen)):
            return None  # the source is on the link itself: the far side reaches it there
    fam = host.family
    s_ip, d_ip = ipaddress.ip_address(ip_str(src, fam)), ipaddress.ip_address(ip_str(dst, fam))
    default = host.default_route_dev()
    rs, rd = host.route(src), host.route(dst)
    if (d.iface != default and rs.entry is not None and rs.entry.plen == 0 and rd.via is None
            and rd.dev == d.iface):
        # from beyond the default route to a host on one of this router's own links: that host
        # answers an off-link address through its gateway, this host
        return "assumed", (f"{d_ip} answers {s_ip} through its gateway on {d.iface}, taken to be this host "
                           "(the way a router's LAN hosts do)")
    if s_ip.is_private and not s_ip.is_global and d_ip.is_global and d.iface == default:
        return "unknown", (f"the packet leaves {d.iface} un-NATed with the private source {s_ip} toward the public "
                           f"address {d_ip}: the internet never answers a private address, so this works only if "
                           f"an upstream router NATs {s_ip} and routes the answers back here, which the dump cannot "
                           "show (the seed: the upstream must NAT the container address)")
    return "unknown", (f"the packet leaves {d.iface} un-NATed with source {s_ip}: the answer comes back only if "
                       f"{d_ip} (or the router on the way) routes {s_ip} back through this host, which the dump "
                       "cannot show (the seed: the upstream must NAT the container address, or the destination "
                       "must have a route to it)")


def _udp_answer_source(eng: Engine, leaf: Leaf) -> tuple[str, int | None, bool]:
    """Where a UDP server's answer comes from: "same" (the address the client sent to, which
    conntrack translates back), "other" (the source the route to the client picks, another
    address), or "unknown" (a wildcard socket whose program may or may not answer with IP_PKTINFO);
    with that source, and whether nf_nat gives the answer from it another source port
    (:func:`_unmatched_answer`)."""
    d = leaf.outcome.delivery
    if d is None or d.kind != "socket" or d.reply_from == "dst":
        return "same", None, False
    i, f = _tuples(leaf)
    rs, _r = eng.host.source_for(f["src"])
    if rs is None:
        return "unknown", None, False  # the route back's source depends on addresses the dump does not show
    if rs == f["dst"]:
        return "same", None, False  # conntrack matches the answer and translates it back
    how = _unmatched_answer(eng, leaf, rs)
    if how == "reaches":
        return "same", None, False  # not conntrack's reply, but it reaches the client as from where it sent
    return ("other" if d.reply_from == "route" else "unknown"), rs, how == "remapped"


def _unmatched_answer(eng: Engine, leaf: Leaf, rs: int) -> str:
    """An answer from another source than the DNAT target does not match the connection: it is a
    new packet (the nat table sees it) from the server's socket to the client's address and port.
    "reaches" when it gets to the client as from the address and port the client sent to;
    "remapped" when it would, but conntrack gives it another source port: its reply tuple is the
    client's own connection's original tuple, already taken, so nf_nat's get_unique_tuple picks
    a free port (unless raw untracks the answer); "no" otherwise."""
    i, f = _tuples(leaf)
    if f["dport"] != i["dport"] or rs != i["dst"]:
        return "no"  # the client would see another address or port as the answer's source
    init = {"src": IntervalSet.point(rs), "dst": IntervalSet.point(f["src"]), "sport": IntervalSet.point(f["dport"]),
            "dport": IntervalSet.point(f["sport"]), "proto": IntervalSet.point(PROTOCOLS["udp"])}

    def body(r):
        return Path(eng.host, r, eng.compiler).from_local(Flow(proto="udp", to_client=True))

    result = explore(eng.host.family, init, body)
    if not result.leaves:
        return "no"
    remapped = False
    for lf in result.leaves:
        if lf.outcome.verdict != "ACCEPT" or lf.outcome.flow.approximations:
            return "no"
        vals, st = lf.values, lf.run.st
        got = {k: vals[st.cur[k]] for k in ("src", "sport", "dst", "dport")}
        if got != {"src": i["dst"], "sport": i["dport"], "dst": i["src"], "dport": i["sport"]}:
            return "no"
        remapped = remapped or not lf.outcome.flow.untracked
    return "remapped" if remapped else "reaches"


def _answer_from_elsewhere(eng: Engine, first: Answer, leaf: Leaf, rs: int, remapped: bool = False) -> Answer:
    fam = eng.host.family
    i, f = _tuples(leaf)
    who = (first.delivered or {}).get("by") or "the server"
    reason = (f"the datagram arrives, and {who} answers from {ip_str(rs, fam)} (the source the route to "
              f"{ip_str(f['src'], fam)} picks: its socket is bound to a wildcard address), the address the client "
              f"sent to; but conntrack does not match that answer to the client's datagram (which it knows as "
              f"going to {_ipport(f['dst'], f['dport'], fam, 'udp')}): the answer is a new connection whose "
              "reverse is the client's own, so nf_nat gives it another source port. A connected UDP socket "
              "drops it and the host answers with ICMP port unreachable; an unconnected one (recvfrom) takes it "
              f"from that other port") if remapped else \
        (f"the datagram arrives, but {who} answers from {ip_str(rs, fam)} (the source the route to "
              f"{ip_str(f['src'], fam)} picks: its socket is bound to a wildcard address"
              + (" and this docker-proxy predates Docker 28's IP_PKTINFO fix" if who == "docker-proxy" else "")
              + f"), not from {ip_str(i['dst'], fam)}, the address the client sent to. conntrack does not match "
              "that answer to the client's datagram, so it is not translated back: a connected UDP socket (what "
              "resolvers and most clients use) drops it and the host answers with ICMP port unreachable; an "
              "unconnected one (recvfrom) takes it")
    return Answer(reachable=False, verdict="ANSWER_FROM_OTHER_ADDRESS", witness=first.witness,
                  translations=first.translations, delivered=first.delivered, path=first.path,
                  blocked_by={"table": None, "chain": None, "index": None, "line": None, "reason": reason},
                  assumptions=first.assumptions + ["the client's UDP socket is connected (as resolvers' are); an "
                                                   "unconnected one would take the answer"],
                  approximated=first.approximated)


def _answer_source_unknown(eng: Engine, leaf: Leaf, rs: int | None, remapped: bool = False) -> str:
    fam = eng.host.family
    i, f = _tuples(leaf)
    if remapped:
        return (f"whether the server answers from {ip_str(f['dst'], fam)} (where the datagram was delivered, which "
                f"conntrack translates back) or from {ip_str(rs, fam)} (the source the route to the client picks, "
                "for a wildcard socket without IP_PKTINFO: a new connection whose reverse is the client's own, so "
                "nf_nat gives it another source port) is not in the dump; a connected UDP client drops an answer "
                "from another address or port")
    other = (f"{ip_str(rs, fam)} (the source the route to the client picks, for a wildcard socket without "
             "IP_PKTINFO)" if rs is not None else
             "the source the route to the client picks (the dump does not show the host's addresses)")
    return (f"whether the server answers from {ip_str(i['dst'], fam)} (the address the client sent to) or from "
            f"{other} is not in the dump; a connected UDP client drops an answer from another address")


def _reply_blocked_answer(first: Answer, rleaf: Leaf, later: bool = False, udp: bool = False) -> Answer:
    o = rleaf.outcome
    b = _blocker(o)
    if later:
        b["reason"] = (f"the first packet gets through, but the connection's next packets (ESTABLISHED) are "
                       f"stopped: {b['reason']}")
    else:
        b["reason"] = f"the reply is stopped: {b['reason']}"
        if udp:
            b["reason"] += ("; the datagrams still arrive (one-way UDP works), but a client waiting for the answer "
                            "gets none")
            if o.verdict == "NO_CONNTRACK":
                b["reason"] += " (an unconnected UDP socket would take the untranslated answer)"
    return Answer(
        reachable=False, verdict=o.verdict, witness=first.witness, translations=first.translations,
        delivered=first.delivered,  # the server got the first packet; its answer (or the rest) is stopped
        path=first.path + [{"table": None, "chain": None, "index": None, "line": None,
                            "action": ("the sender's next packet (conntrack: ESTABLISHED)" if later
                                       else "the server answers (conntrack: ESTABLISHED)")}]
        + [s.as_dict() for s in o.flow.trace],
        blocked_by=b, assumptions=first.assumptions, approximated=first.approximated)


def _blocker(o: Outcome) -> dict:
    step = o.blocked_by
    reason = o.reason
    if reason is None and step is not None:
        reason = {"DROP": "dropped by this rule", "REJECT": "rejected by this rule"}.get(step.action.split()[0],
                                                                                          step.action)
        if step.index is None and step.chain:
            reason = f"the {step.table} {step.chain} policy is {step.action.split()[-1]}"
    d = _rule_ref(step) or {"table": None, "chain": None, "index": None, "line": None}
    d["reason"] = reason or o.verdict.lower()
    return d


def _blocked_answer(eng: Engine, origin: Origin, leaf: Leaf, proto: str) -> Answer:
    view = _leaf_view(eng, leaf, proto)
    o = leaf.outcome
    w = view["witness"]
    w["in_iface"] = origin.iface if origin.kind != "local" else None
    w["out_iface"] = o.flow.out_iface
    delivered = None
    if o.delivery is not None:  # a socket took it but serves nothing (a daemon-held black hole)
        final = view["final"]
        delivered = {"ip": ip_str(final["dst"], eng.host.family),
                     "port": final["dport"] if proto in ("tcp", "udp", "sctp") else None,
                     "seen_src": ip_str(final["src"], eng.host.family), "by": o.delivery.by}
    ans = Answer(
        reachable=False, verdict=o.verdict, witness=w, translations=view["translations"], delivered=delivered,
        path=[s.as_dict() for s in o.flow.trace], blocked_by=_blocker(o),
        assumptions=list(o.flow.notes) + list(o.flow.choices)
        + ([f"held by the listening socket {o.delivery.listener}"] if o.delivery and o.delivery.listener else []),
    )
    ans.leaf = leaf
    return ans


def _accepted_answer(eng: Engine, origin: Origin, leaf: Leaf, proto: str) -> Answer:
    host = eng.host
    fam = host.family
    o = leaf.outcome
    view = _leaf_view(eng, leaf, proto)
    w = view["witness"]
    w["in_iface"] = origin.iface if origin.kind != "local" else None
    w["out_iface"] = o.flow.out_iface if o.delivery and o.delivery.kind != "socket" else None
    final = view["final"]
    reachable: bool | None = None if o.flow.approximations else True
    delivered = {
        "ip": ip_str(final["dst"], fam), "port": final["dport"] if proto in ("tcp", "udp", "sctp") else None,
        "seen_src": ip_str(final["src"], fam), "by": o.delivery.by if o.delivery else "kernel",
    }
    if o.delivery and o.delivery.container:
        delivered["container"] = o.delivery.container
    ans = Answer(
        reachable=reachable, verdict="ACCEPT", witness=w, translations=view["translations"], delivered=delivered,
        path=[s.as_dict() for s in o.flow.trace], blocked_by=None,
        assumptions=list(o.flow.notes) + list(o.flow.choices), approximated=list(o.flow.approximations),
    )
    if o.delivery and o.delivery.listener:
        ans.assumptions.append(f"served by the listening socket {o.delivery.listener}")
    if o.delivery and o.delivery.kind == "container":
        ans.assumptions.append(f"a server in container {o.delivery.container} is assumed to listen on "
                               f"{proto}/{final['dport']}")
    if o.proxy is not None:
        return _proxy_leg(eng, ans, o, proto)
    return ans


def _proxy_leg(eng: Engine, first: Answer, o: Outcome, proto: str) -> Answer:
    """docker-proxy accepted the connection and opens a new one to the container."""
    host = eng.host
    cip, cport = o.proxy
    dst = ip_int(cip) if cip else None
    if dst is None or cport is None:
        # docker-proxy took the connection, but no place in the dump says where it forwards it:
        # the container's view (which address, which source) is unknown, not the proxy's socket
        port = first.delivered["port"] if first.delivered else None
        first.reachable = None
        first.approximated.append(
            f"docker-proxy holds {proto} port {port}, but the dump does not say which container it forwards to "
            "(no docker-proxy line in `ps`, no DNAT rule for the port, no `docker inspect` port binding)"
            if cip is None else f"docker-proxy's container address {cip!r} is not understood")
        first.delivered = {"ip": None, "port": None, "seen_src": None, "by": "docker-proxy"}
        return first
    origin = Origin("local", None, None, "docker-proxy")
    leg = search(eng, origin, IntervalSet.point(dst), cport, proto)
    leg_answer = _assemble(eng, origin, leg, proto)
    proxy_t = {"kind": "PROXY", "from": f"{first.delivered['ip']}:{first.delivered['port']}",
               "to": f"{cip}:{cport}", "rule": None}
    ans = Answer(
        reachable=leg_answer.reachable if first.reachable is not False else False,
        verdict=leg_answer.verdict, witness=first.witness,
        translations=first.translations + [proxy_t] + leg_answer.translations,
        delivered=None, path=first.path + [{"table": None, "chain": None, "index": None, "line": None,
                                            "action": f"docker-proxy connects to {cip}:{cport}"}] + leg_answer.path,
        blocked_by=leg_answer.blocked_by,
        assumptions=first.assumptions + leg_answer.assumptions,
        approximated=first.approximated + leg_answer.approximated,
    )
    if leg_answer.delivered:
        ans.delivered = dict(leg_answer.delivered)
        ans.delivered["by"] = "docker-proxy"
        if "container" in leg_answer.delivered:
            ans.delivered["container"] = leg_answer.delivered["container"]
    if first.reachable is None and ans.reachable:
        ans.reachable = None
    return ans
