"""Configuration of `dnlint check`: [tool.dnlint] in pyproject.toml, dnlint.toml, the search
upwards from the current directory, select/ignore prefixes, fail-on, [severity] overrides,
--ruleset NAME|PATH, extends, and errors (exit 2, a clear message, no traceback)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.checks.registry import all_checks
from dnlint.cli import app
from dnlint.lint import ConfigError, LintConfig, available_rulesets
from sample_dumps import BAD_SAVE as BAD  # line 6: DN001, line 8: DN101

runner = CliRunner()


@pytest.fixture(autouse=True)
def project(tmp_path, monkeypatch):
    """A project directory holding the dump; the tests run in it."""
    (tmp_path / "bad.rules").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(*args, dump=None):
    """`dnlint check` with JSON output; returns (exit code, codes found, findings, result)."""
    if dump is None:
        dump = str(Path.cwd() / "bad.rules")
    result = runner.invoke(app, ["check", dump, "--format", "json", *args])
    if result.exit_code in (0, 1):
        findings = json.loads(result.stdout)["findings"]
        return result.exit_code, {f["code"] for f in findings} & {"DN001", "DN101"}, findings, result
    return result.exit_code, None, None, result


def assert_usage_error(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith("dnlint: "), result.stderr
    for w in words:
        assert w in result.stderr, (w, result.stderr)
    assert result.stdout == ""


# --------------------------------------------------------------------------- where it comes from


def test_no_config_uses_recommended(project):
    cfg = LintConfig.load(cwd=project)
    assert cfg.ruleset == "recommended" and cfg.fail_on == "error"
    assert run()[:2] == (1, {"DN001", "DN101"})


def test_pyproject_tool_dnlint(project):
    write(project / "pyproject.toml", '[project]\nname = "x"\n\n[tool.dnlint]\nignore = ["DN101"]\n')
    code, codes, _, _ = run()
    assert codes == {"DN001"} and code == 1
    assert LintConfig.load().sources[-1] == str(project / "pyproject.toml")


def test_dnlint_toml_top_level_keys(project):
    write(project / "dnlint.toml", 'ignore = ["DN001"]\n')
    assert run()[:2] == (1, {"DN101"})


def test_dnlint_toml_wins_over_pyproject_in_the_same_directory(project):
    write(project / "pyproject.toml", '[tool.dnlint]\nignore = ["DN101"]\n')
    write(project / "dnlint.toml", 'ignore = ["DN001"]\n')
    assert run()[1] == {"DN101"}  # dnlint.toml's ignore only; the files are not merged
    assert LintConfig.load().sources[-1] == str(project / "dnlint.toml")


def test_pyproject_without_tool_dnlint_is_passed_over(project):
    write(project / "dnlint.toml", 'ignore = ["DN001"]\n')
    sub = project / "pkg"
    write(sub / "pyproject.toml", '[project]\nname = "pkg"\n')
    assert LintConfig.load(cwd=sub).sources[-1] == str(project / "dnlint.toml")


def test_search_goes_upwards_from_the_cwd(project, monkeypatch):
    write(project / "pyproject.toml", '[tool.dnlint]\nignore = ["DN001"]\n')
    deep = project / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert run(dump=str(project / "bad.rules"))[1] == {"DN101"}


def test_nearest_config_wins(project, monkeypatch):
    write(project / "dnlint.toml", 'ignore = ["DN001"]\n')
    write(project / "sub" / "pyproject.toml", '[tool.dnlint]\nignore = ["DN101"]\n')
    monkeypatch.chdir(project / "sub")
    assert run(dump=str(project / "bad.rules"))[1] == {"DN001"}


def test_config_is_found_from_the_cwd_not_from_the_dump(project, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write(project / "dnlint.toml", 'ignore = ["DN001"]\n')
    monkeypatch.chdir(elsewhere)
    assert run(dump=str(project / "bad.rules"))[1] == {"DN001", "DN101"}


def test_project_config_names_the_ruleset(project):
    write(project / "dnlint.toml", 'ruleset = "strict"\n')
    cfg = LintConfig.load()
    assert cfg.ruleset == "strict" and cfg.fail_on == "warning"
    assert LintConfig.load(ruleset="recommended").ruleset == "recommended"  # --ruleset wins


# --------------------------------------------------------------------------- what it says


def test_select_and_ignore_are_prefixes(project):
    write(project / "dnlint.toml", 'select = ["DN1"]\n')
    assert run()[1] == {"DN101"}
    write(project / "dnlint.toml", 'select = ["DN0"]\nignore = ["DN00"]\n')
    assert run()[:2] == (0, set())
    write(project / "dnlint.toml", 'select = "ALL"\n')
    assert LintConfig.load().select == ["DN"]
    assert run()[1] == {"DN001", "DN101"}


def test_cli_select_replaces_and_ignore_adds(project):
    write(project / "dnlint.toml", 'select = ["DN1"]\nignore = ["DN101"]\n')
    assert run()[1] == set()
    assert run("--select", "DN0")[1] == {"DN001"}  # replaces the configured select
    assert run("--select", "DN")[1] == {"DN001"}  # the configured ignore still applies
    write(project / "dnlint.toml", "")
    assert run("--ignore", "DN0", "--ignore", "DN101")[:2] == (0, set())
    assert run("--select", "dn001,DN101")[1] == {"DN001", "DN101"}  # commas, any case


def test_extend_select(project):
    write(project / "dnlint.toml", 'select = ["DN001"]\nextend-select = ["DN101"]\n')
    assert run()[1] == {"DN001", "DN101"}


def test_fail_on_from_config_and_cli(project):
    write(project / "dnlint.toml", 'fail-on = "never"\n')
    code, codes, _, _ = run()
    assert code == 0 and codes == {"DN001", "DN101"}
    assert run("--fail-on", "error")[0] == 1  # the command line wins


def test_severity_overrides(project):
    write(project / "pyproject.toml", '[tool.dnlint]\nselect = ["DN101"]\n\n[tool.dnlint.severity]\ndn101 = "info"\n')
    code, codes, findings, _ = run()
    assert codes == {"DN101"}
    assert [f["severity"] for f in findings] == ["info"]
    assert code == 0  # fail-on error: an info does not fail
    assert run("--fail-on", "warning")[0] == 0
    assert run("--fail-on", "info")[0] == 1
    text = runner.invoke(app, ["check", "bad.rules"]).stdout
    assert "DN101 [info]" in text and "(0 error, 0 warning, 1 info)" in text


def test_ruleset_path_to_a_custom_toml(project):
    write(project / "rules" / "mine.toml", '[ruleset]\nname = "mine"\nselect = ["DN101"]\nfail-on = "never"\n')
    code, codes, _, _ = run("--ruleset", "rules/mine.toml")
    assert (code, codes) == (0, {"DN101"})
    cfg = LintConfig.load(ruleset=str(project / "rules" / "mine.toml"))
    assert cfg.ruleset == "mine" and cfg.fail_on == "never"


def test_ruleset_extends_a_named_ruleset(project):
    write(project / "mine.toml", '[ruleset]\nname = "mine"\nextends = "strict"\nignore = ["DN001"]\n')
    cfg = LintConfig.load(ruleset="mine.toml")
    assert cfg.fail_on == "warning" and cfg.select == ["DN"]  # from strict
    assert cfg.ruleset == "mine" and "ruleset strict" in cfg.sources
    assert run("--ruleset", "mine.toml")[1] == {"DN101"}


def test_ruleset_extends_a_path(project):
    write(project / "base.toml", '[ruleset]\nfail-on = "never"\nselect = ["DN0"]\n')
    write(project / "child.toml", f'[ruleset]\nextends = "{project / "base.toml"}"\nextend-select = ["DN101"]\n')
    code, codes, _, _ = run("--ruleset", "child.toml")
    assert (code, codes) == (0, {"DN001", "DN101"})


def test_relative_extends_is_relative_to_the_extending_file(project, monkeypatch):
    write(project / "conf" / "base.toml", '[ruleset]\nignore = ["DN001"]\n')
    write(project / "conf" / "child.toml", '[ruleset]\nextends = "base.toml"\n')
    assert run("--ruleset", "conf/child.toml")[1] == {"DN101"}


def test_bundled_rulesets_load():
    names = available_rulesets()
    assert {"recommended", "strict"} <= set(names)
    for name in names:
        cfg = LintConfig.load(ruleset=name)
        assert cfg.ruleset == name
        assert all(any(code.startswith(s) for code in all_checks()) for s in cfg.select)
    assert LintConfig.load(ruleset="strict").fail_on == "warning"


# --------------------------------------------------------------------------- errors: exit 2


def test_unknown_ruleset_name(project):
    _, _, _, result = run("--ruleset", "nope")
    assert_usage_error(result, "no ruleset named 'nope'", "recommended", "strict")


def test_missing_ruleset_file(project):
    _, _, _, result = run("--ruleset", "missing.toml")
    assert_usage_error(result, "missing.toml", "does not exist")


def test_bad_toml_in_a_ruleset_file(project):
    write(project / "broken.toml", '[ruleset\nselect = ["DN1"]\n')
    _, _, _, result = run("--ruleset", "broken.toml")
    assert_usage_error(result, "broken.toml")


@pytest.mark.parametrize("name,text", [
    ("dnlint.toml", 'select = ["DN1"\n'),
    ("pyproject.toml", '[tool.dnlint]\nselect = = 1\n'),
])
def test_bad_toml_in_the_project_config(project, name, text):
    write(project / name, text)
    _, _, _, result = run()
    assert_usage_error(result, str(project / name))


@pytest.mark.parametrize("text,words", [
    ('select = ["DN999"]\n', ["'DN999' selects no code"]),
    ('ignore = ["XX1"]\n', ["'XX1' selects no code"]),
    ('[severity]\nDN999 = "info"\n', ["unknown code 'DN999'"]),
    ('[severity]\nDN101 = "fatal"\n', ["severity of DN101"]),
    ('fail-on = "sometimes"\n', ["fail-on must be"]),
    ('ruleset = "nope"\n', ["no ruleset named 'nope'"]),
])
def test_bad_values_in_the_project_config(project, text, words):
    write(project / "dnlint.toml", text)
    _, _, _, result = run()
    assert_usage_error(result, str(project / "dnlint.toml") if "ruleset" not in text else "nope", *words)


def test_unknown_code_in_a_ruleset_file(project):
    write(project / "mine.toml", '[ruleset]\nselect = ["DN999"]\n')
    _, _, _, result = run("--ruleset", "mine.toml")
    assert_usage_error(result, "mine.toml", "'DN999' selects no code")


def test_config_error_api():
    with pytest.raises(ConfigError, match="no ruleset named"):
        LintConfig.load(ruleset="no-such-ruleset")


@pytest.mark.parametrize("opt", ["--select", "--ignore"])
def test_unknown_code_on_the_command_line(project, opt):
    _, _, _, result = run(opt, "DN999")
    assert_usage_error(result, "DN999")


def test_extends_cycle_is_a_config_error(project):
    write(project / "a.toml", '[ruleset]\nextends = "b.toml"\n')
    write(project / "b.toml", '[ruleset]\nextends = "a.toml"\n')
    _, _, _, result = run("--ruleset", "a.toml")
    assert_usage_error(result, "a.toml")


def test_unknown_key_in_project_config_is_an_error(tmp_path, monkeypatch):
    from dnlint.lint import ConfigError, LintConfig

    (tmp_path / "dnlint.toml").write_text('selcet = ["DN1"]\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="selcet"):
        LintConfig.load()
