"""Network-namespace helpers for kernel-oracle tests.

Everything a test builds lives in namespaces it creates (named ``dnlt-<tag>-<pid>-<n>``);
nothing is added to the namespace the tests run in. A :class:`Lab` owns what it creates
and tears it down on exit, also when the test fails: it stops only the processes it
started (by pid) and deletes only its own namespaces (which removes their veths,
bridges and rules with them).

    with Lab() as lab:
        host = lab.netns("host")
        out = lab.netns("out")
        lab.veth(host, "up0", out, "eth0")
        host.addr("up0", "192.0.2.1/24"); out.addr("eth0", "192.0.2.2/24")
        srv = lab.listen(host, "tcp", 8080)
        r = lab.probe(out, "tcp", "192.0.2.1", 8080)
        assert r.connected and srv.peers()[0].src == "192.0.2.2"

The ``lab`` pytest fixture gives a Lab; ``requires_netns`` skips a test with a reason
when this machine cannot run them (not root, ``ip netns add`` fails, no iptables).

A "context" is anything with an ``exec_prefix`` (argv run before a command to run it
inside a network namespace): a :class:`Netns` (``ip netns exec NAME``) or a
:class:`NetPath` (``nsenter --net=/proc/PID/ns/net``, for a container's namespace).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import pytest

PREFIX = "dnlt-"
PYTHON = sys.executable or "python3"
_counter = itertools.count(1)
_live_labs: "list[Lab]" = []


# --------------------------------------------------------------------------- running


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 15,
        input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command, capture text output; on failure raise with its stderr in the message."""
    res = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                         timeout=timeout, env=env, errors="replace",
                         stdin=None if input is not None else subprocess.DEVNULL)
    if check and res.returncode != 0:
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(map(str, argv))}\n"
                           f"{res.stderr.strip()}")
    return res


class NetCtx:
    """Something commands can be run inside of."""

    exec_prefix: list[str]
    label: str

    def run(self, *argv: str, check: bool = True, timeout: float = 15,
            input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        return run([*self.exec_prefix, *argv], check=check, timeout=timeout, input=input, env=env)

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return self.run("sh", "-c", script, **kw)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("ip", *args, check=check)

    # convenience wrappers ---------------------------------------------------------
    def link_up(self, iface: str) -> None:
        self.ip("link", "set", iface, "up")

    def addr(self, iface: str, cidr: str, up: bool = True) -> None:
        self.ip("addr", "add", cidr, "dev", iface)
        if up:
            self.link_up(iface)

    def route(self, *spec: str) -> None:
        """``route("default", "via", "192.0.2.2")`` -> ``ip route replace default via ...``"""
        fam = ["-6"] if any(":" in s for s in spec) else []
        self.ip(*fam, "route", "replace", *spec)

    def dummy(self, name: str) -> str:
        """A dummy link; a port-less bridge where the kernel has no dummy module. Returns its kind."""
        kind = "dummy"
        if self.ip("link", "add", name, "type", "dummy", check=False).returncode != 0:
            kind = "bridge"
            self.ip("link", "add", name, "type", "bridge")
        self.link_up(name)
        return kind

    def bridge(self, name: str) -> None:
        self.ip("link", "add", name, "type", "bridge")
        self.link_up(name)

    def enslave(self, iface: str, bridge: str) -> None:
        self.ip("link", "set", iface, "master", bridge)
        self.link_up(iface)

    def sysctl(self, key: str, value: str | int) -> None:
        self.run("sysctl", "-q", "-w", f"{key}={value}")

    def read_sysctl(self, key: str) -> str:
        return self.run("sysctl", "-n", key).stdout.strip()

    def iptables_restore(self, rules: str, *, v6: bool = False, legacy: bool = False,
                         noflush: bool = False) -> None:
        tool = ("ip6tables" if v6 else "iptables") + ("-legacy" if legacy else "") + "-restore"
        argv = [tool] + (["--noflush"] if noflush else [])
        self.run(*argv, input=rules if rules.endswith("\n") else rules + "\n")

    def iptables_save(self, *, v6: bool = False, counters: bool = True) -> str:
        tool = "ip6tables-save" if v6 else "iptables-save"
        return self.run(tool, *(["-c"] if counters else [])).stdout


@dataclass
class Netns(NetCtx):
    """A named namespace (``/var/run/netns/NAME``); ``lo`` is brought up on creation."""

    name: str
    label: str = ""

    @property
    def exec_prefix(self) -> list[str]:  # type: ignore[override]
        return ["ip", "netns", "exec", self.name]

    @property
    def path(self) -> str:
        return f"/var/run/netns/{self.name}"

    @property
    def nsenter_prefix(self) -> list[str]:
        """``nsenter --net=...``: keeps /sys and cgroup mounts (``ip netns exec`` remounts /sys)."""
        return ["nsenter", f"--net={self.path}"]


@dataclass
class NetPath(NetCtx):
    """A namespace known by path, e.g. a container's ``/proc/PID/ns/net``."""

    path: str
    label: str = ""

    @property
    def exec_prefix(self) -> list[str]:  # type: ignore[override]
        return ["nsenter", f"--net={self.path}"]


# --------------------------------------------------------------------------- listener / probe

LISTENER = r"""
import json, os, socket, sys, threading
proto, addr, port, out, ready, tag = sys.argv[1:7]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
def record(peer, data):
    tok = data.decode("utf-8", "replace").strip().split(" ")[0] if data else ""
    with open(out, "a") as fh:
        fh.write(json.dumps({"src": peer[0], "sport": peer[1], "token": tok}) + "\n")
        fh.flush()
if proto == "tcp":
    s = socket.socket(fam, socket.SOCK_STREAM)
else:
    s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if fam == socket.AF_INET6:  # IPv6 only: an IPv4 listener may hold the same port
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((addr, int(port)))
if proto == "tcp":
    s.listen(64)
open(ready, "w").write(str(os.getpid()))
def serve(c, peer):
    try:
        c.settimeout(3)
        data = b""
        try:
            data = c.recv(256)
        except OSError:
            pass
        record(peer, data)
        c.sendall(("hello " + tag + " " + peer[0] + "\n").encode())
    except OSError:
        pass
    finally:
        c.close()
while True:
    if proto == "tcp":
        c, peer = s.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()
    else:
        data, peer = s.recvfrom(2048)
        record(peer, data)
        try:
            s.sendto(("hello " + tag + " " + peer[0] + "\n").encode(), peer)
        except OSError:
            pass
"""

#: ``icmp_echo(dst, ident, token, timeout)``: one ICMP echo request, wait for its reply.
#: Prepended to the probe scripts (here and in tests/oracle/topology.py). An ICMP datagram
#: ("ping") socket when the namespace's net.ipv4.ping_group_range admits root (the kernel
#: demultiplexes replies by echo id, so concurrent probes do not see each other's); a raw
#: socket otherwise (root: it filters replies by id and token itself). The echo id is
#: ``ident`` (the probe's ``sport``), the payload starts with the token (the listeners'
#: raw ICMP sockets read it). Returns connected (reply received), reply ("echo reply from
#: ADDR"), reply_from (the reply's source as the sender sees it, after conntrack undid any
#: NAT), error ("timeout", or the ICMP error the socket reported, e.g. a REJECT's),
#: send_error, local.
ICMP_ECHO = r"""
import socket as _socket, struct as _struct, time as _time
def _icmp_csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(_struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF
def _icmp_err(e):
    if isinstance(e, _socket.timeout):
        return "timeout"
    return e.strerror or type(e).__name__
def icmp_echo(dst, ident, token, timeout):
    r = {"connected": False, "reply": None, "reply_from": None, "error": None, "send_error": None,
         "local": None}
    ident = int(ident or 0) & 0xFFFF
    payload = (token + " probe").encode()
    s = None
    raw = False
    try:
        try:
            s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM, _socket.IPPROTO_ICMP)
        except PermissionError:  # ping_group_range does not admit us: a raw socket (root)
            s = _socket.socket(_socket.AF_INET, _socket.SOCK_RAW, _socket.IPPROTO_ICMP)
            raw = True
        try:
            if not raw and ident:
                s.bind(("0.0.0.0", ident))  # a ping socket's "port" is its echo id
            s.connect((dst, 0))  # connected: a hard ICMP error (a REJECT's) is reported by recv
            r["local"] = s.getsockname()[0]
            if not raw:
                ident = s.getsockname()[1]
            hdr = _struct.pack("!BBHHH", 8, 0, 0, ident, 1)
            csum = _icmp_csum(hdr + payload)
            s.send(_struct.pack("!BBHHH", 8, 0, csum, ident, 1) + payload)
        except OSError as e:
            r["send_error"] = _icmp_err(e)
            r["error"] = r["send_error"]
            return r
        deadline = _time.monotonic() + timeout
        while True:
            left = deadline - _time.monotonic()
            if left <= 0:
                r["error"] = "timeout"
                break
            s.settimeout(left)
            try:
                data, peer = s.recvfrom(65535)
            except OSError as e:
                r["error"] = _icmp_err(e)
                break
            if raw:  # an IP header, then ICMP; every ICMP packet of the namespace comes here
                data = data[(data[0] & 0x0F) * 4:]
            if len(data) < 8:
                continue
            typ, _code, _c, rid, _seq = _struct.unpack("!BBHHH", data[:8])
            if typ == 0 and (not raw or (rid == ident and data[8:].startswith(token.encode()))):
                r["connected"] = True
                r["reply_from"] = peer[0]
                r["reply"] = "echo reply from " + peer[0]
                break
    finally:
        if s is not None:
            s.close()
    return r
"""

#: The probe script's UDP socket modes. ``connected``: connect() then send()/recv(); the
#: kernel delivers to it only datagrams from the address and port it connected to (an
#: answer from another address finds no socket, and the sender gets an ICMP port
#: unreachable back), and it hears of ICMP errors. ``unconnected``: sendto()/recvfrom(); it
#: takes the first answer from any address (``reply_from`` records which), and with
#: IP_RECVERR set it hears of ICMP errors too, so a refusal is still told from a timeout.
UDP_SOCKETS = ("connected", "unconnected")

#: ``ending(...)``: how a probe ended, from the prober's view (``ended`` in the records):
#: ``answered`` (a reply came back), ``refused`` (a TCP RST, or an ICMP port unreachable or
#: a REJECT's ICMP error), ``unreachable`` (an ICMP host/network unreachable, or no route
#: in the sender's own namespace), ``timeout`` (nothing came back), ``local error`` (the
#: sender's own kernel refused to send: EINVAL of a martian, EPERM of an OUTPUT drop),
#: ``silent`` (a TCP handshake completed and the peer closed without a word).
ENDINGS = ("answered", "refused", "unreachable", "timeout", "local error", "silent")


def ending(reply, error: str | None, send_error: str | None = None, connected: bool = False) -> str:
    """Classify a probe's outcome into one of :data:`ENDINGS`."""
    if reply:
        return "answered"
    text = (error or "").removeprefix("recv: ")
    if send_error and not text.startswith(("Connection refused", "timeout")):
        return "local error"
    if text.startswith(("Connection refused", "Connection reset")):
        return "refused"
    if text.startswith(("No route to host", "Network is unreachable", "Host is unreachable")):
        return "unreachable"
    if text.startswith(("timeout", "TimeoutError", "timed out")):
        return "timeout"
    if not text:
        return "silent" if connected else "timeout"
    return "local error"


PROBE = ICMP_ECHO + r"""
import json, socket, sys, time
proto, dst, port, timeout, token = sys.argv[1:6]
mode = next((a for a in sys.argv[6:] if "=" not in a), "connected")
opts = dict(a.split("=", 1) for a in sys.argv[6:] if "=" in a)  # sport=N, src=ADDR: bind them
port = int(port) if port.isdigit() else 0; timeout = float(timeout)
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
r = {"connected": False, "reply": None, "reply_from": None, "error": None, "send_error": None,
     "local": None}
def bind_sport(s):
    if opts.get("sport") or opts.get("src"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((opts.get("src") or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), int(opts.get("sport") or 0)))
def err(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    return e.strerror or type(e).__name__
try:
    if proto == "icmp":
        r = icmp_echo(dst, 0, token, timeout)
    elif proto == "tcp":
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        bind_sport(s)
        s.connect((dst, port))
        r["connected"] = True
        r["local"] = s.getsockname()[0]
        s.sendall((token + " probe\n").encode())
        try:
            r["reply"] = s.recv(256).decode("utf-8", "replace").strip() or None
            if r["reply"]:
                r["reply_from"] = s.getpeername()[0]
        except OSError as e:
            r["error"] = "recv: " + err(e)
    else:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        bind_sport(s)
        msg = (token + " probe\n").encode()
        try:
            if mode == "unconnected":
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, getattr(socket, "IPV6_RECVERR", 25), 1)
                else:
                    s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVERR", 11), 1)
                s.sendto(msg, (dst, port))
            else:
                s.connect((dst, port))
                r["local"] = s.getsockname()[0]
                s.send(msg)
        except OSError as e:
            r["send_error"] = err(e)
            raise
        r["connected"] = True  # for UDP: sent without a local error
        try:
            data, peer = s.recvfrom(2048)
            r["reply"] = data.decode("utf-8", "replace").strip() or None
            r["reply_from"] = peer[0]
        except OSError as e:
            r["error"] = "recv: " + err(e)
except socket.timeout:
    r["error"] = "timeout"
except OSError as e:
    r["error"] = e.strerror or type(e).__name__
print(json.dumps(r))
"""


@dataclass
class Peer:
    src: str
    sport: int
    token: str


@dataclass
class Listener:
    """A listener process started by a Lab; ``peers()`` reads who it has seen."""

    proto: str
    addr: str
    port: int
    tag: str
    proc: subprocess.Popen
    out: Path
    ctx_label: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def peers(self) -> list[Peer]:
        if not self.out.exists():
            return []
        peers = []
        for line in self.out.read_text().splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            peers.append(Peer(d["src"], int(d["sport"]), d.get("token", "")))
        return peers

    def seen(self, token: str, wait: float = 0.5) -> Peer | None:
        """The peer whose probe carried ``token`` (waits up to ``wait`` s for it to be written)."""
        deadline = time.monotonic() + wait
        while True:
            for p in self.peers():
                if p.token == token:
                    return p
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


@dataclass
class ProbeResult:
    proto: str
    dst: str
    port: int
    token: str
    connected: bool
    reply: str | None
    error: str | None
    local: str | None = None
    reply_from: str | None = None  # the address the answer came from (as the sender saw it)
    send_error: str | None = None
    udp_socket: str | None = None  # UDP: "connected" or "unconnected" (UDP_SOCKETS)

    @property
    def answered(self) -> bool:
        return self.reply is not None

    @property
    def ended(self) -> str:
        """How it ended (one of ENDINGS)."""
        return ending(self.reply, self.error, self.send_error, self.connected and self.proto == "tcp")


# --------------------------------------------------------------------------- the lab


@dataclass
class Lab:
    """Owns namespaces and processes; ``close()`` (or leaving ``with``) removes them all."""

    tag: str = "t"
    namespaces: list[Netns] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    workdir: Path | None = None
    cleanups: list = field(default_factory=list)

    def __post_init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="dnlt-lab-"))
        _live_labs.append(self)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- namespaces -------------------------------------------------------------
    def netns(self, label: str = "ns") -> Netns:
        name = f"{PREFIX}{label}-{os.getpid()}-{next(_counter)}"
        run(["ip", "netns", "add", name])
        ns = Netns(name, label)
        self.namespaces.append(ns)
        ns.link_up("lo")
        return ns

    def veth(self, a: Netns, a_if: str, b: Netns, b_if: str) -> None:
        """A veth pair with one end in each namespace (neither end in the caller's namespace)."""
        a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)
        a.link_up(a_if)
        b.link_up(b_if)

    def on_close(self, fn) -> None:
        """Register a cleanup callable (run in reverse order, before namespaces go)."""
        self.cleanups.append(fn)

    # -- processes --------------------------------------------------------------
    def spawn(self, argv: Sequence[str], *, stdout=None, stderr=None, env=None) -> subprocess.Popen:
        """Start a process this lab will stop (by its pid) on close."""
        p = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else subprocess.DEVNULL,
                             stderr=stderr if stderr is not None else subprocess.DEVNULL,
                             env=env, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen, timeout: float = 3.0) -> None:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
        if p in self.procs:
            self.procs.remove(p)

    def listen(self, ctx: NetCtx, proto: str, port: int, addr: str = "0.0.0.0",
               tag: str | None = None, wait: float = 5.0) -> Listener:
        """Start a TCP/UDP listener inside ``ctx`` that records every peer it sees.

        An IPv6 ``addr`` (``"::"``) gives an IPv6-only socket (IPV6_V6ONLY), so it can
        share its port with an IPv4 listener."""
        tag = tag or f"{ctx.label or 'ns'}:{port}"
        uid = uuid.uuid4().hex[:8]
        out = self.workdir / f"peers-{uid}.jsonl"
        ready = self.workdir / f"ready-{uid}"
        err = open(self.workdir / f"listener-{uid}.err", "w")
        p = self.spawn([*ctx.exec_prefix, PYTHON, "-c", LISTENER, proto, addr, str(port),
                        str(out), str(ready), tag], stderr=err)
        err.close()
        deadline = time.monotonic() + wait
        while not ready.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                msg = (self.workdir / f"listener-{uid}.err").read_text()
                self.stop(p)
                raise RuntimeError(f"listener {proto}/{addr}:{port} in {ctx.label} did not start: {msg}")
            time.sleep(0.02)
        return Listener(proto, addr, port, tag, p, out, ctx.label)

    def probe(self, ctx: NetCtx, proto: str, dst: str, port: int, timeout: float = 2.0,
              token: str | None = None, udp_socket: str = "connected", sport: int | None = None,
              src: str | None = None) -> ProbeResult:
        """Connect (TCP), send (UDP) or ping (ICMP echo; ``port`` ignored) from ``ctx``;
        bounded by ``timeout`` seconds. For ICMP ``connected`` means the echo reply came back.
        ``udp_socket``: one of :data:`UDP_SOCKETS` (how a UDP probe's socket is used).
        ``sport``, ``src``: a TCP/UDP probe's source port and address (default: an ephemeral
        port, the route's source address)."""
        opts = [*([f"sport={sport}"] if sport else []), *([f"src={src}"] if src else [])]
        if udp_socket not in UDP_SOCKETS:
            raise ValueError(f"udp_socket: {udp_socket!r} is not one of {UDP_SOCKETS}")
        token = token or f"tok-{uuid.uuid4().hex[:12]}"
        res = run([*ctx.exec_prefix, PYTHON, "-c", PROBE, proto, dst, str(port or 0), str(timeout),
                   token, udp_socket, *opts], check=False, timeout=timeout * 3 + 10)
        try:
            d = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            d = {"connected": False, "reply": None,
                 "error": f"probe failed: {res.stderr.strip()[:200]}", "local": None}
        return ProbeResult(proto, dst, port, token, d["connected"], d["reply"], d["error"],
                           d.get("local"), d.get("reply_from"), d.get("send_error"),
                           udp_socket if proto == "udp" else None)

    # -- teardown ---------------------------------------------------------------
    def close(self) -> None:
        errors = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as exc:  # keep tearing down
                errors.append(exc)
        self.cleanups.clear()
        for p in list(self.procs):
            self.stop(p)
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
        self.namespaces.clear()
        if self.workdir and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self in _live_labs:
            _live_labs.remove(self)
        if errors:
            raise errors[0]


@atexit.register
def _close_all() -> None:  # a last resort if a caller forgot to close a Lab
    for lab in list(_live_labs):
        try:
            lab.close()
        except Exception:
            pass


# --------------------------------------------------------------------------- skip marker


@lru_cache(maxsize=None)
def netns_unavailable() -> str | None:
    """Why network-namespace tests cannot run here, or None when they can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network-namespace tests need root"
    for tool in ("ip", "iptables", "iptables-restore", "iptables-save", "sysctl"):
        if shutil.which(tool) is None and not any(
                os.path.exists(os.path.join(d, tool)) for d in ("/usr/sbin", "/sbin")):
            return f"{tool} is not installed"
    name = f"{PREFIX}check-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        res = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"ip netns add failed: {exc}"
    if res.returncode != 0:
        return f"ip netns add failed: {res.stderr.strip()}"
    try:
        res = subprocess.run(["ip", "netns", "exec", name, "iptables-save"],
                             capture_output=True, text=True, timeout=10)
        if res.returncode != 0:
            return f"iptables does not work in a namespace: {res.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


_REASON = netns_unavailable()
#: skip marker: root, ``ip netns add`` and iptables inside a namespace must all work
requires_netns = pytest.mark.skipif(_REASON is not None, reason=_REASON or "netns available")


@pytest.fixture
def lab(request):
    """A :class:`Lab` torn down after the test, pass or fail; skips when netns cannot work."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    with Lab(tag=request.node.name[:20]) as lab:
        yield lab
