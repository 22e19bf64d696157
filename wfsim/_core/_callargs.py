"""A body call's arguments in a stable, JSON form: what the trace records (TRACE-5).

A recorded history must let new code be checked against a call's arguments
(specs/imperative.md IMP-12, IMP-14), so a body's ``step_ready`` and
``child_started`` carry ``args``: the call's positional and keyword arguments as
``[[positional...], {keyword: value}]`` in a canonical JSON form, or, when that
form is longer than :data:`MAX_ARGS_CHARS`, ``"sha256:"`` and the first 16 hex
digits of its hash. The form depends only on the values, never on the process:

* JSON values stay as they are (mapping keys sorted when encoded); tuples are lists;
* a non-finite float, bytes, a set, a mapping with keys that are not strings, an
  enum member, a date or time, a ``Decimal``/``UUID``/``Path``..., an attrs class,
  a dataclass and any object whose ``repr`` is the default one are a tagged
  mapping ``{"$type": "module.Qualname", ...}`` of their content (sets and
  non-string keys sorted by their encoded form);
* a function or a class is ``{"$type": "function"|"class", "name": "module.qualname"}``;
* any other object is its ``repr`` with memory addresses (``0x7f...``) blanked;
* nesting deeper than :data:`MAX_DEPTH` is cut (``"..."``), so a cycle ends.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import fractions
import hashlib
import json
import math
import pathlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["MAX_ARGS_CHARS", "call_args", "describe_args", "encode_args", "traced_args"]

#: A canonical form longer than this is recorded as its hash.
MAX_ARGS_CHARS = 256
#: How deep values are followed.
MAX_DEPTH = 12

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")
_AS_TEXT = (
    _dt.date,
    _dt.time,
    _dt.timedelta,
    decimal.Decimal,
    uuid.UUID,
    pathlib.PurePath,
    fractions.Fraction,
    complex,
)


def call_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """What the trace records for a call with ``args`` and ``kwargs``: the canonical
    ``[[args...], {kwargs}]``, or ``"sha256:<16 hex>"`` when its text is too long."""
    return traced_args(args, kwargs)[0]


def traced_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
    """:func:`call_args` and its :func:`encode_args` text, encoded once."""
    value = [[_canon(a, 0) for a in args], {str(k): _canon(kwargs[k], 0) for k in sorted(kwargs)}]
    text = _ENCODE(value)
    if len(text) > MAX_ARGS_CHARS:
        digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
        return digest, digest
    return value, text


def encode_args(recorded: Any) -> str:
    """The text two recorded (or new) ``args`` values compare by."""
    return recorded if isinstance(recorded, str) else _ENCODE(recorded)


def describe_args(recorded: Any) -> str:
    """``({"id":7}, cents=250)``: recorded ``args`` as a call's argument list, for messages."""
    if isinstance(recorded, str):
        return f"(<arguments {recorded}>)"
    try:
        positional, keywords = recorded
        parts = [_ENCODE(a) for a in positional]
        parts += [f"{k}={_ENCODE(v)}" for k, v in keywords.items()]
    except (TypeError, ValueError, AttributeError):
        return f"(<arguments {_ENCODE(recorded)}>)"
    return f"({', '.join(parts)})"


def _name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', None) or getattr(obj, '__name__', '?')}"


def _tagged(obj: Any, /, **content: Any) -> dict[str, Any]:
    return {"$type": _name(type(obj)), **content}


def _canon(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, enum.Enum):
            return _tagged(value, name=value.name)
        return value
    if depth >= MAX_DEPTH:
        return "..."
    deeper = depth + 1
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$type": "float", "value": repr(value)}
    if isinstance(value, (list, tuple)):
        return [_canon(v, deeper) for v in value]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value):
            return {k: _canon(value[k], deeper) for k in sorted(value)}
        pairs = [[_canon(k, deeper), _canon(v, deeper)] for k, v in value.items()]
        return _tagged(value, items=sorted(pairs, key=_ENCODE))
    if isinstance(value, (set, frozenset)):
        return _tagged(value, items=sorted((_canon(v, deeper) for v in value), key=_ENCODE))
    if isinstance(value, (bytes, bytearray)):
        return _tagged(value, hex=bytes(value).hex())
    if isinstance(value, enum.Enum):
        return _tagged(value, name=value.name)
    if isinstance(value, _AS_TEXT):
        return _tagged(value, value=str(value))
    if isinstance(value, type):
        return {"$type": "class", "name": _name(value)}
    if attrs.has(type(value)):
        fields = {
            a.name: _canon(getattr(value, a.name, None), deeper) for a in attrs.fields(type(value))
        }
        return _tagged(value, fields=fields)
    if dataclasses.is_dataclass(value):
        fields = {
            f.name: _canon(getattr(value, f.name, None), deeper) for f in dataclasses.fields(value)
        }
        return _tagged(value, fields=fields)
    if callable(value) and hasattr(value, "__qualname__"):
        return {"$type": "function", "name": _name(value)}
    if type(value).__repr__ is object.__repr__:  # type: ignore[comparison-overlap]
        state = getattr(value, "__dict__", None)
        if isinstance(state, dict):
            fields = {str(k): _canon(state[k], deeper) for k in sorted(state, key=str)}
            return _tagged(value, fields=fields)
        return _tagged(value)
    try:
        text = repr(value)
    except Exception:  # a broken __repr__: the type is all that is stable
        return _tagged(value)
    return _tagged(value, repr=_ADDRESS.sub("0x…", text))
