"""Parser for ``iptables -L`` listings (``-n``, ``-v``, ``-x``, ``--line-numbers``, ``-t TABLE``).

A listing is lossy: it never names its table, hides interfaces and counters without ``-v``,
prints names instead of numbers without ``-n``, rounds counters to K/M/G/T (1000-based, as
iptables' ``xtables_print_num`` does) without ``-x``, and shows each match and target the way
its extension's ``print`` function does rather than as ``iptables-save`` options. This module
decodes what it can back into the same IR an ``iptables-save`` dump gives, spelled the way
``iptables-save`` would spell the same rule, and says what it could not recover:

- one DN004 diagnostic per listing (what the listing could not show);
- DN007 when the table had to be inferred from the chains and targets;
- DN006 for each distinct host name standing where an address should be;
- DN001 for every line that is not a chain header, a column header or a rule line;
- per rule, ``Rule.unknown`` (fields the listing did not show, e.g. ``in_iface``/``out_iface``
  without ``-v``) and ``Rule.lossy`` (sentences about anything else approximated).

Option text that the grammar cannot decode is never dropped: consecutive undecoded words
become one ``Match(module="?", options=(Option("raw", (text,)),), known=False)`` (see
:data:`UNKNOWN_MODULE`) and a sentence in ``Rule.lossy``.

Structure: ``grammars/iptables_list.lark`` parses chain headers, column headers and the option
column (LALR, built once, lazily). The fixed columns of a rule line are split here, guided by the
column header, because iptables prints *nothing* (not even a placeholder) for a rule without
a target and for ip6tables' opt column. Option texts are parsed once per *shape* (digit runs
replaced by zeros, which keeps every token boundary), so a 10k-rule listing parses in about a
second.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Iterable

from ..diagnostics import diag
from ..ir import (
    BUILTIN_CHAINS,
    AddressMatch,
    Chain,
    Counters,
    Diagnostic,
    InterfaceMatch,
    Match,
    Option,
    ProtocolMatch,
    Rule,
    Ruleset,
    RulesetFormat,
    Span,
    Table,
    Target,
)
from ..source import Text
from .modules import KNOWN_MATCH_MODULES, KNOWN_TARGETS

__all__ = ["parse_listing", "UNKNOWN_MODULE", "parse_command_flags", "ListingFlags"]

#: Module name of a match holding option text the parser could not decode. Its only option is
#: ``Option("raw", (text,))`` with the words exactly as the listing printed them.
UNKNOWN_MODULE = "?"

# ------------------------------------------------------------------------------- grammar

_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:


        try:
            grammar = resources.files("dnlint.grammars").joinpath("iptables_list.lark").read_text()
        except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - source checkout
            from pathlib import Path

            grammar = (Path(__file__).resolve().parents[2] / "grammars" / "iptables_list.lark").read_text()
        from ..grammar import lark_parser

        _PARSER = lark_parser(grammar, "iptables_list.lark", parser="lalr", lexer="contextual",
                              start=["chain_header", "column_header", "options"])
    return _PARSER


# ------------------------------------------------------------------------------- command flags


@dataclass(frozen=True, slots=True)
class ListingFlags:
    """What the command line of a listing said (None: the command line did not say)."""

    numeric: bool | None = None
    verbose: bool | None = None
    exact: bool | None = None
    line_numbers: bool | None = None
    table: str | None = None
    family: int | None = None


def parse_command_flags(command: str | None) -> ListingFlags:
    """Read ``-n -v -x --line-numbers -t TABLE`` and the family from a command line (the first
    command of a ``a && b`` line), as the dump splitter reads it."""
    if not command:
        return ListingFlags()
    from ..ingest.commands import classify

    info = classify(command)
    f = info.flags
    return ListingFlags("n" in f, "v" in f, "x" in f, "line-numbers" in f,
                        info.table if info.table_given else None, info.family)


# ------------------------------------------------------------------------------- small tables

from .services import SERVICES  # noqa: E402

# ICMP type names (libxt_icmp's table) -> (type, code or None).
ICMP_TYPES: dict[str, tuple[int, int | None]] = {
    "any": (255, None), "echo-reply": (0, None), "pong": (0, None),
    "destination-unreachable": (3, None), "network-unreachable": (3, 0),
    "host-unreachable": (3, 1), "protocol-unreachable": (3, 2), "port-unreachable": (3, 3),
    "fragmentation-needed": (3, 4), "source-route-failed": (3, 5),
    "network-unknown": (3, 6), "host-unknown": (3, 7), "network-prohibited": (3, 9),
    "host-prohibited": (3, 10), "TOS-network-unreachable": (3, 11),
    "TOS-host-unreachable": (3, 12), "communication-prohibited": (3, 13),
    "host-precedence-violation": (3, 14), "precedence-cutoff": (3, 15),
    "source-quench": (4, None), "redirect": (5, None), "network-redirect": (5, 0),
    "host-redirect": (5, 1), "TOS-network-redirect": (5, 2), "TOS-host-redirect": (5, 3),
    "echo-request": (8, None), "ping": (8, None), "router-advertisement": (9, None),
    "router-solicitation": (10, None), "time-exceeded": (11, None), "ttl-exceeded": (11, None),
    "ttl-zero-during-transit": (11, 0), "ttl-zero-during-reassembly": (11, 1),
    "parameter-problem": (12, None), "ip-header-bad": (12, 0),
    "required-option-missing": (12, 1), "timestamp-request": (13, None),
    "timestamp-reply": (14, None), "address-mask-request": (17, None),
    "address-mask-reply": (18, None),
}

ICMP6_TYPES: dict[str, tuple[int, int | None]] = {
    "destination-unreachable": (1, None), "no-route": (1, 0),
    "communication-prohibited": (1, 1), "beyond-scope": (1, 2), "address-unreachable": (1, 3),
    "port-unreachable": (1, 4), "failed-policy": (1, 5), "reject-route": (1, 6),
    "packet-too-big": (2, None), "time-exceeded": (3, None), "ttl-exceeded": (3, None),
    "ttl-zero-during-transit": (3, 0), "ttl-zero-during-reassembly": (3, 1),
    "parameter-problem": (4, None), "bad-header": (4, 0), "unknown-header-type": (4, 1),
    "unknown-option": (4, 2), "echo-request": (128, None), "ping": (128, None),
    "echo-reply": (129, None), "pong": (129, None), "router-solicitation": (133, None),
    "router-advertisement": (134, None), "neighbour-solicitation": (135, None),
    "neighbor-solicitation": (135, None), "neighbour-advertisement": (136, None),
    "neighbor-advertisement": (136, None), "redirect": (137, None),
}

# Names every /etc/hosts and /etc/networks gives (iptables -L without -n prints them).
WELL_KNOWN_NAMES: dict[str, str] = {"localhost": "127.0.0.1", "localhost.localdomain": "127.0.0.1",
                                    "loopback": "127.0.0.0", "link-local": "169.254.0.0"}
WELL_KNOWN_NAMES6: dict[str, str] = {"localhost": "::1", "ip6-localhost": "::1",
                                     "ip6-loopback": "::1", "localhost6": "::1"}

# Protocol numbers/aliases -> the name iptables-save prints (/etc/protocols); None = any.
PROTOCOLS: dict[str, str | None] = {
    "0": None, "all": None, "1": "icmp", "2": "igmp", "4": "ipencap", "6": "tcp", "17": "udp",
    "41": "ipv6", "43": "ipv6-route", "44": "ipv6-frag", "47": "gre", "50": "esp", "51": "ah",
    "58": "ipv6-icmp", "icmpv6": "ipv6-icmp", "59": "ipv6-nonxt", "60": "ipv6-opts",
    "89": "ospf", "103": "pim", "112": "vrrp", "115": "l2tp", "132": "sctp",
    "135": "ipv6-mh", "mh": "ipv6-mh", "136": "udplite", "33": "dccp",
}
_KNOWN_PROTO_NAMES = frozenset(
    {"tcp", "udp", "icmp", "ipv6-icmp", "icmpv6", "esp", "ah", "gre", "sctp", "udplite", "igmp",
     "ipv6", "ipencap", "ospf", "vrrp", "pim", "l2tp", "mh", "ipv6-mh", "dccp", "all",
     "ipv6-route", "ipv6-frag", "ipv6-nonxt", "ipv6-opts", "ipip", "encap", "egp", "rsvp",
     "ipcomp", "carp", "ospfigp", "hopopt"})

_TCP_FLAG_BITS = (("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10),
                  ("URG", 0x20))
_TCP_FLAG_NAMES = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10,
                   "URG": 0x20, "ALL": 0x3F, "NONE": 0}

_LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4, "warn": 4,
               "notice": 5, "info": 6, "debug": 7, "panic": 0}
_LOG_FLAG_OPTS = ((0x01, "tcp-sequence", "--log-tcp-sequence"),
                  (0x02, "tcp-options", "--log-tcp-options"),
                  (0x04, "ip-options", "--log-ip-options"),
                  (0x08, "uid", "--log-uid"),
                  (0x20, "macdecode", "--log-macdecode"))

_NAT_TARGETS = {"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"}
_MANGLE_TARGETS = {"MARK", "TPROXY", "TOS", "TTL", "HL", "DSCP", "ECN", "CLASSIFY", "CHECKSUM"}
_RAW_TARGETS = {"NOTRACK", "CT"}

# ------------------------------------------------------------------------------- helpers

_TOKEN = re.compile(r"\S+")
_COUNT = re.compile(r"^(\d+)([KMGT]?)$")
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_OPTS = {"--": None, "-f": True, "!f": False}
_DIGITS = re.compile(r"(?<![A-Za-z])\d+")
_LOOSE_PROTO = re.compile(r"^!?[A-Za-z0-9_.-]+$")


def _count(tok: str) -> tuple[int, bool] | None:
    """``114K`` -> (114000, True); ``4248`` -> (4248, False)."""
    m = _COUNT.match(tok)
    if not m:
        return None
    return int(m.group(1)) * _SUFFIX[m.group(2)], bool(m.group(2))


def _proto_ok(tok: str, strict: bool) -> bool:
    v = tok[1:] if tok.startswith("!") else tok
    if not v:
        return False
    if v.isdigit() or v in _KNOWN_PROTO_NAMES:
        return True
    return not strict and bool(_LOOSE_PROTO.match(tok))


def _iface(tok: str) -> InterfaceMatch | None:
    neg = tok.startswith("!")
    name = tok[1:] if neg else tok
    if name in ("*", "any", ""):
        return None
    return InterfaceMatch(name, negated=neg)


@dataclass(slots=True)
class _Layout:
    num: bool = False
    counters: bool = False
    iface: bool = False

    @classmethod
    def from_header(cls, cols: list[str]) -> "_Layout":
        return cls(num="num" in cols, counters="pkts" in cols, iface="in" in cols)


@dataclass(slots=True)
class _Fields:
    num: int | None
    counters: Counters | None
    approx: bool
    target: str | None
    prot: str
    opt: str | None
    in_iface: str | None
    out_iface: str | None
    src: str
    dst: str
    options: str


def _split_rule(line: str, layout: _Layout) -> _Fields | None:
    toks = list(_TOKEN.finditer(line))
    i = 0
    num = None
    counters = None
    approx = False
    if layout.num:
        if len(toks) <= i or not toks[i].group().isdigit():
            return None
        num = int(toks[i].group())
        i += 1
    if layout.counters:
        if len(toks) < i + 2:
            return None
        p = _count(toks[i].group())
        b = _count(toks[i + 1].group())
        if p is None or b is None:
            return None
        counters = Counters(p[0], b[0])
        approx = p[1] or b[1]
        i += 2
    rest = toks[i:]
    words = [t.group() for t in rest]
    for has_target, has_opt in ((1, 1), (0, 1), (1, 0), (0, 0)):
        n = has_target + 1 + has_opt + (2 if layout.iface else 0) + 2
        if len(words) < n:
            continue
        k = 0
        target = None
        if has_target:
            target = words[0]
            if target in _OPTS:
                continue
            k = 1
        prot = words[k]
        if not _proto_ok(prot, strict=not has_opt):
            continue
        k += 1
        opt = None
        if has_opt:
            opt = words[k]
            if opt not in _OPTS:
                continue
            k += 1
        inf = outf = None
        if layout.iface:
            inf, outf = words[k], words[k + 1]
            if inf in _OPTS or outf in _OPTS:
                continue
            k += 2
        src, dst = words[k], words[k + 1]
        if src in _OPTS or dst in _OPTS:
            continue
        opts = line[rest[n - 1].end():].strip()
        return _Fields(num, counters, approx, target, prot, opt, inf, outf, src, dst, opts)
    return None


def _address(tok: str, family: int) -> tuple[AddressMatch | None, str | None]:
    """Listing address -> (AddressMatch as iptables-save spells it, None | "host" | "well-known")."""
    neg = tok.startswith("!")
    v = tok[1:] if neg else tok
    if v in ("anywhere", "0.0.0.0/0", "::/0") and not neg:
        return None, None
    if v == "anywhere":
        v = "::/0" if family == 6 else "0.0.0.0/0"
    addr, slash, mask = v.partition("/")
    well_known = (WELL_KNOWN_NAMES6 if family == 6 else WELL_KNOWN_NAMES).get(addr)
    kind = None
    if well_known is not None:
        kind = "well-known"
        addr = well_known
        v = f"{addr}{slash}{mask}"
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return AddressMatch(v, negated=neg, resolved=False), "host"
    if not slash:
        v = f"{addr}/{ip.max_prefixlen}"
    return AddressMatch(v, negated=neg), kind


def _port(value: str, lossy: list[str]) -> str:
    """Service name or number -> number text (names kept and noted when unknown)."""
    if value.isdigit() or not value:
        return value
    num = SERVICES.get(value)
    if num is None:
        lossy.append(f"service name {value!r} is not in dnlint's table of services; kept as a name")
        return value
    return str(num)


def _ports(value: str, lossy: list[str], sep: str = ":") -> str:
    return sep.join(_port(p, lossy) for p in value.split(sep))


def _tcp_flags(text: str) -> tuple[tuple[str, str], bool] | None:
    """``0x17/0x02`` or ``FIN,SYN,RST,ACK/SYN`` (maybe ``!``) -> ((mask, comp), negated)."""
    t = text.strip()
    neg = t.startswith("!")
    if neg:
        t = t[1:]
    mask_s, slash, comp_s = t.partition("/")
    if not slash:
        return None

    def bits(s: str) -> int | None:
        if s.lower().startswith("0x"):
            try:
                return int(s, 16)
            except ValueError:
                return None
        total = 0
        for name in s.split(","):
            if name not in _TCP_FLAG_NAMES:
                return None
            total |= _TCP_FLAG_NAMES[name]
        return total

    mask, comp = bits(mask_s), bits(comp_s)
    if mask is None or comp is None:
        return None

    def names(v: int) -> str:
        out = [n for n, b in _TCP_FLAG_BITS if v & b]
        return ",".join(out) if out else "NONE"

    return (names(mask), names(comp)), neg


def _split_neg(value: str) -> tuple[str, bool]:
    if value.startswith("!"):
        return value[1:].lstrip(), True
    return value, False


# ------------------------------------------------------------------------------- option column

# A phrase is (kind, negated, data) where data is a tuple of strings / tuples.


def _tok(node, text: str) -> str:
    return text[node.start_pos:node.end_pos]


@lru_cache(maxsize=8192)
def _shape_tree(shape: str):
    return _parser().parse(shape, start="options")


def _phrases(text: str) -> list[tuple]:
    """Parse an option column into phrases; raises lark errors on text it cannot parse."""
    from lark import Token, Tree

    shape = _DIGITS.sub(lambda m: "0" * len(m.group()), text)
    tree = _shape_tree(shape)
    out: list[tuple] = []
    for item in tree.children:
        bang, ph = item.children
        neg = bang is not None
        kind = ph.data
        vals: list = []
        for c in ph.children:
            if c is None:
                vals.append(None)
            elif isinstance(c, Token):
                vals.append(_tok(c, text))
            elif isinstance(c, Tree):
                sub = []
                for cc in c.children:
                    sub.append(None if cc is None else _tok(cc, text))
                vals.append((c.data, tuple(sub)))
        out.append((kind, neg, tuple(vals)))
    return out


class _Builder:
    """Turns the phrases of one rule into matches and target options, spelled as iptables-save."""

    def __init__(self, target: str | None, family: int, numeric: bool):
        self.target = target
        self.family = family
        self.numeric = numeric
        self.matches: list[Match] = []
        self.topts: list[Option] = []
        self.goto = False
        self.lossy: list[str] = []
        self.unknown_words: list[str] = []
        self.undecoded: list[str] = []

    # -- helpers
    def flush_unknown(self) -> None:
        if self.unknown_words:
            raw = " ".join(self.unknown_words)
            self.matches.append(Match(UNKNOWN_MODULE, (Option("raw", (raw,)),), known=False))
            self.lossy.append(f"option text {raw!r} was not understood; kept as an unknown match")
            self.undecoded.append(raw)
            self.unknown_words = []

    def add(self, module: str, opts: Iterable[Option], merge: bool = False) -> None:
        self.flush_unknown()
        opts = tuple(opts)
        if merge and self.matches and self.matches[-1].module == module:
            last = self.matches[-1]
            names = {o.name for o in last.options}
            if not any(o.name in names for o in opts):
                self.matches[-1] = replace(last, options=last.options + opts)
                return
        self.matches.append(Match(module, opts, known=module in KNOWN_MATCH_MODULES))

    def tadd(self, *opts: Option) -> None:
        self.flush_unknown()
        self.topts.extend(opts)

    # -- phrases
    def phrase(self, kind: str, neg: bool, v: tuple) -> None:
        handler = getattr(self, "p_" + kind, None)
        if handler is None:  # pragma: no cover - grammar and builder out of step
            self.unknown_words.append(" ".join(str(x) for x in v if isinstance(x, str)))
            return
        handler(neg, v)

    def p_unknown(self, neg, v):
        self.unknown_words.append(("! " if neg else "") + v[0])

    def p_goto(self, neg, v):
        self.flush_unknown()
        self.goto = True

    def p_comment(self, neg, v):
        body = v[0][2:-2].strip()
        self.add("comment", [Option("--comment", (body,))])

    def _portopt(self, tok: str) -> Option:
        key, _, val = tok.partition(":")
        val, neg = _split_neg(val)
        name = "--sport" if key.startswith("s") else "--dport"
        return Option(name, (_ports(val, self.lossy),), negated=neg)

    def _proto_match(self, module, neg, v):
        opts = []
        for sub in v[1:]:
            _, (tok,) = sub
            if tok.startswith("flags:"):
                parsed = _tcp_flags(tok[len("flags:"):])
                if parsed is None:
                    self.unknown_words.append(tok)
                    continue
                (mask, comp), fneg = parsed
                opts.append(Option("--tcp-flags", (mask, comp), negated=fneg))
            elif tok.startswith("option="):
                val, oneg = _split_neg(tok[len("option="):])
                opts.append(Option("--tcp-option", (val,), negated=oneg))
            else:
                opts.append(self._portopt(tok))
        if neg and opts:
            opts[0] = replace(opts[0], negated=not opts[0].negated)
        self.add(module, opts)

    def p_tcp(self, neg, v):
        self._proto_match("tcp", neg, v)

    def p_udp(self, neg, v):
        self._proto_match("udp", neg, v)

    def p_sctp(self, neg, v):
        self._proto_match("sctp", neg, v)

    def p_icmp(self, neg, v):
        kw = v[0]
        six = kw.startswith("ipv6") or "v6" in kw or self.family == 6
        module, optname = ("icmp6", "--icmpv6-type") if six else ("icmp", "--icmp-type")
        table = ICMP6_TYPES if six else ICMP_TYPES
        code = None
        tneg = neg
        if kw.endswith("type"):  # icmptype 8 [code N]
            tval = v[1]
            rest = v[2:]
        else:
            kind, args = v[1]
            rest = v[2:]
            if kind == "icmp_num":
                tval = args[1] if len(args) > 1 else args[0]
            elif kind == "icmp_negnum":
                tval = args[1]
                tneg = not tneg
            else:
                tval, n2 = _split_neg(args[0])
                tneg = tneg ^ n2
                if not tval.isdigit():
                    if tval in table:
                        t, c = table[tval]
                        if tval == "any":
                            self.add(module, [Option(optname, ("any",), negated=tneg)])
                            return
                        tval = str(t)
                        code = c
                    else:
                        self.lossy.append(f"ICMP type name {tval!r} is unknown to dnlint; kept as a name")
        for r in rest:
            if r is None:
                continue
            _, (ckw, cval) = r
            if ckw == "code":
                code = int(cval) if cval.isdigit() else None
            else:  # codes a-b: iptables-save prints only the lower code
                lo = cval.split("-")[0]
                code = int(lo) if lo.isdigit() else None
        arg = tval if code is None else f"{tval}/{code}"
        self.add(module, [Option(optname, (arg,), negated=tneg)])

    def p_multiport(self, neg, v):
        direction, bang, value = v
        value, vneg = _split_neg(value)
        negated = neg or bang is not None or vneg
        ports = ",".join(_ports(p, self.lossy) for p in value.split(","))
        self.add("multiport", [Option("--" + direction, (ports,), negated=negated)])

    def p_state(self, neg, v):
        self.add("state", [Option("--state", (v[0],), negated=neg)])

    def p_ctopt(self, neg, v):
        kw, value = v
        value, vneg = _split_neg(value)
        self.add("conntrack", [Option("--" + kw, (value,), negated=neg or vneg)], merge=True)

    def p_addrtype(self, neg, v):
        opts = []
        for sub in v:
            _, args = sub
            if args[0] in ("limit-in", "limit-out"):
                opts.append(Option("--limit-iface-" + args[0].split("-")[1]))
                continue
            side, bang, value = args
            value, vneg = _split_neg(value)
            opts.append(Option("--" + side, (value,), negated=bang is not None or vneg))
        if neg and opts:
            opts[0] = replace(opts[0], negated=not opts[0].negated)
        self.add("addrtype", opts)

    def _markish(self, module, neg, v):
        bang, value = v
        value, vneg = _split_neg(value)
        self.add(module, [Option("--mark", (value,), negated=neg or bang is not None or vneg)])

    def p_mark(self, neg, v):
        self._markish("mark", neg, v)

    def p_connmark(self, neg, v):
        self._markish("connmark", neg, v)

    def p_iprange(self, neg, v):
        side, bang, value = v
        value, vneg = _split_neg(value)
        name = "--src-range" if side == "source" else "--dst-range"
        self.add("iprange", [Option(name, (value,), negated=neg or bang is not None or vneg)],
                 merge=True)

    def p_matchset(self, neg, v):
        self.add("set", [Option("--match-set", (v[0], v[1]), negated=neg)])

    def p_physdev(self, neg, v):
        opts = []
        for sub in v:
            _, args = sub
            bang = args[0] is not None
            if len(args) == 3:
                opts.append(Option(args[1], (args[2],), negated=bang))
            else:
                opts.append(Option(args[1], (), negated=bang))
        if neg and opts:
            opts[0] = replace(opts[0], negated=not opts[0].negated)
        self.add("physdev", opts)

    def p_statistic(self, neg, v):
        opts = [Option("--mode", (v[0],))]
        for sub in v[1:]:
            _, (bang, kw, value) = sub
            opts.append(Option("--" + kw, (value,), negated=bang is not None or neg))
        self.add("statistic", opts)

    def p_recent(self, neg, v):
        cmd = None
        seconds = hit = name = mask = side = None
        reap = ttl = False
        for sub in v:
            _, args = sub
            a = args[0]
            if a in ("SET", "CHECK", "UPDATE", "REMOVE"):
                cmd = {"SET": "--set", "CHECK": "--rcheck", "UPDATE": "--update",
                       "REMOVE": "--remove"}[a]
            elif a == "seconds:":
                seconds = args[1]
            elif a == "hit_count:":
                hit = args[1]
            elif a == "name:":
                name = args[1]
            elif a == "mask:":
                mask = args[1]
            elif a == "side:":
                side = args[1]
            elif a == "reap":
                reap = True
            elif a == "TTL-Match":
                ttl = True
        opts = []
        if cmd:
            opts.append(Option(cmd, (), negated=neg))
        if seconds:
            opts.append(Option("--seconds", (seconds,)))
        if reap:
            opts.append(Option("--reap"))
        if hit:
            opts.append(Option("--hitcount", (hit,)))
        if ttl:
            opts.append(Option("--rttl"))
        if name is not None:
            opts.append(Option("--name", (name,)))
        if mask is not None:
            opts.append(Option("--mask", (mask,)))
        if side == "source":
            opts.append(Option("--rsource"))
        elif side == "dest":
            opts.append(Option("--rdest"))
        self.add("recent", opts)

    def p_owner(self, neg, v):
        if len(v) == 1:  # socket exists
            self.add("owner", [Option("--socket-exists", (), negated=neg)], merge=True)
            return
        _, kw, value = v
        value, vneg = _split_neg(value)
        if not value.replace("-", "").isdigit():
            self.lossy.append(f"owner {kw} {value!r} is a name (listing without -n); kept as a name")
        name = "--uid-owner" if kw == "UID" else "--gid-owner"
        self.add("owner", [Option(name, (value,), negated=neg or vneg)], merge=True)

    def p_mac(self, neg, v):
        bang, value = v
        value, vneg = _split_neg(value)
        self.add("mac", [Option("--mac-source", (value.upper(),), negated=neg or bang is not None or vneg)])

    def p_length(self, neg, v):
        bang, value = v
        value, vneg = _split_neg(value)
        self.add("length", [Option("--length", (value,), negated=neg or bang is not None or vneg)])

    def p_ttl(self, neg, v):
        kw, _, op, value = v
        module = kw.lower()
        suffix = {"==": "eq", "!=": "eq", "<": "lt", ">": "gt"}[op]
        self.add(module, [Option(f"--{module}-{suffix}", (value,), negated=neg or op == "!=")])

    def p_pkttype(self, neg, v):
        op, value = v
        self.add("pkttype", [Option("--pkt-type", (value,), negated=neg or op == "!=")])

    def p_tcpmss(self, neg, v):
        bang, value = v
        value, vneg = _split_neg(value)
        self.add("tcpmss", [Option("--mss", (value,), negated=neg or bang is not None or vneg)])

    def p_dscp(self, neg, v):
        bang, value = v
        value, vneg = _split_neg(value)
        self.add("dscp", [Option("--dscp", (value,), negated=neg or bang is not None or vneg)])

    def p_helper(self, neg, v):
        bang, value = v
        self.add("helper", [Option("--helper", (value.strip('"'),), negated=neg or bang is not None)])

    def p_limit(self, neg, v):
        avg, burst = v
        opts = [Option("--limit", (avg,))]
        if burst != "5":
            opts.append(Option("--limit-burst", (burst,)))
        self.add("limit", opts)

    # -- target options
    def p_nat_to(self, neg, v):
        value = v[0][len("to:"):]
        name = {"SNAT": "--to-source", "NETMAP": "--to"}.get(self.target or "", "--to-destination")
        self.tadd(Option(name, (value,)))

    def p_nat_flag(self, neg, v):
        self.tadd(Option("--" + v[0]))

    def p_masq(self, neg, v):
        self.tadd(Option("--to-ports", (v[0],)))

    def p_redir(self, neg, v):
        self.tadd(Option("--to-ports", (v[0],)))

    def p_reject(self, neg, v):
        self.tadd(Option("--reject-with", (v[0],)))

    def p_log(self, neg, v):
        level = 4
        flags = 0
        prefix = None
        for kind, args in v:
            if kind == "log_kv":
                key, value = args
                if key == "level":
                    level = int(value) if value.isdigit() else _LOG_LEVELS.get(value, value)
                elif value.isdigit():
                    flags = int(value)
            elif kind == "log_prefix":
                prefix = args[0][1:-1]
            elif kind == "log_flag":
                for bit, word, _ in _LOG_FLAG_OPTS:
                    if args[0] == word:
                        flags |= bit
        opts = []
        if prefix is not None:
            opts.append(Option("--log-prefix", (prefix,)))
        if level != 4:
            opts.append(Option("--log-level", (str(level),)))
        for bit, _, opt in _LOG_FLAG_OPTS:
            if flags & bit:
                opts.append(Option(opt))
        self.tadd(*opts)

    @staticmethod
    def _xmark(op: str, value: str) -> str:
        try:
            if op == "xset":
                return value
            x = int(value, 16) if value.lower().startswith("0x") else int(value)
            if op == "set":
                return f"{value}/0xffffffff"
            if op == "or":
                return f"{value}/{value}"
            if op == "xor":
                return f"{value}/0x0"
            if op == "and":
                return f"0x0/{hex(~x & 0xFFFFFFFF)}"
        except ValueError:
            pass
        return value

    def p_mark_tg(self, neg, v):
        op, value = v
        self.tadd(Option("--set-xmark", (self._xmark(op, value),)))

    def p_connmark_set(self, neg, v):
        op, value = v
        self.tadd(Option("--set-xmark", (self._xmark(op, value),)))

    def p_connmark_move(self, neg, v):
        direction = v[0]
        nfmask = ctmask = "0xffffffff"
        for sub in v[1:]:
            _, (kw, value) = sub
            value = value.lstrip("~")
            if kw == "mask":
                nfmask = ctmask = value
            elif kw == "nfmask":
                nfmask = value
            else:
                ctmask = value
        self.tadd(Option(f"--{direction}-mark"), Option("--nfmask", (nfmask,)),
                  Option("--ctmask", (ctmask,)))

    def p_notrack(self, neg, v):
        if self.target == "CT":
            self.tadd(Option("--notrack"))
        else:
            self.flush_unknown()

    def p_ct(self, neg, v):
        for sub in v:
            _, (kw, value) = sub
            self.tadd(Option("--" + kw, (value,)))

    def p_nflog(self, neg, v):
        for sub in v:
            _, (kw, value) = sub
            if kw == "nflog-prefix":
                value = value.strip('"')
            self.tadd(Option("--" + kw, (value,)))

    def p_nfqueue(self, neg, v):
        for sub in v:
            _, args = sub
            if len(args) < 2:
                self.tadd(Option("--queue-bypass"))
            else:
                self.tadd(Option("--queue-" + args[0], (args[1],)))

    def p_tcpmss_clamp(self, neg, v):
        self.tadd(Option("--clamp-mss-to-pmtu"))

    def p_tcpmss_set(self, neg, v):
        self.tadd(Option("--set-mss", (v[0],)))

    def p_dscp_tg(self, neg, v):
        self.tadd(Option("--set-dscp", (v[0],)))

    def p_set_tg(self, neg, v):
        cmd, name, flags = v
        self.tadd(Option("--" + cmd, (name, flags)))


def decode_options(text: str, target: str | None = None, family: int = 4,
                   numeric: bool = True) -> tuple[tuple[Match, ...], tuple[Option, ...], bool, tuple[str, ...], tuple[str, ...]]:
    """Decode an option column: (matches, target options, goto, lossy sentences, undecoded texts)."""
    b = _Builder(target, family, numeric)
    if text:
        try:
            phrases = _phrases(text)
        except Exception:  # any lark error: keep the whole text verbatim
            phrases = [("unknown", False, (text,))]
        for kind, neg, vals in phrases:
            try:
                b.phrase(kind, neg, vals)
            except Exception:  # a phrase the builder could not read: keep its words
                words = " ".join(x for x in vals if isinstance(x, str))
                b.unknown_words.append(("! " if neg else "") + (words or kind))
        b.flush_unknown()
    return tuple(b.matches), tuple(b.topts), b.goto, tuple(dict.fromkeys(b.lossy)), tuple(b.undecoded)


# ------------------------------------------------------------------------------- table inference


def _infer_table(chains: list[dict]) -> tuple[str, str]:
    """Guess the table of a listing from its built-in chains and targets: (table, why)."""
    builtin = [c["name"] for c in chains if c["policy"] is not None]
    bset = set(builtin)
    targets = {r.target.name for c in chains for r in c["rules"] if r.target}
    hint = None
    if targets & _NAT_TARGETS:
        hint = "nat", sorted(targets & _NAT_TARGETS)
    elif targets & _RAW_TARGETS:
        hint = "raw", sorted(targets & _RAW_TARGETS)
    elif targets & _MANGLE_TARGETS:
        hint = "mangle", sorted(targets & _MANGLE_TARGETS)
    for name in ("filter", "nat", "mangle", "raw"):
        if bset and bset == set(BUILTIN_CHAINS[name]):
            why = f"its built-in chains are exactly {', '.join(builtin)}"
            if hint and hint[0] == name:
                why += f" and it uses {', '.join(hint[1])}"
            elif hint:
                why += f" (although it uses {', '.join(hint[1])}, which belong to {hint[0]})"
            return name, why
    candidates = [n for n in ("filter", "nat", "mangle", "raw")
                  if bset and bset <= set(BUILTIN_CHAINS[n])]
    if hint and (not bset or hint[0] in candidates):
        return hint[0], f"it uses the {hint[0]}-table target(s) {', '.join(hint[1])}"
    if candidates:
        return candidates[0], f"its built-in chains {', '.join(builtin)} all belong to {candidates[0]}"
    if "DOCKER" in {c["name"] for c in chains} and bset & {"PREROUTING", "POSTROUTING"}:
        return "nat", "it has Docker's nat chains"
    return "filter", "no built-in chain or table-specific target says otherwise (iptables -L lists filter by default)"


# ------------------------------------------------------------------------------- main entry


def parse_listing(text: Text, *, table: str | None = None, family: int | None = None,
                  command: str | None = None) -> tuple[list[Ruleset], list[Diagnostic]]:
    """Parse one ``iptables -L`` listing into one Ruleset(format=LISTING) holding one Table.

    ``table`` comes from the command line when known; otherwise, with a known ``command``
    without ``-t`` it is ``filter``, and with no command it is inferred (DN007). ``family`` is
    4 or 6 (ip6tables); None reads it from ``command`` or the addresses. Never raises.
    """
    try:
        return _parse_listing(text, table=table, family=family, command=command)
    except Exception as exc:  # pragma: no cover - last resort: the contract is "never raises"
        span = Span(text.file, text.first_line, text.indent + 1)
        ds = [diag("DN001", f"the listing could not be read ({type(exc).__name__}: {exc}); it was skipped", span),
              diag("DN004", "listing skipped: nothing could be recovered from it", span)]
        rs = Ruleset(family or 4, RulesetFormat.LISTING, span,
                     (Table(table or "filter", span, ()),))
        return [rs], ds


def _parse_listing(text: Text, *, table, family, command):
    flags = parse_command_flags(command)
    diags: list[Diagnostic] = []
    chains: list[dict] = []
    layout: _Layout | None = None
    saw = {"verbose": None, "approx": False, "names": False, "undecoded": 0, "v6": False,
           "opt_blank": False}
    hostnames: dict[str, Span] = {}
    pending: list[tuple[dict, int, int, _Fields]] = []  # (chain, line index, col, fields)
    parser = None

    for idx, raw in enumerate(text.lines):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped:
            continue
        col = len(line) - len(line.lstrip()) + 1
        span = text.span(idx, col)
        if stripped.startswith("Chain "):
            parser = parser or _parser()
            try:
                tree = parser.parse(stripped, start="chain_header")
            except Exception:
                diags.append(diag("DN001", f"'{_short(stripped)}' looks like a chain header but is not "
                                           "'Chain NAME (policy P ...)' or 'Chain NAME (N references)'; "
                                           "the chain was skipped", span))
                chains.append({"name": None, "skip": True, "span": span, "policy": None,
                               "counters": None, "refs": None, "rules": []})
                continue
            name = str(tree.children[0])
            info = tree.children[1]
            policy = counters = refs = None
            if info.data == "policy":
                policy = str(info.children[0])
                if info.children[1] is not None:
                    p = _count(str(info.children[1]))
                    b = _count(str(info.children[2]))
                    counters = Counters(p[0], b[0])
                    saw["approx"] |= p[1] or b[1]
            else:
                refs = int(str(info.children[0]))
            chains.append({"name": name, "skip": False, "span": span, "policy": policy,
                           "counters": counters, "refs": refs, "rules": []})
            continue
        first = stripped.split(None, 1)[0]
        if first in ("num", "pkts", "target"):
            parser = parser or _parser()
            try:
                tree = parser.parse(stripped, start="column_header")
                cols = [str(t) for t in tree.children]
                layout = _Layout.from_header(cols)
                saw["verbose"] = layout.counters or layout.iface
                continue
            except Exception:
                pass  # a rule whose target is a chain named "target"? fall through
        if not chains:
            diags.append(diag("DN001", f"'{_short(stripped)}' comes before any 'Chain NAME (...)' header; "
                                       "it is not part of a listing and was skipped", span))
            continue
        chain = chains[-1]
        if chain["skip"]:
            diags.append(diag("DN001", f"'{_short(stripped)}' belongs to a chain whose header could not "
                                       "be read; it was skipped", span))
            continue
        lay = layout
        if lay is None:
            v = bool(flags.verbose)
            lay = _Layout(num=bool(flags.line_numbers), counters=v, iface=v)
        fields = _split_rule(line, lay)
        if fields is None:
            cols = " ".join(c for c, on in (("num", lay.num), ("pkts bytes", lay.counters), ("target", True),
                                           ("prot opt", True), ("in out", lay.iface),
                                           ("source destination", True)) if on)
            diags.append(diag("DN001", f"'{_short(stripped)}' is not a rule line with the columns "
                                       f"'{cols}' of its column header; it was skipped", span))
            continue
        saw["approx"] |= fields.approx
        if fields.opt is None and fields.prot:
            saw["opt_blank"] = True
        for a in (fields.src, fields.dst):
            if ":" in a and not a.lstrip("!").startswith("anywhere"):
                saw["v6"] = True
        pending.append((chain, idx, col, fields))

    # family and table
    fam = family or flags.family
    if fam is None:
        fam = 6 if saw["v6"] else 4
    numeric = flags.numeric
    if numeric is None:
        numeric = not any(f.src == "anywhere" or f.dst == "anywhere" or "anywhere" in (f.src, f.dst)
                          for _, _, _, f in pending)
    verbose = saw["verbose"] if saw["verbose"] is not None else bool(flags.verbose)
    good_chains = [c for c in chains if not c["skip"]]
    chain_names = {c["name"] for c in good_chains}

    # build rules
    for chain, idx, col, f in pending:
        span = text.span(idx, col)
        lossy: list[str] = []
        prot = f.prot
        pneg = prot.startswith("!")
        pname = prot[1:] if pneg else prot
        pname = PROTOCOLS.get(pname, pname) if pname in PROTOCOLS else pname
        protocol = ProtocolMatch(pname, negated=pneg) if pname else None
        src, src_host = _address(f.src, fam)
        dst, dst_host = _address(f.dst, fam)
        for kind, am, tok in ((src_host, src, f.src), (dst_host, dst, f.dst)):
            if kind == "host" and am is not None:
                hostnames.setdefault(am.value, span)
                lossy.append(f"{am.value!r} is a host name (listing without -n); its addresses are unknown")
                saw["names"] = True
            elif kind == "well-known" and am is not None:
                lossy.append(f"{tok.lstrip('!')!r} (listing without -n) read as {am.value}, "
                             "the address every /etc/hosts or /etc/networks gives it")
                saw["names"] = True
        matches, topts, goto, mlossy, undecoded = decode_options(f.options, f.target, fam, numeric)
        lossy.extend(mlossy)
        saw["undecoded"] += len(undecoded)
        target = None
        if f.target:
            known = f.target in KNOWN_TARGETS or f.target in chain_names
            target = Target(f.target, topts, goto=goto, known=known)
        elif topts:
            lossy.append("target options were printed but the target column is empty")
        unknown = frozenset() if f.in_iface is not None else frozenset({"in_iface", "out_iface"})
        rule = Rule(
            chain=chain["name"], span=span, protocol=protocol, src=src, dst=dst,
            in_iface=_iface(f.in_iface) if f.in_iface is not None else None,
            out_iface=_iface(f.out_iface) if f.out_iface is not None else None,
            fragment=_OPTS.get(f.opt) if f.opt is not None else None,
            matches=matches, target=target, counters=f.counters,
            unknown=unknown, lossy=tuple(dict.fromkeys(lossy)),
        )
        chain["rules"].append(rule)

    for host, hspan in hostnames.items():
        diags.append(diag("DN006", f"{host!r} stands where an address should be (the listing was "
                                   "made without -n); it is kept unresolved", hspan))

    # table
    first_span = text.span(0, 1)
    tname = table or flags.table
    if tname is None:
        if command is not None:
            tname = "filter"
        else:
            tname, why = _infer_table(good_chains)
            diags.append(diag("DN007", f"the listing does not name its table; read as {tname!r} because {why}",
                              good_chains[0]["span"] if good_chains else first_span))

    ir_chains = tuple(
        Chain(name=c["name"], span=c["span"], policy=c["policy"], counters=c["counters"],
              rules=tuple(c["rules"]), references=c["refs"])
        for c in good_chains
    )

    # DN004
    missing = []
    if not verbose:
        missing.append("listing without -v: interfaces and counters are not shown, rules are "
                       "treated as if their interfaces were unknown")
    if not numeric or saw["names"]:
        missing.append("listing without -n: addresses, ports and users were printed as names; "
                       "host names are kept unresolved and service names mapped from a built-in table")
    if saw["approx"]:
        missing.append("counters are rounded to K/M/G/T (1000-based); use -x for exact numbers")
    if saw["undecoded"]:
        missing.append(f"{saw['undecoded']} option text(s) could not be decoded and are kept as unknown matches")
    missing.append("match options are decoded from their printed form, which may omit settings "
                   "that iptables-save would show")
    where = "; ".join(missing)
    diags.append(diag("DN004", f"rules of table {tname!r} read from an iptables -L listing: {where}",
                      good_chains[0]["span"] if good_chains else first_span))

    rs = Ruleset(family=fam, format=RulesetFormat.LISTING, span=first_span,
                 tables=(Table(tname, good_chains[0]["span"] if good_chains else first_span, ir_chains),))
    return [rs], diags


def _short(s: str, n: int = 80) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."
