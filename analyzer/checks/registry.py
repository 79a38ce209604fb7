"""Finding every check: each ``analyzer/checks/dn*.py`` module holds one Check subclass."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from .base import Check


@lru_cache(maxsize=1)
def all_checks() -> dict[str, type[Check]]:
    from .. import checks as package

    found: dict[str, type[Check]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("dn"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Check) and value is not Check and value.code:
                if value.__module__ != module.__name__:
                    continue
                if value.code in found:
                    raise RuntimeError(f"code {value.code} defined twice ({found[value.code].__module__}, {module.__name__})")
                found[value.code] = value
    return dict(sorted(found.items()))


def check_class(code: str) -> type[Check] | None:
    return all_checks().get(code.upper())
