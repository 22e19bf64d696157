"""Argument checks shared by the strategies: bad arguments fail when the strategy is made.

Every check raises :class:`hypothesis.errors.InvalidArgument` with a sentence
naming the strategy, the argument, the bad value and what was expected, so a
typo in ``@given(workflows(max_steps=0))`` is reported at import time of the
test module, not as a failure inside some later example.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from wfsim.errors import did_you_mean

__all__ = ["check_bool", "check_choices", "check_int", "check_order", "check_strategy"]

T = TypeVar("T")


def check_int(func: str, name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(
            f"{func}(): {name} must be an integer, not {type(value).__name__} {value!r}"
        )
    if value < minimum:
        raise InvalidArgument(f"{func}(): {name} must be at least {minimum}, not {value}")
    return value


def check_order(func: str, low_name: str, low: int, high_name: str, high: int) -> None:
    """``low <= high``, or an error naming both."""
    if low > high:
        raise InvalidArgument(
            f"{func}(): {low_name}={low} is greater than {high_name}={high}; "
            f"{low_name} must be at most {high_name}"
        )


def check_bool(func: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(
            f"{func}(): {name} must be True or False, not {type(value).__name__} {value!r}"
        )
    return value


def check_strategy(func: str, name: str, value: T) -> T:
    """``value`` itself, once it is known to be a strategy."""
    if not isinstance(value, SearchStrategy):
        raise InvalidArgument(
            f"{func}(): {name} must be a Hypothesis strategy (e.g. "
            f"{name}=workflows(max_steps=5)), not {type(value).__name__} {value!r}"
        )
    return value


def check_choices(func: str, name: str, value: object, allowed: Sequence[str]) -> tuple[str, ...]:
    """A non-empty collection of names, each one of ``allowed``; repeats dropped."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidArgument(
            f"{func}(): {name} must be a collection of names such as "
            f"{tuple(allowed[:2])!r}, not {type(value).__name__} {value!r}"
        )
    names = tuple(dict.fromkeys(value))
    if not names:
        raise InvalidArgument(f"{func}(): {name} must name at least one of {', '.join(allowed)}")
    for item in names:
        if item not in allowed:
            hint = did_you_mean(item, allowed) if isinstance(item, str) else ""
            raise InvalidArgument(
                f"{func}(): unknown {name[:-1] if name.endswith('s') else name} {item!r}"
                f"{hint} (expected one of {', '.join(allowed)})"
            )
    return names
