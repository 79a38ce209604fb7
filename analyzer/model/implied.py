"""The host a bare rule set implies, when the dump shows no addresses and no routes.

An ``iptables-save`` file alone still says a good deal about its host: the interfaces its
rules name (``-i``/``-o``), Docker's bridges and their subnets (``POSTROUTING -s NET ! -o BR
-j MASQUERADE``, the filter ``DOCKER`` chain's ``-d C/32 ... -o BR`` rules, DNAT targets), and
some of the host's own addresses (an INPUT rule's ``-d X/32`` — INPUT sees only local
destinations —, an SNAT's ``--to-source``, a PREROUTING DNAT's ``-d X/32`` outside Docker's
subnets). Everything else stays open: the uplink is any interface the rules do not treat as
a bridge (each named one, and one they do not name), the host's address on it one that no rule
names when none is shown, its route the default. Every such step is an assumption the answers
print.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..ir import Chain, InterfaceMatch
from .matches import iface_matches

#: stand-ins for the host's address on an uplink when the rules show none (documentation and
#: benchmarking ranges, tried in order until one that no rule's address names)
_PLACEHOLDERS = {4: ("203.0.113.77", "198.51.100.77", "198.18.0.77", "192.0.2.77"),
                 6: ("2001:db8:ffff::77", "2001:db8:eeee::77")}


@dataclass
class ImpliedHost:
    ifaces: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # name -> [(addr, plen)]
    bridges: dict[str, tuple[int, int]] = field(default_factory=dict)  # bridge -> (network, plen)
    uplinks: list[str] = field(default_factory=list)  # interfaces `outside` may arrive on
    containers: list[tuple[int, str]] = field(default_factory=list)  # (address, bridge)
    assumptions: list[str] = field(default_factory=list)


def _net(text: str, family: int):
    try:
        n = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return n if n.version == family else None


def _rules(tables: dict[str, dict[str, Chain]]):
    for tname, chains in tables.items():
        for cname, chain in chains.items():
            for rule in chain.rules:
                yield tname, cname, rule


def implied_host(tables: dict[str, dict[str, Chain]], family: int) -> ImpliedHost:
    out = ImpliedHost()
    named: list[str] = []
    patterns: list[str] = []
    cidrs: list = []
    for _t, _c, rule in _rules(tables):
        for m in (rule.in_iface, rule.out_iface):
            if m is None:
                continue
            patterns.append(m.name)
            if not m.name.endswith("+") and m.name not in named:
                named.append(m.name)
        for a in (rule.src, rule.dst):
            if a is not None and (n := _net(a.value, family)) is not None and n.prefixlen > 0:
                cidrs.append(n)

    # Docker's bridges: `-s NET ! -o BR -j MASQUERADE` (a network's outbound NAT)
    nat = tables.get("nat", {})
    for rule in (nat.get("POSTROUTING").rules if nat.get("POSTROUTING") else ()):
        t = rule.target
        if (t and t.name == "MASQUERADE" and rule.src and not rule.src.negated and rule.out_iface
                and rule.out_iface.negated and not rule.out_iface.name.endswith("+")):
            n = _net(rule.src.value, family)
            if n is not None and n.prefixlen < (32 if family == 4 else 128):
                out.bridges.setdefault(rule.out_iface.name, (int(n.network_address), n.prefixlen))
    for name in named:
        if (name == "docker0" or name.startswith("br-")) and name not in out.bridges:
            out.bridges[name] = None  # a bridge whose subnet the rules do not show
    for br, net in out.bridges.items():
        if net is None:
            continue
        gw = net[0] + 1  # Docker gives a network's gateway the subnet's first address
        out.ifaces.setdefault(br, []).append((gw, net[1]))
        out.assumptions.append(
            f"{br}: a Docker bridge for {ipaddress.ip_address(net[0])}/{net[1]} (its MASQUERADE rule); its "
            f"address {ipaddress.ip_address(gw)} assumed (Docker gives a network's gateway the first address)")

    # containers: filter DOCKER `-d C/32 ! -i BR -o BR ... -j ACCEPT`, nat DOCKER DNAT targets
    for rule in ((tables.get("filter", {}).get("DOCKER").rules) if tables.get("filter", {}).get("DOCKER") else ()):
        if rule.dst and not rule.dst.negated and rule.out_iface and not rule.out_iface.negated:
            n = _net(rule.dst.value, family)
            if n is not None and n.num_addresses == 1:
                out.containers.append((int(n.network_address), rule.out_iface.name))

    internal = set(out.bridges) | {"lo"} | {n for n in named if n.startswith(("veth", "docker", "br-"))}
    local: list[tuple[int, str | None]] = []
    for tname, cname, rule in _rules(tables):
        t = rule.target
        if tname == "filter" and cname == "INPUT" and rule.dst and not rule.dst.negated:
            n = _net(rule.dst.value, family)
            if n is not None and n.num_addresses == 1 and not n.is_loopback:
                local.append((int(n.network_address), _exact(rule.in_iface)))
        if t is not None and t.name == "SNAT":
            o = t.option("--to-source") or t.option("--to")
            if o and o.args:
                addr = o.args[0].split(":")[0] if family == 4 else o.args[0].strip("[]").split("]")[0]
                n = _net(addr.split("-")[0], family)
                if n is not None:
                    local.append((int(n.network_address), _exact(rule.out_iface)))
        if (tname == "nat" and t is not None and t.name in ("DNAT", "DOCKER") and rule.dst and not rule.dst.negated
                and cname in ("PREROUTING", "DOCKER")):
            n = _net(rule.dst.value, family)
            if n is not None and n.num_addresses == 1 and not n.is_loopback and not any(
                    net and net[0] <= int(n.network_address) < net[0] + (1 << ((32 if family == 4 else 128) - net[1]))
                    for net in out.bridges.values()):
                local.append((int(n.network_address), _exact(rule.in_iface)))

    out.uplinks = [n for n in named if n not in internal]
    other = _unnamed(patterns)
    out.uplinks.append(other)
    shown = " ".join(out.uplinks[:-1])
    out.assumptions.append(
        "no `ip addr`/`ip route` section: the host is built from what the rules name; `outside` arrives on "
        + (f"any of {shown} or an interface the rules do not name ({other})" if shown
           else f"an interface the rules do not name ({other})")
        + ", from any address not local, and the default route leaves through it")
    for addr, iface in local:
        dev = iface if iface and iface not in internal else out.uplinks[0]
        if not any(a == addr for addrs in out.ifaces.values() for a, _p in addrs):
            out.ifaces.setdefault(dev, []).append((addr, 32 if family == 4 else 128))
            out.assumptions.append(f"{ipaddress.ip_address(addr)} taken as an address of the host on {dev} "
                                   "(the rules use it as a local address)")
    for dev in out.uplinks:
        if not out.ifaces.get(dev):
            stand_in = _placeholder(family, cidrs)
            if stand_in is None:
                continue
            out.ifaces.setdefault(dev, []).append((stand_in, 32 if family == 4 else 128))
            out.assumptions.append(f"the host's address on {dev} is not in the dump: {ipaddress.ip_address(stand_in)} "
                                   "stands for it (no rule names it, so every rule treats it as any address "
                                   "the rules do not name)")
            cidrs.append(ipaddress.ip_network(stand_in))
    return out


def _exact(m) -> str | None:
    return m.name if m is not None and not m.negated and not m.name.endswith("+") else None


def _unnamed(patterns: list[str]) -> str:
    """An interface name that no ``-i``/``-o`` pattern of the rules matches."""
    for i in range(1000):
        name = f"nic{i}" if i else "if-other"
        if not any(iface_matches_name(p, name) for p in patterns):
            return name
    return "if-other"


def iface_matches_name(pattern: str, name: str) -> bool:
    return iface_matches(InterfaceMatch(pattern), name)


def _placeholder(family: int, cidrs) -> int | None:
    """An address no rule names: the documentation ranges first, then one per /8 (IPv4) or per
    /16 of 2000::/3 (IPv6), skipping what the rules name (bogon lists often name the test nets)."""
    def free(a) -> bool:
        return not any(a in n for n in cidrs)

    for text in _PLACEHOLDERS[family]:
        a = ipaddress.ip_address(text)
        if free(a):
            return int(a)
    if family == 4:
        for first in range(1, 224):
            if first in (10, 127):
                continue
            a = ipaddress.ip_address(f"{first}.77.77.77")
            if free(a):
                return int(a)
    else:
        for k in range(0x2000, 0x4000, 0x11):
            a = ipaddress.ip_address(f"{k:x}:77::77")
            if free(a):
                return int(a)
    return None
