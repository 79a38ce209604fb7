from ..ir import Severity
from ._structure import analyse, edges
from .base import Check, RuleRef


class UnusedButLive(Check):
    """A rule that can match but counted no packet while its chain saw traffic (audit information).

    ## What it does
    Only for dumps with counters (`iptables-save -c`, or a `-v` listing), and only in tables
    where some counter is above zero: reports each rule whose packet count is zero although
    its chain counted packets (another rule of the chain, the policy of a built-in chain, or
    a jump to the chain), and which dnlint does not prove dead (dead rules with hits are
    DN107; dead rules are DN103-DN105). Not in the recommended ruleset: zero hits over a short
    uptime prove nothing.

    ## Why is this bad?
    It is not necessarily bad: the rule may guard against traffic that has not come yet. In an
    audit, though, a rule that never fired since the counters were last zeroed is a candidate
    for removal, or a sign that the traffic it was written for takes another path (a wrong
    interface, a port that changed, a rule above that takes the packets first).

    ## Example
    ```
    *filter
    :INPUT DROP [0:0]
    [9120:800000] -A INPUT -p tcp --dport 22 -j ACCEPT
    [0:0] -A INPUT -p tcp --dport 8080 -j ACCEPT
    COMMIT
    ```
    Port 8080 was opened but nothing used it while SSH counted 9120 packets.

    ## How to fix
    Check whether the traffic still exists; remove the rule if not. Zero the counters
    (`iptables -Z`) and look again after a representative period.
    """

    code = "DN108"
    name = "structure.unused-but-live"
    severity = Severity.INFO
    summary = "A rule with zero hits in a chain that counted traffic (audit information)."
    fix = "Check whether the traffic still exists; remove the rule if not."
    needs_engine = True

    def run(self, ctx):
        for fam in ctx.families():
            res = None
            for tname, table in ctx.tables(fam).items():
                rules = [r for c in table.chains for r in c.rules]
                if not rules or not any(r.counters is not None for r in rules):
                    continue
                if not any((r.counters and r.counters.packets) for r in rules) and not any(
                        c.counters and c.counters.packets for c in table.chains):
                    continue
                callers: dict[str, int] = {}
                for src, lst in edges(table).items():
                    for _i, r, dst in lst:
                        callers[dst] = callers.get(dst, 0) + (r.counters.packets if r.counters else 0)
                for c in table.chains:
                    seen = max((r.counters.packets for r in c.rules if r.counters), default=0)
                    if c.builtin and c.counters:
                        seen = max(seen, c.counters.packets)
                    seen = max(seen, callers.get(c.name, 0))
                    if seen <= 0:
                        continue
                    for i, r in enumerate(c.rules, 1):
                        if r.counters is None or r.counters.packets != 0:
                            continue
                        if res is None:
                            res = analyse(ctx, fam)
                        if res.dead(RuleRef(fam, tname, c, i, r)) is not None:
                            continue
                        yield self.finding(f"{tname} {c.name} #{i} counted no packet while its chain counted "
                                           f"{seen}", r.span)
