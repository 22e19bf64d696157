"""Workflow bodies at run time: the body, its branches, its calls, children and signals.

The engine kernel (``_engine.py``) owns time, the ready list, choices, attempts
and the trace; it runs a body as one more piece of code under its baton and
knows nothing else about it. This module is the body style's side: it turns
``ctx.step``/``ctx.child``/``ctx.gather``/``ctx.spawn``/``ctx.wait_for_signal``
into steps, branches and waits of the kernel, through the kernel's small
interface for styles (``Engine.schedule``, ``add_step``, ``make_ready``,
``start_code``, ``wake``, ``hand_back``, ``park``...), and the kernel calls back
through :class:`~wfsim._core._engine.Style`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import attrs
import outcome

from wfsim.errors import SignalTimeoutError, WfsimError

from ._context import StepContext
from ._engine import (
    _BODY,
    _MISSING,
    TERMINAL,
    Engine,
    _Attempt,
    _AttemptCancelled,
    _jsonable,
    _StepState,
    _Timer,
    _Waiter,
)
from ._faults import InjectedError
from ._imperative import ChildCall, ImperativeWorkflow, StepCall, WorkflowContext
from ._signals import Signal
from ._time import format_seconds, to_ns
from ._workflow import Step, _compensation_of, compensation

__all__ = ["Bodies"]


def error_name(exc: BaseException) -> str:
    """The name a failure is reported by: an injected fault's, else the exception's type."""
    return exc.error_name if isinstance(exc, InjectedError) else type(exc).__name__


def _with_args(compensate: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """``ctx.step(fn, *args, compensate=undo, **kwargs)``: ``undo`` is called like ``fn``,
    ``undo(ctx, *args, **kwargs)`` (specs/compensation.md COMP-8). A ``wfsim.compensation``
    or a name is left as it is: it is called with ``ctx`` alone."""
    if not callable(compensate) or isinstance(compensate, Step):
        return compensate

    async def undo(ctx: StepContext) -> Any:
        value = compensate(ctx, *args, **kwargs)
        return await value if inspect.isawaitable(value) else value

    return compensation(str(getattr(compensate, "__name__", "")), fn=undo)


class Bodies:
    """The run-time side of one ``@wfsim.workflow`` run (a :class:`~wfsim._core._engine.Style`)."""

    def __init__(self, engine: Engine) -> None:
        workflow = engine.workflow
        assert isinstance(workflow, ImperativeWorkflow)
        self.engine = engine
        self.workflow = workflow
        self._calls: dict[str, int] = {}
        self._undo_names: dict[str, int] = {}
        self._branches: list[_Attempt] = []
        self._signal_buffer: dict[str, list[Any]] = {}
        self._signal_waiters: dict[str, list[_Attempt]] = {}
        self._signal_timers: list[_Timer] = []
        body_fn = workflow.fn

        async def body(step_ctx: StepContext) -> Any:
            return await body_fn(WorkflowContext(self), engine.input)

        state = _StepState(Step(name=workflow.name, index=_BODY, fn=body), 0)
        self.body = _Attempt(state, 1, 0)

    # -- the kernel's calls (Style) ---------------------------------------------------------
    def start(self) -> None:
        """The run starts: the body is ready, the signals are due at their times."""
        engine = self.engine
        engine.start_code(self.body)
        # Undelivered signals must not keep a finished body's run alive: dropped at its end.
        self._signal_timers = [
            engine.schedule(sig.at_ns, self._deliver, sig) for sig in engine.signals
        ]

    def code_ended(self, att: _Attempt, result: outcome.Outcome[Any]) -> None:
        """The body's (or a branch's) code returned or raised."""
        if att is self.body:
            self._body_ended(att, result)
        else:
            self._branch_ended(att, result)

    def unfinished(self) -> bool:
        return not self.body.done

    def failed(self) -> bool:
        return self.body.state.status == "failed"

    def time_out(self) -> list[str]:
        """The run timed out: end the body and its branches; say what the body waited for."""
        described = []
        if not self.body.done:
            awaited = [n for n, ws in self._signal_waiters.items() if self.body in ws]
            signal = f" (waiting for signal {awaited[0]!r})" if awaited else ""
            described.append(f"the body of workflow {self.workflow.name!r}{signal}")
        for body in (self.body, *self._branches):
            if not body.done:
                body.end()
                self.engine.cancel_task(body)
        return described

    def tasks_gone(self) -> None:
        """trio cancelled every task (code waited outside wfsim): forget the bodies' tasks."""
        for body in (self.body, *self._branches):
            body.task = None

    # -- ctx.step, ctx.child, ctx.gather, ctx.spawn ----------------------------------------
    def body_attempt(self) -> _Attempt:
        """The body (or gather branch) attempt whose task is running now."""
        att = self.engine.current_attempt()
        if att is None or att.state.step.index != _BODY:
            raise WfsimError(
                "workflow context methods must be awaited from the workflow body (or a "
                "coroutine given to ctx.gather), not from another trio task or step code"
            )
        return att

    async def call_steps(self, items: Sequence[StepCall | ChildCall | Awaitable[Any]]) -> list[Any]:
        """``ctx.step``/``ctx.gather``: start steps and branches, park until all ended."""
        body = self.body_attempt()
        if body.done:
            raise _AttemptCancelled()
        waiter = _Waiter(body, len(items))
        states: list[_StepState] = []
        for item in items:
            if isinstance(item, StepCall):
                st = self._new_call(item, waiter)
                self.engine.make_ready(st)
            elif isinstance(item, ChildCall):
                st = self._new_child(item, waiter)
            else:
                st = self._new_branch(item, waiter)
            states.append(st)
        await self.engine.hand_back()
        if body.done:
            raise _AttemptCancelled()
        for st in states:
            if st.status == "failed":
                raise st.last_exc or WfsimError(f"step {st.step.name!r} failed: {st.error}")
        return [st.result for st in states]

    def _new_branch(
        self,
        awaitable: Awaitable[Any],
        waiter: _Waiter | None,
        name: str = "",
        child: bool = False,
    ) -> _StepState:
        async def branch(_: StepContext) -> Any:
            return await awaitable

        name = name or f"{self.workflow.name} (gather branch)"
        st = _StepState(Step(name=name, index=_BODY, fn=branch), 0, child=child)
        st.waiter = waiter
        att = _Attempt(st, 1, self.engine.now)
        self._branches.append(att)
        self.engine.start_code(att)
        return st

    def _call_name(self, base: str) -> str:
        count = self._calls[base] = self._calls.get(base, 0) + 1
        return base if count == 1 else f"{base}:{count}"

    def _new_call(self, call: StepCall, waiter: _Waiter) -> _StepState:
        name = self._call_name(call.name)
        fn, args, kwargs = call.fn, call.args, call.kwargs

        async def run(ctx: StepContext) -> Any:
            value = fn(ctx, *args, **kwargs)
            return await value if inspect.isawaitable(value) else value

        fallback = call.fallback

        async def run_fallback(ctx: StepContext) -> Any:
            assert fallback is not None
            value = fallback(ctx, *args, **kwargs)
            return await value if inspect.isawaitable(value) else value

        undo = _compensation_of(name, _with_args(call.compensate, args, kwargs))
        if undo is not None:  # a second call's compensation of one name is "name:2" (COMP-8)
            count = self._undo_names[undo.name] = self._undo_names.get(undo.name, 0) + 1
            if count > 1:
                undo = attrs.evolve(undo, name=f"{undo.name}:{count}")
        step = Step(
            name=name,
            index=len(self.engine.states),
            fn=run,
            retry=call.retry,
            timeout_ns=None if call.timeout is None else to_ns(call.timeout),
            compensate=undo,
            breaker=call.breaker,
            fallback=run_fallback if fallback is not None else None,
            cache_ns=call.name,
        )
        st = _StepState(step, 0, waiter=waiter)
        if call.cache_key is not None:
            st.key_fn = functools.partial(call.cache_key, *args, **kwargs)
        self.engine.add_step(st)
        return st

    def _new_child(self, call: ChildCall, waiter: _Waiter) -> _StepState:
        name = self._call_name(call.name)
        self.engine.record("child_started", name, workflow=call.workflow.name)
        body = call.workflow.fn(WorkflowContext(self, prefix=f"{name}/"), call.input)
        return self._new_branch(body, waiter, name=name, child=True)

    def spawn(self, awaitable: Awaitable[Any]) -> _StepState:
        """``ctx.spawn``: start a branch now; its handle is awaited later."""
        self.body_attempt()  # only a body (or a branch) may spawn
        return self._new_branch(awaitable, None, name=f"{self.workflow.name} (spawned branch)")

    async def join(self, branch: _StepState) -> Any:
        """``await handle``: park until the spawned branch ended; its result or its error."""
        att = self.body_attempt()
        if branch.status not in TERMINAL:
            branch.awaiting.append(att)
            await self.engine.park_until_woken(att)
        if branch.status == "failed":
            raise branch.last_exc or WfsimError("a spawned branch failed")
        return branch.result

    async def sleep(self, delay_ns: int) -> None:
        """``ctx.sleep``: wait virtual time."""
        await self.engine.park(self.body_attempt(), delay_ns)

    def _body_ended(self, body: _Attempt, result: outcome.Outcome[Any]) -> None:
        body.end()
        body.task = None
        for timer in self._signal_timers:
            timer[2] = None
        engine = self.engine
        if isinstance(result, outcome.Error):
            exc = result.error
            while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                exc = exc.exceptions[0]
            name = error_name(exc)
            body.state.status = "failed"
            body.state.error = name
            engine.message = f"workflow {self.workflow.name!r} raised {name}: {exc}"
        else:
            body.state.status = "completed"
            engine.result = result.unwrap()

    def _branch_ended(self, att: _Attempt, result: outcome.Outcome[Any]) -> None:
        att.end()
        att.task = None
        st = att.state
        engine = self.engine
        if isinstance(result, outcome.Error):
            st.status = "failed"
            st.last_exc = exc = result.error
            if st.child:
                engine.record("child_failed", st.step.name, error=error_name(exc), message=str(exc))
        else:
            st.status = "completed"
            st.result = result.unwrap()
            if st.child:
                engine.record("child_completed", st.step.name)
        for waiting in st.awaiting:  # ctx.spawn handles: wake whoever awaits this branch
            if not waiting.done and waiting.task is not None:
                engine.wake(waiting, outcome.Value(None))
        st.awaiting.clear()
        engine.step_ended(st)

    # -- signals ----------------------------------------------------------------------------
    def _deliver(self, signal: Signal) -> None:
        """A signal arrives: its delivery faults decide when and how often it is received."""
        engine = self.engine
        times, delay = engine.delivery("signal", signal.name)
        if delay:  # with the other signal timers: dropped when the body ends
            self._signal_timers.append(
                engine.schedule(engine.now + delay, self._receive, signal, times)
            )
        else:
            self._receive(signal, times)

    def _receive(self, signal: Signal, times: int) -> None:
        payload = _jsonable(signal.payload)
        for _ in range(times):
            self.engine.record(
                "signal_received",
                signal=signal.name,
                payload=None if payload is _MISSING else payload,
            )
            waiters = [w for w in self._signal_waiters.get(signal.name, ()) if not w.done]
            if waiters:
                att = waiters.pop(0)
                self._signal_waiters[signal.name] = waiters
                self.engine.wake(att, outcome.Value(signal.payload))
            else:
                self._signal_buffer.setdefault(signal.name, []).append(signal.payload)

    async def wait_for_signal(self, name: str, timeout_ns: int | None) -> Any:
        """``ctx.wait_for_signal``: a buffered payload at once, else park until one arrives."""
        att = self.body_attempt()
        buffered = self._signal_buffer.get(name)
        if buffered:
            return buffered.pop(0)
        self._signal_waiters.setdefault(name, []).append(att)
        timer = None
        engine = self.engine
        if timeout_ns is not None:
            timer = engine.schedule(
                engine.now + timeout_ns, self._signal_timeout, att, name, att.token + 1, timeout_ns
            )
        try:
            return await engine.park_until_woken(att)
        finally:
            if timer is not None:
                timer[2] = None

    def _signal_timeout(self, att: _Attempt, name: str, token: int, timeout_ns: int) -> None:
        waiters = self._signal_waiters.get(name, [])
        if att.token != token or att not in waiters or att.done:
            return
        waiters.remove(att)
        error = SignalTimeoutError(
            f"no signal {name!r} arrived within {format_seconds(timeout_ns)}"
        )
        self.engine.wake(att, outcome.Error(error))
