from collections.abc import Iterator

from ..engine.query import EndpointError
from ..ir import Severity, Span
from ._docker_inventory import (accepting_step, ask, bridge_networks, container_space, leak_past_routed_publications,
                                step_span, table_first_line, where)
from ._kernel_docker import flow_text, source_class
from .base import Check, Finding

MAX_PAIRS = 400  # an invariant with wildcards never asks more than this many questions


class InvariantViolated(Check):
    """A reachability invariant of the ruleset (`[[invariant]]`) does not hold on this host.

    ## What it does
    Evaluates the declarative invariants of the ruleset and of the project configuration:
    each `[[invariant]]` names `from` and `to` endpoints (as `dnlint query` takes them:
    `host`, `outside`, an address or CIDR, `iface:NAME`, `container:NAME`, `network:NAME`),
    an optional `port` (absent: any port) and `proto` (default tcp), and `expect =
    "unreachable"` or `"reachable"`. `network:*` and `container:*` expand to every Docker
    bridge network and every container of the dump's inventory; when both ends are
    wildcards of the same kind, to the pairs of distinct ones (and `container:*` ->
    `network:*` leaves out the container's own networks). As a destination, a network
    means the addresses its containers may hold (its subnet without the gateway, which is a
    host address). With `network:*` as the destination, a network whose IPv4 gateway mode is
    `routed` (Docker 28) is isolated when only its published ports are reached: there `-p`
    opens the container port itself to every network that routes to it, by design. The
    engine answers each pair; a finding per violated pair, at the rule
    that let the packet through (or that blocked it), with the witness flow. When the answer
    depends on approximated matches the invariant could not be proved either way: reported
    as a warning.

    ## Why is this bad?
    An invariant is what the host's owner says must hold ("no two Docker networks reach each
    other", "the database is never reachable from outside"). A violation is a policy breach
    found before it is exploited; an unprovable one is a hole in the evidence.

    ## Example
    ```
    # dnlint.toml
    [[invariant]]
    name = "db-private"
    from = "outside"
    to = "container:db"
    expect = "unreachable"
    ```
    with a FORWARD chain that accepts traffic from the uplink to the container.

    ## How to fix
    Change the firewall so the invariant holds (the finding names the rule that lets the
    packet through or stops it), or correct the invariant if the policy changed.
    """

    code = "DN401"
    name = "policy.invariant-violated"
    severity = Severity.ERROR
    summary = "A reachability invariant of the ruleset does not hold."
    fix = "Change the rule the finding names so the invariant holds, or update the invariant."
    needs_engine = True

    def run(self, ctx):
        return iter(())  # invariants come from the configuration: see evaluate()

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, ctx, invariants) -> Iterator[Finding]:
        for inv in invariants:
            try:
                yield from self._one(ctx, inv)
            except Exception as e:  # never let one invariant hide the others
                yield self.finding(f"invariant {inv.name!r} could not be evaluated: {e}", None,
                                   severity=Severity.WARNING)

    def _expand(self, ctx, eng, inv) -> tuple[list[tuple[str, str]], list[str]]:
        nets = [n.name for n in bridge_networks(ctx, eng)]
        containers = sorted({e.container for e in eng.host.endpoints})
        networks_of: dict[str, set[str]] = {}
        for e in eng.host.endpoints:
            networks_of.setdefault(e.container, set()).add(e.network)

        def side(text: str) -> list[str]:
            if text == "network:*":
                return [f"network:{n}" for n in nets]
            if text == "container:*":
                return [f"container:{c}" for c in containers]
            return [text]

        pairs = []
        for s in side(inv.src):
            for d in side(inv.dst):
                if "*" in inv.src and "*" in inv.dst and s == d:
                    continue
                if s.startswith("container:") and d.startswith("network:") and "*" in inv.src + inv.dst:
                    if d.split(":", 1)[1] in networks_of.get(s.split(":", 1)[1], ()):
                        continue
                if d.startswith("container:") and s.startswith("network:") and "*" in inv.src + inv.dst:
                    if s.split(":", 1)[1] in networks_of.get(d.split(":", 1)[1], ()):
                        continue
                pairs.append((s, d))
        notes = []
        if len(pairs) > MAX_PAIRS:
            notes.append(f"only the first {MAX_PAIRS} of {len(pairs)} pairs were checked")
            pairs = pairs[:MAX_PAIRS]
        return pairs, notes

    def _one(self, ctx, inv) -> Iterator[Finding]:
        expect = (inv.expect or "unreachable").lower()
        if expect not in ("unreachable", "reachable"):
            yield self.finding(f"invariant {inv.name!r}: expect must be \"unreachable\" or \"reachable\", not "
                               f"{inv.expect!r}", None, severity=Severity.WARNING)
            return
        eng = ctx.engine(4)
        nets = {n.name: n for n in bridge_networks(ctx, eng)}
        pairs, notes = self._expand(ctx, eng, inv)
        label = f"invariant {inv.name!r}" + (f" ({inv.description})" if inv.description else "")
        port = f" port {inv.port}" if inv.port is not None else " any port"
        for src, dst in pairs:
            fallback = self._inventory_span(ctx, nets, src) or self._inventory_span(ctx, nets, dst)
            src_set = dst_set = None
            if src.startswith("network:") and (n := nets.get(src.split(":", 1)[1])) is not None:
                src_set = container_space(eng, n)
            if dst.startswith("network:") and (n := nets.get(dst.split(":", 1)[1])) is not None:
                dst_set = container_space(eng, n)
            if (src_set is not None and not src_set) or (dst_set is not None and not dst_set):
                continue
            try:
                ans = ask(eng, src, dst, inv.port, inv.proto or "tcp", src_set=src_set, dst_set=dst_set)
            except EndpointError as e:
                yield self.finding(f"{label}: {src} -> {dst} cannot be asked: {e}", table_first_line(ctx, 4, "filter"),
                                   severity=Severity.WARNING)
                continue
            pair = f"{src} -> {dst}{port}/{inv.proto or 'tcp'}"
            if ans.reachable is None:
                approx = ", ".join(ans.approximated[:3]) or "approximated matches"
                yield self.finding(
                    f"{label} could not be proved for {pair}: the answer depends on {approx} "
                    f"(expected {expect})", (self._span(ctx, ans) or fallback), severity=Severity.WARNING,
                    flow=flow_text(ans, src))
                continue
            if expect == "unreachable" and ans.reachable and inv.dst == "network:*" and dst_set is not None:
                # Docker's promise leaves the published ports of a routed network open
                published, leak = leak_past_routed_publications(ctx, eng, nets[dst.split(":", 1)[1]], src, dst_set,
                                                                inv.port, inv.proto or "tcp", src_set)
                if published:
                    if leak is None:
                        continue
                    ans = leak
            if expect == "unreachable" and ans.reachable:
                step = accepting_step(ans, "filter")
                through = f" through {where(step)}" if step else ""
                whole = self._whole(eng, nets, src, ans, src_set)
                yield self.finding(
                    f"{label} violated: {pair} is reachable{through}"
                    + (f" ({whole}, e.g. {(ans.witness or {}).get('src')})" if whole else "") + "; expected unreachable"
                    + (f" ({'; '.join(notes)})" if notes else ""),
                    (self._span(ctx, ans) or fallback), flow=flow_text(ans, src))
            elif expect == "reachable" and ans.reachable is False:
                b = ans.blocked_by or {}
                yield self.finding(
                    f"{label} violated: {pair} is blocked ({b.get('reason') or ans.verdict} at {where(b)}); "
                    "expected reachable", (self._span(ctx, ans) or fallback), flow=flow_text(ans, src))

    @staticmethod
    def _whole(eng, nets, src: str, ans, src_set) -> str | None:
        """The source class the witness stands for (the address-space view), arriving where it did."""
        host = eng.host
        if src == "outside":
            return source_class(host, ans, host.default_route_dev())
        if src.startswith("network:") and (n := nets.get(src.split(":", 1)[1])) is not None and src_set:
            return source_class(host, ans, n.bridge, within=src_set, within_label=f"container address of {n.cidrs()}")
        return None

    @staticmethod
    def _inventory_span(ctx, nets, endpoint: str) -> Span | None:
        kind, _, name = endpoint.partition(":")
        if kind == "network" and name in nets:
            return nets[name].span
        if kind == "container":
            for c in ctx.dump.facts.docker_containers:
                if c.name == name:
                    return c.span
            for n in ctx.dump.facts.docker_networks:
                if any(e.container == name for e in n.endpoints):
                    return n.span
        return None

    @staticmethod
    def _span(ctx, ans) -> Span | None:
        if ans.reachable is False:
            s = step_span(ctx, ans.blocked_by)
            if s is not None:
                return s
        step = accepting_step(ans, "filter") or accepting_step(ans, "nat")
        if ans.reachable is not False and step is not None:
            s = step_span(ctx, step)
            if s is not None:
                return s
        last = next((p for p in reversed(ans.path) if p.get("line")), None)
        return step_span(ctx, last) or table_first_line(ctx, 4, "filter") or table_first_line(ctx, 4, "nat")

