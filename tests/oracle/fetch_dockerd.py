"""Fetch Debian unstable's dockerd (docker.io 28.x) for the live Docker oracle, without installing it.

    python -m tests.oracle.fetch_dockerd DIR            # prints DIR/root/usr/sbin:DIR/root/usr/bin
    DNLINT_DOCKERD_DIR=$(python -m tests.oracle.fetch_dockerd .cache/dockerd-sid) \\
        .venv/bin/python -m pytest tests/test_oracle_docker.py

What it fetches, found by trying on Debian bookworm: ``docker.io`` (dockerd, docker-proxy,
and docker-init, a link to tini-static), ``docker-cli`` (the 28.x client: Debian's 20.10
``docker`` cannot speak to it) and ``tini-static`` (what that link points at). dockerd 28
runs on bookworm's containerd 1.6 and runc 1.1 (installed with bookworm's docker.io), so
those are not fetched; unstable's runc would not even start (it needs glibc 2.38).

How: ``apt-get update`` and ``apt-get download`` with a private configuration under DIR
(its own sources list, Dir::State::Lists, Dir::Cache, an empty dpkg status and no
preferences: the system's sources, lists, cache and pins are never read or written, and
nothing is installed), then ``dpkg -x`` of each package into DIR/root. The archive is the
system's own Debian mirror (the first ``deb`` source of a Debian release in
/etc/apt/sources.list or sources.list.d, read only), suite ``unstable``, or ``--mirror
URL``. Signatures are checked against the keyring that source names (``Signed-By``), or
Debian's archive keyring.

A second run reuses DIR/root when unstable still has the same version (the index is
fetched again, the packages are not); ``--offline`` uses DIR/root as it is. Exit status 0
with the directories on stdout; 1 with the reason on the last line of stderr (the network,
the mirror, no docker.io of the wanted major version); 2 for bad usage.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = ("docker.io", "docker-cli", "tini-static")
SUITE = "unstable"
MAJOR = 28
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
STAMP = "fetched.json"
BIN_DIRS = ("usr/sbin", "usr/bin")
APT_TIMEOUT = 600  # seconds for one apt-get command (apt has its own per-connection timeouts)


class FetchError(Exception):
    """A reason the fetch failed, as a sentence."""


def _sources_files() -> list[str]:
    files = ["/etc/apt/sources.list"] if os.path.exists("/etc/apt/sources.list") else []
    files += sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    files += sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    return files


def system_mirror() -> tuple[str, str]:
    """(URI, keyring) of the system's Debian archive: the first ``deb`` source whose suite is
    a release (not -security, -updates or -backports) with component main."""
    for path in _sources_files():
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for uri, suites, comps, keyring in _entries(text, deb822=path.endswith(".sources")):
            if "main" not in comps or "debian-security" in uri:
                continue
            if any(s and not re.search(r"-(security|updates|backports|proposed-updates)$", s) for s in suites):
                return uri.rstrip("/"), keyring or KEYRING
    raise FetchError("no Debian source with component main in /etc/apt/sources.list(.d); pass --mirror URL")


def _entries(text: str, deb822: bool):
    """(uri, suites, components, signed-by) of each ``deb`` entry of a sources file."""
    if deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = None
            for line in stanza.splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                if line[0].isspace() and key:
                    fields[key] += " " + line.strip()
                    continue
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            keyring = fields.get("signed-by", "")
            keyring = keyring if keyring.startswith("/") else ""
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split(), fields.get("components", "").split(), keyring
        return
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
        yield m.group(2), [m.group(3)], m.group(4).split(), opts.get("signed-by", "")


class PrivateApt:
    """apt-get and apt-cache with every state directory under ``base``."""

    def __init__(self, base: Path, mirror: str, keyring: str, suite: str):
        self.base = base
        etc, lists, cache = base / "etc", base / "lists", base / "cache"
        for d in (etc / "sources.list.d", etc / "preferences.d", lists / "partial",
                  cache / "archives" / "partial"):
            d.mkdir(parents=True, exist_ok=True)
        (etc / "sources.list").write_text(f"deb [signed-by={keyring}] {mirror} {suite} main\n")
        (base / "status").touch()
        self.options = [
            "-o", f"Dir::Etc::SourceList={etc / 'sources.list'}",
            "-o", f"Dir::Etc::SourceParts={etc / 'sources.list.d'}",
            "-o", f"Dir::Etc::Preferences={etc / 'preferences'}",
            "-o", f"Dir::Etc::PreferencesParts={etc / 'preferences.d'}",
            "-o", f"Dir::State::Lists={lists}",
            "-o", f"Dir::State::status={base / 'status'}",
            "-o", f"Dir::Cache={cache}",
            "-o", "Acquire::Languages=none",
            "-o", "Acquire::Retries=3",
            "-o", "Acquire::http::Timeout=60",
        ]
        if os.geteuid() == 0:  # _apt could not write into our directories
            self.options += ["-o", "APT::Sandbox::User=root"]

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        argv = [tool, *self.options, *args]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=APT_TIMEOUT,
                                 env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"})
        except FileNotFoundError:
            raise FetchError(f"{tool} is not installed") from None
        except subprocess.TimeoutExpired:
            raise FetchError(f"`{tool} {' '.join(args)}` did not finish in {APT_TIMEOUT} s") from None
        errors = [ln.strip() for ln in (res.stdout + "\n" + res.stderr).splitlines()
                  if ln.startswith(("E:", "Err:", "W: Failed", "W: Some index files"))]
        if res.returncode != 0 or (tool == "apt-get" and "update" in args and errors):
            detail = "; ".join(errors[-3:]) or res.stderr.strip()[-300:] or f"exit {res.returncode}"
            raise FetchError(f"`{tool} {' '.join(args)}` failed: {detail}")
        return res.stdout

    def candidate(self, package: str) -> str:
        out = self.run("apt-cache", "show", "--no-all-versions", package)
        m = re.search(r"^Version:\s*(\S+)", out, re.M)
        if not m:
            raise FetchError(f"{package}: no version in the index")
        return m.group(1)


def bin_dirs(root: Path) -> list[str]:
    return [str(root / d) for d in BIN_DIRS]


def _check(root: Path) -> str:
    """`dockerd --version` of the unpacked tree; raises when it does not run."""
    dockerd = root / "usr/sbin/dockerd"
    for need in (dockerd, root / "usr/sbin/docker-proxy", root / "usr/bin/docker"):
        if not os.access(need, os.X_OK):
            raise FetchError(f"{need} is missing after unpacking")
    try:
        out = subprocess.run([str(dockerd), "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise FetchError(f"{dockerd} does not run here: {exc}") from None
    if out.returncode != 0:
        raise FetchError(f"{dockerd} --version failed: {out.stderr.strip()[-300:]}")
    return out.stdout.strip()


def fetch(dest: Path, *, mirror: str | None = None, suite: str = SUITE, major: int | None = MAJOR,
          offline: bool = False, log=lambda m: None) -> list[str]:
    """Fetch and unpack into ``dest``; returns the directories for DNLINT_DOCKERD_DIR."""
    dest = dest.resolve()
    root = dest / "root"
    stamp = dest / STAMP
    if offline:
        if not stamp.exists():
            raise FetchError(f"--offline: nothing fetched into {dest} yet")
        log(f"offline: {_check(root)}")
        return bin_dirs(root)
    if mirror:
        keyring = KEYRING
    else:
        mirror, keyring = system_mirror()
    apt = PrivateApt(dest / "apt", mirror, keyring, suite)
    log(f"apt-get update ({suite} main, private lists under {apt.base})")
    apt.run("apt-get", "-q", "update")
    versions = {p: apt.candidate(p) for p in PACKAGES}
    got = versions["docker.io"]
    if major is not None and not got.startswith(f"{major}."):
        raise FetchError(f"{suite}'s docker.io is {got}, not {major}.x")
    old = json.loads(stamp.read_text()) if stamp.exists() else {}
    if old.get("versions") == versions and (root / "usr/sbin/dockerd").exists():
        log(f"already unpacked: {', '.join(f'{p} {v}' for p, v in versions.items())}")
        log(_check(root))  # the last line names the build (.ci/run prints it)
        return bin_dirs(root)
    debs = dest / "debs"
    shutil.rmtree(debs, ignore_errors=True)
    debs.mkdir(parents=True)
    log("apt-get download " + " ".join(f"{p}={v}" for p, v in versions.items()))
    apt.run("apt-get", "-q", "download", *(f"{p}={v}" for p, v in versions.items()), cwd=debs)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for deb in sorted(debs.glob("*.deb")):
        res = subprocess.run(["dpkg", "-x", str(deb), str(root)], capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise FetchError(f"dpkg -x {deb.name} failed: {res.stderr.strip()[-300:]}")
        log(f"unpacked {deb.name}")
    version = _check(root)
    stamp.write_text(json.dumps({"suite": suite, "versions": versions, "dockerd": version}, indent=1) + "\n")
    shutil.rmtree(debs, ignore_errors=True)  # the unpacked tree is what is kept
    log(version)
    return bin_dirs(root)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.oracle.fetch_dockerd",
                                 description="Fetch Debian unstable's dockerd into DIR (nothing is installed); "
                                             "prints the directories to use as DNLINT_DOCKERD_DIR.")
    ap.add_argument("dir", type=Path)
    ap.add_argument("--mirror", help="a Debian archive URL (default: the system's own Debian source)")
    ap.add_argument("--suite", default=SUITE)
    ap.add_argument("--major", type=int, default=MAJOR, help="the docker.io major version wanted (0: any)")
    ap.add_argument("--offline", action="store_true", help="use what DIR already holds")
    args = ap.parse_args(argv)
    try:
        dirs = fetch(args.dir, mirror=args.mirror, suite=args.suite, major=args.major or None,
                     offline=args.offline, log=lambda m: print(f"fetch_dockerd: {m}", file=sys.stderr))
    except FetchError as exc:
        print(f"fetch_dockerd: {exc}", file=sys.stderr)
        return 1
    print(os.pathsep.join(dirs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
