"""Fault specifications: what the injector does to which attempts.

Only the minimal model lives here for now: an injected error on chosen
attempts of a step, and extra latency on a step's attempts. Every fault the
engine applies is traced as ``fault_injected`` before its effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from ._time import Duration, to_ns, to_seconds

__all__ = ["Fault", "FaultKind"]

FaultKind = Literal["error", "latency"]


def _attempts(value: Iterable[int] | int | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, int):
        value = [value]
    attempts = tuple(value)
    for a in attempts:
        if isinstance(a, bool) or not isinstance(a, int) or a < 1:
            raise ValueError(f"fault attempts must be attempt numbers >= 1, not {a!r}")
    return tuple(sorted(set(attempts)))


@attrs.frozen
class Fault:
    """One fault. Build with :meth:`Fault.error` or :meth:`Fault.latency`.

    ``attempts`` lists the 1-based attempts it applies to; ``None`` means
    every attempt of the step.
    """

    kind: FaultKind
    step: str
    attempts: tuple[int, ...] | None = attrs.field(default=None, converter=_attempts)
    error_name: str = "InjectedError"
    error_type: type[BaseException] | None = attrs.field(default=None, eq=False, repr=False)
    message: str = ""
    retryable: bool = True
    at: Literal["start", "end"] = "start"
    extra_ns: int = 0

    @classmethod
    def error(
        cls,
        step: str,
        *,
        attempts: Iterable[int] | int | None = None,
        error: type[BaseException] | str = "InjectedError",
        message: str = "",
        retryable: bool = True,
        at: Literal["start", "end"] = "start",
    ) -> Fault:
        """Make ``step``'s ``attempts`` fail with ``error``.

        ``at="start"`` (default) fails the attempt before any work: no time
        passes, the step's code does not run, there is no effect.
        ``at="end"`` lets the attempt do its work (its duration passes, its code
        runs, its output reaches the context) and then reports the error.
        ``retryable=False`` stops retries at once, as does listing the error in
        the policy's ``non_retryable``.
        """
        if at not in ("start", "end"):
            raise ValueError(f"fault 'at' must be 'start' or 'end', not {at!r}")
        name = error.__name__ if isinstance(error, type) else str(error)
        return cls(
            kind="error",
            step=step,
            attempts=attempts,
            error_name=name,
            error_type=error if isinstance(error, type) else None,
            message=message or f"injected {name}",
            retryable=retryable,
            at=at,
        )

    @classmethod
    def latency(
        cls, step: str, *, extra: Duration, attempts: Iterable[int] | int | None = None
    ) -> Fault:
        """Add ``extra`` virtual time to the start of ``step``'s ``attempts``."""
        return cls(
            kind="latency",
            step=step,
            attempts=attempts,
            extra_ns=to_ns(extra, what="latency extra"),
        )

    def applies_to(self, step: str, attempt: int) -> bool:
        return self.step == step and (self.attempts is None or attempt in self.attempts)

    def describe(self) -> Mapping[str, Any]:
        """The fault as the ``fault`` field of a ``fault_injected`` trace event."""
        if self.kind == "latency":
            return {"kind": "latency", "extra": to_seconds(self.extra_ns)}
        return {
            "kind": "error",
            "error": self.error_name,
            "retryable": self.retryable,
            "at": self.at,
        }

    def make_exception(self) -> BaseException:
        """The exception instance the step's caller sees."""
        if self.error_type is not None:
            try:
                return self.error_type(self.message)
            except Exception:  # an exotic constructor: fall back to a named InjectedError
                pass
        return InjectedError(self.error_name, self.message)


class InjectedError(Exception):
    """Raised for an injected error named by string; ``error_name`` carries the name."""

    def __init__(self, error_name: str, message: str) -> None:
        super().__init__(message)
        self.error_name = error_name
