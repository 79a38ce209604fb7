"""DN102-DN108 beyond their fixtures: the shadowing proof's unions and guards, loops, timing."""

import time
from pathlib import Path

import pytest

from dnlint.checks import _structure
from dnlint.checks.base import CheckContext
from dnlint.checks.registry import all_checks
from dnlint.load import load_dump
from dnlint.model.intervals import IntervalSet

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "save"
HEAD = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"


def run(tmp_path, text, code, options=None):
    p = tmp_path / "dump.rules"
    p.write_text(text if text.startswith("*") else HEAD + text + "COMMIT\n")
    ctx = CheckContext(load_dump(p), options=options or {})
    return list(all_checks()[code]().run(ctx))


def lines(findings):
    return sorted(f.span.line for f in findings)


def test_two_halves_shadow_their_slash_24(tmp_path):
    fs = run(tmp_path, "-A INPUT -s 10.0.0.0/25 -j ACCEPT\n-A INPUT -s 10.0.0.128/25 -j ACCEPT\n"
                       "-A INPUT -s 10.0.0.0/24 -j DROP\n", "DN103")
    assert lines(fs) == [7]
    assert "#1 (line 5)" in fs[0].message and "#2 (line 6)" in fs[0].message
    assert "never matches" in fs[0].message


def test_one_half_is_not_enough(tmp_path):
    assert run(tmp_path, "-A INPUT -s 10.0.0.0/25 -j ACCEPT\n-A INPUT -s 10.0.0.0/24 -j DROP\n", "DN103") == []


def test_earlier_interface_the_later_rule_lacks(tmp_path):
    text = "-A INPUT -i eth0 -s 10.0.0.0/8 -j ACCEPT\n-A INPUT -s 10.1.0.0/16 -j DROP\n"
    assert run(tmp_path, text, "DN103") == []


@pytest.mark.parametrize("earlier,later", [
    ("-i eth+", "-i eth0"),
    ("! -i lo", "-i eth0"),
    ("! -i docker+", "-i eth0"),
    ("! -i eth0", "! -i eth+"),
])
def test_weaker_interface_tests_shadow(tmp_path, earlier, later):
    text = f"-A INPUT {earlier} -s 10.0.0.0/8 -j ACCEPT\n-A INPUT {later} -s 10.1.0.0/16 -j DROP\n"
    assert lines(run(tmp_path, text, "DN103")) == [6]


@pytest.mark.parametrize("earlier,later", [
    ("-i eth0", "-i eth+"),
    ("! -i eth0", "-i eth+"),
    ("-i eth+", "! -i lo"),
])
def test_interface_tests_that_do_not_imply(tmp_path, earlier, later):
    text = f"-A INPUT {earlier} -s 10.0.0.0/8 -j ACCEPT\n-A INPUT {later} -s 10.1.0.0/16 -j DROP\n"
    assert run(tmp_path, text, "DN103") == []


def test_earlier_unknown_or_stateful_match(tmp_path):
    for m in ("-m u32 --u32 0x0>>0x16&0x3c@0x8=0x1", "-m limit --limit 1/sec", "-m recent --rcheck"):
        text = f"-A INPUT -s 10.0.0.0/8 {m} -j ACCEPT\n-A INPUT -s 10.1.0.0/16 -j DROP\n"
        assert run(tmp_path, text, "DN103") == [], m


def test_later_unknown_match_only_narrows(tmp_path):
    text = "-A INPUT -s 10.0.0.0/8 -j ACCEPT\n-A INPUT -s 10.1.0.0/16 -m u32 --u32 0x0>>0x16&0x3c@0x8=0x1 -j DROP\n"
    assert lines(run(tmp_path, text, "DN103")) == [6]


def test_earlier_non_terminating_rule(tmp_path):
    text = "-A INPUT -s 10.0.0.0/8 -j LOG\n-A INPUT -s 10.0.0.0/8 -j MARK --set-mark 1\n-A INPUT -s 10.1.0.0/16 -j DROP\n"
    assert run(tmp_path, text, "DN103") == []
    assert run(tmp_path, text, "DN104") == []


def test_ports_differ(tmp_path):
    text = ("-A INPUT -p tcp --dport 80 -j ACCEPT\n-A INPUT -p tcp --dport 8080 -j DROP\n"
            "-A INPUT -p udp --dport 80 -j DROP\n-A INPUT -p tcp --sport 80 -j DROP\n"
            "-A INPUT -p tcp -m multiport --dports 79:81 -j DROP\n")
    assert run(tmp_path, text, "DN103") == []


def test_port_ranges_and_multiport_union(tmp_path):
    text = ("-A INPUT -p tcp --dport 1:1000 -j ACCEPT\n-A INPUT -p tcp --dport 1001:2000 -j ACCEPT\n"
            "-A INPUT -p tcp -m multiport --dports 22,80,1500 -j DROP\n")
    assert lines(run(tmp_path, text, "DN103")) == [7]


def test_port_match_does_not_take_fragments(tmp_path):
    text = "-A INPUT -p tcp --dport 0:65535 -j ACCEPT\n-A INPUT -p tcp -j DROP\n-A INPUT -p tcp ! -f -j DROP\n"
    assert lines(run(tmp_path, text, "DN103")) == [7]


def test_mark_changed_between(tmp_path):
    text = ("-A INPUT -m mark --mark 0x1 -j ACCEPT\n-A INPUT -j MARK --set-xmark 0x1/0xffffffff\n"
            "-A INPUT -m mark --mark 0x1 -j DROP\n")
    assert run(tmp_path, text, "DN103") == []
    text = ("-A INPUT -m mark --mark 0x1 -j ACCEPT\n-A INPUT -j LOG\n"
            "-A INPUT -m mark --mark 0x1 -p tcp -j DROP\n")
    assert lines(run(tmp_path, text, "DN103")) == [7]


def test_mark_changed_in_a_called_chain(tmp_path):
    text = (HEAD.replace(":OUTPUT ACCEPT [0:0]\n", ":OUTPUT ACCEPT [0:0]\n:SET - [0:0]\n:PURE - [0:0]\n")
            + "-A INPUT -m mark --mark 0x1 -j ACCEPT\n-A INPUT -j PURE\n-A INPUT -j SET\n"
              "-A INPUT -m mark --mark 0x1 -j DROP\n-A SET -j MARK --set-mark 1\n-A PURE -j LOG\nCOMMIT\n")
    assert run(tmp_path, text, "DN103") == []


def test_conntrack_states(tmp_path):
    text = ("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
            "-A INPUT -m state --state ESTABLISHED -p tcp -j DROP\n"
            "-A INPUT -m conntrack --ctstate NEW,ESTABLISHED -j DROP\n")
    assert lines(run(tmp_path, text, "DN103")) == [6]


def test_loop_through_three_chains(tmp_path):
    text = ("*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n-A INPUT -j A\n"
            "-A A -j B\n-A B -p tcp -j C\n-A C -s 10.0.0.0/8 -j A\nCOMMIT\n")
    fs = run(tmp_path, text, "DN106")
    assert lines(fs) == [9]
    assert "A -> B -> C -> A" in fs[0].message


def test_no_loop_in_a_diamond(tmp_path):
    text = ("*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n-A INPUT -j A\n-A INPUT -j B\n"
            "-A A -j C\n-A B -j C\n-A C -j RETURN\nCOMMIT\n")
    assert run(tmp_path, text, "DN106") == []


def test_shadowed_and_redundant_do_not_overlap(tmp_path):
    text = ("-A INPUT -s 10.0.0.0/8 -j ACCEPT\n-A INPUT -s 10.1.0.0/16 -j ACCEPT\n"
            "-A INPUT -s 10.2.0.0/16 -j DROP\n-A INPUT -j DROP\n-A INPUT -s 10.3.0.0/16 -j DROP\n")
    assert lines(run(tmp_path, text, "DN104")) == [6]
    assert lines(run(tmp_path, text, "DN103")) == [7]
    assert lines(run(tmp_path, text, "DN105")) == [9]


def test_listing_without_interfaces_is_not_unconditional(tmp_path):
    text = ("Chain INPUT (policy ACCEPT)\ntarget     prot opt source               destination\n"
            "ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0\n"
            "DROP       tcp  --  0.0.0.0/0            0.0.0.0/0            tcp dpt:22\n")
    p = tmp_path / "l.txt"
    p.write_text(text)
    ctx = CheckContext(load_dump(p))
    assert list(all_checks()["DN105"]().run(ctx)) == []
    assert list(all_checks()["DN103"]().run(ctx)) == []


def test_z3_decides_what_subtraction_gives_up_on(monkeypatch):
    full = _structure._FULLS[4]
    j = {"src": IntervalSet.range(0, 255), "dport": IntervalSet.range(0, 9)}
    halves = [{"src": IntervalSet.range(0, 127)}, {"src": IntervalSet.range(128, 255), "dport": IntervalSet.range(0, 4)},
              {"src": IntervalSet.range(100, 255), "dport": IntervalSet.range(5, 9)}]
    assert full
    monkeypatch.setattr(_structure, "MAX_RESIDUALS", 0)
    stats = {}
    assert _structure.covered(j, halves, 4, time.monotonic() + 10, stats) is True
    assert stats.get("z3") == 1
    assert _structure.covered(j, halves[:2], 4, time.monotonic() + 10, stats) is False
    monkeypatch.undo()
    assert _structure.covered(j, halves, 4, time.monotonic() + 10, {}) is True


def test_budget_degrades_to_not_checked(tmp_path):
    text = "-A INPUT -s 10.0.0.0/8 -j ACCEPT\n-A INPUT -s 10.1.0.0/16 -j DROP\n"
    assert run(tmp_path, text, "DN103", options={"DN103": {"budget-seconds": 0}}) == []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared corpus absent")
@pytest.mark.parametrize("name", ["gfwlist_ss-redir-china-bypass.rules", "netnet_tum-chair-fw_2016-06-27.rules",
                                  "netnet_tum-chair-fw6_2016-06-27.rules"])
def test_timing_on_large_corpus_files(name):
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} absent")
    dump = load_dump(path)
    ctx = CheckContext(dump)
    start = time.monotonic()
    counts = {code: len(list(all_checks()[code]().run(ctx)))
              for code in ("DN102", "DN103", "DN104", "DN105", "DN106", "DN107", "DN108")}
    elapsed = time.monotonic() - start
    res = [_structure.analyse(ctx, f) for f in ctx.families()]
    print(f"\n{name}: DN102-DN108 in {elapsed:.2f}s (shadow analysis "
          f"{', '.join(f'{r.seconds:.2f}s' for r in res)}, timed out: {any(r.timed_out for r in res)}) {counts}")
    assert elapsed < 15


def test_misread_rule_is_not_used(tmp_path):
    # iptables gives `--dports` after `-j ACCEPT` to the multiport match; never prove with a misread rule
    text = ("-A INPUT -p tcp -m tcp -m multiport -j ACCEPT --dports 22,80\n"
            "-A INPUT -p tcp -m tcp --dport 113 -j DROP\n")
    assert run(tmp_path, text, "DN103") == []


def test_no_shadowing_proofs_on_listing_input():
    """A listing may hide conditions (two lines that print alike can differ): DN103/DN104 stay
    silent on listing tables rather than risk a confident wrong finding."""
    from dnlint.lint import LintConfig, lint_dump
    from dnlint.load import load_text

    listing = ("### iptables -L -n -v\n"
               "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n"
               " pkts bytes target     prot opt in     out     source               destination\n"
               "    5   300 DROP       tcp  --  *      *       10.0.0.0/8           0.0.0.0/0\n"
               "    7   420 DROP       tcp  --  *      *       10.0.0.0/8           0.0.0.0/0\n")
    result = lint_dump(load_text(listing, "listing.txt"), LintConfig.load(ruleset="strict"))
    assert not [f for f in result.findings if f.code in ("DN103", "DN104")]
    save = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.0/8 -p tcp -j DROP\n-A INPUT -s 10.0.0.0/8 -p tcp -j DROP\nCOMMIT\n"
    result = lint_dump(load_text(save, "save.rules"), LintConfig.load(ruleset="strict"))
    assert [f.code for f in result.findings if f.code in ("DN103", "DN104")] == ["DN104"]
