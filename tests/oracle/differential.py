"""Differential testing of dnlint against the kernel.

    res = run_case(seed)                      # namespaces + random rules + real probes
    dis = compare(res.dump, res.probes)       # dnlint's query_dump for every probe
    print(report(res, dis)); save_regression(res, dis)

``run_case(seed)``: builds the topology of :mod:`topology` for the case drawn from
``seed`` (:func:`rulegen.make_case`), loads the generated rules with ``iptables-restore``
in the host namespace, sends TCP and UDP probes from every sender (the host, each
container, outside) to every destination (127.0.0.1 from the host, the host's addresses,
the containers, outside) on ports the host listens on and ports it does not (containers
and outside listen on all of them), each from a known source port, plus one ICMP echo
request per sender and destination (its echo id is the probe's ``sport``; ``reached``
means the echo reply came back, which is dnlint's question for ``proto="icmp"``: the
request arrives and its reply gets back; ``delivered_*``/``seen_src`` come from a raw
ICMP socket in the namespace that got the request, after any DNAT, since a DNAT without
``-p`` moves pings too), and records what the kernel did. Then it dumps the host
namespace with dnlint's own collector (after the probes, so counters include them).

A probe record has the fields of ``fixtures/docker/*.probes.json`` (``from``, ``to``,
``port``, ``proto``, ``reached``, ``delivered_to``, ``seen_src``, ``connected``, ``reply``,
``error``, ``note``) plus ``src`` (the endpoint dnlint is asked about: ``host`` or the
sender's address; the plain topology has no Docker inventory, so containers are given by
IP), ``delivered_ip``/``delivered_port`` (where the listener got it, after any DNAT),
``send_error`` (UDP: the error of send itself, e.g. EPERM from an OUTPUT drop), ``sport``
(the probe's source port; ICMP: its echo id), ``reply_from`` (the source of the answer as
the sender saw it: the echo reply's, or the UDP/TCP answer's), ``udp_socket`` (UDP:
``connected`` or ``unconnected``, see topology.py), ``ended`` (how it ended: netns.ENDINGS)
and ``routed`` (outside can route replies to 10.99.0.0/16).

query_dump is asked with ``sport=`` when it accepts that keyword; otherwise its answer is
existential over source ports, and a disagreement whose witness uses another source port
than the probe, on a ruleset that matches source ports, is counted as skipped.

``compare(dump, probes)`` asks :func:`dnlint.engine.query.query_dump` each probe's question
and returns the disagreements (a list, with counts of agreements, "possible" answers and
skipped probes as attributes). A ``None`` answer ("possible") is never a disagreement. A
disagreement of a kind in :data:`PENDING_PROBE_KINDS` (issue 8's probes, which dnlint's model
does not know yet) goes to ``.pending`` instead: counted and printed, never failed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

try:
    from tests.netns import Lab
    from tests.oracle import rulegen
    from tests.oracle.topology import (CONTAINER_IPS, GW0, GW1, HOST_UP, OUTSIDE_IP, PROBE_PORTS,
                                       SPORT_BASE, Case, Topology, build_host)
except ImportError:  # tests/ as rootdir
    from netns import Lab  # type: ignore
    from oracle import rulegen  # type: ignore
    from oracle.topology import (CONTAINER_IPS, GW0, GW1, HOST_UP, OUTSIDE_IP, PROBE_PORTS,  # type: ignore
                                 SPORT_BASE, Case, Topology, build_host)

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = ROOT / "fixtures" / "regressions"
HOST_ADDRS = (HOST_UP, GW0, GW1)
CONTAINER_NET = ipaddress.ip_network("10.99.0.0/16")


# --------------------------------------------------------------------------- probes


def all_probes(case: Case, ports: Iterable[int] = PROBE_PORTS, icmp: bool = True,
               pending: bool = True) -> list[dict]:
    """Every (sender, destination, port, proto) question that makes sense for ``case``:
    TCP and UDP (from a connected socket) on every port, and one ICMP echo request
    (``port`` None) per sender and destination (``icmp=False`` leaves those out).

    The host asks 127.0.0.1 too; a container does not ask its own address (it never leaves
    its namespace), but does ask the host's addresses (hairpins back to itself or a sibling
    through a DNAT); outside asks the bridge gateways and the containers only when it routes
    10.99.0.0/16 (otherwise its own kernel refuses with ENETUNREACH). With ``pending`` (the
    default) also issue 8's kinds: the host to 0.0.0.0, and an unconnected UDP twin of every
    UDP probe to a host address (127.0.0.1, 0.0.0.0, the uplink, the gateways). (A container's
    own loopback is the Docker oracle's question: these containers are namespaces the dump names
    by address only, so the host would see another question.)
    """
    plan: list[tuple[str, str]] = []
    for d in ("127.0.0.1", *HOST_ADDRS, *CONTAINER_IPS.values(), OUTSIDE_IP):
        plan.append(("host", d))
    if pending:
        plan.append(("host", "0.0.0.0"))  # Linux connects it to loopback
    for c, cip in CONTAINER_IPS.items():
        for d in (*HOST_ADDRS, *CONTAINER_IPS.values(), OUTSIDE_IP):
            if d != cip:
                plan.append((f"container:{c}", d))
    plan.append(("outside", HOST_UP))
    if case.routed:  # without the route outside cannot even send to 10.99.x (bridge gateways too)
        for d in (GW0, GW1, *CONTAINER_IPS.values()):
            plan.append(("outside", d))
    out = []
    for sender, dst in plan:
        for port in ports:
            for proto in ("tcp", "udp"):
                out.append({"sender": sender, "dst": dst, "port": port, "proto": proto,
                            **({"udp_socket": "connected"} if proto == "udp" else {})})
            # an unconnected twin where the answer may come from another address than asked:
            # a host address (the host's socket answers from the route's source) or a DNAT
            if pending and dst in ("0.0.0.0", "127.0.0.1", *HOST_ADDRS):
                out.append({"sender": sender, "dst": dst, "port": port, "proto": "udp",
                            "udp_socket": "unconnected"})
        if icmp:  # one echo request per (sender, destination): +1 probe per 12
            out.append({"sender": sender, "dst": dst, "port": None, "proto": "icmp"})
    return out


#: Probe kinds and comparisons that are compared and counted but do not fail the oracle:
#: dnlint's model does not know them yet (issue 8). The lead removes a name when the model
#: learns it; the kernel oracle then fails on its disagreements like on any other.
#:   "container loopback"  a container to 127.0.0.1: its own namespace's loopback
#:   "host to 0.0.0.0"     the host to 0.0.0.0: Linux sends it to 127.0.0.1
#:   "udp unconnected"     a UDP probe from an unconnected socket (sendto/recvfrom)
#:   "udp reply"           for every delivered UDP probe: the answer came back to the
#:                         prober's socket (connected: from the address asked; unconnected:
#:                         from the address dnlint implies) — udp_reply_disagreement()
#:   "no route back"       an un-NATed 10.99.x packet to outside when outside has no route
#:                         back: the kernel times out, dnlint's answer has no condition
#:                         (before issue 8 these were skipped)
PENDING_PROBE_KINDS: set[str] = set()  # none: every issue-8 kind is compared like any other


def probe_kind(p: dict) -> str | None:
    """The issue-8 kind of a probe record (``from``/``to``) or plan entry (``sender``/``dst``), or None."""
    sender, dst = p.get("from") or p.get("sender"), p.get("to") or p.get("dst")
    if p.get("proto") == "udp" and p.get("udp_socket") == "unconnected":
        return "udp unconnected"
    if str(sender).startswith("container:") and str(dst).startswith("127."):
        return "container loopback"
    if sender == "host" and dst == "0.0.0.0":
        return "host to 0.0.0.0"
    return None


def pending_kind(p: dict, kind: str) -> str | None:
    """The name in PENDING_PROBE_KINDS that makes a disagreement of ``kind`` on ``p`` pending, or None."""
    if (kind == "reachability" and p.get("proto") == "udp" and p.get("reached") and not p.get("reply")
            and not p.get("routed") and p.get("delivered_to") == "outside" and _in_containers(p.get("seen_src"))):
        kind = "no_route_back"  # a 10.99.x datagram reached outside, whose answer had no route back
    for name in (probe_kind(p), {"udp_reply": "udp reply", "reply_from": "udp reply",
                                 "no_route_back": "no route back"}.get(kind)):
        if name and name in PENDING_PROBE_KINDS:
            return name
    return None


def _kind(p: dict) -> str:
    new = probe_kind(p)
    if new:
        return new
    s, d = p["sender"], p["dst"]
    if s.startswith("container:") and d in HOST_ADDRS:
        return "hairpin" if d == HOST_UP else "container to a host address"
    if s.startswith("container:") and d in CONTAINER_IPS.values():
        sib = CONTAINER_IPS[s.split(":")[1]].rsplit(".", 1)[0] == d.rsplit(".", 1)[0]
        return "same bridge" if sib else "across bridges"
    if s == "host":
        return "host to loopback" if d == "127.0.0.1" else "host originated"
    if s == "outside":
        return "inbound"
    return "egress"


def plan_probes(case: Case, rules: str, rng: random.Random, n: int | None) -> list[dict]:
    """``n`` probes drawn without replacement (all when ``n`` is None), weighted towards
    ports the rules mention and towards hairpins."""
    cands = all_probes(case)
    if n is None or n >= len(cands):
        chosen = cands
    else:
        def weight(p):
            w = 1.0
            if p["port"] is None:
                if "-p icmp" in rules:
                    w *= 3
            elif f" {p['port']}" in rules or f",{p['port']}" in rules or f":{p['port']}" in rules:
                w *= 3
            if p["sender"].startswith("container:") and p["dst"] in HOST_ADDRS:
                w *= 2
            return w
        # weighted sampling without replacement (Efraimidis-Spirakis keys)
        keyed = sorted(cands, key=lambda p: rng.random() ** (1.0 / weight(p)), reverse=True)
        chosen = keyed[:n]
    for i, p in enumerate(chosen):
        p["token"] = f"k{uuid.uuid4().hex[:14]}"
        p["sport"] = SPORT_BASE + i
        p["note"] = _kind(p)
    return chosen


# --------------------------------------------------------------------------- one case


@dataclass
class CaseResult:
    seed: int
    case: Case
    rules: str
    dump: str
    probes: list[dict]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        reached = sum(p["reached"] for p in self.probes)
        t = " ".join(f"{k}={v:.2f}s" for k, v in self.timings.items())
        return (f"seed={self.seed}: {len(self.probes)} probes, {reached} reached; {t}; "
                f"{self.case.describe()}")


def _record(p: dict, case: Case) -> dict:
    """A probe result in the fixtures' record format."""
    sender = p["sender"]
    return {
        "from": sender,
        "src": "host" if sender == "host" else Topology.sender_ip(sender),
        "to": p["dst"],
        "port": p["port"],
        "proto": p["proto"],
        "sport": p.get("sport"),
        "reached": p["reached"],
        "delivered_to": p["delivered_to"],
        "delivered_ip": p["delivered_ip"],
        "delivered_port": p["delivered_port"],
        "seen_src": p["seen_src"],
        "note": p.get("note", ""),
        "connected": p["connected"],
        "reply": p["reply"],
        "error": p["error"],
        "send_error": p["send_error"],
        "reply_from": p.get("reply_from"),
        **({"reply_port": p["reply_port"]} if p.get("reply_port") is not None else {}),
        **({"udp_socket": p.get("udp_socket") or "connected"} if p["proto"] == "udp" else {}),
        "ended": p.get("ended"),
        "routed": case.routed,
        "token": p["token"],
    }


def run_case(seed: int, probes_per_case: int | None = None, *, lab: Lab | None = None,
             timeout: float = 1.0, log: Callable[[str], None] | None = None) -> CaseResult:
    """Build, load, probe and dump one case. Everything is torn down before returning
    (also on failure) unless a ``lab`` is passed in (then its owner tears down)."""
    case, rules = rulegen.make_case(seed)
    own = lab is None
    lab = lab or Lab(tag=f"k{seed % 100000}")
    timings: dict[str, float] = {}
    try:
        t0 = time.monotonic()
        topo = build_host(lab, case)
        timings["build"] = time.monotonic() - t0
        t = time.monotonic()
        res = topo.host.run("iptables-restore", input=rules, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"RULEGEN_SEED={seed}: the generated rules do not load: "
                               f"{res.stderr.strip()}\n{rules}")
        timings["load"] = time.monotonic() - t
        t = time.monotonic()
        plan = plan_probes(case, rules, random.Random(seed ^ 0x5EED), probes_per_case)
        results = topo.probe_all(plan, timeout=timeout)
        timings["probe"] = time.monotonic() - t
        t = time.monotonic()
        header = [f"kernel oracle case: RULEGEN_SEED={seed}",
                  f"case: {case.describe()}",
                  "built by tests/oracle/differential.py in network namespaces; counters include the probes",
                  *[f"note: {n}" for n in topo.notes]]
        dump = topo.collect(extra_header=header)
        timings["collect"] = time.monotonic() - t
        notes = list(topo.notes)
        if topo.bridge_nf_actual is not None and topo.bridge_nf_actual != str(case.bridge_nf):
            notes.append(f"bridge-nf-call-iptables asked {case.bridge_nf}, kernel has {topo.bridge_nf_actual}")
    finally:
        if own:
            t = time.monotonic()
            lab.close()
            timings["teardown"] = time.monotonic() - t
    out = CaseResult(seed, case, rules, dump, [_record(p, case) for p in results], notes, timings)
    if log:
        log(out.summary())
    return out


# --------------------------------------------------------------------------- comparison


@dataclass
class Disagreement:
    seed: int | None
    kind: str  # reachability, delivered_to, delivered_port, seen_src, no_delivered, error
    probe: dict
    answer: dict | None
    message: str
    hint: str = ""
    pending: str | None = None  # the PENDING_PROBE_KINDS name that keeps it from failing

    def describe(self) -> str:
        p = self.probe
        head = (f"[{self.kind}{', pending: ' + self.pending if self.pending else ''}] seed={self.seed} "
                f"{p['from']} ({p['src']}) -> {p['to']}:{p['port']}/{p['proto']}"
                f"{' ' + p['udp_socket'] if p.get('udp_socket') else ''} ({p.get('note', '')}): {self.message}")
        kernel = {k: p.get(k) for k in ("reached", "delivered_to", "delivered_ip", "delivered_port",
                                         "seen_src", "connected", "reply", "reply_from", "error", "send_error",
                                         "ended")}
        ans = self.answer or {}
        dnl = {k: ans.get(k) for k in ("reachable", "verdict", "delivered", "translations",
                                        "blocked_by", "assumptions", "approximated")}
        lines = [head, f"    kernel: {json.dumps(kernel)}", f"    dnlint: {json.dumps(dnl, default=str)}"]
        if self.hint:
            lines.append(f"    hint:   {self.hint}")
        return "\n".join(lines)


class Comparison(list):
    """The disagreements (a list) with the counts of the whole comparison."""

    def __init__(self):
        super().__init__()
        self.total = 0
        self.agree = 0
        self.possible = 0  # dnlint answered None ("possible"): not a disagreement
        self.skipped: list[tuple[dict, str]] = []  # (probe, why the kernel's answer is not dnlint's question)
        self.pending: list[Disagreement] = []  # disagreements of PENDING_PROBE_KINDS: counted, not failed

    @property
    def judged(self) -> int:
        return self.total - self.possible - len(self.skipped)

    def pending_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.pending:
            out[d.pending] = out.get(d.pending, 0) + 1
        return dict(sorted(out.items()))

    def stats(self) -> str:
        return (f"{self.total} probes: {self.agree} agree, {len(self)} disagree, "
                f"{self.possible} possible, {len(self.skipped)} skipped, pending: {len(self.pending)} disagreements")


def owner_of(ip: str | None) -> str | None:
    if not ip:
        return None
    if ip.startswith("127.") or ip in HOST_ADDRS:
        return "host"
    for c, cip in CONTAINER_IPS.items():
        if ip == cip:
            return f"container:{c}"
    if ip == OUTSIDE_IP:
        return "outside"
    return None


def _answer_dict(ans) -> dict:
    if ans is None:
        return {}
    if hasattr(ans, "as_dict"):
        return ans.as_dict()
    if isinstance(ans, dict):
        return ans
    return {k: getattr(ans, k, None) for k in ("reachable", "verdict", "delivered", "translations", "how_it_ends",
                                               "ends_with")}


def _delivered_ns(delivered: dict | None) -> str | None:
    if not delivered:
        return None
    if delivered.get("container"):  # Docker inventory: the engine names the container
        return f"container:{delivered['container']}"
    by = str(delivered.get("by") or "")
    for c in CONTAINER_IPS:
        if f"container {c}" in by or f"container:{c}" in by:
            return f"container:{c}"
    owner = owner_of(delivered.get("ip"))
    if owner is None and not by.startswith("the network on"):
        return "host"  # a host socket on an address outside the oracle topology (a Docker gateway)
    return owner


def _in_containers(ip: str | None) -> bool:
    try:
        return ip is not None and ipaddress.ip_address(ip) in CONTAINER_NET
    except ValueError:
        return False


def _skip_reason(p: dict, ans: dict) -> str | None:
    """Why the kernel's outcome was decided outside the host (so not dnlint's question)."""
    if p["reached"] or p["proto"] not in ("tcp", "icmp") or p.get("routed") or p.get("error") != "timeout":
        return None
    d = ans.get("delivered") or {}
    if ans.get("reachable") and _delivered_ns(d) == "outside" and _in_containers(d.get("seen_src")):
        if p["proto"] == "icmp":
            return ("the echo request reaches outside from a 10.99.x source, but outside has no "
                    "route back (not routed), so its echo reply is never sent")
        return ("the SYN reaches outside from a 10.99.x source, but outside has no route back "
                "(not routed), so the handshake cannot complete")
    return None


def _hint(p: dict, ans: dict) -> str:
    """A guess at the kernel behaviour behind a reachability disagreement (for triage)."""
    src = p.get("src")
    d = ans.get("delivered") or {}
    dnat = any(t.get("kind") in ("DNAT", "REDIRECT") for t in ans.get("translations") or [])
    if p["from"].startswith("container:") and p["to"] in HOST_ADDRS and not p["reached"]:
        if d.get("ip") == src and d.get("seen_src") in (None, src):
            return ("self hairpin without MASQUERADE: the container drops a packet whose source "
                    "is its own address")
        if d.get("ip") == src:
            return ("self hairpin with bridge-nf-call-iptables=1: br_netfilter bridges the DNATed "
                    "packet back out of the port it came in on, which the bridge refuses unless "
                    "that port has hairpin mode on (`ip -d link`: hairpin on)")
        if (p["proto"] == "tcp" and owner_of(d.get("ip")) not in (None, "host")
                and d.get("seen_src") == src):
            return ("sibling hairpin without MASQUERADE: the reply goes straight back over the "
                    "bridge; unless bridge-nf-call-iptables=1 it misses the host's conntrack "
                    "and is not un-DNATed")
    b = ans.get("blocked_by") or {}
    if (p["reached"] and p["from"] == "host" and dnat and b.get("chain") == "OUTPUT"
            and b.get("table") in ("filter", "mangle")):
        return ("filter OUTPUT after a nat OUTPUT DNAT: `-o` still sees the device of the route "
                "before the DNAT (e.g. lo); only POSTROUTING sees the new one")
    if p["to"] == "127.0.0.1" and dnat and not p["reached"]:
        if str(d.get("seen_src") or "").startswith("127."):
            return ("loopback DNAT without MASQUERADE: the receiver drops a packet with a 127/8 "
                    "source (its own martian check), whatever the host's route_localnet")
        return ("loopback DNAT: a 127/8 source leaving a non-loopback interface is a martian "
                "(UDP send() fails with EINVAL, TCP times out) unless route_localnet=1 on that "
                "interface or on conf.all")
    if p.get("send_error"):
        return f"the sender's own send() failed: {p['send_error']}"
    return ""


_SPORT_RE = None


def _matches_sport(text: str) -> bool:
    global _SPORT_RE
    import re
    if _SPORT_RE is None:
        _SPORT_RE = re.compile(r"--(sport|sports|source-port|source-ports|ports|ctorigsrcport|ctreplsrcport)\b")
    return bool(_SPORT_RE.search(text))


def _accepts_sport(query) -> bool:
    import inspect
    try:
        params = inspect.signature(query).parameters
    except (TypeError, ValueError):
        return False
    return "sport" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def compare(dump, probes: list[dict], *, query=None, seed: int | None = None,
            rules_text: str | None = None) -> Comparison:
    """Ask dnlint each probe's question; return the disagreements (with counts).

    ``dump`` is a :class:`dnlint.ir.HostDump` or dump text; ``query`` defaults to
    ``dnlint.engine.query.query_dump`` (given ``sport=`` when it takes it).
    """
    if isinstance(dump, str):
        rules_text = rules_text if rules_text is not None else dump
        from dnlint.load import load_text
        dump = load_text(dump, f"<oracle seed {seed}>")
    elif rules_text is None:
        try:
            rules_text = Path(getattr(dump, "file", "")).read_text()
        except OSError:
            rules_text = ""
    if query is None:
        from dnlint.engine.query import query_dump as query
    with_sport = _accepts_sport(query)
    sport_rules = _matches_sport(rules_text or "")
    out = Comparison()
    for p in probes:
        out.total += 1
        src = p.get("src") or ("host" if p["from"] == "host" else Topology.sender_ip(p["from"]))
        try:
            if with_sport and p.get("sport"):
                ans_obj = query(dump, src, p["to"], p["port"], p["proto"], sport=p["sport"])
            else:
                ans_obj = query(dump, src, p["to"], p["port"], p["proto"])
        except Exception as exc:  # an engine crash is a finding, not a reason to stop
            out.append(Disagreement(seed, "error", p, None, f"query_dump raised {exc!r}"))
            continue
        ans = _answer_dict(ans_obj)
        reachable = ans.get("reachable")
        if reachable is None:
            out.possible += 1
            continue
        why = _skip_reason(p, ans)
        if why:
            if "no route back" not in PENDING_PROBE_KINDS:  # the model knows it: compared as any
                found = Disagreement(seed, "no_route_back", p, ans, f"kernel timed out, dnlint says reachable: {why}")
            elif pending_kind(p, "no_route_back"):
                out.pending.append(Disagreement(seed, "no_route_back", p, ans, why, pending="no route back"))
                continue
        else:
            found = _judge(seed, p, ans, reachable)
        if found is None:
            out.agree += 1
            continue
        found.pending = pending_kind(p, found.kind)
        if found.pending:
            out.pending.append(found)
            continue
        w_sport = (ans.get("witness") or {}).get("sport")
        # "reachable" is existential over source ports ("unreachable" is not), and how a block
        # ends is its witness's: a witness from another port than the probe's is not the
        # kernel's question
        if (not with_sport and sport_rules and p.get("sport") and w_sport is not None
                and int(w_sport) != int(p["sport"]) and (reachable or found.kind == "ending")):
            out.skipped.append((p, f"dnlint's witness uses source port {w_sport}, the probe used "
                                   f"{p['sport']}, the rules match source ports, and query_dump "
                                   f"takes no sport: {found.message}"))
            continue
        out.append(found)
    return out


def expected(p: dict) -> bool:
    """dnlint's ``reachable`` for a probe: the server got it (TCP: the handshake completed; ICMP: the
    echo reply came back) and, for UDP, the prober's connected socket got the answer."""
    if p["proto"] == "udp":
        return bool(p["reached"] and p.get("reply"))
    return bool(p["reached"])


def kernel_ending(p: dict) -> str:
    """How a blocked probe ended for the prober, in dnlint's words (``how_it_ends``)."""
    e = f"{p.get('error') or ''} {p.get('send_error') or ''}"
    if "refused" in e.lower() or "reset" in e.lower():  # a RST: before or just after the handshake
        return "refused"
    if "unreachable" in e.lower() or "No route" in e:
        return "unreachable"
    if "Invalid argument" in e or "not permitted" in e:
        return "error"
    if p["proto"] in ("tcp", "sctp") and p.get("connected"):
        return "connected"
    return "timeout"


def _judge(seed, p: dict, ans: dict, reachable) -> Disagreement | None:
    want = expected_answer(p)
    icmp_lost = (str(ans.get("ends_with") or "").startswith("icmp") and kernel_ending(p) == "timeout")
    if (not want and not reachable and ans.get("how_it_ends") and ans["how_it_ends"] != kernel_ending(p)
            and not icmp_lost):  # the kernel rate-limits ICMP errors: a burst of probes sees timeouts
        return Disagreement(seed, "ending", p, ans,
                            f"both say blocked, but the prober saw {kernel_ending(p)} "
                            f"({p.get('error') or p.get('send_error')}) and dnlint says {ans['how_it_ends']}")
    if bool(reachable) != want:
        if p["proto"] == "udp" and p["reached"] and not want:
            what = f"reached {p['delivered_to']} but its answer never came back"
        else:
            what = "reached " + str(p["delivered_to"]) if p["reached"] else "did not reach"
        msg = f"kernel {what}, dnlint says {'reachable' if reachable else 'unreachable'} ({ans.get('verdict')})"
        return Disagreement(seed, "reachability", p, ans, msg, _hint(p, ans))
    if not want:
        reply = udp_reply_disagreement(p, ans)
        return Disagreement(seed, reply[0], p, ans, reply[1]) if reply else None
    d = ans.get("delivered")
    if not d:
        return Disagreement(seed, "no_delivered", p, ans,
                            "both say reachable, but dnlint's answer has no `delivered`")
    ns = _delivered_ns(d)
    if ns != p["delivered_to"]:
        return Disagreement(seed, "delivered_to", p, ans,
                            f"kernel delivered to {p['delivered_to']} ({p['delivered_ip']}:"
                            f"{p['delivered_port']}), dnlint to {ns} ({d.get('ip')}:{d.get('port')}, "
                            f"by {d.get('by')})")
    if d.get("port") is not None and p.get("delivered_port") is not None \
            and int(d["port"]) != int(p["delivered_port"]):
        return Disagreement(seed, "delivered_port", p, ans,
                            f"kernel delivered to port {p['delivered_port']}, dnlint to {d['port']}")
    if d.get("seen_src") != p["seen_src"]:
        return Disagreement(seed, "seen_src", p, ans,
                            f"the listener saw source {p['seen_src']}, dnlint says {d.get('seen_src')}",
                            _seen_hint(p, ans))
    reply = udp_reply_disagreement(p, ans)
    if reply:
        return Disagreement(seed, reply[0], p, ans, reply[1])
    return None


def _effective_to(to: str) -> str:
    """Where a connect()/sendto() to ``to`` goes: Linux sends one to 0.0.0.0 (::) to loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(to, to)


def dnlint_reply_from(p: dict, ans: dict) -> str | None:
    """The address dnlint's answer implies a UDP probe's answer comes back from, None for none.

    ``delivered["reply_from"]`` when the answer has it; otherwise none when an assumption
    says the replies are blocked, else the address the probe was sent to (conntrack undoes
    every translation on the way back)."""
    d = ans.get("delivered") or {}
    if "reply_from" in d:
        return d["reply_from"]
    if any(str(a).startswith("replies are blocked") for a in ans.get("assumptions") or []):
        return None
    return _effective_to(p["to"])


def expected_answer(p: dict) -> bool:
    """dnlint's ``reachable`` for a probe record (:func:`expected`), an unconnected UDP socket's
    included: dnlint answers for a connected client, which hears only an answer from the address
    it sent to, so an unconnected probe counts as reached when its answer came from there (that
    address and port: nf_nat may give an unmatched answer another source port)."""
    want = expected(p)
    if want and p.get("proto") == "udp" and p.get("udp_socket") == "unconnected":
        return p.get("reply_from") == _effective_to(p["to"]) and p.get("reply_port", p["port"]) == p["port"]
    return want


#: what an honest null (``reachable`` None) names when it turns on a fact no dump can show
HONEST_NULLS = ("a connected UDP client drops an answer from another address",  # the answering process's socket
                "back through this host",  # whether the far side routes an un-NATed source back
                "a host dump does not show a container's sockets")  # what listens inside a container


def honest_null(ans: dict) -> bool:
    return ans.get("reachable") is None and any(n in str(a) for a in ans.get("approximated") or []
                                                for n in HONEST_NULLS)


def udp_reply_disagreement(p: dict, ans: dict) -> tuple[str, str] | None:
    """(kind, message) when the answer to a delivered UDP probe came back otherwise than
    dnlint's answer implies; None when they agree or there is nothing to compare.

    A ``connected`` socket (``udp_socket``) hears only an answer from the address it sent to
    (``reply``); an ``unconnected`` one takes any, and ``reply_from`` says whose. Compared: a
    probe both sides say got its answer (it must come from the address dnlint implies), and an
    unconnected probe dnlint says gets its answer from another address (ANSWER_FROM_OTHER_ADDRESS:
    the address the kernel's answer came from must be the one dnlint names)."""
    mode = p.get("udp_socket")
    if p.get("proto") != "udp" or not mode or not p.get("reached"):
        return None
    got = p.get("reply_from") if p.get("reply") else None
    if not ans.get("reachable"):
        reason = str((ans.get("blocked_by") or {}).get("reason") or "")
        if (mode == "unconnected" and ans.get("verdict") == "ANSWER_FROM_OTHER_ADDRESS"
                and not (got and f"answers from {got}" in reason)):
            return "reply_from", (f"the unconnected socket got an answer from {got or 'nobody'}; dnlint says "
                                  f"another address answers: {reason[:160]}")
        return None
    implied = dnlint_reply_from(p, ans)
    to = _effective_to(p["to"])
    if mode == "connected":
        if bool(p.get("reply")) == (implied == to):
            return None
        if p.get("reply"):
            return "udp_reply", f"the connected socket got the answer from {to}; dnlint implies {implied or 'none'}"
        return "udp_reply", (f"the connected socket got no answer (the answer came from another address, or "
                             f"none came: {p.get('ended') or p.get('error')}); dnlint implies one from {implied}")
    if got == implied:
        return None
    return "reply_from", f"the unconnected socket got an answer from {got or 'nobody'}; dnlint implies {implied or 'none'}"


def _seen_hint(p: dict, ans: dict) -> str:
    kinds = {t.get("kind") for t in ans.get("translations") or []}
    if "MASQUERADE" in kinds and p["delivered_to"] == "host":
        return ("MASQUERADE out of lo: lo's 127.0.0.1 has scope host, so the kernel takes the "
                "first global address by interface index (inet_select_addr), not 127.0.0.1")
    return ""


def report(result: CaseResult, disagreements: list[Disagreement]) -> str:
    """The seed, the rules and every disagreement with both answers."""
    if not disagreements:
        return f"seed={result.seed}: no disagreement"
    lines = [f"==== RULEGEN_SEED={result.seed}: {len(disagreements)} disagreement(s); "
             f"{result.case.describe()}", *[f"note: {n}" for n in result.notes],
             "---- rules", result.rules.rstrip(), "---- disagreements"]
    lines += [d.describe() for d in disagreements]
    return "\n".join(lines)


def save_regression(result: CaseResult, disagreements: list[Disagreement],
                    outdir: str | os.PathLike | None = None) -> list[Path]:
    """Write a case's disagreements as ``<seed>.txt`` (the dump, once) and ``<seed>.probes.json``
    (the kernel's answer to each disagreeing probe) under ``fixtures/regressions``."""
    out = Path(outdir) if outdir else REGRESSIONS
    out.mkdir(parents=True, exist_ok=True)
    if not disagreements:
        return []
    dump, probes = out / f"{result.seed}.txt", out / f"{result.seed}.probes.json"
    recs = json.loads(probes.read_text()) if probes.exists() else []
    for d in disagreements:
        rec = dict(d.probe)
        rec["disagreement"] = {"kind": d.kind, "message": d.message, "hint": d.hint}
        rec["case"] = result.case.describe()
        recs.append(rec)
    dump.write_text(result.dump)
    probes.write_text(json.dumps(recs, indent=1) + "\n")
    return [dump, probes]


def load_regressions(directory: str | os.PathLike | None = None) -> list[tuple[Path, Path]]:
    """(dump, probes.json) pairs saved by :func:`save_regression`."""
    d = Path(directory) if directory else REGRESSIONS
    pairs = []
    for pj in sorted(d.glob("*.probes.json")) if d.exists() else []:
        dump = pj.with_name(pj.name[: -len(".probes.json")] + ".txt")
        if dump.exists():
            pairs.append((dump, pj))
    return pairs


def seed_from_env(default: int | None = None) -> int:
    """RULEGEN_SEED when set, else ``default``, else a fresh random seed."""
    v = os.environ.get("RULEGEN_SEED")
    if v:
        return int(v, 0)
    return default if default is not None else random.SystemRandom().randrange(1, 2**31)
