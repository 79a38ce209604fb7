from ..ir import HostDump, SectionKind, Severity
from .base import Check, CheckContext

_RULE_KINDS = (SectionKind.SAVE, SectionKind.SPEC, SectionKind.LISTING)


class MissingFact(Check):
    """A host fact the analysis depends on is absent from the dump and will be assumed.

    ## What it does
    For a host dump that holds rules, reports once per kind of fact it lacks, and says what
    the model assumes instead:

    - no addresses (`ip addr`): only 127.0.0.0/8, and what the routes show, is local;
    - no routes (`ip route show table all`): routes are derived from the interface
      addresses, with no default route;
    - no sysctl reading for `net.ipv4.ip_forward`, `route_localnet` or
      `net.bridge.bridge-nf-call-iptables`: the kernel's or Docker's default;
    - no listening sockets (`ss -tulnp`): a socket is assumed to listen on every port;
    - on a Docker host, no `docker network inspect`: networks are known only from bridge
      names and rules.

    A bare `iptables-save` file or listing (no host-fact section at all) is not reported:
    it plainly holds rules only. Set `bare-rulesets = true` under `[options.DN009]` to
    report it as well.

    ## Why is this bad?
    Whether a packet is delivered depends on more than the rules: `ip_forward=0` stops every
    forwarded packet, `bridge-nf-call-iptables=0` lets container-to-container traffic skip
    iptables, and a port with no listener refuses connections the rules accept. An assumed
    fact can make an answer wrong for this host.

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
        from ..model.host import build_host

        host = build_host(dump, families[0])

        if not facts.addresses:
            yield self.finding(
                "no interface addresses (`ip addr` section): the host's own addresses are taken to be "
                + ("those of the local routing table" if any(r.table == "local" for r in facts.routes)
                   else "127.0.0.0/8 only")
                + "; traffic to its other addresses is treated as not local", span)
        if not facts.routes:
            yield self.finding(
                "no routes (`ip route show table all` section): routes are derived from the "
                "interface addresses (local and connected networks only, no default route), so "
                "where forwarded and outgoing traffic leaves is unknown", span)
        sysctl_msg = self._sysctls(dump, families, host)
        if sysctl_msg:
            yield self.finding(sysctl_msg, span)
        if not facts.listeners and not any(s.kind is SectionKind.LISTENERS and not s.note for s in dump.sections):
            yield self.finding(
                "no listening sockets (`ss -tulnp` section): a socket is assumed to listen on every "
                "port that traffic reaches, so no connection is reported as refused", span)
        if (ctx.docker or host.dockerd_running) and not facts.docker_networks:
            yield self.finding(
                "Docker runs here but there is no Docker inventory (`docker network inspect` section): "
                "networks are known only from bridge names (docker0, br-*) and from the rules; their "
                "subnets, which are internal and which container holds an address are unknown", span)

    @staticmethod
    def _sysctls(dump: HostDump, families: list[int], host) -> str | None:
        keys = {s.key for s in dump.facts.sysctls}
        running = host.dockerd_running
        on = running and host.dockerd.get("--ip-forward", True) is not False
        assumed: list[str] = []
        if 4 in families:
            if not keys & {"net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding"}:
                assumed.append(f"net.ipv4.ip_forward={int(on)} ("
                               + ("dockerd enables it" if on else "the kernel's default") + ")")
            if not any(k.startswith("net.ipv4.conf.") and k.endswith(".route_localnet") for k in keys):
                text = "net.ipv4.conf.*.route_localnet=0 (the kernel's default"
                if running and host.dockerd.get("--userland-proxy") is False:
                    text += "; 1 on Docker's bridges, as dockerd --userland-proxy=false sets it"
                assumed.append(text + ")")
            if "net.bridge.bridge-nf-call-iptables" not in keys:
                assumed.append(f"net.bridge.bridge-nf-call-iptables={int(running)} ("
                               + ("dockerd loads br_netfilter, which sets it" if running
                                  else "br_netfilter not known to be loaded") + ")")
        if 6 in families:
            if "net.ipv6.conf.all.forwarding" not in keys:
                assumed.append(f"net.ipv6.conf.all.forwarding={int(on)} ("
                               + ("dockerd enables it" if on else "the kernel's default") + ")")
            if "net.bridge.bridge-nf-call-ip6tables" not in keys:
                assumed.append(f"net.bridge.bridge-nf-call-ip6tables={int(running)} ("
                               + ("dockerd loads br_netfilter, which sets it" if running
                                  else "br_netfilter not known to be loaded") + ")")
        if not assumed:
            return None
        return "no sysctl reading for what decides forwarding (`sysctl` section); assumed: " + ", ".join(assumed)


def _has_host_sections(dump: HostDump) -> bool:
    """True when the dump shows more than rules: some section of host facts (read, failed or unknown)."""
    return any(s.kind not in _RULE_KINDS for s in dump.sections)
