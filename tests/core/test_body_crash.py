"""Durable execution of workflow bodies: crashes anywhere, replay from history,
nondeterminism caught (specs/faults.md FAULT-13, FAULT-15, FAULT-16;
specs/imperative.md IMP-11, IMP-12; specs/compensation.md COMP-9; DET-9)."""

from __future__ import annotations

import random
from typing import Any

import attrs
import pytest

import wfsim
from wfsim import Fault, NondeterminismError

RUNS: list[str] = []


async def charge(ctx: wfsim.StepContext, amount: int) -> str:
    RUNS.append(f"charge {amount}")
    await ctx.sleep(1)
    return f"paid {amount}"


async def ship(ctx: wfsim.StepContext) -> str:
    RUNS.append("ship")
    await ctx.sleep(2)
    return "shipped"


async def decline(ctx: wfsim.StepContext) -> None:
    RUNS.append("decline")
    raise ValueError("card declined")


@wfsim.workflow
async def checkout(ctx: wfsim.WorkflowContext, amount: int) -> list[Any]:
    started = ctx.now()
    paid = await ctx.step(charge, amount, idempotent=False)
    paid_at = ctx.now()
    await ctx.sleep(5)
    shipped = await ctx.step(ship)
    return [paid, shipped, started, paid_at, ctx.now()]


def kinds(result: wfsim.RunResult, *wanted: str) -> list[str]:
    return [e.describe() for e in result.trace if e.kind in wanted]


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RUNS.clear()


@pytest.mark.spec("FAULT-15", "IMP-11")
def test_a_crash_after_a_calls_end_replays_it_without_running_it_again() -> None:
    result = wfsim.run(checkout, input=30, faults=[Fault.crash(body="after:charge")])
    assert result.status == "completed"
    # The body never resumed after charge before the crash: it goes on at the recovery.
    assert result.result == ["paid 30", "shipped", 0.0, 1.0, 8.0]
    assert RUNS == ["charge 30", "ship"]
    assert result.effect_counts == {"charge": 1, "ship": 1}
    injected, crashed = result.trace.of_kind("fault_injected", "crashed")
    assert (injected.step, injected["fault"]) == (
        None,
        {
            "kind": "crash",
            "at": "body",
            "point": "after:charge",
            "restart_after": 0.0,
            "occurrences": [1],
        },
    )
    assert (crashed.step, crashed.attempt, crashed.t) == (None, None, 1.0)
    assert crashed.fields == {
        "at": "body",
        "point": "after:charge",
        "lost": [],
        "restart_after": 0.0,
    }
    replayed = result.trace.of_kind("call_replayed")
    assert [(e.step, e.t, e.fields) for e in replayed] == [("charge", 1.0, {"output": "paid 30"})]


@pytest.mark.spec("FAULT-15", "IMP-11")
def test_a_crash_in_a_sleep_keeps_its_due_time_and_replays_the_clock() -> None:
    result = wfsim.run(checkout, input=30, faults=[Fault.crash(body="sleep", restart_after=2)])
    assert result.status == "completed"
    # started and paid_at are replayed (0s and 1s); the sleep still ends at 6s, not 3+5s.
    assert result.result == ["paid 30", "shipped", 0.0, 1.0, 8.0]
    assert RUNS == ["charge 30", "ship"]
    assert [e.t for e in result.trace.of_kind("crashed", "recovered")] == [1.0, 3.0]
    assert result.trace.of_kind("crashed")[0]["point"] == "sleep"


@pytest.mark.spec("FAULT-15", "FAULT-16", "IMP-11")
def test_a_call_lost_at_a_crash_runs_again_and_the_replay_waits_for_it() -> None:
    faults = [Fault.crash("ship", at="after", restart_after=1)]
    result = wfsim.run(checkout, input=30, faults=faults)
    assert result.status == "completed"
    assert result.result == ["paid 30", "shipped", 0.0, 1.0, 11.0]
    assert RUNS == ["charge 30", "ship", "ship"]
    assert result.repeated_effects == ()  # ship is idempotent
    crashed = result.trace.of_kind("crashed")[0]
    assert (crashed.step, crashed["lost"]) == ("ship", [["ship", 1]])
    assert [e.step for e in result.trace.of_kind("call_replayed")] == ["charge"]


@pytest.mark.spec("FAULT-15", "FAULT-14")
def test_a_crash_after_a_non_idempotent_calls_effect_repeats_it() -> None:
    result = wfsim.run(checkout, input=30, faults=[Fault.crash("charge", at="after")])
    assert result.status == "completed"
    assert RUNS == ["charge 30", "charge 30", "ship"]
    assert result.repeated_effects == ("charge",)


@pytest.mark.spec("FAULT-15", "IMP-11")
def test_a_recorded_error_is_raised_again_without_running() -> None:
    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> str:
        try:
            await ctx.step(decline)
        except ValueError as exc:
            caught = str(exc)
        await ctx.sleep(1)
        return caught

    result = wfsim.run(flow, faults=[Fault.crash(body="sleep", restart_after=1)])
    assert (result.status, result.result) == ("completed", "card declined")
    assert RUNS == ["decline"]
    assert result.trace.of_kind("call_replayed")[0].fields == {"error": "ValueError"}


@pytest.mark.spec("FAULT-15", "IMP-11")
def test_occurrences_pick_the_nth_matching_point_and_sleeps_are_numbered() -> None:
    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> list[float]:
        out = []
        for amount in (1, 2, 3):
            await ctx.step(charge, amount)
            await ctx.sleep(1)
            out.append(ctx.now())
        return out

    third = wfsim.run(flow, faults=[Fault.crash(body="after:*", occurrences=[3], restart_after=1)])
    assert [e["point"] for e in third.trace.of_kind("crashed")] == ["after:charge:3"]
    assert third.result == [2.0, 4.0, 7.0]
    second_sleep = wfsim.run(flow, faults=[Fault.crash(body="sleep:2", restart_after=10)])
    assert [e["point"] for e in second_sleep.trace.of_kind("crashed")] == ["sleep:2"]
    # The 2nd sleep fell due (4s) while the engine was down (3s to 13s): it ends at 13s.
    assert second_sleep.result == [2.0, 13.0, 15.0]
    assert RUNS == ["charge 1", "charge 2", "charge 3"] * 2


@pytest.mark.spec("FAULT-15", "IMP-11")
def test_a_crash_while_waiting_for_a_signal_waits_again_with_its_due_time() -> None:
    @wfsim.workflow(signals=["approval"])
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> list[Any]:
        first = await ctx.wait_for_signal("approval")
        try:
            second = await ctx.wait_for_signal("approval", timeout=10)
        except wfsim.SignalTimeoutError:
            second = "timed out"
        return [first, second, ctx.now()]

    signals = [wfsim.Signal("approval", at=2, payload="yes")]
    faults = [Fault.crash(body="signal:approval:2", restart_after=3)]
    result = wfsim.run(flow, signals=signals, faults=faults)
    assert result.trace.of_kind("crashed")[0]["point"] == "signal:approval:2"
    # The first wait replays its payload; the second's timeout stays due at 2 + 10s.
    assert result.result == ["yes", "timed out", 12.0]
    late = [
        wfsim.Signal("approval", at=1, payload="a"),
        wfsim.Signal("approval", at=4, payload="b"),
    ]
    faults = [Fault.crash(body="signal:approval:2", restart_after=5)]
    result = wfsim.run(flow, signals=late, faults=faults)
    # "b" arrives while the engine is down (at 4s): received at the recovery, buffered.
    assert result.result == ["a", "b", 6.0]


@pytest.mark.spec("FAULT-15")
def test_body_points_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown body crash point 'sleeep': did you mean 'sleep'"):
        Fault.crash(body="sleeep")
    with pytest.raises(ValueError, match="a step or body="):
        Fault.crash("charge", body="after:charge")
    with pytest.raises(ValueError, match="occurrences=...\\) is for body= points"):
        Fault.crash("charge", occurrences=[2])
    assert Fault.crash(body="*", probability=0.5).attempts is None


@pytest.mark.spec("FAULT-13", "FAULT-15")
def test_a_body_point_on_a_dag_is_rejected() -> None:
    wf = wfsim.Workflow("dag")
    wf.add_step("a", duration=1)
    with pytest.raises(wfsim.WfsimError) as info:
        wfsim.run(wf, faults=[Fault.crash(body="after:a")])
    assert str(info.value) == (
        "a crash at a body point ('after:a') needs a @wfsim.workflow body; workflow 'dag' "
        "has none (specs/faults.md FAULT-15)"
    )


@pytest.mark.spec("FAULT-16", "IMP-11")
def test_branches_and_children_are_lost_and_replayed() -> None:
    @wfsim.workflow
    async def payment(ctx: wfsim.WorkflowContext, amount: int) -> str:
        paid = await ctx.step(charge, amount)
        await ctx.sleep(3)
        return str(paid)

    async def branch(ctx: wfsim.WorkflowContext, amount: int) -> int:
        await ctx.step(charge, amount)
        await ctx.sleep(amount)
        return amount

    @wfsim.workflow
    async def parent(ctx: wfsim.WorkflowContext, _: Any) -> list[Any]:
        got = await ctx.gather(branch(ctx, 1), branch(ctx, 2), ctx.child(payment, 5))
        return [*got, ctx.now()]

    clean = wfsim.run(parent)
    faults = [Fault.crash(body="sleep:3", restart_after=1)]  # the last sleep to start
    crashed = wfsim.run(parent, faults=faults)
    assert clean.result == [1, 2, "paid 5", 4.0]
    assert crashed.status == "completed"
    assert crashed.result == [1, 2, "paid 5", 4.0]  # every due time kept
    assert sorted(RUNS) == sorted(["charge 1", "charge 2", "charge 5"] * 2)
    assert [e.step for e in crashed.trace.of_kind("child_started", "child_completed")] == [
        "payment",
        "payment",
    ]
    assert sorted(e.step for e in crashed.trace.of_kind("call_replayed")) == sorted(
        n for n in ("charge", "charge:2", "payment/charge")
    )


@pytest.mark.spec("COMP-9", "FAULT-16")
def test_a_body_that_fails_after_a_crash_compensates_lifo_exactly_once() -> None:
    undone: list[tuple[str, Any]] = []

    async def refund(ctx: wfsim.StepContext, amount: int) -> None:
        undone.append((ctx.step, ctx.result))

    @wfsim.workflow
    async def saga(ctx: wfsim.WorkflowContext, _: Any) -> None:
        await ctx.step(charge, 1, compensate=refund)
        await ctx.step(charge, 2, compensate=refund)
        await ctx.sleep(1)
        await ctx.step(charge, 3, compensate=refund)
        await ctx.step(decline)

    faults = [Fault.crash(body="sleep", restart_after=1), Fault.crash("charge:3", at="after")]
    result = wfsim.run(saga, faults=faults)
    assert result.status == "compensated"
    assert undone == [("refund:3", "paid 3"), ("refund:2", "paid 2"), ("refund", "paid 1")]
    assert result.trace.compensation_order() == ["refund:3", "refund:2", "refund"]
    assert len(result.trace.of_kind("crashed")) == 2


@pytest.mark.spec("FAULT-16")
def test_a_crash_during_compensation_does_not_rerun_the_body() -> None:
    async def refund(ctx: wfsim.StepContext, amount: int) -> None:
        RUNS.append("refund")
        await ctx.sleep(1)

    @wfsim.workflow
    async def saga(ctx: wfsim.WorkflowContext, _: Any) -> None:
        await ctx.step(charge, 1, compensate=refund)
        await ctx.step(decline)

    result = wfsim.run(saga, faults=[Fault.crash("refund", at="after", restart_after=1)])
    assert result.status == "compensated"
    assert RUNS == ["charge 1", "decline", "refund", "refund"]
    assert result.trace.of_kind("call_replayed") == []


@pytest.mark.spec("IMP-11")
def test_random_and_wall_time_replay_what_they_gave() -> None:
    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> list[Any]:
        a = ctx.random.random()
        await ctx.step(charge, 1)
        b = ctx.random.random()
        stamp = ctx.wall_time().isoformat()
        await ctx.sleep(3)
        return [a, b, stamp, ctx.now()]

    clean = wfsim.run(flow, seed=3)
    assert clean.result[2] == "2026-01-01T00:00:01+00:00"
    crashed = wfsim.run(flow, seed=3, faults=[Fault.crash(body="sleep", restart_after=7)])
    assert crashed.result == [*clean.result[:3], 8.0]  # the sleep fell due while down
    # Crashed before the body resumed after charge: from there on it runs live, 7s later.
    crashed = wfsim.run(flow, seed=3, faults=[Fault.crash(body="after:charge", restart_after=7)])
    assert crashed.result[:2] == clean.result[:2]
    assert crashed.result[2:] == ["2026-01-01T00:00:08+00:00", 11.0]


@pytest.mark.spec("IMP-12")
@pytest.mark.parametrize(
    ("changed", "recorded", "new"),
    [
        ("function", "ctx.step(charge, 1)", "ctx.step(ship)"),
        ("arguments", "ctx.step(charge, 1)", "ctx.step(charge, 2)"),
        ("kind", "ctx.step(charge, 1)", "ctx.sleep(1s)"),
        ("fewer", "ctx.step(charge, 1)", "the end of the code (fewer calls)"),
    ],
)
def test_a_body_that_changes_on_replay_fails_with_nondeterminism_error(
    changed: str, recorded: str, new: str
) -> None:
    replays: list[int] = []

    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> str:
        await ctx.sleep(1)
        replays.append(1)
        if len(replays) == 1:
            await ctx.step(charge, 1)
        elif changed == "function":
            await ctx.step(ship)
        elif changed == "arguments":
            await ctx.step(charge, 2)
        elif changed == "kind":
            await ctx.sleep(1)
        return "done"

    result = wfsim.run(flow, faults=[Fault.crash(body="after:charge")])
    assert result.status == "failed"
    event = result.trace.of_kind("nondeterminism")[0]
    assert event.fields == {"position": "body#2", "recorded": recorded, "new": new}
    assert result.message == (
        "workflow 'flow' raised NondeterminismError: workflow 'flow' is not deterministic: "
        f"replaying its history, command 2 of the body (body#2) was {recorded}, but now it "
        f"is {new}; a body must make the same calls in the same order on every run (read "
        "time and randomness from ctx, not from the host; guard a changed body with "
        "ctx.patched)"
    )


@pytest.mark.spec("IMP-12")
def test_nondeterminism_fails_the_run_even_if_the_body_catches_it() -> None:
    errors: list[NondeterminismError] = []

    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> str:
        await ctx.step(charge, 1)
        try:
            await ctx.step(charge, random.random())  # the host's random: another argument
        except NondeterminismError as exc:
            errors.append(exc)
        return "swallowed"

    result = wfsim.run(flow, faults=[Fault.crash(body="after:charge:2")])
    assert result.status == "failed" and result.result is None
    assert isinstance(errors[0], wfsim.WfsimError) and isinstance(errors[0], RuntimeError)
    assert errors[0].position == "body#2"
    assert errors[0].recorded.startswith("ctx.step(charge, 0.")
    assert "raised NondeterminismError" in result.message


@pytest.mark.spec("IMP-12", "COMP-9")
def test_nondeterminism_blocks_the_run_and_nothing_is_compensated() -> None:
    """Temporal fails the workflow task, not the workflow: the run waits for a code fix
    and no compensation runs. wfsim ends it failed with nothing undone."""
    from wfsim.checks import check_all, check_compensations

    replays: list[int] = []

    async def refund(ctx: wfsim.StepContext, amount: int) -> None:
        RUNS.append(f"refund {amount}")

    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> str:
        replays.append(1)
        await ctx.step(charge, 1, compensate=refund)
        await ctx.step(charge, len(replays) + 1, compensate=refund)  # changes on replay
        await ctx.sleep(5)
        return "done"

    faults = [Fault.crash(body="sleep")]
    result = wfsim.run(flow, faults=faults)
    assert result.status == "failed"
    assert result.message.endswith(
        "; the run is blocked until its code is fixed, so nothing was compensated "
        "(registered: refund:2, refund)"
    )
    assert result.trace.compensation_order() == []
    assert not any(e.kind.startswith("compensation_") for e in result.trace)
    assert RUNS == ["charge 1", "charge 2"]
    assert check_all(flow, faults, result.trace) == []
    # the oracle: a blocked run that compensated anyway is caught
    nondeterminism = result.trace.of_kind("nondeterminism")[0]
    events = list(result.trace)
    fake = wfsim.Trace(
        [
            *events[:-1],
            attrs.evolve(
                events[-1],
                kind="compensation_started",
                step="refund",
                attempt=1,
                fields={"for_step": "charge"},
            ),
        ]
    )
    (violation,) = check_compensations(flow, faults, fake)
    assert violation.rule == "IMP-12"
    assert violation.message == (
        "compensation 'refund' has compensation_started at t=2s, but a NondeterminismError "
        "at t=2s blocked the run; a blocked run compensates nothing"
    )
    assert violation.events[0] is nondeterminism


@pytest.mark.spec("DET-9", "FAULT-15")
def test_crash_runs_are_deterministic_and_probability_crashes_are_seeded() -> None:
    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> list[Any]:
        got = await ctx.gather(*(ctx.step(charge, n) for n in range(4)))
        await ctx.sleep(1)
        return [*got, ctx.random.random(), ctx.now()]

    faults = [
        Fault.crash(body="*", probability=0.4, restart_after=1),
        Fault.crash("charge:2", at="after"),
    ]
    crash_counts = set()
    for seed in range(6):
        first, second = (wfsim.run(flow, seed=seed, faults=faults) for _ in range(2))
        assert first.digest() == second.digest()
        assert first.status == "completed"
        assert first.result[:4] == ["paid 0", "paid 1", "paid 2", "paid 3"]
        crash_counts.add(len(first.trace.of_kind("crashed")))
    assert len(crash_counts) > 1  # the seed decides which points crash


@pytest.mark.spec("FAULT-16", "FAULT-11")
def test_a_crash_right_after_an_attempt_timed_out_still_ends_its_code() -> None:
    async def slow(ctx: wfsim.StepContext) -> None:
        await ctx.sleep(5)

    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, _: Any) -> None:
        await ctx.gather(ctx.step(charge, 1), ctx.step(slow, timeout=1))

    # The gather's last call times out at 1s and the crash point fires in that instant:
    # the timed-out attempt's cancellation must still reach its code (found by the suite).
    result = wfsim.run(flow, faults=[Fault.crash(body="after:charge")])
    assert result.status == "failed"
    assert result.message == (
        "workflow 'flow' raised StepTimeoutError: step 'slow' timed out on attempt 1"
    )
    assert result.makespan == 1.0
