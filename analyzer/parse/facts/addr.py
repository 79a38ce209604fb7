"""``ip addr`` / ``ip link`` output -> :class:`Interface` and :class:`Address` facts.

Reads, in one function, every common shape of the iproute2 output:

- ``ip addr`` / ``ip -4 addr`` / ``ip -6 addr`` (multi-line records),
- ``ip -d addr`` (details: the link kind ``bridge``/``veth``/``vlan``/... on the line after
  ``link/ether``; ``bridge_slave``/``bond_slave`` lines are port details, not the kind),
- ``ip link`` / ``ip -d link`` (interfaces only),
- ``ip -o addr`` / ``ip -o link`` (one line per record, pieces joined by ``\\``),
- ``ip -br addr`` / ``ip -br link`` (``NAME STATE ADDR...``).

Line shapes are given by ``grammars/ip_addr.lark``; the attribute words after the fixed
part are read here in pairs (``mtu 1500``, ``master br-x``, ``brd ...``, ``scope ...``).

Conventions: interface names lose the ``@if5``/``@eth0`` peer suffix; an address's
``iface`` is the link name even when the address carries a label (``eth0:1``); a
point-to-point address ``inet 10.0.0.1 peer 10.0.0.2/32`` becomes
``cidr="10.0.0.1/32", peer="10.0.0.2/32"`` (the prefix length is the peer's).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from importlib.resources import files

from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from ...diagnostics import diag
from ...ir import Address, Diagnostic, Interface
from ...source import Text

__all__ = ["parse_ip_addr"]

# Words in an address line that take one value.
_ADDR_PAIRS = frozenset({"brd", "scope", "peer", "metric", "proto", "anycast", "label"})
# Indented lines inside a record that carry nothing for us.
_SKIP_WORDS = frozenset({"valid_lft", "preferred_lft", "altname", "prop", "link-netnsid",
                         "RX:", "TX:", "RX", "TX", "alias"})
_BRIEF_RE = re.compile(r"^(\S+)\s+(UP|DOWN|UNKNOWN|LOWERLAYERDOWN|DORMANT|NOTPRESENT|TESTING)(?:\s+(.*))?$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_NUM_RE = re.compile(r"^\d+$")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = files("dnlint.grammars").joinpath("ip_addr.lark").read_text()
    from ...grammar import lark_parser

    return lark_parser(grammar, "ip_addr.lark", parser="lalr", maybe_placeholders=False)


def _family_of(word: str) -> int | None:
    try:
        return ipaddress.ip_interface(word).version
    except ValueError:
        return None


def _ifname(name: str) -> str:
    """``veth28a9736@if5`` -> ``veth28a9736``; ``eth0.100@eth0`` -> ``eth0.100``."""
    return name.split("@", 1)[0] if "@" in name and not name.startswith("@") else name


class _Iface:
    """A mutable interface record while reading; frozen into :class:`Interface` at the end."""

    __slots__ = ("name", "span", "index", "state", "flags", "master", "kind", "mtu", "mac",
                 "saw_link", "details", "hairpin")

    def __init__(self, name, span, index=None):
        self.name = name
        self.span = span
        self.index = index
        self.state = None
        self.flags: tuple[str, ...] = ()
        self.master = None
        self.kind = None
        self.mtu = None
        self.mac = None
        self.saw_link = False
        self.details = 0
        self.hairpin = None

    def freeze(self) -> Interface:
        return Interface(self.name, self.span, index=self.index, state=self.state,
                         flags=self.flags, master=self.master, kind=self.kind, mtu=self.mtu,
                         mac=self.mac, hairpin=self.hairpin)


def _words(children) -> list[str]:
    return [w for c in children if isinstance(c, Tree) and c.data == "rest"
            for w in str(c.children[0]).split()]


def _header_attrs(rec: _Iface, words: list[str]) -> None:
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if w == "mtu" and nxt is not None:
            if _NUM_RE.match(nxt):
                rec.mtu = int(nxt)
            i += 2
        elif w == "master" and nxt is not None:
            rec.master = nxt
            i += 2
        elif w == "state" and nxt is not None:
            rec.state = nxt
            i += 2
        elif w in ("qdisc", "group", "qlen", "mode", "link-netnsid", "link-netns", "alias",
                   "numtxqueues", "numrxqueues", "gso_max_size", "gso_max_segs") and nxt is not None:
            i += 2
        elif w.startswith("link/"):
            _link_words(rec, words[i:])
            return
        else:
            i += 1


def _link_words(rec: _Iface, words: list[str]) -> None:
    """``link/ether 02:42:.. brd ff:.. [link-netnsid 0] [promiscuity 0 ...]``."""
    rec.saw_link = True
    if len(words) >= 2 and words[0] not in ("link/none",) and not words[1].startswith("link"):
        if ":" in words[1]:
            rec.mac = words[1]


class _Reader:
    def __init__(self, text: Text):
        self.text = text
        self.diags: list[Diagnostic] = []
        self.ifaces: dict[str, _Iface] = {}
        self.order: list[str] = []
        self.addresses: list[Address] = []
        self.current: _Iface | None = None

    # -- records ---------------------------------------------------------------------

    def _iface(self, name: str, idx: int, index: int | None = None) -> _Iface:
        rec = self.ifaces.get(name)
        if rec is None:
            rec = _Iface(name, self.text.span(idx, 1), index)
            self.ifaces[name] = rec
            self.order.append(name)
        elif index is not None and rec.index is None:
            rec.index = index
        return rec

    def bad(self, idx: int, col: int, what: str) -> None:
        line = self.text.lines[idx]
        shown = line.strip()
        if len(shown) > 80:
            shown = shown[:77] + "..."
        self.diags.append(diag("DN001", f"{what}; the line was skipped: {shown!r}",
                               self.text.span(idx, col)))

    # -- lines -----------------------------------------------------------------------

    def line(self, idx: int) -> None:
        raw = self.text.lines[idx]
        if not raw.strip():
            return
        # `ip -o` joins a record's lines with a backslash.
        pieces = raw.split("\\") if "\\" in raw else [raw]
        offset = 0
        for n, piece in enumerate(pieces):
            col = offset + (len(piece) - len(piece.lstrip())) + 1
            if piece.strip():
                self.piece(idx, piece, col, first=(n == 0), oneline=len(pieces) > 1)
            offset += len(piece) + 1

    def piece(self, idx: int, piece: str, col: int, first: bool, oneline: bool) -> None:
        stripped = piece.strip()
        head = stripped.split(None, 1)[0]
        indented = piece[:1] in (" ", "\t")
        if head.startswith("link/"):
            if self.current is not None:
                _link_words(self.current, stripped.split())
                return
            self.bad(idx, col, "a link line outside an interface record")
            return
        if head in _SKIP_WORDS or head.startswith("valid_lft"):
            return
        if head[:1].isdigit() or head in ("inet", "inet6"):
            if self.grammar_line(idx, stripped, col):
                return
            # fall through: perhaps a brief line with a numeric-looking name
        elif (indented or not first) and self.current is not None and _KIND_RE.match(head):
            self.detail(stripped)
            return
        m = _BRIEF_RE.match(stripped)
        if m and first and not oneline:
            self.brief(idx, m)
            return
        if not (head[:1].isdigit() or head in ("inet", "inet6")):
            self.bad(idx, col, "not a line of `ip addr`/`ip link` output")

    def grammar_line(self, idx: int, stripped: str, col: int) -> bool:
        try:
            tree = _parser().parse(stripped)
        except UnexpectedInput as e:
            self.bad(idx, col + max(getattr(e, "column", 1) or 1, 1) - 1,
                     "cannot read this `ip addr` line")
            return True
        except LarkError:
            self.bad(idx, col, "cannot read this `ip addr` line")
            return True
        kind = tree.data
        ch = tree.children
        if kind == "header":
            index = int(ch[0])
            name = _ifname(str(ch[1]))
            rec = self._iface(name, idx, index)
            flags_tree = ch[2]
            rec.flags = tuple(str(t) for t in flags_tree.children if isinstance(t, Token))
            _header_attrs(rec, _words(ch[3:]))
            rec.details = 0
            self.current = rec
            return True
        if kind == "address":
            if self.current is None:
                self.bad(idx, col, "an address line outside an interface record")
                return True
            self.address(idx, self.current, str(ch[0]), str(ch[1]), _words(ch[2:]), col)
            return True
        if kind == "oaddress":
            index = int(ch[0])
            name = _ifname(str(ch[1]))
            rec = self._iface(name, idx, index)
            self.current = rec
            self.address(idx, rec, str(ch[2]), str(ch[3]), _words(ch[4:]), col)
            return True
        return False  # pragma: no cover - grammar has only these shapes

    def address(self, idx: int, rec: _Iface, family_word: str, addr: str, words: list[str],
                col: int) -> None:
        family = 6 if family_word == "inet6" else 4
        peer = scope = brd = None
        i = 0
        while i < len(words):
            w = words[i]
            if w in _ADDR_PAIRS and i + 1 < len(words):
                v = words[i + 1]
                if w == "peer":
                    peer = v
                elif w == "scope":
                    scope = v
                elif w == "brd":
                    brd = v
                i += 2
            else:
                i += 1
        cidr = addr
        if "/" not in cidr:
            plen = peer.split("/", 1)[1] if peer and "/" in peer else ("128" if family == 6 else "32")
            cidr = f"{addr}/{plen}"
        if (family == 6) != (":" in addr.split("/")[0]):
            self.bad(idx, col, f"`{family_word}` with an address of the other family ({addr})")
            return
        self.addresses.append(Address(rec.name, cidr, family, self.text.span(idx, col),
                                      scope=scope, peer=peer, broadcast=brd))

    def detail(self, stripped: str) -> None:
        """An ``ip -d`` detail line: the first after ``link/...`` names the link kind."""
        rec = self.current
        assert rec is not None
        word = stripped.split(None, 1)[0]
        rec.details += 1
        if word == "bridge_slave":
            words = stripped.split()
            if "hairpin" in words[:-1]:
                rec.hairpin = words[words.index("hairpin") + 1] == "on"
        if (rec.kind is None and rec.saw_link and not word.endswith("_slave")
                and word not in ("promiscuity", "addrgenmode", "vrf_slave")):
            rec.kind = word

    def brief(self, idx: int, m: re.Match) -> None:
        name = _ifname(m.group(1))
        rec = self._iface(name, idx)
        rec.state = m.group(2)
        self.current = None
        rest = (m.group(3) or "").split()
        col = self.text.lines[idx].find(rest[0]) + 1 if rest else 1
        i = 0
        while i < len(rest):
            w = rest[i]
            if w == "peer" and self.addresses and i + 1 < len(rest):
                # `10.0.0.1 peer 10.0.0.2/32`: fix up the previous address
                prev = self.addresses[-1]
                peer = rest[i + 1]
                plen = peer.split("/", 1)[1] if "/" in peer else "32"
                local = prev.cidr.split("/", 1)[0]
                self.addresses[-1] = Address(prev.iface, f"{local}/{plen}", prev.family,
                                             prev.span, peer=peer)
                i += 2
                continue
            fam = _family_of(w)
            if fam is None:
                if re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", w):  # ip -br link: MAC
                    rec.mac = w
                elif w.startswith("<") and w.endswith(">"):  # ip -br link: flags
                    rec.flags = tuple(f for f in w[1:-1].split(",") if f)
                i += 1
                continue
            cidr = w if "/" in w else f"{w}/{128 if fam == 6 else 32}"
            self.addresses.append(Address(name, cidr, fam, self.text.span(idx, col)))
            i += 1


def parse_ip_addr(text: Text) -> tuple[tuple[list[Interface], list[Address]], list[Diagnostic]]:
    """Read ``ip addr``/``ip link`` output (any of the shapes above). Never raises."""
    reader = _Reader(text)
    for idx in range(len(text.lines)):
        try:
            reader.line(idx)
        except Exception as e:  # a parser must never take the whole dump down
            reader.bad(idx, 1, f"internal error while reading this line ({type(e).__name__})")
    ifaces = [reader.ifaces[n].freeze() for n in reader.order]
    return (ifaces, reader.addresses), reader.diags
