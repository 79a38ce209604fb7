"""``ip route`` output -> :class:`Route` facts.

Reads ``ip route``, ``ip -4/-6 route``, ``ip route show table all`` (which mixes both
families on current iproute2) and ``ip -o route``. Line shape: ``grammars/ip_route.lark``
(``[TYPE] DEST attr...``); attributes are read here.

Conventions:

- ``family``: from the destination (``:`` -> 6), else from ``via``/``src``, else the
  ``family`` argument (``ip -6 route`` sections), else 4.
- ``table``: ``main`` unless the line says ``table X``; the numeric ids of the reserved
  tables are given their names (``255`` -> ``local``, ``254`` -> ``main``, ``253`` ->
  ``default``); other ids stay as written (``"100"``).
- ``type``: ``unicast`` unless the line starts with a route type.
- ``dst``: ``default`` (``all``/``any`` are read as ``default`` too), else the CIDR or
  address exactly as printed (``0.0.0.0/0`` stays ``0.0.0.0/0``).
- Multipath routes (``10.0.0.0/8 proto static`` followed by ``nexthop via A dev X weight
  1`` lines, or the same words on one line with ``ip -o``): the route carries its *first*
  nexthop's ``via``/``dev``; every further nexthop is returned as one more :class:`Route`
  with the same destination, type, table, proto, scope and metric and its own
  ``via``/``dev``, placed right after the first. The kernel never holds two routes with
  the same destination, table and metric otherwise, so equal keys mean "equal-cost
  alternatives" to the model; a consumer that takes the first match keeps the first
  nexthop.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from importlib.resources import files

from lark import Tree
from lark.exceptions import LarkError, UnexpectedInput

from ...diagnostics import diag
from ...ir import Diagnostic, Route
from ...source import Text

__all__ = ["parse_ip_route", "TABLE_NAMES"]

TABLE_NAMES: dict[str, str] = {"255": "local", "254": "main", "253": "default", "0": "unspec"}

# attribute -> takes a value
_VALUED = frozenset({
    "dev", "via", "src", "proto", "scope", "metric", "table", "pref", "expires", "hoplimit",
    "mtu", "advmss", "weight", "realm", "realms", "tos", "dsfield", "nhid", "error", "from",
    "rtt", "rttvar", "reordering", "window", "cwnd", "initcwnd", "initrwnd", "ssthresh",
    "features", "quickack", "congctl", "fastopen_no_cookie", "encap", "mark", "uid",
    "iif", "oif", "ttl-propagate", "cache", "used", "age", "users", "nexthop_id", "rto_min",
    "priority", "preference", "lock", "protocol", "type",
})


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = files("dnlint.grammars").joinpath("ip_route.lark").read_text()
    from ...grammar import lark_parser

    return lark_parser(grammar, "ip_route.lark", parser="lalr", maybe_placeholders=False)


def _valid_dst(dst: str) -> bool:
    try:
        ipaddress.ip_network(dst, strict=False)
        return True
    except ValueError:
        return False


def _fam(addr: str | None) -> int | None:
    if not addr:
        return None
    return 6 if ":" in addr else 4


class _Attrs:
    __slots__ = ("dev", "via", "src", "proto", "scope", "metric", "table", "nexthops")

    def __init__(self):
        self.dev = self.via = self.src = self.proto = self.scope = self.table = None
        self.metric: int | None = None
        self.nexthops: list[tuple[str | None, str | None]] = []


def _read_attrs(words: list[str], attrs: _Attrs) -> None:
    """Read ``key value`` pairs and flags; ``nexthop`` starts a nexthop group."""
    i = 0
    nh: list | None = None  # [via, dev] of the nexthop being read
    while i < len(words):
        w = words[i]
        if w == "nexthop":
            nh = [None, None]
            attrs.nexthops.append(nh)  # type: ignore[arg-type]
            i += 1
            continue
        if w in _VALUED and i + 1 < len(words):
            v = words[i + 1]
            if w == "via" and v in ("inet", "inet6") and i + 2 < len(words):
                v = words[i + 2]  # `via inet6 fe80::1` (IPv4 route via an IPv6 gateway)
                i += 1
            if nh is not None and w in ("via", "dev"):
                nh[0 if w == "via" else 1] = v
            elif w == "dev":
                attrs.dev = v
            elif w == "via":
                attrs.via = v
            elif w == "src":
                attrs.src = v
            elif w in ("proto", "protocol"):
                attrs.proto = v
            elif w == "scope":
                attrs.scope = v
            elif w in ("metric", "priority", "preference"):
                try:
                    attrs.metric = int(v)
                except ValueError:
                    pass
            elif w == "table":
                attrs.table = TABLE_NAMES.get(v, v)
            i += 2
            continue
        i += 1  # a flag: onlink, linkdown, dead, pervasive, offload, ...


def parse_ip_route(text: Text, *, family: int | None = None) -> tuple[list[Route], list[Diagnostic]]:
    """Read ``ip route`` output. ``family`` is the section's ``-4``/``-6`` if known. Never raises."""
    routes: list[Route] = []
    diags: list[Diagnostic] = []
    # index in `routes` of the last route read, and its attrs, for `nexthop` lines
    last: tuple[int, int, _Attrs, dict] | None = None  # (start index in routes, line idx, attrs, fields)

    def bad(idx: int, col: int, what: str) -> None:
        shown = text.lines[idx].strip()
        if len(shown) > 80:
            shown = shown[:77] + "..."
        diags.append(diag("DN001", f"{what}; the line was skipped: {shown!r}", text.span(idx, col)))

    def finish() -> None:
        """Materialise the nexthops of the last multipath route."""
        nonlocal last
        if last is None:
            return
        start, _, attrs, fields = last
        if attrs.nexthops:
            first = routes[start]
            via0, dev0 = attrs.nexthops[0]
            routes[start] = _replace(first, via=via0 or first.via, dev=dev0 or first.dev)
            for via, dev in attrs.nexthops[1:]:
                routes.append(_replace(first, via=via, dev=dev))
        last = None

    for idx, raw in enumerate(text.lines):
        try:
            line = raw.strip()
            if not line:
                continue
            col = len(raw) - len(raw.lstrip()) + 1
            if line.startswith("nexthop"):
                if last is None:
                    bad(idx, col, "a `nexthop` line with no multipath route before it")
                    continue
                _read_attrs(line.split(), last[2])
                if not last[2].nexthops:
                    bad(idx, col, "cannot read this `nexthop` line")
                continue
            finish()
            try:
                tree = _parser().parse(line)
            except UnexpectedInput as e:
                bad(idx, col + max((getattr(e, "column", 1) or 1) - 1, 0),
                    "cannot read this `ip route` line (expected `[type] destination [attributes]`)")
                continue
            except LarkError:
                bad(idx, col, "cannot read this `ip route` line")
                continue
            rtype = "unicast"
            dst = None
            words: list[str] = []
            for ch in tree.children:
                if isinstance(ch, Tree):
                    if ch.data == "rtype":
                        rtype = str(ch.children[0])
                    elif ch.data == "dest":
                        dst = str(ch.children[0])
                    elif ch.data == "rest":
                        words.extend(str(ch.children[0]).split())
            if dst is None:  # pragma: no cover - grammar requires it
                bad(idx, col, "a route without a destination")
                continue
            if dst in ("all", "any"):
                dst = "default"
            if dst != "default" and not _valid_dst(dst):
                bad(idx, col, f"`{dst}` is not an address or CIDR")
                continue
            attrs = _Attrs()
            _read_attrs(words, attrs)
            fam = ((_fam(dst) if dst != "default" else None) or _fam(attrs.via)
                   or _fam(attrs.nexthops[0][0] if attrs.nexthops else None)
                   or _fam(attrs.src) or family or 4)
            route = Route(dst, text.span(idx, col), family=fam, type=rtype,
                          table=attrs.table or "main", dev=attrs.dev, via=attrs.via,
                          src=attrs.src, proto=attrs.proto, scope=attrs.scope,
                          metric=attrs.metric)
            routes.append(route)
            last = (len(routes) - 1, idx, attrs, {})
        except Exception as e:  # never take the whole dump down
            bad(idx, 1, f"internal error while reading this line ({type(e).__name__})")
    try:
        finish()
    except Exception as e:  # pragma: no cover
        diags.append(diag("DN001", f"internal error while reading a multipath route ({type(e).__name__})"))
    return routes, diags


def _replace(r: Route, **kw) -> Route:
    from dataclasses import replace
    return replace(r, **kw)
