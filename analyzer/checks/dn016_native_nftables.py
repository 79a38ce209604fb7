from ..ir import Severity
from .input import InputCheck


class NativeNftables(InputCheck):
    """Native nftables base chains the iptables model does not see; answers through their hooks are unknown.

    ## What it does
    Reads the dump's `nft list ruleset` (or `nft -j list ruleset`) section and reports each
    table that registers base chains iptables-nft did not make, at the table's line, with
    each such chain's hook, priority and policy. Tables iptables-nft, ebtables-nft and
    arptables-nft create (`table ip filter` with `INPUT`, `FORWARD`, `OUTPUT` at priority
    filter, `table ip nat` with `PREROUTING` at dstnat...) are the iptables rules the rest of
    dnlint reads from `iptables-save`, and are not reported. It also says so when an
    `iptables-save` section is empty while the nft ruleset holds tables: the host's firewall
    is then native nftables only.

    ## Why is this bad?
    The kernel runs every base chain registered on a hook, iptables-nft's and native ones
    alike, in priority order; a packet dropped by any of them is dropped. A Debian
    `/etc/nftables.conf` (`table inet filter` with `policy drop`), firewalld (`table inet
    firewalld`), Docker 28's nftables backend (`table ip docker-bridges`) or kube-proxy's
    keep their rules there, where `iptables-save` never shows them, so an answer computed
    from the iptables rules alone can be confidently wrong: a port the iptables rules
    accept may be dropped by `inet filter`'s input chain. dnlint does not model native
    nftables rules yet, so answers whose path crosses such a hook are unknown, not proved.
    A reload of an nftables.conf that starts with `flush ruleset` also deletes the tables
    iptables-nft made, Docker's among them: `iptables-save` then prints nothing, the
    published ports and container NAT are gone, and only the native tables are left.

    ## Example
    ```
    ### iptables-save -c
    ### nft list ruleset
    table inet filter {
    	chain input {
    		type filter hook input priority filter; policy drop;
    		iif "lo" accept
    		ct state established,related accept
    		tcp dport 22 accept
    	}
    }
    ```

    ## How to fix
    Nothing is wrong with nftables itself: know that dnlint's answers do not cover these
    chains, and check the paths through them by hand (or with `nft monitor trace`). When
    Docker's rules vanished after `systemctl reload nftables`, restart Docker to recreate
    them, and replace `flush ruleset` in the nftables.conf by flushing only its own tables
    (the lines `table inet filter` and `flush table inet filter` before the table's
    definition).
    """

    code = "DN016"
    name = "input.native-nftables"
    severity = Severity.WARNING
    summary = "Native nftables base chains the iptables model does not see; answers through their hooks are unknown."
    fix = "Check paths through these nftables chains by hand; do not let an nftables.conf reload flush Docker's tables."
