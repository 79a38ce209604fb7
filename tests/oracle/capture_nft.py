"""Capture real Docker hosts whose firewall is partly native nftables (fixtures/nft/README.md).

    DNLINT_DOCKERD_DIR=/tmp/sid/x/usr/sbin:/tmp/sid/x/usr/bin \\
        python -m tests.oracle.capture_nft OUTDIR [SCENARIO...]

Scenarios (a real dockerd in a network namespace, see dockerhost.py; network net1 and a
container web publishing 8080:80 on it):

  docker-nftables     dockerd with DOCKER_FIREWALL_BACKEND=nftables and --experimental (28.x's
                      switch; `--firewall-backend` from 29): meant to show Docker's own `ip
                      docker-bridges` tables; Debian sid's 28.5.2 reports the nftables driver in
                      `docker info` yet made iptables-nft tables here, so it is not kept
  docker-flushed      the iptables backend, then Debian's /etc/nftables.conf loaded with
                      `nft -f` in the host namespace (it starts with `flush ruleset`): Docker's
                      iptables-nft tables are gone, `table inet filter` is left
  docker-iptables     the iptables backend only: nft shows iptables-nft's tables alone

Each writes OUTDIR/<scenario>.txt (the host dump, as `dnlint collect` run in the host
namespace writes it) and, from the same moment, OUTDIR/<scenario>.nft and .json (the
bare `nft list ruleset` / `nft -j list ruleset` output, stderr apart in .stderr).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

try:
    from tests.netns import Lab
    from tests.oracle.dockerhost import DockerHost, docker_unavailable
except ImportError:  # run from tests/ as rootdir
    from netns import Lab  # type: ignore
    from oracle.dockerhost import DockerHost, docker_unavailable  # type: ignore

DEBIAN_CONF = Path(__file__).resolve().parents[2] / "fixtures" / "nft" / "src" / "debian-nftables.conf"

SCENARIOS = {  # name -> (dockerd's environment, its flags, reload nftables.conf)
    "docker-nftables": ({"DOCKER_FIREWALL_BACKEND": "nftables"}, ["--experimental"], False),
    "docker-flushed": ({}, [], True),
    "docker-iptables": ({}, [], False),
}


def capture(name: str, outdir: Path) -> None:
    env, flags, flush = SCENARIOS[name]
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # DockerHost passes its environment on to dockerd
    try:
        _capture(name, outdir, flags, flush)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _capture(name: str, outdir: Path, flags: list[str], flush: bool) -> None:
    with Lab(tag=name[:6]) as lab:
        dh = DockerHost(lab, flags=flags)
        dh.start()
        dh.docker("network", "create", "net1")
        dh.run_container("web", network="net1", publish=["8080:80"])
        prefix = dh.host.nsenter_prefix
        if flush:
            subprocess.run([*prefix, "nft", "-f", str(DEBIAN_CONF)], check=True)
        for suffix, argv in ((".nft", ["nft", "list", "ruleset"]), (".json", ["nft", "-j", "list", "ruleset"])):
            res = subprocess.run([*prefix, *argv], capture_output=True, text=True, check=True)
            (outdir / f"{name}{suffix}").write_text(res.stdout)
            if res.stderr.strip() and suffix == ".nft":
                (outdir / f"{name}.stderr").write_text(res.stderr)
        (outdir / f"{name}.txt").write_text(dh.collect(extra_header=[f"scenario: {name}"]))
        print(f"{name}: dockerd {dh.server_version}", flush=True)


def main(argv: list[str]) -> int:
    why = docker_unavailable()
    if why:
        print(f"cannot run dockerd here: {why}", file=sys.stderr)
        return 2
    outdir = Path(argv[0])
    outdir.mkdir(parents=True, exist_ok=True)
    for name in argv[1:] or ["docker-flushed", "docker-iptables"]:
        capture(name, outdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
