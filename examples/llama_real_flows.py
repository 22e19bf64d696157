"""LlamaIndex's concurrent workflows ("Concurrent execution of workflows" in the
llama-index-workflows docs) as *real* ``workflows.Workflow`` classes, run on wfsim
through :mod:`wfsim.llama` (specs/llama.md). ``examples/llamaindex_flows.py`` has
the same flows written with wfsim's own ``EventWorkflow``.

* ``ParallelFlow``: ``start`` sends three ``StepTwoEvent``s; ``step_two``
  (``num_workers=4``) sleeps and returns ``StopEvent(result=ev.query)``: the
  first to finish ends the run.
* ``ConcurrentFlow``: ``step_two`` returns ``StepThreeEvent``s and ``step_three``
  collects three of them "in the order that they were received".
* ``MixedConcurrentFlow``: three event types collected in declared order.
* ``FlakyFlow``: a step failing twice, then succeeding, under its own
  ``retry_policy`` (1 s between attempts, on virtual time).
* ``ApprovalFlow``: human in the loop: ``ctx.wait_for_event(HumanResponseEvent)``,
  answered by a ``wfsim.Signal("HumanResponseEvent", ...)``.

Where these differ from the docs, on purpose: the docs sleep
``random.randint(1, 5)`` seconds; here every query sleeps ``delay`` (input,
default 1 s), so with equal delays the three finish at one instant and the
seed picks their order (EVT-5), and the ConcurrentFlows return what they
collected rather than ``"Done"``, so a test can check the order.

Run: ``python -m examples.llama_real_flows`` (from the repository root)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
from workflows import Context, Workflow, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)
from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed

import wfsim
from examples import llamaindex_flows as native
from examples.llamaindex_flows import QUERIES

__all__ = [
    "ApprovalFlow",
    "ConcurrentFlow",
    "FlakyFlow",
    "MixedConcurrentFlow",
    "ParallelFlow",
    "StepACompleteEvent",
    "StepAEvent",
    "StepBCompleteEvent",
    "StepBEvent",
    "StepCCompleteEvent",
    "StepCEvent",
    "StepThreeEvent",
    "StepTwoEvent",
]


def _llama_event(twin: type[wfsim.Event], **fields: Any) -> Any:
    """The LlamaIndex event class standing for ``twin`` (examples/llamaindex_flows.py's
    wfsim event of the same name), with typed ``fields`` (``name=(type, default)``)."""
    return pydantic.create_model(twin.__name__, __base__=Event, __module__=__name__, **fields)


# The events of examples/llamaindex_flows.py, as LlamaIndex (pydantic) events.
StepTwoEvent = _llama_event(native.StepTwoEvent, query=(str, ...), delay=(float, 1.0))
StepThreeEvent = _llama_event(native.StepThreeEvent, result=(str, ...))
StepAEvent = _llama_event(native.StepAEvent, query=(str, ...))
StepBEvent = _llama_event(native.StepBEvent, query=(str, ...))
StepCEvent = _llama_event(native.StepCEvent, query=(str, ...))
StepACompleteEvent = _llama_event(native.StepACompleteEvent, result=(str, ...))
StepBCompleteEvent = _llama_event(native.StepBCompleteEvent, result=(str, ...))
StepCCompleteEvent = _llama_event(native.StepCCompleteEvent, result=(str, ...))


class _ThreeQueries(Workflow):
    """What ParallelFlow and ConcurrentFlow share: ``start`` sends one StepTwoEvent a
    query (its ``delay`` from the input's ``delays``, default 1 s), and a query takes
    its delay."""

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> StepTwoEvent | None:
        delays = dict(ev.get("delays") or {})
        for query in QUERIES:
            ctx.send_event(StepTwoEvent(query=query, delay=delays.get(query, 1.0)))
        return None

    @staticmethod
    async def run_query(ev: Any) -> str:
        await asyncio.sleep(ev.delay)
        return str(ev.query)


class ParallelFlow(_ThreeQueries):
    @step(num_workers=4)
    async def step_two(self, ctx: Context, ev: StepTwoEvent) -> StopEvent:
        return StopEvent(result=await self.run_query(ev))


class ConcurrentFlow(_ThreeQueries):
    @step(num_workers=4)
    async def step_two(self, ctx: Context, ev: StepTwoEvent) -> StepThreeEvent:
        return StepThreeEvent(result=await self.run_query(ev))

    @step
    async def step_three(self, ctx: Context, ev: StepThreeEvent) -> StopEvent | None:
        result = ctx.collect_events(ev, [StepThreeEvent] * 3)
        if result is None:
            return None
        return StopEvent(result=[e.result for e in result])


class MixedConcurrentFlow(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> StepAEvent | StepBEvent | StepCEvent:
        ctx.send_event(StepAEvent(query="Query 1"))
        ctx.send_event(StepBEvent(query="Query 2"))
        return StepCEvent(query="Query 3")

    @step
    async def step_a(self, ctx: Context, ev: StepAEvent) -> StepACompleteEvent:
        await asyncio.sleep(3)
        return StepACompleteEvent(result=ev.query)

    @step
    async def step_b(self, ctx: Context, ev: StepBEvent) -> StepBCompleteEvent:
        await asyncio.sleep(1)
        return StepBCompleteEvent(result=ev.query)

    @step
    async def step_c(self, ctx: Context, ev: StepCEvent) -> StepCCompleteEvent:
        await asyncio.sleep(2)
        return StepCCompleteEvent(result=ev.query)

    @step
    async def step_three(
        self, ctx: Context, ev: StepACompleteEvent | StepBCompleteEvent | StepCCompleteEvent
    ) -> StopEvent | None:
        got = ctx.collect_events(ev, [StepCCompleteEvent, StepACompleteEvent, StepBCompleteEvent])
        if got is None:
            return None
        return StopEvent(result=[e.result for e in got])


class FlakyFlow(Workflow):
    """``call_api`` fails twice with ConnectionError, then answers; its retry policy
    waits 1 s between attempts."""

    @step(retry_policy=retry_policy(wait=wait_fixed(1), stop=stop_after_attempt(3)))
    async def call_api(self, ctx: Context, ev: StartEvent) -> StopEvent:
        info = ctx.retry_info()
        if info.retry_number < 2:
            raise ConnectionError(f"attempt {info.retry_number + 1}: service unavailable")
        await ctx.store.set("retries", info.retry_number)
        return StopEvent(result=f"answered after {info.retry_number} retries")


class ApprovalFlow(Workflow):
    """Waits (up to an hour) for a person's ``HumanResponseEvent``."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer: Any = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="Approve the order? "),
            waiter_id="approval",
            timeout=3600,
        )
        return StopEvent(result=f"approved: {answer.response}")


if __name__ == "__main__":
    import wfsim
    from wfsim.llama import adapt

    for seed in range(4):
        run = wfsim.run(adapt(ConcurrentFlow), seed=seed)
        print(f"ConcurrentFlow seed {seed}: collected {run.result} at t={run.makespan:g}s")
    print("ParallelFlow:", wfsim.run(adapt(ParallelFlow), seed=1).result)
    print("MixedConcurrentFlow:", wfsim.run(adapt(MixedConcurrentFlow)).result)
    flaky = wfsim.run(adapt(FlakyFlow))
    print(f"FlakyFlow: {flaky.result} at t={flaky.makespan:g}s")
    approval = wfsim.run(
        adapt(ApprovalFlow(timeout=None)),
        signals=[wfsim.Signal("HumanResponseEvent", at="20m", payload={"response": "yes"})],
    )
    print(f"ApprovalFlow: {approval.result} at t={approval.makespan:g}s")
