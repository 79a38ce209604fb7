"""The kernel/NAT (DN201-DN204) and Docker (DN301-DN303) checks against the seed fixtures and
against what a real kernel and dockerd did (fixtures/docker: dumps plus probe results).

For every captured Docker scenario the findings of these codes are derived from the probes,
not written by hand: a check must fire exactly where the kernel showed the problem.
"""

import json
import time
from functools import lru_cache
from pathlib import Path

import pytest

from dnlint.checks.base import CheckContext
from dnlint.checks.registry import all_checks
from dnlint.lint import LintConfig, lint_dump
from dnlint.load import load_dump
from dnlint.model.values import port_range

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed"
DOCKER = ROOT / "fixtures" / "docker"
CODES = ["DN201", "DN202", "DN203", "DN204", "DN301", "DN302", "DN303"]
DOCKER28 = ROOT / "fixtures" / "docker-v28"  # the same scenarios (and more) under dockerd 28.5
SCENARIOS = sorted(p.name[: -len(".probes.json")] for p in DOCKER.glob("*.probes.json"))
SCENARIOS_V28 = sorted(f"docker-v28/{p.name[: -len('.probes.json')]}" for p in DOCKER28.glob("*.probes.json"))


def _base(scenario: str) -> Path:
    """A scenario of fixtures/docker by name, or of another capture directory as DIR/NAME."""
    return ROOT / "fixtures" / scenario if "/" in scenario else DOCKER / scenario


@lru_cache(maxsize=None)
def _dump(path: Path):
    return load_dump(path)


@lru_cache(maxsize=None)
def _lint(path: Path):
    result = lint_dump(_dump(path), LintConfig.load(ruleset="strict", select=CODES, cwd=path.parent))
    assert not result.errors, result.errors
    return result.findings


def _codes(path: Path, code: str):
    return [f for f in _lint(path) if f.code == code]


def _rule_at(dump, line: int):
    for rs in dump.rulesets:
        for t in rs.tables:
            for c in t.chains:
                for r in c.rules:
                    if r.span.line == line:
                        return t.name, c.name, r
    raise AssertionError(f"no rule at line {line}")


def _proto_port(rule):
    proto = rule.protocol.name if rule.protocol else None
    port = None
    for m in rule.matches:
        opt = m.option("--dport")
        if opt and opt.args:
            port = port_range(opt.args[0])[0]
    return proto, port


def _probes(scenario: str):
    return json.loads(_base(scenario).with_suffix(".probes.json").read_text())


def _host_address(scenario: str) -> str:
    return "192.0.2.1"  # the uplink address of every captured host (see fixtures/docker/README.md)


# --------------------------------------------------------------------------- acceptance cases


def test_dn201_seed_route_localnet_0():
    path = SEED / "userland-proxy-off-route-localnet-0.txt"
    found = _codes(path, "DN201")
    assert len(found) == 1
    f = found[0]
    table, chain, rule = _rule_at(_dump(path), f.span.line)
    assert (table, rule.target.name) == ("nat", "DNAT")
    assert "br-064f9014c32c" in f.message and "route_localnet" in f.message
    out_line = next(r.span.line for rs in _dump(path).rulesets for t in rs.tables if t.name == "nat"
                    for c in t.chains if c.name == "OUTPUT" for r in c.rules)
    assert f"line {out_line}" in f.message  # names the nat OUTPUT rule
    assert f.flow and "127.0.0.1" in f.flow and "martian" in f.flow and "\n" not in f.flow
    assert f.fix


def test_dn201_seed_route_localnet_1_is_clean():
    assert _codes(SEED / "userland-proxy-off-route-localnet-1.txt", "DN201") == []


def test_dn201_docker_c_and_not_b():
    path = DOCKER / "c_no_proxy_no_localnet.txt"
    # the bridge whose route_localnet the scenario turned off by hand (its name is Docker's choice)
    off = [s.key.split(".")[3] for s in _dump(path).facts.sysctls
           if s.key.startswith("net.ipv4.conf.br-") and s.key.endswith(".route_localnet") and s.value == "0"]
    assert len(off) == 1
    found = _codes(path, "DN201")
    assert found and all(off[0] in f.message for f in found)
    assert _codes(DOCKER / "b_no_userland_proxy.txt", "DN201") == []


def test_dn301_ufw_trap():
    found = _codes(DOCKER / "i_input_drop.txt", "DN301")
    assert found
    for f in found:
        assert "192.0.2.1:8080" in f.flow and "DNAT to 172.18.0.2:80" in f.flow
        assert "container web" in f.flow
    assert _codes(DOCKER / "a_default.txt", "DN301") == []


def test_dn302_docker_user_pre_dnat_port():
    path = DOCKER / "h_docker_user.txt"
    found = _codes(path, "DN302")
    lines = {f.span.line for f in found}
    dump = _dump(path)
    by_port = {}
    for rs in dump.rulesets:
        for t in rs.tables:
            for c in t.chains:
                if c.name == "DOCKER-USER":
                    for r in c.rules:
                        by_port[_proto_port(r)[1]] = r.span.line
    assert by_port[8080] in lines  # --dport 8080: the pre-DNAT port, ineffective (probed)
    assert by_port[80] not in lines  # --dport 80: the container port, works (probed)
    assert all("--ctorigdstport" in f.fix for f in found)


@pytest.mark.parametrize("path", [SEED / "no-proxy-no-iptables-blackhole.txt",
                                  DOCKER / "k_no_iptables_no_proxy.txt"], ids=lambda p: p.name)
def test_dn303_black_hole(path):
    found = _codes(path, "DN303")
    assert found and all("BLACKHOLE" in f.flow for f in found)


def test_dn303_not_with_kernel_forwarding():
    assert _codes(SEED / "userland-proxy-off-route-localnet-1.txt", "DN303") == []


# --------------------------------------------------------------------------- against the probes


def _expected_dn201(scenario):
    """The host's own connection to 127/8 on a published port was dropped by the kernel: a TCP
    connect that timed out (no handshake, no refusal), or a UDP send refused with EINVAL."""
    out = set()
    for p in _probes(scenario):
        if p["from"] != "host" or not p["to"].startswith("127.") or p["reached"]:
            continue
        err = p.get("error") or ""
        if (p["proto"] == "tcp" and not p.get("connected") and err == "timeout") or \
                (p["proto"] == "udp" and "Invalid argument" in err):
            out.add((p["proto"], p["port"]))
    return out


def _expected_dn301(scenario):
    """Outside reaches a published port on the host address while INPUT drops a host service
    (9090, or 9091 where ufw allows 9090).

    Where DOCKER-USER filters outside traffic (some ordinary outside probe to a published port
    was not delivered: the ufw-docker recipe), a port an ordinary client (its own address, an
    ephemeral source port) reaches was opened there on purpose (`ufw route allow`,
    --ctorigdstport), and the trap is a port only the other probes reach: from source port 53
    or from a private source address."""
    probes = _probes(scenario)
    host = _host_address(scenario)
    input_closed = any(p["from"] == "outside" and p["to"] == host and p["port"] in (9090, 9091) and not p["reached"]
                       and p["proto"] == "tcp" for p in probes)
    if not input_closed:
        return set()
    published = [p for p in probes if p["from"] == "outside" and p["to"] == host and p["port"] not in (9090, 9091, 2222)]
    ordinary = [p for p in published if not p.get("src") and p.get("sport") in (None, 40053)]
    filtered = any(not p["reached"] for p in ordinary)
    into_container = [p for p in published if p["reached"] and (p.get("delivered_to") or "").startswith("container:")]
    if not filtered:
        return {(p["proto"], p["port"]) for p in into_container}
    open_to_all = {(p["proto"], p["port"]) for p in ordinary if p["reached"]}
    return {(p["proto"], p["port"]) for p in into_container} - open_to_all


def _expected_dn302(scenario):
    """DOCKER-USER DROP rules that the probes show did not stop outside traffic to the published port."""
    dump = _dump(_base(scenario).with_suffix(".txt"))
    host = _host_address(scenario)
    reached = {p["proto"] for p in _probes(scenario) if p["from"] == "outside" and p["to"] == host
               and p["port"] == 8080 and p["reached"]}
    out = set()
    for rs in dump.rulesets:
        for t in rs.tables:
            for c in t.chains:
                if t.name == "filter" and c.name == "DOCKER-USER":
                    for r in c.rules:
                        proto, port = _proto_port(r)
                        if r.target and r.target.name == "DROP" and port is not None and proto in reached:
                            out.add(r.span.line)
    return out


def _expected_dn303(scenario):
    """TCP connections that completed the handshake and delivered nothing: a black hole."""
    return {("tcp", p["port"]) for p in _probes(scenario)
            if p["proto"] == "tcp" and p.get("connected") and not p["reached"]}


def _has_ufw6_route_rules(dump) -> bool:
    return any(c.name == "ufw6-user-forward" and c.rules for rs in dump.rulesets if rs.family == 6
               for t in rs.tables for c in t.chains)


def _forwarding_works(scenario):
    return any(p["reached"] and (p["from"] == "outside" and p["to"].startswith("172.")
                                 or (p["from"].startswith("container:") and p["to"] == "192.0.2.2"))
               for p in _probes(scenario))


@pytest.mark.parametrize("scenario", SCENARIOS + SCENARIOS_V28)
def test_findings_agree_with_the_kernel(scenario):
    path = _base(scenario).with_suffix(".txt")
    dump = _dump(path)
    got = {code: _codes(path, code) for code in CODES}

    dn201 = set()
    for f in got["DN201"]:
        _t, _c, rule = _rule_at(dump, f.span.line)
        dn201.add(_proto_port(rule))
    assert dn201 == _expected_dn201(scenario), f"{scenario}: DN201"

    dn301 = set()
    for f in got["DN301"]:
        _t, _c, rule = _rule_at(dump, f.span.line)
        dn301.add(_proto_port(rule))
    assert dn301 == _expected_dn301(scenario), f"{scenario}: DN301"

    assert {f.span.line for f in got["DN302"]} == _expected_dn302(scenario), f"{scenario}: DN302"

    dn303 = {(ls.proto, ls.port) for f in got["DN303"] for ls in dump.facts.listeners if ls.span.line == f.span.line}
    expected = _expected_dn303(scenario)
    assert {x for x in dn303 if x[0] == "tcp"} == expected, f"{scenario}: DN303"
    for proto, port in dn303:  # a UDP black hole: every probe to that port was lost
        assert not any(p["reached"] for p in _probes(scenario) if p["proto"] == proto and p["port"] == port
                       and not p["to"].startswith("172.18.0.2"))

    # route_localnet=1 exposes nothing here: no service is bound to 127.0.0.1 only
    assert got["DN202"] == [], f"{scenario}: DN202"
    # forwarding is on in every capture (ip_forward=1); where a probe crossed FORWARD, DN203 must be quiet.
    # IPv6 forwarding is off: only a `ufw route` rule of ufw6's (ufw6-user-forward) is then a finding
    ipv4 = [f for f in got["DN203"] if "IPv6" not in f.message]
    if _forwarding_works(scenario):
        assert ipv4 == [], f"{scenario}: DN203"
    assert ipv4 == [], f"{scenario}: DN203 (ip_forward=1 in the dump)"
    assert len(got["DN203"]) - len(ipv4) == int(_has_ufw6_route_rules(dump)), f"{scenario}: DN203 (IPv6)"
    # bridge-nf-call-iptables=1 in the captures: icc=false did isolate (d), so DN204 stays quiet
    assert got["DN204"] == [], f"{scenario}: DN204"


def test_the_probes_cover_each_positive_case():
    """The derivations above are not vacuous: each code fires on at least one capture."""
    assert _expected_dn201("c_no_proxy_no_localnet")
    assert _expected_dn301("i_input_drop")
    assert _expected_dn301("ufw_default") == {("tcp", 8080), ("udp", 8080), ("tcp", 5432), ("udp", 8053)}
    # the ufw-docker recipe: 8080/tcp opened by `ufw route allow`, the rest open only to its holes
    assert _expected_dn301("ufw_docker_fix") == {("udp", 8080), ("tcp", 5432), ("udp", 8053)}
    assert _expected_dn302("h_docker_user")
    assert _expected_dn303("k_no_iptables_no_proxy")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_check_is_fast(scenario):
    dump = _dump(DOCKER / f"{scenario}.txt")
    list(all_checks()["DN201"]().run(CheckContext(dump)))  # imports, caches
    for code in CODES:
        ctx = CheckContext(dump)  # engine built inside the timing, as lint does once per dump
        t = time.perf_counter()
        list(all_checks()[code]().run(ctx))
        assert time.perf_counter() - t < 0.2, code


def test_dn203_quiet_on_docker28_ipv6_skeleton(tmp_path):
    """dockerd 28 writes FORWARD -> DOCKER-USER / DOCKER-FORWARD -> empty chains into ip6tables
    although no network has IPv6 and IPv6 forwarding stays off: nothing there decides anything,
    so forwarding being off loses nothing. One real IPv6 rule behind the jumps brings DN203 back."""
    path = DOCKER28 / "a_default.txt"
    text = path.read_text()
    assert "net.ipv6.conf.all.forwarding = 0" in text
    assert _codes(path, "DN203") == []
    six = text.index("### ip6tables-save")
    at = text.index("-A DOCKER-FORWARD -j DOCKER-BRIDGE", six)
    at = text.index("\n", at) + 1
    p = tmp_path / "v6rule.txt"
    p.write_text(text[:at] + "[0:0] -A DOCKER-BRIDGE -o br-x -j DROP\n" + text[at:])
    found = _codes(p, "DN203")
    assert len(found) == 1 and "IPv6" in found[0].message
