"""``dnlint collect``: write a host dump of the machine dnlint runs on.

Only read-only commands are run, each with a timeout. The dump is one text file::

    # dnlint host dump
    # host: web-1
    # date: 2024-05-01T12:00:00+00:00
    # kernel: 6.1.0-18-amd64
    ### iptables-save -c
    <stdout of the command, verbatim>
    ### ipset save
    ##! not installed

Every command gets its ``### <command line>`` header. When a command is missing or fails,
the header is followed by one ``##! <reason>`` line instead of (or, when it still printed
something, after) its output, so the dump says what it lacks; :class:`CollectResult`
records the same in ``missing`` and ``failed``.

``runner`` is injectable: ``runner(argv, timeout)`` returns an object with ``returncode``,
``stdout`` and ``stderr`` (text), raises :class:`FileNotFoundError` when the program is not
installed and :class:`subprocess.TimeoutExpired` when it does not finish in time.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

TIMEOUT = 10.0
HEADER = "# dnlint host dump"

#: sysctl keys that decide a packet's fate (matched against ``sysctl -N -a`` names).
SYSCTL_PATTERNS: tuple[str, ...] = (
    r"net\.ipv4\.ip_forward",
    r"net\.ipv4\.conf\.[^.]+\.route_localnet",
    r"net\.ipv4\.conf\.[^.]+\.rp_filter",
    r"net\.ipv4\.conf\.[^.]+\.forwarding",
    r"net\.bridge\.bridge-nf-call-iptables",
    r"net\.bridge\.bridge-nf-call-ip6tables",
    r"net\.ipv6\.conf\.all\.forwarding",
    r"net\.ipv4\.conf\.[^.]+\.accept_local",
)
_SYSCTL_RE = re.compile("|".join(f"(?:{p})" for p in SYSCTL_PATTERNS))
#: the filter `sysctl -a` output goes through; the section is titled with it, so that the dump says
#: which keys it would show (a key that matches and is absent is absent on the host, as
#: net.bridge.* is when br_netfilter is not loaded)
SYSCTL_GREP = "^(" + "|".join(SYSCTL_PATTERNS) + ") = "


class RunOutput(Protocol):
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str], float], RunOutput]


@dataclass
class CollectResult:
    text: str
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # every command line a section names


_EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")
_LINK_NAME = re.compile(r"^\d+: ([^:@\s]+)", re.M)


def default_runner(argv: Sequence[str], timeout: float = TIMEOUT,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` without a shell, C locale, with ``/usr/sbin`` and ``/sbin`` on PATH.

    ``env`` replaces ``os.environ`` as the base environment (e.g. to set DOCKER_HOST).
    """
    env = dict(os.environ if env is None else env)
    path = env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep)
    env["PATH"] = os.pathsep.join(path + [p for p in _EXTRA_PATH if p not in path])
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    return subprocess.run(
        list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        errors="replace", timeout=timeout, env=env,
    )


def _cmdline(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


class _Collector:
    def __init__(self, runner: Runner, timeout: float):
        self.runner = runner
        self.timeout = timeout
        self.out: list[str] = []
        self.result = CollectResult(text="")

    # -- low level ---------------------------------------------------------------
    def call(self, argv: Sequence[str]) -> tuple[RunOutput | None, str | None, bool]:
        """Run quietly: (output, failure reason, missing)."""
        try:
            res = self.runner(list(argv), self.timeout)
        except FileNotFoundError:
            return None, "not installed", True
        except subprocess.TimeoutExpired:
            return None, f"timed out after {self.timeout:g} s", False
        except PermissionError as exc:
            return None, f"cannot execute: {exc.strerror or exc}", False
        except OSError as exc:
            return None, f"cannot run: {exc}", False
        if res.returncode != 0:
            reason = f"exit status {res.returncode}"
            first = _first_line(res.stderr) or _first_line(res.stdout)
            if first:
                reason += f": {first}"
            return res, reason, False
        return res, None, False

    def section(self, argv: Sequence[str], header: str | None = None,
                filter: Callable[[str], str] | None = None) -> RunOutput | None:
        """Run ``argv`` and write its section. Returns the output when it succeeded."""
        return self.write(header or _cmdline(argv), *self.call(argv), filter=filter)

    def write(self, title: str, res: RunOutput | None, reason: str | None, missing: bool,
              filter: Callable[[str], str] | None = None) -> RunOutput | None:
        """Write the section of a command already run (what :meth:`call` returned)."""
        self.result.commands.append(title)
        self.out.append(f"### {title}")
        if res is not None and res.stdout:
            stdout = filter(res.stdout) if filter else res.stdout
            self.out.append(stdout if stdout.endswith("\n") or not stdout else stdout + "\n")
        if reason is not None:
            self.note(title, reason, missing)
            return None
        return res

    def note(self, title: str, reason: str, missing: bool = False) -> None:
        reason = " ".join(reason.split())
        self.out.append(f"##! {reason}\n")
        if missing:
            self.result.missing.append(title)
        else:
            self.result.failed.append((title, reason))

    def placeholder(self, title: str, reason: str, missing: bool = False) -> None:
        self.result.commands.append(title)
        self.out.append(f"### {title}")
        self.note(title, reason, missing)

    def text(self) -> str:
        parts: list[str] = []
        for chunk in self.out:
            parts.append(chunk if chunk.endswith("\n") else chunk + "\n")
        return "".join(parts)


def _iptables_default_backend(c: _Collector) -> str | None:
    res, _, _ = c.call(["iptables", "-V"])
    if res is None:
        return None
    text = (res.stdout or "") + (res.stderr or "")
    if "nf_tables" in text:
        return "nf_tables"
    if "legacy" in text:
        return "legacy"
    return None


def _sysctl_lines(c: _Collector):
    """``sysctl -a`` (one call) and the lines of the keys that decide a packet's fate."""
    res, reason, missing = c.call(["sysctl", "-a"])
    lines: list[str] = []
    if res is not None:
        for ln in res.stdout.splitlines():
            key = ln.split("=", 1)[0].strip()
            if "=" in ln and _SYSCTL_RE.fullmatch(key):
                lines.append(ln.strip())
    return res, reason, missing, lines


def _own_netns() -> str | None:
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return None


def _same_netns_processes(own: str | None, dropped: list[int]) -> Callable[[str], str]:
    """A filter for ``ps -eo pid,args`` output that keeps the processes of the collector's own
    network namespace: a docker-proxy or dockerd of another namespace (another daemon on the
    same machine) holds nothing here. Lines whose namespace cannot be read are kept."""
    def keep(stdout: str) -> str:
        if own is None:
            return stdout
        out = []
        for line in stdout.splitlines(keepends=True):
            pid = line.split(None, 1)[0] if line.strip() else ""
            if pid.isdigit():
                try:
                    if os.readlink(f"/proc/{pid}/ns/net") != own:
                        dropped.append(int(pid))
                        continue
                except OSError:
                    pass
            out.append(line)
        return "".join(out)
    return keep


def _bridge_names(networks_json: str) -> list[str]:
    """The Linux bridges of the bridge-driver networks in ``docker network inspect`` output."""
    try:
        nets = json.loads(networks_json)
    except ValueError:
        return []
    names = []
    for n in nets if isinstance(nets, list) else []:
        if not isinstance(n, dict) or n.get("Driver") != "bridge":
            continue
        opts = n.get("Options") or {}
        names.append(opts.get("com.docker.network.bridge.name") or f"br-{str(n.get('Id', ''))[:12]}")
    return names


def _docker(c: _Collector, local_ifaces: set[str] | None = None) -> None:
    listed = c.call(["docker", "network", "ls", "-q"])
    res, reason, missing = listed
    if res is None or reason is not None:
        title = "docker network inspect"
        if missing:
            c.placeholder(title, "not installed", missing=True)
        else:
            c.placeholder(title, f"docker network ls: {reason}")
        return
    nets = res.stdout.split()
    inspect = ["docker", "network", "inspect", *nets]
    inspected = c.call(inspect) if nets else None
    if inspected is not None and local_ifaces is not None:
        bridges = _bridge_names(inspected[0].stdout) if inspected[0] is not None else []
        if bridges and not any(b in local_ifaces for b in bridges):
            # the CLI reached a daemon of another network namespace (e.g. the machine's own
            # daemon while collecting inside a namespace): its inventory would mislead
            c.placeholder("docker network inspect",
                          f"the docker daemon that answered is not in this network namespace: none "
                          f"of its bridges ({', '.join(bridges[:4])}) exist here; set DOCKER_HOST "
                          f"to the socket of this namespace's daemon")
            return
    if inspected is not None:
        c.write(_cmdline(inspect), *inspected)
    else:  # no networks: say so with the command that showed it
        c.write("docker network ls -q", *listed)
    ps = c.call(["docker", "ps", "-aq"])
    res, reason, _ = ps
    if res is None or reason is not None:
        c.placeholder("docker inspect", f"docker ps -aq: {reason}")
        return
    ids = res.stdout.split()
    if ids:
        c.section(["docker", "inspect", *ids])
    else:  # no containers: say so with the command that showed it
        c.write("docker ps -aq", *ps)
    if os.path.exists("/etc/docker/daemon.json"):
        c.section(["cat", "/etc/docker/daemon.json"])


def _nft_section(c: _Collector, argv: Sequence[str]) -> None:
    """``nft list ruleset``: nft 1.0.6 and later print ``# Warning: table ip filter is managed by
    iptables-nft, do not touch!`` on stderr for tables iptables-nft made; those lines (nft
    comments) are kept after the listing, since they say which tables are iptables-nft's."""
    res, reason, missing = c.call(argv)
    if res is not None and reason is None and "-j" not in argv:
        warnings = [ln.strip() for ln in (res.stderr or "").splitlines() if ln.strip().startswith("# Warning:")]
        if warnings:
            stdout = res.stdout if res.stdout.endswith("\n") or not res.stdout else res.stdout + "\n"
            res = _Output(res.returncode, stdout + "\n".join(warnings) + "\n", res.stderr)
    c.write(_cmdline(argv), res, reason, missing)


@dataclass
class _Output:
    returncode: int
    stdout: str
    stderr: str


def default_commands() -> list[list[str]]:
    """The fixed part of the plan (the dynamic parts are decided while collecting)."""
    return [
        ["iptables-save", "-c"],
        ["ip6tables-save", "-c"],
        ["nft", "list", "ruleset"],
        ["nft", "-j", "list", "ruleset"],
        ["ipset", "save"],
        ["ip", "-o", "addr"],
        ["ip", "-d", "link", "show"],
        ["ip", "route", "show", "table", "all"],
        ["ip", "-6", "route", "show", "table", "all"],
        ["ip", "rule"],
        ["ss", "-tulnp"],
        ["ps", "-eo", "pid,args"],
    ]


def collect_dump(*, runner: Runner | None = None,
                 commands: Iterable[str | Sequence[str]] | None = None,
                 timeout: float = TIMEOUT,
                 extra_header: Sequence[str] = ()) -> CollectResult:
    """Run the read-only commands and return the host dump text with what was missing.

    ``commands`` replaces the default plan: each item (a command line or an argv list)
    becomes one section. ``extra_header`` lines are added to the ``#`` comment header.
    """
    c = _Collector(runner or default_runner, timeout)
    uname = os.uname()
    now = _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")
    head = [HEADER, f"# host: {uname.nodename}", f"# date: {now}", f"# kernel: {uname.release}"]
    try:
        from . import __version__
        head.append(f"# dnlint: {__version__}")
    except Exception:  # pragma: no cover
        pass

    if commands is not None:
        c.out.extend(head + [f"# {h}" for h in extra_header])
        for cmd in commands:
            argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
            c.section(argv)
        c.result.text = c.text()
        return c.result

    backend = _iptables_default_backend(c)
    if backend:
        head.append(f"# iptables: default backend {backend}")
    res, _, _ = c.call(["dockerd", "--version"])
    if res is not None and res.returncode == 0 and res.stdout.strip():
        head.append(f"# dockerd: {_first_line(res.stdout)}")
    res, _, _ = c.call(["docker", "version", "--format", "{{.Server.Version}}"])
    if res is not None and res.returncode == 0 and res.stdout.strip():
        head.append(f"# docker server: {_first_line(res.stdout)}")
    sysctl_res, sysctl_reason, sysctl_missing, sysctl_lines = _sysctl_lines(c)
    if sysctl_res is not None and sysctl_lines and not any(k.startswith("net.bridge.") for k in sysctl_lines):
        head.append("# br_netfilter: not loaded (no net.bridge.* sysctls)")
    c.out.extend(head + [f"# {h}" for h in extra_header])
    header_end = len(c.out)

    plan = default_commands()
    for argv in plan[:2]:
        c.section(argv)
    # the other backend's tables, so legacy + nft coexistence shows
    other = {"nf_tables": "iptables-legacy-save", "legacy": "iptables-nft-save"}.get(backend or "")
    if other:  # only when both iptables-legacy-save and iptables-nft-save are installed
        mine = {"nf_tables": "iptables-nft-save", "legacy": "iptables-legacy-save"}[backend]
        if not c.call([other, "--version"])[2] and not c.call([mine, "--version"])[2]:
            c.section([other, "-c"])
    for argv in plan[2:4]:
        _nft_section(c, argv)
    local_ifaces: set[str] | None = None
    for argv in plan[4:10]:
        res = c.section(argv)
        if argv[:2] == ["ip", "-d"] and res is not None:  # ip -d link show
            local_ifaces = {m.group(1) for m in _LINK_NAME.finditer(res.stdout)}
    title = f"sysctl -a | grep -E '{SYSCTL_GREP}'"
    if sysctl_res is not None and sysctl_lines:
        c.write(title, sysctl_res, None, False, filter=lambda _out: "\n".join(sysctl_lines) + "\n")
    else:
        c.placeholder(title, sysctl_reason or "no matching keys", missing=sysctl_missing)
    own = _own_netns() if runner is None else None
    for argv in plan[10:]:
        if argv[0] == "ps" and own is not None:
            dropped: list[int] = []
            c.section(argv, filter=_same_netns_processes(own, dropped))
            if dropped:
                c.out.insert(header_end, f"# ps: {len(dropped)} processes of other network "
                                         f"namespaces left out")
        else:
            c.section(argv)
    _docker(c, local_ifaces)
    c.result.text = c.text()
    return c.result


def format_collect_report(result: CollectResult) -> str:
    """The message ``dnlint collect`` prints on stderr."""
    n = len(result.commands)
    if not result.missing and not result.failed:
        return f"dnlint collect: {n} sections, all commands succeeded\n"
    lines = [f"dnlint collect: {n} sections; {len(result.missing)} command(s) not installed, "
             f"{len(result.failed)} failed (the dump marks each with a '##!' line)"]
    for cmd in result.missing:
        lines.append(f"  not installed: {cmd}")
    for cmd, reason in result.failed:
        lines.append(f"  failed: {cmd}: {reason}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m dnlint.collect [-o FILE]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="dnlint collect", description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", help="write the dump here (default: stdout)")
    ns = ap.parse_args(argv)
    result = collect_dump()
    if ns.output and ns.output != "-":
        with open(ns.output, "w", encoding="utf-8") as fh:
            fh.write(result.text)
    else:
        sys.stdout.write(result.text)
    sys.stderr.write(format_collect_report(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
