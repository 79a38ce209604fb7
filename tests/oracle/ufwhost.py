"""Debian's ufw, run inside a test namespace with its configuration kept out of /etc/ufw.

    ufw = Ufw(lab, dh.host)                     # a private copy of ufw's files
    ufw.set_default("DEFAULT_FORWARD_POLICY", "ACCEPT")
    ufw.add_after_rules(UFW_DOCKER_AFTER_RULES) # the ufw-docker recipe's block
    ufw("default", "deny", "incoming")
    ufw("allow", "22/tcp")
    ufw("route", "allow", "proto", "tcp", "from", "any", "to", "any", "port", "80")
    ufw.enable()                                # `ufw --force enable`, in the namespace

ufw (/usr/sbin/ufw, its Python package ufw/ and /lib/ufw/ufw-init) takes two options its
own test suite uses: ``--rootdir=R`` (where ufw-init, ufw-init-functions, R/etc/ufw/ufw.conf
and R/usr/share/ufw are read) and ``--datadir=D`` (D/etc/ufw/*.rules, D/etc/ufw/ufw.conf,
D/etc/default/ufw, and the lock in D/lib/ufw). Both point at one private directory here,
filled with copies of the installed files (the package's defaults), so the system's
/etc/ufw is never read or written; IPT_SYSCTL is pointed at the private sysctl.conf. ufw
is only ever run with ``ip netns exec`` in the given namespace, whose iptables and
ip6tables it then fills (and which die with the namespace). The directory goes when the
Lab closes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

try:
    from tests.netns import Lab, Netns
except ImportError:  # run from tests/ as rootdir (pytest's prepend import mode)
    from netns import Lab, Netns  # type: ignore

UFW = "/usr/sbin/ufw"
# what ufw reads, relative to its root/data directory, and where the package installs it
UFW_FILES = {"etc/ufw": "/etc/ufw", "etc/default/ufw": "/etc/default/ufw", "lib/ufw": "/lib/ufw",
             "usr/share/ufw": "/usr/share/ufw"}


def ufw_unavailable() -> str | None:
    """Why ufw cannot be run here, or None."""
    if not os.path.exists(UFW):
        return "ufw is not installed (apt-get install ufw)"
    for src in UFW_FILES.values():
        if not os.path.exists(src):
            return f"{src} is missing (reinstall ufw)"
    return None


# The after.rules block of the widely used "ufw-docker" recipe, written from its published
# description: DOCKER-USER first consults ufw's route rules (ufw-user-forward), lets
# established traffic and traffic from private (RFC 1918) sources through to Docker's own
# rules, lets UDP answers from DNS servers (source port 53, to an unprivileged port) through,
# and drops (after a rate-limited LOG) every new connection to a private address, i.e. to
# any container, unless a `ufw route allow` rule accepted it first.
UFW_DOCKER_AFTER_RULES = """\
# BEGIN UFW AND DOCKER
*filter
:ufw-user-forward - [0:0]
:ufw-docker-logging-deny - [0:0]
:DOCKER-USER - [0:0]
-A DOCKER-USER -j ufw-user-forward

-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A DOCKER-USER -m conntrack --ctstate INVALID -j DROP
-A DOCKER-USER -i docker0 -o docker0 -j ACCEPT

-A DOCKER-USER -j RETURN -s 10.0.0.0/8
-A DOCKER-USER -j RETURN -s 172.16.0.0/12
-A DOCKER-USER -j RETURN -s 192.168.0.0/16

-A DOCKER-USER -p udp -m udp --sport 53 --dport 1024:65535 -j RETURN

-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 10.0.0.0/8
-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 172.16.0.0/12
-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 192.168.0.0/16

-A DOCKER-USER -j RETURN

-A ufw-docker-logging-deny -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW DOCKER BLOCK] "
-A ufw-docker-logging-deny -j DROP

COMMIT
# END UFW AND DOCKER
"""


def docker_fix_with_published_ports(ports: list[tuple[str, int]]) -> str:
    """The recipe's block with DOCKER-USER opening published (pre-DNAT) host ports instead of
    `ufw route` rules: ``-m conntrack --ctorigdstport P --ctdir ORIGINAL -j RETURN`` before
    the drops (Docker's documentation's way to match the port the client connected to)."""
    opens = "".join(f"-A DOCKER-USER -p {proto} -m conntrack --ctorigdstport {port} --ctdir ORIGINAL -j RETURN\n"
                    for proto, port in ports)
    anchor = "-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 10.0.0.0/8\n"
    assert anchor in UFW_DOCKER_AFTER_RULES
    return UFW_DOCKER_AFTER_RULES.replace(anchor, opens + "\n" + anchor, 1)


class Ufw:
    """ufw with a private configuration, run inside ``ns`` (see the module's docstring)."""

    def __init__(self, lab: Lab, ns: Netns):
        reason = ufw_unavailable()
        if reason:
            raise RuntimeError(reason)
        self.ns = ns
        # ufw warns about world-writable parents of its files (/tmp): /run is not one
        base = "/run" if os.path.isdir("/run") and not os.stat("/run").st_mode & 0o002 else None
        self.root = Path(tempfile.mkdtemp(prefix="dnlt-ufw-", dir=base))
        os.chmod(self.root, 0o755)
        for rel, src in UFW_FILES.items():
            dst = self.root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst)
        # the package's pristine rule files, not whatever the system's /etc/ufw holds now
        share = Path(UFW_FILES["usr/share/ufw"])
        for f in ("before.rules", "after.rules", "user.rules", "before6.rules", "after6.rules", "user6.rules",
                  "ufw.conf"):
            if (share / f).exists():
                shutil.copy2(share / f, self.root / "etc/ufw" / f)
        self.set_default("IPT_SYSCTL", str(self.root / "etc/ufw/sysctl.conf"))
        self.commands: list[str] = []  # the ufw command lines run, for the dump's header
        lab.on_close(self.remove)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __call__(self, *args: str, check: bool = True):
        self.commands.append("ufw " + " ".join(args))
        return self.ns.run(UFW, f"--rootdir={self.root}", f"--datadir={self.root}", *args, check=check,
                           timeout=60)

    def enable(self):
        return self("--force", "enable")

    def set_default(self, key: str, value: str) -> None:
        """Set KEY=value in ufw's etc/default/ufw (DEFAULT_FORWARD_POLICY, IPV6, ...)."""
        path = self.root / "etc/default/ufw"
        lines = path.read_text().splitlines()
        quoted = value if key == "IPT_SYSCTL" else f'"{value}"'
        new = [ln for ln in lines if not ln.startswith(f"{key}=")] + [f"{key}={quoted}"]
        path.write_text("\n".join(new) + "\n")
        if key != "IPT_SYSCTL":
            self.commands.append(f"/etc/default/ufw: {key}={quoted}")

    def add_after_rules(self, block: str) -> None:
        """Append a block to etc/ufw/after.rules (where the ufw-docker recipe puts its rules)."""
        path = self.root / "etc/ufw/after.rules"
        path.write_text(path.read_text().rstrip("\n") + "\n\n" + block)
        self.commands.append("/etc/ufw/after.rules: + " + block.splitlines()[0].lstrip("# "))
