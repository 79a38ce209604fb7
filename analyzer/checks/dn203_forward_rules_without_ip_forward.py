import re

from ..ir import Severity
from ._kernel_docker import flag
from .base import Check, chains_reachable_from

_FWD = re.compile(r"^net\.ipv([46])\.conf\.([^.]+)\.forwarding$")


class ForwardRulesWithoutIpForward(Check):
    """The FORWARD chain holds rules but IP forwarding is off, so no routed packet ever meets them.

    ## What it does
    Reads the forwarding sysctls of the dump (`net.ipv4.ip_forward`, `net.ipv4.conf.all.forwarding`,
    `net.ipv6.conf.all.forwarding`). When forwarding is off for a family, no interface turns it
    back on, and that family's FORWARD chains (filter, mangle, security, Docker's chains) hold
    rules, it reports at the sysctl line. Without a forwarding sysctl in the dump it says
    nothing; nor when every rule FORWARD reaches (following its jumps) only jumps on or
    returns, deciding nothing: the skeleton Docker 27+ writes into ip6tables on a host
    without IPv6 networks (FORWARD -> DOCKER-USER, DOCKER-FORWARD -> empty chains). ufw's
    own FORWARD chains (ufw-before-forward, ufw6-track-forward...), which ufw writes on every
    host, count as such a skeleton; the `ufw route` rules in ufw-user-forward do not.

    ## Why is this bad?
    With forwarding off the kernel drops every packet it would have to route before FORWARD:
    the FORWARD rules are dead weight that looks like policy, and whatever they were written
    for (Docker's published ports and container egress, a router's filter) does not work.
    Only frames bridged through br_netfilter still cross FORWARD.

    ## Example
    ```
    *filter
    :FORWARD DROP [0:0]
    -A FORWARD -i eth1 -o eth0 -j ACCEPT
    COMMIT
    ### sysctl net.ipv4.ip_forward
    net.ipv4.ip_forward = 0
    ```

    ## How to fix
    Enable forwarding (`sysctl -w net.ipv4.ip_forward=1`, persisted in /etc/sysctl.d) if the
    host is meant to route, or remove the FORWARD rules if it is not.
    """

    code = "DN203"
    name = "kernel.forward-rules-without-ip-forward"
    severity = Severity.WARNING
    summary = "FORWARD has rules but IP forwarding is disabled: the rules never see a routed packet."
    fix = "Enable net.ipv4.ip_forward (or net.ipv6.conf.all.forwarding), or remove the FORWARD rules."

    def run(self, ctx):
        facts = ctx.dump.facts
        for fam in (4, 6):
            keys = ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding") if fam == 4 else (
                "net.ipv6.conf.all.forwarding",)
            setting = next((s for k in keys if (s := facts.sysctl(k)) is not None), None)
            if setting is None or flag(setting) is not False:
                continue
            on = sorted({m.group(2) for s in facts.sysctls if (m := _FWD.match(s.key)) and int(m.group(1)) == fam
                         and m.group(2) not in ("all", "default") and flag(facts.sysctl(s.key))})
            if on:
                continue  # some interface still forwards: its packets meet FORWARD
            tables = ctx.tables(fam) if fam in ctx.families() else {}
            counts = []
            acting = False
            for tname in ("mangle", "filter", "security"):
                t = tables.get(tname)
                chain = t.chain("FORWARD") if t else None
                if chain is not None and chain.rules:
                    counts.append(f"{len(chain.rules)} in {tname} FORWARD")
                    acting = acting or _acts(t, chain)
            if not counts or not acting:
                continue
            docker = sorted({c.name for c in (tables.get("filter").chains if tables.get("filter") else ())
                             if c.name.startswith("DOCKER") and c.rules})
            extra = f" (and Docker's chains {', '.join(docker)})" if docker else ""
            bridged = ""
            bnc = facts.sysctl("net.bridge.bridge-nf-call-iptables" if fam == 4 else
                               "net.bridge.bridge-nf-call-ip6tables")
            if flag(bnc):
                bridged = "; only frames bridged between ports of one bridge (br_netfilter) still cross FORWARD"
            yield self.finding(
                f"{setting.key}={setting.value}, yet the IPv{fam} FORWARD chains hold rules "
                f"({', '.join(counts)}){extra}: the kernel drops routed packets before FORWARD, so these "
                f"rules never see one{bridged}",
                setting.span,
                fix=(f"Enable forwarding (`sysctl -w {keys[0]}=1`, persisted in /etc/sysctl.d) if the host routes, "
                     "or remove the FORWARD rules."),
            )


# what ufw writes into FORWARD on every host, whether it routes or not; its user's `ufw route`
# rules live in ufw-user-forward (ufw6-user-forward for IPv6)
UFW_USER_FORWARD = ("ufw-user-forward", "ufw6-user-forward")


def _acts(table, chain) -> bool:
    """Does a rule reachable from ``chain`` (through jumps and gotos) do anything but jump on,
    return or count? A FORWARD made only of such rules, or of ufw's own skeleton (the
    ufw-before-forward ... ufw-track-forward chains every ufw host has), decides nothing
    anyone wrote for forwarding."""
    reachable = chains_reachable_from(table, chain.name)
    return any(r.target is not None and r.target.name != "RETURN" and r.target.name not in reachable
               and (not name.startswith("ufw") or name in UFW_USER_FORWARD)
               for name in reachable for r in table.chain(name).rules)
