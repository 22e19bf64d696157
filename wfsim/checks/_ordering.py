"""Ordering oracles: dependencies (ORD-1, ORD-2, ORD-5), concurrency (ORD-3) and
terminal states with the run's status (ORD-6, COMP-5, TIME-5)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._time import format_seconds
from wfsim._core._trace import STEP_ENDS, TraceEvent

from ._index import AnyWorkflow, Attempt, Run, at, delay_ns, lost_attempts, violation
from ._violation import Violation

__all__ = ["check_concurrency", "check_dependencies", "check_terminal_states"]

_ATTEMPT_STARTS = frozenset({"attempt_started", "compensation_started"})
_ATTEMPT_ENDS = frozenset(
    {
        "attempt_succeeded",
        "attempt_failed",
        "attempt_timed_out",
        "compensation_completed",
        "compensation_failed",
    }
)
#: What may follow a step's terminal event: a repeated end (reported on its own) and
#: the event an invocation returned, emitted once it completed (EVT-2).
#: A replay answering a body's call from its history (IMP-11) is no step activity.
_AFTER_END = STEP_ENDS | {"event_emitted", "call_replayed"}


# -- dependencies -------------------------------------------------------------------------------


def check_dependencies(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """ORD-1, ORD-2 and ORD-5: dependencies first, no idle time, failures propagate.

    ORD-1: a step's first attempt starts after every step in its ``after=`` has a
    ``step_completed``. ORD-2 (only with unbounded concurrency and an empty fault
    plan): a step is ready at the instant its last dependency completed and starts
    then. ORD-5: every transitive dependent of a failed step is skipped, never
    starts, and a skip names an upstream step that failed or was skipped before it.
    All three hold for the default trigger rule ``all_success``; the engine's own
    property test checks the other rules (TRIG-2).
    """

    return dependencies(Run.of(workflow, faults, trace))


def dependencies(run: Run) -> list[Violation]:
    out: list[Violation] = []
    completed = _first_of_kind(run, "step_completed")
    for name, attempts in run.attempts.items():
        step = run.steps.get(name)
        if step is None or not attempts or step.trigger_rule != "all_success":
            continue  # other trigger rules may start a step after a failure (TRIG-2)
        start = attempts[0].start
        for dep in step.after:
            done = completed.get(dep)
            if done is not None and done.seq < start.seq:
                continue
            when = "never completed" if done is None else f"completed later, at {at(done)}"
            out.append(
                violation(
                    "ORD-1",
                    f"step {name!r} attempt {start.attempt} started at {at(start)} before its "
                    f"dependency {dep!r} completed ({dep!r} {when})",
                    start,
                    done,
                )
            )
    if run.workflow.max_concurrency is None and not run.faults:
        out.extend(_no_idle_time(run, completed))
    out.extend(_propagation(run))
    return out


def _first_of_kind(run: Run, kind: str) -> dict[str, TraceEvent]:
    first: dict[str, TraceEvent] = {}
    for e in run.of_kind(kind):
        if e.step is not None and e.step not in first:
            first[e.step] = e
    return first


def _no_idle_time(run: Run, completed: dict[str, TraceEvent]) -> list[Violation]:
    out: list[Violation] = []
    ready = _first_of_kind(run, "step_ready")
    for name, step in run.steps.items():
        if step.trigger_rule != "all_success" or any(dep not in completed for dep in step.after):
            continue
        dones = [completed[dep] for dep in step.after]
        last = max(dones, key=lambda e: e.seq, default=None)
        due_ns = 0 if last is None else last.t_ns
        because = (
            "it has no dependencies"
            if last is None
            else (f"its last dependency {last.step!r} completed at {at(last)}")
        )
        r = ready.get(name)
        if r is None:
            if run.status is not None and run.status != "timed_out":
                out.append(
                    violation(
                        "ORD-2",
                        f"step {name!r} never became ready although {because}",
                        last,
                    )
                )
            continue
        if r.t_ns != due_ns:
            out.append(
                violation(
                    "ORD-2",
                    f"step {name!r} became ready at {at(r)}, but {because}; with unbounded "
                    "concurrency and no faults it is ready at that instant",
                    last,
                    r,
                )
            )
        attempts = run.attempts.get(name)
        if attempts and attempts[0].start.t_ns != r.t_ns:
            start = attempts[0].start
            out.append(
                violation(
                    "ORD-2",
                    f"step {name!r} became ready at {at(r)} but its first attempt started at "
                    f"{at(start)}; with unbounded concurrency and no faults it starts at once",
                    r,
                    start,
                )
            )
    return out


def _propagation(run: Run) -> list[Violation]:
    out: list[Violation] = []
    failed = _first_of_kind(run, "step_failed")
    skipped = _first_of_kind(run, "step_skipped")
    dependents = run.workflow.dependents()
    reported: set[str] = set()
    for up, fail in sorted(failed.items(), key=lambda item: item[1].seq):
        todo = list(dependents.get(up, ()))
        seen: set[str] = set()
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            step = run.steps.get(name)
            if step is not None and step.trigger_rule != "all_success":
                continue  # another trigger rule may run it anyway (TRIG-2)
            todo.extend(dependents.get(name, ()))
            if name in reported:
                continue
            late = [a.start for a in run.attempts.get(name, ()) if a.start.seq > fail.seq]
            if late:
                reported.add(name)
                out.append(
                    violation(
                        "ORD-5",
                        f"step {name!r} started attempt {late[0].attempt} at {at(late[0])} "
                        f"although its upstream step {up!r} failed at {at(fail)}; dependents "
                        "of a failed step never start",
                        fail,
                        late[0],
                    )
                )
            elif name not in skipped:
                reported.add(name)
                ended = run.terminal.get(name)
                instead = f"; it ended {ended[0].kind} at {at(ended[0])}" if ended else ""
                out.append(
                    violation(
                        "ORD-5",
                        f"step {name!r} depends on {up!r}, which failed at {at(fail)}, but was "
                        f"never skipped{instead}",
                        fail,
                        ended[0] if ended else None,
                    )
                )
    ended_badly = {**skipped, **failed}
    for name, skip in sorted(skipped.items(), key=lambda item: item[1].seq):
        step = run.steps.get(name)
        if step is None or step.trigger_rule != "all_success":
            continue
        upstream = [
            dep for dep in step.after if dep in ended_badly and ended_badly[dep].seq < skip.seq
        ]
        if not upstream:
            deps = ", ".join(map(repr, step.after)) or "none"
            out.append(
                violation(
                    "ORD-5",
                    f"step {name!r} was skipped at {at(skip)}, but none of its dependencies "
                    f"({deps}) had failed or been skipped before; only dependents of a failed "
                    "step are skipped",
                    skip,
                )
            )
            continue
        reason = str(skip.get("reason", ""))
        if not any(_names(reason, dep) for dep in upstream):
            out.append(
                violation(
                    "ORD-5",
                    f"step {name!r} was skipped at {at(skip)} with reason {reason!r}, which does "
                    f"not name the upstream step ({', '.join(map(repr, upstream))})",
                    skip,
                    *(ended_badly[dep] for dep in upstream),
                )
            )
    return out


_SEPARATORS = re.compile(r"[\s,;()'\"]+")


def _names(text: str, name: str) -> bool:
    """Whether ``text`` mentions ``name`` as a whole name (``s1`` is not in ``s10``)."""
    if name in _words(text):
        return True
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


@functools.lru_cache(maxsize=8)
def _words(text: str) -> frozenset[str]:
    return frozenset(_SEPARATORS.split(text))


# -- concurrency --------------------------------------------------------------------------------


def check_concurrency(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """ORD-3: never more than ``workflow.max_concurrency`` attempts in flight.

    Attempts of steps and of compensations both hold a slot, from their start event
    to their end event (or the ``step_cancelled`` of the time limit). And a slot is
    never left free while work waits: at the end of every instant, a step that is
    ready, or whose retry is due, has started unless every slot is busy. Without a
    limit there is nothing to check.
    """
    return concurrency(Run.of(workflow, faults, trace))


def concurrency(run: Run) -> list[Violation]:
    limit = run.workflow.max_concurrency
    if limit is None:
        return []
    out: list[Violation] = []
    in_flight: dict[tuple[str, int], TraceEvent] = {}
    over = False
    #: Work that may start now: name -> the event that made it due (step_ready, retry).
    waiting: dict[str, TraceEvent] = {}
    due_at: dict[str, int] = {}
    idle_reported: set[str] = set()
    down = False  # between crashed and recovered nothing may start (FAULT-10)
    events = list(run.trace)
    for i, e in enumerate(events):
        name, number = e.step, e.attempt
        if e.kind == "crashed":
            for key in lost_attempts(e):
                in_flight.pop(key, None)
            down = True
        elif e.kind == "recovered":
            down = False
            for wname in waiting:
                due_at[wname] = max(due_at[wname], e.t_ns)
            resumed = e.get("resumed")
            for rname in resumed if isinstance(resumed, list) else ():
                if isinstance(rname, str):
                    waiting[rname] = e
                    due_at[rname] = e.t_ns
        elif e.kind in _ATTEMPT_STARTS and name is not None and isinstance(number, int):
            in_flight[(name, number)] = e
            waiting.pop(name, None)
            due_at.pop(name, None)
            if len(in_flight) > limit and not over:
                over = True
                running = sorted(in_flight.values(), key=lambda s: s.seq)
                names = ", ".join(f"{s.step}#{s.attempt}" for s in running)
                out.append(
                    violation(
                        "ORD-3",
                        f"at {at(e)} {len(in_flight)} attempts were in flight ({names}), more "
                        f"than max_concurrency={limit}",
                        *running,
                    )
                )
        elif e.kind in _ATTEMPT_ENDS and name is not None and isinstance(number, int):
            in_flight.pop((name, number), None)
        elif e.kind == "step_ready" and name is not None:
            step = run.steps.get(name)
            if step is None or step.group is None:  # a parallel group takes no slot itself
                waiting[name] = e
                due_at[name] = e.t_ns
        elif e.kind == "retry_scheduled" and name is not None:
            delay = delay_ns(e.get("delay"))
            if delay is not None:
                waiting[name] = e
                due_at[name] = e.t_ns + delay
        elif (e.kind in STEP_ENDS or e.kind == "compensation_skipped") and name is not None:
            for key in [k for k in in_flight if k[0] == name]:
                del in_flight[key]
            waiting.pop(name, None)
            due_at.pop(name, None)
        if len(in_flight) <= limit:
            over = False
        instant_over = i + 1 == len(events) or events[i + 1].t_ns > e.t_ns
        if not instant_over or len(in_flight) >= limit or down:
            continue
        for wname, why in sorted(waiting.items(), key=lambda item: item[1].seq):
            if due_at[wname] > e.t_ns or wname in idle_reported:
                continue
            idle_reported.add(wname)
            since = format_seconds(due_at[wname])
            what = (
                "ready"
                if why.kind == "step_ready"
                else f"due for attempt {why.get('next_attempt')}"
            )
            out.append(
                violation(
                    "ORD-3",
                    f"at {at(e)} only {len(in_flight)} of max_concurrency={limit} slots were "
                    f"busy, yet {wname!r} ({what} since t={since}) did not start; a step waits "
                    "only for a free slot",
                    why,
                    e,
                )
            )
    return out


# -- terminal states ----------------------------------------------------------------------------


def check_terminal_states(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """ORD-6, COMP-5 and TIME-5: one terminal event per step and a consistent run status.

    Every step of a finished run has exactly one of ``step_completed``,
    ``step_failed``, ``step_skipped``, ``step_cancelled``, nothing of it follows,
    and it agrees with its attempts (completed after a success, failed after a final
    failure). The run's status follows: ``timed_out`` when something was cancelled
    (all at the run's last instant, the message naming each), else ``completed`` when
    no step failed, ``failed`` when nothing was compensated, ``compensation_failed``
    when a compensation failed for good, else ``compensated`` (COMP-5: the message
    names the failed steps and the compensations).
    """
    return terminal_states(Run.of(workflow, faults, trace))


def terminal_states(run: Run) -> list[Violation]:
    out: list[Violation] = []
    for name in run.steps if run.dag else sorted(run.step_names):
        out.extend(_one_terminal(run, name))
    for name in run.compensation_names:
        ends = run.terminal.get(name, [])
        if len(ends) > 1:
            out.append(_repeated(name, "compensation", ends))
    if run.finished is not None:
        out.extend(_status(run, run.finished) if run.dag else _body_status(run, run.finished))
    return out


def _body_status(run: Run, finished: TraceEvent) -> list[Violation]:
    """The status of an imperative or event run, as far as its steps decide it.

    A body may catch a step's error and complete; a StopEvent cancels what is left and
    completes. What holds whatever the body does: compensations make the status
    ``compensated`` or ``compensation_failed`` (COMP-5), and a failed invocation of an
    event workflow fails it (EVT-7).
    """
    actual = finished.get("status")
    comp_starts = [e for e in run.of_kind("compensation_started") if e.attempt == 1]
    comp_fails = [e for e in run.of_kind("compensation_failed") if e.get("final") is True]
    expected: str | None = None
    evidence: list[TraceEvent] = []
    if comp_fails and actual != "timed_out":  # a hung compensation: timed out (TIME-5)
        expected, why, evidence = (
            "compensation_failed",
            f"compensation {_names_of(comp_fails)} failed for good",
            comp_fails,
        )
    elif comp_starts and actual != "timed_out":
        expected, why, evidence = (
            "compensated",
            f"{_names_of(comp_starts)} compensated and none failed for good",
            comp_starts,
        )
    elif actual in ("compensated", "compensation_failed"):
        expected, why = "failed", "nothing was compensated"
    if expected is not None and actual != expected:
        return [
            violation(
                "COMP-5",
                f"the run finished at {at(finished)} with status {actual!r}, but its events say "
                f"{expected!r}: {why}",
                *evidence,
                finished,
            )
        ]
    if isinstance(run.workflow, EventWorkflow):
        failed = [e for ends in run.terminal.values() for e in ends if e.kind == "step_failed"]
        if failed and actual != "failed":
            return [
                violation(
                    "EVT-7",
                    f"invocation {failed[0].step!r} failed at {at(failed[0])}, but the run "
                    f"finished at {at(finished)} with status {actual!r}; a failed invocation "
                    "fails the run",
                    failed[0],
                    finished,
                )
            ]
    return []


def _repeated(name: str, what: str, ends: list[TraceEvent]) -> Violation:
    listed = ", ".join(f"{e.kind} at {at(e)}" for e in ends)
    return violation(
        "ORD-6",
        f"{what} {name!r} ended {len(ends)} times ({listed}); it ends exactly once",
        *ends,
    )


def _one_terminal(run: Run, name: str) -> list[Violation]:
    out: list[Violation] = []
    ends = run.terminal.get(name, [])
    if not ends:
        if run.finished is not None:
            out.append(
                violation(
                    "ORD-6",
                    f"step {name!r} never reached a terminal state (completed, failed, skipped "
                    f"or cancelled) before the run finished at {at(run.finished)}",
                    run.finished,
                )
            )
        return out
    if len(ends) > 1:
        out.append(_repeated(name, "step", ends))
    end = ends[0]
    events = run.by_name[name]  # the end among them
    after = (
        None  # nothing of the step is listed after its end, so nothing has a later seq
        if events[-1] is end and run.in_order()
        else next((e for e in events if e.seq > end.seq and e.kind not in _AFTER_END), None)
    )
    if after is not None:
        out.append(
            violation(
                "ORD-6",
                f"step {name!r} has {after.kind} at {at(after)} after it ended ({end.kind} at "
                f"{at(end)}); nothing of a step follows its terminal state",
                end,
                after,
            )
        )
    step = run.steps.get(name)
    if step is not None and step.group is not None:
        return out  # a parallel group has no attempts: group_merged / group_failed end it
    last = _last_before(run.attempts.get(name, []), end)
    if (
        end.kind == "step_completed"
        and end.get("cached") is not True
        and (
            last is None
            or last.outcome != "succeeded"
            or last.end is None
            or last.end.seq > end.seq
        )
    ):
        out.append(
            violation(
                "ORD-6",
                f"step {name!r} completed at {at(end)}, but no attempt of it had succeeded",
                end,
                None if last is None else last.end or last.start,
            )
        )
    if end.kind == "step_failed" and (
        last is None
        or last.outcome not in ("failed", "timed_out")
        or last.end is None
        or last.end.seq > end.seq
        or (last.retry is not None and last.retry.seq < end.seq)
    ):
        out.append(
            violation(
                "ORD-6",
                f"step {name!r} failed at {at(end)}, but its last attempt had not failed for good",
                end,
                None if last is None else last.end or last.start,
            )
        )
    return out


def _last_before(attempts: list[Attempt], end: TraceEvent) -> Attempt | None:
    """The last of ``attempts`` (in trace order) that started before ``end`` (by ``seq``)."""
    if attempts and attempts[-1].start.seq < end.seq:
        return attempts[-1]  # the usual case: every attempt started before the end
    before = [a for a in attempts if a.start.seq < end.seq]
    return before[-1] if before else None


def _status(run: Run, finished: TraceEvent) -> list[Violation]:
    out: list[Violation] = []
    actual = finished.get("status")
    cancelled = [
        e
        for ends in (run.terminal.values() if run.of_kind("step_cancelled") else ())
        for e in ends
        if e.kind == "step_cancelled" and e.get("reason") != "group timeout"  # PAR-5
    ]
    # a group's task that failed is the group's to report (PAR-4), not the run's
    failed = [
        e
        for ends in (run.terminal.values() if run.of_kind("step_failed") else ())
        for e in ends
        if e.kind == "step_failed" and e.step in run.steps
    ]
    # TRIG-3: failures a trigger rule absorbed (every leaf completed, or was skipped for
    # another reason than a failed upstream) leave the run completed.
    leaves = [n for n, deps in run.workflow.dependents().items() if not deps]
    if failed and all(_leaf_ok(run.terminal.get(n, [])) for n in leaves):
        failed = []
    comp_starts = [e for e in run.of_kind("compensation_started") if e.attempt == 1]
    comp_fails = [e for e in run.of_kind("compensation_failed") if e.get("final") is True]
    comp_skips = run.of_kind("compensation_skipped")
    evidence: list[TraceEvent]
    if cancelled:
        expected = "timed_out"
        why = f"{_names_of(cancelled)} cancelled at the time limit"
        evidence = cancelled
    elif not failed:
        expected, why, evidence = "completed", "no step failed or was cancelled", []
    elif not comp_starts:
        expected = "failed"
        why = f"{_names_of(failed)} failed and nothing was compensated"
        evidence = failed
    elif comp_fails:
        expected = "compensation_failed"
        why = f"compensation {_names_of(comp_fails)} failed for good"
        evidence = comp_fails
    else:
        expected = "compensated"
        why = f"{_names_of(failed)} failed and every compensation that ran completed"
        evidence = failed
    if actual != expected:
        statuses = (actual, expected)
        if "timed_out" in statuses:
            rule = "TIME-5"
        elif "compensated" in statuses or "compensation_failed" in statuses:
            rule = "COMP-5"
        else:
            rule = "ORD-6"
        out.append(
            violation(
                rule,
                f"the run finished at {at(finished)} with status {actual!r}, but its events say "
                f"{expected!r}: {why}",
                *evidence,
                finished,
            )
        )
        return out
    message = str(finished.get("message", ""))
    if expected == "timed_out":
        for e in cancelled:
            if e.t_ns != finished.t_ns:
                out.append(
                    violation(
                        "TIME-5",
                        f"{e.step!r} was cancelled at {at(e)}, but the run timed out at "
                        f"{at(finished)}; the time limit cancels what is left at that instant",
                        e,
                        finished,
                    )
                )
        _require_names(out, "TIME-5", message, finished, cancelled, "still waiting")
    elif expected in ("compensated", "compensation_failed"):
        _require_names(out, "COMP-5", message, finished, failed, "failed")
        if expected == "compensated":
            _require_names(out, "COMP-5", message, finished, comp_starts, "compensation")
        else:
            _require_names(out, "COMP-5", message, finished, comp_fails, "failed compensation")
            _require_names(out, "COMP-5", message, finished, comp_skips, "compensation not run")
    return out


def failed_leaves(run: Run) -> list[TraceEvent]:
    """TRIG-3: the ends of the DAG's leaf steps that fail the run (failed, or skipped
    because an upstream step failed); a failure a trigger rule absorbed is not one."""
    out: list[TraceEvent] = []
    for name, deps in run.workflow.dependents().items():
        ends = run.terminal.get(name)
        if deps or not ends:
            continue
        end = ends[0]
        if end.kind == "step_failed" or (
            end.kind == "step_skipped" and end.get("upstream_failed") is True
        ):
            out.append(end)
    return out


def _leaf_ok(ends: list[TraceEvent]) -> bool:
    return len(ends) == 1 and (
        ends[0].kind == "step_completed"
        or (ends[0].kind == "step_skipped" and not ends[0].get("upstream_failed"))
    )


def _names_of(events: list[TraceEvent]) -> str:
    names = list(dict.fromkeys(str(e.step) for e in events))
    return ", ".join(map(repr, names))


def _require_names(
    out: list[Violation],
    rule: str,
    message: str,
    finished: TraceEvent,
    events: list[TraceEvent],
    what: str,
) -> None:
    seen: set[str] = set()
    for e in events:
        name = str(e.step)
        if name in seen:
            continue
        seen.add(name)
        if not _names(message, name):
            out.append(
                violation(
                    rule,
                    f"the run's message {message!r} does not name the {what} {name!r}",
                    e,
                    finished,
                )
            )
