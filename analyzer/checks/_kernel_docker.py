"""Helpers shared by the kernel/NAT (DN2xx) and Docker (DN301-DN303) checks.

Not a check module (the registry only loads ``dn*.py``): what a DNAT rule publishes, which
address `outside` uses, and the one-line witness flow of an engine answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..engine.answer import Answer
from ..engine.explain import rule_place
from ..ir import Rule, Span, Sysctl
from ..model.host import LOOPBACK_V4, HostModel
from ..model.intervals import cidr_interval, ip_int, ip_str
from ..model.values import nat_spec, port_list, port_range
from .base import CheckContext, RuleRef

PORT_PROTOS = ("tcp", "udp", "sctp")


@dataclass
class DnatRule:
    """A DNAT rule of the nat table, read: what it matches and where it sends."""

    ref: RuleRef
    proto: str | None  # tcp/udp/sctp, None: any protocol
    ports: list[tuple[int, int]] | None  # destination ports it matches; None: any
    to_addr: int | None  # first address of --to-destination
    to_port: int | None  # first port of --to-destination; None: unchanged

    @property
    def rule(self) -> Rule:
        return self.ref.rule

    @property
    def port(self) -> int | None:
        return self.ports[0][0] if self.ports else None

    def container_port(self, host_port: int | None) -> int | None:
        return self.to_port if self.to_port is not None else host_port


def rule_proto(rule: Rule) -> str | None:
    p = rule.protocol
    if p is None or p.negated:
        return None
    return p.name.lower()


def rule_dports(rule: Rule) -> list[tuple[int, int]] | None:
    """The destination ports a rule matches (tcp/udp/sctp ``--dport``, multiport); None: any or negated."""
    for m in rule.matches:
        if m.module in PORT_PROTOS:
            opt = m.option("--dport") or m.option("--destination-port")
            if opt and opt.args and not opt.negated:
                r = port_range(opt.args[0])
                return [r] if r else None
        if m.module == "multiport":
            opt = m.option("--dports") or m.option("--destination-ports") or m.option("--ports")
            if opt and opt.args and not opt.negated:
                return port_list(opt.args[0])
    return None


def dnat_rules(ctx: CheckContext, family: int = 4) -> list[DnatRule]:
    out = []
    for ref in ctx.rules(family):
        t = ref.rule.target
        if ref.table != "nat" or t is None or t.name != "DNAT":
            continue
        opt = t.option("--to-destination") or t.option("--to")
        spec = nat_spec(opt.args[0], family) if opt and opt.args else None
        proto = rule_proto(ref.rule)
        out.append(DnatRule(ref, proto if proto in PORT_PROTOS else None, rule_dports(ref.rule),
                            spec.addr[0] if spec and spec.addr else None,
                            spec.port[0] if spec and spec.port else None))
    return out


def is_loopback(addr: int | None) -> bool:
    return addr is not None and LOOPBACK_V4[0] <= addr <= LOOPBACK_V4[1]


def host_ip_is_loopback(text: str | None) -> bool | None:
    """True for a 127.0.0.0/8 host IP, False for any other (0.0.0.0, a host address), None for IPv6/unknown."""
    if text is None:
        return None
    t = text.strip().strip("[]")
    if t in ("", "0.0.0.0", "*"):
        return False
    if ":" in t:
        return None
    v = ip_int(t)
    return None if v is None else is_loopback(v)


@dataclass
class Publication:
    """A container port published through the host, as one source in the dump shows it."""

    ip: int | None  # the container's IPv4 address
    port: int | None  # the container port
    proto: str
    host_lo: bool | None  # bound on 127.0.0.0/8 only; False: another address; None: IPv6 or unknown
    rank: int  # the evidence, best first: 0 a nat DNAT rule, 1 a docker-proxy, 2 `docker inspect`
    span: Span | None  # None: a docker-proxy whose process line the dump lacks
    what: str


def publications(ctx: CheckContext, host: HostModel) -> Iterator[Publication]:
    """Every publication the dump shows: nat DNAT rules, docker-proxy arguments (from ss/ps)
    and the port bindings of `docker inspect`."""
    for d in dnat_rules(ctx, 4):
        if d.to_addr is None:
            continue
        dst = rule_dst_point(d.rule)
        yield Publication(d.to_addr, d.container_port(d.port), (d.proto or "tcp").lower(),
                          dst is not None and is_loopback(dst), 0, d.rule.span,
                          f"nat {d.ref.chain.name} #{d.ref.index} DNATs {ip_str(dst, 4) if dst is not None else 'any'}:"
                          f"{d.port} to it")
    pids = {p.pid: p for p in ctx.dump.facts.processes if p.pid is not None}
    for p in host.proxies:
        proc = pids.get(p.pid)
        yield Publication(ip_int(p.container_ip), p.container_port, (p.proto or "tcp").lower(),
                          host_ip_is_loopback(p.host_ip), 1, proc.span if proc is not None else None,
                          f"docker-proxy listens on {p.host_ip}:{p.host_port}/{p.proto}")
    for c in ctx.dump.facts.docker_containers:
        for b in c.ports:
            for e in c.endpoints:
                ip = ip_int((e.ipv4 or "").split("/")[0]) if e.ipv4 else None
                yield Publication(ip, b.container_port, (b.proto or "tcp").lower(), host_ip_is_loopback(b.host_ip), 2,
                                  c.span, f"container {c.name} publishes {b.host_ip or '0.0.0.0'}:{b.host_port}->"
                                          f"{b.container_port}/{b.proto}")


def rule_dst_point(rule: Rule, family: int = 4) -> int | None:
    """The first address of a rule's non-negated ``-d``, if any."""
    if rule.dst is None or rule.dst.negated:
        return None
    iv = cidr_interval(rule.dst.value, family)
    return iv[0] if iv else None


def outside_address(host: HostModel) -> str | None:
    """The host address a client beyond the default route connects to."""
    dev = host.default_route_dev()
    if dev is None:
        return None
    a = host.primary_address(dev)
    return ip_str(a, host.family) if a is not None else None


def sysctl_fact(ctx: CheckContext, key: str) -> Sysctl | None:
    return ctx.dump.facts.sysctl(key)


def flag(s: Sysctl | None) -> bool | None:
    if s is None:
        return None
    try:
        return int(s.value.split()[0]) != 0
    except (ValueError, IndexError):
        return None




def flow_text(a: Answer, label: str, outcome: str | None = None) -> str:
    """One line: ``host 127.0.0.1:40000 -> 127.0.0.1:80/tcp: DNAT to 172.18.0.2:80, <outcome>``."""
    w = a.witness or {}
    proto = w.get("proto") or a.query.get("proto") or "tcp"
    sp = f":{w['sport']}" if w.get("sport") is not None else ""
    dp = f":{w['dport']}" if w.get("dport") is not None else ""
    head = f"{label} {w.get('src', '?')}{sp} -> {w.get('dst', '?')}{dp}/{proto}"
    if w.get("in_iface"):
        head += f" (in {w['in_iface']})"
    parts = [f"{t['kind']} to {t['to']}" for t in a.translations if t["kind"] in ("DNAT", "REDIRECT", "PROXY")]
    if outcome is None:
        if a.reachable is not False and a.delivered:
            d = a.delivered
            port = f":{d['port']}" if d.get("port") is not None else ""
            who = f"container {d['container']}" if d.get("container") else d.get("by")
            outcome = f"delivered to {who} at {d['ip']}{port} (seen source {d['seen_src']})"
            if a.reachable is None:
                outcome = "possibly " + outcome
        else:
            b = a.blocked_by or {}
            outcome = f"{a.verdict} at {rule_place(b, kernel='the kernel')}"
    parts.append(outcome)
    return f"{head}: " + ", ".join(parts)



def reaching_class(host: HostModel, src: int | None, dst: int | None, proto: str, port, dev: str | None,
                   sport) -> object | None:
    """The address-space view's sources of ``proto``/``port`` to ``dst`` arriving on ``dev`` (the full
    path), as :class:`dnlint.engine.space.SourceClasses`; None when the view cannot say (no port,
    another family, no device) or ``src`` is not among them."""
    from ..engine.space import SpaceError, sources_reaching

    if port is None or proto not in ("tcp", "udp") or not dev or host.family != 4 or src is None or dst is None:
        return None
    try:
        cls = sources_reaching(host, dst, proto, int(port), dev, int(sport or 40000))
    except (SpaceError, KeyError, ValueError):
        return None
    return cls if src in cls.accept.union(cls.possible) else None


def source_class(host: HostModel, a: Answer, in_iface: str | None = None, within=None,
                 within_label: str | None = None) -> str | None:
    """The whole class of sources the witness of ``a`` stands for, from the address-space view (the
    full path to the witness's destination and port, arriving where the witness arrived): "from
    10.0.0.0/8 and 192.168.0.0/16 arriving on eth0", "from every address of 172.17.0.0/16 arriving
    on docker0"; None when the view cannot say (no port, another family, the witness not in it)."""
    from ..engine.space import ranges_text, unusable_sources
    from ..model.intervals import addr_max

    w = a.witness or {}
    dev = in_iface or w.get("in_iface")
    cls = reaching_class(host, ip_int(str(w.get("src"))), ip_int(str(w.get("dst"))),
                         w.get("proto") or a.query.get("proto") or "tcp", w.get("dport"), dev, w.get("sport"))
    if cls is None:
        return None
    got = cls.accept.union(cls.possible)
    usable = unusable_sources(host).complement(0, addr_max(4))
    doubt = cls.possible.intersect(usable).intersect(within if within is not None else usable)
    maybe = f" ({ranges_text(doubt, 4, 3)} only possibly)" if doubt else ""
    if within is not None:
        inside = got.intersect(within)
        if inside == within:
            return f"from every {within_label or 'address of ' + ranges_text(within, 4)} arriving on {dev}{maybe}"
        return f"from {ranges_text(inside, 4)} of {within_label or ranges_text(within, 4)} arriving on {dev}{maybe}"
    if usable.subset_of(got):
        return f"from every source arriving on {dev}{maybe}"
    return f"from {cls.text(fill=unusable_sources(host))} arriving on {dev}{maybe}"
