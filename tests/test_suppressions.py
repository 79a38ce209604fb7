"""Inline suppressions: `dnlint: disable=CODE[,CODE...] reason` in a rule's iptables comment
silences those codes on that rule's line; DN013 reports one that silences nothing (or names no
dnlint code), DN014 one without a reason (which still silences)."""

import json

import pytest
from typer.testing import CliRunner

from dnlint.cli import app
from dnlint.lint import LintConfig, lint_dump
from dnlint.load import load_text

HEAD = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
"""
# line 6 onwards: the rules of each test


def _dump(rules: str):
    return load_text(HEAD + rules + "COMMIT\n", "fw.rules")


def _lint(rules: str, tmp_path, **kw):
    config = LintConfig.load(ruleset="strict", cwd=tmp_path, **kw)
    result = lint_dump(_dump(rules), config)
    assert not result.errors, result.errors
    return result


def _codes(findings, code=None):
    return sorted((f.code, f.span.line) for f in findings if code is None or f.code == code)


def _comment(text: str) -> str:
    return f'-m comment --comment "{text}"'


def test_suppression_with_reason_silences_that_code_on_that_rule_only(tmp_path):
    rules = (f"-A INPUT -p tcp -m tcp --dport 80 {_comment('dnlint: disable=DN101 web chain is loaded by the deploy script')} -j WEB\n"
             "-A INPUT -p tcp -m tcp --dport 81 -j WEB\n")
    result = _lint(rules, tmp_path)
    assert _codes(result.findings, "DN101") == [("DN101", 7)]
    assert _codes(result.suppressed) == [("DN101", 6)]
    assert not [f for f in result.findings if f.code in ("DN013", "DN014")]


def test_suppression_silences_only_the_codes_it_names(tmp_path):
    # the rule has a DN101 and a DN006 finding; only DN006 is suppressed
    rules = (f"-A INPUT -s backup.example.com -p tcp -m tcp --dport 22 "
             f"{_comment('dnlint: disable=DN006 the name is pinned in /etc/hosts')} -j SSH\n")
    result = _lint(rules, tmp_path)
    assert _codes(result.findings, "DN101") == [("DN101", 6)]
    assert _codes(result.findings, "DN006") == []
    assert _codes(result.suppressed) == [("DN006", 6)]


def test_several_codes_in_one_comment(tmp_path):
    rules = (f"-A INPUT -s backup.example.com -p tcp -m tcp --dport 22 "
             f"{_comment('dnlint: disable=DN101,DN006 chain and name come from the backup role')} -j SSH\n")
    result = _lint(rules, tmp_path)
    assert _codes(result.suppressed) == [("DN006", 6), ("DN101", 6)]
    assert [f for f in result.findings if f.span and f.span.line == 6] == []


def test_lowercase_codes_are_accepted(tmp_path):
    rules = f"-A INPUT -p tcp -m tcp --dport 80 {_comment('dnlint: disable=dn101 loaded by the deploy script')} -j WEB\n"
    result = _lint(rules, tmp_path)
    assert _codes(result.suppressed) == [("DN101", 6)]
    assert _codes(result.findings, "DN013") == []


def test_unused_suppression_is_dn013(tmp_path):
    rules = (f"-A INPUT -p tcp -m tcp --dport 22 {_comment('dnlint: disable=DN101 legacy chain kept for rollback')} "
             "-j ACCEPT\n")
    result = _lint(rules, tmp_path)
    dn013 = [f for f in result.findings if f.code == "DN013"]
    assert _codes(dn013) == [("DN013", 6)]
    assert "DN101" in dn013[0].message and "unused" in dn013[0].message
    assert result.suppressed == []


def test_partly_used_suppression_reports_the_unused_code_only(tmp_path):
    rules = (f"-A INPUT -p tcp -m tcp --dport 80 {_comment('dnlint: disable=DN101,DN006 loaded by the deploy script')} "
             "-j WEB\n")
    result = _lint(rules, tmp_path)
    assert _codes(result.suppressed) == [("DN101", 6)]
    dn013 = [f for f in result.findings if f.code == "DN013"]
    assert len(dn013) == 1 and "DN006" in dn013[0].message


def test_suppression_without_reason_is_dn014_and_still_suppresses(tmp_path):
    rules = f"-A INPUT -p tcp -m tcp --dport 80 {_comment('dnlint: disable=DN101')} -j WEB\n"
    result = _lint(rules, tmp_path)
    assert _codes(result.findings, "DN101") == []
    assert _codes(result.suppressed) == [("DN101", 6)]
    dn014 = [f for f in result.findings if f.code == "DN014"]
    assert _codes(dn014) == [("DN014", 6)]
    assert "DN101" in dn014[0].message
    assert _codes(result.findings, "DN013") == []


def test_suppression_of_an_unknown_code_is_dn013(tmp_path):
    rules = f"-A INPUT -p tcp -m tcp --dport 22 {_comment('dnlint: disable=DN999 exporter behind the VPN')} -j ACCEPT\n"
    result = _lint(rules, tmp_path)
    dn013 = [f for f in result.findings if f.code == "DN013"]
    assert _codes(dn013) == [("DN013", 6)]
    assert "DN999" in dn013[0].message and "not a dnlint code" in dn013[0].message


def test_comment_without_directive_is_not_a_suppression(tmp_path):
    rules = f"-A INPUT -p tcp -m tcp --dport 80 {_comment('web traffic, see dnlint docs')} -j WEB\n"
    result = _lint(rules, tmp_path)
    assert _codes(result.findings, "DN101") == [("DN101", 6)]
    assert result.suppressed == []
    assert _codes(result.findings, "DN013") == [] and _codes(result.findings, "DN014") == []


def test_ignore_dn013_and_dn014(tmp_path):
    rules = (f"-A INPUT -p tcp -m tcp --dport 22 {_comment('dnlint: disable=DN101 legacy chain kept for rollback')} -j ACCEPT\n"
             f"-A INPUT -p tcp -m tcp --dport 80 {_comment('dnlint: disable=DN101')} -j WEB\n")
    assert _codes(_lint(rules, tmp_path).findings, "DN013") == [("DN013", 6)]
    result = _lint(rules, tmp_path, ignore=["DN013"])
    assert _codes(result.findings, "DN013") == []
    assert _codes(result.findings, "DN014") == [("DN014", 7)]
    result = _lint(rules, tmp_path, ignore=["DN014"])
    assert _codes(result.findings, "DN014") == []
    assert _codes(result.suppressed) == [("DN101", 7)]


def test_cli_ignore_dn013(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "fw.rules"
    path.write_text(HEAD + f"-A INPUT -p tcp -m tcp --dport 22 {_comment('dnlint: disable=DN101 kept for rollback')} "
                           "-j ACCEPT\nCOMMIT\n")
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["check", str(path), "--format", "json"]).stdout)
    assert [(f["code"], f["line"]) for f in data["findings"]] == [("DN013", 6)]
    result = runner.invoke(app, ["check", str(path), "--format", "json", "--ignore", "DN013"])
    assert json.loads(result.stdout)["findings"] == []
    assert result.exit_code == 0


def test_suppression_of_a_code_that_did_not_run_is_not_unused(tmp_path):
    rules = f"-A INPUT -p tcp -m tcp --dport 80 {_comment('dnlint: disable=DN101 loaded by the deploy script')} -j WEB\n"
    result = _lint(rules, tmp_path, ignore=["DN101"])
    assert _codes(result.findings, "DN013") == []


def test_codes_separated_by_comma_and_space(tmp_path):
    rules = (f"-A INPUT -s backup.example.com -p tcp -m tcp --dport 22 "
             f"{_comment('dnlint: disable=DN101, DN006 chain and name come from the backup role')} -j SSH\n")
    result = _lint(rules, tmp_path)
    assert _codes(result.suppressed) == [("DN006", 6), ("DN101", 6)]
