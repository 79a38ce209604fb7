"""DN015: iptables-save input whose table never reaches COMMIT (a cut file) is reported at the
cut, the table is marked incomplete in the IR, and answers say they rest on a partial rule set.

The kernel tool is the oracle: every prefix of a real Docker host's save is given to
``iptables-nft-restore --test`` in a namespace of the test's own; dnlint must reject exactly
the prefixes it rejects, at the line it names.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dnlint.engine.query import query_dump
from dnlint.load import load_text
from dnlint.model.host import build_host
from netns import lab  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

HEAD = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
NAT = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
       "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n")


def dn015(dump):
    return [d for d in dump.diagnostics if d.code == "DN015"]


@pytest.mark.parametrize("text, line, words", [
    (NAT, 6, ["table nat (line 1) has no COMMIT", "ends inside it at line 6", "MASQUERADE"]),
    (HEAD + "-A FORWARD -i docker0 -o dock", 5, ["table filter", "`-A FORWARD -i docker0 -o dock`", "cut"]),
    (HEAD + "-A FORWARD -i docker0 -j ACCEPT\nCOMM", 6, ["`COMM`"]),
    (HEAD + "COMMIT\n" + NAT[:40], 8, ["table nat (line 6)"]),
    (HEAD + "-A FORWARD -i docker0 -j ACCEPT\n" + NAT + "COMMIT\n", 6, ["before this `*nat` line"]),
    (HEAD + "-A FORWARD -j ACCEPT\n\n\n", 5, ["at line 5"]),
])
def test_truncations_are_reported_at_the_cut(text, line, words):
    dump = load_text(text, "cut.rules")
    (d,) = dn015(dump)
    assert d.span.line == line
    assert d.severity.value == "error"
    for w in words:
        assert w in d.message


@pytest.mark.parametrize("text", [
    HEAD + "COMMIT\n" + NAT + "COMMIT",                                   # no final newline
    HEAD + "COMMIT\n# Completed on Tue Dec  1 10:0",                     # a comment cut after COMMIT
    "-P INPUT ACCEPT\n-P FORWARD DROP\n-N DOCKER\n-A FORWARD -o docker0 -j DOCKER\n",  # iptables -S
    "### iptables-save -t nat\n" + NAT + "COMMIT\n### iptables -S\n-P INPUT ACCEPT\n",
    "Chain INPUT (policy ACCEPT)\ntarget     prot opt source               destination\n"
    "ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0\n",                # a listing
    "",
    HEAD + "-A INPUT -j ACCEPT\nnot a rule\nCOMMIT\n",                # a broken line before COMMIT
])
def test_forms_that_are_not_truncation_are_not_reported(text):
    dump = load_text(text, "ok.rules")
    assert dn015(dump) == []
    assert all(t.complete for rs in dump.rulesets for t in rs.tables)


def test_prose_after_a_table_cut_short_is_not_read_as_its_rules():
    dump = load_text("I pasted it from the broken file:\n\n" + HEAD + "-A FORWARD -i docker0 -o dock\n\n"
                     "and that is where it ends.\nAny idea why?\n", "q.txt")
    assert [(d.code, d.span.line) for d in dump.diagnostics] == [("DN015", 7)]


def test_the_ir_marks_the_table_and_answers_carry_it():
    dump = load_text(HEAD + "-A FORWARD -i docker0 -j ACCEPT\nCOMMIT\n" + NAT, "cut.rules")
    (rs,) = dump.rulesets
    assert [(t.name, t.complete) for t in rs.tables] == [("filter", True), ("nat", False)]
    assert rs.incomplete == ("nat",)
    note = ("table nat of the iptables-save at line 7 has no COMMIT (the input is truncated): "
            "answers rest on a possibly partial rule set")
    assert note in build_host(dump, 4).assumptions
    answer = query_dump(dump, "host", "127.0.0.1", 80, "tcp")
    assert note in answer.assumptions
    complete = load_text(HEAD + "-A FORWARD -i docker0 -j ACCEPT\nCOMMIT\n" + NAT + "COMMIT\n", "ok.rules")
    assert not any("no COMMIT" in a for a in query_dump(complete, "host", "127.0.0.1", 80, "tcp").assumptions)


def test_a_filtered_section_is_dn012_not_dn015_but_still_incomplete():
    dump = load_text("### iptables-save | head -7\n" + HEAD + "-A FORWARD -j ACCEPT\n-A FORWARD -o dock\n", "d.txt")
    assert [d.code for d in dump.diagnostics] == ["DN012"]
    assert dump.rulesets[0].incomplete == ("filter",)


def test_a_save_cut_by_a_timeout_does_not_swallow_the_next_sections():
    text = ("# dnlint host dump\n### iptables-save -c\n" + HEAD + "[3:180] -A FORWARD -i docker0 -o do\n"
            "##! timed out after 10 s\n### ip6tables-save -c\n" + HEAD.replace("FORWARD DROP", "FORWARD ACCEPT")
            + "COMMIT\n### ip -o addr\n2: eth0    inet 192.0.2.10/24 scope global eth0\n")
    dump = load_text(text, "d.txt")
    assert [d.span.line for d in dn015(dump)] == [7]
    assert [rs.family for rs in dump.rulesets] == [4, 6]
    assert dump.rulesets[1].incomplete == ()
    assert [a.cidr for a in dump.facts.addresses] == ["192.0.2.10/24"]
    assert any(d.code == "DN011" for d in dump.diagnostics)


@pytest.mark.skipif(not (CORPUS / "save").is_dir(), reason="../shared/corpus is absent")
def test_no_corpus_save_file_is_flagged():
    from dnlint.load import load_dump

    flagged = {}
    for path in sorted((CORPUS / "save").glob("*")):
        dump = load_dump(path)
        if dn015(dump) or any(rs.incomplete for rs in dump.rulesets):
            flagged[path.name] = [str(d) for d in dn015(dump)]
    assert flagged == {}


# --------------------------------------------------------------------------- the kernel tool as oracle

_SAVE = re.compile(r"^### iptables-save[^\n]*\n(.*?)(?=^### )", re.S | re.M)
_COMMIT_EXPECTED = re.compile(r"COMMIT expected at line (\d+)")


def _prefixes(text: str):
    """Every line boundary, the middle of every line, and every line without its newline."""
    out = []
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        out += [text[:pos + len(body) // 2], text[:pos + len(body)], text[:pos + len(line)]]
        pos += len(line)
    return list(dict.fromkeys(p for p in out if p))


def test_dnlint_rejects_the_truncations_iptables_restore_rejects(lab):
    tool = shutil.which("iptables-nft-restore")
    if tool is None:
        pytest.skip("iptables-nft-restore is not installed")
    save = _SAVE.search((ROOT / "fixtures" / "docker" / "a_default.txt").read_text()).group(1)
    assert load_text(save, "full.rules").diagnostics == ()
    ns = lab.netns("restore")
    prefixes = _prefixes(save)
    assert len(prefixes) > 100
    disagreements = []
    for prefix in prefixes:
        res = ns.run(tool, "--test", check=False, input=prefix)
        kernel_rejects = res.returncode != 0
        dump = load_text(prefix, "cut.rules")
        errors = [d for d in dump.diagnostics if d.severity.value == "error"]
        if kernel_rejects != bool(errors):
            disagreements.append((prefix[-60:], res.stderr.strip()[:80], [str(d) for d in errors]))
            continue
        m = _COMMIT_EXPECTED.search(res.stderr)
        if m:  # the input ended inside a table: DN015 at its last line, the line before the one named
            lines = [d.span.line for d in dn015(dump)]
            if lines != [int(m.group(1)) - 1]:
                disagreements.append((prefix[-60:], res.stderr.strip()[:80], lines))
    assert disagreements == []


def test_answers_through_a_truncated_table_are_unknown():
    """The rules after the cut are missing: whatever they said could accept or drop, so a query
    through the cut table is null either way (with the cut named), never a confident answer."""
    from dnlint.engine.query import engine_for, query

    text = ("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp --dport 80 -j ACC\n")
    eng = engine_for(load_text(text, "cut.rules"))
    for port in (22, 23):
        a = query(eng, "outside", "host", port, "tcp")
        assert a.reachable is None, (port, a.as_dict())
        assert any("shown only in part" in x for x in a.approximated)
    whole = engine_for(load_text(text.replace("-j ACC\n", "-j ACCEPT\nCOMMIT\n"), "whole.rules"))
    assert query(whole, "outside", "host", 23, "tcp").reachable is False
