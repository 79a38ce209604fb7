from dataclasses import dataclass, field

from ..ir import Severity, Span
from ..model.intervals import IntervalSet, ip_str
from ._docker_inventory import EndpointError, ask, bridge_networks, container_space
from ._kernel_docker import flow_text, is_loopback, publications, source_class
from .base import Check


@dataclass
class _Target:
    ip: int
    port: int
    proto: str
    evidence: list[tuple[int, Span, str]] = field(default_factory=list)  # (rank, span, what)
    public: bool = False

    def best(self) -> tuple[Span, str]:
        _r, span, what = min(self.evidence, key=lambda e: (e[0], e[1].line))
        return span, what


class LocalhostPublishReachable(Check):
    """A port published on 127.0.0.1 only is reachable from other hosts (or other Docker networks) at the container's own address.

    ## What it does
    Collects the container ports published on 127.0.0.1 only: port bindings with `HostIp`
    127.0.0.1 (`docker inspect`), `docker-proxy -host-ip 127.0.0.1`, and nat DNAT rules with
    `-d 127.0.0.1`. For each, asks the engine whether a client beyond the default route
    (`outside`), or a container of another Docker network, can open a connection straight to
    the container's address and port (a neighbour on the uplink only needs a route to the
    container subnet via the host). A finding per published port that is reached, at the
    DNAT rule (else the docker-proxy process, else the container), with the witness flow.
    Ports also published on a non-loopback address are left out.

    ## Why is this bad?
    `-p 127.0.0.1:8080:80` reads as "only this host may connect", and the host's public
    address indeed refuses the port. But Docker's filter `DOCKER` chain accepts
    `-d <container> ! -i br -o br --dport 80` whatever the binding's host IP, so any machine
    that routes the container subnet through the host (a neighbour on the same link, a
    cloud VPC route) reaches the service directly. The real kernel did so in
    fixtures/docker/f_localhost_publish (outside -> 172.18.0.2:80 delivered).

    ## Example
    ```
    *filter
    :FORWARD DROP [0:0]
    :DOCKER - [0:0]
    -A FORWARD -o br-ab2d5d7c4ba2 -j DOCKER
    -A DOCKER -d 172.18.0.2/32 ! -i br-ab2d5d7c4ba2 -o br-ab2d5d7c4ba2 -p tcp -m tcp --dport 80 -j ACCEPT
    COMMIT
    *nat
    :DOCKER - [0:0]
    -A DOCKER -d 127.0.0.1/32 ! -i br-ab2d5d7c4ba2 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80
    COMMIT
    ```

    ## How to fix
    Drop forwarded connections to the container's port that do not come from its own
    network, e.g. `iptables -I DOCKER-USER -d 172.18.0.2 ! -i br-ab2d5d7c4ba2 -p tcp --dport 80
    -m conntrack --ctstate NEW -j DROP` (the host's own connections, and docker-proxy's, do
    not cross FORWARD), or drop the container subnets on the uplink (`-i eth0 -d 172.16.0.0/12
    -j DROP` in DOCKER-USER). Docker 28 and later install such a drop themselves.
    """

    code = "DN306"
    name = "docker.localhost-publish-reachable"
    severity = Severity.WARNING
    summary = "A port published on 127.0.0.1 only is reachable from elsewhere at the container's address."
    fix = "DROP forwarded NEW connections to the container's port in DOCKER-USER unless they come from the host."
    needs_engine = True

    def run(self, ctx):
        eng = ctx.engine(4)
        host = eng.host
        targets: dict[tuple[int, int, str], _Target] = {}

        for pub in publications(ctx, host):
            if pub.ip is None or pub.port is None or pub.host_lo is None or pub.span is None or is_loopback(pub.ip):
                continue
            t = targets.setdefault((pub.ip, pub.port, pub.proto), _Target(pub.ip, pub.port, pub.proto))
            if pub.host_lo:
                t.evidence.append((pub.rank, pub.span, pub.what))
            else:
                t.public = True
        if not targets:
            return
        nets = bridge_networks(ctx, eng)
        has_outside = host.default_route_dev() is not None
        for (ip, port, proto), t in sorted(targets.items()):
            if t.public or not t.evidence or proto not in ("tcp", "udp", "sctp"):
                continue
            ipt = ip_str(ip, 4)
            dst = IntervalSet.point(ip)
            owner = next((n for n in nets if n.holds(ip)), None)
            reached = []  # (label, answer)
            sources = (["outside"] if has_outside else []) + [f"network:{n.name}" for n in nets if n is not owner]
            for src in sources:
                try:
                    if src == "outside":
                        ans = ask(eng, "outside", ipt, port, proto)
                    else:
                        n = next(x for x in nets if f"network:{x.name}" == src)
                        space = container_space(eng, n)
                        if not space:
                            continue
                        ans = ask(eng, src, ipt, port, proto, src_set=space, dst_set=dst)
                except EndpointError:
                    continue
                if ans.reachable is False or not ans.delivered or ans.delivered.get("ip") != ipt:
                    continue
                reached.append((src, ans))
            if not reached:
                continue
            span, what = t.best()
            first_src, first = reached[0]
            who = next((e.container for e in host.endpoints if e.ip == ip), None)
            name = f"container {who} ({ipt}:{port}/{proto})" if who else f"{ipt}:{port}/{proto}"
            maybe = "" if first.reachable else "possibly "
            def whole(src, a):
                if src == "outside":
                    return source_class(host, a, host.default_route_dev())
                n = next((x for x in nets if f"network:{x.name}" == src), None)
                return source_class(host, a, n.bridge, within=container_space(eng, n),
                                    within_label=f"container address of {n.cidrs()}") if n else None

            froms = ", ".join(f"{s} ({c})" if (c := whole(s, a)) else s for s, a in reached)
            yield self.finding(
                f"{name} is published on 127.0.0.1 only ({what}), but {froms} {maybe}reach{'es' if len(reached) == 1 else ''} "
                f"it directly at the container's address: the binding's host IP does not restrict forwarded traffic",
                span,
                fix=(f"`iptables -I DOCKER-USER -d {ipt} -p {proto} --dport {port} -m conntrack --ctstate NEW "
                     f"! -i {owner.bridge if owner else '<bridge>'} -j DROP` (host-originated traffic does not pass "
                     "FORWARD), or drop the container subnets arriving on the uplink."),
                flow=flow_text(first, first_src),
            )
