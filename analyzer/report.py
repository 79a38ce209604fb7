"""Render findings for people (text) and for machines (json, sarif, github annotations).

The JSON of ``dnlint check --format json`` (schema 1)::

    {"dnlint": "0.1.0", "schema": 1, "files": [...],
     "findings": [{"code", "name", "severity", "message", "file", "line", "col", "fix", "flow"}],
     "summary": {"total", "error", "warning", "info"}}
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .checks.base import Finding
from .ir import Severity

HELP_URI = "https://dnlint.invalid/rules/{code}"  # the docs site is not published yet; `dnlint rule CODE`


def _name(code: str) -> str:
    from .checks.registry import check_class

    cls = check_class(code)
    return cls.name if cls else ""


def _use_colour(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


_COLOURS = {Severity.ERROR: "\x1b[31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}


def render(fmt: str, findings: Sequence[Finding], files: Sequence[str], stream=None) -> str:
    if fmt == "json":
        return render_json(findings, files)
    if fmt == "sarif":
        return render_sarif(findings)
    if fmt == "github":
        return render_github(findings)
    return render_text(findings, files, stream)


def render_text(findings: Sequence[Finding], files: Sequence[str], stream=None) -> str:
    colour = _use_colour(stream) if stream is not None else False
    bold, dim, reset = ("\x1b[1m", "\x1b[2m", "\x1b[0m") if colour else ("", "", "")
    out: list[str] = []
    cache: dict[str, list[str]] = {}
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.span.file if f.span else "<input>", []).append(f)
    for file in list(files) + [f for f in by_file if f not in files]:
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
                out.append(f"      | {quoted}")
            if f.flow:
                out.append(f"      flow: {f.flow}")
            if f.fix:
                out.append(f"      fix: {f.fix}")
    counts = Counter(f.severity for f in findings)
    n = len(files)
    if findings:
        out.append(f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} "
                   f"({counts[Severity.ERROR]} error, {counts[Severity.WARNING]} warning, {counts[Severity.INFO]} info) "
                   f"in {n} file{'s' if n != 1 else ''}. `dnlint rule CODE` explains a code.")
    else:
        out.append(f"No findings in {n} file{'s' if n != 1 else ''}.")
    return "\n".join(out) + "\n"


def _quote(cache: dict[str, list[str]], f: Finding) -> str | None:
    if not f.span:
        return None
    lines = cache.get(f.span.file)
    if lines is None:
        try:
            lines = Path(f.span.file).read_text(encoding="utf-8", errors="replace").split("\n")
        except OSError:
            lines = []
        cache[f.span.file] = lines
    if 0 < f.span.line <= len(lines):
        text = lines[f.span.line - 1].rstrip("\r").strip()
        return text[:157] + "..." if len(text) > 160 else text
    return None


def render_json(findings: Sequence[Finding], files: Sequence[str]) -> str:
    counts = Counter(f.severity.value for f in findings)
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
        "summary": {"total": len(findings), **{s.value: counts.get(s.value, 0) for s in Severity}},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_github(findings: Sequence[Finding]) -> str:
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    out = []
    for f in findings:
        msg = f.message + (f" Fix: {f.fix}" if f.fix else "")
        msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        loc = f"file={f.span.file},line={f.span.line},col={f.span.col}," if f.span else ""
        out.append(f"::{level[f.severity]} {loc}title={f.code} {_name(f.code)}::{f.code} {msg}")
    return "\n".join(out) + ("\n" if out else "")


def render_sarif(findings: Sequence[Finding]) -> str:
    from .checks.registry import all_checks

    checks = all_checks()
    rules = []
    for code, cls in checks.items():
        docs = cls.docs()
        help_text = "\n\n".join(f"{h}\n{docs[h]}" for h in ("What it does", "Why is this bad?", "Example", "How to fix")
                                if docs.get(h))
        rules.append({
            "id": code,
            "name": cls.name,
            "shortDescription": {"text": cls.summary},
            "fullDescription": {"text": docs.get("What it does", cls.summary)},
            "help": {"text": help_text or cls.summary},
            "helpUri": HELP_URI.format(code=code),
            "defaultConfiguration": {"level": _sarif_level(cls.severity)},
        })
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in findings:
        result = {"ruleId": f.code, "level": _sarif_level(f.severity),
                  "message": {"text": f.message + (f" Fix: {f.fix}" if f.fix else "")}}
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.span:
            result["locations"] = [{"physicalLocation": {
                "artifactLocation": {"uri": f.span.file},
                "region": {"startLine": max(1, f.span.line), "startColumn": max(1, f.span.col)},
            }}]
        results.append(result)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "dnlint", "version": __version__, "informationUri": "https://dnlint.invalid/",
                                "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _sarif_level(severity: Severity) -> str:
    return {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[severity]
