"""Trigger rules (Airflow's) for DAG steps after failures and skips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import Fault
from wfsim._core._trigger import TRIGGER_RULES, UpstreamCounts, evaluate
from wfsim.checks import assert_no_violations

# specs/sources.md 4, the decision table transcribed from Airflow's TriggerRuleDep.
# Columns: S,S  S,F  S,K  K,K  F,F  F,UF  S,(running)  F,(running)  K,(running)
COLUMNS = [
    UpstreamCounts(2, success=2),
    UpstreamCounts(2, success=1, failed=1),
    UpstreamCounts(2, success=1, skipped=1),
    UpstreamCounts(2, skipped=2),
    UpstreamCounts(2, failed=2),
    UpstreamCounts(2, failed=2),
    UpstreamCounts(2, success=1),
    UpstreamCounts(2, failed=1),
    UpstreamCounts(2, skipped=1),
]
R, UF, SK, W = "run", "upstream_failed", "skip", "wait"
TABLE = {
    "all_success": [R, UF, SK, SK, UF, UF, W, UF, SK],
    "all_failed": [SK, SK, SK, SK, R, R, SK, W, SK],
    "all_done": [R, R, R, R, R, R, W, W, W],
    "all_skipped": [SK, SK, SK, R, SK, SK, SK, SK, W],
    "one_success": [R, R, R, SK, UF, UF, R, W, W],
    "one_failed": [SK, R, SK, SK, R, R, W, R, W],
    "one_done": [R, R, R, SK, R, R, R, R, W],
    "none_failed": [R, UF, R, R, UF, UF, W, UF, W],
    "none_failed_min_one_success": [R, UF, R, SK, UF, UF, W, UF, W],
    "none_skipped": [R, R, SK, SK, R, R, W, W, SK],
    "always": [R, R, R, R, R, R, R, R, R],
}


@pytest.mark.spec("TRIG-1")
@pytest.mark.parametrize("rule", sorted(TABLE))
def test_verdicts_match_airflows_decision_table(rule: str) -> None:
    assert [evaluate(rule, c) for c in COLUMNS] == TABLE[rule]
    assert set(TABLE) == set(TRIGGER_RULES)


def cloacina_batches(rule: str) -> wfsim.Workflow:
    """Cloacina's partial-failure aggregator: batches fan in to one aggregator."""
    wf = wfsim.Workflow("batches")
    wf.add_step("distribute", duration=1)
    for i in range(1, 4):
        wf.add_step(f"batch_{i}", after=["distribute"], duration=i)
    wf.add_step(
        "aggregate", after=[f"batch_{i}" for i in range(1, 4)], duration=1, trigger_rule=rule
    )
    wf.add_step("report", after=["aggregate"], duration=1)
    return wf


@pytest.mark.spec("TRIG-2", "TRIG-3")
def test_an_all_done_aggregator_runs_after_a_failed_batch_and_the_run_completes() -> None:
    result = wfsim.run(cloacina_batches("all_done"), faults=[Fault.error("batch_2", at="end")])
    assert result.steps["batch_2"].status == "failed"
    assert result.steps["aggregate"].status == "completed"
    assert result.trace.attempts("aggregate")[0].started == 4.0  # after the slowest batch
    assert result.status == "completed"  # the failure was tolerated: every leaf succeeded
    assert result.message == ""


@pytest.mark.spec("TRIG-2", "TRIG-3", "ORD-5")
def test_the_default_rule_fails_the_run_as_before() -> None:
    result = wfsim.run(cloacina_batches("all_success"), faults=[Fault.error("batch_2", at="end")])
    skipped = {e.step: e.fields for e in result.trace.of_kind("step_skipped")}
    assert skipped == {
        "aggregate": {"reason": "upstream 'batch_2' failed", "upstream_failed": True},
        "report": {"reason": "upstream 'aggregate' was skipped", "upstream_failed": True},
    }
    assert result.trace.of_kind("step_skipped")[0].t == 3.0  # at once, not after batch_3
    assert result.status == "failed"
    assert result.message == "step(s) failed: batch_2"


@pytest.mark.spec("TRIG-2")
def test_one_success_does_not_wait_for_the_rest() -> None:
    result = wfsim.run(cloacina_batches("one_success"))
    assert result.trace.attempts("aggregate")[0].started == 2.0  # batch_1 ended at 2


@pytest.mark.spec("TRIG-2", "TRIG-3")
def test_branch_join_with_none_failed_min_one_success_and_skip_propagation() -> None:
    wf = wfsim.Workflow("branch")
    wf.add_step("check", duration=1)
    wf.add_step("fast_path", after=["check"], duration=1)
    wf.add_step("slow_path", after=["check"], duration=5, trigger_rule="all_failed")
    wf.add_step("slow_followup", after=["slow_path"], duration=1)
    wf.add_step(
        "join",
        after=["fast_path", "slow_followup"],
        duration=1,
        trigger_rule="none_failed_min_one_success",
    )
    result = wfsim.run(wf)
    assert {n: s.status for n, s in result.steps.items()} == {
        "check": "completed",
        "fast_path": "completed",
        "slow_path": "skipped",
        "slow_followup": "skipped",
        "join": "completed",
    }
    reasons = {e.step: e["reason"] for e in result.trace.of_kind("step_skipped")}
    assert reasons == {
        "slow_path": "upstream 'check' completed (trigger rule all_failed)",
        "slow_followup": "upstream 'slow_path' was skipped",
    }
    assert result.status == "completed"
    failing = wfsim.run(wf, faults=[Fault.error("check")])
    assert failing.steps["slow_path"].status == "completed"  # the cleanup path runs
    assert failing.status == "failed"  # join failed upstream: a leaf failed


@pytest.mark.spec("TRIG-4")
def test_unknown_trigger_rule_is_rejected_with_a_suggestion() -> None:
    wf = wfsim.Workflow("w")
    with pytest.raises(wfsim.WorkflowDefinitionError) as info:
        wf.add_step("s", trigger_rule="all_sucess")
    assert str(info.value).startswith(
        "step 's': unknown trigger rule 'all_sucess': did you mean 'all_success'?"
    )


@st.composite
def ruled_dags(draw: st.DrawFn) -> tuple[wfsim.Workflow, list[Fault]]:
    n = draw(st.integers(2, 12))
    wf = wfsim.Workflow("ruled")
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        wf.add_step(
            f"s{i}",
            after=[f"s{d}" for d in deps],
            duration=draw(st.sampled_from([0, 1, 2])),
            trigger_rule=draw(st.sampled_from(TRIGGER_RULES)),
        )
    failing = draw(st.sets(st.integers(0, n - 1), max_size=3))
    return wf, [
        Fault.error(f"s{i}", at=draw(st.sampled_from(["start", "end"]))) for i in sorted(failing)
    ]


@pytest.mark.spec("TRIG-2", "TRIG-3", "ORD-6", "DET-1")
@settings(max_examples=150, deadline=None)
@given(case=ruled_dags(), seed=st.integers(0, 50))
def test_every_decision_follows_the_rule_at_the_moment_it_was_made(
    case: tuple[wfsim.Workflow, list[Fault]], seed: int
) -> None:
    wf, faults = case
    result = wfsim.run(wf, seed=seed, faults=faults)
    trace = result.trace
    # replay the trace: the upstream picture at each decision must give that verdict
    status: dict[str, str] = {}
    for event in trace:
        name = event.step
        if event.kind in ("step_ready", "step_skipped") and name is not None:
            step = wf[name]
            counts = UpstreamCounts(
                len(step.after),
                success=sum(status.get(d) == "completed" for d in step.after),
                failed=sum(status.get(d) in ("failed", "upstream_failed") for d in step.after),
                skipped=sum(status.get(d) == "skipped" for d in step.after),
            )
            verdict = evaluate(step.trigger_rule, counts)
            if event.kind == "step_ready":
                assert verdict == "run", (name, counts)
            else:
                expected = "upstream_failed" if event.get("upstream_failed") else "skip"
                assert verdict == expected, (name, counts)
                status[name] = expected if expected == "upstream_failed" else "skipped"
        elif event.kind in ("step_completed", "step_failed") and name is not None:
            status[name] = event.kind.removeprefix("step_")
    assert set(status) == set(wf.steps)  # every step decided, exactly once
    leaves = [n for n, deps in wf.dependents().items() if not deps]
    failed_leaf = any(status[n] in ("failed", "upstream_failed") for n in leaves)
    assert result.status == ("failed" if failed_leaf else "completed")
    assert wfsim.run(wf, seed=seed, faults=faults).digest() == result.digest()
    assert_no_violations(wf, faults, trace)  # the oracles agree with the engine
