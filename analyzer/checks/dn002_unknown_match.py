from ..ir import Severity
from .input import InputCheck


class UnknownMatch(InputCheck):
    """A rule uses a match module that dnlint does not model; rules using it are approximated.

    ## What it does
    Reports, once per module name, the first rule that loads a match module (`-m NAME`)
    dnlint gives no meaning to: an xtables-addons module such as `psd`, `pknock` or
    `ipp2p`, or one newer than dnlint. The module's options are kept as written.

    ## Why is this bad?
    dnlint cannot tell which packets such a rule matches, so it treats the match as
    "may or may not match": answers about traffic that crosses the rule become "possible"
    instead of a firm yes or no, and checks that need exact matches (shadowed or redundant
    rules) skip it. Nothing is wrong with the firewall itself.

    ## Example
    ```
    *filter
    :INPUT DROP [0:0]
    -A INPUT -p tcp -m psd --psd-weight-threshold 21 -j DROP
    -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
    COMMIT
    ```
    `psd` (port-scan detection, xtables-addons) is not modelled.

    ## How to fix
    Nothing to fix in the firewall. Keep the rule if it is wanted, and read answers that
    cross it as approximate; ignore the code (`--ignore DN002`) if that is understood.
    """

    code = "DN002"
    name = "input.unknown-match"
    severity = Severity.INFO
    summary = "A match module dnlint does not model; rules using it are approximated."
    fix = "Nothing to fix in the firewall; answers crossing the rule are approximate."
