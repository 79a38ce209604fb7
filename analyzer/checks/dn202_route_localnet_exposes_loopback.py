import re

from ..engine.query import EndpointError, query
from ..ir import Severity
from ..model.intervals import ip_int, ip_str
from ._kernel_docker import dnat_rules, flag, flow_text, is_loopback
from .base import Check

_KEY = re.compile(r"^net\.ipv4\.conf\.([^.]+)\.route_localnet$")
MAX_IFACES = 16
MAX_TARGETS = 24


class RouteLocalnetExposesLoopback(Check):
    """route_localnet=1 lets neighbours on an interface reach services bound to 127.0.0.1.

    ## What it does
    For each `net.ipv4.conf.<iface>.route_localnet` (or `conf.all`) set to 1, asks the engine
    whether a packet arriving on that interface with destination 127.0.0.1 reaches a local
    socket: on the ports of the 127.0.0.0/8 listeners of the `ss` section, or, without such
    listeners, on the DNATed ports. A finding stands at the sysctl line, with the witness
    flow.

    ## Why is this bad?
    A 127.0.0.0/8 destination arriving on a real interface is a martian, dropped by the
    kernel, unless route_localnet is set there. With it set, any neighbour on that link (a
    container on a Docker bridge, a host on the LAN) that addresses a frame to the host's MAC
    with destination 127.0.0.1 reaches services that were bound to localhost precisely to be
    private (CVE-2020-8558 is this bug in kube-proxy). Docker sets it on its bridges when
    `--userland-proxy=false`.

    ## Example
    ```
    ### sysctl -a
    net.ipv4.conf.br-1a2b3c4d5e6f.route_localnet = 1
    ### ss -tlnp
    LISTEN 0 128 127.0.0.1:6379 0.0.0.0:* users:(("redis-server",pid=812,fd=6))
    ```
    with an INPUT chain that does not stop traffic arriving on the bridge.

    ## How to fix
    Turn route_localnet off where nothing needs it, or drop loopback destinations that do
    not arrive on `lo` before routing: `iptables -t raw -A PREROUTING -d 127.0.0.0/8 ! -i lo
    -j DROP` (the fix kube-proxy and Docker adopted).
    """

    code = "DN202"
    name = "kernel.route-localnet-exposes-loopback"
    severity = Severity.WARNING
    summary = "route_localnet=1 on an interface lets its neighbours reach 127.0.0.1-bound services."
    fix = "Turn route_localnet off, or add `-t raw -A PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP`."
    needs_engine = True

    def run(self, ctx):
        facts = ctx.dump.facts
        settings = {}
        for s in facts.sysctls:
            m = _KEY.match(s.key)
            if m and m.group(1) not in ("lo", "default"):
                settings[s.key] = (m.group(1), facts.sysctl(s.key))
        settings = {k: v for k, v in settings.items() if flag(v[1])}
        if not settings:
            return
        eng = ctx.engine(4)
        host = eng.host
        ports = {i.name for i in facts.interfaces if i.master}  # bridge ports: frames arrive on the bridge
        targets = self._targets(ctx, host)
        for key, (name, sysctl) in settings.items():
            if name == "all":
                ifaces = [n for n in sorted(host.ifaces) if n != "lo" and n not in ports
                          and (host.ifaces[n] or n in host.bridges)][:MAX_IFACES]
            else:
                ifaces = [name.replace("/", ".")]
            exposed = []
            for iface in ifaces:
                src = _neighbour(host, iface)
                for proto, addr, port in targets:
                    try:
                        ans = query(eng, src, addr, port, proto)
                    except EndpointError:
                        continue
                    d = ans.delivered
                    # an answer from 127.0.0.1 is a martian to an ordinary neighbour, not to one that
                    # crafts its packets (or sets route_localnet itself): the request got through
                    martian_reply = "reply is stopped" in (ans.blocked_by or {}).get("reason", "") and \
                        ans.verdict == "MARTIAN"
                    if (ans.reachable is False and not martian_reply) or not d or not d.get("ip") \
                            or not is_loopback(ip_int(d["ip"])):
                        continue
                    exposed.append((iface, proto, d, ans))
            if not exposed:
                continue
            what = sorted({f"{d['ip']}:{d['port']}/{p}" + (f" ({d['by']})" if d.get("by") not in (None, "kernel") else "")
                           for _i, p, d, _a in exposed})
            where = sorted({i for i, *_ in exposed})
            iface0, _p, _d, ans0 = exposed[0]
            yield self.finding(
                f"{key}={sysctl.value}: a neighbour on {', '.join(where)} reaches the loopback-only "
                f"{'service' if len(what) == 1 else 'services'} {', '.join(what[:6])}"
                + (f" and {len(what) - 6} more" if len(what) > 6 else "")
                + " by sending to 127.0.0.1 (without route_localnet the kernel would drop it as a martian)",
                sysctl.span,
                fix=(f"Set {key}=0 if nothing needs it, or drop loopback destinations from elsewhere: "
                     "`iptables -t raw -A PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP`."),
                flow=flow_text(ans0, f"a neighbour on {iface0}"),
            )

    @staticmethod
    def _targets(ctx, host) -> list[tuple[str, str, int | None]]:
        out: list[tuple[str, str, int | None]] = []
        for ls in host.listeners:
            if ls.family == 4 and ls.proto in ("tcp", "udp") and is_loopback(ip_int(ls.address)):
                t = (ls.proto, ls.address, ls.port)
                if t not in out:
                    out.append(t)
        if not out:
            for d in dnat_rules(ctx, 4):
                t = (d.proto or "tcp", "127.0.0.1", d.port)
                if d.port is not None and t not in out:
                    out.append(t)
        return out[:MAX_TARGETS]


def _neighbour(host, iface: str) -> str:
    """An address on the link of ``iface`` that is not the host's own (else ``iface:NAME``)."""
    for r in host.routes:
        if r.dev == iface and r.table == "main" and r.type == "unicast" and r.plen > 0 and r.hi - r.lo >= 2:
            for a in range(r.lo + 1, min(r.hi, r.lo + 16)):
                if not host.is_local(a) and host.route(a).dev == iface:
                    return ip_str(a, host.family)
    return f"iface:{iface}"
