"""A block of dump text handed to a format parser, with the way back to file positions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .ir import Span


@dataclass(frozen=True, slots=True)
class Text:
    """Consecutive lines of one file.

    ``lines`` hold the text without line endings and with ``indent`` leading characters
    removed from each (the common indentation of a transcript). ``lines[i]`` is line
    ``first_line + i`` of ``file``; a column ``c`` (1-based) in it is column
    ``indent + c`` in the file.
    """

    file: str
    lines: Sequence[str]
    first_line: int = 1
    indent: int = 0

    def span(self, index: int, col: int = 1) -> Span:
        return Span(self.file, self.first_line + index, self.indent + col)

    @classmethod
    def from_string(cls, data: str, file: str = "<string>") -> "Text":
        return cls(file, data.splitlines())
