"""LlamaIndex step code runs without trio under ``wfsim.run`` (LLAMA-10): the same trace
as in trio tasks (``wfsim.arun``), which is how every other step code runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from typing import Any

import pytest

pytest.importorskip("workflows")

import trio
from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent

import wfsim
from examples.llama_real_flows import ApprovalFlow, ConcurrentFlow, FlakyFlow, ParallelFlow
from wfsim import Fault, Signal
from wfsim._core._trio_clock import MockClock
from wfsim.errors import ExternalWaitError
from wfsim.llama import adapt
from wfsim.llama._conformance import generate


def in_trio_tasks(wf: Any, **kwargs: Any) -> wfsim.RunResult:
    """The run as ``wfsim.arun`` makes it: step code in trio tasks."""
    run = functools.partial(wfsim.arun, wf, **kwargs)
    result: wfsim.RunResult = trio.run(run, clock=MockClock(autojump_threshold=0))
    return result


def assert_same(wf: Any, **kwargs: Any) -> wfsim.RunResult:
    alone = wfsim.run(wf, **kwargs)
    tasks = in_trio_tasks(wf, **kwargs)
    assert alone.trace.digest() == tasks.trace.digest(), kwargs
    assert (alone.status, alone.result) == (tasks.status, tasks.result)
    assert (alone.context, alone.stream) == (tasks.context, tasks.stream)
    return alone


class Clocks(Workflow):
    """asyncio's timers, tasks and timeouts, and the wall clock, inside one step."""

    @step
    async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await asyncio.sleep(2)
        slow = asyncio.create_task(asyncio.sleep(10))
        try:
            async with asyncio.timeout(3):
                await slow
        except TimeoutError:
            pass
        both = await asyncio.gather(asyncio.sleep(1, "a"), asyncio.sleep(2, "b"))
        try:
            await asyncio.wait_for(asyncio.sleep(5), timeout=1)
        except TimeoutError:
            both.append("timed out")
        return StopEvent(result=[*both, dt.datetime.now().isoformat(), time.time()])


class Ended(Event):
    pass


class Queues(Workflow):
    """asyncio tasks handing items over a queue, and a step ended while it waits."""

    @step
    async def pipe(self, ctx: Context, ev: StartEvent) -> Ended:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        lock, got = asyncio.Lock(), []

        async def produce() -> None:
            for n in range(3):
                await asyncio.sleep(1)
                await queue.put(n)

        async def consume() -> None:
            for _ in range(3):
                item = await queue.get()
                async with lock:
                    got.append(item)

        await asyncio.gather(produce(), consume())
        await ctx.store.set("got", got)
        return Ended()

    @step
    async def stop(self, ctx: Context, ev: Ended) -> StopEvent:
        return StopEvent(result="done")

    @step
    async def waits(self, ctx: Context, ev: StartEvent) -> StopEvent:
        try:
            await asyncio.sleep(60)
        finally:  # the StopEvent at t=3 ends this attempt: the finally block runs
            await ctx.store.set("cleaned_up_at", asyncio.get_running_loop().time())
        return StopEvent(result="never")


@pytest.mark.spec("LLAMA-10")
def test_generated_classes_give_the_same_trace_without_trio() -> None:
    for case in range(40):
        wf = adapt(generate(case).cls)
        for seed in (0, 1):
            assert_same(wf, seed=seed)


@pytest.mark.spec("LLAMA-10")
def test_faults_signals_timeouts_and_asyncio_give_the_same_trace_without_trio() -> None:
    answer = Signal("HumanResponseEvent", at="20m", payload={"response": "yes"})
    assert_same(adapt(ApprovalFlow(timeout=None)), signals=[answer])
    assert_same(adapt(ApprovalFlow(timeout=None)), signals=[])  # wait_for_event times out
    assert_same(adapt(ApprovalFlow), signals=[answer])  # the class's own timeout
    assert_same(adapt(FlakyFlow))
    concurrent = adapt(ConcurrentFlow)
    for faults in (
        [Fault.error("step_two", attempts=[1])],
        [Fault.latency("step_two:2", extra="10s")],
        [Fault.hang("step_three:2")],
        [Fault.drop(event="StepThreeEvent", occurrences=[2])],
        [Fault.duplicate(event="StepTwoEvent", occurrences=[1])],
    ):
        assert_same(concurrent, faults=faults, seed=3)
    assert_same(adapt(ParallelFlow), seed=2, input={"delays": {"Query 1": 1, "Query 2": 1}})
    result = assert_same(adapt(Clocks))
    assert result.result == ["a", "b", "timed out", "2026-01-01T00:00:08", 1767225608.0]
    result = assert_same(adapt(Queues))
    assert (result.result, result.context) == ("done", {"got": [0, 1, 2], "cleaned_up_at": 3})


@pytest.mark.spec("LLAMA-10")
def test_run_many_and_run_agree_without_trio() -> None:
    wf = adapt(ConcurrentFlow)
    many = wfsim.run_many(wf, range(4))
    assert [r.trace.digest() for r in many] == [
        wfsim.run(wf, seed=s).trace.digest() for s in range(4)
    ]


@pytest.mark.spec("LLAMA-10")
def test_trio_in_a_llama_index_step_fails_as_on_the_real_runtime() -> None:
    class UsesTrio(Workflow):
        @step
        async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
            await trio.sleep(1)
            return StopEvent(result="never")

    result = wfsim.run(adapt(UsesTrio))
    assert result.status == "failed"
    error = result.trace.of_kind("attempt_failed")[0].fields
    assert error["error"] == "RuntimeError"


@pytest.mark.spec("LLAMA-10")
def test_awaiting_something_neither_asyncio_nor_wfsim_is_one_line() -> None:
    class Strange:
        def __await__(self) -> Any:
            yield "a foreign trap"

    class AwaitsStrange(Workflow):
        @step
        async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
            await Strange()
            return StopEvent(result="never")

    with pytest.raises(ExternalWaitError, match=r"^step 'work' \(attempt 1\) awaited 'a foreign"):
        wfsim.run(adapt(AwaitsStrange))
