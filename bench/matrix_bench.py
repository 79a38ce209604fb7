"""Matrix benchmark: ``dnlint matrix`` end to end (process start to exit), and in process.

    .venv/bin/python bench/matrix_bench.py [--repeat 3]

Targets (issue 9): the endpoint matrix of a Docker host (a few hundred rules, tens of
endpoints) under 1 s end to end. Printed per dump: sources x destinations, classes, queries,
best-of-N wall time of ``dnlint matrix DUMP --format json`` in a fresh process and its peak
RSS, and the in-process time of ``compute_matrix`` (the start-up of a ``dnlint --version``
beside it, for reference).

Then the address-space view (``dnlint matrix --space``, filter FORWARD, tcp 22 and 80, json),
end to end with peak RSS, on the TUM chair firewalls of the corpus and on the FORWARD rule sets
of ``../shared/bench/gen_forward_rules.py``, beside FFFUU's figures for the same files measured
on this machine kind (../shared/bench/README.md, the issue): target a tenth of the peer's time,
the TUM firewalls under 2 s each, 10,000 and 50,000 rules under 60 s. ``--peer FFFUU`` also runs
the peer binary on each file in the same run (``timeout 300`` each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

DUMPS = [ROOT / "fixtures/docker/a_default.txt", ROOT / "fixtures/docker/g_two_networks.txt",
         ROOT / "fixtures/docker-v28/a_default.txt", ROOT / "fixtures/seed/iptables-true-isolation.txt"]
TARGET = 1.0


def _run(argv: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"BROKEN: {' '.join(argv)}: {p.stderr.read().decode()[-400:]}")
    return dt, ru.ru_maxrss // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--space-repeat", type=int, default=1)
    ap.add_argument("--no-space", action="store_true", help="only the endpoint view")
    ap.add_argument("--peer", help="the FFFUU binary, to time it in the same run")
    args = ap.parse_args()
    dnlint = str(Path(sys.executable).parent / "dnlint")
    start = min(_run([dnlint, "--version"])[0] for _ in range(args.repeat))
    print(f"start-up (dnlint --version): {start:.2f} s")
    from dnlint.engine.matrix import compute_matrix
    from dnlint.engine.query import engine_for
    from dnlint.load import load_dump

    worst = 0.0
    for dump in DUMPS:
        if not dump.exists():
            continue
        t = time.perf_counter()
        m = compute_matrix(engine_for(load_dump(dump), 4))
        inproc = time.perf_counter() - t
        runs = [_run([dnlint, "matrix", str(dump), "--format", "json"]) for _ in range(args.repeat)]
        wall = min(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        worst = max(worst, wall)
        print(f"{dump.relative_to(ROOT)}: {len(m.sources)}x{len(m.destinations)} endpoints, "
              f"{sum(len(c.classes) for c in m.cells)} classes, {m.queries} queries: end to end {wall:.2f} s "
              f"(peak {rss} MB), in process {inproc:.2f} s")
    print(f"Docker host endpoint matrix, worst end to end: {worst:.2f} s (target < {TARGET:.0f} s): "
          f"{'met' if worst < TARGET else 'NOT met'}")
    if not args.no_space:
        space(dnlint, args)


CORPUS = ROOT.parent / "shared" / "corpus" / "save"
GEN = ROOT.parent / "shared" / "bench" / "gen_forward_rules.py"
#: (label, file or generator arguments, FFFUU seconds measured on this machine kind, target seconds)
SPACE = [
    ("TUM 2013 (2,783 rules)", CORPUS / "netnet_tum-chair-fw_2013-11-20.rules", "19-21", 2.0),
    ("TUM 2014 (4,113 rules)", CORPUS / "netnet_tum-chair-fw_2014-07-25.rules", "27", 2.0),
    ("TUM 2015 (4,813 rules)", CORPUS / "netnet_tum-chair-fw_2015-05-13.rules", "61-131", 2.0),
    ("gen 1,000", ["1000"], "193-212", 19.3),
    ("gen 1,000 5% RETURN", ["1000", "--return-frac", "0.05"], "193", 19.3),
    ("gen 10,000 pool 20", ["10000", "--pool", "20"], "81", 8.1),
    ("gen 10,000", ["10000"], "no answer in 20 min", 60.0),
    ("gen 50,000", ["50000"], "no answer in 20 min", 60.0),
]


def space(dnlint: str, args) -> None:
    import tempfile

    print()
    print("address-space view: dnlint matrix --space (filter FORWARD, tcp 22 and 80, --format json)")
    tmp = Path(tempfile.mkdtemp(prefix="dnlint-space-bench-"))
    met = True
    for label, src, peer, target in SPACE:
        if isinstance(src, list):
            if not GEN.exists():
                continue
            f = tmp / ("gen_" + "_".join(src) + ".rules")
            subprocess.run([sys.executable, str(GEN), *src, "--out", str(f)], check=True, capture_output=True)
        else:
            f = src
            if not f.exists():
                continue
        runs = [_run([dnlint, "matrix", str(f), "--space", "--format", "json"]) for _ in range(args.space_repeat)]
        wall, rss = min(r[0] for r in runs), max(r[1] for r in runs)
        ok = wall < target
        met &= ok
        extra = ""
        if args.peer:
            t = time.perf_counter()
            r = subprocess.run(["timeout", "300", args.peer, "--table", "filter", "--chain", "FORWARD",
                                "--service_matrix_dport", "22", "--service_matrix_dport", "80", str(f)],
                               capture_output=True)
            extra = f", peer now {time.perf_counter() - t:.1f} s{' (timed out)' if r.returncode == 124 else ''}"
        peer_text = f"{peer} s" if peer[0].isdigit() else peer
        print(f"{label}: {wall:.2f} s end to end (peak {rss} MB); FFFUU {peer_text}; target < {target:g} s: "
              f"{'met' if ok else 'NOT met'}{extra}")
    print(f"address-space view targets: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
