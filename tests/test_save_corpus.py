"""The iptables-save reader over the shared corpus of real dumps (read in place).

- every file under ../shared/corpus/save/ parses without an exception;
- real iptables-save output gives no DN001; the few files with genuinely broken lines
  give exactly the DN001s listed in EXPECTED_DN001;
- parse -> emit -> parse gives the same IR (spans aside) for every save-format file;
- the shape cache changes nothing (same result with and without it);
- mutated corpus lines and random bytes never make parse_save raise (hypothesis).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dnlint.emit import emit_save
from dnlint.ir import RulesetFormat
from dnlint.parse.save import _parse_save, parse_save
from dnlint.source import Text

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus"
SAVE_DIR = CORPUS / "save"
FILES = sorted(SAVE_DIR.glob("*")) if SAVE_DIR.is_dir() else []

# Files with lines iptables-restore itself rejects (see ../shared/corpus/SOURCES.md).
EXPECTED_DN001 = {
    # line 85 is a copy-paste artefact: "-j ACC" + spaces + "EPT" (the target split in two)
    "netnet_openwrt-ticket18787-crlf.rules": 1,
    # "-A INPUT 1 ..." and "-A FORWARD 1 ...": a rule number with -A (only -I takes one);
    # the file is described as a malformed-input test case
    "setting-k3s_oracle-cloud-rules-v4-modified.rules": 2,
}


from test_save_parser import strip_spans  # noqa: E402


def read(path: Path) -> Text:
    return Text.from_string(path.read_bytes().decode("utf-8", "replace"), path.name)


def _need_corpus():
    if not FILES:
        pytest.skip("shared corpus not available")


def test_corpus_dn001_totals(capsys):
    _need_corpus()
    total = 0
    per_file = {}
    for path in FILES:
        rs, diags = parse_save(read(path))
        n = sum(1 for d in diags if d.code == "DN001")
        per_file[path.name] = n
        total += n
    with capsys.disabled():
        print(f"\ncorpus save/: {len(FILES)} files, {total} DN001 in all "
              f"({', '.join(f'{k}: {v}' for k, v in per_file.items() if v)})")
    unexpected = {k: v for k, v in per_file.items() if v != EXPECTED_DN001.get(k, 0)}
    assert unexpected == {}
    assert total == sum(EXPECTED_DN001.values())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_file(path):
    text = read(path)
    rs, diags = parse_save(text)
    assert len(rs) == 1
    (r,) = rs
    assert r.tables, "no table read"
    if "iptables-S" in path.name:
        assert r.format is RulesetFormat.SPEC
    # the shape cache is an optimisation: without it the result is the same
    rs_plain, diags_plain = _parse_save(text, cache=False)
    assert rs_plain == rs
    assert diags_plain == diags
    if r.format is RulesetFormat.SAVE:
        emitted = emit_save(r)
        rs2, diags2 = parse_save(Text.from_string(emitted, "emitted"), family=r.family)
        assert [d for d in diags2 if d.code == "DN001"] == []
        assert strip_spans(rs2) == strip_spans(rs)


# --------------------------------------------------------------------------- fuzzing

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _corpus_lines() -> list[str]:
    lines: list[str] = []
    for path in FILES[::3]:
        lines += path.read_bytes().decode("utf-8", "replace").splitlines()[:200]
    return lines or ["*filter", ":INPUT ACCEPT [0:0]", "-A INPUT -p tcp --dport 22 -j ACCEPT",
                     '-A INPUT -m comment --comment "x y" -j LOG --log-prefix "a: "', "COMMIT"]


LINES = _corpus_lines()
_ALPHABET = ' \t"\\!-:[]*#0123456789abcdefgAIjmpsdx,/\r\x00\u00e9'


@st.composite
def mutated_block(draw):
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 30))
    start = rnd.randrange(len(LINES))
    block = LINES[start:start + n]
    out = []
    for line in block:
        op = rnd.randrange(8)
        if op == 0 and line:
            i = rnd.randrange(len(line))
            line = line[:i] + line[i + 1:]
        elif op == 1:
            i = rnd.randrange(len(line) + 1)
            line = line[:i] + rnd.choice(_ALPHABET) + line[i:]
        elif op == 2:
            line = line[:rnd.randrange(len(line) + 1)]
        elif op == 3:
            words = line.split()
            rnd.shuffle(words)
            line = " ".join(words)
        elif op == 4:
            line = line.replace(" ", " ! ", 1)
        out.append(line)
    return "\n".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_block(), st.booleans())
def test_mutated_corpus_lines_never_raise(block, use_cache):
    rs, diags = _parse_save(Text.from_string(block, "m"), cache=use_cache)
    assert isinstance(rs, list) and isinstance(diags, list)
    if use_cache:
        assert (rs, diags) == _parse_save(Text.from_string(block, "m"), cache=False)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([None, True, False]))
def test_random_bytes_never_raise(data, spec):
    text = Text.from_string(data.decode("latin-1"), "b")
    rs, diags = parse_save(text, spec=spec)
    assert isinstance(rs, list) and isinstance(diags, list)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=200))
def test_random_rule_text_never_raises(tail):
    rs, diags = parse_save(Text.from_string(f"*filter\n-A INPUT {tail}\n", "r"))
    assert isinstance(rs, list) and isinstance(diags, list)
