"""DAG workflow definitions.

A :class:`Workflow` is a named set of steps with ``after=`` dependencies.
Steps either run code (an ``async def`` taking a :class:`StepContext`) or are
declared without code: a virtual ``duration`` and an ``output`` dict merged
into the context. Dependencies are checked when the workflow is built
(:meth:`Workflow.validate`, called by every run): an unknown name is reported
with the closest valid one, a cycle with its path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import attrs

from wfsim.errors import (
    CycleError,
    UnknownStepError,
    WorkflowDefinitionError,
    did_you_mean,
)

from ._retry import RetryPolicy
from ._time import Duration, to_ns

if TYPE_CHECKING:
    from ._engine import StepContext

__all__ = ["Step", "StepFn", "Workflow"]

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

    @property
    def has_code(self) -> bool:
        return self.fn is not None


def _dep_names(after: Iterable[StepLike] | StepLike | None) -> tuple[str, ...]:
    if after is None:
        return ()
    if isinstance(after, (str, Step)):
        after = [after]
    names: list[str] = []
    for dep in after:
        if isinstance(dep, Step):
            names.append(dep.name)
        elif isinstance(dep, str):
            names.append(dep)
        else:
            raise WorkflowDefinitionError(
                f"after= takes steps or step names, not {type(dep).__name__} {dep!r}"
            )
    return tuple(dict.fromkeys(names))  # drop repeats, keep order


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

    def __init__(self, name: str, *, max_concurrency: int | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise WorkflowDefinitionError(f"a workflow needs a non-empty name, not {name!r}")
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise WorkflowDefinitionError(
                f"max_concurrency must be a positive integer or None, not {max_concurrency!r}"
            )
        self.name = name
        self.max_concurrency = max_concurrency
        self._steps: dict[str, Step] = {}
        self._order: tuple[str, ...] | None = None

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
    ) -> Step:
        """Add a step and return its definition (usable in other steps' ``after=``).

        Without ``fn`` the step is code-less: it takes ``duration`` of virtual
        time and merges ``output`` into the context. With ``fn`` the step runs
        that ``async def fn(ctx)``; a mapping it returns is merged into the
        context too.
        """
        if not isinstance(name, str) or not name:
            raise WorkflowDefinitionError(f"a step needs a non-empty name, not {name!r}")
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
        try:
            duration_ns = to_ns(duration, what=f"step {name!r} duration")
            timeout_ns = None if timeout is None else to_ns(timeout, what=f"step {name!r} timeout")
        except ValueError as exc:
            raise WorkflowDefinitionError(str(exc)) from None
        if timeout_ns == 0:
            raise WorkflowDefinitionError(f"step {name!r}: timeout must be positive, not 0")
        deps = _dep_names(after)
        if name in deps:
            raise CycleError(f"step {name!r} cannot run after itself", (name, name))
        step = Step(
            name=name,
            index=len(self._steps),
            after=deps,
            fn=fn,
            duration_ns=duration_ns,
            output=dict(output) if output is not None else None,
            retry=retry,
            timeout_ns=timeout_ns,
        )
        self._steps[name] = step
        self._order = None
        return step

    def step(
        self,
        fn: StepFn | None = None,
        *,
        name: str | None = None,
        after: Iterable[StepLike] | StepLike | None = None,
        retry: RetryPolicy | None = None,
        timeout: Duration | None = None,
    ) -> Any:
        """Decorator form of :meth:`add_step` for code steps; returns the :class:`Step`."""

        def register(func: StepFn) -> Step:
            return self.add_step(
                name or str(getattr(func, "__name__", "")),
                fn=func,
                after=after,
                retry=retry,
                timeout=timeout,
            )

        return register(fn) if fn is not None else register

    # -- reading ----------------------------------------------------------------------------
    @property
    def steps(self) -> Mapping[str, Step]:
        return dict(self._steps)

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
        self._order = _topological_order(self._steps)
        return self._order

    def dependents(self) -> Mapping[str, tuple[str, ...]]:
        """For each step, the steps that list it in ``after=`` (declaration order)."""
        out: dict[str, list[str]] = {name: [] for name in self._steps}
        for step in self._steps.values():
            for dep in step.after:
                out[dep].append(step.name)
        return {k: tuple(v) for k, v in out.items()}


def _topological_order(steps: Mapping[str, Step]) -> tuple[str, ...]:
    """Kahn's algorithm in declaration order; on failure, find and name one cycle."""
    indegree = {name: len(step.after) for name, step in steps.items()}
    children: dict[str, list[str]] = {name: [] for name in steps}
    for step in steps.values():
        for dep in step.after:
            children[dep].append(step.name)
    queue = [name for name, d in indegree.items() if d == 0]
    order: list[str] = []
    i = 0
    while i < len(queue):
        name = queue[i]
        i += 1
        order.append(name)
        for child in children[name]:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
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
