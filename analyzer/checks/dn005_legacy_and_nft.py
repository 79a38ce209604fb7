from ..ir import Severity
from .input import InputCheck


class LegacyAndNft(InputCheck):
    """Both iptables-legacy and iptables-nft tables hold rules; the kernel runs both.

    ## What it does
    Reports a dump whose `iptables-legacy-save` and `iptables-nft-save` sections (or save
    headers naming `legacy` and `nf_tables`) both hold rules for the same address family,
    or whose `iptables-nft-save` output warns that legacy tables are present
    (`# Warning: iptables-legacy tables present, use iptables-legacy-save to see them`)
    while the legacy rules are not in the dump.

    ## Why is this bad?
    The two backends are separate sets of kernel hooks: a packet passes the legacy tables
    and the nf_tables ones, and is dropped if either drops it. Each tool shows only its own
    backend, so the firewall you read is not the firewall that runs. It usually happens when
    Docker (or an old package) uses one backend and the distribution's firewall the other.
    dnlint models the first table of each name it finds and ignores the other.

    ## Example
    ```
    ### iptables-legacy-save
    *filter
    :FORWARD DROP [0:0]
    -A FORWARD -o docker0 -j DOCKER
    COMMIT
    ### iptables-nft-save
    *filter
    :INPUT DROP [0:0]
    -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
    COMMIT
    ```

    ## How to fix
    Choose one backend for every tool on the host (`update-alternatives --set iptables
    /usr/sbin/iptables-nft`, then restart Docker and the firewall service), and flush the
    other backend's tables. If the warning came without the legacy rules, collect
    `iptables-legacy-save` as well.
    """

    code = "DN005"
    name = "input.legacy-and-nft"
    severity = Severity.WARNING
    summary = "Both iptables-legacy and iptables-nft tables are present; the kernel runs both."
    fix = "Use one iptables backend for every tool on the host and flush the other's tables."
