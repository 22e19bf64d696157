"""Virtual time as exact integers.

The engine keeps time in integer nanoseconds so that sums of ``100ms`` steps
never drift; the API and the trace show seconds (``0.3``, not
``0.30000000000000004``). Durations may be given as numbers of seconds or as
strings such as ``"250ms"``, ``"1.5s"``, ``"2m"``, ``"1h"``.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal, InvalidOperation

NS_PER_SECOND = 1_000_000_000

#: What the API accepts wherever it takes a duration.
Duration = int | float | str | _dt.timedelta

DEFAULT_EPOCH = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)

_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3600 * NS_PER_SECOND,
    "d": 86400 * NS_PER_SECOND,
}
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ns|us|ms|s|m|h|d)?\s*$")


def to_ns(value: Duration, *, what: str = "duration", allow_negative: bool = False) -> int:
    """Convert a duration (seconds, ``"250ms"``, ``timedelta``) to integer nanoseconds.

    Decimal arithmetic is used for numbers and strings, so ``0.1`` becomes
    exactly 100,000,000 ns. Raises ``ValueError`` naming ``what`` for
    malformed or negative values.
    """
    if isinstance(value, bool):
        raise ValueError(
            f"{what} must be a number of seconds or a string like '250ms', not {value!r}"
        )
    if isinstance(value, _dt.timedelta):
        ns = (value.days * 86400 + value.seconds) * NS_PER_SECOND + value.microseconds * 1000
    elif isinstance(value, int):
        ns = value * NS_PER_SECOND
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{what} must be finite, not {value!r}")
        ns = int((Decimal(repr(value)) * NS_PER_SECOND).to_integral_value())
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match is None:
            raise ValueError(
                f"{what} {value!r} is not a duration: expected seconds or a number with a unit "
                f"(ns, us, ms, s, m, h, d), e.g. '250ms', '1.5s', '2m', '1h'"
            )
        try:
            number = Decimal(match.group(1))
        except InvalidOperation:  # pragma: no cover - the regex admits only decimals
            raise ValueError(f"{what} {value!r} is not a number") from None
        ns = int((number * _UNITS[match.group(2) or "s"]).to_integral_value())
    else:
        raise ValueError(
            f"{what} must be a number of seconds or a string like '250ms', "
            f"not {type(value).__name__} {value!r}"
        )
    if ns < 0 and not allow_negative:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return ns


def to_seconds(ns: int) -> float:
    """Integer nanoseconds to seconds; correctly rounded, so ``300000000 -> 0.3``."""
    return ns / NS_PER_SECOND


def exact_seconds(ns: int) -> str:
    """Seconds as an exact decimal string: ``100001750000000 -> "100001.75"``."""
    text = format(Decimal(ns).scaleb(-9), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_seconds(ns: int) -> str:
    """A short, exact human form: ``1.5s``, ``2h``, ``250ms``, ``100001.75s``.

    Never rounded: a time printed here reads back to the same nanoseconds
    with :func:`to_ns`.
    """
    if ns == 0:
        return "0s"
    for unit, size in (("h", _UNITS["h"]), ("m", _UNITS["m"]), ("s", NS_PER_SECOND)):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    if abs(ns) >= NS_PER_SECOND:
        return f"{exact_seconds(ns)}s"
    return f"{exact_seconds(ns * 1000)}ms"


def wall_time(epoch: _dt.datetime, ns: int) -> _dt.datetime:
    """The wall-clock instant ``epoch + ns`` (microsecond resolution)."""
    return epoch + _dt.timedelta(microseconds=ns // 1000)
