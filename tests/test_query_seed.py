"""The seed's observations (DESIGN.md, "The seed"), answered by dnlint query from the seed's dumps."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.cli import app
from dnlint.engine.query import EndpointError, query_dump
from dnlint.load import load_dump

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed"


def ask(fixture, src, dst, port=80, proto="tcp"):
    return query_dump(load_dump(SEED / fixture), src, dst, port, proto)


def test_route_localnet_1_host_reaches_loopback_and_container_sees_the_bridge_address():
    a = ask("userland-proxy-off-route-localnet-1.txt", "host", "127.0.0.1")
    assert a.reachable is True and a.verdict == "ACCEPT"
    assert a.delivered["container"] == "web" and a.delivered["ip"] == "172.18.0.2"
    assert a.delivered["seen_src"] == "172.18.0.1"
    kinds = [(t["kind"], t["from"], t["to"]) for t in a.translations]
    assert kinds[0] == ("DNAT", "127.0.0.1:80", "172.18.0.2:80")
    assert kinds[1][0] == "MASQUERADE" and kinds[1][2].startswith("172.18.0.1:")
    assert a.translations[1]["rule"]["chain"] == "POSTROUTING"
    assert a.witness["src"] == "127.0.0.1" and a.witness["dst"] == "127.0.0.1"


def test_route_localnet_0_is_a_silent_martian_drop_naming_the_nat_rule_and_the_bridge():
    a = ask("userland-proxy-off-route-localnet-0.txt", "host", "127.0.0.1")
    assert a.reachable is False and a.verdict == "MARTIAN"
    b = a.blocked_by
    assert (b["table"], b["chain"], b["index"]) == ("nat", "DOCKER", 1)
    assert b["line"] == 62  # the DNAT rule of the seed's nat listing
    assert "br-064f9014c32c" in b["reason"] and "route_localnet" in b["reason"]
    # the path shows the nat OUTPUT rule that sent it to DOCKER, and nothing after POSTROUTING
    assert a.path[0]["chain"] == "OUTPUT" and a.path[0]["action"] == "jump DOCKER"
    assert not any(s["chain"] == "POSTROUTING" for s in a.path)


@pytest.mark.parametrize("dst", ["10.10.50.99", "172.18.0.1"])
def test_route_localnet_0_host_to_its_own_addresses_still_reaches(dst):
    a = ask("userland-proxy-off-route-localnet-0.txt", "host", dst)
    assert a.reachable is True
    assert a.delivered["container"] == "web" and a.delivered["seen_src"] == "172.18.0.1"


def test_hairpin_container_to_host_address_is_dnated_and_masqueraded():
    a = ask("userland-proxy-off-route-localnet-0.txt", "container:web", "10.10.50.99")
    assert a.reachable is True
    assert [t["kind"] for t in a.translations] == ["DNAT", "MASQUERADE"]
    assert a.delivered["seen_src"] == "172.18.0.1"
    masq = a.translations[1]["rule"]
    assert masq["line"] == 58  # -s 172.18.0.2 -d 172.18.0.2 -p tcp --dport 80 -j MASQUERADE


@pytest.mark.parametrize("src, dst", [("host", "127.0.0.1"), ("container:web", "10.10.50.99")])
def test_docker_proxy_serves_with_the_gateway_as_source(src, dst):
    a = ask("userland-proxy-on-default-bridge.txt", src, dst)
    assert a.reachable is True
    assert a.delivered["by"] == "docker-proxy" and a.delivered["container"] == "web"
    assert a.delivered["seen_src"] == "172.17.0.1"
    assert any(t["kind"] == "PROXY" and t["to"] == "172.17.0.2:80" for t in a.translations)


def test_proxy_without_iptables_forwards():
    a = ask("proxy-no-iptables.txt", "host", "10.10.50.99")
    assert a.reachable is True and a.delivered["by"] == "docker-proxy"
    assert a.delivered["seen_src"] == "172.17.0.1"


@pytest.mark.parametrize("src, dst", [("host", "10.10.50.99"), ("host", "127.0.0.1"), ("host", "172.17.0.1"),
                                      ("container:web", "10.10.50.99"), ("container:web", "172.17.0.1")])
def test_daemon_held_port_without_iptables_is_a_black_hole(src, dst):
    a = ask("no-proxy-no-iptables-blackhole.txt", src, dst)
    assert a.reachable is False and a.verdict == "BLACKHOLE"
    assert "dockerd" in a.blocked_by["reason"]
    # the daemon's socket takes the connection (the handshake completes): delivered names it
    assert a.delivered["by"] == "daemon" and a.delivered["port"] == 80


def test_different_networks_are_isolated_by_the_docker_isolation_drop_rule():
    a = ask("iptables-true-isolation.txt", "container:web", "container:app")
    assert a.reachable is False and a.verdict == "DROP"
    assert (a.blocked_by["chain"], a.blocked_by["index"]) == ("DOCKER-ISOLATION", 2)
    back = ask("iptables-true-isolation.txt", "container:app", "container:web")
    assert (back.blocked_by["chain"], back.blocked_by["index"]) == ("DOCKER-ISOLATION", 1)


def test_iptables_true_masquerades_outbound_traffic():
    a = ask("iptables-true-isolation.txt", "container:app", "93.184.216.34", 443)
    assert a.reachable is True and a.delivered["seen_src"] == "10.10.50.99"
    assert a.translations[0]["kind"] == "MASQUERADE"


def test_iptables_false_forwards_without_nat():
    a = ask("iptables-false.txt", "container:web", "93.184.216.34", 443)
    # forwarded un-NATed: the answer comes back only if the upstream NATs the container address (the
    # seed's words), which no dump can show
    assert a.reachable is None and a.verdict == "ACCEPT" and a.delivered["seen_src"] == "172.17.0.2"
    assert a.translations == []
    assert any("the upstream must NAT the container address" in x for x in a.approximated)


def test_same_network_traffic_is_bridged_without_forward_when_bridge_nf_call_is_0():
    a = ask("iptables-true-isolation.txt", "network:bridge", "172.17.0.2")
    assert a.reachable is True and a.path == []
    assert any("bridge-nf-call-iptables=0" in x for x in a.assumptions)


def test_host_network_service_serves_itself():
    a = ask("host-network.txt", "outside", "10.10.50.99")
    assert a.reachable is True and a.delivered["by"] == "httpd"


def test_unknown_container_is_a_clear_error():
    with pytest.raises(EndpointError):
        ask("iptables-true-isolation.txt", "container:nope", "10.10.50.99")


def test_cli_query_json_contract_and_text():
    runner = CliRunner()
    path = str(SEED / "userland-proxy-off-route-localnet-0.txt")
    r = runner.invoke(app, ["query", path, "--from", "host", "--to", "127.0.0.1", "--port", "80", "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) >= {"reachable", "verdict", "witness", "translations", "delivered", "path", "blocked_by",
                         "assumptions"}
    assert set(data["witness"]) == {"src", "dst", "proto", "sport", "dport", "in_iface", "out_iface"}
    assert set(data["blocked_by"]) == {"table", "chain", "index", "line", "reason"}
    assert set(data["translations"][0]) == {"kind", "from", "to", "rule"}
    text = runner.invoke(app, ["query", path, "--from", "host", "--to", "127.0.0.1", "--port", "80"]).stdout
    assert text.startswith("BLOCKED (MARTIAN)")
    assert "1. nat OUTPUT #1 (line 50): jump DOCKER" in text
    bad = runner.invoke(app, ["query", path, "--from", "container:nope", "--to", "127.0.0.1"])
    assert bad.exit_code == 2 and "no container named" in bad.output
