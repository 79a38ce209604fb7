"""Generate a kube-proxy-like iptables-save file (deterministic for a seed).

    python bench/gen_rules.py 100000 -o /tmp/kube-100k.rules [--seed 1]

The file looks like what kube-proxy (iptables mode) leaves on a big cluster: a filter
table with KUBE-FIREWALL/KUBE-FORWARD/KUBE-SERVICES rules (REJECT for services without
endpoints, multiport), a nat table with one KUBE-SVC-* chain per service port and one
KUBE-SEP-* chain per endpoint (comments, ``-m statistic --mode random --probability``,
DNAT, KUBE-MARK-MASQ marks, conntrack, addrtype), NodePort KUBE-EXT-* chains, counters on
the built-in chains. N is the number of rules (``-A`` lines); chain lines come on top.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import sys


def _hash(*parts: str) -> str:
    h = hashlib.sha256("/".join(parts).encode()).digest()
    return base64.b32encode(h).decode()[:16]


_NAMESPACES = ["default", "kube-system", "monitoring", "payments", "search", "web",
               "ingress-nginx", "cert-manager", "logging", "data"]
_WORDS = ["api", "db", "cache", "queue", "auth", "front", "back", "metrics", "store",
          "mail", "search", "billing", "user", "image", "video", "chat", "feed", "geo"]


def generate(n_rules: int, seed: int = 1) -> str:
    rnd = random.Random(seed)
    filter_head = [
        "*filter",
        f":INPUT ACCEPT [{rnd.randrange(10**9)}:{rnd.randrange(10**12)}]",
        f":FORWARD ACCEPT [{rnd.randrange(10**9)}:{rnd.randrange(10**12)}]",
        f":OUTPUT ACCEPT [{rnd.randrange(10**9)}:{rnd.randrange(10**12)}]",
        ":KUBE-EXTERNAL-SERVICES - [0:0]",
        ":KUBE-FIREWALL - [0:0]",
        ":KUBE-FORWARD - [0:0]",
        ":KUBE-KUBELET-CANARY - [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-PROXY-CANARY - [0:0]",
        ":KUBE-PROXY-FIREWALL - [0:0]",
        ":KUBE-SERVICES - [0:0]",
    ]
    filter_rules = [
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        "-A INPUT -j KUBE-FIREWALL",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        "-A OUTPUT -j KUBE-FIREWALL",
        '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        "-A KUBE-FORWARD -i cni0 -p tcp -m multiport --dports 22,80,443,8080:8090 -j ACCEPT",
    ]
    nat_head = [
        "*nat",
        f":PREROUTING ACCEPT [{rnd.randrange(10**7)}:{rnd.randrange(10**10)}]",
        ":INPUT ACCEPT [0:0]",
        f":OUTPUT ACCEPT [{rnd.randrange(10**7)}:{rnd.randrange(10**10)}]",
        f":POSTROUTING ACCEPT [{rnd.randrange(10**7)}:{rnd.randrange(10**10)}]",
        ":KUBE-KUBELET-CANARY - [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        ":KUBE-PROXY-CANARY - [0:0]",
        ":KUBE-SERVICES - [0:0]",
    ]
    nat_fixed = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]
    budget = n_rules - len(filter_rules) - len(nat_fixed) - 1
    nat_chains: list[str] = []
    nat_services: list[str] = []
    nat_nodeports: list[str] = []
    nat_bodies: list[str] = []
    svc_no = 0
    node_port = 30000
    while budget > 0:
        svc_no += 1
        ns = rnd.choice(_NAMESPACES)
        name = f"{rnd.choice(_WORDS)}-{rnd.choice(_WORDS)}-{svc_no}"
        port_name = rnd.choice(["http", "https", "grpc", "metrics", "tcp"])
        proto = "udp" if rnd.random() < 0.1 else "tcp"
        port = rnd.choice([80, 443, 53, 8080, 9090, 5432, 6379, 3000])
        cip = f"10.{96 + svc_no // 65025 % 32}.{svc_no // 255 % 255}.{svc_no % 255 + 1}"
        svc = f"{ns}/{name}:{port_name}"
        k = rnd.choice([0, 1, 1, 2, 2, 3, 3, 4, 5]) if budget > 20 else 1
        if k == 0:
            # a service without endpoints: a REJECT in filter KUBE-SERVICES
            filter_rules.append(
                f'-A KUBE-SERVICES -d {cip}/32 -p {proto} -m comment --comment "{svc} has no endpoints" '
                f"-m {proto} --dport {port} -j REJECT --reject-with icmp-port-unreachable")
            budget -= 1
            continue
        svc_chain = "KUBE-SVC-" + _hash(svc, proto)
        nat_chains.append(f":{svc_chain} - [0:0]")
        nat_services.append(
            f'-A KUBE-SERVICES -d {cip}/32 -p {proto} -m comment --comment "{svc} cluster IP" '
            f"-m {proto} --dport {port} -j {svc_chain}")
        nat_bodies.append(
            f'-A {svc_chain} ! -s 10.244.0.0/16 -d {cip}/32 -p {proto} -m comment --comment "{svc} cluster IP" '
            f"-m {proto} --dport {port} -j KUBE-MARK-MASQ")
        budget -= 2
        if rnd.random() < 0.2 and budget > 3 * k + 3:
            node_port += 1
            ext_chain = "KUBE-EXT-" + _hash(svc, proto)
            nat_chains.append(f":{ext_chain} - [0:0]")
            nat_nodeports.append(
                f'-A KUBE-NODEPORTS -p {proto} -m comment --comment "{svc}" -m {proto} --dport {node_port} -j {ext_chain}')
            nat_bodies.append(
                f'-A {ext_chain} -m comment --comment "masquerade traffic for {svc} external destinations" -j KUBE-MARK-MASQ')
            nat_bodies.append(f"-A {ext_chain} -j {svc_chain}")
            budget -= 3
        for e in range(k):
            ep = f"10.244.{rnd.randrange(256)}.{rnd.randrange(2, 255)}"
            sep_chain = "KUBE-SEP-" + _hash(svc, proto, ep, str(e))
            nat_chains.append(f":{sep_chain} - [0:0]")
            if e < k - 1:
                nat_bodies.append(
                    f'-A {svc_chain} -m comment --comment "{svc} -> {ep}:{port}" -m statistic --mode random '
                    f"--probability {1.0 / (k - e):.11f} -j {sep_chain}")
            else:
                nat_bodies.append(f'-A {svc_chain} -m comment --comment "{svc} -> {ep}:{port}" -j {sep_chain}')
            nat_bodies.append(f'-A {sep_chain} -s {ep}/32 -m comment --comment "{svc}" -j KUBE-MARK-MASQ')
            nat_bodies.append(
                f'-A {sep_chain} -p {proto} -m comment --comment "{svc}" -m {proto} -j DNAT --to-destination {ep}:{port}')
            budget -= 3
    nat_services.append(
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" '
        "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    out = ["# Generated by iptables-save v1.8.9 (nf_tables) on Thu Jan  1 00:00:00 2026"]
    out += filter_head + filter_rules + ["COMMIT", "# Completed on Thu Jan  1 00:00:00 2026"]
    out.append("# Generated by iptables-save v1.8.9 (nf_tables) on Thu Jan  1 00:00:00 2026")
    out += nat_head + nat_chains + nat_fixed + nat_nodeports + nat_services + nat_bodies
    out += ["COMMIT", "# Completed on Thu Jan  1 00:00:00 2026"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rules", type=int, help="number of -A rules")
    ap.add_argument("-o", "--output", help="file to write (default: stdout)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    text = generate(a.rules, a.seed)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
