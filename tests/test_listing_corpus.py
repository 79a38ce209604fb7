"""The listing parser over the shared corpus of real `iptables -L` listings.

- every file under ../shared/corpus/list/ parses without an exception (DN001 and undecoded
  option texts are counted and printed; run with ``-s`` to see them);
- equivalence: where the corpus holds a listing and an iptables-save / iptables -S dump of the
  same rules, both parse to the same chains and rules (ignoring spans, counters,
  Match.implicit and the fields a listing cannot show, Rule.unknown);
- property: random bytes and mutated corpus lines never make parse_listing raise.

The corpus is read in place and never copied; tests skip when it is absent.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dnlint.ir import RulesetFormat
from dnlint.parse.listing import UNKNOWN_MODULE, parse_listing
from dnlint.source import Text

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus"
LIST_DIR = CORPUS / "list"
SAVE_DIR = CORPUS / "save"

LIST_FILES = sorted(LIST_DIR.glob("*.txt")) if LIST_DIR.is_dir() else []


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _parse_file(path: Path, **kw):
    return parse_listing(Text.from_string(_read(path), str(path)), **kw)


def _undecoded(ruleset):
    return [m.options[0].args[0] for t in ruleset.tables for c in t.chains for r in c.rules
            for m in r.matches if m.module == UNKNOWN_MODULE]


needs_corpus = pytest.mark.skipif(not LIST_FILES, reason="shared corpus not present")


# --------------------------------------------------------------------------- every file parses


@needs_corpus
@pytest.mark.parametrize("path", LIST_FILES, ids=lambda p: p.name)
def test_corpus_listing_parses(path: Path):
    rulesets, diags = _parse_file(path)
    assert len(rulesets) == 1 and rulesets[0].format is RulesetFormat.LISTING
    assert [d.code for d in diags].count("DN004") == 1
    dn001 = [d for d in diags if d.code == "DN001"]
    undecoded = _undecoded(rulesets[0])
    print(f"{path.name}: rules={sum(len(c.rules) for c in rulesets[0].tables[0].chains)} "
          f"DN001={len(dn001)} undecoded={len(undecoded)}")
    for d in dn001:
        print("   ", d)
    for u in undecoded:
        print("    undecoded:", u)
    for d in diags:
        assert d.span is None or d.span.file == str(path)


# Lines of the corpus that are not listing output (shell prompts left inside extracted files).
EXPECTED_DN001 = {
    "netnet_qubesos-sys-firewall_vLn_mangle.txt": 1,   # "[user@sys-firewall ~]$ sudo iptables -vL -n -t raw"
    "netnet_shorewall-home-router-2015_Lnv.txt": 1,    # "# iptables -L -n -v"
}


@needs_corpus
def test_corpus_totals():
    """Regression guard: DN001 only on the prompt lines, and no undecoded option text at all."""
    total_dn001 = total_undecoded = total_rules = 0
    for path in LIST_FILES:
        rulesets, diags = _parse_file(path)
        n = sum(d.code == "DN001" for d in diags)
        assert n == EXPECTED_DN001.get(path.name, 0), (path.name, [str(d) for d in diags if d.code == "DN001"])
        total_dn001 += n
        total_undecoded += len(_undecoded(rulesets[0]))
        total_rules += sum(len(c.rules) for c in rulesets[0].tables[0].chains)
    print(f"corpus: {len(LIST_FILES)} listings, {total_rules} rules, DN001={total_dn001}, "
          f"undecoded option texts={total_undecoded}")
    assert total_undecoded == 0


# --------------------------------------------------------------------------- equivalence with save


def _pairs() -> list[tuple[str, str]]:
    pairs = []
    for lf in LIST_FILES:
        if lf.name.startswith("moby-"):
            sf = SAVE_DIR / (lf.stem + ".iptables-S.rules")
            if sf.exists():
                pairs.append((lf.name, sf.name))
    return pairs


# Listing and save dump of the same rules (SOURCES.md: same host, same date).
SAME_RULES = [
    ("itsem_sns-ias-eduroam_Lnv.txt", "itsem_sns-ias-eduroam.rules"),
    ("netnet_kornwall-2015_Lnv.txt", "netnet_kornwall-2015.rules"),
    ("netnet_openlab-augsburg_Lnv.txt", "netnet_openlab-augsburg.rules"),
    ("netnet_psa-2016_Lnv.txt", "netnet_psa-2016.rules"),
    ("netnet_psa-team-a-psa1_Lnv.txt", "netnet_psa-team-a-psa1.rules"),
    ("netnet_psa-team-a_Lnv_2016-01-27.txt", "netnet_psa-team-a_2016-01-27.rules"),
    ("netnet_psa-team-a_Lnv_2016-03-02.txt", "netnet_psa-team-a_2016-03-02.rules"),
    ("netnet_psa-team-b_Lnv.txt", "netnet_psa-team-b.rules"),
    ("netnet_psa-team-c_Lnv.txt", "netnet_psa-team-c.rules"),
    ("netnet_qubesos-sys-firewall_vLn_nat.txt", "netnet_qubesos-sys-firewall.rules"),
    ("netnet_ringofsaturn_Lnv.txt", "itsem_ringofsaturn.rules"),
    ("netnet_ringofsaturn_Ln.txt", "itsem_ringofsaturn.rules"),
    ("netnet_shorewall-home-router-2014_Lnv.txt", "netnet_shorewall-home-router-2014.rules"),
    ("netnet_shorewall-home-router-2015_Lnv.txt", "netnet_shorewall-home-router-2015.rules"),
    ("netnet_synology-ds414_Lnv_2015-06-legacyiface.txt", "netnet_synology-ds414_2015-06-legacyiface.rules"),
    ("netnet_tails-1.4.1_Lnv.txt", "netnet_tails-1.4.1.rules"),
    ("netnet_tum-chair-fw6_Lnv_2016-06-27.txt", "netnet_tum-chair-fw6_2016-06-27.rules"),
    ("netnet_tum-chair-fw_Lnv_2014-07-25.txt", "netnet_tum-chair-fw_2014-07-25.rules"),
    ("netnet_tum-chair-fw_Lnv_2015-05-13.txt", "netnet_tum-chair-fw_2015-05-13.rules"),
    ("netnet_tum-chair-fw_Lnv_2016-06-27.txt", "netnet_tum-chair-fw_2016-06-27.rules"),
    ("netnet_tum-chair-fw_Ln_2016-06-27.txt", "netnet_tum-chair-fw_2016-06-27.rules"),
    ("netnet_ufw-server1_Lnv.txt", "netnet_ufw-server1.rules"),
    ("netnet_ufw-server2_Lnv.txt", "netnet_ufw-server2.rules"),
    ("netnet_vsrv_Lnv.txt", "netnet_vsrv.rules"),
]

# Pairs that are NOT expected to agree rule for rule, with the reason; reported, not asserted.
DIFFERENT = [
    # -L without -n: user names instead of uids (owner) cannot be mapped back.
    ("netnet_tails-1.4.1_Lv.txt", "netnet_tails-1.4.1.rules"),
    # the save file is hand-written restore input (bare IPs, dotted masks), not iptables-save output
    ("netnet_ugent_Lnv.txt", "netnet_ugent.rules"),
    # listing and dump are different snapshots of the host
    ("netnet_qubesos-sys-firewall_vLn_filter.txt", "netnet_qubesos-sys-firewall.rules"),
    ("xz_docker-desktop-k8s_filter.txt", "xz_docker-desktop-k8s_filter.iptables-S.rules"),
]


def _rule_key(rule, unknown):
    key = {
        "protocol": rule.protocol, "src": rule.src, "dst": rule.dst, "fragment": rule.fragment,
        "matches": tuple((m.module, m.options) for m in rule.matches),
        "target": (rule.target.name, rule.target.options, rule.target.goto) if rule.target else None,
    }
    for f in ("in_iface", "out_iface"):
        if f not in unknown:
            key[f] = getattr(rule, f)
    return key


def compare(list_name: str, save_name: str) -> tuple[int, int, list[str]]:
    """Parse both files and compare chain by chain, rule by rule: (same, total, problems)."""
    from dnlint.parse.save import parse_save

    lpath, spath = LIST_DIR / list_name, SAVE_DIR / save_name
    lrs, _ = _parse_file(lpath)
    ltable = lrs[0].tables[0]
    spec_table = ltable.name if "iptables-S" in save_name else None
    srs, _ = parse_save(Text.from_string(_read(spath), str(spath)), table=spec_table)
    stable = None
    for rs in srs:
        if rs.table(ltable.name) is not None:
            stable = rs.table(ltable.name)
    if stable is None:
        return 0, 0, [f"the save dump has no table {ltable.name!r}"]
    same = total = 0
    problems: list[str] = []
    for lchain in ltable.chains:
        schain = stable.chain(lchain.name)
        if schain is None:
            problems.append(f"chain {lchain.name} missing from the save dump")
            continue
        if lchain.policy != schain.policy:
            problems.append(f"chain {lchain.name}: policy {lchain.policy} vs {schain.policy}")
        if len(lchain.rules) != len(schain.rules):
            problems.append(f"chain {lchain.name}: {len(lchain.rules)} rules vs {len(schain.rules)}")
            continue
        for lr, sr in zip(lchain.rules, schain.rules):
            total += 1
            a, b = _rule_key(lr, lr.unknown), _rule_key(sr, lr.unknown)
            if a == b:
                same += 1
            else:
                diff = {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
                problems.append(f"{lpath.name}:{lr.span.line} vs {spath.name}:{sr.span.line}: {diff}")
    return same, total, problems


def _save_parser_available() -> bool:
    try:
        from dnlint.parse.save import parse_save  # noqa: F401
    except Exception:
        return False
    return True


@needs_corpus
@pytest.mark.skipif(not _save_parser_available(), reason="dnlint.parse.save not available yet")
@pytest.mark.parametrize("list_name,save_name", _pairs() + SAME_RULES, ids=lambda x: x)
def test_listing_equals_save(list_name, save_name):
    if not (SAVE_DIR / save_name).exists() or not (LIST_DIR / list_name).exists():
        pytest.skip("pair not in corpus")
    same, total, problems = compare(list_name, save_name)
    print(f"{list_name} vs {save_name}: {same}/{total} rules equal")
    assert not problems, "\n".join(problems[:20])
    assert total > 0 or list_name.endswith(("_raw.txt", "_mangle.txt"))


@needs_corpus
@pytest.mark.skipif(not _save_parser_available(), reason="dnlint.parse.save not available yet")
@pytest.mark.parametrize("list_name,save_name", DIFFERENT, ids=lambda x: x)
def test_listing_vs_save_report_only(list_name, save_name):
    """Pairs known to differ: report how far they agree; only require that both parse."""
    if not (SAVE_DIR / save_name).exists() or not (LIST_DIR / list_name).exists():
        pytest.skip("pair not in corpus")
    same, total, problems = compare(list_name, save_name)
    print(f"{list_name} vs {save_name}: {same}/{total} rules equal, {len(problems)} differences")
    for p in problems[:5]:
        print("   ", p)


# --------------------------------------------------------------------------- property tests

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _sample_lines() -> list[str]:
    lines: list[str] = []
    for path in LIST_FILES:
        lines.extend(_read(path).splitlines()[:40])
    return lines or [
        "Chain INPUT (policy ACCEPT 114K packets, 78M bytes)",
        " pkts bytes target     prot opt in     out     source               destination",
        "    2   168 ACCEPT     all  --  *      docker0  0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED",
    ]


SAMPLE = _sample_lines()


def _never_raises(data: str, **kw) -> None:
    rulesets, diags = parse_listing(Text.from_string(data, "fuzz.txt"), **kw)
    assert len(rulesets) == 1
    assert sum(d.code == "DN004" for d in diags) == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data):
    _never_raises(data.decode("utf-8", errors="replace"))
    _never_raises(data.decode("latin-1"), command="iptables -L -v -n --line-numbers")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.text(max_size=4)),
                min_size=1, max_size=12),
       st.sampled_from([None, "iptables -L", "iptables -nvL -t nat", "ip6tables -L -n"]))
def test_mutated_corpus_lines_never_raise(edits, command):
    rng = random.Random(edits[0][0])
    lines = [SAMPLE[(a + i) % len(SAMPLE)] for i, (a, _, _) in enumerate(edits)]
    out = []
    for line, (_, pos, ins) in zip(lines, edits):
        if line:
            p = pos % (len(line) + 1)
            cut = rng.randint(0, 3)
            line = line[:p] + ins + line[p + cut:]
        out.append(line)
    rng.shuffle(out)
    _never_raises("\n".join(["Chain INPUT (policy ACCEPT)"] + out), command=command)
    _never_raises("\n".join(out))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    "tcp", "udp", "dpt:80", "spts:1:2", "flags:", "0x17/0x02", "!", "state", "NEW", "ctstate",
    "multiport", "dports", "/*", "*/", '"', "LOG", "prefix", "level", "MARK", "or", "set",
    "recent:", "name:", "side:", "PHYSDEV", "match", "--physdev-in", "to:1.2.3.4:5", "icmp",
    "type", "code", "limit:", "avg", "burst", "ADDRTYPE", "dst-type", "[goto]", "CONNMARK",
    "save", "mask", "statistic", "mode", "probability", "owner", "UID", "x", "0",
]), max_size=12))
def test_option_word_soup_never_raises(words):
    text = " ".join(words)
    data = ("Chain INPUT (policy ACCEPT)\n"
            "target     prot opt source               destination\n"
            f"ACCEPT     tcp  --  0.0.0.0/0            0.0.0.0/0            {text}\n"
            f"MARK       all  --  0.0.0.0/0            0.0.0.0/0            {text}\n")
    _never_raises(data)
