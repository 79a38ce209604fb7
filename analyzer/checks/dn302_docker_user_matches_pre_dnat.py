from ..engine.query import query
from ..model.matches import iface_matches
from ..ir import Severity
from ..model.intervals import IntervalSet, cidr_interval, ip_str
from ._kernel_docker import dnat_rules, flow_text, is_loopback, outside_address, rule_dports, rule_proto
from .base import Check, chains_reachable_from


class DockerUserMatchesPreDnat(Check):
    """A DOCKER-USER rule matches a published port's host port or host address, which DNAT has already rewritten when FORWARD runs.

    ## What it does
    Finds rules in DOCKER-USER (and the chains it jumps to) that match `--dport H` where H is
    the host port of a published port whose container port differs, or `-d` one of the
    host's own addresses. DOCKER-USER runs in FORWARD, after nat PREROUTING has DNATed the
    packet to the container's address and port, so such a rule never sees the values it
    names. The engine's witness flow shows the packet passing by. A port range that is a
    class of ports rather than a published one (1024 ports or more, such as the ufw-docker
    recipe's `--sport 53 --dport 1024:65535`, or one that holds a container port too) does
    match after DNAT and is left alone.

    ## Why is this bad?
    The rule reads like a block (or an allow) for the published port and does nothing:
    `-i eth0 -p tcp --dport 8080 -j DROP` in DOCKER-USER leaves `-p 8080:80` open to the
    world (probed: outside UDP to 8080 is still delivered), while a rule on `--dport 80`
    does work.

    ## Example
    ```
    *filter
    -A DOCKER-USER -i eth0 -p tcp -m tcp --dport 8080 -j DROP
    COMMIT
    *nat
    -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
    COMMIT
    ```

    ## How to fix
    Match the original destination with conntrack: `-m conntrack --ctorigdstport 8080`
    (and `--ctorigdst <host address>` instead of `-d`), or match the container's port and
    address (`-d 172.17.0.2 --dport 80`).
    """

    code = "DN302"
    name = "docker.docker-user-matches-pre-dnat"
    severity = Severity.WARNING
    summary = "A DOCKER-USER rule matches a published port's pre-DNAT host port or address, so it never matches."
    fix = "Match the original destination: `-m conntrack --ctorigdstport PORT` / `--ctorigdst ADDR`."
    needs_engine = True

    def run(self, ctx):
        if 4 not in ctx.families():
            return
        filt = ctx.tables(4).get("filter")
        if filt is None or filt.chain("DOCKER-USER") is None:
            return
        published = []  # (proto, host_port, container_ip text, container_port)
        for d in dnat_rules(ctx, 4):
            if d.port is None or d.to_addr is None:
                continue
            published.append((d.proto or "tcp", d.port, ip_str(d.to_addr, 4), d.container_port(d.port)))
        for c in ctx.dump.facts.docker_containers:
            ip = next((e.ipv4.split("/")[0] for e in c.endpoints if e.ipv4), None)
            for b in c.ports:
                if ip and b.host_port and b.proto in ("tcp", "udp"):
                    published.append((b.proto, b.host_port, ip, b.container_port))
        if not published:
            return
        container_ports = {(p, cp) for p, _h, _ip, cp in published}
        chains = _user_chains(filt)
        eng = None
        for ref in ctx.rules(4):
            if ref.table != "filter" or ref.chain.name not in chains or ref.rule.target is None:
                continue
            r = ref.rule
            eng = eng or ctx.engine(4)
            host = eng.host
            if r.in_iface is not None and not r.in_iface.negated and any(
                    iface_matches(r.in_iface, b) for b in host.bridges):
                continue  # traffic from containers (egress): --dport is the real remote port
            rproto = rule_proto(r)
            ports = rule_dports(r)
            hits = []
            if ports:
                for p, h, cip, cp in published:
                    if rproto not in (None, p) or h == cp or (p, h) in container_ports:
                        continue
                    # a wide range (the ufw-docker recipe's `--sport 53 --dport 1024:65535`), or one that
                    # also holds a container port, is not about this host port: it matches after DNAT
                    if any(lo <= h <= hi and hi - lo < WIDE_RANGE
                           and not any(lo <= c <= hi for q, c in container_ports if rproto in (None, q))
                           for lo, hi in ports):
                        hits.append((p, h, cip, cp))
            seen = set()
            hits = [x for x in hits if not (x[:2] in seen or seen.add(x[:2]))]
            addr = outside_address(host)
            if hits:
                p, h, cip, cp = hits[0]
                yield self.finding(
                    f"{ref.where} matches --dport {h}, the host port of the published {p} port "
                    f"{h} -> {cip}:{cp}; DOCKER-USER runs in FORWARD, after DNAT has changed the destination "
                    f"port to {cp}, so this rule never matches that traffic",
                    r.span,
                    fix=(f"Match the original port: replace `--dport {h}` with `-m conntrack --ctorigdstport {h}` "
                         f"(or match the container's port: `--dport {cp}`)."),
                    flow=self._flow(eng, addr, p, h, r.target.name),
                )
                continue
            dst = r.dst
            if dst is None or dst.negated:
                continue
            iv = cidr_interval(dst.value, 4)
            if iv is None or is_loopback(iv[0]):
                continue
            if not IntervalSet.range(*iv).subset_of(host.local_addrs):
                continue
            p, h, cip, cp = published[0]
            yield self.finding(
                f"{ref.where} matches -d {dst.value}, an address of the host; DOCKER-USER runs in FORWARD, after "
                f"DNAT has changed a published port's destination to the container (e.g. {cip}:{cp}), and a packet "
                "still addressed to the host never crosses FORWARD, so this rule never matches",
                r.span,
                fix=f"Match the original destination: `-m conntrack --ctorigdst {dst.value}` instead of `-d`.",
                flow=self._flow(eng, ip_str(iv[0], 4), p, h, r.target.name),
            )

    @staticmethod
    def _flow(eng, addr, proto, port, target) -> str | None:
        if addr is None:
            return None
        try:
            ans = query(eng, "outside", addr, port, proto)
        except Exception:
            return None
        return flow_text(ans, "outside") + f" (the DOCKER-USER {target} does not match)"


WIDE_RANGE = 1024  # ports: a range this wide is a class of ports (unprivileged...), not a published one


def _user_chains(filt) -> set[str]:
    return chains_reachable_from(filt, "DOCKER-USER")



