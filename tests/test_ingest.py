"""Splitting dumps into sections: ### headers, transcripts with prompts, bare files."""

from pathlib import Path

import pytest

from dnlint.ingest.commands import classify, classify_all
from dnlint.ingest.sections import read_lines, split_dump
from dnlint.ir import SectionKind

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seeds" / "000_29b6bfea377fc894.txt"


def split(text: str, file: str = "dump.txt"):
    return split_dump(file, read_lines(text))


@pytest.mark.parametrize(
    "command, kind, table, family, flags",
    [
        ("iptables-save", SectionKind.SAVE, None, 4, set()),
        ("sudo iptables-save -c", SectionKind.SAVE, None, 4, set()),
        ("ip6tables-save", SectionKind.SAVE, None, 6, set()),
        ("iptables -L -n -v", SectionKind.LISTING, "filter", 4, {"n", "v"}),
        ("iptables -L -n -v -t nat", SectionKind.LISTING, "nat", 4, {"n", "v"}),
        ("iptables -nvL -t nat", SectionKind.LISTING, "nat", 4, {"n", "v"}),
        ("iptables -t nat -nvxL --line-numbers", SectionKind.LISTING, "nat", 4, {"n", "v", "x", "line-numbers"}),
        ("iptables -vL -n -t filter", SectionKind.LISTING, "filter", 4, {"n", "v"}),
        ("ip6tables -L", SectionKind.LISTING, "filter", 6, set()),
        ("iptables -S", SectionKind.SPEC, "filter", 4, set()),
        ("iptables -t nat -S", SectionKind.SPEC, "nat", 4, set()),
        ("iptables --list-rules -t mangle", SectionKind.SPEC, "mangle", 4, set()),
        ("ip -o addr", SectionKind.ADDR, None, None, set()),
        ("ip a", SectionKind.ADDR, None, None, set()),
        ("ip -4 addr show", SectionKind.ADDR, None, 4, set()),
        ("ip route show table all", SectionKind.ROUTE, None, None, set()),
        ("ip -6 r", SectionKind.ROUTE, None, 6, set()),
        ("sysctl net.ipv4.ip_forward", SectionKind.SYSCTL, None, None, set()),
        ("ss -tlnp", SectionKind.LISTENERS, None, None, set()),
        ("netstat -tulpn", SectionKind.LISTENERS, None, None, set()),
        ("ps aux | grep docker", SectionKind.PS, None, None, set()),
        ("docker network inspect bridge mynet", SectionKind.DOCKER_NETWORK, None, None, set()),
        ("docker inspect web", SectionKind.DOCKER_CONTAINER, None, None, set()),
        ("telnet 10.0.0.1 80", SectionKind.UNKNOWN, None, None, set()),
    ],
)
def test_classify(command, kind, table, family, flags):
    info = classify(command)
    assert info.kind is kind
    assert info.table == table
    assert info.family == family
    assert set(info.flags) == flags


def test_classify_pipeline_marks_partial_output():
    assert classify("iptables-save | grep DOCKER").partial
    assert not classify("iptables-save").partial


def test_classify_all_splits_and_chains():
    infos = classify_all("iptables -t raw -L -n -v && iptables -L -n -v")
    assert [i.table for i in infos] == ["raw", "filter"]


def test_hash_headers_make_sections():
    text = (
        "# dnlint host dump\n"
        "### iptables-save\n"
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"
        "### ip -o addr\n"
        "1: lo    inet 127.0.0.1/8 scope host lo\n"
        "### frobnicate --all\n"
        "whatever\n"
    )
    blocks, sections, unread = split(text)
    assert [s.kind for s in sections] == [SectionKind.SAVE, SectionKind.ADDR, SectionKind.UNKNOWN]
    assert [s.span.line for s in sections] == [2, 7, 9]
    assert [b.kind for b in blocks] == [SectionKind.SAVE, SectionKind.ADDR]
    assert blocks[0].text.first_line == 3
    assert blocks[1].text.lines == ["1: lo    inet 127.0.0.1/8 scope host lo"]
    assert unread == ["frobnicate --all"]


def test_ufw_comment_headers_are_not_sections():
    text = "*filter\n:ufw-user-input - [0:0]\n### RULES ###\n\n### tuple ### allow tcp 80\n-A ufw-user-input -p tcp --dport 80 -j ACCEPT\nCOMMIT\n"
    blocks, sections, _ = split(text)
    assert len(blocks) == 1 and blocks[0].kind is SectionKind.SAVE
    assert len(blocks[0].text.lines) == 7


def test_transcript_prompts_and_indentation():
    text = (
        "notes before\n"
        "\t\t[root@host ~]# iptables -L -n -v -t nat\n"
        "\t\tChain PREROUTING (policy ACCEPT 0 packets, 0 bytes)\n"
        "\t\t pkts bytes target     prot opt in     out     source               destination\n"
        "\t\t\t3   188 DOCKER     all  --  *      *       0.0.0.0/0            0.0.0.0/0            ADDRTYPE match dst-type LOCAL\n"
        "\tprose that ends the output, indented less\n"
        "user@h:~$ ip route\n"
        "default via 10.0.0.1 dev eth0\n"
    )
    blocks, sections, _ = split(text)
    assert [(b.kind, b.info.table if b.info else None) for b in blocks] == [
        (SectionKind.LISTING, "nat"), (SectionKind.ROUTE, None)]
    listing = blocks[0].text
    assert listing.first_line == 3 and listing.indent == 2
    assert listing.lines[0].startswith("Chain PREROUTING")
    assert len(listing.lines) == 3
    assert listing.span(2, 1).line == 5


def test_bare_hash_prompt_needs_a_known_command():
    text = "# Generated by iptables-save v1.8.7 on Mon\n*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n# Completed on Mon\n"
    blocks, sections, _ = split(text)
    assert len(blocks) == 1 and blocks[0].kind is SectionKind.SAVE
    assert blocks[0].text.first_line == 1


def test_commented_iptables_command_inside_a_table_is_not_a_prompt():
    text = "*filter\n:INPUT ACCEPT [0:0]\n# iptables -L -n\n-A INPUT -j DROP\nCOMMIT\n"
    blocks, _, _ = split(text)
    assert len(blocks) == 1 and len(blocks[0].text.lines) == 5


def test_save_embedded_in_prose_is_found():
    text = ("Here is my firewall, please help:\n\n"
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n\nThanks!\n")
    blocks, _, _ = split(text)
    assert len(blocks) == 1
    assert blocks[0].text.first_line == 3 and len(blocks[0].text.lines) == 4


def test_concatenated_listings_of_two_tables_are_split():
    text = (
        "Chain INPUT (policy ACCEPT)\ntarget     prot opt source               destination\n\n"
        "Chain PREROUTING (policy ACCEPT)\ntarget     prot opt source               destination\n"
        "DNAT       tcp  --  0.0.0.0/0            0.0.0.0/0            tcp dpt:80 to:10.0.0.2:80\n\n"
        "Chain INPUT (policy ACCEPT)\ntarget     prot opt source               destination\n"
        "Chain OUTPUT (policy ACCEPT)\ntarget     prot opt source               destination\n"
        "Chain PREROUTING (policy ACCEPT)\ntarget     prot opt source               destination\n"
    )
    blocks, _, _ = split(text)
    assert [(b.text.first_line, len(b.text.lines)) for b in blocks] == [(1, 2), (4, 8), (12, 2)]
    assert all(b.info is None for b in blocks)  # tables to be inferred


def test_listing_run_keeps_one_odd_line_for_the_parser():
    text = (
        "Chain INPUT (policy ACCEPT)\n"
        "target     prot opt source               destination\n"
        "ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0\n"
        "@@ garbage @@\n"
        "DROP       all  --  10.0.0.0/8           0.0.0.0/0\n"
    )
    blocks, _, _ = split(text)
    assert len(blocks) == 1 and len(blocks[0].text.lines) == 5


def test_failed_command_is_noted():
    text = "### ipset save\n##! not installed\n### ip -o addr\n1: lo    inet 127.0.0.1/8 scope host lo\n"
    blocks, sections, _ = split(text)
    assert sections[0].note == "command failed: not installed"
    assert [b.kind for b in blocks] == [SectionKind.ADDR]


def test_crlf_lines():
    assert read_lines("a\r\nb\r\n") == ["a", "b"]
    assert read_lines("a\nb") == ["a", "b"]


@pytest.mark.skipif(not SEED.exists(), reason="../shared/seeds is absent")
def test_seed_transcript_sections():
    blocks, sections, _ = split_dump(str(SEED), read_lines(SEED.read_text(encoding="utf-8")))
    listings = [(b.text.first_line, b.info.table) for b in blocks if b.kind is SectionKind.LISTING]
    # iptables -L -n -v / -t nat of experiment 2, then -nvL / -nvL -t nat of experiment 5 (twice nat)
    assert listings == [(37, "filter"), (65, "nat"), (195, "filter"), (223, "nat"), (280, "nat")]
    kinds = {b.kind for b in blocks}
    assert {SectionKind.SYSCTL, SectionKind.LISTENERS, SectionKind.PS} <= kinds


def test_failure_note_after_partial_output():
    text = ("### ss -tulnp\nState Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
            'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))\n##! exit status 1: oops\n')
    blocks, sections, _ = split(text)
    assert [b.kind for b in blocks] == [SectionKind.LISTENERS]
    assert len(blocks[0].text.lines) == 2
    assert any(s.note == "command failed: exit status 1: oops" for s in sections)
