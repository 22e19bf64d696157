"""Public names a package imports on first use (PEP 562): ``wfsim`` and ``wfsim.report``."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_dir", "lazy_name"]


def lazy_name(
    package: str, homes: Mapping[str, str], namespace: MutableMapping[str, Any], name: str
) -> Any:
    """``name`` of ``package`` from the module ``homes`` says it lives in, kept in the
    package's ``namespace`` so later lookups are plain attribute reads."""
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    namespace[name] = value
    return value


def lazy_dir(namespace: Iterable[str], public: Iterable[str]) -> list[str]:
    """What ``dir(package)`` lists: what it holds now and every public name."""
    return sorted(set(namespace) | set(public))
