"""LlamaIndex's concurrent workflows (specs/sources.md 6, "Concurrent execution of workflows")
as wfsim event workflows.

Three flows of that page:

* ``parallel_flow`` -- ``ParallelFlow``: ``start`` sends three ``StepTwoEvent``s;
  ``step_two`` (``num_workers=4``) sleeps and returns ``StopEvent(result=ev.query)``.
  "The workflow stops after whichever query is first to complete": the first
  StopEvent wins and the other invocations are cancelled (EVT-1).
* ``concurrent_flow_same`` -- ``ConcurrentFlow``: ``step_two`` returns
  ``StepThreeEvent``s and ``step_three`` collects three of them with
  ``ctx.collect_events(ev, [StepThreeEvent] * 3)``, "in the order that they were
  received" (EVT-4).
* ``concurrent_flow_mixed`` -- the ``ConcurrentFlow`` with three event types:
  ``step_a``/``step_b``/``step_c`` each answer one event and ``step_three``
  collects ``[StepCCompleteEvent, StepACompleteEvent, StepBCompleteEvent]``:
  "returned in the order they are passed to collect_events, regardless of when
  they were received".

Where wfsim differs from the page, on purpose:

* The page sleeps ``random.randint(1, 5)`` seconds; here each query sleeps a fixed
  virtual time (``DELAYS``: Query 1 3s, Query 2 1s, Query 3 2s), or the times a
  run's input gives as ``delays`` (``{"Query 1": 0, ...}``), so the outcome is
  exact. With equal delays the queries finish at one instant and the seed picks
  their order (EVT-5).
* The page's ``step_a``/``step_b``/``step_c`` take no time; here they sleep 3s,
  1s and 2s (input ``delays`` keys ``a``, ``b``, ``c``), so the events arrive
  as B, C, A and the declared order C, A, B visibly differs from arrival.
* The page's ConcurrentFlows ``print`` what they collected and return
  ``StopEvent(result="Done")``; here the run's result is what was collected
  (each event's ``result``, in collected order), so a test can check the order.

Run: ``python examples/llamaindex_flows.py``
"""

from __future__ import annotations

from collections.abc import Mapping

import wfsim
from wfsim import Event, EventWorkflow, StartEvent, StopEvent

__all__ = [
    "DELAYS",
    "MIXED_DELAYS",
    "QUERIES",
    "StepACompleteEvent",
    "StepAEvent",
    "StepBCompleteEvent",
    "StepBEvent",
    "StepCCompleteEvent",
    "StepCEvent",
    "StepThreeEvent",
    "StepTwoEvent",
    "build_concurrent_flow_mixed",
    "build_concurrent_flow_same",
    "build_parallel_flow",
    "concurrent_flow_mixed",
    "concurrent_flow_same",
    "parallel_flow",
]

#: LlamaIndex's Workflow timeout (seconds), as on the page's flows.
TIMEOUT = 45
QUERIES = ("Query 1", "Query 2", "Query 3")
#: Virtual seconds each query's slow operation takes (the page: random.randint(1, 5)).
DELAYS: Mapping[str, float] = {"Query 1": 3, "Query 2": 1, "Query 3": 2}
#: Virtual seconds step_a, step_b and step_c take in the mixed flow.
MIXED_DELAYS: Mapping[str, float] = {"a": 3, "b": 1, "c": 2}


class StepTwoEvent(Event):
    """A query for step_two (field ``query``)."""


class StepThreeEvent(Event):
    """A query's answer for step_three (field ``result``)."""


class StepAEvent(Event):
    pass


class StepBEvent(Event):
    pass


class StepCEvent(Event):
    pass


class StepACompleteEvent(Event):
    pass


class StepBCompleteEvent(Event):
    pass


class StepCCompleteEvent(Event):
    pass


def _delays(ev: Event, default: Mapping[str, float]) -> Mapping[str, float]:
    """The run's input ``delays`` (over the defaults), read from the StartEvent."""
    given = ev.get("delays") or {}
    return {**default, **given}


def build_parallel_flow() -> EventWorkflow:
    """ParallelFlow: three queries, four workers, the first StopEvent wins."""
    wf = EventWorkflow("parallel_flow", timeout=TIMEOUT)

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        delays = _delays(ev, DELAYS)
        for query in QUERIES:
            ctx.send_event(StepTwoEvent(query=query, delay=delays[query]))

    @wf.step(accepts=StepTwoEvent, num_workers=4)
    async def step_two(ctx: wfsim.StepContext, ev: Event) -> StopEvent:
        # print("Running slow query {ev.query}")
        await ctx.sleep(ev.delay)
        return StopEvent(result=ev.query)

    return wf


def build_concurrent_flow_same() -> EventWorkflow:
    """ConcurrentFlow: step_three waits for three StepThreeEvents, in arrival order."""
    wf = EventWorkflow("concurrent_flow_same", timeout=TIMEOUT)

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        delays = _delays(ev, DELAYS)
        for query in QUERIES:
            ctx.send_event(StepTwoEvent(query=query, delay=delays[query]))

    @wf.step(accepts=StepTwoEvent, num_workers=4)
    async def step_two(ctx: wfsim.StepContext, ev: Event) -> StepThreeEvent:
        # print("Running query {ev.query}")
        await ctx.sleep(ev.delay)
        return StepThreeEvent(result=ev.query)

    @wf.step(accepts=StepThreeEvent)
    async def step_three(ctx: wfsim.StepContext, ev: Event) -> StopEvent | None:
        # wait until we receive 3 events
        result = ctx.collect_events(ev, [StepThreeEvent] * 3)
        if result is None:
            return None
        return StopEvent(result=[e.result for e in result])

    return wf


def build_concurrent_flow_mixed() -> EventWorkflow:
    """ConcurrentFlow with three event types, collected in a declared order (C, A, B)."""
    wf = EventWorkflow("concurrent_flow_mixed", timeout=TIMEOUT)

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        delays = _delays(ev, MIXED_DELAYS)
        ctx.send_event(StepAEvent(query="Query 1", delay=delays["a"]))
        ctx.send_event(StepBEvent(query="Query 2", delay=delays["b"]))
        ctx.send_event(StepCEvent(query="Query 3", delay=delays["c"]))

    @wf.step(accepts=StepAEvent)
    async def step_a(ctx: wfsim.StepContext, ev: Event) -> StepACompleteEvent:
        # print("Doing something A-ish")
        await ctx.sleep(ev.delay)
        return StepACompleteEvent(result=ev.query)

    @wf.step(accepts=StepBEvent)
    async def step_b(ctx: wfsim.StepContext, ev: Event) -> StepBCompleteEvent:
        # print("Doing something B-ish")
        await ctx.sleep(ev.delay)
        return StepBCompleteEvent(result=ev.query)

    @wf.step(accepts=StepCEvent)
    async def step_c(ctx: wfsim.StepContext, ev: Event) -> StepCCompleteEvent:
        # print("Doing something C-ish")
        await ctx.sleep(ev.delay)
        return StepCCompleteEvent(result=ev.query)

    @wf.step(accepts=[StepACompleteEvent, StepBCompleteEvent, StepCCompleteEvent])
    async def step_three(ctx: wfsim.StepContext, ev: Event) -> StopEvent | None:
        # print("Received event {ev.result}")
        collected = ctx.collect_events(
            ev, [StepCCompleteEvent, StepACompleteEvent, StepBCompleteEvent]
        )
        if collected is None:
            return None
        return StopEvent(result=[e.result for e in collected])

    return wf


parallel_flow = build_parallel_flow()
concurrent_flow_same = build_concurrent_flow_same()
concurrent_flow_mixed = build_concurrent_flow_mixed()


def main() -> None:  # pragma: no cover - a demonstration
    for wf in (parallel_flow, concurrent_flow_same, concurrent_flow_mixed):
        result = wfsim.run(wf)
        print(f"{wf.name}: {result.status} in {result.makespan}s -> {result.result!r}")


if __name__ == "__main__":  # pragma: no cover
    main()
