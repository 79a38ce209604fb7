"""Helpers of the Docker inventory checks (DN304-DN307) and of the invariants (DN401).

Not a check module (the registry only loads ``dn*.py``): which Docker networks are bridges
with a known subnet, which addresses a network's containers may hold, and :func:`ask`, the
engine's query with explicit address sets, so that "network A reaches network B" means its
containers, not B's gateway (a host address: INPUT, not FORWARD).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.answer import Answer
from ..engine.explain import rule_place
from ..engine.query import (Engine, EndpointError, Origin, _accepted_answer, _assemble, _dedupe, _routed_via,
                            resolve_destination, resolve_origin, search)
from ..ir import DockerNetwork, Span
from ..model.intervals import IntervalSet, addr_max, ip_int, ip_str
from .base import CheckContext

__all__ = ["BridgeNet", "bridge_networks", "container_space", "sender_space", "ask", "ask_exists",
           "outside_space", "endpoint_space", "routed_published", "leak_past_routed_publications", "accepting_step", "table_first_line", "EndpointError", "ip_str"]


@dataclass
class BridgeNet:
    """A Docker network on a Linux bridge, as the model sees it."""

    name: str
    bridge: str
    subnets: list[tuple[int, int]]
    gateways: list[int]
    internal: bool
    fact: DockerNetwork | None

    @property
    def span(self) -> Span | None:
        return self.fact.span if self.fact else None

    def option(self, key: str) -> str | None:
        if self.fact is None:
            return None
        for k, v in self.fact.options:
            if k == key:
                return v
        return None

    def holds(self, addr: int) -> bool:
        return any(lo <= addr <= hi for lo, hi in self.subnets)

    def cidrs(self, family: int = 4) -> str:
        out = []
        for lo, hi in self.subnets:
            size = hi - lo + 1
            plen = (32 if family == 4 else 128) - (size.bit_length() - 1)
            out.append(f"{ip_str(lo, family)}/{plen}")
        return ", ".join(out)


def bridge_networks(ctx: CheckContext, eng: Engine) -> list[BridgeNet]:
    """The dump's Docker networks with a bridge driver, a bridge device and a subnet of the family."""
    facts = {n.name: n for n in ctx.dump.facts.docker_networks}
    out = []
    for name, (bridge, subnets, gws, internal) in eng.host.networks.items():
        fact = facts.get(name)
        if fact is not None and fact.driver not in (None, "bridge"):
            continue
        if not bridge or not subnets:
            continue
        out.append(BridgeNet(name, bridge, list(subnets), list(gws), internal, fact))
    return out


def _minus_points(s: IntervalSet, points, fam: int) -> IntervalSet:
    full_hi = addr_max(fam)
    for p in points:
        s = s.intersect(IntervalSet.point(p).complement(0, full_hi))
    return s


def container_space(eng: Engine, net: BridgeNet) -> IntervalSet:
    """The addresses a container of ``net`` may hold: its subnets without the gateways, the
    host's own addresses and (IPv4) the network and broadcast addresses."""
    fam = eng.host.family
    s = IntervalSet(net.subnets)
    edges = [x for lo, hi in net.subnets if fam == 4 and hi - lo >= 3 for x in (lo, hi)]
    s = _minus_points(s, list(net.gateways) + edges, fam)
    return s.intersect(eng.host.local_addrs.complement(0, addr_max(fam)))


sender_space = container_space


def outside_space(eng: Engine, nets: list[BridgeNet]) -> IntervalSet | None:
    """Addresses beyond the default route (not a Docker subnet, not local); None without a default route."""
    host = eng.host
    dev = host.default_route_dev()
    if dev is None:
        return None
    s = _routed_via(host, dev)
    fam = host.family
    full_hi = addr_max(fam)
    beyond = s
    for r in host.routes:  # not on a connected link either: only the default route leads there
        if r.table == "main" and r.plen > 0:
            beyond = beyond.intersect(IntervalSet.range(r.lo, r.hi).complement(0, full_hi))
    if beyond:
        s = beyond
    for n in nets:
        s = s.intersect(IntervalSet(n.subnets).complement(0, full_hi))
    return s if s else None


def _origin(eng: Engine, src: str, dst: IntervalSet, src_set: IntervalSet | None) -> Origin:
    origin = resolve_origin(eng.host, src, dst)
    if src_set is not None:
        narrowed = origin.src.intersect(src_set) if origin.src is not None else src_set
        if narrowed:
            origin = Origin(origin.kind, origin.iface, narrowed, origin.text)
    return origin


def ask(eng: Engine, src: str, dst: str, port: int | None = None, proto: str = "tcp", *,
        src_set: IntervalSet | None = None, dst_set: IntervalSet | None = None) -> Answer:
    """:func:`dnlint.engine.query.query` with the sender's and the destination's address sets
    narrowed (``src``/``dst`` stay the endpoints' names: they pick the interface and the label)."""
    memo = eng.__dict__.setdefault("_dn_ask_memo", {})
    key = (src, dst, port, proto, tuple(src_set.ivs) if src_set is not None else None,
           tuple(dst_set.ivs) if dst_set is not None else None)
    if key in memo:  # DN304 and the docker ruleset's isolation invariant ask the same questions
        return memo[key]
    host = eng.host
    host.query_log = []
    d = dst_set if dst_set is not None else resolve_destination(host, dst)
    origin = _origin(eng, src, d, src_set)
    if proto == "icmp" and host.family == 6:
        proto = "icmpv6"
    result = search(eng, origin, d, port, proto)
    answer = _assemble(eng, origin, result, proto)
    answer.query = {"from": src, "to": dst, "port": port, "proto": proto}
    static = host.assumptions[:host.static_assumptions]
    answer.assumptions = _dedupe(static + host.query_log + answer.assumptions)
    memo[key] = answer
    return answer


def endpoint_space(eng: Engine, net: BridgeNet, space: IntervalSet) -> IntervalSet:
    """The addresses of ``space`` that containers of the inventory hold on ``net``."""
    pts = IntervalSet((e.ip, e.ip) for e in eng.host.endpoints if e.network == net.name)
    return pts.intersect(space)


def ask_exists(eng: Engine, src: str, dst_set: IntervalSet, port: int | None, proto: str, want, *,
               src_set: IntervalSet | None = None, label: str = "") -> Answer | None:
    """The first accepting path whose final packet satisfies ``want(final)`` (a dict of the
    delivered packet's src, dst, sport, dport as integers), as an answer; None if there is none.

    The reply direction is not asked: this is about what the first packet looks like when it
    leaves (e.g. its source address on the uplink)."""
    from ..engine.explore import explore
    from ..engine.query import _init, _run_origin

    host = eng.host
    host.query_log = []
    origin = _origin(eng, src, dst_set, src_set)
    init = _init(host, origin, dst_set, port, proto)

    def hit(leaf) -> bool:
        if leaf.outcome.verdict != "ACCEPT":
            return False
        cur = leaf.run.st.cur
        final = {k: leaf.values.get(cur[k]) for k in ("src", "dst", "sport", "dport")}
        return bool(want(final))

    result = explore(host.family, init, _run_origin(eng, origin, proto), stop_when=hit)
    leaf = next((lf for lf in result.leaves if hit(lf)), None)
    if leaf is None:
        return None
    ans = _accepted_answer(eng, origin, leaf, proto)
    ans.query = {"from": label or src, "to": "", "port": port, "proto": proto}
    static = host.assumptions[:host.static_assumptions]
    ans.assumptions = _dedupe(static + host.query_log + ans.assumptions)
    return ans


def accepting_step(ans: Answer, table: str = "filter", chains: tuple[str, ...] | None = None) -> dict | None:
    """The step of ``ans.path`` that let the packet through ``table`` (its last ACCEPT there):
    a rule, or a built-in chain's policy."""
    found = None
    for s in ans.path:
        if s.get("table") != table or not s.get("line"):
            continue
        if chains is not None and s.get("chain") not in chains:
            continue
        action = (s.get("action") or "").upper()
        if action.endswith("ACCEPT"):
            found = s
    return found


def table_first_line(ctx: CheckContext, family: int, table: str) -> Span | None:
    t = ctx.tables(family).get(table)
    if t is None:
        return None
    return t.span


def step_span(ctx: CheckContext, step: dict | None, family: int = 4) -> Span | None:
    """A span for a path step: the rule's, or its line in the file of the table."""
    if not step or not step.get("line"):
        return None
    t = ctx.tables(family).get(step.get("table") or "")
    file = t.span.file if t is not None and t.span is not None else None
    if t is not None:
        for c in t.chains:
            for r in c.rules:
                if r.span.line == step["line"]:
                    return r.span
    return Span(file, step["line"]) if file is not None else None


def where(step: dict | None) -> str:
    return rule_place(step, kernel="the kernel", long=True)


def routed_published(ctx, net) -> set[tuple[int, int]]:
    """(container address, port) of the TCP ports published on ``net`` when its IPv4 gateway
    mode is ``routed`` (there, -p opens the container port itself; IPv6 bindings aside)."""
    if (net.option("com.docker.network.bridge.gateway_mode_ipv4") or "").lower() != "routed":
        return set()
    out = set()
    for c in ctx.dump.facts.docker_containers:
        ips = [v for e in c.endpoints if e.network == net.name and e.ipv4
               and (v := ip_int(e.ipv4.split("/")[0])) is not None]
        for b in c.ports:
            if b.proto == "tcp" and ":" not in (b.host_ip or ""):
                out.update((ip, b.container_port) for ip in ips)
    return out


def leak_past_routed_publications(ctx, eng: Engine, net, src: str, dst_set: IntervalSet, port: int | None,
                                  proto: str, src_set: IntervalSet | None) -> tuple[set[tuple[int, int]], Answer | None]:
    """For a destination network in gateway mode ``routed``: its published (address, port)s
    and a path from ``src`` to anything else in ``dst_set`` (None: only published ports are
    reached). The set is empty, and nothing is asked, for any other network."""
    published = routed_published(ctx, net)
    if not published:
        return published, None
    leak = ask_exists(eng, src, dst_set, port, proto, lambda final: (final["dst"], final["dport"]) not in published,
                      src_set=src_set, label=src)
    return published, leak
