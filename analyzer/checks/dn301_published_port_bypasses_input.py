from ..engine.explore import explore
from ..engine.query import EndpointError, query
from ..ir import Severity, Span
from ..model.intervals import IntervalSet, ip_int, ip_str
from ..model.path import Flow, Outcome, Path
from ..model.values import PROTOCOLS
from ._kernel_docker import dnat_rules, flow_text, is_loopback, outside_address, rule_dst_point
from .base import Check


class PublishedPortBypassesInput(Check):
    """A published port that the INPUT firewall seems to close is reachable from outside through DNAT and FORWARD (the ufw trap).

    ## What it does
    For every DNATed published port (the nat table's DNAT rules, Docker's port bindings and
    docker-proxy lines), asks the engine whether `outside` reaches it on the host's address.
    When it does, through DNAT and FORWARD, the check runs the same packet through the INPUT
    hook alone, as if it were delivered to the host: if INPUT (its policy, ufw's or
    firewalld's chains, a DROP for that port) would drop or reject it, the port is open
    although the INPUT firewall says it is closed. The finding stands at the DNAT rule, with
    the witness flow and the INPUT rule or policy that does not apply.

    ## Why is this bad?
    DNAT happens in nat PREROUTING, before the routing decision: a packet to a published port
    is routed to the container and crosses FORWARD, never INPUT. `ufw deny 8080`, `iptables
    -P INPUT DROP` or a firewalld zone leave Docker's published ports open to the internet.

    ## Example
    ```
    *filter
    :INPUT DROP [0:0]
    :FORWARD DROP [0:0]
    -A INPUT -p tcp --dport 22 -j ACCEPT
    -A FORWARD -o docker0 -j DOCKER
    -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp --dport 80 -j ACCEPT
    COMMIT
    *nat
    -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
    -A DOCKER ! -i docker0 -p tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
    COMMIT
    ```

    ## How to fix
    Filter published ports where they are really decided: in DOCKER-USER, on the original
    destination (`-m conntrack --ctorigdstport 8080 -j DROP`, with `-i <uplink>`), or publish
    on 127.0.0.1 / a private address only (`-p 127.0.0.1:8080:80`), or not at all.
    """

    code = "DN301"
    name = "docker.published-port-bypasses-input"
    severity = Severity.WARNING
    summary = "A published port the INPUT firewall closes is reachable from outside through DNAT and FORWARD."
    fix = "Filter it in DOCKER-USER with `-m conntrack --ctorigdstport PORT`, or publish on 127.0.0.1 only."
    needs_engine = True

    def run(self, ctx):
        if 4 not in ctx.families():
            return
        dnats = dnat_rules(ctx, 4)
        if not dnats:
            return
        eng = ctx.engine(4)
        host = eng.host
        default = outside_address(host)
        if default is None:
            return
        dev = host.default_route_dev()
        by_line = {d.rule.span.line: d for d in dnats}
        asked: set[tuple] = set()
        reported: set[int] = set()
        for proto, addr, port in _candidates(ctx, host, dnats, default):
            if (proto, addr, port) in asked:
                continue
            asked.add((proto, addr, port))
            try:
                ans = query(eng, "outside", addr, port, proto)
            except EndpointError:
                continue
            if ans.reachable is not True or not ans.delivered:
                continue
            dnat_t = next((t for t in ans.translations if t["kind"] == "DNAT" and t.get("rule")), None)
            if dnat_t is None or ans.delivered.get("by") == "docker-proxy":
                continue  # a proxy's socket is behind INPUT: not the trap
            hit = by_line.get(dnat_t["rule"]["line"])
            if hit is None or hit.rule.span.line in reported:
                continue
            w = ans.witness
            verdict, step = _input_verdict(eng, dev, proto, ip_int(w["src"]), ip_int(w["dst"]), w["sport"], w["dport"])
            if verdict not in ("DROP", "REJECT"):
                continue
            reported.add(hit.rule.span.line)
            if step is not None and step.index is None:
                closes = f"the {step.table} INPUT policy {verdict} (line {step.line})"
            elif step is not None:
                closes = f"{step.table} {step.chain} #{step.index} (line {step.line}, {verdict})"
            else:
                closes = f"INPUT ({verdict})"
            d = ans.delivered
            who = f"container {d['container']}" if d.get("container") else f"{d['ip']}:{d['port']}"
            related = (Span(hit.rule.span.file, step.line),) if step is not None and step.line else ()
            yield self.finding(
                f"published port {w['dst']}:{w['dport']}/{proto} looks closed ({closes} would "
                f"{verdict.lower()} it) but this DNAT sends outside traffic to {dnat_t['to']} through FORWARD, "
                f"where INPUT never applies: {who} is reachable from outside",
                hit.rule.span,
                fix=(f"Drop it where it is decided: `iptables -I DOCKER-USER -i {dev} -p {proto} -m conntrack "
                     f"--ctorigdstport {w['dport']} -j DROP`, or publish it on 127.0.0.1 only."),
                flow=flow_text(ans, "outside"),
                related=related,
            )


def _candidates(ctx, host, dnats, default: str) -> list[tuple[str, str, int | None]]:
    out = []
    for d in dnats:
        if d.to_addr is None or d.port is None:
            continue  # a published port always names its port (a port-less DNAT is a k8s endpoint)
        dst = rule_dst_point(d.rule)
        addr = default
        if dst is not None:
            if is_loopback(dst) or not host.is_local(dst):
                continue
            addr = ip_str(dst, 4)
        out.append((d.proto or "tcp", addr, d.port))
    for c in ctx.dump.facts.docker_containers:
        for b in c.ports:
            if b.proto in ("tcp", "udp") and b.host_ip in ("", "0.0.0.0") and b.host_port:
                out.append((b.proto, default, b.host_port))
    for p in host.proxies:
        if p.proto in ("tcp", "udp") and p.host_ip in ("", "0.0.0.0"):
            out.append((p.proto, default, p.host_port))
    return out


def _input_verdict(eng, iface: str, proto: str, src, dst, sport, dport):
    """The verdict of the INPUT hook alone for one packet arriving on ``iface`` (no DNAT, as if local)."""
    host = eng.host
    init = {"src": IntervalSet.point(src), "dst": IntervalSet.point(dst), "proto": IntervalSet.point(PROTOCOLS[proto]),
            "sport": IntervalSet.point(sport or 40000), "dport": IntervalSet.point(dport)}

    def body(run):
        flow = Flow(proto=proto)
        flow.in_iface, flow.out_iface = iface, None
        path = Path(host, run, eng.compiler)
        verdict, step = path.hooks(flow, "INPUT", ("mangle", "filter", "security"))
        return Outcome(verdict, flow, step)

    result = explore(host.family, init, body, max_runs=64)
    verdicts = {lf.outcome.verdict for lf in result.leaves}
    if len(verdicts) == 1 and not result.truncated:
        lf = result.leaves[0]
        if lf.outcome.flow.approximations:
            return "UNKNOWN", None
        return lf.outcome.verdict, lf.outcome.blocked_by
    return "UNKNOWN", None
