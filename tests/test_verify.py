"""`dnlint verify --policy` and `dnlint query --expect`: policy assertions and scriptable answers, on a
captured Docker host whose probes say what the kernel did (fixtures/docker/a_default.probes.json)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.cli import app
from dnlint.load import load_dump
from dnlint.verify import PolicyError, load_policy, verify

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "fixtures" / "docker" / "a_default.txt"
EXAMPLE = ROOT / "docs" / "policy-example.toml"


def _probes():
    return json.loads((ROOT / "fixtures" / "docker" / "a_default.probes.json").read_text())


def test_the_example_policy_on_a_docker_host():
    results = {r.assertion.name: r for r in verify(load_dump(DOCKER), load_policy(EXAMPLE.read_text()))}
    assert results["web published on 8080"].passed
    assert results["networks isolated"].passed
    assert results["containers masquerade to the world"].passed
    assert results["ssh closed"].passed
    only = results["only 8080 from outside"]
    assert not only.passed and "9090" in only.message and only.witness["dport"] == 9090
    # the kernel agrees: outside reached 9090 on the host (the capture's probes)
    reached = [p for p in _probes() if p["from"] == "outside" and p["to"] == "192.0.2.1" and p["port"] == 9090
               and p["proto"] == "tcp"]
    assert reached and all(p["reached"] for p in reached)


def test_failures_name_the_rule_and_junit_reads():
    policy = """
[[assert]]
name = "web closed"
from = "outside"
to = "192.0.2.1"
port = 8080
expect = "unreachable"

[[assert]]
name = "wrong target"
from = "outside"
to = "192.0.2.1"
port = 8080
expect = "dnat"
target = "172.18.0.9"
"""
    r = CliRunner().invoke(app, ["verify", str(DOCKER), "--policy", "-"], input=policy)
    assert r.exit_code == 1
    assert "FAIL web closed: outside -> 192.0.2.1:8080/tcp is reachable (filter DOCKER #1, line 32)" in r.output
    assert "FAIL wrong target" in r.output and "expected 172.18.0.9" in r.output
    xml = CliRunner().invoke(app, ["verify", str(DOCKER), "--policy", "-", "-f", "junit"], input=policy).output
    suite = ET.fromstring(xml).find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "2"
    assert all(tc.find("failure") is not None for tc in suite.findall("testcase"))
    ok = CliRunner().invoke(app, ["verify", str(DOCKER), "--policy", str(EXAMPLE), "-f", "json"])
    assert ok.exit_code == 1 and json.loads(ok.output)["passed"] is False


def test_bad_policies_are_exit_2_with_a_sentence():
    for text, words in (("", "no [[assert]]"), ("[[assert]]\nname='x'\nexpect='sideways'\n", "expect is one of"),
                        ("[[assert]]\nname='x'\nexpect='dnat'\nfrom='outside'\nto='host'\n", "needs target"),
                        ("[[assert]]\nname='x'\nbogus=1\n", "unknown keys bogus"), ("[[assert", "")):
        with pytest.raises(PolicyError) as e:
            load_policy(text, "p.toml")
        assert words in str(e.value)
        r = CliRunner().invoke(app, ["verify", str(DOCKER), "--policy", "-"], input=text)
        assert r.exit_code == 2 and "dnlint: " in r.output


def test_query_expect_exit_codes():
    base = ["query", str(DOCKER), "--from", "outside", "--to", "192.0.2.1", "--port", "8080"]
    assert CliRunner().invoke(app, base + ["--expect", "reachable"]).exit_code == 0
    r = CliRunner().invoke(app, base + ["--expect", "unreachable"])
    assert r.exit_code == 1 and "expected unreachable, the answer is reachable" in r.output
    assert CliRunner().invoke(app, base + ["--expect", "null"]).exit_code == 1
    assert CliRunner().invoke(app, ["query", str(DOCKER), "--from", "nowhere:x", "--to", "host",
                                    "--expect", "reachable"]).exit_code == 2
