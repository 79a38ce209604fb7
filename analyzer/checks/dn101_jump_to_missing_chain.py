from ..ir import Severity
from ..parse.modules import KNOWN_TARGETS
from .base import Check


class JumpToMissingChain(Check):
    """A rule jumps (`-j`) or goes (`-g`) to a chain that does not exist in its table.

    ## What it does
    Finds rules whose target is neither a built-in target nor a chain of the same table.

    ## Why is this bad?
    `iptables-restore` refuses such a file as a whole (`Couldn't load target`), so the rules
    never load; in a listing it means the dump is incomplete. dnlint cannot say what the
    missing chain would do, so answers that cross the rule become "possible".

    ## Example
    ```
    *filter
    :INPUT ACCEPT [0:0]
    -A INPUT -p tcp --dport 80 -j WEB
    COMMIT
    ```
    `WEB` is never declared.

    ## How to fix
    Declare the chain (`:WEB - [0:0]`) with its rules, or correct the target's name.
    """

    code = "DN101"
    name = "structure.jump-to-missing-chain"
    severity = Severity.ERROR
    summary = "A rule jumps to a chain that does not exist in its table."
    fix = "Declare the chain, or correct the target's name."

    def run(self, ctx):
        for fam in ctx.families():
            tables = ctx.tables(fam)
            chains_of = {name: {c.name for c in t.chains} for name, t in tables.items()}
            for ref in ctx.rules(fam):
                t = ref.rule.target
                if t is None or t.name in KNOWN_TARGETS or t.options:
                    continue  # `-j X --opt ...` is a target extension, not a jump (DN003 says if unknown)
                if t.name not in chains_of[ref.table]:
                    verb = "goes to" if t.goto else "jumps to"
                    yield self.finding(f"{ref.where} {verb} chain {t.name}, which does not exist in table "
                                       f"{ref.table}", ref.rule.span)

