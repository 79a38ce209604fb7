from ..ir import Severity
from ._structure import edges
from .base import Check


class JumpLoop(Check):
    """User chains that jump (`-j`) or go (`-g`) to each other in a cycle.

    ## What it does
    Follows every jump and goto between the user chains of a table and reports each cycle
    once, at the rule that closes it (the jump back to a chain already on the path), naming
    the chains of the cycle.

    ## Why is this bad?
    The kernel refuses a ruleset with a loop (it checks for loops when a table is loaded and
    answers ELOOP): `iptables-restore` fails and loads nothing of the table, and `iptables -A`
    refuses the rule that would close the loop. A file holding one cannot be applied; a dump
    holding one was edited by hand or mixes readings from different moments.

    ## Example
    ```
    *filter
    :INPUT ACCEPT [0:0]
    :A - [0:0]
    :B - [0:0]
    -A INPUT -j A
    -A A -p tcp -j B
    -A B -p tcp --dport 22 -j A
    COMMIT
    ```
    `A` jumps to `B`, which jumps back to `A`.

    ## How to fix
    Break the cycle: replace the jump back with the verdict it was meant to reach (`-j
    RETURN`, `-j ACCEPT`, ...), or split the shared rules into a third chain both can jump to.
    """

    code = "DN106"
    name = "structure.jump-loop"
    severity = Severity.ERROR
    summary = "User chains that jump or go to each other in a cycle."
    fix = "Break the cycle: replace the jump back with a verdict or move shared rules to a third chain."

    def run(self, ctx):
        for fam in ctx.families():
            for tname, table in ctx.tables(fam).items():
                yield from self._table(tname, table)

    def _table(self, tname, table):
        g = edges(table)
        order = [c.name for c in table.chains if c.builtin] + [c.name for c in table.chains if not c.builtin]
        state: dict[str, int] = {}  # 1: on the DFS stack, 2: done
        reported: set[frozenset] = set()
        for root in order:
            if root in state:
                continue
            stack = [(root, iter(g.get(root, ())))]
            path = [root]
            state[root] = 1
            while stack:
                node, it = stack[-1]
                step = next(it, None)
                if step is None:
                    stack.pop()
                    path.pop()
                    state[node] = 2
                    continue
                _i, rule, dst = step
                st = state.get(dst)
                if st == 1:
                    cycle = path[path.index(dst):]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        names = " -> ".join([*cycle, dst])
                        verb = "goes" if rule.target.goto else "jumps"
                        yield self.finding(f"jump loop in table {tname}: {names} (this rule in {node} {verb} back "
                                           f"to {dst}); iptables-restore refuses the table", rule.span)
                elif st is None:
                    state[dst] = 1
                    path.append(dst)
                    stack.append((dst, iter(g.get(dst, ()))))
