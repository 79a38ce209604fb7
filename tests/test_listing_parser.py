"""Unit tests for the ``iptables -L`` listing parser (dnlint.parse.listing)."""

from __future__ import annotations

import time

import pytest

from dnlint.ir import (
    AddressMatch,
    Counters,
    InterfaceMatch,
    Match,
    Option,
    ProtocolMatch,
    RulesetFormat,
)
from dnlint.parse.listing import (
    UNKNOWN_MODULE,
    decode_options,
    parse_command_flags,
    parse_listing,
)
from dnlint.source import Text


def parse(data: str, **kw):
    rulesets, diags = parse_listing(Text.from_string(data, "t.txt"), **kw)
    assert len(rulesets) == 1
    assert rulesets[0].format is RulesetFormat.LISTING
    assert len(rulesets[0].tables) == 1
    return rulesets[0], diags


def codes(diags):
    return [d.code for d in diags]


def matches(text: str, target: str | None = "ACCEPT", family: int = 4):
    m, topts, goto, lossy, undecoded = decode_options(text, target, family)
    return m


def topts(text: str, target: str):
    return decode_options(text, target)[1]


# --------------------------------------------------------------------------- the seed's listings

# Copied from shared/seeds/000_29b6bfea377fc894.txt lines 37-62 (tabs kept: rule lines are
# indented one tab deeper than the chain headers there).
SEED_FILTER = (
    "\t\tChain INPUT (policy ACCEPT 114K packets, 78M bytes)\n"
    "\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\n"
    "\t\tChain FORWARD (policy ACCEPT 0 packets, 0 bytes)\n"
    "\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\t\t\t4   336 DOCKER-ISOLATION  all  --  *      *       0.0.0.0/0            0.0.0.0/0           \n"
    "\t\t\t2   168 DOCKER     all  --  *      docker0  0.0.0.0/0            0.0.0.0/0           \n"
    "\t\t\t2   168 ACCEPT     all  --  *      docker0  0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED\n"
    "\t\t\t2   168 ACCEPT     all  --  docker0 !docker0  0.0.0.0/0            0.0.0.0/0           \n"
    "\t\t\t0     0 ACCEPT     all  --  docker0 docker0  0.0.0.0/0            0.0.0.0/0           \n"
    "\n"
    "\t\tChain OUTPUT (policy ACCEPT 97153 packets, 7122K bytes)\n"
    "\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\n"
    "\t\tChain DOCKER (2 references)\n"
    "\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\n"
    "\t\tChain DOCKER-ISOLATION (1 references)\n"
    "\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\t\t\t0     0 DROP       all  --  br-064f9014c32c docker0  0.0.0.0/0            0.0.0.0/0           \n"
    "\t\t\t0     0 DROP       all  --  docker0 br-064f9014c32c  0.0.0.0/0            0.0.0.0/0           \n"
    "\t\t\t4   336 RETURN     all  --  *      *       0.0.0.0/0            0.0.0.0/0       \n"
)

# Seed lines 279-302 (`iptables -nvL -t nat`, userland-proxy=false).
SEED_NAT = (
    "\t\t\t\t\tChain PREROUTING (policy ACCEPT 0 packets, 0 bytes)\n"
    "\t\t\t\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\t\t\t\t\t\t0     0 DOCKER     all  --  *      *       0.0.0.0/0            0.0.0.0/0            ADDRTYPE match dst-type LOCAL\n"
    "\n"
    "\t\t\t\t\tChain INPUT (policy ACCEPT 0 packets, 0 bytes)\n"
    "\t\t\t\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\n"
    "\t\t\t\t\tChain OUTPUT (policy ACCEPT 3 packets, 180 bytes)\n"
    "\t\t\t\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\t\t\t\t\t\t1    60 DOCKER     all  --  *      *       0.0.0.0/0            0.0.0.0/0            ADDRTYPE match dst-type LOCAL\n"
    "\n"
    "\t\t\t\t\tChain POSTROUTING (policy ACCEPT 3 packets, 180 bytes)\n"
    "\t\t\t\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\t\t\t\t\t\t0     0 MASQUERADE  all  --  *      docker0  0.0.0.0/0            0.0.0.0/0            ADDRTYPE match src-type LOCAL\n"
    "\t\t\t\t\t\t0     0 MASQUERADE  all  --  *      br-064f9014c32c  0.0.0.0/0            0.0.0.0/0            ADDRTYPE match src-type LOCAL\n"
    "\t\t\t\t\t\t0     0 MASQUERADE  all  --  *      !docker0  172.17.0.0/16        0.0.0.0/0           \n"
    "\t\t\t\t\t\t0     0 MASQUERADE  all  --  *      !br-064f9014c32c  172.18.0.0/16        0.0.0.0/0           \n"
    "\t\t\t\t\t\t0     0 MASQUERADE  tcp  --  *      *       172.18.0.2           172.18.0.2           tcp dpt:80\n"
    "\n"
    "\t\t\t\t\tChain DOCKER (2 references)\n"
    "\t\t\t\t\t pkts bytes target     prot opt in     out     source               destination         \n"
    "\t\t\t\t\t\t1    60 DNAT       tcp  --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80 to:172.18.0.2:80\n"
)


def test_seed_filter_listing():
    rs, diags = parse(SEED_FILTER, command="iptables -L -n -v")
    table = rs.tables[0]
    assert table.name == "filter"
    assert [c.name for c in table.chains] == ["INPUT", "FORWARD", "OUTPUT", "DOCKER", "DOCKER-ISOLATION"]
    inp = table.chain("INPUT")
    assert inp.policy == "ACCEPT" and inp.counters == Counters(114_000, 78_000_000)
    assert table.chain("OUTPUT").counters == Counters(97153, 7_122_000)
    assert table.chain("DOCKER").references == 2 and table.chain("DOCKER").policy is None
    fwd = table.chain("FORWARD").rules
    assert len(fwd) == 5
    assert fwd[0].target.name == "DOCKER-ISOLATION" and fwd[0].target.known
    assert fwd[0].counters == Counters(4, 336)
    assert fwd[1].out_iface == InterfaceMatch("docker0") and fwd[1].in_iface is None
    assert fwd[2].matches == (Match("conntrack", (Option("--ctstate", ("RELATED,ESTABLISHED",)),)),)
    assert fwd[3].in_iface == InterfaceMatch("docker0")
    assert fwd[3].out_iface == InterfaceMatch("docker0", negated=True)
    assert fwd[0].protocol is None and fwd[0].src is None and fwd[0].dst is None
    assert fwd[0].unknown == frozenset()
    # spans point into the file: line 6, after the three tabs
    assert (fwd[0].span.line, fwd[0].span.col) == (6, 4)
    assert "DN001" not in codes(diags)
    assert codes(diags).count("DN004") == 1
    assert "DN007" not in codes(diags)


def test_seed_nat_listing():
    rs, diags = parse(SEED_NAT, command="iptables -nvL -t nat")
    table = rs.tables[0]
    assert table.name == "nat"
    pre = table.chain("PREROUTING").rules[0]
    assert pre.matches == (Match("addrtype", (Option("--dst-type", ("LOCAL",)),)),)
    post = table.chain("POSTROUTING").rules
    assert post[0].matches == (Match("addrtype", (Option("--src-type", ("LOCAL",)),)),)
    assert post[2].src == AddressMatch("172.17.0.0/16")
    assert post[2].out_iface == InterfaceMatch("docker0", negated=True)
    hairpin = post[4]
    assert hairpin.protocol == ProtocolMatch("tcp")
    assert hairpin.src == AddressMatch("172.18.0.2/32") and hairpin.dst == AddressMatch("172.18.0.2/32")
    assert hairpin.matches == (Match("tcp", (Option("--dport", ("80",)),)),)
    dnat = table.chain("DOCKER").rules[0]
    assert dnat.target.name == "DNAT"
    assert dnat.target.options == (Option("--to-destination", ("172.18.0.2:80",)),)
    assert dnat.counters == Counters(1, 60)
    assert "DN001" not in codes(diags)


def test_seed_nat_without_command_infers_nat():
    rs, diags = parse(SEED_NAT)
    assert rs.tables[0].name == "nat"
    dn007 = [d for d in diags if d.code == "DN007"]
    assert len(dn007) == 1 and "nat" in dn007[0].message


# --------------------------------------------------------------------------- table and family


def test_table_from_argument_and_command():
    data = "Chain INPUT (policy ACCEPT)\ntarget     prot opt source               destination\n"
    assert parse(data, table="mangle")[0].tables[0].name == "mangle"
    assert parse(data, command="iptables -t raw -L -n")[0].tables[0].name == "raw"
    assert parse(data, command="iptables --table=nat -L")[0].tables[0].name == "nat"
    rs, diags = parse(data, command="iptables -L -n")
    assert rs.tables[0].name == "filter" and "DN007" not in codes(diags)


@pytest.mark.parametrize("chains,targets,expected", [
    (["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"], ["MASQUERADE"], "nat"),
    (["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"], ["MARK"], "mangle"),
    (["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"], [], "mangle"),
    (["PREROUTING", "OUTPUT"], [], "raw"),
    (["PREROUTING", "OUTPUT"], ["CT"], "raw"),
    (["INPUT", "FORWARD", "OUTPUT"], ["ACCEPT"], "filter"),
    ([], ["DNAT"], "nat"),
    ([], ["ACCEPT"], "filter"),
])
def test_table_inference(chains, targets, expected):
    lines = []
    for c in chains:
        lines += [f"Chain {c} (policy ACCEPT)", "target     prot opt source               destination"]
    lines += ["Chain USER (1 references)", "target     prot opt source               destination"]
    lines += [f"{t:10} all  --  0.0.0.0/0            0.0.0.0/0" for t in targets]
    rs, diags = parse("\n".join(lines))
    assert rs.tables[0].name == expected
    dn007 = [d for d in diags if d.code == "DN007"]
    assert len(dn007) == 1 and expected in dn007[0].message


def test_command_flags():
    f = parse_command_flags("ip6tables -nvxL --line-numbers -t mangle")
    assert (f.numeric, f.verbose, f.exact, f.line_numbers, f.table, f.family) == (True, True, True, True, "mangle", 6)
    f = parse_command_flags("sudo iptables -L")
    assert (f.numeric, f.verbose, f.table, f.family) == (False, False, None, 4)
    assert parse_command_flags(None).numeric is None


def test_family_from_command_and_addresses():
    v6 = ("Chain INPUT (policy ACCEPT)\n"
          "target     prot opt source               destination\n"
          "ACCEPT     all      ::/0                 ::/0                 state RELATED,ESTABLISHED\n"
          "           tcp      2001:db8::1          ::/0                 tcp dpt:22\n")
    rs, diags = parse(v6)
    assert rs.family == 6
    rules = rs.tables[0].chains[0].rules
    assert rules[0].target.name == "ACCEPT" and rules[0].fragment is None
    assert rules[0].matches == (Match("state", (Option("--state", ("RELATED,ESTABLISHED",)),)),)
    assert rules[1].target is None
    assert rules[1].src == AddressMatch("2001:db8::1/128")
    assert parse(v6, command="ip6tables -L -n")[0].family == 6
    assert parse("Chain INPUT (policy ACCEPT)\n", family=6)[0].family == 6


# --------------------------------------------------------------------------- listing forms


def test_without_v_interfaces_unknown_and_no_counters():
    rs, diags = parse("Chain FORWARD (policy DROP)\n"
                      "target     prot opt source               destination\n"
                      "ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED\n",
                      command="iptables -L -n")
    ch = rs.tables[0].chains[0]
    assert ch.policy == "DROP" and ch.counters is None
    r = ch.rules[0]
    assert r.counters is None
    assert r.unknown == frozenset({"in_iface", "out_iface"})
    assert r.in_iface is None and r.out_iface is None
    dn004 = [d for d in diags if d.code == "DN004"]
    assert len(dn004) == 1 and "without -v" in dn004[0].message


def test_line_numbers_with_and_without_v():
    rs, _ = parse("Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n"
                  "num   pkts bytes target     prot opt in     out     source               destination\n"
                  "1        0     0 DOCKER     0    --  *      *       0.0.0.0/0           !127.0.0.0/8          ADDRTYPE match dst-type LOCAL\n"
                  "2       12  1024 DNAT       6    --  !bridge1 *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080 to:192.0.2.2:80\n")
    r1, r2 = rs.tables[0].chains[0].rules
    assert r1.protocol is None  # numeric "0" is "all"
    assert r1.dst == AddressMatch("127.0.0.0/8", negated=True)
    assert r2.protocol == ProtocolMatch("tcp")
    assert r2.in_iface == InterfaceMatch("bridge1", negated=True)
    assert r2.counters == Counters(12, 1024)
    rs, _ = parse("Chain INPUT (policy ACCEPT)\n"
                  "num  target     prot opt source               destination\n"
                  "1    ACCEPT     tcp  --  10.0.0.0/8           0.0.0.0/0            tcp dpt:22\n")
    r = rs.tables[0].chains[0].rules[0]
    assert r.src == AddressMatch("10.0.0.0/8") and r.matches[0].option("--dport").args == ("22",)


def test_counter_suffixes_and_exact():
    rs, diags = parse("Chain INPUT (policy DROP 10 packets, 440 bytes)\n"
                      " pkts bytes target     prot opt in     out     source               destination\n"
                      " 167M  113G ACCEPT     all  --  *      *       0.0.0.0/0            0.0.0.0/0\n"
                      "   2T    3G ACCEPT     all  --  *      *       0.0.0.0/0            0.0.0.0/0\n"
                      "1768K  542M ACCEPT     all  --  *      *       0.0.0.0/0            0.0.0.0/0\n")
    rules = rs.tables[0].chains[0].rules
    assert rules[0].counters == Counters(167_000_000, 113_000_000_000)
    assert rules[1].counters == Counters(2_000_000_000_000, 3_000_000_000)
    assert rules[2].counters == Counters(1_768_000, 542_000_000)
    assert any("rounded" in d.message for d in diags if d.code == "DN004")
    rs, diags = parse("Chain INPUT (policy ACCEPT 123456789 packets, 98765432100 bytes)\n"
                      "    pkts      bytes target     prot opt in     out     source               destination\n"
                      "  123456 9876543210 ACCEPT     all  --  lo     *       0.0.0.0/0            0.0.0.0/0\n",
                      command="iptables -L -n -v -x")
    ch = rs.tables[0].chains[0]
    assert ch.counters == Counters(123456789, 98765432100)
    assert ch.rules[0].counters == Counters(123456, 9876543210)
    assert not any("rounded" in d.message for d in diags)


def test_chain_headers():
    rs, diags = parse("Chain INPUT (policy DROP)\n"
                      "Chain X (0 references)\n"
                      "Chain Y (1 reference)\n"
                      "Chain OUTPUT (policy ACCEPT 1 packets, 2 bytes)\n")
    chains = rs.tables[0].chains
    assert [(c.name, c.policy, c.references, c.counters) for c in chains] == [
        ("INPUT", "DROP", None, None), ("X", None, 0, None), ("Y", None, 1, None),
        ("OUTPUT", "ACCEPT", None, Counters(1, 2))]
    assert "DN001" not in codes(diags)


def test_fragment_and_protocol_negation_and_empty_target():
    rs, _ = parse("Chain INPUT (policy ACCEPT)\n"
                  "target     prot opt source               destination\n"
                  "DROP       all  -f  0.0.0.0/0            0.0.0.0/0\n"
                  "ACCEPT     !tcp !f  0.0.0.0/0            0.0.0.0/0\n"
                  "           all  --  10.0.0.1             0.0.0.0/0\n"
                  "MYCHAIN    icmp --  0.0.0.0/0            0.0.0.0/0            icmptype 8\n"
                  "Chain MYCHAIN (1 references)\n")
    r = rs.tables[0].chain("INPUT").rules
    assert r[0].fragment is True
    assert r[1].fragment is False and r[1].protocol == ProtocolMatch("tcp", negated=True)
    assert r[2].target is None and r[2].src == AddressMatch("10.0.0.1/32")
    assert r[3].target.name == "MYCHAIN" and r[3].target.known
    assert r[3].matches == (Match("icmp", (Option("--icmp-type", ("8",)),)),)


def test_unknown_target_and_goto():
    rs, _ = parse("Chain INPUT (policy ACCEPT)\n"
                  "target     prot opt source               destination\n"
                  "WEIRD      all  --  0.0.0.0/0            0.0.0.0/0\n"
                  "reject     all  --  0.0.0.0/0            0.0.0.0/0           [goto] \n"
                  "Chain reject (1 references)\n")
    r = rs.tables[0].chain("INPUT").rules
    assert r[0].target.name == "WEIRD" and not r[0].target.known
    assert r[1].target.name == "reject" and r[1].target.goto and r[1].target.known
    assert r[1].matches == ()


def test_non_numeric_listing():
    rs, diags = parse("Chain OUTPUT (policy DROP 0 packets, 0 bytes)\n"
                      " pkts bytes target     prot opt in     out     source               destination\n"
                      "    0     0 ACCEPT     tcp  --  any    lo      anywhere             localhost            tcp dpt:9050flags: FIN,SYN,RST,ACK/SYN owner UID match root\n"
                      "    0     0 ACCEPT     udp  --  any    !lo     anywhere             anywhere             owner UID match clearnet udp dpt:domain\n"
                      "    0     0 ACCEPT     tcp  --  any    any     host.example.org     anywhere             tcp spt:http-alt dpt:frobnitz\n",
                      command="iptables -L -v")
    r = rs.tables[0].chains[0].rules
    assert r[0].in_iface is None and r[0].out_iface == InterfaceMatch("lo")
    assert r[0].src is None and r[0].dst == AddressMatch("127.0.0.1/32")
    assert r[0].matches[0] == Match("tcp", (Option("--dport", ("9050",)),
                                            Option("--tcp-flags", ("FIN,SYN,RST,ACK", "SYN"))))
    assert r[0].matches[1] == Match("owner", (Option("--uid-owner", ("root",)),))
    assert any("localhost" in s for s in r[0].lossy)
    assert any("root" in s for s in r[0].lossy)
    assert r[1].out_iface == InterfaceMatch("lo", negated=True)
    assert r[1].matches[1] == Match("udp", (Option("--dport", ("53",)),))
    assert r[2].src == AddressMatch("host.example.org", resolved=False)
    assert r[2].matches[0].options == (Option("--sport", ("8080",)), Option("--dport", ("frobnitz",)))
    assert any("frobnitz" in s for s in r[2].lossy)
    dn006 = [d for d in diags if d.code == "DN006"]
    assert len(dn006) == 1 and "host.example.org" in dn006[0].message
    assert any("without -n" in d.message for d in diags if d.code == "DN004")


# --------------------------------------------------------------------------- option column


@pytest.mark.parametrize("text,expected", [
    ("tcp dpt:80", [Match("tcp", (Option("--dport", ("80",)),))]),
    ("tcp dpts:1024:65535", [Match("tcp", (Option("--dport", ("1024:65535",)),))]),
    ("tcp spt:53", [Match("tcp", (Option("--sport", ("53",)),))]),
    ("tcp spt:!53", [Match("tcp", (Option("--sport", ("53",), negated=True),))]),
    ("udp spt:53 dpts:1:2", [Match("udp", (Option("--sport", ("53",)), Option("--dport", ("1:2",))))]),
    ("tcp flags:0x17/0x02", [Match("tcp", (Option("--tcp-flags", ("FIN,SYN,RST,ACK", "SYN")),))]),
    ("tcp flags:!0x17/0x02", [Match("tcp", (Option("--tcp-flags", ("FIN,SYN,RST,ACK", "SYN"), negated=True),))]),
    ("tcp dpt:22flags: 0x17/0x02", [Match("tcp", (Option("--dport", ("22",)),
                                                 Option("--tcp-flags", ("FIN,SYN,RST,ACK", "SYN"))))]),
    ("tcpflags: 0x3F/0x00", [Match("tcp", (Option("--tcp-flags", ("FIN,SYN,RST,PSH,ACK,URG", "NONE")),))]),
    ("icmptype 8", [Match("icmp", (Option("--icmp-type", ("8",)),))]),
    ("icmp type 3 code 4", [Match("icmp", (Option("--icmp-type", ("3/4",)),))]),
    ("icmp echo-request", [Match("icmp", (Option("--icmp-type", ("8",)),))]),
    ("icmp !echo-request", [Match("icmp", (Option("--icmp-type", ("8",), negated=True),))]),
    ("ADDRTYPE match dst-type LOCAL", [Match("addrtype", (Option("--dst-type", ("LOCAL",)),))]),
    ("ADDRTYPE match src-type LOCAL limit-in", [Match("addrtype", (Option("--src-type", ("LOCAL",)),
                                                                   Option("--limit-iface-in")))]),
    ("ctstate RELATED,ESTABLISHED", [Match("conntrack", (Option("--ctstate", ("RELATED,ESTABLISHED",)),))]),
    ("! ctstate RELATED,ESTABLISHED,DNAT", [Match("conntrack", (Option("--ctstate", ("RELATED,ESTABLISHED,DNAT",), negated=True),))]),
    ("ctstate DNAT ctorigdstport 80", [Match("conntrack", (Option("--ctstate", ("DNAT",)),
                                                           Option("--ctorigdstport", ("80",))))]),
    ("state NEW", [Match("state", (Option("--state", ("NEW",)),))]),
    ("multiport dports 80,443", [Match("multiport", (Option("--dports", ("80,443",)),))]),
    ("multiport sports  !1024:2048,53", [Match("multiport", (Option("--sports", ("1024:2048,53",), negated=True),))]),
    ("/* comment text */", [Match("comment", (Option("--comment", ("comment text",)),))]),
    ("mark match 0x4000/0x4000", [Match("mark", (Option("--mark", ("0x4000/0x4000",)),))]),
    ("mark match ! 0x4000/0x4000", [Match("mark", (Option("--mark", ("0x4000/0x4000",), negated=True),))]),
    ("connmark match 0x1", [Match("connmark", (Option("--mark", ("0x1",)),))]),
    ("limit: avg 3/hour burst 5", [Match("limit", (Option("--limit", ("3/hour",)),))]),
    ("limit: avg 1/sec burst 4", [Match("limit", (Option("--limit", ("1/sec",)), Option("--limit-burst", ("4",))))]),
    ("source IP range 10.0.0.1-10.0.0.9", [Match("iprange", (Option("--src-range", ("10.0.0.1-10.0.0.9",)),))]),
    ("destination IP range ! 10.0.0.1-10.0.0.9", [Match("iprange", (Option("--dst-range", ("10.0.0.1-10.0.0.9",), negated=True),))]),
    ("match-set docker-ext-bridges-v4 dst", [Match("set", (Option("--match-set", ("docker-ext-bridges-v4", "dst")),))]),
    ("! match-set blocked src,dst", [Match("set", (Option("--match-set", ("blocked", "src,dst"), negated=True),))]),
    ("PHYSDEV match --physdev-is-bridged", [Match("physdev", (Option("--physdev-is-bridged"),))]),
    ("PHYSDEV match --physdev-in eth0 ! --physdev-is-out", [Match("physdev", (Option("--physdev-in", ("eth0",)),
                                                                              Option("--physdev-is-out", (), negated=True)))]),
    ("statistic mode random probability 0.50000000000", [Match("statistic", (Option("--mode", ("random",)),
                                                                             Option("--probability", ("0.50000000000",))))]),
    ("statistic mode nth every 3 packet 0", [Match("statistic", (Option("--mode", ("nth",)), Option("--every", ("3",)),
                                                                 Option("--packet", ("0",))))]),
    ("recent: SET name: DEFAULT side: source", [Match("recent", (Option("--set"), Option("--name", ("DEFAULT",)),
                                                                 Option("--rsource")))]),
    ("recent: UPDATE seconds: 60 hit_count: 4 name: ssh side: source mask: 255.255.255.255",
     [Match("recent", (Option("--update"), Option("--seconds", ("60",)), Option("--hitcount", ("4",)),
                       Option("--name", ("ssh",)), Option("--mask", ("255.255.255.255",)), Option("--rsource")))]),
    ("MAC 00:11:22:aa:bb:cc", [Match("mac", (Option("--mac-source", ("00:11:22:AA:BB:CC",)),))]),
    ("length 0:100", [Match("length", (Option("--length", ("0:100",)),))]),
    ("TTL match TTL == 64", [Match("ttl", (Option("--ttl-eq", ("64",)),))]),
    ("TTL match TTL != 64", [Match("ttl", (Option("--ttl-eq", ("64",), negated=True),))]),
    ("owner UID match 0", [Match("owner", (Option("--uid-owner", ("0",)),))]),
    ("PKTTYPE = broadcast", [Match("pkttype", (Option("--pkt-type", ("broadcast",)),))]),
])
def test_decode_matches(text, expected):
    m, _, _, lossy, undecoded = decode_options(text, "ACCEPT")
    assert list(m) == expected
    assert undecoded == ()


def test_decode_several_matches_keep_order():
    m = matches('state NEW tcp dpt:22flags: 0x17/0x02 recent: SET name: ratessh side: source /* SSH */')
    assert [x.module for x in m] == ["state", "tcp", "recent", "comment"]


def test_icmpv6():
    m = matches("ipv6-icmptype 128", family=6)
    assert m == (Match("icmp6", (Option("--icmpv6-type", ("128",)),)),)


@pytest.mark.parametrize("text,target,expected", [
    ("to:172.18.0.2:80", "DNAT", (Option("--to-destination", ("172.18.0.2:80",)),)),
    ("to:10.0.0.1", "SNAT", (Option("--to-source", ("10.0.0.1",)),)),
    ("to:10.0.0.0/24", "NETMAP", (Option("--to", ("10.0.0.0/24",)),)),
    ("redir ports 8080", "REDIRECT", (Option("--to-ports", ("8080",)),)),
    ("masq ports: 1024-65535", "MASQUERADE", (Option("--to-ports", ("1024-65535",)),)),
    ("random-fully", "MASQUERADE", (Option("--random-fully"),)),
    ("reject-with icmp-port-unreachable", "REJECT", (Option("--reject-with", ("icmp-port-unreachable",)),)),
    ('LOG flags 0 level 4 prefix "IPTABLES: "', "LOG", (Option("--log-prefix", ("IPTABLES: ",)),)),
    ('LOG flags 8 level 6', "LOG", (Option("--log-level", ("6",)), Option("--log-uid"))),
    ('LOG level debug uid prefix "x "', "LOG", (Option("--log-prefix", ("x ",)), Option("--log-level", ("7",)),
                                                Option("--log-uid"))),
    ("MARK set 0x1", "MARK", (Option("--set-xmark", ("0x1/0xffffffff",)),)),
    ("MARK xset 0x4000/0x4000", "MARK", (Option("--set-xmark", ("0x4000/0x4000",)),)),
    ("MARK or 0x4000", "MARK", (Option("--set-xmark", ("0x4000/0x4000",)),)),
    ("MARK xor 0x4000", "MARK", (Option("--set-xmark", ("0x4000/0x0",)),)),
    ("MARK and 0xffffbfff", "MARK", (Option("--set-xmark", ("0x0/0x4000",)),)),
    ("CONNMARK set 0x1", "CONNMARK", (Option("--set-xmark", ("0x1/0xffffffff",)),)),
    ("CONNMARK save", "CONNMARK", (Option("--save-mark"), Option("--nfmask", ("0xffffffff",)),
                                   Option("--ctmask", ("0xffffffff",)))),
    ("CONNMARK restore mask 0xff", "CONNMARK", (Option("--restore-mark"), Option("--nfmask", ("0xff",)),
                                                Option("--ctmask", ("0xff",)))),
    ("NOTRACK", "CT", (Option("--notrack"),)),
    ("NOTRACK", "NOTRACK", ()),
    ("CT helper ftp", "CT", (Option("--helper", ("ftp",)),)),
    ("TCPMSS clamp to PMTU", "TCPMSS", (Option("--clamp-mss-to-pmtu"),)),
    ("NFQUEUE num 3 bypass", "NFQUEUE", (Option("--queue-num", ("3",)), Option("--queue-bypass"))),
    ("nflog-group 5", "NFLOG", (Option("--nflog-group", ("5",)),)),
])
def test_decode_target_options(text, target, expected):
    assert topts(text, target) == expected


def test_target_options_in_rule():
    rs, _ = parse("Chain KUBE-SVC (1 references)\n"
                  "target     prot opt source               destination\n"
                  "DNAT       udp  --  0.0.0.0/0            0.0.0.0/0            /* kube-system/kube-dns:dns */ udp to:10.1.0.5:53\n"
                  "KUBE-MARK-MASQ  all  --  0.0.0.0/0    0.0.0.0/0            MARK or 0x4000\n",
                  command="iptables -t nat -L -n")
    r = rs.tables[0].chains[0].rules
    assert r[0].comment == "kube-system/kube-dns:dns"
    assert [m.module for m in r[0].matches] == ["comment", "udp"]
    assert r[0].target.options == (Option("--to-destination", ("10.1.0.5:53",)),)


def test_undecoded_option_text_is_kept():
    m, t, goto, lossy, undecoded = decode_options("state NEW frobnicate 7 zap tcp dpt:1", "ACCEPT")
    assert [x.module for x in m] == ["state", UNKNOWN_MODULE, "tcp"]
    unknown = m[1]
    assert not unknown.known and unknown.options == (Option("raw", ("frobnicate 7 zap",)),)
    assert undecoded == ("frobnicate 7 zap",) and any("frobnicate 7 zap" in s for s in lossy)
    m, *_ = decode_options('/* never closed', "ACCEPT")
    assert m == (Match(UNKNOWN_MODULE, (Option("raw", ("/* never closed",)),), known=False),)


def test_undecoded_option_in_rule_lossy_and_dn004():
    rs, diags = parse("Chain INPUT (policy ACCEPT)\n"
                      "target     prot opt source               destination\n"
                      "ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0            quux 1 2 3\n",
                      command="iptables -L -n")
    r = rs.tables[0].chains[0].rules[0]
    assert r.matches[0].module == UNKNOWN_MODULE and r.lossy
    assert any("could not be decoded" in d.message for d in diags if d.code == "DN004")


# --------------------------------------------------------------------------- bad input


def test_bad_lines_are_dn001_and_parsing_continues():
    data = ("garbage before\n"
            "Chain INPUT (policy ACCEPT)\n"
            "target     prot opt source               destination\n"
            "ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0\n"
            "this is not a rule\n"
            "Chain BROKEN (policy\n"
            "ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0\n"
            "Chain OUTPUT (policy DROP)\n"
            "target     prot opt source               destination\n"
            "   ...\n"
            "DROP       all  --  0.0.0.0/0            0.0.0.0/0\n")
    rs, diags = parse(data, command="iptables -L -n")
    dn001 = [d for d in diags if d.code == "DN001"]
    assert [(d.span.line, d.span.col) for d in dn001] == [(1, 1), (5, 1), (6, 1), (7, 1), (10, 4)]
    assert all(d.span.file == "t.txt" and d.message for d in dn001)
    chains = rs.tables[0].chains
    assert [c.name for c in chains] == ["INPUT", "OUTPUT"]
    assert len(chains[0].rules) == 1 and len(chains[1].rules) == 1


def test_empty_input():
    rs, diags = parse("")
    assert rs.tables[0].chains == ()
    assert codes(diags).count("DN004") == 1


def test_text_offsets_in_spans():
    text = Text("dump.txt", ["Chain INPUT (policy ACCEPT)", "target prot opt source destination", "xx"],
                first_line=40, indent=2)
    rs, diags = parse_listing(text, command="iptables -L -n")
    assert rs[0].tables[0].chains[0].span.line == 40
    dn001 = [d for d in diags if d.code == "DN001"][0]
    assert (dn001.span.line, dn001.span.col) == (42, 3)


def test_crlf_lines():
    rs, diags = parse("Chain INPUT (policy ACCEPT)\r\ntarget     prot opt source               destination\r\n"
                      "ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0\r\n")
    assert len(rs.tables[0].chains[0].rules) == 1 and "DN001" not in codes(diags)


def test_speed_10k_rules():
    lines = ["Chain INPUT (policy ACCEPT 0 packets, 0 bytes)",
             " pkts bytes target     prot opt in     out     source               destination"]
    for i in range(10_000):
        lines.append(f"  {i}  {i * 60} ACCEPT     tcp  --  eth{i % 4}   *       10.{i % 256}.{i // 256}.0/24   "
                     f"0.0.0.0/0            state NEW tcp dpt:{i % 65535}flags: 0x17/0x02 /* rule {i} */")
    data = "\n".join(lines)
    t = time.perf_counter()
    rs, diags = parse(data, command="iptables -L -n -v")
    elapsed = time.perf_counter() - t
    assert len(rs.tables[0].chains[0].rules) == 10_000
    assert "DN001" not in codes(diags)
    assert elapsed < 4.0, elapsed
