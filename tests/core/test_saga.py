"""Sagas on DAG workflows: which compensations run, in what order, and the run's status."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import Fault, RetryPolicy, SagaPolicy, compensation

S = 1_000_000_000


def purchase(saga: SagaPolicy | None = None) -> wfsim.Workflow:
    wf = wfsim.Workflow("purchase", saga=saga)
    wf.add_step(
        "reserve_inventory", duration=1, compensate=compensation("release_inventory", duration=0.2)
    )
    wf.add_step(
        "charge_payment",
        after=["reserve_inventory"],
        duration=2,
        retry=RetryPolicy(max_attempts=3, initial_interval=1),
        compensate=compensation("refund_payment", duration=0.3),
    )
    wf.add_step("ship_order", after=["charge_payment"], duration=1)
    return wf


SHIP_FAILS = [Fault.error("ship_order", error="ShippingUnavailable", retryable=False)]


def kinds(result: wfsim.RunResult, *wanted: str) -> list[tuple[str, str | None, float]]:
    return [(e.kind, e.step, e.t) for e in result.trace if e.kind in wanted]


@pytest.mark.spec("COMP-1", "COMP-2", "COMP-5")
def test_failed_purchase_is_compensated_in_reverse_order() -> None:
    faults = [Fault.error("charge_payment", attempts=[1], error=ConnectionError), *SHIP_FAILS]
    result = wfsim.run(purchase(), seed=1, faults=faults)
    assert result.status == "compensated"
    assert result.trace.compensation_order() == ["refund_payment", "release_inventory"]
    assert kinds(result, "compensation_started", "compensation_completed") == [
        ("compensation_started", "refund_payment", 4.0),
        ("compensation_completed", "refund_payment", 4.3),
        ("compensation_started", "release_inventory", 4.3),
        ("compensation_completed", "release_inventory", 4.5),
    ]
    started = result.trace.of_kind("compensation_started")[0]
    assert started.fields == {"for_step": "charge_payment"}
    assert result.makespan == 4.5
    assert {n: s.status for n, s in result.steps.items()} == {
        "reserve_inventory": "compensated", "charge_payment": "compensated", "ship_order": "failed",
    }
    assert result.message == (
        "step(s) failed: ship_order; compensated: refund_payment, release_inventory"
    )
    assert result.trace[-1]["status"] == "compensated"


@pytest.mark.spec("COMP-1")
def test_a_successful_run_compensates_nothing() -> None:
    result = wfsim.run(purchase())
    assert result.status == "completed"
    assert result.trace.compensation_order() == []
    assert {c.status for c in result.compensations.values()} == {"pending"}


@pytest.mark.spec("COMP-2")
def test_a_step_that_never_completed_is_not_compensated_under_register_after() -> None:
    result = wfsim.run(purchase(), faults=[Fault.error("charge_payment", error="Declined",
                                                       retryable=False)])
    assert result.status == "compensated"
    assert result.trace.compensation_order() == ["release_inventory"]
    assert result.compensations["refund_payment"].status == "pending"


@pytest.mark.spec("COMP-2")
def test_register_before_compensates_the_failed_step_too() -> None:
    saga = SagaPolicy(register="before")
    result = wfsim.run(purchase(saga), faults=[Fault.error("charge_payment", error="Declined",
                                                           retryable=False)])
    assert result.trace.compensation_order() == ["refund_payment", "release_inventory"]


@pytest.mark.spec("COMP-1")
def test_no_failed_step_with_a_compensation_means_plain_failure() -> None:
    wf = wfsim.Workflow("plain")
    wf.add_step("a", duration=1)
    result = wfsim.run(wf, faults=[Fault.error("a")])
    assert (result.status, result.message) == ("failed", "step(s) failed: a")


@pytest.mark.spec("COMP-3", "COMP-4")
def test_failed_compensation_stops_the_saga_by_default() -> None:
    faults = [*SHIP_FAILS, Fault.error("refund_payment", error="RefundRejected")]
    result = wfsim.run(purchase(), faults=faults)
    assert result.status == "compensation_failed"
    failed = result.trace.of_kind("compensation_failed")[0]
    assert failed.fields == {
        "for_step": "charge_payment",
        "error": "RefundRejected",
        "message": "injected RefundRejected",
        "retryable": True,
        "final": True,
    }
    skipped = result.trace.of_kind("compensation_skipped")[0]
    assert (skipped.step, skipped["reason"]) == (
        "release_inventory", "compensation 'refund_payment' failed",
    )
    assert result.compensations["release_inventory"].status == "skipped"
    assert result.message == (
        "step(s) failed: ship_order; compensation(s) failed: refund_payment; "
        "not run: release_inventory"
    )


@pytest.mark.spec("COMP-3", "COMP-4")
def test_continue_runs_every_compensation_and_reports_every_failure() -> None:
    faults = [*SHIP_FAILS, Fault.error("refund_payment", error="RefundRejected")]
    result = wfsim.run(purchase(SagaPolicy(on_error="continue")), faults=faults)
    assert result.status == "compensation_failed"
    assert result.trace.compensation_order() == ["refund_payment", "release_inventory"]
    assert result.compensations["release_inventory"].status == "completed"
    assert result.steps["reserve_inventory"].status == "compensated"
    assert result.steps["charge_payment"].status == "completed"


@pytest.mark.spec("COMP-3")
def test_compensations_retry_by_their_own_policy() -> None:
    wf = wfsim.Workflow("retrying")
    wf.add_step("book", duration=1, compensate=compensation(
        "cancel_booking", duration=0.5, retry=RetryPolicy(max_attempts=3, initial_interval=2)
    ))
    wf.add_step("pay", after=["book"], duration=1)
    faults = [Fault.error("pay"), Fault.error("cancel_booking", attempts=[1, 2])]
    result = wfsim.run(wf, faults=faults)
    assert result.status == "compensated"
    assert [e["final"] for e in result.trace.of_kind("compensation_failed")] == [False, False]
    assert result.trace.retry_delays("cancel_booking") == [2.0, 4.0]
    assert result.compensations["cancel_booking"].attempts == 3
    assert result.makespan == 1 + 2 + 4 + 0.5  # book, two delays, the third attempt


@pytest.mark.spec("COMP-3")
def test_a_compensation_timeout_is_a_retryable_failure() -> None:
    wf = wfsim.Workflow("slow_undo")
    wf.add_step("book", compensate=compensation("cancel", duration=10, timeout=1))
    wf.add_step("pay", after=["book"])
    result = wfsim.run(wf, faults=[Fault.error("pay")])
    failed = result.trace.of_kind("compensation_failed")[0]
    assert (failed["error"], failed["timeout"], failed["final"], failed.t) == (
        "timeout", 1.0, True, 1.0,
    )
    assert result.status == "compensation_failed"


@pytest.mark.spec("COMP-4")
def test_parallel_compensations_start_at_the_same_instant() -> None:
    wf = wfsim.Workflow("fanout", saga=SagaPolicy(parallel=True))
    for i in range(4):
        wf.add_step(f"w{i}", duration=i + 1, compensate=compensation(f"undo{i}", duration=1))
    wf.add_step("join", after=[f"w{i}" for i in range(4)], duration=1)
    faults = [Fault.error("join"), Fault.error("undo2", error="Stuck")]
    result = wfsim.run(wf, faults=faults)
    starts = result.trace.of_kind("compensation_started")
    assert {e.t for e in starts} == {4.0}
    assert sorted(e.step for e in starts) == ["undo0", "undo1", "undo2", "undo3"]
    assert result.status == "compensation_failed"
    assert result.makespan == 5


@pytest.mark.spec("COMP-5")
def test_code_compensations_see_the_context_and_virtual_time() -> None:
    seen: list[tuple[str, float, object]] = []
    wf = wfsim.Workflow("code")

    async def refund(ctx: wfsim.StepContext) -> None:
        seen.append((ctx.step, ctx.now(), ctx.get("charged")))
        await ctx.sleep(2)
        ctx.delete("charged")

    wf.add_step("charge", duration=1, output={"charged": 30}, compensate=refund)
    wf.add_step("ship", after=["charge"])
    result = wfsim.run(wf, faults=[Fault.error("ship")])
    assert seen == [("refund", 1.0, 30)]
    assert "charged" not in result.context
    assert result.makespan == 3


@pytest.mark.spec("COMP-6")
def test_compensation_names_must_be_distinct() -> None:
    wf = wfsim.Workflow("clash")
    wf.add_step("a", compensate="b")
    wf.add_step("b")
    with pytest.raises(wfsim.WorkflowDefinitionError, match="has the name of a step"):
        wf.validate()
    wf2 = wfsim.Workflow("twice")
    wf2.add_step("a", compensate="undo")
    wf2.add_step("b", compensate="undo")
    with pytest.raises(wfsim.WorkflowDefinitionError, match="declared by both 'a' and 'b'"):
        wf2.validate()
    with pytest.raises(wfsim.WorkflowDefinitionError, match="not the workflow step 'a'"):
        wf2.add_step("c", compensate=wf2["a"])
    with pytest.raises(wfsim.WorkflowDefinitionError, match="compensate= takes"):
        wf2.add_step("d", compensate=3)  # type: ignore[arg-type]
    with pytest.raises(wfsim.WorkflowDefinitionError, match="on_error must be"):
        SagaPolicy(on_error="ignore")  # type: ignore[arg-type]


@pytest.mark.spec("COMP-6", "FAULT-4")
def test_faults_may_target_compensations_by_name() -> None:
    with pytest.raises(wfsim.UnknownStepError, match="did you mean 'refund_payment'"):
        wfsim.run(purchase(), faults=[Fault.error("refund_paymnt")])


@pytest.mark.spec("COMP-7", "TIME-5")
def test_time_limit_during_compensation_cancels_it() -> None:
    wf = wfsim.Workflow("slow")
    wf.add_step("book", compensate=compensation("cancel", duration="2d"))
    wf.add_step("pay", after=["book"])
    result = wfsim.run(wf, faults=[Fault.error("pay")], time_limit="1d")
    assert result.status == "timed_out"
    assert "'cancel' (attempt 1 running since t=0s)" in result.message
    assert result.compensations["cancel"].status == "cancelled"


# -- properties -----------------------------------------------------------------------------


@st.composite
def sagas(draw: st.DrawFn) -> tuple[wfsim.Workflow, list[Fault], SagaPolicy]:
    """A chain of steps, each with a compensation, and random permanent failures."""
    saga = SagaPolicy(
        register=draw(st.sampled_from(["after", "before"])),
        parallel=draw(st.booleans()),
        on_error=draw(st.sampled_from(["stop", "continue"])),
    )
    n = draw(st.integers(2, 8))
    wf = wfsim.Workflow("chain", saga=saga)
    for i in range(n):
        wf.add_step(
            f"s{i}",
            after=[f"s{i - 1}"] if i and draw(st.booleans()) else [],
            duration=draw(st.sampled_from([0, 0.5, 1, 2])),
            compensate=compensation(f"c{i}", duration=draw(st.sampled_from([0, 0.25, 1]))),
        )
    failing = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=2))
    faults = [Fault.error(f"s{i}", retryable=False) for i in sorted(failing)]
    broken = draw(st.sets(st.integers(0, n - 1), max_size=2))
    faults += [Fault.error(f"c{i}", error="UndoFailed") for i in sorted(broken)]
    return wf, faults, saga


@pytest.mark.spec("COMP-1", "COMP-2", "COMP-3", "COMP-4", "DET-1")
@settings(max_examples=150, deadline=None)
@given(case=sagas(), seed=st.integers(0, 1000))
def test_compensations_undo_exactly_the_registered_steps_in_reverse(
    case: tuple[wfsim.Workflow, list[Fault], SagaPolicy], seed: int
) -> None:
    wf, faults, saga = case
    result = wfsim.run(wf, seed=seed, faults=faults)
    trace = result.trace
    if saga.register == "after":
        registered = [f"c{s[1:]}" for s in trace.completion_order()]
    else:
        registered = [f"c{s[1:]}" for s in trace.start_order()]
    expected_stack = list(reversed(registered))
    started = trace.compensation_order()
    # each compensation runs at most once (its first attempt starts once)
    firsts = [e.step for e in trace.of_kind("compensation_started") if e.attempt == 1]
    assert len(firsts) == len(set(firsts))
    broken = {f.step for f in faults if f.step.startswith("c")}
    if saga.parallel:
        assert sorted(started) == sorted(expected_stack)
        assert len({e.t_ns for e in trace.of_kind("compensation_started")}) <= 1
    elif saga.on_error == "continue":
        assert started == expected_stack
    else:
        # stop at the first compensation that failed for good
        cut = next((i for i, c in enumerate(expected_stack) if c in broken), None)
        assert started == (expected_stack if cut is None else expected_stack[: cut + 1])
    if not expected_stack:
        assert result.status == "failed"
    elif set(started) & broken:
        assert result.status == "compensation_failed"
    else:
        assert result.status == "compensated"
    # compensation only after the forward work ended
    if started:
        first = trace.of_kind("compensation_started")[0].seq
        assert all(e.seq < first for e in trace.of_kind("step_completed", "step_failed"))
    assert wfsim.run(wf, seed=seed, faults=faults).digest() == result.digest()


@pytest.mark.spec("COMP-7", "FAULT-8")
def test_a_hung_compensation_times_the_run_out() -> None:
    wf = wfsim.Workflow("w")
    wf.add_step("a", duration=1, compensate="undo_a")
    wf.add_step("b", after=["a"], duration=1)
    result = wfsim.run(wf, faults=[Fault.error("b"), Fault.hang("undo_a")], time_limit="1h")
    assert result.status == "timed_out"
    assert result.message.endswith("'undo_a' (attempt 1 hung by an injected fault since t=1s)")


@pytest.mark.spec("COMP-1", "FAULT-8")
def test_compensation_waits_for_a_hung_independent_step() -> None:
    wf = wfsim.Workflow("w")
    wf.add_step("a", duration=1, compensate="undo_a")
    wf.add_step("b", after=["a"], duration=1)
    wf.add_step("side", duration=1)
    result = wfsim.run(wf, faults=[Fault.error("b"), Fault.hang("side")], time_limit="1h")
    assert result.trace.compensation_order() == []
    assert result.status == "timed_out"
