"""Event-workflow oracle: collected events and their buffers (EVT-4), workers (EVT-3).

Each ``events_collected`` records what the collector expected, the events it
returned, the invocation that brought each one (``sources``) and where the trace
stood when each was buffered (``arrived``: the trace's length then). From these and
the deliveries, the oracle checks the collection without trusting the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._trace import STEP_ENDS, TraceEvent

from ._index import AnyWorkflow, Attempt, Run, at, violation
from ._violation import Violation

__all__ = ["check_collections"]

_BAD_ENDS = frozenset({"failed", "timed_out"})


def check_collections(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """EVT-4 and EVT-3 for event workflows (nothing to check for the other styles).

    EVT-4, for every ``events_collected``: the events come in the order of
    ``expected``; each was delivered (by exact type) to an invocation of the same step
    (buffers are per step) that buffered it while an attempt of it ran, an attempt
    that did not fail afterwards (a failed attempt's buffering is rolled back); the
    triggering invocation brought the last event of its type and arrived at the
    collection itself; events of one type arrived in the order they are returned;
    every event arrived after the previous full collection of that step's buffer
    (a buffer starts empty after a collection, and a surplus or unexpected event is
    dropped, never kept for the next one), and none is collected twice.
    EVT-3: no more invocations of a step are running (from ``step_ready`` to their
    end, less the backoffs before their retries) than its ``num_workers``, and they
    start in the order they were delivered.
    """
    return collections(Run.of(workflow, faults, trace))


def collections(run: Run) -> list[Violation]:
    workflow = run.workflow
    if not isinstance(workflow, EventWorkflow):
        return []
    steps = workflow.event_steps
    owner: dict[str, str] = {}  # invocation -> its event step
    delivered: dict[str, TraceEvent] = {}
    for e in run.trace:
        if e.kind == "event_delivered" and isinstance(e.step, str) and e.step not in delivered:
            delivered[e.step] = e
            base, _, count = e.step.rpartition(":")
            owner[e.step] = e.step if e.step in steps else base if count.isdigit() else e.step
    out = _workers(run, owner, delivered)
    #: (step, buffer) -> the last collection that stood (its attempt did not fail).
    last: dict[tuple[str, str], TraceEvent] = {}
    taken: dict[tuple[str, str], dict[str, TraceEvent]] = {}
    for e in run.trace:
        if e.kind != "events_collected" or not isinstance(e.step, str):
            continue
        found = _collection(run, e, owner, delivered, last)
        out.extend(found)
        key = (owner.get(e.step, e.step), str(e.get("buffer")))
        sources = e.get("sources")
        if isinstance(sources, list):
            sources = [str(source) for source in sources]
            seen = taken.setdefault(key, {})
            for source in sources:
                if source in seen and source != e.step:
                    first = seen[source]
                    out.append(
                        violation(
                            "EVT-4",
                            f"the event {source!r} brought was collected by {e.step!r} at "
                            f"{at(e)} and before, by {first.step!r} at {at(first)}; a "
                            "collected event leaves the buffer",
                            first,
                            e,
                        )
                    )
        if not _rolled_back(run, e):
            last[key] = e
            if isinstance(sources, list):
                for source in sources:
                    taken.setdefault(key, {})[source] = e
    return out


def _attempt_at(run: Run, name: str, position: int) -> Attempt | None:
    """The attempt of ``name`` that was running when the trace had ``position`` events."""
    for a in run.attempts.get(name, ()):
        end = a.end or a.cancelled
        if a.start.seq < position and (end is None or position <= end.seq):
            return a
    return None


def _rolled_back(run: Run, e: TraceEvent) -> bool:
    """Whether the attempt that recorded ``e`` failed afterwards: its collection is undone
    (the buffer goes back to what that attempt found), so it does not reset the buffer."""
    a = _attempt_at(run, str(e.step), e.seq)
    return a is not None and a.outcome in _BAD_ENDS


def _collection(
    run: Run,
    e: TraceEvent,
    owner: dict[str, str],
    delivered: dict[str, TraceEvent],
    last: dict[tuple[str, str], TraceEvent],
) -> list[Violation]:
    name = str(e.step)
    events, expected = e.get("events"), e.get("expected")
    sources, arrived = e.get("sources"), e.get("arrived")
    if not (
        isinstance(events, list)
        and isinstance(expected, list)
        and isinstance(sources, list)
        and isinstance(arrived, list)
        and len(events) == len(sources) == len(arrived)
        and all(isinstance(p, int) and not isinstance(p, bool) for p in arrived)
    ):
        return [
            violation(
                "EVT-4",
                f"events_collected of {name!r} at {at(e)} lacks a list of events, expected, "
                "sources and arrived positions of one length each",
                e,
            )
        ]
    if events != expected:
        return [
            violation(
                "EVT-4",
                f"{name!r} collected {events} at {at(e)}, but it expected {expected}; a "
                "collection returns the events in the order of expected",
                e,
            )
        ]
    out: list[Violation] = []
    step = owner.get(name, name)
    key = (step, str(e.get("buffer")))
    previous = last.get(key)
    if name not in sources:
        out.append(
            violation(
                "EVT-4",
                f"{name!r} completed a collection at {at(e)}, but the event it was handling is "
                f"not among the collected ones ({', '.join(map(str, sources))})",
                e,
            )
        )
    latest: dict[str, tuple[str, int]] = {}
    for kind, source, position in zip(events, sources, arrived, strict=True):
        source = str(source)
        came = delivered.get(source)
        if owner.get(source) != step or came is None:
            out.append(
                violation(
                    "EVT-4",
                    f"{name!r} collected at {at(e)} an event from {source!r}, which is not an "
                    f"invocation of step {step!r}; buffers are per step",
                    came,
                    e,
                )
            )
            continue
        if came.get("event") != kind:
            out.append(
                violation(
                    "EVT-4",
                    f"{name!r} collected at {at(e)} the event of {source!r} as a {kind}, but "
                    f"{source!r} was delivered a {came.get('event')}; matching is by exact type",
                    came,
                    e,
                )
            )
        if source == name:
            if position != e.seq:
                out.append(
                    violation(
                        "EVT-4",
                        f"{name!r} completed its collection at {at(e)} (#{e.seq}), but its own "
                        f"event is recorded as arriving at #{position}",
                        e,
                    )
                )
        else:
            attempt = _attempt_at(run, source, position)
            undone = (
                attempt is not None
                and attempt.outcome in _BAD_ENDS
                and attempt.end is not None
                and attempt.end.seq < e.seq
            )
            if attempt is None or undone:
                why = (
                    "while no attempt of it ran"
                    if attempt is None
                    else f"by attempt {attempt.number}, which {attempt.outcome} before the "
                    "collection, so its buffering was undone"
                )
                out.append(
                    violation(
                        "EVT-4",
                        f"{name!r} collected at {at(e)} the event of {source!r}, buffered at "
                        f"#{position} {why}",
                        None if attempt is None else attempt.start,
                        e,
                    )
                )
            elif previous is not None and position <= previous.seq:
                out.append(
                    violation(
                        "EVT-4",
                        f"{name!r} collected at {at(e)} the event of {source!r}, buffered at "
                        f"#{position}, before {previous.step!r} emptied buffer {key[1]!r} with "
                        f"its collection at {at(previous)} (#{previous.seq}); it was collected "
                        "then or dropped, never kept for the next collection",
                        attempt.start,
                        previous,
                        e,
                    )
                )
        before = latest.get(kind)
        if before is not None and before[1] > position:  # equal: buffered at one instant
            out.append(
                violation(
                    "EVT-4",
                    f"{name!r} collected at {at(e)} two {kind} events, from {before[0]!r} "
                    f"(buffered at #{before[1]}) before {source!r} (at #{position}); events of "
                    "one type come in arrival order, the triggering one last",
                    e,
                )
            )
        latest[kind] = (source, position)
    return out


def _workers(run: Run, owner: dict[str, str], delivered: dict[str, TraceEvent]) -> list[Violation]:
    """EVT-3: at most ``num_workers`` running invocations per step, started in delivery order.

    An invocation holds a worker from ``step_ready`` to its end, except while it
    waits for a retry (``retry_scheduled`` to its next ``attempt_started``).
    """
    workflow = run.workflow
    assert isinstance(workflow, EventWorkflow)
    limits = {name: s.num_workers for name, s in workflow.event_steps.items()}
    out: list[Violation] = []
    running: dict[str, set[str]] = {}
    ready_order: dict[str, list[str]] = {}
    reported: set[str] = set()
    for e in run.trace:
        name = e.step
        if not isinstance(name, str) or name not in owner:
            continue
        step = owner[name]
        retry = e.kind == "attempt_started" and (e.attempt or 1) > 1
        if e.kind == "step_ready" or retry:
            now = running.setdefault(step, set())
            now.add(name)
            if not retry:
                ready_order.setdefault(step, []).append(name)
            limit = limits.get(step)
            if limit is not None and len(now) > limit and step not in reported:
                reported.add(step)
                out.append(
                    violation(
                        "EVT-3",
                        f"at {at(e)} {len(now)} invocations of step {step!r} were running "
                        f"({', '.join(sorted(now))}), more than its num_workers={limit}",
                        e,
                    )
                )
        elif e.kind in STEP_ENDS or e.kind == "retry_scheduled":
            # A retry waits out its backoff without a worker (LlamaIndex's queue).
            running.get(step, set()).discard(name)
    for step, order in ready_order.items():
        by_delivery = sorted(order, key=lambda n: delivered[n].seq)
        if order != by_delivery:
            first = next(a for a, b in zip(order, by_delivery, strict=True) if a != b)
            out.append(
                violation(
                    "EVT-3",
                    f"invocations of step {step!r} started in the order {', '.join(order)}, "
                    f"but were delivered in the order {', '.join(by_delivery)}; a step's queue "
                    f"is first in, first out ({first!r} went early)",
                    delivered[first],
                )
            )
    return out
