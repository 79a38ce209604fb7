"""Host-fact parsers: ip addr/link, ip route, sysctl, ss/netstat, ps, docker inspect.

Fixtures under fixtures/facts/ were captured in network namespaces on a real host (see
fixtures/facts/README.md); the old CentOS 7 / Docker 1.10 formats come from the seed
(shared/seeds/000_29b6bfea377fc894.txt) as inline strings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnlint.ir import Severity
from dnlint.parse.facts.addr import parse_ip_addr
from dnlint.parse.facts.docker import parse_docker_json
from dnlint.parse.facts.listeners import parse_listeners
from dnlint.parse.facts.ps import docker_proxies, dockerd_flags, parse_ps
from dnlint.parse.facts.route import parse_ip_route
from dnlint.parse.facts.sysctl import parse_sysctl, proc_path_to_key, sysctl_iface_key
from dnlint.source import Text

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "facts"


def fx(name: str) -> Text:
    path = FIX / name
    return Text(str(path), path.read_text().splitlines())


def s(data: str, indent: int = 0, first_line: int = 1) -> Text:
    return Text("dump.txt", data.splitlines(), first_line=first_line, indent=indent)


def by(items, attr):
    return {getattr(i, attr): i for i in items}


# --------------------------------------------------------------------------- ip addr


def test_ip_addr_full():
    (ifaces, addrs), diags = parse_ip_addr(fx("ip_addr.txt"))
    assert diags == []
    names = [i.name for i in ifaces]
    assert names == ["lo", "eth0", "br-064f9014c32c", "vethc1", "ptp0", "eth0.100"]
    i = by(ifaces, "name")
    assert i["eth0"].index == 2 and i["eth0"].state == "UP" and i["eth0"].mtu == 1500
    assert i["eth0"].mac == "9e:aa:67:1f:fb:9c"
    assert "LOWER_UP" in i["eth0"].flags
    assert i["vethc1"].master == "br-064f9014c32c"  # `vethc1@if5`: suffix dropped
    assert i["br-064f9014c32c"].state == "DOWN"
    got = {(a.iface, a.cidr, a.family, a.scope) for a in addrs}
    assert ("eth0", "10.10.50.99/24", 4, "global") in got
    assert ("eth0", "10.10.50.100/24", 4, "global") in got  # label eth0:1 -> link eth0
    assert ("eth0", "2001:db8::99/64", 6, "global") in got
    assert ("lo", "::1/128", 6, "host") in got
    assert ("br-064f9014c32c", "172.18.0.1/16", 4, "global") in got
    ptp = [a for a in addrs if a.iface == "ptp0" and a.family == 4][0]
    assert ptp.cidr == "10.0.0.1/32" and ptp.peer == "10.0.0.2/32"
    eth0 = [a for a in addrs if a.cidr == "10.10.50.99/24"][0]
    assert eth0.broadcast == "10.10.50.255"
    assert str(eth0.span).endswith("ip_addr.txt:9:5")


def test_ip_addr_docker_details_kind_and_master():
    (ifaces, addrs), diags = parse_ip_addr(fx("docker_ip_d_addr.txt"))
    assert diags == []
    i = by(ifaces, "name")
    assert i["docker0"].kind == "bridge"
    assert i["br-f531347ff133"].kind == "bridge"
    assert i["veth28a9736"].kind == "veth"  # not bridge_slave
    assert i["veth28a9736"].master == "br-f531347ff133"
    assert i["vethb8dada4"].master == "docker0"
    assert i["lo"].kind is None
    assert {(a.iface, a.cidr) for a in addrs if a.family == 4} == {
        ("lo", "127.0.0.1/8"), ("docker0", "172.17.0.1/16"),
        ("br-f531347ff133", "172.18.0.1/16"), ("br-3abecfe33f5e", "10.99.0.1/24")}


def test_ip_addr_without_details_has_no_kind():
    (ifaces, _), diags = parse_ip_addr(fx("docker_ip_addr.txt"))
    assert diags == [] and all(i.kind is None for i in ifaces)


@pytest.mark.parametrize("name", ["ip_o_addr.txt", "ip_4_o_addr.txt"])
def test_ip_o_addr(name):
    (ifaces, addrs), diags = parse_ip_addr(fx(name))
    assert diags == []
    got = {(a.iface, a.cidr) for a in addrs}
    assert ("eth0", "10.10.50.99/24") in got and ("eth0.100", "192.168.100.1/24") in got
    assert ("ptp0", "10.0.0.1/32") in got
    assert by(ifaces, "name")["eth0"].index == 2
    if name == "ip_4_o_addr.txt":
        assert {a.family for a in addrs} == {4}
    else:
        assert ("eth0", "2001:db8::99/64") in got


def test_ip_6_addr():
    (_, addrs), diags = parse_ip_addr(fx("ip_6_addr.txt"))
    assert diags == [] and {a.family for a in addrs} == {6}
    assert ("eth0", "2001:db8::99/64") in {(a.iface, a.cidr) for a in addrs}


def test_ip_d_addr_namespace():
    (ifaces, _), diags = parse_ip_addr(fx("ip_d_addr.txt"))
    assert diags == []
    i = by(ifaces, "name")
    assert i["br-064f9014c32c"].kind == "bridge"
    assert i["vethc1"].kind == "veth" and i["vethc1"].master == "br-064f9014c32c"


@pytest.mark.parametrize("name", ["ip_link.txt", "ip_o_link.txt"])
def test_ip_link(name):
    (ifaces, addrs), diags = parse_ip_addr(fx(name))
    assert diags == [] and addrs == []
    i = by(ifaces, "name")
    assert set(i) == {"lo", "eth0", "br-064f9014c32c", "vethc1", "ptp0", "eth0.100"}
    assert i["vethc1"].master == "br-064f9014c32c"
    assert i["ptp0"].mac == "d2:9c:4a:c2:3c:a7" and i["lo"].mtu == 65536


def test_ip_br_addr():
    (ifaces, addrs), diags = parse_ip_addr(fx("ip_br_addr.txt"))
    assert diags == []
    assert by(ifaces, "name")["eth0"].state == "UP"
    got = {(a.iface, a.cidr, a.family) for a in addrs}
    assert ("eth0", "10.10.50.100/24", 4) in got and ("eth0", "2001:db8::99/64", 6) in got
    ptp = [a for a in addrs if a.iface == "ptp0" and a.family == 4][0]
    assert ptp.cidr == "10.0.0.1/32" and ptp.peer == "10.0.0.2/32"


def test_ip_addr_bad_line_continues_and_positions():
    data = (
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n"
        "    inet 127.0.0.1/8 scope host lo\n"
        "%% this is not ip output\n"
        "2: eth0: <BROADCAST,UP> mtu 1500 master br0 state UP\n"
        "    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\n"
        "    inet 10.0.0.6\n"
    )
    (ifaces, addrs), diags = parse_ip_addr(s(data, indent=4, first_line=10))
    assert [d.code for d in diags] == ["DN001"]
    assert diags[0].span.line == 12 and diags[0].span.col == 5
    assert "ip addr" in diags[0].message
    assert [i.name for i in ifaces] == ["lo", "eth0"] and ifaces[1].master == "br0"
    assert [a.cidr for a in addrs] == ["127.0.0.1/8", "10.0.0.5/24", "10.0.0.6/32"]


def test_ip_addr_family_mismatch_is_reported():
    data = "1: x: <UP> mtu 1\n    inet6 10.0.0.1/8 scope global\n"
    (_, addrs), diags = parse_ip_addr(s(data))
    assert addrs == [] and diags[0].code == "DN001" and diags[0].span.line == 2


# --------------------------------------------------------------------------- ip route


def test_ip_route_table_all():
    routes, diags = parse_ip_route(fx("ip_route_table_all.txt"))
    assert diags == []
    r4 = [r for r in routes if r.family == 4]
    default = [r for r in r4 if r.dst == "default"][0]
    assert (default.via, default.dev, default.metric, default.table, default.type) == (
        "10.10.50.1", "eth0", 100, "main", "unicast")
    types = {(r.type, r.dst, r.table) for r in routes}
    assert ("blackhole", "198.51.100.0/24", "main") in types
    assert ("unreachable", "203.0.113.0/24", "main") in types
    assert ("prohibit", "203.0.113.128/25", "main") in types
    assert ("throw", "192.0.2.0/24", "100") in types
    assert ("anycast", "10.10.50.0", "local") in types
    assert ("local", "127.0.0.0/8", "local") in types
    assert ("broadcast", "10.10.50.255", "local") in types
    assert ("multicast", "ff00::/8", "local") in types
    prohibit = [r for r in routes if r.type == "prohibit"][0]
    assert prohibit.metric == 5
    t100 = [r for r in routes if r.dst == "192.0.3.0/24"][0]
    assert (t100.table, t100.via, t100.proto) == ("100", "10.10.50.2", "static")
    local = [r for r in routes if r.type == "local" and r.dst == "10.10.50.100"][0]
    assert (local.dev, local.src, local.scope, local.proto) == ("eth0", "10.10.50.99", "host", "kernel")
    # both families in one `show table all`
    assert any(r.family == 6 and r.dst == "default" and r.via == "2001:db8::1" for r in routes)


def test_ip_route_multipath_keeps_first_and_records_rest():
    routes, diags = parse_ip_route(fx("ip_route.txt"))
    assert diags == []
    mp = [r for r in routes if r.dst == "100.64.0.0/10"]
    assert [(r.via, r.dev) for r in mp] == [("10.10.50.2", "eth0"), ("10.10.50.3", "eth0")]
    assert all(r.proto == "static" and r.span.line == 5 for r in mp)
    # the route after the nexthop lines is read normally
    nxt = routes[routes.index(mp[-1]) + 1]
    assert nxt.dst == "172.18.0.0/16" and nxt.dev == "br-064f9014c32c" and nxt.via is None


def test_ip6_route():
    routes, diags = parse_ip_route(fx("ip6_route_table_all.txt"), family=6)
    assert diags == [] and {r.family for r in routes} == {6}
    mp = [r for r in routes if r.dst == "2001:db8:1::/64"]
    assert [r.via for r in mp] == ["2001:db8::2", "2001:db8::3"] and mp[0].metric == 1024
    bh = [r for r in routes if r.type == "blackhole"][0]
    assert bh.dst == "2001:db8:dead::/48" and bh.dev == "lo"


def test_ip_route_inline_formats():
    data = (
        "default via fe80::1 dev eth0 proto ra metric 1024 expires 1798sec hoplimit 64 pref medium\n"
        "local 10.1.1.1 dev eth0 table 255 proto kernel scope host src 10.1.1.1\n"
        "10.9.0.0/16 via inet6 fe80::2 dev eth1 table 254\n"
        "default table 200 nexthop via 10.0.0.1 dev a weight 1 nexthop via 10.0.0.2 dev b weight 1\n"
        "unreachable ::/96 dev lo metric 1024 error -113 pref medium\n"
        "this is not a route\n"
        "    nexthop via 1.2.3.4 dev x\n"
    )
    routes, diags = parse_ip_route(s(data))
    assert routes[0].family == 6 and routes[0].dst == "default" and routes[0].proto == "ra"
    assert routes[1].table == "local" and routes[1].type == "local"
    assert routes[2].table == "main" and routes[2].via == "fe80::2" and routes[2].family == 4
    assert [(r.via, r.dev, r.table) for r in routes[3:5]] == [("10.0.0.1", "a", "200"), ("10.0.0.2", "b", "200")]
    assert routes[5].type == "unreachable" and routes[5].family == 6
    assert [(d.code, d.span.line) for d in diags] == [("DN001", 6), ("DN001", 7)]


def test_ip_route_bad_destination():
    routes, diags = parse_ip_route(s("10.0.0.0/33 dev eth0\n10.0.0.0/8 dev eth0\n"))
    assert [r.dst for r in routes] == ["10.0.0.0/8"]
    assert diags[0].code == "DN001" and diags[0].span.line == 1


# --------------------------------------------------------------------------- sysctl


def test_sysctl_a():
    vals, diags = parse_sysctl(fx("sysctl_a.txt"))
    assert diags == []
    d = {v.key: v.value for v in vals}
    assert d["net.ipv4.ip_forward"] == "0"
    assert d["net.ipv4.conf.br-064f9014c32c.route_localnet"] == "0"
    assert d["net.ipv4.conf.eth0/100.route_localnet"] == "0"
    assert sysctl_iface_key(4, "eth0.100", "route_localnet") in d
    assert d[sysctl_iface_key(6, "eth0", "disable_ipv6")] == "0"


def test_sysctl_docker_host():
    vals, diags = parse_sysctl(fx("docker_sysctl.txt"))
    assert diags == []
    d = {v.key: v.value for v in vals}
    assert d["net.ipv4.ip_forward"] == "1"
    assert d["net.bridge.bridge-nf-call-iptables"] == "1"
    assert d[sysctl_iface_key(4, "docker0", "route_localnet")] == "0"


def test_sysctl_proc_grep_normalises_dotted_iface():
    vals, diags = parse_sysctl(fx("proc_sys_grep.txt"))
    assert diags == []
    keys = [v.key for v in vals]
    assert "net.ipv4.ip_forward" in keys
    assert "net.ipv4.conf.eth0/100.route_localnet" in keys  # from .../conf/eth0.100/...
    assert "net.ipv4.conf.br-064f9014c32c.route_localnet" in keys
    assert proc_path_to_key("/proc/sys/net/ipv4/conf/eth0.100/rp_filter") == "net.ipv4.conf.eth0/100.rp_filter"


def test_sysctl_forms_and_errors():
    data = (
        "net.ipv4.conf.br-064f9014c32c.route_localnet = 1\n"
        "net.ipv4.ip_forward=1\n"
        "net.ipv4.ip_local_port_range = 32768\t60999\n"
        "# a comment\n"
        "sysctl: cannot stat /proc/sys/net/ipv4/conf/nope/route_localnet: No such file or directory\n"
        "= 5\n"
        "kernel.hostname =\n"
        "/proc/sys/net/ipv4/conf/all/route_localnet:1\n"
    )
    vals, diags = parse_sysctl(s(data, indent=5))
    d = {v.key: v.value for v in vals}
    assert d == {
        "net.ipv4.conf.br-064f9014c32c.route_localnet": "1",
        "net.ipv4.ip_forward": "1",
        "net.ipv4.ip_local_port_range": "32768\t60999",
        "kernel.hostname": "",
        "net.ipv4.conf.all.route_localnet": "1",
    }
    assert [(x.code, x.span.line, x.span.col) for x in diags] == [("DN001", 6, 6)]
    assert vals[0].span.line == 1 and vals[0].span.col == 6
    assert sysctl_iface_key(4, "br-064f9014c32c", "route_localnet") == \
        "net.ipv4.conf.br-064f9014c32c.route_localnet"


# --------------------------------------------------------------------------- listeners


def L(listeners):
    return {(x.proto, x.address, x.port, x.family, x.process, x.pid) for x in listeners}


def test_ss_tulnp_namespace():
    ls, diags = parse_listeners(fx("ss_tulnp.txt"))
    assert diags == []
    assert L(ls) == {
        ("udp", "127.0.0.1", 53, 4, "python3", 6669),  # 127.0.0.1%lo:53
        ("udp", "*", 5353, 6, "python3", 6669),
        ("tcp", "127.0.0.1", 25, 4, "python3", 6669),
        ("tcp", "127.0.0.1", 8081, 4, "busybox", 6668),
        ("tcp", "::ffff:127.0.0.1", 8443, 6, "python3", 6669),
        ("tcp", "*", 22, 6, "python3", 6669),
        ("tcp", "*", 80, 6, "busybox", 6667),
        ("tcp", "2001:db8::99", 443, 6, "python3", 6669),
    }


@pytest.mark.parametrize("name", ["ss_tlnp.txt", "ss_lntp.txt", "ss_tlp.txt"])
def test_ss_tcp_variants(name):
    ls, diags = parse_listeners(fx(name))
    assert diags == []
    ports = {(x.address, x.port) for x in ls}
    assert ports == {("127.0.0.1", 25), ("127.0.0.1", 8081), ("::ffff:127.0.0.1", 8443),
                     ("*", 22), ("*", 80), ("2001:db8::99", 443)}
    assert all(x.proto == "tcp" and x.pid for x in ls)


def test_ss_without_p_and_v6_only():
    ls, diags = parse_listeners(fx("ss_lnt.txt"))
    assert diags == [] and len(ls) == 6 and all(x.pid is None and x.process is None for x in ls)
    ls6, diags = parse_listeners(fx("ss_tlpn_6.txt"))
    assert diags == [] and {x.family for x in ls6} == {6}


def test_ss_docker_proxy_and_daemon():
    ls, diags = parse_listeners(fx("docker_ss_tulnp.txt"))
    assert diags == []
    assert ("tcp", "::", 8080, 6, "docker-proxy", 5576) in L(ls)
    assert ("udp", "127.0.0.1", 5353, 4, "docker-proxy", 5588) in L(ls)
    ls, _ = parse_listeners(fx("docker_noproxy_ss_tulnp.txt"))
    assert {(x.port, x.process, x.pid) for x in ls} == {(5353, "dockerd", 7400), (8080, "dockerd", 7400),
                                                       (9000, "dockerd", 7400)}


@pytest.mark.parametrize("name", ["netstat_tlnp.txt", "netstat_tulpn.txt"])
def test_netstat(name):
    ls, diags = parse_listeners(fx(name))
    assert diags == []
    got = L(ls)
    assert ("tcp", "::", 80, 6, "busybox", 6667) in got
    assert ("tcp", "127.0.0.1", 8443, 6, "python3", 6669) in got  # tcp6 row, v4-mapped
    assert ("tcp", "2001:db8::99", 443, 6, "python3", 6669) in got
    if name == "netstat_tulpn.txt":
        assert ("udp", "::", 5353, 6, "python3", 6669) in got
        assert ("udp", "127.0.0.1", 53, 4, "python3", 6669) in got


def test_netstat_docker_host():
    ls, diags = parse_listeners(fx("docker_netstat_tulpn.txt"))
    assert diags == [] and ("tcp", "0.0.0.0", 9000, 4, "docker-proxy", 5776) in L(ls)


SEED_SS = """\
[root@centos7-node4 ~]# ss -tlp src :80
State      Recv-Q Send-Q                                                      Local Address:Port                                                          Peer Address:Port   
LISTEN     0      128                                                                    :::http                                                                    :::*        users:(("httpd",25213,4),("httpd",25212,4),("httpd",25211,4),("httpd",25210,4),("httpd",25209,4),("httpd",25208,4))
LISTEN     0      128                                                                    *:ssh                                                                    *:*        users:(("sshd",1102,3))
"""


def test_ss_old_centos7_formats():
    text = s("\n".join(SEED_SS.splitlines()[1:]))
    ls, diags = parse_listeners(text)
    assert diags == []
    assert L(ls) == {("tcp", "::", 80, 6, "httpd", 25213), ("tcp", "*", 22, 4, "sshd", 1102)}
    ls, _ = parse_listeners(s(
        "LISTEN     3      128       :::80        :::*      users:((\"docker\",32266,13))\n"))
    assert L(ls) == {("tcp", "::", 80, 6, "docker", 32266)}
    ls, _ = parse_listeners(s("tcp6       0      0 :::80                   :::*                    LISTEN      25452/docker\n"))
    assert L(ls) == {("tcp", "::", 80, 6, "docker", 25452)}


def test_listeners_odd_rows():
    data = (
        "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
        "tcp   LISTEN 0      4096   [::]:80 [::]:*\n"
        "tcp   ESTAB  0      0      10.0.0.1:22 10.0.0.9:5000\n"
        "u_str LISTEN 0      4096   /run/docker.sock 1234 * 0\n"
        "tcp   LISTEN 0      4096   0.0.0.0:frobnicate 0.0.0.0:*\n"
        "what is this\n"
        "udp   UNCONN 0      0      *:* *:*\n"
    )
    ls, diags = parse_listeners(s(data))
    assert [(x.address, x.port, x.family) for x in ls] == [("::", 80, 6), ("0.0.0.0", 0, 4), ("*", 0, 6)]
    assert [(d.code, d.span.line, d.severity) for d in diags] == [
        ("DN001", 5, Severity.WARNING), ("DN001", 6, Severity.ERROR)]
    assert "frobnicate" in diags[0].message


# --------------------------------------------------------------------------- ps


@pytest.mark.parametrize("name", ["ps_aux.txt", "ps_ef.txt", "ps_eo_pid_args.txt",
                                  "ps_eo_pid_comm_args.txt", "docker_ps_aux.txt", "docker_ps_eo.txt"])
def test_ps_formats(name):
    procs, diags = parse_ps(fx(name))
    assert diags == []
    p = {x.pid: x for x in procs}
    assert p[5324].program == "dockerd" and p[5324].args[:2] == ("--data-root", "/tmp/dfacts/data")
    assert p[5570].program == "docker-proxy"
    assert p[5570].command.startswith("/usr/sbin/docker-proxy -proto tcp")
    assert dockerd_flags(procs)["--storage-driver"] == "vfs"
    assert dockerd_flags(procs)["--host"] == "unix:///tmp/dfacts/sock"
    assert {"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080, "container_ip": "172.18.0.2",
            "container_port": 80, "pid": 5570} in docker_proxies(procs)
    if name in ("ps_aux.txt", "ps_eo_pid_args.txt"):
        assert p[2].program == "[kthreadd]" and p[2].args == ()


def test_ps_defunct_and_span():
    procs, _ = parse_ps(fx("docker_ps_aux.txt"))
    z = [x for x in procs if x.pid == 5697][0]
    assert z.program == "[containerd-shim]" and z.args == ("<defunct>",)
    assert procs[0].span.col == 66  # where the command starts in a `ps aux` row
    assert [x["host_ip"] for x in docker_proxies(procs)].count("::") == 2


def test_ps_dockerd_no_proxy_flags():
    procs, diags = parse_ps(fx("docker_noproxy_ps_eo.txt"))
    assert diags == []
    f = dockerd_flags(procs)
    assert f["--userland-proxy"] is False and f["--iptables"] is False and f["--ip-masq"] is False
    assert f["--bip"] == "172.30.0.1/16" and "--icc" not in f
    assert docker_proxies(procs) == []


SEED_PS = """\
root     25452  0.9  0.8 588224 31504 ?        Ssl  15:26   0:02 /usr/bin/docker daemon --iptables=true --userland-proxy=false -H fd:// --registry-mirror=http://56fa04c3.m.daocloud.io
root     24456  0.0  0.4 199476 17024 ?        Sl   14:29   0:00 docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 80 -container-ip 172.17.0.2 -container-port 80
"""


def test_ps_seed_old_docker_daemon_and_proxy():
    procs, diags = parse_ps(s(SEED_PS, indent=4, first_line=100))
    assert diags == []
    assert procs[0].pid == 25452 and procs[0].program == "docker" and procs[0].args[0] == "daemon"
    f = dockerd_flags(procs)
    assert f == {"--iptables": True, "--userland-proxy": False, "--host": "fd://",
                 "--registry-mirror": "http://56fa04c3.m.daocloud.io"}
    assert docker_proxies(procs) == [{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 80,
                                      "container_ip": "172.17.0.2", "container_port": 80, "pid": 24456}]
    assert procs[1].span.line == 101


def test_ps_bare_command_lines_and_flag_forms():
    data = (
        "/usr/bin/docker daemon --iptables=false --userland-proxy=false\n"
        "dockerd --icc --ip-forward=false --bip 10.1.0.1/24 --userland-proxy-path /usr/libexec/dp --debug\n"
        "docker-proxy --proto udp --host-ip=127.0.0.1 --host-port 53 --container-ip 10.1.0.2 --container-port=53\n"
        "{{ not a command }}\n"
        "  PID COMMAND\n"
        "  42 /sbin/init splash\n"
    )
    procs, diags = parse_ps(s(data))
    assert [(d.code, d.span.line) for d in diags] == [("DN001", 4)]
    assert procs[0].pid is None and procs[0].program == "docker"
    assert dockerd_flags(procs) == {"--iptables": False, "--userland-proxy": False}
    f = dockerd_flags(procs[1:])
    assert f == {"--icc": True, "--ip-forward": False, "--bip": "10.1.0.1/24",
                 "--userland-proxy-path": "/usr/libexec/dp", "--debug": True}
    assert docker_proxies(procs) == [{"proto": "udp", "host_ip": "127.0.0.1", "host_port": 53,
                                      "container_ip": "10.1.0.2", "container_port": 53, "pid": None}]
    assert procs[-1].pid == 42 and procs[-1].program == "init" and procs[-1].args == ("splash",)
    assert dockerd_flags([]) == {}


# --------------------------------------------------------------------------- docker JSON


def test_docker_network_inspect():
    (nets, ctrs), diags = parse_docker_json(fx("docker_network_inspect.json"))
    assert diags == [] and ctrs == []
    n = by(nets, "name")
    assert n["bridge"].bridge == "docker0" and n["bridge"].subnets == ("172.17.0.0/16",)
    assert n["appnet"].bridge == "br-f531347ff133" and n["appnet"].subnets == ("172.18.0.0/16",)
    assert n["backend"].internal is True and n["appnet"].internal is False
    assert n["backend"].bridge == "br-3abecfe33f5e" and n["backend"].driver == "bridge"
    eps = {(e.container, e.ipv4, e.mac) for e in n["backend"].endpoints}
    assert eps == {("web", "10.99.0.2/24", "02:42:0a:63:00:02"), ("db", "10.99.0.3/24", "02:42:0a:63:00:03")}
    assert ("com.docker.network.bridge.name", "docker0") in n["bridge"].options
    assert n["bridge"].span.line == 2 and n["appnet"].span.line == 44


def test_docker_inspect_containers():
    (nets, ctrs), diags = parse_docker_json(fx("docker_inspect.json"))
    assert diags == [] and nets == []
    c = by(ctrs, "name")
    assert set(c) == {"web", "db", "plain"}
    web = c["web"]
    assert web.running is True and web.network_mode == "appnet" and web.id.startswith("2ed3210c66cd")
    ports = {(p.container_port, p.proto, p.host_ip, p.host_port) for p in web.ports}
    assert ports == {(80, "tcp", "0.0.0.0", 8080), (80, "tcp", "::", 8080), (53, "udp", "127.0.0.1", 5353)}
    eps = {e.network: e for e in web.endpoints}
    assert eps["appnet"].ipv4 == "172.18.0.2/16" and "www" in eps["appnet"].aliases
    assert eps["backend"].ipv4 == "10.99.0.2/24"
    assert eps["appnet"].gateway == "172.18.0.1" and eps["backend"].gateway == "10.99.0.1"
    assert eps["appnet"].gateway6 == ""  # the field says: no IPv6 gateway
    assert c["plain"].network_mode == "default" and c["plain"].endpoints[0].network == "bridge"
    assert c["db"].ports == ()
    assert c["web"].span.line == 2 and c["db"].span.line == 252


def test_docker_inspect_stopped_uses_port_bindings():
    (_, ctrs), diags = parse_docker_json(fx("docker_inspect_stopped.json"))
    assert diags == []
    c = by(ctrs, "name")
    assert c["plain"].running is False
    assert {(p.container_port, p.host_ip, p.host_port) for p in c["plain"].ports} == {(9000, "0.0.0.0", 9000)}
    assert c["db"].endpoints[0].ipv4 is None


def test_docker_json_several_arrays_indented_and_errors():
    data = (
        "\t[\n"
        '\t    {"Name": "x", "Driver": "bridge", "Id": "0123456789abcdef0",\n'
        '\t     "IPAM": {"Config": [{"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.1"}]}}\n'
        "\t]\n"
        "\tError: No such network: nope\n"
        "\t[\n"
        '\t    {"Name": "bad",, }\n'
        "\t]\n"
        '\t[{"Name": "/c1", "State": {"Running": false},\n'
        '\t  "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]}},\n'
        '\t  "NetworkSettings": {"Ports": {"443/tcp": null}}},\n'
        '\t {"RepoTags": ["busybox:local"]}]\n'
        '\t{"Name": "host", "Driver": "host", "IPAM": {"Config": []}, "Internal": false}\n'
    )
    (nets, ctrs), diags = parse_docker_json(s(data, indent=0, first_line=20))
    assert [(n.name, n.bridge, n.subnets, n.gateways, n.span.line) for n in nets] == [
        ("x", "br-0123456789ab", ("10.1.0.0/16",), ("10.1.0.1",), 21), ("host", None, (), (), 32)]
    assert [(c.name, c.running, c.span.line) for c in ctrs] == [("c1", False, 28)]
    assert [(p.container_port, p.host_ip, p.host_port) for p in ctrs[0].ports] == [(80, "0.0.0.0", 0)]
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [
        ("DN001", 24, 2), ("DN001", 26, 21), ("DN001", 31, 3)]
    assert diags[2].severity is Severity.INFO


def test_docker_old_style_container():
    data = ('[{"Id": "abc", "Name": "/old", "State": {"Running": true}, "HostConfig": {},'
            ' "NetworkSettings": {"IPAddress": "172.17.0.5", "IPPrefixLen": 16, "Ports": {}}}]')
    (_, ctrs), diags = parse_docker_json(s(data))
    assert diags == []
    assert ctrs[0].endpoints[0].network == "bridge" and ctrs[0].endpoints[0].ipv4 == "172.17.0.5/16"


# --------------------------------------------------------------------------- robustness

PARSERS = [
    lambda t: parse_ip_addr(t),
    lambda t: parse_ip_route(t),
    lambda t: parse_ip_route(t, family=6),
    lambda t: parse_sysctl(t),
    lambda t: parse_listeners(t),
    lambda t: parse_ps(t),
    lambda t: parse_docker_json(t),
]

_alphabet = st.sampled_from(list("abcdefx0123456789 :./[]{}\",=%@<>-_*()\\\t") + ["\n", "inet ", "inet6 ",
                            "LISTEN ", "users:((", "nexthop ", "local ", "default ", "[{", "1: ",
                            "tcp6 ", "/proc/sys/", "docker-proxy -proto ", "\"Name\":"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(_alphabet, max_size=80).map("".join)))
def test_parsers_never_raise(data):
    text = s(data)
    for parse in PARSERS:
        result, diags = parse(text)
        assert isinstance(diags, list)
        for d in diags:
            assert d.code == "DN001"
            assert d.span is None or d.span.line >= 1


@pytest.mark.parametrize("name", sorted(p.name for p in FIX.glob("*") if p.suffix in (".txt", ".json")))
def test_parsers_never_raise_on_every_fixture(name):
    text = fx(name)
    for parse in PARSERS:
        parse(text)


def test_listener_v6only_from_the_way_ss_prints_wildcards():
    from dnlint.parse.facts.listeners import parse_listeners
    from dnlint.source import Text

    modern = Text.from_string(
        "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
        'LISTEN 0      4096         0.0.0.0:8080      0.0.0.0:*     users:(("docker-proxy",pid=10,fd=4))\n'
        'LISTEN 0      4096            [::]:8080         [::]:*     users:(("docker-proxy",pid=11,fd=4))\n'
        'LISTEN 0      4096               *:9090            *:*     users:(("app",pid=12,fd=3))\n'
    )
    ls, _ = parse_listeners(modern)
    assert [(x.address, x.v6only) for x in ls] == [("0.0.0.0", None), ("::", True), ("*", False)]
    old = Text.from_string(
        "State      Recv-Q Send-Q   Local Address:Port     Peer Address:Port\n"
        'LISTEN     0      128      :::80                  :::*      users:(("docker",25452,13))\n'
    )
    ls, _ = parse_listeners(old)
    assert [(x.address, x.v6only) for x in ls] == [("::", False)]


def test_ipset_save_and_list_formats():
    from dnlint.parse.facts.ipset import parse_ipset
    from dnlint.source import Text

    sets, diags = parse_ipset(Text.from_string(
        "create blk hash:net family inet hashsize 1024 maxelem 65536\nadd blk 10.0.0.0/8\nadd blk 192.0.2.7\n"
        "create v6 hash:ip family inet6\nadd v6 2001:db8::1\nbogus line\n"))
    assert [(s.name, s.type, s.family, s.members) for s in sets] == [
        ("blk", "hash:net", 4, ("10.0.0.0/8", "192.0.2.7")), ("v6", "hash:ip", 6, ("2001:db8::1",))]
    assert [d.span.line for d in diags] == [6]
    sets, diags = parse_ipset(Text.from_string(
        "Name: allowed\nType: hash:ip\nRevision: 4\nHeader: family inet hashsize 1024 maxelem 65536\n"
        "Size in memory: 296\nReferences: 1\nNumber of entries: 2\nMembers:\n10.1.1.1\n10.1.1.2\n\n"
        "Name: short\nType: hash:net\nHeader: family inet\n"))
    assert [(s.name, s.members, s.complete) for s in sets] == [
        ("allowed", ("10.1.1.1", "10.1.1.2"), True), ("short", (), False)]
    assert not diags
