#!/usr/bin/env python3
"""Compare `dnlint matrix --space` with FFFUU's service matrices (Iptables_Semantics' haskell_tool).

usage: fffuu_compare.py PEER_OUT_DIR [--record FIXTURE.json]

PEER_OUT_DIR holds the peer's outputs, one file per run named <rules file>.<CHAIN>.txt (the
output of ``fffuu --table filter --chain CHAIN --service_matrix_dport 22 --service_matrix_dport 80
FILE``). For each, dnlint's classes and edges for the same chain and ports are compared with the
peer's: equal partitions, or how they differ. ``--record`` writes the peer's matrices as a test
fixture (tests/fixtures/peer/fffuu_service_matrices.json).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus" / "save"


def _ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


def parse_peer(text: str) -> dict[int, dict]:
    """{port: {"classes": {name: [(lo, hi), ...]}, "edges": [(a, b), ...]}} from one fffuu output."""
    out: dict[int, dict] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"=+ TCP port \d+->(\d+) =+", line)
        if m:
            cur = out.setdefault(int(m.group(1)), {"classes": {}, "edges": []})
            continue
        if cur is None:
            continue
        m = re.match(r"(\S+) \|-> (.*)$", line)
        if m:
            ranges = []
            for part in m.group(2).split(" u "):
                a, _, b = part.strip().strip("{}").partition(" .. ")
                ranges.append((_ip(a.strip()), _ip((b or a).strip())))
            cur["classes"][m.group(1)] = sorted(ranges)
            continue
        m = re.match(r"\((\S+),(\S+)\)$", line)
        if m:
            cur["edges"].append((m.group(1), m.group(2)))
    return out


def dnlint_matrix(rules: Path, chain: str, ports=(22, 80)):
    from dnlint.engine.space import space_dump
    from dnlint.load import load_dump

    # the peer reads the filter table alone
    m = space_dump(load_dump(str(rules)), path=chain.lower(), services=[("tcp", p) for p in ports],
                   tables=("filter",))
    return {s.dport: s for s in m.services}


def compare(peer: dict, ours) -> dict:
    """Partition equality and edge equality (possible counted as accepted: the peer's upper closure)."""
    peer_parts = {frozenset(map(tuple, r)) for r in peer["classes"].values()}
    our_parts = {frozenset(c.ranges) for c in ours.classes}
    name_of = {frozenset(map(tuple, r)): n for n, r in peer["classes"].items()}
    same = peer_parts == our_parts
    edges_same = None
    if same:
        ours_by_part = {frozenset(c.ranges): c.id for c in ours.classes}
        peer_edges = {(ours_by_part[frozenset(map(tuple, peer["classes"][a]))],
                       ours_by_part[frozenset(map(tuple, peer["classes"][b]))]) for a, b in peer["edges"]}
        our_edges = {(i, j) for i, j, _ in ours.edges()}
        edges_same = peer_edges == our_edges
    # the upper closure (possible taken as accepted), the peer's own abstraction
    ours_upper = {frozenset(rs) for rs in ours.upper_partition}
    upper_same = peer_parts == ours_upper
    upper_edges_same = None
    if upper_same:
        idx = {frozenset(rs): k for k, rs in enumerate(ours.upper_partition)}
        peer_edges = {(idx[frozenset(map(tuple, peer["classes"][a]))], idx[frozenset(map(tuple, peer["classes"][b]))])
                      for a, b in peer["edges"]}
        up_of = {}
        for c in ours.classes:
            for k, rs in enumerate(ours.upper_partition):
                if any(lo <= c.witness() <= hi for lo, hi in rs):
                    up_of[c.id] = k
        upper_edges_same = peer_edges == {(up_of[i], up_of[j]) for i, j, _ in ours.edges()}
    return {"upper_same": upper_same and upper_edges_same, "peer_classes": len(peer_parts), "dnlint_classes": len(our_parts),
            "dnlint_classes_upper": ours.upper_classes, "same_partition": same, "same_edges": edges_same,
            "peer_edges": len(peer["edges"]), "dnlint_edges": ours.edge_count,
            "only_peer": sorted(name_of[p] for p in peer_parts - our_parts)[:5]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("peer_out", type=Path)
    ap.add_argument("--record", type=Path)
    a = ap.parse_args()
    record = {}
    bad = 0
    for f in sorted(a.peer_out.glob("*.rules.*.txt")):
        rules_name, chain = f.name[:-4].rsplit(".", 1)
        peer = parse_peer(f.read_text())
        rules = CORPUS / rules_name
        ours = dnlint_matrix(rules, chain, tuple(sorted(peer)))
        for port, pm in sorted(peer.items()):
            r = compare(pm, ours[port])
            bad += not ((r["same_partition"] and r["same_edges"]) or r["upper_same"])
            print(f"{rules_name:45} {chain:8} {port:3} peer {r['peer_classes']:3}/{r['peer_edges']:4}  dnlint "
                  f"{r['dnlint_classes']:3}/{r['dnlint_edges']:4} (upper {r['dnlint_classes_upper']:3})  "
                  f"partition {'same' if r['same_partition'] else 'DIFFERS'}  edges "
                  f"{'same' if r['same_edges'] else '-' if r['same_edges'] is None else 'DIFFER'}  upper closure "
                  f"{'same' if r['upper_same'] else 'DIFFERS'}")
            record.setdefault(rules_name, {}).setdefault(chain, {})[str(port)] = {
                "classes": {n: [[ipaddress.ip_address(lo).compressed, ipaddress.ip_address(hi).compressed]
                                for lo, hi in rs] for n, rs in pm["classes"].items()},
                "edges": pm["edges"]}
    if a.record:
        a.record.write_text(json.dumps({"peer": "fffuu (diekmann/Iptables_Semantics haskell_tool, e0a2516b)",
                                        "command": "fffuu --table filter --chain CHAIN --service_matrix_dport 22 "
                                                   "--service_matrix_dport 80 FILE",
                                        "matrices": record}, indent=1, sort_keys=True) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
