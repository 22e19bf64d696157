"""Crash oracle: the engine died and restarted from its own history (FAULT-10, FAULT-11,
FAULT-12 in specs/faults.md)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wfsim._core._faults import Fault
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._trace import TraceEvent
from wfsim._core._workflow import Workflow

from ._index import Run, at, delay_ns, lost_attempts, violation
from ._violation import Violation

__all__ = ["check_crashes"]

_STARTS = frozenset({"attempt_started", "compensation_started"})
_DONE = frozenset({"step_completed", "compensation_completed"})
#: What may follow a crash before its recovery: the time limit cutting the run off.
_WHILE_DOWN = frozenset({"step_cancelled", "run_finished"})


def check_crashes(
    workflow: Workflow | ImperativeWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """FAULT-10, FAULT-11, FAULT-12 and FAULT-17: crash recovery kept the run's history.

    FAULT-10: each ``crashed`` follows the ``fault_injected`` of a crash fault on the
    same attempt and lists that attempt as lost; nothing happens until ``recovered``,
    exactly ``restart_after`` later (unless the time limit ends the run first).
    FAULT-11: every attempt lost in a crash is re-attempted after the recovery (a new
    attempt of that step or compensation starts), so an effect whose completion was not
    recorded runs again. FAULT-12: no step or compensation whose completion was recorded
    before a crash starts an attempt after it. FAULT-17: a workflow body's replay
    answers each call with exactly its recorded outcome (``call_replayed``).
    """
    return crashes(Run.of(workflow, faults, trace))


def crashes(run: Run) -> list[Violation]:
    if not run.of_kind("crashed") and not run.of_kind("call_replayed"):
        return []  # the common case: nothing crashed, nothing replayed
    out: list[Violation] = []
    events = list(run.trace)
    for i, e in enumerate(events):
        if e.kind != "crashed":
            continue
        out.extend(_crash_shape(run, events, i))
        out.extend(_history_kept(events, i))
    out.extend(_replays_recorded(events))
    return out


def _replays_recorded(events: list[TraceEvent]) -> list[Violation]:
    """FAULT-17: a body's replay answers a call with exactly the outcome recorded for it."""
    out: list[Violation] = []
    ended: dict[str, TraceEvent] = {}  # each call's recorded end: step_completed/step_failed
    output: dict[str, TraceEvent] = {}  # its last attempt_succeeded
    for e in events:
        name = e.step
        if not isinstance(name, str):
            continue
        if e.kind in ("step_completed", "step_failed", "child_completed", "child_failed"):
            ended.setdefault(name, e)
        elif e.kind == "attempt_succeeded":
            output[name] = e
        elif e.kind == "call_replayed":
            end = ended.get(name)
            label = f"the replay of {name!r} at {at(e)}"
            if end is None:
                out.append(
                    violation(
                        "FAULT-17",
                        f"{label} answered a call whose outcome was never recorded; a replay "
                        "answers only calls that ended before it",
                        e,
                    )
                )
                continue
            if end.kind in ("step_failed", "child_failed"):
                want: dict[str, object] = {"error": end.get("error")}
            else:
                done = output.get(name)
                want = {"output": done.get("output")} if done is not None else {}
                if want.get("output") is None:
                    want = {}
            got = {k: e.fields[k] for k in ("output", "error") if k in e.fields}
            if end.kind == "child_completed":
                continue  # a child's result is its body's, not traced as an output
            if got != want:
                out.append(
                    violation(
                        "FAULT-17",
                        f"{label} gave {got or 'nothing'}, but the run recorded {want or 'no '}"
                        f"{'' if want else 'output'} for it at {at(end)}; a replay returns "
                        "exactly the recorded outcome",
                        output.get(name),
                        end,
                        e,
                    )
                )
    return out


def _crash_shape(run: Run, events: list[TraceEvent], i: int) -> list[Violation]:
    """FAULT-10 and FAULT-11 for the crash at ``events[i]``."""
    out: list[Violation] = []
    crash = events[i]
    label = f"the crash at {at(crash)} ({crash.step!r} attempt {crash.attempt})"
    before = events[i - 1] if i > 0 else None
    fault = before.get("fault") if before is not None else None
    if (
        before is None
        or before.kind != "fault_injected"
        or (before.step, before.attempt) != (crash.step, crash.attempt)
        or not isinstance(fault, dict)
        or fault.get("kind") != "crash"
    ):
        out.append(
            violation(
                "FAULT-10",
                f"{label} does not follow the fault_injected of a crash fault on that attempt; "
                "every crash is traced as fault_injected first",
                before,
                crash,
            )
        )
    lost = lost_attempts(crash)
    if crash.get("point") is None and (crash.step, crash.attempt) not in lost:
        out.append(
            violation(
                "FAULT-10",
                f"{label} does not list its own attempt as lost; the attempt that crashed is "
                "in flight",
                crash,
            )
        )
    restart = crash.get("restart_after")
    restart_ns = delay_ns(restart)
    recovered: TraceEvent | None = None
    for e in events[i + 1 :]:
        if e.kind == "recovered":
            recovered = e
            break
        if e.kind not in _WHILE_DOWN:
            out.append(
                violation(
                    "FAULT-10",
                    f"{e.kind} of {e.step!r} at {at(e)} happened while the engine was down after "
                    f"{label}; nothing happens before it recovers",
                    crash,
                    e,
                )
            )
            return out
    if recovered is None:
        if run.status != "timed_out":
            out.append(
                violation(
                    "FAULT-10",
                    f"{label} is never followed by recovered, and the run did not time out",
                    crash,
                    run.finished,
                )
            )
        return out
    if restart_ns is not None and recovered.t_ns != crash.t_ns + restart_ns:
        out.append(
            violation(
                "FAULT-10",
                f"the engine recovered at {at(recovered)} from {label}; with "
                f"restart_after={restart} it recovers exactly then, not later or earlier",
                crash,
                recovered,
            )
        )
    j = events.index(recovered)
    for name, number in lost:
        again = next(
            (
                e
                for e in events[j + 1 :]
                if e.kind in _STARTS
                and e.step == name
                and isinstance(e.attempt, int)
                and e.attempt > number
            ),
            None,
        )
        cut_off = any(e.kind == "step_cancelled" and e.step == name for e in events[j + 1 :])
        if again is None and not cut_off:
            out.append(
                violation(
                    "FAULT-11",
                    f"attempt {number} of {name!r} was lost in {label} but never re-attempted "
                    f"after the engine recovered at {at(recovered)}",
                    crash,
                    recovered,
                )
            )
    return out


def _history_kept(events: list[TraceEvent], i: int) -> list[Violation]:
    """FAULT-12: what completed before the crash at ``events[i]`` does not run again."""
    crash = events[i]
    done: dict[str, TraceEvent] = {}
    for e in events[:i]:
        if e.kind in _DONE and isinstance(e.step, str):
            done.setdefault(e.step, e)
    out: list[Violation] = []
    seen: set[str] = set()
    for e in events[i + 1 :]:
        name = e.step
        if e.kind in _STARTS and isinstance(name, str) and name in done and name not in seen:
            seen.add(name)
            out.append(
                violation(
                    "FAULT-12",
                    f"{name!r} completed at {at(done[name])}, before the crash at {at(crash)}, "
                    f"yet attempt {e.attempt} started at {at(e)}; a restart keeps completed "
                    "results and never re-runs them",
                    done[name],
                    crash,
                    e,
                )
            )
    return out
