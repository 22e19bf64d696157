"""Values as a run keeps them: JSON data for the trace, canonical forms of cache keys."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_key"]

#: What ``_jsonable`` returns for a value the trace does not record.
_MISSING: Any = object()
_MAX_OUTPUT_CHARS = 2000


class _Tagged(tuple[Any, ...]):
    """A canonical mapping, list or set: never equal to a plain tuple of the same items."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is _Tagged and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return tuple.__hash__(self)


def canonical_key(value: Any) -> Any:
    """A hashable form of a cache key, equal for equal keys (CACHE-1).

    Mappings compare as mappings (any key order), lists as lists, sets as sets,
    tuples as tuples of canonical items; other values as themselves. Raises
    ``TypeError`` for a value that is none of these and not hashable.
    """
    if isinstance(value, Mapping):
        items = frozenset((canonical_key(k), canonical_key(v)) for k, v in value.items())
        return _Tagged(("mapping", items))
    if isinstance(value, list):
        return _Tagged(("list", tuple(canonical_key(v) for v in value)))
    if isinstance(value, set | frozenset):
        return _Tagged(("set", frozenset(canonical_key(v) for v in value)))
    if isinstance(value, tuple):
        return tuple(canonical_key(v) for v in value)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"a cache key is made of hashable values, mappings, lists and sets; "
            f"{type(value).__name__} {value!r} is none of them"
        ) from None
    return value


#: Exact types json writes as themselves and reads back equal (floats: finite ones).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data if it is small and JSON-able, else ``_MISSING``."""
    if value is None:
        return _MISSING
    if not isinstance(value, (dict, list, tuple, str, int, float)):
        return _MISSING  # what json.dumps refuses (without raising and catching)
    if type(value) is dict and _flat_and_short(value):
        return dict(value)  # what the round trip below gives, without making the text
    if type(value) in _SCALARS and _flat_and_short({"": value}):
        return value  # a scalar reads back equal to itself
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return _MISSING
    if len(text) > _MAX_OUTPUT_CHARS:
        return _MISSING
    return json.loads(text)


def _flat_and_short(value: dict[Any, Any]) -> bool:
    """Whether the round trip through JSON text gives ``value`` back as is: string keys,
    scalar values of exact types (finite floats), and surely under the size limit
    (a string's JSON is at most 6 characters a character plus its quotes)."""
    size = 2
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or kind not in _SCALARS:
            return False
        if kind is str:
            size += 6 * len(item) + 2
        elif kind is float:
            if not math.isfinite(item):
                return False
            size += 25
        elif kind is int and not -(10**20) < item < 10**20:
            return False
        else:
            size += 21
        size += 6 * len(key) + 4
        if size > _MAX_OUTPUT_CHARS:
            return False
    return True
