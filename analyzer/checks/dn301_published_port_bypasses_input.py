from ..engine.explore import explore
from ..engine.query import EndpointError, query
from ..ir import Severity, Span
from ..model.intervals import IntervalSet, cidr_interval, ip_int, ip_str
from ..model.path import Flow, Outcome, Path
from ..model.values import PROTOCOLS
from ._kernel_docker import dnat_rules, flow_text, is_loopback, outside_address, reaching_class, rule_dst_point
from .base import Check, chains_reachable_from


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

    The client asked about is an ordinary one first (a public address, an ephemeral source
    port). When it gets through because a DOCKER-USER rule names the port or the container
    (`ufw route allow ... port 80` under the ufw-docker recipe, `-m conntrack
    --ctorigdstport 8080 -j RETURN`), the port was opened on purpose and nothing is said.
    When DOCKER-USER stops it but lets other outside packets through, the finding names
    them and the rule that lets them in: a source port (the recipe's `--sport 53 --dport
    1024:65535 -j RETURN`, which anyone can send from) or source addresses (its
    `-s 10.0.0.0/8 -j RETURN`, which a neighbour on the uplink has). Addresses are named as
    the whole class the address-space view (`matrix --space --path full`) finds for that port
    arriving on the uplink ("from the private addresses 10.0.0.0/8, 172.16.0.0/12 and
    192.168.0.0/16 arriving on the uplink eth0"), with the rule that drops every other source,
    so that a deliberate exception reads as one.

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
            # any client beyond the uplink, or only some (a DOCKER-USER filter with a hole)?
            typ = _typical_answer(eng, host, dev, addr, port, proto)
            if typ is not None and typ.reachable is True and typ.delivered:
                if _opened_on_purpose(ctx, typ.path):
                    continue  # a DOCKER-USER rule (`ufw route allow`, --ctorigdstport) opens this port
                ans, some = typ, None
            elif typ is not None and typ.reachable is False:
                ans, some = _who_gets_through(ctx, eng, ans, addr, port, proto)
            else:
                some = None  # what an ordinary client meets is not known: the witness speaks alone
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
            ufw = _has_ufw(ctx)
            said = f"would {verdict.lower()} it" + ("; no `ufw allow` covers it" if ufw else "")
            d = ans.delivered
            who = f"container {d['container']}" if d.get("container") else f"{d['ip']}:{d['port']}"
            related = (Span(hit.rule.span.file, step.line),) if step is not None and step.line else ()
            if some is not None:
                related += tuple(Span(hit.rule.span.file, r.span.line) for r, _who, _o in some if r is not None)
                clients = " and ".join(who.rstrip(",") + (f" ({_rule_said(r)})" if r is not None else "")
                                       for r, who, _o in some)
                others = "; ".join(o for _r, _w, o in some if o)
                yield self.finding(
                    f"published port {w['dst']}:{w['dport']}/{proto} looks closed ({closes} {said}) and "
                    f"DOCKER-USER drops it for ordinary clients, but lets outside packets {clients} through "
                    f"to {dnat_t['to']}: {who} is reachable from outside by those" + (f"; {others}" if others else ""),
                    hit.rule.span,
                    fix=("Narrow the DOCKER-USER rule that lets them through: a source-port match is spoofable "
                         "(anyone can send from port 53), and a private source range takes in neighbours on the "
                         f"uplink too (`! -i {dev}` keeps it to the host's own bridges)."),
                    flow=flow_text(ans, "outside"),
                    related=related,
                )
                continue
            yield self.finding(
                f"published port {w['dst']}:{w['dport']}/{proto} looks closed ({closes} {said}) but this DNAT "
                f"sends outside traffic to {dnat_t['to']} through FORWARD, where INPUT never applies: {who} is "
                "reachable from outside",
                hit.rule.span,
                fix=(f"Drop it where it is decided: `iptables -I DOCKER-USER -i {dev} -p {proto} -m conntrack "
                     f"--ctorigdstport {w['dport']} -j DROP`"
                     + (" (with ufw: `ufw route` rules see it only once after.rules sends DOCKER-USER to "
                        "ufw-user-forward, as the ufw-docker recipe does)" if ufw else "")
                     + ", or publish it on 127.0.0.1 only."),
                flow=flow_text(ans, "outside"),
                related=related,
            )


# a client of the internet: a public address (TEST-NET-2) and an ephemeral source port
TYPICAL_CLIENT = "198.51.100.7"
EPHEMERAL_PORT = 40000
PRIVATE = [cidr_interval(c, 4) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
DPORT_OPTIONS = {"--dport", "--destination-port", "--dports", "--destination-ports", "--ctorigdstport"}
SPORT_OPTIONS = {"--sport", "--source-port", "--sports", "--source-ports", "--ctorigsrcport", "--ports"}


def _has_ufw(ctx) -> bool:
    filt = ctx.tables(4).get("filter")
    return filt is not None and any(c.name == "ufw-user-input" for c in filt.chains)


def _typical_answer(eng, host, dev: str, addr: str, port: int, proto: str):
    """The answer for an ordinary internet client (public source, ephemeral port), or None
    when the host does not route such an address out of the default route's interface."""
    src = ip_int(TYPICAL_CLIENT)
    if host.is_local(src) or host.route(src).dev != dev:
        return None
    try:
        return query(eng, TYPICAL_CLIENT, addr, port, proto, sport=EPHEMERAL_PORT)
    except EndpointError:
        return None


def _docker_user_steps(ctx, path: list[dict]):
    """(step, rule) for the path's ACCEPT in DOCKER-USER or a chain it calls, or its RETURN
    out of DOCKER-USER: the rule that let the packet through the user's filter."""
    filt = ctx.tables(4).get("filter")
    if filt is None or not any(c.name == "DOCKER-USER" for c in filt.chains):
        return []
    sub = chains_reachable_from(filt, "DOCKER-USER")
    chains = {c.name: c for c in filt.chains}
    out = []
    for st in path:
        if st.get("table") != "filter" or st.get("chain") not in sub or not st.get("index"):
            continue
        if st.get("action") == "ACCEPT" or (st.get("action") == "RETURN" and st["chain"] == "DOCKER-USER"):
            rules = chains[st["chain"]].rules
            if 0 < st["index"] <= len(rules):
                out.append((st, rules[st["index"] - 1]))
    return out


def _options(rule) -> set[str]:
    return {o.name for m in rule.matches for o in m.options if not o.negated}


def _opened_on_purpose(ctx, path: list[dict]) -> bool:
    """A DOCKER-USER rule naming the destination port or the container let it through (what
    `ufw route allow ... port 80` and `--ctorigdstport 8080 -j RETURN` write)."""
    for _st, rule in _docker_user_steps(ctx, path):
        opts = _options(rule)
        single_dst = rule.dst is not None and not rule.dst.negated and rule.dst.value.endswith("/32")
        if (opts & DPORT_OPTIONS or single_dst) and not opts & SPORT_OPTIONS:
            return True
    return False


def _who_gets_through(ctx, eng, ans, addr: str, port: int, proto: str):
    """Which outside packets get through when an ordinary client does not: from another
    source port (a typical client's address, any port), from another address (any outside
    address, an ephemeral port). Returns (answer to show, [(DOCKER-USER rule or None, who)])."""
    holes, shown = [], None
    for src, sport in ((TYPICAL_CLIENT, None), ("outside", EPHEMERAL_PORT)):
        try:
            a = query(eng, src, addr, port, proto, sport=sport)
        except EndpointError:
            continue
        if a.reachable is not True or not a.witness:
            continue
        w = a.witness
        other = None
        if sport is None:
            who = f"from source port {w['sport']}"
        else:
            who, other = _source_class_text(eng.host, w, addr, port, proto)
        steps = _docker_user_steps(ctx, a.path)
        holes.append((steps[-1][1] if steps else None, who, other))
        shown = shown or a
    if not holes:
        w = ans.witness
        steps = _docker_user_steps(ctx, ans.path)
        holes.append((steps[-1][1] if steps else None, f"from {w['src']} port {w['sport']}", None))
    return shown or ans, holes


def _source_class_text(host, w: dict, addr: str, port: int, proto: str) -> tuple[str, str | None]:
    """The whole class of sources that get through, not the one witness: the address-space view's
    sources of this service to this address arriving on the uplink; and what drops the others."""
    from ..engine.space import unusable_sources

    private = any(lo <= ip_int(w["src"]) <= hi for lo, hi in PRIVATE)
    dev = host.default_route_dev()
    cls = reaching_class(host, ip_int(w["src"]), ip_int(addr), proto, port, dev, w.get("sport"))
    if cls is None:
        return f"from {w['src']}" + (", a private address arriving on the uplink" if private else ""), None
    kind = "the private addresses " if private else ""
    text = f"from {kind}{cls.text(fill=unusable_sources(host))} arriving on the uplink {dev}"
    if cls.possible:
        text += f" ({cls.possible.size()} of those addresses only possibly)"
    other = cls.denied_text()
    return text, (f"other sources are dropped by {other}" if other else None)


def _rule_said(rule) -> str:
    return f"{rule.chain} line {rule.span.line}"


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
