"""The oracles of wfsim.checks: silent on the reference engine, loud on tampered traces.

Two halves. Property tests run many random workflows (sagas, retries with jitter,
timeouts, faults on steps and compensations, concurrency limits, short time limits)
on the engine and require every oracle to find nothing. Mutation tests take a real
trace, corrupt one thing, rebuild ``wfsim.Trace(events)`` and require the right
oracle to report it with the right rule ID and a pinned message.
"""

from __future__ import annotations

import fnmatch
import pathlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

import wfsim
from wfsim import Fault, RetryPolicy, SagaPolicy, TraceEvent, compensation
from wfsim.checks import (
    Violation,
    assert_no_violations,
    check_all,
    check_breakers,
    check_collections,
    check_compensations,
    check_concurrency,
    check_crashes,
    check_dependencies,
    check_faults,
    check_groups,
    check_retries,
    check_terminal_states,
    check_trace_shape,
    check_trigger_rules,
    jitter_bounds_ns,
)

Jitter = Literal["none", "full", "equal", "decorrelated"]
REPO = pathlib.Path(__file__).resolve().parents[2]
S = 1_000_000_000
ORACLES = (
    check_trace_shape,
    check_dependencies,
    check_concurrency,
    check_retries,
    check_terminal_states,
    check_compensations,
    check_faults,
    check_crashes,
    check_trigger_rules,
    check_breakers,
    check_collections,
    check_groups,
)


# -- random runs -----------------------------------------------------------------------------


class Declined(Exception):
    """A business error that says itself it must not be retried (RETRY-4)."""

    non_retryable = True


@dataclass(frozen=True)
class Case:
    """One drawn run: a workflow, its fault plan, a seed and a time limit."""

    workflow: wfsim.Workflow
    faults: tuple[Fault, ...]
    seed: int
    time_limit: Any

    def run(self) -> wfsim.RunResult:
        return wfsim.run(
            self.workflow, seed=self.seed, faults=self.faults, time_limit=self.time_limit
        )


DURATIONS = (0, 0.25, 1, 1.5, 3)
JITTERS: tuple[Jitter, ...] = ("none", "full", "equal", "decorrelated")
ERRORS = ("InjectedError", "ConnectionError", "Declined")


@st.composite
def retry_policies(draw: DrawFn, *, unlimited: bool) -> RetryPolicy | None:
    """A policy with any jitter; unlimited attempts only with delays that move time."""
    if draw(st.integers(0, 2)) == 0:
        return None
    max_attempts = draw(st.integers(0 if unlimited else 1, 4))
    jitter: Jitter = draw(st.sampled_from(JITTERS))
    initial = draw(st.sampled_from([0, 0.5, 1, 2]))
    if max_attempts == 0:
        initial = max(initial, 0.5)
        jitter = draw(st.sampled_from([j for j in JITTERS if j != "full"]))
    delays = None
    if max_attempts != 0 and jitter == "none" and draw(st.integers(0, 3)) == 0:
        delays = draw(st.lists(st.sampled_from([0, 0.5, 2]), min_size=1, max_size=3))
    cap = draw(st.sampled_from([None, 2 * max(initial, 0.5), 30]))
    return RetryPolicy(
        max_attempts=max_attempts,
        initial_interval=initial,
        backoff_coefficient=draw(st.sampled_from([1, 1.5, 2, 3])),
        max_interval=cap,
        jitter=jitter,
        non_retryable=draw(st.sampled_from([(), ("Declined",), ("ConnectionError",)])),
        delays=delays,
        min_interval=draw(st.sampled_from([0, 0, 0.25])),
    )


def code_step(
    sleeps: Sequence[float], raise_on: frozenset[int], error: type[Exception]
) -> Callable[[wfsim.StepContext], Any]:
    async def fn(ctx: wfsim.StepContext) -> dict[str, int]:
        for seconds in sleeps:
            await ctx.sleep(seconds)
        if ctx.attempt in raise_on:
            raise error(f"{ctx.step} attempt {ctx.attempt}")
        return {f"out_{ctx.step}": ctx.attempt}

    return fn


@st.composite
def step_code(draw: DrawFn) -> Callable[[wfsim.StepContext], Any] | None:
    if draw(st.integers(0, 2)) != 0:
        return None
    return code_step(
        draw(st.lists(st.sampled_from(DURATIONS), max_size=2)),
        frozenset(draw(st.sets(st.integers(1, 3), max_size=2))),
        draw(st.sampled_from([ValueError, ConnectionError, Declined])),
    )


PATTERNS = ("*", "s*", "undo_*", "s[01]", "?1")


@st.composite
def fault_specs(draw: DrawFn, targets: Sequence[str]) -> Fault:
    """Any fault of the model: errors, latency of every shape, hangs and outages, by name or
    pattern, on some or all attempts, sometimes with a probability."""
    patterns = [p for p in PATTERNS if any(fnmatch.fnmatchcase(t, p) for t in targets)]
    target = draw(st.sampled_from([*targets, *targets, *patterns]))
    attempts = draw(st.one_of(st.none(), st.sets(st.integers(1, 4), min_size=1)))
    probability = draw(st.sampled_from([None, None, None, 0, 0.5, 1]))
    kind = draw(st.sampled_from(["error", "error", "error", "latency", "hang", "outage"]))
    if kind == "latency":
        shape = draw(st.sampled_from(["extra", "uniform", "exponential"]))
        size: Any = draw(st.sampled_from([0.5, 2]))
        if shape == "uniform":
            size = (size, size + draw(st.sampled_from([0, 1, 3])))
        return Fault.latency(target, attempts=attempts, probability=probability, **{shape: size})
    if kind == "hang":
        return Fault.hang(target, attempts=attempts, probability=probability)
    if kind == "outage":
        begin = draw(st.sampled_from([0, 1, 2.5, 5]))
        return Fault.outage(
            target,
            start=begin,
            end=begin + draw(st.sampled_from([0.5, 2, 10])),
            error=draw(st.sampled_from(ERRORS)),
            retryable=draw(st.booleans()),
        )
    return Fault.error(
        target,
        attempts=attempts,
        error=draw(st.sampled_from(ERRORS)),
        retryable=draw(st.booleans()),
        at=draw(st.sampled_from(["start", "end"])),
        probability=probability,
    )


@st.composite
def cases(draw: DrawFn, *, max_steps: int = 7) -> Case:
    """A random saga DAG with retries, jitter, timeouts, code steps and a fault plan."""
    unlimited = draw(st.booleans())
    saga = SagaPolicy(
        register=draw(st.sampled_from(["after", "before"])),
        parallel=draw(st.booleans()),
        on_error=draw(st.sampled_from(["stop", "continue"])),
    )
    wf = wfsim.Workflow(
        "random", max_concurrency=draw(st.sampled_from([None, None, 1, 2, 3])), saga=saga
    )
    n = draw(st.integers(1, max_steps))
    targets: list[str] = []
    for i in range(n):
        name = f"s{i}"
        after = [f"s{d}" for d in draw(st.sets(st.integers(0, i - 1), max_size=3))] if i else []
        comp = None
        if draw(st.booleans()):
            comp = compensation(
                f"undo_s{i}",
                fn=draw(step_code()),
                duration=draw(st.sampled_from(DURATIONS)),
                retry=draw(retry_policies(unlimited=unlimited)),
                timeout=draw(st.sampled_from([None, None, 0.5, 2])),
            )
            targets.append(comp.name)
        wf.add_step(
            name,
            fn=draw(step_code()),
            duration=draw(st.sampled_from(DURATIONS)),
            output={f"out_{name}": i},
            after=after,
            retry=draw(retry_policies(unlimited=unlimited)),
            timeout=draw(st.sampled_from([None, None, 0.5, 1, 2])),
            compensate=comp,
        )
        targets.append(name)
    faults = [draw(fault_specs(targets)) for _ in range(draw(st.integers(0, 4)))]
    limit = draw(st.sampled_from([10, 30, 60])) if unlimited else "30d"
    return Case(wf, tuple(faults), draw(st.integers(0, 2**32 - 1)), limit)


@pytest.mark.spec(
    "ORD-1",
    "ORD-2",
    "ORD-3",
    "ORD-5",
    "ORD-6",
    "ORD-7",
    "RETRY-1",
    "RETRY-2",
    "RETRY-3",
    "RETRY-4",
    "RETRY-5",
    "RETRY-8",
    "FAULT-1",
    "FAULT-2",
    "FAULT-3",
    "FAULT-4",
    "FAULT-5",
    "FAULT-6",
    "FAULT-7",
    "FAULT-8",
    "FAULT-9",
    "COMP-1",
    "COMP-2",
    "COMP-3",
    "COMP-4",
    "COMP-5",
    "COMP-7",
    "TIME-5",
    "TRACE-1",
    "TRACE-2",
    "ORACLE-3",
)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_every_oracle_is_silent_on_engine_runs(case: Case) -> None:
    result = case.run()
    assert_no_violations(case.workflow, case.faults, result.trace)


# -- hand-written runs -----------------------------------------------------------------------


CHARGE_RETRY = RetryPolicy(max_attempts=3, initial_interval=1)


def purchase(
    saga: SagaPolicy | None = None,
    *,
    charge_retry: RetryPolicy | None = CHARGE_RETRY,
    refund_retry: RetryPolicy | None = None,
) -> wfsim.Workflow:
    """reserve -> charge -> ship -> notify; reserve and charge compensate."""
    wf = wfsim.Workflow("purchase", saga=saga)
    wf.add_step("reserve", duration=1, compensate=compensation("release", duration=0.2))
    wf.add_step(
        "charge",
        after=["reserve"],
        duration=2,
        retry=charge_retry,
        compensate=compensation("refund", duration=0.3, retry=refund_retry),
    )
    wf.add_step("ship", after=["charge"], duration=1)
    wf.add_step("notify", after=["ship"])
    return wf


CHARGE_ONCE = Fault.error("charge", attempts=[1], error="ConnectionError")
SHIP_FAILS = Fault.error("ship", error="Unavailable", retryable=False)
PURCHASE_FAULTS = (CHARGE_ONCE, SHIP_FAILS)


def fanout() -> wfsim.Workflow:
    """a -> (b, c, d) -> e under max_concurrency=2; e times out and retries with full jitter."""
    wf = wfsim.Workflow("fanout", max_concurrency=2)
    wf.add_step("a", duration=1)
    for name in "bcd":
        wf.add_step(name, after=["a"], duration=1)
    wf.add_step(
        "e",
        after=["b", "c", "d"],
        duration=0.5,
        timeout=1,
        retry=RetryPolicy(max_attempts=2, initial_interval=2, jitter="full"),
    )
    return wf


FANOUT_FAULTS = (Fault.latency("e", extra=1, attempts=[1]),)


def chain() -> wfsim.Workflow:
    wf = wfsim.Workflow("chain")
    wf.add_step("a", duration=1)
    wf.add_step("b", after=["a"], duration=1)
    return wf


HANDWRITTEN: dict[str, tuple[wfsim.Workflow, tuple[Fault, ...]]] = {
    "purchase compensated": (purchase(), PURCHASE_FAULTS),
    "purchase completed": (purchase(), (CHARGE_ONCE,)),
    "purchase, charge declined": (
        purchase(),
        (Fault.error("charge", error="Declined", retryable=False),),
    ),
    "purchase, register before": (
        purchase(SagaPolicy(register="before")),
        (Fault.error("charge", error="Declined", retryable=False),),
    ),
    "purchase, refund fails, stop": (
        purchase(),
        (*PURCHASE_FAULTS, Fault.error("refund", error="Ledger")),
    ),
    "purchase, refund fails, continue": (
        purchase(SagaPolicy(on_error="continue")),
        (*PURCHASE_FAULTS, Fault.error("refund", error="Ledger")),
    ),
    "purchase, parallel saga": (purchase(SagaPolicy(parallel=True)), PURCHASE_FAULTS),
    "purchase, refund retried": (
        purchase(refund_retry=RetryPolicy(max_attempts=2, initial_interval=0.5)),
        (*PURCHASE_FAULTS, Fault.error("refund", attempts=[1], at="end")),
    ),
    "fanout": (fanout(), FANOUT_FAULTS),
    "chain": (chain(), ()),
}


@pytest.mark.spec("ORACLE-3")
@pytest.mark.parametrize("name", sorted(HANDWRITTEN))
def test_every_oracle_is_silent_on_handwritten_runs(name: str) -> None:
    workflow, faults = HANDWRITTEN[name]
    for seed in range(3):
        trace = wfsim.run(workflow, seed=seed, faults=faults).trace
        assert check_all(workflow, faults, trace) == [], trace.format()


# -- tampering -------------------------------------------------------------------------------


def events_of(workflow: wfsim.Workflow, faults: Sequence[Fault], seed: int = 0) -> list[TraceEvent]:
    return list(wfsim.run(workflow, seed=seed, faults=faults).trace)


def rebuild(events: Sequence[TraceEvent]) -> wfsim.Trace:
    """The events renumbered 0, 1, 2, ..., so that only the tampering shows."""
    return wfsim.Trace([attrs.evolve(e, seq=i) for i, e in enumerate(events)])


def find(
    events: Sequence[TraceEvent], kind: str, step: str | None = None, attempt: int | None = None
) -> int:
    """Index of the first event of ``kind`` (of ``step``, attempt ``attempt``)."""
    for i, e in enumerate(events):
        if e.kind == kind and step in (None, e.step) and attempt in (None, e.attempt):
            return i
    raise AssertionError(f"no {kind} {step}#{attempt} in the trace")


def at_time(e: TraceEvent, seconds: float) -> TraceEvent:
    return attrs.evolve(e, t_ns=round(seconds * S))


def with_fields(e: TraceEvent, **fields: Any) -> TraceEvent:
    return attrs.evolve(e, fields={**e.fields, **fields})


def found(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.rule, v.message) for v in violations]


PURCHASE = purchase()
PURCHASE_EVENTS = events_of(PURCHASE, PURCHASE_FAULTS)
FANOUT = fanout()
FANOUT_EVENTS = events_of(FANOUT, FANOUT_FAULTS, seed=3)


def purchase_events() -> list[TraceEvent]:
    """reserve 0-1s; charge#1 fails at 1s, retried 1s later, done at 4s; ship fails at 4s
    (not retryable); notify skipped; refund 4-4.3s, then release 4.3-4.5s: compensated."""
    return list(PURCHASE_EVENTS)


def fanout_events() -> list[TraceEvent]:
    """a 0-1s; c, d 1-2s; b 2-3s (a slot was busy); e#1 starts at 3s with 1s of latency and
    times out at 4s; e#2 starts after a jittered delay of 242.017415ms and completes."""
    return list(FANOUT_EVENTS)


def test_the_tampered_traces_start_out_clean() -> None:
    assert check_all(PURCHASE, PURCHASE_FAULTS, rebuild(purchase_events())) == []
    assert check_all(FANOUT, FANOUT_FAULTS, rebuild(fanout_events())) == []


@pytest.mark.spec("ORD-1", "ORACLE-4")
def test_a_step_started_before_its_dependency_completed_breaks_ord_1() -> None:
    events = purchase_events()
    start = events.pop(find(events, "attempt_started", "charge", 1))
    events.insert(find(events, "step_completed", "reserve"), start)
    assert found(check_dependencies(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "ORD-1",
            "step 'charge' attempt 1 started at t=1s before its dependency 'reserve' completed "
            "('reserve' completed later, at t=1s)",
        )
    ]


@pytest.mark.spec("TRACE-1", "ORACLE-4")
def test_two_swapped_events_keep_their_seq_and_break_trace_1() -> None:
    events = purchase_events()
    events[4], events[6] = events[6], events[4]
    violations = check_trace_shape(PURCHASE, PURCHASE_FAULTS, wfsim.Trace(events))
    assert found(violations) == [
        (
            "TRACE-1",
            "event 4 (attempt_started at t=1s) has seq 6, but after #3 seq must be 4: seq counts "
            "0, 1, 2, ... without gaps",
        ),
        (
            "TRACE-1",
            "event 5 (step_ready at t=1s) has seq 5, but after #6 seq must be 7: seq counts "
            "0, 1, 2, ... without gaps",
        ),
        (
            "TRACE-1",
            "event 6 (step_completed at t=1s) has seq 4, but after #5 seq must be 6: seq counts "
            "0, 1, 2, ... without gaps",
        ),
        (
            "TRACE-1",
            "event 7 (fault_injected at t=1s) has seq 7, but after #4 seq must be 5: seq counts "
            "0, 1, 2, ... without gaps",
        ),
    ]


@pytest.mark.spec("TRACE-1", "ORACLE-4")
def test_time_going_back_breaks_trace_1() -> None:
    events = purchase_events()
    i = find(events, "attempt_succeeded", "charge", 2)
    events[i] = at_time(events[i], 1.5)
    assert found(check_trace_shape(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "TRACE-1",
            "time goes back from t=2s (#10 attempt_started) to t=1.5s (#11 attempt_succeeded); "
            "virtual time never decreases",
        )
    ]


@pytest.mark.spec("TRACE-2", "ORACLE-4")
def test_a_trace_without_run_finished_breaks_trace_2() -> None:
    events = purchase_events()[:-1]
    assert found(check_trace_shape(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "TRACE-2",
            "the trace closes with compensation_completed at t=4.5s; the last event must be "
            "run_finished (did the run end?)",
        )
    ]


@pytest.mark.spec("RETRY-8", "ORACLE-4")
def test_a_retry_started_early_breaks_retry_8() -> None:
    events = purchase_events()
    i = find(events, "attempt_started", "charge", 2)
    events[i] = at_time(events[i], 1.5)
    violations = check_retries(PURCHASE, PURCHASE_FAULTS, rebuild(events))
    assert found(violations) == [
        (
            "RETRY-8",
            "step 'charge' attempt 2 started at t=1.5s, 500ms after attempt 1 failed at t=1s, but "
            "its retry delay is 1s; it starts exactly then",
        )
    ]
    assert [e.seq for e in violations[0].events] == [8, 9, 10]


@pytest.mark.spec("ORD-5", "ORD-6", "ORACLE-4")
def test_a_dropped_step_skipped_breaks_ord_5_and_ord_6() -> None:
    events = purchase_events()
    del events[find(events, "step_skipped", "notify")]
    trace = rebuild(events)
    assert found(check_dependencies(PURCHASE, PURCHASE_FAULTS, trace)) == [
        ("ORD-5", "step 'notify' depends on 'ship', which failed at t=4s, but was never skipped")
    ]
    assert found(check_terminal_states(PURCHASE, PURCHASE_FAULTS, trace)) == [
        (
            "ORD-6",
            "step 'notify' never reached a terminal state (completed, failed, skipped or "
            "cancelled) before the run finished at t=4.5s",
        )
    ]


@pytest.mark.spec("ORD-5", "ORACLE-4")
def test_a_skip_that_names_no_upstream_step_breaks_ord_5() -> None:
    events = purchase_events()
    i = find(events, "step_skipped", "notify")
    events[i] = with_fields(events[i], reason="because")
    assert found(check_dependencies(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "ORD-5",
            "step 'notify' was skipped at t=4s with reason 'because', which does not name the "
            "upstream step ('ship')",
        )
    ]


@pytest.mark.spec("COMP-4", "ORACLE-4")
def test_compensations_in_registration_order_break_comp_4() -> None:
    events = purchase_events()
    i = find(events, "compensation_started", "refund")
    refund, release = events[i : i + 2], events[i + 2 : i + 4]
    events[i : i + 4] = [
        at_time(release[0], 4),
        at_time(release[1], 4.2),
        at_time(refund[0], 4.2),
        at_time(refund[1], 4.5),
    ]
    assert found(check_compensations(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "COMP-4",
            "compensations ran in the order release, refund, but reverse registration order "
            "(LIFO) is refund, release",
        )
    ]


@pytest.mark.spec("RETRY-2", "RETRY-8", "ORACLE-4")
def test_a_shortened_retry_delay_breaks_retry_2_and_retry_8() -> None:
    events = purchase_events()
    i = find(events, "retry_scheduled", "charge", 1)
    events[i] = with_fields(events[i], delay=0.5)
    assert found(check_retries(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "RETRY-2",
            "the retry after step 'charge' attempt 1 failed at t=1s waits 500ms, but the "
            "policy's backoff after attempt 1 is 1s",
        ),
        (
            "RETRY-8",
            "step 'charge' attempt 2 started at t=2s, 1s after attempt 1 failed at t=1s, but its "
            "retry delay is 500ms; it starts exactly then",
        ),
    ]


@pytest.mark.spec("ORD-6", "ORACLE-4")
def test_a_duplicated_terminal_event_breaks_ord_6() -> None:
    events = purchase_events()
    i = find(events, "step_completed", "charge")
    events.insert(i + 1, events[i])
    assert found(check_terminal_states(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "ORD-6",
            "step 'charge' ended 2 times (step_completed at t=4s, step_completed at t=4s); it "
            "ends exactly once",
        )
    ]


@pytest.mark.spec("COMP-5", "TIME-5", "ORACLE-4")
@pytest.mark.parametrize(
    ("status", "rule"),
    [
        ("completed", "COMP-5"),
        ("failed", "COMP-5"),
        ("compensation_failed", "COMP-5"),
        ("timed_out", "TIME-5"),
    ],
)
def test_a_changed_run_status_breaks_the_status_rules(status: str, rule: str) -> None:
    events = purchase_events()
    events[-1] = with_fields(events[-1], status=status)
    assert [
        (
            rule,
            f"the run finished at t=4.5s with status {status!r}, but its events say "
            "'compensated': 'ship' failed and every compensation that ran completed",
        )
    ] == found(check_terminal_states(PURCHASE, PURCHASE_FAULTS, rebuild(events)))


@pytest.mark.spec("ORD-6", "ORACLE-4")
def test_a_completed_run_with_a_failed_step_breaks_ord_6() -> None:
    workflow, faults = chain_without_compensations(), (SHIP_FAILS,)
    events = events_of(workflow, faults)
    events[-1] = with_fields(events[-1], status="completed")
    assert found(check_terminal_states(workflow, faults, rebuild(events))) == [
        (
            "ORD-6",
            "the run finished at t=3s with status 'completed', but its events say 'failed': "
            "'ship' failed and nothing was compensated",
        )
    ]


def chain_without_compensations() -> wfsim.Workflow:
    wf = wfsim.Workflow("purchase")
    wf.add_step("reserve", duration=1)
    wf.add_step("charge", after=["reserve"], duration=2)
    wf.add_step("ship", after=["charge"], duration=1)
    return wf


@pytest.mark.spec("FAULT-4", "ORACLE-4")
def test_a_dropped_fault_injected_breaks_fault_4() -> None:
    events = purchase_events()
    del events[find(events, "fault_injected", "charge", 1)]
    assert found(check_faults(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "FAULT-4",
            "step 'charge' attempt 1 started at t=1s and the start fault ConnectionError applies "
            "to it, but no fault_injected records it",
        )
    ]


@pytest.mark.spec("FAULT-4", "ORACLE-4")
def test_a_fault_recorded_after_its_effect_breaks_fault_4() -> None:
    events = purchase_events()
    i = find(events, "fault_injected", "charge", 1)
    events.insert(i + 1, events.pop(i))
    assert found(check_faults(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "FAULT-4",
            "step 'charge' attempt 1 started at t=1s and the start fault ConnectionError applies "
            "to it, but no fault_injected records it",
        ),
        (
            "FAULT-4",
            "fault_injected for 'charge' attempt 1 at t=1s while that attempt was not running; a "
            "fault is recorded during its attempt, before its effect",
        ),
    ]


@pytest.mark.spec("FAULT-1", "ORACLE-4")
def test_a_start_fault_that_fails_later_breaks_fault_1() -> None:
    events = purchase_events()
    for kind in ("attempt_failed", "retry_scheduled"):
        i = find(events, kind, "charge", 1)
        events[i] = at_time(events[i], 1.5)
    assert found(check_faults(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "FAULT-1",
            "step 'charge' attempt 1 started at t=1s and is hit by the start fault "
            "ConnectionError, so it fails at that instant, but it ended attempt_failed at t=1.5s",
        )
    ]


@pytest.mark.spec("FAULT-2", "ORACLE-4")
def test_an_end_fault_attempt_that_succeeds_breaks_fault_2() -> None:
    faults = (CHARGE_ONCE, Fault.error("ship", error="Unavailable", retryable=False, at="end"))
    events = events_of(PURCHASE, faults)
    i = find(events, "fault_injected", "ship", 1)
    events[i : i + 2] = [TraceEvent(0, events[i].t_ns, "attempt_succeeded", "ship", 1)]
    violations = found(check_faults(PURCHASE, faults, rebuild(events)))
    assert violations == [
        (
            "FAULT-2",
            "step 'ship' attempt 1 is hit by the end fault Unavailable, so it fails when its work "
            "is done, but it ended attempt_succeeded at t=5s",
        )
    ]


@pytest.mark.spec("FAULT-3", "ORACLE-4")
def test_latency_recorded_after_the_start_breaks_fault_3() -> None:
    events = fanout_events()
    i = find(events, "fault_injected", "e", 1)
    events[i] = at_time(events[i], 3.5)
    assert found(check_faults(FANOUT, FANOUT_FAULTS, rebuild(events))) == [
        (
            "FAULT-3",
            "the latency fault of step 'e' attempt 1 is recorded at t=3.5s, but it takes hold "
            "when the attempt starts, at t=3s",
        )
    ]


@pytest.mark.spec("RETRY-4", "ORACLE-4")
def test_a_retry_after_a_non_retryable_failure_breaks_retry_4() -> None:
    events = purchase_events()
    i = find(events, "attempt_failed", "charge", 1)
    events[i] = with_fields(events[i], retryable=False)
    assert found(check_retries(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "RETRY-4",
            "step 'charge' attempt 1 failed at t=1s with ConnectionError, which is not retryable, "
            "yet it was retried; the step fails at once",
        )
    ]


@pytest.mark.spec("RETRY-4", "ORACLE-4")
def test_a_non_retryable_fault_reported_retryable_breaks_retry_4() -> None:
    events = purchase_events()
    i = find(events, "attempt_failed", "ship", 1)
    events[i] = with_fields(events[i], retryable=True)
    assert found(check_retries(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "RETRY-4",
            "step 'ship' attempt 1 failed at t=4s and its injected fault (Unavailable) says "
            "retryable=False, yet its attempt_failed says retryable: true",
        )
    ]


@pytest.mark.spec("RETRY-1", "ORACLE-4")
def test_a_skipped_attempt_number_breaks_retry_1() -> None:
    events = purchase_events()
    for kind in ("attempt_started", "attempt_succeeded"):
        i = find(events, kind, "charge", 2)
        events[i] = attrs.evolve(events[i], attempt=3)
    assert found(check_retries(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "RETRY-1",
            "step 'charge' started attempt 3 at t=2s as its attempt number 2; attempts are "
            "numbered 1, 2, 3, ... in the order they start",
        )
    ]


@pytest.mark.spec("RETRY-1", "ORACLE-4")
def test_a_retry_without_a_policy_breaks_retry_1() -> None:
    strict = purchase(charge_retry=None)
    assert found(check_retries(strict, PURCHASE_FAULTS, rebuild(purchase_events()))) == [
        (
            "RETRY-1",
            "step 'charge' made 2 attempts, the first extra one at t=2s; it has no retry policy, "
            "so it gets exactly one attempt",
        ),
        (
            "RETRY-1",
            "step 'charge' attempt 1 failed at t=1s and has no retry policy, yet it was retried",
        ),
    ]


@pytest.mark.spec("RETRY-3", "RETRY-8", "ORACLE-4")
def test_a_delay_beyond_the_jitter_bounds_breaks_retry_3() -> None:
    events = fanout_events()
    i = find(events, "retry_scheduled", "e", 1)
    events[i] = with_fields(events[i], delay=5.0)
    assert found(check_retries(FANOUT, FANOUT_FAULTS, rebuild(events))) == [
        (
            "RETRY-3",
            "the retry after step 'e' attempt 1 failed at t=4s waits 5s, outside [0s, 2s], the "
            "bounds of full jitter after attempt 1",
        ),
        (
            "RETRY-8",
            "step 'e' attempt 2 started at t=4.242017415s, 242.017415ms after attempt 1 failed at "
            "t=4s, but its retry delay is 5s; it starts no earlier, even waiting for a slot",
        ),
    ]


@pytest.mark.spec("RETRY-5", "ORACLE-4")
def test_a_timeout_at_the_wrong_instant_breaks_retry_5() -> None:
    events = fanout_events()
    start = at_time(events.pop(find(events, "attempt_started", "e", 1)), 2.5)
    events.insert(find(events, "step_completed", "c") + 1, start)
    assert found(check_retries(FANOUT, FANOUT_FAULTS, rebuild(events))) == [
        (
            "RETRY-5",
            "step 'e' attempt 1 started at t=2.5s with a 1s timeout, so it times out at t=3.5s, "
            "not at t=4s",
        )
    ]


@pytest.mark.spec("RETRY-5", "ORACLE-4")
def test_a_timeout_event_with_the_wrong_timeout_breaks_retry_5() -> None:
    events = fanout_events()
    i = find(events, "attempt_timed_out", "e", 1)
    events[i] = with_fields(events[i], timeout=2.0)
    assert found(check_retries(FANOUT, FANOUT_FAULTS, rebuild(events))) == [
        (
            "RETRY-5",
            "attempt_timed_out of step 'e' attempt 1 at t=4s records timeout 2.0 s, but its "
            "timeout is 1s",
        )
    ]


@pytest.mark.spec("ORD-3", "ORACLE-4")
def test_a_third_attempt_in_flight_breaks_ord_3() -> None:
    events = fanout_events()
    start = at_time(events.pop(find(events, "attempt_started", "b", 1)), 1)
    events.insert(find(events, "attempt_started", "d", 1) + 1, start)
    violations = check_concurrency(FANOUT, FANOUT_FAULTS, rebuild(events))
    assert found(violations) == [
        ("ORD-3", "at t=1s 3 attempts were in flight (c#1, d#1, b#1), more than max_concurrency=2")
    ]
    assert [e.step for e in violations[0].events] == ["c", "d", "b"]


@pytest.mark.spec("ORD-3", "ORACLE-4")
def test_a_ready_step_left_waiting_beside_a_free_slot_breaks_ord_3() -> None:
    events = fanout_events()
    start = at_time(events.pop(find(events, "attempt_started", "b", 1)), 2.5)
    events.insert(find(events, "attempt_succeeded", "b", 1), start)
    assert found(check_concurrency(FANOUT, FANOUT_FAULTS, rebuild(events))) == [
        (
            "ORD-3",
            "at t=2s only 0 of max_concurrency=2 slots were busy, yet 'b' (ready since t=1s) did "
            "not start; a step waits only for a free slot",
        )
    ]


@pytest.mark.spec("ORD-2", "ORACLE-4")
def test_idle_time_without_a_reason_breaks_ord_2() -> None:
    workflow = chain()
    events = events_of(workflow, ())
    i = find(events, "attempt_started", "b", 1)
    events[i] = at_time(events[i], 1.5)
    assert found(check_dependencies(workflow, (), rebuild(events))) == [
        (
            "ORD-2",
            "step 'b' became ready at t=1s but its first attempt started at t=1.5s; with "
            "unbounded concurrency and no faults it starts at once",
        )
    ]


def compensation_events(t_ns: int, name: str, for_step: str, seconds: float) -> list[TraceEvent]:
    fields = {"for_step": for_step}
    return [
        TraceEvent(0, t_ns, "compensation_started", name, 1, fields),
        TraceEvent(0, t_ns + round(seconds * S), "compensation_completed", name, 1, fields),
    ]


@pytest.mark.spec("COMP-1", "ORACLE-4")
def test_a_compensation_in_a_run_without_failure_breaks_comp_1() -> None:
    faults = (CHARGE_ONCE,)
    events = events_of(PURCHASE, faults)
    finished = events.pop()
    events += [
        *compensation_events(finished.t_ns, "refund", "charge", 0.3),
        at_time(finished, 5.3),
    ]
    assert found(check_compensations(PURCHASE, faults, rebuild(events))) == [
        (
            "COMP-1",
            "compensation 'refund' has compensation_started at t=5s although no step failed; a "
            "run in which no step failed compensates nothing",
        )
    ]


@pytest.mark.spec("COMP-1", "ORACLE-4")
def test_a_compensation_before_the_forward_work_is_over_breaks_comp_1() -> None:
    events = purchase_events()
    i = find(events, "compensation_started", "refund")
    refund = events[i : i + 2]
    del events[i : i + 2]
    events[find(events, "step_skipped", "notify") : find(events, "step_skipped", "notify")] = refund
    assert found(check_compensations(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "COMP-1",
            "compensation 'refund' has compensation_started at t=4s while the forward work was "
            "not over: step_skipped of step 'notify' at t=4s came after it",
        )
    ]


@pytest.mark.spec("COMP-2", "ORACLE-4")
def test_compensating_a_step_that_never_completed_breaks_comp_2() -> None:
    faults = (Fault.error("charge", error="Declined", retryable=False),)
    events = events_of(PURCHASE, faults)
    i = find(events, "compensation_started", "release")
    later = [attrs.evolve(e, t_ns=e.t_ns + 300_000_000) for e in events[i:]]
    events[i:] = [*compensation_events(events[i].t_ns, "refund", "charge", 0.3), *later]
    assert found(check_compensations(PURCHASE, faults, rebuild(events))) == [
        (
            "COMP-2",
            "compensation 'refund' has compensation_started at t=1s for step 'charge', which "
            "never completed before it; under register='after' only completed steps are "
            "compensated",
        )
    ]


@pytest.mark.spec("COMP-2", "ORACLE-4")
def test_a_dropped_compensation_breaks_comp_2() -> None:
    events = purchase_events()
    i = find(events, "compensation_started", "release")
    del events[i : i + 2]
    assert found(check_compensations(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "COMP-2",
            "compensation 'release' was registered (step_completed of 'reserve' at t=1s) and a "
            "step failed, but it never ran and was not skipped",
        )
    ]


@pytest.mark.spec("COMP-4", "ORACLE-4")
def test_a_compensation_run_after_a_final_failure_under_stop_breaks_comp_4() -> None:
    faults = (*PURCHASE_FAULTS, Fault.error("refund", error="Ledger"))
    events = events_of(PURCHASE, faults)
    i = find(events, "compensation_skipped", "release")
    skipped = events[i]
    events[i:] = [
        *compensation_events(skipped.t_ns, "release", "reserve", 0.2),
        at_time(events[-1], 4.2),
    ]
    assert found(check_compensations(PURCHASE, faults, rebuild(events))) == [
        (
            "COMP-4",
            "compensation 'release' started at t=4s after compensation 'refund' failed for good "
            "at t=4s; with on_error='stop' the rest are skipped",
        )
    ]


@pytest.mark.spec("COMP-4", "ORACLE-4")
def test_parallel_compensations_at_different_instants_break_comp_4() -> None:
    workflow = purchase(SagaPolicy(parallel=True))
    events = events_of(workflow, PURCHASE_FAULTS)
    i = find(events, "compensation_started", "release")
    events[i] = at_time(events[i], 4.1)
    j = find(events, "compensation_completed", "release")
    events[j] = at_time(events[j], 4.3)
    events.insert(find(events, "compensation_completed", "refund"), events.pop(j))
    assert found(check_compensations(workflow, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "COMP-4",
            "compensations started at different instants ('refund' at t=4s, 'release' at "
            "t=4.1s); with parallel=True they all start at once",
        )
    ]


@pytest.mark.spec("COMP-3", "ORACLE-4")
def test_a_final_flag_before_a_retry_breaks_comp_3() -> None:
    workflow, faults = HANDWRITTEN["purchase, refund retried"]
    events = events_of(workflow, faults)
    i = find(events, "compensation_failed", "refund", 1)
    events[i] = with_fields(events[i], final=True)
    assert found(check_retries(workflow, faults, rebuild(events))) == [
        (
            "COMP-3",
            "compensation 'refund' attempt 1 failed at t=4.3s with final: true, but a retry "
            "follows",
        )
    ]


@pytest.mark.spec("COMP-7", "ORACLE-4")
def test_a_compensation_left_running_breaks_comp_7() -> None:
    events = purchase_events()
    del events[find(events, "compensation_completed", "release")]
    assert found(check_compensations(PURCHASE, PURCHASE_FAULTS, rebuild(events))) == [
        (
            "COMP-7",
            "compensation 'release' attempt 1 started at t=4.3s was still running when the run "
            "finished at t=4.5s, but it was not cancelled",
        )
    ]


# -- the oracles themselves ------------------------------------------------------------------


@pytest.mark.spec("ORACLE-2")
def test_a_violation_describes_itself_with_its_trace_lines() -> None:
    events = purchase_events()
    i = find(events, "attempt_started", "charge", 2)
    events[i] = at_time(events[i], 1.5)
    (violation,) = check_retries(PURCHASE, PURCHASE_FAULTS, rebuild(events))
    assert violation.describe() == (
        "RETRY-8: step 'charge' attempt 2 started at t=1.5s, 500ms after attempt 1 failed at "
        "t=1s, but its retry delay is 1s; it starts exactly then\n"
        '    [      1s] #8 attempt_failed charge#1 error="ConnectionError" '
        'message="injected ConnectionError" retryable=true\n'
        "    [      1s] #9 retry_scheduled charge#1 delay=1.0 next_attempt=2\n"
        "    [    1.5s] #10 attempt_started charge#2"
    )


@pytest.mark.spec("ORACLE-5")
def test_assert_no_violations_lists_every_violation() -> None:
    events = purchase_events()
    del events[find(events, "step_skipped", "notify")]
    with pytest.raises(AssertionError) as info:
        assert_no_violations(PURCHASE, PURCHASE_FAULTS, rebuild(events))
    assert str(info.value) == (
        "2 rule violation(s) in the run of workflow 'purchase':\n"
        "ORD-5: step 'notify' depends on 'ship', which failed at t=4s, but was never skipped\n"
        '    [      4s] #17 step_failed ship reason="Unavailable is not retryable" '
        'error="Unavailable"\n'
        "ORD-6: step 'notify' never reached a terminal state (completed, failed, skipped or "
        "cancelled) before the run finished at t=4.5s\n"
        '    [    4.5s] #22 run_finished  status="compensated" result=null '
        'message="step(s) failed: ship; compensated: refund, release"'
    )
    assert_no_violations(PURCHASE, PURCHASE_FAULTS, rebuild(purchase_events()))


@pytest.mark.spec("ORACLE-5")
def test_check_all_runs_every_oracle_in_order() -> None:
    events = purchase_events()
    del events[find(events, "step_skipped", "notify")]
    events[-1] = with_fields(events[-1], status="completed")
    trace = rebuild(events)
    each = [v for oracle in ORACLES for v in oracle(PURCHASE, PURCHASE_FAULTS, trace)]
    assert [v.rule for v in each] == ["ORD-5", "ORD-6", "COMP-5"]
    assert each == check_all(PURCHASE, PURCHASE_FAULTS, trace)


@pytest.mark.spec("ORACLE-1")
def test_oracles_never_run_the_engine_and_answer_the_same_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = purchase_events()
    events[-1] = with_fields(events[-1], status="completed")
    trace = rebuild(events)
    before = trace.to_jsonl()

    def no_engine(*args: object, **kwargs: object) -> None:
        raise AssertionError("an oracle ran the engine")

    monkeypatch.setattr("wfsim._core._engine.Engine.run", no_engine)
    first = check_all(PURCHASE, PURCHASE_FAULTS, trace)
    assert first == check_all(PURCHASE, PURCHASE_FAULTS, trace)
    assert first == check_all(PURCHASE, list(PURCHASE_FAULTS), list(trace))
    assert first
    assert before == trace.to_jsonl()


BASES = {
    name: (workflow, faults, events_of(workflow, faults))
    for name, (workflow, faults) in HANDWRITTEN.items()
}


@st.composite
def tampered(draw: DrawFn) -> tuple[wfsim.Workflow, tuple[Fault, ...], list[TraceEvent]]:
    """A real trace with a few random corruptions (drops, copies, swaps, shifts, edits)."""
    workflow, faults, base = BASES[draw(st.sampled_from(sorted(BASES)))]
    events = list(base)
    for _ in range(draw(st.integers(1, 4))):
        if not events:
            break
        i = draw(st.integers(0, len(events) - 1))
        op = draw(st.sampled_from(["drop", "copy", "swap", "shift", "attempt", "field"]))
        if op == "drop":
            del events[i]
        elif op == "copy":
            events.insert(draw(st.integers(0, len(events))), events[i])
        elif op == "swap":
            j = draw(st.integers(0, len(events) - 1))
            events[i], events[j] = events[j], events[i]
        elif op == "shift":
            events[i] = attrs.evolve(
                events[i], t_ns=max(0, events[i].t_ns + draw(st.sampled_from([-S, -1, 1, S // 2])))
            )
        elif op == "attempt":
            events[i] = attrs.evolve(events[i], attempt=draw(st.sampled_from([None, 0, 1, 2, 9])))
        else:
            key = draw(st.sampled_from(["delay", "status", "retryable", "final", "fault", "x"]))
            value = draw(st.sampled_from([None, True, -1, 0.5, "text", {"kind": "error"}]))
            events[i] = with_fields(events[i], **{key: value})
    renumber = draw(st.booleans())
    return workflow, faults, list(rebuild(events)) if renumber else events


def spec_rule_ids() -> set[str]:
    text = "\n".join(p.read_text() for p in (REPO / "specs").glob("*.md"))
    return set(re.findall(r"^### ([A-Z]+-\d+):", text, re.M))


@pytest.mark.spec("ORACLE-1", "ORACLE-2")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tampered())
def test_oracles_never_raise_on_tampered_traces(
    case: tuple[wfsim.Workflow, tuple[Fault, ...], list[TraceEvent]],
) -> None:
    workflow, faults, events = case
    violations = check_all(workflow, faults, wfsim.Trace(events))
    rules = spec_rule_ids()
    for v in violations:
        assert v.rule in rules
        assert v.message and v.describe().startswith(f"{v.rule}: {v.message}")
        assert [e.seq for e in v.events] == sorted(e.seq for e in v.events)


@pytest.mark.spec("ORACLE-2")
def test_every_rule_an_oracle_cites_is_defined_in_the_specs() -> None:
    source = "\n".join(p.read_text() for p in (REPO / "wfsim" / "checks").glob("*.py"))
    cited = set(re.findall(r'"([A-Z]+-\d+)"', source))
    assert len(cited) >= 25
    assert set() == cited - spec_rule_ids()


@pytest.mark.spec("ORACLE-2")
def test_an_empty_trace_is_one_violation() -> None:
    assert found(check_all(PURCHASE, (), wfsim.Trace([]))) == [
        (
            "TRACE-2",
            "the trace is empty; it must open with run_started and close with run_finished",
        )
    ]


@pytest.mark.spec("RETRY-3")
@pytest.mark.parametrize(
    ("jitter", "previous", "bounds"),
    [
        ("none", None, (4 * S, 4 * S)),
        ("full", None, (0, 4 * S)),
        ("equal", None, (2 * S, 4 * S)),
        ("decorrelated", None, (S, 3 * S)),
        ("decorrelated", 2 * S, (S, 6 * S)),
        ("decorrelated", 5 * S, (S, 10 * S)),
    ],
)
def test_jitter_bounds(jitter: Any, previous: int | None, bounds: tuple[int, int]) -> None:
    policy = RetryPolicy(max_attempts=5, initial_interval=1, max_interval=10, jitter=jitter)
    assert bounds == jitter_bounds_ns(policy, 3, previous)
    for draw in (0.0, 0.5, 0.999999):
        delay = wfsim.retry_delay(policy, 3, draw=draw, previous_ns=previous)
        assert bounds[0] <= delay <= bounds[1]


@pytest.mark.spec("ORACLE-5")
def test_the_public_surface_is_pinned() -> None:
    import wfsim.checks

    assert {
        "Violation",
        "assert_no_violations",
        "check_all",
        "check_breakers",
        "check_collections",
        "check_compensations",
        "check_concurrency",
        "check_crashes",
        "check_deliveries",
        "check_dependencies",
        "check_faults",
        "check_groups",
        "check_retries",
        "check_terminal_states",
        "check_trace_shape",
        "check_trigger_rules",
        "jitter_bounds_ns",
    } == set(wfsim.checks.__all__)
    for name in wfsim.checks.__all__:
        assert getattr(wfsim.checks, name).__doc__, name


def flaky() -> wfsim.Workflow:
    wf = wfsim.Workflow("flaky")
    wf.add_step(
        "call", duration=1, timeout=2, retry=RetryPolicy(max_attempts=4, initial_interval=1)
    )
    return wf


FLAKY = flaky()
#: call#1 hangs until its timeout at 2s; call#2 starts at 3s inside the outage and fails;
#: call#3 starts at 5s and completes at 6s.
FLAKY_FAULTS = (
    Fault.hang("call", attempts=[1]),
    Fault.outage("call", start=2, end=3.5, error="ServiceUnavailable"),
)


def flaky_events() -> list[TraceEvent]:
    return events_of(FLAKY, FLAKY_FAULTS)


@pytest.mark.spec("FAULT-8", "ORACLE-4")
def test_a_hung_attempt_that_fails_on_its_own_breaks_fault_8() -> None:
    events = flaky_events()
    i = find(events, "attempt_timed_out", "call", 1)
    events[i] = TraceEvent(
        0,
        events[i].t_ns,
        "attempt_failed",
        "call",
        1,
        {"error": "Boom", "message": "boom", "retryable": True},
    )
    assert found(check_faults(FLAKY, FLAKY_FAULTS, rebuild(events))) == [
        (
            "FAULT-8",
            "step 'call' attempt 1 was hung by an injected fault at t=0s, yet it ended "
            "attempt_failed at t=2s; only its timeout or the time limit ends it",
        )
    ]


@pytest.mark.spec("FAULT-9", "ORACLE-4")
def test_an_outage_outside_its_window_breaks_fault_9() -> None:
    events = flaky_events()
    for kind in ("attempt_started", "fault_injected", "attempt_failed", "retry_scheduled"):
        i = find(events, kind, "call", 2)
        events[i] = at_time(events[i], 3.5)
    assert found(check_faults(FLAKY, FLAKY_FAULTS, rebuild(events))) == [
        (
            "FAULT-9",
            "step 'call' attempt 2 started at t=3.5s, outside the outage window [2s, 3.5s), yet "
            "has fault_injected {'kind': 'outage', 'error': 'ServiceUnavailable', 'retryable': "
            "True, 'start': 2.0, 'end': 3.5}",
        ),
    ]


@pytest.mark.spec("FAULT-9", "FAULT-4", "ORACLE-4")
def test_an_unrecorded_outage_breaks_fault_4() -> None:
    events = flaky_events()
    del events[find(events, "fault_injected", "call", 2)]
    assert found(check_faults(FLAKY, FLAKY_FAULTS, rebuild(events))) == [
        (
            "FAULT-4",
            "step 'call' attempt 2 started at t=3s and the outage ServiceUnavailable applies to "
            "it, but no fault_injected records it",
        )
    ]


@pytest.mark.spec("FAULT-6", "FAULT-7", "ORACLE-4")
def test_a_fault_of_probability_0_or_an_extra_out_of_bounds_breaks_fault_6_and_7() -> None:
    faults = (
        Fault.latency("call", uniform=(0.5, 1), attempts=[3]),
        Fault.error("call", attempts=[3], probability=0, at="end"),
        *FLAKY_FAULTS,
    )
    events = events_of(FLAKY, faults)
    i = find(events, "fault_injected", "call", 3)
    events[i] = with_fields(events[i], fault={"kind": "latency", "shape": "uniform", "extra": 3.0})
    events.insert(i + 1, with_fields(events[i], fault=dict(faults[1].describe())))
    assert found(check_faults(FLAKY, faults, rebuild(events))) == [
        (
            "FAULT-7",
            "the uniform latency fault of step 'call' attempt 3 recorded extra 3.0 s at t=5s, "
            "outside [500ms, 1s)",
        ),
        (
            "FAULT-6",
            "step 'call' attempt 3 has fault_injected {'kind': 'error', 'error': 'InjectedError', "
            "'retryable': True, 'at': 'end', 'probability': 0.0} at t=5s, from a fault with "
            "probability 0, which never applies",
        ),
    ]


@pytest.mark.spec("ORACLE-5")
def test_an_oracle_given_something_else_than_a_workflow_says_so() -> None:
    with pytest.raises(TypeError) as info:
        check_all("purchase", (), rebuild(purchase_events()))  # type: ignore[arg-type]
    assert str(info.value) == (
        "the oracles judge workflows (a wfsim.Workflow, a @wfsim.workflow body or a "
        "wfsim.EventWorkflow), not str 'purchase'"
    )
