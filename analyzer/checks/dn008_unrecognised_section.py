from ..ir import Severity
from .input import InputCheck


class UnrecognisedSection(InputCheck):
    """A section of the dump is output of a command dnlint does not read.

    ## What it does
    Reports each `### <command>` section whose command dnlint has no reader for (for
    instance `systemctl status`, `nft list ruleset` or `conntrack -L`), and, in a pasted
    terminal transcript, lines after a command's output that are not part of it.

    ## Why is this bad?
    Whatever the section says is not part of the analysis. That is harmless for notes, but
    if the section holds firewall rules in a form dnlint does not read (nftables rules, for
    example) the analysis misses them, and its answers may not hold on the host.

    ## Example
    ```
    ### iptables-save
    *filter
    :INPUT DROP [0:0]
    COMMIT
    ### systemctl is-active docker firewalld
    active
    inactive
    ```

    ## How to fix
    Nothing, if the section is only context. If it holds rules or facts that matter, add
    them in a form dnlint reads (`iptables-save`, `ip addr`, `ip route`, `ss -tulnp`,
    `sysctl`, `docker network inspect`, ...) or take the dump with `dnlint collect`.
    """

    code = "DN008"
    name = "input.unrecognised-section"
    severity = Severity.INFO
    summary = "A section of the dump is output of a command dnlint does not read."
    fix = "Nothing if it is context; otherwise give the facts in a form dnlint reads."
