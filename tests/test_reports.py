"""Reports: SARIF 2.1.0 (schema-valid, rules, locations), text for people (colour or plain),
GitHub annotations, and the documented JSON keys."""

import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.checks.base import DOC_HEADINGS, Finding
from dnlint.checks.registry import all_checks
from dnlint.cli import app
from dnlint.ir import Severity, Span
from dnlint.report import render, render_github, render_json, render_sarif, render_text, use_colour
from sample_dumps import BAD_SAVE as BAD  # line 6: DN001, line 8: DN101

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"
runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CLEAN = BAD.replace("-A\n", "").replace("-j WEB", "-j ACCEPT")


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch, tmp_path):
    """Each test in its own directory (no project config) with no colour settings inherited."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def bad(tmp_path):
    (tmp_path / "bad.rules").write_text(BAD, encoding="utf-8")
    return "bad.rules"


@pytest.fixture
def validator():
    if not SCHEMA.exists():
        pytest.skip("../shared/schemas is absent")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def validate(doc):
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
        return doc

    return validate


ONLY = ("--select", "DN001,DN101")  # the two codes BAD is about; other checks may find more in it


def check(*args, env=None):
    return runner.invoke(app, ["check", *args], env=env)


def sarif_of(*args):
    result = check(*args, "--format", "sarif")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- SARIF


def test_sarif_validates_against_the_schema(bad, validator):
    validator(sarif_of(bad))
    validator(sarif_of(bad, "--ruleset", "strict"))


def test_sarif_without_findings_validates(tmp_path, validator):
    (tmp_path / "clean.rules").write_text(CLEAN, encoding="utf-8")
    doc = validator(sarif_of("clean.rules"))
    run = doc["runs"][0]
    assert run["results"] == []
    assert run["artifacts"] == [{"location": {"uri": "clean.rules", "uriBaseId": "%SRCROOT%"}}]


def test_sarif_one_run_with_invocation_and_driver(bad):
    doc = sarif_of(bad)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-schema-2.1.0.json")
    assert len(doc["runs"]) == 1
    run = doc["runs"][0]
    assert run["invocations"] == [run["invocations"][0]]
    assert run["invocations"][0]["executionSuccessful"] is True
    driver = run["tool"]["driver"]
    assert driver["name"] == "dnlint" and driver["version"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == Path.cwd().as_uri() + "/"


def test_sarif_rules_one_per_code_with_docs(bad):
    rules = sarif_of(bad)["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(all_checks())  # every code, once, in catalog order
    for r in rules:
        cls = all_checks()[r["id"]]
        assert r["name"] == cls.name
        assert r["shortDescription"]["text"] == cls.summary
        assert r["fullDescription"]["text"] == cls.docs()["What it does"]
        assert r["help"]["text"]
        for heading in DOC_HEADINGS:
            assert f"## {heading}" in r["help"]["markdown"], (r["id"], heading)
            assert heading in r["help"]["text"]
        assert r["helpUri"].startswith("https://") and r["id"] in r["helpUri"]
        assert r["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning",
                                                      "info": "note"}[cls.severity.value]


def test_sarif_results_anchored_to_the_dump_lines(bad):
    run = sarif_of(bad)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    by_code = {r["ruleId"]: r for r in run["results"]}
    assert {"DN001", "DN101"} <= set(by_code)
    lines = BAD.split("\n")
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]  # ruleIndex consistent
        assert r["level"] in ("error", "warning", "note")
        loc = r["locations"][0]["physicalLocation"]
        art = loc["artifactLocation"]
        assert art["uri"] == "bad.rules" and art["uriBaseId"] == "%SRCROOT%"
        assert run["artifacts"][art["index"]]["location"]["uri"] == "bad.rules"
        assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1
        assert loc["region"]["snippet"]["text"] == lines[loc["region"]["startLine"] - 1]
    assert by_code["DN001"]["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    assert by_code["DN101"]["locations"][0]["physicalLocation"]["region"]["startLine"] == 8
    assert by_code["DN101"]["level"] == "error"
    assert "Fix: " in by_code["DN101"]["message"]["text"]


def test_sarif_uri_of_a_file_outside_the_cwd_is_absolute(tmp_path, monkeypatch, validator):
    (tmp_path / "dir with space").mkdir()
    dump = tmp_path / "dir with space" / "bad#1.rules"
    dump.write_text(BAD, encoding="utf-8")
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    monkeypatch.chdir(sub)
    doc = validator(sarif_of(str(dump)))
    art = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uri"] == dump.as_uri() and "uriBaseId" not in art
    assert " " not in art["uri"] and "#" not in art["uri"].rsplit("/", 1)[1]
    monkeypatch.chdir(tmp_path)  # below the cwd: relative, percent-encoded
    doc = validator(sarif_of(str(dump)))
    art = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uri"] == "dir%20with%20space/bad%231.rules" and art["uriBaseId"] == "%SRCROOT%"


def test_sarif_several_dumps_one_run(bad, tmp_path, validator):
    (tmp_path / "clean.rules").write_text(CLEAN, encoding="utf-8")
    doc = validator(sarif_of(bad, "clean.rules"))
    assert len(doc["runs"]) == 1
    assert [a["location"]["uri"] for a in doc["runs"][0]["artifacts"]] == ["bad.rules", "clean.rules"]


def test_sarif_edge_cases_validate(validator, tmp_path):
    """A finding without a place, one with related places and a flow, a code outside the
    catalog, and a failed check: still valid, ruleIndex still right, execution not successful."""
    span = Span(str(tmp_path / "x.rules"), 3, 7)
    findings = [
        Finding("DN001", Severity.ERROR, "no place", None),
        Finding("DN101", Severity.WARNING, "with related", span, fix="do this", flow="a -> b",
                related=(Span(span.file, 1, 1), Span(span.file, 2, 1))),
        Finding("DN998", Severity.INFO, "not in the catalog", span),
    ]
    doc = validator(json.loads(render_sarif(findings, [span.file], errors=["DN101: internal error X"])))
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    assert "locations" not in run["results"][0]
    assert len(run["results"][1]["relatedLocations"]) == 2
    assert run["results"][1]["properties"] == {"fix": "do this", "flow": "a -> b"}
    assert run["results"][2]["level"] == "note"
    inv = run["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert "DN101" in inv["toolExecutionNotifications"][0]["message"]["text"]


# --------------------------------------------------------------------------- text


def test_text_grouped_by_file_with_code_message_quote_and_fix(bad, tmp_path):
    (tmp_path / "other.rules").write_text(BAD.replace("-A\n", ""), encoding="utf-8")
    result = check(bad, "other.rules", *ONLY)
    assert result.exit_code == 1
    out = result.stdout
    assert not ANSI.search(out)  # not a terminal: plain
    lines = out.splitlines()
    assert lines[0] == "bad.rules"
    i_other = lines.index("other.rules")
    first, second = lines[1:i_other], lines[i_other + 1:]
    assert any(re.match(r"  6:\d+: DN001 \[error\] ", ln) for ln in first)
    assert any(re.match(r"  8:1: DN101 \[error\] .*WEB", ln) for ln in first)
    assert "      | -A INPUT -p tcp -m tcp --dport 80 -j WEB" in first  # the rule quoted
    assert any(ln.startswith("      fix: ") for ln in first)
    assert any(re.match(r"  7:1: DN101 ", ln) for ln in second)  # one line less in other.rules
    assert lines[-1].startswith("Found 3 findings (3 error, 0 warning, 0 info) in 2 files.")


def test_text_fix_is_one_line():
    f = Finding("DN101", Severity.ERROR, "m", Span("nowhere.rules", 1, 1), fix="first\nsecond")
    out = render_text([f], ["nowhere.rules"])
    assert "      fix: first second" in out.splitlines()


def test_text_clean(tmp_path):
    (tmp_path / "clean.rules").write_text(CLEAN, encoding="utf-8")
    result = check("clean.rules")
    assert result.exit_code == 0
    assert result.stdout == "No findings in 1 file.\n"


def test_text_colour_with_force_color(bad):
    out = check(bad, env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[31merror\x1b[0m" in out and "\x1b[1mDN101\x1b[0m" in out
    plain = check(bad).stdout
    assert ANSI.sub("", out) == plain  # same words, only colour added


def test_text_no_color_wins(bad):
    out = check(bad, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert not ANSI.search(out)


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_colour_decision(monkeypatch):
    assert use_colour(_Tty()) is True
    assert use_colour(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(_Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "0")
    assert use_colour(io.StringIO()) is False
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert use_colour(io.StringIO()) is True
    monkeypatch.setenv("NO_COLOR", "")  # empty NO_COLOR does not count (no-color.org)
    assert use_colour(io.StringIO()) is True


def test_text_on_a_terminal_is_coloured(bad):
    f = Finding("DN101", Severity.WARNING, "m", Span(bad, 8, 1), fix="f")
    assert "\x1b[33mwarning\x1b[0m" in render("text", [f], [bad], _Tty())
    assert not ANSI.search(render("text", [f], [bad], io.StringIO()))


# --------------------------------------------------------------------------- github


def test_github_annotations(bad):
    out = check(bad, *ONLY, "--format", "github").stdout.splitlines()
    assert len(out) == 2
    assert re.fullmatch(r"::error file=bad\.rules,line=6,col=\d+,title=DN001 input\.unparsable-line::DN001 .+", out[0])
    assert re.fullmatch(r"::error file=bad\.rules,line=8,col=1,title=DN101 structure\.jump-to-missing-chain"
                        r"::DN101 filter INPUT #2 jumps to chain WEB.* Fix: .+", out[1])


def test_github_levels_and_escaping():
    findings = [
        Finding("DN101", Severity.WARNING, "50% of\nrules", Span("a,b:c.rules", 2, 3)),
        Finding("DN101", Severity.INFO, "note", Span("x.rules", 1, 1)),
        Finding("DN101", Severity.ERROR, "no place", None),
    ]
    out = render_github(findings).splitlines()
    assert out[0] == "::warning file=a%2Cb%3Ac.rules,line=2,col=3,title=DN101 structure.jump-to-missing-chain" \
                     "::DN101 50%25 of%0Arules"
    assert out[1].startswith("::notice file=x.rules,line=1,col=1,")
    assert out[2].startswith("::error title=DN101 ")
    assert render_github([]) == ""


# --------------------------------------------------------------------------- json


def test_json_keys_match_the_documented_schema(bad):
    result = check(bad, *ONLY, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"dnlint", "schema", "files", "findings", "errors", "summary"}
    assert data["schema"] == 1 and data["files"] == ["bad.rules"]
    assert data["errors"] == []  # every dump was read and every check ran
    for f in data["findings"]:
        assert set(f) == {"code", "name", "severity", "message", "file", "line", "col", "fix", "flow"}
        assert f["severity"] in ("error", "warning", "info")
        assert f["file"] == "bad.rules" and isinstance(f["line"], int) and isinstance(f["col"], int)
    assert [(f["code"], f["line"]) for f in data["findings"]] == [("DN001", 6), ("DN101", 8)]
    assert data["findings"][1]["name"] == "structure.jump-to-missing-chain"
    assert data["summary"] == {"total": 2, "error": 2, "warning": 0, "info": 0}


def test_json_documented_in_the_module_docstring():
    import dnlint.report as report

    for key in ('"dnlint"', '"schema"', '"files"', '"findings"', '"summary"', '"code"', '"name"', '"severity"',
                '"message"', '"file"', '"line"', '"col"', '"fix"', '"flow"', '"total"', '"errors"'):
        assert key in report.__doc__, key


def test_json_without_place():
    data = json.loads(render_json([Finding("DN001", Severity.INFO, "m", None)], []))
    assert data["findings"][0]["file"] is None and data["findings"][0]["line"] is None
    assert data["summary"] == {"total": 1, "error": 0, "warning": 0, "info": 1}
