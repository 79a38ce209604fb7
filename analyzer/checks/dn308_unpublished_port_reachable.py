from ..ir import Severity, Span
from ..model.intervals import IntervalSet, ip_str
from ._docker_inventory import EndpointError, accepting_step, ask, ask_exists, bridge_networks, outside_space, \
    step_span, where
from ._kernel_docker import flow_text, publications, source_class
from .base import Check

MAX_CONTAINERS = 200  # a few questions per container address
WELL_KNOWN = (22, 5432, 3306, 6379, 8080)


class UnpublishedPortReachable(Check):
    """A container port that is not published is reachable from outside the host at the container's address.

    ## What it does
    For every container address of the Docker inventory (on a bridge network that is not
    internal), asks the engine whether a client beyond the default route (`outside`) can open
    a TCP connection straight to the container's address on a port the container does not
    publish (published ports come from the nat DNAT rules, docker-proxy's arguments and
    `docker inspect`). Such a client only needs a route to the container subnet via the host:
    any neighbour on the uplink's link can add one, and so can a cloud VPC route. A finding
    per container reached, at the filter rule that accepts the connection (else the chain's
    policy), with the witness flow.

    ## Why is this bad?
    Publishing is how Docker says which ports of a container the world may use; everything
    else is meant to stay behind the bridge. When FORWARD accepts new connections from the
    uplink to a container subnet (a FORWARD policy ACCEPT, `--iptables=false`, a broad
    DOCKER-USER ACCEPT, the Docker 28 gateway mode `nat-unprotected`), every listening port of
    every container is open to the neighbours: a database or an admin port nobody published.

    ## Example
    ```
    *filter
    :FORWARD ACCEPT [0:0]
    -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    -A FORWARD -o docker0 -j DOCKER
    -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
    COMMIT
    ```
    with the FORWARD policy left at ACCEPT (Docker only sets DROP when it turned ip_forward on
    itself): outside -> 172.17.0.2:5432 is forwarded to the container.

    ## How to fix
    Drop new forwarded connections from the uplink to the container subnets unless they are
    published, e.g. `iptables -I DOCKER-USER -i eth0 -d 172.16.0.0/12 -m conntrack --ctstate NEW
    -m conntrack ! --ctstate DNAT -j DROP`, set the FORWARD policy to DROP, or leave the gateway
    mode at `nat` (Docker 28 then drops direct access in raw PREROUTING).
    """

    code = "DN308"
    name = "docker.unpublished-port-reachable"
    severity = Severity.WARNING
    summary = "A container port that is not published is reachable from outside at the container's address."
    fix = "DROP new connections from the uplink to the container subnets in DOCKER-USER unless DNATed."
    needs_engine = True

    def run(self, ctx):
        if 4 not in ctx.families() or not ctx.dump.facts.docker_networks and not ctx.dump.facts.docker_containers:
            return
        eng = ctx.engine(4)
        host = eng.host
        nets = {n.name: n for n in bridge_networks(ctx, eng)}
        if not nets or outside_space(eng, list(nets.values())) is None:
            return
        published: dict[int, set[int]] = {}  # container address -> its published TCP ports
        for pub in publications(ctx, host):
            if pub.ip is not None and pub.port is not None and pub.proto == "tcp":
                published.setdefault(pub.ip, set()).add(pub.port)
        seen: set[int] = set()
        asked = 0
        for e in host.endpoints:
            net = nets.get(e.network)
            if e.ip in seen or net is None or net.internal or asked >= MAX_CONTAINERS:
                continue
            seen.add(e.ip)
            asked += 1
            pub = published.get(e.ip, set())
            ipt = ip_str(e.ip, 4)
            try:
                leak = ask_exists(eng, "outside", IntervalSet.point(e.ip), None, "tcp",
                                  lambda final, ip=e.ip, pub=pub: final["dst"] == ip and final["dport"] not in pub,
                                  label="outside")
                if leak is None or not leak.witness:
                    continue
                ans = None
                # a port people recognise makes a better example than the solver's first pick
                for port in [p for p in WELL_KNOWN if p not in pub] + [leak.witness["dport"]]:
                    a = ask(eng, "outside", ipt, port, "tcp")  # the whole connection: replies too
                    if a.reachable is not False and a.delivered and a.delivered.get("ip") == ipt:
                        ans = a
                        break
            except EndpointError:
                continue
            if ans is None:
                continue
            port = ans.witness["dport"]
            step = accepting_step(ans, "filter")
            span: Span | None = step_span(ctx, step) or net.span
            through = f"through {where(step)}" if step else "(nothing in FORWARD stops it)"
            maybe = "" if ans.reachable else "possibly "
            shown = ", ".join(f"{p}/tcp" for p in sorted(pub)) or "none"
            mode = (net.option("com.docker.network.bridge.gateway_mode_ipv4") or "").lower()
            why = (f"; network {net.name} has gateway mode nat-unprotected, which leaves every container port "
                   "open to hosts that route to it" if mode == "nat-unprotected" else "")
            whole = source_class(host, ans, host.default_route_dev())
            yield self.finding(
                f"container {e.container} ({ipt}, network {net.name}) is {maybe}reachable from outside"
                f"{f' ({whole})' if whole else ''} on port "
                f"{port}/tcp, which it does not publish (published: {shown}), {through}{why}",
                span, flow=flow_text(ans, "outside"),
                fix=(f"`iptables -I DOCKER-USER -i {host.default_route_dev()} -d {net.cidrs()} -m conntrack "
                     f"--ctstate NEW -m conntrack ! --ctstate DNAT -j DROP`, or a FORWARD policy of DROP."),
            )
