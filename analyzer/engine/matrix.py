"""`dnlint matrix`: the whole host at once, as a view over the query engine.

Rows are sources, columns destinations (the host's endpoints: ``host``, ``outside``, each
interface's network, each Docker network and container; as destinations, the host's own
addresses, each container and ``outside``). A cell is a list of port classes, each a set of
destination ports of one protocol whose packets share one fate.

How the classes come about: the destination ports that any rule, listener, docker-proxy or
published port names split 1-65535 into atoms, ranges that every rule and every socket treats
alike; each atom's fate is the answer ``query`` gives for one of its ports (the same answer,
with its witness, path, translations and assumptions), and atoms whose answers agree in every
respect but the port itself (the same rules crossed, the same translations and delivery, the
port kept) form one class. Ports are the only service dimension split here; a cell's sources
are one class (``query``'s existential answer: some source of the row), and a row whose answer
holds for some source ports only says so.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ..model.intervals import IntervalSet, ip_int, ip_str
from .answer import Answer
from .query import Engine, EndpointError, docker_name, engine_for, query

#: fates a port class can have, in the order they are listed
FATES = ("direct", "dnat", "masqueraded", "proxied", "blackhole", "no-listener", "answer-elsewhere",
         "isolated", "unknown")

PORT_FIELDS = ("dport", "odport", "rsport")  # fields that name the original destination port
SERVICE_PROTOS = ("tcp", "udp", "icmp")


@dataclass
class MatrixEndpoint:
    """A row or column: ``ref`` is the endpoint as ``query`` takes it; ``label`` what a person reads."""

    ref: str
    label: str
    kind: str  # host, outside, link, network, container, address
    addresses: str | None = None

    def as_dict(self) -> dict:
        return {"ref": self.ref, "label": self.label, "kind": self.kind, "addresses": self.addresses}


@dataclass
class PortClass:
    """Ports of one protocol with one fate, proved by ``answer`` (for port ``witness_port``)."""

    proto: str
    ports: list[tuple[int, int]]  # [] for ICMP (echo)
    fate: str
    reachable: bool | None
    summary: str
    answer: Answer
    witness_port: int | None

    def ports_text(self) -> str:
        return ports_text(self.ports)

    def as_dict(self) -> dict:
        a = self.answer
        return {"proto": self.proto, "ports": [list(r) for r in self.ports], "fate": self.fate,
                "reachable": self.reachable, "summary": self.summary, "witness_port": self.witness_port,
                "answer": a.as_dict()}


@dataclass
class Cell:
    src: MatrixEndpoint
    dst: MatrixEndpoint
    classes: list[PortClass] = field(default_factory=list)
    error: str | None = None  # the pair has no answer (e.g. an endpoint the host cannot place)

    def class_for(self, proto: str, port: int | None) -> PortClass | None:
        for c in self.classes:
            if c.proto != proto:
                continue
            if not c.ports or port is None or any(lo <= port <= hi for lo, hi in c.ports):
                return c
        return None

    def as_dict(self) -> dict:
        return {"from": self.src.ref, "to": self.dst.ref, "error": self.error,
                "classes": [c.as_dict() for c in self.classes]}


@dataclass
class Matrix:
    family: int
    sources: list[MatrixEndpoint]
    destinations: list[MatrixEndpoint]
    protos: list[str]
    ports: list[tuple[int, int]]  # the service space asked for
    cells: list[Cell]
    assumptions: list[str] = field(default_factory=list)
    queries: int = 0  # how many queries decided it

    def cell(self, src: str, dst: str) -> Cell | None:
        for c in self.cells:
            if c.src.ref == src and c.dst.ref == dst:
                return c
        return None

    def as_dict(self) -> dict:
        return {"version": 1, "family": self.family, "protos": self.protos,
                "ports": [list(r) for r in self.ports],
                "sources": [e.as_dict() for e in self.sources],
                "destinations": [e.as_dict() for e in self.destinations],
                "assumptions": self.assumptions,
                "cells": [c.as_dict() for c in self.cells]}


def ports_text(ports: list[tuple[int, int]]) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ports)


def parse_ports(text: str) -> list[tuple[int, int]]:
    """``80``, ``80,443``, ``8000-8100``: the ranges, merged; ValueError for anything else."""
    s = IntervalSet()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if not (1 <= a <= b <= 65535):
            raise ValueError(f"port range {part!r} is not within 1-65535")
        s = s.union(IntervalSet.range(a, b))
    if not s:
        raise ValueError(f"no port in {text!r}")
    return list(s.ivs)


# --------------------------------------------------------------------------- endpoints


def default_sources(eng: Engine) -> list[MatrixEndpoint]:
    host = eng.host
    fam = host.family
    out = [MatrixEndpoint("host", "host", "host")]
    if host.default_route_dev() is not None or host.outside_ifaces:
        out.append(MatrixEndpoint("outside", "outside", "outside"))
    docker_bridges = {b for b, _s, _g, _i in host.networks.values() if b} | set(host.bridges)
    for dev in host.iface_order or sorted(host.ifaces):
        if dev == "lo" or dev in docker_bridges:
            continue
        for addr, plen in host.ifaces.get(dev, []):
            if plen >= (32 if fam == 4 else 128):
                continue
            net = ipaddress.ip_network(f"{ip_str(addr, fam)}/{plen}", strict=False)
            ref = str(net)
            if all(e.ref != ref for e in out):
                out.append(MatrixEndpoint(ref, f"{dev} link {ref}", "link", ref))
    for name, (bridge, subnets, _g, _i) in sorted(host.networks.items()):
        if bridge is None:
            continue
        nets = ", ".join(f"{ip_str(lo, fam)}-{ip_str(hi, fam)}" for lo, hi in subnets)
        out.append(MatrixEndpoint(f"network:{name}", f"network {name}", "network", nets or None))
    for name, ip in _containers(host):
        out.append(MatrixEndpoint(f"container:{name}", name, "container", ip_str(ip, fam)))
    return out


def _containers(host) -> list[tuple[str, int]]:
    seen, out = set(), []
    for e in host.endpoints:
        if e.container in seen or e.container in host.host_network:
            continue
        seen.add(e.container)
        out.append((e.container, e.ip))
    return sorted(out)


def default_destinations(eng: Engine) -> list[MatrixEndpoint]:
    host = eng.host
    fam = host.family
    out: list[MatrixEndpoint] = []
    loop = "127.0.0.1" if fam == 4 else "::1"
    out.append(MatrixEndpoint(loop, f"{loop} (lo)", "address", loop))
    seen = {loop}
    for dev in host.iface_order or sorted(host.ifaces):
        for addr, _plen in host.ifaces.get(dev, []):
            a = ip_str(addr, fam)
            if a in seen or (fam == 4 and addr >> 24 == 127) or (fam == 6 and addr == 1):
                continue
            if fam == 6 and ipaddress.IPv6Address(addr).is_link_local:
                continue
            seen.add(a)
            out.append(MatrixEndpoint(a, f"{a} ({dev})", "address", a))
    if host.docker is not None:
        for p in host.docker.publications:
            a = p.host_ip
            if not a or a in seen or a in ("0.0.0.0", "::"):
                continue
            try:
                if ipaddress.ip_address(a).version != fam:
                    continue
            except ValueError:
                continue
            seen.add(a)
            out.append(MatrixEndpoint(a, f"{a} (published)", "address", a))
    for name, ip in _containers(host):
        out.append(MatrixEndpoint(f"container:{name}", name, "container", ip_str(ip, fam)))
    if host.default_route_dev() is not None or host.outside_ifaces:
        out.append(MatrixEndpoint("outside", "outside", "outside"))
    return out


def endpoint(eng: Engine, ref: str, defaults: list[MatrixEndpoint]) -> MatrixEndpoint:
    """A ``--from``/``--to`` endpoint as a row or column (any text ``query`` takes): the default
    row or column of that name, else one of its own."""
    for e in defaults:
        if e.ref == ref:
            return e
    if ref in ("host", "outside"):
        return MatrixEndpoint(ref, ref, ref)
    if _is_addr(ref):
        return MatrixEndpoint(ref, ref, "address", ref)
    kind, _, name = ref.partition(":")
    if kind in ("container", "network"):
        docker_name(eng.host, kind, name)  # EndpointError when the inventory has no such name
    elif kind != "iface" or not name:
        raise EndpointError(f"{ref!r} is not an endpoint: an IP address or CIDR, host, outside, iface:NAME, "
                            "container:NAME or network:NAME")
    return MatrixEndpoint(ref, ref, kind)


def _is_addr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- port atoms


def port_boundaries(eng: Engine, proto: str) -> list[int]:
    """Where a destination port range may change fate: the first port of every range and the port
    after it, for every range a rule matches on (the destination port, or the original one
    conntrack remembers), every listener, docker-proxy, published and container port."""
    host = eng.host
    cuts: set[int] = {1}

    def add(lo: int, hi: int) -> None:
        cuts.add(max(1, lo))
        if hi + 1 <= 65535:
            cuts.add(hi + 1)

    for chains in host.tables.values():
        for chain in chains.values():
            for rule in chain.rules:
                for box in eng.compiler.compile(rule).boxes:
                    for fld in PORT_FIELDS:
                        s = box.get(fld)
                        if s is not None:
                            for lo, hi in s.ivs:
                                add(lo, hi)
    for ls in host.listeners:
        if ls.proto == proto:
            add(ls.port, ls.port)
    for p in host.proxies:
        if p.proto == proto:
            add(p.host_port, p.host_port)
    if host.docker is not None:
        for q in host.docker.publications:
            if q.proto == proto:
                add(q.host_port, q.host_port)
                if q.container_port:
                    add(q.container_port, q.container_port)
    for ports in host.container_ports.values():
        for port, pr in ports:
            if pr == proto:
                add(port, port)
    return sorted(cuts)


def port_atoms(cuts: list[int], space: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges between consecutive cuts, within ``space``."""
    bounds = sorted(set(cuts) | {65536})
    atoms = []
    for a, b in zip(bounds, bounds[1:]):
        lo, hi = a, b - 1
        for slo, shi in space:
            x, y = max(lo, slo), min(hi, shi)
            if x <= y:
                atoms.append((x, y))
    return atoms


# --------------------------------------------------------------------------- fates


def fate_of(a: Answer) -> str:
    kinds = [t.get("kind") for t in a.translations]
    if a.reachable is None:
        return "unknown"
    if a.reachable is False:
        v = a.verdict
        if v == "BLACKHOLE":
            return "blackhole"
        if v == "NO_LISTENER":
            return "no-listener"
        if v == "ANSWER_FROM_OTHER_ADDRESS":
            return "answer-elsewhere"
        return "isolated"
    by = (a.delivered or {}).get("by") or ""
    if "PROXY" in kinds or by == "docker-proxy":
        return "proxied"
    if any(k in ("DNAT", "REDIRECT", "NETMAP") for k in kinds):
        return "dnat"
    if any(k in ("SNAT", "MASQUERADE") for k in kinds):
        return "masqueraded"
    return "direct"


def _rule_text(r: dict | None) -> str:
    if not r:
        return ""
    if r.get("chain") and r.get("index"):
        line = f", line {r['line']}" if r.get("line") else ""
        return f"{r['chain']} #{r['index']}{line}"
    return r.get("chain") or ""


def _name_of(eng: Engine, ip: str | None) -> str | None:
    """The container an address belongs to, else the address."""
    v = ip_int(ip) if ip is not None else None
    return next((e.container for e in eng.host.endpoints if e.ip == v), ip) if v is not None else ip


def summary_of(eng: Engine, a: Answer, fate: str, ports: str | None = None) -> str:
    """One line for a class: its fate, where it goes, the source the server sees, what blocks it.
    ``ports`` (the class's ports) stands for the witness's port in texts from the answer."""
    text = _summary(eng, a, fate)
    w = a.witness or {}
    if ports and w.get("dport"):
        text = _sub_port(text, w["dport"], ports)
    return text


def _summary(eng: Engine, a: Answer, fate: str) -> str:
    d = a.delivered or {}
    w = a.witness or {}
    seen = d.get("seen_src")
    if seen is None and fate in ("direct", "dnat", "masqueraded", "proxied"):
        seen_txt = "seen src unknown"
    elif seen is not None and seen == w.get("src"):
        seen_txt = "seen src kept"
    else:
        seen_txt = f"seen src {seen}"
    target = d.get("ip")
    name = _name_of(eng, target)
    port = d.get("port")
    if target is None:
        where = "?"
    elif port is None or port == w.get("dport"):
        where = name  # the port kept
    else:
        where = f"{name}:{port}"
    if fate == "direct":
        by = d.get("by")
        return f"direct to {where}" + (f" ({by}, {seen_txt})" if by else f" ({seen_txt})")
    if fate == "dnat":
        return f"DNAT {where} ({seen_txt})"
    if fate == "masqueraded":
        return f"masqueraded to {where} ({seen_txt})"
    if fate == "proxied":
        return f"docker-proxy -> {where} ({seen_txt})"
    if fate == "blackhole":
        return "black hole: " + _reason(a)
    if fate == "no-listener":
        return "no listener: " + _reason(a)
    if fate == "answer-elsewhere":
        return "answer from another address: " + _reason(a)
    if fate == "unknown":
        why = a.approximated[0] if a.approximated else "an approximated match"
        return f"possible ({a.verdict}): {why}"
    b = a.blocked_by or {}
    rule = _rule_text(b)
    verdict = a.verdict
    if rule and b.get("index"):
        return f"{verdict} ({rule})"
    return f"{verdict}: {_reason(a)}" if _reason(a) else verdict


def _reason(a: Answer) -> str:
    b = a.blocked_by or {}
    r = str(b.get("reason") or "")
    where = _rule_text(b) if b.get("index") else (b.get("chain") and f"{b.get('table')} {b['chain']} policy") or ""
    return f"{r} ({where})" if where and r else (r or where)


#: a port number in an answer's text: after "port " or ":" (ip:port), or before "/tcp" and the like
_NUM = re.compile(r"(?:(?<=port )|(?<=ports )|(?<=:))(\d{1,5})(?![\w.])|(?<![\w.])(\d{1,5})(?=/(?:tcp|udp|sctp))")


def _sub_port(text: str, port: int, by: str) -> str:
    """``text`` with ``port`` (where it stands as a port) written as ``by``."""
    return _NUM.sub(lambda m: by if (m.group(1) or m.group(2)) == str(port) else m.group(0), text)


def _norm(text: str, port: int | None, w: dict | None = None) -> str:
    """``text`` with the queried port written as {port}, and the witness's addresses as {src}
    and {dst}: two ports (two witnesses) with otherwise equal answers give equal texts."""
    if port is not None:
        text = _sub_port(text, port, "{port}")
    for key in ("src", "dst"):
        ip = (w or {}).get(key)
        if ip:
            text = re.sub(rf"(?<![\w.:]){re.escape(ip)}(?![\w.])", "{" + key + "}", text)
    return text


def signature(a: Answer, port: int | None) -> tuple:
    """What two ports' answers must share to be one class: everything but the port itself (and,
    for an endpoint that is a set of addresses, the witness's own addresses)."""
    w = a.witness or {}

    def n(v) -> str:
        if isinstance(v, int):
            return "{port}" if v == port else str(v)
        return _norm(str(v), port, w) if v is not None else ""

    d = a.delivered or {}
    b = a.blocked_by or {}
    trans = tuple((t.get("kind"), n(t.get("from")), n(t.get("to")),
                   tuple(sorted((t.get("rule") or {}).items()))) for t in a.translations)
    path = tuple((s.get("table"), s.get("chain"), s.get("index"), s.get("action")) for s in a.path)
    return (a.reachable, a.verdict, trans, path,
            (n(d.get("ip")), n(d.get("port")), n(d.get("seen_src")), d.get("by")),
            (b.get("table"), b.get("chain"), b.get("index"), n(b.get("reason"))),
            a.how_it_ends, a.ends_with, a.source_ports is not None,
            tuple(n(x) for x in a.approximated))


# --------------------------------------------------------------------------- the matrix


def cell_classes(eng: Engine, src: MatrixEndpoint, dst: MatrixEndpoint, protos: list[str],
                 space: list[tuple[int, int]], cuts: dict[str, list[int]]) -> tuple[list[PortClass], int]:
    """The cell's port classes, and how many queries decided them."""
    classes: list[PortClass] = []
    queries = 0
    for proto in protos:
        if proto == "icmp":
            a = query(eng, src.ref, dst.ref, None, "icmp")
            queries += 1
            f = fate_of(a)
            classes.append(PortClass("icmp", [], f, a.reachable, summary_of(eng, a, f), a, None))
            continue
        groups: dict[tuple, list] = {}
        order: list[tuple] = []
        for lo, hi in port_atoms(cuts[proto], space):
            a = query(eng, src.ref, dst.ref, lo, proto)
            queries += 1
            sig = signature(a, lo)
            if sig not in groups:
                groups[sig] = [[], a, lo]
                order.append(sig)
            rs = groups[sig][0]
            if rs and rs[-1][1] + 1 == lo:
                rs[-1] = (rs[-1][0], hi)
            else:
                rs.append((lo, hi))
        for sig in order:
            ranges, a, p = groups[sig]
            f = fate_of(a)
            classes.append(PortClass(proto, ranges, f, a.reachable, summary_of(eng, a, f, ports_text(ranges)), a, p))
    return classes, queries


def compute_matrix(eng: Engine, *, sources: list[str] | None = None, destinations: list[str] | None = None,
                   protos: list[str] | None = None, ports: list[tuple[int, int]] | None = None) -> Matrix:
    """The endpoint matrix of the host ``eng`` models (the default rows and columns, or those named)."""
    protos = list(protos or SERVICE_PROTOS)
    for p in protos:
        if p not in SERVICE_PROTOS:
            raise EndpointError(f"unknown protocol {p!r} (tcp, udp or icmp)")
    space = ports or [(1, 65535)]
    srcs = default_sources(eng)
    if sources:
        srcs = [endpoint(eng, s, srcs) for s in sources]
    dsts = default_destinations(eng)
    if destinations:
        dsts = [endpoint(eng, d, dsts) for d in destinations]
    cuts = {p: port_boundaries(eng, p) for p in protos if p in ("tcp", "udp")}
    queries = 0
    cells = []
    for s in srcs:
        for d in dsts:
            cell = Cell(s, d)
            try:
                cell.classes, n = cell_classes(eng, s, d, protos, space, cuts)
                queries += n
            except EndpointError as e:
                cell.error = str(e)
            cells.append(cell)
    static = eng.host.assumptions[:eng.host.static_assumptions]
    return Matrix(eng.host.family, srcs, dsts, protos, space, cells, assumptions=list(static), queries=queries)


def matrix_dump(dump, *, family: int = 4, **kw) -> Matrix:
    return compute_matrix(engine_for(dump, family), **kw)
