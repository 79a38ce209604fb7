from ..ir import HostDump, SectionKind, Severity
from .base import Check, CheckContext

_RULE_KINDS = (SectionKind.SAVE, SectionKind.SPEC, SectionKind.LISTING)


class MissingFact(Check):
    """A host fact the analysis depends on is absent from the dump and will be assumed.

    ## What it does
    For a host dump that holds rules, reports once per kind of fact it lacks, and says what
    the model assumes instead:

    - no `ip addr` section covering every address: only 127.0.0.0/8, what the routes show, or
      (a bare rule set) what the rules name, is local;
    - no `ip route` section: only connected routes are known;
    - no sysctl section covering `net.ipv4.ip_forward`, `route_localnet` or
      `net.bridge.bridge-nf-call-iptables` (a `sysctl KEY` shows that key only);
    - no socket listing covering TCP or UDP (`ss -tlnp` lists TCP sockets only);
    - on a Docker host, no `docker network inspect` (networks are read from the containers) or
      no inventory at all.

    What a section does not cover is unknown to the model: an answer that turns on it is null
    and names it. This check lists, once per dump, what the dump leaves out.

    A bare `iptables-save` file or listing (no host-fact section at all) is not reported:
    it plainly holds rules only. Set `bare-rulesets = true` under `[options.DN009]` to
    report it as well.

    ## Why is this bad?
    Whether a packet is delivered depends on more than the rules: `ip_forward=0` stops every
    forwarded packet, `bridge-nf-call-iptables=0` lets container-to-container traffic skip
    iptables, and a port with no listener refuses connections the rules accept. Where the dump
    does not show such a fact, answers that turn on it cannot be given (they are null).

    ## Example
    ```
    ### iptables-save
    *filter
    :INPUT DROP [0:0]
    -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
    COMMIT
    ### ip -o addr
    2: eth0    inet 192.0.2.10/24 brd 192.0.2.255 scope global eth0
    ```
    Routes, sysctls and listeners are missing.

    ## How to fix
    Take the dump with `dnlint collect`, which gathers every fact; or add the missing
    sections (`### ip route show table all`, `### sysctl -a`, `### ss -tulnp`,
    `### docker network inspect $(docker network ls -q)`) to the dump.
    """

    code = "DN009"
    name = "input.missing-fact"
    severity = Severity.INFO
    summary = "A fact the analysis depends on is absent from the dump and will be assumed."
    fix = "Take the dump with `dnlint collect`, or add the missing sections."

    def run(self, ctx: CheckContext):
        dump = ctx.dump
        families = sorted({rs.family for rs in dump.rulesets
                           if any(c.rules for t in rs.tables for c in t.chains)})
        if not families:
            return
        opts = ctx.options.get(self.code, {}) if isinstance(ctx.options, dict) else {}
        if not opts.get("bare-rulesets", False) and not _has_host_sections(dump):
            return
        first = min((rs for rs in dump.rulesets if rs.family in families), key=lambda rs: rs.span.line)
        span = first.span
        facts = dump.facts
        from ..model.coverage import Coverage
        from ..model.host import build_host

        cov = Coverage(dump)
        host = build_host(dump, families[0])
        fam = families[0]

        if not cov.addresses(fam):
            yield self.finding(
                f"no `ip addr` section lists every IPv{fam} address: the host's own addresses are taken to be "
                + ("those of the local routing table" if any(r.table == "local" for r in facts.routes)
                   else "what the rules name (a host built from them)" if host.outside_ifaces else "127.0.0.0/8 only")
                + "; an answer that turns on whether an address is the host's is unknown", span)
        if not cov.routes("main", fam):
            yield self.finding(
                f"no `ip {'-6 ' if fam == 6 else ''}route` section: only the connected routes of the interface "
                "addresses are known, so an answer that needs another route (the default one) is unknown", span)
        sysctl_msg = self._sysctls(cov, families, host)
        if sysctl_msg:
            yield self.finding(sysctl_msg, span)
        missing = [p for p in ("tcp", "udp") if not host.listeners_cover(p)]
        if missing:
            shown = cov.listener_sources()
            yield self.finding(
                (f"`{shown[0]}` does not list {' or '.join(m.upper() for m in missing)} listening sockets"
                 if shown else "no `ss -tulnp` or `netstat -tulnp` section")
                + ": an answer that ends at such a socket on the host is unknown (whether anything listens "
                "there is not in the dump)", span)
        if (ctx.docker or host.dockerd_running) and not facts.docker_networks:
            yield self.finding(
                ("Docker runs here and `docker inspect` shows its containers, but there is no `docker network "
                 "inspect` section: networks are read from the containers' endpoints" if facts.docker_containers else
                 "Docker runs here but there is no Docker inventory (`docker network inspect` / `docker inspect` "
                 "sections): networks are known only from bridge names (docker0, br-*) and from the rules, and "
                 "`container:NAME` endpoints cannot be named"), span)

    @staticmethod
    def _sysctls(cov, families: list[int], host) -> str | None:
        """The sysctls that decide forwarding, loopback DNAT and bridged traffic that no section covers."""
        wanted: list[str] = []
        if 4 in families:
            if not (cov.sysctl("net.ipv4.ip_forward") or cov.sysctl("net.ipv4.conf.all.forwarding")):
                wanted.append("net.ipv4.ip_forward")
            rl = [f"net.ipv4.conf.{i.replace('.', '/')}.route_localnet" for i in sorted(host.ifaces)
                  if i != "lo" and host.ifaces[i]]
            if not cov.sysctl("net.ipv4.conf.all.route_localnet") or any(not cov.sysctl(k) for k in rl):
                wanted.append("net.ipv4.conf.*.route_localnet")
            if not cov.sysctl("net.bridge.bridge-nf-call-iptables"):
                wanted.append("net.bridge.bridge-nf-call-iptables")
        if 6 in families:
            if not cov.sysctl("net.ipv6.conf.all.forwarding"):
                wanted.append("net.ipv6.conf.all.forwarding")
            if not cov.sysctl("net.bridge.bridge-nf-call-ip6tables"):
                wanted.append("net.bridge.bridge-nf-call-ip6tables")
        if not wanted:
            return None
        shown = cov.sysctl_sources()
        where = (f"`{shown[0]}` does not cover " if len(shown) == 1 else "the sysctl sections do not cover " if shown
                 else "no sysctl section shows ")
        return (where + ", ".join(wanted) + ": an answer that turns on one of them is explored both ways and is "
                "unknown where they differ (dnlint shows the likely value: the kernel's or Docker's default)")


def _has_host_sections(dump: HostDump) -> bool:
    """True when the dump shows more than rules: some section of host facts (read, failed or unknown)."""
    return any(s.kind not in _RULE_KINDS for s in dump.sections)
