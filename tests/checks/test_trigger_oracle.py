"""The trigger-rule oracle (TRIG-2): silent on engine runs, loud on tampered decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

import wfsim
from wfsim import Fault, RetryPolicy, TraceEvent
from wfsim._core._trigger import TRIGGER_RULES
from wfsim.checks import check_all, check_trigger_rules

S = 1_000_000_000


def found(violations: Sequence[Any]) -> list[tuple[str, str]]:
    return [(v.rule, v.message) for v in violations]


def rebuild(events: Sequence[TraceEvent]) -> wfsim.Trace:
    return wfsim.Trace([attrs.evolve(e, seq=i) for i, e in enumerate(events)])


def find(events: Sequence[TraceEvent], kind: str, step: str) -> int:
    return next(i for i, e in enumerate(events) if e.kind == kind and e.step == step)


@st.composite
def ruled_dags(draw: DrawFn) -> tuple[wfsim.Workflow, tuple[Fault, ...]]:
    """DAGs of every trigger rule, some steps failing (retried or not) or compensated, a
    parallel group, sometimes a concurrency limit: failures a rule or a group absorbs do
    not fail the run (TRIG-3), so nothing is compensated then (COMP-1)."""
    n = draw(st.integers(2, 10))
    saga = wfsim.SagaPolicy(register=draw(st.sampled_from(["after", "before"])))
    wf = wfsim.Workflow(
        "ruled", max_concurrency=draw(st.sampled_from([None, None, 1, 2])), saga=saga
    )
    names: list[str] = []
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        name = f"s{i}"
        rule = draw(st.sampled_from(TRIGGER_RULES))
        if draw(st.integers(0, 7)) == 0:
            wf.add_parallel(
                name,
                [wfsim.task("a", duration=1), wfsim.task("b", duration=2)],
                after=[f"s{d}" for d in deps],
                trigger_rule=rule,
                allow_partial_success=draw(st.booleans()),
            )
            names.append(f"{name}/a")
        else:
            wf.add_step(
                name,
                after=[f"s{d}" for d in deps],
                duration=draw(st.sampled_from([0, 1, 2])),
                trigger_rule=rule,
                retry=draw(st.sampled_from([None, RetryPolicy(max_attempts=2)])),
                compensate=wfsim.compensation(f"undo_{name}", duration=0.5)
                if draw(st.integers(0, 2)) == 0
                else None,
            )
            names.append(name)
    failing = sorted(draw(st.sets(st.sampled_from(names), max_size=3)))
    faults = tuple(
        Fault.error(
            name,
            at=draw(st.sampled_from(["start", "end"])),
            attempts=draw(st.sampled_from([None, [1]])),
        )
        for name in failing
    )
    return wf, faults


@pytest.mark.spec("TRIG-2", "TRIG-3", "COMP-1", "COMP-5", "ORACLE-7", "ORACLE-3")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=ruled_dags(), seed=st.integers(0, 50))
def test_every_oracle_is_silent_on_runs_of_every_trigger_rule(
    case: tuple[wfsim.Workflow, tuple[Fault, ...]], seed: int
) -> None:
    wf, faults = case
    trace = wfsim.run(wf, seed=seed, faults=faults).trace
    assert check_all(wf, faults, trace) == [], trace.format()


def batches() -> wfsim.Workflow:
    """Cloacina's aggregator: distribute -> batch_1..3 -> aggregate (all_done) -> report;
    a branch join: pick -> (left, right) -> join (none_failed_min_one_success)."""
    wf = wfsim.Workflow("batches")
    wf.add_step("distribute", duration=1)
    for i in range(1, 4):
        wf.add_step(f"batch_{i}", after=["distribute"], duration=i)
    wf.add_step(
        "aggregate", after=["batch_1", "batch_2", "batch_3"], duration=1, trigger_rule="all_done"
    )
    wf.add_step("report", after=["aggregate"], duration=1)
    wf.add_step("left", after=["distribute"], duration=1, trigger_rule="all_failed")
    wf.add_step("right", after=["left"], duration=1)
    wf.add_step(
        "join", after=["right", "report"], duration=1, trigger_rule="none_failed_min_one_success"
    )
    return wf


BATCHES = batches()
BATCH_FAULTS = (Fault.error("batch_2", error="Boom"),)


def batch_events() -> list[TraceEvent]:
    """distribute 0-1s; batch_2 fails at 1s; left skipped at 1s (all_failed), right
    skipped after it; batch_1 1-2s, batch_3 1-4s; aggregate 4-5s; report 5-6s; join 6-7s."""
    return list(wfsim.run(BATCHES, faults=BATCH_FAULTS).trace)


def test_the_tampered_trace_starts_out_clean() -> None:
    assert check_all(BATCHES, BATCH_FAULTS, rebuild(batch_events())) == []


@pytest.mark.spec("TRIG-2", "ORACLE-7", "ORACLE-4")
def test_an_aggregator_made_ready_before_every_batch_ended_breaks_trig_2() -> None:
    events = batch_events()
    ready = events.pop(find(events, "step_ready", "aggregate"))
    events.insert(find(events, "step_completed", "batch_1") + 1, attrs.evolve(ready, t_ns=2 * S))
    violations = found(check_trigger_rules(BATCHES, BATCH_FAULTS, rebuild(events)))
    assert violations == [
        (
            "TRIG-2",
            "step 'aggregate' was made ready at t=2s, but with 2 of 3 upstream steps ended (1 "
            "succeeded, 1 failed, 0 skipped) its trigger rule all_done says 'wait'",
        )
    ]


@pytest.mark.spec("TRIG-2", "ORACLE-7", "ORACLE-4")
def test_a_skip_without_its_upstream_failed_flag_breaks_trig_2() -> None:
    events = batch_events()
    i = find(events, "step_skipped", "left")
    events[i] = attrs.evolve(events[i], fields={**events[i].fields, "upstream_failed": True})
    violations = found(check_trigger_rules(BATCHES, BATCH_FAULTS, rebuild(events)))
    assert violations == [
        (
            "TRIG-2",
            "step 'left' was skipped as upstream_failed at t=1s, but with 1 of 1 upstream steps "
            "ended (1 succeeded, 0 failed, 0 skipped) its trigger rule all_failed says 'skip'",
        ),
        (  # and 'right' now sees a failed upstream: the wrong flag propagates
            "TRIG-2",
            "step 'right' was skipped at t=1s, but with 1 of 1 upstream steps ended (0 "
            "succeeded, 1 failed, 0 skipped) its trigger rule all_success says 'upstream_failed'",
        ),
    ]


@pytest.mark.spec("TRIG-2", "ORACLE-7", "ORACLE-4")
def test_a_dropped_skip_stops_the_propagation_and_breaks_trig_2() -> None:
    events = batch_events()
    del events[find(events, "step_skipped", "right")]
    violations = found(check_trigger_rules(BATCHES, BATCH_FAULTS, rebuild(events)))
    assert violations == [
        (
            "TRIG-2",
            "step 'right' has trigger rule all_success and its verdict was 'skip' once 'left' "
            "ended (step_skipped at t=1s), with 1 of 1 upstream steps ended (0 succeeded, 0 "
            "failed, 1 skipped), but it was not skipped at once (attempt_started at t=1s came "
            "first)",
        ),
        (  # and the join, missing that skip, was decided early
            "TRIG-2",
            "step 'join' was made ready at t=6s, but with 1 of 2 upstream steps ended (1 "
            "succeeded, 0 failed, 0 skipped) its trigger rule none_failed_min_one_success says "
            "'wait'",
        ),
    ]


@pytest.mark.spec("TRIG-2", "ORACLE-7", "ORACLE-4")
def test_a_join_run_although_its_branches_were_all_skipped_breaks_trig_2() -> None:
    wf = wfsim.Workflow("branches")
    wf.add_step("pick", duration=1)
    wf.add_step("left", after=["pick"], duration=1, trigger_rule="all_failed")
    wf.add_step("right", after=["pick"], duration=1, trigger_rule="all_failed")
    wf.add_step("join", after=["left", "right"], trigger_rule="none_failed_min_one_success")
    events = list(wfsim.run(wf).trace)
    i = find(events, "step_skipped", "join")
    events[i] = attrs.evolve(events[i], kind="step_ready", fields={})
    violations = found(check_trigger_rules(wf, (), rebuild(events)))
    assert violations == [
        (
            "TRIG-2",
            "step 'join' was made ready at t=1s, but with 2 of 2 upstream steps ended (0 "
            "succeeded, 0 failed, 2 skipped) its trigger rule none_failed_min_one_success says "
            "'skip'",
        )
    ]


@pytest.mark.spec("TRIG-2", "ORACLE-7", "ORACLE-4")
def test_a_step_started_without_step_ready_breaks_trig_2() -> None:
    events = batch_events()
    del events[find(events, "step_ready", "report")]
    violations = found(check_trigger_rules(BATCHES, BATCH_FAULTS, rebuild(events)))
    assert violations == [
        (
            "TRIG-2",
            "step 'report' has trigger rule all_success and its verdict was 'run' once "
            "'aggregate' ended (step_completed at t=5s), with 1 of 1 upstream steps ended (1 "
            "succeeded, 0 failed, 0 skipped), but it was not made ready at once "
            "(attempt_started at t=5s came first)",
        ),
        (
            "TRIG-2",
            "step 'report' has attempt_started at t=5s before any step_ready; a step runs only "
            "once its trigger rule made it ready",
        ),
    ]


@pytest.mark.spec("TRIG-2", "ORACLE-7", "ORACLE-4")
def test_a_skip_whose_reason_names_no_upstream_step_breaks_trig_2() -> None:
    events = batch_events()
    i = find(events, "step_skipped", "left")
    events[i] = attrs.evolve(events[i], fields={**events[i].fields, "reason": "why not"})
    violations = found(check_trigger_rules(BATCHES, BATCH_FAULTS, rebuild(events)))
    assert violations == [
        (
            "TRIG-2",
            "step 'left' was skipped at t=1s with reason 'why not', which names none of its "
            "upstream steps that had ended",
        )
    ]


@pytest.mark.spec("TRIG-2", "ORACLE-7")
def test_imperative_and_event_workflows_have_no_trigger_rules_to_check() -> None:
    @wfsim.workflow
    async def body(ctx: wfsim.WorkflowContext, _: Any) -> None:
        return None

    assert check_trigger_rules(body, (), wfsim.run(body).trace) == []


@pytest.mark.spec("COMP-1", "TRIG-3", "ORACLE-4", "ORACLE-7")
def test_compensating_a_failure_a_trigger_rule_absorbed_breaks_comp_1() -> None:
    wf = wfsim.Workflow("absorbed")
    wf.add_step("batch", duration=1, compensate=wfsim.compensation("undo_batch", duration=1))
    wf.add_step("flaky", duration=1)
    wf.add_step("aggregate", after=["batch", "flaky"], trigger_rule="all_done")
    faults = (Fault.error("flaky", error="Boom"),)
    events = list(wfsim.run(wf, faults=faults).trace)
    assert events[-1]["status"] == "completed"
    assert check_all(wf, faults, rebuild(events)) == []
    start = attrs.evolve(
        events[-2],
        kind="compensation_started",
        step="undo_batch",
        attempt=1,
        fields={"for_step": "batch"},
    )
    events.insert(len(events) - 1, start)
    violations = found(check_all(wf, faults, rebuild(events)))
    assert (
        "COMP-1",
        "compensation 'undo_batch' has compensation_started at t=1s although no leaf step "
        "failed or was skipped for a failed upstream, so the run did not fail (TRIG-3); only "
        "a failed run compensates",
    ) in violations
