"""TRACE-1 and TRACE-2: the trace's layout, its first and last events, each kind's fields."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._trace import TraceEvent

from ._index import AnyWorkflow, Run, at, violation
from ._violation import Violation

__all__ = ["check_trace_shape"]

_STEP_KINDS = frozenset(
    {"step_ready", "step_completed", "step_failed", "step_skipped", "step_cancelled"}
)
_ATTEMPT_KINDS = frozenset(
    {
        "attempt_started",
        "attempt_succeeded",
        "attempt_failed",
        "attempt_timed_out",
        "retry_scheduled",
        "fault_injected",
        "compensation_started",
        "compensation_completed",
        "compensation_failed",
    }
)
_COMPENSATION_KINDS = frozenset(
    {
        "compensation_started",
        "compensation_completed",
        "compensation_failed",
        "compensation_skipped",
    }
)
#: The fields TRACE-2 gives each kind (``output`` and ``timeout`` are optional).
_FIELDS: dict[str, tuple[str, ...]] = {
    "run_started": ("workflow", "seed"),
    "run_finished": ("status", "result"),
    "attempt_failed": ("error", "message", "retryable"),
    "attempt_timed_out": ("timeout",),
    "retry_scheduled": ("delay", "next_attempt"),
    "step_failed": ("reason", "error"),
    "step_skipped": ("reason",),
    "step_cancelled": ("reason",),
    "fault_injected": ("fault",),
    "compensation_started": ("for_step",),
    "compensation_completed": ("for_step",),
    "compensation_failed": ("for_step", "error", "message", "retryable", "final"),
    "compensation_skipped": ("for_step", "reason"),
}
_NEEDED = {kind: frozenset(fields) for kind, fields in _FIELDS.items()}
#: What an event of each kind names: a step, a compensation, or either (compensations
#: retry, take faults and are cancelled too). Other kinds name nothing checked here.
_NAMES: dict[str, str] = {
    **dict.fromkeys(_STEP_KINDS | _ATTEMPT_KINDS, "step"),
    **dict.fromkeys(_COMPENSATION_KINDS, "compensation"),
    **dict.fromkeys(("fault_injected", "retry_scheduled", "step_cancelled"), "either"),
}


def check_trace_shape(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """TRACE-1 and TRACE-2: ``seq`` counts 0, 1, 2, ...; ``t`` never decreases; the
    trace opens with ``run_started`` and closes with ``run_finished``; every event of a
    known kind names a step (or compensation) of the workflow, an attempt where it
    takes one, and carries its kind's fields.

    Kinds this version does not know (later features add some) are accepted.
    """
    return shape(Run.of(workflow, faults, trace))


def shape(run: Run) -> list[Violation]:
    out: list[Violation] = []
    events = list(run.trace)
    if not events:
        return [
            violation(
                "TRACE-2",
                "the trace is empty; it must open with run_started and close with run_finished",
            )
        ]
    previous: TraceEvent | None = None
    for i, e in enumerate(events):
        expected_seq = 0 if previous is None else previous.seq + 1
        if e.seq != expected_seq:
            where = "the first event" if previous is None else f"after #{previous.seq}"
            out.append(
                violation(
                    "TRACE-1",
                    f"event {i} ({e.kind} at {at(e)}) has seq {e.seq}, but {where} seq "
                    f"must be {expected_seq}: seq counts 0, 1, 2, ... without gaps",
                    previous,
                    e,
                )
            )
        if previous is not None and e.t_ns < previous.t_ns:
            out.append(
                violation(
                    "TRACE-1",
                    f"time goes back from {at(previous)} (#{previous.seq} {previous.kind}) to "
                    f"{at(e)} (#{e.seq} {e.kind}); virtual time never decreases",
                    previous,
                    e,
                )
            )
        previous = e
    out.extend(_ends(run, events))
    out.extend(_each_event(run, events, _strangers(run)))
    return out


def _ends(run: Run, events: list[TraceEvent]) -> list[Violation]:
    out: list[Violation] = []
    first, last = events[0], events[-1]
    if first.kind != "run_started":
        out.append(
            violation(
                "TRACE-2",
                f"the trace opens with {first.kind} at {at(first)}; the first event must be "
                "run_started",
                first,
            )
        )
    elif first.get("workflow") != run.workflow.name:
        out.append(
            violation(
                "TRACE-2",
                f"run_started names workflow {first.get('workflow')!r}, but the workflow "
                f"checked is {run.workflow.name!r}",
                first,
            )
        )
    if last.kind != "run_finished":
        out.append(
            violation(
                "TRACE-2",
                f"the trace closes with {last.kind} at {at(last)}; the last event must be "
                "run_finished (did the run end?)",
                last,
            )
        )
    for kind, keep in (("run_started", first), ("run_finished", last)):
        for e in run.of_kind(kind):
            if e is not keep:
                place = "first" if kind == "run_started" else "last"
                out.append(
                    violation(
                        "TRACE-2",
                        f"{kind} appears at {at(e)} (#{e.seq}), not as the {place} event; "
                        "a run starts and finishes once",
                        e,
                    )
                )
    if last.kind == "run_finished":
        status = last.get("status")
        if status != "completed" and "message" not in last.fields:
            out.append(
                violation(
                    "TRACE-2",
                    f"run_finished with status {status!r} has no message; every run that did "
                    "not complete says why",
                    last,
                )
            )
    return out


def _each_event(run: Run, events: list[TraceEvent], strangers: frozenset[str]) -> list[Violation]:
    """TRACE-2 for each event: its kind's fields, and the step and attempt it names."""
    out: list[Violation] = []
    for e in events:
        kind = e.kind
        needed = _NEEDED.get(kind)
        if needed is not None and not e.fields.keys() >= needed:
            missing = [f for f in _FIELDS[kind] if f not in e.fields]
            out.append(
                violation(
                    "TRACE-2",
                    f"{kind} at {at(e)} (#{e.seq}) lacks the field(s) {', '.join(missing)}",
                    e,
                )
            )
        names = _NAMES.get(kind)
        if names is None:
            continue
        if kind == "fault_injected" and e.step is None and e.attempt is None:
            continue  # a delivery fault (an event's or a signal's, FAULT-20..25) has no step
        name = e.step
        is_step = name in run.step_names  # a group's task too: group/task
        is_comp = name in run.compensation_names
        if strangers and is_step and name in strangers:
            out.append(
                violation(
                    "TRACE-2",
                    f"{kind} at {at(e)} (#{e.seq}) names invocation {name!r}, but event workflow "
                    f"{run.workflow.name!r} has no step {name!r} (invocations are named STEP, "
                    "STEP:2, STEP:3, ...)",
                    e,
                )
            )
            continue
        known = is_comp if names == "compensation" else is_step or (names == "either" and is_comp)
        if not known:
            what = "compensation" if names == "compensation" else "step"
            out.append(
                violation(
                    "TRACE-2",
                    f"{kind} at {at(e)} (#{e.seq}) names {what} {name!r}, which workflow "
                    f"{run.workflow.name!r} does not have",
                    e,
                )
            )
            continue
        number = e.attempt
        if kind in _ATTEMPT_KINDS:
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                out.append(
                    violation(
                        "TRACE-2",
                        f"{kind} of {name!r} at {at(e)} (#{e.seq}) has attempt {number!r}; "
                        "attempts are numbered from 1",
                        e,
                    )
                )
        elif number is not None:
            out.append(
                violation(
                    "TRACE-2",
                    f"{kind} of {name!r} at {at(e)} (#{e.seq}) has attempt {number!r}; "
                    "this kind belongs to a step, not to one attempt",
                    e,
                )
            )
        if is_comp and "for_step" in e.fields and e.get("for_step") != run.owner.get(str(name)):
            out.append(
                violation(
                    "TRACE-2",
                    f"{kind} of compensation {name!r} at {at(e)} (#{e.seq}) says for_step "
                    f"{e.get('for_step')!r}, but it undoes step {run.owner.get(str(name))!r}",
                    e,
                )
            )
    return out


def _strangers(run: Run) -> frozenset[str]:
    """Invocations of an event workflow named after none of its steps (``STEP``, ``STEP:N``)."""
    workflow = run.workflow
    if not isinstance(workflow, EventWorkflow):
        return frozenset()
    steps = workflow.event_steps
    out: set[str] = set()
    for name in run.step_names:
        base, _, count = name.rpartition(":")
        if name not in steps and not (count.isdigit() and base in steps):
            out.add(name)
    return frozenset(out)
