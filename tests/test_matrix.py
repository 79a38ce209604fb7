"""dnlint matrix: the whole host at once, as a view over query.

- Each captured Docker dump (fixtures/docker, fixtures/docker-v28) and each seed fixture: the
  matrix whose rows and columns are the probes' endpoints gives, for every probe's port, the
  class the kernel measured (reached or not, where, the source the server saw), judged as the
  query tests judge a query answer.
- The classes of every cell are disjoint and cover the service space; each class's first and
  last port (every range's) get the answer of its witness (one packet per class boundary).
- The seed's --iptables=true host: the two networks isolated by DOCKER-ISOLATION, egress
  masqueraded.
- json and csv round-trip through the API; the CLI's formats; the html page in Chromium.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from functools import lru_cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnlint.cli import app
from dnlint.engine.matrix import compute_matrix, parse_ports, signature
from dnlint.engine.query import endpoint_family, engine_for, query
from dnlint.load import load_dump
from dnlint.matrix_report import matrix_from_csv, matrix_from_dict, render_csv, render_html, render_json, render_text
from oracle.capture_docker import dump_dockerd_version, known_disagreement
from oracle.differential import expected_answer, honest_null

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = [ROOT / "fixtures" / "docker", ROOT / "fixtures" / "docker-v28"]
SEED = ROOT / "fixtures" / "seed"
OUTSIDE = {4: "192.0.2.2", 6: "2001:db8:1::2"}


def _scenarios():
    out = []
    for d in CAPTURES:
        for f in sorted(d.glob("*.probes.json")):
            out.append(pytest.param(d, f.name.replace(".probes.json", ""), id=f"{d.name}/{f.name[:-12]}"))
    return out


@lru_cache(maxsize=None)
def _engine(path: Path, family: int):
    return engine_for(load_dump(path), family)


def _source(p: dict) -> str:
    if p["from"] != "outside":
        return p["from"]
    return p.get("src") or OUTSIDE[endpoint_family(p["to"])]


@pytest.mark.parametrize("captures, scenario", _scenarios())
def test_matrix_gives_the_classes_the_kernel_measured(captures, scenario):
    dump = captures / f"{scenario}.txt"
    probes = [p for p in json.loads((captures / f"{scenario}.probes.json").read_text()) if not p.get("sport")]
    version = dump_dockerd_version(dump.read_text())
    checked = 0
    for fam in (4, 6):
        mine = [p for p in probes if endpoint_family(p["to"]) == fam]
        if not mine:
            continue
        eng = _engine(dump, fam)
        srcs = sorted({_source(p) for p in mine})
        dsts = sorted({p["to"] for p in mine})
        protos = sorted({p["proto"] for p in mine})
        m = compute_matrix(eng, sources=srcs, destinations=dsts, protos=protos)
        for p in mine:
            where = f"{scenario}: {p['from']} -> {p['to']}:{p['port']}/{p['proto']} ({p.get('note')})"
            if known_disagreement(version, scenario, p):
                continue
            cell = m.cell(_source(p), p["to"])
            assert cell is not None and cell.error is None, where
            k = cell.class_for(p["proto"], p["port"])
            assert k is not None, f"{where}: no class holds the port"
            # the class's answer is the query's for this very port, but for the port itself
            direct = query(eng, _source(p), p["to"], p["port"], p["proto"])
            assert signature(direct, p["port"]) == signature(k.answer, k.witness_port), where
            if k.reachable is None:
                assert honest_null(k.answer.as_dict()) or k.answer.approximated, where
                continue
            assert k.reachable == expected_answer(p), f"{where}: class {k.ports_text()} {k.fate}: {k.summary}"
            if k.reachable and p.get("seen_src") and (k.answer.delivered or {}).get("seen_src"):
                assert k.answer.delivered["seen_src"] == p["seen_src"], where
            checked += 1
    assert checked, "no probe compared"


def _all_cells_cover(m):
    for cell in m.cells:
        if cell.error:
            continue
        for proto in m.protos:
            ks = [k for k in cell.classes if k.proto == proto]
            if proto == "icmp":
                assert len(ks) == 1
                continue
            seen: list[tuple[int, int]] = []
            for k in ks:
                seen.extend(k.ports)
            seen.sort()
            for (a, b), (c, d) in zip(seen, seen[1:]):
                assert b < c, f"{cell.src.ref} -> {cell.dst.ref}/{proto}: classes overlap at {c}"
            merged = []
            for lo, hi in seen:
                if merged and merged[-1][1] + 1 == lo:
                    merged[-1] = (merged[-1][0], hi)
                else:
                    merged.append((lo, hi))
            assert merged == [tuple(r) for r in m.ports], f"{cell.src.ref} -> {cell.dst.ref}/{proto}: {merged}"


@pytest.mark.parametrize("dump", sorted(SEED.glob("*.txt")) + [CAPTURES[0] / "a_default.txt",
                                                               CAPTURES[1] / "a_default.txt"],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_classes_are_disjoint_cover_the_space_and_hold_at_their_boundaries(dump):
    eng = _engine(dump, 4)
    m = compute_matrix(eng, protos=["tcp", "udp", "icmp"])
    _all_cells_cover(m)
    for cell in m.cells:
        for k in cell.classes:
            if not k.ports:
                continue
            want = signature(k.answer, k.witness_port)
            for lo, hi in k.ports:
                for port in {lo, hi}:
                    a = query(eng, cell.src.ref, cell.dst.ref, port, k.proto)
                    assert signature(a, port) == want, (cell.src.ref, cell.dst.ref, k.proto, port, k.summary)


def test_the_seed_iptables_true_host_isolates_its_networks_and_masquerades_egress():
    m = compute_matrix(_engine(SEED / "iptables-true-isolation.txt", 4), protos=["tcp"])
    for src, dst in (("network:bridge", "container:app"), ("network:mynet", "container:web"),
                     ("container:web", "container:app"), ("container:app", "container:web")):
        (k,) = m.cell(src, dst).classes
        assert k.fate == "isolated" and k.answer.blocked_by["chain"] == "DOCKER-ISOLATION", (src, dst, k.summary)
        assert k.answer.blocked_by["line"] and f"line {k.answer.blocked_by['line']}" in k.summary
    for src in ("network:bridge", "network:mynet", "container:web", "container:app"):
        (k,) = m.cell(src, "outside").classes
        assert k.fate == "masqueraded" and "seen src 10.10.50.99" in k.summary, (src, k.summary)
    text = render_text(m)
    assert "DROP L32" in text and "masq 10.10.50.99" in text


def test_published_ports_are_their_own_classes_with_their_fates():
    m = compute_matrix(_engine(CAPTURES[0] / "a_default.txt", 4), sources=["host", "outside"],
                       destinations=["127.0.0.1", "192.0.2.1"], protos=["tcp"])
    by = {(c.src.ref, c.dst.ref): c for c in m.cells}
    proxied = by[("host", "127.0.0.1")].class_for("tcp", 8080)
    assert proxied.fate == "proxied" and proxied.ports == [(8080, 8080)]
    assert "docker-proxy -> web:80 (seen src 172.18.0.1)" == proxied.summary
    dnat = by[("outside", "192.0.2.1")].class_for("tcp", 8080)
    assert dnat.fate == "dnat" and dnat.summary == "DNAT web:80 (seen src kept)"
    rest = by[("outside", "192.0.2.1")].class_for("tcp", 22)
    assert rest.fate == "no-listener" and (22, 22) not in rest.ports and any(lo <= 22 <= hi for lo, hi in rest.ports)
    assert by[("outside", "127.0.0.1")].class_for("tcp", 8080).answer.verdict == "MARTIAN"


def test_port_restriction_and_parse_ports():
    assert parse_ports("80, 443,8000-8100") == [(80, 80), (443, 443), (8000, 8100)]
    with pytest.raises(ValueError):
        parse_ports("0-5")
    m = compute_matrix(_engine(CAPTURES[0] / "a_default.txt", 4), sources=["outside"], destinations=["192.0.2.1"],
                       protos=["tcp"], ports=parse_ports("8000-8100"))
    (cell,) = m.cells
    assert sorted(r for k in cell.classes for r in k.ports) == [(8000, 8079), (8080, 8080), (8081, 8100)]


def test_json_and_csv_round_trip_through_the_api():
    m = compute_matrix(_engine(CAPTURES[0] / "a_default.txt", 4), protos=["tcp", "icmp"])
    doc = json.loads(render_json(m))
    back = matrix_from_dict(doc)
    assert json.loads(render_json(back)) == doc
    assert [(c.src.ref, c.dst.ref, [(k.proto, k.ports, k.fate) for k in c.classes]) for c in back.cells] == \
        [(c.src.ref, c.dst.ref, [(k.proto, k.ports, k.fate) for k in c.classes]) for c in m.cells]
    table = render_csv(m)
    again = matrix_from_csv(table)
    assert render_csv(again) == table
    assert len(table.splitlines()) == 1 + sum(len(c.classes) for c in m.cells)


def test_cli_formats_and_bad_input():
    runner = CliRunner()
    dump = str(CAPTURES[0] / "a_default.txt")
    r = runner.invoke(app, ["matrix", dump, "--from", "outside", "--to", "192.0.2.1,127.0.0.1", "--proto", "tcp"])
    assert r.exit_code == 0, r.output
    assert "tcp 8080 DNAT web:80" in r.output and "classes:" in r.output and "witness" in r.output
    r = runner.invoke(app, ["matrix", dump, "--from", "outside", "--to", "192.0.2.1", "--format", "json",
                            "--port", "8080"])
    assert r.exit_code == 0 and json.loads(r.output)["cells"][0]["classes"][0]["fate"] == "dnat"
    r = runner.invoke(app, ["matrix", dump, "--from", "outside", "--to", "192.0.2.1", "-f", "csv", "--ports", "80,8080"])
    assert r.exit_code == 0 and r.output.startswith("from,to,proto,ports,fate")
    r = runner.invoke(app, ["matrix", dump, "--from", "container:nope"])
    assert r.exit_code == 2 and "no container named" in r.output
    r = runner.invoke(app, ["matrix", dump, "--ports", "70000"])
    assert r.exit_code == 2


# --------------------------------------------------------------------------- html in a real browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _png_colours(data: bytes) -> int:
    """How many distinct colours a PNG (8-bit RGB or RGBA, as Chromium writes) holds."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, _depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            for x in range(0, stride, bpp * 4):
                colours.add(bytes(line[x:x + 3]))
        prev = line
    return len(colours)


@pytest.mark.skipif(_chromium() is None, reason="no Chromium (Debian: apt-get install chromium)")
def test_html_page_renders_in_chromium_and_shows_a_cells_details(tmp_path):
    m = compute_matrix(_engine(CAPTURES[0] / "a_default.txt", 4), protos=["tcp", "udp", "icmp"])
    page = render_html(m, title="a_default")
    assert "http://" not in page and "https://" not in page  # self-contained: nothing to fetch
    f = tmp_path / "matrix.html"
    f.write_text(page)
    i = next(i for i, c in enumerate(m.cells) if c.src.ref == "outside" and c.dst.ref == "192.0.2.1")
    chrome = _chromium()
    common = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(common + ["--virtual-time-budget=3000", "--dump-dom", f"file://{f}#cell={i}"],
                         capture_output=True, text=True, timeout=120).stdout
    assert 'id="matrix"' in dom
    detail = dom[dom.index('id="detail"'):]
    detail = detail[:detail.index("</div>")]
    assert "outside -&gt; 192.0.2.1" in detail and "tcp 8080: dnat: DNAT web:80 (seen src kept)" in detail
    assert "witness 1.0.0.1" in detail or "witness " in detail
    assert "nat DOCKER #" in detail  # the path of the class's witness
    shot = tmp_path / "shot.png"
    subprocess.run(common + ["--window-size=1400,900", f"--screenshot={shot}", f"file://{f}#cell={i}"],
                   capture_output=True, timeout=120, cwd=tmp_path)
    assert shot.exists() and _png_colours(shot.read_bytes()) > 8, "the screenshot is blank"


#: what the seed's experiments observed (fixtures/seed/README.md), as matrix cells: (source,
#: destination, fate, a piece of the summary) for tcp 80
SEED_OBSERVED = {
    "iptables-false": [("network:bridge", "outside", "unknown", "un-NATed with the private source 172.17.0.2"),
                       ("network:mynet", "outside", "unknown", "un-NATed with the private source 172.18.0.2")],
    "userland-proxy-on-default-bridge": [("host", "127.0.0.1", "proxied", "docker-proxy -> web (seen src 172.17.0.1)")],
    "userland-proxy-off-route-localnet-1": [("host", "127.0.0.1", "dnat", "DNAT web (seen src 172.18.0.1)")],
    "userland-proxy-off-route-localnet-0": [("host", "127.0.0.1", "isolated", "MARTIAN"),
                                            ("host", "10.10.50.99", "dnat", "DNAT web"),
                                            ("host", "172.18.0.1", "dnat", "DNAT web")],
    "no-proxy-no-iptables-blackhole": [("host", "10.10.50.99", "blackhole", "dockerd holds tcp port 80"),
                                       ("outside", "10.10.50.99", "blackhole", "the handshake completes")],
    "proxy-no-iptables": [("outside", "10.10.50.99", "proxied", "docker-proxy -> web")],
    "host-network": [("host", "127.0.0.1", "direct", "httpd"), ("outside", "10.10.50.99", "direct", "httpd")],
}


@pytest.mark.parametrize("name", sorted(SEED_OBSERVED))
def test_the_matrix_of_each_seed_fixture_shows_what_the_seed_observed(name):
    cells = SEED_OBSERVED[name]
    m = compute_matrix(_engine(SEED / f"{name}.txt", 4), sources=sorted({s for s, _d, _f, _t in cells}),
                       destinations=sorted({d for _s, d, _f, _t in cells}), protos=["tcp"], ports=[(80, 80)])
    for src, dst, fate, text in cells:
        (k,) = m.cell(src, dst).classes
        assert k.fate == fate and text in k.summary, (name, src, dst, k.fate, k.summary)
