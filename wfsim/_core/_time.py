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
#: Whole days, hours and minutes, then (decimal) seconds, largest first, as
#: :func:`format_seconds` writes them: ``1h40m``, ``10m1s``, ``4h0.5s``, ``1d2h``.
_COMPOUND_RE = re.compile(
    r"^\s*(?=[0-9.]+[a-z]+[0-9])(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]*\.?[0-9]+)s)?\s*$"
)


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
        known = _SECONDS.get(value)  # (only finite, non-negative values are kept)
        if known is not None:
            return known
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{what} must be finite, not {value!r}")
        ns = int((Decimal(repr(value)) * NS_PER_SECOND).to_integral_value())
        if ns >= 0 and len(_SECONDS) < 4096:  # the same few durations again and again
            _SECONDS[value] = ns
    elif isinstance(value, str):
        known = _PARSED.get(value)
        if known is not None:
            return known
        ns = _parse(value, what)
        if len(_PARSED) < 4096:  # the same few strings again and again (time limits)
            _PARSED[value] = ns
        return ns
    else:
        raise ValueError(
            f"{what} must be a number of seconds or a string like '250ms', "
            f"not {type(value).__name__} {value!r}"
        )
    if ns < 0 and not allow_negative:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return ns


#: Durations already read from strings (never negative: the grammar has no sign).
_PARSED: dict[str, int] = {}
#: Durations already read from float seconds (the non-negative ones).
_SECONDS: dict[float, int] = {}


def _parse(value: str, what: str) -> int:
    """A duration string (TIME-2) in nanoseconds."""
    match = _DURATION_RE.match(value)
    compound = None if match is not None else _COMPOUND_RE.match(value)
    if compound is not None:
        days, hours, minutes, seconds = compound.groups()
        ns = int(
            (
                Decimal(days or 0) * _UNITS["d"]
                + Decimal(hours or 0) * _UNITS["h"]
                + Decimal(minutes or 0) * _UNITS["m"]
                + Decimal(seconds or 0) * NS_PER_SECOND
            ).to_integral_value()
        )
        return ns
    if match is None:
        raise ValueError(
            f"{what} {value!r} is not a duration: expected seconds or a number with a unit "
            f"(ns, us, ms, s, m, h, d), e.g. '250ms', '1.5s', '2m', '1h'"
        )
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{what} {value!r} is not a number") from None
    return int((number * _UNITS[match.group(2) or "s"]).to_integral_value())


def to_seconds(ns: int) -> float:
    """Integer nanoseconds to seconds; correctly rounded, so ``300000000 -> 0.3``."""
    return ns / NS_PER_SECOND


def exact_seconds(ns: int) -> str:
    """Seconds as an exact decimal string: ``100001750000000 -> "100001.75"``."""
    text = format(Decimal(ns).scaleb(-9), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_seconds(ns: int) -> str:
    """Every duration wfsim shows people: exact, in the largest units that fit.

    ``0s``, ``250ms``, ``1.5s``, ``2m``, ``10m1s``, ``1h40m``, ``4h0.5s``,
    ``27h46m41.75s``: hours, minutes and (decimal) seconds, largest first and
    zero parts left out, below a second in milliseconds. Never rounded: the text
    reads back to the same nanoseconds with :func:`to_ns`. For display only:
    trace values stay numbers of seconds.
    """
    if ns < 0:
        return "-" + format_seconds(-ns)
    if ns == 0:
        return "0s"
    if ns < NS_PER_SECOND:
        return f"{exact_seconds(ns * 1000)}ms"
    hours, rest = divmod(ns, _UNITS["h"])
    minutes, rest = divmod(rest, _UNITS["m"])
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if rest:
        parts.append(f"{exact_seconds(rest)}s")
    return "".join(parts)


def wall_time(epoch: _dt.datetime, ns: int) -> _dt.datetime:
    """The wall-clock instant ``epoch + ns`` (microsecond resolution)."""
    return epoch + _dt.timedelta(microseconds=ns // 1000)
