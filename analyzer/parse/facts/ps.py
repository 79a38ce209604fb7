"""``ps`` output -> :class:`Process` facts, and readers of dockerd / docker-proxy arguments.

Plain code: a ``ps`` row is a fixed number of whitespace-separated columns followed by
the command line, which runs to the end of the row.

Accepted: ``ps aux``, ``ps -ef``, ``ps -eo pid,args``, ``ps -eo pid,comm,args`` (with or
without their header row; a header row sets the layout for the rows after it), rows
filtered by ``grep`` without a header (the layout is recognised from the row), and bare
command lines (``/usr/bin/docker daemon --iptables=false``; ``pid`` is then None).

Every process row is kept (the model filters). ``program`` is the basename of argv[0]
(``/usr/sbin/docker-proxy`` -> ``docker-proxy``); kernel threads keep their bracketed
name (``[kthreadd]``); ``args`` are the words after argv[0], split on whitespace as ps
prints them (ps does not quote, so an argument holding spaces is split too).
"""

from __future__ import annotations

import re
from typing import Iterable

from ...diagnostics import diag
from ...ir import Diagnostic, Process
from ...source import Text

__all__ = ["parse_ps", "dockerd_flags", "docker_proxies", "DOCKERD_BOOL_FLAGS"]

# ps aux: USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND
_AUX_RE = re.compile(r"^\S+\s+(\d+)\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+\S+\s+\S+\s+\S+\s+[\d:.-]+\s+(\S.*)$")
# ps -ef: UID PID PPID C STIME TTY TIME CMD
_EF_RE = re.compile(r"^\S+\s+(\d+)\s+\d+\s+\d+\s+\S+\s+\S+\s+[\d:.-]+\s+(\S.*)$")
# ps -eo pid,args
_PID_RE = re.compile(r"^(\d+)\s+(\S.*)$")
_BARE_RE = re.compile(r"^(\[.*\]|[A-Za-z0-9_./+@:~%=-]+)$")

_HEADER_CMD = ("COMMAND", "CMD", "ARGS")


def _header(words: list[str]) -> list[str] | None:
    up = [w.upper() for w in words]
    if "PID" in up and up[-1] in _HEADER_CMD:
        return up
    return None


def _program(argv0: str) -> str:
    if argv0.startswith("[") and argv0.endswith("]"):
        return argv0
    base = argv0.rstrip("/").rsplit("/", 1)[-1]
    return base.rstrip(":") or argv0


def _process(command: str, span, pid: int | None) -> Process:
    command = command.strip()
    if command.startswith("[") and "]" in command:
        end = command.index("]") + 1
        argv0, rest = command[:end], command[end:].split()
    else:
        words = command.split()
        argv0, rest = words[0], words[1:]
    return Process(command, span, pid=pid, program=_program(argv0), args=tuple(rest))


def parse_ps(text: Text) -> tuple[list[Process], list[Diagnostic]]:
    """Read ``ps`` output (see the module docstring). Never raises."""
    out: list[Process] = []
    diags: list[Diagnostic] = []
    layout: list[str] | None = None

    for idx, raw in enumerate(text.lines):
        try:
            line = raw.strip()
            if not line:
                continue
            lead = len(raw) - len(raw.lstrip())
            words = line.split()
            hdr = _header(words)
            if hdr is not None:
                layout = hdr
                continue
            pid: int | None = None
            command: str | None = None
            if layout is not None and len(words) >= len(layout):
                fixed = len(layout) - 1
                parts = line.split(None, fixed)
                if len(parts) == fixed + 1:
                    try:
                        pid = int(parts[layout.index("PID")])
                        command = parts[fixed]
                    except (ValueError, IndexError):
                        pid, command = None, None
            if command is None:
                for rx in (_AUX_RE, _EF_RE, _PID_RE):
                    m = rx.match(line)
                    if m:
                        pid, command = int(m.group(1)), m.group(2)
                        break
            if command is None:
                if _BARE_RE.match(words[0]):
                    command = line
                else:
                    shown = line if len(line) <= 80 else line[:77] + "..."
                    diags.append(diag("DN001",
                                      f"not a `ps` row or a command line; the line was skipped: {shown!r}",
                                      text.span(idx, lead + 1)))
                    continue
            col = lead + 1 + max(line.find(command), 0)
            out.append(_process(command, text.span(idx, col), pid))
        except Exception as e:  # never take the whole dump down
            diags.append(diag("DN001", f"internal error while reading this line ({type(e).__name__})",
                              text.span(idx, 1)))
    return out, diags


# --------------------------------------------------------------------------- dockerd

# dockerd flags that are booleans: Go's flag package only takes their value as
# `--flag=value`, so `--iptables false` is `--iptables` (true) then an argument.
DOCKERD_BOOL_FLAGS = frozenset({
    "--iptables", "--ip6tables", "--ip-forward", "--ip-masq", "--icc", "--userland-proxy",
    "--ipv6", "--live-restore", "--debug", "-D", "--experimental", "--selinux-enabled",
    "--tls", "--tlsverify", "--no-new-privileges", "--init", "--rootless",
    "--raw-logs", "--disable-legacy-registry", "--userns-remap-disabled",
    "--iptables-drop-forward", "--allow-nondistributable-artifacts-disabled",
    "--ip-forward-no-drop", "--bridge-accept-fwmark", "--validate", "--version", "-v",
})
_TRUE = {"true", "1", "t", "yes"}
_FALSE = {"false", "0", "f", "no"}
# old (Docker < 1.10) single-dash long flags, e.g. `docker -d --iptables=false`
_SHORT_ALIASES = {"-b": "--bridge", "-G": "--group", "-H": "--host", "-g": "--graph",
                  "-p": "--pidfile", "-s": "--storage-driver", "-l": "--log-level"}


def _is_dockerd(p: Process) -> bool:
    prog = p.program or ""
    if prog in ("dockerd", "dockerd-current"):
        return True
    if prog in ("docker", "docker-current") and p.args:
        return p.args[0] in ("daemon", "-d", "--daemon")
    return False


def dockerd_flags(processes: Iterable[Process]) -> dict[str, str | bool]:
    """The flags of the first Docker daemon among ``processes``; ``{}`` if none runs.

    Recognises ``dockerd ...``, ``dockerd-current ...`` (RHEL), the old ``docker daemon
    ...`` and ``docker -d ...``. Keys are long flag names with two dashes (``--iptables``,
    ``--bip``, ``--host``). Boolean flags (:data:`DOCKERD_BOOL_FLAGS`) give a bool: bare
    ``--icc`` is True, ``--iptables=false`` is False. Other flags give their value as a
    string, from ``--flag=value`` or ``--flag value``; a flag given twice keeps its last
    value (as Go's flag package does for scalars; ``-H``/``--registry-mirror`` lists keep
    only the last). Flags absent from the command line are absent from the dict: the
    daemon's defaults (iptables, ip-masq, ip-forward, icc, userland-proxy all true) and
    ``/etc/docker/daemon.json`` are for the model to apply.
    """
    for p in processes:
        if not _is_dockerd(p):
            continue
        args = list(p.args)
        if args and args[0] in ("daemon", "-d", "--daemon"):
            args = args[1:]
        flags: dict[str, str | bool] = {}
        i = 0
        while i < len(args):
            a = args[i]
            i += 1
            if not a.startswith("-") or a in ("-", "--"):
                continue
            name, eq, value = a.partition("=")
            if name in _SHORT_ALIASES:
                name = _SHORT_ALIASES[name]
            elif not name.startswith("--") and len(name) > 2:
                name = "-" + name  # old single-dash long flags: -iptables=false
            if name in DOCKERD_BOOL_FLAGS:
                if not eq:
                    flags[name] = True
                elif value.lower() in _TRUE:
                    flags[name] = True
                elif value.lower() in _FALSE:
                    flags[name] = False
                else:
                    flags[name] = value
                continue
            if eq:
                flags[name] = value
            elif i < len(args) and not args[i].startswith("-"):
                flags[name] = args[i]
                i += 1
            else:
                flags[name] = True
        return flags
    return {}


# --------------------------------------------------------------------------- docker-proxy

_PROXY_KEYS = {"proto": "proto", "host-ip": "host_ip", "host-port": "host_port",
               "container-ip": "container_ip", "container-port": "container_port"}


def docker_proxies(processes: Iterable[Process]) -> list[dict]:
    """One dict per ``docker-proxy`` process:

    ``{"proto", "host_ip", "host_port", "container_ip", "container_port", "pid"}`` from
    ``-proto tcp -host-ip 0.0.0.0 -host-port 80 -container-ip 172.17.0.2 -container-port
    80`` (also ``--proto``, ``-proto=tcp``). Ports are ints (None if absent or not a number);
    a missing ``-proto`` is ``tcp`` (docker-proxy's default). ``pid`` is the process id.
    """
    result: list[dict] = []
    for p in processes:
        prog = p.program or ""
        if not prog.startswith("docker-proxy"):
            continue
        vals: dict = {}
        args = list(p.args)
        i = 0
        while i < len(args):
            a = args[i]
            i += 1
            if not a.startswith("-"):
                continue
            name, eq, value = a.lstrip("-").partition("=")
            key = _PROXY_KEYS.get(name)
            if key is None:
                continue
            if not eq:
                if i < len(args):
                    value = args[i]
                    i += 1
                else:
                    continue
            vals[key] = value
        entry: dict = {
            "proto": vals.get("proto", "tcp"),
            "host_ip": vals.get("host_ip"),
            "host_port": _int(vals.get("host_port")),
            "container_ip": vals.get("container_ip"),
            "container_port": _int(vals.get("container_port")),
            "pid": p.pid,
        }
        result.append(entry)
    return result


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None
