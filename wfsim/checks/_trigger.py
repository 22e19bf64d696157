"""Trigger-rule oracle: every DAG step is decided by its rule, at once (TRIG-2).

Replays the trace: each upstream end updates its dependents' counts (success,
failed, skipped, as TRIG-1 counts them); a step's ``step_ready`` or
``step_skipped`` must be the verdict of its rule for the counts at that moment,
and a step whose rule gives a verdict is decided in the same cascade, before any
attempt starts. Skip propagation follows: a skip is itself an upstream end.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

from wfsim._core._faults import Fault
from wfsim._core._trace import TraceEvent
from wfsim._core._trigger import UpstreamCounts, Verdict, evaluate

from ._index import AnyWorkflow, Run, at, violation
from ._ordering import _names
from ._violation import Violation

__all__ = ["check_trigger_rules"]

#: Events that cannot belong to the synchronous cascade in which an upstream end decides
#: its dependents: an attempt starting means the engine moved on.
_MOVED_ON = frozenset({"attempt_started", "compensation_started", "run_finished"})
#: The kinds that decide a step or end it (as an upstream step); the others only show time
#: passing or the engine moving on.
_DECIDING = frozenset(
    {
        "step_ready",
        "step_skipped",
        "attempt_started",
        "group_started",
        "cache_hit",
        "step_completed",
        "step_failed",
    }
)


def check_trigger_rules(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """TRIG-2: each DAG step is made ready or skipped exactly as its trigger rule says.

    The trace is replayed: when an upstream step ends (``step_completed`` counts as a
    success, ``step_failed`` and a skip with ``upstream_failed: true`` as failures,
    any other skip as skipped), its dependents' rules are evaluated
    (:func:`wfsim._core._trigger.evaluate`, Airflow's table, TRIG-1). A
    ``step_ready`` must come from a ``run`` verdict, a ``step_skipped`` from ``skip``
    (or ``upstream_failed``, flagged so), its reason naming an upstream step; no
    attempt starts before its ``step_ready``; and a step whose rule gives a verdict
    is decided at once, before any attempt starts (a default-rule dependent of a
    failure never skipped is ORD-5's, not reported twice). Imperative and event workflows
    have no trigger rules: nothing to check.
    """
    return trigger_rules(Run.of(workflow, faults, trace))


def trigger_rules(run: Run) -> list[Violation]:
    if not run.dag:
        return []
    out: list[Violation] = []
    steps = run.steps
    dependents = run.workflow.dependents()
    success: dict[str, int] = dict.fromkeys(steps, 0)
    failed: dict[str, int] = dict.fromkeys(steps, 0)
    skipped: dict[str, int] = dict.fromkeys(steps, 0)
    ended: dict[str, TraceEvent] = {}
    decided: dict[str, TraceEvent] = {}
    #: Undecided steps whose rule has a verdict, and the event that gave it.
    due: dict[str, tuple[str, TraceEvent]] = {}
    reported: set[str] = set()
    rules = {name: (step.trigger_rule, len(step.after)) for name, step in steps.items()}

    def counts(name: str) -> UpstreamCounts:
        return UpstreamCounts(rules[name][1], success[name], failed[name], skipped[name])

    def verdict(name: str) -> Verdict:
        rule, total = rules[name]
        return _verdict(rule, total, success[name], failed[name], skipped[name])

    def upstream_ended(name: str, outcome: dict[str, int], e: TraceEvent) -> None:
        if name in ended:
            return  # a repeated end is ORD-6's
        ended[name] = e
        for child in dependents.get(name, ()):
            outcome[child] += 1
            if child in decided or child in due:
                continue
            says = verdict(child)
            if says != "wait":
                due[child] = (says, e)

    def late(e: TraceEvent) -> None:
        for name, (says, why) in sorted(due.items(), key=lambda item: item[1][1].seq):
            if name in reported or (
                says == "upstream_failed" and steps[name].trigger_rule == "all_success"
            ):
                continue  # a default-rule dependent of a failure left undecided is ORD-5's
            reported.add(name)
            what = "made ready" if says == "run" else "skipped"
            out.append(
                violation(
                    "TRIG-2",
                    f"step {name!r} has trigger rule {steps[name].trigger_rule} and its "
                    f"verdict was {says!r} {_after(why)}, {_tally(counts(name))}, but it "
                    f"was not {what} at once ({e.kind} at {at(e)} came first)",
                    why,
                    e,
                )
            )
        due.clear()

    for e in run.trace:
        kind, name = e.kind, e.step
        if kind == "run_started":
            for root, step in steps.items():
                if not step.after:
                    due[root] = ("run", e)
            continue
        if due and (kind in _MOVED_ON or e.t_ns > next(iter(due.values()))[1].t_ns):
            late(e)
        if kind not in _DECIDING or name is None or name not in steps:
            continue
        if kind in ("step_ready", "step_skipped") and name not in decided:
            decided[name] = e
            due.pop(name, None)
            says = verdict(name)
            if kind != "step_ready" or says != "run":  # made ready by its rule: nothing to say
                out.extend(_decision(run, name, e, says, counts, ended))
            if kind == "step_skipped":
                if e.get("upstream_failed") is True:
                    upstream_ended(name, failed, e)
                else:
                    upstream_ended(name, skipped, e)
        elif kind in ("attempt_started", "group_started", "cache_hit") and name not in decided:
            decided[name] = e
            out.append(
                violation(
                    "TRIG-2",
                    f"step {name!r} has {kind} at {at(e)} before any step_ready; a step "
                    "runs only once its trigger rule made it ready",
                    e,
                )
            )
        elif kind == "step_completed":
            upstream_ended(name, success, e)
        elif kind == "step_failed":
            upstream_ended(name, failed, e)
    return out


@functools.lru_cache(maxsize=1024)
def _verdict(rule: str, total: int, success: int, failed: int, skipped: int) -> Verdict:
    """:func:`evaluate` for these counts, remembered: the runs of one workflow ask the same
    few questions over and over (making the counts and evaluating cost more than a lookup)."""
    return evaluate(rule, UpstreamCounts(total, success, failed, skipped))


def _decision(
    run: Run,
    name: str,
    e: TraceEvent,
    verdict: Verdict,
    counts: Callable[[str], UpstreamCounts],
    ended: dict[str, TraceEvent],
) -> list[Violation]:
    step = run.steps[name]
    if e.kind == "step_ready":
        shown = "run"
    else:
        shown = "upstream_failed" if e.get("upstream_failed") is True else "skip"
    if shown != verdict:
        what = {
            "run": "made ready",
            "skip": "skipped",
            "upstream_failed": "skipped as upstream_failed",
        }[shown]
        return [
            violation(
                "TRIG-2",
                f"step {name!r} was {what} at {at(e)}, but {_tally(counts(name))} its trigger rule "
                f"{step.trigger_rule} says {verdict!r}",
                *(ended[dep] for dep in step.after if dep in ended),
                e,
            )
        ]
    if e.kind == "step_skipped":
        reason = str(e.get("reason", ""))
        if not any(_names(reason, dep) for dep in step.after if dep in ended):
            return [
                violation(
                    "TRIG-2",
                    f"step {name!r} was skipped at {at(e)} with reason {reason!r}, which names "
                    "none of its upstream steps that had ended",
                    e,
                )
            ]
    return []


def _after(e: TraceEvent) -> str:
    if e.kind == "run_started":
        return f"from the start ({at(e)})"
    return f"once {e.step!r} ended ({e.kind} at {at(e)})"


def _tally(up: UpstreamCounts) -> str:
    if up.total == 0:
        return "with no upstream steps"
    return (
        f"with {up.done} of {up.total} upstream steps ended ({up.success} succeeded, "
        f"{up.failed} failed, {up.skipped} skipped)"
    )
