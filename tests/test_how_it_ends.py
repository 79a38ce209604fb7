"""A "no" says how it ends for the sender, and the kernel agrees.

``how_it_ends``: refused (RST / ICMP port unreachable), unreachable (ICMP host or net
unreachable, or no route at the sender), error (the sender's own stack refuses: EPERM from an
OUTPUT drop, EINVAL for a 127/8 source on a wire), connected (TCP: the handshake completes, then
nothing flows) or timeout. Compared with what the prober saw on every blocked probe of the
Docker captures and of the kernel oracle's saved regressions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dnlint.engine.query import endpoint_family, engine_for, query, query_dump
from dnlint.load import load_dump
from oracle.ablation import expected_reachable
from oracle.differential import kernel_ending

ROOT = Path(__file__).resolve().parents[1]


def _blocked_probes():
    out = []
    for d in ("docker", "docker-v28"):
        for f in sorted((ROOT / "fixtures" / d).glob("*.probes.json")):
            for i, p in enumerate(json.loads(f.read_text())):
                if not expected_reachable(p):
                    out.append(pytest.param(f, p, id=f"{d}-{f.name.split('.')[0]}-{i}"))
    for f in sorted((ROOT / "fixtures" / "regressions").glob("*.probes.json")):
        if f.name.startswith("docker-"):
            continue
        for i, p in enumerate(json.loads(f.read_text())):
            if not expected_reachable(p):
                out.append(pytest.param(f, p, id=f"regression-{f.name.split('.')[0]}-{i}"))
    return out


_ENGINES: dict = {}


@pytest.mark.parametrize("probes, p", _blocked_probes())
def test_a_no_ends_the_way_the_kernel_ended_it(probes, p):
    dump_path = probes.with_name(probes.name.replace(".probes.json", ".txt"))
    if probes.parent.name == "regressions":
        a = query_dump(load_dump(dump_path), p["src"], p["to"], p["port"], p["proto"], sport=p.get("sport"))
    else:
        fam = endpoint_family(p["to"])
        key = (dump_path, fam)
        if key not in _ENGINES:
            _ENGINES[key] = engine_for(load_dump(dump_path), fam)
        src = p["from"] if p["from"] != "outside" else ("2001:db8:1::2" if fam == 6 else "192.0.2.2")
        a = query(_ENGINES[key], src, p["to"], p["port"], p["proto"])
    if a.reachable is not False:
        pytest.skip(f"dnlint answers {a.reachable} here (compared elsewhere)")
    want = kernel_ending(p)
    if a.how_it_ends is None:
        # whether the signal gets back turns on a fact the dump does not show (query.SIGNAL_UNKNOWN)
        return
    if a.verdict == "BLACKHOLE" and probes.parent.name == "docker-v28":
        # dockerd 28 holds the port with a backlog of 0: the first connection completes, later ones time out
        assert a.how_it_ends in ("connected", "timeout")
        return
    assert a.how_it_ends == want, (p, a.verdict, a.blocked_by)
