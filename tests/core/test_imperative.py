"""Imperative workflows: an async body that awaits steps, gathers, sleeps and branches."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import Fault, RetryPolicy, compensation

S = 1_000_000_000


async def work(ctx: wfsim.StepContext, value: Any, seconds: float = 1) -> Any:
    await ctx.sleep(seconds)
    return value


def validate(ctx: wfsim.StepContext, order: dict[str, Any]) -> bool:  # a plain function works
    return bool(order["items"])


class PaymentDeclined(Exception):
    pass


async def charge(ctx: wfsim.StepContext, amount: int) -> int:
    await ctx.sleep(2)
    if amount > 1000:
        raise PaymentDeclined(f"{amount} is over the limit")
    return amount


@wfsim.workflow
async def process_order(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    if not await ctx.step(validate, order):
        return {"status": "rejected"}
    charged = await ctx.step(charge, order["amount"], retry=RetryPolicy(max_attempts=3))
    packed = await ctx.gather(*(ctx.step(work, f"box-{i}", i, name="pack") for i in order["items"]))
    await ctx.sleep("1h")
    return {
        "status": "shipped",
        "charged": charged,
        "packed": packed,
        "at": dt.datetime.now().isoformat(),
    }


ORDER = {"amount": 30, "items": [1, 2, 3]}


@pytest.mark.spec("IMP-1", "IMP-5", "TIME-4")
def test_the_body_runs_steps_and_its_return_value_is_the_result() -> None:
    result = wfsim.run(process_order, input=ORDER, seed=2)
    assert result.status == "completed"
    assert result.result == {
        "status": "shipped",
        "charged": 30,
        "packed": ["box-1", "box-2", "box-3"],
        "at": "2026-01-01T01:00:05",
    }
    assert result.trace[-1]["result"] == result.result
    assert result.makespan == 2 + 3 + 3600  # charge, the slowest box, the sleep
    assert list(result.steps) == ["validate", "charge", "pack", "pack:2", "pack:3"]


@pytest.mark.spec("IMP-5")
def test_branching_is_plain_python() -> None:
    result = wfsim.run(process_order, input={"amount": 30, "items": []})
    assert result.result == {"status": "rejected"}
    assert list(result.steps) == ["validate"]


@pytest.mark.spec("IMP-2")
def test_a_failed_step_raises_its_own_error_into_the_body() -> None:
    seen: list[str] = []

    @wfsim.workflow
    async def careful(ctx: wfsim.WorkflowContext, inp: Any) -> str:
        try:
            await ctx.step(charge, 5000)
        except PaymentDeclined as exc:
            seen.append(str(exc))
            return "declined"
        return "charged"

    result = wfsim.run(careful)
    assert (result.status, result.result, seen) == (
        "completed",
        "declined",
        ["5000 is over the limit"],
    )
    assert result.steps["charge"].status == "failed"


@pytest.mark.spec("IMP-1", "IMP-2")
def test_an_uncaught_step_error_fails_the_run() -> None:
    result = wfsim.run(process_order, input={"amount": 5000, "items": [1]})
    assert result.status == "failed"
    assert result.message == (
        "workflow 'process_order' raised PaymentDeclined: 5000 is over the limit"
    )
    assert result.steps["charge"].attempts == 3


@pytest.mark.spec("IMP-2", "IMP-3", "FAULT-5")
def test_faults_target_calls_by_name_and_call_index() -> None:
    faults = [
        Fault.error("charge", attempts=[1], error=ConnectionError),
        Fault.error("pack:3", error="Crushed"),
    ]
    result = wfsim.run(process_order, input=ORDER, faults=faults)
    assert result.trace.retry_delays("charge") == [1.0]
    assert result.steps["pack:3"].status == "failed"
    assert result.status == "failed"
    assert result.message == "workflow 'process_order' raised Crushed: injected Crushed"
    everything = wfsim.run(process_order, input=ORDER, faults=[Fault.latency("pack*", extra=10)])
    assert everything.makespan == 2 + 13 + 3600


@pytest.mark.spec("IMP-2", "RETRY-5")
def test_a_timed_out_step_raises_step_timeout_error() -> None:
    @wfsim.workflow
    async def impatient(ctx: wfsim.WorkflowContext, inp: Any) -> str:
        try:
            await ctx.step(work, "late", 60, timeout=5)
        except wfsim.StepTimeoutError as exc:
            return str(exc)
        return "on time"

    result = wfsim.run(impatient)
    assert result.result == "step 'work' timed out on attempt 1"
    assert isinstance(wfsim.StepTimeoutError("x"), TimeoutError)


@pytest.mark.spec("IMP-4")
def test_gather_runs_branches_concurrently_and_keeps_call_order() -> None:
    @wfsim.workflow
    async def fan(ctx: wfsim.WorkflowContext, inp: Any) -> list[Any]:
        async def branch(tag: str, delays: list[int]) -> list[str]:
            out = []
            for d in delays:
                out.append(await ctx.step(work, f"{tag}{d}", d, name=tag))
            await ctx.sleep(1)
            return out

        return await ctx.gather(branch("a", [1, 2]), branch("b", [5]), ctx.step(work, "solo", 0.5))

    result = wfsim.run(fan, seed=1)
    assert result.result == [["a1", "a2"], ["b5"], "solo"]
    assert result.makespan == 6
    starts = {a.step: a.started for n in result.steps for a in result.trace.attempts(n)}
    assert starts == {"a": 0.0, "a:2": 1.0, "b": 0.0, "work": 0.0}


@pytest.mark.spec("IMP-4")
def test_gather_waits_for_all_then_raises_the_first_failure_in_call_order() -> None:
    @wfsim.workflow
    async def partial(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        await ctx.gather(ctx.step(work, 1, 5), ctx.step(charge, 5000), ctx.step(work, 2, 1))

    result = wfsim.run(partial)
    assert result.status == "failed"
    assert "raised PaymentDeclined" in result.message
    assert result.makespan == 5  # the slow first call still ran to its end
    assert {s.status for n, s in result.steps.items() if n.startswith("work")} == {"completed"}


@pytest.mark.spec("IMP-4")
def test_gather_rejects_other_values() -> None:
    @wfsim.workflow
    async def wrong(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        await ctx.gather(42)  # type: ignore[arg-type]

    result = wfsim.run(wrong)
    assert result.status == "failed"
    assert "ctx.gather() takes ctx.step(...) calls or coroutines, not int" in result.message


@pytest.mark.spec("IMP-6", "COMP-1")
def test_steps_called_with_compensate_are_undone_when_the_body_fails() -> None:
    undone: list[str] = []

    async def release(ctx: wfsim.StepContext, *args: Any) -> None:
        undone.append(ctx.step)

    @wfsim.workflow
    async def purchase(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        await ctx.step(work, "reserved", 1, name="reserve", compensate=release)
        await ctx.step(
            work, "charged", 1, name="charge", compensate=compensation("refund", duration=0.5)
        )
        await ctx.step(work, "shipped", 1, name="ship")
        raise RuntimeError("shipping unavailable")

    result = wfsim.run(purchase)
    assert result.status == "compensated"
    assert result.trace.compensation_order() == ["refund", "release"]
    assert undone == ["release"]
    assert result.message == (
        "workflow 'purchase' raised RuntimeError: shipping unavailable; "
        "compensated: refund, release"
    )


@pytest.mark.spec("COMP-8")
def test_a_bodys_compensation_is_called_with_the_steps_arguments_and_sees_its_result() -> None:
    calls: list[tuple[Any, ...]] = []

    async def charge(ctx: wfsim.StepContext, order: dict[str, Any], *, cents: int) -> str:
        return f"payment-{order['id']}-{cents}"

    async def refund(ctx: wfsim.StepContext, order: dict[str, Any], *, cents: int) -> None:
        calls.append((ctx.step, order["id"], cents, ctx.result))

    def reserve(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
        return "reserved"

    def release(ctx: wfsim.StepContext, order: dict[str, Any]) -> None:  # a plain function
        calls.append((ctx.step, order["id"], ctx.result))

    @wfsim.workflow
    async def checkout(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> None:
        await ctx.step(reserve, order, compensate=release)
        await ctx.step(charge, order, cents=250, compensate=refund)
        await ctx.step(charge, order, cents=99, name="charge_fee", compensate=refund)
        raise RuntimeError("out of stock")

    result = wfsim.run(checkout, input={"id": 7})
    assert result.status == "compensated"
    assert calls == [
        ("refund:2", 7, 99, "payment-7-99"),
        ("refund", 7, 250, "payment-7-250"),
        ("release", 7, "reserved"),
    ]


@pytest.mark.spec("COMP-8")
def test_an_explicit_compensation_takes_ctx_alone_and_step_code_has_no_result() -> None:
    seen: list[Any] = []

    async def undo(ctx: wfsim.StepContext) -> None:
        seen.append(ctx.result)

    async def peek(ctx: wfsim.StepContext) -> None:
        print(ctx.result)

    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        await ctx.step(work, "done", 1, compensate=compensation("undo", fn=undo))
        await ctx.step(peek)

    result = wfsim.run(flow)
    assert result.status == "compensated" and seen == ["done"]
    assert result.trace.of_kind("attempt_failed")[0].fields["message"] == (
        "ctx.result is the undone step's result, for compensations; 'peek' is a step"
    )


@pytest.mark.spec("IMP-7", "DET-1", "DET-4")
def test_runs_are_deterministic_and_seeds_reorder_simultaneous_steps() -> None:
    digests = {wfsim.run(process_order, input=ORDER, seed=s).digest() for s in (4, 4)}
    assert len(digests) == 1
    orders = set()
    for seed in range(10):
        trace = wfsim.run(process_order, input=ORDER, seed=seed).trace
        orders.add(tuple(trace.start_order()))
    assert len(orders) > 1


@pytest.mark.spec("IMP-7", "TIME-5")
def test_time_limit_cancels_the_body() -> None:
    @wfsim.workflow
    async def forever(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        await ctx.sleep("10d")

    result = wfsim.run(forever, time_limit="1d")
    assert result.status == "timed_out"
    assert result.message.endswith("still waiting: the body of workflow 'forever'")


@pytest.mark.spec("IMP-1")
def test_decorator_options_and_validation() -> None:
    @wfsim.workflow(name="renamed", max_concurrency=1)
    async def flow(ctx: wfsim.WorkflowContext, inp: Any) -> list[Any]:
        return await ctx.gather(*(ctx.step(work, i, 1) for i in range(3)))

    assert isinstance(flow, wfsim.ImperativeWorkflow) and flow.name == "renamed"
    result = wfsim.run(flow)
    assert result.makespan == 3 and result.trace.max_concurrency() == 1
    with pytest.raises(wfsim.WorkflowDefinitionError, match="max_concurrency must be"):
        wfsim.workflow(max_concurrency=0)(flow.fn)


@pytest.mark.spec("IMP-2")
def test_step_code_cannot_use_the_workflow_context() -> None:
    @wfsim.workflow
    async def sneaky(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        async def inner(step_ctx: wfsim.StepContext) -> None:
            await ctx.sleep(1)

        await ctx.step(inner)

    result = wfsim.run(sneaky)
    assert result.steps["inner"].status == "failed"
    assert (
        "must be awaited from the workflow body"
        in result.trace.of_kind("attempt_failed")[0]["message"]
    )


# -- DAG and imperative forms of the same workflow ----------------------------------------


@st.composite
def series_parallel(draw: st.DrawFn, depth: int = 0) -> Any:
    """A tree of ("seq", children) / ("par", children) / ("leaf", duration)."""
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return ("leaf", draw(st.sampled_from([0, 0.5, 1, 2, 3])))
    kind = draw(st.sampled_from(["seq", "par"]))
    children = draw(st.lists(series_parallel(depth + 1), min_size=1, max_size=3))
    return (kind, children)


def as_dag(tree: Any) -> tuple[wfsim.Workflow, dict[str, float]]:
    wf = wfsim.Workflow("sp")
    durations: dict[str, float] = {}

    def build(node: Any, preds: list[str]) -> list[str]:
        kind, body = node
        if kind == "leaf":
            name = f"s{len(durations)}"
            durations[name] = body
            wf.add_step(name, duration=body, after=preds)
            return [name]
        if kind == "seq":
            for child in body:
                preds = build(child, preds)
            return preds
        return [last for child in body for last in build(child, preds)]

    build(tree, [])
    return wf, durations


def as_imperative(tree: Any) -> wfsim.ImperativeWorkflow:
    async def body(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        counter = iter(range(10_000))

        def plan(node: Any) -> Any:  # name the leaves in the DAG's order, before running
            kind, content = node
            if kind == "leaf":
                return ("leaf", (f"s{next(counter)}", content))
            return (kind, [plan(c) for c in content])

        async def run(node: Any) -> None:
            kind, content = node
            if kind == "leaf":
                name, seconds = content
                await ctx.step(work, None, seconds, name=name)
            elif kind == "seq":
                for child in content:
                    await run(child)
            else:
                await ctx.gather(*(run(child) for child in content))

        await run(plan(tree))

    return wfsim.ImperativeWorkflow(body, name="sp")


@pytest.mark.spec("IMP-8", "ORD-2")
@settings(max_examples=60, deadline=None)
@given(tree=series_parallel(), seed=st.integers(0, 100))
def test_dag_and_imperative_forms_agree_on_every_step_time(tree: Any, seed: int) -> None:
    dag, durations = as_dag(tree)
    imperative = as_imperative(tree)
    a = wfsim.run(dag, seed=seed)
    b = wfsim.run(imperative, seed=seed)
    assert (a.status, b.status) == ("completed", "completed")
    assert a.makespan_ns == b.makespan_ns
    for name in durations:
        (ra,) = a.trace.attempts(name)
        (rb,) = b.trace.attempts(name)
        assert (ra.started_ns, ra.ended_ns) == (rb.started_ns, rb.ended_ns), name
    assert wfsim.run(imperative, seed=seed).digest() == b.digest()


def dag_as_body(deps: list[list[int]], durations: list[float]) -> wfsim.ImperativeWorkflow:
    """Any DAG as a workflow body: one spawned branch per step, awaiting its dependencies."""

    async def body(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        handles: dict[int, wfsim.Handle] = {}

        async def run_step(i: int) -> None:
            for d in deps[i]:
                await handles[d]
            await ctx.step(work, None, durations[i], name=f"s{i}")

        for i in range(len(deps)):
            handles[i] = ctx.spawn(run_step(i))
        for handle in handles.values():
            await handle

    return wfsim.ImperativeWorkflow(body, name="dag")


@st.composite
def random_dags(draw: st.DrawFn) -> tuple[list[list[int]], list[float]]:
    n = draw(st.integers(1, 15))
    deps = [sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)]
    durations = [draw(st.sampled_from([0, 0.5, 1, 2, 3])) for _ in range(n)]
    return deps, durations


@pytest.mark.spec("IMP-8", "IMP-10", "ORD-2")
@settings(max_examples=80, deadline=None)
@given(case=random_dags(), seed=st.integers(0, 50))
def test_any_random_dag_rewritten_as_a_body_agrees_with_the_dag(
    case: tuple[list[list[int]], list[float]], seed: int
) -> None:
    deps, durations = case
    dag = wfsim.Workflow("dag")
    for i, (after, d) in enumerate(zip(deps, durations, strict=True)):
        dag.add_step(f"s{i}", duration=d, after=[f"s{j}" for j in after])
    a = wfsim.run(dag, seed=seed)
    b = wfsim.run(dag_as_body(deps, durations), seed=seed)
    assert (a.status, b.status) == ("completed", "completed")
    assert a.makespan_ns == b.makespan_ns
    for i in range(len(deps)):
        (ra,) = a.trace.attempts(f"s{i}")
        (rb,) = b.trace.attempts(f"s{i}")
        assert (ra.started_ns, ra.ended_ns) == (rb.started_ns, rb.ended_ns), i
    # the same step order where it is decided by time (ties are the seed's to break)
    order_a = sorted(a.trace.start_order(), key=lambda n: a.trace.attempts(n)[0].started_ns)
    order_b = sorted(b.trace.start_order(), key=lambda n: b.trace.attempts(n)[0].started_ns)
    assert [a.trace.attempts(n)[0].started_ns for n in order_a] == [
        b.trace.attempts(n)[0].started_ns for n in order_b
    ]


@pytest.mark.spec("IMP-10")
def test_a_handle_returns_the_branch_result_or_raises_its_error() -> None:
    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, inp: Any) -> list[Any]:
        async def ok() -> str:
            return await ctx.step(work, "fine", 2, name="ok")

        async def bad() -> None:
            await ctx.step(charge, 5000)

        good, broken = ctx.spawn(ok()), ctx.spawn(bad())
        await ctx.sleep(5)
        out: list[Any] = [good.done, await good, await good]
        try:
            await broken
        except PaymentDeclined as exc:
            out.append(str(exc))
        return out

    result = wfsim.run(flow)
    assert result.result == [True, "fine", "fine", "5000 is over the limit"]
    assert result.makespan == 5
    with_spawn_error = wfsim.run(
        wfsim.ImperativeWorkflow(lambda ctx, inp: _spawn_wrong(ctx), name="wrong")
    )
    assert "ctx.spawn() takes a coroutine of the body's, not int" in with_spawn_error.message


async def _spawn_wrong(ctx: wfsim.WorkflowContext) -> None:
    ctx.spawn(3)  # type: ignore[arg-type]
