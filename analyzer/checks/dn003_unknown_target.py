import re

from ..ir import Severity
from ..parse.modules import KNOWN_TARGETS
from .base import CheckContext
from .input import InputCheck

_NAME = re.compile(r"target '([^']+)'")


class UnknownTarget(InputCheck):
    """A rule uses a target that dnlint does not model; rules using it are approximated.

    ## What it does
    Passes on the parser's note about a target (`-j NAME`) that is neither a target dnlint
    models nor a chain of the rule's table (at its first rule in each save section), when
    no other check reports it. A name that stands in a table dnlint models is already reported by DN101
    (jump to missing chain, an error), so DN003 stays silent for it; what remains are such
    targets in tables the model does not use, for instance the iptables-nft copy of a
    table that iptables-legacy also fills (see DN005).

    ## Why is this bad?
    dnlint cannot say what the target does with a packet (accept it, drop it, change it,
    or go on), so answers about traffic that reaches the rule become "possible". When the
    name is a typo or a chain that was not dumped, the table would not even load.

    ## Example
    ```
    ### iptables-legacy-save
    *filter
    :FORWARD DROP [0:0]
    -A FORWARD -j DOCKER-USER
    COMMIT
    ### iptables-nft-save
    *filter
    :INPUT DROP [0:0]
    -A INPUT -p tcp -m tcp --dport 23 -j TARPIT --tarpit
    COMMIT
    ```
    `TARPIT` (xtables-addons) is not modelled, in a filter table the model does not use.

    ## How to fix
    If the target is an extension you use on purpose, nothing is wrong in the firewall:
    read answers that cross the rule as approximate. If it is a misspelt target or a chain
    missing from the dump, correct the name or dump the whole ruleset.
    """

    code = "DN003"
    name = "input.unknown-target"
    severity = Severity.INFO
    summary = "A target dnlint does not model; rules using it are approximated."
    fix = "Nothing to fix for an extension target used on purpose; otherwise correct the name."

    def run(self, ctx: CheckContext):
        diags = [d for d in ctx.dump.diagnostics if d.code == self.code]
        if not diags:
            return
        # Where DN101 (jump to missing chain) reports a name, it is not reported again here.
        missing: set[tuple[int, str, str]] = set()
        for fam in ctx.families():
            tables = ctx.tables(fam)
            for ref in ctx.rules(fam):
                t = ref.rule.target
                if t is None or t.name in KNOWN_TARGETS:
                    continue
                if t.name not in {c.name for c in tables[ref.table].chains}:
                    missing.add((fam, ref.table, t.name))
        # The rule each diagnostic points at, in any ruleset (modelled or not).
        at: dict[tuple[str, int], tuple[int, str, str]] = {}
        for rs in ctx.dump.rulesets:
            for table in rs.tables:
                for chain in table.chains:
                    for rule in chain.rules:
                        if rule.target is not None and not rule.target.known:
                            at.setdefault((rule.span.file, rule.span.line), (rs.family, table.name, rule.target.name))
        for d in diags:
            key = at.get((d.span.file, d.span.line)) if d.span else None
            if key is None:
                m = _NAME.search(d.message)
                name = m.group(1) if m else None
                if name is not None and any(n == name for _f, _t, n in missing):
                    continue
            elif key in missing:
                continue
            yield self.finding(d.message, d.span, severity=d.severity if d.severity != self.severity else None)
