"""Fault specifications: what the injector does to which attempts.

A fault targets steps (and compensations) by exact name or by a glob pattern
(``"charge_*"``, ``"*"``), optionally only some attempts, optionally only with a
probability per attempt (drawn from the run's ``faults`` stream). Kinds:

* ``error``: the attempt fails, at its start (no time, no code, no effect) or at
  its end (the work and its effect happen first);
* ``latency``: extra virtual time before the attempt's work: fixed, uniform or
  exponential;
* ``hang``: the attempt never returns; only its timeout (or the run's time
  limit) ends it;
* ``outage``: every attempt of the matching steps that starts inside a window
  of virtual time fails at its start.

Every fault the engine applies is traced as ``fault_injected`` before its effect.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from ._time import Duration, to_ns, to_seconds

__all__ = ["Fault", "FaultKind", "InjectedError"]

FaultKind = Literal["error", "latency", "hang", "outage"]
LatencyShape = Literal["fixed", "uniform", "exponential"]
_GLOB_CHARS = frozenset("*?[")


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


def _probability(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"fault probability must be a number from 0 to 1, not {value!r}")
    return float(value)


def _step(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"a fault needs a step name or pattern, not {value!r}")
    return value


@attrs.frozen
class Fault:
    """One fault. Build with :meth:`error`, :meth:`latency`, :meth:`hang` or :meth:`outage`.

    ``step`` is a step (or compensation) name or a glob pattern; ``attempts``
    lists the 1-based attempts it applies to (``None``: every attempt);
    ``probability`` makes it apply to each such attempt with that chance.
    """

    kind: FaultKind
    step: str = attrs.field(converter=_step)
    attempts: tuple[int, ...] | None = attrs.field(default=None, converter=_attempts)
    probability: float | None = attrs.field(default=None, converter=_probability)
    error_name: str = "InjectedError"
    error_type: type[BaseException] | None = attrs.field(default=None, eq=False, repr=False)
    message: str = ""
    retryable: bool = True
    at: Literal["start", "end"] = "start"
    extra_ns: int = 0
    shape: LatencyShape = "fixed"
    high_ns: int = 0
    window_ns: tuple[int, int] = (0, 0)

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
        probability: float | None = None,
    ) -> Fault:
        """Make ``step``'s ``attempts`` fail with ``error``.

        ``at="start"`` (default) fails the attempt before any work: no time
        passes, the step's code does not run, there is no effect.
        ``at="end"`` lets the attempt do its work (its duration passes, its code
        runs, its output reaches the context) and then reports the error.
        ``retryable=False`` stops retries at once, as does listing the error in
        the policy's ``non_retryable``. ``probability=0.3`` fails each matching
        attempt with that chance.
        """
        if at not in ("start", "end"):
            raise ValueError(f"fault 'at' must be 'start' or 'end', not {at!r}")
        name = error.__name__ if isinstance(error, type) else str(error)
        return cls(
            kind="error",
            step=step,
            attempts=attempts,
            probability=probability,
            error_name=name,
            error_type=error if isinstance(error, type) else None,
            message=message or f"injected {name}",
            retryable=retryable,
            at=at,
        )

    @classmethod
    def latency(
        cls,
        step: str,
        *,
        extra: Duration | None = None,
        uniform: tuple[Duration, Duration] | None = None,
        exponential: Duration | None = None,
        attempts: Iterable[int] | int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Add virtual time at the start of ``step``'s ``attempts``.

        Give exactly one of: ``extra`` (a fixed delay), ``uniform=(low, high)``
        (drawn per attempt) or ``exponential=mean`` (drawn per attempt).
        """
        given = [x is not None for x in (extra, uniform, exponential)]
        if sum(given) != 1:
            raise ValueError(
                "Fault.latency takes exactly one of extra=, uniform=(low, high) or exponential=mean"
            )
        if uniform is not None:
            low, high = (to_ns(v, what="latency bound") for v in uniform)
            if high < low:
                raise ValueError(f"latency uniform=(low, high) needs low <= high, got {uniform!r}")
            return cls(
                kind="latency",
                step=step,
                attempts=attempts,
                probability=probability,
                extra_ns=low,
                shape="uniform",
                high_ns=high,
            )
        if exponential is not None:
            mean = to_ns(exponential, what="latency mean")
            return cls(
                kind="latency",
                step=step,
                attempts=attempts,
                probability=probability,
                extra_ns=mean,
                shape="exponential",
            )
        assert extra is not None
        return cls(
            kind="latency",
            step=step,
            attempts=attempts,
            probability=probability,
            extra_ns=to_ns(extra, what="latency extra"),
        )

    @classmethod
    def hang(
        cls,
        step: str,
        *,
        attempts: Iterable[int] | int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Make ``step``'s ``attempts`` never return: only a timeout ends them.

        Without a timeout on the step, the run ends ``timed_out`` at its time
        limit, naming the hung step.
        """
        return cls(kind="hang", step=step, attempts=attempts, probability=probability)

    @classmethod
    def outage(
        cls,
        step: str,
        *,
        start: Duration,
        end: Duration,
        error: type[BaseException] | str = "ServiceUnavailable",
        message: str = "",
        retryable: bool = True,
    ) -> Fault:
        """Fail every attempt of ``step`` (a name or pattern) starting in ``[start, end)``."""
        start_ns = to_ns(start, what="outage start")
        end_ns = to_ns(end, what="outage end")
        if end_ns <= start_ns:
            raise ValueError(f"an outage must end after it starts: start={start!r}, end={end!r}")
        name = error.__name__ if isinstance(error, type) else str(error)
        return cls(
            kind="outage",
            step=step,
            error_name=name,
            error_type=error if isinstance(error, type) else None,
            message=message or f"injected {name} (outage)",
            retryable=retryable,
            window_ns=(start_ns, end_ns),
        )

    # -- matching ---------------------------------------------------------------------------
    @property
    def is_pattern(self) -> bool:
        return any(c in _GLOB_CHARS for c in self.step)

    def matches(self, name: str) -> bool:
        """Whether this fault targets the step (or compensation) called ``name``."""
        return fnmatch.fnmatchcase(name, self.step) if self.is_pattern else name == self.step

    def applies_to(self, step: str, attempt: int, now_ns: int = 0) -> bool:
        """Whether it targets this attempt (before any probability draw)."""
        if not self.matches(step):
            return False
        if self.kind == "outage":
            return self.window_ns[0] <= now_ns < self.window_ns[1]
        return self.attempts is None or attempt in self.attempts

    def latency_ns(self, draw: float) -> int:
        """The extra time of a latency fault for a uniform ``draw`` in [0, 1)."""
        if self.shape == "uniform":
            return self.extra_ns + int((self.high_ns - self.extra_ns) * draw)
        if self.shape == "exponential":
            return int(-self.extra_ns * math.log(1.0 - draw))
        return self.extra_ns

    @property
    def fails(self) -> bool:
        return self.kind in ("error", "outage")

    def describe(self, extra_ns: int | None = None) -> Mapping[str, Any]:
        """The fault as the ``fault`` field of a ``fault_injected`` trace event."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "latency":
            if self.shape != "fixed":
                out["shape"] = self.shape
            out["extra"] = to_seconds(self.extra_ns if extra_ns is None else extra_ns)
        elif self.kind in ("error", "outage"):
            out.update(error=self.error_name, retryable=self.retryable)
            if self.kind == "error":
                out["at"] = self.at
            else:
                out.update(start=to_seconds(self.window_ns[0]), end=to_seconds(self.window_ns[1]))
        if self.probability is not None:
            out["probability"] = self.probability
        if self.is_pattern:
            out["pattern"] = self.step
        return out

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
