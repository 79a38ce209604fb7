"""A bare iptables-save is a first-class input: the host is built from what its rules name.

For every save file of ../shared/corpus (read in place, skipped when absent), read alone as a
user would paste it: a query from ``outside`` to each of its DNATed ports and each port its
INPUT path accepts gets an answer (true, false or null with the assumptions named), never an
error; and every witness of those queries replays through the concrete evaluator
(tests/test_witness_replay.py's machinery).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dnlint.engine.query import engine_for, query
from dnlint.load import load_dump, load_text
from test_witness_replay import FAILURES, assert_no_disagreement, check_query

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "save"
MAX_TARGETS = 8


def _dport(rule) -> int | None:
    for m in rule.matches:
        for name in ("--dport", "--dports", "--destination-port", "--destination-ports"):
            o = m.option(name)
            if o is not None and o.args and not o.negated:
                first = o.args[0].replace(":", ",").split(",")[0]
                if first.isdigit() and 0 < int(first) < 65536:
                    return int(first)
    return None


def _reachable_chains(chains: dict, start: str) -> list[str]:
    seen, todo = [], [start]
    while todo:
        c = todo.pop()
        if c in seen or c not in chains:
            continue
        seen.append(c)
        todo.extend(r.target.name for r in chains[c].rules if r.target and r.target.name in chains)
    return seen


def targets(host) -> list[tuple[str, int, str, str]]:
    """(destination, port, proto, why) of every DNATed port and every port the INPUT path accepts."""
    out: list[tuple[str, int, str, str]] = []

    def add(rule, why):
        port = _dport(rule)
        proto = rule.protocol.name if rule.protocol and not rule.protocol.negated else "tcp"
        if port is None or proto not in ("tcp", "udp"):
            return
        dst = "host"
        if rule.dst is not None and not rule.dst.negated and rule.dst.value.endswith(("/32", "/128")) or (
                rule.dst is not None and not rule.dst.negated and "/" not in rule.dst.value):
            dst = rule.dst.value.split("/")[0]
        t = (dst, port, proto, f"{why} (line {rule.span.line})")
        if t[:3] not in [x[:3] for x in out]:
            out.append(t)

    nat = host.tables.get("nat", {})
    for name in _reachable_chains(nat, "PREROUTING"):
        for rule in nat[name].rules:
            if rule.target and rule.target.name in ("DNAT", "REDIRECT"):
                add(rule, f"nat {name} {rule.target.name}")
    flt = host.tables.get("filter", {})
    for name in _reachable_chains(flt, "INPUT"):
        for rule in flt[name].rules:
            if rule.target and rule.target.name == "ACCEPT":
                add(rule, f"filter {name} ACCEPT")
    return out


def _files():
    return sorted(CORPUS.glob("*")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_every_save_file_answers_outside_to_its_open_ports():
    answered = files = 0
    counts = {True: 0, False: 0, None: 0}
    for f in _files():
        dump = load_dump(f)
        for family in (4, 6):
            if not dump.tables(family):
                continue
            eng = engine_for(dump, family)
            ts = targets(eng.host)[:MAX_TARGETS]
            if not ts:
                continue
            files += 1
            for dst, port, proto, why in ts:
                a = query(eng, "outside", dst, port, proto)  # never an error
                assert a.verdict and a.reachable in (True, False, None), (f.name, dst, port, why)
                if a.reachable is None:
                    assert a.approximated, (f.name, dst, port, why, a.as_dict())
                counts[a.reachable] += 1
                answered += 1
    print(f"\nbare saves: {files} rule sets, {answered} queries: {counts[True]} reachable, "
          f"{counts[False]} blocked, {counts[None]} unknown (null, the missing facts named)")
    assert files >= 60 and answered >= 300


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_bare_save_witnesses_replay():
    FAILURES.clear()
    n = 0
    for f in _files()[::3]:  # a third of the files: the replay is the slow part
        dump = load_dump(f)
        if not dump.tables(4):
            continue
        eng = engine_for(dump, 4)
        for dst, port, proto, _why in targets(eng.host)[:4]:
            for o in ([eng.host.outside_ifaces[0]] if eng.host.outside_ifaces else []):
                n += check_query(eng.via(o), "outside", dst, port, proto, "bare save", f.name)
    assert_no_disagreement()
    assert n >= 100


def test_a_bare_save_builds_its_host_from_the_rules():
    """The issue's example: a bare save, outside to a DNATed port. Docker's bridge and subnet come
    from its MASQUERADE rule, the interfaces from -i/-o, the host address from the INPUT rule."""
    text = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 6783 -j DNAT --to-destination 172.17.0.4:6783
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -d 10.2.1.4/32 -i eth0 -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.4/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 6783 -j ACCEPT
COMMIT
"""
    eng = engine_for(load_text(text, "rules.save"))
    assert eng.host.outside_ifaces[0] == "eth0"
    assert eng.host.is_local(int.from_bytes(bytes([10, 2, 1, 4]), "big"))
    a = query(eng, "outside", "10.2.1.4", 6783, "tcp")
    assert a.verdict == "ACCEPT" and a.delivered["ip"] == "172.17.0.4"
    assert a.reachable is None and any("ip_forward" in x for x in a.approximated)  # no sysctl: said
    assert any("docker0: a Docker bridge for 172.17.0.0/16" in x for x in a.assumptions)
    ssh = query(eng, "outside", "host", 22, "tcp")
    assert ssh.verdict == "ACCEPT" and ssh.witness["in_iface"] == "eth0"
    blocked = query(eng, "outside", "host", 23, "tcp")
    assert blocked.reachable is False and blocked.blocked_by["reason"] == "the filter INPUT policy is DROP"
