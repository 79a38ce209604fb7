from ..engine.query import query
from ..ir import Severity
from ..model.intervals import ip_int
from ._kernel_docker import flow_text, outside_address
from .base import Check

DAEMONS = ("dockerd", "docker", "dockerd-current")


class PublishedPortBlackHole(Check):
    """A port held by dockerd has nothing forwarding it (no DNAT, no docker-proxy): connections are accepted and go nowhere.

    ## What it does
    For each listening socket of `dockerd` in the `ss`/`netstat` section, asks the engine
    what becomes of a connection to it, from outside (to the host's address) and from the
    host (to 127.0.0.1 or the bound address). When a connection lands on the daemon's
    socket, with no DNAT rule taking it to the container and no docker-proxy, the engine
    answers BLACKHOLE and the check reports at the listener line.

    ## Why is this bad?
    With `--userland-proxy=false`, dockerd holds the published port only to reserve it; the
    kernel's DNAT rules do the forwarding. With `--iptables=false` as well (or Docker's nat
    rules flushed by a firewall reload), nothing forwards: clients complete the TCP
    handshake with the daemon's socket and then wait forever, UDP vanishes (the seed's
    experiment 6). Health checks that only connect report the service up. (dockerd 28 listens
    with a backlog it never accepts from: the first connections complete their handshake,
    later ones time out; either way no data reaches a container.)

    ## Example
    ```
    ### ps -eo pid,args
    812 dockerd --iptables=false --userland-proxy=false
    ### ss -tlnp
    LISTEN 0 4096 0.0.0.0:8080 0.0.0.0:* users:(("dockerd",pid=812,fd=24))
    ```
    and no `-j DNAT` rule for port 8080.

    ## How to fix
    Let Docker manage iptables (`--iptables=true`, and restart dockerd after a firewall
    reload that flushed its chains), or turn the userland proxy back on
    (`--userland-proxy=true`), or reach the container by its own address.
    """

    code = "DN303"
    name = "docker.published-port-black-hole"
    severity = Severity.ERROR
    summary = "A port held by dockerd has no DNAT rule and no docker-proxy: connections go nowhere."
    fix = "Enable --iptables (or restore Docker's nat rules), or --userland-proxy=true."
    needs_engine = True

    def run(self, ctx):
        listeners = [ls for ls in ctx.dump.facts.listeners
                     if (ls.process or "") in DAEMONS and ls.proto in ("tcp", "udp")]
        if not listeners:
            return
        eng = ctx.engine(4)
        host = eng.host
        default = outside_address(host)
        published = {(b.proto, b.host_port) for c in ctx.dump.facts.docker_containers for b in c.ports}
        api = {2375, 2376}
        h = host.dockerd.get("--host")
        if isinstance(h, str) and h.startswith("tcp://") and h.rsplit(":", 1)[-1].isdigit():
            api.add(int(h.rsplit(":", 1)[-1]))
        done = set()
        for ls in listeners:
            key = (ls.proto, ls.port, ls.address)
            if key in done:
                continue
            done.add(key)
            wildcard = ls.address in ("*", "0.0.0.0", "::", "")
            if not wildcard and ls.family == 4 and ip_int(ls.address) is None:
                continue
            tries = []
            if wildcard:
                if default:
                    tries.append(("outside", default))
                tries += [("host", "127.0.0.1")]
                if default:
                    tries.append(("host", default))
            elif ls.family == 4:
                tries.append(("host", ls.address))
                if default and ls.address == default:
                    tries.insert(0, ("outside", default))
            else:
                continue  # an IPv6-only address: the IPv4 engine has nothing to say
            for src, dst in tries:
                try:
                    ans = query(eng, src, dst, ls.port, ls.proto)
                except Exception:
                    continue
                note = ""
                if ans.verdict != "BLACKHOLE":
                    # dockerd's flags may live in daemon.json, out of the dump's sight: a published
                    # port (per `docker inspect`) that lands on dockerd's own socket is the same hole
                    d = ans.delivered or {}
                    if not (ans.reachable and d.get("by") in DAEMONS and (ls.proto, ls.port) in published
                            and ls.port not in api):
                        continue
                    note = " (userland-proxy=false is not on dockerd's command line; daemon.json presumably sets it)"
                yield self.finding(
                    f"dockerd holds {ls.proto} port {ls.port} ({ls.address}) but nothing forwards it: no DNAT rule "
                    f"takes {src} -> {dst}:{ls.port} to a container and no docker-proxy serves it, so "
                    + ("clients connect to the daemon's socket (the first handshakes complete, later ones wait) and nothing flows" if ls.proto == "tcp"
                       else "datagrams vanish") + note,
                    ls.span,
                    flow=flow_text(ans, src, "held by dockerd, forwarded nowhere (BLACKHOLE)"),
                )
                break
