"""The collection oracle (EVT-4, EVT-3): silent on engine runs, loud on tampered collections."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

import wfsim
from examples.llamaindex_flows import concurrent_flow_same
from wfsim import Event, EventWorkflow, Fault, RetryPolicy, StartEvent, StopEvent, TraceEvent
from wfsim.checks import check_all, check_collections

REPO = pathlib.Path(__file__).resolve().parents[2]


class A(Event):
    pass


class B(Event):
    pass


class C(Event):
    pass


class SubA(A):
    pass


TYPES: dict[str, type[Event]] = {"A": A, "B": B, "C": C, "SubA": SubA}


def found(violations: Sequence[Any]) -> list[tuple[str, str]]:
    return [(v.rule, v.message) for v in violations]


def rebuild(events: Sequence[TraceEvent]) -> wfsim.Trace:
    return wfsim.Trace([attrs.evolve(e, seq=i) for i, e in enumerate(events)])


@dataclass(frozen=True)
class Flow:
    workflow: EventWorkflow
    faults: tuple[Fault, ...]
    seed: int


def collector_flow(
    sends: list[tuple[str, float]],
    expected: list[str],
    *,
    workers: int,
    pause: float,
    fails_on: frozenset[int],
    second: list[str] | None,
    retry: RetryPolicy | None,
) -> EventWorkflow:
    """start sends events (type, seconds to wait after); collect gathers them, maybe into
    a second buffer too, pausing before it collects and failing on some attempts."""
    wf = EventWorkflow("collecting")

    @wf.step(accepts=StartEvent)
    async def start(ctx: wfsim.StepContext, ev: Event) -> Any:
        for i, (kind, wait) in enumerate(sends):
            ctx.send_event(TYPES[kind](n=i))
            await ctx.sleep(wait)
        await ctx.sleep(1)
        return StopEvent(result="done")

    # SubA reaches it (accept_event_subclasses), yet collect_events still matches exactly.
    @wf.step(accepts=[A, B, C], num_workers=workers, retry=retry, accept_event_subclasses=True)
    async def collect(ctx: wfsim.StepContext, ev: Event) -> None:
        if pause:
            await ctx.sleep(pause * (ev.n % 3))
        ctx.collect_events(ev, [TYPES[k] for k in expected])
        if second is not None:
            ctx.collect_events(ev, [TYPES[k] for k in second], buffer_id="second")
        if ctx.attempt in fails_on:
            await ctx.sleep(0.25)
            raise RuntimeError("collector failed")

    return wf


@st.composite
def flows(draw: DrawFn) -> Flow:
    kinds = st.sampled_from(["A", "B", "C", "SubA"])
    sends = draw(
        st.lists(st.tuples(kinds, st.sampled_from([0, 0, 0.5, 1])), min_size=1, max_size=8)
    )
    expected = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=3))
    second = draw(st.one_of(st.none(), st.lists(st.sampled_from(["A", "B"]), max_size=2)))
    retry = draw(st.sampled_from([None, RetryPolicy(max_attempts=3, initial_interval=0.5)]))
    wf = collector_flow(
        sends,
        expected,
        workers=draw(st.integers(1, 3)),
        pause=draw(st.sampled_from([0, 0, 0.5])),
        fails_on=frozenset(draw(st.sets(st.integers(1, 2), max_size=1))),
        second=second,
        retry=retry,
    )
    faults: list[Fault] = []
    if draw(st.booleans()):
        faults.append(
            Fault.error(
                draw(st.sampled_from(["collect", "collect:2", "collect:*"])),
                attempts=[1],
                at=draw(st.sampled_from(["start", "end"])),
            )
        )
    return Flow(wf, tuple(faults), draw(st.integers(0, 1000)))


@pytest.mark.spec("EVT-3", "EVT-4", "ORACLE-3", "ORACLE-9")
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_every_oracle_is_silent_on_random_collections(flow: Flow) -> None:
    trace = wfsim.run(flow.workflow, seed=flow.seed, faults=flow.faults, time_limit=60).trace
    assert check_all(flow.workflow, flow.faults, trace) == [], trace.format()


# -- tampering -------------------------------------------------------------------------------

SENT = [("A", 1), ("A", 1), ("B", 1), ("B", 1), ("A", 1)]
FLOW = collector_flow(
    SENT, ["A", "B"], workers=1, pause=0, fails_on=frozenset(), second=None, retry=None
)


def flow_events() -> list[TraceEvent]:
    """Case 3 of the demonstrations measured on llama-index-workflows (specs/sources.md 2):
    a1 and a2 buffered-then-dropped, b1 collects [a1, b1] at 2s, b2 buffered, a3 collects
    [a3, b2] at 4s (a2 was dropped, not kept)."""
    return list(wfsim.run(FLOW).trace)


def collected(events: Sequence[TraceEvent]) -> list[int]:
    return [i for i, e in enumerate(events) if e.kind == "events_collected"]


def change(trace: list[TraceEvent], i: int, **fields: Any) -> None:
    trace[i] = attrs.evolve(trace[i], fields={**trace[i].fields, **fields})


@pytest.mark.spec("EVT-4", "TRACE-2", "ORACLE-9")
def test_the_trace_records_where_each_collected_event_came_from() -> None:
    events = flow_events()
    first, second = (events[i] for i in collected(events))
    assert first.fields == {
        "events": ["A", "B"],
        "buffer": "default",
        "expected": ["A", "B"],
        "sources": ["collect", "collect:3"],
        "arrived": [9, first.seq],
    }
    assert (second.step, second["sources"]) == ("collect:5", ["collect:5", "collect:4"])
    assert check_all(FLOW, (), rebuild(events)) == []


@pytest.mark.spec("EVT-4", "ORACLE-4", "ORACLE-9")
def test_events_out_of_the_expected_order_break_evt_4() -> None:
    events = flow_events()
    i = collected(events)[0]
    change(events, i, events=["B", "A"], sources=["collect:3", "collect"])
    assert found(check_collections(FLOW, (), rebuild(events))) == [
        (
            "EVT-4",
            "'collect:3' collected ['B', 'A'] at t=2s, but it expected ['A', 'B']; a collection "
            "returns the events in the order of expected",
        )
    ]


@pytest.mark.spec("EVT-4", "ORACLE-4", "ORACLE-9")
def test_a_surplus_event_kept_for_the_next_collection_breaks_evt_4() -> None:
    events = flow_events()
    i = collected(events)[1]
    a2 = next(e for e in events if e.kind == "attempt_started" and e.step == "collect:2")
    change(events, i, sources=["collect:2", "collect:4"], arrived=[a2.seq + 1, 28])
    assert found(check_collections(FLOW, (), rebuild(events))) == [
        (
            "EVT-4",
            "'collect:5' completed a collection at t=4s, but the event it was handling is not "
            "among the collected ones (collect:2, collect:4)",
        ),
        (
            "EVT-4",
            "'collect:5' collected at t=4s the event of 'collect:2', buffered at #15, before "
            "'collect:3' emptied buffer 'default' with its collection at t=2s (#21); it was "
            "collected then or dropped, never kept for the next collection",
        ),
    ]


@pytest.mark.spec("EVT-4", "ORACLE-4", "ORACLE-9")
def test_an_event_collected_twice_breaks_evt_4() -> None:
    events = flow_events()
    _, second = collected(events)
    change(events, second, sources=["collect:5", "collect:3"], arrived=[events[second].seq, 20])
    violations = found(check_collections(FLOW, (), rebuild(events)))
    assert (
        "EVT-4",
        "the event 'collect:3' brought was collected by 'collect:5' at t=4s and before, by "
        "'collect:3' at t=2s; a collected event leaves the buffer",
    ) in violations


@pytest.mark.spec("EVT-4", "ORACLE-4", "ORACLE-9")
def test_the_triggering_event_not_last_of_its_type_breaks_evt_4() -> None:
    wf = collector_flow(
        [("A", 1), ("A", 1)],
        ["A", "A"],
        workers=1,
        pause=0,
        fails_on=frozenset(),
        second=None,
        retry=None,
    )
    events = list(wfsim.run(wf).trace)
    i = collected(events)[0]
    sources, arrived = events[i]["sources"], events[i]["arrived"]
    change(events, i, sources=sources[::-1], arrived=arrived[::-1])
    assert found(check_collections(wf, (), rebuild(events))) == [
        (
            "EVT-4",
            "'collect:2' collected at t=1s two A events, from 'collect:2' (buffered at #15) "
            "before 'collect' (at #9); events of one type come in arrival order, the "
            "triggering one last",
        )
    ]


@pytest.mark.spec("EVT-4", "ORACLE-4", "ORACLE-9")
def test_a_subclass_collected_as_its_base_breaks_evt_4() -> None:
    wf = collector_flow(
        [("SubA", 1), ("B", 1)],
        ["A", "B"],
        workers=1,
        pause=0,
        fails_on=frozenset(),
        second=None,
        retry=None,
    )
    events = list(wfsim.run(wf).trace)
    assert collected(events) == []  # SubA is no A: nothing completes
    finish = next(
        i for i, e in enumerate(events) if e.kind == "attempt_succeeded" and e.step == "collect:2"
    )
    events.insert(
        finish,
        attrs.evolve(
            events[finish],
            kind="events_collected",
            fields={
                "events": ["A", "B"],
                "buffer": "default",
                "expected": ["A", "B"],
                "sources": ["collect", "collect:2"],
                "arrived": [9, finish],
            },
        ),
    )
    assert found(check_collections(wf, (), rebuild(events))) == [
        (
            "EVT-4",
            "'collect:2' collected at t=1s the event of 'collect' as a A, but 'collect' was "
            "delivered a SubA; matching is by exact type",
        )
    ]


@pytest.mark.spec("EVT-4", "ORACLE-4", "ORACLE-9")
def test_an_event_from_another_step_breaks_evt_4() -> None:
    events = flow_events()
    i = collected(events)[0]
    change(events, i, sources=["start", "collect:3"])
    assert found(check_collections(FLOW, (), rebuild(events))) == [
        (
            "EVT-4",
            "'collect:3' collected at t=2s an event from 'start', which is not an invocation "
            "of step 'collect'; buffers are per step",
        )
    ]


@pytest.mark.spec("EVT-3", "ORACLE-4", "ORACLE-9")
def test_a_second_worker_of_a_one_worker_step_breaks_evt_3() -> None:
    events = flow_events()
    i = next(i for i, e in enumerate(events) if e.kind == "step_ready" and e.step == "collect:2")
    events.insert(4, attrs.evolve(events.pop(i), t_ns=0))
    assert found(check_collections(FLOW, (), rebuild(events)))[:1] == [
        (
            "EVT-3",
            "at t=0s 2 invocations of step 'collect' were running (collect, collect:2), more "
            "than its num_workers=1",
        )
    ]


@pytest.mark.spec("EVT-4", "ORACLE-9")
def test_a_failed_collection_does_not_bring_back_an_event_whose_own_attempt_failed() -> None:
    """Found by the oracle: collect#1 buffers A, collect:2 collects it and fails, collect#1
    fails too. Restoring buffer snapshots brought A back for collect#2, which then collected
    its own event twice; undoing each attempt's own changes does not."""
    wf = collector_flow(
        [("A", 0), ("A", 0)],
        ["A", "A"],
        workers=2,
        pause=0,
        fails_on=frozenset({1}),
        second=None,
        retry=RetryPolicy(max_attempts=3, initial_interval=0.5),
    )
    trace = wfsim.run(wf).trace
    assert [(e.step, e["sources"]) for e in trace.of_kind("events_collected")] == [
        ("collect:2", ["collect", "collect:2"]),  # undone: collect:2#1 fails
        ("collect:2", ["collect", "collect:2"]),  # its retry collects both again
    ]
    assert check_all(wf, (), trace) == []


@pytest.mark.spec("EVT-4", "TRACE-2", "DET-1", "ORACLE-9")
def test_the_collection_fields_are_deterministic() -> None:
    """Same seed, same trace (sources and arrived included), here and in a fresh process
    with another PYTHONHASHSEED; other seeds explore other arrival orders."""
    wf = collector_flow(
        [("A", 0), ("B", 0), ("A", 0), ("B", 0), ("A", 0)],
        ["A", "B"],
        workers=3,
        pause=0.5,
        fails_on=frozenset({1}),
        second=["A"],
        retry=RetryPolicy(max_attempts=3, initial_interval=0.5),
    )
    sources = set()
    for seed in range(6):
        first, again = wfsim.run(wf, seed=seed).trace, wfsim.run(wf, seed=seed).trace
        assert first.digest() == again.digest()
        sources.add(tuple(tuple(e["sources"]) for e in first.of_kind("events_collected")))
    assert len(sources) > 1
    script = (
        "import wfsim; from examples.llamaindex_flows import concurrent_flow_same as wf; "
        "t = wfsim.run(wf, seed=3).trace; "
        "print(t.digest(), [e['sources'] for e in t.of_kind('events_collected')])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=REPO,
    ).stdout.strip()
    here = wfsim.run(concurrent_flow_same, seed=3).trace
    sources = [e["sources"] for e in here.of_kind("events_collected")]
    assert there == f"{here.digest()} {sources}"
