from ..ir import Severity
from .input import InputCheck


class PartialOutput(InputCheck):
    """A section holds filtered output (piped through grep, head, ...): rules may be missing.

    ## What it does
    Reports each firewall section whose command line pipes the output through a filter
    (`iptables-save | grep DOCKER`, `iptables -L -n | head -50`), so that it holds only part
    of the ruleset.

    ## Why is this bad?
    Rules the filter removed are invisible to the analysis: a DROP rule in INPUT that did not
    mention `DOCKER`, the chain policies, or the `*table` lines themselves. Answers and
    checks then describe a firewall that is not the one on the host: a port can look open
    that a missing rule closes, and a jump can look like it goes to a missing chain.

    ## Example
    ```
    ### iptables-save | grep DOCKER
    :DOCKER - [0:0]
    -A FORWARD -o docker0 -j DOCKER
    -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
    ```

    ## How to fix
    Give the whole output (`iptables-save` without a filter), or take the dump with
    `dnlint collect`.
    """

    code = "DN012"
    name = "input.partial-output"
    severity = Severity.WARNING
    summary = "A section holds filtered output (piped through grep, head, ...): rules may be missing."
    fix = "Give the whole, unfiltered output, or take the dump with `dnlint collect`."
