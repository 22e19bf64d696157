"""Parallel groups (Ruvon's PARALLEL step): concurrent tasks, merge strategies, partial success."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import Fault, MergeConflictError, task
from wfsim import strategies as wst
from wfsim._core._parallel import merge_outputs
from wfsim.checks import assert_no_violations


def ruvon_order(max_concurrency: int | None = None, **group: object) -> wfsim.Workflow:
    """Ruvon's tutorial: validate, then inventory (1 s), payment (1.5 s) and fraud (2 s)."""
    wf = wfsim.Workflow("order_processing", max_concurrency=max_concurrency)
    wf.add_step("validate_order", output={"order_valid": True})
    wf.add_parallel(
        "parallel_checks",
        [
            task(
                "check_inventory",
                duration=1,
                output={"inventory_valid": True, "inventory_status": "in stock"},
            ),
            task(
                "verify_payment",
                duration=1.5,
                output={"payment_valid": True, "payment_status": "authorized"},
            ),
            task(
                "fraud_check", duration=2, output={"fraud_check_passed": True, "fraud_score": 0.12}
            ),
        ],
        after=["validate_order"],
        **group,  # type: ignore[arg-type]
    )
    wf.add_step("calculate_shipping", after=["parallel_checks"], output={"shipping_cost": 5.0})
    return wf


@pytest.mark.spec("PAR-1", "PAR-2")
def test_ruvon_tutorial_takes_2s_in_parallel_and_4_5s_one_after_another() -> None:
    parallel = wfsim.run(ruvon_order())
    sequential = wfsim.run(ruvon_order(max_concurrency=1))
    assert (parallel.makespan, sequential.makespan) == (2.0, 4.5)
    for result in (parallel, sequential):
        assert result.status == "completed"
        assert result.context == {
            "order_valid": True,
            "inventory_valid": True,
            "inventory_status": "in stock",
            "payment_valid": True,
            "payment_status": "authorized",
            "fraud_check_passed": True,
            "fraud_score": 0.12,
            "shipping_cost": 5.0,
        }
    starts = {a.step: a.started for n in parallel.steps for a in parallel.trace.attempts(n)}
    assert starts["parallel_checks/check_inventory"] == starts["parallel_checks/fraud_check"] == 0
    merged = parallel.trace.of_kind("group_merged")[0]
    assert (merged.step, merged.t) == ("parallel_checks", 2.0)
    assert merged.fields == {
        "tasks": [
            "parallel_checks/check_inventory",
            "parallel_checks/verify_payment",
            "parallel_checks/fraud_check",
        ],
        "failed": [],
        "keys": [
            "fraud_check_passed",
            "fraud_score",
            "inventory_status",
            "inventory_valid",
            "payment_status",
            "payment_valid",
        ],
    }
    assert parallel.trace.happened_before("parallel_checks", "calculate_shipping")


def conflicting(**group: object) -> wfsim.Workflow:
    wf = wfsim.Workflow("conflict")
    wf.add_parallel(
        "quote",
        [
            task("slow_vendor", duration=3, output={"price": 10, "meta": {"a": 1, "x": 1}}),
            task("fast_vendor", duration=1, output={"price": 12, "meta": {"b": 2, "x": 2}}),
        ],
        **group,  # type: ignore[arg-type]
    )
    return wf


@pytest.mark.spec("PAR-3")
@pytest.mark.parametrize(
    ("group", "context"),
    [
        ({}, {"price": 12, "meta": {"b": 2, "x": 2}}),  # shallow, prefer_new: later task
        ({"on_conflict": "prefer_existing"}, {"price": 10, "meta": {"a": 1, "x": 1}}),
        ({"merge": "deep"}, {"price": 12, "meta": {"a": 1, "x": 2, "b": 2}}),
        (
            {"merge": "deep", "on_conflict": "prefer_existing"},
            {"price": 10, "meta": {"a": 1, "x": 1, "b": 2}},
        ),
    ],
)
def test_merge_strategies_follow_declaration_order_not_completion_order(
    group: dict[str, object], context: dict[str, object]
) -> None:
    result = wfsim.run(conflicting(**group))
    assert result.context == context


@pytest.mark.spec("PAR-3")
def test_raise_fails_the_group_on_a_shared_key() -> None:
    result = wfsim.run(conflicting(on_conflict="raise"))
    assert result.status == "failed"
    (failed,) = result.trace.of_kind("group_failed")
    assert (failed.step, failed.t, failed["error"], failed["message"]) == (
        "quote",
        3.0,
        "MergeConflictError",
        "key 'price' exists in the results of tasks 'quote/slow_vendor' and 'quote/fast_vendor'",
    )
    with pytest.raises(MergeConflictError, match="key 'meta.x' exists"):
        merge_outputs([("a", {"meta": {"x": 1}}), ("b", {"meta": {"x": 2}})], "deep", "raise")


@pytest.mark.spec("PAR-4")
def test_a_failed_task_fails_the_group_unless_partial_success_is_allowed() -> None:
    faults = [Fault.error("parallel_checks/verify_payment", error="CardDeclined")]
    strict = wfsim.run(ruvon_order(), faults=faults)
    assert strict.status == "failed"
    assert strict.trace.of_kind("step_failed")[-1].fields == {
        "reason": "parallel task 'parallel_checks/verify_payment' failed: CardDeclined",
        "error": "ParallelTaskFailed",
    }
    (group_failed,) = strict.trace.of_kind("group_failed")
    assert (group_failed.step, group_failed.t) == ("parallel_checks", 2.0)
    assert strict.steps["calculate_shipping"].status == "skipped"
    partial = wfsim.run(ruvon_order(allow_partial_success=True), faults=faults)
    assert partial.status == "completed"
    assert "payment_valid" not in partial.context and partial.context["fraud_score"] == 0.12
    assert partial.trace.of_kind("group_merged")[0]["failed"] == ["parallel_checks/verify_payment"]


@pytest.mark.spec("PAR-5")
def test_group_timeout_cancels_running_tasks_and_they_count_as_failed() -> None:
    timed = wfsim.run(ruvon_order(timeout="1.6s", allow_partial_success=True))
    assert timed.status == "completed"
    assert timed.makespan == 1.6
    cancelled = timed.trace.of_kind("step_cancelled")
    assert [(e.step, e.t, e["reason"]) for e in cancelled] == [
        ("parallel_checks/fraud_check", 1.6, "group timeout"),
    ]
    assert "fraud_score" not in timed.context
    strict = wfsim.run(ruvon_order(timeout="1.6s"))
    assert strict.status == "failed"
    assert strict.trace.of_kind("group_failed")[0]["message"] == (
        "parallel task 'parallel_checks/fraud_check' was cancelled by the group timeout"
    )


@pytest.mark.spec("PAR-6")
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda wf: wf.add_parallel("g", []), "needs at least one task"),
        (lambda wf: wf.add_parallel("g", [task("a"), task("a")]), "task names must be unique"),
        (lambda wf: wf.add_parallel("g", [wfsim.compensation("a")]), "made with wfsim.task"),
        (lambda wf: wf.add_parallel("g", [task("a")], merge="wide"), "merge must be"),
        (lambda wf: wf.add_parallel("g", [task("a")], on_conflict="x"), "on_conflict must be"),
    ],
)
def test_bad_groups_are_rejected(make: object, message: str) -> None:
    with pytest.raises(wfsim.WorkflowDefinitionError) as info:
        make(wfsim.Workflow("w"))  # type: ignore[operator]
    assert message in str(info.value)


@pytest.mark.spec("PAR-1", "DET-1", "DET-4")
@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.sampled_from([0, 0.5, 1, 2]), min_size=1, max_size=5),
    workers=st.one_of(st.none(), st.integers(1, 3)),
    seed=st.integers(0, 30),
)
def test_merged_output_does_not_depend_on_the_schedule(
    durations: list[float], workers: int | None, seed: int
) -> None:
    wf = wfsim.Workflow("g", max_concurrency=workers)
    wf.add_parallel(
        "fan",
        [
            task(f"t{i}", duration=d, output={"last": i, f"k{i}": d})
            for i, d in enumerate(durations)
        ],
    )
    result = wfsim.run(wf, seed=seed)
    assert result.context["last"] == len(durations) - 1  # prefer_new: the last declared
    assert result.trace.max_concurrency() <= (workers or len(durations))
    assert wfsim.run(wf, seed=seed).digest() == result.digest()
    assert_no_violations(wf, [], result.trace)


@pytest.mark.spec("PAR-4", "PAR-5", "ORACLE-3")
@pytest.mark.parametrize("workers", [None, 1])
@pytest.mark.parametrize(
    "group", [{}, {"allow_partial_success": True}, {"timeout": "1.6s"}, {"merge": "deep"}]
)
def test_oracles_are_silent_on_group_runs(workers: int | None, group: dict[str, object]) -> None:
    for faults in ([], [Fault.error("parallel_checks/verify_payment")]):
        wf = ruvon_order(max_concurrency=workers, **group)
        assert_no_violations(wf, faults, wfsim.run(wf, faults=faults).trace)


def slot_handoff() -> wfsim.Workflow:
    """One slot; ``a`` holds it while the tasks of ``g`` (timeout 1 s) and ``h`` wait."""
    wf = wfsim.Workflow("slot_handoff", max_concurrency=1)
    wf.add_step("a", duration=1)
    wf.add_parallel("g", [task("t", duration=1)], timeout=1)
    wf.add_parallel("h", [task("t", duration=1)])
    return wf


@pytest.mark.spec("PAR-5", "ORD-3")
@pytest.mark.parametrize("choices", [[], [0, 1, 0, 1], [1, 0, 1, 1]])
def test_a_task_the_group_timeout_cancels_after_it_was_picked_hands_its_slot_on(
    choices: list[int],
) -> None:
    # At 1 s ``a`` ends and its slot goes to g/t; the group timeout, due at the same
    # instant, cancels g/t before it starts. The slot must go on to h/t, not be lost
    # with g/t (which left h/t waiting until the 720h time limit).
    wf = slot_handoff()
    result = wfsim.run(wf, choices=choices)
    assert (result.status, result.makespan) == ("failed", 2.0)
    assert [(e.step, e.t) for e in result.trace.of_kind("step_cancelled")] == [("g/t", 1.0)]
    assert [(e.step, e.t) for e in result.trace.of_kind("attempt_started")] == [
        ("a", 0.0),
        ("h/t", 1.0),
    ]
    assert result.trace.max_concurrency() == 1
    assert_no_violations(wf, [], result.trace)
    assert wfsim.run(wf, choices=choices).digest() == result.digest()


@st.composite
def groups_under_a_limit(draw: st.DrawFn) -> tuple[wfsim.Workflow, list[Fault]]:
    """Steps and groups on one or two slots, mostly without dependencies, with whole-second
    durations, step, task and group timeouts, and hangs that a timeout ends: slots free up
    at the instant group timeouts fall due."""
    wf = wfsim.Workflow("groups", max_concurrency=draw(st.sampled_from([1, 2])))
    seconds = st.sampled_from([1, 2, 0])
    faults: list[Fault] = []
    for i in range(draw(st.integers(3, 6))):
        name = f"s{i}"
        after = [f"s{d}" for d in range(i) if draw(st.integers(0, 3)) == 3]
        if draw(st.booleans()):
            timeout = draw(st.sampled_from([1, 2, None]))
            tasks = []
            for j in range(draw(st.integers(1, 2))):
                own = draw(st.sampled_from([None, 1]))
                tasks.append(task(f"t{j}", duration=draw(seconds), timeout=own))
                if (own or timeout) and draw(st.booleans()):
                    faults.append(Fault.hang(f"{name}/t{j}", attempts=[1]))
            partial = draw(st.booleans())
            wf.add_parallel(
                name, tasks, after=after, timeout=timeout, allow_partial_success=partial
            )
        else:
            own = draw(st.sampled_from([None, 1]))
            wf.add_step(name, duration=draw(seconds), timeout=own, after=after)
            if own and draw(st.booleans()):
                faults.append(Fault.hang(name, attempts=[1]))
    return wf, faults


@pytest.mark.spec("PAR-5", "ORD-3", "ORACLE-3")
@settings(max_examples=150, deadline=None)
@given(case=groups_under_a_limit(), tape=wst.schedules(max_size=8))
def test_groups_under_a_concurrency_limit_never_run_into_the_time_limit(
    case: tuple[wfsim.Workflow, list[Fault]], tape: wfsim.Tape
) -> None:
    workflow, faults = case
    result = wst.run_and_check(workflow, faults=faults, choices=tape)  # and replays it
    assert result.status != "timed_out", result.trace.of_kind("run_finished")[0]["message"]
    assert result.makespan <= 10


@pytest.mark.spec("PAR-6", "FAULT-4")
def test_group_names_and_faults_on_groups_are_checked() -> None:
    wf = wfsim.Workflow("w")
    wf.add_parallel("g", [task("t", duration=1)])
    wf.add_step("g/t", duration=5)
    with pytest.raises(wfsim.WorkflowDefinitionError, match="has the trace name of a task"):
        wf.validate()
    ok = wfsim.Workflow("ok")
    ok.add_step("a", duration=1)
    ok.add_parallel("g", [task("t", duration=1)], after=["a"])
    with pytest.raises(wfsim.UnknownStepError, match=r"target its tasks \(g/t\)"):
        wfsim.run(ok, faults=[Fault.error("g")])
    trace = wfsim.run(ok).trace
    assert trace.happened_before("a", "g")
    assert trace.start_order() == ["a", "g", "g/t"]


@pytest.mark.spec("PAR-3")
def test_merges_follow_ruvons_documentation_not_its_code() -> None:
    """specs/parallel.md PAR-3: Ruvon's code dict.updates tasks' results (DEEP ignored
    between tasks), has no RAISE_ERROR branch and applies PREFER_EXISTING only against
    the existing state; wfsim does what the documentation says."""
    outputs = [("a", {"k": {"x": 1}}), ("b", {"k": {"y": 2}})]
    assert merge_outputs(outputs, "deep") == {"k": {"x": 1, "y": 2}}  # code: {"k": {"y": 2}}
    with pytest.raises(MergeConflictError):  # code: as prefer_new
        merge_outputs([("a", {"k": 1}), ("b", {"k": 2})], "shallow", "raise")
    kept = merge_outputs([("a", {"k": 1}), ("b", {"k": 2})], "shallow", "prefer_existing")
    assert kept == {"k": 1}  # code: 2 between tasks
