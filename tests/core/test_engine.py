"""The engine's behaviour on small, readable workflows."""

from __future__ import annotations

import pickle

import pytest

import wfsim
from wfsim import Fault, RetryPolicy

S = 1_000_000_000


def kinds(result: wfsim.RunResult, step: str) -> list[str]:
    return [e.kind for e in result.trace.for_step(step)]


@pytest.mark.spec("ORD-7")
def test_codeless_outputs_and_code_returns_merge_into_the_context() -> None:
    wf = wfsim.Workflow("ctx")
    prepare = wf.add_step("prepare", duration=1.5, output={"rows": 100})

    @wf.step(after=[prepare])
    async def analyze(ctx: wfsim.StepContext) -> dict[str, int]:
        ctx.set("seen", ctx.get("rows") + ctx.input["bonus"])
        ctx.delete("rows")
        assert "rows" not in ctx
        return {"analyzed": 1}

    result = wfsim.run(wf, input={"bonus": 1})
    assert result.context == {"bonus": 1, "seen": 101, "analyzed": 1}
    assert result.steps["analyze"].result == {"analyzed": 1}
    assert result.trace.for_step("prepare")[2].fields == {"output": {"rows": 100}}


@pytest.mark.spec("ORD-7")
def test_non_mapping_results_are_kept_but_not_merged() -> None:
    wf = wfsim.Workflow("ret")

    @wf.step
    async def compute(ctx: wfsim.StepContext) -> list[int]:
        return [1, 2]

    @wf.step
    async def opaque(ctx: wfsim.StepContext) -> object:
        return object()

    result = wfsim.run(wf)
    assert result.context == {}
    assert result.steps["compute"].result == [1, 2]
    succeeded = {e.step: e.fields for e in result.trace.of_kind("attempt_succeeded")}
    assert succeeded == {"compute": {"output": [1, 2]}, "opaque": {}}


def test_missing_context_key_fails_the_attempt_with_a_suggestion() -> None:
    wf = wfsim.Workflow("typo")
    wf.add_step("prepare", output={"rows": 1})

    @wf.step(after=["prepare"])
    async def read(ctx: wfsim.StepContext) -> None:
        ctx.get("rowz")

    result = wfsim.run(wf)
    failed = result.trace.of_kind("attempt_failed")[0]
    assert failed["error"] == "ContextKeyError"
    assert failed["message"] == (
        "step 'read' read context key 'rowz', which is not set: did you mean 'rows'? "
        "(set keys: rows)"
    )
    assert result.status == "failed"


def test_context_get_default_and_delete_errors() -> None:
    wf = wfsim.Workflow("ctx")
    seen = []

    @wf.step
    async def s(ctx: wfsim.StepContext) -> None:
        seen.append(ctx.get("nope", 5))
        seen.append((ctx.step, ctx.workflow, ctx.attempt))
        ctx.delete("nope")

    result = wfsim.run(wf)
    assert seen == [5, ("s", "ctx", 1)]
    assert "deleted context key 'nope', which is not set" in result.trace.of_kind(
        "attempt_failed"
    )[0]["message"]


@pytest.mark.spec("ORD-5", "ORD-6")
def test_failure_skips_dependents_but_not_independent_branches() -> None:
    wf = wfsim.Workflow("branches")
    wf.add_step("a", duration=1)
    wf.add_step("b", after=["a"], duration=1)
    wf.add_step("c", after=["b"], duration=1)
    wf.add_step("d", after=["a", "c"], duration=1)
    wf.add_step("other", duration=5)
    result = wfsim.run(wf, faults=[Fault.error("b", error=ValueError)])
    assert result.status == "failed"
    assert result.message == "step(s) failed: b"
    assert {n: s.status for n, s in result.steps.items()} == {
        "a": "completed", "b": "failed", "c": "skipped", "d": "skipped", "other": "completed",
    }
    skipped = {e.step: e["reason"] for e in result.trace.of_kind("step_skipped")}
    assert skipped == {"c": "upstream 'b' failed", "d": "upstream 'c' was skipped"}
    assert result.makespan == 5
    assert result.trace.step_status("b") == "failed"
    failed = result.trace.of_kind("step_failed")[0]
    assert failed.fields == {
        "reason": "ValueError and the step has no retry policy", "error": "ValueError",
    }


@pytest.mark.spec("RETRY-1", "FAULT-1", "FAULT-4")
def test_start_fault_takes_no_time_and_runs_no_code() -> None:
    calls: list[int] = []
    wf = wfsim.Workflow("f")

    @wf.step(retry=RetryPolicy(max_attempts=3, initial_interval=1))
    async def charge(ctx: wfsim.StepContext) -> dict[str, bool]:
        calls.append(ctx.attempt)
        await ctx.sleep(2)
        return {"charged": True}

    result = wfsim.run(wf, faults=[Fault.error("charge", attempts=[1, 2], error=ConnectionError)])
    assert calls == [3]
    assert kinds(result, "charge") == [
        "step_ready",
        "attempt_started", "fault_injected", "attempt_failed", "retry_scheduled",
        "attempt_started", "fault_injected", "attempt_failed", "retry_scheduled",
        "attempt_started", "attempt_succeeded", "step_completed",
    ]
    first = result.trace.attempts("charge")[0]
    assert first.started_ns == first.ended_ns == 0
    assert result.makespan == 1 + 2 + 2
    injected = result.trace.of_kind("fault_injected")[0]
    assert injected["fault"] == {
        "kind": "error", "error": "ConnectionError", "retryable": True, "at": "start",
    }


@pytest.mark.spec("FAULT-2")
def test_end_fault_lets_the_work_and_effect_happen_first() -> None:
    calls: list[int] = []
    wf = wfsim.Workflow("f")
    wf.add_step("reserve", duration=2, output={"reserved": True})

    @wf.step(retry=RetryPolicy(max_attempts=2, initial_interval=1))
    async def charge(ctx: wfsim.StepContext) -> None:
        calls.append(ctx.attempt)
        ctx.set("charges", ctx.get("charges", 0) + 1)
        await ctx.sleep(3)

    faults = [
        Fault.error("reserve", at="end", error="ReservationLost"),
        Fault.error("charge", attempts=1, at="end", error=TimeoutError),
    ]
    result = wfsim.run(wf, faults=faults)
    assert calls == [1, 2]
    assert result.context["charges"] == 2  # not idempotent: the first effect happened too
    assert result.context["reserved"] is True
    reserve = result.trace.attempts("reserve")[0]
    assert (reserve.started, reserve.ended, reserve.outcome, reserve.error) == (
        0.0, 2.0, "failed", "ReservationLost",
    )
    charges = result.trace.attempts("charge")
    assert [(a.started, a.ended, a.outcome) for a in charges] == [
        (0.0, 3.0, "failed"), (4.0, 7.0, "succeeded"),
    ]
    assert kinds(result, "reserve")[1:4] == ["attempt_started", "fault_injected", "attempt_failed"]
    assert result.trace.for_step("reserve")[2].t == 2.0


@pytest.mark.spec("FAULT-3", "FAULT-4")
def test_latency_delays_the_start_of_the_work() -> None:
    starts: list[float] = []
    wf = wfsim.Workflow("lat")
    wf.add_step("fetch", duration=1)

    @wf.step
    async def parse(ctx: wfsim.StepContext) -> None:
        starts.append(ctx.now())
        await ctx.sleep(1)

    faults = [Fault.latency("fetch", extra=0.5), Fault.latency("parse", extra="250ms")]
    result = wfsim.run(wf, faults=faults)
    assert starts == [0.25]
    assert result.makespan == 1.5
    assert [e["fault"] for e in result.trace.of_kind("fault_injected")] == [
        {"kind": "latency", "extra": 0.5}, {"kind": "latency", "extra": 0.25},
    ]


@pytest.mark.spec("FAULT-4")
def test_fault_on_unknown_step_is_rejected_with_a_suggestion() -> None:
    wf = wfsim.Workflow("f")
    wf.add_step("charge_payment")
    with pytest.raises(wfsim.UnknownStepError) as info:
        wfsim.run(wf, faults=[Fault.error("charge_paymnet")])
    assert str(info.value) == (
        "fault targets unknown step 'charge_paymnet': did you mean 'charge_payment'?"
    )
    with pytest.raises(wfsim.WfsimError, match="faults must be wfsim.Fault objects"):
        wfsim.run(wf, faults=[{"step": "charge_payment"}])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": [0]}, "fault attempts must be attempt numbers >= 1, not 0"),
        ({"at": "middle"}, "fault 'at' must be 'start' or 'end', not 'middle'"),
    ],
)
def test_bad_fault_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.error("s", **kwargs)


@pytest.mark.spec("RETRY-4")
def test_non_retryable_errors_stop_at_once() -> None:
    wf = wfsim.Workflow("nr")
    policy = RetryPolicy(max_attempts=5, non_retryable=["PaymentDeclined", KeyError])
    wf.add_step("by_fault", retry=policy)
    wf.add_step("by_policy", retry=policy)

    class Fatal(Exception):
        non_retryable = True

    @wf.step(retry=policy)
    async def by_attribute(ctx: wfsim.StepContext) -> None:
        raise Fatal("no")

    @wf.step(retry=policy)
    async def by_class(ctx: wfsim.StepContext) -> None:
        raise KeyError("missing")

    faults = [
        Fault.error("by_fault", error="Glitch", retryable=False),
        Fault.error("by_policy", error="PaymentDeclined"),
    ]
    result = wfsim.run(wf, faults=faults)
    for step in ("by_fault", "by_policy", "by_attribute", "by_class"):
        assert result.steps[step].attempts == 1, step
        assert result.steps[step].status == "failed"
        failed = result.trace.of_kind("attempt_failed")
        assert [e["retryable"] for e in failed if e.step == step] == [False]
    reasons = {e.step: e["reason"] for e in result.trace.of_kind("step_failed")}
    assert reasons["by_policy"] == "PaymentDeclined is not retryable"


@pytest.mark.spec("RETRY-1")
def test_attempts_exhausted_reason_names_the_count() -> None:
    wf = wfsim.Workflow("ex")
    wf.add_step("s", retry=RetryPolicy(max_attempts=3, initial_interval=1))
    result = wfsim.run(wf, faults=[Fault.error("s", error="Boom")])
    assert result.steps["s"].attempts == 3
    assert result.steps["s"].error == "Boom"
    assert result.trace.of_kind("step_failed")[0]["reason"] == "Boom on attempt 3 of 3"
    assert result.trace.retry_delays("s") == [1.0, 2.0]


@pytest.mark.spec("RETRY-5")
def test_timeout_cancels_the_attempt_code_and_is_retried() -> None:
    progress: list[tuple[int, float]] = []
    cleaned: list[int] = []
    wf = wfsim.Workflow("to")

    @wf.step(timeout=5, retry=RetryPolicy(max_attempts=2, initial_interval=1))
    async def slow(ctx: wfsim.StepContext) -> None:
        try:
            await ctx.sleep(10 if ctx.attempt == 1 else 2)
            progress.append((ctx.attempt, ctx.now()))
        except BaseException:
            cleaned.append(ctx.attempt)
            raise

    result = wfsim.run(wf)
    assert result.status == "completed"
    assert progress == [(2, 8.0)]
    assert cleaned == [1]
    timed_out = result.trace.of_kind("attempt_timed_out")
    assert [(e.attempt, e.t, e["timeout"]) for e in timed_out] == [(1, 5.0, 5.0)]
    assert result.makespan == 8


@pytest.mark.spec("RETRY-5")
def test_timeout_of_a_codeless_step_and_exhaustion() -> None:
    wf = wfsim.Workflow("to")
    wf.add_step("slow", duration=10, timeout=3, output={"never": True})
    result = wfsim.run(wf)
    assert result.status == "failed"
    assert "never" not in result.context
    assert kinds(result, "slow") == [
        "step_ready", "attempt_started", "attempt_timed_out", "step_failed",
    ]
    assert result.makespan == 3


@pytest.mark.spec("RETRY-5")
def test_step_code_that_swallows_cancellation_cannot_continue() -> None:
    wf = wfsim.Workflow("stubborn")
    after: list[str] = []

    @wf.step(timeout=1)
    async def stubborn(ctx: wfsim.StepContext) -> str:
        try:
            await ctx.sleep(5)
        except BaseException:
            pass
        try:
            await ctx.sleep(1)
        except BaseException:
            after.append("refused")
        return "ignored"

    result = wfsim.run(wf)
    assert after == ["refused"]
    assert result.steps["stubborn"].status == "failed"
    assert result.trace.of_kind("attempt_succeeded") == []


@pytest.mark.spec("ORD-3")
def test_max_concurrency_queues_attempts_and_retry_delays_hold_no_slot() -> None:
    wf = wfsim.Workflow("pool", max_concurrency=2)
    wf.add_step("flaky", duration=1, retry=RetryPolicy(initial_interval=10))
    for i in range(4):
        wf.add_step(f"w{i}", duration=2)
    overlapped = 0
    for seed in range(5):
        result = wfsim.run(wf, seed=seed, faults=[Fault.error("flaky", attempts=1)])
        assert result.trace.max_concurrency() == 2
        assert result.status == "completed"
        assert result.trace.retry_delays("flaky") == [10.0]
        failed_at = result.trace.attempts("flaky")[0].ended_ns
        # While flaky waits out its delay, both slots keep working on the others.
        busy = [
            a for i in range(4) for a in result.trace.attempts(f"w{i}")
            if failed_at <= a.started_ns < failed_at + 10 * S
        ]
        overlapped += bool(busy)
        assert result.makespan_ns == failed_at + 11 * S
    assert overlapped  # with seed 0: w1 starts at once in the freed slot, w0 and w2 at t=2


def test_ctx_random_is_seeded_by_run_step_and_attempt() -> None:
    draws: list[float] = []
    wf = wfsim.Workflow("rng")

    @wf.step
    async def roll(ctx: wfsim.StepContext) -> None:
        draws.append(ctx.random.random())

    wfsim.run(wf, seed=1)
    wfsim.run(wf, seed=1)
    wfsim.run(wf, seed=2)
    assert draws[0] == draws[1] != draws[2]


def test_ctx_sleep_from_another_task_is_refused() -> None:
    import trio

    wf = wfsim.Workflow("tasks")

    @wf.step
    async def spawner(ctx: wfsim.StepContext) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ctx.sleep, 1)

    result = wfsim.run(wf)
    assert result.status == "failed"
    message = result.trace.of_kind("attempt_failed")[0]["message"]
    assert "called from another trio task" in message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": "seven"}, "seed must be an integer, not 'seven'"),
        ({"input": [1]}, r"input must be a mapping \(it seeds the DAG's context\), not list"),
    ],
)
def test_bad_run_arguments(kwargs: dict, message: str) -> None:
    wf = wfsim.Workflow("w")
    wf.add_step("a")
    with pytest.raises(wfsim.WfsimError, match=message):
        wfsim.run(wf, **kwargs)


def test_run_takes_a_workflow() -> None:
    with pytest.raises(
        wfsim.WfsimError, match="takes a wfsim.Workflow or a @wfsim.workflow function, not str"
    ):
        wfsim.run("analysis")  # type: ignore[arg-type]


def test_injected_error_by_name_and_exotic_classes() -> None:
    class Picky(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(a, b)

    wf = wfsim.Workflow("names")
    wf.add_step("a")
    exc = Fault.error("a", error=Picky).make_exception()
    assert isinstance(exc, wfsim.InjectedError) and exc.error_name == "Picky"
    assert isinstance(Fault.error("a", error=ValueError).make_exception(), ValueError)


def test_run_result_steps_read_like_the_dict_of_step_results_they_stand_for() -> None:
    # RunResult.steps makes each StepResult when first read; it reads as the dict did.
    wf = wfsim.Workflow("w")
    wf.add_step("a", duration=1, output={"x": 1})
    wf.add_step("b", after=["a"])
    result = wfsim.run(wf)
    expected = {
        "a": wfsim.StepResult("a", "completed", 1, {"x": 1}),
        "b": wfsim.StepResult("b", "completed", 1),
    }
    assert result.steps == expected and expected == result.steps
    assert list(result.steps) == ["a", "b"] and len(result.steps) == 2
    assert result.steps["a"] is result.steps["a"]
    assert repr(result.steps) == repr(expected)
    assert pickle.loads(pickle.dumps(result)) == result == wfsim.run(wf)
    with pytest.raises(KeyError):
        result.steps["c"]
