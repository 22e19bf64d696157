"""Imperative workflows: an ``async def`` that awaits steps (Temporal, PyWorkflow, DBOS style).

::

    @wfsim.workflow
    async def checkout(ctx, order):
        await ctx.step(reserve, order, compensate=release)
        charged = await ctx.step(charge, order, retry=wfsim.RetryPolicy(max_attempts=3))
        parts = await ctx.gather(*(ctx.step(pack, item) for item in order["items"]))
        await ctx.sleep("1h")
        return {"charged": charged, "parts": parts}

Step functions take the step's :class:`~wfsim.StepContext` first, then the
arguments given to ``ctx.step``. Each call gets a stable name: the function's
name (or ``name=``) for its first call, ``name:2``, ``name:3``, ... for later
calls, so faults and expectations can target "the 3rd call of process_chunk".
Branching and dynamic fan-out are plain Python. Everything the body does runs
under the engine's baton, so the run is as deterministic as a DAG's.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from wfsim.errors import WorkflowDefinitionError, did_you_mean

from ._breaker import CircuitBreaker
from ._context import RunView
from ._retry import RetryPolicy
from ._time import Duration, to_ns
from ._workflow import (
    NoStaticSteps,
    SagaPolicy,
    StepFn,
    _check_breaker,
    check_workflow_options,
)

__all__ = [
    "ChildCall",
    "Handle",
    "ImperativeWorkflow",
    "StepCall",
    "WorkflowContext",
    "workflow",
]

WorkflowFn = Callable[["WorkflowContext", Any], Awaitable[Any]]


class BodyRuntime(Protocol):
    """What a :class:`WorkflowContext` asks of the run (``_bodies.Bodies`` at run time)."""

    @property
    def engine(self) -> Any: ...

    async def call_steps(
        self, items: Sequence[StepCall | ChildCall | Awaitable[Any]]
    ) -> list[Any]: ...

    def spawn(self, awaitable: Awaitable[Any]) -> Any: ...

    async def join(self, branch: Any) -> Any: ...

    async def wait_for_signal(self, name: str, timeout_ns: int | None) -> Any: ...

    async def sleep(self, delay_ns: int) -> None: ...

    def now_ns(self) -> int: ...

    def rng_seed(self, prefix: str) -> int: ...

    def patched(self, patch_id: str) -> bool: ...


class ImperativeWorkflow(NoStaticSteps):
    """A workflow whose body is an ``async def body(ctx, input)``; see :func:`workflow`."""

    def __init__(
        self,
        fn: WorkflowFn,
        *,
        name: str | None = None,
        max_concurrency: int | None = None,
        saga: SagaPolicy | None = None,
        signals: Iterable[str] = (),
    ) -> None:
        if not callable(fn):
            raise WorkflowDefinitionError("@wfsim.workflow decorates an async function")
        self.fn = fn
        self.name = name or str(getattr(fn, "__name__", "workflow"))
        check_workflow_options(max_concurrency, saga)
        self.max_concurrency = max_concurrency
        self.saga = saga or SagaPolicy()
        self.signals: tuple[str, ...] = tuple(signals)
        for sig in self.signals:
            if not isinstance(sig, str) or not sig:
                raise WorkflowDefinitionError(f"signal names must be non-empty strings: {sig!r}")

    def __repr__(self) -> str:
        return f"ImperativeWorkflow({self.name!r})"

    async def __call__(self, ctx: WorkflowContext, input: Any) -> Any:
        """Calling the workflow runs its body (what ``ctx.child`` will build on)."""
        return await self.fn(ctx, input)


def workflow(
    fn: WorkflowFn | None = None,
    *,
    name: str | None = None,
    max_concurrency: int | None = None,
    saga: SagaPolicy | None = None,
    signals: Iterable[str] = (),
) -> Any:
    """Decorate ``async def body(ctx, input)`` as an imperative workflow.

    Use bare (``@wfsim.workflow``) or with options
    (``@wfsim.workflow(name="checkout", max_concurrency=4, saga=SagaPolicy(...))``).
    ``signals=("approval",)`` declares the signals the body waits for: then a
    signal of another name, delivered or awaited, is an error with a did-you-mean.
    Run it like any workflow: ``wfsim.run(checkout, input={...}, seed=7)``.
    """

    def wrap(func: WorkflowFn) -> ImperativeWorkflow:
        return ImperativeWorkflow(
            func, name=name, max_concurrency=max_concurrency, saga=saga, signals=signals
        )

    return wrap(fn) if fn is not None else wrap


@attrs.frozen
class StepCall:
    """A step the body asked for: awaiting it runs the step and returns its result.

    A failed step raises its last error into the body (the step's own exception,
    :class:`~wfsim.InjectedError` for an injected fault by name, or
    :class:`~wfsim.StepTimeoutError` for a timeout).
    """

    ctx: WorkflowContext
    fn: StepFn | Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    name: str
    retry: RetryPolicy | None
    timeout: Duration | None
    compensate: Any
    breaker: CircuitBreaker | None = None
    fallback: Callable[..., Any] | None = None
    cache_key: Callable[..., Hashable] | None = None
    idempotent: bool = True

    def __await__(self) -> Generator[Any, None, Any]:
        results = yield from self.ctx._bodies.call_steps([self]).__await__()
        return results[0]


@attrs.frozen
class ChildCall:
    """A child workflow the body started with ``ctx.child``; awaiting it returns its result."""

    ctx: WorkflowContext
    workflow: ImperativeWorkflow
    input: Any
    name: str

    def __await__(self) -> Generator[Any, None, Any]:
        results = yield from self.ctx._bodies.call_steps([self]).__await__()
        return results[0]


class Handle:
    """A branch started with ``ctx.spawn``: ``await handle`` returns its result.

    Awaiting it parks the awaiting code until the branch ends (at once if it has),
    then returns the branch's result or raises its error; it may be awaited any
    number of times, from the body or from other branches.
    """

    __slots__ = ("_bodies", "_state")

    def __init__(self, bodies: BodyRuntime, state: Any) -> None:
        self._bodies = bodies
        self._state = state

    def __await__(self) -> Generator[Any, None, Any]:
        return (yield from self._bodies.join(self._state).__await__())

    @property
    def done(self) -> bool:
        return bool(self._state.status in ("completed", "failed", "cancelled"))


class WorkflowContext(RunView):
    """What a workflow body receives: steps, fan-out, virtual time, the shared context."""

    __slots__ = ("_bodies", "_prefix")

    def __init__(self, bodies: BodyRuntime, prefix: str = "") -> None:
        super().__init__(bodies.engine)
        self._bodies = bodies
        self._prefix = prefix  # "child/" inside a child workflow: its steps nest under it

    def _now_ns(self) -> int:
        # Replaying its history, the body sees the time it originally saw (IMP-11).
        return self._bodies.now_ns()

    def _seed(self) -> int:
        return self._bodies.rng_seed(self._prefix)

    def patched(self, patch_id: str) -> bool:
        """Whether the code after a change named ``patch_id`` runs (Temporal's ``patched``).

        False while the body replays a history recorded before the patch (so the old
        code path keeps the old calls), True otherwise; the answer is recorded, so a
        body that once took the new path always does (IMP-13).
        """
        if not isinstance(patch_id, str) or not patch_id:
            raise WorkflowDefinitionError(
                f"ctx.patched() takes a non-empty string id, not {patch_id!r}"
            )
        return self._bodies.patched(patch_id)

    def get(self, key: str, default: Any = None) -> Any:
        return self._engine.context.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._engine.context[key] = value

    def step(
        self,
        fn: StepFn | Callable[..., Any],
        *args: Any,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Duration | None = None,
        compensate: Any = None,
        breaker: CircuitBreaker | None = None,
        fallback: Callable[..., Any] | None = None,
        cache_key: Callable[..., Hashable] | None = None,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> StepCall:
        """A call of step function ``fn(step_ctx, *args, **kwargs)``; ``await`` it.

        ``retry``, ``timeout``, ``compensate``, ``breaker`` and ``fallback``
        (called like ``fn`` when the breaker refuses) work as for DAG steps. A
        function given as ``compensate`` is called like ``fn`` too,
        ``undo(step_ctx, *args, **kwargs)``, and reads the step's result as
        ``step_ctx.result``; ``wfsim.compensation(...)`` takes ``step_ctx`` alone.
        ``idempotent=False`` says a second run of its effect is a bug (a crash after
        the effect reruns it): ``RunResult.repeated_effects`` names it (FAULT-14).
        ``cache_key(*args, **kwargs)`` names the call's inputs: a later call of
        the same step name with an equal key reuses the result (``cache_hit``).
        """
        if not callable(fn):
            raise WorkflowDefinitionError(f"ctx.step() takes a step function, not {fn!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise WorkflowDefinitionError(
                f"ctx.step(retry=...) takes a wfsim.RetryPolicy, not {type(retry).__name__}"
            )
        if timeout is not None:
            to_ns(timeout, what="ctx.step timeout")
        base = self._prefix + (name or str(getattr(fn, "__name__", "step")))
        _check_breaker(base, breaker, fallback)
        if cache_key is not None and not callable(cache_key):
            raise WorkflowDefinitionError(
                f"ctx.step(cache_key=...) takes a function of the step's arguments, not "
                f"{type(cache_key).__name__}"
            )
        return StepCall(
            self,
            fn,
            args,
            kwargs,
            base,
            retry,
            timeout,
            compensate,
            breaker,
            fallback,
            cache_key,
            bool(idempotent),
        )

    def child(
        self, workflow: ImperativeWorkflow, input: Any = None, *, name: str | None = None
    ) -> ChildCall:
        """Run ``workflow`` as a child; ``await`` it for its result (or its error).

        The child's steps are named ``child/step`` (the child's name is the
        workflow's name, ``name:2`` for a second child of that name), its trace
        is framed by ``child_started`` and ``child_completed`` / ``child_failed``,
        and it can be gathered like a step.
        """
        if not isinstance(workflow, ImperativeWorkflow):
            raise WorkflowDefinitionError(
                f"ctx.child() takes a @wfsim.workflow, not {type(workflow).__name__}"
            )
        return ChildCall(self, workflow, input, self._prefix + (name or workflow.name))

    async def gather(self, *calls: StepCall | ChildCall | Awaitable[Any]) -> list[Any]:
        """Run steps and branches concurrently; return their results in call order.

        Each argument is a ``ctx.step(...)`` call or a coroutine of the body's
        (``branch(ctx, ...)`` awaiting steps in sequence, sleeping, gathering
        again). Waits for every one to end; if some failed, raises the first
        failure in call order.
        """
        for call in calls:
            if not isinstance(call, (StepCall, ChildCall)) and not inspect.isawaitable(call):
                raise WorkflowDefinitionError(
                    "ctx.gather() takes ctx.step(...) calls or coroutines, "
                    f"not {type(call).__name__}"
                )
        if not calls:
            return []
        return await self._bodies.call_steps(list(calls))

    def spawn(self, coroutine: Awaitable[Any]) -> Handle:
        """Start ``coroutine`` (steps, sleeps, waits of the body's) as a branch now.

        Returns a :class:`Handle`; ``await handle`` later for its result. With
        handles a body can express any DAG: each step's branch awaits exactly the
        handles of the steps it depends on.
        """
        if not inspect.isawaitable(coroutine):
            raise WorkflowDefinitionError(
                f"ctx.spawn() takes a coroutine of the body's, not {type(coroutine).__name__}"
            )
        return Handle(self._bodies, self._bodies.spawn(coroutine))

    async def wait_for_signal(self, name: str, *, timeout: Duration | None = None) -> Any:
        """Wait for the signal ``name`` and return its payload (human in the loop).

        A signal delivered before this call was buffered and returns at once
        (first in, first out). With ``timeout``, raises
        :class:`~wfsim.SignalTimeoutError` if none arrives in that virtual time.
        """
        timeout_ns = None if timeout is None else to_ns(timeout, what="signal timeout")
        declared = getattr(self._engine.workflow, "signals", ())
        if declared and name not in declared:
            raise WorkflowDefinitionError(
                f"workflow {self.workflow!r} waits for signal {name!r}, which it does not "
                f"declare{did_you_mean(name, declared)} (declared: {', '.join(declared)})"
            )
        return await self._bodies.wait_for_signal(name, timeout_ns)

    async def sleep(self, seconds: Duration) -> None:
        """Wait ``seconds`` of virtual time."""
        delay = to_ns(seconds, what="ctx.sleep duration")
        await self._bodies.sleep(delay)
