"""Inputs of the command line: unreadable dumps among readable ones, and `-` for standard input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.cli import app
from netns import lab  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"
VENV_BIN = Path(sys.executable).parent
runner = CliRunner()

BROKEN = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACC EPT\nCOMMIT\n"
CUT = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.17.0.0/16 ! -o dock"
ONLY = ("--select", "DN001,DN015")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "broken.rules").write_text(BROKEN)
    (tmp_path / "cut.rules").write_text(CUT)
    (tmp_path / "a-directory").mkdir()
    return ["broken.rules", "missing.rules", "a-directory", "cut.rules"]


def check(*args, input=None):
    return runner.invoke(app, ["check", *args], input=input)


def test_text_reports_each_unreadable_file_and_checks_the_others(files):
    result = check(*files, *ONLY)
    assert result.exit_code == 2
    assert "dnlint: missing.rules: cannot read: No such file or directory" in result.stderr
    assert "dnlint: a-directory: cannot read: Is a directory" in result.stderr
    out = result.stdout
    assert "3:35: DN001" in out and "4:1: DN015" in out  # the readable files were checked
    assert "missing.rules\n  error: cannot read: No such file or directory; it was not checked" in out
    assert "2 files could not be read: missing.rules, a-directory." in out
    assert "Traceback" not in result.output


def test_json_lists_the_unreadable_files_as_errors(files):
    result = check(*files, *ONLY, "--format", "json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["files"] == files
    assert [(f["file"], f["code"]) for f in data["findings"]] == [("broken.rules", "DN001"), ("cut.rules", "DN015")]
    assert data["errors"] == [{"file": "missing.rules", "message": "cannot read: No such file or directory"},
                              {"file": "a-directory", "message": "cannot read: Is a directory"}]


def test_sarif_records_the_unreadable_files_and_stays_valid(files):
    result = check(*files, *ONLY, "--format", "sarif")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    run = doc["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["DN001", "DN015"]
    inv = run["invocations"][0]
    assert inv["executionSuccessful"] is False
    notes = inv["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == ["missing.rules: cannot read: No such file or directory",
                                                     "a-directory: cannot read: Is a directory"]
    uris = [a["location"]["uri"] for a in run["artifacts"]]
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "missing.rules"
    assert uris == files
    if SCHEMA.exists():
        jsonschema = pytest.importorskip("jsonschema")
        schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        assert [e.message for e in cls(schema).iter_errors(doc)] == []


def test_github_annotates_the_unreadable_files(files):
    result = check(*files, *ONLY, "--format", "github")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert "::error file=missing.rules,title=dnlint::missing.rules: cannot read: No such file or directory" in lines
    assert any(line.startswith("::error file=cut.rules,line=4,col=1,title=DN015") for line in lines)


def test_a_file_without_read_permission(files, monkeypatch):
    # as root a mode-000 file is still readable: the kernel's EACCES is simulated at the read
    from dnlint import load

    real = load.Path.read_bytes

    def read_bytes(self):
        if self.name == "cut.rules":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(load.Path, "read_bytes", read_bytes)
    result = check("broken.rules", "cut.rules", *ONLY, "--format", "json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["errors"] == [{"file": "cut.rules", "message": "cannot read: Permission denied"}]
    assert [f["code"] for f in data["findings"]] == ["DN001"]


def test_all_readable_keeps_the_usual_exit_codes(files):
    assert check("broken.rules", *ONLY).exit_code == 1
    assert check("broken.rules", *ONLY, "--fail-on", "never").exit_code == 0
    assert check("broken.rules", "missing.rules", *ONLY, "--fail-on", "never").exit_code == 2


# --------------------------------------------------------------------------- standard input


def test_check_reads_stdin_and_names_it(files):
    result = check("-", *ONLY, input=CUT)
    assert result.exit_code == 1
    assert result.stdout.startswith("<stdin>\n  4:1: DN015")
    assert "| -A POSTROUTING -s 172.17.0.0/16 ! -o dock" in result.stdout  # quoted from what stdin held
    data = json.loads(check("broken.rules", "-", *ONLY, "--format", "json", input=CUT).stdout)
    assert data["files"] == ["broken.rules", "<stdin>"]
    assert [f["file"] for f in data["findings"]] == ["broken.rules", "<stdin>"]
    sarif = json.loads(check("-", *ONLY, "--format", "sarif", input=CUT).stdout)
    (res,) = sarif["runs"][0]["results"]
    region = res["locations"][0]["physicalLocation"]["region"]
    assert region["snippet"]["text"] == "-A POSTROUTING -s 172.17.0.0/16 ! -o dock"


def test_parse_and_query_read_stdin():
    result = runner.invoke(app, ["parse", "-", "--format", "json"], input=CUT)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["file"] == "<stdin>"
    assert data["rulesets"][0]["tables"][0]["complete"] is False
    assert [d["code"] for d in data["diagnostics"]] == ["DN015"]
    result = runner.invoke(app, ["query", "-", "--from", "host", "--to", "127.0.0.1", "--port", "80",
                                 "--format", "json"], input=CUT)
    assert result.exit_code == 0
    answer = json.loads(result.stdout)
    assert any("no COMMIT" in a for a in answer["assumptions"])


def test_stdin_through_a_pipe_in_a_real_process(tmp_path):
    res = subprocess.run([str(VENV_BIN / "dnlint"), "check", "-", "--format", "json", *ONLY],
                         input=BROKEN, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    (f,) = json.loads(res.stdout)["findings"]
    assert (f["file"], f["line"], f["code"]) == ("<stdin>", 3, "DN001")


def test_collect_to_stdout_piped_into_parse(lab):
    host = lab.netns("host")
    host.iptables_restore("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                          "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n")
    dnlint = VENV_BIN / "dnlint"
    res = host.sh(f"DOCKER_HOST=unix:///nonexistent/dnlt.sock {dnlint} collect -o - 2>/dev/null"
                  f" | {dnlint} parse - --format json", timeout=120)
    data = json.loads(res.stdout)
    assert data["file"] == "<stdin>"
    (filt,) = [t for rs in data["rulesets"] if rs["family"] == 4 and rs["format"] == "save"
               for t in rs["tables"] if t["name"] == "filter"]
    inp = {c["name"]: c for c in filt["chains"]}["INPUT"]
    assert inp["policy"] == "DROP" and len(inp["rules"]) == 1
    assert not (Path.cwd() / "-").exists()
