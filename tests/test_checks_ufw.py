"""The Docker checks on hosts managed by ufw, against what the kernel did there.

fixtures/docker/ufw_*.txt are real captures (tests/oracle/capture_docker.py, ufw run inside
the host namespace): plain ufw (the trap), the ufw-docker recipe's after.rules block (with
`ufw route allow` or with `--ctorigdstport` in DOCKER-USER, ufw enabled after dockerd or
before it), and `ufw route` rules under DEFAULT_FORWARD_POLICY DROP and ACCEPT. Every
finding asserted here is checked against the probes recorded with the dump.
"""

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from dnlint.lint import LintConfig, lint_dump
from dnlint.load import load_dump, load_text

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = [ROOT / "fixtures" / "docker", ROOT / "fixtures" / "docker-v28"]
UFW = [pytest.param(d, p.name[: -len(".probes.json")], id=f"{d.name}-{p.name[: -len('.probes.json')]}")
       for d in CAPTURES for p in sorted(d.glob("ufw_*.probes.json"))]
HOST = "192.0.2.1"
FIX = ("ufw_docker_fix", "ufw_docker_fix_ufw_first", "ufw_docker_ctorig")  # the ufw-docker recipe


@lru_cache(maxsize=None)
def _findings(path: Path, codes: tuple[str, ...]):
    result = lint_dump(load_dump(path), LintConfig.load(ruleset="strict", cwd=ROOT / "tests", select=list(codes)))
    assert not result.errors, result.errors
    return result.findings


def _probes(d: Path, name: str) -> list[dict]:
    return json.loads((d / f"{name}.probes.json").read_text())


def _dn301(d: Path, name: str) -> dict[tuple[str, int], object]:
    out = {}
    for f in _findings(d / f"{name}.txt", ("DN301",)):
        m = re.match(r"published port ([\d.]+):(\d+)/(\w+) ", f.message)
        assert m and m.group(1) == HOST, f.message
        out[(m.group(3), int(m.group(2)))] = f
    return out


def _outside(probes, proto, port, **kw):
    """Outside probes to the host address on proto/port; kw: sport=, src= (None: not set)."""
    return [p for p in probes if p["from"] == "outside" and p["to"] == HOST and p["proto"] == proto
            and p["port"] == port and all(p.get(k) == v for k, v in kw.items())]


def _line_of(path: Path, text: str) -> int:
    for i, ln in enumerate(path.read_text().splitlines(), 1):
        if ln.rstrip().endswith(text):
            return i
    raise AssertionError(f"{path.name}: no line ending in {text!r}")


def test_the_captures_are_there():
    names = {v.values[1] for v in UFW}
    assert {"ufw_default", "ufw_docker_fix", "ufw_docker_fix_ufw_first", "ufw_docker_ctorig", "ufw_route_drop",
            "ufw_route_accept", "ufw_route_accept_ufw_first"} <= names


@pytest.mark.parametrize("d, name", UFW)
def test_dn301_reports_what_outside_really_reached(d, name):
    """A published port DN301 reports was reached from outside by the probes the finding names;
    a port the ufw-docker recipe closes for an ordinary client is not reported as open to one."""
    probes, path = _probes(d, name), d / f"{name}.txt"
    found = _dn301(d, name)
    assert found, name  # every ufw capture publishes ports INPUT would drop
    for (proto, port), f in found.items():
        ordinary = [p for p in _outside(probes, proto, port, src=None) if p.get("sport") in (None, 40053)]
        assert ordinary, (name, proto, port)
        if "for ordinary clients" not in f.message:  # the plain trap: anyone reaches it
            assert all(p["reached"] for p in ordinary), (name, f.message)
            assert "ufw" in f.message and "ufw-docker" in f.fix
            continue
        assert name.startswith(FIX), (name, f.message)
        assert not any(p["reached"] for p in ordinary), (name, f.message)
        if "from source port 53" in f.message:
            assert f"DOCKER-USER line {_line_of(path, '--sport 53 --dport 1024:65535 -j RETURN')}" in f.message
            sent = _outside(probes, proto, port, sport=53)
            assert sent and all(p["reached"] for p in sent), (name, f.message)
        if "private address" in f.message and "arriving on the uplink" in f.message:
            assert f"DOCKER-USER line {_line_of(path, '-A DOCKER-USER -s 10.0.0.0/8 -j RETURN')}" in f.message
            sent = _outside(probes, proto, port, src="10.99.0.2")
            assert all(p["reached"] for p in sent), (name, f.message)
    # every port an ordinary outside client reached is reported, unless DOCKER-USER opened it on purpose
    for p in probes:
        if p["from"] == "outside" and p["to"] == HOST and p["reached"] and not p.get("src") \
                and p.get("sport") in (None, 40053) and str(p["delivered_to"]).startswith("container:"):
            opened = name.startswith(FIX)
            assert ((p["proto"], p["port"]) in found) is not opened, (name, p)


def test_dn301_on_the_ufw_docker_recipe():
    """8080/tcp, opened by `ufw route allow ... port 80`, is not the trap; 8053/udp is open from
    source port 53 (spoofable) and from private sources; 5432/tcp from private sources only."""
    d = CAPTURES[0]
    found = _dn301(d, "ufw_docker_fix")
    assert set(found) == {("udp", 8053), ("udp", 8080), ("tcp", 5432)}
    assert "from source port 53" in found[("udp", 8053)].message
    # the whole class of sources, from the address-space view, and what drops the others
    for key in (("udp", 8053), ("tcp", 5432)):
        assert ("from the private addresses 10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16 arriving on the uplink"
                in found[key].message), found[key].message
        assert "other sources are dropped by ufw-docker-logging-deny rule #" in found[key].message
    assert "source port" not in found[("tcp", 5432)].message
    assert "198.51.100.7:53 ->" in found[("udp", 8053)].flow
    ctorig = _dn301(d, "ufw_docker_ctorig")  # 8080/tcp opened by --ctorigdstport 8080 --ctdir ORIGINAL
    assert ("tcp", 8080) not in ctorig and set(ctorig) == {("udp", 8053), ("udp", 8080), ("tcp", 5432)}
    plain = _dn301(d, "ufw_default")
    assert set(plain) == {("tcp", 8080), ("udp", 8080), ("tcp", 5432), ("udp", 8053)}
    assert all("no `ufw allow` covers it" in f.message for f in plain.values())


def test_dn301_stays_quiet_when_the_recipe_closes_everything():
    """The recipe without its holes (no RFC 1918 RETURNs, no sport 53): nothing is open from
    outside, and DN301 says nothing (the published ports are closed where it matters)."""
    path = CAPTURES[0] / "ufw_docker_fix.txt"
    text = path.read_text()
    for rule in ("-A DOCKER-USER -s 10.0.0.0/8 -j RETURN", "-A DOCKER-USER -s 172.16.0.0/12 -j RETURN",
                 "-A DOCKER-USER -s 192.168.0.0/16 -j RETURN",
                 "-A DOCKER-USER -p udp -m udp --sport 53 --dport 1024:65535 -j RETURN"):
        line = next(ln for ln in text.splitlines() if ln.endswith(rule))
        text = text.replace(line + "\n", "")
    dump = load_text(text, "ufw_docker_fix-without-holes.txt")
    result = lint_dump(dump, LintConfig.load(ruleset="strict", cwd=ROOT / "tests", select=["DN301"]))
    assert not result.errors and result.findings == []


@pytest.mark.parametrize("d, name", UFW)
def test_dn302_leaves_the_recipes_port_range_alone(d, name):
    """`-p udp --sport 53 --dport 1024:65535 -j RETURN` holds published host port 8080 but is a
    class of ports: it matches after DNAT (probed: udp 8053 from port 53 gets in), so it is
    not a rule on a pre-DNAT port."""
    assert _findings(d / f"{name}.txt", ("DN302",)) == []
    if name in FIX:
        assert any(p["reached"] for p in _outside(_probes(d, name), "udp", 8053, sport=53))


def test_dn302_still_reports_a_rule_on_the_host_port():
    h = _findings(CAPTURES[0] / "h_docker_user.txt", ("DN302",))
    assert len(h) == 1 and "--dport 8080" in h[0].message


@pytest.mark.parametrize("d, name", UFW)
def test_dn203_ignores_ufws_own_ipv6_forward_chains(d, name):
    """IPv6 forwarding is off in the captures; ufw writes its ufw6-* FORWARD chains anyway.
    Only a `ufw route` rule in ufw6-user-forward is a FORWARD rule nobody will meet."""
    path = d / f"{name}.txt"
    dump = load_dump(path)
    route6 = any(c.name == "ufw6-user-forward" and c.rules for rs in dump.rulesets if rs.family == 6
                 for t in rs.tables for c in t.chains)
    got = _findings(path, ("DN203",))
    assert [("IPv6" in f.message) for f in got] == ([True] if route6 else [])
    if name.startswith("ufw_route_accept"):
        assert route6  # `ufw route deny ... port 5432` wrote its IPv6 twin


def test_dn308_names_the_port_ufw_route_allow_opens():
    """`ufw route allow proto tcp from any to any port 80` (in DOCKER-USER's ufw-user-forward)
    opens port 80 of every container, published or not: outside reached client:80 and db:80."""
    d = CAPTURES[0]
    probes = _probes(d, "ufw_docker_fix")
    assert all(p["reached"] for p in probes if p["from"] == "outside" and p["port"] == 80 and p["proto"] == "tcp")
    got = _findings(d / "ufw_docker_fix.txt", ("DN308",))
    assert {(f.message.split()[1], "on port 80/tcp" in f.message, "ufw-user-forward" in f.message)
            for f in got} == {("client", True, True), ("db", True, True)}
