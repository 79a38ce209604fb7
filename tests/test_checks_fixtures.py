"""One fixture per code: fixtures/checks/<CODE>/bad.txt yields exactly the findings of
bad.expected.json (code and line) for that code, and good.txt stays clean of that code."""

import json
from pathlib import Path

import pytest

from dnlint.checks.registry import all_checks
from dnlint.lint import LintConfig, lint_dump
from dnlint.load import load_dump

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
CODES = sorted(all_checks())


def _findings(path: Path, code: str):
    config = LintConfig.load(ruleset="strict", cwd=path.parent)
    result = lint_dump(load_dump(path), config)
    assert not result.errors, result.errors
    return [f for f in result.findings if f.code == code]


@pytest.mark.parametrize("code", CODES)
def test_bad_fixture_yields_the_expected_findings(code):
    bad = FIXTURES / code / "bad.txt"
    assert bad.exists(), f"{code} has no fixture {bad}"
    expected = json.loads((FIXTURES / code / "bad.expected.json").read_text())
    got = [{"code": f.code, "line": f.span.line if f.span else None} for f in _findings(bad, code)]
    assert sorted(got, key=lambda d: (d["line"] or 0)) == sorted(expected, key=lambda d: (d["line"] or 0))


@pytest.mark.parametrize("code", CODES)
def test_good_fixture_stays_clean(code):
    good = FIXTURES / code / "good.txt"
    assert good.exists(), f"{code} has no counter-fixture {good}"
    assert _findings(good, code) == []
