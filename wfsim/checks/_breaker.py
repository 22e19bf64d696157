"""Breaker oracle: circuit breakers move only along their state machine (BRK-1..4).

Config-free, for every workflow style: each ``breaker_state`` leaves the state the
breaker was in (``previous``), along a legal edge (closed -> open -> half_open ->
closed, or half_open -> open); half_open is entered lazily, at an attempt's start,
and that attempt is admitted; open and closed are entered at an admitted attempt's
outcome; a refused attempt (``CircuitOpenError`` at its start, or ``fallback_used``)
comes only while its breaker is open (or half_open with no permit left) and says so.

With the breaker's settings (DAG steps declare them), the trace is replayed on an
independent model of the strategy: which attempt is refused, which admitted attempt
opens, half-opens or closes the breaker, and when.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence

import attrs

from wfsim._core._breaker import CircuitBreaker
from wfsim._core._faults import Fault
from wfsim._core._time import format_seconds
from wfsim._core._trace import TraceEvent

from ._index import AnyWorkflow, Attempt, Run, at, violation
from ._violation import Violation

__all__ = ["check_breakers"]

_LEGAL = frozenset(
    {("closed", "open"), ("open", "half_open"), ("half_open", "open"), ("half_open", "closed")}
)
_REFUSED = re.compile(r"circuit breaker '(.+)' is (open|half-open); call refused")
_OUTCOMES = frozenset(
    {
        "attempt_succeeded",
        "attempt_failed",
        "attempt_timed_out",
        "compensation_completed",
        "compensation_failed",
    }
)


def check_breakers(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """BRK-1..BRK-4: every breaker's transitions are legal, lazy and caused by outcomes.

    BRK-1: each ``breaker_state`` names as ``previous`` the state the breaker was in
    (closed at first). BRK-2 (consecutive) and BRK-3 (rate): transitions follow
    closed -> open -> half_open -> closed or half_open -> open; half_open is entered at
    an attempt's start and admits it; open and closed are entered when an admitted
    attempt ends, recorded just before its end. BRK-4: an attempt is refused (failing
    at its start with ``CircuitOpenError`` naming the breaker's state, or running the
    fallback) only while the breaker is open, or half_open under the rate strategy.
    For DAG steps, whose breakers are declared, the trace is replayed on a model of the
    strategy: failure and success thresholds, the failure rate of the window, the
    recovery timeout, half-open permits and excluded errors decide each refusal and
    each transition, which the trace must show exactly.
    """
    return breakers(Run.of(workflow, faults, trace))


@attrs.define
class _Model:
    """What a breaker's state must be, replayed from its settings (independent of the engine)."""

    config: CircuitBreaker
    state: str = "closed"
    opened_at_ns: int = 0
    failures: int = 0
    successes: int = 0
    window: deque[bool] = attrs.Factory(deque)
    permits: int = 0
    trial: list[bool] = attrs.Factory(list)

    def go(self, state: str, now_ns: int) -> str:
        self.state = state
        self.failures = self.successes = 0
        self.window.clear()
        self.trial.clear()
        if state == "open":
            self.opened_at_ns = now_ns
        elif state == "half_open":
            self.permits = self.config.half_open_permits
        return state

    def permit(self, now_ns: int) -> tuple[bool, list[str]]:
        moves: list[str] = []
        cfg = self.config
        if self.state == "open":
            if now_ns - self.opened_at_ns < cfg.recovery_timeout_ns:
                return False, moves
            moves.append(self.go("half_open", now_ns))
        if self.state == "half_open" and cfg.strategy == "rate":
            if self.permits == 0:
                return False, moves
            self.permits -= 1
        return True, moves

    def outcome(self, failed: bool | None, now_ns: int) -> list[str]:
        cfg = self.config
        if cfg.strategy == "consecutive":
            failed = bool(failed)  # an excluded error counts as a success (pybreaker)
            if self.state == "closed":
                self.failures = self.failures + 1 if failed else 0
                if self.failures >= cfg.failure_threshold:
                    return [self.go("open", now_ns)]
            elif self.state == "half_open":
                if failed:
                    return [self.go("open", now_ns)]
                self.successes += 1
                if self.successes >= cfg.success_threshold:
                    return [self.go("closed", now_ns)]
            return []
        if failed is None:  # resilience4j: an ignored error is neither, and gives back
            if self.state == "half_open":  # its half-open permit (releasePermission)
                self.permits += 1
            return []
        if self.state == "closed":
            self.window.append(failed)
            if len(self.window) > cfg.window:
                self.window.popleft()
            needed = min(cfg.minimum_calls, cfg.window)
            if len(self.window) >= needed and sum(self.window) >= cfg.failure_rate * len(
                self.window
            ):
                return [self.go("open", now_ns)]
        elif self.state == "half_open":
            self.trial.append(failed)
            if len(self.trial) >= cfg.half_open_permits:
                opens = sum(self.trial) >= cfg.failure_rate * len(self.trial)
                return [self.go("open" if opens else "closed", now_ns)]
        return []


def _configs(run: Run) -> dict[str, CircuitBreaker]:
    """Step (and task) name -> the breaker it declares (DAG only)."""
    if not run.dag:
        return {}
    out: dict[str, CircuitBreaker] = {}
    steps = {**run.steps, **run.workflow.tasks}
    for name, step in steps.items():
        breaker = getattr(step, "breaker", None)
        if isinstance(breaker, CircuitBreaker):
            out[name] = breaker
    return out


def _refusal(e: TraceEvent, attempt: Attempt | None) -> tuple[str, str] | None:
    """(breaker, state) if ``e`` ends ``attempt`` as refused at its start, else None."""
    if e.kind == "fallback_used":
        breaker, state = e.get("breaker"), e.get("state")
        return (str(breaker), str(state)) if isinstance(breaker, str) else None
    if e.kind not in ("attempt_failed", "compensation_failed"):
        return None
    if e.get("error") != "CircuitOpenError" or attempt is None:
        return None
    if attempt.start.t_ns != e.t_ns or attempt.faults:
        return None
    match = _REFUSED.fullmatch(str(e.get("message", "")))
    if match is None:
        return None
    return match.group(1), match.group(2).replace("-", "_")


def breakers(run: Run) -> list[Violation]:
    if not (
        run.of_kind("breaker_state")
        or run.of_kind("fallback_used")
        or any(e.get("error") == "CircuitOpenError" for e in run.of_kind("attempt_failed"))
    ):
        return []  # the common case: no breaker in this run
    events = list(run.trace)
    out: list[Violation] = []
    configs = _configs(run)
    by_name = {c.name: c for c in configs.values()}
    models: dict[str, _Model] = {}
    current: dict[str, str] = {}
    attempt_of: dict[tuple[str, int], Attempt] = {
        (a.name, a.number): a for attempts in run.attempts.values() for a in attempts
    }
    admitted: set[tuple[str, int]] = set()
    refused_seen: set[tuple[str, int]] = set()

    def model(config: CircuitBreaker) -> _Model:
        return models.setdefault(config.name, _Model(config))

    def recorded(i: int, step: int, name: str) -> list[TraceEvent]:
        """The ``breaker_state`` events of ``name`` at #i's instant right after it (step 1:
        a permit's move to half_open) or right before it (-1: an outcome's open or closed)."""
        found: list[TraceEvent] = []
        j = i + step
        while (
            0 <= j < len(events)
            and events[j].kind == "breaker_state"
            and events[j].t_ns == events[i].t_ns
        ):
            if events[j].get("breaker") == name and (events[j].get("state") == "half_open") == (
                step > 0
            ):
                found.append(events[j])
            j += step
        return found if step > 0 else found[::-1]

    for i, e in enumerate(events):
        kind = e.kind
        if kind == "breaker_state":
            out.extend(_transition(by_name, events, i, current))
            continue
        key = (str(e.step), e.attempt) if isinstance(e.attempt, int) else None
        config = configs.get(str(e.step))
        if kind == "attempt_started" and key is not None:
            if config is not None:
                allowed, moves = model(config).permit(e.t_ns)
                out.extend(_compare(config, moves, recorded(i, 1, config.name), e, "permit"))
                attempt = attempt_of.get((key[0], key[1]))
                end = None if attempt is None else attempt.end
                fallback = _next_fallback(events, i)
                refused = (fallback is not None) or (
                    end is not None and _refusal(end, attempt) is not None
                )
                if allowed:
                    admitted.add((key[0], key[1]))
                if allowed and refused:
                    out.append(
                        violation(
                            "BRK-4",
                            f"step {e.step!r} attempt {e.attempt} was refused at {at(e)}, but "
                            f"breaker {config.name!r} ({model(config).state}) admits it then",
                            e,
                            fallback or end,
                        )
                    )
                elif not allowed and not refused:
                    m = model(config)
                    out.append(
                        violation(
                            "BRK-4",
                            f"step {e.step!r} attempt {e.attempt} ran at {at(e)}, but breaker "
                            f"{config.name!r} was {m.state} until t="
                            f"{format_seconds(m.opened_at_ns + config.recovery_timeout_ns)} "
                            "and refuses it",
                            e,
                        )
                    )
            continue
        attempt = attempt_of.get((key[0], key[1])) if key is not None else None
        refusal = _refusal(e, attempt) if kind in _OUTCOMES or kind == "fallback_used" else None
        if refusal is not None and key is not None and (key[0], key[1]) not in refused_seen:
            refused_seen.add((key[0], key[1]))
            breaker, state = refusal
            now = current.get(breaker, "closed")
            may = now == "open" or (now == "half_open" and state == "half_open")
            if not may or state != now:
                out.append(
                    violation(
                        "BRK-4",
                        f"step {e.step!r} attempt {e.attempt} was refused at {at(e)} by breaker "
                        f"{breaker!r} as {state}, but the breaker was {now}; calls are refused "
                        "only while it is open (or half_open with no permit left)",
                        e,
                    )
                )
            continue
        if kind in _OUTCOMES and config is not None and key is not None:
            if (key[0], key[1]) not in admitted:
                continue
            admitted.discard((key[0], key[1]))
            error = e.get("cause", e.get("error"))  # a trip keeps the step's error as cause
            if kind in ("attempt_succeeded", "compensation_completed"):
                failed: bool | None = False
            elif kind == "attempt_timed_out":
                failed = "timeout" not in config.exclude
            else:
                failed = None if error in config.exclude else True
            previous = model(config).state
            moves = model(config).outcome(failed, e.t_ns)
            out.extend(_compare(config, moves, recorded(i, -1, config.name), e, "outcome"))
            if kind in ("attempt_failed", "compensation_failed"):
                out.extend(_trip_error(config, previous, moves, e))
    return out


def _trip_error(
    config: CircuitBreaker, previous: str, moves: list[str], e: TraceEvent
) -> list[Violation]:
    """BRK-2: with throw_new_error_on_trip, the failure that opens a consecutive breaker is
    a CircuitOpenError (its own error kept as ``cause``); any other failure keeps its error."""
    trips = (
        config.strategy == "consecutive"
        and config.throw_new_error_on_trip
        and "open" in moves
        and e.get("error") != "timeout"
    )
    why = "trial call failed" if previous == "half_open" else "failures threshold reached"
    expected = f"{why}, circuit breaker {config.name!r} opened"
    if trips and (e.get("error"), e.get("message")) != ("CircuitOpenError", expected):
        return [
            violation(
                "BRK-2",
                f"step {e.step!r} attempt {e.attempt} opened breaker {config.name!r} at {at(e)} "
                f"and fails with {e.get('error')}, but with throw_new_error_on_trip the caller "
                f"sees CircuitOpenError ({expected}), its own error as cause",
                e,
            )
        ]
    if not trips and e.get("cause") is not None:
        return [
            violation(
                "BRK-2",
                f"step {e.step!r} attempt {e.attempt} fails at {at(e)} with a cause "
                f"({e.get('cause')}), but its failure did not trip breaker {config.name!r} "
                "with throw_new_error_on_trip; only a trip replaces the error",
                e,
            )
        ]
    return []


def _next_fallback(events: list[TraceEvent], i: int) -> TraceEvent | None:
    """The ``fallback_used`` of the attempt started at #i (after its breaker_state events)."""
    start = events[i]
    j = i + 1
    while j < len(events) and events[j].kind == "breaker_state":
        j += 1
    if j < len(events):
        e = events[j]
        if e.kind == "fallback_used" and e.step == start.step and e.attempt == start.attempt:
            return e
    return None


def _rule(config: CircuitBreaker | None) -> str:
    return "BRK-3" if config is not None and config.strategy == "rate" else "BRK-2"


def _compare(
    config: CircuitBreaker,
    expected: list[str],
    shown: list[TraceEvent],
    e: TraceEvent,
    when: str,
) -> list[Violation]:
    states = [str(s.get("state")) for s in shown]
    if states == expected:
        return []
    what = (
        f"at the start of step {e.step!r} attempt {e.attempt}"
        if when == "permit"
        else f"when step {e.step!r} attempt {e.attempt} ended ({e.kind})"
    )
    want = " -> ".join(expected) if expected else "no change"
    got = " -> ".join(states) if states else "no change"
    return [
        violation(
            _rule(config),
            f"breaker {config.name!r} ({config.strategy}) {what} at {at(e)} shows {got}, but "
            f"its settings give {want}",
            *shown,
            e,
        )
    ]


def _transition(
    by_name: dict[str, CircuitBreaker], events: list[TraceEvent], i: int, current: dict[str, str]
) -> list[Violation]:
    e = events[i]
    out: list[Violation] = []
    name = str(e.get("breaker"))
    state, previous = str(e.get("state")), str(e.get("previous"))
    now = current.get(name, "closed")
    config = by_name.get(name)
    if previous != now:
        out.append(
            violation(
                "BRK-1",
                f"breaker {name!r} went {previous} -> {state} at {at(e)}, but it was {now}; "
                "previous names the state a breaker leaves",
                e,
            )
        )
    current[name] = state
    if (now, state) not in _LEGAL:
        out.append(
            violation(
                _rule(config),
                f"breaker {name!r} went {now} -> {state} at {at(e)}, which its state machine "
                "does not allow (closed -> open -> half_open -> closed, or half_open -> open)",
                e,
            )
        )
        return out
    if state == "half_open":
        j = i - 1
        while j >= 0 and events[j].kind == "breaker_state":
            j -= 1
        start = events[j] if j >= 0 else None
        if start is None or start.kind != "attempt_started" or start.t_ns != e.t_ns:
            out.append(
                violation(
                    _rule(config),
                    f"breaker {name!r} went half_open at {at(e)} without a call starting; it "
                    "moves to half_open lazily, at the start of the first attempt after the "
                    "recovery timeout",
                    e,
                )
            )
    else:
        j = i + 1
        while j < len(events) and events[j].kind == "breaker_state":
            j += 1
        end = events[j] if j < len(events) else None
        if end is None or end.kind not in _OUTCOMES or end.t_ns != e.t_ns:
            out.append(
                violation(
                    _rule(config),
                    f"breaker {name!r} went {now} -> {state} at {at(e)}, but no attempt ended "
                    "then; a breaker opens or closes on an admitted attempt's outcome",
                    e,
                    end,
                )
            )
    return out
