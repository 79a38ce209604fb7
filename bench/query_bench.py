"""Query benchmark: one ``dnlint query`` on big kube-proxy rule sets, and batches on Docker hosts.

    .venv/bin/python bench/query_bench.py                  # 1k, 10k, 100k rules + Docker batches
    .venv/bin/python bench/query_bench.py --quick          # 1k and 10k only
    .venv/bin/python bench/query_bench.py --sizes 50000    # any sizes
    .venv/bin/python bench/query_bench.py --profile        # also cProfile the 100k NodePort query

Single queries: for each size, bench/gen_host.py writes a Kubernetes node dump (gen_rules.py's
kube-proxy rules plus eth0/cni0/flannel.1 addresses, routes, sysctls, sockets). Each query
then runs in its own fresh process, which times separately: ``load_dump`` (the parse),
``engine_for`` (the host model), the *cold* query (the first after the engine is built: it
compiles every rule it meets) and the *warm* query (the same query again, best of 3, rules
already compiled). Peak RSS (``ru_maxrss``) is that process's. The queries:

- ``outside -> HOST:NODEPORT``: PREROUTING walks KUBE-SERVICES to its last rule, then
  KUBE-NODEPORTS, KUBE-EXT, KUBE-SVC (statistic forks), KUBE-SEP DNAT, FORWARD;
- ``POD -> VIP:PORT``: a pod behind cni0 to a ClusterIP with >= 3 endpoints;
- ``host -> VIP:PORT``: the same service through nat OUTPUT;
- ``outside -> HOST:5555``: a port nothing allows (filter INPUT policy DROP);
- ``outside -> NOEP-VIP:PORT``: a service without endpoints (filter REJECT).

Docker batches: 100 mixed queries (host, outside, container:NAME, network:NAME, the uplink
peer; ports 22, 80, 8080, 9090; tcp/udp) against fixtures/docker/a_default.txt and one seed
fixture, in one process with one engine, as ``dnlint check`` would ask them; plus the whole
process (start to exit) and one ``python -m dnlint.cli query`` run end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

DOCKER_FIXTURES = [ROOT / "fixtures/docker/a_default.txt",
                   ROOT / "fixtures/seed/userland-proxy-on-default-bridge.txt"]
TARGET_SINGLE_100K = 1.0  # s, "about a second"
TARGET_BATCH = 1.0  # s, 100 queries on a typical Docker host, all together


# --------------------------------------------------------------------------- children


def _rss_kb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _stats_hook():
    """Count explorer runs and z3 calls without changing the engine: wrap the explore() that
    dnlint.engine.query calls (several per query when a docker-proxy leg or proto=all runs)."""
    import dnlint.engine.query as Q

    stats: list[tuple[int, int, int, bool]] = []
    orig = Q.explore

    def explore(*a, **k):
        r = orig(*a, **k)
        stats.append((r.runs, r.z3_calls, len(r.leaves), r.truncated))
        return r

    Q.explore = explore
    return stats


def _summary(ans) -> dict:
    d = {"reachable": ans.reachable, "verdict": ans.verdict}
    if ans.delivered:
        d["delivered"] = f"{ans.delivered.get('ip')}:{ans.delivered.get('port')}"
        if ans.delivered.get("container"):
            d["delivered"] += f" ({ans.delivered['container']})"
    if ans.blocked_by:
        b = ans.blocked_by
        if b.get("table") is None:
            d["blocked_by"] = b.get("reason")
        elif b.get("index") is None:
            d["blocked_by"] = f"{b['table']} {b['chain']} policy"
        else:
            d["blocked_by"] = f"{b['table']} {b['chain']} #{b['index']}"
    return d


def child_single(path: str, qjson: str, profile: str | None, freeze_gc: bool = False) -> None:
    t_start = time.perf_counter()
    from dnlint.engine.query import engine_for, query
    from dnlint.load import load_dump

    stats = _stats_hook()
    q = json.loads(qjson)
    out: dict = {"import_s": time.perf_counter() - t_start, "base_kb": _rss_kb()}
    t0 = time.perf_counter()
    dump = load_dump(path)
    out["parse_s"] = time.perf_counter() - t0
    out["rules"] = sum(len(c.rules) for r in dump.rulesets for t in r.tables for c in t.chains)
    out["parse_kb"] = _rss_kb()
    t0 = time.perf_counter()
    eng = engine_for(dump)
    out["engine_s"] = time.perf_counter() - t0
    if freeze_gc:
        import gc

        gc.freeze()  # what a caller could do after load: the IR is then never scanned by the cyclic GC
    args = (eng, q["src"], q["dst"], q["port"], q["proto"])
    if profile:
        import cProfile

        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        ans = query(*args)
        prof.disable()
        out["cold_s"] = time.perf_counter() - t0
        prof.dump_stats(profile)
    else:
        t0 = time.perf_counter()
        ans = query(*args)
        out["cold_s"] = time.perf_counter() - t0
    out["compiled"] = len(getattr(eng.compiler, "_cache", ()))
    cold_stats = list(stats)
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        query(*args)
        warm.append(time.perf_counter() - t0)
    out["warm_s"] = min(warm)
    out["runs"] = sum(s[0] for s in cold_stats)
    out["z3_calls"] = sum(s[1] for s in cold_stats)
    out["leaves"] = sum(s[2] for s in cold_stats)
    out["truncated"] = any(s[3] for s in cold_stats)
    out["answer"] = _summary(ans)
    out["peak_kb"] = _rss_kb()
    print(json.dumps(out))


def _batch_queries(eng, fixture: str, n: int, seed: int) -> list[tuple]:
    host = eng.host
    containers = sorted({e.container for e in host.endpoints})
    networks = sorted(name for name, v in host.networks.items() if v[0])
    uplink = host.default_route_dev()
    peer = None
    for r in host.routes:  # the default gateway: a real neighbour on the uplink
        if r.table == "main" and r.plen == 0 and r.via is not None:
            from dnlint.model.intervals import ip_str

            peer = ip_str(r.via, host.family)
    host_ip = None
    if uplink:
        from dnlint.model.intervals import ip_str

        addrs = host.ifaces.get(uplink, [])
        host_ip = ip_str(addrs[0][0], host.family) if addrs else None
    if "a_default" in fixture:
        peer = "192.0.2.2"  # the capture's outside namespace
    srcs = ["host", "outside"] + ([peer] if peer else []) + [f"container:{c}" for c in containers] \
        + [f"network:{n}" for n in networks]
    dsts = ["host"] + ([host_ip] if host_ip else []) + ["127.0.0.1"] + ([peer] if peer else []) \
        + [f"container:{c}" for c in containers] + [f"network:{n}" for n in networks]
    combos = [(s, d, p, pr) for s in srcs for d in dsts for p in (22, 80, 8080, 9090) for pr in ("tcp", "udp")
              if s != d]
    rnd = random.Random(seed)
    rnd.shuffle(combos)
    while len(combos) < n:
        combos += combos
    return combos[:n]


def child_batch(path: str, n: int, seed: int) -> None:
    t_start = time.perf_counter()
    from dnlint.engine.query import EndpointError, engine_for, query
    from dnlint.load import load_dump

    stats = _stats_hook()
    out: dict = {"import_s": time.perf_counter() - t_start}
    t0 = time.perf_counter()
    dump = load_dump(path)
    out["parse_s"] = time.perf_counter() - t0
    out["rules"] = sum(len(c.rules) for r in dump.rulesets for t in r.tables for c in t.chains)
    t0 = time.perf_counter()
    eng = engine_for(dump)
    out["engine_s"] = time.perf_counter() - t0
    qs = _batch_queries(eng, path, n, seed)
    times, counts, examples = [], {}, []
    t_all = time.perf_counter()
    for q in qs:
        t0 = time.perf_counter()
        try:
            ans = query(eng, *q)
            key = {True: "reachable", False: "blocked", None: "possible"}[ans.reachable]
        except EndpointError:
            ans, key = None, "endpoint error"
        times.append(time.perf_counter() - t0)
        counts[key] = counts.get(key, 0) + 1
        if ans is not None and len(examples) < 4 and (not examples or ans.reachable != examples[-1][1]["reachable"]):
            examples.append((q, _summary(ans)))
    out["total_s"] = time.perf_counter() - t_all
    out["n"] = len(qs)
    out["median_s"] = statistics.median(times)
    out["max_s"] = max(times)
    out["counts"] = counts
    out["runs"] = sum(s[0] for s in stats)
    out["z3_calls"] = sum(s[1] for s in stats)
    out["examples"] = examples
    out["peak_kb"] = _rss_kb()
    out["in_process_s"] = time.perf_counter() - t_start
    print(json.dumps(out))


# --------------------------------------------------------------------------- parent


# Linux keeps the larger of the old and the new address space's peak RSS across execve, so a
# child spawned by this (big: it holds the generated dumps) process would report this process's
# RSS as its own ru_maxrss. A small launcher (python -S) spawns the measured command instead and
# reports its wait4 rusage; its own ~10 MB is then the floor of every peak shown.
_LAUNCHER = r"""
import os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_pid, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
sys.stderr.write(f"\nQB-LAUNCHER {wall} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)}\n")
"""


def run_process(args: list[str]) -> tuple[float, str, int, int]:
    """Run a command; wall time from spawn to exit, stdout, peak RSS (KB, wait4 ru_maxrss), exit code."""
    p = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER] + args, capture_output=True, text=True, cwd=ROOT)
    head, _, tail = p.stderr.rpartition("QB-LAUNCHER ")
    try:
        wall_s, rss_s, rc_s = tail.split()
        wall, rss, rc = float(wall_s), int(rss_s), int(rc_s)
    except ValueError:
        raise RuntimeError(f"launcher failed: {p.stderr[-2000:]}") from None
    if rc not in (0, 1):
        raise RuntimeError(f"{' '.join(args[:4])}... failed ({rc}):\n{head[-2000:]}")
    return wall, p.stdout, rss, rc


def single_queries(info: dict) -> list[tuple[str, dict]]:
    svc, np, noep = info["service"], info["nodeport"], info["no_endpoints"]
    qs = [
        (f"outside -> host:{np['port']} (NodePort)",
         {"src": "outside", "dst": info["host_ip"], "port": np["port"], "proto": "tcp"}),
        (f"pod -> VIP {svc['ip']}:{svc['port']} ({svc['endpoints']} eps)",
         {"src": info["pod_ip"], "dst": svc["ip"], "port": svc["port"], "proto": "tcp"}),
        (f"host -> VIP {svc['ip']}:{svc['port']}",
         {"src": "host", "dst": svc["ip"], "port": svc["port"], "proto": "tcp"}),
        ("outside -> host:5555 (nothing allows)",
         {"src": "outside", "dst": info["host_ip"], "port": 5555, "proto": "tcp"}),
    ]
    if noep:
        qs.append((f"outside -> VIP {noep['ip']}:{noep['port']} (no endpoints)",
                   {"src": "outside", "dst": noep["ip"], "port": noep["port"], "proto": "tcp"}))
    return qs


def _fmt_answer(a: dict) -> str:
    r = {True: "reachable", False: "blocked", None: "possible"}[a["reachable"]]
    s = f"{r} {a['verdict']}"
    if a.get("delivered"):
        s += f" -> {a['delivered']}"
    if a.get("blocked_by"):
        s += f" by {a['blocked_by']}"
    return s


def _mb(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="dnlint query benchmark")
    ap.add_argument("--quick", action="store_true", help="only 1k and 10k rules")
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                    help="comma-separated rule counts (default 1000,10000,100000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=100, help="queries per Docker batch")
    ap.add_argument("--no-docker", action="store_true", help="skip the Docker batches")
    ap.add_argument("--profile", nargs="?", const="0", metavar="QUERY",
                    help="cProfile the cold query number QUERY (default 0, the NodePort one) on the "
                         "largest size; top 25 by cumulative and by own time")
    ap.add_argument("--freeze-gc", action="store_true",
                    help="call gc.freeze() after engine_for in the single-query processes (an experiment: "
                         "the first full collection over the parsed IR otherwise lands in the cold query)")
    ap.add_argument("--child-single", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--child-batch", help=argparse.SUPPRESS)
    ap.add_argument("--child-profile", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child_single:
        child_single(a.child_single[0], a.child_single[1], a.child_profile, a.freeze_gc)
        return 0
    if a.child_batch:
        child_batch(a.child_batch, a.batch, a.seed)
        return 0

    from gen_host import describe, host_dump

    sizes = a.sizes or ([1_000, 10_000] if a.quick else [1_000, 10_000, 100_000])
    me = [sys.executable, str(Path(__file__).resolve())]
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
    single_rows = []
    profile_file = None
    with tempfile.TemporaryDirectory(prefix="dnlint-qbench-") as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"kube-{n}.dump")
            text = host_dump(n, a.seed)
            with open(path, "w") as f:
                f.write(text)
            info = describe(text)
            for qi, (label, q) in enumerate(single_queries(info)):
                wall, stdout, rss, _rc = run_process(me + ["--child-single", path, json.dumps(q)]
                                                     + (["--freeze-gc"] if a.freeze_gc else []))
                res = json.loads(stdout)
                res["process_s"] = wall
                res["rss_kb"] = rss
                single_rows.append((n, label, q, res))
                print(f"  {n} rules: {label}: cold {res['cold_s']:.3f} s", file=sys.stderr)
            if a.profile is not None and n == max(sizes):
                label, q = single_queries(info)[int(a.profile)]
                profile_file = os.path.join(tmp, "query.prof")
                run_process(me + ["--child-single", path, json.dumps(q), "--child-profile", profile_file]
                            + (["--freeze-gc"] if a.freeze_gc else []))
                profile_label = f"{n} rules: {label} (cold, under cProfile)"
                import pstats

                print(f"\n=== profile: {profile_label}")
                for key in ("cumulative", "tottime"):
                    print(f"--- top 25 by {key}")
                    pstats.Stats(profile_file).strip_dirs().sort_stats(key).print_stats(25)

        batch_rows = []
        if not a.no_docker:
            for fx in DOCKER_FIXTURES:
                wall, stdout, rss, _rc = run_process(me + ["--child-batch", str(fx), "--batch", str(a.batch),
                                                           "--seed", str(a.seed)])
                res = json.loads(stdout)
                res["process_s"] = wall
                res["rss_kb"] = rss
                q = ["--from", "outside", "--to", "host", "--port", "8080"] if "a_default" in fx.name else \
                    ["--from", "outside", "--to", "host", "--port", "80"]
                cli_wall, _out, cli_rss, _ = run_process([sys.executable, "-m", "dnlint.cli", "query", str(fx)] + q)
                res["cli_s"], res["cli_kb"], res["cli_args"] = cli_wall, cli_rss, " ".join(q)
                batch_rows.append((fx, res))
                print(f"  {fx.name}: {res['n']} queries {res['total_s']:.3f} s", file=sys.stderr)

    print()
    print("Single query on a generated kube-proxy node (each query in a fresh process"
          + (", gc.freeze() after engine_for)" if a.freeze_gc else ")"))
    print(f"{'rules':>7} {'query':<44} {'parse s':>7} {'engine s':>8} {'cold s':>7} {'warm s':>7} "
          f"{'runs':>4} {'z3':>3} {'compiled':>8} {'parse MB':>8} {'peak MB':>7} {'proc s':>6}  answer")
    for n, label, q, r in single_rows:
        print(f"{r['rules']:>7} {label:<44} {r['parse_s']:7.2f} {r['engine_s']:8.3f} {r['cold_s']:7.3f} "
              f"{r['warm_s']:7.3f} {r['runs']:>4} {r['z3_calls']:>3} {r['compiled']:>8} {_mb(r['parse_kb']):>8} {_mb(r['rss_kb']):>7} "
              f"{r['process_s']:6.2f}  {_fmt_answer(r['answer'])}"
              + ("  TRUNCATED" if r["truncated"] else ""))
    big = [r for n, _l, _q, r in single_rows if n == max(sizes)]
    if big and max(sizes) >= 100_000:
        worst = max(r["cold_s"] for r in big)
        print(f"target: one query on 100k rules in about {TARGET_SINGLE_100K:.0f} s (query only, parse excluded): "
              f"worst cold {worst:.2f} s, worst warm {max(r['warm_s'] for r in big):.2f} s -> "
              f"{'OK' if worst <= 1.5 * TARGET_SINGLE_100K else 'MISSED'}")
    print("parse s = load_dump; engine s = engine_for; cold = first query after engine_for (compiles the rules "
          "it meets); warm = best of 3 repeats; runs = explorer path runs; z3 = solver calls; "
          "compiled = rules compiled by the cold query; parse MB = ru_maxrss after load_dump; peak MB = ru_maxrss "
          "of that process (wait4); proc s = its wall time, spawn to exit")

    if batch_rows:
        print()
        print(f"Docker host: {a.batch} mixed queries in one process, one engine (`dnlint check`-style)")
        print(f"{'fixture':<40} {'rules':>5} {'parse s':>7} {'engine s':>8} {'100 q s':>7} {'median ms':>9} "
              f"{'max ms':>6} {'runs':>5} {'z3':>4} {'process s':>9} {'peak MB':>7} {'1 CLI query s':>13} "
              f"{'CLI MB':>6}")
        for fx, r in batch_rows:
            name = f"{fx.parent.name}/{fx.name}"
            print(f"{name:<40} {r['rules']:>5} {r['parse_s']:7.3f} {r['engine_s']:8.4f} {r['total_s']:7.3f} "
                  f"{r['median_s'] * 1000:9.1f} {r['max_s'] * 1000:6.1f} {r['runs']:>5} {r['z3_calls']:>4} "
                  f"{r['process_s']:9.2f} {_mb(r['rss_kb']):>7} {r['cli_s']:13.2f} {_mb(r['cli_kb']):>6}")
        for fx, r in batch_rows:
            print(f"  {fx.name}: answers {r['counts']}; e.g. " +
                  "; ".join(f"{q[0]} -> {q[1]}:{q[2]}/{q[3]}: {_fmt_answer(s)}" for q, s in r["examples"][:3]))
            print(f"  {fx.name}: imports {r['import_s']:.2f} s; CLI query = `python -m dnlint.cli query "
                  f"{fx.name} {r['cli_args']}` from spawn to exit")
        worst = max(r["total_s"] for _fx, r in batch_rows)
        worst_p = max(r["process_s"] for _fx, r in batch_rows)
        print(f"target: {a.batch} queries on a Docker host in under {TARGET_BATCH:.0f} s all together: "
              f"worst {worst:.2f} s (queries only), {worst_p:.2f} s (whole process: start, imports, parse, "
              f"engine, {a.batch} queries, exit) -> {'OK' if worst_p < TARGET_BATCH else 'queries OK' if worst < TARGET_BATCH else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
