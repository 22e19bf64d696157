"""DAG workflow definitions.

A :class:`Workflow` is a named set of steps with ``after=`` dependencies.
Steps either run code (an ``async def`` taking a :class:`StepContext`) or are
declared without code: a virtual ``duration`` and an ``output`` dict merged
into the context. Dependencies are checked when the workflow is built
(:meth:`Workflow.validate`, called by every run): an unknown name is reported
with the closest valid one, a cycle with its path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Union, cast

import attrs

from wfsim.errors import (
    CycleError,
    UnknownStepError,
    WorkflowDefinitionError,
    did_you_mean,
)

from ._breaker import CircuitBreaker
from ._retry import RetryPolicy
from ._time import Duration, to_ns
from ._trigger import TRIGGER_RULES

if TYPE_CHECKING:
    from ._context import StepContext
    from ._faults import Fault

__all__ = [
    "ParallelGroup",
    "SagaPolicy",
    "Step",
    "StepFn",
    "Workflow",
    "compensation",
    "task",
]

StepFn = Callable[["StepContext"], Awaitable[Any]]
StepLike = Union["Step", str]


@attrs.frozen
class Step:
    """One step of a DAG workflow (a frozen definition; build it with the workflow)."""

    name: str
    index: int
    after: tuple[str, ...] = ()
    fn: StepFn | None = attrs.field(default=None, eq=False)
    duration_ns: int = 0
    output: Mapping[str, Any] | None = None
    retry: RetryPolicy | None = None
    timeout_ns: int | None = None
    compensate: Step | None = None
    breaker: CircuitBreaker | None = None
    fallback: StepFn | None = attrs.field(default=None, eq=False)
    #: The cache: a function of the step's inputs (the context for DAG steps) and
    #: the namespace its results are kept under (the step name, or a call's base name).
    cache_key: Callable[..., Hashable] | None = attrs.field(default=None, eq=False)
    cache_ns: str = ""
    trigger_rule: str = "all_success"
    #: "step", "compensation" (from compensation()) or "task" (from task(), in a group).
    role: str = "step"
    #: For a parallel group step: its tasks and how their outputs merge.
    group: ParallelGroup | None = None
    #: Whether running the step's effect twice is harmless (crash recovery and end
    #: errors re-run effects; RunResult.repeated_effects names the others).
    idempotent: bool = True

    @property
    def has_code(self) -> bool:
        return self.fn is not None

    @property
    def is_compensation(self) -> bool:
        return self.role == "compensation"


MergeKind = Literal["shallow", "deep"]
ConflictPolicy = Literal["prefer_new", "prefer_existing", "raise"]


@attrs.frozen
class ParallelGroup:
    """A Ruvon-style PARALLEL step: tasks run concurrently, their outputs merge.

    ``merge``: ``shallow`` (top-level keys) or ``deep`` (recursive for mappings).
    ``on_conflict``: a key two tasks both return (a leaf, for ``deep``) takes the
    later task's value (``prefer_new``, "later" meaning declaration order, not
    completion order), keeps the earlier one (``prefer_existing``), or fails the
    group (``raise``). ``allow_partial_success`` merges what succeeded when some
    tasks fail; ``timeout_ns`` cancels the tasks still running then (they count as
    failed).
    """

    tasks: tuple[Step, ...]
    merge: MergeKind = "shallow"
    on_conflict: ConflictPolicy = "prefer_new"
    allow_partial_success: bool = False
    timeout_ns: int | None = None


@attrs.frozen
class SagaPolicy:
    """How a failed workflow runs its steps' compensations (specs/compensation.md).

    ``register``: ``"after"`` (default) registers a step's compensation when the
    step completes; ``"before"`` when its first attempt starts (the compensation
    must then tolerate undoing nothing). ``parallel``: start every compensation at
    once instead of one at a time in reverse registration order. ``on_error``:
    ``"stop"`` (default) skips the remaining compensations after one fails for good;
    ``"continue"`` runs them all and reports every failure.
    """

    register: Literal["after", "before"] = "after"
    parallel: bool = False
    on_error: Literal["stop", "continue"] = "stop"

    def __attrs_post_init__(self) -> None:
        if self.register not in ("after", "before"):
            raise WorkflowDefinitionError(
                f"SagaPolicy register must be 'after' or 'before', not {self.register!r}"
            )
        if self.on_error not in ("stop", "continue"):
            raise WorkflowDefinitionError(
                f"SagaPolicy on_error must be 'stop' or 'continue', not {self.on_error!r}"
            )


def compensation(
    name: str,
    *,
    fn: StepFn | None = None,
    duration: Duration = 0,
    output: Mapping[str, Any] | None = None,
    retry: RetryPolicy | None = None,
    timeout: Duration | None = None,
) -> Step:
    """Define a compensation for ``add_step(..., compensate=...)``.

    Like a step: code-less (``duration``, ``output``) or code (``fn``), with its
    own retry policy and per-attempt timeout. Its name is what faults, the trace
    and expectations use.
    """
    _check_name(name, "a compensation")
    if output is not None and not isinstance(output, Mapping):
        raise WorkflowDefinitionError(
            f"compensation {name!r}: output must be a mapping, not {type(output).__name__}"
        )
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise WorkflowDefinitionError(
            f"compensation {name!r}: retry must be a wfsim.RetryPolicy, not {type(retry).__name__}"
        )
    if fn is not None and not callable(fn):
        raise WorkflowDefinitionError(f"compensation {name!r}: fn must be an async function")
    duration_ns, timeout_ns = _durations("compensation", name, duration, timeout)
    return Step(
        name=name,
        index=-1,
        fn=fn,
        duration_ns=duration_ns,
        output=dict(output) if output is not None else None,
        retry=retry,
        timeout_ns=timeout_ns,
        role="compensation",
    )


def task(
    name: str,
    *,
    fn: StepFn | None = None,
    duration: Duration = 0,
    output: Mapping[str, Any] | None = None,
    retry: RetryPolicy | None = None,
    timeout: Duration | None = None,
) -> Step:
    """Define one task of a parallel group (:meth:`Workflow.add_parallel`).

    Like a step: code-less (``duration``, ``output``) or code (``fn(ctx)``
    returning a mapping), with its own retries and timeout. Its output is merged
    when the group ends, not when the task does.
    """
    step = compensation(name, fn=fn, duration=duration, output=output, retry=retry, timeout=timeout)
    return attrs.evolve(step, role="task")


def check_workflow_options(max_concurrency: object, saga: object) -> None:
    """The options every kind of workflow takes, checked the same way."""
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise WorkflowDefinitionError(
            f"max_concurrency must be a positive integer or None, not {max_concurrency!r}"
        )
    if saga is not None and not isinstance(saga, SagaPolicy):
        raise WorkflowDefinitionError(f"saga must be a wfsim.SagaPolicy, not {type(saga).__name__}")


class NoStaticSteps:
    """For workflows whose steps appear only as they run (a body, events): what the
    engine and ``run()`` ask of any workflow, answered with "none declared"."""

    @property
    def steps(self) -> Mapping[str, Step]:
        return {}

    @property
    def compensations(self) -> Mapping[str, Step]:
        return {}

    @property
    def tasks(self) -> Mapping[str, Step]:
        return {}

    def validate(self) -> tuple[str, ...]:
        return ()

    def dependents(self) -> Mapping[str, tuple[str, ...]]:
        return {}

    def faults_by_target(self, faults: Sequence[Fault]) -> Mapping[str, list[Fault]]:
        return {}


def _check_breaker(step: str, breaker: object, fallback: object) -> None:
    if breaker is not None and not isinstance(breaker, CircuitBreaker):
        raise WorkflowDefinitionError(
            f"step {step!r}: breaker= takes a wfsim.CircuitBreaker, not {type(breaker).__name__}"
        )
    if fallback is not None and not callable(fallback):
        raise WorkflowDefinitionError(f"step {step!r}: fallback must be a function")
    if fallback is not None and breaker is None:
        raise WorkflowDefinitionError(
            f"step {step!r}: a fallback runs when a circuit breaker refuses the call; "
            "give the step a breaker= too"
        )


def check_shared_breakers(breakers: Iterable[CircuitBreaker | None]) -> None:
    """Steps share a breaker by name, so one name must mean one configuration."""
    seen: dict[str, CircuitBreaker] = {}
    for b in breakers:
        if b is None:
            continue
        if b.name in seen and seen[b.name] != b:
            raise WorkflowDefinitionError(
                f"two circuit breakers are named {b.name!r} with different settings; "
                "steps share a breaker by name, so declare it once and reuse it"
            )
        seen[b.name] = b


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise WorkflowDefinitionError(f"{what} needs a non-empty name, not {name!r}")


def _durations(
    kind: str, name: str, duration: Duration, timeout: Duration | None
) -> tuple[int, int | None]:
    """``duration`` and ``timeout`` of the ``kind`` named ``name`` in nanoseconds."""
    try:
        duration_ns = to_ns(duration, what="duration")
        timeout_ns = None if timeout is None else to_ns(timeout, what="timeout")
    except ValueError as exc:  # its message starts with what: name whose it is
        raise WorkflowDefinitionError(f"{kind} {name!r} {exc}") from None
    if timeout_ns == 0:
        raise WorkflowDefinitionError(f"{kind} {name!r}: timeout must be positive, not 0")
    return duration_ns, timeout_ns


def _compensation_of(step: str, value: Step | StepFn | str | None) -> Step | None:
    if value is None:
        return None
    if isinstance(value, Step):
        if not value.is_compensation:
            raise WorkflowDefinitionError(
                f"step {step!r}: compensate= takes wfsim.compensation(...), a name or an "
                f"async function, not the workflow step {value.name!r}"
            )
        return value
    if isinstance(value, str):
        return compensation(value)
    if callable(value):
        return compensation(str(getattr(value, "__name__", "")), fn=value)
    raise WorkflowDefinitionError(
        f"step {step!r}: compensate= takes wfsim.compensation(...), a name or an async "
        f"function, not {type(value).__name__}"
    )


def _dep_names(after: Iterable[StepLike] | StepLike | None) -> tuple[str, ...]:
    if after is None:
        return ()
    if isinstance(after, (str, Step)):
        after = [after]
    given = tuple(after)
    for dep in given:
        if type(dep) is not str:  # steps (or something wrong): most often, names only
            names = tuple([d.name if isinstance(d, Step) else d for d in given])
            for name in names:
                if not isinstance(name, str):
                    raise WorkflowDefinitionError(
                        f"after= takes steps or step names, not {type(name).__name__} {name!r}"
                    )
            break
    else:
        names = cast("tuple[str, ...]", given)
    if len(names) > 1 and len(set(names)) < len(names):
        names = tuple(dict.fromkeys(names))  # no repeats
    return names


class Workflow:
    """A DAG workflow.

    Example::

        wf = wfsim.Workflow("analysis")
        prepare = wf.add_step("prepare", duration=1.5, output={"rows": 100})

        @wf.step(after=[prepare], retry=wfsim.RetryPolicy(max_attempts=3), timeout=30)
        async def analyze(ctx):
            ctx.set("seen", ctx.get("rows"))
            await ctx.sleep(2)

    ``max_concurrency`` bounds how many attempts run at once (``None``:
    unbounded).
    """

    def __init__(
        self,
        name: str,
        *,
        max_concurrency: int | None = None,
        saga: SagaPolicy | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise WorkflowDefinitionError(f"a workflow needs a non-empty name, not {name!r}")
        check_workflow_options(max_concurrency, saga)
        self.name = name
        self.max_concurrency = max_concurrency
        self.saga = saga or SagaPolicy()
        self._steps: dict[str, Step] = {}
        self._order: tuple[str, ...] | None = None
        self._dependents: dict[str, tuple[str, ...]] | None = None
        self._runs_code: bool | None = None
        # steps, tasks and compensations as read (each worked out once per shape and
        # handed out as a read-only view; adding a step forgets them)
        self._views: tuple[dict[str, Step], dict[str, Step], dict[str, Step]] | None = None
        # faults_by_target's answer for the faults it was last asked about
        self._fault_index: tuple[tuple[Fault, ...], dict[str, list[Fault]]] | None = None

    # -- building ---------------------------------------------------------------------------
    def add_step(
        self,
        name: str,
        *,
        fn: StepFn | None = None,
        duration: Duration = 0,
        output: Mapping[str, Any] | None = None,
        after: Iterable[StepLike] | StepLike | None = None,
        retry: RetryPolicy | None = None,
        timeout: Duration | None = None,
        compensate: Step | StepFn | str | None = None,
        breaker: CircuitBreaker | None = None,
        fallback: StepFn | None = None,
        cache_key: Callable[[Mapping[str, Any]], Hashable] | None = None,
        trigger_rule: str = "all_success",
        idempotent: bool = True,
    ) -> Step:
        """Add a step and return its definition (usable in other steps' ``after=``).

        Without ``fn`` the step is code-less: it takes ``duration`` of virtual
        time and merges ``output`` into the context. With ``fn`` the step runs
        that ``async def fn(ctx)``; a mapping it returns is merged into the
        context too. ``compensate`` undoes the step when the workflow fails: a
        :func:`compensation`, a name (an instant, code-less compensation) or an
        ``async def fn(ctx)``. ``breaker`` (a :class:`CircuitBreaker`, shared by
        every step naming it) refuses attempts while open; ``fallback`` is then
        run instead of the step (``async def fallback(ctx)``). ``cache_key``
        (a function of the context, e.g. ``lambda c: c["user"]``) lets a rerun
        of the step with an equal key reuse its result within the run.
        ``trigger_rule`` (Airflow's: ``all_success`` by default, ``all_done``,
        ``one_success``, ``none_failed_min_one_success``, ...) decides whether
        the step runs given how its direct upstream steps ended.
        ``idempotent=False`` marks a step whose effect must not run twice: when a
        crash or an end error makes it run again, ``RunResult.repeated_effects``
        names it.
        """
        _check_name(name, "a step")
        if trigger_rule not in TRIGGER_RULES:
            raise WorkflowDefinitionError(
                f"step {name!r}: unknown trigger rule {trigger_rule!r}"
                f"{did_you_mean(trigger_rule, TRIGGER_RULES)} (rules: {', '.join(TRIGGER_RULES)})"
            )
        if breaker is not None or fallback is not None:
            _check_breaker(name, breaker, fallback)
        if name in self._steps:
            raise WorkflowDefinitionError(
                f"workflow {self.name!r} already has a step named {name!r}; step names are unique"
            )
        if output is not None and not isinstance(output, Mapping):
            raise WorkflowDefinitionError(
                f"step {name!r}: output must be a mapping of context keys, not "
                f"{type(output).__name__}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise WorkflowDefinitionError(
                f"step {name!r}: retry must be a wfsim.RetryPolicy, not {type(retry).__name__}"
            )
        if fn is not None and not callable(fn):
            raise WorkflowDefinitionError(f"step {name!r}: fn must be an async function")
        duration_ns, timeout_ns = _durations("step", name, duration, timeout)
        deps = _dep_names(after)
        if name in deps:
            raise CycleError(f"step {name!r} cannot run after itself", (name, name))
        # Positional, in Step's field order (a call with 15 keywords costs as much again
        # as the rest of add_step; test_workflow checks each field lands where it should).
        step = Step(
            name,
            len(self._steps),  # index
            deps,  # after
            fn,
            duration_ns,
            dict(output) if output is not None else None,  # output
            retry,
            timeout_ns,
            _compensation_of(name, compensate),  # compensate
            breaker,
            fallback,
            cache_key,
            name,  # cache_ns
            trigger_rule,
            "step",  # role
            None,  # group
            bool(idempotent),  # idempotent
        )
        self._steps[name] = step
        self._shape_changed()
        return step

    def add_parallel(
        self,
        name: str,
        tasks: Iterable[Step],
        *,
        after: Iterable[StepLike] | StepLike | None = None,
        merge: MergeKind = "shallow",
        on_conflict: ConflictPolicy = "prefer_new",
        allow_partial_success: bool = False,
        timeout: Duration | None = None,
        trigger_rule: str = "all_success",
    ) -> Step:
        """Add a parallel group step (Ruvon's PARALLEL): ``tasks`` run concurrently.

        Example::

            wf.add_parallel("enrich", [wfsim.task("price", duration=1, output={"p": 3}),
                                       wfsim.task("stock", duration=2, output={"s": 7})],
                            after=["validate"], merge="deep", on_conflict="raise")

        The group completes when every task ended and their outputs merged into the
        context (see :class:`ParallelGroup`); its tasks appear in the trace as
        ``group/task`` steps.
        """
        task_list = tuple(tasks)
        if not task_list:
            raise WorkflowDefinitionError(f"parallel group {name!r} needs at least one task")
        for t in task_list:
            if not isinstance(t, Step) or t.role != "task":
                raise WorkflowDefinitionError(
                    f"parallel group {name!r}: tasks are made with wfsim.task(...), "
                    f"not {type(t).__name__}"
                )
        names = [t.name for t in task_list]
        if len(set(names)) != len(names):
            raise WorkflowDefinitionError(f"parallel group {name!r}: task names must be unique")
        if merge not in ("shallow", "deep"):
            raise WorkflowDefinitionError(
                f"parallel group {name!r}: merge must be 'shallow' or 'deep', not {merge!r}"
            )
        if on_conflict not in ("prefer_new", "prefer_existing", "raise"):
            raise WorkflowDefinitionError(
                f"parallel group {name!r}: on_conflict must be 'prefer_new', "
                f"'prefer_existing' or 'raise', not {on_conflict!r}"
            )
        _, timeout_ns = _durations("parallel group", name, 0, timeout)
        step = self.add_step(name, after=after, trigger_rule=trigger_rule)
        group = ParallelGroup(
            task_list, merge, on_conflict, bool(allow_partial_success), timeout_ns
        )
        step = attrs.evolve(step, group=group)
        self._steps[name] = step  # (the group's tasks may have code, faults, names)
        self._shape_changed()
        return step

    def step(
        self,
        fn: StepFn | None = None,
        *,
        name: str | None = None,
        after: Iterable[StepLike] | StepLike | None = None,
        retry: RetryPolicy | None = None,
        timeout: Duration | None = None,
        compensate: Step | StepFn | str | None = None,
        breaker: CircuitBreaker | None = None,
        fallback: StepFn | None = None,
        trigger_rule: str = "all_success",
        idempotent: bool = True,
    ) -> Any:
        """Decorator form of :meth:`add_step` for code steps; returns the :class:`Step`."""

        def register(func: StepFn) -> Step:
            return self.add_step(
                name or str(getattr(func, "__name__", "")),
                fn=func,
                after=after,
                retry=retry,
                timeout=timeout,
                compensate=compensate,
                breaker=breaker,
                fallback=fallback,
                trigger_rule=trigger_rule,
                idempotent=idempotent,
            )

        return register(fn) if fn is not None else register

    def _shape_changed(self) -> None:
        """Forget what was worked out from the steps (each is made again when next read)."""
        self._order = self._dependents = self._runs_code = self._views = None
        self._fault_index = None

    # -- reading ----------------------------------------------------------------------------
    @property
    def steps(self) -> Mapping[str, Step]:
        """Every step by name, in declaration order (a read-only view; adding a step
        later does not change a view already handed out)."""
        return MappingProxyType(self._read()[0])

    def __getitem__(self, name: str) -> Step:
        try:
            return self._steps[name]
        except KeyError:
            raise UnknownStepError(
                f"workflow {self.name!r} has no step {name!r}{did_you_mean(name, self._steps)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, steps={len(self._steps)})"

    def validate(self) -> tuple[str, ...]:
        """Check the dependencies and return the steps in a topological order.

        Raises :class:`UnknownStepError` for a dependency that names no step
        and :class:`CycleError` (with the cycle's path) when the steps cannot
        be ordered.
        """
        if self._order is not None:
            return self._order
        if not self._steps:
            raise WorkflowDefinitionError(f"workflow {self.name!r} has no steps")
        for step in self._steps.values():
            for dep in step.after:
                if dep not in self._steps:
                    raise UnknownStepError(
                        f"unknown step {dep!r} in after= of step {step.name!r}"
                        f"{did_you_mean(dep, self._steps)}"
                    )
        self._check_compensation_names()
        for task_name in self.tasks:
            if task_name in self._steps:
                raise WorkflowDefinitionError(
                    f"step {task_name!r} has the trace name of a task of parallel group "
                    f"{task_name.split('/')[0]!r}; rename one of them"
                )
        check_shared_breakers(s.breaker for s in self._steps.values())
        self._order = _topological_order(self._steps, self.dependents())
        return self._order

    def _check_compensation_names(self) -> None:
        owners: dict[str, str] = {}
        for step in self._steps.values():
            comp = step.compensate
            if comp is None:
                continue
            if comp.name in self._steps:
                raise WorkflowDefinitionError(
                    f"compensation {comp.name!r} of step {step.name!r} has the name of a step; "
                    "faults, the trace and expectations need distinct names"
                )
            if comp.name in owners:
                raise WorkflowDefinitionError(
                    f"compensation {comp.name!r} is declared by both {owners[comp.name]!r} and "
                    f"{step.name!r}; give each its own name"
                )
            owners[comp.name] = step.name

    @property
    def tasks(self) -> Mapping[str, Step]:
        """Every parallel group task by its trace name, ``group/task`` (read-only view)."""
        return MappingProxyType(self._read()[1])

    @property
    def compensations(self) -> Mapping[str, Step]:
        """Every compensation by name, declaration order of their steps (read-only view)."""
        return MappingProxyType(self._read()[2])

    def _read(self) -> tuple[dict[str, Step], dict[str, Step], dict[str, Step]]:
        """The dicts behind ``steps``, ``tasks`` and ``compensations``, made once per
        shape (the workflow's calls to each are many per run). Never mutated: adding a
        step makes new ones."""
        if self._views is None:
            steps = self._steps.values()
            self._views = (
                dict(self._steps),
                {
                    f"{s.name}/{t.name}": t
                    for s in steps
                    if s.group is not None
                    for t in s.group.tasks
                },
                {s.compensate.name: s.compensate for s in steps if s.compensate},
            )
        return self._views

    @property
    def runs_code(self) -> bool:
        """Whether any step, task, compensation or fallback has code to run (a run of a
        workflow without any needs no trio). Worked out once per shape of the workflow."""
        if self._runs_code is None:
            every = (*self._steps.values(), *self.tasks.values(), *self.compensations.values())
            self._runs_code = any(s.fn is not None or s.fallback is not None for s in every)
        return self._runs_code

    def faults_by_target(self, faults: Sequence[Fault]) -> Mapping[str, list[Fault]]:
        """Each step's and compensation's faults among ``faults``, in plan order, for the
        names some fault targets. Worked out once for the faults last asked about (a
        campaign asks about the same ones run after run), until the workflow changes."""
        given = tuple(faults)
        if self._fault_index is None or self._fault_index[0] != given:
            index: dict[str, list[Fault]] = {}
            for name in [*self._steps, *self.compensations]:
                matching = [f for f in given if f.matches(name)]
                if matching:
                    index[name] = matching
            self._fault_index = (given, index)
        return self._fault_index[1]

    def dependents(self) -> Mapping[str, tuple[str, ...]]:
        """For each step, the steps that list it in ``after=`` (declaration order).

        Computed once per shape of the workflow (adding a step recomputes it).
        """
        if self._dependents is None:
            out: dict[str, list[str]] = {name: [] for name in self._steps}
            for step in self._steps.values():
                for dep in step.after:
                    out[dep].append(step.name)
            self._dependents = {k: tuple(v) for k, v in out.items()}
        return self._dependents


def _topological_order(
    steps: Mapping[str, Step], children: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """Kahn's algorithm in declaration order; on failure, find and name one cycle."""
    indegree = {name: len(step.after) for name, step in steps.items()}
    order = [name for name, d in indegree.items() if d == 0]
    for name in order:  # (the loop reaches the names appended as it goes)
        for child in children[name]:
            indegree[child] -= 1
            if indegree[child] == 0:
                order.append(child)
    if len(order) == len(steps):
        return tuple(order)
    path = _find_cycle({n: steps[n].after for n in steps if indegree[n] > 0})
    raise CycleError(
        "the steps' dependencies form a cycle: "
        + " -> ".join(path)
        + "; remove one of these after= links",
        tuple(path),
    )


def _find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle in ``graph`` (name -> dependencies), as a path with its start repeated."""
    state: dict[str, int] = {}
    for start in graph:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            deps = [d for d in graph.get(node, ()) if d in graph]
            if i < len(deps):
                stack.append((node, i + 1))
                nxt = deps[i]
                if state.get(nxt) == 1:
                    cycle = [*path[path.index(nxt) :], nxt]
                    cycle.reverse()  # show it in run order: a -> b means b runs after a
                    return cycle
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    raise AssertionError("no cycle found in a graph Kahn's algorithm could not order")
