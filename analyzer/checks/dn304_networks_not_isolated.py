from ..ir import Severity
from ._docker_inventory import (accepting_step, ask, bridge_networks, container_space, endpoint_space,
                                leak_past_routed_publications, step_span, table_first_line, where)
from ._kernel_docker import flow_text, source_class
from .base import Check


class NetworksNotIsolated(Check):
    """Containers of one Docker bridge network reach the containers of another.

    ## What it does
    For every ordered pair of Docker bridge networks in the dump's inventory (`docker network
    inspect`), asks the engine whether a container of the first (any address of its subnet but
    the gateway) can open a TCP connection, on any port, to a container of the second (any
    address of its subnet but the gateway: the gateway is a host address, reached through
    INPUT). One finding per pair that gets through, at the FORWARD rule (or policy) that let the
    packet pass, with the witness packet.

    ## Why is this bad?
    Docker promises that networks are isolated: with `--iptables=true` it writes the
    DOCKER-ISOLATION chains (pairwise DROP between bridges). Without them (`--iptables=false`,
    a flushed FORWARD chain, an `ACCEPT` inserted before the isolation jump, a hand-made
    bridge) every container can connect to every other network's containers by IP, and
    separating services into networks protects nothing (the seed's experiment 1: custom
    bridge networks reach each other by IP).

    ## Example
    ```
    *filter
    :INPUT ACCEPT [0:0]
    :FORWARD ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    COMMIT
    ### docker network inspect bridge mynet
    (two bridge networks, 172.17.0.0/16 on docker0 and 172.18.0.0/16 on br-064f9014c32c)
    ```
    172.17.0.2 reaches 172.18.0.2 through the FORWARD policy ACCEPT.

    ## How to fix
    Let Docker manage iptables (`--iptables=true`, the default) so it writes the
    DOCKER-ISOLATION chains, or drop traffic between the bridges yourself early in FORWARD
    (`-A DOCKER-USER -i br-a -o br-b -j DROP` for each pair). Connect a container to both
    networks when two services really must talk.

    A network whose IPv4 gateway mode is `routed` (Docker 28) publishes a container's port on
    the container's own address, open to every network that can route to it: Docker's
    isolation chains let other networks through to those ports on purpose. When only such
    published ports are reachable, the finding is information, saying so.
    """

    code = "DN304"
    name = "docker.networks-not-isolated"
    severity = Severity.WARNING
    summary = "Containers of one Docker network reach the containers of another by IP."
    fix = "Keep Docker's DOCKER-ISOLATION chains (--iptables=true) or DROP traffic between the bridges in DOCKER-USER."
    needs_engine = True

    def run(self, ctx):
        if 4 not in ctx.families() and not ctx.dump.facts.docker_networks:
            return
        eng = ctx.engine(4)
        nets = bridge_networks(ctx, eng)
        if len(nets) < 2:
            return
        spaces = {n.name: container_space(eng, n) for n in nets}
        for a in nets:
            for b in nets:
                if a is b or a.bridge == b.bridge or not spaces[a.name] or not spaces[b.name]:
                    continue
                ans = ask(eng, f"network:{a.name}", f"network:{b.name}", None, "tcp",
                          src_set=spaces[a.name], dst_set=spaces[b.name])
                if ans.reachable is False:
                    continue
                held = endpoint_space(eng, b, spaces[b.name])
                if held:  # a witness at a container the inventory names, when one is reachable too
                    better = ask(eng, f"network:{a.name}", f"network:{b.name}", None, "tcp",
                                 src_set=spaces[a.name], dst_set=held)
                    if better.reachable == ans.reachable:
                        ans = better
                deliberate = ""
                published, leak = (leak_past_routed_publications(ctx, eng, b, f"network:{a.name}", spaces[b.name],
                                                                  None, "tcp", spaces[a.name])
                                   if ans.reachable else (set(), None))
                if published:
                    if leak is None:
                        ports = ", ".join(sorted({f"{p}/tcp" for _ip, p in published}))
                        deliberate = (f" — deliberate: only ports published on network {b.name} ({ports}) are "
                                      f"reached, and its gateway mode is routed, so Docker opens them to every "
                                      "network that routes to them")
                    else:
                        ans = leak
                step = accepting_step(ans, "filter")
                span = step_span(ctx, step) or table_first_line(ctx, 4, "filter") or b.span or a.span
                through = f"through {where(step)}" if step else "(no filter rule stops it)"
                w = ans.witness or {}
                maybe = "" if ans.reachable else "possibly "
                whole = source_class(eng.host, ans, a.bridge, within=spaces[a.name],
                                     within_label=f"container address of {a.cidrs()}")
                eg = f"{w.get('src', '?')} -> {w.get('dst', '?')}:{w.get('dport', '?')}/tcp"
                msg = (f"Docker network {a.name} ({a.bridge}, {a.cidrs()}) {maybe}reaches the containers of network "
                       f"{b.name} ({b.bridge}, {b.cidrs()}) {through}: "
                       + (f"{whole} to {w.get('dst', '?')}:{w.get('dport', '?')}/tcp (e.g. {eg})" if whole
                          else f"e.g. {eg}"))
                if ans.reachable is None and ans.approximated:
                    msg += f" (depends on approximated matches: {', '.join(ans.approximated[:3])})"
                msg += deliberate
                yield self.finding(
                    msg, span, severity=Severity.INFO if deliberate else None,
                    fix=(f"Drop {a.bridge} -> {b.bridge} in FORWARD before it is accepted, e.g. "
                         f"`iptables -I DOCKER-USER -i {a.bridge} -o {b.bridge} -j DROP`, or let Docker write its "
                         "isolation chains (--iptables=true)."),
                    flow=flow_text(ans, f"network:{a.name}"),
                )
