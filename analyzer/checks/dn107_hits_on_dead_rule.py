from ..ir import Severity
from ._structure import analyse
from .base import Check


class HitsOnDeadRule(Check):
    """A rule whose packet counters are above zero although the model says it can never match.

    ## What it does
    For every rule with counters (`iptables-save -c`, or a `-v` listing) whose packet count is
    above zero, checks whether dnlint proves it dead: shadowed by earlier rules (DN103/DN104),
    placed after an unconditional terminal rule (DN105), in a chain reached from no built-in
    chain (DN102, also through other unused chains), or with conditions that cannot all hold
    (for instance an empty ipset, or `! -p all`).

    ## Why is this bad?
    The kernel counted packets on a rule that cannot match, so something disagrees: the dump's
    counters and rules come from different moments (rules were changed after the packets were
    counted, or counters were restored with `-c` from an older file), a set or an address the
    proof relies on changed, or dnlint's model approximates a match wrongly (a bug: please
    report it with the dump). Either way, answers about this chain deserve a second look.

    ## Example
    ```
    *filter
    :INPUT ACCEPT [0:0]
    [120:7200] -A INPUT -s 10.0.0.0/8 -j ACCEPT
    [35:2100] -A INPUT -s 10.1.0.0/16 -j DROP
    COMMIT
    ```
    The DROP is shadowed by the ACCEPT above it, yet it counted 35 packets.

    ## How to fix
    Take a fresh dump with rules and counters read at the same moment (`iptables-save -c`);
    zero the counters (`iptables -Z`) after changing rules. If the dump is consistent, report
    the rule to dnlint: the model got it wrong.
    """

    code = "DN107"
    name = "structure.hits-on-dead-rule"
    severity = Severity.WARNING
    summary = "A rule with packet counters above zero that the model says can never match."
    fix = "Take a fresh `iptables-save -c` (rules and counters at one moment); if it persists, report a model bug."
    needs_engine = True

    def run(self, ctx):
        for fam in ctx.families():
            if not any(r.rule.counters and r.rule.counters.packets > 0 for r in ctx.rules(fam)):
                continue
            res = analyse(ctx, fam)
            for ref in ctx.rules(fam):
                cnt = ref.rule.counters
                if cnt is None or cnt.packets <= 0:
                    continue
                why = res.dead(ref)
                if why is None:
                    continue
                yield self.finding(
                    f"counted {cnt.packets} packet{'s' if cnt.packets != 1 else ''} but can never match: {why}. "
                    "Counters and rules may come from different moments, or the model approximates this rule "
                    "(a dnlint bug if the dump is consistent)", ref.rule.span)
