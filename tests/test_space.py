"""`dnlint matrix --space`: the address-space service matrix.

- the classes partition the space (disjoint, covering) on the corpus, IPv4 and IPv6;
- every witness the grid proves replays to the same verdict through the per-packet evaluator,
  on every corpus rule set, both paths (the two implementations share no matching code);
- against FFFUU's service matrices (tests/fixtures/peer/fffuu_service_matrices.json, recorded from
  the peer built on this machine kind; bench/fffuu_compare.py re-runs the comparison): the same
  classes and edges for filter FORWARD on every file, and on INPUT the same or finer where dnlint
  knows more (a 127.0.0.0/8 source arrives on lo; raw NOTRACK);
- semantics on small rule sets: RETURN and goto, interfaces taken both ways unless --in/--out,
  history-dependent matches "possible", raw NOTRACK, unknown verdicts;
- the formats: json and csv round-trip, html renders in Chromium.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.cli import app
from dnlint.engine.space import space_dump
from dnlint.load import load_dump, load_text
from dnlint.model.intervals import addr_max
from dnlint.space_report import render_csv, render_html, render_json, render_text, space_from_csv, space_from_dict

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "save"
PEER = ROOT / "tests" / "fixtures" / "peer" / "fffuu_service_matrices.json"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


def _space(text: str, **kw):
    return space_dump(load_text(text, "<test>"), **kw)


def _fate(m, src: str, dst: str, svc: int = 0) -> str:
    import ipaddress

    s = m.services[svc]
    return s.fate(s.class_of(int(ipaddress.ip_address(src))).id, s.class_of(int(ipaddress.ip_address(dst))).id)


def _covers(s, family: int) -> None:
    ranges = sorted(r for c in s.classes for r in c.ranges)
    assert ranges[0][0] == 0 and ranges[-1][1] == addr_max(family)
    for (a, b), (c, d) in zip(ranges, ranges[1:]):
        assert c == b + 1, f"gap or overlap between {a}-{b} and {c}-{d}"


# --------------------------------------------------------------------------- the corpus


def _corpus_files():
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.glob("*.rules"))


@needs_corpus
def test_classes_partition_the_space_and_every_witness_replays_on_the_corpus():
    runs = failures = replayed = 0
    for f in _corpus_files():
        d = load_dump(f)
        for fam in (4, 6):
            if not any(r.family == fam for r in d.rulesets):
                continue
            for path in ("forward", "input"):
                m = space_dump(d, family=fam, path=path, replay_budget=96)
                for s in m.services:
                    _covers(s, fam)
                    assert not s.replay_failures, f"{f.name} IPv{fam} {path}: {s.replay_failures[:3]}"
                    replayed += len(s.proofs)
                runs += 1
    assert runs > 150 and replayed > 2000, (runs, replayed)  # every edge: /tmp/sweep-like runs with budget None
    print(f"{runs} corpus matrices, {replayed} witnesses replayed, {failures} disagreements")


def _peer():
    return json.loads(PEER.read_text())["matrices"]


def _peer_parts(pm: dict) -> dict[frozenset, str]:
    import ipaddress

    return {frozenset((int(ipaddress.ip_address(a)), int(ipaddress.ip_address(b))) for a, b in rs): n
            for n, rs in pm["classes"].items()}


@needs_corpus
@pytest.mark.parametrize("name", sorted(json.loads(PEER.read_text())["matrices"]) if PEER.exists() else [])
def test_forward_matrices_equal_fffuus(name):
    """filter FORWARD, tcp 22 and 80, the filter table alone as the peer reads it: the same classes
    and edges ("possible" is the peer's over-approximation: an edge). The one difference, on
    itsem_contrived: the peer lets 127.0.0.0/8 through `-A GOOD~STUFF -i lo -j ACCEPT` (its
    interface abstraction takes lo for 127.0.0.0/8), but a forwarded packet never arrived on lo, and
    `! -i lo -s 127.0.0.0/8 -j DROP` drops it (as the kernel would, a martian, before FORWARD)."""
    for port, pm in _peer()[name]["FORWARD"].items():
        m = space_dump(load_dump(CORPUS / name), path="forward", services=[("tcp", int(port))], tables=("filter",))
        s = m.services[0]
        parts = _peer_parts(pm)
        assert {frozenset(c.ranges) for c in s.classes} == set(parts), f"{name} port {port}"
        ids = {frozenset(c.ranges): c.id for c in s.classes}
        peer_edges = {(ids[k], ids[k2]) for k, n in parts.items() for k2, n2 in parts.items()
                      if [n, n2] in pm["edges"]}
        ours = {(i, j) for i, j, _ in s.edges()}
        if name == "itsem_contrived.rules":
            loop = s.class_of(0x7F000001).id
            assert ours < peer_edges and {i for i, _ in peer_edges - ours} == {loop}
            assert all(s.fate(loop, j) == "deny" for j in range(len(s.classes)))
            continue
        assert ours == peer_edges


@needs_corpus
def test_input_matrices_equal_fffuus_or_are_finer_for_a_reason():
    """INPUT: equal; or dnlint finer with the peer's upper closure equal (dnlint tells proved from
    possible); or, on psa-team-c, 127.0.0.0/8 its own class: the peer's upper closure lets a 127/8
    source in through `-i eth0 -j ACCEPT`, but such a source arrives on lo (the kernel drops it as a
    martian on eth0 while route_localnet is 0)."""
    seen = {"equal": 0, "finer": 0, "lo": 0}
    for name, chains in _peer().items():
        for port, pm in chains["INPUT"].items():
            s = space_dump(load_dump(CORPUS / name), path="input", services=[("tcp", int(port))],
                           tables=("filter",)).services[0]
            parts = set(_peer_parts(pm))
            ours = {frozenset(c.ranges) for c in s.classes}
            if ours == parts:
                seen["equal"] += 1
            elif {frozenset(r) for r in s.upper_partition} == parts:
                seen["finer"] += 1
            else:
                assert name == "netnet_psa-team-c.rules", f"{name} INPUT {port}: classes differ from the peer's"
                loop = frozenset({(0x7F000000, 0x7FFFFFFF)})
                assert any(loop <= c for c in ours) and len(parts) == 1
                assert _fate(space_dump(load_dump(CORPUS / name), path="input", services=[("tcp", int(port))],
                                        tables=("filter",)), "127.0.0.1", "127.0.0.1") == "deny"
                seen["lo"] += 1
    assert seen["equal"] >= 17 and seen["lo"] == 2, seen


# --------------------------------------------------------------------------- semantics

BASE = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
{chains}
{rules}
COMMIT
"""


def _rules(rules: str, chains: str = "", **kw):
    return _space(BASE.format(rules=rules, chains=chains), **kw)


def test_first_match_return_and_goto():
    m = _rules("-A FORWARD -s 10.0.0.0/8 -j A\n-A FORWARD -s 10.1.0.0/16 -j ACCEPT\n"
               "-A FORWARD -d 192.168.0.0/16 -g B\n-A FORWARD -j ACCEPT\n"
               "-A A -s 10.1.0.0/16 -j RETURN\n-A A -d 172.16.0.0/12 -j ACCEPT\n-A A -j DROP\n"
               "-A B -s 10.0.0.0/8 -j ACCEPT\n",
               chains=":A - [0:0]\n:B - [0:0]", services=[("tcp", 22)], replay_budget=None)
    assert _fate(m, "10.1.2.3", "8.8.8.8") == "accept"  # RETURN from A, then FORWARD #2
    assert _fate(m, "10.2.0.1", "172.16.0.1") == "accept"  # A #2
    assert _fate(m, "10.2.0.1", "8.8.8.8") == "deny"  # A #3
    assert _fate(m, "11.0.0.1", "192.168.1.1") == "deny"  # goto B, falls off B: back past FORWARD: policy
    assert _fate(m, "11.0.0.1", "8.8.8.8") == "accept"
    s = m.services[0]
    assert not s.replay_failures and len(s.proofs) >= len(s.classes)


def test_interfaces_are_taken_both_ways_unless_given():
    rules = "-A FORWARD -i eth0 -s 10.0.0.0/8 -j ACCEPT\n-A FORWARD -o eth1 -j DROP\n-A FORWARD -j ACCEPT\n"
    m = _rules(rules, services=[("tcp", 80)])
    assert _fate(m, "10.0.0.1", "1.1.1.1") == "possible"
    assert _fate(m, "11.0.0.1", "1.1.1.1") == "possible"  # -o eth1 DROP, or not
    assert any("interface eth0" in a for a in m.assumptions)
    m = _rules(rules, services=[("tcp", 80)], in_iface="eth0", out_iface="eth1", replay_budget=None)
    assert _fate(m, "10.0.0.1", "1.1.1.1") == "accept"
    assert _fate(m, "11.0.0.1", "1.1.1.1") == "deny"
    assert not m.services[0].replay_failures
    m = _rules(rules, services=[("tcp", 80)], in_iface="eth2", out_iface="eth3")
    assert _fate(m, "10.0.0.1", "1.1.1.1") == "accept" and len(m.services[0].classes) == 1


def test_history_dependent_and_unknown_matches_are_possible_never_confident():
    m = _rules("-A FORWARD -p tcp --dport 22 -m recent --update --seconds 60 --name ssh -j DROP\n"
               "-A FORWARD -d 10.0.0.0/8 -m limit --limit 5/min -j ACCEPT\n"
               "-A FORWARD -d 11.0.0.0/8 -m frobnicate --zap -j ACCEPT\n"
               "-A FORWARD -d 12.0.0.0/8 -j NFQUEUE --queue-num 1\n"
               "-A FORWARD -d 13.0.0.0/8 -j ACCEPT\n", services=[("tcp", 22), ("tcp", 80)])
    for dst in ("10.0.0.1", "11.0.0.1", "12.0.0.1"):
        assert _fate(m, "1.1.1.1", dst, 1) == "possible", dst
    assert _fate(m, "1.1.1.1", "13.0.0.1", 1) == "accept"
    assert _fate(m, "1.1.1.1", "14.0.0.1", 1) == "deny"
    assert _fate(m, "1.1.1.1", "13.0.0.1", 0) == "possible"  # the recent list may hold the source
    assert _fate(m, "1.1.1.1", "14.0.0.1", 0) == "deny"


def test_conntrack_state_tcp_flags_and_raw_notrack():
    text = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -s 10.9.0.0/16 -j NOTRACK
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -m state --state UNTRACKED -j ACCEPT
-A FORWARD -p tcp ! --syn -j ACCEPT
-A FORWARD -p tcp --tcp-flags SYN,ACK SYN -d 10.5.0.0/16 -m state --state NEW -j ACCEPT
COMMIT
"""
    m = _space(text, services=[("tcp", 443)], replay_budget=None)
    assert _fate(m, "10.9.1.1", "8.8.8.8") == "accept"  # untracked
    assert _fate(m, "10.8.1.1", "8.8.8.8") == "deny"  # a NEW SYN: not ESTABLISHED, not ! --syn
    assert _fate(m, "10.8.1.1", "10.5.1.1") == "accept"
    assert not m.services[0].replay_failures
    m = _space(text, services=[("tcp", 443)], tables=("filter",))
    assert _fate(m, "10.9.1.1", "8.8.8.8") == "deny"
    assert any("raw" in a and "left out as asked" in a for a in m.assumptions)


def test_input_path_loopback_sources_arrive_on_lo():
    m = _space(BASE.format(chains="", rules="-A INPUT -i lo -j ACCEPT\n-A INPUT -s 127.0.0.0/8 -j DROP\n"
                                             "-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -j DROP\n"),
               path="input", services=[("tcp", 22), ("tcp", 80)], replay_budget=None)
    assert _fate(m, "127.0.0.1", "127.0.0.1", 1) == "accept"
    assert _fate(m, "1.2.3.4", "1.2.3.4", 1) == "deny"
    assert _fate(m, "1.2.3.4", "5.6.7.8", 0) == "accept"
    assert all(not s.replay_failures for s in m.services)


def test_ipv6_and_a_nat_only_table_is_not_the_filter():
    text = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -s 2001:db8::/32 -d 2001:db8:1::/48 -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD ! -s 2001:db8::/32 -j REJECT
COMMIT
"""
    d = load_text(text.replace("*filter", "# Generated by ip6tables-save v1.8.9\n*filter"), "<v6>")
    m = space_dump(d, family=6, services=[("tcp", 22)], replay_budget=None)
    s = m.services[0]
    _covers(s, 6)
    assert _fate(m, "2001:db8::1", "2001:db8:1::1") == "accept"
    assert _fate(m, "2001:db9::1", "2001:db8:1::1") == "deny"
    assert not s.replay_failures


# --------------------------------------------------------------------------- formats and CLI


GEN = ROOT.parent / "shared" / "bench" / "gen_forward_rules.py"


def _generated(tmp_path, n: int = 400) -> Path:
    out = tmp_path / f"f{n}.rules"
    subprocess.run(["python3", str(GEN), str(n), "--out", str(out), "--return-frac", "0.05"], check=True,
                   capture_output=True)
    return out


@pytest.mark.skipif(not GEN.exists(), reason="../shared/bench is absent")
def test_json_and_csv_round_trip_and_the_text_report(tmp_path):
    m = space_dump(load_dump(_generated(tmp_path)), services=[("tcp", 22), ("tcp", 80)])
    back = space_from_dict(json.loads(render_json(m)))
    assert back.as_dict() == m.as_dict()
    c = space_from_csv(render_csv(m))
    for a, b in zip(c.services, m.services):
        assert [x.ranges for x in a.classes] == [x.ranges for x in b.classes]
        assert list(a.edges()) == list(b.edges())
    text = render_text(m, title="gen")
    assert "tcp 22 (source port 10000)" in text and "reaches:" in text


def test_cli_space(tmp_path):
    f = tmp_path / "r.rules"
    f.write_text(BASE.format(chains="", rules="-A FORWARD -s 10.0.0.0/8 -p tcp --dport 22 -j ACCEPT\n"))
    r = CliRunner().invoke(app, ["matrix", str(f), "--space", "--port", "22", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["view"] == "space" and d["services"][0]["stats"]["classes"] == 2
    assert d["services"][0]["edges"] == [[1, 0, "accept"], [1, 1, "accept"]]
    r = CliRunner().invoke(app, ["matrix", str(f), "--space", "--path", "sideways"])
    assert r.exit_code == 2 and "unknown path" in r.output
    r = CliRunner().invoke(app, ["matrix", str(f), "--space", "--proto", "icmp"])
    assert r.exit_code == 2


def _chromium():
    import shutil

    return next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)


@pytest.mark.skipif(_chromium() is None, reason="no Chromium (Debian: apt-get install chromium)")
@needs_corpus
def test_space_html_renders_in_chromium(tmp_path):
    from test_matrix import _png_colours

    m = space_dump(load_dump(CORPUS / "itsem_topos-factory-by-kernel.rules"), services=[("tcp", 22)])
    page = render_html(m, title="topos")
    assert "http://" not in page and "https://" not in page
    f = tmp_path / "space.html"
    f.write_text(page)
    s = m.services[0]
    i, j, fate = next(iter(s.edges()))
    common = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(common + ["--virtual-time-budget=3000", "--dump-dom", f"file://{f}#s=0&i={i}&j={j}"],
                         capture_output=True, text=True, timeout=120).stdout
    detail = dom[dom.index('id="details"'):]
    detail = detail[:detail.index("</div>")]
    assert f"class {i} -&gt; class {j}: {fate}" in detail and "witness" in detail
    shot = tmp_path / "shot.png"
    subprocess.run(common + ["--window-size=1000,800", f"--screenshot={shot}", f"file://{f}"],
                   capture_output=True, timeout=120, cwd=tmp_path)
    assert shot.exists() and _png_colours(shot.read_bytes()) > 3


# --------------------------------------------------------------------------- the full path

DOCKER = ROOT / "fixtures" / "docker" / "a_default.txt"


def _edge_nat(m, src: str, dst: str, svc: int = 0) -> str | None:
    import ipaddress

    s = m.services[svc]
    return s.nat(s.class_of(int(ipaddress.ip_address(src))).id, s.class_of(int(ipaddress.ip_address(dst))).id)


def test_full_path_on_a_docker_host_dnats_published_ports_and_masquerades_egress():
    d = load_dump(DOCKER)
    m = space_dump(d, path="full", services=[("tcp", 8080), ("tcp", 80)], in_iface="up0", replay_budget=None)
    # the published port: every outside source, to the host's addresses, DNATed to web:80
    assert _fate(m, "198.51.100.7", "192.0.2.1") == "accept"
    assert "DNAT to 172.18.0.2:80" in _edge_nat(m, "198.51.100.7", "192.0.2.1")
    # a 127.0.0.0/8 destination from the wire: a martian (route_localnet=0 in the dump) where no DNAT
    # takes it; DNATed, the kernel routes the new destination: a neighbour reaches a published port
    # through 127.0.0.1 (moby#45610, before Docker 28's raw rule)
    assert _fate(m, "198.51.100.7", "127.0.0.1", 1) == "deny"
    assert _fate(m, "198.51.100.7", "127.0.0.1") == "accept"
    assert "DNAT to 172.18.0.2:80" in _edge_nat(m, "198.51.100.7", "127.0.0.1")
    # a container's egress (tcp 80 to the world, arriving on docker0): accepted and masqueraded
    egress = space_dump(d, path="full", services=[("tcp", 80)], in_iface="docker0", replay_budget=None)
    assert _fate(egress, "172.17.0.2", "198.51.100.7") == "accept"
    assert "masqueraded" in _edge_nat(egress, "172.17.0.2", "198.51.100.7")
    assert _fate(egress, "172.17.0.2", "172.18.0.2") == "deny"  # DOCKER-ISOLATION
    assert not egress.services[0].replay_failures
    for s in m.services:
        assert not s.replay_failures and len(s.proofs) >= len(s.classes)
        _covers(s, 4)
    text = render_text(m)
    assert "DNAT to 172.18.0.2:80 (nat DOCKER, line" in text
    d2 = json.loads(render_json(m))
    assert any(len(e) == 4 and "DNAT" in e[3] for e in d2["services"][0]["edges"])
    assert space_from_dict(d2).as_dict() == m.as_dict()


def test_full_path_on_a_bare_rule_set_says_possible_where_the_hosts_addresses_decide():
    text = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 203.0.113.10/32 -p tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 22 -j ACCEPT
-A FORWARD -d 10.1.0.2/32 -p tcp --dport 80 -j ACCEPT
-A FORWARD -d 10.9.0.0/16 -j ACCEPT
COMMIT
"""
    m = _space(text, path="full", services=[("tcp", 8080), ("tcp", 22)], replay_budget=None)
    # a bare rule set: whether the host forwards at all is not shown
    assert _fate(m, "198.51.100.7", "10.9.0.1", 1) == "possible"
    assert any("forwarding" in (p.why or "") for p in m.services[1].proofs)
    assert _fate(m, "198.51.100.7", "127.0.0.1", 1) == "possible"  # route_localnet not in the dump
    assert all(not s.replay_failures for s in m.services)
    facts = ("### sysctl net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.ipv4.conf.eth0.route_localnet\n"
             "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.route_localnet = 0\n"
             "net.ipv4.conf.eth0.route_localnet = 0\n### iptables-save\n")
    m = _space(facts + text, path="full", services=[("tcp", 8080), ("tcp", 22)], in_iface="eth0",
               replay_budget=None)
    # is 10.9.0.1 the host's own? INPUT takes 22, FORWARD takes 10.9/16: both accept, so proved
    assert _fate(m, "198.51.100.7", "10.9.0.1", 1) == "accept"
    # 8.8.8.8 for 22: INPUT accepts, FORWARD drops: it turns on whether the address is the host's
    assert _fate(m, "198.51.100.7", "8.8.8.8", 1) == "possible"
    why = [p.why for p in m.services[1].proofs if p.fate == "possible"]
    assert any("one of the host's own addresses" in (w or "") for w in why)
    # the DNAT to 10.1.0.2:80: FORWARD accepts it, INPUT (were 10.1.0.2 the host's) would not
    assert _fate(m, "198.51.100.7", "203.0.113.10") == "possible"
    assert "DNAT to 10.1.0.2:80" in _edge_nat(m, "198.51.100.7", "203.0.113.10")
    assert _fate(m, "198.51.100.7", "127.0.0.1", 1) == "deny"  # a martian: route_localnet=0
    assert all(not s.replay_failures for s in m.services)


@needs_corpus
def test_full_path_witnesses_replay_on_the_fixtures_and_the_corpus():
    runs = 0
    files = sorted((ROOT / "fixtures").glob("docker*/*.txt")) + sorted((ROOT / "fixtures" / "seed").glob("*.txt"))
    for f in files + _corpus_files()[::3]:
        d = load_dump(f)
        for fam in (4, 6):
            if not any(r.family == fam for r in d.rulesets):
                continue
            m = space_dump(d, family=fam, path="full", services=[("tcp", 8080)], replay_budget=None)
            for s in m.services:
                _covers(s, fam)
                assert not s.replay_failures, f"{f.name} IPv{fam}: {s.replay_failures[:3]}"
            runs += 1
    assert runs > 60


def test_from_and_to_restrict_the_edges_and_every_source_has_a_blocked_witness():
    m = _rules("-A FORWARD -s 11.0.0.0/8 -j REJECT\n-A FORWARD -s 10.0.0.0/8 ! -d 192.168.0.0/16 -j DROP\n"
               "-A FORWARD -j ACCEPT\n", services=[("tcp", 22)], replay_budget=None)
    s = m.services[0]
    denied = [p for p in s.proofs if p.fate == "deny"]
    # every source class that is denied somewhere has a denied witness whose path ends at what blocks it
    assert {p.src for p in denied} == {s.class_of(0x0B000001).id, s.class_of(0x0A000001).id}
    by_src = {p.src: p for p in denied}
    assert by_src[s.class_of(0x0B000001).id].path[-1] | {} == {**by_src[s.class_of(0x0B000001).id].path[-1],
                                                             "action": "REJECT", "index": 1}
    assert by_src[s.class_of(0x0A000001).id].path[-1]["index"] == 2
    assert "denied [" in render_text(m) and "FORWARD #1 (line" in render_text(m)
    from dnlint.engine.space import address_set

    r = _rules("-A FORWARD -s 10.0.0.0/8 -d 192.168.0.0/16 -j ACCEPT\n-A FORWARD -s 11.0.0.0/8 -j REJECT\n",
               services=[("tcp", 22)], sources=address_set(["10.1.2.3"], 4),
               destinations=address_set(["192.168.0.0/24", "8.8.8.8-8.8.8.9"], 4))
    rs = r.services[0]
    assert [(i, j) for i, j, _ in rs.edges()] == [(rs.class_of(0x0A010203).id, rs.class_of(0xC0A80001).id)]
    assert any("sources restricted" in a for a in r.assumptions)
    text = render_text(r)
    assert "reaches:" in text and text.count("\n    [") == 1
    with pytest.raises(ValueError):
        address_set(["banana"], 4)


def test_strict_reverse_path_filtering_ties_arriving_devices_to_sources(tmp_path):
    """rp_filter=1 on every device (shown in the dump): a source arrives only where its route leaves,
    so `-i docker0` and `! -i docker0` decide without --in."""
    f = tmp_path / "rp1.txt"
    f.write_text(DOCKER.read_text().replace("rp_filter = 0", "rp_filter = 1"))
    m = space_dump(load_dump(f), path="full", services=[("tcp", 8080), ("tcp", 80)], replay_budget=None)
    assert _fate(m, "198.51.100.7", "192.0.2.1") == "accept"  # arrives on up0: the published port
    assert "DNAT to 172.18.0.2:80" in _edge_nat(m, "198.51.100.7", "192.0.2.1")
    assert _fate(m, "172.17.0.2", "198.51.100.7", 1) == "accept"  # arrives on docker0: egress
    assert "masqueraded" in _edge_nat(m, "172.17.0.2", "198.51.100.7", 1)
    assert _fate(m, "172.17.0.2", "172.18.0.2", 1) == "deny"  # DOCKER-ISOLATION
    assert all(not s.replay_failures for s in m.services)
    denied = [p for p in m.services[1].proofs if p.fate == "deny" and p.path and p.path[-1]["table"] is None]
    assert denied and "martian" in denied[0].path[-1]["action"]
    # without the sysctl, the same rules turn on the arriving device
    m = space_dump(load_dump(DOCKER), path="full", services=[("tcp", 80)])
    assert _fate(m, "172.17.0.2", "198.51.100.7") == "possible"


def test_a_bare_rule_set_gets_the_address_space_view_by_default(tmp_path):
    f = tmp_path / "bare.rules"
    f.write_text(BASE.format(chains="", rules="-A FORWARD -s 10.0.0.0/8 -p tcp --dport 22 -j ACCEPT\n"))
    r = CliRunner().invoke(app, ["matrix", str(f)])
    assert r.exit_code == 0 and "address-space matrix" in r.output and "--endpoints" in r.output
    r = CliRunner().invoke(app, ["matrix", str(f), "--endpoints", "--proto", "tcp", "--port", "22"])
    assert r.exit_code == 0 and "address-space" not in r.output and "sources x" in r.output
    r = CliRunner().invoke(app, ["matrix", str(f), "--from", "outside", "--proto", "tcp", "--port", "22"])
    assert r.exit_code == 0 and "address-space" not in r.output  # an endpoint name asks for the endpoint view
    r = CliRunner().invoke(app, ["matrix", str(DOCKER), "--proto", "tcp", "--port", "8080"])
    assert r.exit_code == 0 and "address-space" not in r.output  # host facts: the endpoint view
