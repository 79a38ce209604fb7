"""What dnlint knows of iptables match modules and targets.

The parsers use this to mark matches and targets as known or approximated (DN002/DN003)
and to read the options whose argument count is not "one word".
"""

from __future__ import annotations

# Match modules the model gives a meaning to.
KNOWN_MATCH_MODULES: frozenset[str] = frozenset({
    "tcp", "udp", "icmp", "icmp6", "icmpv6", "ipv6-icmp", "sctp", "udplite",
    "multiport", "conntrack", "state", "addrtype", "comment", "mark", "connmark",
    "iprange", "set", "physdev", "mac", "pkttype", "limit", "length", "ttl", "hl",
    "statistic", "owner", "tcpmss", "dscp", "tos", "recent", "hashlimit", "connlimit",
    "policy", "socket", "rpfilter", "devgroup", "cgroup", "helper", "string", "u32",
    "bpf", "realm", "frag", "ipv6header", "rt", "hbh", "dst", "ah", "esp", "mh",
    "ecn", "time", "quota", "nfacct", "cpu", "cluster", "condition", "geoip", "osf",
    "ipvs", "l2tp", "mh", "sctp", "connbytes", "connlabel", "dccp", "ipcomp",
})

# Targets the model gives a meaning to (terminal or not).
KNOWN_TARGETS: frozenset[str] = frozenset({
    "ACCEPT", "DROP", "REJECT", "RETURN", "QUEUE", "NFQUEUE",
    "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP",
    "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TRACE",
    "TCPMSS", "TOS", "DSCP", "TTL", "HL", "CLASSIFY", "CHECKSUM", "SET", "AUDIT",
    "CONNSECMARK", "SECMARK", "TEE", "TPROXY", "IDLETIMER", "LED", "RATEEST",
    "SYNPROXY", "HMARK", "CLUSTERIP", "ECN", "NOTRACK", "MIRROR",
})


# --------------------------------------------------------------------------- protocols

# `-p NAME` loads a match of that name implicitly when one of its options follows without
# `-m NAME` (iptables' load_proto). Numbers and aliases map to the module iptables loads.
PROTOCOL_MATCH: dict[str, str] = {
    "tcp": "tcp", "6": "tcp",
    "udp": "udp", "17": "udp",
    "icmp": "icmp", "1": "icmp",
    "icmpv6": "icmp6", "ipv6-icmp": "icmp6", "icmp6": "icmp6", "58": "icmp6",
    "sctp": "sctp", "132": "sctp",
    "udplite": "udplite", "136": "udplite",
    "dccp": "dccp", "33": "dccp",
    "esp": "esp", "50": "esp",
    "ah": "ah", "51": "ah",
    "mh": "mh", "ipv6-mh": "mh", "135": "mh",
}

# --------------------------------------------------------------------------- options

# Long options each match module accepts (with the aliases getopt lets iptables accept).
# Used to give an option to the right match when a hand-written rule puts an implicit
# protocol match's option after another module (`-p tcp -m state --state NEW --dport 22`,
# which iptables reads as `-m state --state NEW -m tcp --dport 22`). A module missing
# here keeps every option that follows it.
MATCH_OPTIONS: dict[str, frozenset[str]] = {
    "tcp": frozenset({"--sport", "--source-port", "--source-ports", "--dport",
                      "--destination-port", "--destination-ports", "--tcp-flags",
                      "--syn", "--tcp-option"}),
    "udp": frozenset({"--sport", "--source-port", "--source-ports", "--dport",
                      "--destination-port", "--destination-ports"}),
    "udplite": frozenset(),
    "icmp": frozenset({"--icmp-type"}),
    "icmp6": frozenset({"--icmpv6-type"}),
    "sctp": frozenset({"--sport", "--source-port", "--dport", "--destination-port",
                       "--chunk-types"}),
    "dccp": frozenset({"--sport", "--source-port", "--dport", "--destination-port",
                       "--dccp-types", "--dccp-option"}),
    "esp": frozenset({"--espspi"}),
    "ah": frozenset({"--ahspi", "--ahlen", "--ahres"}),
    "mh": frozenset({"--mh-type"}),
    "multiport": frozenset({"--sports", "--source-ports", "--dports", "--destination-ports",
                            "--ports"}),
    "conntrack": frozenset({"--ctstate", "--ctproto", "--ctorigsrc", "--ctorigdst",
                            "--ctreplsrc", "--ctrepldst", "--ctorigsrcport", "--ctorigdstport",
                            "--ctreplsrcport", "--ctrepldstport", "--ctstatus", "--ctexpire",
                            "--ctdir"}),
    "state": frozenset({"--state"}),
    "addrtype": frozenset({"--src-type", "--dst-type", "--limit-iface-in",
                           "--limit-iface-out"}),
    "comment": frozenset({"--comment"}),
    "mark": frozenset({"--mark"}),
    "connmark": frozenset({"--mark"}),
    "iprange": frozenset({"--src-range", "--dst-range"}),
    "set": frozenset({"--match-set", "--set", "--return-nomatch", "--update-counters",
                      "--update-subcounters", "--packets-eq", "--packets-lt", "--packets-gt",
                      "--bytes-eq", "--bytes-lt", "--bytes-gt"}),
    "physdev": frozenset({"--physdev-in", "--physdev-out", "--physdev-is-in",
                          "--physdev-is-out", "--physdev-is-bridged"}),
    "mac": frozenset({"--mac-source"}),
    "pkttype": frozenset({"--pkt-type"}),
    "limit": frozenset({"--limit", "--limit-burst"}),
    "length": frozenset({"--length"}),
    "ttl": frozenset({"--ttl-eq", "--ttl-lt", "--ttl-gt"}),
    "hl": frozenset({"--hl-eq", "--hl-lt", "--hl-gt"}),
    "statistic": frozenset({"--mode", "--probability", "--every", "--packet"}),
    "owner": frozenset({"--uid-owner", "--gid-owner", "--socket-exists",
                        "--suppl-groups"}),
    "tcpmss": frozenset({"--mss"}),
    "recent": frozenset({"--name", "--set", "--rcheck", "--update", "--remove",
                         "--seconds", "--reap", "--hitcount", "--rttl", "--rsource",
                         "--rdest", "--mask"}),
    "hashlimit": frozenset({"--hashlimit-upto", "--hashlimit-above", "--hashlimit",
                            "--hashlimit-burst", "--hashlimit-mode", "--hashlimit-srcmask",
                            "--hashlimit-dstmask", "--hashlimit-name",
                            "--hashlimit-htable-size", "--hashlimit-htable-max",
                            "--hashlimit-htable-expire", "--hashlimit-htable-gcinterval",
                            "--hashlimit-rate-match", "--hashlimit-rate-interval"}),
    "connlimit": frozenset({"--connlimit-upto", "--connlimit-above", "--connlimit-mask",
                            "--connlimit-saddr", "--connlimit-daddr"}),
    "time": frozenset({"--datestart", "--datestop", "--timestart", "--timestop",
                       "--monthdays", "--weekdays", "--days", "--contiguous", "--kerneltz",
                       "--utc", "--localtz"}),
    "string": frozenset({"--algo", "--from", "--to", "--string", "--hex-string", "--icase"}),
    "rt": frozenset({"--rt-type", "--rt-segsleft", "--rt-len", "--rt-0-res",
                     "--rt-0-addrs", "--rt-0-not-strict"}),
    "policy": frozenset({"--dir", "--pol", "--strict", "--reqid", "--spi", "--proto",
                         "--mode", "--tunnel-src", "--tunnel-dst", "--next"}),
}

# Options whose value iptables-save prints through xtables_save_string(): quoted unless
# it is made only of letters, digits, "_" and "-".
STRING_OPTIONS: frozenset[str] = frozenset({
    "--comment", "--log-prefix", "--nflog-prefix", "--string", "--hex-string",
    "--ulog-prefix",
})
