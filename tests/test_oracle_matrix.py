"""Kernel oracle for `dnlint matrix`: random Docker-like cases, one probe per class witness and per
class boundary, each against the class's answer (tests/oracle/matrix_oracle.py).

DNLINT_ORACLE_MATRIX_CASES cases (default 3; the base seed is printed, RULEGEN_SEED replays,
case i uses seed + 104729 * i). Prints cells, classes and probes per case.
"""

from __future__ import annotations

import os

import pytest

from netns import requires_netns
from oracle import differential as D
from oracle.matrix_oracle import class_ports, for_port, run_matrix_case

CASES = int(os.environ.get("DNLINT_ORACLE_MATRIX_CASES", "3"))


def test_class_ports_are_the_witness_and_the_range_ends():
    class C:
        witness_port = 80
        ports = [(1, 79), (81, 8079)]

    assert class_ports(C) == [80, 1, 79, 81, 8079]
    a = {"delivered": {"port": 80, "ip": "10.0.0.2"}, "witness": {"dport": 80}}
    b = for_port(a, 80, 81)
    assert b["delivered"]["port"] == 81 and b["witness"]["dport"] == 81 and a["delivered"]["port"] == 80
    kept = {"delivered": {"port": 8080}}
    assert for_port(kept, 80, 81)["delivered"]["port"] == 8080  # a DNAT to one port: every port of the class


@requires_netns
@pytest.mark.netns
def test_matrix_oracle_probes_agree_with_the_classes():
    base = D.seed_from_env()
    print(f"matrix oracle: RULEGEN_SEED={base}, {CASES} cases")
    bad, totals = [], [0, 0, 0, 0]
    for i in range(CASES):
        r = run_matrix_case(base + 104729 * i)
        print(r.summary())
        totals[0] += r.cells
        totals[1] += r.classes
        totals[2] += len(r.probes)
        totals[3] += r.comparison.agree
        for d in r.comparison[:5]:
            bad.append(f"seed {r.seed}: {d.kind}: {d.probe.get('from')} -> {d.probe.get('to')} "
                       f"{d.probe.get('proto')} {d.probe.get('port')}: {d.message}")
    print(f"matrix oracle: {totals[0]} cells, {totals[1]} classes, {totals[2]} probes, {totals[3]} agree")
    assert totals[2] > 100 * CASES and totals[3] > 0
    assert not bad, "\n".join(bad[:20])
