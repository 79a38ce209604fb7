"""What Docker does on the host, from every place a dump shows it.

One fact often stands in several places: whether the userland proxy runs is on dockerd's
command line (or in daemon.json, which no dump shows), in the shape of Docker's nat rules
(``OUTPUT ! -d 127.0.0.0/8 ... -j DOCKER`` only with the proxy; ``POSTROUTING -o br -m
addrtype --src-type LOCAL -j MASQUERADE`` only without it), in ``ps`` (docker-proxy
processes) and in ``ss -p`` (who holds a published port). A published port's backend is in
docker-proxy's arguments, in the DNAT rule for the same host port and in ``docker
inspect``'s ``NetworkSettings.Ports``. This module reads all of them and says, for each
conclusion, where it came from; what no place shows stays unknown.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..ir import Chain, HostDump, Listener
from ..parse.facts.ps import docker_proxies, dockerd_flags
from .coverage import Coverage


@dataclass(slots=True)
class Proxy:
    """A docker-proxy process (seen in ``ps`` or ``ss``, or inferred from a publication).

    ``container_ip`` is None when no place in the dump names the backend. ``why`` says where
    the proxy is known from when ``ps`` did not show it."""

    proto: str
    host_ip: str
    host_port: int
    container_ip: str | None
    container_port: int | None
    pid: int | None
    why: str | None = None


@dataclass(slots=True)
class Publication:
    """A published port: host side and container side, with the places that show it."""

    proto: str
    host_ip: str  # "0.0.0.0", "::", an address, or "" when only a DNAT rule without -d shows it
    host_port: int
    container_ip: str | None
    container_port: int | None
    container: str | None = None
    sources: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DockerView:
    running: bool
    flags: dict[str, str | bool]  # dockerd's flags: the command line's, plus what the dump shows otherwise
    inferred: dict[str, str]  # flag -> where its value comes from, when not from the command line
    publications: list[Publication]
    proxies: list[Proxy]  # every docker-proxy the dump shows or implies
    daemon_ports: list[Publication]  # ports dockerd itself holds (userland-proxy=false)
    proxies_complete: bool  # no other docker-proxy process runs
    version: tuple[int, ...] | None = None  # the daemon's version, where the dump shows it
    since_28: bool | None = None  # Docker 28's layout or version (None: the dump does not tell)

    def udp_proxy_answers_from_dst(self) -> bool | None:
        """docker-proxy answers a UDP client from the address the client sent to (IP_PKTINFO) since
        Docker 28 (moby#48571); before, from the address the route to the client picks, which a
        connected client drops when it differs (moby#11998, libnetwork#1729)."""
        return self.since_28


def _family_of(ip: str) -> int:
    return 6 if ":" in ip else 4


def _dnat_publications(chains: dict[str, Chain] | None, family: int) -> list[Publication]:
    """Docker's DNAT rules: ``-A DOCKER [-d HOST/32] [! -i br] -p P -m P --dport N -j DNAT --to-destination C:p``."""
    out: list[Publication] = []
    if not chains or "DOCKER" not in chains:
        return out
    for i, rule in enumerate(chains["DOCKER"].rules):
        t = rule.target
        if t is None or t.name != "DNAT" or rule.protocol is None or rule.protocol.negated:
            continue
        dport = None
        for m in rule.matches:
            o = m.option("--dport") or m.option("--destination-port")
            if o is not None and o.args and not o.negated and o.args[0].isdigit():
                dport = int(o.args[0])
        opt = t.option("--to-destination") or t.option("--to")
        if dport is None or opt is None or not opt.args:
            continue
        to = opt.args[0]
        if to.startswith("["):
            cip, _, rest = to[1:].partition("]")
            cport = rest[1:] if rest.startswith(":") else ""
        elif family == 6:
            cip, cport = to, ""
        else:
            cip, _, cport = to.partition(":")
        host_ip = ""
        if rule.dst is not None and not rule.dst.negated:
            host_ip = rule.dst.value.split("/")[0]
        out.append(Publication(rule.protocol.name, host_ip, dport, cip or None,
                               int(cport) if cport.isdigit() else dport, None,
                               [f"the DNAT rule at line {rule.span.line} (nat DOCKER #{i + 1})"]))
    return out


def _container_ip(c, family: int) -> str | None:
    eps = [e for e in c.endpoints if (e.ipv4 if family == 4 else e.ipv6)]
    if not eps:
        return None
    with_gw = [e for e in eps if (e.gateway if family == 4 else e.gateway6)]
    e = (with_gw or eps)[0]
    return (e.ipv4 if family == 4 else e.ipv6).split("/")[0]


def _signature(nat: dict[str, Chain] | None) -> tuple[bool | None, str | None]:
    """userland-proxy from the shape of Docker's nat rules (what the daemon wrote at start)."""
    if not nat:
        return None, None
    for rule in (nat.get("POSTROUTING").rules if nat.get("POSTROUTING") else ()):
        m = rule.match("addrtype")
        if (rule.target and rule.target.name == "MASQUERADE" and m and rule.out_iface
                and (o := m.option("--src-type")) and o.args and o.args[0] == "LOCAL" and not o.negated):
            return False, (f"nat POSTROUTING line {rule.span.line} masquerades the host's own connections to a "
                           "bridge (`-m addrtype --src-type LOCAL -j MASQUERADE`), which dockerd writes only with "
                           "--userland-proxy=false")
    for rule in (nat.get("OUTPUT").rules if nat.get("OUTPUT") else ()):
        if rule.target is None or rule.target.name != "DOCKER":
            continue
        loop = rule.dst is not None and rule.dst.negated and rule.dst.value.split("/")[0] in ("127.0.0.0", "::1")
        if loop:
            return True, (f"nat OUTPUT line {rule.span.line} keeps loopback out of Docker's DNAT "
                          f"(`! -d {rule.dst.value} ... -j DOCKER`), which dockerd writes only with the userland proxy")
        return False, (f"nat OUTPUT line {rule.span.line} sends loopback to Docker's DNAT too (`-j DOCKER` without "
                       "`! -d 127.0.0.0/8`), which dockerd writes only with --userland-proxy=false")
    return None, None


def docker_view(dump: HostDump, family: int, tables: dict[str, dict[str, Chain]], coverage: Coverage,
                listeners: list[Listener]) -> DockerView:
    procs = dump.facts.processes
    flags = dict(dockerd_flags(procs))
    inferred: dict[str, str] = {}
    daemon_seen = bool(flags) or any((p.program or "") in ("dockerd", "dockerd-current") for p in procs)
    nat = tables.get("nat")
    docker_chains = bool((tables.get("filter") or {}).get("DOCKER") or (nat or {}).get("DOCKER"))
    running = daemon_seen or docker_chains or bool(dump.facts.docker_networks or dump.facts.docker_containers)

    # --------------------------------------------------------- the userland proxy
    ps_proxies = [p for p in docker_proxies(procs) if p.get("host_port")]
    ss_proxies = [ls for ls in listeners if (ls.process or "").startswith("docker-pr")]
    if "--userland-proxy" not in flags and running:
        value, why = _signature(nat)
        if value is None and ps_proxies:
            value, why = True, "docker-proxy processes run (ps)"
        if value is None and ss_proxies:
            value, why = True, f"docker-proxy holds {ss_proxies[0].proto} port {ss_proxies[0].port} (ss)"
        if value is None:
            published = {(b.proto, b.host_port) for c in dump.facts.docker_containers if not c.ports_requested_only
                         for b in c.ports if b.host_port}
            held = [ls for ls in listeners if (ls.process or "") in ("dockerd", "dockerd-current")
                    and (ls.proto, ls.port) in published]
            if held:
                value, why = False, (f"dockerd itself holds the published {held[0].proto} port {held[0].port} (ss), "
                                     "as it does when the userland proxy is off")
        if value is not None:
            flags["--userland-proxy"] = value
            inferred["--userland-proxy"] = why
    if "--iptables" not in flags and running and (dump.facts.docker_networks or daemon_seen):
        covered = coverage.rule_tables(family)
        if docker_chains:
            flags["--iptables"] = True
            inferred["--iptables"] = "Docker's chains are in the rule set"
        elif family == 4 and {"nat", "filter"} <= covered:
            flags["--iptables"] = False
            inferred["--iptables"] = "the rule set has no DOCKER chain although Docker runs"

    # --------------------------------------------------------- publications
    pubs: list[Publication] = []

    def add(p: Publication) -> None:
        for q in pubs:
            same_host = q.host_ip == p.host_ip or "" in (q.host_ip, p.host_ip)
            if q.proto == p.proto and q.host_port == p.host_port and same_host:
                if q.container_ip is None:
                    q.container_ip, q.container_port = p.container_ip, p.container_port
                if not q.host_ip:
                    q.host_ip = p.host_ip
                q.container = q.container or p.container
                q.sources.extend(s for s in p.sources if s not in q.sources)
                return
        pubs.append(p)

    for c in dump.facts.docker_containers:
        if c.running is False or c.ports_requested_only:
            continue
        cip = _container_ip(c, family)
        for b in c.ports:
            if not b.host_port:
                continue  # Docker 28's routed mode: a container port with no host port
            hip = b.host_ip or "0.0.0.0"
            if _family_of(hip) != family and hip not in ("0.0.0.0", "::"):
                continue
            add(Publication(b.proto, hip, b.host_port, cip, b.container_port, c.name,
                            [f"docker inspect {c.name} (NetworkSettings.Ports)"]))
    for p in _dnat_publications(nat, family):
        add(p)
    for p in ps_proxies:
        add(Publication(p["proto"] or "tcp", p["host_ip"] or "0.0.0.0", p["host_port"], p["container_ip"],
                        p["container_port"], None, [f"docker-proxy's arguments (ps, pid {p.get('pid')})"]))

    def backend(proto: str, host_ip: str, port: int) -> Publication | None:
        best = None
        for q in pubs:
            if q.proto == proto and q.host_port == port and q.container_ip:
                if q.host_ip in (host_ip, "") or host_ip in ("0.0.0.0", "::", "*", ""):
                    if best is None or q.host_ip == host_ip:
                        best = q
        return best

    # --------------------------------------------------------- docker-proxy processes
    proxies: list[Proxy] = []
    for p in ps_proxies:
        proxies.append(Proxy(p["proto"] or "tcp", p["host_ip"] or "0.0.0.0", p["host_port"], p["container_ip"],
                             p["container_port"], p.get("pid")))
    ps_complete = coverage.processes("docker-proxy")
    if not ps_complete:
        for ls in ss_proxies:
            hip = ls.address if ls.address not in ("*",) else ("::" if ls.family == 6 else "0.0.0.0")
            if any(x.proto == ls.proto and x.host_port == ls.port and x.host_ip == hip for x in proxies):
                continue
            b = backend(ls.proto, hip, ls.port)
            proxies.append(Proxy(ls.proto, hip, ls.port, b.container_ip if b else None,
                                 b.container_port if b else None, ls.pid,
                                 why=f"ss shows docker-proxy on {ls.proto} {ls.address}:{ls.port}"
                                     + (f"; its backend from {b.sources[0]}" if b else
                                        "; no place in the dump names its backend")))
        if flags.get("--userland-proxy") is True:
            for q in pubs:
                if q.container_ip is None:
                    continue
                hosts = [q.host_ip] if q.host_ip else ["0.0.0.0"]
                for hip in hosts:
                    if any(x.proto == q.proto and x.host_port == q.host_port and x.host_ip == hip for x in proxies):
                        continue
                    if coverage.listeners(q.proto, _family_of(hip) if hip not in ("0.0.0.0",) else 4) and \
                            not any(ls.proto == q.proto and ls.port == q.host_port for ls in listeners):
                        continue  # ss lists this protocol's sockets and no one holds the port
                    why = inferred.get("--userland-proxy") or "dockerd runs with --userland-proxy"
                    proxies.append(Proxy(q.proto, hip, q.host_port, q.container_ip, q.container_port, None,
                                         why=f"docker-proxy for {q.proto} {hip}:{q.host_port} inferred: Docker "
                                             f"publishes it ({q.sources[0]}) and runs the userland proxy ({why})"))
    proxies_complete = ps_complete or flags.get("--userland-proxy") is False or (
        flags.get("--userland-proxy") is True and _publications_complete(dump, flags, tables))

    daemon_ports: list[Publication] = []
    if flags.get("--userland-proxy") is False:
        daemon_ports = [q for q in pubs if q.host_port]
    version = None
    if dump.facts.docker_version:
        version = tuple(int(x) for x in dump.facts.docker_version.split(".") if x.isdigit())
    since_28 = None
    if version:
        since_28 = version >= (28,)
    elif (tables.get("filter") or {}).get("DOCKER-FORWARD") is not None:
        since_28 = True  # the filter layout Docker 28 introduced
    elif (tables.get("filter") or {}).get("DOCKER-ISOLATION-STAGE-1") is not None:
        fwd = (tables.get("filter") or {}).get("FORWARD")
        if fwd is not None and any(r.target and r.target.name == "DOCKER-ISOLATION-STAGE-1" for r in fwd.rules):
            since_28 = False  # FORWARD jumps to the isolation chain itself: the layout before 28
    return DockerView(running, flags, inferred, pubs, proxies, daemon_ports, proxies_complete, version, since_28)


def _publications_complete(dump: HostDump, flags, tables) -> bool:
    """Every publication is in the dump: dockerd writes a DNAT rule for each (--iptables)."""
    return flags.get("--iptables") is not False and bool((tables.get("nat") or {}).get("DOCKER"))


def family_of_address(text: str) -> int | None:
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None
