"""asyncio in step code runs on virtual time (specs/time.md TIME-8)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import wfsim
from wfsim import RetryPolicy

S = 1_000_000_000


@pytest.mark.spec("TIME-8")
def test_asyncio_sleep_in_a_step_takes_virtual_time_and_no_wall_time() -> None:
    wf = wfsim.Workflow("sleepy")

    @wf.step
    async def wait(ctx: wfsim.StepContext) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return {"slept": loop.time() - start, "now": ctx.now()}

    started = time.perf_counter()
    result = wfsim.run(wf)
    assert time.perf_counter() - started < 5
    assert result.status == "completed"
    assert result.makespan == 3600
    assert result.context == {"slept": 3600.0, "now": 3600.0}


@pytest.mark.spec("TIME-8")
def test_gather_wait_for_timeout_queues_tasks_and_to_thread_work() -> None:
    wf = wfsim.Workflow("asyncio-tour")

    @wf.step
    async def tour(ctx: wfsim.StepContext) -> dict[str, Any]:
        seen: list[Any] = list(
            await asyncio.gather(asyncio.sleep(2, result="a"), asyncio.sleep(3, result="b"))
        )
        try:
            await asyncio.wait_for(asyncio.sleep(10), timeout=0.5)
        except TimeoutError:
            seen.append("wait_for timed out")
        try:
            async with asyncio.timeout(0.25):
                await asyncio.sleep(5)
        except TimeoutError:
            seen.append("timeout() timed out")
        queue: asyncio.Queue[int] = asyncio.Queue()

        async def produce() -> None:
            for i in range(3):
                await ctx.sleep(0.1)  # wfsim's sleep inside an asyncio task works too
                await queue.put(i)

        producer = asyncio.create_task(produce())
        seen.append([await queue.get() for _ in range(3)])
        await producer
        seen.append(await asyncio.to_thread(lambda: "inline"))
        return {"seen": seen, "now": ctx.now()}

    result = wfsim.run(wf)
    assert result.status == "completed", result.message
    assert result.context["seen"] == [
        "a", "b", "wait_for timed out", "timeout() timed out", [0, 1, 2], "inline"
    ]  # fmt: skip
    assert result.context["now"] == 3 + 0.5 + 0.25 + 0.3


@pytest.mark.spec("TIME-8")
def test_asyncio_sleep_works_in_workflow_bodies_and_event_steps() -> None:
    async def step(ctx: wfsim.StepContext) -> float:
        await asyncio.sleep(2)
        return ctx.now()

    @wfsim.workflow
    async def body(ctx: wfsim.WorkflowContext, _: Any) -> list[float]:
        await asyncio.sleep(1)
        return [await ctx.step(step), ctx.now()]

    assert wfsim.run(body).result == [3.0, 3.0]

    ev = wfsim.EventWorkflow("ev")

    @ev.step(accepts=wfsim.StartEvent)
    async def start(ctx: wfsim.StepContext, e: wfsim.Event) -> wfsim.StopEvent:
        await asyncio.sleep(5)
        return wfsim.StopEvent(result=ctx.now())

    result = wfsim.run(ev)
    assert (result.status, result.result) == ("completed", 5.0)


@pytest.mark.spec("TIME-8")
def test_a_step_timeout_ends_an_asyncio_wait() -> None:
    wf = wfsim.Workflow("slow")
    ended: list[str] = []

    @wf.step(timeout=2, retry=RetryPolicy(max_attempts=1))
    async def slow(ctx: wfsim.StepContext) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("cleaned up")

    result = wfsim.run(wf)
    assert result.status == "failed"
    assert result.makespan == 2
    assert ended == ["cleaned up"]


@pytest.mark.spec("TIME-8")
def test_simultaneous_asyncio_wakeups_are_seeded_and_replay() -> None:
    def build() -> wfsim.Workflow:
        wf = wfsim.Workflow("race")

        async def racer(ctx: wfsim.StepContext) -> None:
            order = ctx.get("order", [])
            for _ in range(3):
                await asyncio.sleep(1)
                ctx.set("order", [*ctx.get("order", []), ctx.step])
            del order

        for name in ("a", "b", "c"):
            wf.step(name=name)(racer)
        return wf

    traces = {seed: wfsim.run(build(), seed=seed) for seed in range(12)}
    for seed, first in traces.items():
        again = wfsim.run(build(), seed=seed)
        assert again.trace.digest() == first.trace.digest()
        assert again.context == first.context
    assert len({tuple(r.context["order"]) for r in traces.values()}) > 1


@pytest.mark.spec("TIME-8")
def test_real_io_on_the_asyncio_loop_fails_once_and_is_not_retried() -> None:
    wf = wfsim.Workflow("io")

    @wf.step(retry=RetryPolicy(max_attempts=5, initial_interval=1))
    async def fetch(ctx: wfsim.StepContext) -> None:
        try:
            await asyncio.open_connection("example.invalid", 80)
        except Exception:
            pass  # swallowing it does not hide it

    result = wfsim.run(wf)
    assert result.status == "failed"
    failed = [e for e in result.trace if e.kind == "attempt_failed"]
    assert len(failed) == 1
    assert failed[0].fields["error"] == "AsyncioUnsupportedError"
    assert failed[0].fields["retryable"] is False
    assert failed[0].fields["message"].startswith(
        "step 'fetch' called asyncio's loop.create_connection(), which needs the outside world"
    )


@pytest.mark.spec("TIME-8")
def test_wfsim_waits_inside_an_asyncio_task_are_a_clear_error() -> None:
    async def one(ctx: wfsim.StepContext) -> int:
        return 1

    @wfsim.workflow
    async def body(ctx: wfsim.WorkflowContext, _: Any) -> Any:
        async def call() -> Any:
            return await ctx.step(one)

        return await asyncio.gather(call(), call())

    result = wfsim.run(body)
    assert result.status == "failed"
    assert "inside an asyncio task (asyncio.gather, asyncio.create_task)" in result.message
    assert "use ctx.gather" in result.message
