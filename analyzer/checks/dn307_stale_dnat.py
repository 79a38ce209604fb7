from ..ir import Severity
from ..model.intervals import ip_int, ip_str
from ._kernel_docker import dnat_rules
from .base import Check


class StaleDnat(Check):
    """A DNAT rule sends traffic to an address in a Docker subnet that no container holds.

    ## What it does
    Only when the dump carries Docker's inventory (`docker network inspect`, `docker
    inspect`): for every DNAT rule of the nat table (typically in chain `DOCKER`), looks its
    `--to-destination` address up. When the address lies in the subnet of an inspected
    Docker network but is neither a gateway nor the address of any container endpoint in the
    inventory, the rule is reported: it forwards to nobody.

    ## Why is this bad?
    Such rules are left behind when the daemon crashed or was killed before it could clean
    up, or when someone copied rules between hosts. Connections to the published port go to
    an address nobody answers (timeouts instead of "connection refused"), and as soon as a
    new container is given that address, the old port mapping silently exposes it.

    ## Example
    ```
    *nat
    :DOCKER - [0:0]
    -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.9:80
    COMMIT
    ### docker network inspect bridge
    (172.17.0.0/16; containers: web 172.17.0.2)
    ```

    ## How to fix
    Restart the Docker daemon (it rewrites its chains), or delete the rule
    (`iptables -t nat -D DOCKER ...`) together with its filter `DOCKER` ACCEPT twin.
    """

    code = "DN307"
    name = "docker.stale-dnat"
    severity = Severity.WARNING
    summary = "A DNAT rule points at an address in a Docker subnet that no container holds."
    fix = "Restart dockerd so it rewrites its chains, or delete the stale DNAT rule."

    def run(self, ctx):
        facts = ctx.dump.facts
        if not facts.docker_networks and not facts.docker_containers:
            return
        held: set[int] = set()
        gateways: set[int] = set()
        subnets: list[tuple[str, int, int]] = []
        import ipaddress

        for n in facts.docker_networks:
            for s in n.subnets:
                try:
                    net = ipaddress.ip_network(s, strict=False)
                except ValueError:
                    continue
                if net.version == 4:
                    subnets.append((n.name, int(net.network_address), int(net.broadcast_address)))
            for g in n.gateways:
                if (v := ip_int(g.split("/")[0])) is not None:
                    gateways.add(v)
            for e in n.endpoints:
                if e.ipv4 and (v := ip_int(e.ipv4.split("/")[0])) is not None:
                    held.add(v)
        for c in facts.docker_containers:
            for e in c.endpoints:
                if e.ipv4 and (v := ip_int(e.ipv4.split("/")[0])) is not None:
                    held.add(v)
        if not subnets:
            return
        for d in dnat_rules(ctx, 4):
            a = d.to_addr
            if a is None or a in held or a in gateways:
                continue
            net = next((name for name, lo, hi in subnets if lo <= a <= hi), None)
            if net is None:
                continue
            to = ip_str(a, 4) + (f":{d.to_port}" if d.to_port is not None else "")
            port = f" {d.proto or 'any'}/{d.port}" if d.port is not None else ""
            yield self.finding(
                f"nat {d.ref.chain.name} #{d.ref.index} DNATs{port} to {to}, an address of Docker network {net} "
                f"that no container in the dump's inventory holds: a stale mapping (daemon crash?) that forwards "
                f"to nobody, and to the next container given {ip_str(a, 4)}",
                d.rule.span,
            )
