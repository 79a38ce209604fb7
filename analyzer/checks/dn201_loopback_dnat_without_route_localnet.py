from ..engine.query import EndpointError, query
from ..ir import Severity, Span
from ..model.intervals import ip_str
from ..model.host import LOOPBACK_V4
from ..model.intervals import cidr_interval
from ._kernel_docker import dnat_rules, flow_text, is_loopback, rule_dports, rule_dst_point, rule_proto
from .base import Check

LOCALHOST = 0x7F000001


class LoopbackDnatWithoutRouteLocalnet(Check):
    """The host's connections to 127.0.0.1 are DNATed out of a non-loopback interface whose route_localnet is 0, so the kernel drops them silently.

    ## What it does
    For every DNAT rule of the nat table, asks the engine what happens to the host's own
    connection to `127.0.0.1` on the rule's port. When nat OUTPUT sends it to the DNAT and
    the new destination leaves through an interface (a Docker bridge, say) whose
    `net.ipv4.conf.<iface>.route_localnet` is 0, the kernel drops the packet when it looks
    the route up again after nat OUTPUT: a 127.0.0.0/8 source may not leave a non-loopback
    device. The finding stands at the DNAT rule and names the interface, the sysctl and the
    nat OUTPUT rule that led there.

    ## Why is this bad?
    The drop is silent: the DNAT counter moves, POSTROUTING never sees the packet, the
    container sees nothing, TCP connects time out (UDP senders get EINVAL). This is Docker
    with `--userland-proxy=false` once route_localnet is turned off on its bridge (the seed's
    experiment 5): `curl 127.0.0.1:8080` hangs while the host's other addresses work.

    ## Example
    ```
    *nat
    :OUTPUT ACCEPT [0:0]
    :DOCKER - [0:0]
    -A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER
    -A DOCKER -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.18.0.2:80
    COMMIT
    ### sysctl -a
    net.ipv4.conf.br-064f9014c32c.route_localnet = 0
    ```

    ## How to fix
    Keep loopback out of the DNAT (`-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL
    -j DOCKER`, what Docker does with its userland proxy on) and connect to the host's
    address, or set `net.ipv4.conf.<iface>.route_localnet=1`, knowing that it lets
    neighbours on that link reach 127.0.0.1 services (DN202).
    """

    code = "DN201"
    name = "kernel.loopback-dnat-without-route-localnet"
    severity = Severity.ERROR
    summary = "Loopback traffic is DNATed out of an interface with route_localnet=0: the kernel drops it silently."
    fix = "Exclude 127.0.0.0/8 from the nat OUTPUT DNAT and use the host's address, or set route_localnet=1 there."
    needs_engine = True

    def run(self, ctx):
        if 4 not in ctx.families():
            return
        dnats = [d for d in dnat_rules(ctx, 4) if d.to_addr is not None and not is_loopback(d.to_addr)]
        if not dnats:
            return
        tables = ctx.tables(4)
        nat_output = tables.get("nat") and tables["nat"].chain("OUTPUT")
        if nat_output is None or not nat_output.rules:
            return
        eng = ctx.engine(4)
        host = eng.host
        by_line = {d.rule.span.line: d for d in dnats}
        reported: set[int] = set()
        asked: set[tuple] = set()
        for line, proto, port in _loopback_dnats(tables["nat"], set(by_line)):
            d = by_line[line]
            out_dev = host.route(d.to_addr).dev
            if out_dev is None or out_dev == "lo" or host.route_localnet(out_dev):
                continue  # the DNATed packet may leave through that device: no martian
            if len(asked) >= MAX_QUERIES:
                break
            dst = rule_dst_point(d.rule)
            if dst is None or not is_loopback(dst):
                dst = LOCALHOST
            proto = proto or "tcp"
            key = (proto, port, dst)
            if key in asked:
                continue
            asked.add(key)
            try:
                ans = query(eng, "host", ip_str(dst, 4), port, proto)
            except EndpointError:
                continue
            if ans.verdict != "MARTIAN":
                continue
            dnat_t = next((t for t in ans.translations if t["kind"] == "DNAT" and t.get("rule")), None)
            if dnat_t is None:
                continue
            line = dnat_t["rule"]["line"]
            hit = by_line.get(line)
            if hit is None or line in reported:
                continue
            reported.add(line)
            iface = host.route(hit.to_addr).dev or "?"
            key_dev = f"net.ipv4.conf.{iface}.route_localnet"
            sysctl = ctx.dump.facts.sysctl(key_dev)
            related: list[Span] = []
            if sysctl is not None:
                setting = f"{key_dev}={sysctl.value} (line {sysctl.span.line})"
                related.append(sysctl.span)
            else:
                setting = f"{key_dev} is not in the dump and is taken as 0"
            out_step = next((s for s in ans.path if s.get("table") == "nat" and s.get("chain") == "OUTPUT"), None)
            if out_step and out_step.get("line"):
                via = f"nat OUTPUT rule #{out_step['index']} (line {out_step['line']})"
                related.append(Span(hit.rule.span.file, out_step["line"]))
            else:
                via = "nat OUTPUT"
            port = f":{ans.witness['dport']}" if ans.witness and ans.witness.get("dport") is not None else ""
            effect = ("the sender's send() fails with EINVAL while the DNAT counter moves" if proto == "udp" else
                      "silently, the DNAT counter moves, nothing arrives and connects time out")
            yield self.finding(
                f"{via} sends the host's connections to {ip_str(dst, 4)}{port}/{proto} to this DNAT "
                f"(to {dnat_t['to']}), which routes them out of {iface}; {setting}, so the kernel drops them "
                "as martians (a 127.0.0.0/8 source may not leave a non-loopback interface): " + effect,
                hit.rule.span,
                fix=(f"Add `! -d 127.0.0.0/8` to {via} and connect to the host's address, or set "
                     f"{key_dev}=1 (exposes 127.0.0.1 to {iface}: DN202)."),
                flow=flow_text(ans, "host", f"dropped as martian on {iface} ({key_dev}=0)"),
                related=tuple(related),
            )


MAX_QUERIES = 64  # distinct (protocol, port) pairs asked per dump; kube-proxy has one per NodePort


def _admits_loopback(rule) -> bool:
    """False when the rule's ``-d`` excludes every 127.0.0.0/8 destination."""
    dst = rule.dst
    if dst is None:
        return True
    iv = cidr_interval(dst.value, 4)
    if iv is None:
        return True
    overlaps = iv[0] <= LOOPBACK_V4[1] and iv[1] >= LOOPBACK_V4[0]
    covers = iv[0] <= LOOPBACK_V4[0] and iv[1] >= LOOPBACK_V4[1]
    return not covers if dst.negated else overlaps


def _loopback_dnats(nat, dnat_lines: set[int]):
    """DNAT rules reachable from nat OUTPUT by a packet to 127.0.0.0/8, with the protocol and the
    destination port the way there pins down: ``(line, proto, port)``."""
    chains = {c.name: c for c in nat.chains}
    seen: set[tuple] = set()
    out: list[tuple[int, str | None, int | None]] = []
    todo = [("OUTPUT", None, None)]
    while todo:
        item = todo.pop()
        if item in seen or item[0] not in chains or len(seen) > 2000:
            continue
        seen.add(item)
        name, proto, port = item
        for r in chains[name].rules:
            if r.target is None or not _admits_loopback(r):
                continue
            rp = rule_proto(r)
            if rp is not None and proto is not None and rp != proto:
                continue
            ports = rule_dports(r)
            if ports is not None and port is not None and not any(lo <= port <= hi for lo, hi in ports):
                continue
            p2 = proto or rp
            port2 = port if port is not None else (ports[0][0] if ports else None)
            if r.span.line in dnat_lines:
                out.append((r.span.line, p2, port2))
            elif r.target.name in chains and chains[r.target.name].policy is None:
                todo.append((r.target.name, p2, port2))
    return out
