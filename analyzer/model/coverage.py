"""What a dump's sections speak for: the facts whose *absence* the dump shows.

A section lists some facts of its kind (listening sockets, processes, sysctl keys, routes,
addresses, rule tables). That something is absent is known only inside the section's
scope (:class:`~dnlint.ir.Scope`, decided from its command line): ``ss -tlnp`` lists every
listening TCP socket and no UDP one, ``ps -C dockerd`` shows no other process, ``sysctl
net.ipv4.ip_forward`` no other key, ``ip route`` no local table. Everything outside every
section's scope is unknown: the model takes a default for it and says so, and an answer that
turns on it is ``null``.
"""

from __future__ import annotations

from ..ingest.commands import scope_admits
from ..ir import HostDump, Scope, SectionKind

RULE_TABLES = ("raw", "mangle", "nat", "filter", "security")
#: command lines a docker-proxy and a dockerd typically have, for testing a grep filter of `ps`
_TYPICAL_COMMAND = {
    "docker-proxy": "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 "
                    "-container-port 80",
    "dockerd": "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
}


class Coverage:
    """Which facts of a dump are known to be complete. Built once per dump."""

    def __init__(self, dump: HostDump):
        self.sections: dict[SectionKind, list] = {}
        for s in dump.sections:
            if s.note and s.note.startswith("command failed"):
                continue
            self.sections.setdefault(s.kind, []).append(s)
        self._rulesets = dump.rulesets

    def _scopes(self, *kinds: SectionKind) -> list[Scope]:
        out = []
        for k in kinds:
            for s in self.sections.get(k, ()):
                out.append(s.scope if s.scope is not None else Scope(complete=False))
        return out

    # ------------------------------------------------------------------ sockets

    def listeners(self, proto: str, family: int) -> bool:
        """Does the dump list every listening ``proto`` socket of ``family``?"""
        for sc in self._scopes(SectionKind.LISTENERS):
            if not sc.complete or not sc.listening or sc.patterns:
                continue
            if sc.protocols is not None and proto not in sc.protocols:
                continue
            if sc.families is not None and family not in sc.families:
                continue
            return True
        return False

    def listener_sources(self) -> list[str]:
        return [s.command or "ss" for s in self.sections.get(SectionKind.LISTENERS, ())]

    # ------------------------------------------------------------------ processes

    def processes(self, program: str) -> bool:
        """Does the dump show every running process of ``program`` (dockerd, docker-proxy)?"""
        typical = _TYPICAL_COMMAND.get(program, program)
        for sc in self._scopes(SectionKind.PS):
            if not sc.complete:
                continue
            if sc.names is not None and program not in sc.names:
                continue
            line = typical if sc.full_command_line else program
            if sc.patterns and not scope_admits(sc, line):
                continue
            return True
        return False

    def process_sources(self) -> list[str]:
        return [s.command or "ps" for s in self.sections.get(SectionKind.PS, ())]

    # ------------------------------------------------------------------ sysctls

    def sysctl(self, key: str) -> bool:
        """Would the dump show ``key`` if the host had it? (``sysctl -a``, or a section naming it.)"""
        for sc in self._scopes(SectionKind.SYSCTL):
            if not sc.complete:
                continue
            if sc.names is not None and not any(key == n or key.startswith(n + ".") for n in sc.names):
                continue
            if sc.patterns and not (scope_admits(sc, f"{key} = 0") and scope_admits(sc, f"{key} = 1")):
                continue
            return True
        return False

    def sysctl_sources(self) -> list[str]:
        return [s.command or "sysctl" for s in self.sections.get(SectionKind.SYSCTL, ())]

    # ------------------------------------------------------------------ routes and addresses

    def routes(self, table: str, family: int) -> bool:
        for sc in self._scopes(SectionKind.ROUTE):
            if not sc.complete:
                continue
            if sc.families is not None and family not in sc.families:
                continue
            if sc.tables is not None and table not in sc.tables:
                continue
            return True
        return False

    def addresses(self, family: int) -> bool:
        """Does the dump list every address of ``family`` on every device?"""
        for sc in self._scopes(SectionKind.ADDR):
            if not sc.complete or sc.patterns or sc.names is not None:
                continue
            if sc.families is not None and family not in sc.families:
                continue
            return True
        return False

    # ------------------------------------------------------------------ rule tables

    def rule_tables(self, family: int) -> set[str]:
        """The tables of ``family`` whose whole content the dump shows (an iptables-save lists every
        table the kernel has loaded, so one it does not print is empty)."""
        out: set[str] = set()
        for kind in (SectionKind.SAVE, SectionKind.SPEC, SectionKind.LISTING):
            for s in self.sections.get(kind, ()):
                sc = s.scope
                if sc is None or not sc.complete or sc.patterns:
                    continue
                if sc.families is not None and family not in sc.families:
                    continue
                out |= set(RULE_TABLES) if sc.tables is None else set(sc.tables)
        # a table cut short (no COMMIT) is shown only in part, whatever its command covered
        out -= {t.name for rs in self._rulesets if rs.family == family for t in rs.tables if not t.complete}
        bare = [rs for rs in self._rulesets if rs.family == family and rs.scope is None]
        for rs in bare:
            names = {t.name for t in rs.tables}
            if rs.format.value == "save":
                # a bare iptables-save file: every table the kernel had loaded is in it, unless the
                # file is visibly cut down (Docker's filter chains without Docker's nat table)
                docker = any(t.name == "filter" and t.chain("DOCKER") is not None for t in rs.tables)
                out |= (names if docker and "nat" not in names else set(RULE_TABLES))
            else:
                out |= names
            out -= {t.name for t in rs.tables if not t.complete}
        return out
