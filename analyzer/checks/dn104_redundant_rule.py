from ..ir import Severity
from ._structure import analyse, describe
from .base import Check


class RedundantRule(Check):
    """A rule whose removal changes nothing: earlier rules with the same target already take its packets.

    ## What it does
    Uses DN103's proof: every packet the rule would match is matched earlier in the chain, and
    every earlier rule involved ends the chain with exactly the same target (name and
    options) as this rule. The commonest case is an exact duplicate of an earlier rule; a
    narrower rule below a broader one with the same verdict, or a /24 below its two /25
    halves, are the others. Rules that differ only in a match dnlint does not model (or in a
    stateful one such as `-m limit`) are never reported: two identical `-m limit` rules are
    not redundant. Non-terminating rules (LOG, MARK, jumps) are not reported either.

    ## Why is this bad?
    It is harmless but useless: the ruleset is longer and slower to read, and an edit to the
    live rule that forgets its twin leaves the reader believing the twin still matters. Scripts
    that append rules on every run (without checking `-C` first) produce long runs of them.

    ## Example
    ```
    *filter
    :INPUT DROP [0:0]
    -A INPUT -p tcp --dport 22 -j ACCEPT
    -A INPUT -s 192.0.2.0/24 -p tcp --dport 22 -j ACCEPT
    -A INPUT -p tcp --dport 22 -j ACCEPT
    COMMIT
    ```
    The second and third rules accept what the first one already accepted.

    ## How to fix
    Delete the rule (`iptables -D CHAIN N`); make scripts check with `iptables -C` before
    `-A`.
    """

    code = "DN104"
    name = "structure.redundant-rule"
    severity = Severity.INFO
    summary = "A rule already covered by earlier rules with the same target (for instance a duplicate)."
    fix = "Delete the rule; make scripts check with `iptables -C` before appending."
    needs_engine = True

    def run(self, ctx):
        for fam in ctx.families():
            res = analyse(ctx, fam)
            for sh in res.shadowed.values():
                if not sh.same_target:
                    continue
                if sh.duplicate:
                    msg = f"redundant: duplicate of {describe(sh.by)}"
                else:
                    t = sh.ref.rule.target
                    verb = f"goto {t.name}" if t.goto else t.name
                    msg = (f"redundant: every packet it matches is already taken by {describe(sh.by)} with the same "
                           f"target {verb}")
                yield self.finding(msg, sh.ref.rule.span, related=tuple(r.rule.span for r in sh.by))
