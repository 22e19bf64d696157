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
  of virtual time fails at its start;
* ``crash``: the engine dies before or after an attempt's effect and restarts
  from its own history after ``restart_after`` (specs/faults.md, FAULT-10..).

Delivery faults target the deliveries of event workflows' events (by event type
name) and of signals (by signal name), exact or glob, optionally only some
occurrences (the 1st, 2nd... delivery of that name), optionally with a probability
per occurrence:

* ``drop``: the delivery never happens;
* ``duplicate``: the delivery happens ``1 + copies`` times;
* ``delay``: the delivery happens later, by a fixed, uniform or exponential time.

Every fault the engine applies is traced as ``fault_injected`` before its effect.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from ._time import Duration, to_ns, to_seconds

__all__ = ["BODY_POINTS", "Fault", "FaultKind", "InjectedError", "body_point"]

FaultKind = Literal["error", "latency", "hang", "outage", "crash", "drop", "duplicate", "delay"]
Delivery = Literal["event", "signal"]
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
    """One fault: :meth:`error`, :meth:`latency`, :meth:`hang`, :meth:`outage` or :meth:`crash`.

    ``step`` is a step (or compensation) name or a glob pattern; ``attempts``
    lists the 1-based attempts it applies to (``None``: every attempt);
    ``probability`` makes it apply to each such attempt with that chance.

    Faults on deliveries instead (:meth:`drop`, :meth:`duplicate`, :meth:`delay`)
    have a ``delivery`` (``"event"`` or ``"signal"``): ``step`` then holds the
    event type or signal name (or pattern) and ``attempts`` its occurrences.
    """

    kind: FaultKind
    step: str = attrs.field(converter=_step)
    attempts: tuple[int, ...] | None = attrs.field(default=None, converter=_attempts)
    probability: float | None = attrs.field(default=None, converter=_probability)
    error_name: str = "InjectedError"
    error_type: type[BaseException] | None = attrs.field(default=None, eq=False, repr=False)
    message: str = ""
    retryable: bool = True
    #: ``start``/``end`` for errors; ``before``/``after`` (the effect) for crashes, or
    #: ``body`` for a crash at a workflow body's point (``step`` then holds the point).
    at: Literal["start", "end", "before", "after", "body"] = "start"
    extra_ns: int = 0
    shape: LatencyShape = "fixed"
    high_ns: int = 0
    window_ns: tuple[int, int] = (0, 0)
    #: A crash: how long the engine stays down before it recovers.
    restart_ns: int = 0
    #: Delivery faults: what ``step`` names, an event type or a signal (None: a step).
    delivery: Delivery | None = None
    #: A duplicate: how many extra copies of the delivery arrive.
    copies: int = 0
    #: Virtual time (ns) from which the fault no longer applies (a campaign's chaos
    #: phase, specs/campaign.md CAMP-41); None: for the whole run.
    until_ns: int | None = None
    #: ``step`` compiled once when it is a glob (None: an exact name); matching is per attempt.
    _glob: re.Pattern[str] | None = attrs.field(init=False, eq=False, repr=False)

    @_glob.default
    def _compile_glob(self) -> re.Pattern[str] | None:
        if any(c in _GLOB_CHARS for c in self.step):
            return re.compile(fnmatch.translate(self.step))
        return None

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

    @classmethod
    def crash(
        cls,
        step: str | None = None,
        *,
        at: Literal["before", "after"] = "before",
        attempts: Iterable[int] | int | None = None,
        probability: float | None = None,
        restart_after: Duration = 0,
        body: str | None = None,
        occurrences: Iterable[int] | int | None = None,
    ) -> Fault:
        """Make the engine die at ``step``'s attempt and restart ``restart_after`` later.

        ``at="before"``: the attempt started but did no work (no effect). ``at="after"``:
        its work and effect happened, but its completion was not recorded, so it runs
        again after the restart (at-least-once). Every attempt in flight at the crash is
        lost and re-attempted on recovery; completed steps keep their results. Without
        ``attempts`` or ``probability`` the crash hits the first attempt only; with
        ``probability`` and no ``attempts`` any attempt may crash. DAG workflows and
        workflow bodies (whose body then replays its history, FAULT-15..).

        ``body=`` instead of a step crashes a workflow body at one of its points
        (specs/faults.md FAULT-15): ``"after:charge"`` once the call ``charge`` ended,
        before the body resumes; ``"sleep"`` / ``"sleep:2"`` as the body starts its
        first / second ``ctx.sleep``; ``"signal:approval"`` as it starts waiting for
        that signal; a glob (``"after:*"``, ``"*"``) matches several points.
        ``occurrences=[3]`` crashes at the 3rd matching point only (the default: the
        1st), ``probability=p`` at each matching point with that chance.

        Example::

            wfsim.run(wf, faults=[wfsim.Fault.crash("charge", at="after", restart_after="5s")])
            wfsim.run(checkout, faults=[wfsim.Fault.crash(body="after:*", occurrences=[2])])
        """
        if body is not None:
            if step is not None:
                raise ValueError("Fault.crash takes a step or body= (a body point), not both")
            point = body_point(body)
            if occurrences is None and probability is None:
                occurrences = (1,)
            return cls(
                kind="crash",
                step=point,
                attempts=_occurrences(occurrences),
                probability=probability,
                at="body",
                restart_ns=to_ns(restart_after, what="crash restart_after"),
            )
        if step is None:
            raise ValueError("Fault.crash needs a step (or body= for a workflow body's point)")
        if occurrences is not None:
            raise ValueError(
                "Fault.crash(occurrences=...) is for body= points; steps take attempts="
            )
        if at not in ("before", "after"):
            raise ValueError(f"crash 'at' must be 'before' or 'after' (the effect), not {at!r}")
        if attempts is None and probability is None:
            attempts = (1,)
        return cls(
            kind="crash",
            step=step,
            attempts=attempts,
            probability=probability,
            at=at,
            restart_ns=to_ns(restart_after, what="crash restart_after"),
        )

    # -- delivery faults (event workflows and signals) ----------------------------------------
    @classmethod
    def drop(
        cls,
        *,
        event: str | None = None,
        signal: str | None = None,
        occurrences: Iterable[int] | int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Make deliveries of ``event`` (a type name) or ``signal`` (a name) never happen.

        Give exactly one of ``event=`` or ``signal=``: a name or a glob pattern.
        ``occurrences`` lists the 1-based deliveries of that name it hits (``None``:
        every one); ``probability=p`` hits each with that chance. A dropped event
        reaches no step; a dropped signal is never received (a wait for it times out).

        Example::

            wfsim.run(flow, signals=[...], faults=[wfsim.Fault.drop(signal="approval")])
        """
        name, delivery = _delivery_target("drop", event, signal)
        return cls(
            kind="drop",
            step=name,
            delivery=delivery,
            attempts=_occurrences(occurrences),
            probability=probability,
        )

    @classmethod
    def duplicate(
        cls,
        *,
        event: str | None = None,
        signal: str | None = None,
        copies: int = 1,
        occurrences: Iterable[int] | int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Deliver ``event`` (a type name) or ``signal`` (a name) ``1 + copies`` times.

        The copies arrive at the same instant, right after the original: each accepting
        step is invoked once more per copy, and a signal is received once more per copy
        (by the next waiter, or buffered). A duplicated ``StopEvent`` ends the run once.

        Example::

            wfsim.Fault.duplicate(event="Answer", occurrences=[1])
        """
        name, delivery = _delivery_target("duplicate", event, signal)
        if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
            raise ValueError(f"Fault.duplicate copies must be an integer >= 1, not {copies!r}")
        return cls(
            kind="duplicate",
            step=name,
            delivery=delivery,
            attempts=_occurrences(occurrences),
            probability=probability,
            copies=copies,
        )

    @classmethod
    def delay(
        cls,
        *,
        event: str | None = None,
        signal: str | None = None,
        by: Duration | None = None,
        uniform: tuple[Duration, Duration] | None = None,
        exponential: Duration | None = None,
        occurrences: Iterable[int] | int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Deliver ``event`` (a type name) or ``signal`` (a name) later.

        Give exactly one of ``by=`` (a fixed delay), ``uniform=(low, high)`` or
        ``exponential=mean`` (drawn per delivery from the ``faults`` stream), as for
        :meth:`latency`. The sender goes on at once; the receiving steps are invoked
        (or the signal received) when the delay has passed.

        Example::

            wfsim.Fault.delay(signal="approval", by="2h")
        """
        name, delivery = _delivery_target("delay", event, signal)
        if sum(x is not None for x in (by, uniform, exponential)) != 1:
            raise ValueError(
                "Fault.delay takes exactly one of by=, uniform=(low, high) or exponential=mean"
            )
        shape: LatencyShape = "fixed"
        high_ns = 0
        if uniform is not None:
            extra_ns, high_ns = (to_ns(v, what="delay bound") for v in uniform)
            if high_ns < extra_ns:
                raise ValueError(f"delay uniform=(low, high) needs low <= high, got {uniform!r}")
            shape = "uniform"
        elif exponential is not None:
            extra_ns, shape = to_ns(exponential, what="delay mean"), "exponential"
        else:
            assert by is not None
            extra_ns = to_ns(by, what="delay")
        return cls(
            kind="delay",
            step=name,
            delivery=delivery,
            attempts=_occurrences(occurrences),
            probability=probability,
            extra_ns=extra_ns,
            shape=shape,
            high_ns=high_ns,
        )

    @property
    def occurrences(self) -> tuple[int, ...] | None:
        """A delivery fault's occurrences (stored as its ``attempts``)."""
        return self.attempts

    # -- matching ---------------------------------------------------------------------------
    @property
    def is_pattern(self) -> bool:
        return self._glob is not None

    def matches(self, name: str) -> bool:
        """Whether this fault targets the step (or compensation) called ``name``."""
        glob = self._glob
        return name == self.step if glob is None else glob.match(name) is not None

    def applies_to(self, step: str, attempt: int, now_ns: int = 0) -> bool:
        """Whether it targets this attempt (before any probability draw)."""
        return self.matches(step) and self.targets(attempt, now_ns)

    def targets(self, attempt: int, now_ns: int = 0) -> bool:
        """Whether it targets attempt (or occurrence) ``attempt`` starting at ``now_ns`` of a
        step it :meth:`matches` (before any probability draw)."""
        if self.until_ns is not None and now_ns >= self.until_ns:
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
        elif self.kind == "crash" and self.at == "body":
            out.update(at="body", point=self.step, restart_after=to_seconds(self.restart_ns))
            if self.attempts is not None:
                out["occurrences"] = list(self.attempts)
        elif self.kind == "crash":
            out.update(at=self.at, restart_after=to_seconds(self.restart_ns))
        elif self.delivery is not None:
            return self.describe_delivery(self.step, None, extra_ns)
        if self.probability is not None:
            out["probability"] = self.probability
        if self.is_pattern:
            out["pattern"] = self.step
        return out

    def describe_delivery(
        self, name: str, occurrence: int | None, extra_ns: int | None = None
    ) -> Mapping[str, Any]:
        """A delivery fault as the ``fault`` field of its ``fault_injected`` event.

        ``name`` is the event type or signal delivered, ``occurrence`` which
        delivery of that name it was (1-based).
        """
        assert self.delivery is not None
        out: dict[str, Any] = {"kind": self.kind, self.delivery: name}
        if occurrence is not None:
            out["occurrence"] = occurrence
        if self.kind == "duplicate":
            out["copies"] = self.copies
        elif self.kind == "delay":
            if self.shape != "fixed":
                out["shape"] = self.shape
            out["extra"] = to_seconds(self.extra_ns if extra_ns is None else extra_ns)
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


#: The kinds of a workflow body's crash points (FAULT-15).
BODY_POINTS = ("after:", "sleep", "signal:")


def body_point(value: Any) -> str:
    """A crash point of a workflow body: ``after:<call>``, ``sleep[:n]``,
    ``signal:<name>[:n]`` or a glob matching such points; else a ValueError."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"a body crash point is a non-empty string, not {value!r}")
    head, _, rest = value.partition(":")
    if value == "*" or (head in ("after", "signal") and rest) or head in ("sleep", "sleep*"):
        return value
    import difflib

    close = difflib.get_close_matches(head, ("after", "sleep", "signal"), n=1, cutoff=0.6)
    hint = f": did you mean {close[0] + (':' + rest if rest else '')!r}?" if close else ""
    raise ValueError(
        f"unknown body crash point {value!r}{hint} (a point is after:<call name>, the call "
        "ended; sleep or sleep:<n>, the body starts its nth ctx.sleep; signal:<name>, it "
        "starts waiting for that signal; or a glob like after:*)"
    )


def _occurrences(value: Iterable[int] | int | None) -> tuple[int, ...] | None:
    try:
        return _attempts(value)
    except ValueError:
        raise ValueError(
            f"fault occurrences must be delivery numbers >= 1 (1 is the first), not {value!r}"
        ) from None


def _delivery_target(kind: str, event: str | None, signal: str | None) -> tuple[str, Delivery]:
    if (event is None) == (signal is None):
        raise ValueError(
            f"Fault.{kind} takes exactly one of event= (an event type name) or signal= "
            "(a signal name)"
        )
    name = event if event is not None else signal
    if not isinstance(name, str) or not name:
        what = "an event type name" if event is not None else "a signal name"
        raise ValueError(f"Fault.{kind} needs {what} or pattern, not {name!r}")
    return name, "event" if event is not None else "signal"


class InjectedError(Exception):
    """Raised for an injected error named by string; ``error_name`` carries the name."""

    def __init__(self, error_name: str, message: str) -> None:
        super().__init__(message)
        self.error_name = error_name
