"""The seed's dumps (transcripts with prompts, tabs and Chinese notes) read into the right IR."""

from pathlib import Path

import pytest

from dnlint.ir import RulesetFormat
from dnlint.load import load_dump
from dnlint.parse.facts.ps import docker_proxies, dockerd_flags

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed"
SEED_TEXT = ROOT.parent / "shared" / "seeds" / "000_29b6bfea377fc894.txt"


def tables(dump):
    return {t.name: t for rs in dump.rulesets for t in rs.tables}


def chain_names(table):
    return [c.name for c in table.chains]


def rules_of(table, chain):
    return table.chain(chain).rules


@pytest.mark.parametrize("path", sorted(SEED.glob("*.txt")), ids=lambda p: p.name)
def test_every_seed_fixture_reads_without_errors(path):
    dump = load_dump(path)
    errors = [d for d in dump.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    assert dump.facts.addresses and dump.facts.routes and dump.facts.sysctls


def test_isolation_fixture_tables_and_chains():
    dump = load_dump(SEED / "iptables-true-isolation.txt")
    t = tables(dump)
    assert set(t) == {"filter", "nat"}
    assert all(rs.format is RulesetFormat.LISTING for rs in dump.rulesets)
    assert chain_names(t["filter"]) == ["INPUT", "FORWARD", "OUTPUT", "DOCKER", "DOCKER-ISOLATION"]
    assert chain_names(t["nat"]) == ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "DOCKER"]
    assert t["filter"].chain("INPUT").policy == "ACCEPT"
    assert t["filter"].chain("INPUT").counters.packets == 114000
    assert t["filter"].chain("DOCKER").references == 2
    iso = rules_of(t["filter"], "DOCKER-ISOLATION")
    assert [(r.in_iface.name, r.out_iface.name, r.target.name) for r in iso[:2]] == [
        ("br-064f9014c32c", "docker0", "DROP"), ("docker0", "br-064f9014c32c", "DROP")]
    fwd = rules_of(t["filter"], "FORWARD")
    assert fwd[3].in_iface.name == "docker0" and fwd[3].out_iface.negated
    est = fwd[2].match("conntrack")
    assert est.option("--ctstate").args == ("RELATED,ESTABLISHED",)
    out = rules_of(t["nat"], "OUTPUT")[0]
    assert out.dst.value == "127.0.0.0/8" and out.dst.negated
    assert out.match("addrtype").option("--dst-type").args == ("LOCAL",)
    masq = rules_of(t["nat"], "POSTROUTING")
    assert [(r.src.value, r.out_iface.name, r.out_iface.negated) for r in masq] == [
        ("172.17.0.0/16", "docker0", True), ("172.18.0.0/16", "br-064f9014c32c", True)]


def test_route_localnet_0_fixture():
    dump = load_dump(SEED / "userland-proxy-off-route-localnet-0.txt")
    t = tables(dump)
    dnat = rules_of(t["nat"], "DOCKER")[0]
    assert dnat.target.name == "DNAT"
    assert dnat.target.option("--to-destination").args == ("172.18.0.2:80",)
    assert dnat.protocol.name == "tcp" and dnat.match("tcp").option("--dport").args == ("80",)
    assert dnat.span.line > 40  # the nat listing printed after route_localnet was turned off
    out = rules_of(t["nat"], "OUTPUT")[0]
    assert out.dst is None  # proxy off: OUTPUT DNATs loopback destinations too
    post = rules_of(t["nat"], "POSTROUTING")
    assert post[1].out_iface.name == "br-064f9014c32c"
    assert post[1].match("addrtype").option("--src-type").args == ("LOCAL",)
    assert post[4].src.value == "172.18.0.2/32" and post[4].dst.value == "172.18.0.2/32"
    s = dump.facts.sysctl("net.ipv4.conf.br-064f9014c32c.route_localnet")
    assert s.value == "0"
    flags = dockerd_flags(dump.facts.processes)
    assert flags["--userland-proxy"] is False and flags["--iptables"] is True
    ls = dump.facts.listeners[0]
    assert (ls.port, ls.process, ls.pid) == (80, "docker", 25452)


def test_route_localnet_1_fixture_reads_the_seeds_sysctl_transcript():
    dump = load_dump(SEED / "userland-proxy-off-route-localnet-1.txt")
    values = [s.value for s in dump.facts.sysctls if s.key == "net.ipv4.conf.br-064f9014c32c.route_localnet"]
    assert values[0] == "1"  # the seed's own `sysctl` prompt line
    assert dump.facts.sysctl("net.ipv4.conf.br-064f9014c32c.route_localnet").value == "1"
    t = tables(dump)
    assert rules_of(t["filter"], "DOCKER")[0].dst.value == "172.18.0.2/32"


def test_proxy_fixture_facts():
    dump = load_dump(SEED / "userland-proxy-on-default-bridge.txt")
    (proxy,) = docker_proxies(dump.facts.processes)
    assert (proxy["host_port"], proxy["container_ip"], proxy["container_port"]) == (80, "172.17.0.2", 80)
    nets = {n.name: n for n in dump.facts.docker_networks}
    assert nets["bridge"].bridge == "docker0" and nets["bridge"].subnets == ("172.17.0.0/16",)
    assert [e.container for e in nets["bridge"].endpoints] == ["web"]
    t = tables(dump)
    dnat = rules_of(t["nat"], "DOCKER")[2]
    assert dnat.in_iface.name == "docker0" and dnat.in_iface.negated


@pytest.mark.skipif(not SEED_TEXT.exists(), reason="../shared/seeds is absent")
def test_the_seed_file_itself():
    """The raw seed: its five listings land in the right tables with the right chains."""
    dump = load_dump(SEED_TEXT)
    listings = [(rs.span.line, rs.tables[0].name, chain_names(rs.tables[0])) for rs in dump.rulesets]
    assert [(line, name) for line, name, _ in listings] == [
        (37, "filter"), (65, "nat"), (195, "filter"), (223, "nat"), (280, "nat")]
    for _, name, chains in listings:
        if name == "filter":
            assert chains[:3] == ["INPUT", "FORWARD", "OUTPUT"]
        else:
            assert chains[:4] == ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]
    assert not [d for d in dump.diagnostics if d.code == "DN001"]
    keys = {s.key: s.value for s in dump.facts.sysctls}
    assert keys["net.ipv4.conf.br-064f9014c32c.route_localnet"] == "1"
    assert any(ls.process == "docker" and ls.port == 80 for ls in dump.facts.listeners)
