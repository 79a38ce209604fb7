"""`dnlint diff`: the flows whose fate differs, as a view over the matrices.

- nothing changes: a dump against itself (every corpus file), independent rules reordered, a
  comment changed, a multiport rule split in two;
- a rule added, removed or retargeted: the changed classes, opened/closed/changed, the witness and
  the rule on each side that decides it; a DNAT retargeted is a change though every packet is still
  accepted;
- the candidate form: a rule file loaded over OLD's host facts (replacing the tables it names, or
  --noflush);
- the CLI: formats, exit codes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.cli import app
from dnlint.engine.diff import candidate_dump, diff_dumps, diff_endpoints
from dnlint.engine.query import engine_for
from dnlint.load import load_dump, load_text

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "save"
DOCKER = ROOT / "fixtures" / "docker" / "a_default.txt"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")

BASE = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
{nat}
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
{rules}
COMMIT
"""
RULES = ("-A FORWARD -s 10.0.0.0/8 -p tcp --dport 22 -j ACCEPT\n"
         "-A FORWARD -d 192.168.1.0/24 -p tcp -m multiport --dports 22,80 -m comment --comment web -j ACCEPT\n"
         "-A FORWARD -s 172.16.0.0/12 -j DROP\n"
         "-A FORWARD -d 8.8.8.8/32 -j ACCEPT")
NAT = "-A PREROUTING -d 203.0.113.10/32 -p tcp --dport 80 -j DNAT --to-destination 192.168.1.5:80"


def _d(rules: str = RULES, nat: str = NAT):
    return load_text(BASE.format(rules=rules, nat=nat), "<t>")


def _diff(a, b, **kw):
    return diff_dumps(a, b, **kw)


_STATEFUL = re.compile(r"-m (recent|limit|hashlimit|statistic|connlimit|quota|set|nth|random)\b")
_TERMINAL = re.compile(r" -j (ACCEPT|DROP|REJECT)( --reject-with \S+)?$")


def _swap_independent(text: str) -> tuple[str, list[int]]:
    """Swap adjacent rules of one chain that end in the same terminal verdict and hold no state
    (their order can never matter); returns the text and the dports they name."""
    lines = text.split("\n")
    ports: list[int] = []
    i = 0
    while i + 1 < len(lines):
        a, b = lines[i], lines[i + 1]
        ma, mb = _TERMINAL.search(a), _TERMINAL.search(b)
        if (a.startswith("-A ") and b.startswith("-A ") and a.split()[1] == b.split()[1] and ma and mb
                and ma.group(0) == mb.group(0) and not _STATEFUL.search(a) and not _STATEFUL.search(b) and a != b):
            lines[i], lines[i + 1] = b, a
            for ln in (a, b):
                m = re.search(r"--dports? (\d+)", ln)
                if m:
                    ports.append(int(m.group(1)))
            i += 2
        else:
            i += 1
    return "\n".join(lines), ports


@needs_corpus
def test_every_corpus_file_against_itself_and_its_independent_rules_swapped_is_an_empty_diff():
    n = m = swapped = 0
    for f in sorted(CORPUS.glob("*.rules")):
        text = f.read_text()
        a = load_dump(f)
        new, ports = _swap_independent(text)
        # the swapped files up to 3,000 rules (the TUM firewalls take seconds each: bench/ territory)
        b = load_text(new, f.name) if new != text and text.count("\n-A ") <= 3000 else None
        # one service for the swapped file (a port a swapped rule names, else 80) keeps this to seconds;
        # every fourth file also on the input path
        services = [("tcp", ports[0] if ports else 80)]
        for fam in (4, 6):
            if not any(r.family == fam for r in a.rulesets):
                continue
            assert not _diff(a, a, family=fam).changed, f.name
            n += 1
            if b is None:
                continue
            for path in ("forward", "input") if m % 4 == 0 else ("forward",):
                d = _diff(a, b, family=fam, path=path, services=services)
                assert not d.changed, (f.name, fam, path, [c.as_dict(fam) for s in d.services for c in s.changes][:2])
            m += 1
        if b is not None:
            swapped += sum(1 for x, y in zip(text.split("\n"), new.split("\n")) if x != y)
    assert n > 150 and m > 50 and swapped > 300, (n, m, swapped)


def test_edits_that_change_nothing_give_an_empty_diff():
    lines = RULES.split("\n")
    reordered = "\n".join([lines[1], lines[0], lines[2], lines[3]])  # two ACCEPTs: independent of order
    recommented = RULES.replace("--comment web", "--comment 'the web servers'")
    split = RULES.replace("-m multiport --dports 22,80 -m comment --comment web -j ACCEPT",
                          "-m tcp --dport 22 -j ACCEPT\n-A FORWARD -d 192.168.1.0/24 -p tcp -m tcp --dport 80 -j ACCEPT")
    for new in (reordered, recommented, split):
        for path in ("forward", "full"):
            assert not _diff(_d(), _d(new), path=path).changed, (path, new)
    r = CliRunner().invoke(app, ["diff", "/nonexistent/a", "/nonexistent/b"])  # bad input: exit 2
    assert r.exit_code == 2


def test_the_same_rules_on_other_host_facts_are_compared():
    facts = ("### sysctl net.ipv4.ip_forward\nnet.ipv4.ip_forward = {}\n### ip -o addr\n"
             "2: eth0    inet 198.51.100.1/24 brd 198.51.100.255 scope global eth0\n### iptables-save\n")
    text = BASE.format(rules=RULES, nat=NAT)
    a, b = load_text(facts.format(1) + text, "<a>"), load_text(facts.format(0) + text, "<b>")
    d = _diff(a, b, path="full", services=[("tcp", 22)], candidate=False)
    assert d.changed and {c.kind for s in d.services for c in s.changes} == {"closed"}


def test_a_reordering_that_matters_is_a_change():
    lines = RULES.split("\n")
    swapped = "\n".join([lines[0], lines[2], lines[1], lines[3]])  # the DROP of 172.16/12 before the web ACCEPT
    d = _diff(_d(), _d(swapped), services=[("tcp", 22), ("tcp", 80)])
    assert d.changed and {c.kind for s in d.services for c in s.changes} == {"closed"}
    s80 = d.services[1]
    c = s80.changes[0]
    assert s80.classes[c.src].ranges == [(0xAC100000, 0xAC1FFFFF)]  # 172.16.0.0/12 to the web servers


def test_an_added_rule_opens_a_class_and_names_the_new_rule():
    new = RULES.replace("-A FORWARD -s 172.16.0.0/12 -j DROP", "-A FORWARD -s 11.0.0.0/8 -d 1.2.3.0/24 -p tcp "
                        "--dport 22 -j ACCEPT\n-A FORWARD -s 172.16.0.0/12 -j DROP")
    d = _diff(_d(), _d(new), services=[("tcp", 22), ("tcp", 80)])
    (s22, s80) = d.services
    assert not s80.changes and s22.changes
    (c,) = s22.changes
    assert c.kind == "opened" and c.old[0] == 0 and c.new[0] == 1
    assert s22.classes[c.src].ranges == [(0x0B000000, 0x0BFFFFFF)] and s22.classes[c.dst].ranges == [(0x01020300, 0x010203FF)]
    assert c.new_path[-1]["action"] == "ACCEPT" and c.new_path[-1]["line"] == 14
    assert c.old_path[-1]["action"] == "policy DROP"
    back = _diff(_d(new), _d(), services=[("tcp", 22)])
    assert [x.kind for x in back.services[0].changes] == ["closed"]


def test_a_retargeted_dnat_is_a_change_though_every_packet_is_still_accepted():
    new_nat = NAT.replace("192.168.1.5:80", "192.168.1.6:80")
    d = _diff(_d(), _d(nat=new_nat), path="full", services=[("tcp", 80)])
    (s,) = d.services
    assert s.changes and all(c.kind == "changed" for c in s.changes)
    c = s.changes[0]
    assert c.old[1][1] == (0xC0A80105, 0xC0A80105) and c.new[1][1] == (0xC0A80106, 0xC0A80106)
    assert s.classes[c.dst].ranges == [(0xCB00710A, 0xCB00710A)]
    assert not _diff(_d(), _d(nat=new_nat), path="forward", services=[("tcp", 80)]).changed  # FORWARD alone: same


def test_a_candidate_rule_file_is_loaded_over_the_hosts_facts():
    old = load_dump(DOCKER)
    save = old.rulesets[0]
    text = DOCKER.read_text()
    start = text.index("### iptables-save")
    body = text[start:].split("\n", 1)[1]
    body = body[:body.index("\n### ")]
    body = re.sub(r"^\[\d+:\d+\] ", "", body, flags=re.M)
    assert "*filter" in body
    filt = body[body.index("*filter"):]
    filt = filt[:filt.index("COMMIT") + 6]
    tightened = filt.replace(":DOCKER-USER - [0:0]", ":DOCKER-USER - [0:0]\n-A DOCKER-USER -i up0 -j DROP", 1)
    cand = load_text(tightened + "\n", "<candidate>")
    merged = candidate_dump(old, cand)
    assert merged.facts == old.facts and any(t.name == "nat" for t in merged.rulesets[0].tables)
    d = diff_endpoints(engine_for(old, 4), engine_for(merged, 4), protos=["tcp"], ports=[(8080, 8080)],
                       sources=["outside"])
    assert d.changes and {c.kind for c in d.changes} == {"closed"}
    assert all("DOCKER-USER" in (c.new_rule or {}).get("chain", "") for c in d.changes)
    # --noflush: appended after DOCKER-USER's RETURN, the DROP is never reached
    appended = load_text("*filter\n-A DOCKER-USER -i up0 -j DROP\nCOMMIT\n", "<noflush>")
    merged2 = candidate_dump(old, appended, noflush=True)
    d2 = diff_endpoints(engine_for(old, 4), engine_for(merged2, 4), protos=["tcp"], ports=[(8080, 8080)],
                        sources=["outside"])
    user = [c for c in merged2.rulesets[0].tables if c.name == "filter"][0].chain("DOCKER-USER")
    assert len(user.rules) >= 2 and user.rules[-1].target.name == "DROP"
    assert not d2.changes or {c.kind for c in d2.changes} <= {"closed"}
    assert save is old.rulesets[0]


def test_cli_formats_and_exit_codes(tmp_path):
    a, b = tmp_path / "a.rules", tmp_path / "b.rules"
    a.write_text(BASE.format(rules=RULES, nat=NAT))
    b.write_text(BASE.format(rules=RULES.replace("-j DROP", "-j ACCEPT"), nat=NAT))
    run = lambda *args: CliRunner().invoke(app, ["diff", str(a), str(b), *args])  # noqa: E731
    r = run()
    assert r.exit_code == 1 and "opened" in r.output and "from 172.16.0.0/12" in r.output
    assert run("--fail-on-change", "never").exit_code == 0
    assert run("--fail-on-change", "closed").exit_code == 0
    assert run("--fail-on-change", "opened").exit_code == 1
    j = json.loads(run("--format", "json").output)
    assert j["view"] == "space" and j["changed"] and j["services"][0]["changes"][0]["kind"] == "opened"
    md = run("--format", "markdown").output
    assert md.startswith("**dnlint diff**") and "| 🔓 opened |" in md
    sarif = json.loads(run("--format", "sarif").output)
    res = sarif["runs"][0]["results"]
    assert res and res[0]["ruleId"] == "flow-opened" and res[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 14
    gh = run("--format", "github").output
    assert gh.startswith("::warning file=") and ",line=14," in gh
    same = CliRunner().invoke(app, ["diff", str(a), str(a)])
    assert same.exit_code == 0 and "no flow changes its fate" in same.output


# --------------------------------------------------------------------------- the captures as pairs

CAPTURE_PAIRS = [("a_default", "b_no_userland_proxy"), ("b_no_userland_proxy", "c_no_proxy_no_localnet"),
                 ("a_default", "h_docker_user"), ("a_default", "i_input_drop"), ("d_icc_true", "d_icc_false")]


def _key(p: dict) -> tuple:
    return (p["from"], p.get("src"), p["to"], p["port"], p["proto"], p.get("udp_socket"))


@pytest.mark.parametrize("captures", ["docker", "docker-v28"])
@pytest.mark.parametrize("old, new", CAPTURE_PAIRS, ids=lambda x: x)
def test_capture_pairs_diff_exactly_where_the_probes_changed(captures, old, new):
    """Two real Docker captures on one topology (proxy on/off, route_localnet on/off, a DOCKER-USER
    rule, INPUT DROP): a probe whose kernel outcome changed between them falls in a changed class of
    `dnlint diff`, and one that did not, does not."""
    from oracle.capture_docker import dump_dockerd_version, known_disagreement
    from oracle.differential import expected_answer

    d = ROOT / "fixtures" / captures
    a_path, b_path = d / f"{old}.txt", d / f"{new}.txt"
    pa = {_key(p): p for p in json.loads((d / f"{old}.probes.json").read_text()) if not p.get("sport")}
    pb = {_key(p): p for p in json.loads((d / f"{new}.probes.json").read_text()) if not p.get("sport")}
    common = [k for k in pa if k in pb and ":" not in k[2]]  # IPv4
    src_of = lambda p: p.get("src") or ("192.0.2.2" if p["from"] == "outside" else p["from"])  # noqa: E731
    ea, eb = engine_for(load_dump(a_path), 4), engine_for(load_dump(b_path), 4)
    srcs = sorted({src_of(pa[k]) for k in common})
    dsts = sorted({k[2] for k in common})
    diff = diff_endpoints(ea, eb, sources=srcs, destinations=dsts, protos=sorted({k[4] for k in common}))
    va, vb = dump_dockerd_version(a_path.read_text()), dump_dockerd_version(b_path.read_text())
    from dnlint.engine.matrix import compute_matrix

    ma = compute_matrix(ea, sources=srcs, destinations=dsts, protos=sorted({k[4] for k in common}))
    mb = compute_matrix(eb, sources=srcs, destinations=dsts, protos=sorted({k[4] for k in common}))
    from oracle.differential import _delivered_ns

    compared = changed = mechanism = 0
    for k in common:
        x, y = pa[k], pb[k]
        if known_disagreement(va, old, x) or known_disagreement(vb, new, y):
            continue
        s, t, port, proto = src_of(x), k[2], k[3], k[4]
        ka, kb = ma.cell(s, t).class_for(proto, port), mb.cell(s, t).class_for(proto, port)
        if ka is None or kb is None or ka.reachable is None or kb.reachable is None:
            continue  # a possible answer is not judged
        if ka.reachable != expected_answer(x) or kb.reachable != expected_answer(y):
            continue  # the matrix itself is judged by tests/test_matrix.py
        kernel = expected_answer(x) != expected_answer(y) or (
            expected_answer(x) and (x.get("delivered_to"), x.get("seen_src")) != (y.get("delivered_to"), y.get("seen_src")))
        ours = any(c.src == s and c.dst == t and c.proto == proto and
                   (proto == "icmp" or any(lo <= port <= hi for lo, hi in c.ports)) for c in diff.changes)
        # what a probe can see of a change: reached or not, by whom, from which source; a change of
        # mechanism alone (docker-proxy -> DNAT, the same server and source) is the diff's, not the probe's
        seen = lambda kk: (kk.reachable, _delivered_ns(kk.answer.delivered), (kk.answer.delivered or {}).get("seen_src"))  # noqa: E731
        where = (captures, old, new, k, x.get("note"), [c.as_dict() for c in diff.changes if c.src == s and c.dst == t][:2])
        assert (seen(ka) != seen(kb)) == kernel, where
        assert ours or not kernel, where
        compared += 1
        changed += kernel
        mechanism += ours and not kernel
    assert compared > 5 and changed + mechanism > 0, (compared, changed, mechanism)


def test_a_candidate_in_iptables_S_form_replaces_the_filter_table():
    """`iptables -S` output (the filter table, as people paste it) as NEW: the filter table is replaced,
    the nat table and the host facts stay OLD's."""
    from dnlint.emit import rule_spec

    old = load_dump(DOCKER)
    filt = next(t for t in old.rulesets[0].tables if t.name == "filter")
    lines = [f"-P {c.name} {c.policy}" for c in filt.chains if c.policy]
    lines += [f"-N {c.name}" for c in filt.chains if not c.policy]
    for c in filt.chains:
        if c.name == "DOCKER-USER":
            lines.append("-A DOCKER-USER -i up0 -p tcp -m conntrack --ctorigdstport 8080 -j DROP")
        lines += [f"-A {c.name} {rule_spec(r)}" for r in c.rules]
    cand = load_text("\n".join(lines) + "\n", "<iptables -S>")
    assert cand.rulesets and cand.rulesets[0].format.value == "spec"
    merged = candidate_dump(old, cand)
    assert {t.name for t in merged.rulesets[0].tables} >= {"nat", "filter"}
    count = lambda d: sum(len(c.rules) for t in d.rulesets[0].tables if t.name == "filter" for c in t.chains)  # noqa: E731
    assert count(merged) == count(old) + 1
    d = diff_endpoints(engine_for(old, 4), engine_for(merged, 4), protos=["tcp"], ports=[(8080, 8080)],
                       sources=["outside"])
    assert d.changes and {c.kind for c in d.changes} == {"closed"}
    r = CliRunner().invoke(app, ["diff", str(DOCKER), "-", "--ports", "8080", "--proto", "tcp"],
                           input="\n".join(lines) + "\n")
    assert r.exit_code == 1 and "closed" in r.output and "DOCKER-USER #1" in r.output
