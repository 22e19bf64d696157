"""Event-driven workflows: send_event, num_workers, collect_events, StartEvent/StopEvent."""

from __future__ import annotations

from typing import Any

import pytest

import wfsim
from wfsim import Event, EventWorkflow, Fault, RetryPolicy, StartEvent, StopEvent


class A(Event):
    pass


class B(Event):
    pass


class C(Event):
    pass


class SubA(A):
    pass


def fan_in(
    sends: list[Event],
    expected: list[type[Event]],
    *,
    buffer_id: str | None = None,
    delay: float = 0,
) -> EventWorkflow:
    wf = EventWorkflow("fan_in")

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        for event in sends:
            ctx.send_event(event)
            if delay:
                await ctx.sleep(delay)

    @wf.step(accepts=[A, B, C, SubA])
    async def collect(ctx: wfsim.StepContext, ev: Event) -> Any:
        got = ctx.collect_events(ev, expected, buffer_id=buffer_id)
        if got is None:
            return None
        return StopEvent(result=[(type(e).__name__, e.get("n")) for e in got])

    return wf


@pytest.mark.spec("EVT-1", "EVT-4")
def test_collect_returns_the_expected_events_in_the_expected_order() -> None:
    wf = fan_in([C(n=1), A(n=2), B(n=3)], [A, B, C], delay=1)
    result = wfsim.run(wf)
    assert result.status == "completed"
    assert result.result == [("A", 2), ("B", 3), ("C", 1)]
    collected = result.trace.of_kind("events_collected")
    assert [(e.step, e.t, e["events"]) for e in collected] == [
        ("collect:3", 2.0, ["A", "B", "C"]),
    ]
    assert result.trace[-1]["result"] == [["A", 2], ["B", 3], ["C", 1]]


@pytest.mark.spec("EVT-4")
def test_repeated_types_keep_arrival_order_surplus_and_strangers_are_dropped() -> None:
    sends = [A(n=1), SubA(n=9), A(n=2), A(n=3), B(n=4)]
    result = wfsim.run(fan_in(sends, [A, B, A], delay=1))
    # SubA is not an A for collection (exact type); A(n=3) is beyond the two expected As.
    assert result.result == [("A", 1), ("B", 4), ("A", 2)]


@pytest.mark.spec("EVT-4")
def test_buffers_reset_after_a_collection_and_are_per_buffer_id() -> None:
    wf = EventWorkflow("twice")

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        for n in range(4):
            ctx.send_event(A(n=n))
            await ctx.sleep(1)

    rounds: list[Any] = []

    @wf.step(accepts=A)
    async def pairs(ctx: wfsim.StepContext, ev: Event) -> Any:
        got = ctx.collect_events(ev, [A, A])
        other = ctx.collect_events(ev, [A, A, A, A], buffer_id="all")
        if got is not None:
            rounds.append([e.n for e in got])
        if other is not None:
            return StopEvent(result=rounds)
        return None

    assert wfsim.run(wf).result == [[0, 1], [2, 3]]
    nothing_expected = wfsim.run(fan_in([A()], []))
    assert (nothing_expected.status, nothing_expected.result) == ("completed", [])


@pytest.mark.spec("EVT-2")
def test_send_event_broadcasts_or_targets_one_step() -> None:
    wf = EventWorkflow("routing")
    seen: list[str] = []

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        ctx.send_event(A(n=1))
        ctx.send_event(A(n=2), step="only_one")

    @wf.step(accepts=A)
    async def only_one(ctx: wfsim.StepContext, ev: Event) -> None:
        seen.append(f"only_one:{ev.n}")

    @wf.step(accepts=A)
    async def other(ctx: wfsim.StepContext, ev: Event) -> Any:
        seen.append(f"other:{ev.n}")
        await ctx.sleep(1)
        return StopEvent(result=sorted(seen))

    assert wfsim.run(wf).result == ["only_one:1", "only_one:2", "other:1"]


@pytest.mark.spec("EVT-2")
@pytest.mark.parametrize(
    ("target", "message"),
    [("nope", "Step nope does not exist"), ("start", "Step start does not accept event of type A")],
)
def test_targeting_a_wrong_step_is_an_error(target: str, message: str) -> None:
    wf = EventWorkflow("wrong")

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        if isinstance(ev, StartEvent):
            ctx.send_event(A(), step=target)

    @wf.step(accepts=A)
    async def sink(ctx: wfsim.StepContext, ev: Event) -> None:
        return None

    result = wfsim.run(wf)
    assert result.status == "failed"
    assert message in result.trace.of_kind("attempt_failed")[0]["message"]


@pytest.mark.spec("EVT-3")
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_num_workers_bounds_concurrent_invocations_per_step(workers: int) -> None:
    wf = EventWorkflow("workers")
    done: list[int] = []

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        for n in range(8):
            ctx.send_event(A(n=n))

    @wf.step(accepts=A, num_workers=workers)
    async def work(ctx: wfsim.StepContext, ev: Event) -> Any:
        await ctx.sleep(1)
        done.append(ev.n)
        return StopEvent(result=done) if len(done) == 8 else None

    result = wfsim.run(wf, seed=workers)
    assert result.trace.max_concurrency() == workers
    assert result.makespan == 8 / workers
    if workers == 1:
        assert result.result == list(range(8))  # one worker: completion order is send order


@pytest.mark.spec("EVT-1")
def test_the_first_stop_event_wins_and_cancels_pending_work() -> None:
    wf = EventWorkflow("race")

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        ctx.send_event(A(n=2))
        ctx.send_event(B(n=1))

    @wf.step(accepts=[A, B])
    async def racer(ctx: wfsim.StepContext, ev: Event) -> Any:
        await ctx.sleep(ev.n)
        return StopEvent(result=type(ev).__name__)

    result = wfsim.run(wf)
    assert (result.result, result.makespan) == ("B", 1.0)
    cancelled = result.trace.of_kind("step_cancelled")
    assert [(e.step, e["reason"]) for e in cancelled] == [("racer", "a StopEvent ended the run")]


@pytest.mark.spec("EVT-1")
def test_a_stop_right_after_send_event_means_the_sent_event_is_never_handled() -> None:
    wf = EventWorkflow("abrupt")
    handled: list[Any] = []

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> Any:
        ctx.send_event(A())
        return StopEvent(result="done")

    @wf.step(accepts=A)
    async def consumer(ctx: wfsim.StepContext, ev: Event) -> None:
        handled.append(ev)

    result = wfsim.run(wf)
    assert (result.status, result.result, handled) == ("completed", "done", [])


@pytest.mark.spec("EVT-5", "DET-1", "DET-4")
def test_seeds_explore_the_arrival_order_of_simultaneous_events() -> None:
    wf = fan_in([A(n=1), A(n=2)], [A, A])
    orders = {tuple(wfsim.run(wf, seed=s).result) for s in range(12)}
    assert orders == {(("A", 1), ("A", 2)), (("A", 2), ("A", 1))}
    assert wfsim.run(wf, seed=3).digest() == wfsim.run(wf, seed=3).digest()


@pytest.mark.spec("EVT-6", "TIME-5")
def test_workflow_timeout_and_missing_stop_event_end_timed_out() -> None:
    wf = EventWorkflow("slow", timeout=45)

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        await ctx.sleep(60)

    result = wfsim.run(wf)
    assert (result.status, result.makespan) == ("timed_out", 45)
    assert "'start' (attempt 1 running since t=0s)" in result.message
    quiet = wfsim.run(fan_in([A()], [A, B]))
    assert quiet.status == "timed_out"
    assert quiet.message.endswith("still waiting: nothing: no step returned a StopEvent")


@pytest.mark.spec("EVT-7", "RETRY-1")
def test_a_step_that_fails_for_good_fails_the_run_and_retries_see_the_buffer_again() -> None:
    wf = EventWorkflow("retrying")

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        ctx.send_event(A(n=1))
        await ctx.sleep(1)
        ctx.send_event(B(n=2))

    @wf.step(accepts=[A, B], retry=RetryPolicy(max_attempts=2, initial_interval=1))
    async def collect(ctx: wfsim.StepContext, ev: Event) -> Any:
        got = ctx.collect_events(ev, [A, B])
        await ctx.sleep(0.5)
        if got is None:
            return None
        return StopEvent(result=[type(e).__name__ for e in got])

    flaky = wfsim.run(wf, faults=[Fault.error("collect:2", attempts=[1], at="end")])
    assert flaky.result == ["A", "B"]  # the retry collected again from the restored buffer
    broken = wfsim.run(wf, faults=[Fault.error("collect:2", error="Boom")])
    assert broken.status == "failed"
    assert broken.message == "step 'collect:2' failed: Boom"


@pytest.mark.spec("EVT-8")
def test_event_workflow_validation() -> None:
    wf = EventWorkflow("empty")
    with pytest.raises(wfsim.WorkflowDefinitionError, match="has no steps"):
        wfsim.run(wf)

    @wf.step(accepts=A)
    async def orphan(ctx: wfsim.StepContext, ev: Event) -> None:
        return None

    with pytest.raises(wfsim.WorkflowDefinitionError, match="no step accepts wfsim.StartEvent"):
        wfsim.run(wf)
    with pytest.raises(wfsim.WorkflowDefinitionError, match="num_workers must be an integer > 0"):
        wf.step(accepts=A, num_workers=0, name="other")(orphan.fn)
    with pytest.raises(wfsim.WorkflowDefinitionError, match="accepts= takes wfsim.Event"):
        wf.step(accepts=int, name="other")(orphan.fn)  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="A has no field .cuont.: did you mean .count."):
        _ = A(count=1).cuont


@pytest.mark.spec("EVT-9", "DET-1")
def test_streamed_events_are_kept_in_order_and_reach_no_step() -> None:
    wf = EventWorkflow("streaming")

    @wf.step(accepts=StartEvent, retry=RetryPolicy(max_attempts=2, initial_interval=1))
    async def work(ctx: wfsim.StepContext, ev: Event) -> StopEvent:
        ctx.write_event_to_stream(A(attempt=ctx.attempt))
        await ctx.sleep(2)
        if ctx.attempt == 1:
            raise ConnectionError("flaky")
        ctx.write_event_to_stream(B(done=True))
        return StopEvent(result="ok")

    @wf.step(accepts=A)
    async def never(ctx: wfsim.StepContext, ev: Event) -> None:
        raise AssertionError("a streamed event reaches no step")

    result = wfsim.run(wf)
    assert (result.status, result.makespan) == ("completed", 5)
    # An attempt that failed later still streamed what it streamed (a watcher saw it).
    assert [(s.t, s.step, s.attempt, s.event) for s in result.stream] == [
        (0, "work", 1, A(attempt=1)),
        (3, "work", 2, A(attempt=2)),
        (5, "work", 2, B(done=True)),
    ]
    streamed = result.trace.of_kind("event_streamed")
    assert [(e.t, e.step, e.attempt, e.fields) for e in streamed] == [
        (0, "work", 1, {"event": "A", "fields": {"attempt": 1}}),
        (3, "work", 2, {"event": "A", "fields": {"attempt": 2}}),
        (5, "work", 2, {"event": "B", "fields": {"done": True}}),
    ]
    assert not result.trace.of_kind("event_delivered")[1:]  # StartEvent's delivery only
    assert wfsim.run(wf).trace.digest() == result.trace.digest()


@pytest.mark.spec("EVT-9")
def test_streaming_outside_an_event_workflow_or_a_non_event_is_an_error() -> None:
    wf = EventWorkflow("bad_stream")

    @wf.step(accepts=StartEvent)
    async def work(ctx: wfsim.StepContext, ev: Event) -> StopEvent:
        ctx.write_event_to_stream({"done": 1})  # type: ignore[arg-type]
        return StopEvent()

    result = wfsim.run(wf)
    assert result.status == "failed"
    message = result.trace.of_kind("attempt_failed")[0].fields["message"]
    assert message == "write_event_to_stream() takes a wfsim.Event, not dict"
    dag = wfsim.Workflow("dag")

    @dag.step
    async def only(ctx: wfsim.StepContext) -> None:
        ctx.write_event_to_stream(A())

    failed = wfsim.run(dag).trace.of_kind("attempt_failed")[0].fields["message"]
    assert failed == "ctx.write_event_to_stream() is for steps of an event workflow"
