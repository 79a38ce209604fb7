from ..ir import Severity
from .input import InputCheck


class TableInferred(InputCheck):
    """A listing's table was not named by its command and was inferred from its chains.

    ## What it does
    Reports an `iptables -L` listing that no command line introduces (pasted without the
    `iptables -t nat -L -n -v` that produced it), whose table dnlint guessed from its
    built-in chains and targets, and says what the guess rests on.

    ## Why is this bad?
    The same chain names exist in several tables (`INPUT` is in filter, nat, mangle and
    security): a nat listing read as filter makes its DNAT rules look like accept rules,
    and a mangle listing read as filter turns marks into verdicts. When the guess is wrong,
    every answer that crosses the table is wrong.

    ## Example
    ```
    Chain PREROUTING (policy ACCEPT 1520 packets, 91200 bytes)
     pkts bytes target     prot opt in     out     source               destination
       17  1020 DNAT       tcp  --  eth0   *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080 to:172.17.0.2:80
    ```
    Read as `nat` because of PREROUTING and DNAT.

    ## How to fix
    Keep the command line above each listing (`### iptables -t nat -L -n -v`), or dump the
    rules with `iptables-save`, which names every table.
    """

    code = "DN007"
    name = "input.table-inferred"
    severity = Severity.INFO
    summary = "A listing's table was not named by its command and was inferred from its chains."
    fix = "Keep the command line above each listing, or use `iptables-save`."
