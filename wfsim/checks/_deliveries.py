"""Delivery-fault oracle: dropped, duplicated and delayed events and signals (FAULT-20..23).

A delivery fault is recorded as a ``fault_injected`` with no step, right after the
``event_emitted`` it hits (or, for a signal, when the signal arrives), naming the
event type or signal and its occurrence. The oracle counts occurrences itself (each
``event_emitted`` of a type is the next one), works out which faults of the plan
target each, and checks what the trace shows happened to the delivery.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._time import format_seconds, to_ns
from wfsim._core._trace import TraceEvent

from ._index import AnyWorkflow, Run, at, violation
from ._violation import Violation

__all__ = ["check_deliveries"]


def check_deliveries(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """FAULT-20..23: every delivery fault recorded is one of the plan, and did what it says.

    FAULT-20: each step-less ``fault_injected`` names an event type (or signal) and an
    occurrence that a delivery fault of the plan targets (by name or pattern,
    occurrence, a probability other than 0; a delay's drawn ``extra`` within its
    shape's bounds), it is recorded right after the emission (events), a drop alone;
    every event fault that must apply (no probability, or 1) is recorded.
    FAULT-21: a dropped event reaches no step. FAULT-22: a duplicated event reaches
    each receiver ``1 + copies`` times at once; a duplicated signal is received
    ``1 + copies`` times at once. FAULT-23: a delayed event is delivered, as many
    times, exactly ``extra`` later (a delayed StopEvent ends the run then at the
    latest), and a delayed signal is received then, unless the run ended first.
    """
    return deliveries(Run.of(workflow, faults, trace))


def deliveries(run: Run) -> list[Violation]:
    plan = [f for f in run.faults if f.delivery is not None]
    if not plan and not any(_delivery_record(e) for e in run.of_kind("fault_injected")):
        return []
    end_ns = run.finished.t_ns if run.finished is not None else None
    events = list(run.trace)
    workflow = run.workflow
    out: list[Violation] = []
    count: Counter[str] = Counter()
    pending: list[tuple[int, str, int, TraceEvent]] = []  # due, type, deliveries, emission
    dropped: dict[tuple[int, str], TraceEvent] = {}  # (t, type) -> a dropped emission then
    consumed: set[int] = set()
    i = 0
    while i < len(events):
        e = events[i]
        if e.kind == "event_emitted" and isinstance(workflow, EventWorkflow):
            name = str(e.get("event"))
            count[name] += 1
            j = i + 1
            while j < len(events) and _delivery_record(events[j]):
                j += 1
            records = events[i + 1 : j]
            receivers = _receivers(workflow, name, e.get("target"))
            # What the records say happened decides how many deliveries follow at once; any
            # further ones at this instant are another occurrence's delayed delivery.
            kinds = [_fault(r).get("kind") for r in records]
            if "drop" in kinds:
                dropped.setdefault((e.t_ns, name), e)
            take = 0
            delayed = any(
                _fault(r).get("kind") == "delay" and _fault(r).get("extra") not in (0, None)
                for r in records
            )
            if receivers is not None and "drop" not in kinds and not delayed:
                copies = sum(
                    _int(_fault(r).get("copies"))
                    for r in records
                    if _fault(r).get("kind") == "duplicate"
                )
                take = receivers * (1 + copies)
            k = j
            delivered: list[TraceEvent] = []
            while (
                len(delivered) < take
                and k < len(events)
                and events[k].kind in ("event_delivered", "step_ready")
                and events[k].t_ns == e.t_ns
            ):
                if events[k].kind == "event_delivered":
                    if events[k].get("event") != name:
                        break
                    delivered.append(events[k])
                    consumed.add(events[k].seq)
                k += 1
            out += _emission(
                run, plan, e, name, count[name], records, delivered, receivers, pending
            )
            i = j
            continue
        if _delivery_record(e) and "signal" in _fault(e):
            j = i
            while j < len(events) and _same_arrival(events[j], e):
                j += 1
            out += _arrival(run, plan, events, i, j, end_ns)
            i = j
            continue
        if _delivery_record(e):
            out.append(
                violation(
                    "FAULT-20",
                    f"a delivery fault {dict(_fault(e))} is recorded at {at(e)} with no emission "
                    "before it; an event's delivery fault follows its event_emitted at once",
                    e,
                )
            )
        i += 1
    late = [e for e in events if e.kind == "event_delivered" and e.seq not in consumed]
    out += _late(run, pending, late, end_ns, dropped)
    return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _fault(e: TraceEvent) -> Mapping[str, Any]:
    fault = e.get("fault")
    return fault if isinstance(fault, Mapping) else {}


def _delivery_record(e: TraceEvent) -> bool:
    fault = _fault(e)
    return e.kind == "fault_injected" and e.step is None and ("event" in fault or "signal" in fault)


def _same_arrival(e: TraceEvent, first: TraceEvent) -> bool:
    a, b = _fault(e), _fault(first)
    return (
        _delivery_record(e)
        and e.t_ns == first.t_ns
        and a.get("signal") == b.get("signal")
        and a.get("occurrence") == b.get("occurrence")
    )


def _type_names(kind: type[Any]) -> set[str]:
    names = {kind.__name__}
    sub: type[Any]
    for sub in kind.__subclasses__():
        names |= _type_names(sub)
    return names


def _receivers(workflow: EventWorkflow, name: str, target: Any) -> int | None:
    """How many steps one delivery of ``name`` reaches; None for a send that fails."""
    if name == "StopEvent":
        return 0
    steps = workflow.event_steps
    # Exact type, or subclasses too for a step with accept_event_subclasses (EVT-2).
    accepting = [
        s
        for s, step in steps.items()
        if any(
            name in (_type_names(t) if step.accept_event_subclasses else {t.__name__})
            for t in step.accepts
        )
    ]
    if target is None:
        return len(accepting)
    return 1 if target in accepting else None


def _matches(fault: Fault, name: str, number: int, recorded: Mapping[str, Any]) -> bool:
    described = dict(fault.describe_delivery(name, number))
    if fault.kind != "delay" or fault.shape == "fixed":
        return described == dict(recorded)
    described.pop("extra", None)
    extra = recorded.get("extra")
    if {k: v for k, v in recorded.items() if k != "extra"} != described:
        return False
    if isinstance(extra, bool) or not isinstance(extra, (int, float)) or extra < 0:
        return False
    return fault.shape != "uniform" or fault.extra_ns <= to_ns(extra) <= fault.high_ns


def _judge_records(
    plan: list[Fault],
    what: str,
    name: str,
    number: int,
    records: Sequence[TraceEvent],
    now_ns: int,
) -> tuple[list[Violation], list[tuple[TraceEvent, Fault]]]:
    """Each record against the plan's faults targeting (``name``, ``number``) at ``now_ns``.

    A fault whose chaos phase had ended by then (``until_ns``, CAMP-41) targets nothing.
    """
    out: list[Violation] = []
    matched: list[tuple[TraceEvent, Fault]] = []
    possible = [
        f
        for f in plan
        if f.delivery == what and f.applies_to(name, number, now_ns) and f.probability != 0
    ]
    used: set[int] = set()
    for r in records:
        fits = [f for f in possible if _matches(f, name, number, _fault(r))]
        # equal faults each record once: credit the first one not credited yet
        fault = next((f for f in fits if id(f) not in used), fits[0] if fits else None)
        if fault is not None:
            used.add(id(fault))
        if fault is None:
            out.append(
                violation(
                    "FAULT-20",
                    f"fault_injected {dict(_fault(r))} at {at(r)} matches no delivery fault of "
                    f"the plan for occurrence {number} of {what} {name!r}",
                    r,
                )
            )
        else:
            matched.append((r, fault))
    drops = [r for r, f in matched if f.kind == "drop"]
    if drops and len(records) > 1:
        out.append(
            violation(
                "FAULT-20",
                f"occurrence {number} of {what} {name!r} is dropped at {at(drops[0])}, yet other "
                "faults are recorded on it; a drop is recorded alone",
                *records,
            )
        )
    return out, matched


def _emission(
    run: Run,
    plan: list[Fault],
    e: TraceEvent,
    name: str,
    number: int,
    records: Sequence[TraceEvent],
    delivered: list[TraceEvent],
    receivers: int | None,
    pending: list[tuple[int, str, int, TraceEvent]],
) -> list[Violation]:
    out, matched = _judge_records(plan, "event", name, number, records, e.t_ns)
    label = f"occurrence {number} of event {name!r} (emitted at {at(e)})"
    if receivers is None:
        return out  # a send to a step that cannot take it fails its attempt: no delivery
    dropped = any(f.kind == "drop" for _, f in matched)
    recorded = {id(f) for _, f in matched}
    if not dropped:
        for f in plan:
            certain = f.probability is None or f.probability >= 1
            if (
                f.delivery == "event"
                and certain
                and f.applies_to(name, number, e.t_ns)
                and id(f) not in recorded
            ):
                out.append(
                    violation(
                        "FAULT-20",
                        f"the {f.kind} fault on event {f.step!r} applies to {label}, but no "
                        "fault_injected records it",
                        e,
                    )
                )
    if not matched:
        return out
    if dropped:
        return out  # a delivery at this instant is judged with the late ones (FAULT-21)
    copies = sum(f.copies for _, f in matched if f.kind == "duplicate")
    delay = sum(to_ns(float(_fault(r)["extra"])) for r, f in matched if f.kind == "delay")
    expected = (1 + copies) * receivers
    if delay:
        pending.append((e.t_ns + delay, name, expected, e))
        return out
    if len(delivered) != expected:
        rule = "FAULT-22" if copies else "FAULT-20"
        out.append(
            violation(
                rule,
                f"{label} is delivered {len(delivered)} time(s); with {copies} extra "
                f"cop{'y' if copies == 1 else 'ies'} to {receivers} receiving step(s) it is "
                f"delivered {expected} time(s)",
                e,
                *records,
                *delivered,
            )
        )
    return out


def _late(
    run: Run,
    pending: list[tuple[int, str, int, TraceEvent]],
    late: list[TraceEvent],
    end_ns: int | None,
    dropped: Mapping[tuple[int, str], TraceEvent],
) -> list[Violation]:
    """Delayed deliveries: each at its due time, as many as expected, and no others."""
    out: list[Violation] = []
    due: Counter[tuple[int, str]] = Counter()
    owner: dict[tuple[int, str], TraceEvent] = {}
    for when, name, expected, e in pending:
        if name == "StopEvent" and e.get("ends_run") is not False:  # a sent one does not end it
            if end_ns is not None and end_ns > when:
                out.append(
                    violation(
                        "FAULT-23",
                        f"the StopEvent emitted at {at(e)} is delayed to "
                        f"t={format_seconds(when)}, when it ends the run, yet the run went on "
                        f"until t={format_seconds(end_ns)}",
                        e,
                        run.finished,
                    )
                )
            continue
        if end_ns is not None and when > end_ns:
            continue  # the run ended before it was due: never delivered
        due[when, name] += expected
        owner.setdefault((when, name), e)
    seen: Counter[tuple[int, str]] = Counter((d.t_ns, str(d.get("event"))) for d in late)
    for key in sorted(set(due) | set(seen)):
        when, name = key
        if seen[key] == due[key] or (
            end_ns is not None and when == end_ns and seen[key] < due[key]
        ):
            continue  # at the run's last instant, what was due may have come after its end
        first = next((d for d in late if (d.t_ns, str(d.get("event"))) == key), None)
        if key in dropped and seen[key] > due[key] and first is not None:
            e = dropped[key]
            out.append(
                violation(
                    "FAULT-21",
                    f"event {name!r} emitted at {at(e)} is dropped, yet it is delivered to "
                    f"{first.step!r}",
                    e,
                    first,
                )
            )
            continue
        if due[key]:
            message = (
                f"delayed event {name!r} (emitted at {at(owner[key])}) is due at "
                f"t={format_seconds(when)}, {due[key]} delivery(ies), but {seen[key]} happened then"
            )
        else:
            message = (
                f"event {name!r} is delivered at t={format_seconds(when)} with no emission "
                "before it and no delayed delivery due then"
            )
        out.append(violation("FAULT-23", message, owner.get(key), first))
    return out


def _arrival(
    run: Run, plan: list[Fault], events: list[TraceEvent], i: int, j: int, end_ns: int | None
) -> list[Violation]:
    """One signal arrival's fault records, ``events[i:j]``, and what follows them."""
    first = events[i]
    name = str(_fault(first).get("signal"))
    number = _fault(first).get("occurrence")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        return [
            violation(
                "FAULT-20",
                f"the delivery fault on signal {name!r} at {at(first)} names no occurrence",
                first,
            )
        ]
    out, matched = _judge_records(plan, "signal", name, number, events[i:j], first.t_ns)
    if not matched or any(f.kind == "drop" for _, f in matched):
        return out  # another arrival at this instant may follow a drop: nothing to count
    copies = sum(f.copies for _, f in matched if f.kind == "duplicate")
    delay = sum(to_ns(float(_fault(r)["extra"])) for r, f in matched if f.kind == "delay")
    label = f"occurrence {number} of signal {name!r} (arrived at {at(first)})"
    if delay:
        when = first.t_ns + delay
        if end_ns is not None and when >= end_ns:
            return out
        got = [
            e
            for e in events
            if e.kind == "signal_received" and e.t_ns == when and e.get("signal") == name
        ]
        if len(got) < 1 + copies:
            out.append(
                violation(
                    "FAULT-23",
                    f"{label} is delayed by {format_seconds(delay)}, so it is received "
                    f"{1 + copies} time(s) at t={format_seconds(when)}, but {len(got)} "
                    "signal_received happened then",
                    first,
                    *got,
                )
            )
        return out
    following = events[j : j + 1 + copies]
    if len(following) < 1 + copies or any(
        e.kind != "signal_received" or e.get("signal") != name for e in following
    ):
        rule = "FAULT-22" if copies else "FAULT-20"
        out.append(
            violation(
                rule,
                f"{label} is received {1 + copies} time(s) at once after its faults, but the "
                f"trace goes on with {', '.join(e.kind for e in following) or 'nothing'}",
                first,
                *following,
            )
        )
    return out
