"""Capture real Docker hosts as fixtures: a host dump plus what real probes did.

    python -m tests.oracle.capture_docker fixtures/docker            # every scenario
    python -m tests.oracle.capture_docker fixtures/docker c_no_proxy_no_localnet
    export DNLINT_DOCKERD_DIR=$(python3 -m tests.oracle.fetch_dockerd .cache/dockerd-sid)
    python -m tests.oracle.capture_docker fixtures/docker-v28        # Debian unstable's dockerd 28

Scenarios with a ``min_version`` (e.g. Docker 28's gateway modes) run only when the
dockerd that would be started (DNLINT_DOCKERD_DIR first, see dockerhost.py) is that new.

For each scenario a real dockerd runs in a fresh network namespace (see dockerhost.py),
containers are created, listeners (the host's python inside each container's namespace,
on tcp+udp port 80; on the host on 9090; on the outside namespace on 9000; in an ``ipv6``
scenario each has an IPv6-only twin on ``::``) record the source address they see,
probes are sent, and then the host namespace is dumped with dnlint's collector (so
counters include the probes). Writes:

  OUTDIR/<scenario>.txt          the host dump
  OUTDIR/<scenario>.probes.json  [{"from","to","port","proto","reached","delivered_to",
                                   "seen_src","note","connected","reply","error",
                                   "udp_socket" (UDP),"reply_from","ended"}]
  OUTDIR/README.md               regenerated from every *.probes.json in OUTDIR
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

try:
    from tests.netns import Lab, netns_unavailable
    from tests.oracle.dockerhost import (HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6, UPLINK, DockerHost,
                                         docker_unavailable, dockerd_binary, installed_dockerd_version,
                                         version_tuple)
    from tests.oracle.ufwhost import UFW_DOCKER_AFTER_RULES, Ufw, docker_fix_with_published_ports, ufw_unavailable
except ImportError:  # run from tests/ as rootdir (pytest's prepend import mode)
    from netns import Lab, netns_unavailable  # type: ignore
    from oracle.dockerhost import (HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6, UPLINK, DockerHost,  # type: ignore
                                   docker_unavailable, dockerd_binary, installed_dockerd_version,
                                   version_tuple)
    from oracle.ufwhost import UFW_DOCKER_AFTER_RULES, Ufw, docker_fix_with_published_ports, ufw_unavailable  # type: ignore

HOST_PORT = 9090  # a service of the host itself
OUT_PORT = 9000  # a service beyond the uplink


@dataclass
class Probe:
    frm: str
    to: str
    port: int
    proto: str = "tcp"
    note: str = ""
    udp_socket: str = "connected"  # UDP: "connected" (connect/send/recv) or "unconnected" (sendto/recvfrom)
    sport: int | None = None  # a fixed source port (default: the sender's ephemeral one)
    src: str | None = None  # a source address of the sender's (default: its route's), e.g. OUTSIDE_PRIVATE_IP


@dataclass
class Scenario:
    name: str
    title: str
    flags: list[str]
    setup: Callable[[DockerHost], dict]  # returns names -> addresses for the probes
    probes: Callable[[DockerHost, dict], list[Probe]]
    description: str = ""
    notes: list[str] = field(default_factory=list)
    min_version: tuple[int, ...] = ()  # the oldest dockerd that has what the scenario uses
    ipv6: bool = False  # IPv6 on the uplink and IPv6 listeners too (DockerHost(ipv6=True))
    route_back: bool = True  # outside routes 172.16.0.0/12 (fd00::/8) via the host (DockerHost(route_back=))
    extra_listeners: tuple[tuple[str, str, int], ...] = ()  # (where, proto, port) besides the usual ones
    pre_start: Callable[[DockerHost], None] | None = None  # on the host before dockerd starts
    requires: Callable[[], str | None] | None = None  # why the scenario cannot run here, or None

    def supported(self, version: tuple[int, ...]) -> bool:
        if self.requires is not None and self.requires():
            return False
        return not self.min_version or (bool(version) and version >= self.min_version)


# --------------------------------------------------------------------------- setups


def _web_client(net: str | None, publish=("8080:80", "8080:80/udp")):
    def setup(dh: DockerHost) -> dict:
        if net and net != "bridge":
            dh.docker("network", "create", net)
        web = dh.run_container("web", network=net, publish=publish)
        client = dh.run_container("client", network=net)
        netname = net or "bridge"
        return {"web": web.ips[netname], "client": client.ips[netname],
                "gw": web.gateways[netname], "bridge": dh.network_bridge(netname)}
    return setup


def _published_probes(dh: DockerHost, a: dict, *, udp: bool = True) -> list[Probe]:
    w, gw = a["web"], a["gw"]
    p = [
        Probe("host", "127.0.0.1", 8080, "tcp", "host to loopback:published"),
        Probe("host", HOST_IP, 8080, "tcp", "host to its own uplink address:published"),
        Probe("host", gw, 8080, "tcp", "host to the bridge gateway:published"),
        Probe("host", w, 80, "tcp", "host to the container directly"),
        Probe("outside", HOST_IP, 8080, "tcp", "outside to the published port"),
        Probe("outside", w, 80, "tcp", "outside to the container IP directly (outside routes 172.16/12 via the host)"),
        Probe("outside", HOST_IP, HOST_PORT, "tcp", "outside to a host service"),
        Probe("container:client", w, 80, "tcp", "same network, direct"),
        Probe("container:client", HOST_IP, 8080, "tcp", "container to host address:published (hairpin)"),
        Probe("container:client", gw, 8080, "tcp", "container to its gateway:published"),
        Probe("container:web", HOST_IP, 8080, "tcp", "container to its own published port via the host (self hairpin)"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "tcp", "egress to outside"),
        Probe("container:client", HOST_IP, HOST_PORT, "tcp", "container to a host service"),
    ]
    if udp:
        p += [
            Probe("host", "127.0.0.1", 8080, "udp", "host to loopback:published"),
            Probe("host", HOST_IP, 8080, "udp", "host to its uplink address:published"),
            Probe("outside", HOST_IP, 8080, "udp", "outside to the published port"),
            Probe("container:client", HOST_IP, 8080, "udp", "container to host address:published (hairpin)"),
            Probe("container:client", OUTSIDE_IP, OUT_PORT, "udp", "egress to outside"),
        ]
    return p


def _setup_c(dh: DockerHost) -> dict:
    a = _web_client("net1")(dh)
    dh.host.sysctl(f"net.ipv4.conf.{a['bridge']}.route_localnet", 0)
    return a


def _probes_icc_true(dh, a):
    from dataclasses import replace

    return [replace(p, note=p.note.replace("icc=false", "icc=true")) for p in _probes_icc(dh, a)]


def _setup_icc(dh: DockerHost) -> dict:
    return _web_client(None)(dh)


def _probes_icc(dh, a):
    return [
        Probe("container:client", a["web"], 80, "tcp", "same bridge, icc=false"),
        Probe("container:web", a["client"], 80, "tcp", "same bridge, icc=false, other direction"),
        Probe("container:client", a["web"], 80, "udp", "same bridge, icc=false"),
        Probe("container:client", HOST_IP, 8080, "tcp", "published port via the host address"),
        Probe("container:client", a["gw"], 8080, "tcp", "published port via the gateway"),
        Probe("host", a["web"], 80, "tcp", "host to the container directly"),
        Probe("host", "127.0.0.1", 8080, "tcp", "host to loopback:published"),
        Probe("outside", HOST_IP, 8080, "tcp", "outside to the published port"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "tcp", "egress to outside"),
        Probe("container:client", HOST_IP, HOST_PORT, "tcp", "container to a host service"),
    ]


def _setup_internal(dh: DockerHost) -> dict:
    dh.docker("network", "create", "--internal", "inet")
    web = dh.run_container("web", network="inet", publish=("8080:80",))
    client = dh.run_container("client", network="inet")
    # Docker >= 25 gives an internal network's endpoints no gateway (no default route in the
    # container); the bridge still holds the network's gateway address
    gw = web.gateways.get("inet") or _network_gateway(dh, "inet")
    return {"web": web.ips["inet"], "client": client.ips["inet"],
            "gw": gw, "bridge": dh.network_bridge("inet")}


def _network_gateway(dh: DockerHost, network: str) -> str | None:
    info = json.loads(dh.docker("network", "inspect", network).stdout)[0]
    for cfg in (info.get("IPAM") or {}).get("Config") or []:
        gw = cfg.get("Gateway") or ""
        if gw and ":" not in gw:
            return gw
    return None


def _probes_internal(dh, a):
    p = [
        Probe("container:client", a["web"], 80, "tcp", "same internal network"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "tcp", "internal network egress"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "udp", "internal network egress"),
        Probe("container:client", HOST_IP, HOST_PORT, "tcp", "internal container to a host service"),
        Probe("container:client", HOST_IP, 8080, "tcp", "internal container to the published port via the host"),
        Probe("host", a["web"], 80, "tcp", "host to the internal container"),
        Probe("host", "127.0.0.1", 8080, "tcp", "host to loopback:published (-p on an internal network)"),
        Probe("host", HOST_IP, 8080, "tcp", "host to uplink address:published"),
        Probe("outside", HOST_IP, 8080, "tcp", "outside to the published port"),
        Probe("outside", a["web"], 80, "tcp", "outside to the container IP directly"),
    ]
    if a.get("gw"):
        p.append(Probe("container:client", a["gw"], HOST_PORT, "tcp", "internal container to the host via its gateway"))
    return p


def _probes_localhost(dh, a):
    return [
        Probe("host", "127.0.0.1", 8080, "tcp", "host to loopback:published (published on 127.0.0.1)"),
        Probe("host", "127.0.0.1", 8080, "udp", "host to loopback:published (published on 127.0.0.1)"),
        Probe("host", HOST_IP, 8080, "tcp", "host to its uplink address (not published there)"),
        Probe("host", a["gw"], 8080, "tcp", "host to the gateway address (not published there)"),
        Probe("outside", HOST_IP, 8080, "tcp", "outside to the port (published on 127.0.0.1 only)"),
        Probe("outside", HOST_IP, 8080, "udp", "outside to the port (published on 127.0.0.1 only)"),
        Probe("outside", a["web"], 80, "tcp", "outside to the container IP directly"),
        Probe("container:client", HOST_IP, 8080, "tcp", "container to the host address:port"),
        Probe("container:client", a["gw"], 8080, "tcp", "container to its gateway:port"),
        Probe("host", a["web"], 80, "tcp", "host to the container directly"),
    ]


def _setup_two_nets(dh: DockerHost) -> dict:
    dh.docker("network", "create", "net1")
    dh.docker("network", "create", "net2")
    a = dh.run_container("alpha", network="net1", publish=("8080:80",))
    b = dh.run_container("beta", network="net2", publish=("8081:80",))
    return {"a": a.ips["net1"], "b": b.ips["net2"], "gw1": a.gateways["net1"], "gw2": b.gateways["net2"]}


def _probes_two_nets(dh, x):
    return [
        Probe("container:alpha", x["b"], 80, "tcp", "network isolation: net1 -> net2 container IP"),
        Probe("container:beta", x["a"], 80, "tcp", "network isolation: net2 -> net1 container IP"),
        Probe("container:alpha", x["b"], 80, "udp", "network isolation: net1 -> net2 container IP"),
        Probe("container:alpha", x["gw2"], HOST_PORT, "tcp", "net1 container to net2's gateway address (a host address)"),
        Probe("container:alpha", HOST_IP, 8081, "tcp", "net1 container to b's published port via the host address"),
        Probe("container:beta", HOST_IP, 8080, "tcp", "net2 container to a's published port via the host address"),
        Probe("container:alpha", x["gw2"], 8081, "tcp", "net1 container to b's published port via net2's gateway"),
        Probe("host", x["a"], 80, "tcp", "host to a"),
        Probe("host", x["b"], 80, "tcp", "host to b"),
        Probe("outside", HOST_IP, 8080, "tcp", "outside to a's published port"),
        Probe("outside", HOST_IP, 8081, "tcp", "outside to b's published port"),
        Probe("container:alpha", OUTSIDE_IP, OUT_PORT, "tcp", "egress to outside"),
    ]


def _setup_docker_user(dh: DockerHost) -> dict:
    a = _web_client("net1")(dh)
    # right: DOCKER-USER sees the packet after DNAT, so match the container port...
    dh.host.run("iptables", "-I", "DOCKER-USER", "-i", UPLINK, "-p", "tcp", "-m", "tcp",
                "--dport", "80", "-m", "comment", "--comment", "block outside tcp to web", "-j", "DROP")
    # ...wrong: the published (pre-DNAT) port never appears in FORWARD
    dh.host.run("iptables", "-I", "DOCKER-USER", "-i", UPLINK, "-p", "udp", "-m", "udp",
                "--dport", "8080", "-m", "comment", "--comment", "block outside udp 8080 (ineffective)", "-j", "DROP")
    return a


def _probes_docker_user(dh, a):
    return [
        Probe("outside", HOST_IP, 8080, "tcp", "DOCKER-USER drops -i up0 tcp --dport 80 (post-DNAT port)"),
        Probe("outside", a["web"], 80, "tcp", "outside direct to the container, same DROP"),
        Probe("outside", HOST_IP, 8080, "udp", "DOCKER-USER rule -i up0 udp --dport 8080 uses the pre-DNAT port"),
        Probe("host", "127.0.0.1", 8080, "tcp", "host to loopback:published (proxy)"),
        Probe("host", HOST_IP, 8080, "tcp", "host to its uplink address:published"),
        Probe("container:client", HOST_IP, 8080, "tcp", "container to host address:published"),
        Probe("container:client", a["web"], 80, "tcp", "same network, direct"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "tcp", "egress to outside"),
        Probe("outside", HOST_IP, HOST_PORT, "tcp", "outside to a host service"),
    ]


def _setup_input_drop(dh: DockerHost) -> dict:
    a = _web_client("net1")(dh)
    h = dh.host
    h.run("iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
    h.run("iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
    h.run("iptables", "-A", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "22", "-j", "ACCEPT")
    h.run("iptables", "-P", "INPUT", "DROP")
    return a


def _probes_input_drop(dh, a):
    return [
        Probe("outside", HOST_IP, 8080, "tcp", "INPUT policy DROP; published port from outside (the ufw trap)"),
        Probe("outside", HOST_IP, 8080, "udp", "INPUT policy DROP; published udp port from outside"),
        Probe("outside", a["web"], 80, "tcp", "outside direct to the container IP"),
        Probe("outside", HOST_IP, HOST_PORT, "tcp", "INPUT policy DROP; a host service from outside"),
        Probe("host", "127.0.0.1", 8080, "tcp", "host to loopback:published (INPUT accepts -i lo)"),
        Probe("host", HOST_IP, 8080, "tcp", "host to its uplink address:published"),
        Probe("container:client", HOST_IP, 8080, "tcp", "container to host address:published under INPUT DROP"),
        Probe("container:client", a["gw"], 8080, "tcp", "container to its gateway:published under INPUT DROP"),
        Probe("container:client", HOST_IP, HOST_PORT, "tcp", "container to a host service under INPUT DROP"),
        Probe("container:client", a["web"], 80, "tcp", "same network, direct"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "tcp", "egress to outside"),
    ]


# Docker 28 gateway modes (moby#48594, #48596): `routed` publishes the container port on
# the container's own address (no NAT, no masquerade), `nat-unprotected` NATs but lets
# anyone who can route to the container reach every port of it.
GW_MODE = "com.docker.network.bridge.gateway_mode_ipv4"


def _gw_mode_setup(mode: str):
    def setup(dh: DockerHost) -> dict:
        dh.docker("network", "create", "-o", f"{GW_MODE}={mode}", "net1")
        web = dh.run_container("web", network="net1", publish=("8080:80", "8080:80/udp"))
        client = dh.run_container("client", network="net1")
        other = dh.run_container("other")  # on the default bridge (docker0, gateway mode nat)
        return {"web": web.ips["net1"], "client": client.ips["net1"], "other": other.ips["bridge"],
                "gw": web.gateways["net1"], "bridge": dh.network_bridge("net1")}
    return setup


def _probes_gw_mode(dh, a):
    w, c, gw = a["web"], a["client"], a["gw"]
    return [
        Probe("outside", w, 80, "tcp", "outside direct to the published container port"),
        Probe("outside", w, 80, "udp", "outside direct to the published container port"),
        Probe("outside", c, 80, "tcp", "outside direct to a container port that is not published"),
        Probe("outside", c, 80, "udp", "outside direct to a container port that is not published"),
        Probe("outside", HOST_IP, 8080, "tcp", "outside to the host port of -p 8080:80"),
        Probe("outside", HOST_IP, 8080, "udp", "outside to the host port of -p 8080:80"),
        Probe("outside", HOST_IP, HOST_PORT, "tcp", "outside to a host service"),
        Probe("host", w, 80, "tcp", "host to the container directly"),
        Probe("host", c, 80, "tcp", "host to the unpublished container directly"),
        Probe("host", "127.0.0.1", 8080, "tcp", "host to loopback:8080"),
        Probe("host", HOST_IP, 8080, "tcp", "host to its uplink address:8080"),
        Probe("container:client", w, 80, "tcp", "same network, direct"),
        Probe("container:client", HOST_IP, 8080, "tcp", "container to the host address:8080"),
        Probe("container:client", gw, 8080, "tcp", "container to its gateway:8080"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "tcp", "egress to outside"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "udp", "egress to outside"),
        Probe("container:client", HOST_IP, HOST_PORT, "tcp", "container to a host service"),
        Probe("container:other", w, 80, "tcp", "a container of the default bridge to the published port, by IP"),
        Probe("container:other", c, 80, "tcp", "a container of the default bridge to an unpublished port, by IP"),
        Probe("container:other", HOST_IP, 8080, "tcp", "a container of the default bridge to the host address:8080"),
    ]


# IPv6 (Docker 28): a dual-stack network; Docker writes ip6tables rules as it writes iptables
# ones, NATs IPv6 egress (NAT66 MASQUERADE) by default and publishes `-p` on `::` too.
V6_SUBNET = "fd00:db8:30::/64"


def _setup_ipv6(dh: DockerHost) -> dict:
    dh.docker("network", "create", "--ipv6", "--subnet", "172.30.0.0/16", "--subnet", V6_SUBNET, "net6")
    web = dh.run_container("web", network="net6", publish=("8080:80", "8080:80/udp"))
    client = dh.run_container("client", network="net6")
    return {"web": web.ips["net6"], "client": client.ips["net6"], "gw": web.gateways["net6"],
            "web6": web.ips6["net6"], "client6": client.ips6["net6"], "gw6": web.gateways6["net6"],
            "bridge": dh.network_bridge("net6")}


def _probes_ipv6(dh, a):
    w6, c6, gw6, w = a["web6"], a["client6"], a["gw6"], a["web"]
    return [
        Probe("outside", HOST_IP6, 8080, "tcp", "IPv6: outside to the published port"),
        Probe("outside", HOST_IP6, 8080, "udp", "IPv6: outside to the published port"),
        Probe("outside", w6, 80, "tcp", "IPv6: outside to the published container directly (outside routes fd00::/8 via the host)"),
        Probe("outside", w6, 80, "udp", "IPv6: outside to the published container directly"),
        Probe("outside", c6, 80, "tcp", "IPv6: outside to the unpublished container directly"),
        Probe("outside", HOST_IP6, HOST_PORT, "tcp", "IPv6: outside to a host service"),
        Probe("host", "::1", 8080, "tcp", "IPv6: host to loopback:published"),
        Probe("host", "::1", 8080, "udp", "IPv6: host to loopback:published"),
        Probe("host", HOST_IP6, 8080, "tcp", "IPv6: host to its own uplink address:published"),
        Probe("host", HOST_IP6, 8080, "udp", "IPv6: host to its own uplink address:published"),
        Probe("host", gw6, 8080, "tcp", "IPv6: host to the bridge gateway:published"),
        Probe("host", w6, 80, "tcp", "IPv6: host to the container directly"),
        Probe("container:client", w6, 80, "tcp", "IPv6: same network, direct"),
        Probe("container:client", w6, 80, "udp", "IPv6: same network, direct"),
        Probe("container:client", HOST_IP6, 8080, "tcp", "IPv6: container to host address:published (hairpin)"),
        Probe("container:client", HOST_IP6, 8080, "udp", "IPv6: container to host address:published (hairpin)"),
        Probe("container:client", gw6, 8080, "tcp", "IPv6: container to its gateway:published"),
        Probe("container:web", HOST_IP6, 8080, "tcp", "IPv6: container to its own published port via the host (self hairpin)"),
        Probe("container:web", OUTSIDE_IP6, OUT_PORT, "tcp", "IPv6: egress to outside (NAT66: ip6tables MASQUERADE)"),
        Probe("container:web", OUTSIDE_IP6, OUT_PORT, "udp", "IPv6: egress to outside (NAT66: ip6tables MASQUERADE)"),
        Probe("container:client", HOST_IP6, HOST_PORT, "tcp", "IPv6: container to a host service"),
        Probe("outside", HOST_IP, 8080, "tcp", "IPv4: outside to the published port"),
        Probe("outside", w, 80, "tcp", "IPv4: outside to the published container directly"),
        Probe("host", "127.0.0.1", 8080, "tcp", "IPv4: host to loopback:published"),
        Probe("host", HOST_IP, 8080, "tcp", "IPv4: host to its own uplink address:published"),
        Probe("container:client", w, 80, "tcp", "IPv4: same network, direct"),
        Probe("container:client", HOST_IP, 8080, "tcp", "IPv4: container to host address:published (hairpin)"),
        Probe("container:web", OUTSIDE_IP, OUT_PORT, "tcp", "IPv4: egress to outside"),
    ]


# --------------------------------------------------------------------------- issue 8's probes
# Added to the scenarios below (after their first probes, so the old ones keep their place):
# a container to its own loopback, a container to each of the host's addresses, the host to
# 0.0.0.0 (::), UDP from an unconnected socket next to the connected one, and un-NATed
# egress with and without a route back at the outside host.

UNCONNECTED = " (unconnected UDP socket: takes an answer from any address)"


def _plus(*fns):
    """The probes of several probe functions, in order."""
    def probes(dh: DockerHost, a: dict) -> list[Probe]:
        return [p for fn in fns for p in fn(dh, a)]
    return probes


def _own_loopback(who: str = "web", v6: bool = False):
    """A container to its own 127.0.0.1 (::1): its own namespace's loopback, never the host's."""
    def probes(dh: DockerHost, a: dict) -> list[Probe]:
        out = []
        for lo in ("127.0.0.1", "::1") if v6 else ("127.0.0.1",):
            out += [
                Probe(f"container:{who}", lo, 80, "tcp", f"container to its own {lo} on the container port"),
                Probe(f"container:{who}", lo, 80, "udp", f"container to its own {lo} on the container port"),
                Probe(f"container:{who}", lo, 8080, "tcp", f"container to its own {lo} on the published port"),
                Probe(f"container:{who}", lo, 8080, "udp", f"container to its own {lo} on the published port"),
            ]
        return out
    return probes


def _host_addresses(dh: DockerHost, a: dict) -> list[Probe]:
    """The client container to the host's own addresses: its gateway, the uplink, docker0's gateway."""
    gw = a["gw"]
    out = [
        Probe("container:client", gw, HOST_PORT, "tcp", "container to a host service on its own gateway address"),
        Probe("container:client", gw, HOST_PORT, "udp", "container to a host service on its own gateway address"),
        Probe("container:client", HOST_IP, HOST_PORT, "udp", "container to a host service on the uplink address"),
        Probe("container:client", gw, 8080, "udp", "container to its gateway:published"),
    ]
    other = _bridge_address(dh, "docker0")
    if other and other != gw:
        out += [
            Probe("container:client", other, HOST_PORT, "tcp", "container to a host service on another network's gateway (docker0)"),
            Probe("container:client", other, HOST_PORT, "udp", "container to a host service on another network's gateway (docker0)"),
            Probe("container:client", other, 8080, "tcp", "container to another network's gateway (docker0):published"),
        ]
    return out


def _bridge_address(dh: DockerHost, bridge: str) -> str | None:
    """The host's IPv4 address on ``bridge`` (docker0's gateway: 20.10's inspect of the default
    network may name no gateway)."""
    out = dh.host.ip("-4", "-o", "addr", "show", "dev", bridge, check=False).stdout.split()
    return out[out.index("inet") + 1].split("/")[0] if "inet" in out else None


def _zero_address(v6: bool = False):
    """The host to 0.0.0.0 (::): Linux connects such a socket to a local address (loopback)."""
    def probes(dh: DockerHost, a: dict) -> list[Probe]:
        out = []
        for zero in ("0.0.0.0", "::") if v6 else ("0.0.0.0",):
            out += [
                Probe("host", zero, HOST_PORT, "tcp", f"host to {zero} on a host service port"),
                Probe("host", zero, HOST_PORT, "udp", f"host to {zero} on a host service port"),
                Probe("host", zero, 8080, "tcp", f"host to {zero} on the published port"),
                Probe("host", zero, 8080, "udp", f"host to {zero} on the published port"),
            ]
        return out
    return probes


def _udp_sockets(v6: bool = False):
    """UDP through docker-proxy and the hairpins, from an unconnected socket (and the connected
    twins the older probes lack): whoever answers, from whichever address, is recorded."""
    def probes(dh: DockerHost, a: dict) -> list[Probe]:
        if v6:
            up, gw, lo = HOST_IP6, a["gw6"], "::1"
        else:
            up, gw, lo = HOST_IP, a["gw"], "127.0.0.1"
        out = [
            Probe("host", gw, 8080, "udp", "host to the bridge gateway:published"),
            Probe("container:web", up, 8080, "udp", "container to its own published port via the host (self hairpin)"),
        ]
        if v6:
            out = [Probe(p.frm, p.to, p.port, p.proto, "IPv6: " + p.note) for p in out]
        pairs = [("host", lo, 8080, "host to loopback:published"),
                 ("host", up, 8080, "host to its uplink address:published"),
                 ("host", gw, 8080, "host to the bridge gateway:published"),
                 ("outside", up, 8080, "outside to the published port"),
                 ("container:client", up, 8080, "container to host address:published (hairpin)"),
                 ("container:client", gw, 8080, "container to its gateway:published"),
                 ("container:web", up, 8080, "container to its own published port via the host (self hairpin)"),
                 ("container:client", up, HOST_PORT, "container to a host service on the uplink address")]
        for frm, to, port, note in pairs:
            out.append(Probe(frm, to, port, "udp", ("IPv6: " if v6 else "") + note + UNCONNECTED,
                             udp_socket="unconnected"))
        return out
    return probes


def _egress(who: str = "client"):
    """Egress to outside over UDP from an unconnected socket, next to the older connected probes."""
    def probes(dh: DockerHost, a: dict) -> list[Probe]:
        return [Probe(f"container:{who}", OUTSIDE_IP, OUT_PORT, "udp", "egress to outside" + UNCONNECTED,
                      udp_socket="unconnected")]
    return probes


def _probes_no_route_back(dh: DockerHost, a: dict) -> list[Probe]:
    """Un-NATed egress to an outside host that has no route back to the container subnet."""
    return [
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "tcp", "un-NATed egress, outside has no route back"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "udp", "un-NATed egress, outside has no route back"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "udp", "un-NATed egress, outside has no route back" + UNCONNECTED,
              udp_socket="unconnected"),
        Probe("container:client", HOST_IP, HOST_PORT, "tcp", "container to a host service"),
        Probe("host", a["web"], 80, "tcp", "host to the container directly"),
        Probe("outside", HOST_IP, 8080, "tcp", "outside to the published port"),
        Probe("outside", HOST_IP, HOST_PORT, "tcp", "outside to a host service"),
        Probe("host", OUTSIDE_IP, OUT_PORT, "tcp", "host to outside (its own address: routed back)"),
        Probe("container:client", a["web"], 80, "tcp", "same network, direct"),
    ]


_PUBLISHED = _plus(_published_probes, _own_loopback(), _host_addresses, _zero_address(), _udp_sockets(), _egress())
# the black hole (k): every UDP datagram to the published port vanishes, so no answer to compare
_BLACK_HOLE = _plus(_published_probes, _own_loopback(), _host_addresses, _zero_address(), _egress())
_GW_MODE_PROBES = _plus(_probes_gw_mode, _own_loopback(), _zero_address(), _egress())
_IPV6_PROBES = _plus(_probes_ipv6, _own_loopback(v6=True), _zero_address(v6=True), _udp_sockets(v6=True))


SCENARIOS: list[Scenario] = [
    Scenario("a_default", "default flags, one user network, 8080->80 tcp+udp on 0.0.0.0", [],
             _web_client("net1"), _PUBLISHED),
    Scenario("b_no_userland_proxy", "--userland-proxy=false, same as a", ["--userland-proxy=false"],
             _web_client("net1"), _PUBLISHED),
    Scenario("c_no_proxy_no_localnet", "as b, then route_localnet=0 on the bridge by hand",
             ["--userland-proxy=false"], _setup_c, _PUBLISHED,
             notes=["after setup: sysctl -w net.ipv4.conf.<bridge>.route_localnet=0"]),
    Scenario("d_icc_false", "--icc=false, default bridge, two containers, web publishes 8080",
             ["--icc=false"], _setup_icc, _plus(_probes_icc, _own_loopback())),
    Scenario("e_internal", "--internal network with two containers, web started with -p 8080:80",
             [], _setup_internal, _probes_internal),
    Scenario("f_localhost_publish", "port published on 127.0.0.1 only (-p 127.0.0.1:8080:80 tcp+udp)",
             [], _web_client("net1", publish=("127.0.0.1:8080:80", "127.0.0.1:8080:80/udp")),
             _plus(_probes_localhost, _own_loopback(), _zero_address())),
    Scenario("g_two_networks", "two networks, one container each (alpha on net1 -p 8080:80, beta on net2 -p 8081:80)",
             [], _setup_two_nets, _probes_two_nets),
    Scenario("h_docker_user", "DOCKER-USER rules against outside traffic to the published port",
             [], _setup_docker_user, _probes_docker_user,
             notes=["iptables -I DOCKER-USER -i up0 -p tcp -m tcp --dport 80 -m comment --comment 'block outside tcp to web' -j DROP",
                    "iptables -I DOCKER-USER -i up0 -p udp -m udp --dport 8080 -m comment --comment 'block outside udp 8080 (ineffective)' -j DROP"]),
    Scenario("i_input_drop", "INPUT policy DROP (lo, established, 22 allowed) with a published port",
             [], _setup_input_drop, _plus(_probes_input_drop, _own_loopback(), _host_addresses, _zero_address()),
             notes=["iptables -A INPUT -i lo -j ACCEPT; -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT; "
                    "-A INPUT -p tcp --dport 22 -j ACCEPT; -P INPUT DROP"]),
    Scenario("j_no_iptables", "--iptables=false (userland proxy on), as a (the seed's cases 1 and 7)",
             ["--iptables=false"], _web_client("net1"), _PUBLISHED),
    Scenario("k_no_iptables_no_proxy", "--iptables=false --userland-proxy=false, as a (the seed's case 6)",
             ["--iptables=false", "--userland-proxy=false"], _web_client("net1"), _BLACK_HOLE),
    Scenario("l_routed", "Docker 28 gateway mode `routed` (no NAT): web -p 8080:80 tcp+udp, client publishes nothing, other on docker0",
             [], _gw_mode_setup("routed"), _GW_MODE_PROBES, min_version=(28,),
             notes=[f"docker network create -o {GW_MODE}=routed net1"]),
    Scenario("m_nat_unprotected", "Docker 28 gateway mode `nat-unprotected`: web -p 8080:80 tcp+udp, client publishes nothing, other on docker0",
             [], _gw_mode_setup("nat-unprotected"), _GW_MODE_PROBES, min_version=(28,),
             notes=[f"docker network create -o {GW_MODE}=nat-unprotected net1"]),
    Scenario("n_ipv6", "Docker 28 dual-stack network (--ipv6): web -p 8080:80 tcp+udp, client publishes nothing; IPv6 on the uplink",
             [], _setup_ipv6, _IPV6_PROBES, min_version=(28,), ipv6=True,
             notes=[f"docker network create --ipv6 --subnet 172.30.0.0/16 --subnet {V6_SUBNET} net6",
                    f"uplink IPv6: host {HOST_IP6}/64 (default via {OUTSIDE_IP6}), outside {OUTSIDE_IP6}/64 "
                    f"routing fd00::/8 via {HOST_IP6}"]),
    Scenario("o_ipv6_no_proxy", "as n_ipv6 with --userland-proxy=false (no docker-proxy; IPv6 has no route_localnet for a DNAT of ::1)",
             ["--userland-proxy=false"], _setup_ipv6, _IPV6_PROBES, min_version=(28,), ipv6=True,
             notes=[f"docker network create --ipv6 --subnet 172.30.0.0/16 --subnet {V6_SUBNET} net6",
                    f"uplink IPv6: host {HOST_IP6}/64 (default via {OUTSIDE_IP6}), outside {OUTSIDE_IP6}/64 "
                    f"routing fd00::/8 via {HOST_IP6}"]),
]

# ufw (Debian/Ubuntu's firewall front-end) on the Docker host: ufw runs in the host namespace
# only, with its configuration in a private directory (tests/oracle/ufwhost.py). Every ufw
# scenario has the same containers and listeners: web (-p 8080:80 tcp+udp, -p 8053:8053/udp,
# listening on udp 8053 too), db (-p 5432:5432, listening on tcp 5432) and client (nothing
# published) on net1; the host serves tcp 9090 (ufw allows it), 9091 (no rule) and 2222
# (`ufw limit`), and the host's own ufw rules are those of a typical server: deny incoming,
# allow ssh.
UFW_HOST_RULES = (("default", "deny", "incoming"), ("allow", "22/tcp"), ("allow", "9090/tcp", "comment", "metrics"),
                  ("limit", "2222/tcp"))
UFW_LISTENERS = (("container:web", "udp", 8053), ("container:db", "tcp", 5432),
                 ("host", "tcp", 9091), ("host", "tcp", 2222))
OUTSIDE_PRIVATE_IP = "10.99.0.2"  # a second address of outside's: a neighbour with a private (RFC 1918) address
UFW_ROUTE_ALLOW_80 = ("route", "allow", "proto", "tcp", "from", "any", "to", "any", "port", "80")


def _ufw_requires() -> str | None:
    return ufw_unavailable()


def _ufw_containers(dh: DockerHost) -> dict:
    dh.outside.ip("addr", "add", f"{OUTSIDE_PRIVATE_IP}/32", "dev", "eth0")
    dh.docker("network", "create", "net1")
    web = dh.run_container("web", network="net1", publish=("8080:80", "8080:80/udp", "8053:8053/udp"))
    db = dh.run_container("db", network="net1", publish=("5432:5432",))
    client = dh.run_container("client", network="net1")
    return {"web": web.ips["net1"], "db": db.ips["net1"], "client": client.ips["net1"],
            "gw": web.gateways["net1"], "bridge": dh.network_bridge("net1")}


def _ufw_configure(dh: DockerHost, *, after_rules: str | None = None,
                   rules: tuple[tuple[str, ...], ...] = ()) -> Ufw:
    ufw = Ufw(dh.lab, dh.host)
    if after_rules:
        ufw.add_after_rules(after_rules)
    for r in UFW_HOST_RULES + tuple(rules):
        ufw(*r)
    ufw.enable()
    dh.ufw = ufw  # type: ignore[attr-defined]
    return ufw


def _ufw_setup(*, after_rules: str | None = None, rules: tuple[tuple[str, ...], ...] = (), route_rules=None):
    """Docker first (containers running), then ufw configured and enabled, as on a host where
    ufw is set up after Docker. ``route_rules(addresses)``: `ufw route` rules naming containers."""
    def setup(dh: DockerHost) -> dict:
        a = _ufw_containers(dh)
        _ufw_configure(dh, after_rules=after_rules, rules=tuple(rules) + tuple(route_rules(a) if route_rules else ()))
        return a
    return setup


def _ufw_pre_start(*, after_rules: str | None = None, rules: tuple[tuple[str, ...], ...] = ()):
    """ufw enabled before dockerd starts (the boot order: ufw.service comes up before docker)."""
    def pre_start(dh: DockerHost) -> None:
        _ufw_configure(dh, after_rules=after_rules, rules=rules)
    return pre_start


def _ufw_probes(dh: DockerHost, a: dict) -> list[Probe]:
    w, d, c, gw = a["web"], a["db"], a["client"], a["gw"]
    return [
        Probe("outside", HOST_IP, 8080, "tcp", "outside to web's published port (container port 80)"),
        Probe("outside", HOST_IP, 8080, "udp", "outside to web's published udp port (container port 80)"),
        Probe("outside", HOST_IP, 5432, "tcp", "outside to db's published port (container port 5432)"),
        Probe("outside", HOST_IP, 8053, "udp", "outside to web's published udp 8053 from an ephemeral port",
              sport=40053),
        Probe("outside", HOST_IP, 8053, "udp", "outside to web's published udp 8053 from source port 53",
              sport=53),
        Probe("outside", HOST_IP, 5432, "tcp", "outside from a private source address to db's published port",
              src=OUTSIDE_PRIVATE_IP),
        Probe("outside", HOST_IP, 8080, "udp", "outside from a private source address to web's published udp port",
              src=OUTSIDE_PRIVATE_IP),
        Probe("outside", w, 80, "tcp", "outside to web's container IP directly"),
        Probe("outside", d, 5432, "tcp", "outside to db's container IP directly"),
        Probe("outside", c, 80, "tcp", "outside to client's port 80 directly (not published)"),
        Probe("outside", d, 80, "tcp", "outside to db's port 80 directly (not published; db publishes 5432)"),
        Probe("outside", w, 8053, "udp", "outside to web's udp 8053 directly from source port 53", sport=53),
        Probe("outside", HOST_IP, HOST_PORT, "tcp", "outside to a host service ufw allows (9090/tcp)"),
        Probe("outside", HOST_IP, HOST_PORT, "udp", "outside to a host service on udp (ufw allows tcp only)"),
        Probe("outside", HOST_IP, 9091, "tcp", "outside to a host service ufw does not allow"),
        Probe("outside", HOST_IP, 2222, "tcp", "outside to a host service under `ufw limit` (first connection)"),
        Probe("container:client", HOST_IP, HOST_PORT, "tcp", "container to a host service ufw allows"),
        Probe("container:client", HOST_IP, 9091, "tcp", "container to a host service ufw does not allow"),
        Probe("container:client", gw, HOST_PORT, "tcp", "container to an allowed host service via its gateway"),
        Probe("container:client", w, 80, "tcp", "same network, direct"),
        Probe("container:client", HOST_IP, 8080, "tcp", "container to web's published port via the host address"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "tcp", "egress to outside"),
        Probe("container:client", OUTSIDE_IP, OUT_PORT, "udp", "egress to outside"),
        Probe("host", "127.0.0.1", 8080, "tcp", "host to loopback:published"),
        Probe("host", HOST_IP, 8080, "tcp", "host to its own uplink address:published"),
        Probe("host", HOST_IP, 5432, "tcp", "host to its own uplink address:db's published port"),
        Probe("host", w, 80, "tcp", "host to the container directly"),
        Probe("host", OUTSIDE_IP, OUT_PORT, "tcp", "host to outside"),
    ]


def _ufw_scenario(name: str, title: str, setup, notes: list[str], pre_start=None) -> Scenario:
    return Scenario(name, title, [], setup, _ufw_probes, notes=notes, extra_listeners=UFW_LISTENERS,
                    pre_start=pre_start, requires=_ufw_requires)


_UFW_NOTES = ["ufw default deny incoming; ufw allow 22/tcp; ufw allow 9090/tcp comment metrics; ufw limit 2222/tcp; "
              "ufw --force enable"]
_UFW_FIX_NOTE = ("/etc/ufw/after.rules: + the ufw-docker recipe's block (tests/oracle/ufwhost.py "
                 "UFW_DOCKER_AFTER_RULES)")
_UFW_CTORIG_PORTS = [("tcp", 8080)]
_UFW_ROUTE_ACCEPT = (("default", "allow", "routed"),
                     ("route", "deny", "proto", "tcp", "from", "any", "to", "any", "port", "5432"))
UFW_SCENARIOS = [
    _ufw_scenario("ufw_default", "ufw (deny incoming, allow 22, 9090; limit 2222) enabled after Docker: "
                  "the ufw trap", _ufw_setup(), _UFW_NOTES),
    _ufw_scenario("ufw_docker_fix", "the ufw-docker recipe's after.rules block and `ufw route allow proto tcp "
                  "from any to any port 80`, ufw enabled after Docker",
                  _ufw_setup(after_rules=UFW_DOCKER_AFTER_RULES, rules=(UFW_ROUTE_ALLOW_80,)),
                  [_UFW_FIX_NOTE, "ufw " + " ".join(UFW_ROUTE_ALLOW_80)] + _UFW_NOTES),
    _ufw_scenario("ufw_docker_fix_ufw_first", "as ufw_docker_fix, but ufw is enabled before dockerd starts "
                  "(the boot order)", _ufw_containers,
                  [_UFW_FIX_NOTE, "ufw " + " ".join(UFW_ROUTE_ALLOW_80)] + _UFW_NOTES
                  + ["ufw enabled before dockerd started; containers created after"],
                  pre_start=_ufw_pre_start(after_rules=UFW_DOCKER_AFTER_RULES, rules=(UFW_ROUTE_ALLOW_80,))),
    _ufw_scenario("ufw_docker_ctorig", "the ufw-docker block opening published port 8080/tcp by "
                  "`-m conntrack --ctorigdstport 8080 --ctdir ORIGINAL` in DOCKER-USER (no route rules)",
                  _ufw_setup(after_rules=docker_fix_with_published_ports(_UFW_CTORIG_PORTS)),
                  [_UFW_FIX_NOTE + ", plus -A DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080 "
                   "--ctdir ORIGINAL -j RETURN before its drops"] + _UFW_NOTES),
    _ufw_scenario("ufw_route_drop", "ufw with DEFAULT_FORWARD_POLICY=DROP (the default) and `ufw route` rules: "
                  "allow tcp to client:80,443, deny tcp to web:80 and to db:5432",
                  _ufw_setup(route_rules=lambda a: (
                      ("route", "allow", "proto", "tcp", "from", "any", "to", a["client"], "port", "80,443"),
                      ("route", "deny", "proto", "tcp", "from", "any", "to", a["web"], "port", "80"),
                      ("route", "deny", "proto", "tcp", "from", "any", "to", a["db"], "port", "5432"))),
                  ["ufw route allow proto tcp from any to <client> port 80,443; ufw route deny proto tcp from any "
                   "to <web> port 80; ufw route deny proto tcp from any to <db> port 5432"] + _UFW_NOTES),
    _ufw_scenario("ufw_route_accept", "`ufw default allow routed` (DEFAULT_FORWARD_POLICY=ACCEPT), enabled after "
                  "Docker, and `ufw route deny proto tcp from any to any port 5432`",
                  _ufw_setup(rules=_UFW_ROUTE_ACCEPT),
                  ["ufw default allow routed; ufw route deny proto tcp from any to any port 5432"] + _UFW_NOTES),
    _ufw_scenario("ufw_route_accept_ufw_first", "as ufw_route_accept, but ufw is enabled before dockerd starts "
                  "(dockerd, turning ip_forward on, sets the FORWARD policy back to DROP)", _ufw_containers,
                  ["ufw default allow routed; ufw route deny proto tcp from any to any port 5432"] + _UFW_NOTES
                  + ["ufw enabled before dockerd started; containers created after"],
                  pre_start=_ufw_pre_start(rules=_UFW_ROUTE_ACCEPT)),
]


def supported_scenarios(version: tuple[int, ...] | None = None) -> list[Scenario]:
    """The scenarios the dockerd that would be started can run (all of them when its
    version is unknown and no scenario needs a newer one)."""
    version = installed_dockerd_version() if version is None else version
    return [s for s in SCENARIOS if s.supported(version)]


# un-NATed egress without a route back (issue 8): the same daemons as j and l, but the
# outside namespace does not route 172.16.0.0/12 via the host
SCENARIOS += [
    Scenario("p_no_iptables_no_route_back", "--iptables=false, as j, and outside has no route back to 172.16.0.0/12",
             ["--iptables=false"], _web_client("net1"), _probes_no_route_back, route_back=False,
             notes=["outside: no route to 172.16.0.0/12 (its answers to un-NATed containers have nowhere to go)"]),
    Scenario("q_routed_no_route_back", "Docker 28 gateway mode `routed`, as l, and outside has no route back to 172.16.0.0/12",
             [], _gw_mode_setup("routed"), _probes_no_route_back, min_version=(28,), route_back=False,
             notes=[f"docker network create -o {GW_MODE}=routed net1",
                    "outside: no route to 172.16.0.0/12 (its answers to un-NATed containers have nowhere to go)"]),
]
SCENARIOS += UFW_SCENARIOS
# twins for `dnlint diff` (issue 10): each pairs with a scenario above on one topology; captured
# and replayed statically, not run by the live oracle (its time goes to the scenarios above)
PAIR_SCENARIOS = [
    Scenario("d_icc_true", "as d_icc_false with --icc=true (the default): default bridge, two containers, web "
             "publishes 8080", [], _setup_icc, _plus(_probes_icc_true, _own_loopback())),
]
SCENARIOS += PAIR_SCENARIOS
CAPTURE_ONLY = tuple(s.name for s in PAIR_SCENARIOS)

# --------------------------------------------------------------------------- known disagreements

# Probes that dnlint answers differently from the kernel, with the root cause. The static
# replays (tests/test_query_docker.py, tests/test_oracle_docker.py) run them as strict
# xfails, so fixing dnlint makes them fail and the entry goes; the live oracle reports them
# apart. Key: (oldest dockerd version it applies to, or (oldest, first without it),
# scenario, from, port, proto, note).
KNOWN_DISAGREEMENTS: dict[tuple[tuple[int, ...], str, str, int, str, str], str] = {
}


def dump_dockerd_version(dump: str) -> tuple[int, ...]:
    """The dockerd version a host dump's header names (`# dockerd: Docker version 28.5.2...`)."""
    for line in dump.splitlines()[:40]:
        if line.startswith("# dockerd:"):
            return version_tuple(line.split(":", 1)[1])
    return ()


def known_disagreement(version: tuple[int, ...], scenario: str, probe: dict) -> str | None:
    """Why dnlint is known to disagree with the kernel on a probe of a dockerd of ``version``, or None."""
    for (since, name, frm, port, proto, note), reason in KNOWN_DISAGREEMENTS.items():
        # since: the oldest version, or (oldest, first one without it)
        since, before = since if since and isinstance(since[0], tuple) else (since, None)
        if (name, frm, port, proto, note) == (scenario, probe["from"], probe["port"], probe["proto"],
                                              probe.get("note")) and version and version >= since \
                and (before is None or version < before):
            return reason
    return None


# --------------------------------------------------------------------------- running


@dataclass
class LiveRun:
    """What one scenario did on a real daemon: the host dump and the probe records."""

    scenario: Scenario
    dump: str
    probes: list[dict]  # the records of <scenario>.probes.json
    containers: dict[str, dict]  # name -> {"ips": {network: ip}, "gateways": {...}}
    addresses: dict  # what the scenario's setup returned
    seconds: float


def run_live(sc: Scenario, log=print) -> LiveRun:
    """Run a scenario on a fresh dockerd in fresh namespaces (torn down before returning)."""
    t0 = time.monotonic()
    with Lab(tag=sc.name) as lab:
        dh = DockerHost(lab, flags=sc.flags, ipv6=sc.ipv6, route_back=sc.route_back, pre_start=sc.pre_start).start()
        addrs = sc.setup(dh)
        listeners = []
        for addr in ("0.0.0.0", "::") if sc.ipv6 else ("0.0.0.0",):  # "::" is IPv6-only
            for name in dh.containers:
                for proto in ("tcp", "udp"):
                    listeners.append(dh.listen(f"container:{name}", proto, 80, addr=addr))
            for proto in ("tcp", "udp"):
                listeners.append(dh.listen("host", proto, HOST_PORT, addr=addr))
                listeners.append(dh.listen("outside", proto, OUT_PORT, addr=addr))
        for where, proto, port in sc.extra_listeners:
            listeners.append(dh.listen(where, proto, port))
        results = []
        for pr in sc.probes(dh, addrs):
            r = dh.probe(pr.frm, pr.proto, pr.to, pr.port, timeout=2.0, udp_socket=pr.udp_socket,
                         sport=pr.sport, src=pr.src)
            hit = None
            # the probe's own family first (a proxy may still carry it to the other one)
            for ls in sorted(listeners, key=lambda ls: (":" in ls.addr) != (":" in pr.to)):
                if ls.proto != pr.proto:
                    continue
                peer = ls.seen(r.token, wait=0.3 if (r.reply or r.connected) else 0.05)
                if peer:
                    hit = (ls, peer)
                    break
            results.append({
                "from": pr.frm, "to": pr.to, "port": pr.port, "proto": pr.proto,
                "reached": hit is not None,
                "delivered_to": hit[0].tag if hit else None,
                "seen_src": hit[1].src if hit else None,
                "note": pr.note,
                "connected": r.connected if pr.proto == "tcp" else None,
                "reply": r.reply is not None,
                "error": r.error,
                **({"udp_socket": pr.udp_socket} if pr.proto == "udp" else {}),
                "reply_from": r.reply_from,
                "ended": r.ended,
                **({"sport": pr.sport} if pr.sport else {}),
                **({"src": pr.src} if pr.src else {}),
            })
            log(f"  {pr.frm:>17} -> {pr.to}:{pr.port}/{pr.proto}"
                f"{' (unconnected)' if pr.proto == 'udp' and pr.udp_socket != 'connected' else ''}: "
                f"{'REACHED ' + hit[0].tag + ' src ' + hit[1].src if hit else 'not reached'}"
                f"{'' if hit or not r.connected or pr.proto != 'tcp' else ' (handshake completed)'}"
                f"{' [' + r.error + ']' if r.error and not hit else ''}"
                f"{'; answer from ' + r.reply_from if r.reply_from and r.reply_from != pr.to else ''}"
                f"{'; no answer (' + r.ended + ')' if hit and not r.reply else ''}")
        header = [f"scenario: {sc.name}: {sc.title}",
                  f"dockerd flags: {' '.join(sc.flags) or '(defaults)'}",
                  *[f"setup: {n}" for n in sc.notes],
                  *[f"ran: {c}" for c in getattr(getattr(dh, "ufw", None), "commands", [])],
                  "captured by tests/oracle/capture_docker.py in network namespaces; "
                  "counters include the probes of <scenario>.probes.json"]
        text = dh.collect(extra_header=header)
        containers = {n: {"ips": dict(c.ips), "gateways": dict(c.gateways),
                          **({"ips6": dict(c.ips6), "gateways6": dict(c.gateways6)} if c.ips6 else {})}
                      for n, c in dh.containers.items()}
    return LiveRun(sc, text, results, containers, addrs, time.monotonic() - t0)


def run_scenario(sc: Scenario, outdir: Path, log=print) -> list[dict]:
    live = run_live(sc, log=log)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / f"{sc.name}.txt").write_text(live.dump)
    (outdir / f"{sc.name}.probes.json").write_text(json.dumps(live.probes, indent=1) + "\n")
    log(f"{sc.name}: {len(live.probes)} probes, {live.seconds:.1f} s")
    return live.probes


README_HEAD = """# Real Docker captures

Each scenario ran a real `dockerd` (Docker {version}, iptables {iptables}, kernel {kernel})
in a fresh network namespace, with containers built from a busybox-only image, and sent
real TCP/UDP probes. Regenerate (root, in the checkout; takes about 20 s per scenario):

{command}

Files per scenario:
- `<scenario>.txt`: the host dump of the host namespace, written by `dnlint collect`'s
  collector (`dnlint.collect.collect_dump`) run in that namespace with DOCKER_HOST at the
  scenario's daemon. The `ps` section keeps only that daemon's `dockerd` and `docker-proxy`
  lines. It was taken after the probes, so rule counters include them. The `#` header
  names the scenario, the dockerd flags and any change made by hand.
- `<scenario>.probes.json`: a list of probes: `from` (`host`, `outside`,
  `container:NAME`), `to`, `port`, `proto`, `reached` (a listener saw the probe's token),
  `delivered_to` (which listener), `seen_src` (the source address that listener saw),
  `note`; plus `connected` (TCP: the handshake completed — a proxy or a black hole can
  complete it without delivering), `reply` (an answer came back to the prober's socket),
  `reply_from` (the address that answer came from), `error` (the prober's error:
  `timeout`, `Connection refused`, `recv: timeout`, ...) and `ended`, how the attempt
  ended on the wire: `answered`, `refused` (a TCP RST, or an ICMP port unreachable or a
  REJECT's ICMP error), `unreachable` (an ICMP host/network unreachable, or no route in
  the sender), `timeout` (nothing came back), `local error` (the sender's own kernel
  refused to send), `silent` (a TCP handshake, then nothing). A UDP probe has
  `udp_socket`: `connected` (connect() then send/recv: the kernel gives it only an
  answer from the address it sent to, and drops one from another address) or
  `unconnected` (sendto/recvfrom: it takes any answer, and `reply_from` says whose; with
  IP_RECVERR it still hears an ICMP refusal).

Topology: `outside` (192.0.2.2/24, eth0) -- veth -- `host` (192.0.2.1/24 on `up0`,
default route via 192.0.2.2). The outside namespace also routes 172.16.0.0/12 via the
host (a neighbour on the uplink can always do that), so "outside to the container IP
directly" is a real question; scenarios marked "no route back" leave that route out, so an
un-NATed container packet reaches outside and outside's answer has nowhere to go.
Listeners: each container's namespace on tcp+udp 80 (the host's python run with `nsenter
--net=/proc/PID/ns/net`, bound to 0.0.0.0, so it also answers the container's own
127.0.0.1), the host on tcp+udp 9090, outside on tcp+udp 9000; each answers from a socket
bound to 0.0.0.0 (the kernel picks the answer's source). Probes time out after 2 s.

## Scenarios
"""


FINDINGS = """
## What the kernel did (read against DESIGN.md)

Observed on the run these files come from; the tables above are the record.

- Userland proxy on (a): only loopback traffic and traffic arriving from a bridge reach
  `docker-proxy` (seen src = the bridge gateway, 172.18.0.1). The host's own connection to
  its uplink address 192.0.2.1:8080 is DNATed by the kernel in nat OUTPUT (seen src
  192.0.2.1), as DESIGN.md says. A container connecting to the host address goes to the
  proxy, because nat `DOCKER` starts with `-i br-x -j RETURN`.
- Proxy off (b): host -> 192.0.2.1:8080 arrives from 172.18.0.1 (`-o br -m addrtype
  --src-type LOCAL -j MASQUERADE`); a container on the same network reaching the published
  port through the host address keeps its own source (172.18.0.3): only the self-hairpin
  (`-s C -d C --dport 80 -j MASQUERADE`) is rewritten (web -> itself arrives from 172.18.0.1).
- route_localnet=0 on the bridge (c): host -> 127.0.0.1:8080 over TCP is silently dropped
  (connect times out) — but over UDP `send()` fails at once with EINVAL ("Invalid
  argument"): the loopback DNAT is not silent for UDP senders. host -> 192.0.2.1:8080 and
  -> the gateway still work. Docker leaves docker0's route_localnet=1.
- Direct routing to container IPs: a neighbour that routes 172.16/12 via the host reaches
  a published container on its container port directly (a, b, c, i), even when the port is
  published on 127.0.0.1 only (f: host-address and gateway connections are refused, the
  container IP is reached). The filter `DOCKER` chain accepts `-d C ! -i br -o br --dport 80`
  whatever the host IP of the binding.
- --icc=false (d): container <-> container on docker0 is blocked both ways, TCP and UDP, but
  the published port through the host address or the gateway is reachable (via the proxy).
  bridge-nf-call-iptables is 1 in these namespaces, so same-bridge traffic meets FORWARD.
- --internal (e): `-p` on an internal network publishes nothing (no proxy, no DNAT:
  connection refused on every address); egress is dropped; but containers still reach the
  host's own services (through the host address and the gateway): INPUT is not isolated.
  Outside -> the container IP is dropped.
- Two networks (g): alpha <-> beta by container IP is dropped both ways; alpha reaches
  beta's published port through the host address (proxy, seen src beta's gateway) and
  through net2's gateway address; alpha reaches host services on net2's gateway address.
- DOCKER-USER (h): a rule on the container port (`--dport 80`, after DNAT) blocks outside
  both through the published port and directly; a rule on the published port
  (`--dport 8080`, before DNAT) never matches: outside UDP to 8080 is still delivered.
- INPUT policy DROP (i), the ufw trap: outside -> 192.0.2.1:8080 is delivered (FORWARD path,
  not INPUT), while a host service on 9090 is blocked. With the userland proxy, a container's
  connection to the host address or its gateway on the published port is blocked too: it is
  not DNATed (`-i br -j RETURN`) and meets INPUT's DROP on its way to docker-proxy.
- --iptables=false (j): docker-proxy carries every published connection, so the container
  sees the gateway (172.18.0.1) as the source even for outside clients; egress is not
  NATed (outside sees 172.18.0.3 — it answers only because outside routes 172.16/12 back
  via the host, the seed's "the upstream must route the container subnet").
- --iptables=false --userland-proxy=false (k): the seed's black hole. Every published-port
  TCP connection completes its handshake (`connected: true`: dockerd holds the port) and
  then nothing arrives; UDP to the port vanishes. The container's own IP still works from
  the host and from outside.
"""


FINDINGS_V28 = """
## What the kernel did (Docker 28, against the 20.10 captures in fixtures/docker)

Observed on the run these files come from; the tables above are the record.

- The rules: FORWARD jumps to DOCKER-USER and DOCKER-FORWARD, which runs DOCKER-CT (per
  bridge `-o br --ctstate RELATED,ESTABLISHED -j ACCEPT`), DOCKER-ISOLATION-STAGE-1,
  DOCKER-BRIDGE (per bridge `-o br -j DOCKER`) and then `-i br -j ACCEPT`. Docker 28 also
  writes this skeleton into ip6tables (even with --iptables=false), although no network has
  IPv6 and net.ipv6.conf.all.forwarding stays 0.
- Direct access to containers (gateway mode `nat`, the default): raw PREROUTING drops
  `-d <container> ! -i <its bridge>` for every container, so a neighbour routing 172.16/12
  via the host no longer reaches a published container by its address (a, b, c, f, i:
  timeout; 20.10 delivered). A port published on 127.0.0.1 (f) gets raw drops
  `-d 127.0.0.1 ! -i lo --dport 8080` too.
- docker-proxy is started with `-use-listen-fd` (dockerd opens the socket). The socket of a
  `::` binding is IPv6-only (as in 20.10): IPv4 to a port published only on `::` is refused.
- --internal (e): since Docker 25 a container whose only network is internal has no default
  route (its endpoint's Gateway is empty): connect() off its subnet fails at once with
  ENETUNREACH ("Network is unreachable"), the host's services included; they stay reachable
  at the bridge's address (172.18.0.1:9090). dnlint still routes it via the gateway: see
  capture_docker.KNOWN_DISAGREEMENTS.
- --iptables=false --userland-proxy=false (k): dockerd holds the published TCP port with a
  listen backlog of 0 (`ss`: Send-Q 0): the first connection completes the handshake and
  waits in the queue forever, later ones time out (20.10 completed every handshake).
- Gateway mode `routed` (l): no DNAT and no MASQUERADE for the network. Outside reaches the
  published container port directly (172.18.0.2:80, tcp and udp, seen src 192.0.2.2), not
  an unpublished one (filter DOCKER `! -i br -o br -j DROP`); egress leaves with the
  container's own address (outside saw 172.18.0.3). The IPv4 binding of `-p 8080:80` has no
  host port and the `::` one is IPv6-only, so 192.0.2.1:8080 and 127.0.0.1:8080 are refused
  from everywhere. A container of docker0 reaches the published port by IP
  (DOCKER-ISOLATION-STAGE-1 `-o <routed bridge> -j RETURN`), seen src 172.18.0.1 (docker0's
  MASQUERADE), but not the unpublished one.
- Gateway mode `nat-unprotected` (m): published ports work as in NAT mode, but filter DOCKER
  `! -i br -o br -j ACCEPT` and no raw drops: outside reaches every port of every container
  of the network by its address (client:80, never published). Other networks stay isolated
  (docker0 -> 172.18.0.x dropped), and reach the published port through the host address.
- IPv6 (n, o: `--ipv6` network with fd00:db8:30::/64; dockerd turned
  net.ipv6.conf.all.forwarding on, the namespace starts with 0): ip6tables gets the IPv4
  rules' twins: raw drops `-d <container> ! -i br` (outside to a container's IPv6 address:
  timeout, published or not), filter DOCKER accepts the published port, nat DNATs
  `! -s fe80::/10 ! -i br --dport 8080`, and NAT66 `-s fd00:db8:30::/64 ! -o br -j
  MASQUERADE` (egress seen from 2001:db8:1::1). `-p 8080:80` listens on `[::]:8080`
  (docker-proxy, IPv6-only) next to 0.0.0.0:8080.
- IPv6 with the userland proxy (n): nat OUTPUT is `! -d ::1/128 -m addrtype --dst-type
  LOCAL -j DOCKER`, so [::1]:8080 is not DNATed: docker-proxy carries it (seen src
  fd00:db8:30::1, the gateway); the host's own 2001:db8:1::1:8080 is DNATed (seen src
  2001:db8:1::1); a container reaches the published port via the host address through
  the proxy (`-i br -j RETURN`).
- IPv6 without it (o): nat OUTPUT loses `! -d ::1/128` and POSTROUTING gains `-o br -m
  addrtype --src-type LOCAL -j MASQUERADE`, so [::1]:8080 is DNATed to the container and
  masqueraded: the UDP datagram arrives (seen src fd00:db8:30::1) but the answer, which
  conntrack turns back into one for ::1, dies on the bridge (the kernel drops ::1 on a
  non-loopback device; IPv6 has no route_localnet, and br_netfilter un-NATs before the IP
  layer's check), so TCP never completes its handshake (timeout). 127.0.0.1:8080 works in
  the same scenario (route_localnet=1 on the bridge). The hairpin through 2001:db8:1::1
  keeps the container's own source (fd00:db8:30::3), as in IPv4 (b).
"""

FINDINGS_PROBES = """
## Loopback, 0.0.0.0, UDP answers and routes back (both versions)

- A container's own 127.0.0.1 (and ::1) is its namespace's loopback: its listener on 0.0.0.0
  answers on port 80 (seen src 127.0.0.1), and the published port 8080 is refused at once
  (RST; ICMP port unreachable for UDP) whatever the host publishes: the host's DNAT and
  docker-proxy are not in that namespace.
- The host to 0.0.0.0 (::) is the host to 127.0.0.1 (::1): Linux sends the connect() over lo
  (seen src 127.0.0.1). A host service on 0.0.0.0 answers, and the published port behaves as
  on 127.0.0.1 (proxy: seen src the bridge gateway; with route_localnet=0 on the bridge (c)
  TCP times out and UDP's send() fails with EINVAL; with --iptables=false and no proxy (k),
  dockerd's held port; `routed` (l) publishes no host port: refused).
- A container reaches the host's services on every host address over TCP (its gateway, the
  uplink, docker0's gateway), except under INPUT policy DROP (i). Over UDP the host's socket
  (bound to 0.0.0.0) answers from the address of the route back, the container's own gateway:
  a connected socket that sent to the uplink or to docker0's gateway hears nothing (timeout),
  an unconnected one hears the answer from the gateway (`reply_from`).
- docker-proxy over UDP: 20.10's answers a container that asked the host's uplink address
  from the bridge address too (a, j: the connected socket times out, the unconnected one hears
  172.18.0.1); 28's answers from the address asked. Through the kernel's DNAT (no proxy,
  and 28's DNAT of the uplink address) conntrack turns the answer back into one from the
  address asked; the IPv6 loopback DNAT without the proxy (o) gets no answer at all.
- Without a route back at the outside host (p: --iptables=false, q: `routed`), un-NATed
  egress reaches outside from the container's own address (the UDP datagram is delivered,
  seen src 172.18.0.3) but nothing comes back: TCP times out, UDP gets no answer. With the
  route (j, k, l) both work.
"""

# what the captures of a dockerd of at least this major version showed
FINDINGS_BY_VERSION = {(20,): FINDINGS, (28,): FINDINGS_V28}


FINDINGS_UFW = """
## ufw on the Docker host (the ufw_* scenarios)

ufw 0.36.2 (Debian's package) ran inside the host namespace only, with its configuration in
a private copy (`ufw --rootdir=DIR --datadir=DIR`, tests/oracle/ufwhost.py); the system's
/etc/ufw was not read or written. Every ufw scenario has the same host rules (deny incoming,
allow 22/tcp and 9090/tcp, limit 2222/tcp) and containers: web (-p 8080:80 tcp+udp,
-p 8053:8053/udp), db (-p 5432:5432) and client (nothing published) on net1. Probes marked
"from source port 53" bound that port; "from a private source address" came from outside's
second address 10.99.0.2 (routed by the host via its default route, as a neighbour with an
RFC 1918 address on the uplink is).

- The trap (ufw_default): every published port, TCP and UDP, is reached from outside, and so
  is each published container port at the container's address; ufw's INPUT rules see none
  of it. They do decide the host's own services (9090/tcp allowed, 9090/udp and 9091 dropped,
  2222 under `ufw limit` admits a first connection), and they also drop a container's
  connection to a published port through the host address: with the userland proxy that
  connection is not DNATed (`-i br -j RETURN`) and meets INPUT on its way to docker-proxy.
- `ufw route` rules without the recipe (ufw_route_drop): ufw-user-forward is reached only from
  ufw-before-forward, after Docker's FORWARD rules have accepted every published container
  port, so `ufw route deny ... to <web> port 80` and `... to <db> port 5432` change nothing;
  `ufw route allow ... to <client> port 80,443` (multiport) does open the unpublished client
  to outside, since Docker's rules let that packet fall through to ufw's chains.
- `ufw default allow routed` (ufw_route_accept): ufw sets the FORWARD policy to ACCEPT and adds
  `ufw-track-forward -p tcp/udp --ctstate NEW -j ACCEPT`: outside then reaches any port of any
  container at its address. Enabled before dockerd (ufw_route_accept_ufw_first), the policy is
  DROP again (dockerd sets it when it turns ip_forward on), but ufw-track-forward still
  accepts, so the probes came out the same.
- The ufw-docker recipe (ufw_docker_fix, ufw_docker_fix_ufw_first: the same answers in both
  orders; dockerd 20.10 keeps the DOCKER-USER chain ufw wrote): an ordinary outside client
  reaches only what `ufw route allow proto tcp from any to any port 80` opens, and that is
  port 80 of every container by its post-DNAT port: web's 8080/tcp, and client:80 and db:80
  at their addresses although they publish nothing there. Closed for it: 8080/udp, 5432,
  8053/udp. But `--sport 53 --dport 1024:65535 -j RETURN` lets any datagram from source port
  53 through to a container port above 1023 (8053/udp, published or at the container's
  address), and `-s 10.0.0.0/8 -j RETURN` (and 172.16/12, 192.168/16) lets a neighbour with
  a private address reach every published port (10.99.0.2 reached 5432/tcp and 8080/udp).
- `--ctorigdstport 8080 --ctdir ORIGINAL -j RETURN` in DOCKER-USER (ufw_docker_ctorig) opens
  the published port 8080/tcp by the port the client connected to: web is reached through
  192.0.2.1:8080 but not at 172.18.0.2:80 (there the original port is 80), and nothing else
  is open to an ordinary client; the recipe's two holes stay.
"""

FINDINGS_UFW_V28 = """
- Docker 28 (these captures): raw PREROUTING drops `-d <container> ! -i <its bridge>`, so no
  ufw setting opens a container's own address to outside any more: `ufw route allow ... port
  80`, `ufw route allow ... to <client>` and `ufw default allow routed` left client:80 and
  db:80 timing out, and the recipe's source-port-53 hole reaches 8053/udp only through the
  published port. Published ports behave as on 20.10: the trap without the recipe, and with
  it only `ufw route allow`'s port plus the two holes (source port 53, private sources).
  dockerd 28 also keeps the DOCKER-USER chain ufw wrote before it started (same answers in
  both orders), and sets the FORWARD policy to DROP under `ufw default allow routed` when it
  starts after ufw.
"""


def write_readme(outdir: Path) -> None:
    import platform
    import subprocess

    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except Exception:
            return "?"

    import os

    dirs = os.environ.get("DNLINT_DOCKERD_DIR", "")
    version_line = first([dockerd_binary(), "--version"])
    captured = sorted(outdir.glob("*.txt"))
    if captured:  # the daemon the captures came from, as their dumps name it
        for line in captured[0].read_text().splitlines()[:40]:
            if line.startswith("# dockerd: "):
                version_line = line[len("# dockerd: "):]
                dirs = dirs or ("fetched" if version_tuple(version_line)[:1] >= (28,) else "")
                break
    if dirs:
        command = ("    export DNLINT_DOCKERD_DIR=$(python3 -m tests.oracle.fetch_dockerd .cache/dockerd-sid)\n"
                   f"    .venv/bin/python -m tests.oracle.capture_docker {_rel(outdir)} [SCENARIO...]")
    else:
        command = f"    .venv/bin/python -m tests.oracle.capture_docker {_rel(outdir)} [SCENARIO...]"
    parts = [README_HEAD.format(version=version_line.replace("Docker version ", ""),
                                iptables=first(["iptables", "-V"]).replace("iptables ", ""),
                                kernel=platform.release(), command=command)]
    v6 = [sc.name for sc in SCENARIOS if sc.ipv6 and (outdir / f"{sc.name}.probes.json").exists()]
    if v6:
        parts[0] = parts[0].replace("\n## Scenarios\n", (
            f"\nIPv6 scenarios ({', '.join(v6)}) add IPv6 to the uplink: `host` {HOST_IP6}/64 (default "
            f"via {OUTSIDE_IP6}), `outside` {OUTSIDE_IP6}/64 routing fd00::/8 via the host; every "
            "listener above has an IPv6-only twin on `::` (same port, IPV6_V6ONLY), and `dnlint "
            "query` is asked an IPv6 probe from the outside as coming from "
            f"{OUTSIDE_IP6}.\n\n## Scenarios\n"))
    if dirs:
        parts[0] = parts[0].replace("\n## Scenarios\n", (
            f"\nThe daemon was not the installed one: Debian unstable's docker.io ({version_line}), "
            "fetched with tests/oracle/fetch_dockerd.py (apt-get download with a private sources "
            "list, unpacked with dpkg -x, nothing installed); DNLINT_DOCKERD_DIR put its dockerd, "
            "docker-proxy and docker CLI first on PATH (see tests/oracle/dockerhost.py).\n\n## Scenarios\n"))
    for sc in SCENARIOS:
        pj = outdir / f"{sc.name}.probes.json"
        if not pj.exists():
            continue
        probes = json.loads(pj.read_text())
        parts.append(f"\n### {sc.name}: {sc.title}\n\n")
        parts.append(f"dockerd flags: `{' '.join(sc.flags) or '(defaults)'}`\n")
        if not sc.route_back:
            parts.append("outside: no route back to 172.16.0.0/12\n")
        for n in sc.notes:
            parts.append(f"setup: `{n}`\n")
        parts.append("\n| from | to | proto | reached | delivered to | seen src | answer | note |\n"
                     "|---|---|---|---|---|---|---|---|\n")
        for p in probes:
            reached = "yes" if p["reached"] else (
                "no (handshake completed)" if p.get("connected") else f"no ({p.get('error') or 'no answer'})")
            to = f"[{p['to']}]" if ":" in p["to"] else p["to"]
            proto = p["proto"] + (" unconnected" if p.get("udp_socket") == "unconnected" else "")
            if p.get("reply") and p.get("reply_from"):
                answer = f"from {p['reply_from']}"
            else:
                answer = p.get("ended") or ""
            parts.append(f"| {p['from']} | {to}:{p['port']} | {proto} | {reached} | "
                         f"{p['delivered_to'] or ''} | {p['seen_src'] or ''} | {answer} | {p['note']} |\n")
    major = version_tuple(version_line)[:1]
    findings = [text for v, text in sorted(FINDINGS_BY_VERSION.items()) if major and major >= v]
    if findings:
        parts.append(findings[-1])
        parts.append(FINDINGS_PROBES)
    if any(outdir.glob("ufw_*.probes.json")):
        parts.append(FINDINGS_UFW + (FINDINGS_UFW_V28 if major and major >= (28,) else ""))
    (outdir / "README.md").write_text("".join(parts))


def _rel(outdir: Path) -> str:
    try:
        return str(Path(outdir).resolve().relative_to(Path(__file__).resolve().parents[2]))
    except ValueError:
        return str(outdir)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(__doc__)
        return 2
    outdir = Path(argv[0])
    names = argv[1:]
    for reason in (netns_unavailable(), docker_unavailable()):
        if reason:
            print(f"cannot capture: {reason}", file=sys.stderr)
            return 2
    todo = [s for s in SCENARIOS if not names or s.name in names or s.name.split("_")[0] in names]
    unknown = set(names) - {s.name for s in SCENARIOS} - {s.name.split("_")[0] for s in SCENARIOS}
    if unknown:
        print(f"unknown scenarios: {sorted(unknown)}; have {[s.name for s in SCENARIOS]}", file=sys.stderr)
        return 2
    version = installed_dockerd_version()
    too_new = [s for s in todo if not s.supported(version)]
    for sc in too_new:
        print(f"skipping {sc.name}: " + ((sc.requires and sc.requires()) or (
              f"needs dockerd >= {'.'.join(map(str, sc.min_version))}, "
              f"{dockerd_binary()} is {'.'.join(map(str, version)) or 'of an unknown version'}")),
              file=sys.stderr)
    todo = [s for s in todo if s not in too_new]
    failed = []
    for sc in todo:
        print(f"== {sc.name}: {sc.title}", flush=True)
        try:
            run_scenario(sc, outdir, log=lambda m: print(m, flush=True))
        except Exception as exc:  # keep going with the next scenario
            failed.append(sc.name)
            print(f"{sc.name} FAILED: {exc}", file=sys.stderr, flush=True)
    write_readme(outdir)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
