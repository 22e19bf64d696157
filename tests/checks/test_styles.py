"""The oracles judge every workflow style: imperative bodies and event workflows too.

An imperative body or an event workflow declares no steps: the oracles take its
calls and invocations (and compensations) from the trace and run every check that
needs no definition (ORACLE-6). Silent on the scenario files and on random bodies;
loud on tampered traces of both styles.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

import wfsim
from wfsim import Fault, RetryPolicy, SagaPolicy, TraceEvent
from wfsim.checks import (
    check_all,
    check_compensations,
    check_dependencies,
    check_faults,
    check_retries,
    check_terminal_states,
    check_trace_shape,
)
from wfsim.scenario import load_scenario, run_scenario

REPO = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").glob("*.wfsim.yaml"))


def found(violations: Sequence[Any]) -> list[tuple[str, str]]:
    return [(v.rule, v.message) for v in violations]


def rebuild(events: Sequence[TraceEvent]) -> wfsim.Trace:
    return wfsim.Trace([attrs.evolve(e, seq=i) for i, e in enumerate(events)])


def find(events: Sequence[TraceEvent], kind: str, step: str | None = None) -> int:
    for i, e in enumerate(events):
        if e.kind == kind and step in (None, e.step):
            return i
    raise AssertionError(f"no {kind} of {step} in the trace")


# -- silence ---------------------------------------------------------------------------------


@pytest.mark.spec("ORACLE-3", "ORACLE-6")
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name.removesuffix(".wfsim.yaml"))
def test_every_oracle_is_silent_on_the_scenario_files(path: pathlib.Path) -> None:
    scenario = load_scenario(path)
    for seed in range(3):
        trace = run_scenario(scenario, seed=seed).result.trace
        assert check_all(scenario.workflow, scenario.faults, trace) == [], trace.format()


class Boom(Exception):
    pass


@dataclass(frozen=True)
class Call:
    """One ``ctx.step`` call of a drawn body."""

    name: str
    seconds: float
    fails_on: frozenset[int]
    retry: RetryPolicy | None
    timeout: float | None
    compensate: bool


@dataclass(frozen=True)
class Body:
    workflow: wfsim.ImperativeWorkflow
    faults: tuple[Fault, ...]
    seed: int


async def work(ctx: wfsim.StepContext, seconds: float, fails_on: frozenset[int]) -> str:
    await ctx.sleep(seconds)
    if ctx.attempt in fails_on:
        raise Boom(f"{ctx.step} attempt {ctx.attempt}")
    return ctx.step


async def undo(ctx: wfsim.StepContext) -> None:
    await ctx.sleep(0.25)


def body_of(
    stages: list[list[Call]], catch: bool, saga: SagaPolicy, limit: int | None
) -> wfsim.ImperativeWorkflow:
    def call(ctx: wfsim.WorkflowContext, c: Call) -> Any:
        return ctx.step(
            work,
            c.seconds,
            c.fails_on,
            name=c.name,
            retry=c.retry,
            timeout=c.timeout,
            compensate=wfsim.compensation(f"undo_{c.name}", fn=undo) if c.compensate else None,
        )

    async def body(ctx: wfsim.WorkflowContext, _: Any) -> list[Any]:
        done: list[Any] = []
        for stage in stages:
            try:
                if len(stage) == 1:
                    done.append(await call(ctx, stage[0]))
                else:
                    done.extend(await ctx.gather(*(call(ctx, c) for c in stage)))
            except Exception:
                if not catch:
                    raise
        return done

    return wfsim.workflow(body, name="drawn", saga=saga, max_concurrency=limit)


@st.composite
def bodies(draw: DrawFn) -> Body:
    """A body of sequential and gathered steps with retries, timeouts, compensations and
    a fault plan on the calls' names; it catches its steps' errors or not."""
    stages: list[list[Call]] = []
    names: list[str] = []
    for i in range(draw(st.integers(1, 4))):
        stage = []
        for j in range(draw(st.integers(1, 3))):
            name = f"s{i}{j}"
            names.append(name)
            retry = draw(
                st.sampled_from(
                    [
                        None,
                        RetryPolicy(max_attempts=3, initial_interval=0.5),
                        RetryPolicy(max_attempts=2, initial_interval=1, jitter="full"),
                    ]
                )
            )
            stage.append(
                Call(
                    name,
                    draw(st.sampled_from([0, 0.5, 1, 2])),
                    frozenset(draw(st.sets(st.integers(1, 3), max_size=2))),
                    retry,
                    draw(st.sampled_from([None, None, 1.5])),
                    draw(st.booleans()),
                )
            )
        stages.append(stage)
    saga = SagaPolicy(
        register=draw(st.sampled_from(["after", "before"])),
        parallel=draw(st.booleans()),
        on_error=draw(st.sampled_from(["stop", "continue"])),
    )
    targets = [*names, *(f"undo_{n}" for n in names), "s*", "*"]
    faults: list[Fault] = []
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(targets))
        kind = draw(st.sampled_from(["error", "latency", "hang"]))
        attempts = draw(st.sampled_from([None, [1], [1, 2]]))
        if kind == "latency":
            faults.append(Fault.latency(target, extra=1, attempts=attempts))
        elif kind == "hang":
            faults.append(Fault.hang(target, attempts=attempts))
        else:
            faults.append(
                Fault.error(
                    target,
                    attempts=attempts,
                    error="Injected",
                    retryable=draw(st.booleans()),
                    at=draw(st.sampled_from(["start", "end"])),
                )
            )
    workflow = body_of(stages, draw(st.booleans()), saga, draw(st.sampled_from([None, None, 1, 2])))
    return Body(workflow, tuple(faults), draw(st.integers(0, 2**16)))


@pytest.mark.spec("ORACLE-3", "ORACLE-6")
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_every_oracle_is_silent_on_random_imperative_bodies(case: Body) -> None:
    result = wfsim.run(case.workflow, seed=case.seed, faults=case.faults, time_limit=60)
    assert check_all(case.workflow, case.faults, result.trace) == [], result.trace.format()


async def _second(ctx: wfsim.StepContext, *args: Any) -> None:
    await ctx.sleep(1)


async def _undone_in_parallel(ctx: wfsim.WorkflowContext, inp: Any) -> None:
    for name in ("s00", "s02"):
        await ctx.step(_second, name=name, compensate=wfsim.compensation(f"undo_{name}"))
    raise RuntimeError("boom")


@pytest.mark.spec("COMP-5", "TIME-5", "ORACLE-3")
def test_a_body_whose_compensation_hangs_times_out_although_another_failed_for_good() -> None:
    # Found by the property above: parallel compensations, one failed for good, one hung
    # until the time limit. The run is timed_out (what is still running is cancelled),
    # as for a DAG; COMP-5 asked for compensation_failed.
    workflow = wfsim.workflow(saga=SagaPolicy(parallel=True))(_undone_in_parallel)
    faults = [Fault.hang("undo_s00"), Fault.error("undo_s02", error="Injected", retryable=False)]
    result = wfsim.run(workflow, faults=faults, time_limit=60)
    assert result.status == "timed_out"
    assert check_all(workflow, faults, result.trace) == []


# -- tampering -------------------------------------------------------------------------------


async def flaky(ctx: wfsim.StepContext) -> str:
    await ctx.sleep(1)
    return "ok"


async def refund(ctx: wfsim.StepContext) -> None:
    await ctx.sleep(0.5)


@wfsim.workflow
async def checkout(ctx: wfsim.WorkflowContext, _: Any) -> str:
    await ctx.step(
        flaky,
        name="charge",
        retry=RetryPolicy(max_attempts=3, initial_interval=2),
        compensate=wfsim.compensation("refund", fn=refund),
    )
    await ctx.step(flaky, name="ship")
    return "shipped"


CHECKOUT_FAULTS = (
    Fault.error("charge", attempts=[1], error="ConnectionError"),
    Fault.error("ship", error="Unavailable", retryable=False),
)


def checkout_events() -> list[TraceEvent]:
    """charge#1 fails at 0s, retried 2s later and done at 3s; ship fails at 3s; refund
    3-3.5s; compensated."""
    return list(wfsim.run(checkout, faults=CHECKOUT_FAULTS).trace)


class Ping(wfsim.Event):
    pass


def pinger() -> wfsim.EventWorkflow:
    wf = wfsim.EventWorkflow("pinger")

    @wf.step(accepts=wfsim.StartEvent)
    async def start(ctx: wfsim.StepContext, ev: wfsim.Event) -> None:
        ctx.send_event(Ping(n=1))
        ctx.send_event(Ping(n=2))

    @wf.step(accepts=Ping, num_workers=1)
    async def pong(ctx: wfsim.StepContext, ev: wfsim.Event) -> Any:
        await ctx.sleep(1)
        return wfsim.StopEvent(result=ev.n) if ev.n == 2 else None

    return wf


PINGER = pinger()


def test_the_tampered_traces_of_both_styles_start_out_clean() -> None:
    assert check_all(checkout, CHECKOUT_FAULTS, rebuild(checkout_events())) == []
    assert check_all(PINGER, (), wfsim.run(PINGER).trace) == []


@pytest.mark.spec("RETRY-8", "ORACLE-4", "ORACLE-6")
def test_a_call_retried_early_breaks_retry_8() -> None:
    events = checkout_events()
    i = next(j for j, e in enumerate(events) if e.kind == "attempt_started" and e.attempt == 2)
    events[i] = attrs.evolve(events[i], t_ns=1_000_000_000)
    assert found(check_retries(checkout, CHECKOUT_FAULTS, rebuild(events))) == [
        (
            "RETRY-8",
            "step 'charge' attempt 2 started at t=1s, 1s after attempt 1 failed at t=0s, but "
            "its retry delay is 2s; it starts exactly then",
        )
    ]


@pytest.mark.spec("RETRY-1", "ORACLE-4", "ORACLE-6")
def test_a_call_renumbered_breaks_retry_1() -> None:
    events = checkout_events()
    for j, e in enumerate(events):
        if e.step == "charge" and e.attempt == 2:
            events[j] = attrs.evolve(e, attempt=3)
    violations = found(check_retries(checkout, CHECKOUT_FAULTS, rebuild(events)))
    assert violations[0] == (
        "RETRY-1",
        "step 'charge' started attempt 3 at t=2s as its attempt number 2; attempts are "
        "numbered 1, 2, 3, ... in the order they start",
    )


@pytest.mark.spec("RETRY-4", "ORACLE-4", "ORACLE-6")
def test_a_call_retried_after_a_non_retryable_fault_breaks_retry_4() -> None:
    events = checkout_events()
    i = find(events, "attempt_failed", "ship")
    events[i] = attrs.evolve(events[i], fields={**events[i].fields, "retryable": True})
    assert found(check_retries(checkout, CHECKOUT_FAULTS, rebuild(events))) == [
        (
            "RETRY-4",
            "step 'ship' attempt 1 failed at t=3s and its injected fault (Unavailable) says "
            "retryable=False, yet its attempt_failed says retryable: true",
        )
    ]


@pytest.mark.spec("FAULT-4", "ORACLE-4", "ORACLE-6")
def test_a_dropped_fault_record_of_a_call_breaks_fault_4() -> None:
    events = checkout_events()
    del events[find(events, "fault_injected", "ship")]
    assert found(check_faults(checkout, CHECKOUT_FAULTS, rebuild(events))) == [
        (
            "FAULT-4",
            "step 'ship' attempt 1 started at t=3s and the start fault Unavailable applies to "
            "it, but no fault_injected records it",
        )
    ]


@pytest.mark.spec("ORD-6", "ORACLE-4", "ORACLE-6")
def test_a_call_that_ends_twice_breaks_ord_6() -> None:
    events = checkout_events()
    i = find(events, "step_failed", "ship")
    events.insert(i + 1, events[i])
    assert found(check_terminal_states(checkout, CHECKOUT_FAULTS, rebuild(events))) == [
        (
            "ORD-6",
            "step 'ship' ended 2 times (step_failed at t=3s, step_failed at t=3s); it ends "
            "exactly once",
        )
    ]


@pytest.mark.spec("COMP-5", "ORACLE-4", "ORACLE-6")
def test_a_compensated_body_reported_failed_breaks_comp_5() -> None:
    events = checkout_events()
    events[-1] = attrs.evolve(events[-1], fields={**events[-1].fields, "status": "failed"})
    assert found(check_terminal_states(checkout, CHECKOUT_FAULTS, rebuild(events))) == [
        (
            "COMP-5",
            "the run finished at t=3.5s with status 'failed', but its events say "
            "'compensated': 'refund' compensated and none failed for good",
        )
    ]


@pytest.mark.spec("COMP-1", "ORACLE-4", "ORACLE-6")
def test_a_compensation_before_the_body_ended_breaks_comp_1() -> None:
    events = checkout_events()
    start = events.pop(find(events, "compensation_started", "refund"))
    events.insert(find(events, "step_ready", "ship"), attrs.evolve(start, t_ns=3_000_000_000))
    violations = found(check_compensations(checkout, CHECKOUT_FAULTS, rebuild(events)))
    assert violations == [
        (
            "COMP-1",
            "compensation 'refund' has compensation_started at t=3s while the forward work was "
            "not over: step_ready of step 'ship' at t=3s came after it",
        )
    ]


@pytest.mark.spec("TRACE-2", "ORACLE-4", "ORACLE-6")
def test_an_invocation_of_no_step_breaks_trace_2() -> None:
    events = list(wfsim.run(PINGER).trace)
    for j, e in enumerate(events):
        if e.step == "pong:2":
            events[j] = attrs.evolve(e, step="ping:2")
    violations = found(check_trace_shape(PINGER, (), rebuild(events)))
    assert violations[0] == (
        "TRACE-2",
        "step_ready at t=1s (#15) names invocation 'ping:2', but event workflow 'pinger' "
        "has no step 'ping:2' (invocations are named STEP, STEP:2, STEP:3, ...)",
    )


@pytest.mark.spec("EVT-7", "ORACLE-4", "ORACLE-6")
def test_a_failed_invocation_in_a_completed_run_breaks_evt_7() -> None:
    events = list(wfsim.run(PINGER).trace)
    i = find(events, "step_completed", "pong")
    events[i] = attrs.evolve(
        events[i], kind="step_failed", fields={"reason": "boom", "error": "Boom"}
    )
    violations = found(check_terminal_states(PINGER, (), rebuild(events)))
    assert (
        "EVT-7",
        "invocation 'pong' failed at t=1s, but the run finished at t=2s with status "
        "'completed'; a failed invocation fails the run",
    ) in violations


@pytest.mark.spec("ORACLE-6")
def test_the_dag_only_oracles_find_nothing_to_judge_in_a_body() -> None:
    events = checkout_events()
    start = events.pop(find(events, "attempt_started", "ship"))
    events.insert(1, start)  # "ship" before "charge": a body declares no dependencies
    assert check_dependencies(checkout, CHECKOUT_FAULTS, rebuild(events)) == []
