"""Kernel semantics the engine models, each on a small host dump."""

import pytest

from dnlint.engine.query import query_dump
from dnlint.load import load_text

FACTS = """### ip -o addr
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.1/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
3: eth1    inet 10.1.0.1/24 brd 10.1.0.255 scope global eth1\\       valid_lft forever preferred_lft forever
### ip route
default via 192.0.2.254 dev eth0
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1
10.1.0.0/24 dev eth1 proto kernel scope link src 10.1.0.1
### sysctl net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.ipv4.conf.eth0.route_localnet net.ipv4.conf.eth1.route_localnet
net.ipv4.ip_forward = {forward}
net.ipv4.conf.all.route_localnet = 0
net.ipv4.conf.eth0.route_localnet = 0
net.ipv4.conf.eth1.route_localnet = 0
### ss -tlnp
State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
LISTEN 0      128          0.0.0.0:22        0.0.0.0:*     users:(("sshd",pid=100,fd=3))
LISTEN 0      128        127.0.0.1:5432      0.0.0.0:*     users:(("postgres",pid=200,fd=3))
"""


def dump(rules: str, forward: int = 1):
    return load_text(f"### iptables-save\n{rules}\n" + FACTS.format(forward=forward), "test-dump.txt")


def ask(rules, src, dst, port, proto="tcp", forward=1):
    return query_dump(dump(rules, forward), src, dst, port, proto)


FILTER = "*filter\n:INPUT {input} [0:0]\n:FORWARD {fwd} [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}\nCOMMIT\n"


def test_reply_dropped_by_forward_policy_breaks_tcp_and_the_udp_answer():
    rules = FILTER.format(input="ACCEPT", fwd="DROP", rules="-A FORWARD -i eth0 -o eth1 -j ACCEPT")
    a = ask(rules, "outside", "10.1.0.5", 80)
    assert a.reachable is False and a.verdict == "DROP"
    assert a.blocked_by["reason"].startswith("the reply is stopped")
    assert a.blocked_by["chain"] == "FORWARD"
    u = ask(rules, "outside", "10.1.0.5", 53, "udp")
    # the datagram arrives, but a client waiting for the answer (a resolver) gets none
    assert u.reachable is False and u.delivered["ip"] == "10.1.0.5"
    assert "the datagrams still arrive (one-way UDP works)" in u.blocked_by["reason"]
    with_est = FILTER.format(input="ACCEPT", fwd="DROP", rules="-A FORWARD -i eth0 -o eth1 -j ACCEPT\n"
                             "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    assert ask(with_est, "outside", "10.1.0.5", 80).reachable is True


def test_input_drop_policy_with_established_and_ssh():
    rules = FILTER.format(input="DROP", fwd="DROP", rules=(
        "-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"))
    assert ask(rules, "outside", "192.0.2.1", 22).reachable is True
    blocked = ask(rules, "outside", "192.0.2.1", 5432)
    assert blocked.reachable is False and blocked.blocked_by["reason"] == "the filter INPUT policy is DROP"
    # the host reaches its own loopback service through lo
    assert ask(rules, "host", "127.0.0.1", 5432).reachable is True


def test_no_listener_is_refused():
    rules = FILTER.format(input="ACCEPT", fwd="ACCEPT", rules="")
    a = ask(rules, "outside", "192.0.2.1", 8080)
    assert a.reachable is False and a.verdict == "NO_LISTENER"
    # 127.0.0.1-bound service is not reachable on the public address
    b = ask(rules, "outside", "192.0.2.1", 5432)
    assert b.verdict == "NO_LISTENER"


def test_forwarding_disabled():
    rules = FILTER.format(input="ACCEPT", fwd="ACCEPT", rules="")
    a = ask(rules, "outside", "10.1.0.5", 80, forward=0)
    assert a.reachable is False and a.verdict == "FORWARDING_DISABLED"


def test_loopback_destination_turns_on_route_localnet_when_the_dump_lacks_it():
    """`sysctl net.ipv4.ip_forward` says nothing of route_localnet: with it 1 on eth0 the kernel
    routes a 127.0.0.1 destination arriving there to the local socket, so the answer is unknown."""
    rules = FILTER.format(input="ACCEPT", fwd="ACCEPT", rules="")
    text = f"### iptables-save\n{rules}\n" + FACTS.format(forward=1).split("### sysctl")[0] + \
        "### sysctl net.ipv4.ip_forward\nnet.ipv4.ip_forward = 1\n" + "### ss" + FACTS.split("### ss")[1]
    a = query_dump(load_text(text, "t.txt"), "iface:eth0", "127.0.0.1", 22, "tcp")
    assert a.reachable is None
    assert any("net.ipv4.conf.eth0.route_localnet is not in the dump" in x for x in a.approximated)


def test_loopback_source_from_outside_is_martian():
    rules = FILTER.format(input="ACCEPT", fwd="ACCEPT", rules="")
    a = ask(rules, "iface:eth0", "127.0.0.1", 22)
    # some sources of iface:eth0 are 127/8 (martian), others reach lo-bound sshd via 0.0.0.0? no:
    # a 127.0.0.1 destination on eth0 is a martian whatever the source
    assert a.reachable is False and a.verdict == "MARTIAN"
    assert "route_localnet" in a.blocked_by["reason"]


def test_unknown_match_gives_possible_and_names_the_match():
    rules = FILTER.format(input="ACCEPT", fwd="ACCEPT",
                          rules='-A INPUT -p tcp -m string --string "GET /admin" --algo bm -j ACCEPT\n'
                                "-A INPUT -p tcp --dport 22 -j DROP")
    a = ask(rules, "outside", "192.0.2.1", 22)
    assert a.reachable is None
    assert any("-m string" in x for x in a.approximated)


def test_unknown_match_that_cannot_change_the_answer_still_proves():
    rules = FILTER.format(input="ACCEPT", fwd="ACCEPT",
                          rules='-A INPUT -p tcp -m string --string "x" --algo bm -j DROP\n'
                                "-A INPUT -p tcp --dport 22 -j DROP")
    a = ask(rules, "outside", "192.0.2.1", 22)
    assert a.reachable is False  # dropped whichever way the string match goes


def test_stateful_match_is_not_an_approximation():
    rules = FILTER.format(input="DROP", fwd="DROP",
                          rules="-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                                "-A INPUT -p tcp --dport 22 -m limit --limit 3/min -j ACCEPT")
    a = ask(rules, "outside", "192.0.2.1", 22)
    assert a.reachable is True and not a.approximated
    assert any("limit" in x and "assumed to match" in x for x in a.assumptions)


@pytest.mark.parametrize("jump", ["-j", "-g"])
def test_user_chains_return_and_goto(jump):
    rules = FILTER.format(input="DROP", fwd="DROP", rules=(
        ":SSH - [0:0]\n:CHECK - [0:0]\n"
        f"-A INPUT -p tcp {jump} CHECK\n"
        "-A INPUT -p tcp --dport 22 -j ACCEPT\n"
        "-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n"
        "-A CHECK -s 198.51.100.0/24 -j DROP\n"
        "-A CHECK -j RETURN"))
    good = ask(rules, "203.0.113.9", "192.0.2.1", 22)
    bad = ask(rules, "198.51.100.7", "192.0.2.1", 22)
    assert bad.reachable is False and bad.blocked_by["chain"] == "CHECK"
    if jump == "-j":
        assert good.reachable is True
    else:
        # -g: RETURN from CHECK ends INPUT itself (its caller is the built-in chain): policy DROP
        assert good.reachable is False and "policy" in good.blocked_by["reason"]


def test_outside_source_set_forks_and_finds_the_allowed_sources():
    rules = FILTER.format(input="DROP", fwd="DROP", rules=(
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        "-A INPUT -s 198.51.100.0/24 -p tcp --dport 22 -j ACCEPT"))
    a = ask(rules, "outside", "192.0.2.1", 22)
    assert a.reachable is True
    assert a.witness["src"].startswith("198.51.100.")


def test_dnat_then_forward_and_masquerade():
    rules = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
             "-A PREROUTING -i eth0 -p tcp --dport 8080 -j DNAT --to-destination 10.1.0.5:80\n"
             "-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n"
             + FILTER.format(input="ACCEPT", fwd="ACCEPT", rules=""))
    a = ask(rules, "outside", "192.0.2.1", 8080)
    assert a.reachable is True
    assert a.delivered["ip"] == "10.1.0.5" and a.delivered["port"] == 80
    assert a.delivered["seen_src"] == "10.1.0.1"
    assert [t["kind"] for t in a.translations] == ["DNAT", "MASQUERADE"]


def test_redirect_to_a_local_port():
    rules = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
             "-A PREROUTING -i eth0 -p tcp --dport 2222 -j REDIRECT --to-ports 22\nCOMMIT\n"
             + FILTER.format(input="ACCEPT", fwd="ACCEPT", rules=""))
    a = ask(rules, "outside", "192.0.2.1", 2222)
    assert a.reachable is True and a.delivered["by"] == "sshd" and a.delivered["port"] == 22


def test_mark_set_in_mangle_is_matched_in_filter():
    rules = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             ":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -s 198.51.100.0/24 -j MARK --set-xmark 0x1/0xffffffff\nCOMMIT\n"
             + FILTER.format(input="ACCEPT", fwd="ACCEPT", rules="-A INPUT -m mark --mark 0x1 -j DROP"))
    assert ask(rules, "198.51.100.1", "192.0.2.1", 22).reachable is False
    assert ask(rules, "203.0.113.1", "192.0.2.1", 22).reachable is True


def test_missing_host_facts_are_assumptions():
    a = query_dump(load_text("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", "bare.rules"), "iface:eth0", "10.0.0.1", 22)
    assert any("the host is built from what the rules name" in x for x in a.assumptions)
    assert a.reachable is None  # 10.0.0.1 may or may not be the host's: its routes are not in the dump


IPSET = """### ipset save
create allowed hash:net family inet hashsize 1024 maxelem 65536
add allowed 198.51.100.0/24
add allowed 203.0.113.7
create svc hash:ip,port family inet hashsize 1024 maxelem 65536
add svc 192.0.2.1,tcp:22
"""


def test_ipset_members_from_ipset_save():
    rules = FILTER.format(input="DROP", fwd="DROP", rules=(
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        "-A INPUT -m set --match-set allowed src -m set --match-set svc dst,dst -j ACCEPT"))
    d = load_text(f"### iptables-save\n{rules}\n" + FACTS.format(forward=1) + IPSET, "ipset-dump.txt")
    assert {s.name: len(s.members) for s in d.facts.ipsets} == {"allowed": 2, "svc": 1}
    assert query_dump(d, "203.0.113.7", "192.0.2.1", 22).reachable is True
    assert query_dump(d, "203.0.113.8", "192.0.2.1", 22).reachable is False
    assert query_dump(d, "198.51.100.20", "192.0.2.1", 5432).reachable is False
    a = query_dump(d, "outside", "192.0.2.1", 22)
    assert a.reachable is True and (a.witness["src"].startswith("198.51.100.") or a.witness["src"] == "203.0.113.7")


def test_ipset_without_members_is_approximated():
    rules = FILTER.format(input="DROP", fwd="DROP", rules="-A INPUT -m set --match-set allowed src -j ACCEPT")
    a = ask(rules, "outside", "192.0.2.1", 22)
    assert a.reachable is None and any("ipset save" in x for x in a.approximated)


def test_non_default_policy_routing_is_named_as_an_assumption():
    rules = FILTER.format(input="ACCEPT", fwd="ACCEPT", rules="")
    text = (f"### iptables-save\n{rules}\n" + FACTS.format(forward=1)
            + "### ip rule\n0:\tfrom all lookup local\n100:\tfrom 10.1.0.0/24 lookup 200\n"
              "32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n")
    a = query_dump(load_text(text, "rules.txt"), "outside", "192.0.2.1", 22)
    assert a.reachable is True
    assert any("100: from 10.1.0.0/24 lookup 200" in x for x in a.assumptions)


def test_every_answer_names_the_assumptions_it_rests_on():
    from dnlint.engine.query import engine_for, query

    text = "### iptables-save\n" + FILTER.format(input="ACCEPT", fwd="ACCEPT", rules="") + (
        "### ip -o addr\n2: eth0    inet 192.0.2.1/24 scope global eth0\n"
        "3: eth1    inet 10.1.0.1/24 scope global eth1\n### ip route\ndefault via 192.0.2.254 dev eth0\n"
        "192.0.2.0/24 dev eth0 scope link src 192.0.2.1\n10.1.0.0/24 dev eth1 scope link src 10.1.0.1\n")
    eng = engine_for(load_text(text, "nosysctl.txt"))
    for _ in range(2):  # the second query on the same engine must say it too
        a = query(eng, "outside", "10.1.0.5", 80)
        # forwarding decides it and no section shows net.ipv4.ip_forward: unknown, and said
        assert a.reachable is None and a.verdict == "ACCEPT"
        assert any(x.startswith("net.ipv4.ip_forward is not in the dump (no sysctl section covers it)")
                   for x in a.approximated)


V6 = """### ip6tables-save
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -s 2001:db8:1::/48 -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
### ip -6 -o addr
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
2: eth0    inet6 2001:db8:ffff::1/64 scope global \\       valid_lft forever preferred_lft forever
### ip -6 route
2001:db8:ffff::/64 dev eth0 proto kernel metric 256 pref medium
default via 2001:db8:ffff::fe dev eth0 metric 1024 pref medium
### sysctl net.ipv6.conf.all.forwarding
net.ipv6.conf.all.forwarding = 0
### ss -tlnp
State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=100,fd=3))
"""


def test_ipv6_with_the_same_code():
    d = load_text(V6, "v6.txt")
    assert query_dump(d, "2001:db8:1::5", "2001:db8:ffff::1", 22).reachable is True
    blocked = query_dump(d, "2001:db8:2::5", "2001:db8:ffff::1", 22)
    assert blocked.reachable is False and blocked.blocked_by["reason"] == "the filter INPUT policy is DROP"
    assert query_dump(d, "2001:db8:2::5", "2001:db8:ffff::1", None, "icmp").reachable is True
    fwd = query_dump(d, "2001:db8:2::5", "2001:db8:aaaa::1", 80)
    assert fwd.verdict == "FORWARDING_DISABLED"


def test_established_packets_dropped_break_tcp_after_the_handshake():
    """The SYN passes and the SYN-ACK comes back, but the client's ACK (ESTABLISHED, original
    direction) is dropped: the server never accepts (seen by the kernel oracle)."""
    rules = FILTER.format(input="ACCEPT", fwd="ACCEPT",
                          rules="-A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate ESTABLISHED -j DROP")
    a = ask(rules, "outside", "192.0.2.1", 22)
    assert a.reachable is False and a.verdict == "DROP"
    assert "next packets (ESTABLISHED)" in a.blocked_by["reason"]
    assert a.blocked_by["chain"] == "INPUT" and a.blocked_by["index"] == 1
    assert ask(rules, "outside", "192.0.2.1", 53, "udp").verdict != "DROP"


def test_a_ping_needs_its_echo_reply_and_a_udp_client_its_answer():
    """INPUT lets new packets in, OUTPUT drops everything but new ones: the echo request and the
    datagram arrive; the echo reply (ESTABLISHED) is dropped, so the ping fails."""
    text = """### iptables-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
COMMIT
### ip -o addr
1: lo    inet 127.0.0.1/8 scope host lo
2: eth0    inet 192.0.2.1/24 brd 192.0.2.255 scope global eth0
### ip route
default via 192.0.2.254 dev eth0
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1
### ss -ulnp
State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
UNCONN 0      0          0.0.0.0:53        0.0.0.0:*     users:(("dnsmasq",pid=2,fd=4))
"""
    from dnlint.engine.query import query_dump
    from dnlint.load import load_text

    dump = load_text(text, "ping.txt")
    ping = query_dump(dump, "192.0.2.9", "192.0.2.1", None, "icmp")
    assert ping.reachable is False and "reply is stopped" in ping.blocked_by["reason"]
    assert (ping.blocked_by["chain"], ping.blocked_by["index"]) == ("OUTPUT", None)
    udp = query_dump(dump, "192.0.2.9", "192.0.2.1", 53, "udp")
    assert udp.reachable is False and "one-way UDP works" in udp.blocked_by["reason"]
    assert udp.delivered["by"] == "dnsmasq"  # the datagram did arrive


def test_an_answer_that_holds_only_for_some_source_ports_says_so():
    """`--sport 53 --dport 1024:65535 -j ACCEPT` (meant for DNS answers) lets anyone in from
    source port 53: the answer is reachable, and says only from that source port and what stops
    the others; `sport=` asks about one source port."""
    rules = FILTER.format(input="DROP", fwd="DROP", rules="-A INPUT -p udp -m udp --sport 53 --dport 1024:65535 "
                                                           "-j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT")
    d = dump(rules)
    a = query_dump(d, "outside", "192.0.2.1", 5432, "tcp")
    assert a.reachable is False
    u = query_dump(d, "10.9.9.9", "192.0.2.1", 22, "tcp")
    assert u.reachable is True and u.source_ports is None  # every source port alike
    from dnlint.engine.query import query_dump as q

    text = dump(rules)
    ans = q(text, "iface:eth0", "192.0.2.1", 5000, "udp")
    assert ans.source_ports is not None, ans.as_dict()
    assert ans.source_ports["reachable_from"] == "53"
    assert ans.source_ports["blocked_by"]["reason"] == "the filter INPUT policy is DROP"
    assert ans.witness["sport"] == 53 and "source port 53" in ans.source_ports["summary"]
    other = q(text, "iface:eth0", "192.0.2.1", 5000, "udp", sport=1234)
    assert other.reachable is False and other.source_ports is None


def test_recent_set_always_matches():
    """xt_recent: `--set` records the source and matches (`! --set` never does), whatever the
    list holds; only --rcheck/--update/--remove depend on history. ufw's `ufw limit` writes a
    target-less `--set` rule before its `--update --hitcount 6` one."""
    drop = FILTER.format(input="ACCEPT", fwd="DROP",
                         rules="-A INPUT -p tcp --dport 22 -m recent --set --name SSH --rsource -j DROP")
    a = ask(drop, "outside", "192.0.2.1", 22)
    assert a.reachable is False and a.verdict == "DROP" and not a.approximated
    assert not any("recent" in x for x in a.assumptions)
    never = FILTER.format(input="ACCEPT", fwd="DROP",
                          rules="-A INPUT -p tcp --dport 22 -m recent ! --set --name SSH --rsource -j DROP")
    assert ask(never, "outside", "192.0.2.1", 22).reachable is True
    limit = FILTER.format(input="DROP", fwd="DROP", rules=(
        "-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --set --name DEFAULT --rsource\n"
        "-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 "
        "--name DEFAULT --rsource -j REJECT\n"
        "-A INPUT -p tcp --dport 22 -j ACCEPT"))
    a = ask(limit, "outside", "192.0.2.1", 22)
    assert a.reachable is True
    assert [x for x in a.assumptions if "recent" in x] == [
        next(x for x in a.assumptions if "--update" in x)]  # only the --update rule is a choice
