"""Strategies for the other workflow styles: event workflows, imperative bodies, signals.

Every value is built from module-level frozen classes (no closures), so drawn
workflows pickle and repr readably, and the strategies know each workflow's step
names (for :func:`fault_plans`) without running it.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import DrawFn, SearchStrategy

from wfsim._core._context import StepContext
from wfsim._core._events import Event, EventWorkflow, StartEvent, StopEvent
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._program import Call, Gather, Instruction, Pause, Program, WaitForSignal, Work
from wfsim._core._retry import RetryPolicy
from wfsim._core._signals import Signal
from wfsim._core._workflow import SagaPolicy, compensation

from ._check import check_bool, check_int, check_order, check_strategy
from ._workflows import _SAGAS, durations_ms, retry_policies

__all__ = [
    "EVENT_TYPES",
    "Call",
    "EventStepCode",
    "Gather",
    "Pause",
    "Program",
    "WaitForSignal",
    "event_workflows",
    "imperative_workflows",
    "signal_schedules",
]

NS_PER_MS = 1_000_000
#: Most events of one type a drawn event workflow sends (fan-out is capped by it).
MAX_FAN = 6


# -- event workflows ---------------------------------------------------------------------------


class E0(Event):
    """Sent by stage 0 of a drawn event workflow (accepted by stage 1)."""


class E1(Event):
    """Sent by stage 1."""


class E2(Event):
    """Sent by stage 2."""


class E3(Event):
    """Sent by stage 3."""


class E4(Event):
    """Sent by stage 4."""


class E5(Event):
    """Sent by stage 5."""


class E6(Event):
    """Sent by stage 6."""


class E7(Event):
    """Sent by stage 7."""


#: The event types of drawn event workflows: stage ``i`` sends ``EVENT_TYPES[i]``.
EVENT_TYPES: tuple[type[Event], ...] = (E0, E1, E2, E3, E4, E5, E6, E7)


@attrs.frozen
class EventStepCode:
    """One stage of a drawn event workflow: ``async def step(ctx, ev)``.

    It sleeps ``sleeps_ns``; then, if ``collect`` is above 0, it collects that
    many events of the type it accepts (``ctx.collect_events``) and goes on only
    once the collection is full; it then sends ``fan_out`` events of its own
    type (``ctx.send_event``, or ``return`` for a single one when ``send`` is
    False), or, as the ``last`` stage, returns a ``StopEvent`` whose result is
    the values it received. ``invocations`` is how many deliveries it gets.
    """

    stage: int
    sleeps_ns: tuple[int, ...] = ()
    collect: int = 0
    fan_out: int = 1
    send: bool = False
    last: bool = False
    invocations: int = 1

    async def __call__(self, ctx: StepContext, ev: Event) -> Event | None:
        for ns in self.sleeps_ns:
            await ctx.sleep(f"{ns}ns")
        values = [ev.get("n", 0)]
        if self.collect:
            got = ctx.collect_events(ev, [type(ev)] * self.collect)
            if got is None:
                return None
            values = [e.get("n", 0) for e in got]
        if self.last:
            return StopEvent(result=values)
        kind = EVENT_TYPES[self.stage]
        total = sum(values)
        if not self.send and self.fan_out == 1:
            return kind(n=total + 1)
        for k in range(self.fan_out):
            ctx.send_event(kind(n=total + k + 1))
        return None


_SLEEPS = st.lists(durations_ms(), max_size=2)
_FAN = st.integers(1, 3)
_WORKERS = st.integers(1, 4)
_BOOL = st.booleans()


@attrs.frozen
class _EventOptions:
    min_steps: int
    max_steps: int
    retries: SearchStrategy[RetryPolicy | None]
    timeouts: SearchStrategy[int | None]
    collect: bool


def event_workflows(
    *,
    min_steps: int = 1,
    max_steps: int = 6,
    retries: bool | SearchStrategy[RetryPolicy] = True,
    timeouts: bool = True,
    collect: bool = True,
) -> SearchStrategy[EventWorkflow]:
    """LlamaIndex-style :class:`wfsim.EventWorkflow` values whose every run ends.

    A chain of ``min_steps..max_steps`` stages ``s0``, ``s1``, ...: stage 0
    accepts ``StartEvent``, stage ``i`` accepts the event type stage ``i - 1``
    sends (``EVENT_TYPES``), the last returns a ``StopEvent``. Each stage sleeps,
    fans out 1 to 3 events (``ctx.send_event``, or a returned event), runs with
    1 to 4 ``num_workers``, maybe with a retry policy (``retries``, as in
    :func:`workflows`) and a per-invocation timeout (``timeouts``); with
    ``collect=True`` a stage may fan in: ``ctx.collect_events`` of every event
    sent to it, going on once all arrived. At most ``MAX_FAN`` events of one type
    are in flight. A last stage that does not collect ends the run with the
    first ``StopEvent`` (the rest are cancelled). Each stage's code is an
    :class:`EventStepCode` (picklable); its ``invocations`` name the deliveries
    (``s1``, ``s1:2``, ...) that :func:`fault_plans` aims at. Shrinks towards
    fewer stages, no sleeps, no fan-out, one worker, no retries, no timeouts,
    no collection.
    """
    func = "event_workflows"
    check_int(func, "min_steps", min_steps, minimum=1)
    check_int(func, "max_steps", max_steps, minimum=1)
    check_order(func, "min_steps", min_steps, "max_steps", max_steps)
    if max_steps > len(EVENT_TYPES):
        raise InvalidArgument(
            f"{func}(): max_steps must be at most {len(EVENT_TYPES)} (one event type per "
            f"stage), not {max_steps}"
        )
    policies = _policies(func, retries)
    check_bool(func, "timeouts", timeouts)
    check_bool(func, "collect", collect)
    options = _EventOptions(
        min_steps,
        max_steps,
        st.none() if policies is None else st.none() | policies,
        st.none() | durations_ms(positive=True) if timeouts else st.none(),
        collect,
    )
    return _event_workflows(options)


def _policies(
    func: str, retries: bool | SearchStrategy[RetryPolicy]
) -> SearchStrategy[RetryPolicy] | None:
    if isinstance(retries, bool):
        return retry_policies(max_attempts=3) if retries else None
    return check_strategy(func, "retries", retries)


@attrs.frozen
class _StageDraw:
    sleeps: list[int]
    fan: int
    send: bool
    collect: bool
    workers: int
    retry: RetryPolicy | None
    timeout: int | None


@st.composite
def _stage_draws(draw: DrawFn, options: _EventOptions) -> _StageDraw:
    return _StageDraw(
        sleeps=draw(_SLEEPS),
        fan=draw(_FAN),
        send=draw(_BOOL),
        collect=draw(_BOOL) if options.collect else False,
        workers=draw(_WORKERS),
        retry=draw(options.retries),
        timeout=draw(options.timeouts),
    )


@st.composite
def _event_workflows(draw: DrawFn, options: _EventOptions) -> EventWorkflow:
    stages = draw(
        st.lists(_stage_draws(options), min_size=options.min_steps, max_size=options.max_steps)
    )
    wf = EventWorkflow("generated")
    arriving = 1  # deliveries of the type stage i accepts
    for i, stage in enumerate(stages):
        last = i == len(stages) - 1
        collect = arriving if stage.collect else 0
        emitting = 1 if collect else arriving
        fan = 1 if last else min(stage.fan, max(1, MAX_FAN // emitting))
        code = EventStepCode(
            stage=i,
            sleeps_ns=tuple(NS_PER_MS * s for s in stage.sleeps),
            collect=collect,
            fan_out=fan,
            send=stage.send,
            last=last,
            invocations=arriving,
        )
        wf.step(
            code,
            accepts=StartEvent if i == 0 else EVENT_TYPES[i - 1],
            name=f"s{i}",
            num_workers=stage.workers,
            retry=stage.retry,
            timeout=None if stage.timeout is None else f"{stage.timeout}ms",
        )
        arriving = emitting * fan
    wf.validate()
    return wf


# -- imperative workflows ----------------------------------------------------------------------


@attrs.frozen
class _ImperativeOptions:
    min_calls: int
    max_calls: int
    retries: SearchStrategy[RetryPolicy | None]
    timeouts: SearchStrategy[int | None]
    compensations: bool
    signals: tuple[str, ...]


_KIND = st.integers(0, 3)  # 0 call, 1 gather, 2 pause, 3 wait: shrinks to a call
_GATHER_SIZE = st.integers(1, 3)
_MAYBE_OUTPUT = st.none() | st.integers(0, 9)


def imperative_workflows(
    *,
    min_calls: int = 1,
    max_calls: int = 10,
    retries: bool | SearchStrategy[RetryPolicy] = True,
    timeouts: bool = True,
    compensations: bool = False,
    signals: Collection[str] = (),
) -> SearchStrategy[ImperativeWorkflow]:
    """``@wfsim.workflow`` bodies drawn as small programs, whose every run ends.

    The body (a :class:`Program`, picklable) runs instructions in order:
    ``await ctx.step(...)`` of a step that sleeps and returns a number (maybe
    with a retry policy, a timeout, a compensation ``undo_<name>``, and maybe
    inside ``try`` so the body survives its failure), ``await ctx.gather(...)``
    of 1 to 3 such steps, ``await ctx.sleep(...)``, and, for each name in
    ``signals`` (declared by the workflow), ``await ctx.wait_for_signal(name,
    timeout=...)`` (a timeout is caught). Calls are named ``p0``, ``p1``, ... in
    program order (distinct names: IMP-3), so :func:`fault_plans` can aim at
    them. Between ``min_calls`` and ``max_calls`` instructions. Shrinks towards
    fewer instructions (the simplest body sleeps 0 s), plain calls (no retry,
    timeout, compensation or ``try``), zero durations.
    """
    func = "imperative_workflows"
    check_int(func, "min_calls", min_calls, minimum=1)
    check_int(func, "max_calls", max_calls, minimum=1)
    check_order(func, "min_calls", min_calls, "max_calls", max_calls)
    policies = _policies(func, retries)
    check_bool(func, "timeouts", timeouts)
    check_bool(func, "compensations", compensations)
    names = _signal_names(func, signals)
    options = _ImperativeOptions(
        min_calls,
        max_calls,
        st.none() if policies is None else st.none() | policies,
        st.none() | durations_ms(positive=True) if timeouts else st.none(),
        compensations,
        names,
    )
    return _imperative_workflows(options)


def _signal_names(func: str, signals: object, argument: str = "signals") -> tuple[str, ...]:
    if isinstance(signals, str) or not isinstance(signals, Collection):
        raise InvalidArgument(
            f"{func}(): {argument} must be a collection of signal names such as ('approval',), "
            f"not {type(signals).__name__} {signals!r}"
        )
    names = tuple(dict.fromkeys(signals))
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{func}(): signal names must be non-empty strings, not {name!r}")
    return names


@attrs.frozen
class _CallDraw:
    duration: int
    output: int | None
    retry: RetryPolicy | None
    timeout: int | None
    undo: int | None  # the compensation's duration, if any
    catch: bool


@st.composite
def _call_draws(draw: DrawFn, options: _ImperativeOptions) -> _CallDraw:
    return _CallDraw(
        duration=draw(durations_ms()),
        output=draw(_MAYBE_OUTPUT),
        retry=draw(options.retries),
        timeout=draw(options.timeouts),
        undo=draw(st.none() | durations_ms()) if options.compensations else None,
        catch=draw(_BOOL),
    )


@st.composite
def _instruction_draws(draw: DrawFn, options: _ImperativeOptions) -> tuple[int, Any]:
    kind = draw(_KIND)
    if kind == 3 and not options.signals:
        kind = 2
    if kind == 0:
        return kind, draw(_call_draws(options))
    if kind == 1:
        size = draw(_GATHER_SIZE)
        return kind, ([draw(_call_draws(options)) for _ in range(size)], draw(_BOOL))
    if kind == 2:
        return kind, draw(durations_ms())
    return kind, (draw(st.sampled_from(options.signals)), draw(durations_ms(positive=True)))


def _call(index: int, c: _CallDraw) -> Call:
    name = f"p{index}"
    undo = None
    if c.undo is not None:
        undo = compensation(f"undo_{name}", duration=f"{c.undo}ms")
    return Call(
        name,
        Work(NS_PER_MS * c.duration, c.output),
        c.retry,
        None if c.timeout is None else NS_PER_MS * c.timeout,
        undo,
        c.catch,
    )


@st.composite
def _imperative_workflows(draw: DrawFn, options: _ImperativeOptions) -> ImperativeWorkflow:
    saga: SagaPolicy | None = draw(_SAGAS) if options.compensations else None
    drawn = draw(
        st.lists(
            _instruction_draws(options), min_size=options.min_calls, max_size=options.max_calls
        )
    )
    instructions: list[Instruction] = []
    count = 0
    for kind, value in drawn:
        if kind == 0:
            instructions.append(_call(count, value))
            count += 1
        elif kind == 1:
            calls, catch = value
            instructions.append(
                Gather(tuple(_call(count + j, c) for j, c in enumerate(calls)), catch)
            )
            count += len(calls)
        elif kind == 2:
            instructions.append(Pause(NS_PER_MS * value))
        else:
            name, timeout = value
            instructions.append(WaitForSignal(name, NS_PER_MS * timeout))
    return ImperativeWorkflow(
        Program(tuple(instructions)), name="generated", saga=saga, signals=options.signals
    )


# -- signals -----------------------------------------------------------------------------------


_PAYLOADS = st.none() | st.booleans() | st.integers(0, 9) | st.sampled_from(("yes", "no"))


def signal_schedules(
    *,
    names: Collection[str] = ("signal",),
    min_signals: int = 0,
    max_signals: int = 4,
) -> SearchStrategy[list[Signal]]:
    """Lists of :class:`wfsim.Signal` to deliver during a run: ``wfsim.run(..., signals=...)``.

    Each signal has one of ``names``, a virtual arrival time (whole seconds
    first, so signals tie with steps, then any millisecond up to 5 s) and a
    small JSON-able payload (None, a bool, a digit, ``"yes"``/``"no"``). For
    bodies that wait for them: :func:`imperative_workflows` with the same
    ``signals=``. Shrinks towards no signals, the first name, time 0, payload
    None.
    """
    func = "signal_schedules"
    chosen = _signal_names(func, names, "names")
    if not chosen:
        raise InvalidArgument(f"{func}(): names must name at least one signal, e.g. ('approval',)")
    check_int(func, "min_signals", min_signals, minimum=0)
    check_int(func, "max_signals", max_signals, minimum=0)
    check_order(func, "min_signals", min_signals, "max_signals", max_signals)
    return st.lists(_signals(chosen), min_size=min_signals, max_size=max_signals)


@functools.cache
def _signals(names: tuple[str, ...]) -> SearchStrategy[Signal]:
    return st.builds(
        lambda name, at, payload: Signal(name, at=f"{at}ms", payload=payload),
        st.sampled_from(names),
        durations_ms(),
        _PAYLOADS,
    )
