"""``dnlint check`` as an API: configuration, rulesets, running the checks, suppressions.

    from dnlint.lint import LintConfig, lint_dump
    result = lint_dump(load_dump("host.txt"), LintConfig.load(ruleset="docker"))
    for f in result.findings: print(f.code, f.span, f.message)

Configuration comes from ``--ruleset`` (a name under ``rulesets/`` or a path to a TOML
file), then ``[tool.dnlint]`` in ``pyproject.toml`` or a ``dnlint.toml`` (the nearest one
from the current directory up), then the command line (``--select``, ``--ignore``,
``--fail-on``), each overriding the one before.

Finding the project configuration: starting in the current directory and going up to the
root, the first directory holding a ``dnlint.toml`` or a ``pyproject.toml`` with a
``[tool.dnlint]`` table gives the configuration, and the search stops there (files are
never merged). When one directory has both, ``dnlint.toml`` wins and ``pyproject.toml``
is not read. A ``pyproject.toml`` without ``[tool.dnlint]`` is passed over (the search goes
on upwards), but one that is not valid TOML is an error. ``dnlint.toml`` holds the keys at
its top level; ``pyproject.toml`` under ``[tool.dnlint]``.

Keys (the same in a ruleset file's ``[ruleset]`` table and in the project configuration):
``ruleset`` (project only: the ruleset to start from when ``--ruleset`` is not given),
``extends`` (ruleset file only: a ruleset name or TOML path applied first), ``select``
(codes or prefixes such as ``DN1``; replaces the earlier selection; ``ALL`` = every code),
``extend-select`` (adds to it), ``ignore`` (adds to the ignored codes or prefixes),
``fail-on`` (``error``, ``warning``, ``info`` or ``never``), ``[severity]`` (``DN101 =
"warning"``: per-code severity of the findings, also used by ``fail-on``), ``[options.DNxxx]``
(options of a check) and ``[[invariant]]`` (DN401). On the command line ``--select``
replaces the selection and ``--ignore`` adds to the ignored codes. A code or prefix that
names no check, bad TOML, an unknown ruleset name or a bad value is a :class:`ConfigError`
(``dnlint check`` prints it and exits 2).

Inline suppression: a rule's iptables comment holding ``dnlint: disable=DN201 reason``
(several codes separated by commas) silences those codes for findings on that rule's
line. A suppression must give a reason (DN014 otherwise) and must silence something
(DN013 otherwise).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from .checks.base import CheckContext, Finding
from .checks.registry import all_checks
from .ir import HostDump, Severity, Span

SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
_SUPPRESS = re.compile(r"dnlint:\s*disable=([A-Za-z0-9_]+(?:\s*,\s*[A-Za-z0-9_]+)*)\s*(.*)$")


class ConfigError(ValueError):
    """A ruleset or configuration file that cannot be used."""


@dataclass
class Invariant:
    """A declarative reachability claim of a ruleset, checked with the engine (DN401)."""

    name: str
    src: str
    dst: str
    expect: str  # "unreachable" or "reachable"
    port: int | None = None
    proto: str = "tcp"
    description: str = ""


@dataclass
class LintConfig:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    invariants: list[Invariant] = field(default_factory=list)
    fail_on: str = "error"
    ruleset: str = "recommended"
    sources: list[str] = field(default_factory=list)  # which files configured this

    @classmethod
    def load(cls, *, ruleset: str | None = None, cwd: Path | None = None, select=None, ignore=None,
             fail_on: str | None = None) -> "LintConfig":
        cfg = cls()
        project = _project_config(cwd or Path.cwd())
        name = ruleset
        base_dir = Path.cwd()
        if name is None and project and project.get("ruleset"):
            name = project["ruleset"]
            base_dir = Path(project["__source__"]).parent  # a path in a config file is relative to it
        cfg._apply_ruleset(name or "recommended", base_dir, ())
        if project:
            cfg._apply(project, project.get("__source__", "project config"))
        known = set(all_checks())
        if select:
            cfg.select = _codes(list(select), known, "--select")
        if ignore:
            cfg.ignore = cfg.ignore + _codes(list(ignore), known, "--ignore")
        if fail_on:
            cfg.fail_on = fail_on
        return cfg

    def _apply_ruleset(self, name: str, base_dir: Path, seen: tuple[str, ...]) -> None:
        path = Path(name)
        if path.suffix == ".toml" or "/" in name:
            if not path.is_absolute():
                path = base_dir / path
            if not path.exists():
                raise ConfigError(f"ruleset file {name!r} does not exist")
            text = path.read_text(encoding="utf-8")
            source = str(path)
            key = str(path.resolve())
            next_dir = path.parent
        else:
            res = files("dnlint.rulesets").joinpath(f"{name}.toml")
            if not res.is_file():
                known = ", ".join(sorted(available_rulesets()))
                raise ConfigError(f"no ruleset named {name!r} (known: {known})")
            text = res.read_text(encoding="utf-8")
            source = f"ruleset {name}"
            key = f"builtin:{name}"
            next_dir = base_dir
        if key in seen:
            raise ConfigError(f"{source}: `extends` goes round in a cycle ({' -> '.join(seen + (key,))})")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{source}: {e}") from e
        base = data.get("ruleset", {}).get("extends")
        if base:
            self._apply_ruleset(base, next_dir, seen + (key,))
        self.ruleset = data.get("ruleset", {}).get("name", name)
        self._apply(data.get("ruleset", {}) | {k: v for k, v in data.items() if k != "ruleset"}, source)

    def _apply(self, data: dict, source: str) -> None:
        unknown = sorted(k for k in data if k not in _CONFIG_KEYS and not k.startswith("__"))
        if unknown:
            raise ConfigError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(repr(k) for k in unknown)} (known: {', '.join(sorted(_CONFIG_KEYS))})")
        codes = set(all_checks())
        if "select" in data:
            self.select = _codes(data["select"], codes, source)
        if "extend-select" in data:
            self.select = self.select + _codes(data["extend-select"], codes, source)
        if "ignore" in data:
            self.ignore = self.ignore + _codes(data["ignore"], codes, source)
        if "fail-on" in data:
            if data["fail-on"] not in ("error", "warning", "info", "never"):
                raise ConfigError(f"{source}: fail-on must be error, warning, info or never")
            self.fail_on = data["fail-on"]
        for code, sev in (data.get("severity") or {}).items():
            if code.upper() not in codes:
                raise ConfigError(f"{source}: unknown code {code!r} in [severity]")
            try:
                self.severity[code.upper()] = Severity(sev)
            except ValueError:
                raise ConfigError(f"{source}: severity of {code} must be error, warning or info") from None
        for code, opts in (data.get("options") or {}).items():
            self.options.setdefault(code.upper(), {}).update(opts)
        for inv in data.get("invariant", []) or []:
            try:
                self.invariants.append(Invariant(
                    name=inv["name"], src=inv["from"], dst=inv["to"], expect=inv.get("expect", "unreachable"),
                    port=inv.get("port"), proto=inv.get("proto", "tcp"), description=inv.get("description", "")))
            except KeyError as e:
                raise ConfigError(f"{source}: an [[invariant]] needs {e.args[0]!r}") from None
        self.sources.append(source)

    def enabled(self, code: str) -> bool:
        if self.select and not any(code.startswith(s) for s in self.select):
            return False
        return not any(code.startswith(i) for i in self.ignore)


_CONFIG_KEYS = {"name", "description", "extends", "ruleset", "select", "extend-select", "ignore", "fail-on",
                "severity", "options", "invariant"}


def _codes(values, known: set[str], source: str) -> list[str]:
    out = []
    for v in values if isinstance(values, list) else [values]:
        v = str(v).strip().upper()
        if v == "ALL":
            v = "DN"
        if not any(k.startswith(v) for k in known):
            raise ConfigError(f"{source}: {v!r} selects no code")
        out.append(v)
    return out


def available_rulesets() -> list[str]:
    return sorted(p.name[:-5] for p in files("dnlint.rulesets").iterdir() if p.name.endswith(".toml"))


def _project_config(cwd: Path) -> dict | None:
    for d in [cwd, *cwd.parents]:
        for name in ("dnlint.toml", "pyproject.toml"):
            p = d / name
            if not p.is_file():
                continue
            try:
                data = tomllib.loads(p.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError) as e:
                raise ConfigError(f"{p}: {e}") from e
            section = data if name == "dnlint.toml" else data.get("tool", {}).get("dnlint")
            if section is not None:
                section = dict(section)
                section["__source__"] = str(p)
                return section
    return None


# --------------------------------------------------------------------------- running


@dataclass
class LintResult:
    findings: list[Finding]
    suppressed: list[Finding]
    errors: list[str]  # checks that failed (a bug in dnlint), reported, not raised


@dataclass
class _Suppression:
    codes: tuple[str, ...]
    reason: str
    span: Span
    used: set[str] = field(default_factory=set)


def _suppressions(ctx: CheckContext) -> dict[tuple[str, int], _Suppression]:
    out = {}
    for fam in ctx.families():
        for ref in ctx.rules(fam):
            m = None
            for mt in ref.rule.matches:  # any of the rule's comments may carry the directive
                if mt.module == "comment":
                    opt = mt.option("--comment")
                    m = _SUPPRESS.search(opt.args[0]) if opt and opt.args else None
                    if m:
                        break
            if not m:
                continue
            codes = tuple(c.strip().upper() for c in m.group(1).split(",") if c.strip())
            out[(ref.rule.span.file, ref.rule.span.line)] = _Suppression(codes, m.group(2).strip(), ref.rule.span)
    return out


def lint_dump(dump: HostDump, config: LintConfig | None = None, *,
              run_check: Callable[[str, Callable[[], list[Finding]]], list[Finding]] | None = None) -> LintResult:
    """Every enabled check on ``dump``. ``run_check(code, run)``, when given, runs each check
    (``run()`` returns its findings): a place to time checks or bound their run time."""
    config = config or LintConfig.load()
    ctx = CheckContext(dump, options=config.options)
    findings: list[Finding] = []
    errors: list[str] = []
    for code, cls in all_checks().items():
        if code in ("DN013", "DN014") or not config.enabled(code):
            continue
        run = (lambda check=cls(): list(check.run(ctx)))
        try:
            findings.extend(run_check(code, run) if run_check else run())
        except Exception as e:  # a failing check must not hide the others
            errors.append(f"{code}: internal error {e!r}")
    try:
        findings.extend(_invariants(ctx, config))
    except _CheckFailed as e:
        errors.append(str(e))
    sups = _suppressions(ctx)
    kept, suppressed = [], []
    for f in findings:
        s = sups.get((f.span.file, f.span.line)) if f.span else None
        if s and f.code in s.codes:
            s.used.add(f.code)
            suppressed.append(f)
        else:
            kept.append(f)
    from .checks.registry import check_class

    for s in sups.values():
        for code in s.codes:
            ran = check_class(code) is None or (config.enabled(code) and not any(
                e.startswith(f"{code}:") for e in errors))
            if code not in s.used and ran and config.enabled("DN013") and check_class("DN013"):
                known = check_class(code) is not None
                msg = (f"suppression of {code} is unused: no {code} finding on this rule" if known
                       else f"suppression names {code}, which is not a dnlint code")
                kept.append(check_class("DN013")().finding(msg, s.span))
        if not s.reason and config.enabled("DN014") and check_class("DN014"):
            kept.append(check_class("DN014")().finding(
                f"suppression of {', '.join(s.codes)} gives no reason; write `dnlint: disable={','.join(s.codes)} "
                "<why>`", s.span))
    if config.severity:
        kept = [Finding(f.code, config.severity.get(f.code, f.severity), f.message, f.span, f.fix, f.flow, f.related)
                for f in kept]
    kept.sort(key=lambda f: (f.span.file if f.span else "", f.span.line if f.span else 0,
                             f.span.col if f.span else 0, f.code))
    return LintResult(kept, suppressed, errors)


def _invariants(ctx: CheckContext, config: LintConfig) -> list[Finding]:
    if not config.invariants or not config.enabled("DN401"):
        return []
    from .checks.registry import check_class

    cls = check_class("DN401")
    if cls is None:
        return []
    try:
        return list(cls().evaluate(ctx, config.invariants))
    except Exception as e:  # reported by lint_dump's caller as a failed check, like any other
        raise _CheckFailed(f"DN401: internal error {e!r}") from e


class _CheckFailed(Exception):
    pass


def fails(findings: list[Finding], fail_on: str) -> bool:
    if fail_on == "never":
        return False
    threshold = SEVERITY_ORDER[Severity(fail_on)]
    return any(SEVERITY_ORDER[f.severity] >= threshold for f in findings)
