"""The real llama-index-workflows beside wfsim on the points where they used to differ
(issue 17 points 1-6): each case runs both and compares what a user sees.

Skipped without the ``llama`` extra (``pip install -e ".[llama]"``); CI installs it.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, ClassVar

import pytest

workflows = pytest.importorskip("workflows")

from workflows import Context, Workflow, step  # noqa: E402
from workflows.errors import WorkflowTimeoutError, WorkflowValidationError  # noqa: E402
from workflows.events import Event, StartEvent, StopEvent  # noqa: E402
from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed  # noqa: E402

import wfsim  # noqa: E402
from wfsim.errors import WorkflowDefinitionError  # noqa: E402


def real(wf: Workflow) -> Any:
    """Run a real workflow: its result, or the name of the error it ends with."""

    async def go() -> Any:
        try:
            return await wf.run()
        except (WorkflowTimeoutError, WorkflowValidationError) as exc:
            return type(exc).__name__

    return asyncio.run(go())


def sim(wf: wfsim.EventWorkflow) -> Any:
    """The same outcome from wfsim: the result, or the status when it is not completed."""
    try:
        result = wfsim.run(wf)
    except WorkflowDefinitionError:
        return "WorkflowValidationError"
    return result.result if result.status == "completed" else result.status


# -- point 1: exact-type routing (EVT-2) ----------------------------------------------------


class Base(Event):
    pass


class Sub(Base):
    pass


class WBase(wfsim.Event):
    pass


class WSub(WBase):
    pass


class RealRouting(Workflow):
    @step
    async def start(self, ev: StartEvent) -> Sub | Base:
        return Sub()

    @step
    async def base_step(self, ev: Base) -> StopEvent:
        return StopEvent(result=f"base_step got {type(ev).__name__}")

    @step
    async def sub_step(self, ev: Sub) -> StopEvent:
        return StopEvent(result=f"sub_step got {type(ev).__name__}")


class RealBaseOnly(Workflow):
    @step
    async def start(self, ev: StartEvent) -> Base:
        return Sub()

    @step(accept_event_subclasses=False)
    async def base_step(self, ev: Base) -> StopEvent:
        return StopEvent(result=f"base_step got {type(ev).__name__}")


class RealBaseSubclasses(Workflow):
    @step
    async def start(self, ev: StartEvent) -> Sub:
        return Sub()

    @step(accept_event_subclasses=True)
    async def base_step(self, ev: Base) -> StopEvent:
        return StopEvent(result=f"base_step got {type(ev).__name__}")


def sim_routing(*, sub: bool, subclasses: bool = False) -> wfsim.EventWorkflow:
    wf = wfsim.EventWorkflow("routing", timeout=0.3)

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: wfsim.StartEvent) -> Any:
        return WSub()

    @wf.step(accept_event_subclasses=subclasses)
    async def base_step(ctx: wfsim.StepContext, ev: WBase) -> wfsim.StopEvent:
        return wfsim.StopEvent(result=f"base_step got {type(ev).__name__[1:]}")

    if sub:

        @wf.step
        async def sub_step(ctx: wfsim.StepContext, ev: WSub) -> wfsim.StopEvent:
            return wfsim.StopEvent(result=f"sub_step got {type(ev).__name__[1:]}")

    return wf


@pytest.mark.spec("EVT-2")
def test_routing_by_exact_type_matches_llamaindex() -> None:
    assert real(RealRouting(timeout=2)) == sim(sim_routing(sub=True)) == "sub_step got Sub"
    assert real(RealBaseOnly(timeout=0.3)) == "WorkflowTimeoutError"
    assert sim(sim_routing(sub=False)) == "timed_out"
    expected = "base_step got Sub"
    assert real(RealBaseSubclasses(timeout=2)) == expected
    assert sim(sim_routing(sub=False, subclasses=True)) == expected


# -- points 2 and 3: StopEvent sent, StopEvent subclass (EVT-1) ------------------------------


class RealSendsStop(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> StopEvent | None:
        ctx.send_event(StopEvent(result="sent"))
        return None


class MyStop(StopEvent):
    pass


class WMyStop(wfsim.StopEvent):
    pass


class RealMyStop(Workflow):
    @step
    async def start(self, ev: StartEvent) -> MyStop:
        return MyStop(result=1)


@pytest.mark.spec("EVT-1")
def test_a_sent_stop_event_ends_neither_run() -> None:
    wf = wfsim.EventWorkflow("sender", timeout=0.3)

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: wfsim.StartEvent) -> None:
        ctx.send_event(wfsim.StopEvent(result="sent"))

    assert real(RealSendsStop(timeout=0.3)) == "WorkflowTimeoutError"
    assert sim(wf) == "timed_out"


@pytest.mark.spec("EVT-1")
def test_a_stop_event_subclass_is_the_result_in_both() -> None:
    wf = wfsim.EventWorkflow("mystop")

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: wfsim.StartEvent) -> WMyStop:
        return WMyStop(result=1)

    got_real, got_sim = real(RealMyStop(timeout=2)), sim(wf)
    assert (type(got_real), got_real.result) == (MyStop, 1)
    assert (type(got_sim), got_sim.result) == (WMyStop, 1)


# -- point 4: a retry's backoff frees the worker (EVT-3) -------------------------------------


class Item(Event):
    n: int


class WItem(wfsim.Event):
    pass


ONCE = retry_policy(wait=wait_fixed(0.05), stop=stop_after_attempt(2))


class RealBackoff(Workflow):
    failed = False
    order: ClassVar[list[int]] = []

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Item | None:
        for n in (1, 2, 3):
            ctx.send_event(Item(n=n))
        return None

    @step(num_workers=1, retry_policy=ONCE)
    async def work(self, ev: Item) -> StopEvent | None:
        if ev.n == 1 and not RealBackoff.failed:
            RealBackoff.failed = True
            raise ValueError("once")
        RealBackoff.order.append(ev.n)
        return StopEvent(result=list(RealBackoff.order)) if len(RealBackoff.order) == 3 else None


@pytest.mark.spec("EVT-3")
def test_a_retry_backoff_frees_the_worker_in_both() -> None:
    wf = wfsim.EventWorkflow("backoff")

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: wfsim.StartEvent) -> None:
        for n in (1, 2, 3):
            ctx.send_event(WItem(n=n))

    order: ClassVar[list[int]] = []
    policy = wfsim.RetryPolicy(max_attempts=2, initial_interval=0.05, backoff_coefficient=1)

    @wf.step(num_workers=1, retry=policy)
    async def work(ctx: wfsim.StepContext, ev: WItem) -> wfsim.StopEvent | None:
        if ev.n == 1 and ctx.attempt == 1:
            raise ValueError("once")
        order.append(ev.n)
        return wfsim.StopEvent(result=list(order)) if len(order) == 3 else None

    RealBackoff.failed, RealBackoff.order = False, []
    assert real(RealBackoff(timeout=5)) == sim(wf) == [2, 3, 1]


# -- point 5: produced but never consumed (EVT-8) --------------------------------------------


class Orphan(Event):
    pass


class WOrphan(wfsim.Event):
    pass


class RealOrphan(Workflow):
    @step
    async def start(self, ev: StartEvent) -> Orphan | StopEvent:
        return StopEvent()


@pytest.mark.spec("EVT-8")
def test_an_event_no_step_accepts_is_rejected_by_both() -> None:
    wf = wfsim.EventWorkflow("orphan")

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: wfsim.StartEvent) -> WOrphan | wfsim.StopEvent:
        return wfsim.StopEvent()

    assert real(RealOrphan(timeout=2)) == sim(wf) == "WorkflowValidationError"


# -- point 6: the default timeout (EVT-6) ----------------------------------------------------


@pytest.mark.spec("EVT-6")
def test_the_default_timeout_is_llamaindexs() -> None:
    assert inspect.signature(Workflow.__init__).parameters["timeout"].default == 45
    assert wfsim.EventWorkflow("bare").timeout_ns == 45 * 10**9


# -- the adapter (wfsim.llama) runs the same classes with the same outcome -------------------


@pytest.mark.spec("LLAMA-1", "EVT-1", "EVT-2")
def test_the_adapter_routes_and_stops_like_the_real_engine() -> None:
    from wfsim.llama import adapt

    assert wfsim.run(adapt(RealRouting)).result == "sub_step got Sub"
    assert wfsim.run(adapt(RealBaseSubclasses)).result == "base_step got Sub"
    assert wfsim.run(adapt(RealBaseOnly(timeout=1))).status == "timed_out"
    assert wfsim.run(adapt(RealSendsStop(timeout=1))).status == "timed_out"
    assert type(wfsim.run(adapt(RealMyStop)).result).__name__ == "MyStop"
