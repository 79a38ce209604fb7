"""``nft list ruleset`` (text) and ``nft -j list ruleset`` (JSON) -> :class:`NftRuleset`.

Text: nft's own listing layout (also with ``-a`` handles, ``nft list table ...``, and an
nftables.conf written in the same shape). One statement per line: ``table FAMILY NAME {``,
``chain NAME {``, ``set|map|flowtable|counter|quota|limit|ct helper|... NAME {``, ``}``, a base
chain's ``type T hook H [device D] priority P; [policy X;]``, and inside a chain every other
line is a rule, kept as text with its span. A set's ``elements = { ... }`` may run over several
lines (nft wraps long element lists). The structural statements are parsed with
``grammars/nft.lark``; nesting is followed here. A line that fits nowhere is one DN001 and
the next line is read as usual; a block left open at the end of the section is closed there
(DN001 says so).

Priorities are resolved to numbers as nft does (nft(8), CHAINS: standard priority names):
for ip, ip6 and inet ``raw`` -300, ``mangle`` -150, ``dstnat`` -100 (prerouting only),
``filter`` 0, ``security`` 50, ``srcnat`` 100 (postrouting only); for bridge ``dstnat`` -300
(prerouting), ``filter`` -200, ``out`` 100 (output), ``srcnat`` 300 (postrouting); arp and
netdev know ``filter`` 0 only. ``NAME + N`` / ``NAME - N`` add an offset.

JSON: the ``{"nftables": [...]}`` document; each object (``table``, ``chain``, ``rule``, ``set``,
``map``, ``element``, ``flowtable``, stateful objects) gets the span of where it starts. A rule's
``text`` is its ``expr`` array as compact JSON (nft's expression syntax is not re-printed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

from lark.exceptions import LarkError, UnexpectedInput

from ..diagnostics import diag
from ..ir import (NFT_FAMILIES, Diagnostic, NftChain, NftObject, NftRule, NftRuleset, NftTable,
                  Span)
from ..source import Text

__all__ = ["parse_nft_text", "parse_nft_json", "resolve_priority", "priority_text",
           "STANDARD_PRIORITIES", "BRIDGE_PRIORITIES"]

# nft's standard priority names (nft(8) "CHAINS"; src/rule.c std_prios): name -> (value, hooks
# where the name is accepted; None: every hook)
STANDARD_PRIORITIES: dict[str, tuple[int, frozenset[str] | None]] = {
    "raw": (-300, None),
    "mangle": (-150, None),
    "dstnat": (-100, frozenset({"prerouting"})),
    "filter": (0, None),
    "security": (50, None),
    "srcnat": (100, frozenset({"postrouting"})),
}
BRIDGE_PRIORITIES: dict[str, tuple[int, frozenset[str] | None]] = {
    "dstnat": (-300, frozenset({"prerouting"})),
    "filter": (-200, None),
    "out": (100, frozenset({"output"})),
    "srcnat": (300, frozenset({"postrouting"})),
}
_FILTER_ONLY: dict[str, tuple[int, frozenset[str] | None]] = {"filter": (0, None)}


def _names_for(family: str) -> dict[str, tuple[int, frozenset[str] | None]]:
    if family == "bridge":
        return BRIDGE_PRIORITIES
    if family in ("arp", "netdev"):
        return _FILTER_ONLY
    return STANDARD_PRIORITIES


def resolve_priority(family: str, hook: str | None, name: str, offset: int = 0) -> tuple[int | None, str | None]:
    """(number, problem) for ``priority NAME [+|- N]`` in a ``family`` chain on ``hook``.

    ``problem`` is a sentence when nft would refuse the name there (the number is still given
    when the name exists in the family)."""
    table = _names_for(family)
    if name not in table:
        known = ", ".join(table)
        return None, f"`{name}` is not a standard priority of the {family} family (nft knows {known})"
    value, hooks = table[name]
    if hooks is not None and hook is not None and hook not in hooks:
        return value + offset, (f"nft accepts priority `{name}` only on hook {'/'.join(sorted(hooks))}, "
                                f"not on {hook}")
    return value + offset, None


def priority_text(family: str, hook: str | None, priority: int | None) -> str:
    """How nft prints a priority: the standard name valid for the family and hook when the
    number is within 10 of it (``filter + 10``, ``mangle - 10``), else the number (checked
    against nft 1.0.6's own listings in tests/test_nft.py)."""
    if priority is None:
        return "?"
    for name, (value, hooks) in _names_for(family).items():
        if hooks is not None and hook not in hooks:
            continue
        off = priority - value
        if off == 0:
            return name
        if -10 <= off <= 10:
            return f"{name} {'+' if off > 0 else '-'} {abs(off)}"
    return str(priority)


# --------------------------------------------------------------------------- text


@lru_cache(maxsize=1)
def _parser():
    grammar = files("dnlint.grammars").joinpath("nft.lark").read_text()
    from ..grammar import lark_parser

    return lark_parser(grammar, "nft.lark", parser="lalr", maybe_placeholders=False)


_OPENERS = frozenset({"table", "chain", "set", "map", "flowtable", "counter", "quota", "limit",
                      "secmark", "synproxy", "tunnel", "ct"})
_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')
_CONF_COMMANDS = frozenset({"flush", "delete", "destroy", "add", "create", "define", "redefine", "undefine"})
_HANDLE = re.compile(r"handle\s+(\d+)")
_MANAGED = re.compile(r"Warning:\s+table\s+(\S+)\s+(\S+)\s+is managed by\s+(\S+?)(?:,|\s|$)")


def _split_code(line: str) -> tuple[str, str, int]:
    """(code, comment, brace balance) of one line: ``#`` starts a comment outside quotes."""
    if "#" not in line:
        bare = _QUOTED.sub("", line) if '"' in line else line
        return line.rstrip(), "", bare.count("{") - bare.count("}")
    depth = 0
    quoted = False
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "#":
            return line[:i].rstrip(), line[i + 1:].strip(), depth
        i += 1
    return line.rstrip(), "", depth


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return re.sub(r'\\(.)', r'\1', s[1:-1])
    return s


def _split_top(s: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside quotes and braces."""
    out, buf, depth, quoted, i = [], [], 0, False, 0
    while i < len(s):
        ch = s[i]
        if quoted:
            buf.append(ch)
            if ch == "\\" and i + 1 < len(s):
                buf.append(s[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            buf.append(ch)
        elif ch in "{[(":
            depth += 1
            buf.append(ch)
        elif ch in "}])":
            depth -= 1
            buf.append(ch)
        elif ch == sep and depth == 0:
            out.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    if "".join(buf).strip():
        out.append("".join(buf).strip())
    return out


def _element_text(e: str) -> str:
    """An element as printed, with the quotes of quoted strings removed (``"docker0" : jump x``
    -> ``docker0 : jump x``), so that text and JSON give the same element."""
    return re.sub(r'"((?:\\.|[^"\\])*)"', lambda m: re.sub(r'\\(.)', r'\1', m.group(1)), e).strip()


def _braced(value: str) -> list[str] | None:
    v = value.strip()
    if v.startswith("="):
        v = v[1:].strip()
    if v.startswith("{") and v.endswith("}"):
        return [_element_text(e) for e in _split_top(v[1:-1])]
    return None


@dataclass
class _Chain:
    name: str
    span: Span
    handle: int | None
    type: str | None = None
    hook: str | None = None
    priority: int | None = None
    policy: str | None = None
    device: str | None = None
    comment: str | None = None
    rules: list[NftRule] = field(default_factory=list)

    def freeze(self) -> NftChain:
        # a base chain declared without a policy accepts (nft's default)
        policy = self.policy or ("accept" if self.hook else None)
        return NftChain(self.name, self.span, self.type, self.hook, self.priority, policy,
                        self.device, tuple(self.rules), self.handle, self.comment)


@dataclass
class _Object:
    kind: str
    name: str
    span: Span
    handle: int | None
    properties: list[tuple[str, str]] = field(default_factory=list)
    elements: list[str] = field(default_factory=list)

    def freeze(self) -> NftObject:
        return NftObject(self.kind, self.name, self.span, tuple(self.properties), tuple(self.elements),
                         self.handle)


@dataclass
class _Table:
    family: str
    name: str
    span: Span
    handle: int | None
    chains: list[_Chain] = field(default_factory=list)
    objects: list[_Object] = field(default_factory=list)
    flags: tuple[str, ...] = ()
    comment: str | None = None

    def freeze(self, managed: dict[tuple[str, str], str]) -> NftTable:
        return NftTable(self.family, self.name, self.span, tuple(c.freeze() for c in self.chains),
                        self.flags, tuple(o.freeze() for o in self.objects), self.handle, self.comment,
                        managed.get((self.family, self.name)))


def _tree_words(tree) -> list[str]:
    return [str(t) for t in tree.scan_values(lambda v: True)]


def _name(tree) -> str:
    tok = next(iter(tree.children))
    return _unquote(str(tok))


def _parse_statement(code: str):
    try:
        return _parser().parse(code).children[0]
    except (UnexpectedInput, LarkError):
        return None


def parse_nft_text(text: Text, command: str | None = None,
                   complete: bool = True) -> tuple[NftRuleset, list[Diagnostic]]:
    lines = text.lines
    diags: list[Diagnostic] = []
    tables: list[_Table] = []
    managed: dict[tuple[str, str], str] = {}
    table: _Table | None = None
    chain: _Chain | None = None
    obj: _Object | None = None
    n = len(lines)
    i = 0

    def bad(idx: int, col: int, msg: str) -> None:
        diags.append(diag("DN001", msg, text.span(idx, col)))

    while i < n:
        raw = lines[i]
        stripped = raw.lstrip(" \t")
        col = len(raw) - len(stripped) + 1
        start = i
        code, comment, depth = _split_code(stripped)
        i += 1
        if not code:
            if comment:
                m = _MANAGED.search(comment)
                if m:
                    managed[(m.group(1), m.group(2))] = m.group(3)
            continue
        if depth > 0 and not (code.endswith("{") and code.split(None, 1)[0] in _OPENERS and depth == 1):
            # a statement that goes on over the next lines (elements = { a, b,\n c })
            parts = [code]
            while depth > 0 and i < n:
                more, _c, d = _split_code(lines[i].strip())
                parts.append(more)
                depth += d
                i += 1
            code = " ".join(p for p in parts if p)
            if depth > 0:
                bad(start, col, "a `{` opened here is never closed: the rest of the section was read "
                                "as one statement and skipped")
                continue
        handle = None
        hm = _HANDLE.fullmatch(comment) if comment else None
        if hm:
            handle = int(hm.group(1))
        first = code.split(None, 1)[0]

        if obj is not None:
            if code == "}":
                obj = None
                continue
            key, _, value = code.partition(" ")
            elements = _braced(value) if key in ("elements", "devices") else None
            if elements is not None:
                obj.elements.extend(elements)
            else:
                obj.properties.append((key, _unquote(value) if key == "comment" else value.strip()))
            continue

        if chain is not None:
            if code == "}":
                chain = None
                continue
            if first in ("type", "policy"):
                tree = _parse_statement(code)
                if tree is not None and tree.data in ("hookspec", "policy_line"):
                    _apply_hook(tree, chain, table, diags, text.span(start, col))
                    continue
                if first == "type":
                    bad(start, col, f"a base chain's hook line reads `type TYPE hook HOOK [device DEV] priority "
                                    f"PRIORITY; [policy POLICY;]`, not {code[:80]!r}")
                    continue
            if first == "comment" and code[len(first):].strip().startswith('"') and not chain.rules:
                chain.comment = _unquote(code[len(first):])
                continue
            chain.rules.append(NftRule(code, text.span(start, col), handle))
            continue

        if table is not None:
            if code == "}":
                tables.append(table)
                table = None
                continue
            if first in _OPENERS and code.endswith("{"):
                tree = _parse_statement(code)
                if tree is not None and tree.data == "chain_open":
                    chain = _Chain(_name(tree.children[0]), text.span(start, col), handle)
                    table.chains.append(chain)
                    continue
                if tree is not None and tree.data == "object_open":
                    kind = " ".join(_tree_words(tree.children[0]))
                    obj = _Object(kind, _name(tree.children[1]), text.span(start, col), handle)
                    table.objects.append(obj)
                    continue
                bad(start, col, f"expected `chain NAME {{`, `set NAME {{` or another object of table "
                                f"{table.family} {table.name} here, found {code[:80]!r}")
                _skip = _skip_block(lines, i)
                i = _skip
                continue
            if first == "flags":
                table.flags = tuple(f.strip() for f in code[len(first):].split(",") if f.strip())
                continue
            if first == "comment":
                table.comment = _unquote(code[len(first):])
                continue
            bad(start, col, f"not a statement of a table: {code[:80]!r} (expected a chain, a set, "
                            f"a map, an object or `}}`)")
            continue

        # top level
        if first == "table" and code.endswith("{"):
            tree = _parse_statement(code)
            if tree is not None and tree.data == "table_open":
                family = str(tree.children[0])
                table = _Table(family, _name(tree.children[1]), text.span(start, col), handle)
                continue
            bad(start, col, f"a table opens with `table FAMILY NAME {{` (FAMILY one of "
                            f"{', '.join(NFT_FAMILIES)}), not {code[:80]!r}")
            i = _skip_block(lines, i) if code.endswith("{") else i
            continue
        if first in _CONF_COMMANDS or (first == "table" and not code.endswith("{")):
            continue  # an nftables.conf's own commands (`flush ruleset`, `table inet f` + `flush table inet f`)
        if first == "include":
            bad(start, col, f"{code[:80]}: the included files are not in this section; their tables are "
                            "missing")
            continue
        bad(start, col, f"not nft ruleset output: expected `table FAMILY NAME {{`, found {code[:80]!r}")

    if table is not None:
        where = f"table {table.family} {table.name}"
        if chain is not None:
            where = f"chain {chain.name} of {where}"
        bad(max(n - 1, 0), 1, f"the section ends inside {where} (no closing `}}`): what it held up to "
                              f"here was read; the rest is missing")
        tables.append(table)
    span = text.span(0)
    rs = NftRuleset(span, "text", tuple(t.freeze(managed) for t in tables), None, command, complete)
    return rs, diags


def _skip_block(lines, i: int) -> int:
    """After a bad opener line: skip to the line that closes its block."""
    depth = 1
    while i < len(lines) and depth > 0:
        depth += _split_code(lines[i].strip())[2]
        i += 1
    return i


def _apply_hook(tree, chain: _Chain, table: _Table | None, diags: list[Diagnostic], span: Span) -> None:
    family = table.family if table else "ip"
    if tree.data == "policy_line":
        chain.policy = str(tree.children[0].children[0])
        return
    kids = tree.children
    chain.type = str(kids[0])
    chain.hook = str(kids[1])
    for k in kids[2:]:
        data = getattr(k, "data", None)
        if data == "device":
            chain.device = _name(k.children[0])
        elif data == "devices":
            chain.device = ",".join(_name(c) for c in k.children)
        elif data == "prio_number":
            chain.priority = int(str(k.children[0]))
        elif data == "prio_name":
            words = [str(c) for c in k.children]
            offset = 0
            if len(words) == 3:
                offset = int(words[2]) * (1 if words[1] == "+" else -1)
            value, problem = resolve_priority(family, chain.hook, words[0], offset)
            chain.priority = value
            if problem:
                diags.append(diag("DN001", f"chain {chain.name}: {problem}", span))
        elif data == "policy":
            chain.policy = str(k.children[0])


# --------------------------------------------------------------------------- JSON


_OBJECT_KINDS = ("set", "map", "flowtable", "counter", "quota", "limit", "ct helper", "ct timeout",
                 "ct expectation", "secmark", "synproxy", "tunnel")
_VERDICTS = ("accept", "drop", "continue", "return", "queue")


def _json_value(v) -> str:
    """A JSON element or expression value in nft's text form (the common shapes)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    if isinstance(v, list):
        return ", ".join(_json_value(x) for x in v)
    if isinstance(v, dict) and len(v) == 1:
        (k, x), = v.items()
        if k == "prefix" and isinstance(x, dict):
            return f"{_json_value(x.get('addr'))}/{x.get('len')}"
        if k == "range" and isinstance(x, list) and len(x) == 2:
            return f"{_json_value(x[0])}-{_json_value(x[1])}"
        if k == "concat" and isinstance(x, list):
            return " . ".join(_json_value(e) for e in x)
        if k == "set" and isinstance(x, list):
            return "{ " + ", ".join(_json_value(e) for e in x) + " }"
        if k in ("jump", "goto") and isinstance(x, dict):
            return f"{k} {x.get('target')}"
        if k in _VERDICTS:
            return k
        if k == "elem" and isinstance(x, dict):
            return _json_value(x.get("val"))
    return json.dumps(v, separators=(",", ":"))


def _elements(elem) -> list[str]:
    out = []
    for e in elem if isinstance(elem, list) else [elem]:
        if isinstance(e, list) and len(e) == 2:  # a map's key : value
            out.append(f"{_json_value(e[0])} : {_json_value(e[1])}")
        else:
            out.append(_json_value(e))
    return out


def _type_text(t) -> str:
    if isinstance(t, list):
        return " . ".join(str(x) for x in t)
    return str(t)


def _s(v) -> str | None:
    return v if isinstance(v, str) else None


def _i(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _locate_array(s: str) -> int | None:
    m = re.search(r'"nftables"\s*:\s*\[', s)
    return m.end() if m else None


def parse_nft_json(text: Text, command: str | None = None,
                   complete: bool = True) -> tuple[NftRuleset | None, list[Diagnostic]]:
    s = "\n".join(text.lines)
    starts = [0]
    for ln in text.lines:
        starts.append(starts[-1] + len(ln) + 1)

    def span_at(pos: int) -> Span:
        import bisect

        idx = bisect.bisect_right(starts, pos) - 1
        return text.span(idx, pos - starts[idx] + 1)

    diags: list[Diagnostic] = []
    pos = _locate_array(s)
    items: list[tuple[int, object]] = []
    decoder = json.JSONDecoder()
    if pos is None:
        diags.append(diag("DN001", 'not `nft -j list ruleset` output: no "nftables" array', text.span(0)))
        return None, diags
    n = len(s)
    while True:
        while pos < n and s[pos] in " \t\r\n,":
            pos += 1
        if pos >= n:
            diags.append(diag("DN001", 'the "nftables" array is not closed (cut short?): the objects before '
                                       "the end were read", span_at(max(n - 1, 0))))
            break
        if s[pos] == "]":
            break
        try:
            obj, end = decoder.raw_decode(s, pos)
        except json.JSONDecodeError as e:
            diags.append(diag("DN001", f"not valid JSON here ({e.msg}); the rest of the nftables array "
                                       "was not read", span_at(e.pos)))
            break
        items.append((pos, obj))
        pos = end

    tables: dict[tuple[str, str], _Table] = {}
    order: list[_Table] = []
    chains: dict[tuple[str, str, str], _Chain] = {}
    objects: dict[tuple[str, str, str], _Object] = {}
    version = None
    for pos, item in items:
        span = span_at(pos)
        if not isinstance(item, dict) or len(item) != 1:
            diags.append(diag("DN001", "an element of the nftables array is not an object with one key "
                                       "(table, chain, rule, set...)", span))
            continue
        (kind, body), = item.items()
        if not isinstance(body, dict):
            diags.append(diag("DN001", f"the {kind!r} object holds no fields", span))
            continue
        family, tname = str(body.get("family", "")), str(body.get("table", body.get("name", "")))
        if kind == "metainfo":
            version = body.get("version")
            continue
        if kind == "table":
            t = _Table(family, str(body.get("name")), span, _i(body.get("handle")))
            flags = body.get("flags")
            if flags:
                t.flags = tuple(flags) if isinstance(flags, list) else tuple(str(flags).split(","))
            if body.get("comment"):
                t.comment = str(body["comment"])
            if (family, t.name) not in tables:
                order.append(t)
            tables[(family, t.name)] = t
            continue
        table = tables.get((family, tname))
        if table is None:
            diags.append(diag("DN001", f"{kind} of table {family} {tname}, which the output never "
                                       "listed before it", span))
            continue
        if kind == "chain":
            c = _Chain(str(body.get("name")), span, _i(body.get("handle")))
            c.type = _s(body.get("type"))
            c.hook = _s(body.get("hook"))
            c.priority = _i(body.get("prio"))
            c.policy = _s(body.get("policy"))
            dev = body.get("dev")
            if dev:
                c.device = ",".join(map(str, dev)) if isinstance(dev, list) else str(dev)
            if body.get("comment"):
                c.comment = str(body["comment"])
            if c.hook is not None and c.policy is None:
                c.policy = "accept"
            table.chains.append(c)
            chains[(family, tname, c.name)] = c
        elif kind == "rule":
            c = chains.get((family, tname, str(body.get("chain"))))
            if c is None:
                diags.append(diag("DN001", f"a rule of chain {body.get('chain')} of table {family} {tname}, "
                                           "which the output never listed before it", span))
                continue
            expr = body.get("expr", [])
            c.rules.append(NftRule(json.dumps(expr, separators=(",", ":")), span, _i(body.get("handle"))))
        elif kind in _OBJECT_KINDS:
            o = _Object(kind, str(body.get("name")), span, _i(body.get("handle")))
            if kind in ("set", "map"):
                ty = _type_text(body.get("type"))
                if kind == "map":
                    ty += f" : {_type_text(body.get('map'))}"
                o.properties.append(("type", ty))
                if body.get("flags"):
                    fl = body["flags"]
                    o.properties.append(("flags", ",".join(fl) if isinstance(fl, list) else str(fl)))
                if "elem" in body:
                    o.elements.extend(_elements(body["elem"]))
            elif kind == "flowtable":
                o.properties.append(("hook", f"{body.get('hook')} priority "
                                             f"{priority_text(family, body.get('hook'), body.get('prio'))}"))
                dev = body.get("dev")
                if dev:
                    o.elements.extend(dev if isinstance(dev, list) else [str(dev)])
            for key in ("comment",):
                if body.get(key):
                    o.properties.append((key, str(body[key])))
            table.objects.append(o)
            objects[(family, tname, o.name)] = o
        elif kind == "element":
            o = objects.get((family, tname, str(body.get("name"))))
            if o is not None:
                o.elements.extend(_elements(body.get("elem", [])))
        else:
            diags.append(diag("DN001", f"dnlint does not read {kind!r} objects of nft's JSON; it was skipped",
                              span))
    rs = NftRuleset(text.span(0), "json", tuple(t.freeze({}) for t in order),
                    str(version) if version else None, command, complete)
    return rs, diags
