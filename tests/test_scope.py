"""A section speaks only for what its command covers: the scope decided from its command line.

Each fact section's command line gives it a :class:`dnlint.ir.Scope` (recorded on the section
in the IR); :class:`dnlint.model.coverage.Coverage` answers "would the dump show this if it were
there?" from those scopes. What lies outside every scope is unknown to the model.
"""

from __future__ import annotations

import json

import pytest

from dnlint.ingest.commands import classify
from dnlint.load import load_text
from dnlint.model.coverage import Coverage


@pytest.mark.parametrize("command, protocols, listening, complete", [
    ("ss -tlnp", {"tcp"}, True, True),
    ("ss -tulnp", {"tcp", "udp"}, True, True),
    ("ss -lntu", {"tcp", "udp"}, True, True),
    ("ss -tnp", {"tcp"}, False, True),  # connections only, no listeners
    ("ss -lnp", None, True, True),  # every socket type
    ("ss -tlnp sport = :80", {"tcp"}, True, False),  # a filter expression: only what it shows
    ("netstat -tlnp", {"tcp"}, True, True),
    ("netstat -an", None, True, True),
    ("netstat -tn", {"tcp"}, False, True),
])
def test_listener_sections(command, protocols, listening, complete):
    sc = classify(command).scope
    assert (set(sc.protocols) if sc.protocols else None, sc.listening, sc.complete) == (protocols, listening, complete)


def _cov(text: str) -> Coverage:
    return Coverage(load_text(text, "scope.txt"))


def test_listeners_coverage():
    tcp = _cov("### ss -tlnp\nState Recv-Q Send-Q Local Address:Port Peer Address:Port\n")
    assert tcp.listeners("tcp", 4) and tcp.listeners("tcp", 6)
    assert not tcp.listeners("udp", 4)  # ss -tlnp says nothing of UDP sockets
    assert _cov("### ss -tulnp\n").listeners("udp", 4)
    assert not _cov("### ss -4tulnp\n").listeners("tcp", 6)
    assert not _cov("### ss -tnp\n").listeners("tcp", 4)
    assert not _cov("iptables-save output only\n").listeners("tcp", 4)


@pytest.mark.parametrize("command, dockerd, proxy", [
    ("ps -eo pid,args", True, True),
    ("ps aux", True, True),
    ("ps -ef", True, True),
    ("ps -C dockerd -o pid,args", True, False),
    ("pgrep -a dockerd", True, False),  # matches the process name: docker-proxy's is not "dockerd"
    ("pgrep -af docker", True, True),  # -f: the command line, which holds "docker"
    ("ps aux | grep docker", True, True),
    ("ps aux | grep dockerd", True, False),
    ("ps aux | grep -v grep | grep docker-proxy", False, True),
    ("ps -u root -o pid,args", True, True),  # dockerd and docker-proxy are root's
    ("ps", False, False),  # the terminal's processes only
    ("ps -p 812 -o args=", False, False),
])
def test_process_sections(command, dockerd, proxy):
    cov = _cov(f"### {command}\n")
    assert (cov.processes("dockerd"), cov.processes("docker-proxy")) == (dockerd, proxy)


def test_sysctl_sections():
    few = _cov("### sysctl net.ipv4.ip_forward net.ipv4.conf.docker0\nnet.ipv4.ip_forward = 1\n")
    assert few.sysctl("net.ipv4.ip_forward")
    assert few.sysctl("net.ipv4.conf.docker0.route_localnet")  # a subtree named
    assert not few.sysctl("net.ipv4.conf.all.route_localnet")
    assert _cov("### sysctl -a\n").sysctl("net.bridge.bridge-nf-call-iptables")
    grep = _cov("### sysctl -a | grep -E 'forward|localnet'\n")
    assert grep.sysctl("net.ipv4.conf.br0.route_localnet") and not grep.sysctl("net.bridge.bridge-nf-call-iptables")
    assert _cov("### cat /proc/sys/net/ipv4/ip_forward\n1\n").sysctl("net.ipv4.ip_forward")
    assert not _cov("### sysctl -a | head\n").sysctl("net.ipv4.ip_forward")  # cut: only what it shows


def test_route_and_address_sections():
    main = _cov("### ip route\n")
    assert main.routes("main", 4) and not main.routes("local", 4) and not main.routes("main", 6)
    all_ = _cov("### ip route show table all\n")
    assert all_.routes("local", 4) and all_.routes("main", 6)
    assert _cov("### ip -6 route\n").routes("main", 6)
    assert _cov("### ip -o addr\n").addresses(6)
    assert not _cov("### ip -4 addr\n").addresses(6)
    assert not _cov("### ip addr show dev eth0\n").addresses(4)  # one device only


def test_rule_table_sections():
    assert _cov("### iptables-save\n").rule_tables(4) == {"raw", "mangle", "nat", "filter", "security"}
    assert _cov("### iptables-save\n").rule_tables(6) == set()  # no ip6tables-save: IPv6 rules unknown
    assert _cov("### ip6tables-save\n").rule_tables(6) == {"raw", "mangle", "nat", "filter", "security"}
    assert _cov("### iptables-save -t nat\n").rule_tables(4) == {"nat"}
    assert _cov("### iptables -nvL\n").rule_tables(4) == {"filter"}
    assert _cov("### iptables -t nat -nvL DOCKER\n").rule_tables(4) == set()  # one chain of the table
    # a bare save file holds every table the kernel had loaded, unless visibly cut down
    bare = "*filter\n:INPUT ACCEPT [0:0]\n:DOCKER - [0:0]\nCOMMIT\n"
    assert _cov(bare).rule_tables(4) == {"filter"}  # Docker's filter chains without Docker's nat
    assert _cov("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n").rule_tables(4) == {"raw", "mangle", "nat", "filter",
                                                                            "security"}


def test_the_scope_is_in_the_ir_and_the_parse_json():
    from dnlint.serialize import dump_json

    dump = load_text("### ss -tlnp\nState Recv-Q Send-Q Local Address:Port Peer Address:Port\n", "s.txt")
    sec = dump.sections[0]
    assert sec.scope is not None and sec.scope.protocols == frozenset({"tcp"}) and sec.scope.listening
    data = json.loads(dump_json(dump))
    assert data["sections"][0]["scope"]["protocols"] == ["tcp"]
