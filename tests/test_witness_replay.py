"""Every witness the z3 engine produces is replayed through a plain-Python evaluator of the same IR.

For each query the symbolic search (``dnlint.engine.query.search``) yields leaves: a path,
its outcome and a model of its constraints. The model's initial values are one concrete
packet; :mod:`dnlint.model.concrete` sends that packet down the same Path, matching
every rule by reading the IR directly (no RuleCompiler, no boxes). Both must agree on
the verdict, the trace (table, chain, index, line, action of every step), the values
every translation gave, the delivery and the final header.

What a single packet cannot decide is taken from the symbolic run: the value a NAT
rule with a range picked (the model's values of the rewritten variables, in order) and
the outcome of matches dnlint does not model or whose outcome depends on history
(limit, recent, unknown modules): the symbolic run records those free choices here by
wrapping SymbolicRun (see RecordingRun).

Queries: (a) every probe of fixtures/docker, (b) the seed fixtures with host, outside,
container and network endpoints, (c) the real corpus (../shared/corpus/save, read in
place, with a synthetic block of host facts so that routing, INPUT and FORWARD are
exercised), (d) seeded random rule sets over a fixed host, with point and symbolic
sources (outside, iface:X, CIDRs) so that paths fork and witnesses come from z3.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import sys
import time
from functools import lru_cache
from pathlib import Path

import pytest

import dnlint.engine.explore as explore_mod
import dnlint.engine.query as query_mod
from dnlint.engine.query import EndpointError, engine_for, resolve_destination, resolve_origin, search
from dnlint.load import load_dump, load_text
from dnlint.model.concrete import ReplayMismatch, replay_run
from dnlint.model.intervals import IntervalSet, ip_int, ip_str

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "fixtures" / "docker"
SEED = ROOT / "fixtures" / "seed"
CORPUS = ROOT.parent / "shared" / "corpus" / "save"
OUTSIDE_ADDRESS = "192.0.2.2"
FIELDS = ("src", "dst", "sport", "dport", "proto", "icmp")

STATS: dict[str, int] = {}
FAILURES: list[str] = []
Z3_CALLS: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _disagreements():
    FAILURES.clear()
    yield


def assert_no_disagreement():
    """Every leaf of a test is replayed; the disagreements are reported together at the end."""
    if FAILURES:
        shown = "\n\n".join(FAILURES[:3])
        pytest.fail(f"{len(FAILURES)} witness(es) disagree with the concrete replay; the first ones:\n\n{shown}",
                    pytrace=False)


# --------------------------------------------------------------------------- recording the symbolic run


class RecordingRun(explore_mod.SymbolicRun):
    """SymbolicRun that keeps the sequence of free choices (unmodelled / stateful matches) with the
    source line of the rule that asked for them."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.free_log: list[tuple[int | None, bool]] = []
        self._line: int | None = None

    def rule_matches(self, rule, c, flow):
        self._line = rule.span.line if rule.span else None
        try:
            return super().rule_matches(rule, c, flow)
        finally:
            self._line = None

    def free_choice(self, what, flow, *, unknown, **kw):
        choice = super().free_choice(what, flow, unknown=unknown, **kw)
        self.free_log.append((self._line, choice))
        return choice


@contextlib.contextmanager
def recording():
    saved = explore_mod.SymbolicRun
    explore_mod.SymbolicRun = RecordingRun
    try:
        yield
    finally:
        explore_mod.SymbolicRun = saved


# --------------------------------------------------------------------------- comparing


def _trace(flow) -> list[dict]:
    return [s.as_dict() for s in flow.trace]


def _step(s):
    return s.as_dict() if s is not None else None


def _delivery(d):
    if d is None:
        return None
    return {"kind": d.kind, "iface": d.iface, "by": d.by, "container": d.container, "listener": d.listener}


def _fmt(v: int, fld: str, fam: int = 4) -> str:
    return ip_str(v, fam) if fld in ("src", "dst") else str(v)


def _describe(sym, conc, witness, fam) -> str:
    w = " ".join(f"{f}={_fmt(witness[f], f, fam)}" for f in FIELDS)
    lines = [f"witness: {w}",
             f"symbolic: {sym.verdict} trace:"] + [f"    {s}" for s in _trace(sym.flow)]
    if conc is not None:
        lines += [f"concrete: {conc.verdict} trace:"] + [f"    {s}" for s in _trace(conc.flow)]
    return "\n".join(lines)


def compare(leaf, conc, crun, fam=4) -> list[str]:
    """Differences between a symbolic leaf and the concrete replay of its witness."""
    sym, vals, st = leaf.outcome, leaf.values, leaf.run.st
    diffs = []
    if sym.verdict != conc.verdict:
        diffs.append(f"verdict: symbolic {sym.verdict}, concrete {conc.verdict}")
    if _trace(sym.flow) != _trace(conc.flow):
        diffs.append("trace differs")
    if _step(sym.blocked_by) != _step(conc.blocked_by):
        diffs.append(f"blocked_by: symbolic {_step(sym.blocked_by)}, concrete {_step(conc.blocked_by)}")
    if sym.reason != conc.reason:
        diffs.append(f"reason: symbolic {sym.reason!r}, concrete {conc.reason!r}")
    if _delivery(sym.delivery) != _delivery(conc.delivery):
        diffs.append(f"delivery: symbolic {_delivery(sym.delivery)}, concrete {_delivery(conc.delivery)}")
    if sym.proxy != conc.proxy:
        diffs.append(f"proxy: symbolic {sym.proxy}, concrete {conc.proxy}")
    st_t, co_t = sym.flow.translations, conc.flow.translations
    if len(st_t) != len(co_t):
        diffs.append(f"translations: symbolic {len(st_t)}, concrete {len(co_t)}")
    for a, b in zip(st_t, co_t):
        sa = (a.kind, _step(a.step), [vals.get(v) for v in a.before], [vals.get(v) for v in a.after])
        sb = (b.kind, _step(b.step), [crun.vals.get(v) for v in b.before], [crun.vals.get(v) for v in b.after])
        if sa != sb:
            diffs.append(f"translation: symbolic {sa}, concrete {sb}")
    for f in FIELDS:
        sv, cv = vals[st.cur[f]], crun.value(f)
        if sv != cv:
            diffs.append(f"final {f}: symbolic {_fmt(sv, f, fam)}, concrete {_fmt(cv, f, fam)}")
    for attr in ("in_iface", "out_iface", "mark", "connmark", "bridged", "ctstate", "untracked"):
        if getattr(sym.flow, attr) != getattr(conc.flow, attr):
            diffs.append(f"flow.{attr}: symbolic {getattr(sym.flow, attr)!r}, concrete {getattr(conc.flow, attr)!r}")
    if sym.flow.ctstatus != conc.flow.ctstatus:
        diffs.append(f"ctstatus: symbolic {sym.flow.ctstatus}, concrete {conc.flow.ctstatus}")
    if bool(sym.flow.approximations) != bool(conc.flow.approximations):
        diffs.append(f"approximated: symbolic {sym.flow.approximations}, concrete {conc.flow.approximations}")
    if len(sym.flow.choices) != len(conc.flow.choices):
        diffs.append(f"choices: symbolic {sym.flow.choices}, concrete {conc.flow.choices}")
    return diffs


def replay_leaf(eng, origin, leaf, proto, quirks=frozenset(), point_only=False):
    run, vals = leaf.run, leaf.values
    witness = {f: vals[run.st.initial[f]] for f in FIELDS}
    nat_values = [vals[v] for v in range(len(FIELDS), run.next_var)]
    nonpoint = {v for v, d in run.st.doms.items() if not d.is_point()} if point_only else ()
    conc, crun = replay_run(eng, origin, witness, proto, run.free_log, nat_values, quirks=quirks,
                            nonpoint_vars=nonpoint)
    return witness, conc, crun


MAX_RUNS = int(os.environ.get("REPLAY_MAX_RUNS", "250"))


def _search(eng, origin, dst_set, port, proto):
    """``query.search`` with fewer runs (a truncated search still yields real leaves)."""
    if MAX_RUNS >= 5000:
        return search(eng, origin, dst_set, port, proto)
    init = query_mod._init(eng.host, origin, dst_set, port, proto)
    return explore_mod.explore(eng.host.family, init, query_mod._run_origin(eng, origin, proto),
                               max_runs=MAX_RUNS, stop_when=query_mod._proved_accept)


def check_query(eng, src: str, dst: str, port, proto: str, category: str, context: str = "") -> int:
    """Search, replay every leaf (and the docker-proxy second legs); returns the leaves replayed."""
    host = eng.host
    try:
        dst_set = resolve_destination(host, dst)
        origin = resolve_origin(host, src, dst_set)
    except EndpointError:
        return 0
    jobs = [(origin, dst_set, port, f"{src} -> {dst}:{port}/{proto}")]
    n = 0
    while jobs:
        origin, dst_set, port, what = jobs.pop()
        with recording():
            result = _search(eng, origin, dst_set, port, proto)
        Z3_CALLS[category] = Z3_CALLS.get(category, 0) + result.z3_calls
        for leaf in result.leaves:
            witness, conc, crun, diffs = None, None, None, []
            try:
                witness, conc, crun = replay_leaf(eng, origin, leaf, proto)
                diffs = compare(leaf, conc, crun, host.family) + crun.leftovers()
            except ReplayMismatch as e:
                witness = {f: leaf.values[leaf.run.st.initial[f]] for f in FIELDS}
                diffs = [f"replay could not follow the symbolic run: {e}"]
            n += 1
            if diffs:
                FAILURES.append(f"[{category}] {context}\nquery: {what} (origin {origin.kind} {origin.iface})\n"
                                + "\n".join(diffs) + "\n" + _describe(leaf.outcome, conc, witness, host.family))
            if leaf.outcome.verdict == "ACCEPT" and leaf.outcome.proxy is not None:
                cip, cport = leaf.outcome.proxy
                d = ip_int(cip)
                if d is not None:
                    from dnlint.engine.query import Origin
                    jobs.append((Origin("local", None, None, "docker-proxy"), IntervalSet.point(d), cport,
                                 f"docker-proxy -> {cip}:{cport}/{proto} (second leg of {what})"))
    STATS[category] = STATS.get(category, 0) + n
    return n


# --------------------------------------------------------------------------- (a) docker probes


def _docker_probes():
    out = []
    for f in sorted(DOCKER.glob("*.probes.json")):
        out.append((f.name.replace(".probes.json", ""), json.loads(f.read_text())))
    return out


@lru_cache(maxsize=None)
def _docker_engine(scenario: str):
    return engine_for(load_dump(DOCKER / f"{scenario}.txt"))


def test_docker_probe_witnesses_replay():
    n = 0
    for scenario, probes in _docker_probes():
        eng = _docker_engine(scenario)
        for p in probes:
            src = OUTSIDE_ADDRESS if p["from"] == "outside" else p["from"]
            n += check_query(eng, src, p["to"], p["port"], p["proto"], "docker", scenario)
    assert_no_disagreement()
    assert n >= 150


# --------------------------------------------------------------------------- (b) seed fixtures


def _endpoints(eng):
    host = eng.host
    srcs = ["host", "outside"] + [f"container:{e.container}" for e in host.endpoints] \
        + [f"network:{n}" for n in host.networks]
    dsts = {ip_str(a, 4) for a, _p in sum(host.ifaces.values(), [])} | {"127.0.0.1", "8.8.8.8"}
    dsts |= {ip_str(e.ip, 4) for e in host.endpoints}
    return list(dict.fromkeys(srcs)), sorted(dsts)


@pytest.mark.parametrize("fixture", sorted(p.name for p in SEED.glob("*.txt")))
def test_seed_witnesses_replay(fixture):
    eng = engine_for(load_dump(SEED / fixture))
    srcs, dsts = _endpoints(eng)
    n = 0
    for src in srcs:
        for dst in dsts:
            for port in (22, 80, 443, 8080):
                for proto in ("tcp", "udp"):
                    n += check_query(eng, src, dst, port, proto, "seed", fixture)
    assert_no_disagreement()
    assert n > 0


# --------------------------------------------------------------------------- (c) the real corpus

_IFACE_RE = re.compile(r"(?:^|\s)(?:!\s+)?-[io]\s+(?:!\s+)?([A-Za-z0-9_.@-]+\+?)")
_DST_RE = re.compile(r"(?:^|\s)-d\s+(\d+\.\d+\.\d+\.\d+)(?:/32)?(?=\s)")
_TO_RE = re.compile(r"--to-destination\s+(\d+\.\d+\.\d+\.\d+)")
_DPORT_RE = re.compile(r"--dports?\s+(\d+)")


def _corpus_facts(text: str) -> tuple[str, list[str], list[str], list[int]]:
    """A synthetic block of host facts for a corpus ruleset: eth0 with the default route, and an
    address on each interface the rules name. Returns (facts text, ifaces, destinations, ports)."""
    names = []
    for m in _IFACE_RE.finditer(text):
        n = m.group(1).rstrip("+")
        if n and n not in names and n != "lo" and len(n) <= 15:
            names.append(n)
    names = [n for n in names if n != "eth0"][:4]
    ifaces = ["eth0"] + names
    addr_lines, route_lines = ["1: lo    inet 127.0.0.1/8 scope host lo"], []
    for k, n in enumerate(ifaces):
        addr_lines.append(f"{k + 2}: {n}    inet 10.{200 + k}.0.1/24 brd 10.{200 + k}.0.255 scope global {n}")
        route_lines.append(f"10.{200 + k}.0.0/24 dev {n} proto kernel scope link src 10.{200 + k}.0.1")
    route_lines.insert(0, "default via 10.200.0.254 dev eth0")
    facts = ("### ip -o addr\n" + "\n".join(addr_lines) + "\n### ip route\n" + "\n".join(route_lines)
             + "\n### sysctl -a\nnet.ipv4.ip_forward = 1\n")
    dsts = []
    for rx in (_DST_RE, _TO_RE):
        for m in rx.finditer(text):
            if m.group(1) not in dsts and not m.group(1).startswith("0."):
                dsts.append(m.group(1))
    ports = []
    for m in _DPORT_RE.finditer(text):
        if int(m.group(1)) not in ports:
            ports.append(int(m.group(1)))
    return facts, ifaces, dsts[:4], ports[:3]


CORPUS_BUDGET = float(os.environ.get("REPLAY_CORPUS_BUDGET", "15"))  # seconds, after every file's first queries
CORPUS_MAX_RUNS = int(os.environ.get("REPLAY_CORPUS_MAX_RUNS", "60"))


def _corpus_files():
    if not CORPUS.is_dir():
        return []
    return sorted(CORPUS.glob("*.rules"))


def test_corpus_witnesses_replay(monkeypatch):
    files = _corpus_files()
    if not files:
        pytest.skip("../shared/corpus is absent")
    monkeypatch.setattr(sys.modules[__name__], "MAX_RUNS", CORPUS_MAX_RUNS)
    deadline = time.monotonic() + CORPUS_BUDGET
    work = []  # (file name, engine, queries left)
    for f in files:
        text = f.read_text(errors="replace")
        if "*filter" not in text and "*nat" not in text:
            continue
        facts, ifaces, dsts, ports = _corpus_facts(text)
        dump = load_text("### iptables-save\n" + text + "\n" + facts, str(f))
        if not dump.tables(4):
            continue
        eng = engine_for(dump)
        if not any(c.rules for chains in eng.host.tables.values() for c in chains.values()):
            continue
        targets = ["10.200.0.1", "8.8.8.8"] + dsts + [f"10.{200 + k}.0.9" for k in range(1, len(ifaces))]
        srcs = ["outside", "host"] + [f"iface:{i}" for i in ifaces[1:3]] + ["10.201.0.7"]
        queries = [(s_, d_, p_, pr) for pr in ("tcp", "udp") for p_ in ([80, 22] + ports)[:4]
                   for d_ in targets[:6] for s_ in srcs]
        rng = random.Random(f.name)
        rng.shuffle(queries)
        queries = [("outside", targets[0], 80, "tcp"), ("host", targets[1], 22, "udp"),
                   (srcs[-1], targets[0], None, "icmp")] + queries
        work.append((f.name, eng, queries))
    leaves = {name: 0 for name, _e, _q in work}
    # round robin: every file gets its first queries before any file gets many
    rnd = 0
    while time.monotonic() < deadline and any(rnd < len(q) for _n, _e, q in work):
        for name, eng, queries in work:
            if rnd < len(queries) and (rnd < 3 or time.monotonic() < deadline):
                leaves[name] += check_query(eng, *queries[rnd], "corpus", name)
        rnd += 1
    covered = sum(1 for n in leaves.values() if n)
    assert_no_disagreement()
    STATS["corpus files"] = covered
    assert covered >= 40, f"only {covered} corpus files gave leaves"


# --------------------------------------------------------------------------- (d) generated rule sets

GEN_HOST = """\
### ip -o addr
1: lo    inet 127.0.0.1/8 scope host lo
2: eth0    inet 192.0.2.1/24 brd 192.0.2.255 scope global eth0
3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0
4: br-app    inet 172.18.0.1/16 brd 172.18.255.255 scope global br-app
5: wg0    inet 10.8.0.1/24 scope global wg0
### ip route show table all
default via 192.0.2.254 dev eth0 proto static metric 100
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1
172.18.0.0/16 dev br-app proto kernel scope link src 172.18.0.1
10.8.0.0/24 dev wg0 proto kernel scope link src 10.8.0.1
blackhole 10.99.0.0/16
broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.1
broadcast 172.17.255.255 dev docker0 table local proto kernel scope link src 172.17.0.1
broadcast 172.18.255.255 dev br-app table local proto kernel scope link src 172.18.0.1
local 192.0.2.1 dev eth0 table local proto kernel scope host src 192.0.2.1
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
local 172.17.0.1 dev docker0 table local proto kernel scope host src 172.17.0.1
local 172.18.0.1 dev br-app table local proto kernel scope host src 172.18.0.1
local 10.8.0.1 dev wg0 table local proto kernel scope host src 10.8.0.1
### sysctl -a
net.ipv4.ip_forward = 1
net.ipv4.conf.all.route_localnet = 0
net.ipv4.conf.docker0.route_localnet = 1
net.bridge.bridge-nf-call-iptables = 1
### ss -tlnp
LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=100,fd=3))
LISTEN 0 128 127.0.0.1:8080 0.0.0.0:* users:(("app",pid=101,fd=3))
"""

ADDRS = ["192.0.2.1", "192.0.2.0/24", "172.17.0.0/16", "172.17.0.2", "172.18.0.0/16", "172.18.0.3",
         "10.8.0.0/24", "10.8.0.5", "127.0.0.0/8", "8.8.8.8", "198.51.100.0/24", "0.0.0.0/1", "10.0.0.0/8"]
IFACES = ["eth0", "eth+", "docker0", "br-+", "br-app", "wg0", "wg+", "lo"]
PORTS = ["22", "80", "443", "8080", "1024:65535", "0:1023", "53", "8000:8100", "40000"]
HOOK_IN = {"PREROUTING", "INPUT", "FORWARD"}
HOOK_OUT = {"OUTPUT", "FORWARD", "POSTROUTING"}


def _gen_cond(rng: random.Random, table: str, hook: str | None) -> str:
    parts = []
    neg = lambda p=0.2: "! " if rng.random() < p else ""  # noqa: E731
    if rng.random() < 0.35:
        parts.append(f"{neg()}-s {rng.choice(ADDRS)}")
    if rng.random() < 0.35:
        parts.append(f"{neg()}-d {rng.choice(ADDRS)}")
    if rng.random() < 0.3 and (hook is None or hook in HOOK_IN):
        parts.append(f"{neg()}-i {rng.choice(IFACES)}")
    if rng.random() < 0.3 and (hook is None or hook in HOOK_OUT):
        parts.append(f"{neg()}-o {rng.choice(IFACES)}")
    r = rng.random()
    if r < 0.5:
        proto = rng.choice(["tcp", "udp"])
        parts.append(f"-p {proto}")
        k = rng.random()
        if k < 0.4:
            parts.append(f"-m {proto} {neg()}--dport {rng.choice(PORTS)}")
        elif k < 0.55:
            parts.append(f"-m {proto} {neg()}--sport {rng.choice(PORTS)}")
        elif k < 0.75:
            opt = rng.choice(["--dports", "--sports", "--ports"])
            ports = ",".join(rng.sample(["22", "80", "443", "8080", "1000:2000", "53"], rng.randint(1, 3)))
            parts.append(f"-m multiport {neg()}{opt} {ports}")
        if proto == "tcp" and rng.random() < 0.15:
            parts.append(rng.choice(["--syn", "! --syn", "--tcp-flags SYN,ACK SYN", "--tcp-flags FIN,SYN,RST,ACK ACK"]))
    elif r < 0.58:
        parts.append("-p icmp")
        if rng.random() < 0.6:
            parts.append(f"-m icmp {neg()}--icmp-type {rng.choice(['8', 'echo-request', '0', 'any', '3/3'])}")
    elif r < 0.62:
        parts.append(f"{neg(0.5)}-p {rng.choice(['tcp', 'udp', 'icmp'])}")
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        m = rng.random()
        if m < 0.25:
            parts.append(f"-m conntrack {neg()}--ctstate "
                         + rng.choice(["NEW", "RELATED,ESTABLISHED", "DNAT", "SNAT", "INVALID", "NEW,DNAT"]))
        elif m < 0.32:
            parts.append(f"-m state {neg()}--state " + rng.choice(["NEW", "ESTABLISHED,RELATED"]))
        elif m < 0.4:
            parts.append(f"-m conntrack {neg()}--ctorigdst {rng.choice(ADDRS)}")
        elif m < 0.45:
            parts.append(f"-m conntrack --ctproto tcp {neg()}--ctorigdstport {rng.choice(PORTS)}")
        elif m < 0.58:
            parts.append(f"-m addrtype {neg()}--{rng.choice(['dst', 'src'])}-type "
                         + rng.choice(["LOCAL", "LOCAL", "UNICAST", "BROADCAST", "MULTICAST", "BLACKHOLE",
                                       "LOCAL,BROADCAST"]))
        elif m < 0.65:
            a = rng.choice(["172.17.0.2-172.17.0.9", "192.0.2.0-192.0.2.100", "10.8.0.1-10.8.0.3",
                            "100.0.0.0-200.0.0.0"])
            parts.append(f"-m iprange {neg()}--{rng.choice(['src', 'dst'])}-range {a}")
        elif m < 0.75:
            parts.append(f"-m mark {neg()}--mark " + rng.choice(["0x1", "0x1/0x1", "0x2/0x3", "0x0/0xff"]))
        elif m < 0.8:
            parts.append(f"-m comment --comment \"gen {rng.randint(0, 99)}\"")
        elif m < 0.85:
            parts.append(rng.choice(["-m limit --limit 5/min", "-m recent --rcheck --name x",
                                     "-m statistic --mode random --probability 0.5"]))
        elif m < 0.88:
            parts.append(rng.choice(["-m owner --uid-owner 0", "-m length --length 0:500",
                                     "-m ttl --ttl-gt 5"]))
        elif m < 0.91:
            parts.append(rng.choice(["-f", "! -f"]))
        elif m < 0.95:
            parts.append(f"-m physdev {neg()}--physdev-is-bridged")
        else:
            parts.append(f"-m pkttype {neg()}--pkt-type " + rng.choice(["unicast", "broadcast", "multicast"]))
    return " ".join(parts)


def _gen_target(rng: random.Random, table: str, hook: str | None, later: list[str]) -> str:
    r = rng.random()
    if later and r < 0.2:
        return f"-{'g' if rng.random() < 0.25 else 'j'} {rng.choice(later)}"
    if table == "nat":
        pre = hook in ("PREROUTING", "OUTPUT") or (hook is None and rng.random() < 0.5)
        k = rng.random()
        if k < 0.12:
            return "-j RETURN"
        if k < 0.2:
            return "-j ACCEPT"
        if k < 0.25:
            return "-j LOG"
        if pre:
            if k < 0.8:
                return "-j DNAT --to-destination " + rng.choice(
                    ["172.17.0.2:80", "172.17.0.2", "172.18.0.3:8080", "172.17.0.2-172.17.0.5:8000-8010",
                     "127.0.0.1:8080", "10.8.0.5:22", "172.18.0.3-172.18.0.4"])
            return "-j REDIRECT" + rng.choice(["", " --to-ports 8080", " --to-ports 22"])
        if k < 0.6:
            return "-j MASQUERADE" + rng.choice(["", "", " --to-ports 1024-2000"])
        return "-j SNAT --to-source " + rng.choice(["192.0.2.1", "192.0.2.1:5000-6000", "10.8.0.1-10.8.0.3"])
    k = rng.random()
    if k < 0.25:
        return "-j ACCEPT"
    if k < 0.45:
        return "-j DROP"
    if k < 0.55:
        return "-j REJECT --reject-with icmp-port-unreachable"
    if k < 0.63:
        return "-j RETURN"
    if k < 0.7:
        return "-j LOG --log-prefix \"x \""
    if k < 0.85:
        return "-j MARK --set-xmark " + rng.choice(["0x1/0xffffffff", "0x2/0x2", "0x0/0x1"])
    if k < 0.9:
        return "-j CONNMARK --save-mark"
    return "-j ACCEPT"


def generate(seed: int) -> str:
    rng = random.Random(seed)
    out = []
    tables = {"filter": ("INPUT", "FORWARD", "OUTPUT"), "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")}
    if rng.random() < 0.4:
        tables["mangle"] = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
    for table, hooks in tables.items():
        users = [f"U{table[0].upper()}{i}" for i in range(rng.randint(0, 4))]
        out.append(f"*{table}")
        for h in hooks:
            pol = rng.choice(["ACCEPT", "ACCEPT", "DROP"]) if table == "filter" else "ACCEPT"
            out.append(f":{h} {pol} [0:0]")
        for u in users:
            out.append(f":{u} - [0:0]")
        for h in hooks:
            for _ in range(rng.randint(0, 6)):
                tgt = _gen_target(rng, table, h, users)
                if table == "mangle" and ("DNAT" in tgt or "MASQ" in tgt or "SNAT" in tgt or "REDIRECT" in tgt):
                    tgt = "-j MARK --set-xmark 0x1/0xffffffff"
                out.append(f"-A {h} {_gen_cond(rng, table, h)} {tgt}".replace("  ", " "))
        for i, u in enumerate(users):
            later = users[i + 1:]  # a DAG: no loops
            for _ in range(rng.randint(1, 5)):
                tgt = _gen_target(rng, table, None, later)
                if table == "nat" and "REDIRECT" in tgt:
                    tgt = "-j RETURN"  # REDIRECT needs PREROUTING/OUTPUT; the chain may be jumped from elsewhere
                if table == "nat" and ("MASQUERADE" in tgt or "SNAT" in tgt or "DNAT" in tgt):
                    tgt = "-j RETURN" if rng.random() < 0.5 else tgt
                out.append(f"-A {u} {_gen_cond(rng, table, None)} {tgt}".replace("  ", " "))
        out.append("COMMIT")
    return "\n".join(out) + "\n"


GEN_SRCS = ["outside", "iface:eth0", "iface:wg0", "host", "172.17.0.0/16", "172.17.0.2", "10.8.0.5",
            "198.51.100.0/24", "127.0.0.1", "172.18.0.3"]
GEN_DSTS = ["192.0.2.1", "172.17.0.2", "172.18.0.3", "127.0.0.1", "8.8.8.8", "10.8.0.5", "172.17.0.1",
            "172.17.0.0/28", "10.99.1.1"]

N_RULESETS = int(os.environ.get("REPLAY_RULESETS", "70"))


def test_generated_witnesses_replay():
    leaves = 0
    forked = 0
    for seed in range(N_RULESETS):
        rules = generate(seed)
        dump = load_text(GEN_HOST + "### iptables-save\n" + rules, f"<generated {seed}>")
        errors = [d for d in dump.diagnostics if d.severity.value == "error"]
        assert not errors, f"generated rule set {seed} does not parse: {errors[:3]}\n{rules}"
        eng = engine_for(dump)
        rng = random.Random(1000 + seed)
        for _ in range(10):
            src, dst = rng.choice(GEN_SRCS), rng.choice(GEN_DSTS)
            proto = rng.choice(["tcp", "tcp", "udp", "icmp"])
            port = None if proto == "icmp" else rng.choice([22, 80, 8080, 443, None])
            ctx = f"generated rule set (seed {seed}):\n{rules}"
            n = check_query(eng, src, dst, port, proto, "generated", ctx)
            leaves += n
            if n > 1:
                forked += 1
    assert_no_disagreement()
    assert leaves >= 500
    assert forked >= 50, "the generated queries should make the engine fork"
    assert Z3_CALLS.get("generated", 0) > 0, "some generated witnesses should come from z3 models"
    STATS["generated forked queries"] = forked


# --------------------------------------------------------------------------- known engine bugs, reproduced

REPRO_RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m addrtype --src-type BROADCAST -j DROP
COMMIT
"""


def _repro_engine():
    return engine_for(load_text(GEN_HOST + "### iptables-save\n" + REPRO_RULES, "repro.txt"))


def test_regression_listener_check_without_port():
    """Fixed: with no --port the engine forks over the listening sockets."""
    from dnlint.engine.query import query
    a = query(_repro_engine(), "outside", "192.0.2.1", None, "tcp")
    assert a.reachable is not True or a.witness["dport"] in (22, 8080), a.as_dict()


def test_regression_zeronet_source_is_no_witness():
    """Fixed: 0.0.0.0/8 is BROADCAST for addrtype and a martian source on input."""
    from dnlint.engine.query import query
    a = query(_repro_engine(), "iface:eth0", "8.8.8.8", 80, "tcp")
    assert a.reachable is not True or ip_int(a.witness["src"]) >> 24 != 0, a.as_dict()


def test_regression_equality_of_two_address_ranges():
    """Fixed: "the original source is the final destination" between two ranges is a fork on the
    relation (z3 keeps it), so a range of senders hairpinned onto themselves by a DNAT meets the
    receiver's martian check on one path and not on the other, and each witness replays."""
    from dnlint.engine.query import query

    rules = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
             "-A PREROUTING -d 172.17.0.0/28 -j DNAT --to-destination 172.17.0.2-172.17.0.3\nCOMMIT\n"
             "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
    eng = engine_for(load_text(GEN_HOST + "### iptables-save\n" + rules, "eq.txt"))
    n = check_query(eng, "172.17.0.2/31", "172.17.0.0/28", 80, "tcp", "equality")
    assert_no_disagreement()
    assert n >= 2
    a = query(eng, "172.17.0.2/31", "172.17.0.0/28", 80, "tcp")
    assert a.reachable is not None, a.as_dict()


def test_zz_report_counts(capsys):
    with capsys.disabled():
        print("\nwitness replay: leaves replayed per category:", STATS)
        print("witness replay: z3 calls per category:", Z3_CALLS)

