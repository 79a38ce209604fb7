"""The kernel oracle for `dnlint matrix --space`: random FORWARD rule sets on a router namespace,
one SYN per class pair (and per class boundary) sent through it, seen or not on the far side.

Topology: ``src`` (s0, 10.255.0.1) -- (f0, 10.255.0.2) ``fw`` (f1, 10.255.1.1) -- (d0, 10.255.1.2)
``dst``. The router forwards everything to ``dst`` (its default route); ``src`` sends raw Ethernet
frames to the router's MAC with any source address (rp_filter is off), so a probe is exactly the
space view's question: the first packet of a connection (a TCP SYN from source port 10000)
arriving on f0 and routed out of f1 — does FORWARD let it through? A sniffer on d0 records which
arrived. The matrix is computed from the rule text alone (a bare rule set) with ``--in f0 --out
f1``; an edge "accept" must arrive, a pair not listed must not; "possible" is counted, not judged.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field

SPORT = 10000
POOLS = ("10.%d.%d", "131.159.%d", "192.168.%d", "172.16.%d")
MAX_PROBES = 2500

SENDER = r'''
import json, socket, struct, sys, time
plan = json.load(open(sys.argv[1]))
mac_dst = bytes.fromhex(sys.argv[2].replace(":", ""))
ifname = sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
mac_src = s.getsockname()[4]

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return (~t) & 0xFFFF

for p in plan:
    src, dst = socket.inet_aton(p["src"]), socket.inet_aton(p["dst"])
    tcp = struct.pack("!HHIIBBHHH", p["sport"], p["dport"], p["seq"], 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), p["seq"] & 0xFFFF, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(mac_dst + mac_src + b"\x08\x00" + ip + tcp)
    time.sleep(0.0002)
print("sent", len(plan))
'''

SNIFFER = r'''
import json, os, select, signal, socket, struct, sys
out, ready = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind((sys.argv[3], 0))
seen = []
def done(*_):
    json.dump(seen, open(out, "w"))
    os._exit(0)
signal.signal(signal.SIGTERM, done)
open(ready, "w").close()
while True:
    r, _, _ = select.select([s], [], [], 0.5)
    if not r:
        continue
    pkt = s.recv(2048)
    ip = pkt[14:]
    if len(ip) < 40 or ip[9] != 6:
        continue
    ihl = (ip[0] & 15) * 4
    sport, dport, seq = struct.unpack("!HHI", ip[ihl:ihl + 8])
    flags = ip[ihl + 13]
    if flags & 0x02:
        seen.append([socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), dport, seq])
'''


# --------------------------------------------------------------------------- the rules


def _net(rng: random.Random, pool: list[str]) -> str:
    base = rng.choice(pool)
    if rng.random() < 0.5:
        return base + ".0/24"
    return base + ".%d/32" % rng.choice((1, 10, 20, 30, 200))


def make_rules(seed: int, nat: bool = False) -> str:
    """A random filter table: FORWARD and a few user chains over a small pool of /24s and /32s,
    with the constructs the space view decides (first match, RETURN, goto, negation, iprange,
    multiport, interfaces, --syn, conntrack state, source ports, REJECT) and some it takes both
    ways (limit). With ``nat``: a nat table of DNATs (to an address, with or without a port) in
    PREROUTING and a user chain, and MASQUERADE or SNAT out of f1."""
    rng = random.Random(seed)
    pool = []
    for _ in range(6):
        t = rng.choice(POOLS)
        pool.append(t % tuple(rng.randrange(256) for _ in range(t.count("%d"))))
    chains = ["U0", "U1", "U2"]
    out = ["*filter", ":INPUT ACCEPT [0:0]", f":FORWARD {rng.choice(['DROP', 'DROP', 'ACCEPT'])} [0:0]",
           ":OUTPUT ACCEPT [0:0]", *[f":{c} - [0:0]" for c in chains]]

    def rule(chain: str, in_user: bool) -> str:
        parts = ["-A", chain]
        r = rng.random()
        if r < 0.35:
            parts += ["-s", _net(rng, pool), "-d", _net(rng, pool)]
        elif r < 0.55:
            parts += (["!"] if rng.random() < 0.2 else []) + ["-s", _net(rng, pool)]
        elif r < 0.75:
            parts += (["!"] if rng.random() < 0.2 else []) + ["-d", _net(rng, pool)]
        elif r < 0.82:
            a = rng.choice(pool)
            lo, hi = sorted(rng.sample(range(1, 255), 2))
            parts += ["-m", "iprange", "--src-range", f"{a}.{lo}-{a}.{hi}"]
        i = rng.random()
        if i < 0.12:
            parts += ["-i", rng.choice(["f0", "f9", "f+"])]
        elif i < 0.18:
            parts += ["!", "-i", "f0"]
        elif i < 0.26:
            parts += ["-o", rng.choice(["f1", "f8"])]
        p = rng.random()
        if p < 0.5:
            parts += ["-p", "tcp", "-m", "tcp", "--dport", str(rng.choice((22, 80, 443, 8080)))]
        elif p < 0.6:
            parts += ["-p", "tcp", "-m", "multiport", "--dports", rng.choice(("22,80", "80,443", "1:1024"))]
        elif p < 0.66:
            parts += ["-p", "tcp", "-m", "tcp", "--sport", rng.choice(("10000", "1024:65535", "53"))]
        elif p < 0.7:
            parts += ["-p", "tcp", "--syn"] if rng.random() < 0.5 else ["-p", "tcp", "!", "--syn"]
        elif p < 0.74:
            parts += ["-m", "conntrack", "--ctstate", rng.choice(("NEW", "ESTABLISHED,RELATED", "INVALID"))]
        elif p < 0.77:
            parts += ["-p", "udp", "-m", "udp", "--dport", "53"]
        elif p < 0.79:
            parts += ["-m", "limit", "--limit", "5/min"]
        t = rng.random()
        if in_user and t < 0.12:
            tgt = ["-j", "RETURN"]
        elif not in_user and t < 0.2:
            c = rng.choice(chains)
            tgt = ["-g", c] if rng.random() < 0.25 else ["-j", c]
        elif t < 0.55:
            tgt = ["-j", "ACCEPT"]
        elif t < 0.85:
            tgt = ["-j", "DROP"]
        else:
            tgt = ["-j", "REJECT"]
        return " ".join(parts + tgt)

    for _ in range(rng.randrange(15, 45)):
        out.append(rule("FORWARD", False))
    for c in chains:
        for _ in range(rng.randrange(2, 10)):
            out.append(rule(c, True))
    out.append("COMMIT")
    if nat:
        out += ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                ":POSTROUTING ACCEPT [0:0]", ":N0 - [0:0]"]
        for _ in range(rng.randrange(2, 8)):
            chain = "N0" if rng.random() < 0.3 else "PREROUTING"
            parts = ["-A", chain]
            if rng.random() < 0.4:
                parts += ["-s", _net(rng, pool)]
            parts += ["-d", _net(rng, pool), "-p", "tcp", "-m", "tcp", "--dport", str(rng.choice((22, 80)))]
            to = rng.choice(pool) + ".%d" % rng.choice((5, 50))
            if rng.random() < 0.5:
                to += ":%d" % rng.choice((22, 80, 8080))
            parts += ["-j", "DNAT", "--to-destination", to] if rng.random() < 0.85 else ["-j", "RETURN"]
            out.append(" ".join(parts))
        out.append("-A PREROUTING " + (f"-s {_net(rng, pool)} " if rng.random() < 0.5 else "") + "-j N0")
        for _ in range(rng.randrange(0, 4)):
            parts = ["-A", "POSTROUTING"]
            if rng.random() < 0.6:
                parts += ["-s", _net(rng, pool)]
            parts += ["-o", "f1"]
            parts += (["-j", "MASQUERADE"] if rng.random() < 0.5 else
                      ["-j", "SNAT", "--to-source", "198.51.100.%d" % rng.randrange(1, 250)])
            out.append(" ".join(parts))
        out.append("COMMIT")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- a case


@dataclass
class SpaceCase:
    seed: int
    rules: str
    classes: int
    probes: int
    agree: int
    possible: int
    disagreements: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        t = " ".join(f"{k}={v:.1f}s" for k, v in self.timings.items())
        return (f"seed={self.seed}: {self.classes} classes, {self.probes} probes: {self.agree} agree, "
                f"{len(self.disagreements)} disagree, {self.possible} possible; {t}")


def _usable(addr: int) -> bool:
    return not (addr <= 0x00FFFFFF or 0x7F000000 <= addr <= 0x7FFFFFFF or addr >= 0xE0000000
                or 0x0AFF0000 <= addr <= 0x0AFFFFFF)


def _pick(ranges, rng: random.Random, prefer_edges: bool = False) -> list[int]:
    """Addresses of a class the probe can use: its first usable one, and with ``prefer_edges`` each
    range's ends (the class boundaries) and one inside."""
    out = []
    for lo, hi in ranges:
        cands = [lo, hi, lo + 1, hi - 1, rng.randint(lo, hi)] if prefer_edges else [lo + 1, hi - 1, lo, hi]
        cands += [rng.randint(lo, hi) for _ in range(20)]  # a big range's ends may all be martians
        for a in cands:
            if lo <= a <= hi and _usable(a) and a not in out:
                out.append(a)
        if len(out) >= 2 and not prefer_edges:
            break
    return out


def plan_probes(m, rng: random.Random) -> list[dict]:
    from dnlint.model.intervals import ip_str

    plan = []
    for s in m.services:
        wit = {c.id: _pick(c.ranges, rng) for c in s.classes}
        edges = {c.id: _pick(c.ranges, rng, prefer_edges=True)[:6] for c in s.classes}
        for c in s.classes:
            for d in s.classes:
                fate = s.fate(c.id, d.id)
                srcs = edges[c.id] if rng.random() < 0.3 else wit[c.id]
                dsts = edges[d.id][:2] if rng.random() < 0.3 else wit[d.id]
                for a in srcs[:3]:
                    for b in dsts[:2]:
                        if a != b:
                            plan.append({"src": ip_str(a, 4), "dst": ip_str(b, 4), "dport": s.dport, "sport": SPORT,
                                         "fate": fate, "pair": [c.id, d.id], "nat": s.nat(c.id, d.id)})
    rng.shuffle(plan)
    plan = plan[:MAX_PROBES]
    for i, p in enumerate(plan):
        p["seq"] = 1000 + i
    return plan


def _collect(ns) -> str:
    """The router namespace's dump, by dnlint's own collector run inside it (the NAT-aware full path
    needs its addresses, routes and sysctls)."""
    import os
    import shutil

    from dnlint.collect import collect_dump, default_runner

    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin:/usr/sbin:/sbin"])

    def runner(argv, timeout):
        argv = list(argv)
        if argv[0] in ("docker", "dockerd") or not shutil.which(argv[0], path=search):
            raise FileNotFoundError(argv[0])
        res = default_runner([*ns.exec_prefix, *argv], timeout)
        if argv[:2] == ["ps", "-eo"] and res.returncode == 0:
            res.stdout = res.stdout.splitlines()[0] + "\n"
        return res

    return collect_dump(runner=runner).text


def _expected_header(p: dict) -> tuple[str, str, int]:
    """(src, dst, dport) the far side should see: the translations the matrix's edge names."""
    import re

    src, dst, dport = p["src"], p["dst"], p["dport"]
    nat = p.get("nat") or ""
    m = re.search(r"DNAT to ([\d.]+)(?::(\d+))?", nat)
    if m:
        dst = m.group(1)
        dport = int(m.group(2)) if m.group(2) else dport
    m = re.search(r"SNAT to ([\d.]+)", nat)
    if m:
        src = m.group(1)
    elif "masqueraded" in nat:
        src = "10.255.1.1"
    return src, dst, dport


class Router:
    """The three namespaces of a case, one rule set loaded; ``probe`` sends a plan and returns what
    the far side saw, by probe sequence number."""

    def __init__(self, lab, rules: str, seed: int):
        src, fw, dst = lab.netns("ssrc"), lab.netns("sfw"), lab.netns("sdst")
        self.lab, self.src, self.fw, self.dst = lab, src, fw, dst
        lab.veth(src, "s0", fw, "f0")
        lab.veth(fw, "f1", dst, "d0")
        src.addr("s0", "10.255.0.1/30")
        fw.addr("f0", "10.255.0.2/30")
        fw.addr("f1", "10.255.1.1/30")
        dst.addr("d0", "10.255.1.2/30")
        for ns in (src, fw, dst):
            ns.sh("sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0")
        fw.sh("sysctl -q -w net.ipv4.conf.f0.rp_filter=0 net.ipv4.conf.f1.rp_filter=0 net.ipv4.ip_forward=1")
        fw.route("default", "via", "10.255.1.2")
        res = fw.run("iptables-restore", input=rules, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"seed {seed}: the rules do not load: {res.stderr.strip()}\n{rules}")
        self.mac = json.loads(fw.run("ip", "-j", "link", "show", "f0").stdout)[0]["address"]
        fw.run("ping", "-c", "1", "-W", "1", "10.255.1.2", check=False)  # resolve the next hop

    def collect(self) -> str:
        return _collect(self.fw)

    def probe(self, plan: list[dict]) -> dict[int, list]:
        from netns import PYTHON

        wd = self.lab.workdir
        (wd / "plan.json").write_text(json.dumps(plan))
        (wd / "sender.py").write_text(SENDER)
        (wd / "sniffer.py").write_text(SNIFFER)
        out, ready = wd / "seen.json", wd / "ready"
        for f in (out, ready):
            if f.exists():
                f.unlink()
        sniffer = self.lab.spawn([*self.dst.exec_prefix, PYTHON, str(wd / "sniffer.py"), str(out), str(ready), "d0"])
        deadline = time.monotonic() + 5
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.src.run(PYTHON, str(wd / "sender.py"), str(wd / "plan.json"), self.mac, "s0", timeout=120)
        time.sleep(0.5)
        self.lab.stop(sniffer)
        return {row[3]: row for row in json.loads(out.read_text())} if out.exists() else {}


def run_space_case(seed: int, full: bool = False) -> SpaceCase:
    from dnlint.engine.space import space_dump
    from dnlint.load import load_text
    from netns import Lab

    rules = make_rules(seed, nat=full)
    timings: dict[str, float] = {}
    with Lab(tag=f"s{seed % 100000}") as lab:
        t = time.monotonic()
        router = Router(lab, rules, seed)
        timings["build"] = time.monotonic() - t
        t = time.monotonic()
        text = router.collect() if full else rules
        m = space_dump(load_text(text, f"<space oracle {seed}>"), path="full" if full else "forward",
                       services=[("tcp", 22), ("tcp", 80)], in_iface="f0", out_iface=None if full else "f1",
                       replay_budget=64)
        timings["matrix"] = time.monotonic() - t
        bad = [f for s in m.services for f in s.replay_failures]
        rng = random.Random(seed ^ 0xFACE)
        plan = plan_probes(m, rng)
        t = time.monotonic()
        seen = router.probe(plan)
        timings["probe"] = time.monotonic() - t
    agree = possible = 0
    for p in plan:
        got = seen.get(p["seq"])
        if p["fate"] == "possible":
            possible += 1
            continue
        where = (f"{p['src']} -> {p['dst']}:{p['dport']} (classes {p['pair'][0]} -> {p['pair'][1]}"
                 f"{', ' + p['nat'] if p.get('nat') else ''})")
        if (got is not None) != (p["fate"] == "accept"):
            bad.append(f"{where}: dnlint says {p['fate']}, the kernel {'forwarded' if got else 'did not forward'} it")
        elif got is not None and tuple(got[:3]) != _expected_header(p):
            bad.append(f"{where}: the far side saw {got[0]} -> {got[1]}:{got[2]}, dnlint's translations say "
                       "{} -> {}:{}".format(*_expected_header(p)))
        else:
            agree += 1
    return SpaceCase(seed, rules, sum(len(s.classes) for s in m.services), len(plan), agree, possible, bad, timings)


# --------------------------------------------------------------------------- diffs


def make_edit(rules: str, seed: int) -> tuple[str, str]:
    """One random edit of a rule set: a rule added, removed or moved, a target changed, a DNAT
    retargeted. Returns (the new rules, what was done)."""
    rng = random.Random(seed)
    lines = rules.split("\n")
    idx = [i for i, ln in enumerate(lines) if ln.startswith("-A ")]
    dnat = [i for i in idx if "--to-destination" in lines[i]]
    kinds = ["add", "add", "remove", "move", "target"] + (["retarget", "retarget"] if dnat else [])
    kind = rng.choice(kinds)
    i = rng.choice(idx)
    if kind == "add":
        if rng.random() < 0.5:  # at the top of FORWARD: an edit that matters
            i = next(k for k in idx if lines[k].startswith("-A FORWARD "))
        chain = lines[i].split()[1]
        src = f"{lines[i].split('-s ')[1].split()[0]}" if " -s " in lines[i] else "10.77.0.0/16"
        new = f"-A {chain} -s {src} -p tcp -m tcp --dport {rng.choice((22, 80))} -j {rng.choice(('ACCEPT', 'DROP'))}"
        if lines[i].split()[1] in ("PREROUTING", "POSTROUTING", "N0"):
            new = f"-A {chain} -s {src} -p tcp -m tcp --dport 80 -j ACCEPT"
        lines.insert(i, new)
        what = f"added before line {i + 1}: {new}"
    elif kind == "remove":
        what = f"removed line {i + 1}: {lines[i]}"
        del lines[i]
    elif kind == "move":
        chain = lines[i].split()[1]
        same = [j for j in idx if lines[j].split()[1] == chain]
        j = rng.choice(same)
        ln = lines.pop(i)
        lines.insert(j, ln)
        what = f"moved line {i + 1} to line {j + 1}: {ln}"
    elif kind == "target":
        ln = lines[i]
        for a, b in ((" -j ACCEPT", " -j DROP"), (" -j DROP", " -j ACCEPT"), (" -j REJECT", " -j ACCEPT"),
                     (" -j RETURN", " -j DROP")):
            if ln.endswith(a) or (a + " ") in ln:
                lines[i] = ln.replace(a, b, 1)
                break
        what = f"target changed at line {i + 1}: {ln} -> {lines[i]}"
    else:
        i = rng.choice(dnat)
        ln = lines[i]
        to = ln.split("--to-destination ")[1].split()[0]
        addr, _, port = to.partition(":")
        new_to = addr.rsplit(".", 1)[0] + ".%d" % rng.choice((6, 60)) + (f":{port}" if port else "")
        lines[i] = ln.replace(to, new_to)
        what = f"DNAT retargeted at line {i + 1}: {to} -> {new_to}"
    return "\n".join(lines), what


@dataclass
class DiffCase:
    seed: int
    edit: str
    probes: int
    agree: int
    skipped: int
    changed_probes: int
    disagreements: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"seed={self.seed}: {self.edit[:90]}: {self.probes} probes ({self.changed_probes} in changed "
                f"classes): {self.agree} agree, {len(self.disagreements)} disagree, {self.skipped} possible")


def run_diff_case(seed: int, full: bool = False) -> DiffCase:
    """OLD and a random edit of it on the same topology; the probes whose outcome differs on the kernel
    must be exactly those in the diff's changed classes (sampled in every class pair)."""
    from dnlint.engine.diff import candidate_dump, diff_space
    from dnlint.load import load_text
    from dnlint.model.host import build_host
    from netns import Lab

    old = make_rules(seed, nat=full)
    new, what = make_edit(old, seed ^ 0xD1FF)
    with Lab(tag=f"d{seed % 100000}") as lab:
        r_old = Router(lab, old, seed)
        old_dump = load_text(r_old.collect() if full else old, "<old>")
        new_dump = candidate_dump(old_dump, load_text(new, "<new>")) if full else load_text(new, "<new>")
        d = diff_space(build_host(old_dump, 4), build_host(new_dump, 4), path="full" if full else "forward",
                       in_iface="f0", out_iface=None if full else "f1")
        # what each side says of a pair the diff leaves unchanged: a "possible" (a rate limit, say)
        # is not judged there either, since the kernel's answer then turns on traffic history
        from dnlint.engine.space import space_dump

        sides = [space_dump(x, path="full" if full else "forward", services=[(s.proto, s.dport) for s in d.services],
                            in_iface="f0", out_iface=None if full else "f1", replay_budget=0)
                 for x in (old_dump, new_dump)]
        rng = random.Random(seed ^ 0xBEEF)
        plan = []
        for s in d.services:
            if s.proto != "tcp":
                continue  # the sender sends TCP SYNs
            changed = {(c.src, c.dst): c for c in s.changes}
            classes = s.classes
            if not classes:  # no changed rule matches this service: any probe must agree on both sides
                continue
            wit = {c.id: _pick(c.ranges, rng, prefer_edges=True)[:4] for c in classes}
            for c in classes:
                for e in classes:
                    ch = changed.get((c.id, e.id))
                    k = 4 if ch is not None else 2  # a changed pair: its corners as well
                    for a in wit[c.id][:k]:
                        for b in wit[e.id][:k]:
                            if a != b:
                                maybe = any(_fate_at(m, s.proto, s.dport, a, b) == "possible" for m in sides)
                                plan.append({"src": _ipstr(a), "dst": _ipstr(b), "dport": s.dport, "sport": SPORT,
                                             "changed": ch is not None, "possible": maybe,
                                             "pair": [c.id, e.id]})
        rng.shuffle(plan)
        plan = plan[:MAX_PROBES]
        for k, p in enumerate(plan):
            p["seq"] = 5000 + k
        seen_old = r_old.probe(plan)
    with Lab(tag=f"e{seed % 100000}") as lab:  # a fresh router: no conntrack entry of the first run
        seen_new = Router(lab, new, seed).probe(plan)
    agree = skipped = n_changed = 0
    bad = []
    for p in plan:
        a, b = seen_old.get(p["seq"]), seen_new.get(p["seq"])
        kernel_changed = (a is None) != (b is None) or (a is not None and tuple(a[:3]) != tuple(b[:3]))
        n_changed += p["changed"]
        if p["possible"]:
            skipped += 1
            continue
        if kernel_changed == p["changed"]:
            agree += 1
        else:
            bad.append(f"{p['src']} -> {p['dst']}:{p['dport']} (classes {p['pair'][0]} -> {p['pair'][1]}): "
                       f"dnlint says {'changed' if p['changed'] else 'unchanged'}, the kernel: "
                       f"{'forwarded' if a else 'dropped'} before, {'forwarded' if b else 'dropped'} after"
                       f" ({what})")
    return DiffCase(seed, what, len(plan), agree, skipped, n_changed, bad)


def _fate_at(m, proto: str, dport: int, src: int, dst: int) -> str:
    s = next(x for x in m.services if x.proto == proto and x.dport == dport)
    return s.fate(s.class_of(src).id, s.class_of(dst).id)


def _ipstr(a: int) -> str:
    from dnlint.model.intervals import ip_str

    return ip_str(a, 4)
