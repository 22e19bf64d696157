"""The LlamaIndex adapter: a ``workflows.Workflow`` class as a wfsim event workflow.

Each LlamaIndex event class gets a wfsim :class:`~wfsim.Event` twin of the same
name (same hierarchy; ``StartEvent``/``StopEvent`` map to wfsim's), which carries
the real event instance, so step code only ever sees LlamaIndex events and the
engine, the trace, faults and oracles only see wfsim's. See specs/llama.md.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import outcome
from workflows import Workflow
from workflows.events import Event as LEvent
from workflows.events import InputRequiredEvent
from workflows.events import StartEvent as LStart
from workflows.events import StopEvent as LStop
from workflows.retry_policy import (
    RetryInfo,
    _ComposableRetryPolicy,
    stop_after_attempt,
    stop_never,
    wait_exponential,
    wait_random_exponential,
)

from wfsim._core._context import StepContext
from wfsim._core._events import Event, EventWorkflow, StartEvent, StopEvent
from wfsim._core._retry import RetryPolicy
from wfsim._core._signals import Signal
from wfsim.errors import WfsimError, WorkflowDefinitionError

__all__ = ["LlamaContext", "LlamaUnsupportedError", "LlamaWorkflow", "adapt"]

_MISSING: Any = object()


class LlamaUnsupportedError(WfsimError, NotImplementedError):
    """Step code used a part of LlamaIndex's ``Context`` the adapter does not model.
    Never retried."""

    non_retryable = True


# -- events -------------------------------------------------------------------------------
_TWINS: dict[type, type[Event]] = {LStart: StartEvent, LStop: StopEvent, LEvent: Event}


def twin(cls: type) -> type[Event]:
    """The wfsim event class standing for the LlamaIndex event class ``cls``."""
    found = _TWINS.get(cls)
    if found is None:
        bases = tuple(twin(b) for b in cls.__bases__ if issubclass(b, LEvent)) or (Event,)
        found = type(cls.__name__, bases, {"__module__": cls.__module__, "llama_class": cls})
        _TWINS[cls] = found
    return found


def wrap(ev: Any) -> Event:
    """The wfsim twin of the LlamaIndex event ``ev`` (which it carries)."""
    cls = _TWINS.get(type(ev))
    if cls is None:
        if not isinstance(ev, LEvent):
            raise TypeError(f"expected a LlamaIndex event (workflows.events.Event), not {ev!r}")
        cls = twin(type(ev))
    fields = _fields(ev)
    if isinstance(ev, LStop):
        fields["result"] = ev.result if type(ev) is LStop else ev
    out = cls.__new__(cls)
    # What Event.__init__ does, without copying the fresh dict model_dump made.
    out.__dict__["_fields"] = fields
    out.__dict__["llama_event"] = ev
    return out


#: Exact types whose values ``model_dump`` gives back as they are.
_SCALARS = frozenset({str, int, float, bool, type(None)})
#: LlamaIndex's own serializer of every event (it adds the undeclared fields, ``_data``).
_LLAMA_SERIALIZER = LEvent.__pydantic_decorators__.model_serializers["custom_model_dump"].func
#: Per event class: its declared field names if its dump is plain (_dumps_plainly), else None.
_PLAIN: dict[type, tuple[str, ...] | None] = {}


def _fields(ev: Any) -> dict[str, Any]:
    """``ev.model_dump()`` (the fields the trace shows), read straight off the instance
    when that is surely the same: a class whose dump is its declared fields as they are,
    no undeclared fields, and scalar values. A dump costs more than the rest of wrap()."""
    cls = type(ev)
    names = _PLAIN.get(cls, _MISSING)
    if names is _MISSING:
        names = _PLAIN[cls] = tuple(cls.model_fields) if _dumps_plainly(cls) else None
    private = ev.__pydantic_private__ or {}
    if names is not None and not private.get("_data") and not ev.__pydantic_extra__:
        values = ev.__dict__
        out = {}
        for name in names:
            value = values.get(name, _MISSING)
            if type(value) not in _SCALARS:
                break
            out[name] = value
        else:
            return out
    try:
        return dict(ev.model_dump())
    except Exception:
        return {}


def _dumps_plainly(cls: Any) -> bool:
    """Whether ``model_dump`` of a ``cls`` instance is its declared fields' values in
    declaration order (plus LlamaIndex's ``_data``): no serializers, computed,
    excluded or aliased fields of its own."""
    decorators = cls.__pydantic_decorators__
    config = cls.model_config
    return (
        not issubclass(cls, LStop)  # StopEvent serializes its result its own way
        and not cls.model_computed_fields
        and not decorators.field_serializers
        and all(d.func is _LLAMA_SERIALIZER for d in decorators.model_serializers.values())
        and not config.get("serialize_by_alias")
        and config.get("extra") != "allow"
        and all(
            not f.exclude and getattr(f, "exclude_if", None) is None
            for f in cls.model_fields.values()
        )
    )


def unwrap(ev: Event, start_class: type[LStart]) -> Any:
    real = ev.__dict__.get("llama_event")
    if real is not None:
        return real
    return start_class(**ev.fields)  # the engine's StartEvent(**input)


# -- retry policies --------------------------------------------------------------------------
def _policy(where: str, policy: Any) -> tuple[RetryPolicy | None, Callable[[Any], bool] | None]:
    """A LlamaIndex retry policy as wfsim's, and its retry condition (checked per error)."""
    if policy is None:
        return None, None
    supported = (
        "build it with workflows.retry_policy.retry_policy(...) (or the shipped "
        "ConstantDelayRetryPolicy/ExponentialBackoffRetryPolicy) with stop=stop_after_attempt(n) "
        "or stop_never() and a deterministic wait (wait_fixed, wait_none, wait_exponential, "
        "wait_incrementing, wait_chain, wait_combine) or wait_random_exponential"
    )
    if not isinstance(policy, _ComposableRetryPolicy):
        raise WorkflowDefinitionError(
            f"{where}: retry_policy {type(policy).__name__} is a custom policy wfsim cannot "
            f"map; {supported}"
        )
    stop = policy.stop
    if type(stop) is stop_after_attempt:
        attempts = int(stop.max_attempt_number)
    elif type(stop) is stop_never:
        attempts = 0
    else:
        raise WorkflowDefinitionError(
            f"{where}: retry_policy stop condition {type(stop).__name__} is not supported; "
            f"{supported}"
        )
    wait = policy.wait
    if type(wait) is wait_random_exponential and wait.min == 0 and wait.max >= wait.multiplier:
        mapped = RetryPolicy(
            max_attempts=attempts,
            initial_interval=wait.multiplier,
            backoff_coefficient=max(1.0, wait.exp_base),
            max_interval=wait.max,
            jitter="full",
        )
    elif type(wait) is wait_exponential and wait.max >= wait.multiplier > 0 and wait.exp_base >= 1:
        mapped = RetryPolicy(
            max_attempts=attempts,
            initial_interval=wait.multiplier,
            backoff_coefficient=wait.exp_base,
            max_interval=wait.max,
            min_interval=max(0.0, wait.min),
        )
    else:
        count = max(attempts - 1, 1) if attempts else 64
        try:
            delays = [float(wait(i, seed=0)) for i in range(count)]
            random = delays != [float(wait(i, seed=1)) for i in range(count)]
        except Exception as exc:
            raise WorkflowDefinitionError(
                f"{where}: retry_policy wait {type(wait).__name__} raised "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if random:
            raise WorkflowDefinitionError(
                f"{where}: retry_policy wait {type(wait).__name__} is random; {supported}"
            )
        mapped = RetryPolicy(max_attempts=attempts, delays=delays)
    return mapped, policy.retry


# -- the workflow -------------------------------------------------------------------------
_UNSUPPORTED_CONFIG: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("resources (Annotated[..., Resource(...)] parameters)", lambda c: bool(c.resources)),
    ("typed state (Context[MyState])", lambda c: c.context_state_type is not None),
    ("multi-parameter fan-in (several event parameters)", lambda c: bool(c.collect_params)),
    ("fan-out list[E] returns", lambda c: bool(c.is_fan_out)),
    ("collection fan-in (a list[E] parameter)", lambda c: c.collection_param is not None),
    ("@catch_error handlers", lambda c: getattr(c, "role", "step") != "step"),
)


class LlamaWorkflow(EventWorkflow):
    """A LlamaIndex ``Workflow`` class (or instance) as a wfsim event workflow.

    Made by :func:`adapt`. A class is instantiated once and each run gets a shallow
    copy (so attributes a run sets on ``self`` never reach the next seed); an
    instance is used as is.
    Signals (``wfsim.Signal``, a scenario's ``signals:``) named like an event class
    feed ``ctx.wait_for_event`` or, if no step waits, are sent as that event.
    """

    receives_signals = True
    #: Step methods are asyncio code (trio calls fail on the real runtime too): runs
    #: drive them without trio (LLAMA-10).
    code_needs_trio = False

    def __init__(self, source: Any, *, name: str | None = None) -> None:
        if isinstance(source, type) and issubclass(source, Workflow):
            cls, self._instance = source, None
        elif isinstance(source, Workflow):
            cls, self._instance = type(source), source
        else:
            raise WorkflowDefinitionError(
                f"{source!r} is not a LlamaIndex Workflow (a workflows.Workflow subclass or "
                "instance)"
            )
        self.llama_class = cls
        try:
            self._sample = sample = self._instance or cls()
        except Exception as exc:
            raise WorkflowDefinitionError(
                f"{cls.__name__}() raised {type(exc).__name__}: {exc}; adapt an instance instead"
            ) from None
        timeout = getattr(sample, "_timeout", None)
        super().__init__(name or cls.__name__, timeout=timeout)
        self._start_class: type[LStart] = getattr(sample, "_start_event_class", LStart)
        self._runs: weakref.WeakKeyDictionary[Any, _Run] = weakref.WeakKeyDictionary()
        free = getattr(cls, "_step_functions", {})
        for step_name, fn in cls._get_steps_from_class().items():
            self._add(step_name, fn, bound=step_name not in free)
        validate = getattr(sample, "_validate", None)
        if validate is not None:  # the real runtime's own checks, as its run() makes them
            try:
                validate()
            except Exception as exc:
                raise WorkflowDefinitionError(
                    f"{cls.__name__} is not a valid LlamaIndex workflow: {exc}"
                ) from None
        self.validate()

    def _add(self, step_name: str, fn: Any, *, bound: bool) -> None:
        where = f"{self.llama_class.__name__}.{step_name}"
        config = fn._step_config
        for feature, used in _UNSUPPORTED_CONFIG:
            if used(config):
                raise WorkflowDefinitionError(
                    f"{where} uses {feature}, which wfsim's LlamaIndex adapter does not "
                    "support (specs/llama.md)"
                )
        if not config.accepted_events:
            raise WorkflowDefinitionError(f"{where} has no event parameter annotation")
        params = [
            p
            for p in inspect.signature(fn).parameters
            if p not in ("self", config.context_parameter)
        ]
        if len(params) != 1:
            raise WorkflowDefinitionError(
                f"{where} takes parameters {params}; wfsim calls a step with its context and "
                "one event"
            )
        ev_param, ctx_param = params[0], config.context_parameter
        accepts = tuple(
            StartEvent if t is self._start_class or t is LStart else twin(t)
            for t in config.accepted_events
        )
        retry, condition = _policy(where, config.retry_policy)
        adapter = self

        async def run_step(ctx: StepContext, ev: Event) -> Event | None:
            run = adapter._run_of(ctx)
            run.attempt_started(ctx)
            kwargs: dict[str, Any] = {ev_param: unwrap(ev, adapter._start_class)}
            if ctx_param:
                kwargs[ctx_param] = LlamaContext(ctx, run)
            try:
                out = await (fn(run.instance, **kwargs) if bound else fn(**kwargs))
            except Exception as exc:
                run.attempt_failed(ctx, exc)
                if condition is not None and not condition(exc):
                    with contextlib.suppress(Exception):
                        exc.non_retryable = True  # type: ignore[attr-defined]
                raise
            if out is None:
                return None
            if isinstance(out, InputRequiredEvent):  # LlamaIndex streams it, routes it nowhere
                _stream(ctx, out)
                return None
            if not isinstance(out, LEvent):
                raise TypeError(
                    f"step {step_name!r} returned {type(out).__name__}, not an Event instance"
                )
            return wrap(out)

        run_step.__name__ = step_name
        self.step(
            run_step,
            accepts=accepts,
            name=step_name,
            num_workers=config.num_workers,
            retry=retry,
            accept_event_subclasses=bool(config.accept_event_subclasses),
        )

    def _run_of(self, ctx: StepContext) -> _Run:
        engine = ctx._engine
        run = self._runs.get(engine)
        if run is None:
            # A shallow copy of one instance is a fresh instance at a fraction of the cost
            # of Workflow.__init__ (which inspects the class): what a run sets on self
            # stays in its copy.
            instance = self._instance or copy.copy(self._sample)
            run = self._runs[engine] = _Run(self, engine, instance)
        return run

    def __repr__(self) -> str:
        return f"LlamaWorkflow({self.llama_class.__qualname__}, steps={len(self.event_steps)})"


def adapt(workflow: Any, *, name: str | None = None) -> LlamaWorkflow:
    """Return the LlamaIndex ``workflow`` (a ``Workflow`` subclass or instance) as a wfsim
    event workflow, to run with ``wfsim.run(..., input={...})``: the input becomes
    ``StartEvent(**input)``. Raises WorkflowDefinitionError naming an unsupported feature."""
    return LlamaWorkflow(workflow, name=name)


# -- one run ---------------------------------------------------------------------------------
class _Run:
    """What the adapter keeps for one run: the workflow instance, retry info, signals."""

    def __init__(self, adapter: LlamaWorkflow, engine: Any, instance: Any) -> None:
        self.adapter = adapter
        self.engine = engine
        self.instance = instance
        self.first_start: dict[str, int] = {}
        self.last_error: dict[str, tuple[Exception, _dt.datetime]] = {}
        self.buffer: dict[str, list[Any]] = {}
        self.waiters: dict[str, list[list[Any]]] = {}
        for signal in engine.signals:
            timer = engine.schedule(max(engine.now, signal.at_ns), self._deliver, signal)
            engine._delayed.append(timer)  # dropped when a StopEvent ends the run

    def attempt_started(self, ctx: StepContext) -> None:
        self.first_start.setdefault(ctx.step, ctx.now_ns())

    def attempt_failed(self, ctx: StepContext, exc: Exception) -> None:
        self.last_error[ctx.step] = (exc, ctx.wall_time())

    # signals: wait_for_event waiters first, then steps accepting the event, else buffered
    def _deliver(self, signal: Signal) -> None:
        times, delay = self.engine.delivery("signal", signal.name)
        if delay:
            timer = self.engine.schedule(self.engine.now + delay, self._receive, signal, times)
            self.engine._delayed.append(timer)
        else:
            self._receive(signal, times)

    def _receive(self, signal: Signal, times: int) -> None:
        for _ in range(times):
            self.engine.record(
                "signal_received", signal=signal.name, payload=_plain(signal.payload)
            )
            for waiter in self.waiters.get(signal.name, []):
                att, requirements = waiter[0], waiter[1]
                if not att.done and _meets(signal.payload, requirements):
                    self.waiters[signal.name].remove(waiter)
                    self.engine.wake(att, outcome.Value(signal.payload))
                    break
            else:
                event = self._as_step_event(signal)
                if event is not None:
                    self.engine.emit(event, sender=None)
                else:
                    self.buffer.setdefault(signal.name, []).append(signal.payload)

    def _as_step_event(self, signal: Signal) -> Event | None:
        for step in self.adapter.event_steps.values():
            for t in step.accepts:
                cls = getattr(t, "llama_class", None)
                if cls is not None and cls.__name__ == signal.name:
                    return wrap(_event(cls, signal.payload))
        return None

    async def wait(
        self, ctx: StepContext, cls: type, requirements: Mapping[str, Any] | None, timeout: Any
    ) -> Any:
        name = cls.__name__
        for payload in self.buffer.get(name, []):
            if _meets(payload, requirements):
                self.buffer[name].remove(payload)
                return _event(cls, payload)
        att = ctx._attempt
        waiter = [att, requirements]
        self.waiters.setdefault(name, []).append(waiter)
        if timeout is not None:
            due = self.engine.now + round(float(timeout) * 1e9)
            att.timers.append(self.engine.schedule(due, self._timed_out, waiter, name, timeout))
        try:
            payload = await self.engine.park_until_woken(att)
        finally:
            if waiter in self.waiters.get(name, []):
                self.waiters[name].remove(waiter)
        return _event(cls, payload)

    def _timed_out(self, waiter: list[Any], name: str, timeout: Any) -> None:
        if waiter in self.waiters.get(name, []) and not waiter[0].done:
            self.waiters[name].remove(waiter)
            error = TimeoutError(f"wait_for_event({name}) timed out after {timeout} s")
            self.engine.wake(waiter[0], outcome.Error(error))


def _meets(payload: Any, requirements: Mapping[str, Any] | None) -> bool:
    if not requirements:
        return True
    get = payload.get if isinstance(payload, (Mapping, LEvent)) else (lambda k: _MISSING)
    return all(get(k) == v for k, v in requirements.items())


def _event(cls: type, payload: Any) -> Any:
    if isinstance(payload, LEvent):
        return payload
    if payload is None:
        return cls()
    if isinstance(payload, Mapping):
        return cls(**payload)
    return cls(response=payload)


def _plain(value: Any) -> Any:
    return value.model_dump() if isinstance(value, LEvent) else value


def _stream(ctx: StepContext, ev: Any) -> None:
    """The real event ``ev`` goes to the run's stream (``RunResult.stream``, EVT-9)."""
    if not isinstance(ev, LEvent):
        raise TypeError(
            f"write_event_to_stream() takes a LlamaIndex event (workflows.events.Event), "
            f"not {type(ev).__name__}"
        )
    try:
        fields = ev.model_dump()
    except Exception:
        fields = {}
    ctx._engine.stream(ctx._attempt, ev, type(ev).__name__, fields)


# -- the context --------------------------------------------------------------------------
class _Store:
    """``ctx.store``: get/set/edit_state over the run's shared context (RunResult.context)."""

    def __init__(self, ctx: StepContext) -> None:
        self._ctx = ctx

    async def get(self, path: str, default: Any = Ellipsis) -> Any:
        head, *rest = path.split(".")
        value = self._ctx.get(head, _MISSING)
        for part in rest:
            if value is _MISSING:
                break
            value = (
                value.get(part, _MISSING)
                if isinstance(value, Mapping)
                else getattr(value, part, _MISSING)
            )
        if value is _MISSING:
            if default is Ellipsis:
                raise ValueError(f"Path '{path}' not found in state")
            return default
        return value

    async def set(self, path: str, value: Any) -> None:
        head, *rest = path.split(".")
        if not rest:
            self._ctx.set(head, value)
            return
        root = dict(self._ctx.get(head, {}))
        node = root
        for part in rest[:-1]:
            node[part] = dict(node.get(part, {}))
            node = node[part]
        node[rest[-1]] = value
        self._ctx.set(head, root)

    @contextlib.asynccontextmanager
    async def edit_state(self) -> AsyncIterator[Any]:
        from workflows.context.state_store import DictState

        before = dict(self._ctx._engine.context)
        state = DictState(**before)
        yield state
        after = dict(state.items())
        for key in before:
            if key not in after:
                self._ctx.delete(key)
        for key, value in after.items():
            self._ctx.set(key, value)

    async def clear(self) -> None:
        for key in list(self._ctx._engine.context):
            self._ctx.delete(key)

    def __getattr__(self, name: str) -> Any:
        raise LlamaUnsupportedError(
            f"step {self._ctx.step!r} used ctx.store.{name}, which wfsim's LlamaIndex adapter "
            "does not support (it offers get, set, edit_state, clear; specs/llama.md)"
        )


class LlamaContext:
    """The ``ctx`` a LlamaIndex step gets on wfsim: the parts of ``workflows.Context``
    that workflows use, on wfsim's engine. Anything else fails the attempt with
    :class:`LlamaUnsupportedError` naming the method."""

    def __init__(self, ctx: StepContext, run: _Run) -> None:
        self._ctx = ctx
        self._run = run

    @property
    def store(self) -> _Store:
        return _Store(self._ctx)

    def send_event(self, message: Any, step: str | None = None) -> None:
        self._ctx.send_event(wrap(message), step=step)

    def collect_events(
        self, ev: Any, expected: list[type], buffer_id: str | None = None
    ) -> list[Any] | None:
        got = self._ctx.collect_events(wrap(ev), [twin(t) for t in expected], buffer_id)
        if got is None:
            return None
        return [e.__dict__["llama_event"] for e in got]

    def write_event_to_stream(self, ev: Any) -> None:
        if ev is not None:
            _stream(self._ctx, ev)

    async def wait_for_event(
        self,
        event_type: type,
        waiter_event: Any = None,
        waiter_id: str | None = None,
        requirements: dict[str, Any] | None = None,
        timeout: float | None = 2000,
    ) -> Any:
        if waiter_event is not None:
            self.write_event_to_stream(waiter_event)
        return await self._run.wait(self._ctx, event_type, requirements, timeout)

    def retry_info(self) -> RetryInfo:
        step = self._ctx.step
        first = self._run.first_start.get(step, self._ctx.now_ns())
        last = self._run.last_error.get(step)
        return RetryInfo(
            retry_number=self._ctx.attempt - 1,
            elapsed_seconds=(self._ctx.now_ns() - first) / 1e9,
            last_exception=last[0] if last else None,
            last_failed_at=last[1] if last else None,
        )

    @property
    def is_running(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise LlamaUnsupportedError(
            f"step {self._ctx.step!r} used ctx.{name}, which wfsim's LlamaIndex adapter does "
            "not support (specs/llama.md lists what it does)"
        )
