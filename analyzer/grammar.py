"""Building the lark parsers of grammars/*.lark once per process, and their LALR tables once per
version: lark's own cache (a pickle of the analysed grammar) kept under the user's cache
directory, so that a CLI run does not pay for the grammar analysis every time."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lark import Lark


def _cache_file(name: str, text: str, options: dict) -> str | None:
    if os.environ.get("DNLINT_NO_CACHE"):
        return None
    import lark

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "dnlint"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    digest = hashlib.sha256(f"{lark.__version__}\0{sorted(map(str, options.items()))}\0{text}".encode()).hexdigest()
    return str(folder / f"{Path(name).stem}-{digest[:16]}.lark")


def lark_parser(text: str, name: str, **options) -> Lark:
    """``Lark(text, **options)``, from the on-disk cache when it can be used."""
    cache = _cache_file(name, text, options)
    if cache is not None:
        try:
            return Lark(text, cache=cache, **options)
        except Exception:  # an unusable cache file (another version, a full disk): build afresh
            pass
    return Lark(text, **options)
