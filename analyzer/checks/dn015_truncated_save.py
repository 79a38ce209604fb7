from ..ir import Severity
from .input import InputCheck


class TruncatedSave(InputCheck):
    """A table of iptables-save input never reaches COMMIT: the input is cut short.

    ## What it does
    Reports each `*table` of iptables-save / iptables-restore input that has no `COMMIT`:
    the input ends inside the table (a file cut by a full disk, a copy that stopped
    early, a paste cut in the middle of a line such as `-A FORWARD -i docker0 -o dock`,
    an `iptables-save` killed by a timeout), or the next `*table` line comes first. The
    finding points at the last line read (the cut), or at the `*table` line that came too
    early. `iptables -S` output and `iptables -L` listings have no COMMIT and are not
    concerned; an `iptables-save -t nat` section is one table with its COMMIT; a comment
    cut short after the last COMMIT loses nothing.

    The table is still read as far as it goes and is marked incomplete in the IR
    (`Table.complete` is false, `Ruleset.incomplete` names it); every answer that uses it
    says that it rests on a partial rule set.

    This mirrors iptables-restore 1.8.9 (nf_tables and legacy, `--test`): a table
    without COMMIT at the end is rejected ("COMMIT expected at line N"), and so is a
    `*table` line before the previous table's COMMIT ("Bad argument `*nat'"); a file whose
    last line is `COMMIT` without a final newline is accepted by iptables-nft-restore (the
    legacy one rejects it) and is not reported.

    ## Why is this bad?
    The rules after the cut are not in the input, and they are often the ones that
    matter: the nat table's MASQUERADE rules, the last DROP of a chain, the chains the
    earlier rules jump to. An analysis of the part that is there describes a firewall no
    host runs: the file cannot even be loaded (iptables-restore refuses it, so the host
    still runs its previous rules), and a port can look open that a missing rule closes.

    ## Example
    ```
    ### iptables-save
    *nat
    :PREROUTING ACCEPT [0:0]
    :POSTROUTING ACCEPT [0:0]
    -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
    -A POSTROUTING -s 172.17.0.0/16 ! -o dock
    ```

    ## How to fix
    Take the whole output again (`iptables-save > rules.v4`, or `dnlint collect`) and
    check that each table ends with its `COMMIT` line; in a hand-written restore file, add
    the missing `COMMIT` before the next `*table`.
    """

    code = "DN015"
    name = "input.truncated-save"
    severity = Severity.ERROR
    summary = "A table of iptables-save input never reaches COMMIT: the input is cut short."
    fix = "Take the whole iptables-save output again; each *table must end with its COMMIT line."
