"""A listing (`iptables -t T -nvL -x`) answers like the save it was listed from, on real Docker hosts.

For each captured Docker dump (fixtures/docker, fixtures/docker-v28) the IPv4 save is loaded
into a throwaway namespace with iptables-restore, listed back per table the way a person
would paste it, and put in place of the `iptables-save` section. Every recorded probe is
then asked of both dumps: the answers (reachable, and the source the receiver sees) must be
the same, so what the listing loses (it is lossy) never changes a Docker host's verdict.
"""

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from dnlint.engine.query import engine_for, query
from dnlint.load import load_dump, load_text
from netns import lab  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = [ROOT / "fixtures" / "docker", ROOT / "fixtures" / "docker-v28"]
SAVE_SECTION = re.compile(r"### iptables-save[^\n]*\n.*?(?=^### )", re.S | re.M)


def _save_text(dump: str) -> str:
    m = SAVE_SECTION.search(dump)
    assert m, "no iptables-save section"
    return m.group(0).split("\n", 1)[1]


def _as_listing(ns, dump: str) -> str:
    save = _save_text(dump)
    ns.run("iptables-restore", "-c", input=save)
    parts = []
    for table in ("raw", "mangle", "nat", "filter"):
        if f"*{table}\n" in save:
            out = ns.run("iptables", "-t", table, "-nvL", "-x").stdout
            parts.append(f"### iptables -t {table} -nvL -x\n{out}")
    return SAVE_SECTION.sub(lambda _m: "".join(parts), dump, count=1)


@lru_cache(maxsize=None)
def _probes(path: Path) -> list[dict]:
    return json.loads(path.read_text())


def _key(answer) -> tuple:
    d = answer.as_dict()
    return d["reachable"], d["verdict"], (d["delivered"] or {}).get("seen_src"), (d["delivered"] or {}).get("ip")


@pytest.mark.netns
@pytest.mark.parametrize("captures", CAPTURES, ids=lambda p: p.name)
def test_listing_answers_like_the_save(lab, captures):  # noqa: F811
    ns = lab.netns("lst")
    compared = 0
    for probes_file in sorted(captures.glob("*.probes.json")):
        scenario = probes_file.name[: -len(".probes.json")]
        path = captures / f"{scenario}.txt"
        text = path.read_text()
        for table in ("raw", "mangle", "nat", "filter"):  # the namespace is reused: start empty
            ns.run("iptables", "-t", table, "-F")
            ns.run("iptables", "-t", table, "-X")
        listing = _as_listing(ns, text)
        assert "### iptables-save" not in listing.split("### ip6tables", 1)[0]
        saved, listed = engine_for(load_dump(path)), engine_for(load_text(listing, f"{scenario}-listing.txt"))
        for p in _probes(probes_file):
            if ":" in p["to"]:
                continue  # IPv6 probes: the listing replaces the IPv4 save only
            src = "192.0.2.2" if p["from"] == "outside" else p["from"]
            a = query(saved, src, p["to"], p["port"], p["proto"])
            b = query(listed, src, p["to"], p["port"], p["proto"])
            assert _key(a) == _key(b), (f"{captures.name}/{scenario} {p['from']} -> {p['to']}:{p['port']}/"
                                        f"{p['proto']}: save {a.as_dict()} listing {b.as_dict()}")
            compared += 1
    assert compared >= 150
