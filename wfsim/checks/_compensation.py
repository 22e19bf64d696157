"""Saga oracles: when compensation runs (COMP-1), what is registered (COMP-2), order and
errors (COMP-4) and compensations cut off by the time limit (COMP-7)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from wfsim._core._faults import Fault
from wfsim._core._trace import TraceEvent

from ._index import AnyWorkflow, Run, at, violation
from ._ordering import failed_leaves
from ._violation import Violation

__all__ = ["check_compensations"]

_COMPENSATION_ENDS = frozenset({"compensation_completed", "compensation_failed"})


def check_compensations(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """COMP-1, COMP-2, COMP-4 and COMP-7: the saga did what the workflow's policy says.

    COMP-1: compensation happens only in a run where a step failed, and only after the
    forward work is over (no event of a step follows the first compensation event).
    COMP-2: exactly the registered compensations run or are skipped, each once: under
    ``register="after"`` those of completed steps, under ``"before"`` those of steps
    whose first attempt started. COMP-4: sequential sagas go one at a time in reverse
    registration order; with ``on_error="stop"`` a compensation that fails for good
    skips all the rest, with ``"continue"`` nothing is skipped; parallel sagas skip
    nothing and, without a concurrency limit, start every compensation at one instant.
    COMP-7: a compensation attempt still running when the run finished was cancelled.
    IMP-12: a run a NondeterminismError blocked compensates nothing.
    """
    return compensations(Run.of(workflow, faults, trace))


def compensations(run: Run) -> list[Violation]:
    names = run.compensation_names
    comp_events = [e for e in run.trace if e.step in names] if names else []
    blocked = next(iter(run.of_kind("nondeterminism")), None)
    if blocked is not None:  # IMP-12: blocked until the code is fixed, nothing undone
        first_of: dict[str, TraceEvent] = {}
        for e in comp_events:
            first_of.setdefault(str(e.step), e)
        return [
            violation(
                "IMP-12",
                f"compensation {name!r} has {e.kind} at {at(e)}, but a NondeterminismError "
                f"at {at(blocked)} blocked the run; a blocked run compensates nothing",
                blocked,
                e,
            )
            for name, e in first_of.items()
        ]
    # a body may raise without any step failing; its run's status is checked by COMP-5.
    # A DAG run compensates when it failed (TRIG-3): a failure a trigger rule or a
    # group's partial success absorbed does not fail it.
    any_failed = bool(run.of_kind("step_failed"))
    leaves = [n for n, deps in run.workflow.dependents().items() if not deps]
    unended = any(not run.terminal.get(n) for n in leaves)  # ORD-6's to report
    if run.dag and not failed_leaves(run) and not (any_failed and unended):
        why = (
            "although no leaf step failed or was skipped for a failed upstream, so the run "
            "did not fail (TRIG-3); only a failed run compensates"
            if any_failed
            else "although no step failed; a run in which no step failed compensates nothing"
        )
        first: dict[str, TraceEvent] = {}
        for e in comp_events:
            first.setdefault(str(e.step), e)
        return [
            violation("COMP-1", f"compensation {name!r} has {e.kind} at {at(e)} {why}", e)
            for name, e in first.items()
        ]
    out: list[Violation] = []
    if comp_events:
        begin = comp_events[0]
        late = next((e for e in run.trace if e.step in run.step_names and e.seq > begin.seq), None)
        if late is not None:
            out.append(
                violation(
                    "COMP-1",
                    f"compensation {begin.step!r} has {begin.kind} at {at(begin)} while the "
                    f"forward work was not over: {late.kind} of step {late.step!r} at {at(late)} "
                    "came after it",
                    begin,
                    late,
                )
            )
    registered = _registered(run)
    out.extend(_registration(run, registered))
    if run.workflow.saga.parallel:
        out.extend(_parallel(run))
    else:
        out.extend(_sequential(run, registered))
    out.extend(_cut_off(run))
    return out


def _registered(run: Run) -> dict[str, TraceEvent]:
    """Compensation name -> the event that registered it, in registration order."""
    register = run.workflow.saga.register
    kind = "step_completed" if register == "after" else "attempt_started"
    # a body's compensations are known from the trace: each names the step it undoes
    undone_by = {step: comp for comp, step in run.owner.items()}
    out: dict[str, TraceEvent] = {}
    for e in run.trace:
        if e.kind != kind or e.step is None:
            continue
        if run.dag:
            step = run.steps.get(e.step)
            comp_name = None if step is None or step.compensate is None else step.compensate.name
        else:
            comp_name = undone_by.get(e.step)
        if comp_name is not None and comp_name not in out:
            out[comp_name] = e
    return out


def _fates(run: Run) -> dict[str, list[TraceEvent]]:
    """Each compensation's first-attempt starts and skips, in trace order."""
    out: dict[str, list[TraceEvent]] = {}
    for e in run.trace:
        if (
            e.step is not None
            and e.step in run.compensation_names
            and (
                (e.kind == "compensation_started" and e.attempt == 1)
                or e.kind == "compensation_skipped"
            )
        ):
            out.setdefault(e.step, []).append(e)
    return out


def _registration(run: Run, registered: dict[str, TraceEvent]) -> list[Violation]:
    out: list[Violation] = []
    register = run.workflow.saga.register
    seen: set[str] = set()
    for e in run.trace:
        name = e.step
        if name is None or name not in run.compensation_names or name in seen:
            continue
        reg = registered.get(name)
        if reg is None or reg.seq > e.seq:
            seen.add(name)
            owner = run.owner.get(name)  # a body's trace may name none (ORACLE-1: no raise)
            never = "never completed" if register == "after" else "never started"
            only = "completed steps" if register == "after" else "steps that started"
            out.append(
                violation(
                    "COMP-2",
                    f"compensation {name!r} has {e.kind} at {at(e)} for step {owner!r}, which "
                    f"{never} before it; under register={register!r} only {only} are "
                    "compensated",
                    reg,
                    e,
                )
            )
    for name, fates in _fates(run).items():
        if len(fates) > 1:
            listed = ", ".join(f"{e.kind} at {at(e)}" for e in fates)
            out.append(
                violation(
                    "COMP-2",
                    f"compensation {name!r} has {listed}; each compensation runs (or is skipped) "
                    "once",
                    *fates,
                )
            )
    if run.finished is not None and run.status != "timed_out":
        fated = _fates(run)
        for name, reg in registered.items():
            if name not in fated:
                out.append(
                    violation(
                        "COMP-2",
                        f"compensation {name!r} was registered ({reg.kind} of "
                        f"{run.owner[name]!r} at {at(reg)}) and a step failed, but it never ran "
                        "and was not skipped",
                        reg,
                    )
                )
    return out


def _final_end(run: Run, name: str) -> TraceEvent | None:
    """The end of a compensation's last attempt, if it ended for good."""
    attempts = run.attempts.get(name, [])
    if not attempts or attempts[-1].end is None or attempts[-1].retry is not None:
        return None
    return attempts[-1].end


def _sequential(run: Run, registered: dict[str, TraceEvent]) -> list[Violation]:
    out: list[Violation] = []
    saga = run.workflow.saga
    fates = {name: events[0] for name, events in _fates(run).items()}
    order = sorted(fates, key=lambda name: fates[name].seq)
    lifo = [name for name in reversed(registered) if name in fates]
    if [n for n in order if n in registered] != lifo:
        out.append(
            violation(
                "COMP-4",
                f"compensations ran in the order {', '.join(order)}, but reverse registration "
                f"order (LIFO) is {', '.join(lifo)}",
                *(fates[name] for name in order),
            )
        )
    started = [n for n in order if fates[n].kind == "compensation_started"]
    for before, after in itertools.pairwise(started):
        done = _final_end(run, before)
        if done is None or done.seq > fates[after].seq:
            out.append(
                violation(
                    "COMP-4",
                    f"compensation {after!r} started at {at(fates[after])} while compensation "
                    f"{before!r} (started at {at(fates[before])}) had not finished; sequential "
                    "compensations run one at a time",
                    fates[before],
                    done,
                    fates[after],
                )
            )
    stopper: TraceEvent | None = None
    for name in order:
        fate = fates[name]
        if fate.kind == "compensation_skipped":
            if saga.on_error == "continue":
                out.append(
                    violation(
                        "COMP-4",
                        f"compensation {name!r} was skipped at {at(fate)}, but with "
                        "on_error='continue' every compensation runs",
                        fate,
                    )
                )
            elif stopper is None:
                out.append(
                    violation(
                        "COMP-4",
                        f"compensation {name!r} was skipped at {at(fate)} although no "
                        "compensation had failed for good",
                        fate,
                    )
                )
            continue
        if stopper is not None and saga.on_error == "stop":
            out.append(
                violation(
                    "COMP-4",
                    f"compensation {name!r} started at {at(fate)} after compensation "
                    f"{stopper.step!r} failed for good at {at(stopper)}; with on_error='stop' "
                    "the rest are skipped",
                    stopper,
                    fate,
                )
            )
        done = _final_end(run, name)
        if stopper is None and done is not None and done.kind == "compensation_failed":
            stopper = done
    return out


def _parallel(run: Run) -> list[Violation]:
    out: list[Violation] = []
    fates = {name: events[0] for name, events in _fates(run).items()}
    for name, fate in fates.items():
        if fate.kind == "compensation_skipped":
            out.append(
                violation(
                    "COMP-4",
                    f"compensation {name!r} was skipped at {at(fate)}, but with parallel=True "
                    "every compensation runs",
                    fate,
                )
            )
    starts = sorted(
        (f for f in fates.values() if f.kind == "compensation_started"), key=lambda e: e.seq
    )
    if run.workflow.max_concurrency is None and starts:
        # A crash among the starts holds the rest back until the recovery (FAULT-11).
        recovered = [e.t_ns for e in run.trace.of_kind("recovered") if e.seq > starts[0].seq]
        late = [e for e in starts if e.t_ns != starts[0].t_ns and e.t_ns not in recovered]
        if late:
            listed = ", ".join(f"{e.step!r} at {at(e)}" for e in starts)
            out.append(
                violation(
                    "COMP-4",
                    f"compensations started at different instants ({listed}); with "
                    "parallel=True they all start at once",
                    *starts,
                )
            )
    return out


def _cut_off(run: Run) -> list[Violation]:
    if run.finished is None:
        return []
    out: list[Violation] = []
    for name in run.compensation_names:
        for attempt in run.attempts.get(name, ()):
            if attempt.end is None and attempt.cancelled is None:
                out.append(
                    violation(
                        "COMP-7",
                        f"{attempt.label} started at {at(attempt.start)} was still running when "
                        f"the run finished at {at(run.finished)}, but it was not cancelled",
                        attempt.start,
                        run.finished,
                    )
                )
    return out
