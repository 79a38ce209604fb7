"""What a command line in a dump tells about the output that follows it.

``### iptables -t nat -nvL`` or a transcript prompt ``[root@h ~]# iptables -L -n -v -t nat``
names the command whose output follows. :func:`classify` turns that command line into a
:class:`CommandInfo`: which kind of section it is and the parameters its parser needs
(the table of a listing, the address family, listing flags).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from ..ir import Scope, SectionKind

_SUDO = {"sudo", "doas", "command", "exec", "time", "nice"}
_SAVE_PROGRAMS = {
    "iptables-save": (4, None),
    "ip6tables-save": (6, None),
    "iptables-legacy-save": (4, "legacy"),
    "ip6tables-legacy-save": (6, "legacy"),
    "iptables-nft-save": (4, "nf_tables"),
    "ip6tables-nft-save": (6, "nf_tables"),
    "xtables-save": (4, "nf_tables"),
    "xtables-legacy-multi": (4, "legacy"),
    "xtables-nft-multi": (4, "nf_tables"),
}
_IPTABLES_PROGRAMS = {
    "iptables": (4, None),
    "ip6tables": (6, None),
    "iptables-legacy": (4, "legacy"),
    "ip6tables-legacy": (6, "legacy"),
    "iptables-nft": (4, "nf_tables"),
    "ip6tables-nft": (6, "nf_tables"),
}


@dataclass(frozen=True, slots=True)
class CommandInfo:
    kind: SectionKind
    command: str
    family: int | None = None
    table: str | None = None  # from -t; for listings without -t: "filter"
    backend: str | None = None
    flags: frozenset[str] = field(default_factory=frozenset)  # listing: n, v, x, line-numbers
    partial: bool = False  # output filtered through grep/head/...: not the whole ruleset
    chain: str | None = None  # `iptables -L CHAIN`: only one chain listed
    table_given: bool = False  # the command line named the table (-t); else ``table`` is the default
    scope: Scope | None = None  # what the command's output speaks for (see :class:`~dnlint.ir.Scope`)


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=False, posix=True)
    except ValueError:
        return command.split()


def split_pipeline(command: str) -> list[tuple[str, bool]]:
    """Split ``a && b; c | d`` into the commands whose output reaches the terminal.

    Returns (command, piped_into_filter) pairs: ``iptables-save | grep X`` gives
    ``[("iptables-save", True)]``.
    """
    out: list[tuple[str, bool]] = []
    for part in re.split(r"\s*(?:&&|\|\||;)\s*", command):
        if not part.strip():
            continue
        stages = [s.strip() for s in re.split(r"(?<!\|)\|(?!\|)", part)]
        out.append((stages[0], any(not _reformats(s) for s in stages[1:])))
    return out


def _reformats(stage: str) -> bool:
    """A pipeline stage that shows all of its input: ``jq``/``jq .`` (pretty JSON), ``cat``,
    ``less``, ``more``."""
    words = _words(stage)
    if not words:
        return True
    prog = words[0].rsplit("/", 1)[-1]
    rest = [w for w in words[1:] if not w.startswith("-")]
    if prog == "jq":
        return rest in ([], ["."])
    return prog in ("cat", "less", "more") and not rest


def classify(command: str) -> CommandInfo:
    """Classify one command line (the first command of a ``&&`` chain decides)."""
    parts = split_pipeline(command)
    if not parts:
        return CommandInfo(SectionKind.UNKNOWN, command)
    first, piped = parts[0]
    info = _classify_simple(first)
    from dataclasses import replace

    scope = info.scope
    if scope is not None and piped:
        scope = _filtered(scope, _filter_stages(command))
    return replace(info, command=command, partial=info.partial or piped, scope=scope)


def _filter_stages(command: str) -> list[list[str]]:
    """The words of each stage after the first of the first pipeline of ``command``
    (quote-aware: ``grep -E 'a|b'`` is one stage)."""
    try:
        lex = shlex.shlex(command, posix=True, punctuation_chars="|&;")
        lex.whitespace_split = True
        tokens = list(lex)
    except ValueError:
        return [["?"]]  # unbalanced quotes: a filter dnlint cannot follow
    stages: list[list[str]] = [[]]
    for t in tokens:
        if t in ("&&", "||", ";", "&"):
            break
        if t == "|":
            stages.append([])
        else:
            stages[-1].append(t)
    return stages[1:]


# filters that keep every line (or only reorder them)
_KEEP_ALL = {"sort", "less", "more", "cat", "tee", "column", "uniq", "nl", "expand"}


def _filtered(scope: Scope, stages: list[list[str]]) -> Scope:
    """The scope of a command whose output went through ``stages`` (``| grep docker``)."""
    from dataclasses import replace

    patterns = list(scope.patterns)
    for words in stages:
        while words and words[0] in _SUDO:
            words = words[1:]
        if not words:
            continue
        prog = words[0].rsplit("/", 1)[-1]
        if prog in _KEEP_ALL:
            continue
        if prog in ("grep", "egrep", "fgrep", "rg"):
            pat = _grep_pattern(prog, words[1:])
            if pat is None:
                return replace(scope, complete=False, patterns=tuple(patterns))
            patterns.append(pat)
            continue
        return replace(scope, complete=False, patterns=tuple(patterns))  # head, awk, sed, cut...
    return replace(scope, patterns=tuple(patterns))


_GREP_LONG = {"ignore-case": "i", "invert-match": "v", "fixed-strings": "F", "extended-regexp": "E",
              "word-regexp": "w", "color": "", "colour": ""}


def _grep_pattern(prog: str, args: list[str]) -> tuple[str, bool, bool] | None:
    """(regex, ignore case, inverted) of a simple grep; None when dnlint cannot follow it."""
    flags = {"F"} if prog == "fgrep" else {"E"} if prog in ("egrep", "rg") else set()
    pats: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-e", "--regexp") and i + 1 < len(args):
            pats.append(args[i + 1])
            i += 2
            continue
        if a.startswith("--"):
            letter = _GREP_LONG.get(a[2:].split("=", 1)[0])
            if letter is None:
                return None
            flags.add(letter)
        elif a.startswith("-") and len(a) > 1:
            for ch in a[1:]:
                if ch not in "ivFEwaHhsn":
                    return None  # -c, -o, -A3, -l ...: the output is not the matching lines
                flags.add(ch)
        else:
            pats.append(a)
        i += 1
    icase, invert, fixed, extended, word = ("i" in flags, "v" in flags, "F" in flags, "E" in flags, "w" in flags)
    if len(pats) != 1:
        return None
    pat = pats[0]
    if fixed:
        rx = re.escape(pat)
    elif extended:
        rx = pat
    else:  # basic regex: \| is alternation, | ( ) { } + ? are literal
        rx = _bre_to_python(pat)
    if word:
        rx = rf"\b(?:{rx})\b"
    try:
        re.compile(rx)
    except re.error:
        return None
    return rx, icase, invert


def _bre_to_python(pat: str) -> str:
    out = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if c == "\\" and i + 1 < len(pat):
            n = pat[i + 1]
            out.append(n if n in "|(){}+?" else "\\" + n)
            i += 2
            continue
        out.append("\\" + c if c in "|(){}+?" else c)
        i += 1
    return "".join(out)


def scope_admits(scope: Scope, line: str) -> bool:
    """Would a line of the unfiltered output survive the scope's grep filters?"""
    for rx, icase, invert in scope.patterns:
        hit = re.search(rx, line, re.I if icase else 0) is not None
        if hit == invert:
            return False
    return True


def classify_all(command: str) -> list[CommandInfo]:
    """Every command of a ``a && b`` line, each classified (for listings of several tables)."""
    infos = []
    for part, piped in split_pipeline(command):
        info = _classify_simple(part)
        if piped:
            from dataclasses import replace

            info = replace(info, partial=True)
        infos.append(info)
    return infos


def _classify_simple(command: str) -> CommandInfo:
    words = _words(command)
    while words and (words[0] in _SUDO or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0])):
        words = words[1:]
        while words and words[0].startswith("-") and words[0] != "-":
            words = words[1:]  # sudo -E, sudo -u root (best effort)
    if not words:
        return CommandInfo(SectionKind.UNKNOWN, command)
    prog = words[0].rsplit("/", 1)[-1]
    args = words[1:]

    if prog in _SAVE_PROGRAMS:
        family, backend = _SAVE_PROGRAMS[prog]
        if prog.startswith("xtables") and args and args[0] in _SAVE_PROGRAMS:
            family, _ = _SAVE_PROGRAMS[args[0]]
        table = _option_value(args, ("-t", "--table"))
        return CommandInfo(SectionKind.SAVE, command, family, table, backend,
                           scope=Scope(families=frozenset({family}), tables=frozenset({table}) if table else None))
    if prog in _IPTABLES_PROGRAMS:
        return _classify_iptables(command, prog, args)
    if prog == "ip":
        return _classify_ip(command, args)
    if prog == "sysctl":
        return CommandInfo(SectionKind.SYSCTL, command, scope=_sysctl_scope(args))
    if prog in ("cat", "grep", "head", "tail", "more", "less") and any("/proc/sys/" in a for a in args):
        keys = frozenset(_proc_key(a) for a in args if "/proc/sys/" in a)
        return CommandInfo(SectionKind.SYSCTL, command, scope=Scope(names=keys))
    if prog == "ss":
        return CommandInfo(SectionKind.LISTENERS, command, scope=_ss_scope(args))
    if prog == "netstat":
        return CommandInfo(SectionKind.LISTENERS, command, scope=_netstat_scope(args))
    if prog == "ps":
        return CommandInfo(SectionKind.PS, command, scope=_ps_scope(args))
    if prog == "pgrep":
        return CommandInfo(SectionKind.PS, command, scope=_pgrep_scope(args))
    if prog in ("docker", "podman"):
        rest = [a for a in args if not a.startswith("-")]
        if rest[:2] == ["network", "inspect"]:
            return CommandInfo(SectionKind.DOCKER_NETWORK, command, scope=_named(rest[2:]))
        if rest[:1] == ["inspect"] or rest[:2] == ["container", "inspect"]:
            return CommandInfo(SectionKind.DOCKER_CONTAINER, command,
                               scope=_named(rest[1:] if rest[:1] == ["inspect"] else rest[2:]))
        return CommandInfo(SectionKind.UNKNOWN, command)
    if prog == "nft":
        return _classify_nft(command, args)
    if prog == "ipset" and args and args[0] in ("save", "list", "-L", "-S", "--list", "--save"):
        return CommandInfo(SectionKind.IPSET, command)
    return CommandInfo(SectionKind.UNKNOWN, command)


def _option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
            if not n.startswith("--") and a.startswith(n) and len(a) > len(n) and n == "-t":
                return a[2:]  # -tnat
    return None


def _classify_iptables(command: str, prog: str, args: list[str]) -> CommandInfo:
    family, backend = _IPTABLES_PROGRAMS[prog]
    flags: set[str] = set()
    action = None
    table = None
    chain = None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-t", "--table") and i + 1 < len(args):
            table = args[i + 1]
            i += 2
            continue
        if a.startswith("--table="):
            table = a.split("=", 1)[1]
        elif a in ("--list", "-L"):
            action = "L"
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                chain = args[i + 1]
                i += 1
        elif a in ("--list-rules", "-S"):
            action = "S"
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                chain = args[i + 1]
                i += 1
        elif a == "--numeric":
            flags.add("n")
        elif a == "--verbose":
            flags.add("v")
        elif a == "--exact":
            flags.add("x")
        elif a == "--line-numbers":
            flags.add("line-numbers")
        elif a.startswith("-") and not a.startswith("--") and len(a) > 1:
            letters = a[1:]
            if "t" in letters:
                # -nvt nat
                before, _, after = letters.partition("t")
                letters = before
                if after:
                    table = after
                elif i + 1 < len(args):
                    table = args[i + 1]
                    i += 1
            for ch in letters:
                if ch == "L":
                    action = "L"
                elif ch == "S":
                    action = "S"
                elif ch in "nvx":
                    flags.add(ch)
            if action in ("L", "S") and ("L" in letters or "S" in letters):
                if i + 1 < len(args) and not args[i + 1].startswith("-"):
                    chain = args[i + 1]
                    i += 1
        i += 1
    given = table is not None
    tscope = Scope(families=frozenset({family}), tables=frozenset({table or "filter"}), complete=chain is None)
    if action == "L":
        return CommandInfo(SectionKind.LISTING, command, family, table or "filter", backend,
                           frozenset(flags), False, chain, given, tscope)
    if action == "S":
        return CommandInfo(SectionKind.SPEC, command, family, table or "filter", backend,
                           frozenset(flags), False, chain, given, tscope)
    return CommandInfo(SectionKind.UNKNOWN, command, family, table, backend, frozenset(flags), False, None, given)


_IP_OBJECTS = {
    "a": SectionKind.ADDR, "ad": SectionKind.ADDR, "add": SectionKind.ADDR, "addr": SectionKind.ADDR,
    "addre": SectionKind.ADDR, "addres": SectionKind.ADDR, "address": SectionKind.ADDR,
    "l": SectionKind.LINK, "li": SectionKind.LINK, "lin": SectionKind.LINK, "link": SectionKind.LINK,
    "r": SectionKind.ROUTE, "ro": SectionKind.ROUTE, "rou": SectionKind.ROUTE,
    "rout": SectionKind.ROUTE, "route": SectionKind.ROUTE,
    "ru": SectionKind.POLICY, "rul": SectionKind.POLICY, "rule": SectionKind.POLICY,
}


def _classify_ip(command: str, args: list[str]) -> CommandInfo:
    family = None
    i = 0
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        if a in ("-4",):
            family = 4
        elif a in ("-6",):
            family = 6
        elif a in ("-f", "-family", "--family") and i + 1 < len(args):
            family = {"inet": 4, "inet6": 6}.get(args[i + 1], family)
            i += 1
        elif a in ("-n", "-netns", "--netns") and i + 1 < len(args):
            i += 1
        i += 1
    obj = args[i] if i < len(args) else ""
    kind = _IP_OBJECTS.get(obj, SectionKind.UNKNOWN)
    rest = args[i + 1:]
    scope = None
    if kind in (SectionKind.ADDR, SectionKind.LINK):
        scope = _ip_addr_scope(rest, family)
    elif kind is SectionKind.ROUTE:
        scope = _ip_route_scope(rest, family)
    elif kind is SectionKind.POLICY:
        scope = Scope(families=frozenset({family or 4}))
    return CommandInfo(kind, command, family, scope=scope)


# --------------------------------------------------------------------------- what a command covers


def _letters(args: list[str]) -> tuple[set[str], set[str], list[str]]:
    """Short option letters, long options and the other words of a command's arguments."""
    short: set[str] = set()
    long: set[str] = set()
    other: list[str] = []
    for a in args:
        if a.startswith("--"):
            long.add(a[2:].split("=", 1)[0])
        elif a.startswith("-") and len(a) > 1:
            short.update(a[1:])
        else:
            other.append(a)
    return short, long, other


def _families(short: set[str], long: set[str], args: list[str]) -> frozenset[int] | None:
    fams: set[int] = set()
    if "4" in short or "ipv4" in long or "inet" in long:
        fams.add(4)
    if "6" in short or "ipv6" in long or "inet6" in long:
        fams.add(6)
    for i, a in enumerate(args):
        if a in ("-f", "--family", "-A") and i + 1 < len(args):
            for f in args[i + 1].split(","):
                fams.update({"inet": {4}, "inet6": {6}}.get(f, set()))
    return frozenset(fams) or None


_SS_PROTOCOLS = {"t": "tcp", "u": "udp", "w": "raw", "x": "unix", "S": "sctp", "d": "dccp", "0": "packet",
                 "M": "mptcp"}
_SS_LONG = {"tcp": "tcp", "udp": "udp", "raw": "raw", "unix": "unix", "sctp": "sctp", "dccp": "dccp",
            "packet": "packet", "mptcp": "mptcp"}


def _ss_scope(args: list[str]) -> Scope:
    """``ss``: without a socket-type option it shows every type; without ``-l``/``-a`` it shows
    connected sockets only (no listeners); words after the options are a filter expression."""
    short, long, other = _letters([a for a in args if a not in ("-f", "-A", "-F", "-N")])
    protos = {_SS_PROTOCOLS[c] for c in short if c in _SS_PROTOCOLS} | {_SS_LONG[n] for n in long if n in _SS_LONG}
    value_opts = {"-f", "--family", "-A", "--query", "--socket", "-F", "--filter", "-N", "--net"}
    filt = [a for j, a in enumerate(args) if not a.startswith("-") and not (j and args[j - 1] in value_opts)]
    listening = bool({"l", "a"} & short or {"listening", "all"} & long)
    return Scope(families=_families(short, long, args), protocols=frozenset(protos) or None,
                 listening=listening, complete=not filt)


def _netstat_scope(args: list[str]) -> Scope:
    short, long, _ = _letters(args)
    protos = {c for c in ("t", "u", "w", "x") if c in short}
    names = {"t": "tcp", "u": "udp", "w": "raw", "x": "unix"}
    p = {names[c] for c in protos} | {n for n in ("tcp", "udp", "raw", "unix") if n in long}
    listening = bool({"l", "a"} & short or {"listening", "all"} & long)
    return Scope(families=_families(short, long, args), protocols=frozenset(p) or None, listening=listening)


def _ps_scope(args: list[str]) -> Scope:
    """``ps -e``/``aux``/``-A``/``ax``/``-ef``: every process; ``-C a,b``: those programs; ``-u root``:
    root's (dockerd and docker-proxy run as root); ``-p``/``--pid`` or a bare ``ps``: not enough to
    say anything is absent."""
    names: set[str] = set()
    every = False
    some = False
    for i, a in enumerate(args):
        if a in ("-C", "--command") and i + 1 < len(args):
            names.update(args[i + 1].split(","))
        elif a.startswith("-C") and len(a) > 2:
            names.update(a[2:].split(","))
        elif a in ("-u", "-U", "--user", "-G", "--group", "--User") and i + 1 < len(args):
            if args[i + 1] in ("root", "0"):
                every = True  # Docker's processes are root's
            else:
                some = True
        elif a in ("-p", "--pid", "-q", "--quick-pid", "-t", "--tty", "--ppid", "-s", "--sid"):
            some = True
        elif a.startswith("--") or (i and args[i - 1] in ("-o", "-O", "--format", "-C", "-p", "-u", "-U")):
            continue
        elif a.startswith("-"):
            if set(a[1:]) & {"e", "A"}:
                every = True
        elif set(a) & {"a", "x"} and "x" in a:  # BSD style: `ps aux`, `ps ax`, `ps axww`
            every = True
    if names and not every:
        return Scope(names=frozenset(names))
    if every:
        return Scope()
    return Scope(complete=False) if some or True else Scope()


def _pgrep_scope(args: list[str]) -> Scope:
    """``pgrep [-a] [-f] PATTERN``: the processes whose name (or command line, -f) matches."""
    full = False
    pats: list[str] = []
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a.startswith("--"):
            if a == "--full":
                full = True
            continue
        if a.startswith("-") and len(a) > 1:
            if "f" in a:
                full = True
            if a[-1] in "uUgGPst" or a in ("-d", "--delimiter"):
                skip = True  # an option with a value
            continue
        pats.append(a)
    if len(pats) != 1:
        return Scope(complete=False)
    return Scope(patterns=((pats[0], False, False),), full_command_line=full)


def _sysctl_scope(args: list[str]) -> Scope:
    """``sysctl -a``: every key; ``sysctl KEY...``: those keys (a key may name a subtree, as
    ``net.ipv4.conf.docker0``); ``sysctl -p``/``--system``: the keys it set, shown."""
    short, long, other = _letters(args)
    if "a" in short or "A" in short or "X" in short or "all" in long:
        return Scope()
    keys = [o.replace("/", ".") if o.startswith("net/") else o for o in other if "=" not in o]
    if "p" in short or "system" in long or "load" in long:
        return Scope(names=frozenset())  # only what was applied, which is what is shown
    return Scope(names=frozenset(keys))


def _proc_key(path: str) -> str:
    rel = path.split("/proc/sys/", 1)[1] if "/proc/sys/" in path else path
    return ".".join(part.replace(".", "/") for part in rel.split("/") if part)


def _named(words: list[str]) -> Scope:
    """``docker inspect A B``: those objects; ``$(docker ps -q)`` and the like: all of a kind."""
    if any("$(" in w or "`" in w for w in words) or not words:
        return Scope()
    return Scope(names=frozenset(words))


def _ip_addr_scope(rest: list[str], family: int | None) -> Scope:
    words = [w for w in rest if w not in ("show", "list", "ls", "sh", "s", "l", "lst")]
    dev = None
    for i, w in enumerate(words):
        if w == "dev" and i + 1 < len(words):
            dev = words[i + 1]
    if dev is None and words and words[0] not in ("up", "scope", "to", "label", "type", "permanent", "dynamic"):
        dev = words[0]
    return Scope(families=frozenset({family}) if family else None,
                 names=frozenset({dev}) if dev else None)


def _ip_route_scope(rest: list[str], family: int | None) -> Scope:
    """``ip route`` shows the main table of IPv4; ``ip route show table all`` every table of both
    families (iproute2 defaults to AF_INET only when a table is selected); ``ip route get`` is no
    route listing at all."""
    words = list(rest)
    if words and words[0] in ("get", "g"):
        return Scope(tables=frozenset(), complete=False)
    table = None
    for i, w in enumerate(words):
        if w in ("table", "tab", "t") and i + 1 < len(words):
            table = words[i + 1]
    if table in ("all", "0"):
        return Scope(families=frozenset({family}) if family else None)
    fam = frozenset({family or 4})
    return Scope(families=fam, tables=frozenset({table or "main"}))


_NFT_VALUED = {"-f", "--file", "-I", "--includepath", "-D", "--define", "-o", "--optimize"}


def _classify_nft(command: str, args: list[str]) -> CommandInfo:
    """``nft [-j] [-a] [-n]... list ruleset|table|chain ...``: text or JSON listings.

    ``table`` holds what was listed when it is not the whole ruleset (``ruleset ip`` for one
    family, ``table inet filter``, ``chain inet filter input``); None for ``list ruleset``."""
    json_out = False
    words: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-j", "--json"):
            json_out = True
        elif a in _NFT_VALUED:
            i += 1
        elif a.startswith("-") and not a.startswith("--") and len(a) > 1:
            json_out = json_out or "j" in a[1:]
        elif not a.startswith("-"):
            words.append(a)
        i += 1
    kind = SectionKind.NFT_JSON if json_out else SectionKind.NFT
    if len(words) >= 2 and words[0] in ("list", "ls"):
        what = words[1]
        if what == "ruleset":
            scope = " ".join(words[1:]) if len(words) > 2 else None
            return CommandInfo(kind, command, table=scope)
        if what in ("table", "chain"):
            return CommandInfo(kind, command, table=" ".join(words[1:]))
    return CommandInfo(SectionKind.UNKNOWN, command)
