"""The breaker oracle (BRK-1..4): silent on engine runs, loud on tampered transitions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

import wfsim
from wfsim import CircuitBreaker, Fault, RetryPolicy, TraceEvent
from wfsim.checks import check_all, check_breakers

S = 1_000_000_000


def found(violations: Sequence[Any]) -> list[tuple[str, str]]:
    return [(v.rule, v.message) for v in violations]


def rebuild(events: Sequence[TraceEvent]) -> wfsim.Trace:
    return wfsim.Trace([attrs.evolve(e, seq=i) for i, e in enumerate(events)])


def find(events: Sequence[TraceEvent], kind: str, **where: Any) -> int:
    for i, e in enumerate(events):
        if e.kind == kind and all(
            (getattr(e, k) if k in ("step", "attempt") else e.get(k)) == v for k, v in where.items()
        ):
            return i
    raise AssertionError(f"no {kind} {where}")


@st.composite
def breakers(draw: DrawFn) -> CircuitBreaker:
    if draw(st.booleans()):
        return CircuitBreaker.consecutive(
            "api",
            failure_threshold=draw(st.integers(1, 3)),
            recovery_timeout=draw(st.sampled_from([1, 2.5, 5])),
            success_threshold=draw(st.integers(1, 2)),
            exclude=draw(st.sampled_from([(), ("Ignored",)])),
            throw_new_error_on_trip=draw(st.booleans()),
        )
    return CircuitBreaker.rate(
        "api",
        window=draw(st.integers(2, 4)),
        minimum_calls=draw(st.integers(1, 4)),
        failure_rate=draw(st.sampled_from([0.25, 0.5, 1])),
        recovery_timeout=draw(st.sampled_from([1, 2.5, 5])),
        half_open_permits=draw(st.integers(1, 3)),
        exclude=draw(st.sampled_from([(), ("Ignored",)])),
    )


async def cached(ctx: wfsim.StepContext) -> dict[str, str]:
    return {"cached": ctx.step}


@st.composite
def guarded_dags(draw: DrawFn) -> tuple[wfsim.Workflow, tuple[Fault, ...]]:
    """Steps sharing one breaker (some with a fallback), retried through outages, errors
    (excluded ones too) and timeouts, sometimes under a concurrency limit."""
    breaker = draw(breakers())
    wf = wfsim.Workflow("guarded", max_concurrency=draw(st.sampled_from([None, 1, 2])))
    n = draw(st.integers(1, 5))
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=2))) if i else []
        guarded = draw(st.integers(0, 3)) != 0
        wf.add_step(
            f"s{i}",
            after=[f"s{d}" for d in deps],
            duration=draw(st.sampled_from([0, 0.5, 1])),
            breaker=breaker if guarded else None,
            fallback=cached if guarded and draw(st.integers(0, 4)) == 0 else None,
            retry=RetryPolicy(
                max_attempts=draw(st.integers(1, 8)),
                initial_interval=draw(st.sampled_from([0.5, 1])),
                backoff_coefficient=1,
            ),
            timeout=draw(st.sampled_from([None, None, 0.75])),
        )
    faults: list[Fault] = []
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["s*", *(f"s{i}" for i in range(n))]))
        if draw(st.booleans()):
            begin = draw(st.sampled_from([0, 1, 3]))
            faults.append(Fault.outage(target, start=begin, end=begin + draw(st.integers(1, 6))))
        else:
            faults.append(
                Fault.error(
                    target,
                    error=draw(st.sampled_from(["Boom", "Ignored"])),
                    attempts=draw(st.sampled_from([[1], [1, 2], [2, 3]])),
                    at=draw(st.sampled_from(["start", "end"])),
                )
            )
    if draw(st.integers(0, 4)) == 0:
        faults.append(Fault.latency("s*", extra=1, attempts=[1]))
    return wf, tuple(faults)


@pytest.mark.spec("BRK-1", "BRK-2", "BRK-3", "BRK-4", "ORACLE-3", "ORACLE-8")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=guarded_dags(), seed=st.integers(0, 20))
def test_every_oracle_is_silent_on_runs_through_breakers(
    case: tuple[wfsim.Workflow, tuple[Fault, ...]], seed: int
) -> None:
    wf, faults = case
    trace = wfsim.run(wf, seed=seed, faults=faults, time_limit=120).trace
    assert check_all(wf, faults, trace) == [], trace.format()


def polled() -> wfsim.Workflow:
    """call retries every second through a 4 s outage; its breaker opens at the third
    failure (2s), refuses calls at 3-6s and half-opens at 7s, when the call succeeds."""
    breaker = CircuitBreaker.consecutive("api", failure_threshold=3, recovery_timeout=5)
    wf = wfsim.Workflow("polled")
    wf.add_step(
        "call",
        duration=0.5,
        breaker=breaker,
        retry=RetryPolicy(max_attempts=12, initial_interval=1, backoff_coefficient=1),
    )
    wf.add_step("audit", after=["call"], duration=0.5, breaker=breaker)
    return wf


POLLED = polled()
OUTAGE = (Fault.outage("call", start=0, end=4),)


def polled_events() -> list[TraceEvent]:
    return list(wfsim.run(POLLED, faults=OUTAGE).trace)


async def call(ctx: wfsim.StepContext) -> str:
    await ctx.sleep(0.1)
    return "ok"


@wfsim.workflow
async def poller(ctx: wfsim.WorkflowContext, _: Any) -> list[str]:
    """The same through a body: the oracle knows no settings and checks the state machine."""
    breaker = CircuitBreaker.consecutive("api", failure_threshold=2, recovery_timeout=3)
    out = []
    for _tick in range(8):
        try:
            out.append(await ctx.step(call, breaker=breaker))
        except Exception as exc:
            out.append(type(exc).__name__)
        await ctx.sleep(1)
    return out


POLLER_FAULTS = (Fault.outage("call*", start=0, end=2.5),)


def test_the_tampered_traces_start_out_clean() -> None:
    assert check_all(POLLED, OUTAGE, rebuild(polled_events())) == []
    trace = wfsim.run(poller, faults=POLLER_FAULTS).trace
    assert [e["state"] for e in trace.of_kind("breaker_state")] == ["open", "half_open", "closed"]
    assert check_all(poller, POLLER_FAULTS, trace) == []


@pytest.mark.spec("BRK-1", "ORACLE-4", "ORACLE-8")
def test_a_wrong_previous_state_breaks_brk_1() -> None:
    events = polled_events()
    i = find(events, "breaker_state", state="closed")
    events[i] = attrs.evolve(events[i], fields={**events[i].fields, "previous": "open"})
    assert found(check_breakers(POLLED, OUTAGE, rebuild(events))) == [
        (
            "BRK-1",
            "breaker 'api' went open -> closed at t=7.5s, but it was half_open; previous names "
            "the state a breaker leaves",
        )
    ]


@pytest.mark.spec("BRK-2", "ORACLE-4", "ORACLE-8")
def test_an_illegal_transition_breaks_brk_2() -> None:
    events = polled_events()
    del events[find(events, "breaker_state", state="half_open")]
    violations = found(check_breakers(POLLED, OUTAGE, rebuild(events)))
    assert violations == [
        (
            "BRK-2",
            "breaker 'api' (consecutive) at the start of step 'call' attempt 8 at t=7s shows "
            "no change, but its settings give half_open",
        ),
        (
            "BRK-1",
            "breaker 'api' went half_open -> closed at t=7.5s, but it was open; previous names "
            "the state a breaker leaves",
        ),
        (
            "BRK-2",
            "breaker 'api' went open -> closed at t=7.5s, which its state machine does not "
            "allow (closed -> open -> half_open -> closed, or half_open -> open)",
        ),
    ]


@pytest.mark.spec("BRK-2", "ORACLE-4", "ORACLE-8")
def test_opening_a_failure_early_breaks_brk_2() -> None:
    events = polled_events()
    opened = events.pop(find(events, "breaker_state", state="open"))
    events.insert(find(events, "attempt_failed", step="call", attempt=2), at_s(opened, 1))
    violations = found(check_breakers(POLLED, OUTAGE, rebuild(events)))
    assert violations[:2] == [
        (
            "BRK-2",
            "breaker 'api' (consecutive) when step 'call' attempt 2 ended (attempt_failed) at "
            "t=1s shows open, but its settings give no change",
        ),
        (
            "BRK-2",
            "breaker 'api' (consecutive) when step 'call' attempt 3 ended (attempt_failed) at "
            "t=2s shows no change, but its settings give open",
        ),
    ]


@pytest.mark.spec("BRK-2", "ORACLE-4", "ORACLE-8")
def test_a_trip_that_keeps_its_own_error_breaks_brk_2() -> None:
    events = polled_events()
    i = find(events, "attempt_failed", step="call", attempt=3)
    assert events[i].fields == {
        "error": "CircuitOpenError",
        "message": "failures threshold reached, circuit breaker 'api' opened",
        "retryable": True,
        "cause": "ServiceUnavailable",
    }
    j = find(events, "attempt_failed", step="call", attempt=2)
    events[i] = attrs.evolve(events[i], fields=dict(events[j].fields))
    events[j] = attrs.evolve(events[j], fields={**events[j].fields, "cause": "ServiceUnavailable"})
    assert found(check_breakers(POLLED, OUTAGE, rebuild(events))) == [
        (
            "BRK-2",
            "step 'call' attempt 2 fails at t=1s with a cause (ServiceUnavailable), but its "
            "failure did not trip breaker 'api' with throw_new_error_on_trip; only a trip "
            "replaces the error",
        ),
        (
            "BRK-2",
            "step 'call' attempt 3 opened breaker 'api' at t=2s and fails with ServiceUnavailable, "
            "but with throw_new_error_on_trip the caller sees CircuitOpenError (failures "
            "threshold reached, circuit breaker 'api' opened), its own error as cause",
        ),
    ]


def at_s(e: TraceEvent, seconds: float) -> TraceEvent:
    return attrs.evolve(e, t_ns=round(seconds * S))


@pytest.mark.spec("BRK-2", "ORACLE-4", "ORACLE-8")
def test_half_open_before_the_recovery_timeout_breaks_brk_2() -> None:
    events = polled_events()
    i = find(events, "attempt_failed", step="call", attempt=7)
    events[i] = attrs.evolve(events[i], kind="attempt_succeeded", fields={})
    events.insert(i, at_s(events[find(events, "breaker_state", state="closed")], 6))
    events.insert(i, at_s(events[find(events, "breaker_state", state="half_open")], 6))
    violations = found(check_breakers(POLLED, OUTAGE, rebuild(events)))
    assert violations[0] == (
        "BRK-2",
        "breaker 'api' (consecutive) at the start of step 'call' attempt 7 at t=6s shows "
        "half_open, but its settings give no change",
    )


@pytest.mark.spec("BRK-4", "ORACLE-4", "ORACLE-8")
def test_a_refusal_while_closed_breaks_brk_4() -> None:
    events = polled_events()
    i = find(events, "attempt_failed", step="call", attempt=1)
    events[i] = attrs.evolve(
        events[i],
        fields={
            "error": "CircuitOpenError",
            "message": "circuit breaker 'api' is open; call refused",
            "retryable": True,
        },
    )
    del events[i - 1]  # the outage's fault_injected: a refused call runs no fault
    assert found(check_breakers(POLLED, OUTAGE, rebuild(events)))[:2] == [
        (
            "BRK-4",
            "step 'call' attempt 1 was refused at t=0s, but breaker 'api' (closed) admits it then",
        ),
        (
            "BRK-4",
            "step 'call' attempt 1 was refused at t=0s by breaker 'api' as open, but the "
            "breaker was closed; calls are refused only while it is open (or half_open with no "
            "permit left)",
        ),
    ]


@pytest.mark.spec("BRK-2", "ORACLE-4", "ORACLE-8")
def test_a_body_breaker_that_half_opens_without_a_call_breaks_brk_2() -> None:
    events = list(wfsim.run(poller, faults=POLLER_FAULTS).trace)
    half = events.pop(find(events, "breaker_state", state="half_open"))
    j = find(events, "breaker_state", state="closed")
    events.insert(j, attrs.evolve(half, t_ns=events[j].t_ns))
    violations = found(check_breakers(poller, POLLER_FAULTS, rebuild(events)))
    assert violations == [
        (
            "BRK-2",
            "breaker 'api' went half_open at t=4.1s without a call starting; it moves to "
            "half_open lazily, at the start of the first attempt after the recovery timeout",
        )
    ]


@pytest.mark.spec("BRK-2", "ORACLE-4", "ORACLE-8")
def test_a_body_breaker_that_opens_without_an_outcome_breaks_brk_2() -> None:
    events = list(wfsim.run(poller, faults=POLLER_FAULTS).trace)
    opened = events.pop(find(events, "breaker_state", state="open"))
    events.insert(1, attrs.evolve(opened, t_ns=0))
    violations = found(check_breakers(poller, POLLER_FAULTS, rebuild(events)))
    assert violations[0] == (
        "BRK-2",
        "breaker 'api' went closed -> open at t=0s, but no attempt ended then; a breaker opens "
        "or closes on an admitted attempt's outcome",
    )


@pytest.mark.spec("BRK-1", "BRK-2", "BRK-3", "BRK-4", "ORACLE-3", "ORACLE-6", "ORACLE-8")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    breaker=breakers(),
    ticks=st.integers(3, 10),
    width=st.integers(1, 2),
    fallback=st.booleans(),
    windows=st.lists(st.tuples(st.integers(0, 8), st.integers(1, 5)), max_size=2),
    retry=st.sampled_from([None, RetryPolicy(max_attempts=3, initial_interval=0.5)]),
    seed=st.integers(0, 100),
)
def test_every_oracle_is_silent_on_bodies_calling_through_a_breaker(
    breaker: CircuitBreaker,
    ticks: int,
    width: int,
    fallback: bool,
    windows: list[tuple[int, int]],
    retry: RetryPolicy | None,
    seed: int,
) -> None:
    """A body polls through a breaker (one or two gathered calls a tick) across outages:
    the oracle knows no settings and checks the state machine and the refusals."""

    async def fallback_fn(ctx: wfsim.StepContext) -> str:
        return "cached"

    @wfsim.workflow
    async def polling(ctx: wfsim.WorkflowContext, _: Any) -> list[Any]:
        out: list[Any] = []
        for _tick in range(ticks):
            calls = [
                ctx.step(
                    call, breaker=breaker, retry=retry, fallback=fallback_fn if fallback else None
                )
                for _ in range(width)
            ]
            try:
                out.append(await ctx.gather(*calls))
            except Exception as exc:
                out.append(type(exc).__name__)
            await ctx.sleep(1)
        return out

    faults = tuple(Fault.outage("call*", start=s, end=s + d) for s, d in windows)
    trace = wfsim.run(polling, faults=faults, seed=seed).trace
    assert check_all(polling, faults, trace) == [], trace.format()
