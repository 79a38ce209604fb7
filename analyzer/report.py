"""Render findings for people (text) and for machines (json, sarif, github annotations).

``render(fmt, findings, files, stream)`` is what ``dnlint check`` prints; ``files`` are the
dumps as given on the command line (in that order; ``<stdin>`` for ``-``), ``stream`` decides
colour. ``unreadable`` lists (file, reason) of dumps that could not be read at all; every
format reports them with the findings of the other files. ``sources`` gives the text of
inputs that cannot be read again from disk (standard input), for quoting lines.

Text (people)
    Grouped by file (in command-line order), one block per finding::

        host.txt
          23:1: DN101 [error] filter INPUT #3 jumps to chain WEB, which ...  (structure.jump-to-missing-chain)
              | -A INPUT -p tcp --dport 80 -j WEB          <- the rule's line, quoted from the file
              flow: outside 192.0.2.9 -> ...               <- when the check has a witness flow
              fix: Declare the chain, or correct the target's name.
        Found 1 finding (1 error, 0 warning, 0 info) in 1 file. ...

    Colour (ANSI) when ``NO_COLOR`` is unset or empty and either ``FORCE_COLOR`` is set to
    something other than ``0``/``false``/empty or the stream is a terminal (``isatty``);
    ``NO_COLOR`` wins over ``FORCE_COLOR``.

JSON (``--format json``, schema 1; keys are stable, new keys may be added)::

    {"dnlint": "0.1.0",              # version of dnlint
     "schema": 1,
     "files": ["host.txt", ...],     # the dumps checked, as given
     "findings": [{"code": "DN101", "name": "structure.jump-to-missing-chain",
                   "severity": "error"|"warning"|"info",   # after [severity] overrides
                   "message": "...", "file": "host.txt"|null, "line": 23|null, "col": 1|null,
                   "fix": "..."|null,  # one line
                   "flow": "..."|null}],  # a witness packet flow, when the check has one
     "errors": [{"file": "gone.txt", "message": "cannot read: No such file or directory"}],
                                     # dumps that could not be read, and checks that failed
     "summary": {"total": N, "error": N, "warning": N, "info": N}}

SARIF 2.1.0 (``--format sarif``)
    One run per invocation, valid against the OASIS schema. ``tool.driver.rules`` holds every
    code of the catalog (id, name, short/full description, help as text and markdown built
    from the docstring headings, helpUri, defaultConfiguration.level); results carry
    ``ruleId``/``ruleIndex``, level (error/warning/note), the message with its fix, and a
    physical location whose ``artifactLocation.uri`` is relative to the current directory
    (``uriBaseId`` ``%SRCROOT%``, declared in ``originalUriBaseIds``) when the file lies below
    it, else an absolute ``file://`` URI; ``region`` has ``startLine``/``startColumn``.
    ``run.artifacts`` lists every dump checked; ``run.invocations[0].executionSuccessful`` is
    false when a check failed or a dump could not be read (each is a
    ``toolExecutionNotification`` of level error, an unreadable dump with its location).

GitHub annotations (``--format github``)
    One workflow command per finding:
    ``::error file=host.txt,line=23,col=1,title=DN101 structure.jump-to-missing-chain::DN101 message Fix: ...``
    (``notice`` for info); property values and messages escaped as GitHub's toolkit does. An
    unreadable dump is ``::error file=gone.txt,title=dnlint::gone.txt: cannot read: ...``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from . import __version__
from .checks.base import DOC_HEADINGS, Finding
from .ir import Severity

HELP_URI = "https://dnlint.invalid/rules/{code}"  # the docs site is not published yet; `dnlint rule CODE`
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"


def _name(code: str) -> str:
    from .checks.registry import check_class

    cls = check_class(code)
    return cls.name if cls else ""


def use_colour(stream) -> bool:
    """Colour on a terminal; ``NO_COLOR`` disables it, ``FORCE_COLOR`` forces it (NO_COLOR wins)."""
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force is not None and force.strip().lower() not in ("", "0", "false", "no"):
        return True
    try:
        return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
    except (ValueError, OSError):  # a closed or odd stream
        return False


_use_colour = use_colour  # older name

_COLOURS = {Severity.ERROR: "\x1b[31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}


def render(fmt: str, findings: Sequence[Finding], files: Sequence[str], stream=None, *,
           errors: Sequence[str] = (), unreadable: Sequence[tuple[str, str]] = (),
           sources: Mapping[str, str] | None = None) -> str:
    """``errors``: checks that failed (``LintResult.errors``), as ``"FILE: CODE: message"``;
    ``unreadable``: (file, reason) of dumps that could not be read."""
    if fmt == "json":
        return render_json(findings, files, errors=errors, unreadable=unreadable)
    if fmt == "sarif":
        return render_sarif(findings, files, errors=errors, unreadable=unreadable, sources=sources)
    if fmt == "github":
        return render_github(findings, unreadable=unreadable)
    return render_text(findings, files, stream, unreadable=unreadable, sources=sources)


def _source_cache(sources: Mapping[str, str] | None) -> dict[str, list[str]]:
    return {name: text.split("\n") for name, text in (sources or {}).items()}


def _with_fix(f: Finding) -> str:
    msg = f.message.rstrip()
    if not f.fix:
        return msg
    if msg and msg[-1] not in ".!?":
        msg += "."
    return f"{msg} Fix: {f.fix.strip()}"


# --------------------------------------------------------------------------- text


def render_text(findings: Sequence[Finding], files: Sequence[str], stream=None, *,
                unreadable: Sequence[tuple[str, str]] = (), sources: Mapping[str, str] | None = None) -> str:
    colour = use_colour(stream) if stream is not None else False
    bold, dim, reset = ("\x1b[1m", "\x1b[2m", "\x1b[0m") if colour else ("", "", "")
    out: list[str] = []
    cache = _source_cache(sources)
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.span.file if f.span else "<input>", []).append(f)
    unread = dict(unreadable)
    for file in list(dict.fromkeys(files)) + [f for f in by_file if f not in files]:
        if file in unread:
            red = _COLOURS[Severity.ERROR] if colour else ""
            out.append(f"{bold}{file}{reset}")
            out.append(f"  {red}error{reset}: {unread[file]}; it was not checked")
            continue
        items = by_file.get(file)
        if not items:
            continue
        out.append(f"{bold}{file}{reset}")
        for f in items:
            sev = f.severity.value
            if colour:
                sev = f"{_COLOURS[f.severity]}{sev}{reset}"
            where = f"{f.span.line}:{f.span.col}" if f.span else "-"
            name = _name(f.code)
            out.append(f"  {where}: {bold}{f.code}{reset} [{sev}] {f.message}" + (f"  {dim}({name}){reset}" if name else ""))
            quoted = _quote(cache, f)
            if quoted is not None:
                out.append(f"      {dim}|{reset} {quoted}")
            if f.flow:
                out.append(f"      flow: {f.flow}")
            if f.fix:
                fix = " ".join(f.fix.split())  # one line
                out.append(f"      {bold}fix:{reset} {fix}")
    counts = Counter(f.severity for f in findings)
    bad = list(dict.fromkeys(file for file, _ in unreadable))
    n = len([f for f in files if f not in unread]) if unread else len(files)
    if findings:
        out.append(f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} "
                   f"({counts[Severity.ERROR]} error, {counts[Severity.WARNING]} warning, {counts[Severity.INFO]} info) "
                   f"in {n} file{'s' if n != 1 else ''}. `dnlint rule CODE` explains a code.")
    else:
        out.append(f"No findings in {n} file{'s' if n != 1 else ''}.")
    if bad:
        out.append(f"{len(bad)} file{'s' if len(bad) != 1 else ''} could not be read: {', '.join(bad)}.")
    return "\n".join(out) + "\n"


def _lines(cache: dict[str, list[str]], file: str) -> list[str]:
    lines = cache.get(file)
    if lines is None:
        try:
            lines = Path(file).read_text(encoding="utf-8", errors="replace").split("\n")
        except OSError:
            lines = []
        cache[file] = lines
    return lines


def _quote(cache: dict[str, list[str]], f: Finding) -> str | None:
    if not f.span:
        return None
    lines = _lines(cache, f.span.file)
    if 0 < f.span.line <= len(lines):
        text = lines[f.span.line - 1].rstrip("\r").strip()
        text = "".join(c if c.isprintable() else "?" for c in text)  # no terminal escapes from the dump
        return text[:157] + "..." if len(text) > 160 else text
    return None


# --------------------------------------------------------------------------- json


def render_json(findings: Sequence[Finding], files: Sequence[str], *, errors: Sequence[str] = (),
                unreadable: Sequence[tuple[str, str]] = ()) -> str:
    counts = Counter(f.severity.value for f in findings)
    problems = [{"file": file, "message": reason} for file, reason in unreadable]
    for e in errors:  # "FILE: CODE: message" (LintResult.errors with the dump's name)
        file, _, rest = e.partition(": ")
        problems.append({"file": file if rest else None,
                         "message": f"check {rest or e} (a bug in dnlint; other checks ran)"})
    data = {
        "dnlint": __version__,
        "schema": 1,
        "files": list(files),
        "findings": [
            {
                "code": f.code, "name": _name(f.code), "severity": f.severity.value, "message": f.message,
                "file": f.span.file if f.span else None, "line": f.span.line if f.span else None,
                "col": f.span.col if f.span else None, "fix": f.fix, "flow": f.flow,
            }
            for f in findings
        ],
        "errors": problems,
        "summary": {"total": len(findings), **{s.value: counts.get(s.value, 0) for s in Severity}},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- github


def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Sequence[Finding], *, unreadable: Sequence[tuple[str, str]] = ()) -> str:
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    out = [f"::error file={_gh_property(_display_path(file))},title=dnlint::{_gh_data(f'{file}: {reason}')}"
           for file, reason in unreadable]
    for f in findings:
        props = []
        if f.span:
            props += [f"file={_gh_property(_display_path(f.span.file))}", f"line={max(1, f.span.line)}",
                      f"col={max(1, f.span.col)}"]
        props.append(f"title={_gh_property((f.code + ' ' + _name(f.code)).strip())}")
        out.append(f"::{level[f.severity]} {','.join(props)}::{_gh_data(f.code + ' ' + _with_fix(f))}")
    return "\n".join(out) + ("\n" if out else "")


def _display_path(file: str) -> str:
    """``file`` relative to the current directory when it lies below it, else as given."""
    rel = _relative(file)
    return rel if rel is not None else file


def _relative(file: str) -> str | None:
    """POSIX path of ``file`` relative to the current directory, or None when it is not below it."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    for a, b in ((os.path.abspath(file), cwd), (os.path.realpath(file), os.path.realpath(cwd))):
        rel = os.path.relpath(a, b)
        if rel != ".." and not rel.startswith(".." + os.sep) and not os.path.isabs(rel):
            return Path(rel).as_posix()
    return None


# --------------------------------------------------------------------------- sarif


def _artifact_location(file: str) -> dict:
    if file == "<stdin>":
        return {"uri": quote(file), "description": {"text": "standard input"}}
    rel = _relative(file)
    if rel is not None:
        return {"uri": quote(rel, safe="/"), "uriBaseId": SRCROOT}
    return {"uri": Path(os.path.abspath(file)).as_uri()}


def _rule_descriptor(code: str, cls) -> dict:
    docs = cls.docs()
    summary = (cls.summary or docs.get("summary") or code).strip()
    headings = [h for h in DOC_HEADINGS if docs.get(h)]
    help_text = "\n\n".join(f"{h}\n{docs[h]}" for h in headings)
    help_md = f"**{code} {cls.name}** ({cls.severity.value}): {summary}"
    if headings:
        help_md += "\n\n" + "\n\n".join(f"## {h}\n\n{docs[h]}" for h in headings)
    help_md += f"\n\n`dnlint rule {code}` prints this page."
    return {
        "id": code,
        "name": cls.name or code,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": docs.get("What it does") or summary},
        "help": {"text": help_text or summary, "markdown": help_md},
        "helpUri": HELP_URI.format(code=code),
        "defaultConfiguration": {"level": _sarif_level(cls.severity)},
        "properties": {"tags": [cls.name.split(".")[0]] if cls.name else [],
                       **({"fix": cls.fix} if cls.fix else {})},
    }


def render_sarif(findings: Sequence[Finding], files: Sequence[str] = (), *, errors: Sequence[str] = (),
                 unreadable: Sequence[tuple[str, str]] = (), sources: Mapping[str, str] | None = None) -> str:
    from .checks.registry import all_checks

    rules = [_rule_descriptor(code, cls) for code, cls in all_checks().items()]
    index = {r["id"]: i for i, r in enumerate(rules)}
    for f in findings:  # a code outside the catalog still gets a descriptor, so ruleIndex is always valid
        if f.code not in index:
            index[f.code] = len(rules)
            rules.append({"id": f.code, "shortDescription": {"text": f.code},
                          "defaultConfiguration": {"level": _sarif_level(f.severity)}})

    artifacts: list[dict] = []
    art_index: dict[str, int] = {}

    def artifact(file: str) -> dict:
        if file not in art_index:
            art_index[file] = len(artifacts)
            artifacts.append({"location": _artifact_location(file)})
        loc = dict(artifacts[art_index[file]]["location"])
        loc["index"] = art_index[file]
        return loc

    for file in files:
        artifact(file)

    cache = _source_cache(sources)
    results = []
    for f in findings:
        result: dict = {"ruleId": f.code, "ruleIndex": index[f.code], "level": _sarif_level(f.severity),
                        "message": {"text": _with_fix(f)}}
        if f.span:
            region: dict = {"startLine": max(1, f.span.line), "startColumn": max(1, f.span.col)}
            lines = _lines(cache, f.span.file)
            if 0 < f.span.line <= len(lines):
                region["snippet"] = {"text": lines[f.span.line - 1].rstrip("\r")}
            result["locations"] = [{"physicalLocation": {"artifactLocation": artifact(f.span.file),
                                                         "region": region}}]
            line_text = region.get("snippet", {}).get("text", "").strip()
            digest = hashlib.sha256(f"{f.code}\0{line_text}\0{f.message}".encode()).hexdigest()[:32]
            result["partialFingerprints"] = {"dnlintFinding/v1": digest}
        related = [s for s in f.related if s is not None]
        if related:
            result["relatedLocations"] = [
                {"id": i, "physicalLocation": {"artifactLocation": artifact(s.file),
                                               "region": {"startLine": max(1, s.line), "startColumn": max(1, s.col)}}}
                for i, s in enumerate(related, 1)]
        props = {k: v for k, v in (("fix", f.fix), ("flow", f.flow)) if v}
        if props:
            result["properties"] = props
        results.append(result)

    invocation: dict = {"executionSuccessful": not errors and not unreadable,
                        "workingDirectory": {"uri": _dir_uri(os.getcwd())}}
    notifications = [
        {"level": "error", "message": {"text": f"{file}: {reason}"},
         "locations": [{"physicalLocation": {"artifactLocation": artifact(file)}}]}
        for file, reason in unreadable]
    notifications += [{"level": "error", "message": {"text": f"check {e} (a bug in dnlint; other checks ran)"}}
                      for e in errors]
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict = {
        "tool": {"driver": {"name": "dnlint", "version": __version__, "semanticVersion": __version__,
                            "informationUri": "https://dnlint.invalid/", "rules": rules}},
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": _dir_uri(os.getcwd())}},
        "artifacts": artifacts,
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _dir_uri(path: str) -> str:
    uri = Path(os.path.abspath(path)).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _sarif_level(severity: Severity) -> str:
    return {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[severity]
