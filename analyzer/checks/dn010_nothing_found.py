from ..ir import Severity
from .input import InputCheck


class NothingFound(InputCheck):
    """Nothing dnlint reads (rules or host facts) was found in the file.

    ## What it does
    Reports a file in which no iptables-save output, `iptables -S` rules, `iptables -L`
    listing or `### <command>` section of host facts could be found.

    ## Why is this bad?
    There is nothing to analyse: every other check finds nothing, and a clean result would
    be meaningless. Usually the wrong file was given, the paste was lost, or the rules are
    in a format dnlint does not read (nftables, firewalld XML, a ufw configuration).

    ## Example
    ```
    Hi, my containers can't reach the internet since I installed ufw.
    (forgot to paste the rules)
    ```

    ## How to fix
    Give dnlint the output of `iptables-save` (and `ip6tables-save`), or a host dump written
    by `dnlint collect`.
    """

    code = "DN010"
    name = "input.nothing-found"
    severity = Severity.ERROR
    summary = "Nothing dnlint reads (rules or host facts) was found in the file."
    fix = "Give dnlint `iptables-save` output or a dump from `dnlint collect`."
