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
