"""The answer to "can A reach B on port P": the JSON contract of ``dnlint query``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Answer:
    reachable: bool | None  # None: depends on an approximated match ("possible")
    verdict: str  # ACCEPT, DROP, REJECT, NO_ROUTE, MARTIAN, NO_LISTENER, BLACKHOLE, FORWARDING_DISABLED, UNKNOWN
    witness: dict | None  # src, dst, proto, sport, dport, in_iface, out_iface
    translations: list[dict] = field(default_factory=list)  # kind, from, to, rule{table,chain,index,line}
    delivered: dict | None = None  # ip, port, seen_src, by
    path: list[dict] = field(default_factory=list)  # table, chain, index, line, action
    blocked_by: dict | None = None  # table, chain, index, line, reason
    assumptions: list[str] = field(default_factory=list)
    approximated: list[str] = field(default_factory=list)
    query: dict = field(default_factory=dict)
    also_blocked_by: list[dict] = field(default_factory=list)
    # when the answer holds only for some source ports: reachable_from, blocked_from, blocked_by, summary
    source_ports: dict | None = None
    # a "no" as the sender sees it: refused, unreachable, error, connected (TCP: the handshake
    # completes, then nothing flows) or timeout
    how_it_ends: str | None = None
    ends_with: str | None = None  # the signal: tcp-reset, icmp-port-unreachable, ..., EPERM, EINVAL, ENETUNREACH
    leaf: object = field(default=None, repr=False, compare=False)  # the path a blocked answer came from

    def as_dict(self) -> dict:
        return {
            "reachable": self.reachable,
            "verdict": self.verdict,
            "witness": self.witness,
            "translations": self.translations,
            "delivered": self.delivered,
            "path": self.path,
            "blocked_by": self.blocked_by,
            "how_it_ends": self.how_it_ends,
            "ends_with": self.ends_with,
            "assumptions": self.assumptions,
            "approximated": self.approximated,
            "source_ports": self.source_ports,
            "query": self.query,
        }
