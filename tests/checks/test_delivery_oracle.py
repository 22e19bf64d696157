"""The delivery-fault oracle (FAULT-20..23): silent on engine runs, loud on tampered traces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from tests.core.test_delivery_faults import Item, Other, Special, approval, collector, relay
from wfsim import Fault, Signal, TraceEvent
from wfsim.checks import check_all, check_deliveries

S = 1_000_000_000


def found(violations: Sequence[Any]) -> list[tuple[str, str]]:
    return [(v.rule, v.message) for v in violations]


def rebuild(events: Sequence[TraceEvent]) -> wfsim.Trace:
    return wfsim.Trace([attrs.evolve(e, seq=i) for i, e in enumerate(events)])


def index(events: Sequence[TraceEvent], kind: str, **fields: Any) -> int:
    return next(
        i
        for i, e in enumerate(events)
        if e.kind == kind and all(e.get(k) == v for k, v in fields.items())
    )


# -- silent on the reference engine ---------------------------------------------------------

WORKFLOWS = {
    "relay": relay(),
    "collector": collector(
        [Special(n=1), Item(n=2), Other(n=3), Item(n=4)], [Item, Item, Other], gap=0.5
    ),
}
EVENT_TYPES = ["Item", "Other", "Special", "StopEvent", "StartEvent", "*", "I*"]


@st.composite
def delivery_plans(draw: st.DrawFn, what: str, names: list[str]) -> list[Fault]:
    plan: list[Fault] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["drop", "duplicate", "delay"]))
        target = {what: draw(st.sampled_from(names))}
        common: dict[str, Any] = {
            "occurrences": draw(st.none() | st.lists(st.integers(1, 3), min_size=1, max_size=2)),
            "probability": draw(st.none() | st.sampled_from([0, 0.3, 0.7, 1])),
        }
        if kind == "drop":
            plan.append(Fault.drop(**target, **common))
        elif kind == "duplicate":
            plan.append(Fault.duplicate(**target, copies=draw(st.integers(1, 2)), **common))
        else:
            shape = draw(st.sampled_from(["by", "uniform", "exponential"]))
            delay: dict[str, Any] = {
                "by": {"by": draw(st.sampled_from([0.25, 1, 3]))},
                "uniform": {"uniform": (0, draw(st.sampled_from([0.5, 2])))},
                "exponential": {"exponential": 1},
            }[shape]
            plan.append(Fault.delay(**target, **delay, **common))
    return plan


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(WORKFLOWS)),
    plan=delivery_plans("event", EVENT_TYPES),
    seed=st.integers(0, 2**16),
)
@pytest.mark.spec("FAULT-20", "FAULT-21", "FAULT-22", "FAULT-23", "ORACLE-20")
def test_the_oracles_are_silent_on_engine_runs_under_event_faults(
    name: str, plan: list[Fault], seed: int
) -> None:
    workflow = WORKFLOWS[name]
    plan = [f for f in plan if f.step != "Other" or name == "collector"]  # relay has no Other
    result = wfsim.run(workflow, seed=seed, faults=plan)
    assert found(check_all(workflow, plan, result.trace)) == []


@pytest.mark.spec("FAULT-23", "ORACLE-20")
def test_deliveries_due_at_the_runs_last_instant_may_not_all_come() -> None:
    # Three starts each delay an Item to t=1.5s; the second delivered completes a
    # collection whose StopEvent ends the run at that instant: the third never comes.
    workflow = WORKFLOWS["collector"]
    plan = [
        Fault.delay(event="Item", by=1),
        Fault.duplicate(event="StartEvent", copies=2),
    ]
    result = wfsim.run(workflow, seed=0, faults=plan)
    delivered = [e for e in result.trace if e.kind == "event_delivered" and e.t == 1.5]
    assert (result.makespan, len(delivered)) == (1.5, 2)
    assert found(check_all(workflow, plan, result.trace)) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=delivery_plans("signal", ["approval", "appr*"]), seed=st.integers(0, 2**16))
@pytest.mark.spec("FAULT-20", "FAULT-22", "FAULT-23", "ORACLE-20")
def test_the_oracles_are_silent_on_engine_runs_under_signal_faults(
    plan: list[Fault], seed: int
) -> None:
    signals = [
        Signal("approval", at="10m", payload=1),
        Signal("approval", at="10m", payload=2),
        Signal("approval", at="40m", payload=3),
    ]
    result = wfsim.run(approval, input={"twice": True}, seed=seed, faults=plan, signals=signals)
    assert found(check_all(approval, plan, result.trace)) == []


@pytest.mark.spec("ORACLE-20", "EVT-1")
def test_a_stop_event_ends_the_run_while_an_invocation_waits_to_retry() -> None:
    # Found by the delivery oracle: the cancelled invocation's retry timer kept the run
    # going until it was due, so the run ended 9.5s after its StopEvent.
    class Go(wfsim.Event):
        pass

    wf = wfsim.EventWorkflow("retrying", timeout=100)

    @wf.step(accepts=wfsim.StartEvent)
    async def start(ctx: wfsim.StepContext, ev: wfsim.Event) -> wfsim.StopEvent:
        ctx.send_event(Go())
        await ctx.sleep(1)
        return wfsim.StopEvent(result="stop")

    @wf.step(accepts=Go, retry=wfsim.RetryPolicy(max_attempts=3, initial_interval=10))
    async def work(ctx: wfsim.StepContext, ev: wfsim.Event) -> None:
        await ctx.sleep(0.5)
        raise ValueError("no")

    result = wfsim.run(wf)
    assert (result.status, result.result, result.makespan) == ("completed", "stop", 1)
    delayed = [Fault.delay(event="StopEvent", by=2)]
    late = wfsim.run(wf, faults=delayed)
    assert late.makespan == 3
    assert check_all(wf, delayed, late.trace) == []


@pytest.mark.spec("ORACLE-20", "EVT-1", "EVT-2")
def test_a_sent_stop_event_and_exact_routing_keep_the_oracle_silent() -> None:
    wf = wfsim.EventWorkflow("sent", timeout=10)

    @wf.step(accepts=wfsim.StartEvent)
    async def start(ctx: wfsim.StepContext, ev: wfsim.Event) -> None:
        ctx.send_event(Special(n=1))  # reaches no step: 'exact' accepts Item only
        ctx.send_event(wfsim.StopEvent(result="sent"))  # ends nothing
        ctx.send_event(Item(n=2))

    @wf.step(accepts=Item)
    async def exact(ctx: wfsim.StepContext, ev: wfsim.Event) -> wfsim.StopEvent:
        await ctx.sleep(1)
        return wfsim.StopEvent(result=ev.n)

    plan = [Fault.delay(event="StopEvent", by=3, occurrences=1), Fault.duplicate(event="Special")]
    result = wfsim.run(wf, faults=plan)
    assert (result.status, result.result, result.makespan) == ("completed", 2, 1)
    assert [e.step for e in result.trace if e.kind == "event_delivered"] == ["start", "exact"]
    assert check_all(wf, plan, result.trace) == []


# -- loud on tampered traces ----------------------------------------------------------------


@pytest.mark.spec("FAULT-20", "ORACLE-20")
def test_a_fault_outside_the_plan_and_a_missing_one_are_reported() -> None:
    wf = relay()
    plan = [Fault.duplicate(event="Item")]
    events = list(wfsim.run(wf, faults=plan).trace)
    # Judged against another plan, the recorded duplicate is outside it...
    other = [Fault.duplicate(event="Item", occurrences=[2])]
    assert found(check_deliveries(wf, other, rebuild(events))) == [
        (
            "FAULT-20",
            "fault_injected {'kind': 'duplicate', 'event': 'Item', 'occurrence': 1, "
            "'copies': 1} at t=1s matches no delivery fault of the plan for occurrence 1 of "
            "event 'Item'",
        )
    ]
    # ...and without its record, the duplicate that must apply was never injected.
    i = index(events, "fault_injected")
    assert found(check_deliveries(wf, plan, rebuild(events[:i] + events[i + 1 :])))[0] == (
        "FAULT-20",
        "the duplicate fault on event 'Item' applies to occurrence 1 of event 'Item' "
        "(emitted at t=1s), but no fault_injected records it",
    )


@pytest.mark.spec("FAULT-21", "ORACLE-20")
def test_a_dropped_event_that_is_delivered_is_reported() -> None:
    wf = relay()
    plan = [Fault.drop(event="Item")]
    events = list(wfsim.run(wf, faults=plan).trace)
    i = index(events, "fault_injected")
    delivered = TraceEvent(0, events[i].t_ns, "event_delivered", "finish", None, {"event": "Item"})
    tampered = rebuild([*events[: i + 1], delivered, *events[i + 1 :]])
    assert found(check_deliveries(wf, plan, tampered)) == [
        ("FAULT-21", "event 'Item' emitted at t=1s is dropped, yet it is delivered to 'finish'")
    ]


@pytest.mark.spec("FAULT-22", "ORACLE-20")
def test_a_duplicate_delivered_once_is_reported() -> None:
    wf = relay()
    plan = [Fault.duplicate(event="Item", copies=2)]
    events = list(wfsim.run(wf, faults=plan).trace)
    i = index(events, "event_delivered", event="Item")
    tampered = rebuild(events[:i] + events[i + 2 :])  # one delivery and its step_ready gone
    assert found(check_deliveries(wf, plan, tampered)) == [
        (
            "FAULT-22",
            "occurrence 1 of event 'Item' (emitted at t=1s) is delivered 2 time(s); with 2 "
            "extra copies to 1 receiving step(s) it is delivered 3 time(s)",
        )
    ]


@pytest.mark.spec("FAULT-23", "ORACLE-20")
def test_a_delayed_delivery_at_the_wrong_time_is_reported() -> None:
    wf = relay()
    plan = [Fault.delay(event="Item", by=5)]
    events = list(wfsim.run(wf, faults=plan).trace)
    i = index(events, "event_delivered", event="Item")
    early = attrs.evolve(events[i], t_ns=events[i].t_ns - S)
    tampered = rebuild([*events[:i], early, *events[i + 1 :]])
    assert found(check_deliveries(wf, plan, tampered)) == [
        (
            "FAULT-23",
            "event 'Item' is delivered at t=5s with no emission before it and no delayed "
            "delivery due then",
        ),
        (
            "FAULT-23",
            "delayed event 'Item' (emitted at t=1s) is due at t=6s, 1 delivery(ies), but 0 "
            "happened then",
        ),
    ]
    # A delayed StopEvent ends the run when it arrives, not later.
    stop_plan = [Fault.delay(event="StopEvent", by=3)]
    events = list(wfsim.run(wf, faults=stop_plan).trace)
    late_end = attrs.evolve(events[-1], t_ns=events[-1].t_ns + S)
    assert found(check_deliveries(wf, stop_plan, rebuild([*events[:-1], late_end]))) == [
        (
            "FAULT-23",
            "the StopEvent emitted at t=2s is delayed to t=5s, when it ends the run, yet the "
            "run went on until t=6s",
        )
    ]


@pytest.mark.spec("FAULT-22", "FAULT-23", "ORACLE-20")
def test_signal_duplicates_and_delays_that_did_not_happen_are_reported() -> None:
    signals = [Signal("approval", at="10m", payload="yes")]
    plan = [Fault.duplicate(signal="approval")]
    events = list(wfsim.run(approval, signals=signals, faults=plan).trace)
    i = index(events, "signal_received")
    assert found(check_deliveries(approval, plan, rebuild(events[:i] + events[i + 1 :]))) == [
        (
            "FAULT-22",
            "occurrence 1 of signal 'approval' (arrived at t=10m) is received 2 time(s) at once "
            "after its faults, but the trace goes on with signal_received, run_finished",
        )
    ]
    plan = [Fault.delay(signal="approval", by="5m")]
    run = wfsim.run(approval, input={"twice": True}, signals=signals, faults=plan)
    events = list(run.trace)  # the body then waits an hour for a second approval
    i = index(events, "signal_received")
    moved = attrs.evolve(events[i], t_ns=events[i].t_ns + S)
    assert found(check_deliveries(approval, plan, rebuild([*events[:i], moved, *events[i + 1 :]])))[
        0
    ] == (
        "FAULT-23",
        "occurrence 1 of signal 'approval' (arrived at t=10m) is delayed by 5m, so it is "
        "received 1 time(s) at t=15m, but 0 signal_received happened then",
    )


@pytest.mark.spec("ORACLE-20", "ORACLE-5")
def test_check_all_runs_the_delivery_oracle() -> None:
    wf = relay()
    plan = [Fault.drop(event="Item")]
    events = list(wfsim.run(wf, faults=plan).trace)
    i = index(events, "fault_injected")
    delivered = TraceEvent(0, events[i].t_ns, "event_delivered", "finish", None, {"event": "Item"})
    tampered = rebuild([*events[: i + 1], delivered, *events[i + 1 :]])
    assert "FAULT-21" in {v.rule for v in check_all(wf, plan, tampered)}
