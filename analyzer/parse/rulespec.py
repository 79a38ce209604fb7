"""The words of one iptables line, read into the IR.

This is the part of the iptables-save / iptables-restore / ``iptables -S`` reader that
knows what a rule's arguments mean (``-p/-s/-d/-i/-o/-f``, ``-m`` modules and their
options, ``-j``/``-g`` targets and theirs). It is reusable by any reader of rule specs.

How a line is read:

1. :func:`split_words` cuts it into words the way iptables-restore does (double quotes
   group, a backslash inside quotes escapes the next character).
2. :func:`classify` gives each word a kind (a terminal of ``grammars/iptables_save.lark``).
3. The lark LALR parser checks the kinds against the grammar; :func:`compile_plan` turns
   the tree into a :class:`Plan`: which word goes where (chain, -p value, each match and
   its options, the target...), plus the routing of options to their match module.
4. :func:`build_rule` builds the IR from a plan and the words.

Steps 2-3 depend only on the line's *shape*, so :class:`PlanCache` keys plans by a cheap
string (the line with every value replaced by a placeholder, module names kept) and runs
lark once per shape. ``PlanCache(enabled=False)`` runs the whole pipeline on every line;
the tests check that both give the same IR.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Callable

from ..diagnostics import diag
from ..ir import (AddressMatch, Counters, Diagnostic, InterfaceMatch, Match, Option,
                  ProtocolMatch, Rule, Span, Target)
from .modules import KNOWN_MATCH_MODULES, KNOWN_TARGETS, MATCH_OPTIONS, PROTOCOL_MATCH

# --------------------------------------------------------------------------- words

_QUOTED = r'"(?:[^"\\]|\\.)*(?:"|\\?$)'
# A word: a run of non-blank characters and double-quoted strings (blanks are what
# str.split() splits on, so the fast paths below and this regex agree).
WORD_RE = re.compile(r'(?:[^\s"]+|' + _QUOTED + r')+', re.S)
_find_words = WORD_RE.findall
_UNESCAPE = re.compile(r'\\(.)', re.S)
COUNTERS_RE = re.compile(r'\[(\d+):(\d+)\]\Z')
_QSEG = re.compile(_QUOTED, re.S)


class QuoteError(ValueError):
    pass


def _unquote(word: str) -> str:
    out = []
    pos = 0
    for m in _QSEG.finditer(word):
        out.append(word[pos:m.start()])
        seg = m.group()
        if len(seg) < 2 or not seg.endswith('"') or _ends_escaped(seg):
            raise QuoteError(word)
        out.append(_UNESCAPE.sub(r'\1', seg[1:-1]))
        pos = m.end()
    out.append(word[pos:])
    return "".join(out)


def _ends_escaped(seg: str) -> bool:
    # '"abc\"' is an unterminated quote whose last character is an escaped quote
    n = 0
    i = len(seg) - 2
    while i >= 1 and seg[i] == "\\":
        n += 1
        i -= 1
    return n % 2 == 1


def split_words(line: str) -> list[str]:
    """Words of a line, unquoted. Raises :class:`QuoteError` on an unterminated quote."""
    words = _find_words(line)
    if '"' in line:
        words = [_unquote(w) if '"' in w else w for w in words]
    return words


def word_columns(line: str) -> list[int]:
    """1-based column of each word of ``line``."""
    return [m.start() + 1 for m in WORD_RE.finditer(line)]


# --------------------------------------------------------------------------- kinds

_OPTION_KINDS: dict[str, str] = {}
for _kind, _names in {
    "APPEND": ("-A", "--append"), "INSERT": ("-I", "--insert"),
    "POLICY": ("-P", "--policy"), "NEWCHAIN": ("-N", "--new-chain", "--new"),
    "PROTO": ("-p", "--protocol"), "SRC": ("-s", "--source", "--src"),
    "DST": ("-d", "--destination", "--dst"), "IN": ("-i", "--in-interface"),
    "OUT": ("-o", "--out-interface"), "FRAG": ("-f", "--fragment"),
    "MATCH": ("-m", "--match"), "JUMP": ("-j", "--jump"), "GOTO": ("-g", "--goto"),
    "SETCOUNTERS": ("-c", "--set-counters"),
}.items():
    for _n in _names:
        _OPTION_KINDS[_n] = _kind


def classify(raw: list[str]) -> list[str]:
    """The grammar terminal of each (still quoted) word of a line."""
    kinds = []
    get = _OPTION_KINDS.get
    for i, w in enumerate(raw):
        c = w[0]
        if c == "-":
            k = get(w)
            if k is None:
                if len(w) > 2 and w[1] == "-":
                    k = "LONGOPT"
                elif len(w) == 1 or w[1].isdigit():
                    k = "WORD"
                else:
                    k = "SHORTOPT"
        elif w == "!":
            k = "BANG"
        elif i == 0 and c == "*":
            k = "TABLE"
        elif i == 0 and c == ":":
            k = "CHAINDECL"
        elif i == 0 and w == "COMMIT":
            k = "COMMIT"
        elif (i == 0 or (i == 2 and kinds[0] == "CHAINDECL")) and COUNTERS_RE.match(w):
            k = "COUNTERS"
        else:
            k = "WORD"
        kinds.append(k)
    for i in range(len(kinds) - 2, -1, -1):
        if kinds[i] == "BANG" and kinds[i + 1] == "WORD":
            kinds[i] = "OLDBANG"
    return kinds


# --------------------------------------------------------------------------- grammar


def grammar_path() -> Path:
    return Path(__file__).resolve().parents[2] / "grammars" / "iptables_save.lark"


from lark.lexer import Lexer as _LarkLexer, Token as _LarkToken  # noqa: E402


def _grammar_text() -> str:
    try:
        from importlib.resources import files
        return files("dnlint.grammars").joinpath("iptables_save.lark").read_text()
    except Exception:  # running from a source tree without the package installed
        return grammar_path().read_text()


class KindLexer(_LarkLexer):
    """Feeds the parser the word kinds of a line; a token's value is its word index.
    (At module level, so that lark's grammar cache can name it.)"""

    def __init__(self, lexer_conf):
        pass

    def lex(self, data):
        for i, k in enumerate(data):
            yield _LarkToken(k, i)


@lru_cache(maxsize=1)
def parser():
    """The lark LALR parser of one line, built once."""
    from ..grammar import lark_parser

    return lark_parser(_grammar_text(), "iptables_save.lark", parser="lalr", lexer=KindLexer)


# --------------------------------------------------------------------------- plans

_seg_ids = itertools.count(1)

BASIC_FIELDS = ("protocol", "src", "dst", "in_iface", "out_iface")
_BASIC_OF_KIND = {"PROTO": 0, "SRC": 1, "DST": 2, "IN": 3, "OUT": 4}
_FLAG_OF_FIELD = ("-p", "-s", "-d", "-i", "-o")


@dataclass(slots=True)
class Segment:
    """A match or a target and where its words are: ``module`` is a word index, or the
    module name itself for an implicit protocol match."""

    kind: str  # "match" | "implicit" | "target"
    module: int | str
    options: list  # [(name_index, (arg indices...), negated)]
    seg_id: int = 0
    key: Callable | None = None  # itemgetter over every word the segment uses
    goto: bool = False


@dataclass(slots=True)
class Plan:
    cmd: str  # "A", "I", "P", "N", "TABLE", "CHAIN", "COMMIT", "ERROR"
    chain: int | None = None
    position: int | None = None
    policy: int | None = None
    counters: int | None = None  # index of a leading [p:b]
    setcounters: tuple[int, int] | None = None
    basics: tuple = (None, None, None, None, None)  # (index, negated) per BASIC_FIELDS
    fragment: bool | None = None
    matches: tuple = ()
    target: Segment | None = None
    guard: Callable | None = None  # itemgetter of the module/protocol words the plan assumed
    basic_list: tuple = ()  # (slot, index, negated) for the basics present
    fast: Callable | None = None  # compile_builder's function, once the plan is reused
    seg_list: tuple = ()  # (seg_id, key, Segment) per match
    error_at: int | None = None  # word index (None: end of line)
    error: str = ""
    error_args: tuple = ()

    def message(self, words: list[str]) -> str:
        return self.error.format(*(words[i] if i < len(words) else "" for i in self.error_args))


def _err(at, msg, *args) -> Plan:
    return Plan("ERROR", error_at=at, error=msg, error_args=args)


_NEEDS_VALUE = {
    "APPEND": "expected a chain name after {0}",
    "INSERT": "expected a chain name after {0}",
    "POLICY": "expected a chain name after {0}",
    "NEWCHAIN": "expected a chain name after {0}",
    "PROTO": "expected a protocol after {0}",
    "SRC": "expected an address after {0}",
    "DST": "expected an address after {0}",
    "IN": "expected an interface name after {0}",
    "OUT": "expected an interface name after {0}",
    "MATCH": "expected a match module name after {0}",
    "JUMP": "expected a target name after {0}",
    "GOTO": "expected a chain name after {0}",
    "SETCOUNTERS": "expected two numbers (packets bytes) after {0}",
    "CHAINDECL": "expected a policy (ACCEPT, DROP or - for a user chain) after the chain name",
}


def _syntax_error(kinds: list[str], e) -> Plan:
    import lark
    if isinstance(e, lark.exceptions.UnexpectedToken) and e.token.type != "$END":
        i = e.token.value
        k = kinds[i]
    else:
        i = None
        k = "$END"
    prev = i - 1 if i is not None else len(kinds) - 1
    pk = kinds[prev] if prev >= 0 else None
    if pk is None or i == 0:
        if not kinds:
            return _err(None, "empty line")
        return _err(0, "expected -A, -I, -P, -N, *table, :chain or COMMIT at the start of "
                       "the line, found '{0}'", 0)
    if prev == 0 and pk not in ("APPEND", "INSERT", "POLICY", "NEWCHAIN", "TABLE", "CHAINDECL",
                                "COMMIT", "COUNTERS"):
        return _err(0, "expected -A, -I, -P, -N, *table, :chain or COMMIT at the start of "
                       "the line, found '{0}'", 0)
    if pk == "COUNTERS" and prev == 0:
        return _err(i, "expected -A or -I after the rule counters")
    if pk == "BANG":
        return _err(prev, "'!' must be followed by an option it negates")
    if pk == "OLDBANG":
        return _err(prev, "'!' must be followed by a value")
    if k == "SHORTOPT":
        return _err(i, "unknown option '{0}'", i)
    if pk in _NEEDS_VALUE and k != "WORD":
        return _err(i, _NEEDS_VALUE[pk], prev)
    if pk == "SETCOUNTERS" or (prev >= 1 and kinds[prev - 1] == "SETCOUNTERS"):
        return _err(i, "-c needs two numbers: packets and bytes")
    if k == "WORD":
        if prev >= 1 and kinds[prev - 1] == "APPEND":
            return _err(i, "unexpected '{0}' after the chain name: only -I takes a rule "
                           "number, options start with -", i)
        if prev >= 1 and kinds[prev - 1] in ("MATCH", "JUMP", "GOTO"):
            return _err(i, "unexpected '{0}' after {1} {2}: options start with --",
                        i, prev - 1, prev)
        if prev >= 1 and kinds[prev - 1] in _BASIC_OF_KIND:
            return _err(i, "{1} takes one value; unexpected '{0}'", i, prev - 1)
        return _err(i, "unexpected '{0}'", i)
    if k in ("TABLE", "CHAINDECL", "COMMIT", "COUNTERS") or pk in ("TABLE", "COMMIT"):
        return _err(i, "unexpected '{0}'", i)
    if k == "$END":
        return _err(None, "the line ends too early")
    return _err(i, "unexpected '{0}'", i)


def compile_plan(raw: list[str], words: list[str], kinds: list[str] | None = None) -> Plan:
    """Parse one line's kinds with the grammar and say where each word goes."""
    import lark
    if not raw:
        return _err(None, "empty line")
    if kinds is None:
        kinds = classify(raw)
    try:
        tree = parser().parse(kinds)
    except lark.exceptions.UnexpectedInput as e:
        return _syntax_error(kinds, e)
    line = tree.children[0]
    return _PLANNERS[line.data](line, words)


def _idx(tree) -> int:
    return tree.children[0].value


def _plan_table(t, words) -> Plan:
    return Plan("TABLE")


def _plan_chain(t, words) -> Plan:
    p = Plan("CHAIN", chain=0, policy=_idx(t.children[1]))
    if len(t.children) > 2:
        p.counters = t.children[2].value
    return p


def _plan_commit(t, words) -> Plan:
    return Plan("COMMIT")


def _plan_newchain(t, words) -> Plan:
    return Plan("N", chain=_idx(t.children[1]))


def _plan_policy(t, words) -> Plan:
    p = Plan("P", chain=_idx(t.children[1]), policy=_idx(t.children[2]))
    if len(t.children) > 3:
        sc = t.children[3].children
        p.setcounters = (sc[1].value, sc[2].value)
    return p


def _plan_rule(t, words) -> Plan:
    children = t.children
    plan = Plan("A")
    pos = 0
    if not hasattr(children[0], "data"):  # leading [p:b]
        plan.counters = children[0].value
        pos = 1
    cmd = children[pos]
    plan.chain = _idx(cmd.children[1])
    if cmd.data == "insert":
        plan.cmd = "I"
        if len(cmd.children) > 2:
            plan.position = _idx(cmd.children[2])
    basics: list = [None] * 5
    matches: list[Segment] = []
    current: Segment | None = None
    proto: str | None = None
    proto_neg = False
    guard_idx: list[int] = []
    for item in children[pos + 1:]:
        data = item.data
        ch = item.children
        if data == "basic":
            neg = False
            j = 0
            if getattr(ch[0], "type", None) == "BANG":
                neg = True
                j = 1
            flag_tok = ch[j].children[0]
            slot = _BASIC_OF_KIND[flag_tok.type]
            if ch[j + 1].type == "OLDBANG":
                neg = True
                j += 1
            vi = ch[j + 1].value
            if basics[slot] is not None:
                return _err(flag_tok.value, "{0} is given twice", flag_tok.value)
            basics[slot] = (vi, neg)
            if slot == 0:
                proto = words[vi].lower()
                proto_neg = neg
                guard_idx.append(vi)
        elif data == "fragment":
            if plan.fragment is not None:
                return _err(ch[-1].value, "-f is given twice")
            plan.fragment = ch[0].type != "BANG"
        elif data == "match":
            current = Segment("match", ch[1].value, [])
            matches.append(current)
            guard_idx.append(ch[1].value)
        elif data in ("jump", "goto"):
            if plan.target is not None:
                return _err(ch[0].value, "a rule has one target; {0} is its second", ch[0].value)
            current = Segment("target", ch[1].value, [], goto=data == "goto")
            plan.target = current
        elif data == "setcounters":
            if plan.setcounters is not None:
                return _err(ch[0].value, "-c is given twice")
            plan.setcounters = (ch[1].value, ch[2].value)
        elif data == "option":
            neg = False
            j = 0
            if ch[0].type == "BANG":
                neg = True
                j = 1
            ni = ch[j].value
            args = []
            for a in ch[j + 1:]:
                if len(a.children) == 2:
                    neg = True
                args.append(a.children[-1].value)
            name = words[ni]
            seg = _route(name, current, matches, proto, words)
            if seg is None:
                if proto is None or proto not in PROTOCOL_MATCH:
                    return _err(ni, "option {0} needs a match module (-m NAME) before it", ni)
                if proto_neg:
                    return _err(ni, "option {0} cannot follow a negated protocol", ni)
                seg = Segment("implicit", PROTOCOL_MATCH[proto], [])
                matches.append(seg)
            seg.options.append((ni, tuple(args), neg))
    plan.basics = tuple(basics)
    plan.matches = tuple(matches)
    for seg in (*matches, plan.target):
        if seg is None:
            continue
        seg.seg_id = next(_seg_ids)
        idxs = [] if seg.kind == "implicit" else [seg.module]
        for ni, args, _neg in seg.options:
            idxs.append(ni)
            idxs.extend(args)
        seg.key = itemgetter(*idxs) if idxs else (lambda w: ())
        seg.options = tuple(seg.options)
    if guard_idx:
        plan.guard = itemgetter(*guard_idx)
    plan.basic_list = tuple((slot, x[0], x[1]) for slot, x in enumerate(basics) if x is not None)
    plan.seg_list = tuple((seg.seg_id, seg.key, seg) for seg in matches)
    return plan


_VERDICTS = frozenset({"ACCEPT", "DROP", "RETURN"})


def _route(name: str, current: Segment | None, matches: list[Segment], proto: str | None,
           words: list[str]) -> Segment | None:
    """Which match (or target) an option belongs to; None: the implicit protocol match,
    not made yet."""
    implicit = PROTOCOL_MATCH.get(proto) if proto is not None else None
    if current is not None and current.kind != "implicit":
        if current.kind == "target":
            if words[current.module] in _VERDICTS:
                # verdicts take no options: iptables gives `-j ACCEPT --dports 22` to a match
                for seg in reversed(matches):
                    mod = seg.module if seg.kind == "implicit" else words[seg.module]
                    if name in MATCH_OPTIONS.get(mod, ()):
                        return seg
                if implicit is not None and name in MATCH_OPTIONS.get(implicit, ()):
                    for seg in matches:
                        if seg.kind == "implicit":
                            return seg
                    return None
            return current
        if implicit is None:
            return current
        table = MATCH_OPTIONS.get(words[current.module])
        if table is None or name in table or name not in MATCH_OPTIONS.get(implicit, ()):
            return current
    elif current is not None:
        return current
    elif implicit is None:
        return None
    for seg in matches:  # an explicit -m tcp, or the implicit match already made
        mod = seg.module if seg.kind == "implicit" else words[seg.module]
        if mod == implicit:
            return seg
    return None


_PLANNERS = {
    "table_line": _plan_table,
    "chain_line": _plan_chain,
    "commit_line": _plan_commit,
    "rule_line": _plan_rule,
    "policy_line": _plan_policy,
    "newchain_line": _plan_newchain,
}


# --------------------------------------------------------------------------- cache

_MARK = "\x00"


class PlanCache:
    """Plans by line shape. With ``enabled=False`` every line is parsed by the grammar.

    The shape key of a rule line is the tuple of its words with every word that is not an
    option (``-x``, ``--xx``) or ``!`` replaced by "" (quoted words always are): it fixes the
    kind of every word, hence the parse. Where options go also depends on the module and
    protocol names (``-m NAME``, ``-p NAME``), so under a key plans are kept per tuple of
    those names.
    """

    MAX = 20000

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.by_key: dict = {}
        self.by_kinds: dict = {}
        self.by_chain: dict = {}
        self.misses = 0

    def plan(self, line: str, counters_prefix: bool) -> tuple[Plan, list[str]]:
        """The plan of a line and its (unquoted) words. Raises QuoteError."""
        raw = None
        if '"' not in line:
            words = raw = line.split()
            # the shape: option words kept, every other word replaced by one marker
            key = " ".join([w if w[0] in "-!" else _MARK for w in words])
        else:
            parts = line.split('"')
            if len(parts) == 3 and "\\" not in line and parts[0][-1:].isspace() \
                    and (not parts[2] or parts[2][0].isspace()):
                w0, w2 = parts[0].split(), parts[2].split()
                # the quoted word is one value: mark it with the quote itself
                key = (" ".join([w if w[0] in "-!" else _MARK for w in w0]) + '"'
                       + " ".join([w if w[0] in "-!" else _MARK for w in w2]))
                words = w0
                words.append(parts[1])
                words += w2
            else:
                raw = _find_words(line)
                words = [_unquote(w) if '"' in w else w for w in raw]
                key = tuple([w if w[0] in "-!" else "" for w in raw])
        if not self.enabled:
            return compile_plan(raw if raw is not None else _find_words(line), words), words
        if line[0] == "-" or counters_prefix:
            e = self.by_key.get(key)
            if e is not None:
                g, m = e
                if g is None:
                    return m, words
                p = m.get(g(words))
                if p is not None:
                    return p, words
            plan = compile_plan(raw if raw is not None else _find_words(line), words)
            self.misses += 1
            if plan.cmd == "ERROR":
                # an error can hang on a value the shape does not show (`-p tcIp` loads no
                # match for --dport): errors are rare, so they are never reused
                return plan, words
            g = plan.guard
            if e is None:
                if len(self.by_key) > self.MAX:
                    self.by_key.clear()
                self.by_key[key] = (None, plan) if g is None else (g, {g(words): plan})
            else:
                e[1][g(words)] = plan
            return plan, words
        if line[0] == ":" and len(words) == 3 and raw is not None:
            # chain declarations: the kinds of ":NAME POLICY [p:b]" follow from these
            w1, w2 = raw[1], raw[2]
            key = (":", w1 if w1[0] in "-!" else "", w2 if w2[0] in "-!" else "",
                   COUNTERS_RE.match(w2) is not None)
            plan = self.by_chain.get(key)
            if plan is None:
                plan = self.by_chain[key] = compile_plan(raw, words)
                self.misses += 1
            return plan, words
        if raw is None:
            raw = _find_words(line)
        kinds = classify(raw) if raw else []
        tk = tuple(kinds)
        plan = self.by_kinds.get(tk)
        if plan is None or plan.guard is not None:
            plan = compile_plan(raw, words, kinds)
            self.misses += 1
            if plan.guard is None:
                if len(self.by_kinds) > self.MAX:
                    self.by_kinds.clear()
                self.by_kinds[tk] = plan
        return plan, words


# --------------------------------------------------------------------------- IR

_IPV4 = re.compile(r'\d{1,3}(?:\.\d{1,3}){3}(?:/(?:\d{1,2}|\d{1,3}(?:\.\d{1,3}){3}))?\Z')
_IPV6 = re.compile(r'[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:/\d{1,3})?\Z')
_IPV6_BRACKET = re.compile(r'\[[0-9A-Fa-f:.]+\](?:/\d{1,3})?\Z')


def address_family(value: str) -> int | None:
    """4 or 6 for an address/CIDR (or a comma list of them), None for a host name."""
    fam = None
    for part in value.split(","):
        if _IPV4.match(part):
            f = 4
        elif _IPV6.match(part) or _IPV6_BRACKET.match(part):
            f = 6
        else:
            return None
        fam = fam or f
    return fam


class RuleBuilder:
    """Builds IR objects from plans, sharing identical ones (interning), and collects the
    diagnostics about modules, targets and host names. One per parsed ruleset."""

    def __init__(self):
        self.diagnostics: list[Diagnostic] = []
        self.reported_modules: set[str] = set()
        self.family_votes = [0, 0]  # v4, v6 distinct addresses
        self._segs: dict = {}
        self._basic: list[dict] = [{}, {}, {}, {}, {}]
        self._opts: dict = {}
        self._counters: dict = {}
        self._known_target: dict = {}
        self.chains: dict | set = set()  # chains of the current table: jumps to them are known
        self._tsegs: dict = {}  # targets of the current table

    def set_table(self, chains: dict, target_cache: dict) -> None:
        """Rules that follow belong to the table with these chains."""
        self.chains = chains
        self._tsegs = target_cache

    # -- pieces

    def option(self, name: str, args: tuple, neg: bool) -> Option:
        k = (name, args, neg)
        o = self._opts.get(k)
        if o is None:
            o = self._opts[k] = Option(name, args, neg)
        return o

    def counters(self, p: str, b: str) -> Counters:
        k = (p, b)
        c = self._counters.get(k)
        if c is None:
            c = self._counters[k] = Counters(int(p), int(b))
        return c

    def _segment(self, seg: Segment, words: list[str], span: Span):
        key = (seg.seg_id, seg.key(words))
        optcache = self._opts
        opts = []
        for ni, args, neg in seg.options:
            k = (words[ni], tuple([words[a] for a in args]), neg)
            o = optcache.get(k)
            if o is None:
                o = optcache[k] = make_option(k)
            opts.append(o)
        opts = tuple(opts)
        if seg.kind == "target":
            name = words[seg.module]
            obj = make_target((name, opts, seg.goto, name in KNOWN_TARGETS or name in self.chains))
            self._tsegs[key] = obj
            return obj
        elif seg.kind == "implicit":
            obj = make_match((seg.module, opts, True, True))
        else:
            name = words[seg.module]
            known = name in KNOWN_MATCH_MODULES
            if not known and name not in self.reported_modules:
                self.reported_modules.add(name)
                self.diagnostics.append(diag(
                    "DN002", f"match module '{name}' is not modelled; its options are kept "
                             f"and rules using it are approximated", span))
            obj = make_match((name, opts, False, known))
        self._segs[key] = obj
        return obj

    def known_target(self, t: Target) -> Target:
        """The same target marked known (a jump to a chain of the table)."""
        k = self._known_target.get(t)
        if k is None:
            k = self._known_target[t] = replace(t, known=True)
        return k

    def _basic_value(self, slot: int, value: str, neg: bool, span: Span):
        cache = self._basic[slot]
        k = (value, neg)
        obj = cache.get(k)
        if obj is None:
            if slot == 0:
                obj = ProtocolMatch(value, neg)
            elif slot <= 2:
                fam = address_family(value)
                if fam is not None:
                    self.family_votes[fam == 6] += 1
                obj = make_address((value, neg, fam is not None))
            else:
                obj = InterfaceMatch(value, neg)
            cache[k] = obj
        if slot in (1, 2) and not obj.resolved:
            self.diagnostics.append(diag(
                "DN006", f"'{value}' is a host name, not an address; iptables resolved it "
                         f"when the rule was added and the result is unknown here", span))
        return obj

    # -- rules

    def build_rule(self, plan: Plan, words: list[str], span: Span, chain: str) -> Rule:
        vals = [chain, span, None, None, None, None, None, plan.fragment, (), None, None,
                _EMPTY_SET, ()]
        if plan.basic_list:
            basic = self._basic
            for slot, i, neg in plan.basic_list:
                obj = basic[slot].get((words[i], neg))
                if obj is None or (slot == 1 or slot == 2) and not obj.resolved:
                    obj = self._basic_value(slot, words[i], neg, span)
                vals[slot + 2] = obj
        if plan.seg_list:
            segs = self._segs
            ms = []
            for sid, key, seg in plan.seg_list:
                obj = segs.get((sid, key(words)))
                if obj is None:
                    obj = self._segment(seg, words, span)
                ms.append(obj)
            vals[8] = tuple(ms)
        t = plan.target
        if t is not None:
            obj = self._tsegs.get((t.seg_id, t.key(words)))
            vals[9] = obj if obj is not None else self._segment(t, words, span)
        if plan.counters is not None:
            m = COUNTERS_RE.match(words[plan.counters])
            vals[10] = self.counters(m.group(1), m.group(2))
        if plan.setcounters is not None:
            p, bb = words[plan.setcounters[0]], words[plan.setcounters[1]]
            if not (p.isdigit() and bb.isdigit()):
                raise RuleError(plan.setcounters[0], f"-c needs two numbers, not '{p} {bb}'")
            vals[10] = self.counters(p, bb)
        return make_rule(vals)


_EMPTY_SET: frozenset = frozenset()


def _fast_constructor(cls):
    """Build instances of a frozen slots dataclass from a sequence of all field values,
    without the generated __init__ (which pays a Python-level object.__setattr__ call per
    field): the slots are filled through their descriptors, unrolled. Gives objects equal
    to ``cls(*values)``; the tests check it."""
    from dataclasses import fields
    names = [f.name for f in fields(cls)]
    env = {"_new": object.__new__, "_cls": cls}
    body = []
    for i, n in enumerate(names):
        env[f"_s{i}"] = getattr(cls, n).__set__
        body.append(f"    _s{i}(o, v[{i}])")
    src = "def make(v):\n    o = _new(_cls)\n" + "\n".join(body) + "\n    return o\n"
    exec(src, env)
    return env["make"]


make_rule = _fast_constructor(Rule)
make_option = _fast_constructor(Option)
make_match = _fast_constructor(Match)
make_target = _fast_constructor(Target)
make_address = _fast_constructor(AddressMatch)


def compile_builder(rb: "RuleBuilder", plan: Plan):
    """Python code specialised to one plan that does what RuleBuilder.build_rule does
    (same caches, same objects), without interpreting the plan on every line."""
    env = {"rb": rb, "B": rb._basic, "SEGS": rb._segs, "seg_miss": rb._segment,
           "basic_miss": rb._basic_value, "mk": make_rule, "E": _EMPTY_SET,
           "CRE": COUNTERS_RE.match, "RuleError": RuleError}
    out = ["def build(words, span, chain):"]
    vals = ["chain", "span", "None", "None", "None", "None", "None", repr(plan.fragment),
            "()", "None", "None", "E", "()"]
    for slot, i, neg in plan.basic_list:
        v = f"b{slot}"
        out.append(f"    {v} = B[{slot}].get((words[{i}], {neg}))")
        cond = f"{v} is None" + (f" or not {v}.resolved" if slot in (1, 2) else "")
        out.append(f"    if {cond}: {v} = basic_miss({slot}, words[{i}], {neg}, span)")
        vals[slot + 2] = v

    def key_expr(seg: Segment) -> str:
        idxs = [] if seg.kind == "implicit" else [seg.module]
        for ni, args, _neg in seg.options:
            idxs.append(ni)
            idxs.extend(args)
        if not idxs:
            return f"({seg.seg_id}, ())"
        if len(idxs) == 1:
            return f"({seg.seg_id}, words[{idxs[0]}])"
        return f"({seg.seg_id}, (" + ", ".join(f"words[{i}]" for i in idxs) + "))"

    ms = []
    for n, (_sid, _key, seg) in enumerate(plan.seg_list):
        env[f"S{n}"] = seg
        out.append(f"    m{n} = SEGS.get({key_expr(seg)})")
        out.append(f"    if m{n} is None: m{n} = seg_miss(S{n}, words, span)")
        ms.append(f"m{n}")
    if ms:
        vals[8] = "(" + ", ".join(ms) + ",)"
    if plan.target is not None:
        env["ST"] = plan.target
        out.append(f"    t = rb._tsegs.get({key_expr(plan.target)})")
        out.append("    if t is None: t = seg_miss(ST, words, span)")
        vals[9] = "t"
    if plan.counters is not None:
        out.append(f"    cm = CRE(words[{plan.counters}])")
        out.append("    c = rb.counters(cm.group(1), cm.group(2))")
        vals[10] = "c"
    if plan.setcounters is not None:
        a, b = plan.setcounters
        out.append(f"    cp, cb = words[{a}], words[{b}]")
        out.append("    if not (cp.isdigit() and cb.isdigit()):")
        out.append(f"        raise RuleError({a}, f\"-c needs two numbers, not '{{cp}} {{cb}}'\")")
        out.append("    c = rb.counters(cp, cb)")
        vals[10] = "c"
    out.append("    return mk((" + ", ".join(vals) + "))")
    exec("\n".join(out) + "\n", env)
    return env["build"]


class RuleError(ValueError):
    """A line that the grammar accepts but whose values are wrong (e.g. ``-c x y``)."""

    def __init__(self, at: int | None, message: str):
        super().__init__(message)
        self.at = at
        self.message = message
