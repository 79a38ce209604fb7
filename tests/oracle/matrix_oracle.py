"""The kernel oracle learns matrices: the endpoint matrix of a random Docker-like case, probed.

For one rulegen case: build the namespaces, load the rules, collect the dump (before any probe),
compute ``dnlint matrix`` with the oracle's senders as rows and its destinations as columns,
then probe, for every cell and every port class, the class's witness port and both ends of each
of its port ranges (the class boundaries), and one ICMP echo per cell. Each probe is compared,
with the kernel oracle's own judge (``differential.compare``), against the *class's* answer: the
query answer of its witness port, read for the probed port (a port kept through a translation is
the probed one). A probe that disagrees is a class the matrix drew wrong.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from dataclasses import dataclass, field

from . import differential as D
import re

from .differential import HOST_ADDRS
from .topology import PEER_LISTEN, SPORT_BASE, Topology, build_host

rulegen = D.rulegen
PORTS_PER_CLASS = 6  # the witness port and the ends of up to a few ranges


@dataclass
class MatrixCase:
    seed: int
    cells: int
    classes: int
    probes: list[dict]
    comparison: D.Comparison
    timings: dict[str, float] = field(default_factory=dict)
    rules: str = ""
    dump: str = ""

    def summary(self) -> str:
        c = self.comparison
        t = " ".join(f"{k}={v:.1f}s" for k, v in self.timings.items())
        return (f"seed={self.seed}: {self.cells} cells, {self.classes} classes, {len(self.probes)} probes: "
                f"{c.agree} agree, {len(c)} disagree, {c.possible} possible, {len(c.skipped)} skipped; {t}")


def peer_ports(rules: str) -> tuple[int, ...]:
    """The ports containers and outside listen on for a matrix case: the oracle's, every port the
    rules name and its neighbours (where port classes begin and end), 1 and 65535."""
    ports = set(PEER_LISTEN) | {1, 65535}
    for n in re.findall(r"(?<![\d./])(\d{1,5})(?![\d.])", rules):
        v = int(n)
        if 1 <= v <= 65535:
            ports.update(x for x in (v - 1, v, v + 1) if 1 <= x <= 65535)
    return tuple(sorted(ports))


def _ref(sender: str) -> str:
    return "host" if sender == "host" else Topology.sender_ip(sender)


def class_ports(cls) -> list[int]:
    ports = [cls.witness_port] if cls.witness_port is not None else []
    for lo, hi in cls.ports:
        for p in (lo, hi):
            if p not in ports:
                ports.append(p)
    return ports[:PORTS_PER_CLASS]


def for_port(answer: dict, witness_port: int | None, port: int | None) -> dict:
    """A class's answer (its witness port's) read for another port of the class."""
    if port is None or witness_port is None or port == witness_port:
        return answer
    a = copy.deepcopy(answer)
    d = a.get("delivered") or {}
    if d.get("port") == witness_port:
        d["port"] = port
    w = a.get("witness") or {}
    if w.get("dport") == witness_port:
        w["dport"] = port
    return a


def matrix_query(m, refs: dict[str, int]):
    """A ``query`` for ``differential.compare`` that answers from the matrix's classes."""
    from dnlint.engine.query import EndpointError

    def query(dump, src, to, port, proto):
        cell = m.cell(m.sources[refs[src]].ref, to)
        if cell is None or cell.error:
            raise EndpointError(f"no cell {src} -> {to}: {cell.error if cell else 'not in the matrix'}")
        cls = cell.class_for(proto, port)
        if cls is None:
            raise EndpointError(f"no {proto} class for port {port} in {src} -> {to}")
        return for_port(cls.answer.as_dict(), cls.witness_port, port)

    return query


def _host_addr(dst: str) -> bool:
    return dst.startswith("127.") or dst in HOST_ADDRS or dst == "0.0.0.0"


def run_matrix_case(seed: int, *, timeout: float = 1.0, lab=None) -> MatrixCase:
    from dnlint.engine.matrix import compute_matrix
    from dnlint.engine.query import engine_for
    from dnlint.load import load_text
    from netns import Lab

    case, rules = rulegen.make_case(seed)
    own = lab is None
    lab = lab or Lab(tag=f"m{seed % 100000}")
    timings: dict[str, float] = {}
    try:
        t = time.monotonic()
        listened = peer_ports(rules)
        topo = build_host(lab, case, listened)
        res = topo.host.run("iptables-restore", input=rules, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"RULEGEN_SEED={seed}: the generated rules do not load: {res.stderr.strip()}")
        text = topo.collect(extra_header=[f"matrix oracle case: RULEGEN_SEED={seed}", f"case: {case.describe()}"])
        timings["build"] = time.monotonic() - t
        t = time.monotonic()
        dump = load_text(text, f"<matrix oracle seed {seed}>")
        pairs = list(dict.fromkeys((p["sender"], p["dst"]) for p in D.all_probes(case, pending=False)))
        senders = list(dict.fromkeys(s for s, _ in pairs))
        dsts = list(dict.fromkeys(d for _, d in pairs))
        refs = [_ref(s) for s in senders]
        m = compute_matrix(engine_for(dump, 4), sources=refs, destinations=dsts, protos=["tcp", "udp", "icmp"])
        timings["matrix"] = time.monotonic() - t
        plan = []
        cells = classes = 0
        for sender, dst in pairs:
            cell = m.cell(m.sources[refs.index(_ref(sender))].ref, dst)
            if cell is None or cell.error:
                continue
            cells += 1
            for cls in cell.classes:
                classes += 1
                if cls.proto == "icmp":
                    plan.append({"sender": sender, "dst": dst, "port": None, "proto": "icmp"})
                    continue
                for port in class_ports(cls):
                    if not _host_addr(dst) and port not in listened:
                        continue  # nothing listens there: the oracle cannot tell delivered from refused
                    plan.append({"sender": sender, "dst": dst, "port": port, "proto": cls.proto,
                                 **({"udp_socket": "connected"} if cls.proto == "udp" else {})})
        random.Random(seed).shuffle(plan)
        sports = (x for x in range(SPORT_BASE, 65536) if x not in listened)  # bind() must not meet a listener
        for p, sp in zip(plan, sports):
            p["token"] = f"x{uuid.uuid4().hex[:14]}"
            p["sport"] = sp
            p["note"] = D._kind(p)
        t = time.monotonic()
        results = topo.probe_all(plan, timeout=timeout)
        timings["probe"] = time.monotonic() - t
        records = [D._record(p, case) for p in results]
    finally:
        if own:
            lab.close()
    by_ref = {r: k for k, r in enumerate(refs)}
    cmp = D.compare(dump, records, query=matrix_query(m, by_ref), seed=seed, rules_text=rules)
    return MatrixCase(seed, cells, classes, records, cmp, timings, rules, text)
