"""No input makes loading raise: the only outcome is an IR plus diagnostics."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnlint.ir import HostDump
from dnlint.load import DumpReadError, load_bytes, load_dump, load_text

ROOT = Path(__file__).resolve().parents[1]
SEED_FIXTURES = sorted((ROOT / "fixtures" / "seed").glob("*.txt"))
CORPUS = ROOT.parent / "shared" / "corpus"


def _samples() -> list[bytes]:
    out = [p.read_bytes() for p in SEED_FIXTURES]
    if CORPUS.exists():
        for sub in ("save", "list", "transcripts"):
            files = sorted((CORPUS / sub).glob("*"))
            out.extend(p.read_bytes()[:20000] for p in files[:: max(1, len(files) // 8)])
    return out


SAMPLES = _samples()


def _check(dump: HostDump) -> None:
    assert isinstance(dump, HostDump)
    for d in dump.diagnostics:
        assert d.code.startswith("DN")
        if d.span is not None:
            assert d.span.line >= 1 and d.span.col >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes(data):
    _check(load_bytes(data, "random.bin"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_dumps(sample, data):
    """Cut, splice, duplicate and corrupt real dumps."""
    b = bytearray(sample)
    for _ in range(data.draw(st.integers(0, 6))):
        if not b:
            break
        op = data.draw(st.sampled_from(["cut", "flip", "insert", "dup", "truncate", "crlf"]))
        i = data.draw(st.integers(0, len(b) - 1))
        if op == "cut":
            j = data.draw(st.integers(i, min(len(b), i + 200)))
            del b[i:j]
        elif op == "flip":
            b[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            b[i:i] = data.draw(st.sampled_from([b"!", b" ! ", b"\"", b"\\", b"-A ", b"*nat\n", b"COMMIT\n",
                                                b"Chain X (", b"### ", b"\x00", b"\xff\xfe", b"\t", b"\n"]))
        elif op == "dup":
            j = data.draw(st.integers(i, min(len(b), i + 300)))
            b[j:j] = b[i:j]
        elif op == "truncate":
            del b[i:]
        elif op == "crlf":
            b = bytearray(bytes(b).replace(b"\n", b"\r\n"))
    _check(load_bytes(bytes(b), "mutated.txt"))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=2000))
def test_random_text(text):
    _check(load_text(text, "random.txt"))


def test_empty_and_binary_files_say_so(tmp_path):
    empty = load_text("", "empty.txt")
    assert [d.code for d in empty.diagnostics] == ["DN010"]
    binary = load_bytes(bytes(range(256)) * 4, "blob.bin")
    assert "DN001" in {d.code for d in binary.diagnostics}


def test_unreadable_file_raises_a_read_error(tmp_path):
    with pytest.raises(DumpReadError):
        load_dump(tmp_path / "missing.txt")
    with pytest.raises(DumpReadError):
        load_dump(tmp_path)
