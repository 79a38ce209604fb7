"""Answers whose path crosses a native nftables base chain are unknown, naming the chain.

The kernel runs a native chain (an nftables.conf's ``table inet filter``, firewalld's, Docker's
or kube-proxy's nftables backend) on its hook beside the iptables tables; dnlint does not model
its rules yet, so an answer that passes such a hook is null, with the table, chain, hook and
priority named. A path that does not cross the hook keeps its answer; an empty chain whose
policy is accept changes nothing.
"""

from __future__ import annotations

from dnlint.engine.query import engine_for, query
from dnlint.load import load_text

RULES = """### iptables-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 23 -j DROP
COMMIT
### ip -o addr
1: lo    inet 127.0.0.1/8 scope host lo
2: eth0    inet 192.0.2.1/24 brd 192.0.2.255 scope global eth0
3: eth1    inet 10.1.0.1/24 brd 10.1.0.255 scope global eth1
### ip route
default via 192.0.2.254 dev eth0
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1
10.1.0.0/24 dev eth1 proto kernel scope link src 10.1.0.1
### sysctl -a
net.ipv4.ip_forward = 1
### ss -tlnp
State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
LISTEN 0      128          0.0.0.0:22        0.0.0.0:*     users:(("sshd",pid=100,fd=3))
LISTEN 0      128          0.0.0.0:23        0.0.0.0:*     users:(("telnetd",pid=101,fd=3))
### nft list ruleset
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport 22 accept
	}
%s}
"""
EMPTY_FORWARD = """	chain forward {
		type filter hook forward priority filter; policy accept;
	}
"""
NAT = """	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 2222 dnat ip to 10.1.0.7:22
	}
"""


def test_a_path_through_a_native_input_chain_is_unknown_and_names_it():
    eng = engine_for(load_text(RULES % EMPTY_FORWARD, "nft.txt"))
    a = query(eng, "outside", "192.0.2.1", 22, "tcp")
    assert a.reachable is None and a.verdict == "ACCEPT"
    assert any("native nftables table inet filter chain input (hook input, priority filter, policy drop)" in x
               for x in a.approximated), a.approximated
    # a "no" of the iptables rules stays a no: a filter chain can only drop more
    b = query(eng, "outside", "192.0.2.1", 23, "tcp")
    assert b.reachable is False and b.blocked_by["chain"] == "INPUT"
    # forwarded traffic never meets the input hook; the empty accept forward chain changes nothing
    c = query(eng, "outside", "10.1.0.5", 80, "tcp")
    assert not any("native nftables" in x for x in c.approximated)


def test_a_native_nat_chain_makes_even_a_no_unknown():
    eng = engine_for(load_text(RULES % NAT, "nft-nat.txt"))
    a = query(eng, "outside", "192.0.2.1", 2222, "tcp")  # nothing listens on 2222 per ss, but the DNAT...
    assert a.reachable is None
    assert any("chain pre (hook prerouting, priority dstnat" in x for x in a.approximated)


def test_without_native_chains_nothing_changes():
    text = RULES.split("### nft list ruleset")[0]
    eng = engine_for(load_text(text, "plain.txt"))
    assert query(eng, "outside", "192.0.2.1", 22, "tcp").reachable is True
