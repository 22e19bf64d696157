"""Delivery faults: dropped, duplicated and delayed events and signals (FAULT-20..25)."""

from __future__ import annotations

from typing import Any

import pytest

import wfsim
from wfsim import Event, EventWorkflow, Fault, Signal, StartEvent, StopEvent
from wfsim.errors import SignalTimeoutError, WfsimError


class Item(Event):
    pass


class Other(Event):
    pass


class Special(Item):
    """A subclass: a step accepting Item with accept_event_subclasses receives it, and
    faults may name it."""


class Tick(Event):
    pass


def collector(sends: list[Event], expected: list[type[Event]], *, gap: float = 1) -> EventWorkflow:
    """``start`` sends ``sends`` one per ``gap`` seconds; ``collect`` waits for ``expected``."""
    wf = EventWorkflow("collector", timeout=60)

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        for event in sends:
            ctx.send_event(event)
            await ctx.sleep(gap)

    @wf.step(accepts=[Item, Other], accept_event_subclasses=True)
    async def collect(ctx: wfsim.StepContext, ev: Event) -> StopEvent | None:
        got = ctx.collect_events(ev, expected)
        if got is None:
            return None
        return StopEvent(result=[(type(e).__name__, e.get("n")) for e in got])

    return wf


def relay() -> EventWorkflow:
    """StartEvent -> ``first`` (1s) returns Item -> ``finish`` (1s) returns the StopEvent."""
    wf = EventWorkflow("relay", timeout=100)

    @wf.step(accepts=StartEvent)
    async def first(ctx: wfsim.StepContext, ev: Event) -> Item:
        await ctx.sleep(1)
        return Item(n=1)

    @wf.step(accepts=Item)
    async def finish(ctx: wfsim.StepContext, ev: Event) -> StopEvent:
        await ctx.sleep(1)
        return StopEvent(result=f"done {ev.n}")

    return wf


def stopper(stops: int = 1) -> EventWorkflow:
    """``start`` sends ``stops`` ticks 1s apart, then keeps working for 10s; ``stop``
    returns a StopEvent for each tick (a sent StopEvent would not end the run, EVT-1)."""
    wf = EventWorkflow("stopper", timeout=100)

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> None:
        for i in range(stops):
            ctx.send_event(Tick(n=i + 1))
            await ctx.sleep(1)
        await ctx.sleep(10)

    @wf.step(accepts=Tick)
    async def stop(ctx: wfsim.StepContext, ev: Event) -> StopEvent:
        return StopEvent(result=f"stop {ev.n}")

    return wf


@wfsim.workflow(signals=["approval", "cancel"])
async def approval(ctx: wfsim.WorkflowContext, request: Any) -> Any:
    """Waits up to 1h for ``approval``; then a second ``approval`` within 1h if asked to."""
    try:
        first = await ctx.wait_for_signal("approval", timeout="1h")
    except SignalTimeoutError:
        return "timed out"
    if request and request.get("twice"):
        try:
            second = await ctx.wait_for_signal("approval", timeout="1h")
        except SignalTimeoutError:
            return [first, "timed out"]
        return [first, second]
    return first


def kinds(result: wfsim.RunResult, *wanted: str) -> list[tuple[float, str, Any]]:
    """(t, kind, step) of the events of the wanted kinds, in trace order."""
    return [(e.t, e.kind, e.step) for e in result.trace if e.kind in wanted]


def faults_of(result: wfsim.RunResult) -> list[dict[str, Any]]:
    return [dict(e.get("fault")) for e in result.trace if e.kind == "fault_injected"]


# -- the API --------------------------------------------------------------------------------


@pytest.mark.spec("FAULT-20")
def test_delivery_faults_are_built_from_one_target_and_validated() -> None:
    drop = Fault.drop(signal="approval", occurrences=2)
    assert (drop.kind, drop.delivery, drop.step, drop.occurrences) == (
        "drop",
        "signal",
        "approval",
        (2,),
    )
    dup = Fault.duplicate(event="Item*", copies=2, probability=0.5)
    assert dup.describe() == {
        "kind": "duplicate",
        "event": "Item*",
        "copies": 2,
        "probability": 0.5,
        "pattern": "Item*",
    }
    delay = Fault.delay(event="Item", uniform=("1s", "3s"))
    assert (delay.shape, delay.extra_ns, delay.high_ns) == ("uniform", 1_000_000_000, 3_000_000_000)
    assert Fault.delay(signal="a", by="2h").describe_delivery("a", 1) == {
        "kind": "delay",
        "signal": "a",
        "occurrence": 1,
        "extra": 7200.0,
    }
    with pytest.raises(ValueError, match="exactly one of event= .* or signal="):
        Fault.drop()
    with pytest.raises(ValueError, match="exactly one of event= .* or signal="):
        Fault.drop(event="Item", signal="approval")
    with pytest.raises(ValueError, match="needs a signal name or pattern, not ''"):
        Fault.drop(signal="")
    with pytest.raises(ValueError, match="copies must be an integer >= 1, not 0"):
        Fault.duplicate(event="Item", copies=0)
    with pytest.raises(ValueError, match="occurrences must be delivery numbers >= 1"):
        Fault.drop(event="Item", occurrences=[0])
    with pytest.raises(ValueError, match="exactly one of by=, uniform="):
        Fault.delay(event="Item")
    with pytest.raises(ValueError, match=r"delay uniform=\(low, high\) needs low <= high"):
        Fault.delay(event="Item", uniform=(3, 1))
    with pytest.raises(ValueError, match="probability must be a number from 0 to 1"):
        Fault.drop(event="Item", probability=2)


@pytest.mark.spec("FAULT-20")
def test_delivery_faults_never_touch_attempts() -> None:
    # A pattern like "*" on a delivery fault matches event types, not the steps' attempts.
    result = wfsim.run(relay(), faults=[Fault.delay(event="*", by=0.5, occurrences=[9])])
    assert result.status == "completed"
    assert faults_of(result) == []
    assert result.makespan == 2


# -- dropped --------------------------------------------------------------------------------


@pytest.mark.spec("FAULT-21", "FAULT-20")
def test_a_dropped_event_reaches_no_step_and_the_run_times_out_without_its_stop() -> None:
    result = wfsim.run(relay(), faults=[Fault.drop(event="Item")])
    assert result.status == "timed_out"
    assert "no step returned a StopEvent" in result.message
    emitted = next(
        e for e in result.trace if e.kind == "event_emitted" and e.get("event") == "Item"
    )
    injected = result.trace[emitted.seq + 1]
    assert (injected.kind, injected.step, injected.attempt, injected.t) == (
        "fault_injected",
        None,
        None,
        1.0,
    )
    assert injected.get("fault") == {"kind": "drop", "event": "Item", "occurrence": 1}
    assert [e.step for e in result.trace if e.kind == "event_delivered"] == ["first"]
    assert "finish" not in result.steps


@pytest.mark.spec("FAULT-21", "FAULT-20")
def test_only_the_chosen_occurrence_is_dropped() -> None:
    wf = collector([Item(n=1), Item(n=2), Item(n=3)], [Item, Item])
    result = wfsim.run(wf, faults=[Fault.drop(event="Item", occurrences=[2])])
    assert result.status == "completed"
    assert result.result == [("Item", 1), ("Item", 3)]
    assert faults_of(result) == [{"kind": "drop", "event": "Item", "occurrence": 2}]
    assert [
        e.t for e in result.trace if e.kind == "event_delivered" and e.get("event") == "Item"
    ] == [0, 2]


@pytest.mark.spec("FAULT-21")
def test_a_dropped_stop_event_does_not_end_the_run() -> None:
    result = wfsim.run(stopper(2), faults=[Fault.drop(event="StopEvent", occurrences=1)])
    assert result.status == "completed"
    assert result.result == "stop 2"
    assert result.makespan == 1


@pytest.mark.spec("FAULT-21")
def test_a_dropped_signal_makes_its_wait_time_out() -> None:
    signals = [Signal("approval", at="10m", payload="yes")]
    result = wfsim.run(approval, signals=signals, faults=[Fault.drop(signal="approval")])
    assert result.status == "completed"
    assert result.result == "timed out"
    assert result.makespan == 3600
    assert kinds(result, "fault_injected", "signal_received") == [(600.0, "fault_injected", None)]
    assert faults_of(result) == [{"kind": "drop", "signal": "approval", "occurrence": 1}]


@pytest.mark.spec("FAULT-21")
def test_a_dropped_signal_without_a_timeout_ends_the_run_at_its_time_limit() -> None:
    @wfsim.workflow
    async def waits(ctx: wfsim.WorkflowContext, _: Any) -> Any:
        return await ctx.wait_for_signal("go")

    result = wfsim.run(
        waits, signals=[Signal("go", at=5)], faults=[Fault.drop(signal="go")], time_limit="1h"
    )
    assert result.status == "timed_out"
    assert "'go'" in result.message


# -- duplicated -----------------------------------------------------------------------------


@pytest.mark.spec("FAULT-22", "FAULT-20")
def test_a_duplicated_event_invokes_each_receiver_again_at_the_same_instant() -> None:
    result = wfsim.run(relay(), faults=[Fault.duplicate(event="Item")])
    assert faults_of(result) == [
        {"kind": "duplicate", "event": "Item", "occurrence": 1, "copies": 1}
    ]
    assert kinds(result, "event_emitted", "fault_injected", "event_delivered")[2:6] == [
        (1.0, "event_emitted", "first"),
        (1.0, "fault_injected", None),
        (1.0, "event_delivered", "finish"),
        (1.0, "event_delivered", "finish:2"),
    ]
    # Both invocations run; the first StopEvent (from `finish`, emitted first) ends the run.
    assert result.status == "completed"
    assert result.result == "done 1"
    assert result.makespan == 2


@pytest.mark.spec("FAULT-22", "EVT-4")
def test_a_surplus_duplicate_is_dropped_by_collect_events() -> None:
    # collect expects one Item and one Other: the Item's copy is beyond the expected count
    # of its type, so the collect rules drop it; the Other completes the collection.
    wf = collector([Item(n=1), Other(n=2)], [Item, Other])
    result = wfsim.run(wf, faults=[Fault.duplicate(event="Item", copies=2)])
    assert result.status == "completed"
    assert result.result == [("Item", 1), ("Other", 2)]
    delivered = [e.step for e in result.trace if e.kind == "event_delivered"][1:]
    assert delivered == ["collect", "collect:2", "collect:3", "collect:4"]
    assert [(e.t, e.get("events")) for e in result.trace if e.kind == "events_collected"] == [
        (1.0, ["Item", "Other"])
    ]


@pytest.mark.spec("FAULT-22", "EVT-4")
def test_a_duplicate_can_complete_a_collection_of_its_own_type() -> None:
    # A collector of two Items is fooled by one Item delivered twice: it collects at t=0,
    # before the second real Item (t=1) arrives.
    wf = collector([Item(n=1), Item(n=2)], [Item, Item])
    result = wfsim.run(wf, faults=[Fault.duplicate(event="Item", occurrences=1)])
    assert result.result == [("Item", 1), ("Item", 1)]
    assert result.makespan == 0
    clean = wfsim.run(wf)
    assert (clean.result, clean.makespan) == ([("Item", 1), ("Item", 2)], 1)


@pytest.mark.spec("FAULT-22", "EVT-1")
def test_a_duplicated_stop_event_ends_the_run_once() -> None:
    result = wfsim.run(stopper(), faults=[Fault.duplicate(event="StopEvent", copies=3)])
    assert result.status == "completed"
    assert result.result == "stop 1"
    assert result.makespan == 0
    assert [e.kind for e in result.trace].count("run_finished") == 1
    assert kinds(result, "event_emitted", "fault_injected", "step_cancelled")[-2:] == [
        (0.0, "fault_injected", None),
        (0.0, "step_cancelled", "start"),
    ]


@pytest.mark.spec("FAULT-22", "SIG-2")
def test_a_duplicated_signal_is_received_twice_and_the_copy_is_buffered() -> None:
    signals = [Signal("approval", at="10m", payload="yes")]
    faults = [Fault.duplicate(signal="approval")]
    result = wfsim.run(approval, input={"twice": True}, signals=signals, faults=faults)
    assert result.result == ["yes", "yes"]
    assert result.makespan == 600
    assert kinds(result, "fault_injected", "signal_received") == [
        (600.0, "fault_injected", None),
        (600.0, "signal_received", None),
        (600.0, "signal_received", None),
    ]
    clean = wfsim.run(approval, input={"twice": True}, signals=signals)
    assert clean.result == ["yes", "timed out"]


# -- delayed --------------------------------------------------------------------------------


@pytest.mark.spec("FAULT-23", "FAULT-20")
def test_a_delayed_event_is_delivered_later_and_its_stop_comes_later() -> None:
    result = wfsim.run(relay(), faults=[Fault.delay(event="Item", by=5)])
    assert result.status == "completed"
    assert result.result == "done 1"
    assert result.makespan == 7  # first 1s, the delivery 5s late, finish 1s
    assert faults_of(result) == [{"kind": "delay", "event": "Item", "occurrence": 1, "extra": 5.0}]
    assert kinds(result, "event_emitted", "fault_injected", "event_delivered")[2:5] == [
        (1.0, "event_emitted", "first"),
        (1.0, "fault_injected", None),
        (6.0, "event_delivered", "finish"),
    ]


@pytest.mark.spec("FAULT-23", "EVT-1")
def test_a_delayed_stop_event_ends_the_run_when_it_arrives_unless_another_came_first() -> None:
    late = wfsim.run(stopper(), faults=[Fault.delay(event="StopEvent", by=3)])
    assert (late.status, late.result, late.makespan) == ("completed", "stop 1", 3)
    assert kinds(late, "step_cancelled") == [(3.0, "step_cancelled", "start")]
    # The first stop is delayed past the second: the second ends the run, and the
    # delayed one, still pending, neither arrives nor extends the run.
    overtaken = wfsim.run(stopper(2), faults=[Fault.delay(event="StopEvent", by=5, occurrences=1)])
    assert (overtaken.result, overtaken.makespan) == ("stop 2", 1)


@pytest.mark.spec("FAULT-23")
def test_a_delay_past_the_workflow_timeout_times_the_run_out() -> None:
    result = wfsim.run(relay(), faults=[Fault.delay(event="Item", by=500)])
    assert result.status == "timed_out"
    assert result.makespan == 100


@pytest.mark.spec("FAULT-23", "SIG-4")
def test_a_delayed_signal_arrives_later_or_too_late() -> None:
    signals = [Signal("approval", at="10m", payload="yes")]
    ok = wfsim.run(approval, signals=signals, faults=[Fault.delay(signal="approval", by="20m")])
    assert (ok.result, ok.makespan) == ("yes", 1800)
    assert kinds(ok, "fault_injected", "signal_received") == [
        (600.0, "fault_injected", None),
        (1800.0, "signal_received", None),
    ]
    late = wfsim.run(approval, signals=signals, faults=[Fault.delay(signal="approval", by="2h")])
    assert (late.result, late.makespan) == ("timed out", 3600)  # dropped when the body ended
    assert kinds(late, "signal_received") == []


@pytest.mark.spec("FAULT-23", "FAULT-20")
def test_faults_on_one_delivery_combine_and_a_drop_wins() -> None:
    both = [Fault.duplicate(event="Item"), Fault.delay(event="Item", by=2)]
    result = wfsim.run(relay(), faults=both)
    assert [f["kind"] for f in faults_of(result)] == ["duplicate", "delay"]
    assert kinds(result, "event_delivered")[1:] == [
        (3.0, "event_delivered", "finish"),
        (3.0, "event_delivered", "finish:2"),
    ]
    dropped = wfsim.run(relay(), faults=[*both, Fault.drop(event="Item")])
    assert faults_of(dropped) == [{"kind": "drop", "event": "Item", "occurrence": 1}]
    assert dropped.status == "timed_out"


# -- targets, probability, determinism ------------------------------------------------------


@pytest.mark.spec("FAULT-20")
def test_patterns_subclasses_and_probability_select_deliveries() -> None:
    wf = collector([Special(n=1), Item(n=2), Item(n=3)], [Item, Item])
    # "Spec*" names the subclass: only its delivery is dropped.
    result = wfsim.run(wf, faults=[Fault.drop(event="Spec*")])
    assert result.result == [("Item", 2), ("Item", 3)]
    assert faults_of(result) == [
        {"kind": "drop", "event": "Special", "occurrence": 1, "pattern": "Spec*"}
    ]
    never = wfsim.run(wf, seed=3, faults=[Fault.drop(event="Item", probability=0)])
    assert faults_of(never) == []
    always = wfsim.run(wf, seed=3, faults=[Fault.drop(event="Item", probability=1)])
    assert [f["occurrence"] for f in faults_of(always)] == [1, 2]


@pytest.mark.spec("FAULT-25", "FAULT-20")
def test_delivery_faults_are_deterministic_per_seed_and_use_the_faults_stream() -> None:
    sends: list[Event] = [Item(n=i) for i in range(12)]
    wf = collector(sends, [Item] * 12, gap=0.5)
    plan = [
        Fault.drop(event="Item", probability=0.3),
        Fault.delay(event="Item", exponential=2, probability=0.5),
        Fault.duplicate(event="Item", probability=0.2),
    ]
    runs = {seed: [wfsim.run(wf, seed=seed, faults=plan) for _ in range(2)] for seed in range(4)}
    for a, b in runs.values():
        assert a.digest() == b.digest()
        assert a.trace.to_jsonl() == b.trace.to_jsonl()
    shapes = {tuple(map(str, faults_of(a))) for a, _ in runs.values()}
    assert len(shapes) > 1  # the dice differ between seeds
    # Only the faults stream is drawn from: dice that never fire leave the clean run as is.
    for seed in range(4):
        idle = [
            Fault.drop(event="Item", probability=0),
            Fault.delay(event="*", exponential=1, probability=0),
        ]
        assert wfsim.run(wf, seed=seed, faults=idle).digest() == wfsim.run(wf, seed=seed).digest()


@pytest.mark.spec("FAULT-25", "FAULT-20")
def test_signal_delivery_faults_are_deterministic_per_seed() -> None:
    signals = [Signal("approval", at=f"{m}m", payload=m) for m in (1, 2, 3)]
    plan = [
        Fault.delay(signal="appr*", uniform=("1m", "90m"), probability=0.7),
        Fault.duplicate(signal="approval", probability=0.5),
    ]
    digests = set()
    for seed in range(5):
        a = wfsim.run(approval, input={"twice": True}, seed=seed, signals=signals, faults=plan)
        b = wfsim.run(approval, input={"twice": True}, seed=seed, signals=signals, faults=plan)
        assert a.digest() == b.digest()
        for f in faults_of(a):
            assert f["pattern"] == "appr*" if f["kind"] == "delay" else "pattern" not in f
            if f["kind"] == "delay":
                assert 60 <= f["extra"] <= 5400
        digests.add(a.digest())
    assert len(digests) > 1


@pytest.mark.spec("FAULT-24")
@pytest.mark.parametrize(
    ("workflow", "fault", "signals", "message"),
    [
        (
            "relay",
            Fault.drop(event="Iten"),
            [],
            "drop fault on event 'Iten': unknown event type 'Iten' for workflow 'relay': "
            "did you mean 'Item'? (event types: StartEvent, StopEvent, Item, Special)",
        ),
        (
            "relay",
            Fault.delay(event="Foo*", by=1),
            [],
            "delay fault on event 'Foo*': the pattern matches none of the event types "
            "(StartEvent, StopEvent, Item, Special)",
        ),
        (
            "relay",
            Fault.drop(signal="approval"),
            [],
            "drop fault on signal 'approval': workflow 'relay' is an event workflow and "
            "receives no signals; signal faults need a @wfsim.workflow body that waits for them",
        ),
        (
            "approval",
            Fault.duplicate(signal="aproval"),
            [],
            "duplicate fault on signal 'aproval': unknown signal 'aproval' for workflow "
            "'approval': did you mean 'approval'? (declared signals: approval, cancel)",
        ),
        (
            "approval",
            Fault.drop(event="Item"),
            [],
            "drop fault on event 'Item': workflow 'approval' is a @wfsim.workflow body and "
            "delivers no events; event faults need an event workflow (wfsim.EventWorkflow)",
        ),
        (
            "dag",
            Fault.drop(signal="go"),
            [],
            "drop fault on signal 'go': workflow 'dag' is a DAG of steps and receives no "
            "signals; signal faults need a @wfsim.workflow body that waits for them",
        ),
        (
            "undeclared",
            Fault.drop(signal="goo"),
            [Signal("go")],
            "drop fault on signal 'goo': unknown signal 'goo' for workflow 'undeclared': "
            "did you mean 'go'? (signals sent: go)",
        ),
    ],
)
def test_delivery_fault_targets_are_checked_before_the_run(
    workflow: str, fault: Fault, signals: list[Signal], message: str
) -> None:
    @wfsim.workflow
    async def undeclared(ctx: wfsim.WorkflowContext, _: Any) -> Any:
        return await ctx.wait_for_signal("go")

    dag = wfsim.Workflow("dag")
    dag.add_step("a", duration=1)
    workflows: dict[str, Any] = {
        "relay": relay(),
        "approval": approval,
        "dag": dag,
        "undeclared": undeclared,
    }
    with pytest.raises(WfsimError) as info:
        wfsim.run(workflows[workflow], faults=[fault], signals=signals)
    assert str(info.value) == message


@pytest.mark.spec("FAULT-20", "PLUG-4")
def test_the_fixtures_inject_delivery_faults(wfsim_sim: Any, wfsim_faults: Any) -> None:
    wfsim_faults.add(Fault.delay(event="Item", by=5))
    result = wfsim_sim.run(relay())
    assert (result.status, result.makespan) == ("completed", 7)


@pytest.mark.spec("FAULT-21", "FAULT-23", "EVT-1", "EVT-6")
def test_faults_on_the_start_event_delay_or_prevent_the_whole_run() -> None:
    late = wfsim.run(relay(), faults=[Fault.delay(event="StartEvent", by=5)])
    assert (late.status, late.makespan) == ("completed", 7)
    assert kinds(late, "event_delivered")[0] == (5.0, "event_delivered", "first")
    never = wfsim.run(relay(), faults=[Fault.drop(event="StartEvent")])
    assert never.status == "timed_out"
    assert "no step returned a StopEvent" in never.message
    assert kinds(never, "event_delivered", "attempt_started") == []
    twice = wfsim.run(relay(), faults=[Fault.duplicate(event="StartEvent")])
    assert [s for _, _, s in kinds(twice, "event_delivered")][:2] == ["first", "first:2"]
    assert twice.result == "done 1"
