"""Read a dump file into a :class:`~dnlint.ir.HostDump`: split it, parse each block, gather facts.

This is the entry point of the Python API for input::

    from dnlint.load import load_dump
    dump = load_dump("host-dump.txt")
    for rs in dump.rulesets: ...
    dump.facts.addresses, dump.diagnostics

No input makes it raise: whatever cannot be read becomes a diagnostic.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from .diagnostics import diag
from .ingest.sections import Block, read_lines, split_dump
from .ir import Diagnostic, Facts, HostDump, NftRuleset, Ruleset, SectionKind, Span


class DumpReadError(Exception):
    """The file itself could not be read (missing, a directory, no permission).

    ``str(e)`` is ``"PATH: cannot read: REASON"``; ``e.path`` and ``e.reason`` (``"cannot read:
    No such file or directory"``) are its parts."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def load_dump(path: str | os.PathLike[str], *, display_name: str | None = None) -> HostDump:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DumpReadError(str(path), f"cannot read: {e.strerror or e}") from e
    return load_bytes(raw, display_name or str(path))


def load_bytes(raw: bytes, file: str) -> HostDump:
    extra: list[Diagnostic] = []
    try:
        data = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        data = raw.decode("utf-8", errors="replace")
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        extra.append(diag("DN001", "the file is not valid UTF-8 text; undecodable bytes were replaced "
                                   "(is this a binary file?)", Span(file, line, col)))
    if "\x00" in data:
        data = data.replace("\x00", "\ufffd")
    return load_text(data, file, extra)


def load_text(data: str, file: str = "<string>", extra: list[Diagnostic] | None = None) -> HostDump:
    diagnostics: list[Diagnostic] = list(extra or [])
    lines = read_lines(data)
    try:
        blocks, sections, unread = split_dump(file, lines)
    except Exception as e:  # the splitter is simple; this is a last line of defence
        diagnostics.append(diag("DN001", f"internal error while splitting the dump: {e!r}", Span(file, 1, 1)))
        return HostDump(file, (), (), Facts(), tuple(diagnostics))

    rulesets: list[Ruleset] = []
    nft: list[NftRuleset] = []
    facts: dict[str, list] = {name: [] for name in Facts.__dataclass_fields__}
    notes: dict[int, list[tuple[int, Span]]] = {}  # region -> (lines, where) of text beside the outputs
    for block in blocks:
        try:
            if block.region is not None:
                found = []
                _parse_block(block, rulesets, facts, found, nft)
                diagnostics.extend(_notes_beside_output(block, found, notes.setdefault(block.region, [])))
                continue
            if block.transcript:
                found: list[Diagnostic] = []
                _parse_block(block, rulesets, facts, found, nft)
                diagnostics.extend(_drop_trailing_prose(block, found))
                continue
            if block.info is not None and block.info.partial:
                # `iptables-save | head`: DN012 says why the tables end early
                found = []
                _parse_block(block, rulesets, facts, found, nft)
                diagnostics.extend(d for d in found if d.code != "DN015")
                continue
            _parse_block(block, rulesets, facts, diagnostics, nft)
        except Exception as e:  # a parser bug must not hide the rest of the dump
            diagnostics.append(diag(
                "DN001", f"internal error while reading this {block.kind.value} section ({e!r}); "
                         "it was skipped — please report it", block.text.span(0)))

    for found_notes in notes.values():
        if found_notes:
            count = sum(n for n, _ in found_notes)
            first = min((sp for _, sp in found_notes), key=lambda sp: (sp.line, sp.col))
            diagnostics.append(diag("DN008", f"{count} line(s) of text beside the iptables output were not read "
                                             f"as rules (notes?), from line {first.line}", first))
    for section in sections:
        if section.note and section.note.startswith("command failed"):
            diagnostics.append(diag("DN011", f"`{section.command}`: {section.note}", section.span))
    for section in sections:
        if section.kind is SectionKind.UNKNOWN and section.command and section.command in unread:
            diagnostics.append(diag("DN008", f"dnlint does not read the output of `{section.command}`",
                                    section.span))
    for block in blocks:
        if block.info is not None and block.info.partial and block.kind in (
                SectionKind.SAVE, SectionKind.SPEC, SectionKind.LISTING, SectionKind.NFT, SectionKind.NFT_JSON):
            diagnostics.append(diag("DN012", f"`{block.info.command}` filters its output; "
                                             "rules or facts outside the filter are missing",
                                    block.text.span(0)))

    legacy_warnings = [b.text.span(i) for b in blocks if b.kind is SectionKind.SAVE
                       for i, line in enumerate(b.text.lines[:5]) if "legacy tables present" in line]
    diagnostics.extend(_backend_diagnostics(rulesets, legacy_warnings))
    if not blocks and not any(s.note for s in sections):
        diagnostics.append(diag("DN010", "no iptables rules or host facts were found in this file "
                                         "(expected iptables-save output, an iptables -L listing, or "
                                         "a host dump with ### <command> sections)", Span(file, 1, 1)))
    fact_tuples = {k: tuple(v) for k, v in facts.items() if k != "docker_version"}
    dump = HostDump(
        file=file,
        sections=tuple(sections),
        rulesets=tuple(rulesets),
        facts=Facts(**fact_tuples, docker_version=_docker_version(lines, sections)),
        diagnostics=tuple(diagnostics),
        nft=tuple(nft),
    )
    if dump.nft:
        from dataclasses import replace

        from .model.nft import native_nftables_diagnostics

        found = native_nftables_diagnostics(dump)
        if found:
            dump = replace(dump, diagnostics=dump.diagnostics + tuple(found))
    if len(lines) > 20000:
        # The IR is immutable and free of cycles: keep the garbage collector from scanning the
        # hundreds of thousands of objects of a large dump again and again afterwards.
        import gc

        gc.freeze()
    return dump


def _notes_beside_output(block: Block, found: list[Diagnostic], notes: list[tuple[int, Span]]) -> list[Diagnostic]:
    """Firewall output pasted into notes: a line the parser rejects outside a ``*table`` ...
    ``COMMIT`` stretch is the author's text (a diff, a comment), not broken output. Such lines,
    and the text between the outputs, become one DN008 note for the stretch of notes."""
    if block.kind is SectionKind.UNKNOWN:
        if block.prose:
            notes.append((block.prose, block.text.span(0)))
        return []
    if block.kind in (SectionKind.NFT, SectionKind.NFT_JSON):
        return found  # its run is its tables, brace to brace: a line it rejects is inside one
    inside = _table_lines(block) if block.kind is SectionKind.SAVE else set()
    kept = []
    for d in found:
        if d.code == "DN001" and d.span is not None and d.span.line not in inside:
            notes.append((1, d.span))
        else:
            kept.append(d)
    return kept


def _table_lines(block: Block) -> set[int]:
    """File line numbers of the lines between a ``*table`` line and its COMMIT."""
    inside: set[int] = set()
    open_table = False
    for i, line in enumerate(block.text.lines):
        s = line.strip()
        if s.startswith("*"):
            open_table = True
        elif s.startswith("COMMIT"):
            open_table = False
        elif open_table:
            inside.add(block.text.first_line + i)
    return inside


_VERSION = re.compile(r"(?:Docker version|Server Version:|^\s*Version:)\s*v?(\d+\.\d+(?:\.\d+)?)")


def _docker_version(lines: list[str], sections) -> str | None:
    """The daemon's version: `# dockerd: Docker version X` (dnlint collect's header), or the server
    part of `docker version` / `docker info`, or `dockerd --version`."""
    for line in lines[:60]:
        if line.startswith(("# dockerd:", "# docker server:")):
            m = re.search(r"(\d+\.\d+(?:\.\d+)?)", line)
            if m:
                return m.group(1)
    for sec in sections:
        cmd = (sec.command or "").strip()
        if not cmd.startswith(("docker version", "docker info", "dockerd --version", "dockerd -v")):
            continue
        server = not cmd.startswith("docker version")
        for line in lines[sec.span.line:sec.end_line]:
            if line.strip().startswith("Server"):
                server = True
            m = _VERSION.search(line)
            if m and server:
                return m.group(1)
    return None


def _drop_trailing_prose(block: Block, found: list[Diagnostic]) -> list[Diagnostic]:
    """In a transcript, a command's output is followed by whatever the author wrote next: the
    lines its parser rejects are not broken output. They become one DN008 note, not DN001s."""
    prose = [d for d in found if d.code == "DN001"]
    if not prose:
        return found
    kept = [d for d in found if d.code != "DN001"]
    cmd = block.info.command if block.info else "the command"
    kept.append(diag("DN008", f"{len(prose)} line(s) after `{cmd}` were not read as its output "
                              f"(notes in the transcript?), from line {prose[0].span.line}", prose[0].span))
    return kept


def _parse_block(block: Block, rulesets: list[Ruleset], facts: dict[str, list],
                 diagnostics: list[Diagnostic], nft: list[NftRuleset]) -> None:
    info = block.info
    kind = block.kind
    if kind in (SectionKind.NFT, SectionKind.NFT_JSON):
        from .parse.nft import parse_nft_json, parse_nft_text

        parse = parse_nft_text if kind is SectionKind.NFT else parse_nft_json
        complete = info is None or (info.table is None and not info.partial)
        rs, ds = parse(block.text, info.command if info else None, complete)
        if rs is not None:
            nft.append(rs)
        diagnostics.extend(ds)
        return
    if kind in (SectionKind.SAVE, SectionKind.SPEC):
        from .parse.save import parse_save

        rs, ds = parse_save(
            block.text,
            family=info.family if info else None,
            table=info.table if info and info.kind is SectionKind.SPEC else None,
            spec=True if kind is SectionKind.SPEC else None,
        )
        if info and info.backend:
            rs = [r if r.backend else _with_backend(r, info.backend) for r in rs]
        if info and info.scope is not None:
            rs = [_with_scope(r, info.scope) for r in rs]
        rulesets.extend(rs)
        diagnostics.extend(ds)
    elif kind is SectionKind.LISTING:
        from .parse.listing import parse_listing

        rs, ds = parse_listing(
            block.text,
            table=info.table if info else None,
            family=info.family if info else None,
            command=info.command if info else None,
        )
        if info and info.scope is not None:
            rs = [_with_scope(r, info.scope) for r in rs]
        rulesets.extend(rs)
        diagnostics.extend(ds)
    elif kind in (SectionKind.ADDR, SectionKind.LINK):
        from .parse.facts.addr import parse_ip_addr

        (ifaces, addrs), ds = parse_ip_addr(block.text)
        facts["interfaces"].extend(ifaces)
        facts["addresses"].extend(addrs)
        diagnostics.extend(ds)
    else:
        handler = _FACT_PARSERS.get(kind)
        if handler is None:
            return
        handler(block, facts, diagnostics)


def _with_backend(rs: Ruleset, backend: str) -> Ruleset:
    from dataclasses import replace

    return replace(rs, backend=backend)


def _with_scope(rs: Ruleset, scope) -> Ruleset:
    from dataclasses import replace

    return replace(rs, scope=scope)


def _route(block: Block, facts: dict[str, list], diagnostics: list[Diagnostic]) -> None:
    from .parse.facts.route import parse_ip_route

    routes, ds = parse_ip_route(block.text, family=block.info.family if block.info else None)
    facts["routes"].extend(routes)
    diagnostics.extend(ds)


def _sysctl(block: Block, facts: dict[str, list], diagnostics: list[Diagnostic]) -> None:
    from .parse.facts.sysctl import parse_sysctl

    values, ds = parse_sysctl(block.text)
    facts["sysctls"].extend(values)
    diagnostics.extend(ds)


def _listeners(block: Block, facts: dict[str, list], diagnostics: list[Diagnostic]) -> None:
    from .parse.facts.listeners import parse_listeners

    values, ds = parse_listeners(block.text)
    facts["listeners"].extend(values)
    diagnostics.extend(ds)


def _ps(block: Block, facts: dict[str, list], diagnostics: list[Diagnostic]) -> None:
    from .parse.facts.ps import parse_ps

    values, ds = parse_ps(block.text)
    facts["processes"].extend(values)
    diagnostics.extend(ds)


def _docker(block: Block, facts: dict[str, list], diagnostics: list[Diagnostic]) -> None:
    from .parse.facts.docker import parse_docker_json

    (networks, containers), ds = parse_docker_json(block.text)
    facts["docker_networks"].extend(networks)
    facts["docker_containers"].extend(containers)
    diagnostics.extend(ds)


def _policy(block: Block, facts: dict[str, list], diagnostics: list[Diagnostic]) -> None:
    """``ip rule`` lines: ``PRIO:\tSELECTOR ACTION``; read only far enough to tell default rules apart."""
    import re

    from .ir import PolicyRule

    pat = re.compile(r"^(?:(\d+):)?\s*(.*?)\s+(lookup\s+\S+|table\s+\S+|blackhole|unreachable|prohibit|goto\s+\d+|nop)(\s.*)?$")
    for i, line in enumerate(block.text.lines):
        if not line.strip():
            continue
        m = pat.match(line.strip())
        if not m:
            diagnostics.append(diag("DN001", f"not an `ip rule` line: {line.strip()[:60]!r}", block.text.span(i)))
            continue
        prio = int(m.group(1)) if m.group(1) else None
        facts["policy_rules"].append(PolicyRule(prio, m.group(2).strip(), (m.group(3) + (m.group(4) or "")).strip(),
                                                block.text.span(i)))


def _ipset(block: Block, facts: dict[str, list], diagnostics: list[Diagnostic]) -> None:
    from .parse.facts.ipset import parse_ipset

    values, ds = parse_ipset(block.text)
    facts["ipsets"].extend(values)
    diagnostics.extend(ds)


_FACT_PARSERS: dict[SectionKind, Callable[[Block, dict[str, list], list[Diagnostic]], None]] = {
    SectionKind.ROUTE: _route,
    SectionKind.SYSCTL: _sysctl,
    SectionKind.LISTENERS: _listeners,
    SectionKind.PS: _ps,
    SectionKind.DOCKER_NETWORK: _docker,
    SectionKind.DOCKER_CONTAINER: _docker,
    SectionKind.IPSET: _ipset,
    SectionKind.POLICY: _policy,
}


def _backend_diagnostics(rulesets: list[Ruleset], legacy_warnings: list[Span]) -> list[Diagnostic]:
    """DN005: iptables-legacy and iptables-nft tables both hold rules (the kernel runs both)."""
    out = []
    for family in (4, 6):
        populated = {
            rs.backend for rs in rulesets
            if rs.family == family and rs.backend and any(c.rules for t in rs.tables for c in t.chains)
        }
        if {"legacy", "nf_tables"} <= populated:
            first = next(rs for rs in rulesets if rs.family == family and rs.backend == "legacy")
            out.append(diag("DN005", f"IPv{family} rules exist in both iptables-legacy and iptables-nft "
                                     "tables; the kernel evaluates both, and tools that show one hide the "
                                     "other", first.span))
    if legacy_warnings and not out:
        out.append(diag("DN005", "iptables-nft-save warns that iptables-legacy tables are present too; "
                                 "they are not in this dump (collect iptables-legacy-save as well)",
                        legacy_warnings[0]))
    return out
