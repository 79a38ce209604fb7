from ..ir import Severity
from ..model.intervals import IntervalSet
from ._docker_inventory import (accepting_step, ask_exists, bridge_networks, container_space, outside_space,
                                step_span, table_first_line)
from ._kernel_docker import flow_text
from .base import Check


class SubnetWithoutMasquerade(Check):
    """A Docker bridge subnet's outbound traffic leaves the host with the container's own address: no MASQUERADE or SNAT.

    ## What it does
    For every Docker bridge network of the dump's inventory, asks the engine for a TCP
    connection from one of its containers to an address beyond the default route, and
    reports the network when such a connection is forwarded out of the uplink with its
    source still in the container subnet (nat POSTROUTING has no MASQUERADE/SNAT for it).
    A network that is `--internal`, or whose daemon runs with `--ip-masq=false` (or network
    option `com.docker.network.bridge.enable_ip_masquerade=false`), is still reported when
    its traffic leaves un-NATed, as information, saying that this was asked for; so is one
    whose IPv4 gateway mode (Docker 28, `com.docker.network.bridge.gateway_mode_ipv4`) is
    `routed` or `isolated`: Docker then writes no MASQUERADE on purpose.

    ## Why is this bad?
    The upstream router does not know the container subnet: the packets leave, the answers
    never come back (or come back only where someone added a route), so containers have no
    working egress, and private container addresses leak onto the uplink. Docker writes
    `-A POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE` for every network; it is missing
    when the daemon runs with `--iptables=false` (the seed's experiment 1: "forwarded
    without NAT, the upstream must route the container subnet") or when the nat table was
    flushed.

    ## Example
    ```
    *nat
    :POSTROUTING ACCEPT [0:0]
    COMMIT
    ### docker network inspect bridge
    (bridge network 172.17.0.0/16 on docker0, default route via eth0)
    ```
    172.17.0.2 -> 1.0.0.1 leaves eth0 with source 172.17.0.2.

    ## How to fix
    Let Docker manage iptables (`--iptables=true`, `--ip-masq=true`, the defaults), or add
    `-t nat -A POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE` yourself; if the subnet
    is routed on purpose, make the upstream route it back and ignore this code for the host.
    """

    code = "DN305"
    name = "docker.subnet-without-masquerade"
    severity = Severity.WARNING
    summary = "A Docker subnet's outbound traffic leaves the host without MASQUERADE/SNAT."
    fix = "Add `-t nat -A POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE` (Docker does with --iptables=true)."
    needs_engine = True

    def run(self, ctx):
        eng = ctx.engine(4)
        nets = bridge_networks(ctx, eng)
        if not nets:
            return
        beyond = outside_space(eng, nets)
        if beyond is None:
            return
        dockerd = eng.host.dockerd
        for n in nets:
            src = container_space(eng, n)
            if not src:
                continue
            subnet = IntervalSet(n.subnets)
            ans = ask_exists(eng, f"network:{n.name}", beyond, None, "tcp",
                             lambda final, subnet=subnet: final["src"] is not None and final["src"] in subnet,
                             src_set=src, label=f"network:{n.name}")
            if ans is None:
                continue
            deliberate = []
            if n.internal:
                deliberate.append("the network is --internal")
            if dockerd.get("--ip-masq") is False:
                deliberate.append("dockerd runs with --ip-masq=false")
            if ((n.option("com.docker.network.bridge.enable_ip_masquerade") or "").lower() == "false"
                    and dockerd.get("--iptables") is not False):  # --iptables=false sets it on docker0 itself
                deliberate.append("the network sets com.docker.network.bridge.enable_ip_masquerade=false")
            mode = (n.option("com.docker.network.bridge.gateway_mode_ipv4") or "").lower()
            if mode in ("routed", "isolated"):
                deliberate.append(f"the network's gateway mode is {mode} (com.docker.network.bridge."
                                  f"gateway_mode_ipv4={mode}: no NAT, the subnet is meant to be routed)")
            why = ""
            if not deliberate and dockerd.get("--iptables") is False:
                why = " (dockerd runs with --iptables=false, so it writes no NAT rules)"
            post = accepting_step(ans, "nat", ("POSTROUTING",))
            span = (step_span(ctx, post) or table_first_line(ctx, 4, "nat")
                    or step_span(ctx, accepting_step(ans, "filter")) or table_first_line(ctx, 4, "filter") or n.span)
            w = ans.witness or {}
            out = w.get("out_iface") or eng.host.default_route_dev() or "the uplink"
            msg = (f"outbound traffic of Docker network {n.name} ({n.bridge}, {n.cidrs()}) leaves {out} with its "
                   f"container source address: e.g. {w.get('src', '?')} -> {w.get('dst', '?')}/tcp is forwarded "
                   f"without MASQUERADE/SNAT{why}; the upstream must route {n.cidrs()} back or replies are lost")
            severity = None
            if deliberate:
                msg += f" — deliberate: {' and '.join(deliberate)}"
                severity = Severity.INFO
            yield self.finding(
                msg, span, severity=severity,
                fix=(f"Add `iptables -t nat -A POSTROUTING -s {n.cidrs().split(', ')[0]} ! -o {n.bridge} -j MASQUERADE` "
                     "(Docker writes it with --iptables=true --ip-masq=true), or route the subnet upstream."),
                flow=flow_text(ans, f"network:{n.name}", f"leaves {out} with source {(ans.delivered or {}).get('seen_src', '?')} (not NATed)"),
            )
