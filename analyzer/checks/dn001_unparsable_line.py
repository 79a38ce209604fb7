from ..ir import Severity
from .input import InputCheck


class UnparsableLine(InputCheck):
    """A line of the dump could not be parsed; it was skipped and parsing went on.

    ## What it does
    Reports every line that the grammar of its section (iptables-save, a listing, `ip addr`,
    `ss`, ...) rejects, with the file, line and column, and a sentence saying what was expected.

    ## Why is this bad?
    A skipped line is a rule or fact the analysis does not see: a DROP rule that was not read
    makes every answer about the traffic it drops wrong. Usually the dump was cut, edited by
    hand, or wrapped by a terminal.

    ## Example
    ```
    *filter
    -A INPUT -p tcp --dport 22 -j ACC EPT
    ```
    `ACC EPT` is not a target followed by options: the rule is skipped.

    ## How to fix
    Take the dump again with `dnlint collect` (or `iptables-save` redirected to a file, not
    copied from a terminal), or mend the line.
    """

    code = "DN001"
    name = "input.unparsable-line"
    severity = Severity.ERROR
    summary = "A line of the dump could not be parsed; it was skipped."
    fix = "Take the dump again with `dnlint collect`, or mend the line."
