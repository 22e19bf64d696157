"""Where wfsim's event workflows follow LlamaIndex exactly (issue 17 points 1-6, issue 15
point 4). tests/conformance/test_llamaindex.py runs the real engine beside these."""

from __future__ import annotations

from typing import Any

import pytest

import wfsim
from wfsim import Event, EventWorkflow, RetryPolicy, StartEvent, StopEvent
from wfsim.checks import check_all
from wfsim.errors import WorkflowDefinitionError


class Base(Event):
    pass


class Sub(Base):
    pass


class Query(Event):
    pass


class Retry(Event):
    pass


class MyStop(StopEvent):
    pass


class Unused(Event):
    pass


def routing(*, base: bool, sub: bool, subclasses: bool = False) -> EventWorkflow:
    """``start`` returns a Sub; a step accepting Base and/or one accepting Sub answer."""
    wf = EventWorkflow("routing", timeout=10)

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: StartEvent) -> Any:  # unchecked (EVT-8)
        return Sub()

    if base:

        @wf.step(accept_event_subclasses=subclasses)
        async def base_step(ctx: wfsim.StepContext, ev: Base) -> StopEvent:
            return StopEvent(result=f"base_step got {type(ev).__name__}")

    if sub:

        @wf.step
        async def sub_step(ctx: wfsim.StepContext, ev: Sub) -> StopEvent:
            return StopEvent(result=f"sub_step got {type(ev).__name__}")

    return wf


@pytest.mark.spec("EVT-2")
def test_events_go_to_steps_accepting_their_exact_type() -> None:
    assert wfsim.run(routing(base=True, sub=True)).result == "sub_step got Sub"
    only_base = wfsim.run(routing(base=True, sub=False))
    assert only_base.status == "timed_out"  # LlamaIndex: the Sub reaches nobody
    delivered = [e.step for e in only_base.trace if e.kind == "event_delivered"]
    assert delivered == ["start"]


@pytest.mark.spec("EVT-2")
def test_accept_event_subclasses_lets_a_base_step_take_subclasses() -> None:
    result = wfsim.run(routing(base=True, sub=False, subclasses=True))
    assert (result.status, result.result) == ("completed", "base_step got Sub")


@pytest.mark.spec("EVT-1")
def test_a_sent_stop_event_does_not_end_the_run() -> None:
    wf = EventWorkflow("sender", timeout=5)

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: StartEvent) -> None:
        ctx.send_event(StopEvent(result="sent"))

    result = wfsim.run(wf)
    assert (result.status, result.makespan) == ("timed_out", 5)
    emitted = [e.fields for e in result.trace if e.kind == "event_emitted"]
    assert emitted[-1] == {"event": "StopEvent", "ends_run": False, "fields": {"result": "sent"}}


@pytest.mark.spec("EVT-1")
def test_a_stop_event_subclass_is_itself_the_result() -> None:
    wf = EventWorkflow("mystop")

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: StartEvent) -> MyStop:
        return MyStop(result=1)

    result = wfsim.run(wf)
    assert (result.status, result.result) == ("completed", MyStop(result=1))
    assert wfsim.run(wf).digest() == result.digest()


def backoff_flow(delay: float) -> EventWorkflow:
    """e1, e2, e3 to a one-worker step; e1's first attempt fails, retried ``delay`` later."""
    wf = EventWorkflow("backoff")
    order: list[int] = []

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: StartEvent) -> None:
        order.clear()
        for n in (1, 2, 3):
            ctx.send_event(Query(n=n))

    policy = RetryPolicy(max_attempts=2, initial_interval=delay, backoff_coefficient=1)

    @wf.step(num_workers=1, retry=policy)
    async def work(ctx: wfsim.StepContext, ev: Query) -> StopEvent | None:
        if ev.n == 1 and ctx.attempt == 1:
            raise ValueError("once")
        order.append(ev.n)
        return StopEvent(result=list(order)) if len(order) == 3 else None

    return wf


@pytest.mark.spec("EVT-3", "RETRY-8")
def test_a_retry_backing_off_frees_its_worker() -> None:
    result = wfsim.run(backoff_flow(0.05))
    assert (result.status, result.result) == ("completed", [2, 3, 1])
    starts = [(e.step, e.attempt) for e in result.trace if e.kind == "attempt_started"]
    assert starts[1:] == [("work", 1), ("work:2", 1), ("work:3", 1), ("work", 2)]
    assert check_all(backoff_flow(0.05), (), result.trace) == []


@pytest.mark.spec("EVT-3")
def test_a_retry_without_backoff_goes_first_again() -> None:
    result = wfsim.run(backoff_flow(0))
    assert result.result == [1, 2, 3]


@pytest.mark.spec("EVT-6")
def test_the_default_timeout_is_45_seconds_like_llamaindex() -> None:
    wf = EventWorkflow("sleepy")

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: StartEvent) -> StopEvent:
        await ctx.sleep(60)
        return StopEvent(result="woke")

    result = wfsim.run(wf)
    assert (result.status, result.makespan) == ("timed_out", 45)
    none = EventWorkflow("unbounded", timeout=None)
    none.step(start.fn, name="start")
    assert (wfsim.run(none).status, wfsim.run(none).makespan) == ("completed", 60)


@pytest.mark.spec("EVT-8")
def test_accepts_is_read_from_the_event_annotation_unions_too() -> None:
    wf = EventWorkflow("annotated")

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: StartEvent) -> Query:
        return Query()

    @wf.step
    async def either(ctx: wfsim.StepContext, ev: Query | Retry) -> StopEvent:
        return StopEvent(result=type(ev).__name__)

    @wf.step(accepts=Retry)
    async def explicit(ctx: wfsim.StepContext, ev: Query) -> None:
        return None

    steps = wf.event_steps
    assert steps["start"].accepts == (StartEvent,)
    assert steps["either"].accepts == (Query, Retry)
    assert steps["explicit"].accepts == (Retry,)  # accepts= wins over the annotation
    assert wfsim.run(wf).result == "Query"


@pytest.mark.spec("EVT-8")
def test_a_step_without_accepts_or_annotation_is_a_definition_error() -> None:
    wf = EventWorkflow("bare")

    async def start(ctx: wfsim.StepContext, ev: Any) -> None:
        return None

    async def plain(ctx, ev):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(WorkflowDefinitionError) as bare:
        wf.step(plain)
    assert str(bare.value) == (
        "step 'plain' has no accepts= and its event parameter has no annotation: write "
        "`async def step(ctx, ev: MyEvent)` (a union for several types) or "
        "`@wf.step(accepts=MyEvent)`"
    )
    with pytest.raises(WorkflowDefinitionError, match="takes wfsim.Event subclasses"):
        wf.step(start)


@pytest.mark.spec("EVT-8")
def test_an_unreadable_annotation_says_what_to_do() -> None:
    class Local(Event):
        pass

    wf = EventWorkflow("local")

    async def start(ctx: wfsim.StepContext, ev: Local) -> None:
        return None

    with pytest.raises(WorkflowDefinitionError, match="give accepts= explicitly"):
        wf.step(start)
    wf.step(start, accepts=Local)


@pytest.mark.spec("EVT-8")
def test_events_produced_but_never_consumed_are_rejected_before_the_run() -> None:
    wf = EventWorkflow("leaky")

    @wf.step
    async def start(ctx: wfsim.StepContext, ev: StartEvent) -> Unused | StopEvent:
        return StopEvent()

    with pytest.raises(WorkflowDefinitionError) as info:
        wfsim.run(wf)
    assert str(info.value) == (
        "event workflow 'leaky': events produced but never consumed: Unused (returned by "
        "'start'); no step accepts them (accept_event_subclasses=True lets a step take "
        "subclasses)"
    )


@pytest.mark.spec("EVT-8")
def test_no_step_may_accept_stop_event() -> None:
    wf = EventWorkflow("stopper")

    async def stop(ctx: wfsim.StepContext, ev: StopEvent) -> None:
        return None

    with pytest.raises(WorkflowDefinitionError, match="cannot accept StopEvent"):
        wf.step(stop)
