"""`dnlint check` (lint_dump with the strict ruleset: every check on) over every file of the
real corpus (../shared/corpus: save files, listings, transcripts; read in place, skipped when
absent): no check may raise, and the findings histogram (code -> count) is printed.

Each check's run is timed; a file whose lint takes longer than SLOW_FILE_S is reported with
its slowest checks, and a single check running longer than CHECK_BUDGET_S on one file is
interrupted (it then shows up as a failed check of that code on that file).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dnlint.checks.registry import all_checks
from dnlint.lint import LintConfig, lint_dump
from dnlint.load import load_dump

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FILES = sorted(p for sub in ("save", "list", "transcripts") for p in (CORPUS / sub).glob("*")) if CORPUS.exists() else []
SLOW_FILE_S = 5.0
CHECK_BUDGET_S = 120.0

pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")


class CheckTimeout(Exception):
    pass


@dataclass
class Outcome:
    load_s: float = 0.0
    lint_s: float = 0.0
    per_check: dict[str, float] = field(default_factory=dict)
    codes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


_OUTCOMES: dict[Path, Outcome] = {}


def _config() -> LintConfig:
    return LintConfig.load(ruleset="strict", cwd=CORPUS)


def _bounded(times: dict[str, float]):
    """Runs each check with a time budget (SIGALRM) and records how long it took."""
    def run_check(code, run):
        def on_alarm(signum, frame):
            raise CheckTimeout(f"{code} ran longer than {CHECK_BUDGET_S:.0f} s")

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, CHECK_BUDGET_S)
        t = time.perf_counter()
        try:
            return run()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            times[code] = times.get(code, 0.0) + time.perf_counter() - t

    return run_check


def outcome(path: Path) -> Outcome:
    if path in _OUTCOMES:
        return _OUTCOMES[path]
    out = Outcome()
    t = time.perf_counter()
    dump = load_dump(path)
    out.load_s = time.perf_counter() - t
    t = time.perf_counter()
    result = lint_dump(dump, _config(), run_check=_bounded(out.per_check))
    out.lint_s = time.perf_counter() - t
    out.codes = Counter(f.code for f in result.findings)
    out.errors = list(result.errors)
    for f in result.findings:
        assert f.code in all_checks() or f.code.startswith("DN"), f
        assert f.span is None or (f.span.line >= 1 and f.span.col >= 1), f
    _OUTCOMES[path] = out
    return out


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_check_runs_on_corpus_file(path):
    out = outcome(path)
    assert not out.errors, f"{path.parent.name}/{path.name}: " + "; ".join(out.errors)


def test_zz_corpus_summary(capsys):
    """The histogram of findings over the whole corpus and the slow files (runs after the per-file tests)."""
    outcomes = {p: outcome(p) for p in FILES}
    hist: Counter = Counter()
    files_with: Counter = Counter()
    for o in outcomes.values():
        hist.update(o.codes)
        files_with.update(o.codes.keys())
    checks = all_checks()
    total_lint = sum(o.lint_s for o in outcomes.values())
    total_load = sum(o.load_s for o in outcomes.values())
    per_check: Counter = Counter()
    for o in outcomes.values():
        per_check.update(o.per_check)
    slow = sorted(((o.load_s + o.lint_s, p, o) for p, o in outcomes.items() if o.load_s + o.lint_s > SLOW_FILE_S),
                  key=lambda x: -x[0])
    failed = {p: o.errors for p, o in outcomes.items() if o.errors}
    with capsys.disabled():
        print(f"\n\ndnlint check --ruleset strict over {len(outcomes)} corpus files "
              f"({len(checks)} checks: {', '.join(checks)}): load {total_load:.1f} s, lint {total_lint:.1f} s")
        print(f"{'code':<7}{'name':<46}{'findings':>9}{'files':>7}{'check s':>9}")
        for code in sorted(set(hist) | set(checks)):
            name = checks[code].name if code in checks else "?"
            print(f"{code:<7}{name:<46}{hist.get(code, 0):>9}{files_with.get(code, 0):>7}"
                  f"{per_check.get(code, 0.0):>9.2f}")
        print(f"{'total':<53}{sum(hist.values()):>9}")
        if slow:
            print(f"files over {SLOW_FILE_S:.0f} s (load + lint):")
            for total, p, o in slow:
                top = ", ".join(f"{c} {s:.1f} s" for c, s in sorted(o.per_check.items(), key=lambda x: -x[1])[:4])
                print(f"  {p.parent.name}/{p.name}: {total:.1f} s (load {o.load_s:.1f} s; {top})")
        else:
            print(f"no file over {SLOW_FILE_S:.0f} s")
        for p, errs in failed.items():
            print(f"  FAILED CHECK {p.parent.name}/{p.name}: {'; '.join(errs)}")
    assert not failed, f"{len(failed)} corpus files with a failing check"
