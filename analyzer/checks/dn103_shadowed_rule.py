from ..ir import Severity
from ._structure import analyse, describe
from .base import Check


class ShadowedRule(Check):
    """A rule that can never match: earlier rules of its chain that end the chain take all its packets.

    ## What it does
    Proves, for each rule, that every packet it would match is already matched by earlier
    rules of the same chain whose target ends the chain (ACCEPT, DROP, REJECT, RETURN, a goto,
    a NAT target in the nat table), with a target different from its own. The proof covers
    addresses, ports, protocols, ICMP types, conntrack tuples, interfaces (with `+`
    wildcards and `!`), conntrack states, marks and other tests, and unions: two /25 rules
    shadow a rule on their /24. Interval arithmetic decides most cases; z3 decides the rest.

    It is sound: an earlier rule takes part only if dnlint models it fully (no unknown or
    stateful match such as `-m limit`, no unresolved host name) and its interface and other
    tests are implied by the later rule's; a rule testing a mark, a conntrack state or a set is
    not used across a rule that may change them (MARK, CONNMARK, CT, a jump to a chain that
    does); a port match does not take non-first fragments. A rule that cannot be decided
    within the time budget (`[options.DN103] budget-seconds`, 4 by default) is not reported.
    Rules shadowed only by rules with their own target are DN104; rules after an
    unconditional terminal rule are DN105.

    ## Why is this bad?
    The rule does nothing, and its target differs from what actually happens to its packets:
    the author meant these packets to be treated differently. A DROP below a broader ACCEPT
    blocks nothing; an ACCEPT below a broader DROP opens nothing.

    ## Example
    ```
    *filter
    :INPUT ACCEPT [0:0]
    -A INPUT -s 10.0.0.0/25 -j ACCEPT
    -A INPUT -s 10.0.0.128/25 -j ACCEPT
    -A INPUT -s 10.0.0.66/32 -p tcp --dport 22 -j DROP
    COMMIT
    ```
    The DROP never matches: 10.0.0.66 is already accepted by the first rule.

    ## How to fix
    Move the rule above the rules that shadow it (if its target is what is wanted), narrow
    those rules, or delete it.
    """

    code = "DN103"
    name = "structure.shadowed-rule"
    severity = Severity.WARNING
    summary = "A rule that never matches because earlier terminal rules of its chain take all its packets."
    fix = "Move the rule above the rules that shadow it, narrow them, or delete the rule."
    needs_engine = True

    def run(self, ctx):
        for fam in ctx.families():
            res = analyse(ctx, fam)
            for sh in res.shadowed.values():
                if sh.same_target:
                    continue
                yield self.finding(f"never matches: every packet it would match is taken by {describe(sh.by)}",
                                   sh.ref.rule.span, related=tuple(r.rule.span for r in sh.by))
