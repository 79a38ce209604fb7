"""Wrap a gen_rules.py ruleset into a host dump that queries can resolve endpoints against.

    python bench/gen_host.py 100000 -o /tmp/kube-100k.dump [--seed 1]

The dump is a Kubernetes node (flannel-like): ``eth0`` 203.0.113.10/24 with the default
route, a ``cni0`` bridge 10.244.0.1/24 for this node's pods, ``flannel.1`` routing the
rest of the pod network 10.244.0.0/16, plus ``### ip -o addr``, ``### ip -d link show``,
``### ip route show table all``, ``### sysctl ...`` and ``### ss -tulnp`` sections.

The iptables part is gen_rules.py's output unchanged except for the filter INPUT chain,
which gets a hardened node's policy (``DROP``) and a few ACCEPTs after kube-proxy's jumps
(loopback, established, ssh, kubelet, the NodePort range), so that "outside to a port
nothing allows" has an answer other than "the kernel accepts it". ``describe(text)``
picks the endpoints the query benchmark asks about (a NodePort, a service with several
endpoints, a service without endpoints).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_rules import generate  # noqa: E402

HOST_IP = "203.0.113.10"
GATEWAY = "203.0.113.1"
OUTSIDE_IP = "198.51.100.7"  # a client on the internet (reached via the default route)
POD_IP = "10.244.0.5"  # a pod on this node, behind cni0

INPUT_EXTRA = [
    "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
    "-A INPUT -p tcp -m tcp --dport 10250 -j ACCEPT",
    "-A INPUT -p tcp -m tcp --dport 30000:32767 -j ACCEPT",
    "-A INPUT -p udp -m udp --dport 30000:32767 -j ACCEPT",
    "-A INPUT -i cni0 -j ACCEPT",
]

_FACTS = f"""### ip -o addr
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet {HOST_IP}/24 brd 203.0.113.255 scope global eth0\\       valid_lft forever preferred_lft forever
3: flannel.1    inet 10.244.0.0/32 scope global flannel.1\\       valid_lft forever preferred_lft forever
4: cni0    inet 10.244.0.1/24 brd 10.244.0.255 scope global cni0\\       valid_lft forever preferred_lft forever
### ip -d link show
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0 minmtu 0 maxmtu 0 addrgenmode eui64
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000
    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 68 maxmtu 9000 addrgenmode eui64
3: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default
    link/ether 6e:1c:0a:7d:11:22 brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 68 maxmtu 65535
    vxlan id 1 local {HOST_IP} dev eth0 srcport 0 0 dstport 8472 nolearning ttl auto ageing 300 addrgenmode eui64
4: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT group default qlen 1000
    link/ether 9a:3f:55:01:02:03 brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 68 maxmtu 65535
    bridge forward_delay 1500 hello_time 200 max_age 2000 ageing_time 30000 stp_state 0 priority 32768 vlan_filtering 0 addrgenmode eui64
### ip route show table all
default via {GATEWAY} dev eth0 proto dhcp src {HOST_IP} metric 100
10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
10.244.0.0/16 dev flannel.1 scope link
203.0.113.0/24 dev eth0 proto kernel scope link src {HOST_IP} metric 100
local 10.244.0.0 dev flannel.1 table local proto kernel scope host src 10.244.0.0
local 10.244.0.1 dev cni0 table local proto kernel scope host src 10.244.0.1
broadcast 10.244.0.255 dev cni0 table local proto kernel scope link src 10.244.0.1
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1
local {HOST_IP} dev eth0 table local proto kernel scope host src {HOST_IP}
broadcast 203.0.113.255 dev eth0 table local proto kernel scope link src {HOST_IP}
### sysctl net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.ipv4.conf.all.rp_filter net.bridge.bridge-nf-call-iptables
net.ipv4.ip_forward = 1
net.ipv4.conf.all.route_localnet = 0
net.ipv4.conf.all.rp_filter = 0
net.bridge.bridge-nf-call-iptables = 1
### ss -tulnp
Netid State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess
tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=812,fd=3))
tcp   LISTEN 0      4096               *:10250           *:*    users:(("kubelet",pid=1022,fd=21))
tcp   LISTEN 0      4096       127.0.0.1:10249     0.0.0.0:*    users:(("kube-proxy",pid=1310,fd=11))
"""


def host_dump(n_rules: int, seed: int = 1) -> str:
    rules = generate(n_rules, seed)
    marker = "-A INPUT -j KUBE-FIREWALL\n"
    assert marker in rules and ":INPUT ACCEPT [" in rules
    rules = rules.replace(marker, marker + "\n".join(INPUT_EXTRA) + "\n", 1)
    rules = rules.replace(":INPUT ACCEPT [", ":INPUT DROP [", 1)  # the filter table comes first
    head = (f"# dnlint host dump (synthetic: bench/gen_host.py {n_rules} --seed {seed})\n"
            "# host: k8s-node-1\n# iptables: default backend nf_tables\n")
    return head + "### iptables-save -c\n" + rules + _FACTS


_SVC = re.compile(r'^-A KUBE-SERVICES -d (\S+)/32 -p (\w+) -m comment --comment "([^"]+) cluster IP" '
                  r"-m \w+ --dport (\d+) -j (KUBE-SVC-\w+)$")
_NOEP = re.compile(r'^-A KUBE-SERVICES -d (\S+)/32 -p (\w+) -m comment --comment "([^"]+) has no endpoints" '
                   r"-m \w+ --dport (\d+) -j REJECT")
_NODEPORT = re.compile(r'^-A KUBE-NODEPORTS -p (\w+) -m comment --comment "([^"]+)" -m \w+ --dport (\d+) '
                       r"-j (KUBE-EXT-\w+)$")


def describe(text: str) -> dict:
    """Endpoints for the benchmark's queries, taken from the middle of the generated rules
    (so a linear scan of KUBE-SERVICES pays for about half the chain before it matches)."""
    services, noeps, nodeports = [], [], []
    sep_count: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("-A KUBE-SVC-") and "-j KUBE-SEP-" in line:
            chain = line.split()[1]
            sep_count[chain] = sep_count.get(chain, 0) + 1
        elif m := _SVC.match(line):
            services.append(m.groups())
        elif m := _NOEP.match(line):
            noeps.append(m.groups())
        elif m := _NODEPORT.match(line):
            nodeports.append(m.groups())
    multi = [s for s in services if s[1] == "tcp" and sep_count.get(s[4], 0) >= 3]
    svc = multi[len(multi) // 2]
    tcp_np = [n for n in nodeports if n[0] == "tcp"]
    np = tcp_np[len(tcp_np) // 2]
    noep = [s for s in noeps if s[1] == "tcp"]
    return {
        "host_ip": HOST_IP, "outside_ip": OUTSIDE_IP, "pod_ip": POD_IP,
        "service": {"ip": svc[0], "port": int(svc[3]), "name": svc[2], "chain": svc[4],
                    "endpoints": sep_count[svc[4]]},
        "nodeport": {"port": int(np[2]), "name": np[1], "chain": np[3]},
        "no_endpoints": ({"ip": noep[len(noep) // 2][0], "port": int(noep[len(noep) // 2][3]),
                          "name": noep[len(noep) // 2][2]} if noep else None),
        "services": len(services), "nodeports": len(nodeports),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rules", type=int, help="number of -A rules passed to gen_rules.py")
    ap.add_argument("-o", "--output", help="file to write (default: stdout)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    text = host_dump(a.rules, a.seed)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
