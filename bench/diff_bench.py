"""Diff benchmark: ``dnlint diff`` end to end (process start to exit) with peak RSS.

    .venv/bin/python bench/diff_bench.py [--repeat 3]

Targets (issue 10): two 10,000-rule sets from ``../shared/bench/gen_forward_rules.py`` that differ
in one rule (a target flipped halfway down FORWARD) under 5 s; two Docker host dumps under 1 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from matrix_bench import _run  # noqa: E402

GEN = ROOT.parent / "shared" / "bench" / "gen_forward_rules.py"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    dnlint = str(Path(sys.executable).parent / "dnlint")
    tmp = Path(tempfile.mkdtemp(prefix="dnlint-diff-bench-"))
    pairs = [("Docker hosts (a_default -> b_no_userland_proxy)", ROOT / "fixtures/docker/a_default.txt",
              ROOT / "fixtures/docker/b_no_userland_proxy.txt", 1.0),
             ("Docker host -> itself", ROOT / "fixtures/docker/a_default.txt", ROOT / "fixtures/docker/a_default.txt", 1.0)]
    if GEN.exists():
        for n in (10000,):
            a = tmp / f"f{n}.rules"
            subprocess.run([sys.executable, str(GEN), str(n), "--out", str(a)], check=True, capture_output=True)
            lines = a.read_text().split("\n")
            fwd = [i for i, ln in enumerate(lines) if ln.startswith("-A FORWARD")]
            i = next(k for k in fwd[len(fwd) // 2:] if " -j ACCEPT" in lines[k] or " -j DROP" in lines[k])
            lines[i] = lines[i].replace(" -j ACCEPT", " -j DROP") if " -j ACCEPT" in lines[i] else \
                lines[i].replace(" -j DROP", " -j ACCEPT")
            b = tmp / f"f{n}b.rules"
            b.write_text("\n".join(lines))
            pairs.append((f"gen {n:,} rules, one target flipped", a, b, 5.0))
            pairs.append((f"gen {n:,} rules -> itself", a, a, 5.0))
    met = True
    for label, a, b, target in pairs:
        runs = []
        for _ in range(args.repeat):
            runs.append(_run([dnlint, "diff", str(a), str(b), "--format", "json", "--fail-on-change", "never"]))
        wall, rss = min(r[0] for r in runs), max(r[1] for r in runs)
        ok = wall < target
        met &= ok
        print(f"{label}: {wall:.2f} s end to end (peak {rss} MB); target < {target:g} s: {'met' if ok else 'NOT met'}")
    print(f"diff targets: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
