"""Render findings for people (text) and for machines (json, github annotations, sarif)."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .diagnostics import INPUT_CODES
from .ir import Diagnostic, Severity

SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
HELP_URI = "https://dnlint.invalid/rules/{code}"  # the docs site is not published yet


@dataclass(frozen=True, slots=True)
class Finding:
    diagnostic: Diagnostic

    @property
    def code(self) -> str:
        return self.diagnostic.code

    @property
    def name(self) -> str:
        return INPUT_CODES.get(self.code, ("",))[0]


def code_selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """ruff-style selection: a code is kept if a --select prefix matches and no --ignore does."""
    if select and not any(code.startswith(s) for s in select):
        return False
    return not any(code.startswith(i) for i in ignore)


def fails(findings: Iterable[Diagnostic], fail_on: str) -> bool:
    if fail_on == "never":
        return False
    threshold = SEVERITY_ORDER[Severity(fail_on)]
    return any(SEVERITY_ORDER[d.severity] >= threshold for d in findings)


def _use_colour(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


_COLOURS = {Severity.ERROR: "\x1b[31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}


def render_text(findings: Sequence[Diagnostic], files: Sequence[str], stream=None) -> str:
    stream = stream or sys.stdout
    colour = _use_colour(stream)
    bold, reset = ("\x1b[1m", "\x1b[0m") if colour else ("", "")
    out: list[str] = []
    cache: dict[str, list[str]] = {}
    by_file: dict[str, list[Diagnostic]] = {}
    for d in findings:
        by_file.setdefault(d.span.file if d.span else "<input>", []).append(d)
    for file in list(files) + [f for f in by_file if f not in files]:
        items = by_file.get(file)
        if not items:
            continue
        out.append(f"{bold}{file}{reset}")
        for d in sorted(items, key=lambda d: (d.span.line if d.span else 0, d.span.col if d.span else 0)):
            sev = d.severity.value
            if colour:
                sev = f"{_COLOURS[d.severity]}{sev}{reset}"
            where = f"{d.span.line}:{d.span.col}" if d.span else "-"
            name = INPUT_CODES.get(d.code, ("",))[0]
            out.append(f"  {where}: {bold}{d.code}{reset} [{sev}] {d.message}" + (f"  ({name})" if name else ""))
            quoted = _quote(cache, d)
            if quoted is not None:
                out.append(f"      | {quoted}")
    counts = Counter(d.severity for d in findings)
    if findings:
        out.append(
            f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} "
            f"({counts[Severity.ERROR]} error, {counts[Severity.WARNING]} warning, {counts[Severity.INFO]} info) "
            f"in {len(files)} file{'s' if len(files) != 1 else ''}."
        )
    else:
        out.append(f"No findings in {len(files)} file{'s' if len(files) != 1 else ''}.")
    return "\n".join(out) + "\n"


def _quote(cache: dict[str, list[str]], d: Diagnostic) -> str | None:
    if not d.span:
        return None
    lines = cache.get(d.span.file)
    if lines is None:
        try:
            lines = Path(d.span.file).read_text(encoding="utf-8", errors="replace").split("\n")
        except OSError:
            lines = []
        cache[d.span.file] = lines
    if 0 < d.span.line <= len(lines):
        text = lines[d.span.line - 1].rstrip("\r").strip()
        if len(text) > 160:
            text = text[:157] + "..."
        return text
    return None


def render_json(findings: Sequence[Diagnostic], files: Sequence[str]) -> str:
    counts = Counter(d.severity.value for d in findings)
    data = {
        "dnlint": __version__,
        "schema": 1,
        "files": list(files),
        "findings": [
            {
                "code": d.code,
                "name": INPUT_CODES.get(d.code, ("",))[0],
                "severity": d.severity.value,
                "message": d.message,
                "file": d.span.file if d.span else None,
                "line": d.span.line if d.span else None,
                "col": d.span.col if d.span else None,
            }
            for d in findings
        ],
        "summary": {"total": len(findings), **{s.value: counts.get(s.value, 0) for s in Severity}},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_github(findings: Sequence[Diagnostic]) -> str:
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    out = []
    for d in findings:
        msg = d.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        loc = f"file={d.span.file},line={d.span.line},col={d.span.col}," if d.span else ""
        out.append(f"::{level[d.severity]} {loc}title={d.code}::{d.code} {msg}")
    return "\n".join(out) + ("\n" if out else "")


def render_sarif(findings: Sequence[Diagnostic]) -> str:
    codes = sorted({d.code for d in findings} | set(INPUT_CODES))
    rules = []
    for code in codes:
        name, severity, summary = INPUT_CODES.get(code, (code, Severity.WARNING, code))
        rules.append({
            "id": code,
            "name": name,
            "shortDescription": {"text": summary},
            "help": {"text": summary},
            "helpUri": HELP_URI.format(code=code),
            "defaultConfiguration": {"level": _sarif_level(severity)},
        })
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for d in findings:
        result = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _sarif_level(d.severity),
            "message": {"text": d.message},
        }
        if d.span:
            result["locations"] = [{
                "physicalLocation": {
                    "artifactLocation": {"uri": d.span.file},
                    "region": {"startLine": max(1, d.span.line), "startColumn": max(1, d.span.col)},
                }
            }]
        results.append(result)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "dnlint", "version": __version__,
                                "informationUri": "https://dnlint.invalid/", "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _sarif_level(severity: Severity) -> str:
    return {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[severity]
