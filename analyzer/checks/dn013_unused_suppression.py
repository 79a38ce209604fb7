from ..ir import Severity
from .base import Check, CheckContext


class UnusedSuppression(Check):
    """An inline suppression silences nothing: no finding of its code is on that rule.

    ## What it does
    Reports each code named in a rule's `dnlint: disable=CODE reason` comment for which no
    finding of that code stands on the rule's line, and each named code that is not a
    dnlint code at all. The runner (`dnlint check`) reports it after every other check has
    run; this class documents the code.

    ## Why is this bad?
    A suppression that silences nothing is stale (the problem was fixed, or the rule moved)
    or mistyped (`DN11` for `DN101`, or the comment is on the wrong rule). Left in place it
    would hide a future finding of that code on the rule without anyone deciding so again.

    ## Example
    ```
    *filter
    :INPUT DROP [0:0]
    -A INPUT -p tcp -m tcp --dport 22 -m comment --comment "dnlint: disable=DN101 legacy chain kept for rollback" -j ACCEPT
    COMMIT
    ```
    The rule jumps to no chain: there is no DN101 finding to silence.

    ## How to fix
    Remove the code from the comment (or the whole `dnlint: disable=` part), or move the
    comment to the rule the finding is on and correct the code.
    """

    code = "DN013"
    name = "input.unused-suppression"
    severity = Severity.WARNING
    summary = "An inline `dnlint: disable=` suppression names a code that has no finding on its rule."
    fix = "Remove the stale code from the comment, or correct it."

    def run(self, ctx: CheckContext):
        return iter(())  # reported by the runner (dnlint.lint.lint_dump), which sees every finding
