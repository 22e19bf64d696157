"""Circuit breakers shared by the steps that declare them (specs/sources.md section 5).

Two strategies:

* ``consecutive`` (pybreaker): CLOSED counts consecutive failures (a success or
  an excluded error resets the count); at ``failure_threshold`` it opens.
  OPEN refuses calls until ``recovery_timeout`` has passed since it opened; the
  next call then moves it to HALF_OPEN (lazily, on a call). In HALF_OPEN a
  failure reopens it and ``success_threshold`` successes close it. The call
  whose failure opens it fails with ``CircuitOpenError`` (pybreaker's
  ``throw_new_error_on_trip=True``), or with its own error when that is False.
* ``rate`` (resilience4j, count-based window): CLOSED records the last
  ``window`` outcomes and, once ``min(minimum_calls, window)`` are recorded,
  opens when the failure rate is ``>= failure_rate``. OPEN refuses calls for
  ``recovery_timeout``; then the next call moves it to HALF_OPEN, which admits
  ``half_open_permits`` calls, refuses the rest, and after that many outcomes
  reopens (rate ``>=`` threshold) or closes. Excluded errors count as neither,
  and in HALF_OPEN give their permit back (resilience4j's ``releasePermission``).

Every transition is a ``breaker_state`` trace event at its virtual time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal

import attrs

from wfsim.errors import WorkflowDefinitionError

from ._time import Duration, to_ns

__all__ = ["BreakerRuntime", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


def _names(value: Iterable[str | type[BaseException]]) -> tuple[str, ...]:
    return tuple(v.__name__ if isinstance(v, type) else str(v) for v in value)


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WorkflowDefinitionError(
            f"circuit breaker {name} must be an integer >= 1, not {value!r}"
        )


@attrs.frozen
class CircuitBreaker:
    """A named breaker. Build with :meth:`consecutive` or :meth:`rate`.

    Steps declare it with ``breaker=``; steps naming the same breaker share its
    state. An open breaker fails calls at their start with
    :class:`~wfsim.CircuitOpenError` (retryable, so a retry policy can wait it
    out), or runs the step's ``fallback`` instead.
    """

    name: str
    strategy: Literal["consecutive", "rate"]
    recovery_timeout_ns: int
    failure_threshold: int = 5
    success_threshold: int = 1
    window: int = 100
    minimum_calls: int = 100
    failure_rate: float = 0.5
    half_open_permits: int = 10
    exclude: tuple[str, ...] = ()
    #: consecutive: the call that opens the breaker fails with CircuitOpenError
    #: (pybreaker's option and default); False: with its own error.
    throw_new_error_on_trip: bool = True

    @classmethod
    def consecutive(
        cls,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout: Duration = 60,
        success_threshold: int = 1,
        exclude: Iterable[str | type[BaseException]] = (),
        throw_new_error_on_trip: bool = True,
    ) -> CircuitBreaker:
        """pybreaker's model (``fail_max``, ``reset_timeout``, ``success_threshold``,
        ``throw_new_error_on_trip``: the call whose failure opens the breaker, in CLOSED
        or as a HALF_OPEN trial, fails with ``CircuitOpenError`` unless it is False)."""
        _positive("failure_threshold", failure_threshold)
        if not isinstance(throw_new_error_on_trip, bool):
            raise WorkflowDefinitionError(
                "circuit breaker throw_new_error_on_trip must be True or False, not "
                f"{throw_new_error_on_trip!r}"
            )
        _positive("success_threshold", success_threshold)
        return cls(
            name=_name(name),
            strategy="consecutive",
            recovery_timeout_ns=to_ns(recovery_timeout, what="recovery_timeout"),
            failure_threshold=failure_threshold,
            success_threshold=success_threshold,
            exclude=_names(exclude),
            throw_new_error_on_trip=throw_new_error_on_trip,
        )

    @classmethod
    def rate(
        cls,
        name: str,
        *,
        window: int = 100,
        minimum_calls: int = 100,
        failure_rate: float = 0.5,
        recovery_timeout: Duration = 60,
        half_open_permits: int = 10,
        exclude: Iterable[str | type[BaseException]] = (),
    ) -> CircuitBreaker:
        """resilience4j's count-based model (``slidingWindowSize``, ``failureRateThreshold``)."""
        _positive("window", window)
        _positive("minimum_calls", minimum_calls)
        _positive("half_open_permits", half_open_permits)
        if not isinstance(failure_rate, (int, float)) or not 0 < failure_rate <= 1:
            raise WorkflowDefinitionError(
                f"circuit breaker failure_rate must be in (0, 1], not {failure_rate!r}"
            )
        return cls(
            name=_name(name),
            strategy="rate",
            recovery_timeout_ns=to_ns(recovery_timeout, what="recovery_timeout"),
            window=window,
            minimum_calls=minimum_calls,
            failure_rate=float(failure_rate),
            half_open_permits=half_open_permits,
            exclude=_names(exclude),
        )


def _name(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise WorkflowDefinitionError(f"a circuit breaker needs a non-empty name, not {value!r}")
    return value


@attrs.define
class BreakerRuntime:
    """One breaker's state during a run. The engine records each transition it returns."""

    config: CircuitBreaker
    state: BreakerState = "closed"
    opened_at_ns: int = 0
    failures: int = 0
    successes: int = 0
    outcomes: deque[bool] = attrs.Factory(deque)  # True = failure (rate strategy)
    permits: int = 0
    trial: list[bool] = attrs.Factory(list)

    def permit(self, now_ns: int) -> tuple[bool, list[BreakerState]]:
        """May a call start now? Returns (allowed, the transitions it caused)."""
        moves: list[BreakerState] = []
        if self.state == "open":
            if now_ns < self.opened_at_ns + self.config.recovery_timeout_ns:
                return False, moves
            self._go("half_open", moves, now_ns)
        if self.state == "half_open" and self.config.strategy == "rate":
            if self.permits <= 0:
                return False, moves
            self.permits -= 1
        return True, moves

    def record(self, failed: bool | None, now_ns: int) -> list[BreakerState]:
        """An admitted call ended: failed True/False, or None for an excluded error."""
        moves: list[BreakerState] = []
        cfg = self.config
        if cfg.strategy == "consecutive":
            if failed is None:
                failed = False  # pybreaker: an excluded error counts as a success
            if self.state == "closed":
                self.failures = self.failures + 1 if failed else 0
                if self.failures >= cfg.failure_threshold:
                    self._go("open", moves, now_ns)
            elif self.state == "half_open":
                if failed:
                    self._go("open", moves, now_ns)
                else:
                    self.successes += 1
                    if self.successes >= cfg.success_threshold:
                        self._go("closed", moves, now_ns)
            return moves
        if failed is None:  # resilience4j: ignored errors count as neither...
            if self.state == "half_open":
                self.permits += 1  # ...and give their permit back (releasePermission)
            return moves
        if self.state == "closed":
            self.outcomes.append(failed)
            while len(self.outcomes) > cfg.window:
                self.outcomes.popleft()
            enough = len(self.outcomes) >= min(cfg.minimum_calls, cfg.window)
            if enough and sum(self.outcomes) / len(self.outcomes) >= cfg.failure_rate:
                self._go("open", moves, now_ns)
        elif self.state == "half_open":
            self.trial.append(failed)
            if len(self.trial) >= cfg.half_open_permits:
                rate = sum(self.trial) / len(self.trial)
                self._go("open" if rate >= cfg.failure_rate else "closed", moves, now_ns)
        return moves

    def _go(self, state: BreakerState, moves: list[BreakerState], now_ns: int) -> None:
        self.state = state
        moves.append(state)
        self.failures = self.successes = 0
        self.outcomes.clear()
        self.trial.clear()
        if state == "open":
            self.opened_at_ns = now_ns
        elif state == "half_open":
            self.permits = self.config.half_open_permits
