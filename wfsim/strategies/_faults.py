"""Strategies for fault plans: lists of :class:`wfsim.Fault` aimed at one workflow."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, TypeVar

import attrs
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import DrawFn, SearchStrategy

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._retry import RetryPolicy
from wfsim._core._run import AnyWorkflow
from wfsim._core._workflow import Workflow
from wfsim.errors import WorkflowDefinitionError, did_you_mean

from ._blocks import Fields, blocks, layout_size
from ._budget import BUDGETS, breakable, exceeded_plans, survivable_plans
from ._check import check_choices, check_int, check_order, check_strategy
from ._styles import EventStepCode, Program
from ._workflows import (
    ERROR_NAMES,
    UNLIMITED_HORIZON,
    ms,
    read_ms,
)
from ._workflows import workflows as _default_workflows

__all__ = ["FAULT_KINDS", "fault_plans", "workflows_with_faults"]

W = TypeVar("W", bound=AnyWorkflow)

#: Every kind of fault the strategies draw for every style (``kinds=`` picks among them).
FAULT_KINDS = ("error", "latency", "hang", "outage")
#: What ``kinds=`` also takes: ``"crash"``, for DAG workflows and drawn workflow bodies
#: (FAULT-13: a body crashes at a call's attempt or at a point of its code, FAULT-15), so
#: a plan for an event workflow leaves it out. Not in :data:`FAULT_KINDS`: it is opt-in.
_KINDS = (*FAULT_KINDS, "crash")
_PATTERNS = ("*", "s*", "undo_*", "*/t*")


@attrs.frozen
class _Targets:
    """What a fault may aim at in one workflow, and how far its attempts go."""

    names: tuple[str, ...]
    limits: Mapping[str, int | None]  # None: unlimited attempts
    timed: tuple[str, ...]  # targets with a per-attempt timeout (hang faults need one)
    dag: bool = False  # a DAG's or a body's engine can crash and restart (FAULT-13)
    body: bool = False  # a drawn body: crashes also hit points of its code (FAULT-15)

    @classmethod
    def of(cls, workflow: AnyWorkflow) -> _Targets:
        steps: dict[str, tuple[RetryPolicy | None, int | None]] = {}
        if isinstance(workflow, EventWorkflow):
            # Each delivery is an invocation: ``s1``, ``s1:2``, ... (EVT-2).
            for name, es in workflow.event_steps.items():
                n = es.fn.invocations if isinstance(es.fn, EventStepCode) else 1
                for k in range(1, n + 1):
                    steps[name if k == 1 else f"{name}:{k}"] = (es.retry, es.timeout_ns)
        elif isinstance(workflow, ImperativeWorkflow):
            assert isinstance(workflow.fn, Program)
            steps = {n: (s.retry, s.timeout_ns) for n, s in workflow.fn.steps().items()}
        else:
            # A parallel group makes no attempts of its own: its tasks (``group/task``) do.
            plain = {n: s for n, s in workflow.steps.items() if s.group is None}
            every = {**plain, **workflow.tasks, **workflow.compensations}
            steps = {n: (s.retry, s.timeout_ns) for n, s in every.items()}
        return cls(
            names=tuple(steps),
            limits={name: _limit(retry) for name, (retry, _) in steps.items()},
            timed=tuple(name for name, (_, timeout) in steps.items() if timeout is not None),
            dag=isinstance(workflow, Workflow | ImperativeWorkflow),
            body=isinstance(workflow, ImperativeWorkflow),
        )

    def matched(self, target: str) -> list[str]:
        return [n for n in self.names if fnmatch.fnmatchcase(n, target)]

    def horizon(self, target: str) -> tuple[int, bool]:
        """(last attempt worth aiming at, whether some matched target retries forever)."""
        limits = [self.limits[n] for n in self.matched(target)]
        unlimited = any(limit is None for limit in limits)
        bounded = [limit for limit in limits if limit is not None]
        return max([*bounded, UNLIMITED_HORIZON if unlimited else 1]), unlimited

    @property
    def bounded(self) -> tuple[str, ...]:
        """Targets whose attempts are bounded (an outage on the others might never end)."""
        return tuple(n for n in self.names if self.limits[n] is not None)

    def kinds_for(self, kinds: Sequence[str]) -> tuple[str, ...]:
        """The ``kinds`` this workflow can take: hangs need a timeout, outages a bound,
        crashes a DAG."""
        unusable = {"hang": not self.timed, "outage": not self.bounded, "crash": not self.dag}
        return tuple(k for k in kinds if not unusable.get(k, False))


def _limit(retry: RetryPolicy | None) -> int | None:
    """How many attempts a policy allows: 1 without one, None when unlimited."""
    return 1 if retry is None else retry.max_attempts or None


def _workflow_targets(func: str, workflow: object) -> _Targets:
    drawn_body = isinstance(workflow, ImperativeWorkflow) and isinstance(workflow.fn, Program)
    if not isinstance(workflow, Workflow | EventWorkflow) and not drawn_body:
        what = (
            "a workflow body whose steps appear only as it runs"
            if isinstance(workflow, ImperativeWorkflow)
            else f"{type(workflow).__name__} {workflow!r}"
        )
        raise InvalidArgument(
            f"{func}() takes a wfsim.Workflow, not {what}; "
            "to draw the workflow too, use workflows_with_faults() or data.draw() with st.data() "
            "(it also takes a wfsim.EventWorkflow, and a body drawn by imperative_workflows())"
        )
    assert isinstance(workflow, Workflow | EventWorkflow | ImperativeWorkflow)
    try:
        workflow.validate()
    except WorkflowDefinitionError as exc:
        raise InvalidArgument(f"{func}(): the workflow is invalid: {exc}") from None
    return _Targets.of(workflow)


def fault_plans(
    workflow: AnyWorkflow,
    *,
    min_faults: int = 0,
    max_faults: int = 5,
    kinds: Collection[str] = ("error", "latency"),
    budget: str | None = None,
) -> SearchStrategy[list[Fault]]:
    """Lists of :class:`wfsim.Fault` aimed at ``workflow``'s steps and compensations.

    Each fault is one of ``kinds`` (``error``, ``latency``, ``hang``,
    ``outage``, and ``crash`` if listed: for a DAG only, the engine dying
    ``before`` or ``after`` a listed attempt's effect and restarting 0 to 5s
    later) and targets a step or compensation by name (errors, latency and crashes
    sometimes by a glob pattern such as ``"*"``), on chosen attempts (up to one
    past the last the retry policy allows, which must never run) or every
    attempt, sometimes only with a probability (drawn from the run's ``faults``
    stream). Errors fail at the ``start`` or the ``end`` of the attempt,
    retryable or not, with a builtin error name or ``InjectedError``; latency is
    fixed, uniform or exponential.

    Every plan keeps runs finite: a step that retries forever
    (``max_attempts=0``) only gets errors or hangs on listed attempts and no
    outage; hangs only target steps with a timeout (so a hang is a timeout,
    never a run that waits for its time limit). If no step has a timeout, no
    hang is drawn. Shrinks towards fewer faults, the first step, attempt 1,
    errors at the start, retryable, no probability. To draw the workflow too,
    use :func:`workflows_with_faults`, or ``st.data()``::

        @given(st.data(), workflows(max_steps=5))
        def test_faults(data, workflow):
            faults = data.draw(fault_plans(workflow, max_faults=2))
            result = wfsim.run(workflow, faults=faults)

    ``budget`` bounds the plan by what the workflow promises to survive:

    * ``"survivable"``: only faults inside every promise. Errors and hangs hit
      listed attempts below the step's ``max_attempts`` (never the last it
      allows), are retryable and not of an error the policy lists as
      non-retryable; hangs only where a timeout ends them; latency on a step
      with a timeout stays under what the timeout leaves after the attempt's
      work (one latency fault per step; exponential latency only without a
      timeout); no outages and no faults on compensations or on the tasks of a
      group with a timeout. A run under such a plan completes whenever the same
      workflow completes without faults: a failure is a real bug.
    * ``"exceeded"``: the plan starts with an error on every attempt of one step
      or group task with bounded attempts (a promise broken for certain), then
      up to ``max_faults - 1`` faults as without a budget. With the default
      trigger rule everywhere and no partial-success group, the run cannot
      complete: it must fail cleanly and compensate.
    """
    func = "fault_plans"
    targets = _workflow_targets(func, workflow)
    check_int(func, "min_faults", min_faults, minimum=0)
    check_int(func, "max_faults", max_faults, minimum=0)
    check_order(func, "min_faults", min_faults, "max_faults", max_faults)
    chosen = check_choices(func, "kinds", kinds, _KINDS)
    _check_budget(func, budget)
    if budget is not None:
        _dag_only(func, workflow)
        assert isinstance(workflow, Workflow)
        plans = _budgeted(workflow, targets, chosen, min_faults, max_faults, budget)
        if plans is None:
            raise InvalidArgument(
                f"{func}(): budget={budget!r} leaves no fault of kinds={chosen!r} to inject "
                f"into workflow {workflow.name!r}"
                + (
                    ": no step has bounded attempts"
                    if budget == "exceeded"
                    else "; use min_faults=0, or add 'latency' to kinds"
                )
            )
        return plans
    available = targets.kinds_for(chosen)
    if not available and min_faults > 0:
        raise InvalidArgument(
            f"{func}(): kinds={chosen!r} leaves nothing to inject into workflow "
            f"{workflow.name!r}: a hang needs a step with a timeout, an outage a step with "
            "bounded attempts and a crash a DAG workflow; add 'error' or 'latency' to kinds, "
            "or use min_faults=0"
        )
    return _plans(targets, available, min_faults, max_faults)


def _dag_only(func: str, workflow: object) -> None:
    if not isinstance(workflow, Workflow):
        raise InvalidArgument(
            f"{func}(): a budget is for DAG workflows (wfsim.Workflow), whose steps state "
            f"what they survive; {workflow!r} is not one"
        )


def _check_budget(func: str, budget: object) -> None:
    if budget is not None and budget not in BUDGETS:
        hint = did_you_mean(budget, BUDGETS) if isinstance(budget, str) else ""
        raise InvalidArgument(
            f"{func}(): unknown budget {budget!r}{hint} (expected None, "
            f"{' or '.join(repr(b) for b in BUDGETS)})"
        )


def _budgeted(
    workflow: Workflow,
    targets: _Targets,
    kinds: tuple[str, ...],
    min_faults: int,
    max_faults: int,
    budget: str,
) -> SearchStrategy[list[Fault]] | None:
    """The budget's plans for ``workflow``, or None when it allows none (and some are needed)."""
    if budget == "survivable":
        plans = survivable_plans(workflow, kinds, min_faults, max_faults)
        if plans is None:
            return st.builds(list) if min_faults == 0 else None
        return plans
    names = breakable(workflow)
    if not names:
        return None
    rest = _plans(targets, targets.kinds_for(kinds), max(0, min_faults - 1), max(0, max_faults - 1))
    return exceeded_plans(names, rest)


def _plans(
    targets: _Targets, kinds: tuple[str, ...], min_faults: int, max_faults: int
) -> SearchStrategy[list[Fault]]:
    if not kinds or not targets.names:  # e.g. a drawn body that only sleeps
        return st.builds(list)
    patterns = tuple(p for p in _PATTERNS if targets.matched(p))
    layout = _FaultLayout(targets, kinds, patterns or ("*",))
    fault = blocks(_FAULT_SIZE).map(layout.decode)
    return st.lists(fault, min_size=min_faults, max_size=max_faults)


_PROBABILITIES = (0.5, 1.0, 0.0, 0.25, 0.75)
_AT: tuple[Literal["start", "end"], ...] = ("start", "end")
_SHAPES = ("fixed", "uniform", "exponential")
_CRASH_AT: tuple[Literal["before", "after"], ...] = ("before", "after")
_BODY_POINTS = ("after:*", "sleep", "signal:*", "*")


@attrs.frozen
class _FaultLayout:
    """How one fault aimed at one workflow is read from its block (see ``_blocks``).

    In order: the kind, a probability (or none), the target (a name, or a pattern
    matching some), the target of a hang (a step with a timeout) and of an outage (a
    step with bounded attempts), every attempt or listed ones (1 to 3 of them), the
    error, retryable or not, at the start or the end, the latency's shape and its two
    durations, a crash's moment and restart delay, an outage's start and length, and a
    body crash's point and occurrences. Every field is read whatever the kind, so the
    block has one size for every workflow (names and kinds are read modulo their
    number: removing a later step keeps a fault's target) and all-zero bytes are an
    error on the first target's first attempt, at its start, retryable, certain.
    """

    targets: _Targets
    kinds: tuple[str, ...]
    patterns: tuple[str, ...]

    def decode(self, block: bytes) -> Fault:
        return self.read(Fields(block))

    def read(self, f: Fields) -> Fault:
        targets = self.targets
        kind = f.pick(self.kinds)
        any_probability = f.flag()
        probability: float | None = f.choice(_PROBABILITIES)
        by_pattern = f.flag()
        name = f.pick(targets.names)
        pattern = f.pick(self.patterns)
        timed = f.pick(targets.timed or targets.names)
        bounded = f.pick(targets.bounded or targets.names)
        every = f.flag()
        listed = f.between(1, 3)
        numbers = [f.number() for _ in range(3)]
        error = f.choice(ERROR_NAMES)
        retryable = not f.flag()
        at = f.choice(_AT)
        shape = f.choice(_SHAPES)
        low, high = read_ms(f), read_ms(f)
        crash_at = f.choice(_CRASH_AT)
        restart = ms(read_ms(f))
        start, length = read_ms(f), read_ms(f, positive=True)
        at_body_point = f.flag()
        point = f.number()
        occurring = f.between(1, 2)
        occurrences = list(dict.fromkeys([f.between(1, 4), f.between(1, 4)][:occurring]))
        step = pattern if by_pattern else name
        if not any_probability:
            probability = None

        def attempts(
            target: str, *, harmless: bool = False, certain: bool = False
        ) -> list[int] | None:
            horizon, unlimited = targets.horizon(target)
            if every and not certain and (harmless or not unlimited):
                return None
            return list(dict.fromkeys(1 + n % (horizon + 1) for n in numbers[:listed]))

        if kind == "hang":
            return Fault.hang(timed, attempts=attempts(timed), probability=probability)
        if kind == "outage":
            return Fault.outage(
                bounded,
                start=ms(start),
                end=ms(start + length),
                error=error,
                retryable=retryable,
            )
        if kind == "crash" and targets.body and at_body_point:
            # A point of the body's code: after a call ended, a sleep or a wait starting.
            calls = [f"after:{n}" for n in targets.names if not n.startswith("undo")]
            points = [*calls, *_BODY_POINTS]
            return Fault.crash(
                body=points[point % len(points)],
                occurrences=occurrences,
                restart_after=restart,
            )
        if kind == "crash":  # listed attempts only: a crash at every one would never end
            return Fault.crash(
                step,
                at=crash_at,
                attempts=attempts(step, certain=True),
                probability=probability,
                restart_after=restart,
            )
        if kind == "latency":
            latency_attempts = attempts(step, harmless=True)
            if shape == "uniform":
                return Fault.latency(
                    step,
                    uniform=(ms(low), ms(low + high)),
                    attempts=latency_attempts,
                    probability=probability,
                )
            if shape == "exponential":
                return Fault.latency(
                    step, exponential=ms(low), attempts=latency_attempts, probability=probability
                )
            return Fault.latency(
                step, extra=ms(low), attempts=latency_attempts, probability=probability
            )
        return Fault.error(
            step,
            attempts=attempts(step),
            error=error,
            retryable=retryable,
            at=at,
            probability=probability,
        )


_FAULT_SIZE = layout_size(_FaultLayout(_Targets(("s0",), {"s0": 1}, ()), ("error",), ("*",)).read)


def workflows_with_faults(
    workflows: SearchStrategy[W] | None = None,
    *,
    min_faults: int = 0,
    max_faults: int = 5,
    kinds: Collection[str] = ("error", "latency"),
    budget: str | None = None,
) -> SearchStrategy[tuple[W, list[Fault]]]:
    """Pairs ``(workflow, faults)``: a workflow and a :func:`fault_plans` plan for it.

    ``workflows`` is the strategy the workflow comes from (default
    :func:`workflows` with its defaults; :func:`event_workflows` and
    :func:`imperative_workflows` work too, their plans aimed at step
    invocations and calls); ``budget`` is :func:`fault_plans`'
    (a workflow no ``"exceeded"`` plan can break, every step retrying forever,
    gets an empty plan)::

        @given(workflows_with_faults(workflows(max_steps=5, compensations=True)))
        def test_runs_end(case):
            workflow, faults = case
            assert wfsim.run(workflow, faults=faults).status != "timed_out"
    """
    func = "workflows_with_faults"
    source: SearchStrategy[Any] = (
        _default_workflows() if workflows is None else check_strategy(func, "workflows", workflows)
    )
    check_int(func, "min_faults", min_faults, minimum=0)
    check_int(func, "max_faults", max_faults, minimum=0)
    check_order(func, "min_faults", min_faults, "max_faults", max_faults)
    chosen = check_choices(func, "kinds", kinds, _KINDS)
    _check_budget(func, budget)
    if chosen == ("hang",) and min_faults > 0 and budget is None:
        raise InvalidArgument(
            f"{func}(): kinds=('hang',) with min_faults={min_faults} cannot always be met: "
            "hang faults need a step with a timeout; add 'error' or 'latency' to kinds"
        )
    return _pairs(source, chosen, min_faults, max_faults, budget)


@st.composite
def _pairs(
    draw: DrawFn,
    source: SearchStrategy[W],
    kinds: tuple[str, ...],
    min_faults: int,
    max_faults: int,
    budget: str | None,
) -> tuple[W, list[Fault]]:
    workflow = draw(source)
    targets = _workflow_targets("workflows_with_faults", workflow)
    if budget is None:
        plans = _plans(targets, targets.kinds_for(kinds), min_faults, max_faults)
    else:
        _dag_only("workflows_with_faults", workflow)
        assert isinstance(workflow, Workflow)
        # A workflow the budget allows no fault into (min_faults or not) gets none.
        budgeted = _budgeted(workflow, targets, kinds, min_faults, max_faults, budget)
        plans = st.builds(list) if budgeted is None else budgeted
    return workflow, draw(plans)
