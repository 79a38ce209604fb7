"""Sets of integers as sorted disjoint closed intervals: the header-space domain of the engine.

Addresses (as integers), ports and protocol numbers are all sets of this kind; a rule's
condition on one field is one IntervalSet, so most questions ("can this rule match any
packet the query is about?") are answered by interval arithmetic before z3 is asked.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left
from collections.abc import Iterable


class IntervalSet:
    __slots__ = ("ivs", "_ends")

    def __init__(self, ivs: Iterable[tuple[int, int]] = ()):
        self.ivs: tuple[tuple[int, int], ...] = _normalise(ivs)
        self._ends = None

    def _window(self, lo: int, hi: int) -> tuple[int, int]:
        """Indexes [i, j) of the intervals that may meet [lo, hi] (binary search on the ends)."""
        ends = self._ends
        if ends is None:
            ends = self._ends = [b for _a, b in self.ivs]
        i = bisect_left(ends, lo)
        j = i
        ivs = self.ivs
        n = len(ivs)
        while j < n and ivs[j][0] <= hi:
            j += 1
        return i, j

    @classmethod
    def point(cls, v: int) -> "IntervalSet":
        return cls(((v, v),))

    @classmethod
    def range(cls, lo: int, hi: int) -> "IntervalSet":
        return cls(((lo, hi),)) if lo <= hi else cls()

    def __bool__(self) -> bool:
        return bool(self.ivs)

    def __eq__(self, other) -> bool:
        return isinstance(other, IntervalSet) and self.ivs == other.ivs

    def __hash__(self) -> int:
        return hash(self.ivs)

    def __repr__(self) -> str:
        return "IntervalSet(" + ",".join(f"{a}-{b}" if a != b else str(a) for a, b in self.ivs) + ")"

    def __contains__(self, v: int) -> bool:
        for a, b in self.ivs:
            if v < a:
                return False
            if v <= b:
                return True
        return False

    def size(self) -> int:
        return sum(b - a + 1 for a, b in self.ivs)

    def is_point(self) -> bool:
        return len(self.ivs) == 1 and self.ivs[0][0] == self.ivs[0][1]

    def min(self) -> int:
        return self.ivs[0][0]

    def intersect(self, other: "IntervalSet") -> "IntervalSet":
        a, b = self.ivs, other.ivs
        if len(b) == 1 and len(a) > 8 or len(a) == 1 and len(b) > 8:
            big, (lo, hi) = (self, b[0]) if len(b) == 1 else (other, a[0])
            i, j = big._window(lo, hi)
            part = big.ivs[i:j]
            r = IntervalSet.__new__(IntervalSet)
            r._ends = None
            if part:
                first, last = part[0], part[-1]
                if len(part) == 1:
                    part = ((max(first[0], lo), min(first[1], hi)),)
                else:
                    part = ((max(first[0], lo), first[1]),) + part[1:-1] + ((last[0], min(last[1], hi)),)
            r.ivs = part
            return r
        out = []
        i = j = 0
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        r = IntervalSet.__new__(IntervalSet)
        r._ends = None
        r.ivs = tuple(out)
        return r

    def union(self, other: "IntervalSet") -> "IntervalSet":
        return IntervalSet(self.ivs + other.ivs)

    def complement(self, lo: int, hi: int) -> "IntervalSet":
        out = []
        cur = lo
        for a, b in self.ivs:
            if b < lo or a > hi:
                continue
            if a > cur:
                out.append((cur, a - 1))
            cur = max(cur, b + 1)
        if cur <= hi:
            out.append((cur, hi))
        r = IntervalSet.__new__(IntervalSet)
        r._ends = None
        r.ivs = tuple(out)
        return r

    def subset_of(self, other: "IntervalSet") -> bool:
        a = self.ivs
        if not a:
            return True
        b = other.ivs
        if len(b) > 8:
            for lo, hi in a:  # each interval must lie inside one interval of other
                i, j = other._window(lo, hi)
                if j - i != 1 or b[i][0] > lo or b[i][1] < hi:
                    return False
            return True
        return self.intersect(other) == self

    def overlaps(self, other: "IntervalSet") -> bool:
        a, b = self.ivs, other.ivs
        if len(a) > 8 and len(b) == 1:
            i, j = self._window(*b[0])
            return j > i
        if len(b) > 8 and len(a) == 1:
            i, j = other._window(*a[0])
            return j > i
        i = j = 0
        while i < len(a) and j < len(b):
            if max(a[i][0], b[j][0]) <= min(a[i][1], b[j][1]):
                return True
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return False

    def pick(self, prefer: Iterable[int] = ()) -> int:
        for v in prefer:
            if v in self:
                return v
        return self.ivs[0][0]


def _normalise(ivs: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    items = sorted((a, b) for a, b in ivs if a <= b)
    out: list[tuple[int, int]] = []
    for a, b in items:
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


FIELD_MAX = {"src": None, "dst": None, "sport": 65535, "dport": 65535, "proto": 255}


def addr_max(family: int) -> int:
    return (1 << 32) - 1 if family == 4 else (1 << 128) - 1


def _v4(text: str) -> int | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    v = 0
    for p in parts:
        if not p.isdigit() or len(p) > 3 or (len(p) > 1 and p[0] == "0"):
            return None
        n = int(p)
        if n > 255:
            return None
        v = (v << 8) | n
    return v


def cidr_interval(value: str, family: int) -> tuple[int, int] | None:
    """``10.0.0.0/8`` or ``10.1.2.3`` (or ``10.0.0.0/255.0.0.0``) as an inclusive range; None if not an address."""
    if family == 4:
        # the common case without the ipaddress module (rule compilation meets thousands of these)
        addr, slash, plen = value.partition("/")
        a = _v4(addr)
        if a is not None and (not slash or (plen.isdigit() and int(plen) <= 32)):
            n = int(plen) if slash else 32
            mask = ((1 << n) - 1) << (32 - n)
            lo = a & mask
            return lo, lo | (~mask & 0xFFFFFFFF)
    try:
        if "/" in value:
            addr, _, mask = value.partition("/")
            if "." in mask and family == 4:
                plen = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
                value = f"{addr}/{plen}"
            net = ipaddress.ip_network(value, strict=False)
        else:
            net = ipaddress.ip_network(value)
    except ValueError:
        return None
    if net.version != family:
        return None
    return int(net.network_address), int(net.broadcast_address)


def ip_int(value: str) -> int | None:
    try:
        return int(ipaddress.ip_address(value))
    except ValueError:
        return None


def ip_str(value: int, family: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))
