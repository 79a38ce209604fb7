"""Parse benchmark: dnlint's iptables-save reader against ``iptables-restore --test``.

    sudo .venv/bin/python bench/parse_bench.py           # 10k, 100k, 700k rules
    .venv/bin/python bench/parse_bench.py --quick         # 10k only

For each size it generates a kube-proxy-like file (bench/gen_rules.py, seed 1), parses it
with dnlint in a fresh subprocess (wall time of parse_save, peak RSS from getrusage, and
tracemalloc is NOT used because it slows the parse several-fold), then times
``iptables-restore --test < file`` inside a throwaway network namespace (so the host's
rules are never touched) and prints the ratio. Without root, ``ip netns`` or
iptables-restore, the ratio is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_rules import generate  # noqa: E402

_CHILD = r"""
import json, resource, sys, time
from dnlint.parse.save import parse_save
from dnlint.source import Text
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data = open(sys.argv[1]).read()
t0 = time.perf_counter()
rs, diags = parse_save(Text.from_string(data, sys.argv[1]))
t1 = time.perf_counter()
rules = sum(len(c.rules) for r in rs for t in r.tables for c in t.chains)
def hwm_kb():
    # VmHWM belongs to this process's address space (reset by exec), unlike ru_maxrss,
    # which a child inherits from the parent that forked it
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": t1 - t0, "rules": rules, "diagnostics": len(diags),
                  "peak_kb": hwm_kb(), "base_kb": base}))
"""


def dnlint_parse(path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, path], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def restore_tool() -> tuple[str | None, str]:
    exe = shutil.which("iptables-restore")
    if exe is None:
        return None, "iptables-restore not found"
    try:
        v = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError as e:
        return None, str(e)
    return exe, v or exe


def restore_test(exe: str, path: str) -> tuple[float | None, str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return None, "needs root and `ip` for a network namespace"
    ns = f"dnlint-bench-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        return None, "could not create a network namespace"
    try:
        with open(path, "rb") as f:
            t0 = time.perf_counter()
            r = subprocess.run(["ip", "netns", "exec", ns, exe, "--test"], stdin=f,
                               capture_output=True, text=True)
            t1 = time.perf_counter()
        if r.returncode != 0:
            return None, f"iptables-restore --test failed: {r.stderr.strip()[:200]}"
        return t1 - t0, ""
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="dnlint parse benchmark")
    ap.add_argument("--quick", action="store_true", help="only the 10k file")
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                    help="comma-separated rule counts (default 10000,100000,700000)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    sizes = a.sizes or ([10_000] if a.quick else [10_000, 100_000, 700_000])
    exe, version = restore_tool()
    print(f"python {sys.version.split()[0]}; reference: {version}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="dnlint-bench-") as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"kube-{n}.rules")
            text = generate(n, a.seed)
            with open(path, "w") as f:
                f.write(text)
            lines = text.count("\n")
            res = dnlint_parse(path)
            ref, why = (None, "iptables-restore not found") if exe is None else \
                restore_test(exe, path)
            rows.append((n, lines, res, ref, why))
            print(f"  {n} rules done", file=sys.stderr)
    print()
    print(f"{'rules':>8} {'lines':>8} {'dnlint s':>9} {'rules/s':>9} {'peak MB':>8} "
          f"{'restore s':>10} {'ratio':>6}")
    notes = set()
    for n, lines, res, ref, why in rows:
        rate = res["rules"] / res["seconds"]
        ref_s = f"{ref:10.2f}" if ref is not None else f"{'-':>10}"
        ratio = f"{res['seconds'] / ref:6.2f}" if ref else f"{'-':>6}"
        if why:
            notes.add(why)
        print(f"{res['rules']:>8} {lines:>8} {res['seconds']:9.2f} {rate:9.0f} "
              f"{res['peak_kb'] / 1024:8.0f} {ref_s} {ratio}")
    for note in sorted(notes):
        print(f"note: ratio skipped: {note}")
    print("ratio = dnlint parse time / iptables-restore --test time (acceptance: <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
