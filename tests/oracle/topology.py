"""A Docker-like host built from network namespaces, for the kernel oracle.

    with Lab() as lab:
        case = random_case(random.Random(seed))
        topo = build_host(lab, case)
        topo.host.iptables_restore(rules)
        results = topo.probe_all(probes)      # real TCP/UDP/ICMP echo, from every sender at once
        dump = topo.collect()                 # dnlint's collector, run in the host namespace

Layout (addresses are fixed, names vary per case)::

    outside (192.0.2.2/24 eth0)  --veth--  host (192.0.2.1/24 on UPLINK; default via 192.0.2.2)
    host: bridge B0 10.99.1.1/24 (br0 or docker0), bridge B1 10.99.2.1/24 (br1 or br-<hex>)
    c1 10.99.1.2 and c2 10.99.1.3 on B0, c3 10.99.2.2 on B1 (eth0 in each; default via gateway)

``outside`` has no default route; it routes 10.99.0.0/16 via 192.0.2.1 only when the case
is ``routed`` (a neighbour that knows the container subnets), so without it a container's
unmasqueraded packet reaches outside but outside cannot answer.

Listeners: one process per namespace (the host's python), TCP and UDP, recording for each
connection or datagram the peer address, the local address and port it arrived on (after
any DNAT/REDIRECT) and the probe's token. Containers and outside listen on 0.0.0.0 on every
probed port (80, 8080, 5000, 9090, 8443, 2222: their listeners are not in the host's dump,
so nothing there may depend on them); the host on 0.0.0.0 ports 8080 and 9090 and on
127.0.0.1 port 5000 (a loopback-bound service) — nothing on the host's 80, 8443 or 2222.
The same process holds a raw ICMP socket that records every echo request delivered to its
namespace (source, destination after any DNAT, echo id, token from the payload); the
namespace's kernel answers the echo itself.

Probes bind a known source port (``sport`` in the probe, 40000 + its index) so a rule
matching ``--sport`` can be asked about with the same port. A UDP probe with
``"udp_socket": "unconnected"`` uses sendto/recvfrom (any answer is taken, ``reply_from``
says whose; IP_RECVERR keeps ICMP errors), otherwise connect/send/recv (the kernel gives
the socket only an answer from the address it connected to). Every listener answers from a
socket bound to 0.0.0.0, so the kernel picks the answer's source: for a host address that is
not the one toward the sender (a container to the uplink address), another address. An ICMP echo probe uses it as
its echo id, from a ping socket (net.ipv4.ping_group_range is set to admit root in every
namespace); it is reached when its echo reply comes back within the timeout.

Per case: ip_forward, route_localnet on each bridge/uplink and on ``all``, the host
namespace's net.bridge.bridge-nf-call-iptables (when br_netfilter is available; otherwise
whatever the kernel gives is recorded), hairpin mode per container bridge port (Docker
turns it on without the userland proxy; with bridge-nf-call-iptables=1 a container's DNAT
back to itself is bridged and needs it: ``ip -d link`` in the dump shows ``hairpin on``),
and ``routed``. rp_filter is 0 everywhere.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    from tests.netns import ICMP_ECHO, PYTHON, Lab, Netns, ending, run
except ImportError:  # run from tests/ as rootdir (pytest's prepend import mode)
    from netns import ICMP_ECHO, PYTHON, Lab, Netns, ending, run  # type: ignore

HOST_UP = "192.0.2.1"
OUTSIDE_IP = "192.0.2.2"
GW0, GW1 = "10.99.1.1", "10.99.2.1"
SUB0, SUB1 = "10.99.1.0/24", "10.99.2.0/24"
CONTAINER_IPS = {"c1": "10.99.1.2", "c2": "10.99.1.3", "c3": "10.99.2.2"}
CONTAINER_BRIDGE = {"c1": 0, "c2": 0, "c3": 1}
LISTEN_PORTS = (80, 8080, 5000, 9090)  # DNAT/REDIRECT targets
HOST_LISTEN = (("0.0.0.0", 8080), ("0.0.0.0", 9090), ("127.0.0.1", 5000))
EXTRA_PORTS = (8443, 2222)  # the host does not listen: reached there only through a DNAT
PROBE_PORTS = LISTEN_PORTS + EXTRA_PORTS
PEER_LISTEN = PROBE_PORTS  # containers and outside listen on every probed port
SPORT_BASE = 40000


# --------------------------------------------------------------------------- the case


@dataclass
class Case:
    """The host-level knobs of one oracle case (the rules come from rulegen)."""

    seed: int
    b0: str = "br0"
    b1: str = "br1"
    uplink: str = "up0"
    veths: dict[str, str] = field(default_factory=dict)  # container -> host-side veth name
    ip_forward: int = 1
    route_localnet: dict[str, int] = field(default_factory=dict)  # iface or "all" -> 0/1
    bridge_nf: int = 1  # wanted net.bridge.bridge-nf-call-iptables in the host namespace
    routed: bool = False  # outside routes 10.99.0.0/16 via the host
    style: str = "docker"  # "docker" (Docker-shaped rules with variations) or "generic"
    userland_proxy: bool = True  # docker style: the rules Docker writes with/without the proxy
    hairpin: dict[str, bool] = field(default_factory=dict)  # container -> hairpin mode on its bridge port

    def bridge(self, i: int) -> str:
        return (self.b0, self.b1)[i]

    def gateway(self, i: int) -> str:
        return (GW0, GW1)[i]

    def subnet(self, i: int) -> str:
        return (SUB0, SUB1)[i]

    def host_addresses(self) -> dict[str, str]:
        """iface -> the host's address on it."""
        return {self.uplink: HOST_UP, self.b0: GW0, self.b1: GW1}

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        rl = ",".join(f"{k}={v}" for k, v in sorted(self.route_localnet.items()))
        hp = ",".join(c for c, on in sorted(self.hairpin.items()) if on) or "none"
        return (f"style={self.style} proxy={self.userland_proxy} bridges={self.b0},{self.b1} "
                f"uplink={self.uplink} ip_forward={self.ip_forward} route_localnet[{rl}] "
                f"bridge-nf-call-iptables={self.bridge_nf} hairpin[{hp}] routed={self.routed}")


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def random_case(rng: random.Random, seed: int = 0) -> Case:
    """Draw the host knobs of a case. Docker-like names and settings most of the time."""
    docker_names = rng.random() < 0.6
    if docker_names:
        b0, b1 = "docker0", f"br-{_hex(rng, 12)}"
        veths = {c: f"veth{_hex(rng, 7)}" for c in CONTAINER_IPS}
    else:
        b0, b1 = "br0", "br1"
        veths = {c: f"v{c}h" for c in CONTAINER_IPS}
    uplink = rng.choice(["eth0", "up0", "ens3"])
    style = "docker" if rng.random() < 0.75 else "generic"
    proxy = rng.random() < 0.5
    rl: dict[str, int] = {}
    for br in (b0, b1):
        # Docker without the userland proxy sets route_localnet=1 on its bridges
        p = 0.8 if (style == "docker" and not proxy) else 0.25
        rl[br] = int(rng.random() < p)
    rl[uplink] = int(rng.random() < 0.1)
    rl["all"] = int(rng.random() < 0.1)
    # Docker turns hairpin mode on for its bridge ports when the userland proxy is off
    ph = 0.85 if (style == "docker" and not proxy) else 0.15
    hairpin = {c: rng.random() < ph for c in CONTAINER_IPS}
    return Case(seed=seed, b0=b0, b1=b1, uplink=uplink, veths=veths,
                ip_forward=int(rng.random() < 0.85), route_localnet=rl,
                bridge_nf=int(rng.random() < 0.6), routed=rng.random() < 0.5,
                style=style, userland_proxy=proxy, hairpin=hairpin)


# --------------------------------------------------------------------------- processes

LISTENER = r"""
import json, os, selectors, socket, struct, sys, threading
spec_file, out, ready, tag = sys.argv[1:5]
specs = json.load(open(spec_file))
lock = threading.Lock()
fh = open(out, "a")
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
def record(d):
    with lock:
        fh.write(json.dumps(d) + "\n"); fh.flush()
def token_of(data):
    return data.decode("utf-8", "replace").strip().split(" ")[0] if data else ""
sel = selectors.DefaultSelector()
for proto, addr, port in specs:
    if proto == "tcp":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port)); s.listen(256)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind((addr, port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, (proto, addr, port))
# a raw ICMP socket gets a copy of every ICMP packet delivered here (after INPUT); the
# kernel still answers echo requests itself. It records the echo requests (their tokens).
ic = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ic.setblocking(False)
sel.register(ic, selectors.EVENT_READ, ("icmp", None, None))
open(ready, "w").write(str(os.getpid()))
def serve(c, peer, local, addr, port):
    try:
        c.settimeout(2)
        data = b""
        try:
            data = c.recv(256)
        except OSError:
            pass
        record({"proto": "tcp", "bound": addr, "port": port, "dst": local[0], "dport": local[1],
                "src": peer[0], "sport": peer[1], "token": token_of(data)})
        c.sendall(("hello " + tag + " " + peer[0] + "\n").encode())
    except OSError:
        pass
    finally:
        c.close()
while True:
    for key, _ in sel.select():
        proto, addr, port = key.data
        s = key.fileobj
        try:
            if proto == "icmp":
                data = s.recv(65535)
                ihl = (data[0] & 0x0F) * 4
                if len(data) >= ihl + 8 and data[ihl] == 8:  # an echo request
                    ident = struct.unpack("!H", data[ihl + 4:ihl + 6])[0]
                    record({"proto": "icmp", "bound": None, "port": None,
                            "dst": socket.inet_ntoa(data[16:20]), "dport": None,
                            "src": socket.inet_ntoa(data[12:16]), "sport": ident,
                            "token": token_of(data[ihl + 8:])})
            elif proto == "tcp":
                c, peer = s.accept()
                c.setblocking(True)
                threading.Thread(target=serve, args=(c, peer, c.getsockname(), addr, port),
                                 daemon=True).start()
            else:
                data, anc, flags, peer = s.recvmsg(2048, socket.CMSG_SPACE(12))
                dst = None
                for lvl, typ, cdata in anc:
                    if lvl == socket.IPPROTO_IP and typ == IP_PKTINFO and len(cdata) >= 12:
                        dst = socket.inet_ntoa(cdata[8:12])
                record({"proto": "udp", "bound": addr, "port": port, "dst": dst, "dport": port,
                        "src": peer[0], "sport": peer[1], "token": token_of(data)})
                try:
                    s.sendto(("hello " + tag + " " + peer[0] + "\n").encode(), peer)
                except OSError:
                    pass
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            continue
"""

PROBER = ICMP_ECHO + r"""
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
probes = json.load(open(sys.argv[1])); timeout = float(sys.argv[2])
def err(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    return e.strerror or type(e).__name__
def one(p):
    r = {"token": p["token"], "connected": False, "reply": None, "reply_from": None, "error": None,
         "send_error": None, "local": None}
    s = None
    if p["proto"] == "icmp":
        r.update(icmp_echo(p["dst"], p.get("sport"), p["token"], timeout))
        return r
    try:
        if p["proto"] == "tcp":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if p.get("sport"):
                s.bind(("0.0.0.0", p["sport"]))
            s.settimeout(timeout)
            s.connect((p["dst"], p["port"]))
            r["connected"] = True
            r["local"] = s.getsockname()[0]
            s.sendall((p["token"] + " probe\n").encode())
            try:
                r["reply"] = s.recv(256).decode("utf-8", "replace").strip() or None
                if r["reply"]:
                    r["reply_from"] = s.getpeername()[0]
            except OSError as e:
                r["error"] = "recv: " + err(e)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(timeout)
            msg = (p["token"] + " probe\n").encode()
            try:
                if p.get("sport"):
                    s.bind(("0.0.0.0", p["sport"]))
                if p.get("udp_socket") == "unconnected":
                    # sendto/recvfrom: any answer is taken; IP_RECVERR: ICMP errors still reported
                    s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVERR", 11), 1)
                    s.sendto(msg, (p["dst"], p["port"]))
                else:
                    s.connect((p["dst"], p["port"]))
                    r["local"] = s.getsockname()[0]
                    s.send(msg)
            except OSError as e:
                r["send_error"] = err(e)
                raise
            r["connected"] = True  # UDP: sent without a local error
            try:
                data, peer = s.recvfrom(2048)
                r["reply"] = data.decode("utf-8", "replace").strip() or None
                r["reply_from"] = peer[0]
                r["reply_port"] = peer[1]
            except OSError as e:
                r["error"] = "recv: " + err(e)
    except OSError as e:
        r["error"] = err(e)
    finally:
        if s is not None:
            s.close()
    return r
with ThreadPoolExecutor(max(1, min(96, len(probes)))) as ex:
    res = list(ex.map(one, probes))
print(json.dumps(res))
"""


@dataclass
class NsListener:
    ns: str  # "host", "container:c1", "outside"
    proc: subprocess.Popen
    log: Path

    def records(self) -> list[dict]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


# --------------------------------------------------------------------------- topology


@dataclass
class Topology:
    lab: Lab
    case: Case
    host: Netns
    outside: Netns
    containers: dict[str, Netns]
    listeners: dict[str, NsListener] = field(default_factory=dict)
    br_netfilter: bool = False  # net.bridge.* exists in the host namespace
    bridge_nf_actual: str | None = None  # what the kernel reports after setting it
    notes: list[str] = field(default_factory=list)
    build_seconds: float = 0.0

    # -- naming -------------------------------------------------------------------
    def ctx(self, sender: str) -> Netns:
        if sender == "host":
            return self.host
        if sender == "outside":
            return self.outside
        if sender.startswith("container:"):
            return self.containers[sender.split(":", 1)[1]]
        raise KeyError(sender)

    @staticmethod
    def sender_ip(sender: str) -> str | None:
        """The address a sender's packets carry (None for the host: it depends on the route)."""
        if sender == "outside":
            return OUTSIDE_IP
        if sender.startswith("container:"):
            return CONTAINER_IPS[sender.split(":", 1)[1]]
        return None

    def senders(self) -> list[str]:
        return ["host", *[f"container:{c}" for c in self.containers], "outside"]

    def destinations(self) -> list[str]:
        return ["127.0.0.1", HOST_UP, GW0, GW1, *CONTAINER_IPS.values(), OUTSIDE_IP]

    def owner_of(self, ip: str) -> str | None:
        """Which namespace holds ``ip`` ("host", "container:c1", "outside")."""
        if ip is None:
            return None
        if ip.startswith("127.") or ip in (HOST_UP, GW0, GW1):
            return "host"
        for c, cip in CONTAINER_IPS.items():
            if cip == ip:
                return f"container:{c}"
        if ip == OUTSIDE_IP:
            return "outside"
        return None

    # -- probes -------------------------------------------------------------------
    def probe_all(self, probes: list[dict], timeout: float = 1.0, settle: float = 0.4) -> list[dict]:
        """Run probes (dicts with sender, dst, port, proto, token) concurrently.

        One prober process per sender namespace, all senders at once; each probe is
        bounded by ``timeout`` (connect, then reply). Returns one result per probe (same
        order) with the prober's view and what the listeners recorded.
        """
        by_sender: dict[str, list[dict]] = {}
        for p in probes:
            by_sender.setdefault(p["sender"], []).append(p)
        procs = []
        wd = self.lab.workdir
        for sender, items in by_sender.items():
            f = wd / f"probes-{sender.replace(':', '_')}-{items[0]['token']}.json"
            f.write_text(json.dumps(items))
            out = open(wd / (f.name + ".out"), "w")
            p = self.lab.spawn([*self.ctx(sender).exec_prefix, PYTHON, str(self._script("prober.py", PROBER)),
                                str(f), str(timeout)], stdout=out, stderr=subprocess.STDOUT)
            out.close()
            procs.append((p, wd / (f.name + ".out"), items))
        seen: dict[str, dict] = {}
        deadline = time.monotonic() + timeout * 2 + 20
        for p, outf, items in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self.lab.stop(p)
            text = outf.read_text()
            try:
                rows = json.loads(text.strip().splitlines()[-1])
            except (ValueError, IndexError):
                rows = [{"token": it["token"], "connected": False, "reply": None,
                         "error": f"prober failed: {text.strip()[-200:]}", "send_error": None,
                         "local": None} for it in items]
            for r in rows:
                seen[r["token"]] = r
        time.sleep(settle)
        hits: dict[str, list[tuple[str, dict]]] = {}
        for ns, ls in self.listeners.items():
            for rec in ls.records():
                hits.setdefault(rec.get("token", ""), []).append((ns, rec))
        results = []
        for p in probes:
            r = seen.get(p["token"], {})
            h = hits.get(p["token"], [])
            first = h[0] if h else None
            # TCP/UDP: reached = the listener got it. ICMP echo: reached = the reply came back
            # (dnlint's question); delivered_* / seen_src: the destination's raw socket's view
            reached = bool(r.get("reply") is not None) if p["proto"] == "icmp" else bool(h)
            results.append({
                **p,
                "reached": reached,
                "delivered_to": first[0] if first else None,
                "delivered_ip": first[1].get("dst") if first else None,
                "delivered_port": first[1].get("dport") if first else None,
                "seen_src": first[1].get("src") if first else None,
                "deliveries": len(h),
                "connected": r.get("connected") if p["proto"] == "tcp" else None,
                "reply": r.get("reply") is not None,
                "error": r.get("error"),
                "send_error": r.get("send_error"),
                "local": r.get("local"),
                "reply_from": r.get("reply_from"),
                "ended": ending(r.get("reply"), r.get("error"), r.get("send_error"),
                                bool(r.get("connected")) and p["proto"] == "tcp"),
            })
        return results

    def _script(self, name: str, text: str) -> Path:
        f = self.lab.workdir / name
        if not f.exists():
            f.write_text(text)
        return f

    # -- dump -----------------------------------------------------------------------
    def collect(self, extra_header: list[str] | tuple[str, ...] = ()) -> str:
        """The host namespace's dump, written by dnlint's collector run inside it.

        No Docker inventory (docker commands are reported as not installed); the ``ps``
        section keeps only the host namespace's listener process.
        """
        from dnlint.collect import collect_dump, default_runner

        prefix = self.host.exec_prefix
        mine = {ls.proc.pid for ns, ls in self.listeners.items() if ns == "host"}
        search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin:/usr/sbin:/sbin"])

        def runner(argv, timeout):
            argv = list(argv)
            if argv[0] in ("docker", "dockerd") or not shutil.which(argv[0], path=search):
                raise FileNotFoundError(argv[0])
            res = default_runner([*prefix, *argv], timeout)
            if argv[:2] == ["ps", "-eo"] and res.returncode == 0:
                lines = res.stdout.splitlines()
                keep = lines[:1]
                for ln in lines[1:]:
                    parts = ln.split(None, 1)
                    if parts and parts[0].isdigit() and int(parts[0]) in mine:
                        keep.append(ln)
                res.stdout = "\n".join(keep) + "\n"
            return res

        return collect_dump(runner=runner, extra_header=list(extra_header)).text


def _bridge_nf_available(ns: Netns) -> bool:
    probe = ns.run("test", "-e", "/proc/sys/net/bridge/bridge-nf-call-iptables", check=False)
    return probe.returncode == 0


_modprobe_tried = False


def build_host(lab: Lab, case: Case, peer_ports: tuple[int, ...] = PEER_LISTEN) -> Topology:
    """Build the namespaces of ``case`` inside ``lab`` (the lab tears them down); containers and
    outside listen on ``peer_ports`` (TCP and UDP)."""
    global _modprobe_tried
    t0 = time.monotonic()
    host = lab.netns("host")
    outside = lab.netns("out")
    containers = {c: lab.netns(c) for c in CONTAINER_IPS}
    topo = Topology(lab, case, host, outside, containers)
    for ns in (host, outside, *containers.values()):
        ns.sh("sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 "
              "net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 "
              "'net.ipv4.ping_group_range=0 0'")  # ICMP echo probes use ping sockets as root

    # uplink
    lab.veth(host, case.uplink, outside, "eth0")
    host.addr(case.uplink, f"{HOST_UP}/24")
    outside.addr("eth0", f"{OUTSIDE_IP}/24")
    host.route("default", "via", OUTSIDE_IP)
    if case.routed:
        outside.route("10.99.0.0/16", "via", HOST_UP)

    # bridges and containers
    for i in (0, 1):
        br = case.bridge(i)
        host.ip("link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        host.addr(br, f"{case.gateway(i)}/24")
    for c, ip in CONTAINER_IPS.items():
        i = CONTAINER_BRIDGE[c]
        veth = case.veths.get(c) or f"v{c}h"
        lab.veth(host, veth, containers[c], "eth0")
        host.enslave(veth, case.bridge(i))
        if case.hairpin.get(c):
            host.ip("link", "set", veth, "type", "bridge_slave", "hairpin", "on")
        containers[c].addr("eth0", f"{ip}/24")
        containers[c].route("default", "via", case.gateway(i))

    # sysctls
    host.sysctl("net.ipv4.ip_forward", case.ip_forward)
    for iface, v in case.route_localnet.items():
        host.sysctl(f"net.ipv4.conf.{iface}.route_localnet", v)
    topo.br_netfilter = _bridge_nf_available(host)
    if not topo.br_netfilter and not _modprobe_tried:
        _modprobe_tried = True
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True)
        topo.br_netfilter = _bridge_nf_available(host)
    if topo.br_netfilter:
        host.sysctl("net.bridge.bridge-nf-call-iptables", case.bridge_nf)
        topo.bridge_nf_actual = host.read_sysctl("net.bridge.bridge-nf-call-iptables")
    else:
        topo.notes.append("br_netfilter unavailable: no net.bridge.* in the host namespace "
                          "(bridged traffic never meets iptables)")

    # listeners: one process per namespace
    specs = {"host": [[p, a, port] for a, port in HOST_LISTEN for p in ("tcp", "udp")],
             "outside": [[p, "0.0.0.0", port] for port in peer_ports for p in ("tcp", "udp")]}
    for c in containers:
        specs[f"container:{c}"] = [[p, "0.0.0.0", port] for port in peer_ports for p in ("tcp", "udp")]
    script = topo._script("listener.py", LISTENER)
    pending = []
    for ns_name, spec in specs.items():
        key = ns_name.replace(":", "_")
        sf = lab.workdir / f"listen-{key}.json"
        sf.write_text(json.dumps(spec))
        log = lab.workdir / f"hits-{key}.jsonl"
        ready = lab.workdir / f"ready-{key}"
        err = open(lab.workdir / f"listen-{key}.err", "w")
        p = lab.spawn([*topo.ctx(ns_name).exec_prefix, PYTHON, str(script), str(sf), str(log),
                       str(ready), ns_name], stderr=err)
        err.close()
        topo.listeners[ns_name] = NsListener(ns_name, p, log)
        pending.append((ns_name, p, ready, key))
    deadline = time.monotonic() + 10
    for ns_name, p, ready, key in pending:
        while not ready.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                msg = (lab.workdir / f"listen-{key}.err").read_text()
                raise RuntimeError(f"listener in {ns_name} did not start: {msg}")
            time.sleep(0.02)
    topo.build_seconds = time.monotonic() - t0
    return topo
