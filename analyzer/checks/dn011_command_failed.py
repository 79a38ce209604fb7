from ..ir import Severity
from .input import InputCheck


class CommandFailed(InputCheck):
    """A command of the dump failed or was missing when the dump was collected.

    ## What it does
    Reports each `### <command>` section that `dnlint collect` marked with a `##! <reason>`
    line right after its header: the program was not installed, it exited with an error,
    was not permitted, or timed out.

    ## Why is this bad?
    The facts that command would have given are missing and the analysis assumes defaults
    instead (see DN009): no `ss` means every port is taken as listening, no `ipset save`
    means `-m set` matches are approximated. Often it only means the tool is not installed,
    which is fine; a permission error means the dump was not taken as root.

    ## Example
    ```
    ### ipset save
    ##! not installed
    ### ss -tulnp
    ##! exit status 1: Cannot open netlink socket: Operation not permitted
    ```

    ## How to fix
    Run `dnlint collect` as root, and install the missing tool if the host uses it
    (`ipset` when rules use `-m set`); ignore the finding for tools the host does not need.
    """

    code = "DN011"
    name = "input.command-failed"
    severity = Severity.INFO
    summary = "A command of the dump failed or was missing when the dump was collected."
    fix = "Run `dnlint collect` as root; install the tool if the host uses it."
