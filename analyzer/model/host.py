"""The host as the kernel sees it: tables, addresses, routes, sysctls, sockets, Docker.

Built from a :class:`~dnlint.ir.HostDump` for one address family. Every fact the dump
lacks but an answer needs is taken from the kernel's or Docker's default and recorded in
:attr:`HostModel.assumptions`, so answers can say what they rest on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..ir import Chain, HostDump, Listener, RulesetFormat, Span, Table
from ..parse.facts.sysctl import sysctl_iface_key
from .coverage import Coverage
from .docker import DockerView, Proxy, docker_view
from .implied import implied_host
from .nft import native_base_chains
from .intervals import IntervalSet, addr_max, cidr_interval, ip_int, ip_str

LOOPBACK_V4 = (0x7F000000, 0x7FFFFFFF)


@dataclass(slots=True)
class RouteEntry:
    lo: int
    hi: int
    plen: int
    type: str
    table: str
    dev: str | None
    via: int | None
    src: int | None
    metric: int
    span: Span | None


@dataclass(slots=True)
class RouteResult:
    type: str  # local, unicast, broadcast, blackhole, unreachable, prohibit, none
    dev: str | None
    via: int | None
    src: int | None
    entry: RouteEntry | None


@dataclass(frozen=True, slots=True)
class Unknown:
    """A fact the dump does not show (out of every section's scope), that an answer may turn on:
    ``likely`` is the value the kernel's or Docker's defaults give it, ``text`` says what is missing."""

    key: str
    likely: bool
    text: str


@dataclass(slots=True)
class Endpoint:
    container: str
    network: str
    ip: int
    bridge: str | None
    has_gateway: bool | None = None  # False: the container has no default route through this network


@dataclass
class HostModel:
    family: int
    tables: dict[str, dict[str, Chain]]
    table_spans: dict[str, Span]
    lossy_tables: set[str]
    ifaces: dict[str, list[tuple[int, int]]]  # iface -> [(address, prefixlen)]
    bridges: set[str]
    local_addrs: IntervalSet
    local_by_iface: dict[str, IntervalSet]
    routes: list[RouteEntry]
    sysctls: dict[str, str]
    listeners: list[Listener]
    proxies: list[Proxy]
    dockerd: dict[str, str | bool]
    dockerd_running: bool
    endpoints: list[Endpoint]
    networks: dict[str, tuple[str | None, list[tuple[int, int]], list[int], bool]]  # name -> (bridge, subnets, gateways, internal)
    assumptions: list[str] = field(default_factory=list)
    addresses_known: bool = True
    addr_scopes: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)  # iface -> (addr, plen, scope rank)
    interfaces: tuple = ()
    iface_order: list[str] = field(default_factory=list)
    static_assumptions: int = 0  # the first ones come from building the model; later ones from lookups
    query_log: list[str] = field(default_factory=list)  # assumptions the current query relied on
    ids: dict[str, str] = field(default_factory=dict)  # Docker container and network id -> name
    coverage: Coverage | None = None
    docker: DockerView | None = None
    tables_known: set[str] = field(default_factory=lambda: {"raw", "mangle", "nat", "filter", "security"})
    main_routes_shown: bool = True  # the dump lists the main routing table (else only connected routes are known)
    outside_ifaces: list[str] = field(default_factory=list)  # a bare rule set: the interfaces `outside` may use
    link_details: bool = False  # the dump shows link kinds (`ip -d link`): a device not listed as a bridge is none
    native_chains: list = field(default_factory=list)  # native nftables base chains for this family (model/nft.py)

    def maybe_bridge(self, iface: str | None) -> bool | None:
        """Is ``iface`` a bridge? None when the dump cannot tell (no link details; a name that is not
        Docker's: docker0, br-<id>)."""
        if iface is None or iface == "lo":
            return False
        if iface in self.bridges:
            return True
        if self.link_details:
            return False
        return None

    # Docker containers: the ports each exposes or publishes ((port, proto)), and those that share the
    # host's network namespace (--network host)
    container_ports: dict[str, set[tuple[int, str]]] = field(default_factory=dict)
    host_network: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ sysctls

    def _sysctl(self, key: str) -> str | None:
        return self.sysctls.get(key)

    def _flag(self, key: str) -> bool | None:
        v = self._sysctl(key)
        if v is None:
            return None
        try:
            return int(v.split()[0]) != 0
        except (ValueError, IndexError):
            return None

    def _assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)
        if text not in self.query_log:
            self.query_log.append(text)

    def _sysctl_state(self, key: str) -> bool | None | Unknown:
        """A sysctl flag: its value; None when the dump would show the key and does not (the
        host has no such key); :class:`Unknown` when no section of the dump covers it."""
        v = self._flag(key)
        if v is not None:
            return v
        if self.coverage is None or self.coverage.sysctl(key):
            return None
        shown = self.coverage.sysctl_sources()
        where = (f"`{shown[0]}` does not cover it" if len(shown) == 1 else
                 "no sysctl section covers it" if not shown else "none of its sysctl sections covers it")
        return Unknown(key, False, f"{key} is not in the dump ({where})")

    def _known(self, state: bool | Unknown, likely: bool, why: str | None) -> bool | Unknown:
        if isinstance(state, Unknown):
            text = state.text + (f"; {why}" if why else "")
            return Unknown(state.key, likely, text)
        return state

    def route_localnet_state(self, iface: str) -> bool | Unknown:
        """IN_DEV_ROUTE_LOCALNET: conf.all OR conf.<iface> (IN_DEV_ORCONF in the kernel)."""
        all_v = self._sysctl_state(sysctl_iface_key(4, "all", "route_localnet"))
        dev_v = self._sysctl_state(sysctl_iface_key(4, iface, "route_localnet"))
        if all_v is True or dev_v is True:
            return True
        if isinstance(all_v, Unknown) or isinstance(dev_v, Unknown):
            unknown = dev_v if isinstance(dev_v, Unknown) else all_v
            docker = self._docker_sets_route_localnet(iface)
            likely = docker and isinstance(dev_v, Unknown)
            return self._known(unknown, likely, "dockerd with --userland-proxy=false sets it to 1 on its bridges"
                               if likely else None)
        return False

    def route_localnet(self, iface: str) -> bool:
        return self._resolve(self.route_localnet_state(iface))

    def _resolve(self, state: bool | Unknown) -> bool:
        """A fact's value for checks that need one: an unknown one is taken at its likely value,
        and the assumption recorded."""
        if isinstance(state, Unknown):
            self._assume(f"{state.text}: taken as {int(state.likely)}")
            return state.likely
        return state

    def _docker_sets_route_localnet(self, iface: str) -> bool:
        return (self.dockerd_running and self.dockerd.get("--userland-proxy") is False
                and iface in self.bridges)

    def forwarding_state(self, iface: str) -> bool | Unknown:
        """IN_DEV_FORWARD(in_dev): the input device's own forwarding setting.

        ``net.ipv4.ip_forward`` writes conf.all.forwarding and every device's setting, so
        when the device's own key is absent the global value stands in for it.
        """
        fam = self.family
        dev = self._sysctl_state(sysctl_iface_key(fam, iface, "forwarding"))
        if isinstance(dev, bool):
            return dev
        keys = ("net.ipv4.ip_forward", sysctl_iface_key(4, "all", "forwarding")) if fam == 4 else (
            sysctl_iface_key(6, "all", "forwarding"),)
        first: Unknown | None = None
        for key in keys:
            v = self._sysctl_state(key)
            if isinstance(v, bool):
                return v
            if isinstance(v, Unknown) and first is None:
                first = v
        if first is None:
            return False  # covered and absent: no forwarding setting means none (never seen)
        likely = self.dockerd_running and self.dockerd.get("--ip-forward", True) is not False
        return self._known(first, likely, "dockerd turns it on when it starts" if likely else
                           "the kernel's default is 0")

    def forwarding(self, iface: str) -> bool:
        return self._resolve(self.forwarding_state(iface))

    def hairpin_state(self, bridge: str) -> bool | None | Unknown:
        """Whether the bridge sends a frame back out the port it came in on (``hairpin on``);
        None when its ports differ and the dump does not say which port is the sender's."""
        ports = [i.hairpin for i in self.interfaces if i.master == bridge and i.hairpin is not None]
        if ports and all(ports):
            return True
        if ports and not any(ports):
            return False
        if ports:
            return None
        likely = self.dockerd_running and self.dockerd.get("--userland-proxy") is False
        return Unknown(f"hairpin:{bridge}", likely,
                       f"the hairpin mode of {bridge}'s ports is not in the dump (no `ip -d link` section)"
                       + ("; dockerd with --userland-proxy=false turns it on" if likely else ""))

    def hairpin(self, bridge: str) -> bool | None:
        state = self.hairpin_state(bridge)
        return self._resolve(state) if isinstance(state, Unknown) else state

    def bridge_nf_state(self) -> bool | Unknown:
        key = "net.bridge.bridge-nf-call-iptables" if self.family == 4 else "net.bridge.bridge-nf-call-ip6tables"
        v = self._sysctl_state(key)
        if isinstance(v, bool):
            return v
        if v is None:
            return False  # the dump shows every key and this one is absent: br_netfilter is not loaded
        likely = self.dockerd_running
        return self._known(v, likely, "dockerd loads br_netfilter, which sets it to 1" if likely else
                           "br_netfilter is not known to be loaded")

    def bridge_nf_call(self) -> bool:
        return self._resolve(self.bridge_nf_state())

    def accept_local_state(self, iface: str) -> bool | Unknown:
        """IN_DEV_ACCEPT_LOCAL: conf.all OR conf.<iface>."""
        vals = [self._sysctl_state(sysctl_iface_key(4, n, "accept_local")) for n in ("all", iface)]
        if any(v is True for v in vals):
            return True
        unknown = next((v for v in vals if isinstance(v, Unknown)), None)
        return self._known(unknown, False, "the kernel's default is 0") if unknown else False

    # ------------------------------------------------------------------ sockets' coverage

    def listeners_cover(self, proto: str) -> bool:
        """Does the dump list every listening ``proto`` socket of this family (and of IPv6, whose
        wildcard sockets may take IPv4 too)?"""
        if self.coverage is None:
            return bool(self.listeners)
        fams = (4, 6) if self.family == 4 else (6,)
        return all(self.coverage.listeners(proto, f) for f in fams)

    def listeners_unknown_text(self, proto: str, port: int | None) -> str:
        shown = self.coverage.listener_sources() if self.coverage else []
        what = f"{proto} port {port}" if port is not None else f"the {proto} destination port"
        if not shown:
            return (f"whether anything listens on {what} is not in the dump (no `ss -tulnp` or `netstat -tulnp` "
                    "section)")
        return (f"whether anything listens on {what} is not in the dump (`{shown[0]}` does not list "
                f"{proto} listening sockets)")

    # ------------------------------------------------------------------ addresses and routes

    def is_local(self, addr: int) -> bool:
        return addr in self.local_addrs

    def iface_of_local(self, addr: int) -> str | None:
        for name, s in self.local_by_iface.items():
            if addr in s:
                return name
        return None

    def primary_address(self, iface: str) -> int | None:
        addrs = self.ifaces.get(iface) or []
        return addrs[0][0] if addrs else None

    def select_address(self, dev: str | None, dst: int | None, scope: str = "global") -> int | None:
        """inet_select_addr(): the address MASQUERADE and source selection take for ``dev``.

        The first address of ``dev`` whose scope is at most ``scope`` (global < link < host),
        preferring one whose subnet holds ``dst`` (the next hop); failing that, the first
        such address of any other device, in interface order (so traffic the host sends to
        itself over ``lo``, whose 127.0.0.1 has host scope, takes the first global address).
        """
        limit = _SCOPE_RANK.get(scope, 0)
        first = None
        for addr, plen, rank in self.addr_scopes.get(dev or "", []):
            if rank > limit:
                continue
            if dst is not None and plen is not None and _same_subnet(addr, dst, plen, self.family):
                return addr
            if first is None:
                first = addr
        if first is not None:
            return first
        for name in self.iface_order:
            for addr, plen, rank in self.addr_scopes.get(name, []):
                if rank <= limit and rank != _SCOPE_RANK["link"]:
                    return addr
        return None

    def route(self, dst: int) -> RouteResult:
        """Longest-prefix match over the local, main and default tables (policy rules not modelled)."""
        for table in ("local", "main", "default"):
            best: RouteEntry | None = None
            for r in self.routes:
                if r.table != table or not (r.lo <= dst <= r.hi):
                    continue
                if best is None or r.plen > best.plen or (r.plen == best.plen and r.metric < best.metric):
                    best = r
            if best is not None:
                if best.type in ("broadcast", "multicast", "anycast") and table == "local" and best.plen < 32:
                    continue
                return RouteResult(best.type, best.dev, best.via, best.src, best)
        return RouteResult("none" if self.main_routes_shown else "unknown", None, None, None, None)

    def source_for(self, dst: int) -> tuple[int | None, RouteResult]:
        """The source address a local socket gets when it connects to ``dst`` (no bind)."""
        r = self.route(dst)
        if r.type == "local":
            # connections to a local address leave from that address (127.0.0.1 for 127/8)
            if self.family == 4 and LOOPBACK_V4[0] <= dst <= LOOPBACK_V4[1]:
                return ip_int("127.0.0.1"), r
            return dst, r
        if r.src is not None:
            return r.src, r
        if r.dev:
            scope = "link" if r.via is None else "global"
            return self.select_address(r.dev, r.via if r.via is not None else dst, scope), r
        return None, r

    def default_route_dev(self) -> str | None:
        for r in self.routes:
            if r.table == "main" and r.plen == 0 and r.type == "unicast":
                return r.dev
        return None

    def bridge_of(self, addr: int) -> str | None:
        """The Docker bridge whose subnet holds ``addr``."""
        for name, (bridge, subnets, _gws, _internal) in self.networks.items():
            for lo, hi in subnets:
                if lo <= addr <= hi:
                    return bridge
        return None

    def endpoint_by_ip(self, addr: int) -> Endpoint | None:
        for e in self.endpoints:
            if e.ip == addr:
                return e
        return None

    # ------------------------------------------------------------------ sockets

    def listener_for(self, proto: str, addr: int, port: int) -> Listener | None:
        for ls in self.listeners:
            if ls.proto != proto or ls.port != port:
                continue
            if ls.family == self.family:
                if ls.address in ("*", "0.0.0.0", "::") or ip_int(ls.address) == addr:
                    return ls
            elif self.family == 4 and ls.family == 6 and ls.address in ("::", "*"):
                if ls.v6only is not True:
                    if ls.v6only is None:
                        self._assume(f"the IPv6 wildcard listener on port {port} ({ls.process or 'unknown'}) "
                                     "is assumed to take IPv4 too (IPV6_V6ONLY unknown)")
                    return ls
            elif self.family == 4 and ls.family == 6 and ls.address.startswith("::ffff:"):
                if ip_int(ls.address[7:]) == addr:
                    return ls
        return None

    def proxy_serves_family(self, p: Proxy) -> bool:
        """Whether docker-proxy ``p``'s socket takes packets of this model's family.

        A proxy on an IPv4 host address takes IPv4 only. One on an IPv6 address, ``::``
        included, takes IPv6 only: Docker sets IPV6_V6ONLY on it (docker-proxy's own socket
        in 20.10, dockerd's -use-listen-fd socket in 28; `-p [::]:8081:80` refuses IPv4 on
        both), so IPv4 to that port is refused unless a 0.0.0.0 binding exists too. The
        ss section, when it shows the proxy's socket, says so itself (``[::]`` vs ``*``).
        """
        v6 = ":" in (p.host_ip or "")
        if self.family == 6:
            return v6 or p.host_ip in ("", "*")
        if not v6:
            return True
        for ls in self.listeners:
            if p.pid is not None and ls.pid == p.pid and ls.family == 6 and ls.port == p.host_port:
                return ls.address in ("::", "*") and ls.v6only is False
        return False

    def published_port(self, proto: str, port: int) -> bool:
        """Does Docker publish ``proto`` host port ``port`` (per any place of the dump)?"""
        return self.docker is not None and any(q.proto == proto and q.host_port == port
                                               for q in self.docker.publications)

    def daemon_port_for(self, proto: str, addr: int, port: int):
        """A published port that dockerd itself holds (--userland-proxy=false: the daemon binds
        it to reserve it and forwards nothing), when no ss section shows that protocol's sockets."""
        if self.docker is None or self.listeners_cover(proto):
            return None
        for q in self.docker.daemon_ports:
            if q.proto != proto or q.host_port != port:
                continue
            hip = q.host_ip or "0.0.0.0"
            if hip in ("0.0.0.0", "::", "*") or ip_int(hip) == addr:
                if (":" in hip) == (self.family == 6) or hip in ("0.0.0.0",) and self.family == 4:
                    return q
        return None

    def proxy_for(self, proto: str, addr: int, port: int) -> Proxy | None:
        for p in self.proxies:
            if not self.proxy_serves_family(p):
                continue
            if p.proto == proto and p.host_port == port:
                hip = ip_int(p.host_ip) if p.host_ip not in ("0.0.0.0", "::", "") else None
                if hip is None or hip == addr:
                    return p
        return None


_SCOPE_RANK = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}


def _same_subnet(a: int, b: int, plen: int, family: int) -> bool:
    bits = 32 if family == 4 else 128
    shift = bits - plen
    return (a >> shift) == (b >> shift)


def _iface_order(dump: HostDump, addr_scopes: dict) -> list[str]:
    """Devices in kernel list order (ifindex where the dump shows it, else as they appear)."""
    index = {i.name: i.index for i in dump.facts.interfaces if i.index is not None}
    names = list(dict.fromkeys([*index, *addr_scopes]))
    return sorted(names, key=lambda n: (index.get(n, 1 << 30), names.index(n)))


def _ip_family(value: str) -> int | None:
    try:
        return ipaddress.ip_interface(value).version
    except ValueError:
        return None


def build_host(dump: HostDump, family: int = 4) -> HostModel:
    assumptions: list[str] = []
    tables, spans, lossy = _select_tables(dump, family, assumptions)
    coverage = Coverage(dump)
    tables_known = coverage.rule_tables(family)

    ifaces: dict[str, list[tuple[int, int]]] = {}
    addr_scopes: dict[str, list[tuple[int, int, int]]] = {}
    for iface in dump.facts.interfaces:
        ifaces.setdefault(iface.name, [])
    bridges = {i.name for i in dump.facts.interfaces if i.kind == "bridge"}
    bridges |= {i.master for i in dump.facts.interfaces if i.master and i.kind in (None, "veth", "bridge_slave")
                and not (i.master.startswith("bond"))}  # a device with ports enslaved to it
    for a in dump.facts.addresses:
        if a.family != family:
            continue
        try:
            itf = ipaddress.ip_interface(a.cidr)
        except ValueError:
            continue
        ifaces.setdefault(a.iface, []).append((int(itf.ip), itf.network.prefixlen))
        scope = a.scope or ("host" if itf.ip.is_loopback else "global")
        addr_scopes.setdefault(a.iface, []).append((int(itf.ip), itf.network.prefixlen, _SCOPE_RANK.get(scope, 0)))

    implied = None
    if not any(ifaces.values()) and not any(r.family == family for r in dump.facts.routes):
        implied = implied_host(tables, family)
        for name, addrs in implied.ifaces.items():
            ifaces.setdefault(name, []).extend(addrs)
            for addr, plen in addrs:
                addr_scopes.setdefault(name, []).append((addr, plen, _SCOPE_RANK["global"]))
        for name in implied.uplinks:
            ifaces.setdefault(name, [])
        bridges |= set(implied.bridges)
        assumptions.extend(implied.assumptions)

    networks: dict[str, tuple[str | None, list[tuple[int, int]], list[int], bool]] = {}
    endpoints: list[Endpoint] = []
    for n in dump.facts.docker_networks:
        subnets = [iv for s in n.subnets if _ip_family(s) == family and (iv := cidr_interval(s, family))]
        gws = [g for s in n.gateways if (g := ip_int(s.split("/")[0])) is not None and _ip_family(s.split("/")[0]) == family]
        networks[n.name] = (n.bridge, subnets, gws, n.internal)
        if n.bridge and n.driver in (None, "bridge"):
            bridges.add(n.bridge)
        for e in n.endpoints:
            addr = e.ipv4 if family == 4 else e.ipv6
            if addr and (v := ip_int(addr.split("/")[0])) is not None:
                endpoints.append(Endpoint(e.container, n.name, v, n.bridge))
    for name, net in _networks_from_containers(dump, family, networks, ifaces).items():
        networks[name] = net
        if net[0]:
            bridges.add(net[0])
        assumptions.append(f"Docker network {name} is known from `docker inspect` of its containers only (no "
                           "`docker network inspect`): its subnet and bridge are read from their endpoints"
                           + ("" if net[0] else "; its bridge is not known"))
    for c in dump.facts.docker_containers:
        for e in c.endpoints:
            addr = e.ipv4 if family == 4 else e.ipv6
            gw = e.gateway if family == 4 else e.gateway6
            has_gw = None if gw is None else gw != ""
            if addr and (v := ip_int(addr.split("/")[0])) is not None:
                same = [x for x in endpoints if x.ip == v and x.container == c.name]
                for x in same:
                    x.has_gateway = has_gw
                if not same:
                    bridge = networks.get(e.network, (None,))[0]
                    endpoints.append(Endpoint(c.name, e.network, v, bridge, has_gw))
    for name in list(ifaces):
        if name == "docker0" or name.startswith("br-"):
            bridges.add(name)

    routes: list[RouteEntry] = []
    for r in dump.facts.routes:
        if r.family != family:
            continue
        dst = "0.0.0.0/0" if (r.dst == "default" and family == 4) else ("::/0" if r.dst == "default" else r.dst)
        iv = cidr_interval(dst, family)
        if iv is None:
            continue
        plen = ipaddress.ip_network(dst, strict=False).prefixlen
        routes.append(RouteEntry(iv[0], iv[1], plen, r.type or "unicast", r.table or "main", r.dev,
                                 ip_int(r.via) if r.via else None, ip_int(r.src) if r.src else None,
                                 r.metric or 0, r.span))

    addresses_known = bool(any(ifaces.values()) or routes) and implied is None
    shown_main = coverage.routes("main", family)
    if not coverage.routes("local", family) and not any(r.table == "local" for r in routes):
        # the local table is derived from addresses exactly as the kernel derives it
        for name, addrs in ifaces.items():
            for addr, plen in addrs:
                routes.append(RouteEntry(addr, addr, 32 if family == 4 else 128, "local", "local", name, None,
                                         addr, 0, None))
        if family == 4:
            routes.append(RouteEntry(LOOPBACK_V4[0], LOOPBACK_V4[1], 8, "local", "local", "lo", None,
                                     ip_int("127.0.0.1"), 0, None))
        if addresses_known:
            assumptions.append("local routes derived from interface addresses (no `ip route show table all`)")
    if not shown_main:
        # the kernel adds a prefix route for each address; keep the routes the dump shows
        known = {(r.lo, r.hi, r.dev) for r in routes if r.table == "main"}
        added = False
        for name, addrs in ifaces.items():
            for addr, plen in addrs:
                if name == "lo" or (family == 6 and plen == 128):
                    continue
                net = ipaddress.ip_network((addr, plen), strict=False)
                key = (int(net.network_address), int(net.broadcast_address), name)
                if key not in known:
                    known.add(key)
                    added = True
                    routes.append(RouteEntry(key[0], key[1], plen, "unicast", "main", name, None, addr, 0, None))
        if added:
            assumptions.append(f"connected routes derived from interface addresses (no `ip {'-6 ' if family == 6 else ''}"
                               "route` section)")
    if not addresses_known and implied is None:
        assumptions.append("the host's addresses are unknown (no `ip addr` or `ip route` section): "
                           "which addresses are local is not known")

    local = IntervalSet((r.lo, r.hi) for r in routes if r.table == "local" and r.type == "local")
    if family == 4:
        local = local.union(IntervalSet.range(*LOOPBACK_V4))
    by_iface: dict[str, IntervalSet] = {}
    for r in routes:
        if r.table == "local" and r.type == "local" and r.dev:
            by_iface[r.dev] = by_iface.get(r.dev, IntervalSet()).union(IntervalSet.range(r.lo, r.hi))
        if r.dev:
            ifaces.setdefault(r.dev, [])

    defaults = {(0, "from all", "lookup local"), (32766, "from all", "lookup main"),
                (32767, "from all", "lookup default")}
    for pr in dump.facts.policy_rules:
        if (pr.priority, pr.selector, pr.action) not in defaults and not (
                family == 6 and (pr.priority, pr.selector, pr.action) == (0, "from all", "lookup local")):
            assumptions.append(f"policy routing rule `{pr.priority}: {pr.selector} {pr.action}` (line {pr.span.line}) "
                               "is not modelled: routes are looked up in the local and main tables only")
    sysctls = {s.key: s.value for s in dump.facts.sysctls}
    listeners = list(dump.facts.listeners)
    docker = docker_view(dump, family, tables, coverage, listeners)
    if not any(sec.kind.value in ("nft", "nft-json") for sec in dump.sections) and any(
            rs.family == family for rs in dump.rulesets):
        assumptions.append("native nftables tables are not in the dump (no `nft list ruleset` section): taken as "
                           "none, so the iptables tables decide alone")
    for flag, why in docker.inferred.items():
        assumptions.append(f"dockerd {flag}={str(docker.flags[flag]).lower()}: not on its command line in the "
                           f"dump, but {why}")
    for t in sorted(set(tables) - tables_known):
        pass  # a table the dump holds only part of (one chain listed) is reported where a path meets it
    host = HostModel(
        family=family, tables=tables, table_spans=spans, lossy_tables=lossy, ifaces=ifaces,
        bridges=bridges, local_addrs=local, local_by_iface=by_iface, routes=routes, sysctls=sysctls,
        listeners=listeners, proxies=docker.proxies, dockerd=docker.flags, dockerd_running=docker.running,
        endpoints=endpoints, networks=networks,
        assumptions=assumptions, addresses_known=addresses_known, static_assumptions=len(assumptions),
        addr_scopes=addr_scopes, iface_order=_iface_order(dump, addr_scopes), interfaces=dump.facts.interfaces,
        ids={**{n.id: n.name for n in dump.facts.docker_networks if n.id},
             **{c.id: c.name for c in dump.facts.docker_containers if c.id}},
        coverage=coverage, docker=docker, tables_known=tables_known, main_routes_shown=shown_main,
        outside_ifaces=implied.uplinks if implied else [],
        link_details=any(i.kind is not None for i in dump.facts.interfaces),
        native_chains=native_base_chains(dump, family),
        container_ports={c.name: {(b.container_port, b.proto) for b in c.ports}
                         | {(int(p.split("/")[0]), (p.split("/") + ["tcp"])[1]) for p in c.exposed
                            if p.split("/")[0].isdigit()} for c in dump.facts.docker_containers},
        host_network={c.name for c in dump.facts.docker_containers if c.network_mode == "host"},
    )
    return host


def _networks_from_containers(dump: HostDump, family: int, networks: dict, ifaces: dict) -> dict:
    """Docker networks that only ``docker inspect`` of their containers shows: each endpoint gives
    its address with prefix length and its gateway; the bridge is the device holding the gateway
    address (``ip addr``), else Docker's name for it (docker0 for ``bridge``, br-<id[:12]>)."""
    out: dict[str, tuple[str | None, list[tuple[int, int]], list[int], bool]] = {}
    for c in dump.facts.docker_containers:
        for e in c.endpoints:
            if e.network in networks or e.network in ("host", "none"):
                continue
            addr = e.ipv4 if family == 4 else e.ipv6
            gw = e.gateway if family == 4 else e.gateway6
            if not addr or "/" not in addr:
                continue
            iv = cidr_interval(str(ipaddress.ip_interface(addr).network), family)
            bridge, subnets, gws, internal = out.get(e.network, (None, [], [], False))
            if iv and iv not in subnets:
                subnets.append(iv)
            g = ip_int(gw) if gw else None
            if g is not None and g not in gws:
                gws.append(g)
            if bridge is None and g is not None:
                bridge = next((name for name, addrs in ifaces.items() if any(a == g for a, _p in addrs)), None)
            if bridge is None:
                if e.network == "bridge":
                    bridge = "docker0"
                elif e.network_id:
                    bridge = f"br-{e.network_id[:12]}"
            out[e.network] = (bridge, subnets, gws, internal or gw == "")
    return out


def _select_tables(dump: HostDump, family: int, assumptions: list[str]):
    """One chain map per table; a save/-S section wins over a listing of the same table."""
    chosen = select_tables(dump, family, assumptions)
    for name, (t, _f, _b) in chosen.items():
        if not t.complete:
            assumptions.append(f"table {name} of the iptables-save at line {t.span.line} has no COMMIT (the input is "
                               "truncated): answers rest on a possibly partial rule set")
    tables = {name: {c.name: c for c in t.chains} for name, (t, _f, _b) in chosen.items()}
    spans = {name: t.span for name, (t, _f, _b) in chosen.items()}
    lossy = {name for name, (_t, f, _b) in chosen.items() if f is RulesetFormat.LISTING}
    return tables, spans, lossy


def select_tables(dump: HostDump, family: int, assumptions: list[str] | None = None
                  ) -> dict[str, tuple[Table, RulesetFormat, str | None]]:
    """The table of each name that the model uses, with its format and backend."""
    if assumptions is None:
        assumptions = []
    chosen: dict[str, tuple[Table, RulesetFormat, str | None]] = {}
    for rs in dump.rulesets:
        if rs.family != family:
            continue
        for t in rs.tables:
            prev = chosen.get(t.name)
            if prev is None:
                chosen[t.name] = (t, rs.format, rs.backend)
                continue
            prev_lossy = prev[1] is RulesetFormat.LISTING
            this_lossy = rs.format is RulesetFormat.LISTING
            if prev_lossy and not this_lossy:
                chosen[t.name] = (t, rs.format, rs.backend)
            elif prev_lossy == this_lossy:
                if prev[2] != rs.backend and prev[2] and rs.backend and any(c.rules for c in t.chains):
                    note = (f"table {t.name} exists in both {prev[2]} and {rs.backend}; only the first is modelled")
                    if note not in assumptions:
                        assumptions.append(note)
                    continue
                # the same table listed twice: the later reading is the newer state
                chosen[t.name] = (t, rs.format, rs.backend)
                note = f"table {t.name} appears more than once in the dump; the last one (line {t.span.line}) is used"
                if note not in assumptions:
                    assumptions.append(note)
    return chosen


__all__ = ["HostModel", "RouteResult", "build_host", "ip_str", "addr_max"]
