"""Retry policies and the pure backoff function.

Attempts are counted Temporal's way: ``max_attempts`` is the total number of
executions, the first included; 0 means unlimited; 1 means no retry. The delay
after failed attempt ``k`` (1-based) is
``initial_interval * backoff_coefficient ** (k - 1)`` capped at
``max_interval`` (default 100 x ``initial_interval``), then jittered.
The other engines' conventions are offered as constructors
(:meth:`RetryPolicy.celery`, :meth:`RetryPolicy.prefect`,
:meth:`RetryPolicy.tenacity`, :meth:`RetryPolicy.pyworkflow`), each matching
the schedules measured in ``specs/sources.md`` section 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import attrs

from wfsim.errors import RetryPolicyError

from ._time import Duration, to_ns, to_seconds

__all__ = ["Jitter", "RetryPolicy", "backoff_ns", "retry_delay"]

Jitter = Literal["none", "full", "equal", "decorrelated"]
_JITTERS = ("none", "full", "equal", "decorrelated")

ErrorSpec = str | type[BaseException]


def _opt_ns(value: Duration | None, what: str) -> int | None:
    return None if value is None else to_ns(value, what=what)


def _initial_ns(value: Duration) -> int:
    return to_ns(value, what="initial_interval")


def _max_ns(value: Duration | None) -> int | None:
    return _opt_ns(value, "max_interval")


def _min_ns(value: Duration) -> int:
    return to_ns(value, what="min_interval")


def _error_names(value: Sequence[ErrorSpec] | ErrorSpec | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, type)):
        value = [value]
    names = []
    for item in value:
        if isinstance(item, type) and issubclass(item, BaseException):
            names.append(item.__name__)
        elif isinstance(item, str) and item:
            names.append(item)
        else:
            raise RetryPolicyError(
                f"non_retryable entries must be exception classes or class names, not {item!r}"
            )
    return tuple(names)


def _delay_schedule(value: Sequence[Duration] | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(to_ns(v, what="retry delay") for v in value)


@attrs.frozen
class RetryPolicy:
    """How a failed attempt is retried.

    Times are stored as integer nanoseconds (``*_ns``); the constructor takes
    seconds or duration strings. Example::

        RetryPolicy(max_attempts=5, initial_interval=1, backoff_coefficient=2,
                    max_interval=60)   # delays 1, 2, 4, 8 s, then the step fails

    ``non_retryable`` holds exception classes or class names; an error whose
    class name is listed stops at once (exact name match, as in Temporal).
    ``delays`` replaces the exponential schedule with an explicit one whose
    last value repeats (Prefect's list). ``min_interval`` raises every delay
    to at least that value after the cap (tenacity's ``min``).
    """

    max_attempts: int = 0
    initial_interval_ns: int = attrs.field(
        default=1, converter=_initial_ns, alias="initial_interval"
    )
    backoff_coefficient: float = 2.0
    max_interval_ns: int | None = attrs.field(default=None, converter=_max_ns, alias="max_interval")
    jitter: Jitter = "none"
    non_retryable: tuple[str, ...] = attrs.field(default=(), converter=_error_names)
    delays_ns: tuple[int, ...] | None = attrs.field(
        default=None, converter=_delay_schedule, alias="delays"
    )
    min_interval_ns: int = attrs.field(default=0, converter=_min_ns, alias="min_interval")

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise RetryPolicyError(f"max_attempts must be an integer, not {self.max_attempts!r}")
        if self.max_attempts < 0:
            raise RetryPolicyError(
                f"max_attempts cannot be negative (got {self.max_attempts}); "
                "use 0 for unlimited attempts or 1 for no retry"
            )
        if self.jitter not in _JITTERS:
            raise RetryPolicyError(
                f"jitter must be one of {', '.join(_JITTERS)}, not {self.jitter!r}"
            )
        if self.max_attempts == 1:  # retries disabled: Temporal skips the other checks
            return
        if not isinstance(self.backoff_coefficient, (int, float)) or self.backoff_coefficient < 1:
            raise RetryPolicyError(
                f"backoff_coefficient cannot be less than 1 (got {self.backoff_coefficient!r}); "
                "use 1 for a constant delay"
            )
        if self.max_interval_ns is not None and self.max_interval_ns < self.initial_interval_ns:
            raise RetryPolicyError(
                f"max_interval ({to_seconds(self.max_interval_ns)} s) cannot be less than "
                f"initial_interval ({to_seconds(self.initial_interval_ns)} s)"
            )
        if self.delays_ns is not None and not self.delays_ns:
            raise RetryPolicyError("delays must hold at least one delay when given")

    # -- views in seconds -------------------------------------------------------------------
    @property
    def initial_interval(self) -> float:
        return to_seconds(self.initial_interval_ns)

    @property
    def max_interval(self) -> float:
        return to_seconds(self.effective_max_interval_ns)

    @property
    def effective_max_interval_ns(self) -> int:
        """The cap: ``max_interval``, or 100 x ``initial_interval`` like Temporal's server."""
        if self.max_interval_ns is not None:
            return self.max_interval_ns
        return 100 * self.initial_interval_ns

    def allows_attempt(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) may run at all."""
        return self.max_attempts == 0 or attempt <= self.max_attempts

    def is_retryable(self, error_name: str) -> bool:
        return error_name not in self.non_retryable

    # -- the other engines' conventions ------------------------------------------------------
    @classmethod
    def temporal(
        cls,
        *,
        initial_interval: Duration = 1,
        backoff_coefficient: float = 2.0,
        maximum_interval: Duration | None = None,
        maximum_attempts: int = 0,
        non_retryable_error_types: Sequence[ErrorSpec] = (),
    ) -> RetryPolicy:
        """Temporal's ``RetryPolicy`` with its own field names and defaults."""
        return cls(
            max_attempts=maximum_attempts,
            initial_interval=initial_interval,
            backoff_coefficient=backoff_coefficient,
            max_interval=maximum_interval,
            non_retryable=non_retryable_error_types,
        )

    @classmethod
    def celery(
        cls,
        *,
        max_retries: int = 3,
        retry_backoff: bool | float = False,
        retry_backoff_max: Duration = 600,
        default_retry_delay: Duration = 180,
        retry_jitter: bool = False,
    ) -> RetryPolicy:
        """Celery's autoretry: ``max_retries`` counts retries, so attempts = retries + 1.

        With ``retry_backoff`` the countdown is ``min(max, factor * 2**retries)``
        with ``factor = int(max(1, retry_backoff))``; without it every retry
        waits ``default_retry_delay``. ``retry_jitter`` maps to full jitter
        (Celery draws whole seconds in ``[0, v]``; wfsim nanoseconds in ``[0, v)``).
        Celery's own default is ``retry_jitter=True``; wfsim defaults to False so
        that a schedule is exact unless asked otherwise (specs/retry.md RETRY-7).
        """
        attempts = max_retries + 1
        jitter: Jitter = "full" if retry_jitter else "none"
        if retry_backoff:
            factor = int(max(1.0, float(retry_backoff)))
            return cls(
                max_attempts=attempts,
                initial_interval=factor,
                backoff_coefficient=2,
                max_interval=retry_backoff_max,
                jitter=jitter,
            )
        return cls(
            max_attempts=attempts,
            initial_interval=default_retry_delay,
            backoff_coefficient=1,
            max_interval=default_retry_delay,
            jitter=jitter,
        )

    @classmethod
    def prefect(
        cls, *, retries: int = 0, retry_delay_seconds: Duration | Sequence[Duration] = 0
    ) -> RetryPolicy:
        """Prefect's task retries: ``retries`` counts retries; a list of delays repeats its last."""
        if isinstance(retry_delay_seconds, (list, tuple)):
            if len(retry_delay_seconds) > 50:
                raise RetryPolicyError("Can not configure more than 50 retry delays per task.")
            delays: Sequence[Duration] = retry_delay_seconds
        else:
            delays = [retry_delay_seconds]  # type: ignore[list-item]
        return cls(max_attempts=retries + 1, delays=delays, initial_interval=delays[0])

    @classmethod
    def tenacity(
        cls,
        *,
        stop_after_attempt: int = 0,
        multiplier: Duration = 1,
        exp_base: float = 2,
        max: Duration | None = None,  # noqa: A002 - tenacity's own name
        min: Duration = 0,  # noqa: A002 - tenacity's own name
    ) -> RetryPolicy:
        """tenacity's ``wait_exponential`` with ``stop_after_attempt`` (total attempts).

        tenacity applies ``min`` after ``max``, so ``min > max`` waits ``min``.
        Without ``max`` tenacity never caps (wfsim caps at 100 years).
        """
        cap = max if max is not None else 100 * 365 * 86400
        initial = to_ns(multiplier, what="multiplier")
        cap_ns = to_ns(cap, what="max")
        return cls(
            max_attempts=stop_after_attempt,
            initial_interval=multiplier,
            backoff_coefficient=exp_base,
            max_interval=cap if cap_ns >= initial else multiplier,
            min_interval=min,
        )

    @classmethod
    def pyworkflow(
        cls,
        *,
        max_retries: int = 3,
        retry_delay: Duration = 1,
        retry_backoff: float = 2,
        max_retry_delay: Duration = 60,
    ) -> RetryPolicy:
        """PyWorkflow's ``@step(max_retries, retry_delay, retry_backoff, max_retry_delay)``.

        ``max_retries`` counts retries: ``max_retries=5`` gives 6 attempts and the
        delays 1, 2, 4, 8, 16 s of the PyWorkflow documentation.
        """
        return cls(
            max_attempts=max_retries + 1,
            initial_interval=retry_delay,
            backoff_coefficient=retry_backoff,
            max_interval=max_retry_delay,
        )


def backoff_ns(policy: RetryPolicy, failed_attempt: int) -> int:
    """The un-jittered delay after attempt ``failed_attempt`` (1-based) failed, in ns.

    Pure: ``initial * coefficient ** (k - 1)``, capped at the policy's
    ``max_interval`` (overflow caps too), then raised to ``min_interval``.
    An explicit ``delays`` schedule takes entry ``min(k, len) - 1`` instead
    (``min_interval`` still applies: it is a floor for every delay).
    """
    k = max(1, failed_attempt)
    if policy.delays_ns is not None:
        scheduled = policy.delays_ns[min(k, len(policy.delays_ns)) - 1]
        return max(policy.min_interval_ns, scheduled)
    cap = policy.effective_max_interval_ns
    try:
        raw = policy.initial_interval_ns * float(policy.backoff_coefficient) ** (k - 1)
    except OverflowError:
        raw = math.inf
    delay = cap if raw != raw or raw >= cap else round(raw)
    return max(policy.min_interval_ns, delay)


def retry_delay(
    policy: RetryPolicy,
    failed_attempt: int,
    *,
    draw: float = 0.0,
    previous_ns: int | None = None,
) -> int:
    """The delay in ns before the attempt after ``failed_attempt``, jitter applied.

    ``draw`` is a uniform number in ``[0, 1)`` (the engine takes it from the
    run's ``jitter`` stream); ``previous_ns`` is the previous delay, used only
    by decorrelated jitter. Formulas (AWS "Exponential Backoff and Jitter",
    cap applied before the jitter as in Celery and the AWS simulator):

    * ``none``: ``v = backoff_ns(policy, k)``
    * ``full``: ``floor(v * draw)``
    * ``equal``: ``v // 2 + floor((v - v // 2) * draw)``
    * ``decorrelated``: ``min(cap, initial + floor((3 * prev - initial) * draw))``,
      ``prev`` starting at ``initial``

    ``min_interval`` is a floor applied last, after the jitter.
    """
    base = backoff_ns(policy, failed_attempt)
    if policy.jitter == "none":
        return base
    if policy.jitter == "full":
        jittered = int(base * draw)
    elif policy.jitter == "equal":
        half = base // 2
        jittered = half + int((base - half) * draw)
    else:
        initial = policy.initial_interval_ns
        prev = initial if previous_ns is None else previous_ns
        upper = max(initial, 3 * prev)
        jittered = min(policy.effective_max_interval_ns, initial + int((upper - initial) * draw))
    return max(policy.min_interval_ns, jittered)  # the floor holds after the jitter too
