"""A long kernel-oracle run: random cases until N probes, each compared with dnlint.

    sudo .venv/bin/python bench/oracle_long.py                    # 10000 probes, random seed
    sudo .venv/bin/python bench/oracle_long.py --probes 2000 --seed 42
    sudo .venv/bin/python bench/oracle_long.py --seed 42 --save   # disagreements -> fixtures/regressions

Each case (tests/oracle/differential.py) builds the Docker-like host in network namespaces,
loads a random ruleset (tests/oracle/rulegen.py; case i uses seed+i), sends every probe of
the case (about 350-420: TCP, UDP and ICMP echo) or ``--per-case`` of them, dumps the host with dnlint's collector
and asks ``dnlint.engine.query.query_dump`` each probe's question. Prints per case a line,
every disagreement (with the case's rules the first time), and at the end the agreement
rate over judged probes, the "possible" answers, the skipped probes (decided beyond the
host) and the disagreements by kind. Exit status 1 when there was a disagreement.
A case takes about 2.5 s of kernel time on 2 cores plus dnlint's time.
"""

from __future__ import annotations

import argparse
import collections
import random
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.netns import netns_unavailable  # noqa: E402
from tests.oracle import differential as D  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    # a SIGTERM unwinds like Ctrl-C, so the case being probed tears its namespaces down
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=10000, help="stop after this many probes (default 10000)")
    ap.add_argument("--seed", type=lambda s: int(s, 0), default=None,
                    help="base seed (case i uses seed+i); default: random, printed")
    ap.add_argument("--per-case", type=int, default=None, help="probes per case (default: all of them)")
    ap.add_argument("--max-cases", type=int, default=10000)
    ap.add_argument("--save", action="store_true", help="save each disagreement under fixtures/regressions")
    ap.add_argument("--quiet", action="store_true", help="no per-disagreement output, only the summary")
    ns = ap.parse_args(argv)

    why = netns_unavailable()
    if why:
        print(f"oracle_long: cannot run: {why}", file=sys.stderr)
        return 2
    base = ns.seed if ns.seed is not None else random.SystemRandom().randrange(1, 2**31)
    print(f"oracle_long: RULEGEN_SEED={base} target {ns.probes} probes "
          f"({'all' if ns.per_case is None else ns.per_case} per case)", flush=True)
    t0 = time.monotonic()
    total = agree = possible = skipped = 0
    kinds: collections.Counter = collections.Counter()
    hints: collections.Counter = collections.Counter()
    failing: list[int] = []
    kernel_s = dnlint_s = 0.0
    i = 0
    while total < ns.probes and i < ns.max_cases:
        seed = base + i
        i += 1
        t = time.monotonic()
        res = D.run_case(seed, ns.per_case)
        kernel_s += time.monotonic() - t
        t = time.monotonic()
        cmp = D.compare(res.dump, res.probes, seed=seed)
        dnlint_s += time.monotonic() - t
        total += cmp.total
        agree += cmp.agree
        possible += cmp.possible
        skipped += len(cmp.skipped)
        print(f"case {i} seed={seed}: {cmp.stats()} [{res.case.describe()}]", flush=True)
        if cmp:
            failing.append(seed)
            for d in cmp:
                kinds[d.kind] += 1
                if d.hint:
                    hints[d.hint.split(":")[0]] += 1
            if not ns.quiet:
                print(D.report(res, cmp), flush=True)
            if ns.save:
                for p in D.save_regression(res, cmp):
                    print(f"  saved {p.relative_to(ROOT)}")
    elapsed = time.monotonic() - t0
    judged = total - possible - skipped
    rate = 100.0 * agree / judged if judged else 100.0
    print()
    print(f"RULEGEN_SEED={base}: {i} cases, {total} probes in {elapsed:.0f} s "
          f"(kernel {kernel_s:.0f} s, dnlint {dnlint_s:.1f} s)")
    print(f"agreement: {agree}/{judged} judged probes = {rate:.2f}%")
    print(f"possible (dnlint answered None): {possible}")
    print(f"skipped (decided beyond the host, or a witness from another source port): {skipped}")
    print(f"disagreements: {sum(kinds.values())} in {len(failing)} case(s)"
          + (f": {dict(kinds)}" if kinds else ""))
    for h, n in hints.most_common():
        print(f"  {n:5d}  {h}")
    if failing:
        print(f"failing case seeds (replay one: RULEGEN_SEED=<seed> DNLINT_ORACLE_CASES=1 "
              f"pytest tests/test_oracle_kernel.py -k kernel_oracle): {failing[:50]}")
    return 1 if failing else 0


if __name__ == "__main__":
    raise SystemExit(main())
