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

from ..ir import SectionKind

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
        out.append((stages[0], len(stages) > 1))
    return out


def classify(command: str) -> CommandInfo:
    """Classify one command line (the first command of a ``&&`` chain decides)."""
    parts = split_pipeline(command)
    if not parts:
        return CommandInfo(SectionKind.UNKNOWN, command)
    first, piped = parts[0]
    info = _classify_simple(first)
    from dataclasses import replace

    return replace(info, command=command, partial=info.partial or piped)


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
        return CommandInfo(SectionKind.SAVE, command, family, table, backend)
    if prog in _IPTABLES_PROGRAMS:
        return _classify_iptables(command, prog, args)
    if prog == "ip":
        return _classify_ip(command, args)
    if prog == "sysctl":
        return CommandInfo(SectionKind.SYSCTL, command)
    if prog in ("cat", "grep", "head", "tail", "more", "less") and any("/proc/sys/" in a for a in args):
        return CommandInfo(SectionKind.SYSCTL, command)
    if prog in ("ss", "netstat"):
        return CommandInfo(SectionKind.LISTENERS, command)
    if prog in ("ps", "pgrep"):
        return CommandInfo(SectionKind.PS, command)
    if prog in ("docker", "podman"):
        rest = [a for a in args if not a.startswith("-")]
        if rest[:2] == ["network", "inspect"]:
            return CommandInfo(SectionKind.DOCKER_NETWORK, command)
        if rest[:1] == ["inspect"] or rest[:2] == ["container", "inspect"]:
            return CommandInfo(SectionKind.DOCKER_CONTAINER, command)
        return CommandInfo(SectionKind.UNKNOWN, command)
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
    if action == "L":
        return CommandInfo(SectionKind.LISTING, command, family, table or "filter", backend,
                           frozenset(flags), False, chain, given)
    if action == "S":
        return CommandInfo(SectionKind.SPEC, command, family, table or "filter", backend,
                           frozenset(flags), False, chain, given)
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
    return CommandInfo(kind, command, family)
