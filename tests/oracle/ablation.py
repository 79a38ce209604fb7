"""Fact ablation: the same host dump narrowed to the forms people paste.

A captured dump (``fixtures/docker*/``) holds every fact ``dnlint collect`` records. Users
paste less: ``ss -tlnp`` instead of ``-tulnp``, one ``ps`` line, a few sysctl keys, ``ip
route`` without the local table, no Docker inventory, a bare ``iptables-save``. Each
function here rewrites a dump's text into one such form, changing the section's command
line the way the narrower command would print it, so that what dnlint reads is exactly
what that command would have shown.

The rule the ablation tests hold dnlint to: on a narrowed dump, every probe's answer is the
kernel's or ``null`` (unknown, with an assumption naming what is missing), never a
confident wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Section:
    command: str | None  # None: the dump's preamble (comment lines before the first ###)
    lines: list[str]


def split(text: str) -> list[Section]:
    out = [Section(None, [])]
    for line in text.splitlines():
        if line.startswith("### "):
            out.append(Section(line[4:].strip(), []))
        else:
            out[-1].lines.append(line)
    return out


def join(sections: list[Section]) -> str:
    lines: list[str] = []
    for s in sections:
        if s.command is not None:
            lines.append(f"### {s.command}")
        lines.extend(s.lines)
    return "\n".join(lines) + "\n"


def _program(command: str) -> str:
    return command.split()[0].rsplit("/", 1)[-1]


def _is(command: str | None, *prefixes: str) -> bool:
    return command is not None and any(command == p or command.startswith(p + " ") for p in prefixes)


# --------------------------------------------------------------------------- one narrowing each


def drop(prefixes: tuple[str, ...]) -> Callable[[list[Section]], list[Section]]:
    def f(secs: list[Section]) -> list[Section]:
        return [s for s in secs if not _is(s.command, *prefixes)]
    return f


def ss_tcp_only(secs: list[Section]) -> list[Section]:
    """``ss -tlnp``: TCP listeners only (no Netid column)."""
    out = []
    for s in secs:
        if _is(s.command, "ss") and "u" in s.command.split()[1]:
            lines = [ln for ln in s.lines if ln.startswith("tcp") or ln.startswith("Netid")]
            fixed = []
            for ln in lines:
                if ln.startswith("Netid"):
                    fixed.append(ln[len("Netid "):].lstrip())
                else:
                    fixed.append(ln.split(None, 1)[1])
            out.append(Section("ss -tlnp", fixed))
        else:
            out.append(s)
    return out


def ps_daemon_only(secs: list[Section]) -> list[Section]:
    """``ps -C dockerd -o pid,args``: the daemon's line, nothing else."""
    out = []
    for s in secs:
        if _is(s.command, "ps"):
            keep = [ln for ln in s.lines if "PID" in ln or re.search(r"\bdockerd\b", ln)]
            out.append(Section("ps -C dockerd -o pid,args", keep))
        else:
            out.append(s)
    return out


def pgrep_daemon(secs: list[Section]) -> list[Section]:
    """``pgrep -a dockerd``: ``PID args`` of the daemon, no header."""
    out = []
    for s in secs:
        if _is(s.command, "ps"):
            keep = [ln.strip() for ln in s.lines if re.search(r"\bdockerd\b", ln) and "PID" not in ln]
            out.append(Section("pgrep -a dockerd", keep))
        else:
            out.append(s)
    return out


def ps_args_only(secs: list[Section]) -> list[Section]:
    """``ps -ef``-like full listing without docker-proxy lines (a proxy-less daemon's ps, or a
    grep that missed them): the full process table is claimed, so absence means absence.
    Not an ablation a test may demand the full answer of; used to check docker-proxy inference
    from the other sections."""
    out = []
    for s in secs:
        if _is(s.command, "ps"):
            keep = [ln for ln in s.lines if "docker-proxy" not in ln]
            out.append(Section("ps -C dockerd -o pid,args", keep))
        else:
            out.append(s)
    return out


_FEW_KEYS = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables")


def sysctl_few_keys(keys: tuple[str, ...] = _FEW_KEYS) -> Callable[[list[Section]], list[Section]]:
    def f(secs: list[Section]) -> list[Section]:
        out = []
        for s in secs:
            if _is(s.command, "sysctl"):
                keep = [ln for ln in s.lines if ln.split("=", 1)[0].strip() in keys]
                out.append(Section("sysctl " + " ".join(keys), keep))
            else:
                out.append(s)
        return out
    return f


def route_main_only(secs: list[Section]) -> list[Section]:
    """``ip route``: the main table only (no local table: which addresses are local then comes
    from ``ip addr``), and no IPv6 routes."""
    out = []
    for s in secs:
        if _is(s.command, "ip route show table all", "ip route"):
            keep = [ln for ln in s.lines if " table " not in f" {ln} " and not _v6_route(ln)
                    and not ln.startswith(("local ", "broadcast ", "multicast ", "anycast "))]
            out.append(Section("ip route", keep))
        elif _is(s.command, "ip -6 route show table all"):
            continue
        else:
            out.append(s)
    return out


def _v6_route(line: str) -> bool:
    words = line.split()
    if words and words[0] in ("local", "broadcast", "multicast", "unreachable", "blackhole", "prohibit", "anycast"):
        words = words[1:]
    if not words:
        return False
    if ":" in words[0]:
        return True
    return "via" in words and words.index("via") + 1 < len(words) and ":" in words[words.index("via") + 1]


def no_docker_inventory(secs: list[Section]) -> list[Section]:
    return [s for s in secs if not _is(s.command, "docker network inspect", "docker inspect")]


def containers_only(secs: list[Section]) -> list[Section]:
    """``docker inspect`` of the containers, without ``docker network inspect``."""
    return [s for s in secs if not _is(s.command, "docker network inspect")]


def bare_save(secs: list[Section]) -> list[Section]:
    """The file holds ``iptables-save -c`` output alone (as a bare file, no ### header)."""
    for s in secs:
        if _is(s.command, "iptables-save"):
            return [Section(None, list(s.lines))]
    return [Section(None, [])]


def pasted(secs: list[Section]) -> list[Section]:
    """The form people paste: ``iptables-save -c``, ``ip -o addr``, ``ip route show table all``,
    a sysctl of some keys, ``ss -tlnp``, the daemon's ps line and ``docker inspect`` JSON."""
    keep = ("iptables-save", "ip6tables-save", "ip -o addr", "ip route show table all", "ip -6 route show table all",
            "sysctl", "ss", "ps", "docker inspect")
    secs = [s for s in secs if s.command is None or _is(s.command, *keep)]
    return ps_daemon_only(ss_tcp_only(sysctl_few_keys()(secs)))


#: name -> narrowing. Each keeps what its command would show and nothing more.
ABLATIONS: dict[str, Callable[[list[Section]], list[Section]]] = {
    "none": lambda secs: secs,  # the whole dump: the baseline the others are read against
    "no-addr": drop(("ip -o addr", "ip addr", "ip -d link show", "ip link")),
    "no-route": drop(("ip route", "ip -6 route")),
    "no-sysctl": drop(("sysctl",)),
    "no-listeners": drop(("ss", "netstat")),
    "no-ps": drop(("ps", "pgrep")),
    "no-link": drop(("ip -d link show", "ip link")),
    "no-ip-rule": drop(("ip rule",)),
    "no-ip6tables": drop(("ip6tables-save",)),
    "ss-tcp-only": ss_tcp_only,
    "ps-daemon-only": ps_daemon_only,
    "pgrep-daemon": pgrep_daemon,
    "sysctl-few-keys": sysctl_few_keys(),
    "sysctl-forward-only": sysctl_few_keys(("net.ipv4.ip_forward",)),
    "route-main-only": route_main_only,
    "no-docker-inventory": no_docker_inventory,
    "containers-only": containers_only,
    "bare-save": bare_save,
    "pasted": pasted,
}


def ablate(text: str, name: str) -> str:
    return join(ABLATIONS[name](split(text)))


# --------------------------------------------------------------------------- judging an answer


def expected_reachable(probe: dict) -> bool:
    """What dnlint's ``reachable`` means for the probe: the server got it and, for TCP and ICMP, the
    exchange completed; for UDP, the prober (a connected socket) got the answer too."""
    if probe["proto"] == "udp":
        if probe.get("udp_socket") == "unconnected":  # it takes any answer; a connected client only this one
            to = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(probe["to"], probe["to"])
            return bool(probe["reached"] and probe.get("reply") and probe.get("reply_from") == to
                        and probe.get("reply_port", probe["port"]) == probe["port"])
        return bool(probe["reached"] and probe.get("reply"))
    return bool(probe["reached"])


def judge(answer, probe: dict) -> str:
    """``right``, ``null`` (honestly unknown) or ``wrong`` (a confident wrong answer).

    Reached probes must also get the seen source right when dnlint names one; a delivery
    whose seen source dnlint says it does not know is honest, not wrong.
    """
    reached = expected_reachable(probe)
    if answer.reachable is None:
        return "null"
    if answer.reachable is not reached:
        return "wrong"
    if reached:
        seen = (answer.delivered or {}).get("seen_src")
        if seen is None or seen == "unknown":
            return "null"
        if seen != probe["seen_src"]:
            return "wrong"
        target = probe.get("delivered_to") or ""
        got = (answer.delivered or {}).get("container")
        if target.startswith("container:") and got is not None and got != target.split(":", 1)[1]:
            return "wrong"
    return "right"
