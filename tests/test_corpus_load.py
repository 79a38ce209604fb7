"""Every corpus file (save files, listings, transcripts) loads through the whole pipeline without a crash."""

from collections import Counter
from pathlib import Path

import pytest

from dnlint.load import load_dump

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FILES = sorted(p for sub in ("save", "list", "transcripts") for p in (CORPUS / sub).glob("*")) if CORPUS.exists() else []


@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")
def test_every_corpus_file_loads(capsys):
    per_kind: Counter = Counter()
    dn001: Counter = Counter()
    for path in FILES:
        dump = load_dump(path)
        kind = path.parent.name
        per_kind[kind] += 1
        assert dump.rulesets or kind == "transcripts", f"{path.name}: no ruleset found"
        for d in dump.diagnostics:
            assert d.span is None or (d.span.line >= 1 and d.span.col >= 1)
            assert "internal error" not in d.message, f"{path.name}: {d}"
            if d.code == "DN001":
                dn001[f"{kind}/{path.name}"] += 1
    with capsys.disabled():
        print(f"\ncorpus through load_dump: {dict(per_kind)} files; DN001 per file: "
              + (", ".join(f"{k}: {v}" for k, v in sorted(dn001.items())) or "none"))
    assert len(FILES) == 275
    # save files: only the three genuinely broken lines (see tests/test_save_corpus.py); prose around
    # the dumps in transcripts is not reported as broken output
    assert sum(v for k, v in dn001.items() if k.startswith("save/")) == 3


@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")
def test_listings_lose_no_rule_on_the_way_through_ingest():
    """The section scanner must hand every rule line of a listing to its parser (ip6tables
    listings have no opt column; a regression once dropped 6,180 of their rules)."""
    from dnlint.parse.listing import parse_listing
    from dnlint.source import Text

    for path in sorted((CORPUS / "list").glob("*")):
        via_ingest = load_dump(path)
        direct, _ = parse_listing(Text(str(path), path.read_text(encoding="utf-8", errors="replace").splitlines()))
        count = lambda rulesets: sum(len(c.rules) for rs in rulesets for t in rs.tables for c in t.chains)  # noqa: E731
        assert count(via_ingest.rulesets) == count(direct), path.name
