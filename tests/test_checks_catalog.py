"""The catalog: unique permanent codes and names, docs under the fixed headings, a fixture each,
and every code in `dnlint rules`."""

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from dnlint.checks.base import DOC_HEADINGS
from dnlint.checks.registry import all_checks
from dnlint.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"


def test_codes_names_and_docs():
    checks = all_checks()
    names = [c.name for c in checks.values()]
    assert len(names) == len(set(names)), "names must be unique"
    for code, cls in checks.items():
        assert re.fullmatch(r"DN\d{3}", code)
        assert re.fullmatch(r"[a-z0-9]+(\.[a-z0-9-]+)+", cls.name), cls.name
        docs = cls.docs()
        for heading in DOC_HEADINGS:
            assert docs.get(heading), f"{code}: docstring lacks '## {heading}'"
        assert cls.summary and cls.fix, code
        assert (FIXTURES / code / "bad.txt").exists() and (FIXTURES / code / "good.txt").exists(), code


def test_rules_lists_every_code_and_rule_prints_the_docs():
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["rules", "--format", "json"]).stdout)
    assert [d["code"] for d in data] == sorted(all_checks())
    for code in all_checks():
        out = runner.invoke(app, ["rule", code])
        assert out.exit_code == 0
        for heading in DOC_HEADINGS:
            assert heading in out.stdout
