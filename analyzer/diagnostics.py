"""Input diagnostics (DN0xx): what dnlint could not read, or read only approximately.

Each code is permanent. Parsers create diagnostics with :func:`diag`; the CLI reports
them like lint findings (``dnlint check``).
"""

from __future__ import annotations

from .ir import Diagnostic, Severity, Span

# code -> (name, default severity, one-line summary)
INPUT_CODES: dict[str, tuple[str, Severity, str]] = {
    "DN001": ("input.unparsable-line", Severity.ERROR,
              "A line of the dump could not be parsed; it was skipped."),
    "DN002": ("input.unknown-match", Severity.INFO,
              "A match module dnlint does not model; rules using it are approximated."),
    "DN003": ("input.unknown-target", Severity.INFO,
              "A target dnlint does not model; rules using it are approximated."),
    "DN004": ("input.lossy-listing", Severity.WARNING,
              "Rules read from an `iptables -L` listing, which cannot show everything a rule holds."),
    "DN005": ("input.legacy-and-nft", Severity.WARNING,
              "Both iptables-legacy and iptables-nft tables are present; the kernel runs both."),
    "DN006": ("input.unresolved-hostname", Severity.WARNING,
              "A host name stands where an address should be; it is kept unresolved."),
    "DN007": ("input.table-inferred", Severity.INFO,
              "A listing's table was not named by its command and was inferred from its chains."),
    "DN008": ("input.unrecognised-section", Severity.INFO,
              "A section of the dump is output of a command dnlint does not read."),
    "DN009": ("input.missing-fact", Severity.INFO,
              "A fact the analysis depends on is absent from the dump and will be assumed."),
    "DN010": ("input.nothing-found", Severity.ERROR,
              "Nothing dnlint reads (rules or host facts) was found in the file."),
    "DN011": ("input.command-failed", Severity.INFO,
              "A command of the dump failed or was missing when the dump was collected."),
    "DN012": ("input.partial-output", Severity.WARNING,
              "A section holds filtered output (piped through grep, head, ...): rules may be missing."),
    "DN015": ("input.truncated-save", Severity.ERROR,
              "A table of iptables-save input never reaches COMMIT: the input is cut short."),
    "DN016": ("input.native-nftables", Severity.WARNING,
              "Native nftables base chains the iptables model does not see; answers through their hooks are unknown."),
}


def diag(code: str, message: str, span: Span | None = None, severity: Severity | None = None) -> Diagnostic:
    name, default, _ = INPUT_CODES[code]
    return Diagnostic(code, severity or default, message, span)
