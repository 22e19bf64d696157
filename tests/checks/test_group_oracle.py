"""The parallel-group oracle (PAR-1..5): silent on engine runs, loud on tampered groups."""

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
from wfsim.checks import check_all, check_groups

S = 1_000_000_000
OUTPUTS = [{"a": 1}, {"b": 2}, {"a": 3}, {"d": {"x": 1}}, {"d": {"y": 2}}, {"d": {"x": 5}}, None]


def found(violations: Sequence[Any]) -> list[tuple[str, str]]:
    return [(v.rule, v.message) for v in violations]


def rebuild(events: Sequence[TraceEvent]) -> wfsim.Trace:
    return wfsim.Trace([attrs.evolve(e, seq=i) for i, e in enumerate(events)])


def find(events: Sequence[TraceEvent], kind: str, step: str) -> int:
    return next(i for i, e in enumerate(events) if e.kind == kind and e.step == step)


def returning(output: Any) -> Any:
    async def fn(ctx: wfsim.StepContext) -> Any:
        await ctx.sleep(0.5)
        return output

    return fn


@st.composite
def grouped_dags(draw: DrawFn) -> tuple[wfsim.Workflow, tuple[Fault, ...]]:
    """A chain around one or two parallel groups of every merge and conflict option, with
    code and code-less tasks, retries, failing tasks, group timeouts and concurrency limits."""
    wf = wfsim.Workflow("grouped", max_concurrency=draw(st.sampled_from([None, None, 1, 2])))
    wf.add_step("before", duration=1)
    faults: list[Fault] = []
    previous = "before"
    for g in range(draw(st.integers(1, 2))):
        tasks = []
        for t in range(draw(st.integers(1, 4))):
            output = draw(st.sampled_from(OUTPUTS))
            if draw(st.booleans()):
                tasks.append(
                    wfsim.task(
                        f"t{t}",
                        duration=draw(st.sampled_from([0, 0.5, 1, 2])),
                        output=output,
                        retry=draw(st.sampled_from([None, RetryPolicy(max_attempts=2)])),
                    )
                )
            else:
                tasks.append(wfsim.task(f"t{t}", fn=returning(output)))
            if draw(st.integers(0, 3)) == 0:
                faults.append(
                    Fault.error(
                        f"g{g}/t{t}",
                        attempts=draw(st.sampled_from([None, [1]])),
                        at=draw(st.sampled_from(["start", "end"])),
                    )
                )
        wf.add_parallel(
            f"g{g}",
            tasks,
            after=[previous],
            merge=draw(st.sampled_from(["shallow", "deep"])),
            on_conflict=draw(st.sampled_from(["prefer_new", "prefer_existing", "raise"])),
            allow_partial_success=draw(st.booleans()),
            timeout=draw(st.sampled_from([None, None, 0.75, 1.5])),
        )
        previous = f"g{g}"
    wf.add_step("after", after=[previous], duration=1, trigger_rule="all_done")
    return wf, tuple(faults)


@pytest.mark.spec("PAR-1", "PAR-2", "PAR-3", "PAR-4", "PAR-5", "ORACLE-3", "ORACLE-11")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=grouped_dags(), seed=st.integers(0, 20))
def test_every_oracle_is_silent_on_runs_of_parallel_groups(
    case: tuple[wfsim.Workflow, tuple[Fault, ...]], seed: int
) -> None:
    wf, faults = case
    trace = wfsim.run(wf, seed=seed, faults=faults).trace
    assert check_all(wf, faults, trace) == [], trace.format()


def checks(*, partial: bool = False, on_conflict: str = "prefer_new", timeout: Any = None) -> Any:
    """Ruvon's parallel checks: inventory 1s, payment 1.5s, fraud 2s."""
    wf = wfsim.Workflow("checks")
    wf.add_parallel(
        "checks",
        [
            wfsim.task("inventory", duration=1, output={"inventory": True, "details": 1}),
            wfsim.task("payment", duration=1.5, output={"payment": True}),
            wfsim.task("fraud", duration=2, output={"fraud": False, "details": 2}),
        ],
        on_conflict=on_conflict,
        allow_partial_success=partial,
        timeout=timeout,
    )
    return wf


CHECKS = checks()


def check_events(wf: Any = CHECKS, faults: Sequence[Fault] = ()) -> list[TraceEvent]:
    return list(wfsim.run(wf, faults=faults).trace)


def test_the_tampered_traces_start_out_clean() -> None:
    assert check_all(CHECKS, (), rebuild(check_events())) == []


@pytest.mark.spec("PAR-1", "ORACLE-4", "ORACLE-11")
def test_a_task_made_ready_late_breaks_par_1() -> None:
    events = check_events()
    i = find(events, "step_ready", "checks/payment")
    events[i] = attrs.evolve(events[i], t_ns=S // 2)
    events.insert(find(events, "attempt_started", "checks/payment"), events.pop(i))
    assert found(check_groups(CHECKS, (), rebuild(events))) == [
        (
            "PAR-1",
            "group 'checks' started at t=0s, so task 'checks/payment' is made ready then, but "
            "it shows step_ready at t=500ms",
        )
    ]


@pytest.mark.spec("PAR-2", "ORACLE-4", "ORACLE-11")
def test_a_group_merged_before_its_last_task_ended_breaks_par_2() -> None:
    events = check_events()
    merged = events.pop(find(events, "group_merged", "checks"))
    done = events.pop(find(events, "step_completed", "checks"))
    i = find(events, "attempt_started", "checks/fraud") + 1
    events[i:i] = [merged, done]
    assert found(check_groups(CHECKS, (), rebuild(events))) == [
        (
            "PAR-2",
            "group 'checks' ended (group_merged) at t=2s before task 'checks/inventory' ended; "
            "a group ends when every task has ended",
        )
    ]


@pytest.mark.spec("PAR-4", "ORACLE-4", "ORACLE-11")
def test_a_failed_task_merged_anyway_breaks_par_4() -> None:
    faults = (Fault.error("checks/payment", error="Declined"),)
    events = check_events(CHECKS, faults)
    partial = check_events(checks(partial=True), faults)
    # splice the partial-success ending into the strict group's run
    start = find(events, "group_failed", "checks")
    events[start:] = partial[find(partial, "group_merged", "checks") :]
    events[-1] = attrs.evolve(events[-1], fields={"status": "completed", "result": None})
    assert found(check_groups(CHECKS, faults, rebuild(events))) == [
        (
            "PAR-4",
            "task 'checks/payment' of group 'checks' ended step_failed at t=0s, so the group "
            "fails with ParallelTaskFailed naming it, but it shows group_merged",
        )
    ]


@pytest.mark.spec("PAR-4", "ORACLE-4", "ORACLE-11")
def test_merged_lists_out_of_declaration_order_break_par_4() -> None:
    events = check_events()
    i = find(events, "group_merged", "checks")
    events[i] = attrs.evolve(
        events[i],
        fields={
            **events[i].fields,
            "tasks": ["checks/fraud", "checks/inventory", "checks/payment"],
        },
    )
    assert found(check_groups(CHECKS, (), rebuild(events))) == [
        (
            "PAR-4",
            "group_merged of 'checks' at t=2s lists tasks ['checks/fraud', 'checks/inventory', "
            "'checks/payment'] and failed [], but the tasks that succeeded are "
            "['checks/inventory', 'checks/payment', 'checks/fraud'] and those that failed [], "
            "in declaration order",
        )
    ]


@pytest.mark.spec("PAR-3", "ORACLE-4", "ORACLE-11")
def test_wrong_merged_keys_break_par_3() -> None:
    events = check_events()
    i = find(events, "group_merged", "checks")
    events[i] = attrs.evolve(events[i], fields={**events[i].fields, "keys": ["fraud"]})
    assert found(check_groups(CHECKS, (), rebuild(events))) == [
        (
            "PAR-3",
            "group_merged of 'checks' at t=2s has keys ['fraud'], but merging its tasks' "
            "outputs in declaration order gives ['details', 'fraud', 'inventory', 'payment']",
        )
    ]


@pytest.mark.spec("PAR-3", "ORACLE-4", "ORACLE-11")
def test_a_conflict_merged_under_raise_breaks_par_3() -> None:
    strict = checks(on_conflict="raise")
    events = check_events(strict)
    assert events[find(events, "group_failed", "checks")]["error"] == "MergeConflictError"
    merged = check_events()
    events[find(events, "group_failed", "checks") :] = merged[
        find(merged, "group_merged", "checks") :
    ]
    assert found(check_groups(strict, (), rebuild(events))) == [
        (
            "PAR-3",
            "merging the outputs of group 'checks' in declaration order under "
            "on_conflict='raise' fails with MergeConflictError: key 'details' exists in the "
            "results of tasks 'checks/inventory' and 'checks/fraud', but it shows group_merged "
            "at t=2s",
        )
    ]


@pytest.mark.spec("PAR-5", "ORACLE-4", "ORACLE-11")
def test_a_group_timeout_at_the_wrong_instant_breaks_par_5() -> None:
    wf = checks(partial=True, timeout=1.75)
    events = check_events(wf)
    i = find(events, "step_cancelled", "checks/fraud")
    assert events[i].t == 1.75
    events[i] = attrs.evolve(events[i], t_ns=2 * S)
    for j in range(i + 1, len(events)):
        events[j] = attrs.evolve(events[j], t_ns=max(events[j].t_ns, 2 * S))
    assert found(check_groups(wf, (), rebuild(events))) == [
        (
            "PAR-5",
            "task 'checks/fraud' was cancelled by the group timeout at t=2s, but group "
            "'checks' times out at t=1.75s",
        )
    ]


@pytest.mark.spec("PAR-3", "ORACLE-11")
def test_a_deep_conflict_names_the_task_that_brought_the_nested_key() -> None:
    """Found by the oracle: the engine named the first task '?' when the conflicting key
    was nested in a mapping that task had brought whole."""
    wf = wfsim.Workflow("deep")
    wf.add_parallel(
        "g",
        [
            wfsim.task("one", duration=1, output={"d": {"y": 2}}),
            wfsim.task("two", duration=1, output={"d": {"y": 3}}),
        ],
        merge="deep",
        on_conflict="raise",
    )
    trace = wfsim.run(wf).trace
    (failed,) = trace.of_kind("group_failed")
    assert failed["message"] == "key 'd.y' exists in the results of tasks 'g/one' and 'g/two'"
    assert check_all(wf, (), trace) == []
