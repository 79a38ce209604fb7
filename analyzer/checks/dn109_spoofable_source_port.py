from ..ir import Severity
from .base import Check

#: chains whose ACCEPT (or, in DOCKER-USER, RETURN) lets a packet on towards a service
_ENTRY = ("INPUT", "FORWARD", "DOCKER-USER")
_REPLY_STATES = {"ESTABLISHED", "RELATED"}


class SpoofableSourcePort(Check):
    """A rule that opens a wide range of destination ports to anyone who sends from one source port.

    ## What it does
    Finds filter rules on the way to a service (INPUT, FORWARD, DOCKER-USER and the chains they
    jump to) that let a TCP or UDP packet through — ACCEPT, or RETURN out of DOCKER-USER, which
    hands the packet back to Docker's own accepting rules — because of its *source* port (`--sport
    53`, `--sports 53,123`), with no destination port (or a range of a thousand or more), no
    narrow source address, and no conntrack state that limits it to replies.

    ## Why is this bad?
    The source port is the sender's choice. A rule meant for "DNS answers" (`-p udp --sport 53
    --dport 1024:65535 -j RETURN`, a common line in ufw + Docker recipes) lets anyone reach every
    port above 1023 — published container ports included — by sending from port 53. Answers to
    the host's own queries need no such rule: they are ESTABLISHED (or RELATED) in conntrack.
    `dnlint query` shows the effect: such a flow is "reachable only from source port 53".

    ## Example
    ```
    *filter
    :DOCKER-USER - [0:0]
    -A DOCKER-USER -p udp -m udp --sport 53 --dport 1024:65535 -j RETURN
    -A DOCKER-USER -s 10.0.0.0/8 -j RETURN
    -A DOCKER-USER -m conntrack --ctstate NEW -j DROP
    COMMIT
    ```
    Any UDP datagram from port 53, from anywhere, skips the DROP and reaches the published ports.

    ## How to fix
    Match replies by their state instead of their port: `-m conntrack --ctstate
    RELATED,ESTABLISHED -j ACCEPT` (or RETURN), placed before the drops; or restrict the rule to the
    resolvers' addresses (`-s 192.0.2.53`).
    """

    code = "DN109"
    name = "structure.spoofable-source-port"
    severity = Severity.WARNING
    summary = "A rule opens many destination ports to any packet from one source port (the sender picks it)."
    fix = "Match replies with `-m conntrack --ctstate RELATED,ESTABLISHED` instead of `--sport`."

    def run(self, ctx):
        for fam in ctx.families():
            t = ctx.tables(fam).get("filter")
            if t is None:
                continue
            chains = {c.name: c for c in t.chains}
            seen: set[str] = set()
            todo = [n for n in _ENTRY if n in chains]
            while todo:
                name = todo.pop(0)
                if name in seen:
                    continue
                seen.add(name)
                for i, rule in enumerate(chains[name].rules, 1):
                    tgt = rule.target
                    if tgt is None:
                        continue
                    if tgt.name in chains and chains[tgt.name].policy is None:
                        todo.append(tgt.name)
                        continue
                    opens = tgt.name == "ACCEPT" or (tgt.name == "RETURN" and name == "DOCKER-USER")
                    if not opens:
                        continue
                    hole = _source_port_hole(rule, fam)
                    if hole is None:
                        continue
                    sports, dports = hole
                    proto = rule.protocol.name
                    yield self.finding(
                        f"filter {name} #{i} lets any {proto} packet from source port {sports} through to "
                        f"{dports} ({'a RETURN that skips the rules after it' if tgt.name == 'RETURN' else 'ACCEPT'}): "
                        "the sender picks its source port, so anyone can send from it; answers to the host's own "
                        "requests are ESTABLISHED and need no such rule", rule.span)


def _source_port_hole(rule, family: int) -> tuple[str, str] | None:
    """(source ports, destination ports) when ``rule`` opens destination ports by source port."""
    if rule.protocol is None or rule.protocol.negated or rule.protocol.name not in ("tcp", "udp"):
        return None
    if rule.src is not None and not rule.src.negated and "/" in rule.src.value:
        plen = rule.src.value.rsplit("/", 1)[1]
        if plen.isdigit() and int(plen) >= (16 if family == 4 else 48):
            return None  # a narrow source: the rule trusts those addresses, not the port
    elif rule.src is not None and not rule.src.negated:
        return None  # one address
    sports = dports = None
    for m in rule.matches:
        if m.module in ("conntrack", "state"):
            o = m.option("--ctstate") or m.option("--state")
            if o is not None and o.args and not o.negated and set(o.args[0].split(",")) <= _REPLY_STATES:
                return None  # replies only
        for name in ("--sport", "--sports", "--source-port", "--source-ports"):
            o = m.option(name)
            if o is not None and o.args and not o.negated:
                sports = o.args[0]
        for name in ("--dport", "--dports", "--destination-port", "--destination-ports"):
            o = m.option(name)
            if o is not None and o.args:
                dports = (o.args[0], o.negated)
    if sports is None:
        return None
    if any(":" in p for p in sports.split(",")) or len(sports.split(",")) > 4:
        return None  # a range of source ports: not one spoofable port
    if dports is None:
        return sports, "every destination port"
    text, negated = dports
    width = 0
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        try:
            width += (int(hi or 65535) if hi or part.endswith(":") else int(lo)) - int(lo or 0) + 1
        except ValueError:
            return None
    if negated:
        width = 65536 - width
    if width < 1000:
        return None
    return sports, f"destination ports {'all but ' if negated else ''}{text.replace(':', '-')}"
