"""Fact ablation: every captured Docker probe, re-answered on the dump narrowed to the forms people paste.

Each captured host (fixtures/docker: dockerd 20.10; fixtures/docker-v28: dockerd 28.5) is
narrowed by every ablation of :mod:`oracle.ablation` (a section dropped; ``ss -tlnp`` for
``-tulnp``; the daemon's ``ps`` line alone; a sysctl of a few keys; ``ip route`` without the
local table; no Docker inventory, or containers only; a bare iptables-save; the "pasted"
mix), and every probe is asked again. The rule: no answer becomes confidently wrong. Each is
the kernel's answer or ``null`` with what is missing named; the only errors allowed are
endpoints the narrowed dump cannot name (``container:web`` without a Docker inventory).
The counts of right and null answers per ablation are printed (the fewer nulls the better).
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from dnlint.engine.query import EndpointError, endpoint_family, engine_for, query
from dnlint.load import load_text
from oracle.ablation import ABLATIONS, ablate, judge
from oracle.capture_docker import dump_dockerd_version, known_disagreement

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = [ROOT / "fixtures" / "docker", ROOT / "fixtures" / "docker-v28"]
OUTSIDE = {4: "192.0.2.2", 6: "2001:db8:1::2"}
COUNTS: dict[str, Counter] = {}


def _scenarios():
    return [(d, f.name.replace(".probes.json", "")) for d in CAPTURES for f in sorted(d.glob("*.probes.json"))]


@lru_cache(maxsize=None)
def _engines(capture: str, scenario: str, ablation: str):
    text = (ROOT / "fixtures" / capture / f"{scenario}.txt").read_text()
    dump = load_text(ablate(text, ablation), f"{capture}/{scenario}.txt [{ablation}]")
    return {4: engine_for(dump, 4), 6: engine_for(dump, 6)}


def _ask(capture: str, scenario: str, ablation: str, probe: dict):
    fam = endpoint_family(probe["to"])
    src = (probe.get("src") or OUTSIDE[fam]) if probe["from"] == "outside" else probe["from"]
    return query(_engines(capture, scenario, ablation)[fam], src, probe["to"], probe["port"], probe["proto"],
                 sport=probe.get("sport"))


# Confident wrong answers found by issue 8's probes on a narrowed dump, for the lead to fix:
# (ablation, scenario, from, port, proto, note) -> why. Each must stay wrong until fixed.
KNOWN_WRONG: dict = {}  # (ablation, scenario, from, port, proto, note) -> why; empty: none is known


@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_no_ablation_makes_an_answer_confidently_wrong(ablation):
    counts = COUNTS.setdefault(ablation, Counter())
    wrong = []
    for d, scenario in _scenarios():
        version = dump_dockerd_version((d / f"{scenario}.txt").read_text())
        for p in json.loads((d / f"{scenario}.probes.json").read_text()):
            if known_disagreement(version, scenario, p):
                counts["known disagreement"] += 1  # wrong on the whole dump already (a strict xfail)
                continue
            try:
                a = _ask(d.name, scenario, ablation, p)
            except EndpointError as e:
                # honest: the narrowed dump cannot name this endpoint (no Docker inventory left), or
                # place a probe's own source address (10.99.0.2) without the routes it arrives by
                assert (p["from"].startswith("container:") and "inventory" in str(e)) or (
                    p.get("src") and "no route back" in str(e)), (ablation, scenario, p, e)
                counts["unnamed endpoint"] += 1
                continue
            verdict = judge(a, p)
            counts[verdict] += 1
            if (ablation, scenario, p["from"], p["port"], p["proto"], p.get("note")) in KNOWN_WRONG:
                if verdict != "wrong":
                    wrong.append(f"{d.name}/{scenario} [{ablation}]: {p['note']}: now {verdict}; remove it from KNOWN_WRONG")
                continue
            if verdict == "wrong":
                wrong.append(f"{d.name}/{scenario} [{ablation}]: {p['from']} -> {p['to']}:{p['port']}/{p['proto']} "
                             f"({p.get('note')}): kernel reached={p['reached']} seen_src={p.get('seen_src')}; "
                             f"dnlint {a.reachable} {a.verdict} {a.delivered}")
    assert not wrong, f"{len(wrong)} confident wrong answer(s):\n" + "\n".join(wrong[:10])
    assert counts["right"] + counts["null"] > 0


def test_an_unknown_answer_names_what_is_missing():
    """Where an ablation turns an answer into null, the answer says which fact the dump lacks."""
    a = _ask("docker", "c_no_proxy_no_localnet", "no-sysctl",
             {"from": "host", "to": "127.0.0.1", "port": 8080, "proto": "tcp"})
    assert a.reachable is None
    assert any("route_localnet is not in the dump" in x for x in a.approximated), a.approximated
    u = _ask("docker", "a_default", "ss-tcp-only", {"from": "outside", "to": "192.0.2.1", "port": 9090, "proto": "udp"})
    assert u.reachable is None
    assert any("udp port 9090" in x and "ss -tlnp" in x for x in u.approximated), u.approximated


def test_docker_proxy_backend_from_the_other_sections():
    """Without docker-proxy's ps lines, the backend comes from the DNAT rule or docker inspect, and
    the container sees the bridge gateway (not the proxy's own socket as the final delivery)."""
    for ablation in ("ps-daemon-only", "no-ps", "pasted"):
        a = _ask("docker", "a_default", ablation, {"from": "host", "to": "127.0.0.1", "port": 8080, "proto": "tcp"})
        assert a.reachable is True, (ablation, a.as_dict())
        assert a.delivered["container"] == "web" and a.delivered["seen_src"] == "172.18.0.1", ablation
        assert a.delivered["by"] == "docker-proxy"


REGRESSIONS = ROOT / "fixtures" / "regressions"


def _kernel_cases():
    """The kernel oracle's saved cases (every disagreement it ever found: the hard ones), each a
    dump from `dnlint collect` and the probes the kernel answered."""
    return sorted(f for f in REGRESSIONS.glob("*.probes.json") if not f.name.startswith("docker-"))


@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_kernel_oracle_cases_under_ablation(ablation):
    """The same rule on the kernel oracle's saved cases: narrowed, an answer is the kernel's or null."""
    from oracle.differential import expected_answer

    counts = COUNTS.setdefault(f"kernel cases: {ablation}", Counter())
    wrong = []
    for f in _kernel_cases():
        text = f.with_name(f.name.replace(".probes.json", ".txt")).read_text()
        dump = load_text(ablate(text, ablation), f"{f.name} [{ablation}]")
        engines = {}
        for p in json.loads(f.read_text()):
            fam = endpoint_family(p["to"])
            eng = engines.setdefault(fam, engine_for(dump, fam))
            try:
                a = query(eng, p["src"], p["to"], p["port"], p["proto"], sport=p.get("sport"))
            except EndpointError:
                counts["unnamed endpoint"] += 1
                continue
            want = expected_answer(p)
            if a.reachable is None:
                counts["null"] += 1
            elif a.reachable is want:
                counts["right"] += 1
            else:
                counts["wrong"] += 1
                wrong.append(f"{f.name} [{ablation}]: {p['src']} -> {p['to']}:{p['port']}/{p['proto']}: kernel "
                             f"{want}, dnlint {a.reachable} {a.verdict}")
    assert not wrong, f"{len(wrong)} confident wrong answer(s):\n" + "\n".join(wrong[:10])


def test_zz_counts(capsys):
    with capsys.disabled():
        print("\nfact ablation (right / null / unnamed endpoints, 0 wrong):")
        for name in sorted(COUNTS):
            c = COUNTS[name]
            print(f"  {name:22s} {c['right']:4d} right {c['null']:4d} null {c['unnamed endpoint']:4d} unnamed")
