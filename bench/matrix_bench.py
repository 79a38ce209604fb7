"""Matrix benchmark: ``dnlint matrix`` end to end (process start to exit), and in process.

    .venv/bin/python bench/matrix_bench.py [--repeat 3]

Targets (issue 9): the endpoint matrix of a Docker host (a few hundred rules, tens of
endpoints) under 1 s end to end. Printed per dump: sources x destinations, classes, queries,
best-of-N wall time of ``dnlint matrix DUMP --format json`` in a fresh process and its peak
RSS, and the in-process time of ``compute_matrix`` (the start-up of a ``dnlint --version``
beside it, for reference).
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


if __name__ == "__main__":
    main()
