"""A real dockerd inside a fresh network namespace, for capturing what Docker really does.

    with Lab() as lab:
        dh = DockerHost(lab, flags=["--userland-proxy=false"])
        dh.start()                       # dockerd in namespace "host", uplink to "outside"
        dh.docker("network", "create", "net1")
        web = dh.run_container("web", network="net1", publish=["8080:80", "8080:80/udp"])
        srv = dh.listen(web, "tcp", 80)  # host python, inside the container's namespace
        p = dh.probe("outside", "tcp", dh.HOST_IP, 8080)
        ...
    # leaving the Lab stops dockerd (by its pid), removes its data and the namespaces

Layout:  outside (192.0.2.2/24, eth0) <--veth--> host (192.0.2.1/24, up0; default via
192.0.2.2). The outside namespace routes only its connected 192.0.2.0/24, plus (so it can
try to reach containers directly, as a neighbour on the same link can) 172.16.0.0/12
via the host; ``DockerHost(lab, route_back=False)`` leaves that route out (and fd00::/8's):
an un-NATed container packet then reaches outside, whose answer has nowhere to go. ``DockerHost(lab, ipv6=True)`` adds IPv6 to the uplink: host
2001:db8:1::1/64 (default via 2001:db8:1::2), outside 2001:db8:1::2/64 routing fd00::/8
(the ULA range Docker networks' IPv6 subnets are taken from here) via the host; without
it nothing IPv6 is configured (the IPv4-only captures are unchanged).

dockerd is started with ``nsenter --net=/var/run/netns/NS`` (not ``ip netns exec``, which
remounts /sys and hides the cgroup mounts) and its own --data-root/--exec-root/socket,
vfs storage and an empty --config-file, so it shares nothing with any other daemon.
``DNLINT_DOCKERD_DIR`` runs another dockerd build: its directories (one, or several joined
with ``:``, as ``python -m tests.oracle.fetch_dockerd DIR`` prints them for Debian
unstable's docker.io unpacked under DIR) are put first on the PATH of
dockerd (so dockerd, docker-proxy, docker-init, and containerd/runc when present, come
from there; ``--userland-proxy-path`` is passed when a docker-proxy is there) and of the
commands the collector runs (so the dump's ``# dockerd:`` line names that build). The
docker CLI is then ``docker`` from that PATH (a newer daemon may need a newer client);
``DNLINT_DOCKER_CLI`` names a CLI explicitly. Unset, nothing changes.
Containers are made from a one-binary image (Debian's busybox-static) built with
``docker import``. Servers are the host's python run in the container's namespace
(``nsenter --net=/proc/PID/ns/net``), so they record the source address they really see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

try:
    from tests.netns import Lab, Listener, Netns, NetPath, ProbeResult, run
except ImportError:  # run from tests/ as rootdir (pytest's prepend import mode)
    from netns import Lab, Listener, Netns, NetPath, ProbeResult, run  # type: ignore

IMAGE = "busybox:local"
BUSYBOX = "/bin/busybox"
HOST_IP = "192.0.2.1"
OUTSIDE_IP = "192.0.2.2"
HOST_IP6 = "2001:db8:1::1"
OUTSIDE_IP6 = "2001:db8:1::2"
CONTAINER_ROUTE6 = "fd00::/8"  # outside routes it via the host (the IPv6 twin of 172.16.0.0/12)
UPLINK = "up0"
BUSYBOX_APPLETS = ("sh", "sleep", "nc", "httpd", "ip", "ifconfig", "cat", "ls", "ps", "wget")


def dockerd_dirs() -> list[str]:
    """The directories of DNLINT_DOCKERD_DIR (empty: the installed dockerd)."""
    return [d for d in os.environ.get("DNLINT_DOCKERD_DIR", "").split(os.pathsep) if d]


def daemon_path(base: str | None = None) -> str:
    """PATH for dockerd and the collector: DNLINT_DOCKERD_DIR first, then ``base``, then sbin."""
    base = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin") if base is None else base
    parts = [*dockerd_dirs(), *base.split(os.pathsep), "/usr/local/sbin", "/usr/sbin", "/sbin"]
    seen: list[str] = []
    for p in parts:
        if p and p not in seen:
            seen.append(p)
    return os.pathsep.join(seen)


def docker_unavailable() -> str | None:
    """Why a real dockerd cannot be run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    for d in dockerd_dirs():
        if not os.path.isdir(d):
            return f"DNLINT_DOCKERD_DIR: {d} is not a directory"
    path = daemon_path()
    for tool in ("dockerd", "docker", "nsenter", "containerd", "runc"):
        if not shutil.which(tool, path=path):
            return f"{tool} is not installed"
    if not os.path.exists(BUSYBOX):
        return f"{BUSYBOX} is missing (apt-get install busybox-static)"
    return None


def docker_cli() -> str:
    """The CLI that came with the daemon (same API version).

    DNLINT_DOCKER_CLI when set; with DNLINT_DOCKERD_DIR, the first ``docker`` on that PATH
    (the other build's own CLI when its directory has one, else e.g. /usr/local/bin/docker,
    a 28.x client, rather than Debian's 20.10 /usr/bin/docker); otherwise /usr/bin/docker
    (shipped with the installed dockerd).
    """
    explicit = os.environ.get("DNLINT_DOCKER_CLI")
    if explicit:
        return explicit
    cands = [shutil.which("docker", path=daemon_path())] if dockerd_dirs() else []
    cands += ["/usr/bin/docker", shutil.which("docker")]
    for cand in cands:
        if cand and os.path.exists(cand):
            return cand
    return "docker"


def version_tuple(text: str) -> tuple[int, ...]:
    """'28.5.2+dfsg4' or 'Docker version 20.10.24+dfsg1, build x' -> (28, 5, 2) / (20, 10, 24)."""
    import re

    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(g) for g in m.groups() if g is not None) if m else ()


def installed_dockerd_version() -> tuple[int, ...]:
    """`dockerd --version` of the dockerd start() would run (DNLINT_DOCKERD_DIR first)."""
    try:
        out = subprocess.run([dockerd_binary(), "--version"], capture_output=True, text=True,
                             timeout=30, env={**os.environ, "PATH": daemon_path()}).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return version_tuple(out)


def dockerd_binary() -> str:
    return shutil.which("dockerd", path=daemon_path()) or "dockerd"


@dataclass
class Container:
    name: str
    id: str
    pid: int
    ips: dict[str, str]  # network name -> IPv4 address
    gateways: dict[str, str]
    ips6: dict[str, str] = field(default_factory=dict)  # network name -> IPv6 address (GlobalIPv6Address)
    gateways6: dict[str, str] = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return next(iter(self.ips.values()))

    @property
    def netns(self) -> NetPath:
        return NetPath(f"/proc/{self.pid}/ns/net", label=f"container:{self.name}")


@dataclass
class DockerHost:
    lab: Lab
    flags: Sequence[str] = ()
    start_timeout: float = 60.0
    host: Netns | None = None
    outside: Netns | None = None
    root: Path | None = None
    proc: subprocess.Popen | None = None
    containers: dict[str, Container] = field(default_factory=dict)
    server_version: str = ""  # what the daemon answered (`docker version`), after start()
    HOST_IP: str = HOST_IP
    OUTSIDE_IP: str = OUTSIDE_IP
    ipv6: bool = False  # IPv6 on the uplink too (see the module's docstring)
    route_back: bool = True  # outside routes 172.16.0.0/12 (and fd00::/8) via the host
    # run on the host namespace once it is set up, before dockerd starts (a firewall that
    # boots before Docker, e.g. ufw)
    pre_start: "Callable[[DockerHost], None] | None" = None

    # -- paths ------------------------------------------------------------------------
    @property
    def sock(self) -> str:
        return str(self.root / "docker.sock")

    @property
    def env(self) -> dict:
        env = dict(os.environ)
        env["DOCKER_HOST"] = f"unix://{self.sock}"
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_CONFIG"] = str(self.root / "cli")
        env["PATH"] = daemon_path(env.get("PATH"))
        return env

    @property
    def daemon_env(self) -> dict:
        env = dict(os.environ)
        for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG"):
            env.pop(k, None)
        env["PATH"] = daemon_path(env.get("PATH"))
        return env

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> "DockerHost":
        self.host = self.lab.netns("host")
        self.outside = self.lab.netns("outside")
        self.lab.veth(self.host, UPLINK, self.outside, "eth0")
        self.host.addr(UPLINK, f"{HOST_IP}/24")
        self.outside.addr("eth0", f"{OUTSIDE_IP}/24")
        self.host.route("default", "via", OUTSIDE_IP, "dev", UPLINK)
        if self.route_back:
            self.outside.route("172.16.0.0/12", "via", HOST_IP, "dev", "eth0")
        if self.ipv6:
            # nodad: usable at once (no tentative state while duplicate detection runs)
            self.host.ip("-6", "addr", "add", f"{HOST_IP6}/64", "dev", UPLINK, "nodad")
            self.outside.ip("-6", "addr", "add", f"{OUTSIDE_IP6}/64", "dev", "eth0", "nodad")
            self.host.route("default", "via", OUTSIDE_IP6, "dev", UPLINK)
            if self.route_back:
                self.outside.route(CONTAINER_ROUTE6, "via", HOST_IP6, "dev", "eth0")
        if self.pre_start is not None:
            self.pre_start(self)
        # short dir: unix socket paths are limited to 108 bytes
        self.root = Path(tempfile.mkdtemp(prefix="dnlt-dk-", dir="/tmp"))
        (self.root / "cli").mkdir()
        (self.root / "daemon.json").write_text("{}\n")
        log = open(self.root / "dockerd.log", "w")
        argv = ["nsenter", f"--net={self.host.path}", dockerd_binary(),
                "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                "--pidfile", str(self.root / "dockerd.pid"), "-H", f"unix://{self.sock}",
                "--storage-driver", "vfs", "--config-file", str(self.root / "daemon.json")]
        proxy = next((os.path.join(d, "docker-proxy") for d in dockerd_dirs()
                      if os.access(os.path.join(d, "docker-proxy"), os.X_OK)), None)
        if proxy and not any(f.startswith("--userland-proxy-path") for f in self.flags):
            argv += ["--userland-proxy-path", proxy]
        argv += list(self.flags)
        self.lab.on_close(self.stop)
        self.proc = self.lab.spawn(argv, stdout=log, stderr=subprocess.STDOUT, env=self.daemon_env)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited ({self.proc.returncode}):\n{self.log_tail()}")
            res = self.docker("version", "--format", "{{.Server.Version}}", check=False, timeout=5)
            if res.returncode == 0:
                self.server_version = res.stdout.strip()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not answer in {self.start_timeout} s:\n{self.log_tail()}")
            time.sleep(0.3)
        self.ensure_image()
        return self

    @property
    def version(self) -> tuple[int, ...]:
        """The daemon's version as numbers, e.g. (28, 5, 2); () before start()."""
        return version_tuple(self.server_version)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join((self.root / "dockerd.log").read_text().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Remove containers, stop dockerd by its pid, unmount and delete its directories."""
        if self.proc is not None and self.proc.poll() is None:
            ids = self.docker("ps", "-aq", check=False, timeout=10).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False, timeout=60)
            self.lab.stop(self.proc, timeout=30)
        self.proc = None
        if self.root is not None and self.root.exists():
            root = str(self.root)
            mounts = [ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines()
                      if len(ln.split()) > 1 and ln.split()[1].startswith(root + "/")]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
            self.root = None

    # -- docker ---------------------------------------------------------------------------
    def docker(self, *args: str, check: bool = True, timeout: float = 60,
               input: str | None = None) -> subprocess.CompletedProcess:
        return run([docker_cli(), *args], check=check, timeout=timeout, env=self.env, input=input)

    def ensure_image(self) -> None:
        if self.docker("image", "inspect", IMAGE, check=False).returncode == 0:
            return
        tar = self.root / "rootfs.tar"
        with tarfile.open(tar, "w") as tf:
            for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
                info = tarfile.TarInfo(d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if d == "tmp" else 0o755
                tf.addfile(info)
            tf.add(BUSYBOX, arcname="bin/busybox")
            for applet in BUSYBOX_APPLETS:
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                tf.addfile(info)
        self.docker("import", "--change", 'CMD ["/bin/sh"]', str(tar), IMAGE, timeout=120)
        tar.unlink()

    def run_container(self, name: str, *, network: str | None = None,
                      publish: Sequence[str] = (), extra: Sequence[str] = (),
                      cmd: Sequence[str] = ("sleep", "86400")) -> Container:
        argv = ["run", "-d", "--name", name]
        if network:
            argv += ["--network", network]
        for p in publish:
            argv += ["-p", p]
        argv += [*extra, IMAGE, *cmd]
        self.docker(*argv, timeout=120)
        return self.refresh(name)

    def connect(self, network: str, name: str) -> Container:
        self.docker("network", "connect", network, name)
        return self.refresh(name)

    def refresh(self, name: str) -> Container:
        info = json.loads(self.docker("inspect", name).stdout)[0]
        nets = info["NetworkSettings"]["Networks"]
        c = Container(name, info["Id"], int(info["State"]["Pid"]),
                      {n: v["IPAddress"] for n, v in nets.items() if v.get("IPAddress")},
                      {n: v["Gateway"] for n, v in nets.items() if v.get("Gateway")},
                      {n: v["GlobalIPv6Address"] for n, v in nets.items() if v.get("GlobalIPv6Address")},
                      {n: v["IPv6Gateway"] for n, v in nets.items() if v.get("IPv6Gateway")})
        self.containers[name] = c
        return c

    def network_bridge(self, network: str) -> str:
        info = json.loads(self.docker("network", "inspect", network).stdout)[0]
        name = info.get("Options", {}).get("com.docker.network.bridge.name")
        return name or f"br-{info['Id'][:12]}"

    # -- traffic -------------------------------------------------------------------------
    def ctx(self, where: str):
        """'host', 'outside' or 'container:NAME' -> something commands run inside."""
        if where == "host":
            return self.host
        if where == "outside":
            return self.outside
        if where.startswith("container:"):
            return self.containers[where.split(":", 1)[1]].netns
        raise ValueError(where)

    def listen(self, where: str, proto: str, port: int, addr: str = "0.0.0.0") -> Listener:
        return self.lab.listen(self.ctx(where), proto, port, addr=addr, tag=where)

    def probe(self, where: str, proto: str, dst: str, port: int, timeout: float = 2.0,
              udp_socket: str = "connected", sport: int | None = None, src: str | None = None) -> ProbeResult:
        return self.lab.probe(self.ctx(where), proto, dst, port, timeout=timeout, udp_socket=udp_socket,
                              sport=sport, src=src)

    def dockerd_pids(self) -> set[int]:
        """dockerd and every process under it (docker-proxy, containerd, ...)."""
        if self.proc is None:
            return set()
        children: dict[int, list[int]] = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d.name))
        seen, todo = set(), [self.proc.pid]
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            todo.extend(children.get(p, []))
        return seen

    def collect(self, extra_header: Sequence[str] = ()) -> str:
        """A host dump of the host namespace, as `dnlint collect` run there would write it.

        Commands run under ``nsenter --net=<host ns>`` with DOCKER_HOST at this daemon; the
        ``ps`` section keeps only this dockerd's dockerd and docker-proxy lines.
        """
        from dnlint.collect import collect_dump, default_runner

        prefix = self.host.nsenter_prefix
        env = self.env
        mine = self.dockerd_pids()
        cli = docker_cli()

        def runner(argv, timeout):
            argv = list(argv)
            if argv[0] == "docker":
                argv[0] = cli
            search = env["PATH"]  # DNLINT_DOCKERD_DIR first (`dockerd --version` names that build)
            if not shutil.which(argv[0], path=search):
                raise FileNotFoundError(argv[0])  # as collect_dump's own runner would say
            if argv[:2] == ["cat", "/etc/docker/daemon.json"]:
                argv[1] = str(self.root / "daemon.json")
            res = default_runner([*prefix, *argv], timeout, env=env)
            if argv[:2] == ["ps", "-eo"] and res.returncode == 0:
                lines = res.stdout.splitlines()
                keep = [lines[0]] if lines else []
                for ln in lines[1:]:
                    parts = ln.split(None, 1)
                    if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) in mine:
                        prog = os.path.basename(parts[1].split()[0])
                        if prog in ("dockerd", "docker-proxy"):
                            keep.append(ln)
                res.stdout = "\n".join(keep) + "\n"
            return res

        # the docker CLI's path is not the point: the section headers name `docker`
        result = collect_dump(runner=runner, extra_header=extra_header)
        return result.text
