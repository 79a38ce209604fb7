"""Shared base of the DN0xx checks: findings that come from reading the input.

The parsers report them while reading (as :class:`~dnlint.ir.Diagnostic`); a DN0xx check
module documents its code and passes those diagnostics on as findings.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Check, CheckContext, Finding


class InputCheck(Check):
    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for d in ctx.dump.diagnostics:
            if d.code == self.code:
                yield self.finding(d.message, d.span, severity=d.severity if d.severity != self.severity else None)
