from ..ir import Severity
from .base import Check, CheckContext


class SuppressionWithoutReason(Check):
    """An inline suppression gives no reason for silencing its codes.

    ## What it does
    Reports each rule whose comment holds `dnlint: disable=CODE` with no text after the
    codes. The suppression still works: the findings it names are silenced. The runner
    (`dnlint check`) reports it; this class documents the code.

    ## Why is this bad?
    A silenced finding is a decision someone made about the firewall. Without the reason,
    the next reader cannot tell a deliberate exception ("port kept open for the backup
    host") from a finding someone wanted out of the way, and cannot tell when the
    suppression may go.

    ## Example
    ```
    *filter
    :INPUT DROP [0:0]
    -A INPUT -p tcp -m tcp --dport 80 -m comment --comment "dnlint: disable=DN101" -j WEB
    COMMIT
    ```

    ## How to fix
    Write why after the codes: `dnlint: disable=DN101 WEB is created by the deploy script`.
    """

    code = "DN014"
    name = "input.suppression-without-reason"
    severity = Severity.WARNING
    summary = "An inline `dnlint: disable=` suppression gives no reason."
    fix = "Write the reason after the codes: `dnlint: disable=CODE why`."

    def run(self, ctx: CheckContext):
        return iter(())  # reported by the runner (dnlint.lint.lint_dump)
