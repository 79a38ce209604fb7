from ..ir import Severity
from .input import InputCheck


class LossyListing(InputCheck):
    """Rules were read from an `iptables -L` listing, which cannot show everything a rule holds.

    ## What it does
    Reports, once per listed table, that its rules come from `iptables -L` output rather
    than `iptables-save`, and says what this listing could not show: interfaces and
    counters without `-v`, addresses and ports printed as names without `-n`, rounded
    counters without `-x`, and match options decoded from their printed form.

    ## Why is this bad?
    A listing drops facts the model needs. Without `-v` the `in`/`out` columns are missing,
    so a rule meant for `-i docker0` only looks as if it matched every interface; without
    `-n` an address may be a host name whose addresses are unknown. Answers built on such
    rules can be "possible" where the real ruleset gives a firm answer, or wrong when a
    printed form hides a setting.

    ## Example
    ```
    ### iptables -L -n
    Chain INPUT (policy DROP)
    target     prot opt source               destination
    ACCEPT     tcp  --  0.0.0.0/0            0.0.0.0/0            tcp dpt:22
    ```
    No `-v`: the rule's interfaces are unknown.

    ## How to fix
    Dump the rules with `iptables-save` (or `dnlint collect`); if only a listing can be had,
    take it with `iptables -L -n -v -x` for every table (`-t nat`, `-t mangle`, ...).
    """

    code = "DN004"
    name = "input.lossy-listing"
    severity = Severity.WARNING
    summary = "Rules read from an `iptables -L` listing, which cannot show everything a rule holds."
    fix = "Dump the rules with `iptables-save` (or `dnlint collect`) instead of `iptables -L`."
