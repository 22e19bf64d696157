"""Signals: human-in-the-loop messages delivered at virtual times."""

from __future__ import annotations

import time
from typing import Any

import pytest

import wfsim
from examples.sequencely_approval import approval_workflow
from wfsim import Signal

APPROVE = Signal("approval", at="4h", payload={"approved": True, "by": "ana"})


@pytest.mark.spec("SIG-1", "SIG-3")
def test_small_requests_are_auto_approved_without_waiting() -> None:
    result = wfsim.run(approval_workflow, input={"id": "r1", "amount": 250}, signals=[APPROVE])
    assert result.status == "completed"
    assert result.makespan == 2
    assert list(result.steps) == ["process_request"]


@pytest.mark.spec("SIG-1", "SIG-3", "TIME-3")
def test_big_requests_wait_hours_for_the_approval_in_no_wall_time() -> None:
    started = time.perf_counter()
    result = wfsim.run(approval_workflow, input={"id": "r2", "amount": 5000}, signals=[APPROVE])
    assert time.perf_counter() - started < 5
    assert result.status == "completed"
    assert result.result == {"processed": "r2", "amount": 5000}
    received = result.trace.of_kind("signal_received")
    assert [(e.t, e.fields) for e in received] == [
        (14400.0, {"signal": "approval", "payload": {"approved": True, "by": "ana"}}),
    ]
    assert result.makespan == 4 * 3600 + 2
    assert result.trace.happened_before("request_approval", "process_request")


@pytest.mark.spec("SIG-3")
def test_a_denied_request_fails_the_workflow() -> None:
    deny = Signal("approval", at="1h", payload={"approved": False, "by": "bo"})
    result = wfsim.run(approval_workflow, input={"id": "r3", "amount": 5000}, signals=[deny])
    assert result.status == "failed"
    assert result.message == (
        "workflow 'approval_workflow' raised RequestDenied: request r3 denied by bo"
    )
    assert "process_request" not in result.steps


@pytest.mark.spec("SIG-2")
def test_a_signal_before_the_wait_is_buffered_first_in_first_out() -> None:
    @wfsim.workflow
    async def late_reader(ctx: wfsim.WorkflowContext, inp: Any) -> list[Any]:
        await ctx.sleep("1h")
        return [await ctx.wait_for_signal("go"), await ctx.wait_for_signal("go")]

    signals = [Signal("go", at="10m", payload=1), Signal("go", at="20m", payload=2)]
    result = wfsim.run(late_reader, signals=signals)
    assert result.result == [1, 2]
    assert result.makespan == 3600


@pytest.mark.spec("SIG-4")
def test_waiting_times_out_with_signal_timeout_error() -> None:
    @wfsim.workflow
    async def escalate(ctx: wfsim.WorkflowContext, inp: Any) -> str:
        try:
            await ctx.wait_for_signal("approval", timeout="1d")
        except wfsim.SignalTimeoutError as exc:
            return str(exc)
        return "approved"

    result = wfsim.run(escalate, signals=[Signal("approval", at="2d")])
    assert result.result == "no signal 'approval' arrived within 24h"
    assert result.makespan == 86400  # the late signal changes nothing after the end
    assert isinstance(wfsim.SignalTimeoutError("x"), TimeoutError)
    on_time = wfsim.run(escalate, signals=[Signal("approval", at="2h")])
    assert (on_time.result, on_time.makespan) == ("approved", 7200)


@pytest.mark.spec("SIG-4", "TIME-5")
def test_a_signal_that_never_comes_ends_at_the_time_limit_naming_it() -> None:
    result = wfsim.run(approval_workflow, input={"id": "r4", "amount": 5000}, time_limit="1d")
    assert result.status == "timed_out"
    assert result.message.endswith(
        "still waiting: the body of workflow 'approval_workflow' (waiting for signal 'approval')"
    )


@pytest.mark.spec("SIG-5", "DET-1")
def test_signals_are_deterministic_and_validated() -> None:
    runs = [
        wfsim.run(approval_workflow, input={"id": "r2", "amount": 5000}, signals=[APPROVE], seed=3)
        for _ in range(2)
    ]
    assert runs[0].digest() == runs[1].digest()
    with pytest.raises(wfsim.WfsimError, match="signals must be wfsim.Signal objects"):
        wfsim.run(approval_workflow, signals=[{"name": "approval"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="a signal needs a non-empty name"):
        Signal("")
    with pytest.raises(ValueError, match="signal time must not be negative"):
        Signal("x", at=-1)
    assert Signal("x", at="90m").at == 5400.0


@pytest.mark.spec("SIG-5")
def test_signals_need_a_body_that_waits() -> None:
    wf = wfsim.Workflow("dag")
    wf.add_step("a")
    with pytest.raises(wfsim.WfsimError, match="this DAG workflow has none"):
        wfsim.run(wf, signals=[APPROVE])


@pytest.mark.spec("SIG-6")
def test_declared_signals_catch_typos_on_both_sides() -> None:
    with pytest.raises(wfsim.WfsimError) as info:
        wfsim.run(approval_workflow, signals=[Signal("aproval", at="1h")])
    assert str(info.value) == (
        "unknown signal 'aproval' for workflow 'approval_workflow': did you mean 'approval'? "
        "(declared: approval)"
    )

    @wfsim.workflow(signals=["approval"])
    async def typo(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        await ctx.wait_for_signal("aproval")

    result = wfsim.run(typo)
    assert result.status == "failed"
    assert "waits for signal 'aproval', which it does not declare: did you mean 'approval'?" in (
        result.message
    )


@pytest.mark.spec("SIG-1", "PLUG-4")
def test_the_simulation_fixture_delivers_signals(wfsim_sim: Any) -> None:
    wfsim_sim.signal("approval", at="2h", payload={"approved": True, "by": "ana"})
    result = wfsim_sim.run(approval_workflow, input={"id": "r9", "amount": 5000})
    assert result.status == "completed"
    assert result.trace.of_kind("signal_received")[0].t == 7200.0
    denied = wfsim_sim.run(
        approval_workflow,
        input={"id": "r9", "amount": 5000},
        signals=[Signal("approval", at="1h", payload={"approved": False})],
    )
    assert denied.status == "failed"
