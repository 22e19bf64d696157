"""Parallel-group oracle: a group runs its tasks, waits for all, merges (PAR-1..5).

Reads ``group_started``, the tasks' own events (``GROUP/TASK``) and the group's end
(``group_merged`` or ``group_failed``, then ``step_completed`` or ``step_failed``).
Task outputs recorded in ``attempt_succeeded`` let it redo the merge independently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wfsim._core._faults import Fault
from wfsim._core._time import format_seconds
from wfsim._core._trace import TraceEvent
from wfsim._core._workflow import Step

from ._index import AnyWorkflow, Run, at, due_times, violation
from ._ordering import _names
from ._violation import Violation

__all__ = ["check_groups"]

_GROUP_KINDS = frozenset({"group_started", "group_merged", "group_failed"})
_TASK_ENDS = frozenset({"step_completed", "step_failed", "step_cancelled"})


def check_groups(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """PAR-1..PAR-5 for every parallel group of a DAG.

    PAR-1: ``group_started`` (counting the declared tasks) follows the group's
    ``step_ready``, and every task is made ready then, at that instant. PAR-2: the group
    ends (``group_merged`` or ``group_failed``, then its ``step_completed`` or
    ``step_failed``) once, at the instant its last task ended and after every task
    ended. PAR-4: without ``allow_partial_success`` a failed (or timed-out) task fails
    the group with ``ParallelTaskFailed`` naming the first one in declaration order;
    otherwise ``group_merged`` lists the succeeded and failed tasks in declaration order.
    PAR-3: with every succeeded task's output in the trace, the merge is redone: its
    top-level keys are ``keys``, and ``on_conflict="raise"`` fails the group with
    ``MergeConflictError`` naming the conflicting key exactly when two tasks return it.
    PAR-5: with a ``timeout``, tasks still running at ``start + timeout`` are cancelled
    then (reason ``group timeout``) and no task ends later.
    """
    return groups(Run.of(workflow, faults, trace))


def groups(run: Run) -> list[Violation]:
    if not run.dag:
        return []
    declared = {name: step for name, step in run.steps.items() if step.group is not None}
    if not declared:
        return []
    out: list[Violation] = []
    for name, step in declared.items():
        out.extend(_group(run, name, step))
    return out


def _group(run: Run, name: str, step: Step) -> list[Violation]:
    group = step.group
    assert group is not None
    out: list[Violation] = []
    events = run.by_name.get(name, [])
    started = next((e for e in events if e.kind == "group_started"), None)
    ready = next((e for e in events if e.kind == "step_ready"), None)
    ends = [e for e in events if e.kind in ("group_merged", "group_failed")]
    tasks = [f"{name}/{t.name}" for t in group.tasks]
    if started is None:
        for task in tasks:
            first = next(iter(run.by_name.get(task, ())), None)
            if first is not None:
                out.append(
                    violation(
                        "PAR-1",
                        f"task {task!r} has {first.kind} at {at(first)}, but group {name!r} "
                        "never started",
                        first,
                    )
                )
                break
        return out
    if ready is None or ready.seq > started.seq:
        out.append(
            violation(
                "PAR-1",
                f"group {name!r} started at {at(started)} before it was ready",
                started,
                ready,
            )
        )
    if started.get("tasks") != len(tasks):
        out.append(
            violation(
                "PAR-1",
                f"group_started of {name!r} at {at(started)} counts {started.get('tasks')!r} "
                f"tasks, but the group declares {len(tasks)}",
                started,
            )
        )
    task_ends: dict[str, TraceEvent] = {}
    for task in tasks:
        mine = run.by_name.get(task, [])
        task_ready = next((e for e in mine if e.kind == "step_ready"), None)
        early = next((e for e in mine if e.seq < started.seq), None)
        if early is not None or task_ready is None or task_ready.t_ns != started.t_ns:
            shown = early or task_ready
            when = "never" if shown is None else f"{shown.kind} at {at(shown)}"
            out.append(
                violation(
                    "PAR-1",
                    f"group {name!r} started at {at(started)}, so task {task!r} is made ready "
                    f"then, but it shows {when}",
                    started,
                    shown,
                )
            )
        end = next((e for e in mine if e.kind in _TASK_ENDS), None)
        if end is not None:
            task_ends[task] = end
    out.extend(_timeout(run, name, group.timeout_ns, started, tasks, task_ends))
    if not ends:
        return out
    if len(ends) > 1:
        out.append(
            violation(
                "PAR-2",
                f"group {name!r} ended {len(ends)} times; a group ends once",
                *ends,
            )
        )
    end = ends[0]
    missing = [t for t in tasks if t not in task_ends or task_ends[t].seq > end.seq]
    if missing:
        out.append(
            violation(
                "PAR-2",
                f"group {name!r} ended ({end.kind}) at {at(end)} before task {missing[0]!r} "
                "ended; a group ends when every task has ended",
                end,
                task_ends.get(missing[0]),
            )
        )
        return out
    last = max(task_ends.values(), key=lambda e: e.seq)
    if end.t_ns != last.t_ns:
        out.append(
            violation(
                "PAR-2",
                f"group {name!r} ended ({end.kind}) at {at(end)}, but its last task "
                f"{last.step!r} ended at {at(last)}; it ends at that instant",
                last,
                end,
            )
        )
    closing = "step_completed" if end.kind == "group_merged" else "step_failed"
    after = next((e for e in events if e.seq > end.seq and e.kind != "step_ready"), None)
    if after is None or after.kind != closing:
        out.append(
            violation(
                "PAR-2",
                f"group {name!r} has {end.kind} at {at(end)}, which its {closing} follows",
                end,
                after,
            )
        )
    failed = [t for t in tasks if task_ends[t].kind != "step_completed"]
    succeeded = [t for t in tasks if task_ends[t].kind == "step_completed"]
    if failed and not group.allow_partial_success:
        message = str(end.get("message", ""))
        if (
            end.kind != "group_failed"
            or end.get("error") != "ParallelTaskFailed"
            or not _names(message, failed[0])
        ):
            out.append(
                violation(
                    "PAR-4",
                    f"task {failed[0]!r} of group {name!r} ended {task_ends[failed[0]].kind} "
                    f"at {at(task_ends[failed[0]])}, so the group fails with "
                    f"ParallelTaskFailed naming it, but it shows {end.kind} "
                    f"{end.get('error', '')}".rstrip(),
                    task_ends[failed[0]],
                    end,
                )
            )
        return out
    merged, conflict = _merge(run, succeeded, group.merge == "deep", group.on_conflict)
    if conflict is not None:
        if (
            end.kind != "group_failed"
            or end.get("error") != "MergeConflictError"
            or end.get("message") != conflict
        ):
            was = f"{end.kind} {end.get('message', '')!r}" if end.kind == "group_failed" else ""
            out.append(
                violation(
                    "PAR-3",
                    f"merging the outputs of group {name!r} in declaration order under "
                    f"on_conflict='raise' fails with MergeConflictError: {conflict}, but it "
                    f"shows {was or end.kind} at {at(end)}",
                    end,
                )
            )
        return out
    if end.kind != "group_merged":
        if end.get("error") == "MergeConflictError" and merged is None:
            return out  # outputs not in the trace: the conflict cannot be redone
        out.append(
            violation(
                "PAR-4",
                f"group {name!r} failed at {at(end)} ({end.get('error')}), but "
                + ("no task failed" if not failed else "it allows partial success")
                + " and the merge has no conflict",
                end,
            )
        )
        return out
    if end.get("tasks") != succeeded or end.get("failed") != failed:
        out.append(
            violation(
                "PAR-4",
                f"group_merged of {name!r} at {at(end)} lists tasks {end.get('tasks')} and "
                f"failed {end.get('failed')}, but the tasks that succeeded are {succeeded} and "
                f"those that failed {failed}, in declaration order",
                end,
            )
        )
    if merged is not None and end.get("keys") != sorted(map(str, merged)):
        out.append(
            violation(
                "PAR-3",
                f"group_merged of {name!r} at {at(end)} has keys {end.get('keys')}, but "
                f"merging its tasks' outputs in declaration order gives "
                f"{sorted(map(str, merged))}",
                end,
            )
        )
    return out


def _timeout(
    run: Run,
    name: str,
    timeout_ns: int | None,
    started: TraceEvent,
    tasks: list[str],
    task_ends: dict[str, TraceEvent],
) -> list[Violation]:
    out: list[Violation] = []
    deadline = None if timeout_ns is None else started.t_ns + timeout_ns
    # A timeout due while the engine was down after a crash fires at the recovery.
    dues: set[int] = set() if deadline is None else due_times(run.trace, deadline)
    for task in tasks:
        end = task_ends.get(task)
        if end is None:
            continue
        by_timeout = end.kind == "step_cancelled" and end.get("reason") == "group timeout"
        if by_timeout and end.t_ns not in dues:
            due = "it has no timeout" if deadline is None else f"t={format_seconds(deadline)}"
            out.append(
                violation(
                    "PAR-5",
                    f"task {task!r} was cancelled by the group timeout at {at(end)}, but group "
                    f"{name!r} times out at {due}",
                    started,
                    end,
                )
            )
        elif deadline is not None and not by_timeout and end.t_ns > max(dues):
            out.append(
                violation(
                    "PAR-5",
                    f"task {task!r} ended ({end.kind}) at {at(end)}, after group {name!r} "
                    f"timed out at t={format_seconds(deadline)}; what still runs then is "
                    "cancelled",
                    started,
                    end,
                )
            )
    return out


def _merge(
    run: Run, succeeded: list[str], deep: bool, on_conflict: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The merged mapping of the succeeded tasks' recorded outputs (None if one is not
    recorded) and, under ``on_conflict="raise"``, the first conflicting key path."""
    outputs: list[Any] = []
    for task in succeeded:
        done = [e for e in run.by_name.get(task, ()) if e.kind == "attempt_succeeded"]
        if not done or "output" not in done[-1].fields:
            return None, None
        outputs.append(done[-1].get("output"))
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for task, output in zip(succeeded, outputs, strict=True):
        if isinstance(output, Mapping):
            conflict = _fold(merged, owner, output, task, deep, on_conflict, "")
            if conflict is not None:
                return merged, conflict
    return merged, None


def _fold(
    into: dict[str, Any],
    owner: dict[str, str],
    new: Mapping[str, Any],
    task: str,
    deep: bool,
    on_conflict: str,
    prefix: str,
) -> str | None:
    """Fold ``new`` (``task``'s output) into ``into``; under ``raise``, the conflict's
    message as PAR-3 words it (the key, the task that had it, then ``task``)."""
    for key, value in new.items():
        path = f"{prefix}{key}"
        if key not in into:
            into[key] = _copy(value) if deep else value
            owner[path] = task
        elif deep and isinstance(into[key], dict) and isinstance(value, Mapping):
            conflict = _fold(into[key], owner, value, task, deep, on_conflict, f"{path}.")
            if conflict is not None:
                return conflict
        elif on_conflict == "raise":
            first = path
            while first not in owner and "." in first:  # a nested key came with its parent
                first = first.rsplit(".", 1)[0]
            return f"key {path!r} exists in the results of tasks {owner.get(first)!r} and {task!r}"
        elif on_conflict == "prefer_new":
            into[key] = value
            owner[path] = task
    return None


def _copy(value: Any) -> Any:
    """A copy of nested mappings, so that folding never changes the trace's own fields."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    return value
