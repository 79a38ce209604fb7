"""The Docker inventory checks (DN304-DN307) and the ruleset invariants (DN401) on the seed
and on the real Docker captures, whose probes say what the kernel did."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.checks import _docker_inventory
from dnlint.checks.base import CheckContext
from dnlint.checks.registry import check_class
from dnlint.cli import app
from dnlint.ir import Severity
from dnlint.lint import Invariant, LintConfig, lint_dump
from dnlint.load import load_dump
from dnlint.model.intervals import ip_str

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed"
DOCKER = ROOT / "fixtures" / "docker"
DOCKER28 = ROOT / "fixtures" / "docker-v28"
CHECKS = ROOT / "fixtures" / "checks"
MINE = ("DN304", "DN305", "DN306", "DN307")


def findings(path: Path, *codes: str):
    result = lint_dump(load_dump(path), LintConfig.load(ruleset="strict", cwd=ROOT / "tests", select=list(codes)))
    assert not result.errors, result.errors
    return [f for f in result.findings if f.code in codes]


def probes(name: str) -> list[dict]:
    return json.loads((DOCKER / f"{name}.probes.json").read_text())


def evaluate(path: Path, *invariants: Invariant):
    ctx = CheckContext(load_dump(path))
    return list(check_class("DN401")().evaluate(ctx, list(invariants)))


ISOLATED = Invariant("iso", "network:*", "network:*", "unreachable")


# --------------------------------------------------------------------------- DN304


@pytest.mark.parametrize("path", [SEED / "iptables-true-isolation.txt", DOCKER / "g_two_networks.txt"],
                         ids=lambda p: p.stem)
def test_dn304_isolated_hosts_are_clean(path):
    assert findings(path, "DN304") == []


def test_dn304_iptables_false_reports_both_directions_with_the_flow():
    got = findings(SEED / "iptables-false.txt", "DN304")
    assert len(got) == 2
    msgs = " | ".join(f.message for f in got)
    assert "network bridge" in msgs and "network mynet" in msgs
    for f in got:
        assert f.span.line == 17  # :FORWARD ACCEPT: the policy lets it through
        assert f.flow and "delivered" in f.flow
        assert f.severity is Severity.WARNING
    assert any("172.17." in f.flow and "-> 172.18." in f.flow for f in got)
    assert any("172.18." in f.flow and "-> 172.17." in f.flow for f in got)


def test_dn304_agrees_with_the_kernel_on_g_two_networks():
    # the kernel dropped alpha <-> beta by container IP both ways (g_two_networks.probes.json)
    blocked = [p for p in probes("g_two_networks") if p["note"].startswith("network isolation")]
    assert blocked and not any(p["reached"] for p in blocked)
    assert findings(DOCKER / "g_two_networks.txt", "DN304") == []


def test_dn304_ignores_the_gateway_of_the_other_network():
    # alpha reaches net2's gateway (a host address, INPUT): that is not a network reaching a network
    assert any(p["reached"] and p["to"] == "172.19.0.1" for p in probes("g_two_networks"))
    assert findings(DOCKER / "g_two_networks.txt", "DN304") == []


def test_dn304_docker28_routed_published_port_is_deliberate():
    # gateway mode routed: a docker0 container reached web's published port 80 by its address,
    # not client's unpublished one (l_routed.probes.json); Docker's isolation chains RETURN for
    # traffic to a routed bridge, and its DOCKER chain accepts the published port only
    probes28 = json.loads((DOCKER28 / "l_routed.probes.json").read_text())
    other = {(p["to"], p["port"]): p["reached"] for p in probes28 if p["from"] == "container:other"}
    assert other[("172.18.0.2", 80)] is True and other[("172.18.0.3", 80)] is False
    got = findings(DOCKER28 / "l_routed.txt", "DN304")
    assert len(got) == 1
    f = got[0]
    assert f.severity is Severity.INFO and "deliberate" in f.message and "routed" in f.message
    assert "network bridge" in f.message and "-> 172.18.0.2:80/tcp" in f.message


def test_dn304_docker28_routed_leak_beyond_the_published_ports_is_a_warning(tmp_path):
    text = (DOCKER28 / "l_routed.txt").read_text()
    at = text.index("-A FORWARD -j DOCKER-USER")
    at = text.rindex("\n", 0, at) + 1
    p = tmp_path / "leak.txt"
    p.write_text(text[:at] + "[0:0] -A FORWARD -i docker0 -p tcp --dport 22 -j ACCEPT\n" + text[at:])
    got = findings(p, "DN304")
    assert len(got) == 1 and got[0].severity is Severity.WARNING and ":22/tcp" in got[0].message


@pytest.mark.parametrize("name", ["a_default", "g_two_networks", "d_icc_false", "e_internal", "m_nat_unprotected"])
def test_dn304_docker28_isolated_hosts_are_clean(name):
    assert findings(DOCKER28 / f"{name}.txt", "DN304") == []


# --------------------------------------------------------------------------- DN305


def test_dn305_iptables_false_reports_every_subnet():
    got = findings(SEED / "iptables-false.txt", "DN305")
    assert {("172.17.0.0/16" in f.message, "172.18.0.0/16" in f.message) for f in got} == {(True, False), (False, True)}
    for f in got:
        assert "--iptables=false" in f.message
        assert f.flow and "not NATed" in f.flow
        assert f.severity is Severity.WARNING


@pytest.mark.parametrize("path", [SEED / "iptables-true-isolation.txt", DOCKER / "a_default.txt",
                                  DOCKER / "g_two_networks.txt", DOCKER / "e_internal.txt"], ids=lambda p: p.stem)
def test_dn305_masqueraded_or_internal_networks_are_clean(path):
    assert findings(path, "DN305") == []


def test_dn305_agrees_with_the_kernel_on_j_no_iptables():
    # outside saw the container's own address (172.18.0.3) with --iptables=false
    egress = [p for p in probes("j_no_iptables") if p["note"] == "egress to outside"]
    assert egress and all(p["seen_src"].startswith("172.18.") for p in egress)
    got = findings(DOCKER / "j_no_iptables.txt", "DN305")
    assert any("net1" in f.message and f.severity is Severity.WARNING for f in got)


def test_dn305_deliberate_ip_masq_false_is_information(tmp_path):
    text = (SEED / "iptables-false.txt").read_text().replace("daemon --iptables=false", "daemon --ip-masq=false")
    p = tmp_path / "ipmasq.txt"
    p.write_text(text)
    got = findings(p, "DN305")
    assert got and all(f.severity is Severity.INFO and "deliberate" in f.message for f in got)


def test_dn305_docker28_routed_gateway_mode_is_deliberate():
    # routed: outside saw the container's own address (no masquerade), as asked for
    egress = [p for p in json.loads((DOCKER28 / "l_routed.probes.json").read_text())
              if p["note"] == "egress to outside"]
    assert egress and all(p["reached"] and p["seen_src"] == "172.18.0.3" for p in egress)
    got = findings(DOCKER28 / "l_routed.txt", "DN305")
    assert len(got) == 1
    assert got[0].severity is Severity.INFO and "gateway mode is routed" in got[0].message
    assert findings(DOCKER28 / "m_nat_unprotected.txt", "DN305") == []
    assert findings(DOCKER28 / "a_default.txt", "DN305") == []


# --------------------------------------------------------------------------- DN306


def test_dn306_localhost_publish_reached_directly_like_the_kernel():
    reached = [p for p in probes("f_localhost_publish") if p["from"] == "outside" and p["to"] == "172.18.0.2" and p["port"] == 80]
    assert reached and reached[0]["reached"]
    got = findings(DOCKER / "f_localhost_publish.txt", "DN306")
    assert {("/tcp" in f.message, "/udp" in f.message) for f in got} == {(True, False), (False, True)}
    for f in got:
        assert "127.0.0.1" in f.message and "outside" in f.message
        assert "-> 172.18.0.2:80" in f.flow and "delivered to container web" in f.flow
        line = (DOCKER / "f_localhost_publish.txt").read_text().splitlines()[f.span.line - 1]
        assert "-d 127.0.0.1/32" in line and "DNAT" in line


@pytest.mark.parametrize("name", ["a_default", "b_no_userland_proxy", "g_two_networks", "h_docker_user",
                                  "i_input_drop", "e_internal"])
def test_dn306_ports_published_on_every_address_are_not_reported(name):
    assert findings(DOCKER / f"{name}.txt", "DN306") == []


# --------------------------------------------------------------------------- DN307


@pytest.mark.parametrize("path", sorted(DOCKER.glob("*.txt")) + sorted(SEED.glob("*.txt")), ids=lambda p: p.stem)
def test_dn307_no_stale_dnat_in_real_captures(path):
    assert findings(path, "DN307") == []


def test_dn307_needs_an_inventory(tmp_path):
    text = (CHECKS / "DN307" / "bad.txt").read_text()
    without = text.split("### docker network inspect")[0]
    p = tmp_path / "noinv.txt"
    p.write_text(without)
    assert findings(p, "DN307") == []
    assert len(findings(CHECKS / "DN307" / "bad.txt", "DN307")) == 1


# --------------------------------------------------------------------------- DN401


def test_dn401_wildcards_expand_to_pairs_of_distinct_networks():
    ctx = CheckContext(load_dump(DOCKER / "g_two_networks.txt"))
    eng = ctx.engine(4)
    pairs, _notes = check_class("DN401")()._expand(ctx, eng, ISOLATED)
    nets = {"network:bridge", "network:net1", "network:net2"}  # host and none are not bridges
    assert set(pairs) == {(a, b) for a in nets for b in nets if a != b}
    pairs, _ = check_class("DN401")()._expand(ctx, eng, Invariant("c", "container:*", "container:*", "unreachable"))
    assert set(pairs) == {("container:alpha", "container:beta"), ("container:beta", "container:alpha")}
    pairs, _ = check_class("DN401")()._expand(ctx, eng, Invariant("c", "container:*", "network:*", "unreachable"))
    assert ("container:alpha", "network:net1") not in pairs  # its own network
    assert ("container:alpha", "network:net2") in pairs
    pairs, _ = check_class("DN401")()._expand(ctx, eng, Invariant("c", "outside", "container:*", "unreachable"))
    assert set(pairs) == {("outside", "container:alpha"), ("outside", "container:beta")}


def test_dn401_isolation_holds_on_g_two_networks_and_fails_on_iptables_false():
    assert evaluate(DOCKER / "g_two_networks.txt", ISOLATED) == []
    assert evaluate(SEED / "iptables-true-isolation.txt", ISOLATED) == []
    got = evaluate(SEED / "iptables-false.txt", ISOLATED)
    assert len(got) == 2
    assert all(f.severity is Severity.ERROR and "violated" in f.message and f.flow for f in got)
    assert {m for f in got for m in ("network:bridge -> network:mynet", "network:mynet -> network:bridge")
            if m in f.message} == {"network:bridge -> network:mynet", "network:mynet -> network:bridge"}


def test_dn401_isolation_allows_the_published_ports_of_a_routed_network(tmp_path):
    """Docker 28, gateway mode routed: -p opens the container port to every network that routes
    to it (the probes: docker0 reached web's published 80, not client's unpublished 80)."""
    assert evaluate(DOCKER28 / "l_routed.txt", ISOLATED) == []
    # a rule that lets docker0 reach any port of net1 breaks the promise again
    text = (DOCKER28 / "l_routed.txt").read_text()
    m = re.search(r"^\[\d+:\d+\] -A FORWARD -j DOCKER-USER\n", text, re.M)
    assert m
    jump = m.group(0)
    p = tmp_path / "leaky.txt"
    p.write_text(text.replace(jump, jump + "[0:0] -A DOCKER-USER -i docker0 -j ACCEPT\n", 1))
    got = evaluate(p, ISOLATED)
    assert any("network:bridge -> network:net1" in f.message and "violated" in f.message for f in got)


def test_dn401_expect_reachable_names_the_blocking_rule():
    inv = Invariant("alpha-beta", "container:alpha", "container:beta", "reachable", port=80)
    got = evaluate(DOCKER / "g_two_networks.txt", inv)
    assert len(got) == 1
    assert "blocked" in got[0].message and "DOCKER-ISOLATION" in got[0].message
    assert got[0].span is not None


def test_dn401_unprovable_answers_are_warnings(tmp_path):
    text = (CHECKS / "DN304" / "bad.txt").read_text().replace(
        "-A DOCKER-USER -s 172.16.0.0/12 -d 172.16.0.0/12 -j ACCEPT", "-A DOCKER-USER -m frobnicate --frob 1 -j ACCEPT")
    p = tmp_path / "approx.txt"
    p.write_text(text)
    got = evaluate(p, ISOLATED)
    assert got and all(f.severity is Severity.WARNING and "could not be proved" in f.message for f in got)


def test_dn401_unknown_container_is_reported_not_raised():
    got = evaluate(DOCKER / "g_two_networks.txt", Invariant("x", "outside", "container:nope", "unreachable"))
    assert len(got) == 1 and "nope" in got[0].message


def test_dn401_wildcards_without_inventory_ask_nothing(tmp_path):
    p = tmp_path / "plain.txt"
    p.write_text("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
    assert evaluate(p, ISOLATED) == []


# --------------------------------------------------------------------------- speed, rulesets, CLI


def test_engine_questions_stay_in_the_dozens(monkeypatch):
    calls = []
    real = _docker_inventory.search

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(_docker_inventory, "search", counting)
    for name in ("g_two_networks", "f_localhost_publish", "a_default"):
        lint_dump(load_dump(DOCKER / f"{name}.txt"), LintConfig.load(ruleset="docker", cwd=ROOT / "tests",
                                                                     select=["DN304", "DN305", "DN306", "DN401"]))
    assert 0 < len(calls) < 60


def test_docker_ruleset_extends_recommended_with_the_isolation_invariant():
    cfg = LintConfig.load(ruleset="docker", cwd=ROOT / "tests")
    assert cfg.ruleset == "docker"
    assert [i.name for i in cfg.invariants] == ["docker-networks-isolated"]
    assert cfg.enabled("DN304") and cfg.enabled("DN401")
    assert LintConfig.load(ruleset="recommended", cwd=ROOT / "tests").enabled("DN305")


def _cli_check(path: Path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no project configuration applies
    out = CliRunner().invoke(app, ["check", "--ruleset", "docker", "--format", "json", str(path)])
    assert out.exit_code in (0, 1), out.output
    return out.exit_code, {f["code"] for f in json.loads(out.stdout)["findings"]}


def test_cli_docker_ruleset_on_g_two_networks_is_clean_of_isolation_findings(monkeypatch, tmp_path):
    _rc, codes = _cli_check(DOCKER / "g_two_networks.txt", monkeypatch, tmp_path)
    assert not codes & {"DN304", "DN401"}


def test_cli_docker_ruleset_on_iptables_false_reports_them(monkeypatch, tmp_path):
    rc, codes = _cli_check(SEED / "iptables-false.txt", monkeypatch, tmp_path)
    assert {"DN304", "DN305", "DN401"} <= codes
    assert rc == 1  # DN401 is an error


# --------------------------------------------------------------------------- DN308


def _dn308_containers(path: Path) -> set[str]:
    return {f.message.split()[1] for f in findings(path, "DN308")}


def _dn308_ports(path: Path) -> set[tuple[str, int]]:
    """(container, port) of each DN308 finding (`... reachable from outside on port 80/tcp ...`)."""
    import re

    return {(f.message.split()[1], int(re.search(r" on port (\d+)/", f.message).group(1)))
            for f in findings(path, "DN308")}


@pytest.mark.parametrize("captures", [DOCKER, DOCKER28])
def test_dn308_follows_the_probes_of_unpublished_ports(captures):
    """Where the kernel let outside reach a container port nobody published (nat-unprotected on
    Docker 28, --iptables=false), DN308 names the container; where outside could not reach even
    the container's address directly, it stays quiet."""
    for probes_file in sorted(captures.glob("*.probes.json")):
        scenario = probes_file.name[: -len(".probes.json")]
        dump = captures / f"{scenario}.txt"
        got, ports = _dn308_containers(dump), _dn308_ports(dump)
        owner = {ip_str(e.ip, 4): e.container for e in CheckContext(load_dump(dump)).engine(4).host.endpoints}
        probes = [p for p in json.loads(probes_file.read_text())
                  if p["from"] == "outside" and p["to"].startswith("172.") and p["proto"] == "tcp"]
        reached_any = {owner.get(p["to"]) for p in probes if p["reached"]}
        for p in probes:
            who = owner.get(p["to"])
            if "not published" in (p.get("note") or "") and p["reached"]:
                assert who in got, f"{scenario}: outside reached {p['to']}:{p['port']} (unpublished), no DN308"
            if not p["reached"]:
                assert (who, p["port"]) not in ports, f"{scenario}: outside could not reach {p['to']}:{p['port']}"
            if who not in reached_any:
                assert who not in got, f"{scenario}: outside could not reach {p['to']} at all, yet DN308 fired"
    if captures == DOCKER28:
        assert _dn308_containers(DOCKER28 / "m_nat_unprotected.txt") == {"client", "web"}
        assert all(not _dn308_containers(DOCKER28 / f"{s}.txt") for s in ("a_default", "d_icc_false", "l_routed"))
    else:
        assert _dn308_containers(DOCKER / "j_no_iptables.txt") == {"client", "web"}
        assert not _dn308_containers(DOCKER / "a_default.txt")  # FORWARD DROP: only the published port


# --------------------------------------------------------------------------- checks speak in classes


def test_reachable_flow_checks_describe_the_whole_source_class():
    """DN304, DN306, DN308 and DN401 name the class of sources the address-space view finds
    (the full path to the witness's destination and port, arriving where the witness did), not one
    witness; the witness stays as the example."""
    got = findings(SEED / "iptables-false.txt", "DN304")
    assert {("from every container address of 172.17.0.0/16 arriving on docker0" in f.message)
            or ("from every container address of 172.18.0.0/16 arriving on br-" in f.message) for f in got} == {True}
    assert all("(e.g. 172.1" in f.message for f in got)
    got = findings(DOCKER / "f_localhost_publish.txt", "DN306")
    reached = [p for p in probes("f_localhost_publish") if p["from"] == "outside" and p["to"] == "172.18.0.2"
               and p["port"] == 80]
    assert reached and all(p["reached"] for p in reached)  # the kernel: an outside client got there
    assert got and all("outside (from every source arriving on up0)" in f.message for f in got)
    got = findings(DOCKER28 / "m_nat_unprotected.txt", "DN308")
    assert got and all("reachable from outside (from every source arriving on" in f.message for f in got)
    got = evaluate(SEED / "iptables-false.txt", ISOLATED)
    assert got and all("from every container address of 172.1" in f.message and "e.g. 172.1" in f.message
                       for f in got)
