"""Event-driven workflows (LlamaIndex workflows' model, specs/sources.md section 2).

Steps subscribe to event types; a step returns an event (or None) or emits with
``ctx.send_event``; ``StartEvent`` starts the run and the first ``StopEvent``
ends it. ``num_workers`` bounds concurrent invocations per step; fan-in uses
``ctx.collect_events``. Where the real engine leaves an order to chance (which
of several same-type events arrives first), wfsim's choice source decides it, so
a campaign over seeds explores every arrival order. See ``specs/events.md``.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from wfsim.errors import WorkflowDefinitionError, did_you_mean

from ._retry import RetryPolicy
from ._time import Duration, to_ns
from ._workflow import NoStaticSteps, SagaPolicy

if TYPE_CHECKING:
    from ._context import StepContext

__all__ = ["Event", "EventStep", "EventWorkflow", "StartEvent", "StopEvent", "StreamedEvent"]


class Event:
    """An event: a type (its class) and fields. Subclass it for your event types::

    class Retrieved(wfsim.Event):
        pass

    Retrieved(docs=3).docs == 3
    """

    def __init__(self, **fields: Any) -> None:
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_fields"][name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}"
                f"{did_you_mean(name, self.__dict__['_fields'])}"
            ) from None

    @property
    def fields(self) -> Mapping[str, Any]:
        return dict(self.__dict__["_fields"])

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__["_fields"].get(name, default)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Event) and type(other) is type(self) and other.fields == self.fields
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(map(str, self.fields)))))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{type(self).__name__}({inner})"


class StartEvent(Event):
    """Delivered once at the start of the run, carrying the run's input as fields."""


class StopEvent(Event):
    """The first one a step returns ends the run; ``result`` is the run's result.

    A subclass's instance is itself the run's result, as in LlamaIndex (EVT-1).
    """

    def __init__(self, result: Any = None, **fields: Any) -> None:
        super().__init__(result=result, **fields)


@attrs.frozen
class StreamedEvent:
    """An event step code wrote to the run's stream (``ctx.write_event_to_stream``, EVT-9):
    what ``handler.stream_events()`` yields in LlamaIndex, with the virtual time and the
    step invocation and attempt that wrote it."""

    t_ns: int
    step: str
    attempt: int
    event: Any = attrs.field(hash=False)  # compared, not hashed (pydantic events are not)

    @property
    def t(self) -> float:
        """Virtual seconds since the run started."""
        return self.t_ns / 1e9


EventStepFn = Callable[["StepContext", Event], Awaitable[Any]]


@attrs.frozen
class EventStep:
    """One step of an event workflow: the event types it accepts and how it runs."""

    name: str
    fn: EventStepFn = attrs.field(eq=False)
    accepts: tuple[type[Event], ...]
    num_workers: int = 4
    retry: RetryPolicy | None = None
    timeout_ns: int | None = None
    #: LlamaIndex's option: route subclasses of the accepted types too (EVT-2).
    accept_event_subclasses: bool = False
    #: Event types named by the return annotation (EVT-8 checks someone accepts them).
    returns: tuple[type[Event], ...] = ()

    def accepts_event(self, event: Event) -> bool:
        return self.accepts_type(type(event))

    def accepts_type(self, kind: type[Event]) -> bool:
        """LlamaIndex's matching: the exact type, or a subclass with ``accept_event_subclasses``."""
        if self.accept_event_subclasses:
            return issubclass(kind, self.accepts)
        return kind in self.accepts


def _event_types(annotation: Any) -> tuple[Any, ...]:
    """The members of ``annotation`` (``A``, ``A | B``, ``Union[A, B]``), None left out."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return () if annotation is None or annotation is type(None) else (annotation,)


def _hints(fn: Any, step_name: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:  # NameError for a type defined inside a function, and kin
        raise WorkflowDefinitionError(
            f"step {step_name!r}: cannot read its annotations ({exc}); give accepts= "
            "explicitly, or define the event types at module level"
        ) from None


def _inferred_accepts(fn: Any, step_name: str) -> tuple[Any, ...]:
    """``accepts`` read from the event parameter's annotation, as LlamaIndex does (EVT-8)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    if len(params) < 2 or params[1].annotation is inspect.Parameter.empty:
        raise WorkflowDefinitionError(
            f"step {step_name!r} has no accepts= and its event parameter has no annotation: "
            "write `async def step(ctx, ev: MyEvent)` (a union for several types) or "
            "`@wf.step(accepts=MyEvent)`"
        )
    return _event_types(_hints(fn, step_name).get(params[1].name))


def _returned_events(fn: Any) -> tuple[type[Event], ...]:
    """Event types in the return annotation (unions, Optional); () when there is none."""
    try:
        annotation = typing.get_type_hints(fn).get("return")
    except Exception:
        return ()  # unreadable: not checked, like a step without an annotation
    # ``Event`` itself says "some event": nothing to check.
    return tuple(
        t
        for t in _event_types(annotation)
        if isinstance(t, type) and issubclass(t, Event) and t is not Event
    )


class EventWorkflow(NoStaticSteps):
    """A workflow of event-subscribed steps.

    Example::

        wf = wfsim.EventWorkflow("rag", timeout=45)

        @wf.step(accepts=wfsim.StartEvent)
        async def retrieve(ctx, ev):
            await ctx.sleep(1)
            return Retrieved(docs=3)

        @wf.step(accepts=Retrieved)
        async def answer(ctx, ev):
            return wfsim.StopEvent(result=f"{ev.docs} docs")

    ``timeout`` (virtual seconds; 45 by default, as LlamaIndex's ``Workflow``;
    None for none) ends the run ``timed_out`` naming the active steps (EVT-6).
    A step's ``accepts`` defaults to the annotation of its event parameter
    (``async def answer(ctx, ev: Query | Retry)``).
    """

    #: Whether step code may await trio (``ctx.sleep`` and wfsim's waits aside): a run
    #: then drives each attempt's code inside a trio run (DET-6). False (the LlamaIndex
    #: adapter's asyncio steps, LLAMA-10): ``wfsim.run`` drives the code without trio.
    code_needs_trio = True

    def __init__(self, name: str, *, timeout: Duration | None = 45) -> None:
        if not isinstance(name, str) or not name:
            raise WorkflowDefinitionError(f"a workflow needs a non-empty name, not {name!r}")
        self.name = name
        self.timeout_ns = None if timeout is None else to_ns(timeout, what="workflow timeout")
        self.max_concurrency: int | None = None
        self.saga = SagaPolicy()
        self.signals: tuple[str, ...] = ()
        self._steps: dict[str, EventStep] = {}

    def step(
        self,
        fn: EventStepFn | None = None,
        *,
        accepts: type[Event] | Iterable[type[Event]] | None = None,
        name: str | None = None,
        num_workers: int = 4,
        retry: RetryPolicy | None = None,
        timeout: Duration | None = None,
        accept_event_subclasses: bool = False,
    ) -> Any:
        """Register ``async def step(ctx, ev)`` for the event type(s) in ``accepts``.

        Without ``accepts`` the event parameter's annotation says (a union for
        several types); with neither it is a :class:`~wfsim.WorkflowDefinitionError`.
        An event goes to steps accepting its exact type; ``accept_event_subclasses``
        (LlamaIndex's name and default) lets subclasses in too (EVT-2).
        """

        def register(func: EventStepFn) -> EventStep:
            step_name = name or str(getattr(func, "__name__", ""))
            if not step_name:
                raise WorkflowDefinitionError("an event step needs a name")
            if step_name in self._steps:
                raise WorkflowDefinitionError(
                    f"event workflow {self.name!r} already has a step named {step_name!r}"
                )
            if accepts is None:
                types = _inferred_accepts(func, step_name)
            else:
                types = (accepts,) if isinstance(accepts, type) else tuple(accepts)
            for t in types:
                if not (isinstance(t, type) and issubclass(t, Event)):
                    raise WorkflowDefinitionError(
                        f"step {step_name!r}: accepts= takes wfsim.Event subclasses, not {t!r}"
                    )
            if not types:
                raise WorkflowDefinitionError(f"step {step_name!r} accepts no event type")
            if any(issubclass(t, StopEvent) for t in types):
                raise WorkflowDefinitionError(
                    f"step {step_name!r} cannot accept StopEvent: it ends the run (LlamaIndex "
                    "rejects it too); accept another event type"
                )
            if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
                raise WorkflowDefinitionError(
                    f"step {step_name!r}: num_workers must be an integer > 0, not {num_workers!r}"
                )
            timeout_ns = None if timeout is None else to_ns(timeout, what="step timeout")
            step = EventStep(
                step_name,
                func,
                types,
                num_workers,
                retry,
                timeout_ns,
                bool(accept_event_subclasses),
                _returned_events(func),
            )
            self._steps[step_name] = step
            return step

        return register(fn) if fn is not None else register

    @property
    def event_steps(self) -> Mapping[str, EventStep]:
        """The steps by name (read-only: register steps with :meth:`step`)."""
        return types.MappingProxyType(self._steps)

    def validate(self) -> tuple[str, ...]:
        if not self._steps:
            raise WorkflowDefinitionError(f"event workflow {self.name!r} has no steps")
        steps = self._steps.values()
        if not any(s.accepts_type(StartEvent) for s in steps):
            raise WorkflowDefinitionError(
                f"event workflow {self.name!r}: no step accepts wfsim.StartEvent, so nothing "
                "would ever run"
            )
        # LlamaIndex's WorkflowValidationError, for the types return annotations name.
        unused = {
            t.__name__: s.name
            for s in steps
            for t in s.returns
            if not issubclass(t, StopEvent) and not any(c.accepts_type(t) for c in steps)
        }
        if unused:
            listed = ", ".join(f"{t} (returned by {s!r})" for t, s in unused.items())
            raise WorkflowDefinitionError(
                f"event workflow {self.name!r}: events produced but never consumed: {listed}; "
                "no step accepts them (accept_event_subclasses=True lets a step take subclasses)"
            )
        return ()

    def __repr__(self) -> str:
        return f"EventWorkflow({self.name!r}, steps={len(self._steps)})"
