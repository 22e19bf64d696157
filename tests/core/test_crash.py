"""Crash-and-restart faults: the engine dies before or after a step's effect and restarts
from its own history (specs/faults.md FAULT-10 to FAULT-14)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import wfsim
from wfsim import Fault, RetryPolicy
from wfsim.checks import check_all

S = 1_000_000_000
N = 10


def ten_step_saga(*, fail_last: bool = False) -> wfsim.Workflow:
    """A chain s0 -> ... -> s9, each with a compensation u0..u9. Even steps are code-less,
    odd steps run code; steps 1, 4 and 7 are not idempotent (their code counts calls)."""
    wf = wfsim.Workflow("ten-step saga")
    prev: wfsim.Step | None = None
    for i in range(N):
        undo = wfsim.compensation(f"u{i}", duration=0.25, output={f"undone{i}": True})
        after = [prev] if prev is not None else None
        idempotent = i not in (1, 4, 7)
        if i % 2 == 0:
            prev = wf.add_step(
                f"s{i}",
                duration=1,
                output={f"k{i}": i},
                after=after,
                compensate=undo,
                idempotent=idempotent,
            )
        else:

            async def body(ctx: Any, i: int = i) -> dict[str, int]:
                await ctx.sleep(0.5)
                ctx.set("calls", ctx.get("calls", 0) + 1)
                return {f"k{i}": i}

            prev = wf.add_step(
                f"s{i}", fn=body, after=after, compensate=undo, idempotent=idempotent
            )
    if fail_last:
        wf.add_step("boom", duration=0.5, after=[prev])
    return wf


def every_crash_point(wf: wfsim.Workflow, names: list[str]) -> list[tuple[str, str]]:
    return list(itertools.product(names, ("before", "after")))


@pytest.mark.spec("FAULT-10", "FAULT-11", "FAULT-12", "FAULT-14")
def test_a_ten_step_saga_crashed_at_every_point_recovers_to_the_crash_free_context() -> None:
    wf = ten_step_saga()
    base = wfsim.run(wf, seed=5)
    assert base.status == "completed" and base.context["calls"] == 5
    points = every_crash_point(wf, [f"s{i}" for i in range(N)])
    assert len(points) == 20
    for step, at in points:
        faults = [Fault.crash(step, at=at, restart_after="2s")]
        result = wfsim.run(wf, seed=5, faults=faults)
        where = f"crash {at} {step}"
        assert result.status == "completed", where
        assert dict(result.context) == dict(base.context), where
        assert [e.kind for e in result.trace.of_kind("crashed", "recovered")] == [
            "crashed",
            "recovered",
        ], where
        expected = {f"s{i}": 1 for i in range(N)}
        if at == "after":  # the effect ran, its completion was not recorded: it runs again
            expected[step] = 2
        assert result.effect_counts == expected, where
        flagged = (step,) if at == "after" and step in ("s1", "s4", "s7") else ()
        assert result.repeated_effects == flagged, where
        assert result.steps[step].attempts == 2, where
        assert check_all(wf, faults, result.trace) == [], where
        assert wfsim.run(wf, seed=5, faults=faults).digest() == result.digest(), where


@pytest.mark.spec("FAULT-10", "FAULT-11", "FAULT-12", "COMP-4")
def test_a_failing_saga_crashed_at_every_point_still_compensates_lifo_exactly_once() -> None:
    wf = ten_step_saga(fail_last=True)
    plan = [Fault.error("boom", retryable=False)]
    base = wfsim.run(wf, seed=5, faults=plan)
    assert base.status == "compensated"
    lifo = [f"u{i}" for i in reversed(range(N))]
    assert base.trace.compensation_order() == lifo
    names = [f"s{i}" for i in range(N)] + [f"u{i}" for i in range(N)]
    for step, at in every_crash_point(wf, names):
        faults = [*plan, Fault.crash(step, at=at, restart_after=1)]
        result = wfsim.run(wf, seed=5, faults=faults)
        where = f"crash {at} {step}"
        assert result.status == "compensated", where
        assert dict(result.context) == dict(base.context), where
        assert result.trace.compensation_order() == lifo, where
        completed = [e.step for e in result.trace.of_kind("compensation_completed")]
        assert completed == lifo, where  # each exactly once
        assert result.effect_counts[step] == (2 if at == "after" else 1), where
        assert check_all(wf, faults, result.trace) == [], where


@pytest.mark.spec("FAULT-10", "FAULT-4")
def test_a_crash_is_traced_as_fault_injected_then_crashed_then_recovered() -> None:
    wf = wfsim.Workflow("chain")
    a = wf.add_step("a", duration=1, output={"a": 1})
    wf.add_step("b", duration=1, after=[a], output={"b": 2})
    result = wfsim.run(wf, faults=[Fault.crash("b", at="after", restart_after="3s")])
    lines = [
        (e.t_ns / S, e.kind, e.step, e.attempt, dict(e.fields))
        for e in result.trace
        if e.step == "b" or e.kind in ("crashed", "recovered")
    ]
    assert lines == [
        (1.0, "step_ready", "b", None, {}),
        (1.0, "attempt_started", "b", 1, {}),
        (
            2.0,
            "fault_injected",
            "b",
            1,
            {"fault": {"kind": "crash", "at": "after", "restart_after": 3.0}},
        ),
        (2.0, "crashed", "b", 1, {"at": "after", "lost": [["b", 1]], "restart_after": 3.0}),
        (5.0, "recovered", None, None, {"resumed": ["b"]}),
        (5.0, "attempt_started", "b", 2, {}),
        (6.0, "attempt_succeeded", "b", 2, {"output": {"b": 2}}),
        (6.0, "step_completed", "b", None, {}),
    ]
    assert result.makespan == 6.0
    assert result.trace.attempts("a")[0].outcome == "succeeded"


@pytest.mark.spec("FAULT-11")
def test_every_attempt_in_flight_is_lost_and_re_attempted() -> None:
    wf = wfsim.Workflow("fork")
    wf.add_step("short", duration=1)
    wf.add_step("long", duration=5, output={"long": True})
    wf.add_step("slow_code", fn=_sleeper(4))
    result = wfsim.run(wf, faults=[Fault.crash("short", at="after", restart_after=1)])
    crashed = result.trace.of_kind("crashed")[0]
    assert crashed["lost"] == [["short", 1], ["long", 1], ["slow_code", 1]]
    assert result.trace.of_kind("recovered")[0]["resumed"] == ["short", "long", "slow_code"]
    # long restarts at t=2 and takes its full 5 s again; its first attempt did nothing.
    assert [(a.number, a.started, a.ended, a.outcome) for a in result.trace.attempts("long")] == [
        (1, 0.0, None, None),
        (2, 2.0, 7.0, "succeeded"),
    ]
    assert result.effect_counts == {"short": 2, "long": 1, "slow_code": 1}
    assert result.context == {"long": True, "slept": 1}
    assert check_all(wf, [Fault.crash("short", at="after", restart_after=1)], result.trace) == []


def _sleeper(seconds: float) -> Any:
    async def slow_code(ctx: Any) -> dict[str, int]:
        await ctx.sleep(seconds)
        ctx.set("slept", ctx.get("slept", 0) + 1)
        return {}

    return slow_code


@pytest.mark.spec("FAULT-11")
def test_a_lost_code_attempt_stops_running_and_its_writes_are_undone() -> None:
    wf = wfsim.Workflow("writes")

    async def writer(ctx: Any) -> None:
        ctx.set("started", ctx.get("started", 0) + 1)
        await ctx.sleep(2)
        ctx.set("finished", ctx.get("finished", 0) + 1)

    wf.add_step("writer", fn=writer)
    wf.add_step("trigger", duration=1, after=[wf.add_step("pre", duration=1)])
    faults = [Fault.crash("trigger", at="before", restart_after=1)]
    result = wfsim.run(wf, faults=faults)
    # The first writer attempt wrote 'started' at t=0; 'pre' completed at t=1, so the
    # context as of that record (with the write) survives the crash at t=1. The lost
    # attempt's code never resumes ('finished' once); the second runs whole from t=2 to 4.
    assert result.context == {"started": 2, "finished": 1}
    assert result.steps["writer"].attempts == 2
    assert result.makespan == 4.0


@pytest.mark.spec("FAULT-11")
def test_a_retry_due_while_the_engine_is_down_runs_at_recovery() -> None:
    wf = wfsim.Workflow("retry")
    wf.add_step("flaky", duration=1, retry=RetryPolicy(max_attempts=3, initial_interval=1))
    wf.add_step("other", duration=2)
    faults = [
        Fault.error("flaky", attempts=[1], at="end"),
        Fault.crash("other", at="after", restart_after=5),
    ]
    result = wfsim.run(wf, faults=faults)
    # flaky#1 fails at 1s, its retry is due at 2s; the engine is down from 2s to 7s.
    starts = [(a.number, a.started) for a in result.trace.attempts("flaky")]
    assert starts == [(1, 0.0), (2, 7.0)]
    assert result.status == "completed"
    assert check_all(wf, faults, result.trace) == []


@pytest.mark.spec("FAULT-11", "RETRY-1")
def test_a_lost_attempt_counts_as_an_attempt_but_is_always_re_attempted() -> None:
    wf = wfsim.Workflow("budget")
    wf.add_step("once", duration=1)  # no retry policy: one attempt, but a lost one is redone
    wf.add_step("twice", duration=1, retry=RetryPolicy(max_attempts=2, initial_interval=1))
    faults = [
        Fault.crash("once", at="before"),
        Fault.crash("twice", at="before"),
        Fault.error("twice", attempts=[2]),
    ]
    result = wfsim.run(wf, faults=faults)
    assert result.steps["once"].attempts == 2 and result.steps["once"].status == "completed"
    # twice#1 was lost; twice#2 fails and max_attempts=2 allows no third attempt.
    assert result.steps["twice"].attempts == 2 and result.steps["twice"].status == "failed"
    assert check_all(wf, faults, result.trace) == []


@pytest.mark.spec("FAULT-12")
def test_completed_steps_keep_their_results_and_never_run_again() -> None:
    wf = wfsim.Workflow("keep")
    calls: list[str] = []

    async def record(ctx: Any) -> dict[str, str]:
        calls.append(ctx.step)
        return {ctx.step: "done"}

    a = wf.add_step("a", fn=record)
    b = wf.add_step("b", fn=record, after=[a])
    wf.add_step("c", fn=record, after=[b])
    result = wfsim.run(wf, faults=[Fault.crash("c", at="before", restart_after=1)])
    assert calls == ["a", "b", "c"]
    assert result.steps["a"].result == {"a": "done"} and result.steps["a"].attempts == 1
    assert result.context == {"a": "done", "b": "done", "c": "done"}


@pytest.mark.spec("FAULT-10", "FAULT-6", "DET-1")
def test_a_crash_with_a_probability_hits_seeded_random_attempts() -> None:
    wf = wfsim.Workflow("many")
    for i in range(20):
        wf.add_step(f"w{i}", duration=1, after=[f"w{i - 1}"] if i else None)
    faults = [Fault.crash("w*", probability=0.2, at="after", restart_after=1)]
    first = wfsim.run(wf, seed=3, faults=faults)
    assert wfsim.run(wf, seed=3, faults=faults).digest() == first.digest()
    crashes = len(first.trace.of_kind("crashed"))
    assert 1 <= crashes < 20
    assert first.status == "completed"
    assert sum(first.effect_counts.values()) == 20 + crashes
    assert check_all(wf, faults, first.trace) == []
    never = wfsim.run(wf, seed=3, faults=[Fault.crash("w*", probability=0.0)])
    assert not never.trace.of_kind("crashed")


@pytest.mark.spec("FAULT-10", "TIME-5")
def test_a_run_whose_time_limit_falls_while_the_engine_is_down_times_out() -> None:
    wf = wfsim.Workflow("down")
    wf.add_step("a", duration=1)
    faults = [Fault.crash("a", restart_after="1h")]
    result = wfsim.run(wf, faults=faults, time_limit="10m")
    assert result.status == "timed_out"
    assert result.message == (
        "run timed out: the time limit of 10m was reached (nothing finished in time); "
        "still waiting: 'a' (attempt 2 due at t=1h)"
    )
    assert check_all(wf, faults, result.trace) == []


@pytest.mark.spec("FAULT-11", "FAULT-14")
def test_parallel_group_tasks_are_lost_and_re_attempted() -> None:
    wf = wfsim.Workflow("group")
    wf.add_parallel(
        "enrich",
        [
            wfsim.task("price", duration=1, output={"p": 3}),
            wfsim.task("stock", duration=2, output={"s": 7}),
        ],
    )
    faults = [Fault.crash("enrich/price", at="after", restart_after=1)]
    result = wfsim.run(wf, faults=faults)
    assert result.status == "completed" and result.context == {"p": 3, "s": 7}
    assert result.trace.of_kind("crashed")[0]["lost"] == [
        ["enrich/price", 1],
        ["enrich/stock", 1],
    ]
    assert result.effect_counts == {"enrich/price": 2, "enrich/stock": 1}
    assert check_all(wf, faults, result.trace) == []


@pytest.mark.spec("FAULT-13")
def test_crash_faults_on_event_workflows_are_rejected() -> None:
    wf = wfsim.EventWorkflow("events")

    @wf.step(accepts=wfsim.StartEvent)
    async def start(ctx: wfsim.StepContext, ev: wfsim.Event) -> wfsim.StopEvent:
        return wfsim.StopEvent(result=1)

    with pytest.raises(wfsim.WfsimError) as info:
        wfsim.run(wf, faults=[Fault.crash("start")])
    assert str(info.value) == (
        "crash faults need a DAG workflow or a @wfsim.workflow body; event workflow "
        "'events' cannot restart from its history yet (specs/faults.md FAULT-13)"
    )


@pytest.mark.spec("FAULT-10")
def test_crash_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="crash 'at' must be 'before' or 'after'"):
        Fault.crash("a", at="start")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fault.crash("a", restart_after=-1)
    assert Fault.crash("a").attempts == (1,)
    assert Fault.crash("a", probability=0.5).attempts is None
    assert Fault.crash("a", attempts=[2, 3]).attempts == (2, 3)


@pytest.mark.spec("FAULT-14", "FAULT-2")
def test_effects_are_counted_and_non_idempotent_repeats_flagged() -> None:
    wf = wfsim.Workflow("charge")
    wf.add_step(
        "charge",
        duration=1,
        retry=RetryPolicy(max_attempts=2, initial_interval=0),
        idempotent=False,
    )
    wf.add_step("log", duration=1, retry=RetryPolicy(max_attempts=2, initial_interval=0))
    clean = wfsim.run(wf)
    assert clean.effect_counts == {"charge": 1, "log": 1} and clean.repeated_effects == ()
    start = wfsim.run(wf, faults=[Fault.error("*", attempts=[1])])
    assert start.effect_counts == {"charge": 1, "log": 1}  # a start error does no work
    end = wfsim.run(wf, faults=[Fault.error("*", attempts=[1], at="end")])
    assert end.effect_counts == {"charge": 2, "log": 2}
    assert end.repeated_effects == ("charge",)  # log is idempotent (the default)
    assert wf["charge"].idempotent is False and wf["log"].idempotent is True


def codeless_saga() -> wfsim.Workflow:
    """A fan-out saga of code-less steps, importable for the determinism self-check."""
    wf = wfsim.Workflow("codeless saga", max_concurrency=3)
    first = wf.add_step("open", duration=1, compensate="close")
    for i in range(6):
        wf.add_step(
            f"w{i}",
            duration=1 + i % 3,
            after=[first],
            output={f"w{i}": i},
            retry=RetryPolicy(max_attempts=3, initial_interval=1, jitter="full"),
            compensate=wfsim.compensation(f"undo_w{i}", duration=0.5),
        )
    wf.add_step("fail", after=[f"w{i}" for i in range(6)], duration=1)
    return wf


@pytest.mark.spec("FAULT-10", "DET-1")
def test_crash_runs_are_the_same_in_a_fresh_process_with_another_hash_seed() -> None:
    faults = [
        Fault.crash("*", probability=0.3, at="after", restart_after="750ms"),
        Fault.error("w*", probability=0.3),
        Fault.error("fail", retryable=False),
    ]
    result = wfsim.run(codeless_saga(), seed=4, faults=faults)
    assert result.status == "compensated" and len(result.trace.of_kind("crashed")) >= 2
    report = wfsim.check_determinism(
        "tests.core.test_crash:codeless_saga", seed=4, faults=faults, hash_seed="4242"
    )
    assert report.ok, report
    assert report.digest == result.digest()


@pytest.mark.spec("FAULT-11", "PAR-5")
def test_what_fell_due_while_down_happens_first_at_the_recovery() -> None:
    wf = wfsim.Workflow("due")
    wf.add_parallel(
        "grp",
        [wfsim.task("a", duration=2), wfsim.task("b", duration=2)],
        timeout="1500ms",
    )
    wf.add_step("other", duration=0.5)
    faults = [Fault.crash("other", at="after", restart_after=2)]
    result = wfsim.run(wf, faults=faults)
    # Down from 0.5s to 2.5s: the group's timeout (due at 1.5s) fires at the recovery,
    # before the lost attempts start again, so its lost tasks are cancelled, not rerun.
    after = [
        (e.t_ns / S, e.kind, e.step)
        for e in result.trace
        if e.seq > result.trace.of_kind("recovered")[0].seq and e.kind != "run_finished"
    ]
    assert after == [
        (2.5, "step_cancelled", "grp/a"),
        (2.5, "step_cancelled", "grp/b"),
        (2.5, "group_failed", "grp"),
        (2.5, "step_failed", "grp"),
        (2.5, "attempt_started", "other"),
        (3.0, "attempt_succeeded", "other"),
        (3.0, "step_completed", "other"),
    ]
    assert check_all(wf, faults, result.trace) == []
