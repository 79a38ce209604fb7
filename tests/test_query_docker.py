"""dnlint query against what a real dockerd and the kernel did (fixtures/docker, captured in namespaces).

Every probe recorded by tests/oracle/capture_docker.py is a case: reached or not, and when
reached, the source address the server saw (SNAT/MASQUERADE/proxy). `outside` probes came
from the outside namespace's address 192.0.2.2, so that is the source asked about.
"""

import json
from functools import lru_cache
from pathlib import Path

import pytest

from dnlint.engine.query import engine_for, query
from dnlint.load import load_dump

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "fixtures" / "docker"
OUTSIDE_ADDRESS = "192.0.2.2"


def _cases():
    out = []
    for f in sorted(DOCKER.glob("*.probes.json")):
        for i, p in enumerate(json.loads(f.read_text())):
            out.append(pytest.param(f.name.replace(".probes.json", ""), p,
                                    id=f"{f.name.split('.')[0]}-{i}-{p['from']}-{p['to']}:{p['port']}/{p['proto']}"))
    return out


@lru_cache(maxsize=None)
def _engine(scenario: str):
    return engine_for(load_dump(DOCKER / f"{scenario}.txt"))


@pytest.mark.parametrize("scenario, probe", _cases())
def test_query_agrees_with_the_kernel(scenario, probe):
    src = OUTSIDE_ADDRESS if probe["from"] == "outside" else probe["from"]
    answer = query(_engine(scenario), src, probe["to"], probe["port"], probe["proto"])
    where = f"{scenario}: {probe['from']} -> {probe['to']}:{probe['port']}/{probe['proto']} ({probe.get('note')})"
    assert answer.reachable is probe["reached"], f"{where}: kernel {probe['reached']}, dnlint {answer.as_dict()}"
    if probe["reached"]:
        assert answer.delivered["seen_src"] == probe["seen_src"], where
        target = probe["delivered_to"]
        if target.startswith("container:"):
            assert answer.delivered.get("container") == target.split(":", 1)[1], where
        assert answer.witness is not None
    else:
        assert answer.blocked_by is not None and answer.blocked_by["reason"], where


def test_every_scenario_has_probes():
    scenarios = {c.values[0] for c in _cases()}
    assert len(scenarios) >= 9
    assert len(_cases()) >= 150
