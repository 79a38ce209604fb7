"""dnlint in people's CI: the GitHub Actions workflow and the GitLab job in docs/ci run as written
(their dnlint commands, on a throwaway repository), and the pre-commit hooks run through the real
`pre-commit` tool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "fixtures" / "docker" / "a_default.txt"
BIN = Path(sys.executable).parent
PRE_COMMIT = shutil.which("pre-commit", path=str(BIN)) or shutil.which("pre-commit")
POLICY = """
[[assert]]
name = "web published on 8080"
from = "outside"
to = "192.0.2.1"
port = 8080
expect = "dnat"
target = "172.18.0.2:80"

[[assert]]
name = "networks isolated"
expect = "isolated"
endpoints = ["network:*"]
port = 80
"""


def _rules_of(dump: Path) -> str:
    """The dump's iptables-save section as a rule file (counters dropped)."""
    import re

    text = dump.read_text()
    body = text[text.index("### iptables-save"):].split("\n", 1)[1]
    body = body[:body.index("\n### ")]
    return re.sub(r"^\[\d+:\d+\] ", "", body, flags=re.M) + "\n"


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "firewall").mkdir(parents=True)
    shutil.copy(DOCKER, repo / "firewall" / "deployed.txt")
    shutil.copy(DOCKER, repo / "firewall" / "candidate.txt")
    rules = _rules_of(DOCKER).replace(":DOCKER-USER - [0:0]", ":DOCKER-USER - [0:0]\n-A DOCKER-USER -i up0 -p tcp "
                                      "-m conntrack --ctorigdstport 8080 -j DROP", 1)
    (repo / "firewall" / "rules.v4").write_text(rules)
    (repo / "firewall" / "policy.toml").write_text(POLICY)
    (repo / "bad.rules").write_text("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                                    "-A INPUT -j NOPE\nCOMMIT\n")
    return repo


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _commands(doc: dict) -> list[str]:
    out = []
    for job in doc.values():
        if not isinstance(job, dict):
            continue
        for step in job.get("steps", []) or []:
            if isinstance(step, dict) and "run" in step:
                out.append(step["run"])
        for line in job.get("script", []) or []:
            out.append(line)
    return [c for c in out if "dnlint" in c and not c.startswith("pip install")]


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_workflows_commands_run_as_written(tmp_path, name):
    doc = yaml.safe_load((ROOT / "docs" / "ci" / name).read_text())
    jobs = doc.get("jobs", doc)
    cmds = _commands(jobs)
    assert any(c.startswith("dnlint check") for c in cmds) and any(c.startswith("dnlint diff") for c in cmds)
    assert any(c.startswith("dnlint verify") for c in cmds)
    repo = _repo(tmp_path)
    for c in cmds:
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", c], cwd=repo, env=_env(), capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, f"{name}: {c}: {r.returncode}: {r.stdout[-500:]} {r.stderr[-500:]}"
    sarif = json.loads(next(repo.glob("*.sarif")).read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"] == "dnlint"
    md = (repo / "diff.md").read_text()
    assert md.startswith("**dnlint diff**") and "🔒 closed" in md and "tcp 8080" in md
    suite = ET.parse(repo / "dnlint-junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "0"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**_env(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"})


@pytest.mark.skipif(PRE_COMMIT is None or shutil.which("git") is None, reason="pre-commit or git is not installed")
def test_the_pre_commit_hooks_through_the_real_tool(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("the project is not a git checkout")
    shown = subprocess.run(["git", "show", "HEAD:.pre-commit-hooks.yaml"], cwd=ROOT, capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.skip("HEAD has no .pre-commit-hooks.yaml yet")
    repo = _repo(tmp_path)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {ROOT}\n    rev: {head.stdout.strip()}\n    hooks:\n"
        "      - id: dnlint-check\n        files: ^(bad\\.rules|firewall/rules\\.v4)$\n"
        "      - id: dnlint-verify\n        args: [--policy, firewall/policy.toml]\n"
        "        files: ^firewall/candidate\\.txt$\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "firewall")
    env = {**_env(), "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    r = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=repo, env=env, capture_output=True, text=True,
                       timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out  # bad.rules jumps to a chain that does not exist
    assert "dnlint check" in out and "Failed" in out and "DN101" in out
    assert "dnlint verify" in out and "Passed" in out.split("dnlint verify", 1)[1].splitlines()[0]
    (repo / "bad.rules").unlink()
    _git(repo, "commit", "-qam", "fix")
    r = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=repo, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
