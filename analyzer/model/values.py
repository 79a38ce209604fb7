"""Reading the values of rule options: protocols, ports, ranges, marks, ICMP types, NAT targets."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..parse.services import SERVICES

PROTOCOLS = {
    "all": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41,
    "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "icmp6": 58, "ospf": 89,
    "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "udplite": 136, "mh": 135, "dccp": 33,
}
PROTOCOL_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp", 136: "udplite", 33: "dccp"}


ICMP_TYPES = {
    "any": None, "echo-reply": (0, None), "pong": (0, None), "destination-unreachable": (3, None),
    "network-unreachable": (3, 0), "host-unreachable": (3, 1), "protocol-unreachable": (3, 2),
    "port-unreachable": (3, 3), "fragmentation-needed": (3, 4), "source-route-failed": (3, 5),
    "network-unknown": (3, 6), "host-unknown": (3, 7), "network-prohibited": (3, 9),
    "host-prohibited": (3, 10), "TOS-network-unreachable": (3, 11), "TOS-host-unreachable": (3, 12),
    "communication-prohibited": (3, 13), "host-precedence-violation": (3, 14),
    "precedence-cutoff": (3, 15), "source-quench": (4, None), "redirect": (5, None),
    "network-redirect": (5, 0), "host-redirect": (5, 1), "echo-request": (8, None), "ping": (8, None),
    "router-advertisement": (9, None), "router-solicitation": (10, None), "time-exceeded": (11, None),
    "ttl-exceeded": (11, None), "ttl-zero-during-transit": (11, 0), "ttl-zero-during-reassembly": (11, 1),
    "parameter-problem": (12, None), "ip-header-bad": (12, 0), "required-option-missing": (12, 1),
    "timestamp-request": (13, None), "timestamp-reply": (14, None), "address-mask-request": (17, None),
    "address-mask-reply": (18, None),
    # ICMPv6
    "packet-too-big": (2, None), "neighbour-solicitation": (135, None), "neighbor-solicitation": (135, None),
    "neighbour-advertisement": (136, None), "neighbor-advertisement": (136, None),
}

TCP_FLAGS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20,
             "ECE": 0x40, "CWR": 0x80, "ALL": 0x3F, "NONE": 0}


def protocol_number(name: str) -> int | None:
    n = name.lower()
    if n in PROTOCOLS:
        return PROTOCOLS[n]
    try:
        v = int(n, 0)
    except ValueError:
        return None
    return v if 0 <= v <= 255 else None


def port_number(text: str) -> int | None:
    t = text.strip()
    if t.isdigit():
        v = int(t)
        return v if 0 <= v <= 65535 else None
    return SERVICES.get(t.lower())


def port_range(text: str) -> tuple[int, int] | None:
    """``80``, ``1024:65535``, ``:1024``, ``1024:`` (also ``a-b``) as an inclusive range."""
    t = text.strip()
    sep = ":" if ":" in t else ("-" if "-" in t and not t.startswith("-") else None)
    if sep is None:
        p = port_number(t)
        return (p, p) if p is not None else None
    a, _, b = t.partition(sep)
    lo = port_number(a) if a else 0
    hi = port_number(b) if b else 65535
    if lo is None or hi is None:
        return None
    if lo > hi:
        lo, hi = hi, lo  # iptables swaps an inverted range
    return lo, hi


def port_list(text: str) -> list[tuple[int, int]] | None:
    out = []
    for part in text.split(","):
        r = port_range(part)
        if r is None:
            return None
        out.append(r)
    return out


def tcp_flags(text: str) -> int | None:
    total = 0
    for name in text.split(","):
        name = name.strip().upper()
        if not name:
            continue
        if name not in TCP_FLAGS:
            return None
        total |= TCP_FLAGS[name]
    return total


def mark_value(text: str) -> tuple[int, int] | None:
    """``0x4000/0x4000`` or ``5`` -> (value, mask)."""
    v, _, m = text.partition("/")
    try:
        value = int(v, 0)
        mask = int(m, 0) if m else 0xFFFFFFFF
    except ValueError:
        return None
    return value, mask


def icmp_type(text: str) -> tuple[int, int | None] | None:
    t = text.strip()
    if t in ICMP_TYPES:
        return ICMP_TYPES[t]
    a, _, b = t.partition("/")
    try:
        return int(a), (int(b) if b else None)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class NatSpec:
    """``--to-destination 10.0.0.1-10.0.0.5:80-90`` read: addresses and ports (inclusive ranges)."""

    addr: tuple[int, int] | None
    port: tuple[int, int] | None


def nat_spec(text: str, family: int) -> NatSpec | None:
    t = text.strip()
    addr_part, port_part = t, None
    if family == 6:
        if t.startswith("["):
            end = t.find("]")
            if end < 0:
                return None
            addr_part = t[1:end]
            rest = t[end + 1:]
            port_part = rest[1:] if rest.startswith(":") else None
        # bare IPv6 address: no port
    else:
        if ":" in t:
            addr_part, _, port_part = t.partition(":")
    addr = None
    if addr_part:
        a, _, b = addr_part.partition("-")
        try:
            lo = int(ipaddress.ip_address(a))
            hi = int(ipaddress.ip_address(b)) if b else lo
        except ValueError:
            return None
        addr = (lo, hi)
    port = None
    if port_part:
        port = port_range(port_part.replace("-", ":"))
        if port is None:
            return None
    return NatSpec(addr, port)
