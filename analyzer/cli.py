"""The ``dnlint`` command line: a thin layer over the Python API.

Exit codes (DESIGN.md): 0 clean or answered, 1 findings at or above ``--fail-on``,
2 bad input or usage.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__

app = typer.Typer(
    name="dnlint",
    help="Static analyzer and linter for Linux host firewalls (iptables), Docker hosts first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class ParseFormat(str, Enum):
    text = "text"
    json = "json"


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dnlint {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """dnlint reads a host's iptables rules and the facts that decide a packet's fate."""
    _stdin_data.clear()


STDIN_NAME = "<stdin>"
_stdin_data: list[bytes] = []  # standard input, read once however often `-` is given


def _read_dump(path: str):
    """The dump at ``path``; ``-`` is standard input, shown as ``<stdin>``. Raises DumpReadError."""
    from .load import load_bytes, load_dump

    if path == "-":
        if not _stdin_data:
            _stdin_data.append(sys.stdin.buffer.read())
        return load_bytes(_stdin_data[0], STDIN_NAME)
    return load_dump(path)


def _display(path: str) -> str:
    return STDIN_NAME if path == "-" else path


def _load(path: str):
    from .load import DumpReadError

    try:
        return _read_dump(path)
    except DumpReadError as e:
        typer.echo(f"dnlint: {e}", err=True)
        raise typer.Exit(2)


@app.command()
def parse(
    dump: str = typer.Argument(..., help="A host dump, iptables-save file or iptables -L listing; - for stdin."),
    format: ParseFormat = typer.Option(ParseFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """Print what dnlint read from DUMP: sections, rules (the IR) and host facts.

    The JSON form is stable (see README, "The parse JSON"). Diagnostics about the input
    are part of the output; the exit code is 0 whenever the file could be read.
    """
    host = _load(dump)
    if format is ParseFormat.json:
        from .serialize import dump_json

        sys.stdout.write(dump_json(host) + "\n")
    else:
        from .textdump import render_dump

        sys.stdout.write(render_dump(host))


def _split_list(values: Optional[List[str]]) -> list[str]:
    """A repeatable option's values, each of which may be comma-separated."""
    return [x.strip() for v in values or [] for x in v.split(",") if x.strip()]


def _split_codes(values: Optional[List[str]]) -> list[str]:
    return [c.upper() for c in _split_list(values)]


@app.command()
def check(
    dumps: List[str] = typer.Argument(..., help="Host dumps to check; - for stdin."),
    format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f", help="Output format."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on",
                                             help="Exit 1 when a finding has this severity or a higher one "
                                                  "(default: the ruleset's, else error)."),
    select: Optional[List[str]] = typer.Option(None, "--select", help="Only these codes or prefixes (DN0, DN101,...)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Skip these codes or prefixes."),
    ruleset: Optional[str] = typer.Option(None, "--ruleset", help="A ruleset name (recommended, docker, strict) "
                                                                  "or a path to a TOML file."),
) -> None:
    """Lint DUMP files: findings with stable codes, for people (text) and CI (json, sarif, github).

    Configuration: --ruleset, then [tool.dnlint] in pyproject.toml or dnlint.toml, then the
    options here. Exit 0 clean, 1 findings at/above --fail-on, 2 bad input or usage (a file
    that cannot be read is reported and the others are still checked).
    """
    from .lint import ConfigError, LintConfig, fails, lint_dump
    from .load import DumpReadError
    from .report import render

    try:
        config = LintConfig.load(ruleset=ruleset, select=_split_codes(select), ignore=_split_codes(ignore),
                                 fail_on=fail_on.value if fail_on else None)
    except ConfigError as e:
        typer.echo(f"dnlint: {e}", err=True)
        raise typer.Exit(2)
    findings = []
    errors = []
    unreadable: list[tuple[str, str]] = []
    sources: dict[str, str] = {}
    for path in dumps:
        try:
            dump = _read_dump(path)
        except DumpReadError as e:
            unreadable.append((path, e.reason))
            typer.echo(f"dnlint: {e}", err=True)
            continue
        if path == "-":
            sources[STDIN_NAME] = _stdin_data[0].decode("utf-8", errors="replace")
        result = lint_dump(dump, config)
        findings.extend(result.findings)
        for err in result.errors:
            errors.append(f"{_display(path)}: {err}")
            typer.echo(f"dnlint: {_display(path)}: check {err} (a bug in dnlint; other checks ran)", err=True)
    sys.stdout.write(render(format.value, findings, [_display(p) for p in dumps], sys.stdout, errors=errors,
                            unreadable=unreadable, sources=sources))
    if unreadable:
        raise typer.Exit(2)
    raise typer.Exit(1 if fails(findings, config.fail_on) else 0)


class QueryFormat(str, Enum):
    text = "text"
    json = "json"


class Proto(str, Enum):
    tcp = "tcp"
    udp = "udp"
    icmp = "icmp"
    all = "all"


class Expect(str, Enum):
    reachable = "reachable"
    unreachable = "unreachable"
    null = "null"


@app.command()
def query(
    dump: str = typer.Argument(..., help="A host dump; - for stdin."),
    src: str = typer.Option(..., "--from", help="host, outside, IP or CIDR, iface:NAME, container:NAME, network:NAME."),
    dst: str = typer.Option(..., "--to", help="The destination the sender uses: IP or CIDR, host, container:NAME, network:NAME."),
    port: Optional[int] = typer.Option(None, "--port", min=0, max=65535, help="Destination port."),
    proto: Proto = typer.Option(Proto.tcp, "--proto", help="Protocol."),
    sport: Optional[int] = typer.Option(None, "--sport", min=1, max=65535,
                                        help="Source port (default: any; the answer says when it holds only for some)."),
    format: QueryFormat = typer.Option(QueryFormat.text, "--format", "-f", help="Output format."),
    expect: Optional[Expect] = typer.Option(None, "--expect", help="For scripts and CI: exit 1 unless the "
                                            "answer is this (reachable, unreachable, or null: not decided)."),
) -> None:
    """Can FROM reach TO on PORT? Proved with z3: a witness packet and its path, or what blocks it.

    Exit code 0 when answered (whatever the answer; with --expect: when the answer is the expected
    one), 1 when --expect is not met, 2 for bad input or endpoints.
    """
    from .engine.query import EndpointError, query_dump

    host = _load(dump)
    try:
        answer = query_dump(host, src, dst, port, proto.value, sport=sport)
    except EndpointError as e:
        typer.echo(f"dnlint: {e}", err=True)
        raise typer.Exit(2)
    if format is QueryFormat.json:
        import json

        sys.stdout.write(json.dumps(answer.as_dict(), indent=2) + "\n")
    else:
        from .engine.explain import render_answer

        sys.stdout.write(render_answer(answer))
    if expect is not None:
        got = {True: "reachable", False: "unreachable", None: "null"}[answer.reachable]
        if got != expect.value:
            typer.echo(f"dnlint: expected {expect.value}, the answer is {got}", err=True)
            raise typer.Exit(1)


class MatrixFormat(str, Enum):
    text = "text"
    json = "json"
    csv = "csv"
    html = "html"


@app.command()
def matrix(
    dump: str = typer.Argument(..., help="A host dump; - for stdin."),
    src: Optional[List[str]] = typer.Option(None, "--from", help="Rows (repeatable, or comma-separated): any "
                                            "query endpoint. Default: host, outside, each link, Docker network "
                                            "and container."),
    dst: Optional[List[str]] = typer.Option(None, "--to", help="Columns (repeatable, or comma-separated). "
                                            "Default: the host's addresses, each container, outside."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Only this destination port."),
    ports: Optional[str] = typer.Option(None, "--ports", help="Only these destination ports: 80,443,8000-8100."),
    proto: Optional[List[str]] = typer.Option(None, "--proto", help="tcp, udp, icmp (repeatable or "
                                              "comma-separated; default all three)."),
    family: int = typer.Option(4, "--family", help="4 or 6."),
    format: MatrixFormat = typer.Option(MatrixFormat.text, "--format", "-f", help="Output format."),
    details: bool = typer.Option(True, "--details/--table", help="Text: list every class in full below the "
                                 "table (default), or only the table."),
    space_view: Optional[bool] = typer.Option(None, "--space/--endpoints", help="--space: the address-space "
                                              "view (classes of source and destination addresses the rules treat "
                                              "alike for a service, default tcp 22 and 80, and the edges between "
                                              "them); --endpoints: the endpoint view. Default: the endpoint view "
                                              "for a dump with host facts or a Docker inventory, the address-space "
                                              "view for a bare rule set."),
    path: str = typer.Option("forward", "--path", help="--space: forward (a routed packet) or input (to the "
                             "host itself)."),
    sport: int = typer.Option(10000, "--sport", min=0, max=65535, help="--space: the client's source port."),
    in_iface: Optional[str] = typer.Option(None, "--in", help="--space: packets arrive on this interface "
                                           "(default: rules naming interfaces are taken both ways)."),
    out_iface: Optional[str] = typer.Option(None, "--out", help="--space: packets leave on this interface."),
    tables: Optional[str] = typer.Option(None, "--tables", help="--space: only these tables (e.g. filter, as "
                                         "FFFUU reads it)."),
    replay: str = typer.Option("auto", "--replay", help="--space: witnesses replayed through the per-packet "
                               "evaluator: auto (every class, fewer on huge rule sets), all, or a number."),
) -> None:
    """The whole host at once: for each source and destination, which ports are isolated, direct,
    DNATed, masqueraded, proxied, black holes, unserved or unknown; each class proved by a query.
    With --space: the address-space service matrix of the rule set.

    Exit code 0 when answered, 2 for bad input or endpoints.
    """
    from .engine.matrix import compute_matrix, parse_ports
    from .engine.query import EndpointError, engine_for

    host = _load(dump)
    chosen = space_view is None
    if space_view is None:
        space_view = not (host.facts.addresses or host.facts.routes or host.facts.docker_networks
                          or host.facts.docker_containers)
        if space_view and (src or dst) and not all(_is_address_text(x) for x in _split_list(src) + _split_list(dst)):
            space_view = False  # endpoint names (host, outside, container:web) ask for the endpoint view
    if space_view:
        _space_matrix(dump, host, port=port, ports=ports, proto=proto, family=family, format=format, path=path,
                      sport=sport, in_iface=in_iface, out_iface=out_iface, tables=tables, replay=replay,
                      sources=_split_list(src), destinations=_split_list(dst), chosen=chosen)
        return
    try:
        space = parse_ports(ports) if ports else ([(port, port)] if port else None)
        if port and ports:
            raise ValueError("give --port or --ports, not both")
        if family not in (4, 6):
            raise ValueError("--family is 4 or 6")
        m = compute_matrix(engine_for(host, family), sources=_split_list(src), destinations=_split_list(dst),
                           protos=_split_list(proto), ports=space)
    except (EndpointError, ValueError) as e:
        typer.echo(f"dnlint: {e}", err=True)
        raise typer.Exit(2)
    from . import matrix_report as R

    title = _display(dump)
    if format is MatrixFormat.json:
        sys.stdout.write(R.render_json(m))
    elif format is MatrixFormat.csv:
        sys.stdout.write(R.render_csv(m))
    elif format is MatrixFormat.html:
        sys.stdout.write(R.render_html(m, title=title))
    else:
        sys.stdout.write(R.render_text(m, title=title, details=details))


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"
    github = "github"


class FailOnChange(str, Enum):
    never = "never"
    any = "any"
    opened = "opened"
    closed = "closed"


@app.command()
def diff(
    old: str = typer.Argument(..., help="The dump before (a host dump or a bare rule set)."),
    new: str = typer.Argument(..., help="The dump after, or just a rule file (iptables-save / iptables-restore "
                              "input) to load over OLD's host facts."),
    format: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", help="Output format."),
    fail_on_change: FailOnChange = typer.Option(FailOnChange.any, "--fail-on-change",
                                                help="Exit 1 when flows change: any, only opened ones, only closed "
                                                     "ones, or never."),
    space_view: Optional[bool] = typer.Option(None, "--space/--endpoints", help="Compare the address-space "
                                              "matrices or the endpoint matrices (default: endpoints for a dump "
                                              "with host facts or a Docker inventory, the address space for a "
                                              "bare rule set)."),
    path: str = typer.Option("forward", "--path", help="--space: forward, input or full."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Only this destination port."),
    ports: Optional[str] = typer.Option(None, "--ports", help="Only these destination ports (--space: each a "
                                        "service matrix; default 22,80)."),
    proto: Optional[List[str]] = typer.Option(None, "--proto", help="tcp, udp, icmp (endpoints) or tcp, udp (space)."),
    in_iface: Optional[str] = typer.Option(None, "--in", help="--space: packets arrive on this interface."),
    out_iface: Optional[str] = typer.Option(None, "--out", help="--space: packets leave on this interface."),
    candidate: Optional[bool] = typer.Option(None, "--candidate/--full-dump", help="Read NEW as a rule file loaded "
                                             "over OLD's host facts (default when NEW has no host facts and OLD "
                                             "has), or as a dump of its own."),
    noflush: bool = typer.Option(False, "--noflush", help="With a candidate: iptables-restore --noflush (NEW's "
                                 "rules are appended to OLD's chains) instead of replacing the tables NEW names."),
    family: int = typer.Option(4, "--family", help="4 or 6."),
) -> None:
    """The flows whose fate differs between OLD and NEW: each changed class of the matrix with its fate on
    both sides (NAT-aware: a changed translation or seen source is a change), a witness, and the rules
    that decide it on each side. Edits that change nothing give an empty diff.

    Exit code 0 when nothing changed (or --fail-on-change never), 1 when a flow changed, 2 for bad input.
    """
    from .engine.diff import diff_endpoints, diff_space, has_host_facts, resolve_new
    from .engine.matrix import parse_ports
    from .engine.query import EndpointError, engine_for
    from .engine.space import SpaceError
    from .model.host import build_host
    from . import diff_report as R

    a, b = _load(old), _load(new)
    try:
        if family not in (4, 6):
            raise ValueError("--family is 4 or 6")
        if port and ports:
            raise ValueError("give --port or --ports, not both")
        b = resolve_new(a, b, candidate=candidate, noflush=noflush)
        if space_view is None:
            space_view = not has_host_facts(a)
        if space_view:
            plist = _service_ports(port, ports, None)
            protos = _split_list(proto) or ["tcp"]
            d = diff_space(build_host(a, family), build_host(b, family), path=path,
                           services=[(pr, p) for pr in protos for p in plist] if plist else None,
                           in_iface=in_iface, out_iface=out_iface)
        else:
            space = parse_ports(ports) if ports else ([(port, port)] if port else None)
            d = diff_endpoints(engine_for(a, family), engine_for(b, family), protos=_split_list(proto) or None,
                               ports=space)
    except (EndpointError, SpaceError, ValueError) as e:
        typer.echo(f"dnlint: {e}", err=True)
        raise typer.Exit(2)
    o, n = _display(old), _display(new)
    if format is DiffFormat.json:
        sys.stdout.write(R.render_json(d))
    elif format is DiffFormat.markdown:
        sys.stdout.write(R.render_markdown(d, old=o, new=n))
    elif format is DiffFormat.sarif:
        sys.stdout.write(R.render_sarif(d, new=n))
    elif format is DiffFormat.github:
        sys.stdout.write(R.render_github(d, new=n))
    else:
        sys.stdout.write(R.render_text(d, old=o, new=n))
    raise typer.Exit(R.exit_code(d, fail_on_change.value))


class VerifyFormat(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"


@app.command()
def verify(
    dumps: List[str] = typer.Argument(..., help="Host dumps or rule files (each is checked); - for stdin."),
    policy: Path = typer.Option(..., "--policy", "-p", help="The policy: a TOML file of [[assert]] tables "
                                "(- for stdin)."),
    format: VerifyFormat = typer.Option(VerifyFormat.text, "--format", "-f", help="Output format (junit: JUnit XML)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Text: list the assertions that hold too."),
    family: int = typer.Option(4, "--family", help="4 or 6."),
) -> None:
    """Check a policy's assertions on a host: reachable, unreachable, isolated, DNATed to, masqueraded,
    seen source, served by, only these ports. Each failure prints its witness and the rule responsible.

    Exit code 0 when every assertion holds, 1 when one fails, 2 for bad input or a bad policy.
    """
    from . import verify as V

    hosts = [(d, _load(d)) for d in dumps]
    try:
        text = sys.stdin.read() if str(policy) == "-" else policy.read_text(encoding="utf-8")
        assertions = V.load_policy(text, STDIN_NAME if str(policy) == "-" else str(policy))
    except OSError as e:
        typer.echo(f"dnlint: {policy}: cannot read: {e.strerror or e}", err=True)
        raise typer.Exit(2)
    except V.PolicyError as e:
        typer.echo(f"dnlint: {e}", err=True)
        raise typer.Exit(2)
    ok = True
    for name, host in hosts:
        results = V.verify(host, assertions, family)
        ok &= all(r.passed for r in results)
        if format is VerifyFormat.json:
            sys.stdout.write(V.render_json(results))
        elif format is VerifyFormat.junit:
            sys.stdout.write(V.render_junit(results, suite=f"dnlint verify {_display(name)}"))
        else:
            if len(hosts) > 1:
                sys.stdout.write(f"{_display(name)}:\n")
            sys.stdout.write(V.render_text(results, verbose=verbose))
    raise typer.Exit(0 if ok else 1)


def _is_address_text(text: str) -> bool:
    """An address, CIDR block or first-last range (what --space takes in --from/--to)."""
    from .engine.space import SpaceError, address_set

    for family in (4, 6):
        try:
            address_set([text], family)
            return True
        except SpaceError:
            pass
    return False


def _service_ports(port: int | None, ports: str | None, default: list[int] | None) -> list[int] | None:
    """The ports of the address-space view's services: --port, each port of --ports, or ``default``."""
    from .engine.matrix import parse_ports

    if not ports:
        return [port] if port else default
    plist = [p for lo, hi in parse_ports(ports) for p in range(lo, hi + 1)]
    if len(plist) > 64:
        raise ValueError("--space takes at most 64 ports (one service matrix each)")
    return plist


def _space_matrix(dump, host, *, port, ports, proto, family, format, path, sport, in_iface, out_iface, tables,
                  replay, sources, destinations, chosen=False) -> None:
    from .engine.space import SpaceError, address_set, space_dump

    try:
        if port and ports:
            raise ValueError("give --port or --ports, not both")
        if family not in (4, 6):
            raise ValueError("--family is 4 or 6")
        plist = _service_ports(port, ports, [22, 80])
        protos = _split_list(proto) or ["tcp"]
        budget = None if replay == "all" else 256 if replay == "auto" else int(replay)
        m = space_dump(host, family=family, path=path, services=[(pr, p) for pr in protos for p in plist],
                       sport=sport, in_iface=in_iface, out_iface=out_iface, replay_budget=budget,
                       tables=tuple(_split_list([tables])) if tables else None,
                       sources=address_set(sources, family) if sources else None,
                       destinations=address_set(destinations, family) if destinations else None)
    except (SpaceError, ValueError) as e:
        typer.echo(f"dnlint: {e}", err=True)
        raise typer.Exit(2)
    from . import space_report as R

    title = _display(dump)
    if format is MatrixFormat.json:
        R.write_json(m, sys.stdout)
    elif format is MatrixFormat.csv:
        sys.stdout.write(R.render_csv(m))
    elif format is MatrixFormat.html:
        sys.stdout.write(R.render_html(m, title=title))
    else:
        hint = ("a bare rule set gets the address-space view (--endpoints: the endpoint view; --path input: "
                "traffic to the host itself)" if chosen else "")
        sys.stdout.write(R.render_text(m, title=title, hint=hint))


@app.command()
def collect(
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Write the dump here (default, or -: stdout)."),
) -> None:
    """Write a host dump of this machine (read-only commands) for `dnlint check`."""
    from .collect import collect_dump, format_collect_report

    result = collect_dump()
    if output is None or str(output) == "-":
        sys.stdout.write(result.text)
    else:
        try:
            output.write_text(result.text, encoding="utf-8")
        except OSError as e:
            typer.echo(f"dnlint: cannot write {output}: {e.strerror or e}", err=True)
            raise typer.Exit(2)
    report = format_collect_report(result)
    if report:
        typer.echo(report, err=True)


@app.command()
def rules(
    format: ParseFormat = typer.Option(ParseFormat.text, "--format", "-f"),
) -> None:
    """List every code dnlint reports: code, name, default severity, summary."""
    from .checks.registry import all_checks

    checks = all_checks()
    if format is ParseFormat.json:
        import json

        data = [{"code": c, "name": k.name, "severity": k.severity.value, "summary": k.summary, "fix": k.fix,
                 "needs_engine": k.needs_engine} for c, k in checks.items()]
        typer.echo(json.dumps(data, indent=2))
        return
    for code, k in checks.items():
        typer.echo(f"{code}  {k.name:<44} {k.severity.value:<8} {k.summary}")


@app.command()
def rule(code: str = typer.Argument(..., help="A code such as DN201.")) -> None:
    """Print the documentation of one code: what it does, why it is bad, an example, the fix."""
    from .checks.registry import check_class

    cls = check_class(code)
    if cls is None:
        typer.echo(f"dnlint: unknown code {code!r}; `dnlint rules` lists them", err=True)
        raise typer.Exit(2)
    docs = cls.docs()
    out = [f"{cls.code} {cls.name} ({cls.severity.value})", "", docs.get("summary", cls.summary)]
    for heading in ("What it does", "Why is this bad?", "Example", "How to fix"):
        if docs.get(heading):
            out += ["", heading, docs[heading]]
    typer.echo("\n".join(out))


def main() -> None:
    import os

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # no traceback reaches the user; DNLINT_DEBUG=1 shows it
        if os.environ.get("DNLINT_DEBUG"):
            raise
        sys.stderr.write(f"dnlint: internal error: {e!r}\n"
                         "This is a bug in dnlint; please report it with the input "
                         "(DNLINT_DEBUG=1 shows the traceback).\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
