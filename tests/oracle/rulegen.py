"""Seeded random iptables-save rulesets for the kernel oracle, over what dnlint models.

    rng = random.Random(seed)
    case = random_case(rng, seed)          # topology.py: names, sysctls
    text = generate(case, rng)             # iptables-save text for that topology

Two styles (``case.style``):

- ``docker``: what dockerd writes for the topology (B0 = c1+c2, B1 = c3), with random
  variations: published ports (DNAT in a DOCKER chain, ``-i B -j RETURN``, ``! -i B``,
  host-IP bound publishes), with or without the userland proxy (``! -d 127.0.0.0/8`` in
  nat OUTPUT, ``--src-type LOCAL`` MASQUERADE, hairpin MASQUERADE), old single
  DOCKER-ISOLATION or the two-stage chains, icc=false, an internal network, DOCKER-USER
  with random rules, and pieces left out (no ESTABLISHED rule, no MASQUERADE, ...); about a
  third get Docker 28's filter layout (DOCKER-FORWARD, DOCKER-CT, DOCKER-BRIDGE, DROPs ending
  DOCKER) and its raw PREROUTING drops of direct access to containers.
- ``generic``: random user chains (a DAG: jumps and gotos only to later chains, so no
  loops), random rules in every built-in chain of filter and nat, rarely raw and mangle.

Both get extra random rules inserted at random places. Every rule only uses what the
model claims to support: addresses (``-s``/``-d``, negated), interfaces with ``+``
wildcards (negated), tcp/udp ports and ranges (negated), ``-p icmp`` with or without
``-m icmp --icmp-type`` (echo-request/echo-reply by name or number, negated; a DNAT of
``-p icmp`` or of any protocol has no port, REDIRECT only tcp/udp), multiport, conntrack/state,
addrtype LOCAL, iprange, comment, mark, and the targets ACCEPT, DROP, REJECT, RETURN,
LOG, jumps, gotos, DNAT, SNAT, MASQUERADE, REDIRECT, MARK, CT --notrack. Addresses, ports
and interface names come from the topology, so the rules matter for the probes.

What the tools refuse, and so the generator never writes: DROP/REJECT in nat ("not intended
for filtering"), ``-i`` in OUTPUT/POSTROUTING and ``-o`` in PREROUTING/INPUT, NAT targets
in chains reachable from a hook where they are invalid (user chains are per hook), jump
loops, ``multiport`` ranges ``a:a``, and ``! -s 0.0.0.0/0`` (iptables-nft passes
``--test`` but the kernel refuses the rule at commit with EINVAL; legacy accepts it) —
which is why the load test does a real restore after ``--test``.

Replay a case with ``RULEGEN_SEED=<seed>``; ``python -m tests.oracle.rulegen SEED`` prints it.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field

try:
    from tests.oracle.topology import (CONTAINER_BRIDGE, CONTAINER_IPS, EXTRA_PORTS, GW0, GW1,
                                       HOST_UP, LISTEN_PORTS, OUTSIDE_IP, SUB0, SUB1, Case,
                                       random_case)
except ImportError:  # pragma: no cover - tests/ as rootdir
    from oracle.topology import (CONTAINER_BRIDGE, CONTAINER_IPS, EXTRA_PORTS, GW0, GW1,  # type: ignore
                                 HOST_UP, LISTEN_PORTS, OUTSIDE_IP, SUB0, SUB1, Case, random_case)

PORTS = LISTEN_PORTS + EXTRA_PORTS
BUILTIN = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}
#: the protocols of ``-p`` in a random match (drawn uniformly; icmp about 1 in 7)
MATCH_PROTOS = ("tcp", "tcp", "udp") * 2 + ("icmp",)
NO_IN = {"OUTPUT", "POSTROUTING"}  # hooks where -i is refused
NO_OUT = {"PREROUTING", "INPUT"}  # hooks where -o is refused


@dataclass
class Chain:
    name: str
    policy: str = "-"  # "-" for user chains
    rules: list[str] = field(default_factory=list)
    hooks: set[str] = field(default_factory=set)  # hooks it can be reached from (user chains)


@dataclass
class Table:
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)

    def chain(self, name: str, policy: str = "-") -> Chain:
        if name not in self.chains:
            self.chains[name] = Chain(name, policy)
        return self.chains[name]

    def render(self) -> str:
        lines = [f"*{self.name}"]
        for c in self.chains.values():
            lines.append(f":{c.name} {c.policy} [0:0]")
        for c in self.chains.values():
            for r in c.rules:
                lines.append(f"-A {c.name} {r}".rstrip())
        lines.append("COMMIT")
        return "\n".join(lines)


class Gen:
    def __init__(self, case: Case, rng: random.Random):
        self.case = case
        self.rng = rng
        self.tables: dict[str, Table] = {}
        self.hosts = [HOST_UP, GW0, GW1]
        self.ifaces = [case.uplink, case.b0, case.b1, "lo", *case.veths.values()]

    # -- helpers ------------------------------------------------------------------
    def t(self, name: str) -> Table:
        if name not in self.tables:
            t = Table(name)
            for c in BUILTIN[name]:
                t.chain(c, "ACCEPT")
            self.tables[name] = t
        return self.tables[name]

    def p(self, prob: float) -> bool:
        return self.rng.random() < prob

    def neg(self, prob: float = 0.2) -> str:
        return "! " if self.p(prob) else ""

    def addr(self) -> str:
        r = self.rng
        pool = (
            [f"{ip}/32" for ip in CONTAINER_IPS.values()] * 3
            + [f"{h}/32" for h in self.hosts] * 2
            + [SUB0, SUB1, SUB0, SUB1, "10.99.0.0/16", "192.0.2.0/24", f"{OUTSIDE_IP}/32",
               f"{OUTSIDE_IP}/32", "127.0.0.0/8", "127.0.0.1/32", "10.99.1.0/25",
               "198.51.100.0/24", "0.0.0.0/0"]
        )
        return r.choice(pool)

    def iface(self) -> str:
        r = self.rng
        pool = self.ifaces + [self.case.b0, self.case.b1, self.case.uplink,
                              "br+", "docker+", "br-+", "veth+", "eth+", "e+", "lo", "v+"]
        return r.choice(pool)

    def port(self) -> str:
        r = self.rng
        if self.p(0.2):
            a = r.choice(PORTS)
            b = a + r.choice([0, 1, 10, 1000, 3000])
            lo_, hi = sorted((r.choice(PORTS), min(b, 65535)))
            if lo_ < hi:  # multiport refuses "a:a"
                return f"{lo_}:{hi}"
        return str(r.choice(PORTS))

    def ports_list(self) -> str:
        n = self.rng.randint(2, 4)
        items = set()
        while len(items) < n:
            items.add(self.port())
        return ",".join(sorted(items))

    def matches(self, hook: str, *, need_proto: bool = False, allow_state: bool = True) -> tuple[str, str | None]:
        """A random match part for a rule reachable from ``hook``; returns (text, proto)."""
        parts: list[str] = []
        r = self.rng
        if self.p(0.35):
            a = self.addr()  # iptables-nft refuses `! -s 0.0.0.0/0` (RULE_APPEND EINVAL)
            parts.append(f"{self.neg() if a != '0.0.0.0/0' else ''}-s {a}")
        if self.p(0.4):
            a = self.addr()
            parts.append(f"{self.neg() if a != '0.0.0.0/0' else ''}-d {a}")
        if hook not in NO_IN and self.p(0.3):
            parts.append(f"{self.neg(0.25)}-i {self.iface()}")
        if hook not in NO_OUT and self.p(0.3):
            parts.append(f"{self.neg(0.25)}-o {self.iface()}")
        proto = None
        if need_proto or self.p(0.6):
            # need_proto: a protocol with ports (for DNAT/REDIRECT to a port)
            proto = r.choice(["tcp", "tcp", "udp"] if need_proto else MATCH_PROTOS)
            parts.append(f"-p {proto}")
            k = r.random()
            if proto == "icmp":
                if k < 0.5:  # the model reads --icmp-type (names, numbers, type/code, negated)
                    t = r.choice(["echo-request", "echo-request", "8", "echo-reply", "0", "8/0",
                                  "destination-unreachable", "any"])
                    parts.append(f"-m icmp {self.neg(0.15) if t != 'any' else ''}--icmp-type {t}")
            elif k < 0.5:
                parts.append(f"-m {proto} {self.neg(0.15)}--dport {self.port()}")
            elif k < 0.65:
                parts.append(f"-m multiport {self.neg(0.1)}--dports {self.ports_list()}")
            elif k < 0.72:
                # probes come from 40000 + i: some source-port rules catch them, most do not
                sp = self.port() if self.p(0.6) else r.choice(["1024:65535", "40000:40100", "32768:60999", "40000"])
                parts.append(f"-m {proto} {self.neg(0.15)}--sport {sp}")
        if allow_state and self.p(0.15):
            st = r.choice(["NEW", "ESTABLISHED", "RELATED,ESTABLISHED", "INVALID", "NEW,ESTABLISHED", "DNAT", "SNAT"])
            if st in ("DNAT", "SNAT") or self.p(0.7):
                parts.append(f"-m conntrack {self.neg(0.1)}--ctstate {st}")
            else:
                parts.append(f"-m state {self.neg(0.1)}--state {st}")
        if self.p(0.12):
            parts.append(f"-m addrtype {self.neg(0.2)}--{r.choice(['dst', 'src'])}-type "
                         f"{r.choice(['LOCAL', 'LOCAL', 'UNICAST'])}")
        if self.p(0.04):
            a = r.choice(list(CONTAINER_IPS.values()))
            parts.append(f"-m iprange {self.neg(0.2)}--{r.choice(['src', 'dst'])}-range "
                         f"{a.rsplit('.', 1)[0]}.1-{a}")
        if self.p(0.04):
            parts.append(f"-m mark {self.neg(0.2)}--mark 0x{r.choice([1, 2, 4])}")
        if self.p(0.15):
            parts.append(f'-m comment --comment "{r.choice(["oracle", "rule x", "allow-web", "legacy"])}"')
        return " ".join(parts), proto

    def nat_target(self, hook: str, proto: str | None) -> str:
        r = self.rng
        if hook in ("PREROUTING", "OUTPUT"):
            k = r.random()
            if k < 0.6:
                c = r.choice(list(CONTAINER_IPS))
                dst = CONTAINER_IPS[c] if self.p(0.85) else r.choice([OUTSIDE_IP, HOST_UP, "127.0.0.1"])
                if proto in ("tcp", "udp"):  # a port needs a protocol that has ports
                    return f"DNAT --to-destination {dst}:{r.choice(LISTEN_PORTS)}"
                return f"DNAT --to-destination {dst}"
            if k < 0.8 and proto in ("tcp", "udp"):
                return f"REDIRECT --to-ports {r.choice(LISTEN_PORTS)}"
            return r.choice(["ACCEPT", "RETURN"])
        if hook == "POSTROUTING":
            k = r.random()
            if k < 0.45:
                return "MASQUERADE"
            if k < 0.75:
                return f"SNAT --to-source {r.choice([HOST_UP, GW0, GW1])}"
            return r.choice(["ACCEPT", "RETURN"])
        # nat INPUT
        if self.p(0.4):
            return f"SNAT --to-source {r.choice([HOST_UP, GW0, GW1])}"
        return r.choice(["ACCEPT", "RETURN"])

    def filter_target(self, proto: str | None) -> str:
        r = self.rng
        k = r.random()
        if k < 0.35:
            return "ACCEPT"
        if k < 0.65:
            return "DROP"
        if k < 0.75:
            if proto == "tcp" and self.p(0.5):
                return "REJECT --reject-with tcp-reset"
            return r.choice(["REJECT", "REJECT --reject-with icmp-port-unreachable",
                             "REJECT --reject-with icmp-host-prohibited"])
        if k < 0.87:
            return "RETURN"
        return f'LOG --log-prefix "oracle: "{r.choice(["", " --log-level 4"])}'

    def rule(self, table: str, hook: str, *, user_targets: list[str] = ()) -> str:
        """One random rule for ``table`` reachable from ``hook``."""
        if table == "nat":
            need = self.p(0.5) and hook in ("PREROUTING", "OUTPUT")
            m, proto = self.matches(hook, need_proto=need)
            tgt = self.nat_target(hook, proto)
        elif table == "filter":
            m, proto = self.matches(hook)
            tgt = self.filter_target(proto)
        elif table == "raw":
            m, proto = self.matches(hook, allow_state=False)
            tgt = self.rng.choice(["CT --notrack", "ACCEPT", "DROP", "RETURN"])
        else:  # mangle
            m, proto = self.matches(hook)
            tgt = self.rng.choice([f"MARK --set-mark 0x{self.rng.choice([1, 2, 4])}", "ACCEPT", "RETURN"])
        if user_targets and self.p(0.3):
            tgt = f"{'-g' if self.p(0.25) else '-j'} {self.rng.choice(user_targets)}"
            return f"{m} {tgt}".strip()
        return f"{m} -j {tgt}".strip()

    # -- styles ---------------------------------------------------------------------
    def generic(self) -> None:
        r = self.rng
        tables = ["filter", "nat"] + (["raw"] if self.p(0.15) else []) + (["mangle"] if self.p(0.15) else [])
        for tn in tables:
            t = self.t(tn)
            if tn == "filter":
                for c in BUILTIN["filter"]:
                    t.chains[c].policy = r.choice(["ACCEPT", "ACCEPT", "DROP"])
            for hook in BUILTIN[tn]:
                # user chains for this hook, a DAG: chain i jumps only to chains > i
                users = [f"{hook[:3]}-U{i}" for i in range(r.randint(0, 2))]
                for u in users:
                    t.chain(u)
                for i, u in enumerate(users):
                    later = users[i + 1:]
                    for _ in range(r.randint(1, 4)):
                        t.chains[u].rules.append(self.rule(tn, hook, user_targets=later))
                for _ in range(r.randint(1, 5 if tn in ("filter", "nat") else 2)):
                    t.chains[hook].rules.append(self.rule(tn, hook, user_targets=users))
                if tn == "filter" and t.chains[hook].policy == "DROP" and self.p(0.8):
                    t.chains[hook].rules.insert(
                        0, "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")

    def docker(self) -> None:
        r, case = self.rng, self.case
        nat, flt = self.t("nat"), self.t("filter")
        b = (case.b0, case.b1)
        proxy = case.userland_proxy
        bridges = [0, 1]
        internal = {i for i in bridges if self.p(0.07)}
        icc_off = {i for i in bridges if self.p(0.15)}

        # published ports: (host_ip or None, host_port, proto, container, container_port)
        pubs = []
        for _ in range(r.randint(0, 4)):
            c = r.choice(list(CONTAINER_IPS))
            if CONTAINER_BRIDGE[c] in internal:
                continue
            hp = r.choice(PORTS)
            proto = r.choice(["tcp", "tcp", "udp"])
            if any(p[1] == hp and p[2] == proto for p in pubs):
                continue
            hip = r.choice([None, None, None, "127.0.0.1", HOST_UP])
            pubs.append((hip, hp, proto, c, r.choice(LISTEN_PORTS)))

        # nat
        nat.chain("DOCKER")
        nat.chains["PREROUTING"].rules.append("-m addrtype --dst-type LOCAL -j DOCKER")
        if proxy and not self.p(0.1):
            nat.chains["OUTPUT"].rules.append("! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER")
        else:
            nat.chains["OUTPUT"].rules.append("-m addrtype --dst-type LOCAL -j DOCKER")
        for i in bridges:
            if i in internal or self.p(0.08):  # no MASQUERADE for internal (or forgotten)
                continue
            nat.chains["POSTROUTING"].rules.append(f"-s {case.subnet(i)} ! -o {b[i]} -j MASQUERADE")
        if not proxy:
            for i in bridges:
                if self.p(0.85):
                    nat.chains["POSTROUTING"].rules.append(f"-o {b[i]} -m addrtype --src-type LOCAL -j MASQUERADE")
        for hip, hp, proto, c, cp in pubs:
            if self.p(0.8):  # hairpin
                ip = CONTAINER_IPS[c]
                nat.chains["POSTROUTING"].rules.append(
                    f"-s {ip}/32 -d {ip}/32 -p {proto} -m {proto} --dport {cp} -j MASQUERADE")
        # with the proxy Docker skips DNAT for traffic from its own bridges (the proxy serves
        # it); without the proxy it hairpins through the kernel: no RETURN, no `! -i`
        for i in bridges:
            if self.p(0.9 if proxy else 0.1):
                nat.chains["DOCKER"].rules.append(f"-i {b[i]} -j RETURN")
        for hip, hp, proto, c, cp in pubs:
            i = CONTAINER_BRIDGE[c]
            d = f"-d {hip}/32 " if hip else ""
            notin = f"! -i {b[i]} " if self.p(0.9 if proxy else 0.1) else ""
            nat.chains["DOCKER"].rules.append(
                f"{d}{notin}-p {proto} -m {proto} --dport {hp} -j DNAT --to-destination {CONTAINER_IPS[c]}:{cp}")

        # filter
        policy = r.choice(["DROP", "DROP", "DROP", "ACCEPT"])
        flt.chains["FORWARD"].policy = policy
        if self.p(0.35):
            self.docker28_filter(pubs, internal, icc_off)
        else:
            for name in ("DOCKER", "DOCKER-USER"):
                flt.chain(name)
            two_stage = self.p(0.75)
            iso1 = "DOCKER-ISOLATION-STAGE-1" if two_stage else "DOCKER-ISOLATION"
            flt.chain(iso1)
            if two_stage:
                flt.chain("DOCKER-ISOLATION-STAGE-2")
            fw = flt.chains["FORWARD"].rules
            if self.p(0.95):
                fw.append("-j DOCKER-USER")
            fw.append(f"-j {iso1}")
            for i in bridges:
                if self.p(0.9):
                    fw.append(f"-o {b[i]} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
                fw.append(f"-o {b[i]} -j DOCKER")
                if i not in internal:
                    fw.append(f"-i {b[i]} ! -o {b[i]} -j ACCEPT")
                fw.append(f"-i {b[i]} -o {b[i]} -j {'DROP' if i in icc_off else 'ACCEPT'}")
            for hip, hp, proto, c, cp in pubs:
                i = CONTAINER_BRIDGE[c]
                flt.chains["DOCKER"].rules.append(
                    f"-d {CONTAINER_IPS[c]}/32 ! -i {b[i]} -o {b[i]} -p {proto} -m {proto} --dport {cp} -j ACCEPT")
            iso = flt.chains[iso1].rules
            for i in bridges:
                j = 1 - i
                if i in internal:
                    iso.append(f"! -s {case.subnet(i)} -o {b[i]} -j DROP")
                    iso.append(f"! -d {case.subnet(i)} -i {b[i]} -j DROP")
                if two_stage:
                    iso.append(f"-i {b[i]} ! -o {b[i]} -j DOCKER-ISOLATION-STAGE-2")
                    flt.chains["DOCKER-ISOLATION-STAGE-2"].rules.append(f"-o {b[j]} -j DROP")
                else:
                    iso.append(f"-i {b[i]} -o {b[j]} -j DROP")
            iso.append("-j RETURN")
            if two_stage:
                flt.chains["DOCKER-ISOLATION-STAGE-2"].rules.append("-j RETURN")
            du = flt.chains["DOCKER-USER"].rules
            for _ in range(r.choice([0, 0, 1, 2, 3])):
                du.append(self.docker_user_rule())
            du.append("-j RETURN")

        # INPUT: sometimes a DROP policy with the usual accepts
        if self.p(0.3):
            flt.chains["INPUT"].policy = "DROP"
            inp = flt.chains["INPUT"].rules
            inp.append("-i lo -j ACCEPT")
            if self.p(0.85):
                inp.append("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            if self.p(0.4):  # the usual ping allowance
                inp.append(r.choice(["-p icmp -j ACCEPT", "-p icmp -m icmp --icmp-type 8 -j ACCEPT",
                                     "-p icmp -m icmp --icmp-type echo-request -j ACCEPT"]))
            for _ in range(r.randint(0, 3)):
                k = r.random()
                if k < 0.4:
                    inp.append(f"-p {r.choice(['tcp', 'udp'])} -m multiport --dports {self.ports_list()} -j ACCEPT")
                elif k < 0.7:
                    inp.append(f"-i {r.choice([b[0], b[1], 'docker+', 'br-+'])} -j ACCEPT")
                else:
                    inp.append(f"-s {r.choice(['192.0.2.0/24', SUB0, SUB1])} -p tcp --dport {r.choice(PORTS)} -j ACCEPT")
        elif self.p(0.2):
            flt.chains["INPUT"].rules.append(f"-i {case.uplink} -p tcp -m tcp --dport {r.choice(PORTS)} -j DROP")

    def docker28_filter(self, pubs, internal: set[int], icc_off: set[int]) -> None:
        """The filter and raw tables of Docker 28: FORWARD -> DOCKER-USER, DOCKER-FORWARD (which
        calls DOCKER-CT, the isolation stages and DOCKER-BRIDGE), DROP rules ending DOCKER for
        each bridge, and raw PREROUTING drops of direct access to container addresses."""
        r, case = self.rng, self.case
        flt = self.t("filter")
        b = (case.b0, case.b1)
        for name in ("DOCKER", "DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-FORWARD", "DOCKER-ISOLATION-STAGE-1",
                     "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"):
            flt.chain(name)
        fw = flt.chains["FORWARD"].rules
        fw.append("-j DOCKER-USER")
        fw.append("-j DOCKER-FORWARD")
        dfw = flt.chains["DOCKER-FORWARD"].rules
        dfw += ["-j DOCKER-CT", "-j DOCKER-ISOLATION-STAGE-1", "-j DOCKER-BRIDGE"]
        for i in (0, 1):
            if i in icc_off:
                dfw.append(f"-i {b[i]} -o {b[i]} -j DROP")
            if i not in internal:
                dfw.append(f"-i {b[i]} -j ACCEPT")
            if self.p(0.9):
                flt.chains["DOCKER-CT"].rules.append(f"-o {b[i]} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            flt.chains["DOCKER-BRIDGE"].rules.append(f"-o {b[i]} -j DOCKER")
            iso = flt.chains["DOCKER-ISOLATION-STAGE-1"].rules
            if i in internal:
                iso.append(f"! -s {case.subnet(i)} -o {b[i]} -j DROP")
                iso.append(f"! -d {case.subnet(i)} -i {b[i]} -j DROP")
            iso.append(f"-i {b[i]} ! -o {b[i]} -j DOCKER-ISOLATION-STAGE-2")
            flt.chains["DOCKER-ISOLATION-STAGE-2"].rules.append(f"-o {b[1 - i]} -j DROP")
        for hip, hp, proto, c, cp in pubs:
            i = CONTAINER_BRIDGE[c]
            flt.chains["DOCKER"].rules.append(
                f"-d {CONTAINER_IPS[c]}/32 ! -i {b[i]} -o {b[i]} -p {proto} -m {proto} --dport {cp} -j ACCEPT")
        for i in (0, 1):
            if self.p(0.9):
                flt.chains["DOCKER"].rules.append(f"! -i {b[i]} -o {b[i]} -j DROP")
        du = flt.chains["DOCKER-USER"].rules
        for _ in range(r.choice([0, 0, 1, 2])):
            du.append(self.docker_user_rule())
        if self.p(0.8):  # direct access to a container from beyond its bridge
            raw = self.t("raw").chains["PREROUTING"].rules
            for c, ip in CONTAINER_IPS.items():
                if self.p(0.85):
                    raw.append(f"-d {ip}/32 ! -i {b[CONTAINER_BRIDGE[c]]} -j DROP")

    def docker_user_rule(self) -> str:
        r, case = self.rng, self.case
        k = r.random()
        if k < 0.25:
            return f"-i {case.uplink} ! -s 192.0.2.0/24 -j DROP"
        if k < 0.45:
            c = r.choice(list(CONTAINER_IPS.values()))
            return f"-d {c}/32 -p tcp -m tcp --dport {r.choice(LISTEN_PORTS)} -j DROP"
        if k < 0.6:
            return f"-i {case.uplink} -p tcp -m tcp --dport {r.choice(PORTS)} -j DROP"  # the ufw mistake
        if k < 0.7:
            return (f"-i {case.uplink} -p tcp -m conntrack --ctorigdstport {r.choice(PORTS)} "
                    f"--ctdir ORIGINAL -j DROP")
        if k < 0.8:
            return f"-s {OUTSIDE_IP}/32 -j ACCEPT"
        m, proto = self.matches("FORWARD")
        return f"{m} -j {self.filter_target(proto)}".strip()

    def sprinkle(self) -> None:
        """Extra random rules at random places of filter and nat (and user chains)."""
        r = self.rng
        for tn in ("filter", "nat"):
            t = self.t(tn)
            for _ in range(r.randint(0, 4)):
                hook = r.choice(BUILTIN[tn])
                # a user chain is only safe for nat targets when we know its hooks; keep to built-ins
                # for nat, and allow Docker's filter chains (all reached from FORWARD)
                chain = hook
                if tn == "filter" and hook == "FORWARD" and self.p(0.4):
                    chain = r.choice([c for c in t.chains if c not in BUILTIN[tn]] or ["FORWARD"])
                rules = t.chains[chain].rules
                rules.insert(r.randint(0, len(rules)), self.rule(tn, hook))

    def render(self) -> str:
        head = (f"# generated by tests/oracle/rulegen.py seed={self.case.seed} {self.case.describe()}")
        order = [n for n in ("raw", "mangle", "nat", "filter") if n in self.tables]
        return head + "\n" + "\n".join(self.tables[n].render() for n in order) + "\n"


def generate(case: Case, rng: random.Random) -> str:
    """An iptables-save text for ``case``'s topology, drawn from ``rng``."""
    g = Gen(case, rng)
    g.t("nat"), g.t("filter")
    if case.style == "docker":
        g.docker()
        if rng.random() < 0.1:
            g.t("raw").chains["PREROUTING"].rules.append(g.rule("raw", "PREROUTING"))
    else:
        g.generic()
    g.sprinkle()
    return g.render()


def make_case(seed: int) -> tuple[Case, str]:
    """The case and its rules for ``seed`` (the one entry point a replay needs)."""
    rng = random.Random(seed)
    case = random_case(rng, seed)
    return case, generate(case, rng)


if __name__ == "__main__":  # pragma: no cover
    s = int(sys.argv[1]) if len(sys.argv) > 1 else random.randrange(2**32)
    c, text = make_case(s)
    sys.stdout.write(text)
