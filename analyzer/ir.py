"""The typed, immutable intermediate representation of a host dump.

Everything dnlint knows about a host is one of these objects: rules and chains from
``iptables-save`` or from ``iptables -L`` listings (one model for both), host facts
(addresses, routes, sysctls, listeners, processes, Docker's inventory), the sections
the dump was split into, and the diagnostics found while reading it.

Every rule and fact carries a :class:`Span` pointing back at the dump. Values are kept
as the text iptables printed (``args`` are strings); interpretation (ports, CIDRs,
conntrack states) belongs to the model, so nothing the dump said is lost here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class Span:
    """Where something came from: 1-based line and column in ``file``."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem with the input (DN0xx) or, later, a lint finding."""

    code: str
    severity: Severity
    message: str
    span: Span | None = None

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        return f"{where}{self.code} {self.message}"


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a match or target, e.g. ``! --dport 80`` or ``--to-destination 1.2.3.4:80``.

    ``name`` is spelled as iptables-save spells it, with its dashes (``--dport``).
    ``negated`` covers both the modern form (``! --dport 80``) and the old one
    (``--dport ! 80``).
    """

    name: str
    args: tuple[str, ...] = ()
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """A match module (``-m tcp --dport 80``).

    ``implicit`` is true when the module was loaded by ``-p tcp`` alone (``-p tcp --dport
    80`` without ``-m tcp``). ``known`` is false for modules dnlint does not understand;
    their options are still kept verbatim.
    """

    module: str
    options: tuple[Option, ...] = ()
    implicit: bool = False
    known: bool = True

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name:
                return opt
        return None


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule does when it matches: ``-j NAME`` or ``-g NAME`` (``goto``) and options."""

    name: str
    options: tuple[Option, ...] = ()
    goto: bool = False
    known: bool = True

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name:
                return opt
        return None


@dataclass(frozen=True, slots=True)
class AddressMatch:
    """``-s``/``-d`` value. ``value`` is the text as written (``10.0.0.0/8``, ``host.example``).

    ``resolved`` is false when the value is a host name that was not resolved (iptables
    resolves names when the rule is added; a dump may still carry them).
    """

    value: str
    negated: bool = False
    resolved: bool = True


@dataclass(frozen=True, slots=True)
class InterfaceMatch:
    """``-i``/``-o`` value; a trailing ``+`` is a prefix wildcard, as in iptables."""

    name: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class ProtocolMatch:
    name: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Counters:
    packets: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of one chain.

    ``unknown`` names the fields a lossy source could not show (for instance
    ``{"in_iface", "out_iface"}`` for a listing without ``-v``): the model must treat
    them as unconstrained, not as "any". ``lossy`` holds sentences about what else a
    listing could not recover.
    """

    chain: str
    span: Span
    protocol: ProtocolMatch | None = None
    src: AddressMatch | None = None
    dst: AddressMatch | None = None
    in_iface: InterfaceMatch | None = None
    out_iface: InterfaceMatch | None = None
    fragment: bool | None = None  # -f: True, ! -f: False, absent: None
    matches: tuple[Match, ...] = ()
    target: Target | None = None
    counters: Counters | None = None
    unknown: frozenset[str] = frozenset()
    lossy: tuple[str, ...] = ()

    def match(self, module: str) -> Match | None:
        for m in self.matches:
            if m.module == module:
                return m
        return None

    @property
    def comment(self) -> str | None:
        for m in self.matches:
            if m.module == "comment":
                opt = m.option("--comment")
                if opt and opt.args:
                    return opt.args[0]
        return None


BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}

TABLE_NAMES = tuple(BUILTIN_CHAINS)


@dataclass(frozen=True, slots=True)
class Chain:
    """A chain. ``policy`` is set for built-in chains (``ACCEPT``/``DROP``), None for user chains."""

    name: str
    span: Span
    policy: str | None = None
    counters: Counters | None = None
    rules: tuple[Rule, ...] = ()
    references: int | None = None  # as printed by a listing's "(N references)"

    @property
    def builtin(self) -> bool:
        return self.policy is not None


@dataclass(frozen=True, slots=True)
class Table:
    """A table. ``complete`` is false for a ``*table`` of save input that never reached its
    COMMIT (the input ends inside it, or the next ``*table`` comes first): iptables-restore
    rejects such input, and the rules read are possibly only the first part of the table."""

    name: str
    span: Span
    chains: tuple[Chain, ...] = ()
    complete: bool = True

    def chain(self, name: str) -> Chain | None:
        for c in self.chains:
            if c.name == name:
                return c
        return None


class RulesetFormat(str, Enum):
    SAVE = "save"  # iptables-save / iptables-restore input
    SPEC = "spec"  # iptables -S
    LISTING = "listing"  # iptables -L [-n] [-v] [-x] [--line-numbers]


@dataclass(frozen=True, slots=True)
class Scope:
    """What one section's command speaks for, decided from its command line.

    A section shows some facts of its kind; that something is *absent* is known only
    inside its scope: ``ss -tlnp`` lists TCP listeners and says nothing of UDP sockets,
    ``ps -C dockerd`` nothing of other processes, ``sysctl KEY...`` nothing of other keys,
    ``ip route`` nothing of the local table. ``None`` in a field means no restriction of
    that kind; ``complete`` is false when the command filters its output in a way dnlint
    cannot follow (``| head``, an ss filter expression): then only what it shows is known.
    """

    families: frozenset[int] | None = None  # address families shown (ip -4, ss -6, ...)
    protocols: frozenset[str] | None = None  # ss/netstat: socket protocols shown (tcp, udp, ...)
    listening: bool = True  # ss/netstat: listening sockets shown (-l or -a)
    names: frozenset[str] | None = None  # ps -C: programs; sysctl: keys or key prefixes; ip addr show: devices
    tables: frozenset[str] | None = None  # ip route: routing tables shown; iptables-save -t: tables
    patterns: tuple[tuple[str, bool, bool], ...] = ()  # grep/pgrep filters: (regex, ignore case, whole line)
    full_command_line: bool = True  # pgrep without -f matches the process name only
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Ruleset:
    """The tables read from one section of a dump.

    ``family`` is 4 or 6. ``backend`` is ``"nf_tables"``, ``"legacy"`` or None when the
    dump does not say. ``lossy`` is true for listings, whose text cannot say everything a
    rule holds; the rules then say what is missing.
    """

    family: int
    format: RulesetFormat
    span: Span
    tables: tuple[Table, ...] = ()
    backend: str | None = None
    header: str | None = None  # "# Generated by iptables-save v1.8.9 (nf_tables) on ..."
    scope: Scope | None = None  # which tables the command printed; None: not named (a bare file)

    @property
    def lossy(self) -> bool:
        return self.format is RulesetFormat.LISTING

    @property
    def incomplete(self) -> tuple[str, ...]:
        """The tables that never reached COMMIT (truncated save input)."""
        return tuple(t.name for t in self.tables if not t.complete)

    def table(self, name: str) -> Table | None:
        for t in self.tables:
            if t.name == name:
                return t
        return None


# --------------------------------------------------------------------------- host facts


@dataclass(frozen=True, slots=True)
class Address:
    """An address on an interface (``ip addr``): ``cidr`` like ``172.17.0.1/16``."""

    iface: str
    cidr: str
    family: int
    span: Span
    scope: str | None = None
    peer: str | None = None
    broadcast: str | None = None


@dataclass(frozen=True, slots=True)
class Interface:
    """A link (``ip addr``/``ip link``): name, state, flags, master (bridge), link kind."""

    name: str
    span: Span
    index: int | None = None
    state: str | None = None
    flags: tuple[str, ...] = ()
    master: str | None = None
    kind: str | None = None  # bridge, veth, ... when the dump says
    mtu: int | None = None
    mac: str | None = None
    hairpin: bool | None = None  # bridge port: `hairpin on|off` (ip -d link)


@dataclass(frozen=True, slots=True)
class Route:
    """A route (``ip route show table all``). ``dst`` is ``default`` or a CIDR/address."""

    dst: str
    span: Span
    family: int = 4
    type: str = "unicast"  # unicast, local, broadcast, blackhole, unreachable, prohibit, ...
    table: str = "main"
    dev: str | None = None
    via: str | None = None
    src: str | None = None
    proto: str | None = None
    scope: str | None = None
    metric: int | None = None


@dataclass(frozen=True, slots=True)
class Sysctl:
    key: str  # net.ipv4.conf.docker0.route_localnet
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket (``ss -tlnp``/``netstat -tlnp``)."""

    proto: str  # tcp, udp, tcp6, udp6 (as the tool says, normalised to tcp/udp + family)
    address: str  # "0.0.0.0", "::", "127.0.0.1", "*"
    port: int
    family: int
    span: Span
    process: str | None = None
    pid: int | None = None
    # For IPv6 wildcard sockets: True when it takes IPv6 only (IPV6_V6ONLY; current ss prints
    # `[::]`), False when it takes IPv4 too (current ss `*`, old ss `:::`), None when unknown.
    v6only: bool | None = None


@dataclass(frozen=True, slots=True)
class Process:
    """A process line (``ps``) that matters: dockerd and its flags, docker-proxy and its arguments."""

    command: str  # full command line
    span: Span
    pid: int | None = None
    program: str | None = None  # basename of argv[0], e.g. dockerd, docker-proxy
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DockerEndpoint:
    container: str  # container name (without leading "/") or id
    network: str
    ipv4: str | None = None  # CIDR or address
    ipv6: str | None = None
    mac: str | None = None
    aliases: tuple[str, ...] = ()
    # the container's gateway on this network per `docker inspect` ("" : none, as for a
    # container on an --internal network since Docker 25; None: the dump does not say)
    gateway: str | None = None
    gateway6: str | None = None
    network_id: str | None = None  # docker inspect's NetworkID (the bridge of a user network is br-<id[:12]>)


@dataclass(frozen=True, slots=True)
class DockerNetwork:
    name: str
    span: Span
    id: str | None = None
    driver: str | None = None
    subnets: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    bridge: str | None = None  # com.docker.network.bridge.name or br-<id12>
    internal: bool = False
    options: tuple[tuple[str, str], ...] = ()
    endpoints: tuple[DockerEndpoint, ...] = ()


@dataclass(frozen=True, slots=True)
class PortBinding:
    container_port: int
    proto: str
    host_ip: str
    host_port: int


@dataclass(frozen=True, slots=True)
class DockerContainer:
    name: str
    span: Span
    id: str | None = None
    running: bool | None = None
    network_mode: str | None = None
    endpoints: tuple[DockerEndpoint, ...] = ()
    # what Docker published (NetworkSettings.Ports); when docker inspect has no NetworkSettings.Ports,
    # HostConfig.PortBindings (what was asked for) stands in and ``ports_requested_only`` is true
    ports: tuple[PortBinding, ...] = ()
    exposed: tuple[str, ...] = ()  # Config.ExposedPorts, e.g. ("80/tcp",)
    ports_requested_only: bool = False


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """A routing policy rule (``ip rule``), e.g. ``32766: from all lookup main``."""

    priority: int | None
    selector: str  # "from all", "from 10.0.0.0/8 fwmark 0x1", ...
    action: str  # "lookup main", "blackhole", ...
    span: Span


@dataclass(frozen=True, slots=True)
class IpSet:
    """An ipset (``ipset save`` / ``ipset list``): its type and members as ipset prints them."""

    name: str
    type: str  # hash:ip, hash:net, hash:ip,port, list:set, ...
    span: Span
    family: int = 4
    members: tuple[str, ...] = ()
    complete: bool = True  # False when the listing was cut (e.g. ipset list -t, no members)


@dataclass(frozen=True, slots=True)
class Facts:
    interfaces: tuple[Interface, ...] = ()
    addresses: tuple[Address, ...] = ()
    routes: tuple[Route, ...] = ()
    sysctls: tuple[Sysctl, ...] = ()
    listeners: tuple[Listener, ...] = ()
    processes: tuple[Process, ...] = ()
    docker_networks: tuple[DockerNetwork, ...] = ()
    docker_containers: tuple[DockerContainer, ...] = ()
    ipsets: tuple[IpSet, ...] = ()
    policy_rules: tuple[PolicyRule, ...] = ()
    # the Docker daemon's version, where the dump shows it (`dnlint collect`'s header, `docker version`,
    # `docker info`, `dockerd --version`), e.g. "28.5.2"
    docker_version: str | None = None

    def sysctl(self, key: str) -> Sysctl | None:
        found = None
        for s in self.sysctls:
            if s.key == key:
                found = s  # the last reading wins, as a later `sysctl` call would
        return found


# --------------------------------------------------------------------------- the dump


class SectionKind(str, Enum):
    SAVE = "save"
    SPEC = "spec"
    LISTING = "listing"
    ADDR = "addr"
    LINK = "link"
    ROUTE = "route"
    POLICY = "ip-rule"
    SYSCTL = "sysctl"
    LISTENERS = "listeners"
    PS = "ps"
    DOCKER_NETWORK = "docker-network"
    DOCKER_CONTAINER = "docker-container"
    IPSET = "ipset"
    NFT = "nft"  # `nft list ruleset` text
    NFT_JSON = "nft-json"  # `nft -j list ruleset`
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Section:
    """A part of the dump: the command that produced it (if named) and its line range."""

    kind: SectionKind
    span: Span
    end_line: int
    command: str | None = None
    note: str | None = None  # e.g. "table inferred from chain names: nat"
    scope: Scope | None = None  # what the command covers; None: no command named it


@dataclass(frozen=True, slots=True)
class HostDump:
    """Everything read from one dump file."""

    file: str
    sections: tuple[Section, ...] = ()
    rulesets: tuple[Ruleset, ...] = ()
    facts: Facts = field(default_factory=Facts)
    diagnostics: tuple[Diagnostic, ...] = ()
    nft: tuple["NftRuleset", ...] = ()  # native nftables, one per `nft list ruleset` section

    def tables(self, family: int = 4) -> tuple[Table, ...]:
        return tuple(t for rs in self.rulesets if rs.family == family for t in rs.tables)


# --------------------------------------------------------------------------- native nftables
#
# What ``nft list ruleset`` / ``nft -j list ruleset`` show: every nf_tables table, the ones
# iptables-nft made (tables filter, nat, ... of families ip/ip6 with chains INPUT, FORWARD, ...)
# and the native ones (nftables.conf, firewalld, Docker's and kube-proxy's nftables backends).
# Rules are kept as text; dnlint/model/nft.py tells the two kinds of table apart.

NFT_FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")


@dataclass(frozen=True, slots=True)
class NftRule:
    """One rule of a chain. ``text`` is the rule as nft printed it, without its ``# handle N``
    comment (for the JSON form: the rule's ``expr`` array as compact JSON); ``handle`` is set
    when the listing had handles (``nft -a``, always in JSON)."""

    text: str
    span: Span
    handle: int | None = None


@dataclass(frozen=True, slots=True)
class NftChain:
    """A chain. A base chain has ``hook`` (and ``type``, ``priority``, ``policy``); a regular
    chain, reached only by jump/goto, has them None. ``priority`` is the number nft resolved
    (``filter + 10`` in an ip table is 10; ``dstnat`` in a bridge table is -300)."""

    name: str
    span: Span
    type: str | None = None  # filter, nat, route
    hook: str | None = None  # prerouting, input, forward, output, postrouting, ingress, egress
    priority: int | None = None
    policy: str | None = None  # accept, drop (base chains; nft's default is accept)
    device: str | None = None  # netdev ingress/egress: the device the hook is on
    rules: tuple[NftRule, ...] = ()
    handle: int | None = None
    comment: str | None = None

    @property
    def base(self) -> bool:
        return self.hook is not None


@dataclass(frozen=True, slots=True)
class NftObject:
    """A set, map, flowtable or stateful object (counter, quota, limit, ct helper, ...) of a
    table. ``kind`` is the word nft prints before its name (``set``, ``map``, ``flowtable``,
    ``counter``, ``ct helper``...); ``properties`` are its other lines (``("type",
    "ipv4_addr")``, ``("flags", "interval")``, ``("hook", "ingress priority filter")``...) in
    order; ``elements`` are the members of a set or map, or a flowtable's devices, as nft
    printed them (quotes removed)."""

    kind: str
    name: str
    span: Span
    properties: tuple[tuple[str, str], ...] = ()
    elements: tuple[str, ...] = ()
    handle: int | None = None


@dataclass(frozen=True, slots=True)
class NftTable:
    """A table: ``family`` is one of NFT_FAMILIES. ``flags`` are the table's flags (``dormant``,
    ``owner``, ``persist``); ``managed_by`` is ``"iptables-nft"`` when nft warned that the table
    is managed by iptables-nft (``# Warning: table ip filter is managed by iptables-nft, do not
    touch!``, printed by nft 1.0.6 and later on stderr or before the table)."""

    family: str
    name: str
    span: Span
    chains: tuple[NftChain, ...] = ()
    flags: tuple[str, ...] = ()
    objects: tuple[NftObject, ...] = ()
    handle: int | None = None
    comment: str | None = None
    managed_by: str | None = None

    def chain(self, name: str) -> NftChain | None:
        for c in self.chains:
            if c.name == name:
                return c
        return None


@dataclass(frozen=True, slots=True)
class NftRuleset:
    """The tables of one ``nft list ruleset`` section. ``format`` is ``text`` or ``json``;
    ``version`` is nft's version when the output says it (JSON metainfo); ``command`` is the
    command line that produced it, when the dump names one (``nft list table inet filter``
    shows one table, not the whole ruleset)."""

    span: Span
    format: str = "text"
    tables: tuple[NftTable, ...] = ()
    version: str | None = None
    command: str | None = None
    complete: bool = True  # False for `nft list table ...` / `nft list chain ...`: only part shown

    def table(self, family: str, name: str) -> NftTable | None:
        for t in self.tables:
            if t.family == family and t.name == name:
                return t
        return None
