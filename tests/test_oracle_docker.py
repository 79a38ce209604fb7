"""Live Docker oracle: a real dockerd per scenario, real probes, and dnlint on the fresh dump.

The offline half is tests/test_query_docker.py (dnlint against the probes recorded in
fixtures/docker and fixtures/docker-v28). This test re-runs every scenario of
tests/oracle/capture_docker.py (default flags, userland-proxy off, route_localnet off by
hand, icc off, internal network, 127.0.0.1 publish, two networks, DOCKER-USER rules, INPUT
policy DROP, iptables=false, iptables=false + proxy off, iptables=false without a route
back; on Docker 28 also the gateway modes and IPv6; and the ufw_* scenarios: ufw in the host
namespace with its configuration in a private directory, tests/oracle/ufwhost.py, left out where
ufw is not installed) for real: a fresh dockerd (vfs storage)
in fresh network namespaces, the scenario's containers and listeners, its probes, then the
host dump collected by dnlint's collector; each probe is then asked of dnlint on that dump:

- reached (a listener saw the probe's token) vs ``answer.reachable`` (``None``, "possible",
  counts as a disagreement here, as in test_query_docker);
- when both say reached: the source the listener saw vs ``answer.delivered["seen_src"]``,
  and the container that got it vs ``answer.delivered["container"]`` (no container when
  the host or outside got it); for UDP, whether the answer came back to the prober's
  socket as dnlint's answer implies (differential.udp_reply_disagreement: a connected
  socket drops an answer from another address, an unconnected one records whose it took).

It runs twice (parametrized): on the installed dockerd (Debian bookworm's 20.10 in CI) and
on the one ``DNLINT_DOCKERD_DIR`` names (tests/oracle/dockerhost.py): .ci/run fetches
Debian unstable's docker.io 28.x with ``python -m tests.oracle.fetch_dockerd
.cache/dockerd-sid`` (nothing is installed) and exports what it prints. Unset, that run
skips with the reason (DNLINT_DOCKERD_FETCH_ERROR, .ci/run's record of a failed fetch, when
there is one). Each run prints the dockerd version it ran.

``outside`` probes are asked with the outside namespace's address (192.0.2.2; 2001:db8:1::2
for a probe to an IPv6 address) as the source; ``host`` and ``container:NAME`` are asked as
they are. A probe to an IPv6 address is asked of the dump's IPv6 model (``engine_for(dump,
6)``), as ``dnlint query`` picks it (endpoint_family).

A report table (scenario, dockerd flags, probes, agreed, disagreed, seconds) goes to the
terminal. On a disagreement the test fails naming the scenario, the probe, the kernel's
answer and dnlint's, and writes fixtures/regressions/docker-<scenario>-v<major>.txt (the
dump) and .probes.json (the disagreeing probes, in differential.save_regression's record
format) for tests/test_oracle_kernel.py::test_saved_regressions to replay without the kernel.

Each scenario gets its own daemon (scenarios differ in flags and in what they do to the
host's rules, and a fresh daemon costs ~8 s). ``DNLINT_DOCKER_SCENARIOS=a,c_no_proxy_no_localnet``
runs some scenarios only (by name or letter); scenarios that need a newer daemon
(``min_version``, e.g. Docker 28's gateway modes) run only on one. Probes listed in
capture_docker.KNOWN_DISAGREEMENTS for the daemon's version are reported, not failed.
Skips, with the reason, when not root, without network namespaces, or without
dockerd/docker/containerd/runc/nsenter or /bin/busybox (busybox-static).

The static half (test_recorded_scenario_agrees_with_the_kernel) replays every recorded
capture, fixtures/docker (dockerd 20.10) and fixtures/docker-v28 (dockerd 28.5), per
scenario with the same judge(), without a daemon.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from netns import requires_netns
from oracle.capture_docker import (CAPTURE_ONLY, SCENARIOS, LiveRun, Scenario, dump_dockerd_version, known_disagreement, run_live,
                                   supported_scenarios)
from oracle.differential import expected_answer, honest_null, udp_reply_disagreement
from oracle.dockerhost import OUTSIDE_IP, OUTSIDE_IP6, docker_unavailable, dockerd_binary, installed_dockerd_version

from dnlint.engine.query import Engine, endpoint_family, engine_for, query
from dnlint.load import load_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGRESSIONS = os.path.join(ROOT, "fixtures", "regressions")
LISTEN_PORT = {"container": 80, "host": 9090, "outside": 9000}  # capture_docker's listeners

def _selected() -> list[Scenario]:
    """DNLINT_DOCKER_SCENARIOS's scenarios (default all), of those the dockerd can run."""
    want = [w.strip() for w in os.environ.get("DNLINT_DOCKER_SCENARIOS", "").split(",") if w.strip()]
    runnable = supported_scenarios()
    if not want:
        return runnable
    names = {s.name for s in SCENARIOS} | {s.name.split("_")[0] for s in SCENARIOS}
    unknown = [w for w in want if w not in names]
    if unknown:
        pytest.fail(f"DNLINT_DOCKER_SCENARIOS: unknown {unknown}; have {[s.name for s in SCENARIOS]}")
    return [s for s in runnable if s.name in want or s.name.split("_")[0] in want]


def _family(probe: dict) -> int:
    return endpoint_family(probe["to"])


def _source(probe: dict) -> str:
    if probe.get("src"):  # the outside namespace sent from another of its addresses
        return probe["src"]
    if probe["from"] != "outside":
        return probe["from"]
    return OUTSIDE_IP6 if _family(probe) == 6 else OUTSIDE_IP


class Engines:
    """A dump's engine per address family, built when first asked for."""

    def __init__(self, dump):
        self.dump, self._by_family = dump, {}

    def __getitem__(self, family: int) -> Engine:
        if family not in self._by_family:
            self._by_family[family] = engine_for(self.dump, family)
        return self._by_family[family]


def _kernel_says(p: dict) -> str:
    if p["reached"]:
        return f"reached {p['delivered_to']}, seen src {p['seen_src']}"
    extra = "handshake completed" if p.get("connected") else (p.get("error") or "no answer")
    return f"not reached ({extra})"


def _dnlint_says(a) -> str:
    if a is None:
        return "no answer"
    head = {True: "reachable", False: "unreachable", None: "possible"}[a.reachable]
    out = f"{head} ({a.verdict})"
    d = a.delivered
    if d:
        out += (f", delivered to {d.get('ip')}:{d.get('port')}"
                f"{' container ' + d['container'] if d.get('container') else ''}"
                f" by {d.get('by')}, seen src {d.get('seen_src')}")
    if a.blocked_by:
        b = a.blocked_by
        out += f", blocked by {b.get('table')}/{b.get('chain')}#{b.get('index')}: {b.get('reason')}"
    if a.approximated:
        out += f", approximated: {'; '.join(a.approximated)}"
    return out


def judge(engine, p: dict) -> tuple[str, str, object] | None:
    """None when dnlint agrees with the kernel on probe ``p``; else (kind, message, answer).

    ``engine``: an :class:`Engines` (the probe's family is picked), or one Engine."""
    try:
        eng = engine[_family(p)] if isinstance(engine, Engines) else engine
        a = query(eng, _source(p), p["to"], p["port"], p["proto"], sport=p.get("sport"))
    except Exception as exc:  # an engine crash is a finding
        return "error", f"query raised {exc!r}", None
    if a.reachable is None:
        if honest_null(a.as_dict()):  # it names the fact no dump shows (who answers, a route back)
            return None
        return "possible", "dnlint answers `possible` (an approximated match)", a
    want = expected_answer(p)  # UDP: the prober got the answer too, from the address it sent to
    if a.reachable is not want:
        return "reachability", (f"kernel {'reached ' + str(p['delivered_to']) if want else 'did not reach'}"
                                + (" (no answer came back)" if p["reached"] and not want else "")
                                + f", dnlint says {'reachable' if a.reachable else 'unreachable'}"), a
    if not want:
        reply = udp_reply_disagreement(p, a.as_dict())
        return (reply[0], reply[1], a) if reply else None
    d = a.delivered or {}
    if not d:
        return "no_delivered", "both say reachable, but dnlint's answer has no `delivered`", a
    target = p["delivered_to"]
    want_container = target.split(":", 1)[1] if target.startswith("container:") else None
    if d.get("container") != want_container:
        return "delivered_to", (f"kernel delivered to {target}, dnlint to "
                                f"{'container ' + d['container'] if d.get('container') else d.get('ip')}"), a
    if d.get("seen_src") != p["seen_src"]:
        return "seen_src", f"the listener saw source {p['seen_src']}, dnlint says {d.get('seen_src')}", a
    reply = udp_reply_disagreement(p, a.as_dict())
    if reply:
        return reply[0], reply[1], a
    return None


def _regression_record(live: LiveRun, p: dict, kind: str, message: str) -> dict:
    """A probe in tests/oracle/differential.py's record format (what save_regression writes)."""
    rec = {"from": p["from"], "src": _source(p), "to": p["to"], "port": p["port"], "proto": p["proto"],
           "sport": p.get("sport"), "reached": p["reached"], "delivered_to": p["delivered_to"],
           "delivered_ip": None, "delivered_port": None, "seen_src": p["seen_src"], "note": p["note"],
           "connected": p["connected"], "reply": p["reply"], "error": p["error"], "send_error": None,
           **({"udp_socket": p["udp_socket"]} if "udp_socket" in p else {}),
           "reply_from": p.get("reply_from"), "ended": p.get("ended"),
           "routed": live.scenario.route_back}  # outside routes 172.16.0.0/12 (and fd00::/8) back via the host
    target = p["delivered_to"]
    if target:
        kind_of = target.split(":", 1)[0]
        rec["delivered_port"] = LISTEN_PORT.get(kind_of)
        v6 = _family(p) == 6
        if kind_of == "container":
            ips = live.containers.get(target.split(":", 1)[1], {}).get("ips6" if v6 else "ips", {})
            rec["delivered_ip"] = next(iter(ips.values()), None) if len(ips) == 1 else None
        elif kind_of == "outside":
            rec["delivered_ip"] = OUTSIDE_IP6 if v6 else OUTSIDE_IP
    rec["disagreement"] = {"kind": kind, "message": message, "hint": ""}
    rec["case"] = (f"docker scenario {live.scenario.name}: {live.scenario.title}; dockerd flags: "
                   f"{' '.join(live.scenario.flags) or '(defaults)'}")
    return rec


def save_docker_regression(live: LiveRun, records: list[dict], outdir: str = REGRESSIONS) -> list[str]:
    """docker-<scenario>[-v<major>].txt and .probes.json (the major version of the dump's dockerd)."""
    os.makedirs(outdir, exist_ok=True)
    major = dump_dockerd_version(live.dump)[:1]
    base = os.path.join(outdir, f"docker-{live.scenario.name}" + (f"-v{major[0]}" if major else ""))
    with open(base + ".txt", "w") as fh:
        fh.write(live.dump)
    with open(base + ".probes.json", "w") as fh:
        fh.write(json.dumps(records, indent=1) + "\n")
    return [base + ".txt", base + ".probes.json"]


def _table(rows: list[tuple]) -> str:
    head = ("scenario", "dockerd flags", "probes", "agreed", "disagreed", "seconds")
    cells = [head] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep, *[line(r) for r in cells[1:]]])


#: the two live runs: the dockerd installed on this machine (Debian bookworm's 20.10 in CI),
#: and the one DNLINT_DOCKERD_DIR names (Debian unstable's 28.x, fetched by .ci/run with
#: ``python -m tests.oracle.fetch_dockerd .cache/dockerd-sid``)
DAEMONS = ("installed", "DNLINT_DOCKERD_DIR")


def _use_daemon(daemon: str, monkeypatch) -> None:
    """Point dockerhost at ``daemon``, or skip with the reason it cannot run."""
    if daemon == "installed":
        monkeypatch.delenv("DNLINT_DOCKERD_DIR", raising=False)
    elif not os.environ.get("DNLINT_DOCKERD_DIR"):
        pytest.skip(os.environ.get("DNLINT_DOCKERD_FETCH_ERROR")
                    or "DNLINT_DOCKERD_DIR is not set (`python -m tests.oracle.fetch_dockerd .cache/dockerd-sid` "
                       "fetches Debian unstable's dockerd 28 and prints it; .ci/run does)")
    reason = docker_unavailable()
    if reason:
        pytest.skip(f"live Docker oracle ({daemon}): {reason}")


#: scenarios that run live on the installed daemon only (their Docker 28 captures are replayed by
#: test_query_docker): the ufw ones, about five minutes a daemon, keep the whole CI run under its
#: half hour
INSTALLED_ONLY_PREFIXES = ("ufw_",)


@requires_netns
@pytest.mark.netns
@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("daemon", DAEMONS)
def test_live_docker_oracle(daemon, capsys, monkeypatch):
    _use_daemon(daemon, monkeypatch)
    scenarios = _selected()
    if daemon != "installed" and not os.environ.get("DNLINT_DOCKER_SCENARIOS"):
        scenarios = [s for s in scenarios if not s.name.startswith(INSTALLED_ONLY_PREFIXES)]
    if not os.environ.get("DNLINT_DOCKER_SCENARIOS"):
        scenarios = [s for s in scenarios if s.name not in CAPTURE_ONLY]  # diff twins: replayed, not run live
    t_all = time.monotonic()
    rows, failures, saved, known = [], [], [], []
    which = f"dockerd {'.'.join(map(str, installed_dockerd_version())) or '(version unknown)'} ({daemon}: {dockerd_binary()})"

    def say(msg: str) -> None:
        with capsys.disabled():
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()

    say(f"\nlive Docker oracle on {which}: {len(scenarios)} scenarios, a fresh dockerd each")
    for sc in scenarios:
        flags = " ".join(sc.flags) or "(defaults)"
        try:
            live = run_live(sc, log=lambda m: None)
        except Exception as exc:  # the daemon or the setup failed: report, go on
            rows.append((sc.name, flags, "-", "-", "ERROR", "-"))
            failures.append(f"{sc.name} ({flags}): the scenario did not run: {exc}")
            say(f"  {sc.name}: ERROR {exc}")
            continue
        engine = Engines(load_text(live.dump, f"<live docker {sc.name}>"))
        agreed, records = 0, []
        version = dump_dockerd_version(live.dump)
        for p in live.probes:
            found = judge(engine, p)
            if found is None:
                agreed += 1
                continue
            kind, message, answer = found
            if known_disagreement(version, sc.name, p):
                known.append(f"{sc.name}: {p['from']} -> {p['to']}:{p['port']}/{p['proto']} ({p['note']}): {kind}")
                continue
            records.append(_regression_record(live, p, kind, message))
            failures.append(
                f"{sc.name} ({flags}): {p['from']} -> {p['to']}:{p['port']}/{p['proto']} ({p['note']}): "
                f"{kind}: {message}\n    kernel: {_kernel_says(p)}\n    dnlint: {_dnlint_says(answer)}")
        if records:
            saved += save_docker_regression(live, records)
        rows.append((sc.name, flags, len(live.probes), agreed, len(records), f"{live.seconds:.0f}"))
        say(f"  {sc.name}: {len(live.probes)} probes, {agreed} agreed, {len(records)} disagreed "
            f"({live.seconds:.0f} s)")

    total = sum(r[2] for r in rows if isinstance(r[2], int))
    agreed = sum(r[3] for r in rows if isinstance(r[3], int))
    summary = (f"live Docker oracle on {which}: {len(rows)} scenarios, {total} probes, {agreed} agreed, "
               f"{len(failures)} disagreements/errors, {len(known)} known disagreements, "
               f"{time.monotonic() - t_all:.0f} s")
    say("\n" + _table(rows) + "\n" + summary)
    for k in known:
        say("KNOWN DISAGREEMENT (capture_docker.KNOWN_DISAGREEMENTS) " + k)
    for f in failures:
        say("DISAGREE " + f)
    if saved:
        say("saved: " + ", ".join(os.path.relpath(s, ROOT) for s in saved))
    assert not failures, (summary + "\n" + "\n".join(failures)
                          + (f"\nsaved for test_saved_regressions: {', '.join(saved)}" if saved else ""))
    # every probe ran (a scenario that lost its probes would pass silently)
    assert total >= 9 * len(scenarios), summary  # every scenario has at least 9 probes


# --------------------------------------------------------------------------- without the kernel

FIXTURES = os.path.join(ROOT, "fixtures", "docker")
# every set of captures: Debian bookworm's dockerd 20.10, and dockerd 28.5 (DNLINT_DOCKERD_DIR)
CAPTURE_DIRS = ("docker", "docker-v28")


def _recorded(name: str, fixtures: str = FIXTURES) -> LiveRun:
    """A LiveRun rebuilt from a capture directory (what capture_docker recorded)."""
    sc = next(s for s in SCENARIOS if s.name == name)
    with open(os.path.join(fixtures, f"{name}.txt")) as fh:
        dump = fh.read()
    with open(os.path.join(fixtures, f"{name}.probes.json")) as fh:
        probes = json.load(fh)
    ips = {}
    for p in probes:  # the container that got a probe on its own address
        if p["reached"] and str(p["delivered_to"]).startswith("container:") and p["port"] == 80:
            key = "ips6" if _family(p) == 6 else "ips"
            ips.setdefault(p["delivered_to"].split(":", 1)[1], {}).setdefault(key, {"net": p["to"]})
    return LiveRun(sc, dump, probes, ips, {}, 0.0)


def _recorded_cases() -> list:
    out = []
    for d in CAPTURE_DIRS:
        base = os.path.join(ROOT, "fixtures", d)
        for sc in SCENARIOS:
            if os.path.exists(os.path.join(base, f"{sc.name}.probes.json")):
                out.append(pytest.param(d, sc.name, id=f"{d}-{sc.name}"))
    return out


@pytest.mark.parametrize("captures, name", _recorded_cases())
def test_recorded_scenario_agrees_with_the_kernel(captures, name):
    """The live oracle's judgement, replayed on a recorded capture without a daemon.

    Every probe of the scenario must agree (judge() is None), except the known
    disagreements of capture_docker.KNOWN_DISAGREEMENTS, which must still disagree (so the
    list shrinks when dnlint is fixed)."""
    live = _recorded(name, os.path.join(ROOT, "fixtures", captures))
    engine = Engines(load_text(live.dump, f"<{captures}/{name}>"))
    wrong, fixed = [], []
    version = dump_dockerd_version(live.dump)
    for p in live.probes:
        found = judge(engine, p)
        known = known_disagreement(version, name, p)
        where = f"{p['from']} -> {p['to']}:{p['port']}/{p['proto']} ({p['note']})"
        if found is not None and not known:
            kind, message, answer = found
            wrong.append(f"{where}: {kind}: {message}\n    kernel: {_kernel_says(p)}\n    dnlint: {_dnlint_says(answer)}")
        elif found is None and known:
            fixed.append(f"{where}: now agrees; remove it from KNOWN_DISAGREEMENTS")
    assert len(live.probes) >= 9
    assert not wrong and not fixed, f"{captures}/{name}:\n" + "\n".join(wrong + fixed)


def test_judge_on_the_recorded_captures():
    """judge() agrees with the recorded kernel answers, and catches a flipped one."""
    live = _recorded("a_default")
    engine = engine_for(load_text(live.dump))
    version = dump_dockerd_version(live.dump)
    assert all(judge(engine, p) is None for p in live.probes if not known_disagreement(version, "a_default", p))
    # a UDP answer from another address: the connected socket heard nothing, the unconnected one
    # heard the bridge address (20.10's docker-proxy answers from it)
    hairpin = [p for p in live.probes if p["proto"] == "udp" and p["from"] == "container:client"
               and p["to"] == "192.0.2.1" and p["port"] == 8080]
    assert {p["udp_socket"]: (p["reply"], p["reply_from"]) for p in hairpin} == {
        "connected": (False, None), "unconnected": (True, "172.18.0.1")}
    # dnlint: 20.10's docker-proxy answers from the bridge address, so a connected client gets
    # nothing (ANSWER_FROM_OTHER_ADDRESS, naming that address): both probes agree with it
    assert [judge(engine, p) for p in hairpin] == [None, None]
    a = query(engine, "container:client", "192.0.2.1", 8080, "udp")
    assert a.verdict == "ANSWER_FROM_OTHER_ADDRESS" and "answers from 172.18.0.1" in a.blocked_by["reason"]
    wrong = next(dict(p, reply_from="172.18.0.9") for p in hairpin if p["udp_socket"] == "unconnected")
    assert judge(engine, wrong)[0] == "reply_from"
    flipped = dict(live.probes[0], reached=False, delivered_to=None, seen_src=None)
    assert judge(engine, flipped)[0] == "reachability"
    wrong_src = next(dict(p, seen_src="10.0.0.9") for p in live.probes if p["reached"])
    assert judge(engine, wrong_src)[0] == "seen_src"
    other = next(dict(p, delivered_to="container:client") for p in live.probes
                 if p["delivered_to"] == "container:web")
    assert judge(engine, other)[0] == "delivered_to"


def test_regression_records_replay(tmp_path):
    """What a failing run saves, differential.compare (test_saved_regressions) replays.

    Records of probes dnlint gets right must replay as agreements, a flipped one as a
    disagreement of the same kind.
    """
    import oracle.differential as D
    from dnlint.load import load_dump

    assert D._delivered_ns({"ip": "172.18.0.2", "port": 80, "container": "web", "by": "container web"}) \
        == "container:web"
    v28 = os.path.join(ROOT, "fixtures", "docker-v28")
    for name, where in (("a_default", FIXTURES), ("e_internal", FIXTURES), ("g_two_networks", FIXTURES),
                        ("k_no_iptables_no_proxy", FIXTURES), ("a_default", v28), ("l_routed", v28),
                        ("m_nat_unprotected", v28)):
        live = _recorded(name, where)
        recs = [_regression_record(live, p, "none", "") for p in live.probes]
        flipped = dict(live.probes[0], reached=not live.probes[0]["reached"])
        recs.append(_regression_record(live, flipped, "reachability", ""))
        dump, probes = save_docker_regression(live, recs, str(tmp_path))
        cmp = D.compare(load_dump(dump), json.loads(Path(probes).read_text()))
        assert [d.kind for d in cmp] == ["reachability"], (name, [d.describe() for d in cmp])


def test_probe_endings():
    """How an attempt ended, from the prober's error strings (netns.ending)."""
    from netns import ENDINGS, ending

    cases = [((True, None), "answered"), ((None, "Connection refused"), "refused"),
             ((None, "recv: Connection refused"), "refused"), ((None, "Connection reset by peer"), "refused"),
             ((None, "timeout"), "timeout"), ((None, "recv: timeout"), "timeout"),
             ((None, "recv: TimeoutError"), "timeout"), ((None, "No route to host"), "unreachable"),
             ((None, "Network is unreachable"), "unreachable"),
             ((None, "Invalid argument", "Invalid argument"), "local error"),
             ((None, "Operation not permitted", "Operation not permitted"), "local error")]
    for args, want in cases:
        assert ending(*args) == want, (args, want)
    assert ending(None, None, None, connected=True) == "silent"
    assert ending(None, None) == "timeout"
    recorded = [p for d in CAPTURE_DIRS for f in sorted(os.listdir(os.path.join(ROOT, "fixtures", d)))
                if f.endswith(".probes.json") for p in json.load(open(os.path.join(ROOT, "fixtures", d, f)))]
    # captures made before the prober recorded these fields have none (re-capture to add them)
    assert {p["ended"] for p in recorded if "ended" in p} <= set(ENDINGS)
    assert {"answered", "refused", "timeout", "unreachable", "local error"} <= {p.get("ended") for p in recorded}
    assert all(p["udp_socket"] in ("connected", "unconnected") for p in recorded
               if p["proto"] == "udp" and "udp_socket" in p)
    assert all("ended" in p and (p["proto"] != "udp" or "udp_socket" in p) for p in _recorded("a_default").probes)
