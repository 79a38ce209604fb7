from ..ir import Severity
from .input import InputCheck


class UnresolvedHostname(InputCheck):
    """A host name stands where an address should be; it is kept unresolved.

    ## What it does
    Reports every rule (in a hand-written rules file) that names a host (`-s
    backup.example.com`), and each host name an `iptables -L` listing taken without `-n`
    printed in place of an address.

    ## Why is this bad?
    iptables resolves a host name once, when the rule is added, and stores the addresses
    it got then; the name is not looked up again. dnlint cannot know which addresses those
    were, so it treats the match as "may match" and answers crossing the rule become
    "possible". On the host, a name that resolved to several addresses became several
    rules, and one that later moved still points at the old address.

    ## Example
    ```
    *filter
    :INPUT DROP [0:0]
    -A INPUT -s backup.example.com -p tcp -m tcp --dport 22 -j ACCEPT
    COMMIT
    ```

    ## How to fix
    Write the addresses (`-s 198.51.100.7/32`), or keep the names in an ipset that a
    script refreshes; for a listing, take it with `-n` (or use `iptables-save`).
    """

    code = "DN006"
    name = "input.unresolved-hostname"
    severity = Severity.WARNING
    summary = "A host name stands where an address should be; it is kept unresolved."
    fix = "Write addresses instead of host names (or list with `-n`)."
