"""dnlint query against what a real dockerd and the kernel did (captured in namespaces).

Every probe recorded by tests/oracle/capture_docker.py is a case: reached or not, and when
reached, the source address the server saw (SNAT/MASQUERADE/proxy). `outside` probes came
from the outside namespace's address 192.0.2.2 (2001:db8:1::2 for a probe to an IPv6
address), so that is the source asked about. A probe to an IPv6 address is asked of the
dump's IPv6 model (ip6tables-save, `ip -6 route`), as `dnlint query` picks it.

Two sets of captures: fixtures/docker (Debian bookworm's dockerd 20.10) and
fixtures/docker-v28 (dockerd 28.5, with DOCKER-FORWARD/-CT/-BRIDGE, raw PREROUTING drops
and the gateway modes `routed` and `nat-unprotected`). A probe dnlint is known to get
wrong (capture_docker.KNOWN_DISAGREEMENTS, with the reason) is a strict xfail: it fails
the day dnlint gets it right, so the entry is removed then.
"""

import json
from functools import lru_cache
from pathlib import Path

import pytest

from dnlint.engine.query import endpoint_family, engine_for, query
from dnlint.load import load_dump
from oracle.capture_docker import dump_dockerd_version, known_disagreement
from oracle.differential import expected_answer, honest_null, udp_reply_disagreement

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = {"": ROOT / "fixtures" / "docker", "v28-": ROOT / "fixtures" / "docker-v28"}
DOCKER = CAPTURES[""]
OUTSIDE_ADDRESS = "192.0.2.2"
OUTSIDE_ADDRESS6 = "2001:db8:1::2"  # the outside's uplink address in IPv6 scenarios (dockerhost.OUTSIDE_IP6)


def _cases(captures=CAPTURES):
    out = []
    for prefix, d in captures.items():
        for f in sorted(d.glob("*.probes.json")):
            scenario = f.name.replace(".probes.json", "")
            version = dump_dockerd_version((d / f"{scenario}.txt").read_text())
            for i, p in enumerate(json.loads(f.read_text())):
                reason = known_disagreement(version, scenario, p)
                marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
                out.append(pytest.param(d.name, scenario, p, marks=marks,
                                        id=f"{prefix}{scenario}-{i}-{p['from']}-{p['to']}:{p['port']}/{p['proto']}"))
    return out


@lru_cache(maxsize=None)
def _engine(captures: str, scenario: str, family: int = 4):
    return engine_for(load_dump(ROOT / "fixtures" / captures / f"{scenario}.txt"), family)


def _family(probe: dict) -> int:
    return endpoint_family(probe["to"])


def _source(probe: dict) -> str:
    if probe["from"] != "outside":
        return probe["from"]
    if probe.get("src"):  # the outside namespace sent from another of its addresses
        return probe["src"]
    return OUTSIDE_ADDRESS6 if _family(probe) == 6 else OUTSIDE_ADDRESS


@pytest.mark.parametrize("captures, scenario, probe", _cases())
def test_query_agrees_with_the_kernel(captures, scenario, probe):
    answer = query(_engine(captures, scenario, _family(probe)), _source(probe), probe["to"], probe["port"],
                   probe["proto"], sport=probe.get("sport"))
    where = (f"{captures}/{scenario}: {probe['from']} -> {probe['to']}:{probe['port']}/{probe['proto']} "
             f"({probe.get('note')})")
    expected = expected_answer(probe)  # UDP: the answer came back from the address asked
    if answer.reachable is None and _unnatted_egress(probe):
        # the capture's outside routes 172.16.0.0/12 (fd00::/8) back through the host, which no dump
        # can show: the answer names that condition instead of assuming it
        assert any("routes" in x and "back through this host" in x for x in answer.approximated), where
        return
    if answer.reachable is None:
        # honest: it names the fact the kernel's answer turned on (who answers a UDP datagram, or
        # whether outside routes an un-NATed source back) and no dump shows
        assert honest_null(answer.as_dict()), f"{where}: dnlint null, {answer.approximated}"
        return
    assert answer.reachable is expected, f"{where}: kernel {expected}, dnlint {answer.as_dict()}"
    if expected:
        assert answer.delivered["seen_src"] == probe["seen_src"], where
        target = probe["delivered_to"]
        if target.startswith("container:"):
            assert answer.delivered.get("container") == target.split(":", 1)[1], where
        assert answer.witness is not None
        reply = udp_reply_disagreement(probe, answer.as_dict())
        assert reply is None, f"{where}: {reply[0]}: {reply[1]}"
    else:
        assert answer.blocked_by is not None and answer.blocked_by["reason"], where
        reply = udp_reply_disagreement(probe, answer.as_dict())
        assert reply is None, f"{where}: {reply[0]}: {reply[1]}"


def _unnatted_egress(probe: dict) -> bool:
    """A container's connection that reached outside with the container's own address as source."""
    import ipaddress

    seen = probe.get("seen_src")
    if not seen or probe.get("delivered_to") != "outside":
        return False
    a = ipaddress.ip_address(seen)
    return a in ipaddress.ip_network("172.16.0.0/12") or a in ipaddress.ip_network("fd00::/8")


def test_un_natted_egress_needs_a_route_back():
    """--iptables=false: a container's connection leaves un-NATed. Whether the far side answers
    depends on a route back the dump cannot show (null, named); to a public address it never comes
    back unless an upstream NATs it and routes the answers back (the internet does not route private
    addresses): said aloud."""
    eng = _engine("docker", "j_no_iptables")
    a = query(eng, "container:client", "192.0.2.2", 9000, "tcp")
    assert a.reachable is None and a.delivered["seen_src"] == "172.18.0.3"
    assert any("routes 172.18.0.3 back through this host" in x for x in a.approximated)
    public = query(eng, "container:client", "8.8.8.8", 53, "udp")
    assert public.reachable is None
    assert any("the internet never answers a private address" in x for x in public.approximated)
    natted = query(_engine("docker", "a_default"), "container:client", "8.8.8.8", 53, "tcp")
    assert natted.reachable is True and natted.delivered["seen_src"] == "192.0.2.1"


def test_every_scenario_has_probes():
    scenarios = {c.values[1] for c in _cases({"": DOCKER})}
    assert len(scenarios) >= 9
    assert len(_cases({"": DOCKER})) >= 150


def test_every_docker28_scenario_was_captured():
    """fixtures/docker-v28 holds every scenario, the Docker 28 only ones included."""
    from oracle.capture_docker import SCENARIOS

    v28 = CAPTURES["v28-"]
    assert {s.name for s in SCENARIOS} == {f.name.replace(".probes.json", "") for f in v28.glob("*.probes.json")}
    assert all((v28 / f"{s.name}.txt").exists() for s in SCENARIOS)
    readme = (v28 / "README.md").read_text()
    assert "(Docker 28.5.2" in readme.splitlines()[2]  # the dockerd version, stated
    for s in SCENARIOS:
        assert f"### {s.name}:" in readme
        head = (v28 / f"{s.name}.txt").read_text().splitlines()[:12]
        assert any(ln.startswith("# dockerd: Docker version 28.") for ln in head), s.name


def test_a_container_without_a_gateway_cannot_send_off_its_subnets():
    """Docker 25+: a container only on an --internal network has no default route (Gateway ""
    in docker inspect); 20.10 gave it one through the bridge, and the host then decided."""
    v28 = _engine("docker-v28", "e_internal")
    a = query(v28, "container:client", "192.0.2.1", 9090, "tcp")
    assert a.reachable is False and a.verdict == "NO_ROUTE" and "no gateway" in a.blocked_by["reason"]
    assert query(v28, "container:client", "container:web", 80, "tcp").reachable is True  # its own subnet
    old = _engine("docker", "e_internal")
    assert query(old, "container:client", "192.0.2.1", 9090, "tcp").verdict != "NO_ROUTE"


def test_containers_and_networks_by_docker_name_or_id_prefix():
    from dnlint.engine.query import EndpointError

    eng = _engine("docker-v28", "a_default")
    by_name = query(eng, "container:web", "192.0.2.1", 8080, "tcp").as_dict()
    cid = next(i for i, n in eng.host.ids.items() if n == "web")
    for alias in ("container:/web", f"container:{cid[:12]}", f"container:{cid}"):
        a = query(eng, alias, "192.0.2.1", 8080, "tcp").as_dict()
        assert (a["reachable"], a["witness"], a["delivered"]) == (by_name["reachable"], by_name["witness"],
                                                                  by_name["delivered"]), alias
    nid = next(i for i, n in eng.host.ids.items() if n == "net1")
    assert query(eng, "host", f"network:{nid[:12]}", 80, "tcp").query["to"] == f"network:{nid[:12]}"
    with pytest.raises(EndpointError, match=r"the dump has: client, web"):
        query(eng, "container:nope", "192.0.2.1", 8080, "tcp")


def test_a_containers_own_loopback_never_leaves_it():
    """container:web -> 127.0.0.1 is the container's own lo: no bridge, no host DNAT or martian
    check. Its published container port is served there; the host side of the publication (8080) is
    not a port of the container's, so whether anything listens on it there is unknown."""
    for captures in ("docker", "docker-v28"):
        for scenario in ("a_default", "b_no_userland_proxy", "c_no_proxy_no_localnet"):
            eng = _engine(captures, scenario)
            a = query(eng, "container:web", "127.0.0.1", 80, "tcp")
            assert a.reachable is True and a.path == [] and a.translations == [], (captures, scenario)
            assert a.delivered["container"] == "web" and a.delivered["seen_src"] == "127.0.0.1"
            assert any("never leaves the container's network namespace" in x for x in a.assumptions)
            b = query(eng, "container:web", "127.0.0.1", 8080, "tcp")
            assert b.reachable is None and b.verdict == "ACCEPT" and b.path == [], (captures, scenario)
    v6 = _engine("docker-v28", "n_ipv6", 6)
    c = query(v6, "container:web", "::1", 80, "tcp")
    assert c.reachable is True and c.delivered["seen_src"] == "::1" and c.path == []
    # the host's own addresses are another, real path through the bridge
    d = query(_engine("docker", "a_default"), "container:web", "192.0.2.1", 8080, "tcp")
    assert d.reachable is True and d.path and d.delivered["seen_src"] == "172.18.0.1"


def test_docker_embedded_dns_answers_user_networks_only():
    user = query(_engine("docker", "a_default"), "container:client", "127.0.0.11", 53, "udp")
    assert user.reachable is True and "embedded DNS" in user.delivered["by"]
    default_bridge = query(_engine("docker", "d_icc_false"), "container:client", "127.0.0.11", 53, "udp")
    assert default_bridge.reachable is False and default_bridge.verdict == "NO_LISTENER"


def test_zero_address_is_the_hosts_own_loopback():
    """connect() to 0.0.0.0 goes to the host itself (127.0.0.1 on lo), so host -> 0.0.0.0:8080 is
    host -> 127.0.0.1:8080; from outside, a 0.0.0.0 destination is a martian."""
    for captures, scenario in (("docker", "a_default"), ("docker", "b_no_userland_proxy"),
                               ("docker", "c_no_proxy_no_localnet")):
        eng = _engine(captures, scenario)
        zero = query(eng, "host", "0.0.0.0", 8080, "tcp").as_dict()
        loop = query(eng, "host", "127.0.0.1", 8080, "tcp").as_dict()
        assert (zero["reachable"], zero["verdict"], zero["delivered"]) == \
            (loop["reachable"], loop["verdict"], loop["delivered"]), scenario
        assert zero["query"]["to"] == "0.0.0.0" and "turns the destination into 127.0.0.1" in zero["assumptions"][0]
    m = query(_engine("docker", "a_default"), OUTSIDE_ADDRESS, "0.0.0.0", 8080, "tcp")
    assert m.reachable is False and m.verdict == "MARTIAN"


def test_udp_through_docker_proxy_answers_from_another_address_before_docker_28():
    """A container's UDP datagram to the host's address reaches docker-proxy, whose socket on
    0.0.0.0 answers from the bridge gateway (the route's source) on 20.10: a connected client
    drops that answer (the kernel measured a timeout). Docker 28's proxy answers from the address
    the client sent to (IP_PKTINFO) and the client gets it."""
    old = query(_engine("docker", "a_default"), "container:client", "192.0.2.1", 8080, "udp")
    assert old.reachable is False and old.verdict == "ANSWER_FROM_OTHER_ADDRESS"
    assert old.delivered["container"] == "web"  # the datagram itself arrived
    assert "answers from 172.18.0.1" in old.blocked_by["reason"] and "unconnected one" in old.blocked_by["reason"]
    new = query(_engine("docker-v28", "a_default"), "container:client", "192.0.2.1", 8080, "udp")
    assert new.reachable is True and new.delivered["seen_src"] == "172.18.0.1"


def test_a_docker_proxy_whose_backend_no_place_names_is_not_the_final_delivery():
    """ss shows docker-proxy on a port, but neither ps, nor a DNAT rule, nor docker inspect says
    where it forwards: the answer is unknown, and says so, instead of "delivered to the proxy"."""
    from dnlint.load import load_text

    import re

    from oracle.ablation import ablate

    text = ablate((ROOT / "fixtures" / "docker" / "a_default.txt").read_text(), "ps-daemon-only")
    text = re.sub(r'(tcp +LISTEN .*0\.0\.0\.0:9090 .*users:\(\(")python', r"\1docker-proxy", text)
    assert any("LISTEN" in ln and ":9090" in ln and "docker-proxy" in ln for ln in text.splitlines())
    eng = engine_for(load_text(text, "proxy-9090.txt"))
    a = query(eng, OUTSIDE_ADDRESS, "192.0.2.1", 9090, "tcp")
    assert a.reachable is None and a.delivered["by"] == "docker-proxy"
    assert a.delivered["ip"] is None and a.delivered["seen_src"] is None
    assert any("does not say which container it forwards to" in x for x in a.approximated)
