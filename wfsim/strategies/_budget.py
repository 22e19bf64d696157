"""Fault plans bounded by what a workflow promises to survive, or deliberately beyond it.

A step with a retry policy of ``max_attempts=L`` promises to complete as long as
fewer than ``L`` of its attempts fail; a step with a timeout promises to finish an
attempt as long as the attempt's work plus its latency stays under the timeout.
``budget="survivable"`` draws only faults inside those promises, so a run that
then fails, where the same workflow completes without faults, is a real bug.
``budget="exceeded"`` draws a plan that breaks one step's promise for certain:
the run must then fail cleanly, and compensate.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import attrs
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from wfsim._core._faults import Fault
from wfsim._core._workflow import Step, Workflow

from ._workflows import (
    ERROR_NAMES,
    UNLIMITED_HORIZON,
    SleepingStep,
    attempt_limit,
    durations_ms,
    ms,
)

__all__ = ["BUDGETS", "Promise", "exceeded_plans", "promises", "survivable_plans"]

#: The values ``fault_plans(..., budget=...)`` takes besides ``None`` (no bound).
BUDGETS = ("survivable", "exceeded")

NS_PER_MS = 1_000_000


@attrs.frozen
class Promise:
    """What one step (or group task) promises to survive.

    ``spare``: how many of its attempts may fail (``max_attempts - 1``; a step
    that retries forever gets a horizon). ``slack_ns``: the latency an attempt
    may take on top of its work and still beat its timeout (``None``: no
    timeout, any latency; negative: none, its work alone reaches the timeout).
    ``timed``: whether it has a timeout (a hang needs one to end).
    """

    name: str
    spare: int
    slack_ns: int | None
    timed: bool
    non_retryable: tuple[str, ...]

    def kinds(self, kinds: Sequence[str]) -> tuple[str, ...]:
        """The fault kinds (of ``kinds``) this step survives some of."""
        usable = {
            "error": self.spare > 0 and self.slack_ns != -1,
            "hang": self.spare > 0 and self.timed and self.slack_ns != -1,
            "latency": self.slack_ns is None or self.slack_ns >= 0,
        }
        return tuple(k for k in kinds if usable.get(k, False))


def _work_ns(step: Step) -> int | None:
    """How long one attempt's work takes, if the strategies know (code-less or SleepingStep)."""
    if step.fn is None:
        return step.duration_ns
    if isinstance(step.fn, SleepingStep):
        return sum(step.fn.sleeps_ns)
    return None


def _promise(name: str, step: Step) -> Promise:
    limit = attempt_limit(step)
    spare = UNLIMITED_HORIZON if limit is None else limit - 1
    slack: int | None = None
    if step.timeout_ns is not None:
        work = _work_ns(step)
        slack = -1 if work is None or work >= step.timeout_ns else step.timeout_ns - work - 1
    non_retryable = step.retry.non_retryable if step.retry is not None else ()
    return Promise(name, spare, slack, step.timeout_ns is not None, non_retryable)


def promises(workflow: Workflow) -> tuple[Promise, ...]:
    """Every step and group task that makes attempts, with what it survives.

    Compensations are left out (under a survivable plan nothing fails, so none
    runs), and so are the tasks of a group with a timeout: a retry that a task
    survives can still push it past its group's deadline.
    """
    out = [_promise(n, s) for n, s in workflow.steps.items() if s.group is None]
    for step in workflow.steps.values():
        if step.group is not None and step.group.timeout_ns is None:
            out += [_promise(f"{step.name}/{t.name}", t) for t in step.group.tasks]
    return tuple(out)


def survivable_plans(
    workflow: Workflow, kinds: Sequence[str], min_faults: int, max_faults: int
) -> SearchStrategy[list[Fault]] | None:
    """Plans inside every promise; None when nothing of ``kinds`` fits."""
    choices = [(p, k) for p in promises(workflow) for k in p.kinds(kinds)]
    if not choices:
        return None
    return st.lists(
        _survivable_faults(st.sampled_from(choices)),
        min_size=min_faults,
        max_size=max_faults,
        unique_by=_one_latency_each,
    )


def _one_latency_each(fault: Fault) -> tuple[object, ...]:
    """Two latency faults on one attempt add up (past a slack each fits): one per step."""
    if fault.kind == "latency":
        return (fault.step, "latency")
    return (fault.step, fault.kind, fault.attempts, fault.error_name, fault.at, fault.probability)


_PROBABILITY = st.none() | st.sampled_from((0.5, 1.0, 0.25))
_AT: SearchStrategy[Literal["start", "end"]] = st.sampled_from(("start", "end"))
_RETRYABLE = st.sampled_from((True, False))  # retryable first: the simpler failure


@functools.cache
def _listed(spare: int) -> SearchStrategy[list[int]]:
    return st.lists(st.integers(1, spare), min_size=1, max_size=3, unique=True)


@functools.cache
def _latency_ms(slack_ms: int | None) -> SearchStrategy[int]:
    return durations_ms() if slack_ms is None else st.integers(0, slack_ms)


@st.composite
def _survivable_faults(draw: DrawFn, choices: SearchStrategy[tuple[Promise, str]]) -> Fault:
    promise, kind = draw(choices)
    probability = draw(_PROBABILITY)
    if kind == "latency":
        attempts = draw(st.none() | _listed(promise.spare + 1))
        slack_ms = None if promise.slack_ns is None else promise.slack_ns // NS_PER_MS
        low = draw(_latency_ms(slack_ms))
        if draw(st.booleans()):
            high = draw(_latency_ms(None if slack_ms is None else slack_ms - low)) + low
            return Fault.latency(
                promise.name,
                uniform=(ms(low), ms(high)),
                attempts=attempts,
                probability=probability,
            )
        if slack_ms is None and draw(st.booleans()):
            return Fault.latency(
                promise.name, exponential=ms(low), attempts=attempts, probability=probability
            )
        return Fault.latency(
            promise.name, extra=ms(low), attempts=attempts, probability=probability
        )
    attempts = draw(_listed(promise.spare))  # never the last attempt the policy allows
    if kind == "hang":
        return Fault.hang(promise.name, attempts=attempts, probability=probability)
    errors = [e for e in ERROR_NAMES if e not in promise.non_retryable]
    return Fault.error(
        promise.name,
        attempts=attempts,
        error=draw(st.sampled_from(errors)),
        at=draw(_AT),
        probability=probability,
    )


def breakable(workflow: Workflow) -> tuple[str, ...]:
    """Steps and group tasks with bounded attempts: an error on every attempt fails them."""
    names = [n for n, s in workflow.steps.items() if s.group is None and attempt_limit(s)]
    for step in workflow.steps.values():
        if step.group is not None:
            names += [f"{step.name}/{t.name}" for t in step.group.tasks if attempt_limit(t)]
    return tuple(names)


@st.composite
def exceeded_plans(
    draw: DrawFn, names: tuple[str, ...], rest: SearchStrategy[list[Fault]]
) -> list[Fault]:
    """One fault no retry policy survives (an error on every attempt), then ``rest``."""
    breaking = Fault.error(
        draw(st.sampled_from(names)),
        error=draw(st.sampled_from(ERROR_NAMES)),
        retryable=draw(_RETRYABLE),
        at=draw(_AT),
    )
    return [breaking, *draw(rest)]
