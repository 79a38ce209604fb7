from ..ir import Severity
from ._structure import referenced
from .base import Check


class UnusedChain(Check):
    """A user-defined chain that no rule of its table jumps (`-j`) or goes (`-g`) to.

    ## What it does
    Lists, per table, the user chains that no rule names as its target. Built-in chains are
    never reported, and a chain a listing says is referenced (`(N references)`) counts as used.
    Only direct references count: a chain jumped to only from another unused chain is not
    reported here (DN107 still treats its rules as dead).

    ## Why is this bad?
    The chain's rules never see a packet. Often it is left over from an old configuration, or a
    jump to it was lost (a typo in the jump, a script that stopped half-way), so rules the
    author believes are active do nothing.

    ## Example
    ```
    *filter
    :INPUT DROP [0:0]
    :SSH - [0:0]
    -A INPUT -p tcp --dport 22 -j ACCEPT
    -A SSH -s 10.0.0.0/8 -j ACCEPT
    COMMIT
    ```
    `SSH` is declared and filled but nothing jumps to it.

    ## How to fix
    Jump to the chain where it was meant to apply (`-A INPUT -p tcp --dport 22 -j SSH`), or
    delete it (`-F SSH`, `-X SSH`).
    """

    code = "DN102"
    name = "structure.unused-chain"
    severity = Severity.INFO
    summary = "A user chain that no rule jumps or goes to."
    fix = "Jump to the chain where it should apply, or delete it."

    def run(self, ctx):
        for fam in ctx.families():
            for tname, table in ctx.tables(fam).items():
                used = referenced(table)
                for c in table.chains:
                    if c.builtin or c.name in used:
                        continue
                    n = len(c.rules)
                    what = f"its {n} rule{'s' if n != 1 else ''} never see a packet" if n else "it is empty"
                    where = f"table {tname}" + (" (ip6tables)" if fam == 6 else "")
                    yield self.finding(f"chain {c.name} in {where} is never jumped or gone to: {what}", c.span)
