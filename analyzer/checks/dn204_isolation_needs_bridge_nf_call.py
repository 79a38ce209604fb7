from ..engine.query import query
from ..ir import Rule, Severity
from ..model.intervals import cidr_interval, ip_str
from ..model.matches import iface_matches
from ._kernel_docker import flow_text, rule_dports, rule_proto
from .base import Check, chains_reachable_from

BLOCKING = ("DROP", "REJECT")


class IsolationNeedsBridgeNfCall(Check):
    """Rules meant to isolate ports of one bridge are ineffective because bridge-nf-call-iptables is 0.

    ## What it does
    When the dump's `net.bridge.bridge-nf-call-iptables` (or `-ip6tables`) is 0, finds filter
    rules that drop or reject traffic between two ports of the same bridge: `-i br -o br -j
    DROP` (Docker's `--icc=false`), or a DROP/REJECT whose source and destination both lie in
    one bridge network's subnet (DOCKER-USER or DOCKER-ISOLATION rules written against
    container addresses). It asks the engine whether two containers of that bridge still
    reach each other and gives the flow.

    ## Why is this bad?
    Traffic between two ports of one bridge is switched at layer 2. It meets iptables only
    when br_netfilter is loaded and bridge-nf-call-iptables=1; with 0 the rule never sees a
    packet, and the containers it was meant to separate talk freely (the seed's host had
    exactly this: same-bridge traffic skipped FORWARD).

    ## Example
    ```
    *filter
    :FORWARD DROP [0:0]
    -A FORWARD -i docker0 -o docker0 -j DROP
    COMMIT
    ### sysctl net.bridge.bridge-nf-call-iptables
    net.bridge.bridge-nf-call-iptables = 0
    ```

    ## How to fix
    Load br_netfilter and set `net.bridge.bridge-nf-call-iptables=1` (persist it in
    /etc/sysctl.d and /etc/modules-load.d), or isolate by other means (separate Docker
    networks, ebtables/nftables bridge rules).
    """

    code = "DN204"
    name = "kernel.isolation-needs-bridge-nf-call"
    severity = Severity.WARNING
    summary = "Same-bridge isolation rules never see a packet because bridge-nf-call-iptables=0."
    fix = "Load br_netfilter and set net.bridge.bridge-nf-call-iptables=1, or isolate by other means."
    needs_engine = True

    def run(self, ctx):
        facts = ctx.dump.facts
        for fam in ctx.families():
            key = "net.bridge.bridge-nf-call-iptables" if fam == 4 else "net.bridge.bridge-nf-call-ip6tables"
            s = facts.sysctl(key)
            if s is None or s.value.strip() not in ("0",):
                continue
            filt = ctx.tables(fam).get("filter")
            if filt is None:
                continue
            eng = ctx.engine(fam)
            host = eng.host
            bridges = sorted(host.bridges | {b for b, *_ in host.networks.values() if b})
            subnets = {b: [] for b in bridges}
            for _name, (bridge, nets, _gws, _i) in host.networks.items():
                if bridge:
                    subnets.setdefault(bridge, []).extend(nets)
            for bridge in bridges:
                for lo, hi in _connected(host, bridge):
                    if (lo, hi) not in subnets[bridge]:
                        subnets[bridge].append((lo, hi))
            reachable = _forward_chains(filt)
            for ref in ctx.rules(fam):
                r = ref.rule
                if ref.table != "filter" or ref.chain.name not in reachable or r.target is None \
                        or r.target.name not in BLOCKING:
                    continue
                bridge, why = _same_bridge(r, bridges, subnets, fam)
                if bridge is None:
                    continue
                flow = self._flow(eng, host, bridge, r)
                yield self.finding(
                    f"{ref.where} {r.target.name.lower()}s traffic between ports of bridge {bridge} ({why}), but "
                    f"{key}={s.value} (line {s.span.line}): frames between two ports of one bridge never meet "
                    "iptables, so this rule never matches them",
                    r.span, flow=flow, related=(s.span,),
                )

    @staticmethod
    def _flow(eng, host, bridge: str, rule: Rule) -> str | None:
        eps = [e for e in host.endpoints if e.bridge == bridge]
        if len(eps) < 2:
            return None
        a, b = eps[0], eps[1]
        ports = rule_dports(rule)
        proto = rule_proto(rule)
        proto = proto if proto in ("tcp", "udp") else "tcp"
        try:
            ans = query(eng, f"container:{a.container}", ip_str(b.ip, host.family), ports[0][0] if ports else 80,
                        proto)
        except Exception:
            return None
        if ans.reachable is False:
            return None
        return flow_text(ans, f"container:{a.container}")


def _connected(host, bridge: str) -> list[tuple[int, int]]:
    return [(r.lo, r.hi) for r in host.routes if r.dev == bridge and r.table == "main" and r.type == "unicast"]


def _forward_chains(filt) -> set[str]:
    return chains_reachable_from(filt, "FORWARD")


def _same_bridge(rule: Rule, bridges: list[str], subnets: dict, fam: int) -> tuple[str | None, str]:
    i, o = rule.in_iface, rule.out_iface
    if i is not None and o is not None and not i.negated and not o.negated:
        for b in bridges:
            if iface_matches(i, b) and iface_matches(o, b):
                return b, f"-i {i.name} -o {o.name}"
        return None, ""
    if rule.src is None or rule.dst is None or rule.src.negated or rule.dst.negated:
        return None, ""
    s, d = cidr_interval(rule.src.value, fam), cidr_interval(rule.dst.value, fam)
    if s is None or d is None:
        return None, ""
    for b in bridges:
        if i is not None and not i.negated and not iface_matches(i, b):
            continue
        if o is not None and not o.negated and not iface_matches(o, b):
            continue
        for lo, hi in subnets.get(b, []):
            if lo <= s[0] and s[1] <= hi and lo <= d[0] and d[1] <= hi:
                return b, f"-s {rule.src.value} -d {rule.dst.value}, both in the subnet of {b}"
    return None, ""
