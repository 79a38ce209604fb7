from ..ir import Severity
from ._structure import analyse, describe
from .base import Check


class UnreachableAfterTerminal(Check):
    """Rules that follow a rule with no conditions that ends the chain, so they are never reached.

    ## What it does
    Finds, in each chain, the first rule with no match condition at all (no protocol, address,
    interface or match module, comments aside) whose target ends the chain: ACCEPT, DROP,
    REJECT, RETURN, a goto (`-g`), or a NAT target in the nat table. Every rule after it is
    dead; one finding per chain, on the first of them, says how many there are.

    ## Why is this bad?
    A catch-all verdict in the middle of a chain silently disables everything below it. The
    usual cause is a script that appends (`-A`) rules after a final `-j DROP`, or a rule meant
    to be inserted (`-I`) at the top. (DN103/DN104 leave these rules to this check.)

    ## Example
    ```
    *filter
    :INPUT ACCEPT [0:0]
    -A INPUT -i lo -j ACCEPT
    -A INPUT -j DROP
    -A INPUT -p tcp --dport 22 -j ACCEPT
    COMMIT
    ```
    The SSH rule comes after the unconditional DROP and never sees a packet.

    ## How to fix
    Move the catch-all rule to the end of the chain (or use the chain's policy instead), or
    insert the later rules before it.
    """

    code = "DN105"
    name = "structure.unreachable-after-terminal"
    severity = Severity.WARNING
    summary = "Rules after an unconditional ACCEPT/DROP/REJECT/RETURN/goto in the same chain."
    fix = "Move the catch-all rule to the end of the chain, or insert the later rules before it."
    needs_engine = True

    def run(self, ctx):
        for fam in ctx.families():
            res = analyse(ctx, fam)
            for at in res.after_terminal.values():
                n = at.count
                t = at.terminal.rule.target
                verb = f"goto {t.name}" if t.goto else t.name
                yield self.finding(
                    f"{'this rule is' if n == 1 else f'this rule and the {n - 1} after it are'} never reached: "
                    f"{describe([at.terminal])} ends the chain with an unconditional {verb}", at.first.rule.span)
