"""Comparing two runs (wfsim._core._tracediff): the code behind wfsim diff, DET-7 and CAMP-8."""

from __future__ import annotations

import pytest

import wfsim
from wfsim._core._trace import TraceEvent
from wfsim._core._tracediff import StepChange, StepSummary, diff_traces, step_summaries


def workflow() -> wfsim.Workflow:
    wf = wfsim.Workflow("w", max_concurrency=2)
    wf.add_step("fetch", duration=1)
    wf.add_step("a", after=["fetch"], duration=2, retry=wfsim.RetryPolicy(max_attempts=3))
    wf.add_step("b", after=["fetch"], duration=1)
    wf.add_step("c", after=["fetch"], duration=3)
    return wf


@pytest.mark.spec("CLI-12", "DET-1")
def test_the_same_seed_gives_identical_traces() -> None:
    diff = diff_traces(wfsim.run(workflow(), seed=5).trace, wfsim.run(workflow(), seed=5).trace)
    assert diff.identical and diff.first is None and diff.seeds is None
    assert (diff.only_a, diff.only_b, diff.steps, diff.rows()) == ((), (), (), [])
    assert diff.format().endswith("identical: every event is the same")
    assert diff.to_json()["first_difference"] is None


@pytest.mark.spec("CLI-12")
def test_an_extra_attempt_is_aligned_by_content() -> None:
    plain = wfsim.run(workflow(), seed=1).trace
    faulted = wfsim.run(
        workflow(), seed=1, faults=[wfsim.Fault.error("a", attempts=[1], error=ConnectionError)]
    ).trace
    diff = diff_traces(plain, faulted, a_name="plain", b_name="faulted")
    first = next(i for i, e in enumerate(faulted) if e.kind == "fault_injected")
    assert diff.first == first and not diff.identical
    retried = StepChange("a", StepSummary(1, "completed"), StepSummary(2, "completed"))
    assert diff.steps == (retried,)
    assert diff.steps[0].describe() == "a: attempts 1 -> 2"
    kinds_b = [e.kind for e in diff.only_b]
    assert {"fault_injected", "attempt_failed", "retry_scheduled"} <= set(kinds_b)
    # Content alignment: A's own events are those shifted in time by the retry, not all
    # the events after the first difference.
    assert len(diff.only_a) < len(plain) - first
    rows = diff.rows()
    assert [i for i, _, _ in rows] == list(range(first - 3, first + 4))
    assert all(x == y for i, x, y in rows if i < first)


@pytest.mark.spec("CLI-12")
def test_seeds_alone_are_not_where_two_runs_part() -> None:
    wf = wfsim.Workflow("one")
    wf.add_step("only", duration=1)
    diff = diff_traces(wfsim.run(wf, seed=1).trace, wfsim.run(wf, seed=2).trace)
    assert (diff.first, diff.seeds, diff.identical) == (None, (1, 2), False)
    assert diff.format().endswith(
        "seeds differ: A ran seed 1, B seed 2\nidentical: every other event is the same"
    )


@pytest.mark.spec("CLI-12")
def test_step_summaries_count_attempts_and_name_the_last_outcome() -> None:
    wf = wfsim.Workflow("s")
    wf.add_step("x", duration=1, retry=wfsim.RetryPolicy(max_attempts=2))
    wf.add_step("y", after=["x"], duration=1)
    result = wfsim.run(wf, faults=[wfsim.Fault.error("x", attempts=[1, 2])])
    assert step_summaries(result.trace) == {
        "x": StepSummary(2, "failed"),
        "y": StepSummary(0, "skipped"),
    }
    only = StepChange("z", None, StepSummary(1, "completed"))
    assert only.describe() == "z: only in B (1 attempt, completed)"
    gone = StepChange("z", StepSummary(2, None), None)
    assert gone.describe("before", "after") == "z: only in before (2 attempts, not ended)"


@pytest.mark.spec("CLI-12")
def test_a_shorter_trace_ends_in_the_aligned_rows() -> None:
    full = wfsim.run(workflow(), seed=0).trace
    cut = wfsim.Trace(full[:4])
    diff = diff_traces(full, cut, context=1)
    assert diff.first == 4
    assert [(i, x is not None, y is not None) for i, x, y in diff.rows()] == [
        (3, True, True), (4, True, False), (5, True, False)
    ]
    assert "  B <trace ended after 4 events>" in diff.format()
    changed = TraceEvent(0, 0, "run_started", fields={"workflow": "other", "seed": 0})
    assert diff_traces(full, wfsim.Trace([changed, *full[1:]])).first == 0


@pytest.mark.spec("DET-7")
def test_check_determinisms_explanation_is_the_diff() -> None:
    import tests.core.determinism_workflows as dw

    report = wfsim.check_determinism(dw.NONDETERMINISTIC, seed=3)
    assert not report and report.diff is not None
    text = report.explain()
    assert text.splitlines()[1:] == report.diff.format().splitlines()
    assert "A: this process (" in text and "B: fresh process (" in text
    assert f"first difference at event #{report.first_divergence}:" in text
    assert "  A " in text and "  B " in text
