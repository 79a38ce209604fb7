"""Plain-data (JSON) form of the IR and of answers.

The JSON of ``dnlint parse --format json`` is the IR itself: every dataclass becomes an
object with its fields in declaration order (names exactly as in :mod:`dnlint.ir`),
enums become their string values, tuples become arrays, frozensets sorted arrays, and
absent values ``null``. The top level adds ``"dnlint"`` (the version) and
``"schema"`` (bumped on any incompatible change).
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Any

from . import __version__

PARSE_SCHEMA = 1


def to_data(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (tuple, list)):
        return [to_data(x) for x in obj]
    if isinstance(obj, frozenset):
        return sorted(to_data(x) for x in obj)
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    return obj


def dump_json(dump) -> str:
    data = {"dnlint": __version__, "schema": PARSE_SCHEMA}
    data.update(to_data(dump))
    return json.dumps(data, indent=2, ensure_ascii=False)
