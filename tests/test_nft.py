"""Native nftables: `nft list ruleset` / `nft -j list ruleset` read into the IR, iptables-nft's
tables told apart from native ones, DN016, collect and ingest. The listings of fixtures/nft/
were printed by nft 1.0.6 on the real kernel (fixtures/nft/README.md)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dnlint.collect import collect_dump
from dnlint.ir import SectionKind
from dnlint.load import load_dump, load_text
from dnlint.model.nft import (is_iptables_nft_chain, native_base_chains, native_tables, nft_tables)
from dnlint.parse.nft import parse_nft_json, parse_nft_text, priority_text, resolve_priority
from dnlint.source import Text

from netns import lab, requires_netns  # noqa: F401

NFT = Path(__file__).resolve().parents[1] / "fixtures" / "nft"
TEXT = sorted(NFT.glob("*.nft"))
PAIRS = [(p, p.with_suffix(".json")) for p in TEXT if p.with_suffix(".json").exists()]


def _text(path: Path, data: str | None = None) -> Text:
    return Text(str(path), (data if data is not None else path.read_text()).splitlines())


def _shape(rs, handles: bool = False):
    """The IR without spans and rule text (JSON rules are expression arrays, not nft syntax)."""
    out = []
    for t in rs.tables:
        chains = [(c.name, c.type, c.hook, c.priority, c.policy, len(c.rules),
                   tuple(r.handle for r in c.rules) if handles else None,
                   c.handle if handles else None) for c in t.chains]
        objects = [(o.kind, o.name, o.elements if o.kind in ("set", "map") else None,
                    dict(o.properties).get("type") if o.kind in ("set", "map") else None)
                   for o in t.objects]
        out.append((t.family, t.name, t.flags, t.handle if handles else None, chains, sorted(objects)))
    return out


def test_fixtures_are_there():
    assert len(PAIRS) >= 10, PAIRS
    assert (NFT / "README.md").exists()


@pytest.mark.parametrize("path", TEXT, ids=lambda p: p.name)
def test_every_text_listing_parses_cleanly(path):
    rs, diags = parse_nft_text(_text(path))
    assert diags == []
    assert rs.tables
    lines = path.read_text().splitlines()
    for t in rs.tables:
        assert lines[t.span.line - 1].startswith(f"table {t.family} {t.name} {{")
        for c in t.chains:
            assert lines[c.span.line - 1].strip().startswith(f"chain {c.name} {{")
            for r in c.rules:
                # the rule's text is its line, without the `# handle N` comment
                assert lines[r.span.line - 1].strip().startswith(r.text)
                assert r.span.col == len(lines[r.span.line - 1]) - len(lines[r.span.line - 1].lstrip()) + 1


@pytest.mark.parametrize("text_path,json_path", PAIRS, ids=lambda p: p.name)
def test_text_and_json_give_the_same_ir(text_path, json_path):
    rs_t, d_t = parse_nft_text(_text(text_path))
    rs_j, d_j = parse_nft_json(_text(json_path))
    assert d_t == [] and d_j == []
    assert rs_j.version == "1.0.6"
    assert _shape(rs_t) == _shape(rs_j)
    # devices: nft 1.0.6's JSON leaves a netdev chain's device out; where it says one, they agree
    for tt, tj in zip(rs_t.tables, rs_j.tables):
        for ct, cj in zip(tt.chains, tj.chains):
            assert cj.device in (None, ct.device)


def test_handles_of_nft_a_match_the_json():
    rs_t, _ = parse_nft_text(_text(NFT / "kitchen-handles.nft"))
    rs_j, _ = parse_nft_json(_text(NFT / "kitchen.json"))
    assert _shape(rs_t, handles=True) == _shape(rs_j, handles=True)
    assert rs_t.tables[0].handle is not None and rs_t.tables[0].chains[0].rules[0].handle is not None


def test_printed_priorities_are_reproduced():
    """priority_text is how nft 1.0.6 printed each base chain's priority, in every listing."""
    seen = 0
    for path in TEXT:
        rs, _ = parse_nft_text(_text(path))
        lines = path.read_text().splitlines()
        for t in rs.tables:
            for c in t.chains:
                if not c.base:
                    continue
                hook_line = next(ln for ln in lines[c.span.line:] if " hook " in ln)
                printed = re.search(r"priority (.*?);", hook_line).group(1)
                assert priority_text(t.family, c.hook, c.priority) == printed, (path.name, c.name)
                seen += 1
    assert seen > 60


def test_priorities_resolve_per_family_and_hook():
    rs, _ = parse_nft_text(_text(NFT / "kitchen.nft"))
    by = {(t.family, c.name): c for t in rs.tables for c in t.chains}
    assert by[("inet", "pre")].priority == -310  # raw - 10
    assert by[("inet", "forward")].priority == 5  # filter + 5
    assert by[("bridge", "pre")].priority == -300  # bridge dstnat
    assert by[("bridge", "forward")].priority == -200  # bridge filter
    assert by[("bridge", "out")].priority == 100
    assert by[("bridge", "post")].priority == 300
    assert by[("ip6", "sec")].priority == 50
    assert by[("netdev", "ingress0")].device == "veth0" and by[("netdev", "ingress0")].priority == -500
    fw, _ = parse_nft_text(_text(NFT / "firewalld.nft"))
    prios = {c.name: c.priority for c in fw.tables[0].chains if c.base}
    assert prios == {"mangle_PREROUTING": -140, "nat_PREROUTING": -90, "nat_POSTROUTING": 110,
                     "nat_OUTPUT": -90, "filter_PREROUTING": 10, "filter_INPUT": 10,
                     "filter_FORWARD": 10, "filter_OUTPUT": 10}
    # nft refuses dstnat on the output hook; dnlint says so and still gives the number
    assert resolve_priority("ip", "output", "dstnat")[0] == -100
    assert "prerouting" in resolve_priority("ip", "output", "dstnat")[1]
    assert resolve_priority("netdev", "ingress", "mangle")[0] is None


def test_sets_maps_and_objects():
    rs, _ = parse_nft_text(_text(NFT / "kitchen.nft"))
    objs = {(o.kind, o.name): o for o in rs.table("inet", "filter").objects}
    assert objs[("set", "blocklist")].elements == ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.7")
    assert dict(objs[("set", "blocklist")].properties) == {"type": "ipv4_addr", "flags": "interval",
                                                           "comment": "bad nets"}
    assert objs[("map", "port_to_chain")].elements == ("8080 : jump web", "8443 : jump web")
    assert {("counter", "ssh_hits"), ("quota", "monthly"), ("ct helper", "ftp-standard"),
            ("limit", "lim_ping")} <= set(objs)
    rules = [r.text for r in rs.table("inet", "filter").chain("input").rules]
    assert 'ip saddr @blocklist counter packets 0 bytes 0 drop comment "blocked; by ops {x}"' in rules
    assert rs.table("inet", "filter").comment == "host firewall"
    shape, _ = parse_nft_text(_text(NFT / "docker-bridges-shape.nft"))
    jumps = shape.tables[0].objects[0]
    assert jumps.elements == ("docker0 : jump filter-forward-in__docker0",
                              "bridge1 : jump filter-forward-in__bridge1")


def test_flowtable_and_table_flags():
    # written by hand in nft's layout: this kernel has no flowtables (CONFIG_NF_FLOW_TABLE off)
    text = ("table inet f {\n\tflags dormant\n\tflowtable ft {\n\t\thook ingress priority filter\n"
            "\t\tdevices = { eth0, eth1 }\n\t}\n\n\tchain fwd {\n\t\ttype filter hook forward priority filter;"
            " policy accept;\n\t\tip protocol tcp flow add @ft\n\t}\n}\n")
    rs, diags = parse_nft_text(Text("f.nft", text.splitlines()))
    assert diags == []
    (t,) = rs.tables
    assert t.flags == ("dormant",)
    (ft,) = t.objects
    assert (ft.kind, ft.name, ft.elements) == ("flowtable", "ft", ("eth0", "eth1"))
    assert dict(ft.properties)["hook"] == "ingress priority filter"
    assert t.chain("fwd").rules[0].text == "ip protocol tcp flow add @ft"


def test_bad_lines_are_located_and_do_not_hide_the_rest():
    text = ("table inet filter {\n"
            "\tchain input {\n"
            "\t\ttype filter hook input priority bogus; policy drop;\n"
            "\t\ttcp dport 22 accept\n"
            "\t}\n"
            "\twhat is this\n"
            "\tchain output {\n"
            "\t\ttype filter hook output priority filter; policy accept;\n"
            "\t}\n"
            "}\n"
            "table foo bar {\n"
            "\tchain x {\n"
            "\t}\n"
            "}\n"
            "table ip nat {\n"
            "\tchain post {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            "\t\tmasquerade\n")
    rs, diags = parse_nft_text(Text("bad.nft", text.splitlines()))
    where = [(d.code, d.span.line, d.span.col) for d in diags]
    assert where == [("DN001", 3, 3), ("DN001", 6, 2), ("DN001", 11, 1), ("DN001", 18, 1)]
    assert "type TYPE hook HOOK" in diags[0].message
    assert "ends inside chain post of table ip nat" in diags[3].message
    names = [(t.family, t.name, [c.name for c in t.chains]) for t in rs.tables]
    assert names == [("inet", "filter", ["input", "output"]), ("ip", "nat", ["post"])]
    assert rs.table("inet", "filter").chain("input").rules[0].text == "tcp dport 22 accept"
    assert rs.table("ip", "nat").chain("post").rules[0].text == "masquerade"


def test_broken_json_is_located():
    good = (NFT / "debian-default.json").read_text()
    cut = good[: good.index('{"chain"', good.index('"forward"') - 60)]
    rs, diags = parse_nft_json(Text("cut.json", [cut]))
    assert [d.code for d in diags] == ["DN001"] and diags[0].span.line == 1
    assert [c.name for c in rs.tables[0].chains] == ["input"]
    rs, diags = parse_nft_json(Text("x.json", ['{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"chain": ']))
    assert diags and "not valid JSON" in diags[0].message and diags[0].span.col > 1


def test_nftables_conf_shape_is_read():
    conf = (NFT / "src" / "debian-nftables.conf").read_text()
    rs, diags = parse_nft_text(Text("nftables.conf", conf.splitlines()))
    assert diags == []
    chains = rs.tables[0].chains
    # no `policy` written: nft's default, accept
    assert [(c.name, c.priority, c.policy) for c in chains] == [
        ("input", 0, "accept"), ("forward", 0, "accept"), ("output", 0, "accept")]


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize("name", ["iptables-nft-docker", "iptables-nft-mangle", "ebtables-arptables-nft",
                                  "docker-iptables"])
def test_iptables_nft_tables_are_not_native(name):
    for suffix in (".nft", ".json"):
        dump = load_dump(NFT / f"{name}{suffix}")
        assert nft_tables(dump)
        assert native_base_chains(dump, 4) == [] and native_base_chains(dump, 6) == []
        assert not [d for d in dump.diagnostics if d.code == "DN016"]


def test_nft_warning_lines_mark_iptables_nft_tables():
    text = (NFT / "iptables-nft-docker.nft").read_text() + (NFT / "iptables-nft-docker.stderr").read_text()
    dump = load_text(text, "x.nft")
    managed = {(t.family, t.name): t.managed_by for t in nft_tables(dump)}
    assert managed[("ip", "filter")] == "iptables-nft" and managed[("ip6", "nat")] == "iptables-nft"
    assert managed[("ip", "raw")] is None  # nft 1.0.6 did not warn about these two
    assert managed[("ip6", "filter")] is None


def test_native_base_chains_of_real_listings():
    fw = load_dump(NFT / "firewalld.nft")
    chains = native_base_chains(fw, 4)
    assert [(c.table, c.chain, c.hook, c.priority, c.type) for c in chains][:2] == [
        ("firewalld", "mangle_PREROUTING", "prerouting", -140, "filter"),
        ("firewalld", "nat_PREROUTING", "prerouting", -90, "nat")]
    assert len(chains) == 8 and native_base_chains(fw, 6) == chains
    assert all(c.family == "inet" and c.layer == "ip" and c.ip_families == {4, 6} for c in chains)
    assert chains[5].describe == ("table inet firewalld chain filter_INPUT (hook input, priority "
                                  "filter + 10, policy accept)")
    assert chains[5].span.line == 67 and chains[5].table_span.line == 1 and chains[5].rules == 6

    kitchen = load_dump(NFT / "kitchen.nft")
    v4 = {(c.family, c.chain) for c in native_base_chains(kitchen, 4)}
    v6 = {(c.family, c.chain) for c in native_base_chains(kitchen, 6)}
    assert ("ip", "prerouting") in v4 and ("ip", "prerouting") not in v6
    assert ("ip6", "out") in v6 and ("ip6", "out") not in v4
    assert ("arp", "input") in v4 and ("arp", "input") not in v6
    assert {("inet", "input"), ("bridge", "forward"), ("netdev", "ingress0")} <= v4 & v6
    layers = {c.family: c.layer for c in native_base_chains(kitchen, 4)}
    assert layers == {"inet": "ip", "ip": "ip", "arp": "arp", "bridge": "bridge", "netdev": "netdev"}
    ingress = next(c for c in native_base_chains(kitchen, 4) if c.family == "netdev")
    assert ingress.device == "veth0" and ingress.hook == "ingress"
    # the JSON gives the same chains (nft 1.0.6 leaves the netdev device out of it)
    kj = load_dump(NFT / "kitchen.json")
    assert [(c.family, c.table, c.chain, c.hook, c.priority, c.policy) for c in native_base_chains(kj, 4)] == \
        [(c.family, c.table, c.chain, c.hook, c.priority, c.policy) for c in native_base_chains(kitchen, 4)]


def test_a_dump_with_text_and_json_counts_each_chain_once():
    dump = load_dump(NFT.parent / "checks" / "DN016" / "bad.txt")
    assert {rs.format for rs in dump.nft} == {"text", "json"}
    assert [(c.chain, c.span.line) for c in native_base_chains(dump, 4)] == [
        ("input", 15), ("forward", 19), ("output", 23)]


@pytest.mark.netns
@requires_netns
def test_native_chain_added_to_an_iptables_nft_table(lab):
    """iptables-nft's table ip filter, plus a chain nft added to it and a look-alike table."""
    ns = lab.netns("nft")
    ns.iptables_restore("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                        "-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
    ns.run("nft", "-f", "-", input=(
        "table ip filter {\n\tchain mine {\n\t\ttype filter hook input priority 5; policy drop;\n\t}\n}\n"
        "table ip6 filter {\n\tchain INPUT {\n\t\ttype filter hook input priority 10; policy drop;\n\t}\n}\n"))
    listing = ns.run("nft", "list", "ruleset")
    dump = load_text(listing.stdout + listing.stderr, "live.nft")
    assert [(c.family, c.table, c.chain, c.priority) for c in native_base_chains(dump, 4)] == [
        ("ip", "filter", "mine", 5)]
    assert [(c.family, c.table, c.chain, c.priority) for c in native_base_chains(dump, 6)] == [
        ("ip6", "filter", "INPUT", 10)]
    filt = next(t for t in nft_tables(dump) if (t.family, t.name) == ("ip", "filter"))
    assert is_iptables_nft_chain(filt, filt.chain("INPUT")) and not is_iptables_nft_chain(filt, filt.chain("mine"))
    assert {(t.family, t.name) for t in native_tables(dump)} == {("ip", "filter"), ("ip6", "filter")}
    dn016 = [d.message for d in dump.diagnostics if d.code == "DN016"]
    assert any(m.startswith("table ip filter (line 1) registers a base chain the iptables model does not see: "
                            "mine (hook input, priority filter + 5, policy drop)") for m in dn016), dn016


# --------------------------------------------------------------------------- DN016


def test_dn016_messages():
    dump = load_dump(NFT.parent / "checks" / "DN016" / "bad.txt")
    msgs = {d.span.line: d.message for d in dump.diagnostics if d.code == "DN016"}
    assert msgs[14] == ("table inet filter (line 14) registers base chains the iptables model does not see: "
                        "input (hook input, priority filter, policy accept), forward (hook forward, priority "
                        "filter, policy accept), output (hook output, priority filter, policy accept); answers "
                        "on paths through these hooks are unknown")
    assert msgs[10] == ("`iptables-save -c` and `ip6tables-save -c` are empty but nft list ruleset holds 1 table: "
                        "the firewall is native nftables (was Docker's iptables-nft ruleset flushed by an "
                        "nftables.conf reload?)")
    kitchen = load_dump(NFT / "kitchen.nft")
    by_table = {d.message.split(" (")[0]: d.message for d in kitchen.diagnostics if d.code == "DN016"}
    assert "(bridge family: frames crossing a Linux bridge)" in by_table["table bridge brfw"]
    assert "input (hook input, priority filter, policy drop)" in by_table["table inet filter"]
    assert "ingress0 (hook ingress, device veth0, priority -500, policy accept)" in by_table["table netdev ingressfw"]
    # a bare listing has no iptables-save section: only the tables are reported
    assert len(by_table) == 6


def test_dn016_without_docker_does_not_blame_docker():
    text = ("### iptables-save -c\n### nft list ruleset\n" + (NFT / "debian-default.nft").read_text())
    dump = load_text(text, "d.txt")
    msg = next(d.message for d in dump.diagnostics if d.code == "DN016" and d.span.line == 1)
    assert msg == "`iptables-save -c` is empty but nft list ruleset holds 1 table: the firewall is native nftables"


def test_dn016_empty_save_needs_native_tables():
    text = "### iptables-save\n### nft list ruleset\n" + (NFT / "iptables-nft-docker.nft").read_text()
    assert not [d for d in load_text(text, "x.txt").diagnostics if d.code == "DN016"]


# --------------------------------------------------------------------------- ingest


def test_bare_listings_are_detected_by_content():
    for path in [NFT / "firewalld.nft", NFT / "firewalld.json"]:
        dump = load_dump(path)
        assert [s.kind for s in dump.sections] == [SectionKind.NFT if path.suffix == ".nft" else SectionKind.NFT_JSON]
        assert dump.nft[0].tables[0].name == "firewalld"
    pretty = json.dumps(json.loads((NFT / "debian-default.json").read_text()), indent=2)
    text = "my ruleset:\n" + pretty + "\n"
    dump = load_text(text, "p.txt")
    assert [s.kind for s in dump.sections] == [SectionKind.NFT_JSON]
    assert [c.name for c in dump.nft[0].tables[0].chains] == ["input", "forward", "output"]
    # each object's span is the line of its opening brace, the line before `"chain": {`
    starts = [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == '"chain": {']
    assert [(c.span.line, c.span.col) for c in dump.nft[0].tables[0].chains] == [(n - 1, 5) for n in starts]
    # prose, then a listing, prose, and a second listing with nft's warnings after it
    text = ("my firewall:\n\n" + (NFT / "kitchen.nft").read_text() + "\nand docker's:\n"
            + (NFT / "iptables-nft-docker.nft").read_text() + (NFT / "iptables-nft-docker.stderr").read_text())
    dump = load_text(text, "u.txt")
    assert [(s.kind, s.span.line) for s in dump.sections] == [(SectionKind.NFT, 3), (SectionKind.NFT, 126)]
    assert [len(rs.tables) for rs in dump.nft] == [6, 5]
    assert not [d for d in dump.diagnostics if d.code == "DN001"]
    # the prose between the two listings is one note
    assert [d.span.line for d in dump.diagnostics if d.code == "DN008"] == [125]
    # a broken line inside a listing pasted among notes is still an error, not a note
    broken = text.replace("\t\ttype filter hook input priority filter; policy drop;",
                          "\t\ttype filter hook input priority nonsense; policy drop;")
    bad = [d for d in load_text(broken, "u.txt").diagnostics if d.code == "DN001"]
    assert [d.span.line for d in bad] == [2 + 40]  # line 40 of kitchen.nft


def test_transcript_prompts():
    text = ("[root@h ~]# iptables-save\n"
            "[root@h ~]# nft list ruleset\n" + (NFT / "debian-default.nft").read_text()
            + "[root@h ~]# nft -j list ruleset | jq\n"
            + json.dumps(json.loads((NFT / "firewalld.json").read_text()), indent=2) + "\n"
            + "# nft list table inet filter\n" + (NFT / "debian-default.nft").read_text()
            + "why can't I reach port 80?\n"
            + "$ sudo nft list ruleset | grep dport\n\t\ttcp dport 22 accept\n")
    dump = load_text(text, "t.txt")
    kinds = [(s.kind, s.command) for s in dump.sections]
    assert kinds == [(SectionKind.SAVE, "iptables-save"), (SectionKind.NFT, "nft list ruleset"),
                     (SectionKind.NFT_JSON, "nft -j list ruleset | jq"),
                     (SectionKind.NFT, "nft list table inet filter"),
                     (SectionKind.NFT, "sudo nft list ruleset | grep dport")]
    assert [(rs.format, rs.complete, len(rs.tables)) for rs in dump.nft[:3]] == [
        ("text", True, 1), ("json", True, 1), ("text", False, 1)]
    codes = sorted(d.code for d in dump.diagnostics)
    # the prose after a listing is a note, not a broken line; the grep'd listing is partial
    assert "DN001" not in codes and "DN008" in codes and "DN012" in codes


# --------------------------------------------------------------------------- collect


class _Runner:
    def __init__(self, table):
        self.table = table

    def __call__(self, argv, timeout):
        line = " ".join(argv)
        if line in self.table:
            return self.table[line]
        if line.startswith("sysctl"):
            return SimpleNamespace(returncode=0, stdout="net.ipv4.ip_forward\n" if "-N" in argv
                                   else "net.ipv4.ip_forward = 1\n", stderr="")
        raise FileNotFoundError(argv[0])


def _sections(text: str) -> dict[str, str]:
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("### "):
            cur = line[4:]
            out[cur] = ""
        elif cur is not None:
            out[cur] += line + "\n"
    return out


def test_collect_records_both_nft_forms_with_nfts_warnings():
    listing = (NFT / "iptables-nft-docker.nft").read_text()
    warnings = (NFT / "iptables-nft-docker.stderr").read_text()
    js = (NFT / "iptables-nft-docker.json").read_text()
    res = collect_dump(runner=_Runner({
        "nft list ruleset": SimpleNamespace(returncode=0, stdout=listing, stderr=warnings),
        "nft -j list ruleset": SimpleNamespace(returncode=0, stdout=js, stderr=""),
    }))
    secs = _sections(res.text)
    heads = list(secs)
    assert heads.index("nft list ruleset") == heads.index("ip6tables-save -c") + 1
    assert heads.index("nft -j list ruleset") == heads.index("nft list ruleset") + 1
    assert secs["nft list ruleset"] == listing + warnings
    assert secs["nft -j list ruleset"] == js
    dump = load_text(res.text, "c.txt")
    assert {rs.format for rs in dump.nft} == {"text", "json"}
    assert next(rs for rs in dump.nft if rs.format == "text").table("ip", "filter").managed_by == "iptables-nft"


def test_collect_marks_a_missing_or_failing_nft():
    res = collect_dump(runner=_Runner({}))
    secs = _sections(res.text)
    assert secs["nft list ruleset"] == "##! not installed\n" and secs["nft -j list ruleset"] == "##! not installed\n"
    assert "nft list ruleset" in res.missing
    denied = SimpleNamespace(returncode=1, stdout="",
                             stderr="Error: Could not process rule: Operation not permitted\n")
    res = collect_dump(runner=_Runner({"nft list ruleset": denied, "nft -j list ruleset": denied}))
    assert _sections(res.text)["nft list ruleset"] == "##! exit status 1: Error: Could not process rule: Operation not permitted\n"
    dump = load_text(res.text, "c.txt")
    assert any(d.code == "DN011" and "nft list ruleset" in d.message for d in dump.diagnostics)


@pytest.mark.netns
@requires_netns
@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed (apt-get install nftables)")
def test_collect_in_a_namespace_reads_its_nft_ruleset(lab, tmp_path):
    ns = lab.netns("nftc")
    ns.iptables_restore((NFT / "src" / "iptables-nft-docker.save").read_text())
    ns.run("nft", "-f", str(NFT / "src" / "debian-nftables.conf"))  # flush ruleset: Docker's tables go
    out = tmp_path / "dump.txt"
    ns.run(sys.executable, "-m", "dnlint.collect", "-o", str(out))
    dump = load_dump(out)
    assert {rs.format for rs in dump.nft} == {"text", "json"}
    assert [(c.table, c.chain) for c in native_base_chains(dump, 4)] == [
        ("filter", "input"), ("filter", "forward"), ("filter", "output")]
    assert not dump.tables(4)  # iptables-save printed nothing
    assert any(d.code == "DN016" and "are empty but nft list ruleset holds 1 table" in d.message
               for d in dump.diagnostics)


# --------------------------------------------------------------------------- robustness

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SAMPLES = [p.read_text() for p in sorted(NFT.glob("*.nft")) + sorted(NFT.glob("*.json"))]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SAMPLES), st.data())
def test_mutated_listings_never_crash_the_parser(sample, data):
    """Cut, duplicate and corrupt real listings: diagnostics, never an internal error."""
    s = sample
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, max(len(s) - 1, 0)))
        op = data.draw(st.sampled_from(["cut", "insert", "dup", "truncate"]))
        if op == "cut":
            s = s[:i] + s[i + data.draw(st.integers(0, 80)):]
        elif op == "insert":
            s = s[:i] + data.draw(st.sampled_from(["{", "}", '"', "\\", "#", ";", "\n", "table ip x {\n",
                                                    "chain c {\n", "priority", " + ", "[", "]", ","])) + s[i:]
        elif op == "dup":
            j = data.draw(st.integers(i, min(len(s), i + 200)))
            s = s[:j] + s[i:j] + s[j:]
        else:
            s = s[:i]
    for kind in ("### nft list ruleset\n", "### nft -j list ruleset\n", ""):
        dump = load_text(kind + s, "m.txt")
        assert not [d for d in dump.diagnostics if "internal error" in d.message], dump.diagnostics
        for d in dump.diagnostics:
            assert d.span is None or (d.span.line >= 1 and d.span.col >= 1)
