"""Workflow bodies at run time: the body, its branches, its calls, children and signals,
their history, and replaying it after a crash.

The engine kernel (``_engine.py``) owns time, the ready list, choices, attempts
and the trace; it runs a body as one more piece of code under its baton and
knows nothing else about it. This module is the body style's side: it turns
``ctx.step``/``ctx.child``/``ctx.gather``/``ctx.spawn``/``ctx.sleep``/
``ctx.wait_for_signal`` into steps, branches and waits of the kernel, through the
kernel's small interface for styles (``Engine.schedule``, ``add_step``,
``make_ready``, ``start_code``, ``wake``, ``hand_back``, ``park``...), and the
kernel calls back through :class:`~wfsim._core._style.Style`.

Durable execution (specs/imperative.md IMP-11, IMP-12; specs/faults.md FAULT-15..)
--------------------------------------------------------------------------------
Everything a body's code asks for is a *command* at a *position*: the code's path
(``body``, or ``body/3`` for the branch the body's 3rd command started) and the
number of commands that code issued before (``body#3``). The commands and their
outcomes are the body's history. When the engine crashes, the body's code (and
every branch's) is lost; when it recovers, the body runs again from its start and
each command found in the history at its position is answered from it: a call
whose outcome was recorded returns that result (or raises that error) without
running, a sleep that ended returns at once, a signal wait returns the payload it
got; the code's clock (``ctx.now()``) reads the time it originally resumed at. A
call still in flight is waited for (the kernel re-attempts it), a timer keeps its
due time. A command that differs from the history's at its position is a
:class:`~wfsim.NondeterminismError`.
"""

from __future__ import annotations

import functools
import inspect
import reprlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import outcome

from wfsim.errors import NondeterminismError, SignalTimeoutError, WfsimError

from . import _engine
from ._callargs import traced_args
from ._context import StepContext
from ._engine import _BODY, TERMINAL, Engine
from ._faults import Fault, InjectedError
from ._imperative import ChildCall, ImperativeWorkflow, StepCall, WorkflowContext
from ._recorded import Diverged, Entry, HistoryEnd, RecordedHistory
from ._signals import Signal
from ._state import _Attempt, _AttemptCancelled, _StepState, _Timer, _Waiter
from ._time import format_seconds, to_ns
from ._values import _MISSING, _jsonable
from ._workflow import Step, _compensation_of, compensation

__all__ = ["Bodies", "Command"]

_IMPERATIVE = inspect.getsourcefile(WorkflowContext) or ""

_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40


class _HistoryReproduced(_AttemptCancelled):
    """Ends the code replaying a recorded history that it has reproduced to its end."""


def error_name(exc: BaseException) -> str:
    """The name a failure is reported by: an injected fault's, else the exception's type."""
    return exc.error_name if isinstance(exc, InjectedError) else type(exc).__name__


def _fn_name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or fn)


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


@attrs.define(eq=False)
class Command:
    """One thing a body's (or branch's) code asked for, at its position in the history."""

    #: ``step``, ``child``, ``branch``, ``spawn``, ``join``, ``sleep``, ``signal``, ``patch``.
    kind: str
    #: What must be equal on replay: the call's name, the signal's name, the patch id...
    base: str
    #: How the code asked, for messages: ``ctx.step(charge, {'id': 7})``.
    what: str
    #: The arguments that must be equal on replay (function, args; a duration...).
    args: Any = None
    #: Its name in the trace (``charge:2``, ``sleep:2``, ``signal:approval``).
    name: str = ""
    #: Step and child calls: the call's state (its outcome is the history's).
    state: _StepState | None = None
    #: Sleeps and signal waits: when the timer falls due. Signal waits: whether the wait
    #: ended, and what it returned (or raised).
    due_ns: int | None = None
    answered: bool = False
    value: Any = None
    error: BaseException | None = None
    #: When the code resumed after it (None: not yet).
    resumed_ns: int | None = None
    #: Loaded from a recorded trace (replay_history): the recorded outcome, no state.
    recorded: dict[str, Any] | None = None

    def answer(self) -> Any:
        """A signal wait's recorded outcome: its payload, or its error raised."""
        if self.error is not None:
            raise self.error
        return self.value


@attrs.define(eq=False)
class _Code:
    """A running body or branch: where its commands go in the history, what time it sees."""

    path: str
    seq: int = 0
    #: Replaying: the virtual time the code resumed at originally; None: live (now).
    clock: int | None = 0


class Bodies:
    """The run-time side of one ``@wfsim.workflow`` run (a :class:`~wfsim._core._style.Style`)."""

    def __init__(self, engine: Engine, recorded: RecordedHistory | None = None):
        workflow = engine.workflow
        assert isinstance(workflow, ImperativeWorkflow)
        self.engine = engine
        self.workflow = workflow
        self._calls: dict[str, int] = {}
        self._points: dict[str, int] = {}
        self._undo_names: dict[str, int] = {}
        self._branches: list[_Attempt] = []
        self._signal_buffer: dict[str, list[Any]] = {}
        self._signal_waiters: dict[str, list[_Attempt]] = {}
        self._signal_timers: list[_Timer] = []
        #: The history: every command by position (kept across crashes).
        self.history: dict[tuple[str, int], Command] = {}
        #: replay_history: the recorded run the code must reproduce (IMP-14), else None.
        self.recorded = recorded
        self._code: dict[_Attempt, _Code] = {}
        self._seeds: dict[str, int] = {}
        self._point_hits = [0] * len(engine.body_faults)
        self._children_ended: set[str] = set()
        #: replay_history: each ended branch's clock (when its history says it ended).
        self._branch_clocks: dict[_StepState, int | None] = {}
        self._patches: dict[str, str] = {}
        self._patch_answers: dict[str, bool] = {}
        self.finished = False
        self.broken: NondeterminismError | None = None
        #: replay_history: the code went past the end of a history still going.
        self.reproduced = False
        self._last_replayed: Any = None
        body_fn = workflow.fn

        async def body(step_ctx: StepContext) -> Any:
            return await body_fn(WorkflowContext(self), engine.input)

        state = _StepState(Step(name=workflow.name, index=_BODY, fn=body), 0)
        self.body = _Attempt(state, 1, 0)
        self._code[self.body] = _Code("body")

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
        if not (
            isinstance(result, outcome.Error) and isinstance(result.error, NondeterminismError)
        ):
            self._check_all_replayed(att)
            if att is self.body and self.recorded is not None:
                self._check_recorded_end(result)
        if att is self.body:
            self._body_ended(att, result)
        else:
            self._branch_ended(att, result)

    def unfinished(self) -> bool:
        return not self.finished

    def failed(self) -> bool:
        return self.body.state.status == "failed"

    def blocked(self) -> bool:
        """A NondeterminismError blocks the run, as a workflow task failure blocks a
        Temporal workflow until a fixed worker replays it: no compensation runs (IMP-12)."""
        return self.broken is not None

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

    def crashed(self) -> list[_Attempt]:
        """The engine died: the body's code and every branch's is lost (FAULT-15)."""
        if self.finished:
            return []
        return [a for a in (self.body, *self._branches) if not a.done]

    def recovered(self) -> None:
        """The engine is back: the body runs again from its start, replaying its history."""
        if self.finished or not self.body.done:
            return
        self._branches = [b for b in self._branches if not b.done]
        self.body = _Attempt(self.body.state, self.body.number + 1, self.engine.now)
        self._code = {self.body: _Code("body")}
        self.engine.start_code(self.body)

    # -- history ----------------------------------------------------------------------------
    def _command(
        self, att: _Attempt, kind: str, base: str, what: str, args: Any = None
    ) -> tuple[Command, bool]:
        """The command ``att``'s code issues now: from the history (True) or new (False)."""
        code = self._code[att]
        code.seq += 1
        key = (code.path, code.seq)
        cmd = self.history.get(key)
        if cmd is None:
            if self.recorded is None:  # (replay_history: every command is new, time recorded)
                code.clock = None  # nothing more to replay: the code is live from here
            cmd = self.history[key] = Command(kind, base, what, args)
            return cmd, False
        if cmd.kind != kind or cmd.base != base or cmd.args != args:
            raise self._diverged(key, cmd.what, what)
        return cmd, True

    def _diverged(self, key: tuple[str, int], recorded: str, new: str) -> NondeterminismError:
        position = f"{key[0]}#{key[1]}"
        where = {"body": "the body", "history": "the recorded run"}.get(
            key[0], f"the branch {key[0]}"
        )
        error = NondeterminismError(
            f"workflow {self.workflow.name!r} is not deterministic: replaying its history, "
            f"command {key[1]} of {where} ({position}) was {recorded}, but now it is {new}; "
            "a body must make the same calls in the same order on every run (read time "
            "and randomness from ctx, not from the host; guard a changed body with "
            "ctx.patched)",
            position=position,
            recorded=recorded,
            new=new,
        )
        if self.broken is None:
            self.broken = error
            self.engine.record("nondeterminism", position=position, recorded=recorded, new=new)
        return error

    def _check_all_replayed(self, att: _Attempt) -> None:
        """The code ended: the history must not have more of its commands (fewer calls)."""
        code = self._code.get(att)
        if code is None or att.done:
            return
        nxt = self.history.get((code.path, code.seq + 1))
        if nxt is not None and self.broken is None:
            self._diverged((code.path, code.seq + 1), nxt.what, "the end of the code (fewer calls)")

    def _check_recorded_end(self, result: outcome.Outcome[Any]) -> None:
        """replay_history: the body ended; the recorded body must have ended the same way."""
        recorded = self.recorded
        assert recorded is not None
        if self.reproduced or self.broken is not None:
            return
        left = recorded.left()
        if left is not None:
            self._diverged_at(
                recorded.position(left), left.what, "the end of the body (fewer calls)"
            )
            return
        if not recorded.finished:
            return
        raised = isinstance(result, outcome.Error)
        failed = recorded.status in ("failed", "compensated", "compensation_failed")
        if raised != failed:
            end = len(recorded.entries) + 1
            was = "the body failing" if failed else "the body returning"
            now = (
                f"the body raising {error_name(result.error)}"
                if isinstance(result, outcome.Error)
                else "the body returning"
            )
            self._diverged_at(f"history#{end}", was, now)

    def _diverged_at(self, position: str, recorded: str, new: str) -> NondeterminismError:
        path, _, number = position.partition("#")
        return self._diverged((path, int(number)), recorded, new)

    def _take(
        self, kind: str, name: str, what: str, args: tuple[Any, str], code: _Code
    ) -> Entry:
        """replay_history: the recorded call this one must be (or the end of the replay);
        ``args``: the call's arguments as the trace records them, and their text;
        ``code``: the body or branch making it (its clock: when it was recorded)."""
        assert self.recorded is not None
        try:
            return self.recorded.take(kind, name, what, *args, at_ns=code.clock)
        except HistoryEnd:
            self.reproduced = True
            raise _HistoryReproduced() from None
        except Diverged as exc:
            raise self._diverged_at(exc.position, exc.recorded, exc.new) from None

    async def _call_recorded(
        self, body: _Attempt, items: Sequence[StepCall | ChildCall | Awaitable[Any]]
    ) -> list[Any]:
        """replay_history: answer each call from the recorded run, in its order."""
        engine = self.engine
        code = self._code[body]
        states: list[_StepState] = []
        live: list[_StepState] = []
        waiter = _Waiter(body, 0)
        waiter.on_done = functools.partial(self._wake_if_alive, body)
        ends: list[int | None] = []
        for item in items:
            if isinstance(item, StepCall):
                name = self._call_name(item.name)
                args = traced_args(item.args, item.kwargs)
                entry = self._take("call", name, _describe(item), args, code)
                st = _StepState(Step(name=name, index=len(engine.states)), 0)
                fields: dict[str, Any] = {}
                if entry.error is not None:
                    st.status, st.error, st.last_exc = "failed", entry.error, entry.exception()
                    fields["error"] = entry.error
                else:
                    st.status, st.result = "completed", entry.output
                    if entry.output is not None:
                        fields["output"] = entry.output
                engine.record("call_replayed", name, **fields)
                if entry.end_ns is not None and code.clock is not None:
                    code.clock = max(code.clock, entry.end_ns)
            elif isinstance(item, ChildCall):
                name = self._call_name(item.name)
                what = f"ctx.child({item.workflow.name}, {_repr.repr(item.input)})"
                entry = self._take("child", name, what, traced_args((item.input,), {}), code)
                ends.append(entry.end_ns)
                ctx = WorkflowContext(self, prefix=f"{name}/")
                child_body = item.workflow.fn(ctx, item.input)
                code.seq += 1
                st = self._new_branch(
                    child_body, self._path_of(body), waiter, name=name, child=True
                )
                self._children_ended.add(name)  # not traced: the replay runs no child
                live.append(st)
            else:
                code.seq += 1
                st = self._new_branch(item, self._path_of(body), waiter)
                live.append(st)
            states.append(st)

        def resume() -> None:
            if code.clock is not None:  # a child ran at once: it ended when the history says
                code.clock = max([code.clock, *(t for t in ends if t is not None)])
            self._after_branches(code, live)

        return await self._await_calls(body, waiter, live, states, {}, resume)

    async def _await_calls(
        self,
        body: _Attempt,
        waiter: _Waiter,
        live: list[_StepState],
        states: list[_StepState],
        answers: Mapping[int, Any],
        resume: Callable[[], None],
    ) -> list[Any]:
        """The end of an await of calls: park until the ``live`` ones ended, ``resume``
        the body's clock, raise the first failure, else every result in call order
        (``answers``: the history's, by index, for calls it answered)."""
        waiter.remaining = len(live)
        if live:
            await self.engine.hand_back()
        if body.done:
            raise _AttemptCancelled()
        resume()
        for st in states:
            if st.status == "failed":
                raise st.last_exc or WfsimError(f"step {st.step.name!r} failed: {st.error}")
        return [answers.get(k, st.result) for k, st in enumerate(states)]

    def _after_branches(self, code: _Code, branches: Sequence[_StepState]) -> None:
        """replay_history: ``code`` goes on after ``branches``: at the latest of their
        recorded ends (each branch's clock when it ended), if it is later than its own."""
        if code.clock is None:
            return
        ends = [self._branch_clocks.get(st) for st in branches]
        code.clock = max([code.clock, *(t for t in ends if t is not None)])

    def _wake_if_alive(self, body: _Attempt) -> None:
        if not body.done and body.live:
            self.engine.wake(body, outcome.Value(None))

    def now_ns(self) -> int:
        """The virtual time the running body code sees: its original time while replaying."""
        att = self.engine.current_attempt()
        code = self._code.get(att) if att is not None else None
        if code is not None and code.clock is not None:
            return code.clock
        return self.engine.now

    def rng_seed(self, prefix: str) -> int:
        """The seed of ``ctx.random`` of the context ``prefix``: drawn once, then replayed."""
        seed = self._seeds.get(prefix)
        if seed is None:
            seed = self._seeds[prefix] = self.engine.choices.choose(1 << 62, "random")
        return seed

    def _resumed(self, att: _Attempt, cmds: Sequence[Command]) -> None:
        """``att``'s code goes on after ``cmds``: at their recorded time when replaying."""
        code = self._code[att]
        times = [c.resumed_ns for c in cmds]
        if code.clock is not None and all(t is not None for t in times):
            code.clock = max(t for t in times if t is not None) if times else code.clock
            return
        code.clock = None
        for c in cmds:
            if c.resumed_ns is None:
                c.resumed_ns = self.engine.now

    def patched(self, patch_id: str) -> bool:
        """``ctx.patched(id)`` (IMP-13): True unless the history was recorded before it."""
        site = _call_site()
        first = self._patches.setdefault(patch_id, site)
        if first != site:
            raise WfsimError(
                f"ctx.patched({patch_id!r}) is called at {site} and at {first}; one patch id "
                "guards one change: give the second change its own id"
            )
        known = self._patch_answers.get(patch_id)
        if self.recorded is not None:
            if known is None:
                known = self._patch_answers[patch_id] = self.recorded.patched(patch_id)
            return known
        att = self.body_attempt()
        code = self._code[att]
        key = (code.path, code.seq + 1)
        cmd = self.history.get(key)
        if cmd is not None and cmd.kind == "patch" and cmd.base == patch_id:
            code.seq += 1  # recorded with the patch (a replay after a crash): as before
            answer = True
        elif known is not None:
            answer = known  # asked again (a loop): the answer of the run
        elif cmd is not None:
            answer = False  # recorded before the patch: the old code path
        else:
            code.seq += 1
            code.clock = None
            self.history[key] = Command("patch", patch_id, f"ctx.patched({patch_id!r})")
            self.engine.record("patched", patch=patch_id, position=f"{key[0]}#{key[1]}")
            answer = True
        self._patch_answers[patch_id] = answer
        return answer

    # -- crash points (FAULT-15) --------------------------------------------------------------
    def _crash_point(self, point: str) -> Fault | None:
        """The body reached ``point``: the first body crash fault that hits it, if any."""
        engine = self.engine
        for i, fault in enumerate(engine.body_faults):
            if not fault.matches(point):
                continue
            self._point_hits[i] += 1
            if engine.decide((fault,), point, self._point_hits[i]):
                return fault
        return None

    def _crash_in_code(self, fault: Fault, point: str) -> None:
        """Crash from inside the body's code (a sleep or wait starting): it ends here."""
        self.engine.crash(fault, point)
        raise _AttemptCancelled()

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
        if self.recorded is not None:
            return await self._call_recorded(body, items)
        engine = self.engine
        states: list[_StepState] = []
        live: list[_StepState] = []  # what the body waits for (not answered by the history)
        cmds: list[Command] = []
        answers: dict[int, Any] = {}  # replayed calls: what the history answers
        waiter = _Waiter(body, 0)
        waiter.on_done = functools.partial(self._resume, body, live)
        for item in items:
            if isinstance(item, StepCall):
                traced, text = traced_args(item.args, item.kwargs)
                args = (_fn_name(item.fn), text)
                cmd, replay = self._command(body, "step", item.name, _describe(item), args)
                if cmd.state is None:
                    cmd.state = self._new_call(item)
                    cmd.name = cmd.state.step.name
                    cmd.state.waiter = waiter
                    live.append(cmd.state)
                    engine.make_ready(cmd.state, args=traced)
                elif cmd.state.status not in TERMINAL:  # in flight at the crash: wait for it
                    cmd.state.waiter = waiter
                    live.append(cmd.state)
                else:
                    answers[len(states)] = self._replayed(cmd)
                st = cmd.state
            elif isinstance(item, ChildCall):
                what = f"ctx.child({item.workflow.name}, {_repr.repr(item.input)})"
                traced, text = traced_args((item.input,), {})
                args = (item.workflow.name, text)
                cmd, replay = self._command(body, "child", item.name, what, args)
                st = self._new_child(item, cmd, replay, traced)
                st.waiter = waiter
                live.append(st)
            else:
                what = f"ctx.gather(<coroutine {_fn_name(item)}>)"
                cmd, _ = self._command(body, "branch", "branch", what, _fn_name(item))
                st = self._new_branch(item, self._path_of(body), waiter=waiter)
                live.append(st)
            states.append(st)
            cmds.append(cmd)
        resume = functools.partial(self._resumed, body, cmds)
        return await self._await_calls(body, waiter, live, states, answers, resume)

    def _replayed(self, cmd: Command) -> Any:
        """A call answered from the history: traced ``call_replayed``; its recorded result."""
        st = cmd.state
        assert st is not None
        fields: dict[str, Any] = {}
        result = st.result
        if _engine._PLANTED_BUG == "replay_previous_result" and self._last_replayed is not None:
            result = self._last_replayed  # TEST ONLY: the bug the property suite must find
        if st.status == "failed":
            fields["error"] = st.error
        else:
            self._last_replayed = st.result
            output = _jsonable(result)
            if output is not _MISSING:
                fields["output"] = output
        self.engine.record("call_replayed", st.step.name, **fields)
        return result

    def _resume(self, body: _Attempt, states: list[_StepState]) -> None:
        """Every call of one await ended: the body resumes, unless a crash point hits."""
        if body.done or not body.live:
            return  # a crashed body's await: its replay waits for the calls itself
        if self.engine.body_faults:
            for st in states:
                if st.step.index == _BODY and not st.child:
                    continue  # a gather branch: its own calls had their points
                point = f"after:{st.step.name}"
                fault = self._crash_point(point)
                if fault is not None:
                    self.engine.crash(fault, point)
                    return
        self.engine.wake(body, outcome.Value(None))

    def _path_of(self, att: _Attempt) -> str:
        """The path of the branch the command ``att``'s code just issued starts."""
        code = self._code[att]
        return f"{code.path}/{code.seq}"

    def _new_branch(
        self,
        awaitable: Awaitable[Any],
        path: str,
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
        parent = self._code[self.body_attempt()]
        self._code[att] = _Code(path, clock=parent.clock)
        self._branches.append(att)
        self.engine.start_code(att)
        return st

    def _point_name(self, base: str) -> str:
        """``sleep``, ``sleep:2``...: a body point's name, numbered like calls (FAULT-15)."""
        count = self._points[base] = self._points.get(base, 0) + 1
        return base if count == 1 else f"{base}:{count}"

    def _call_name(self, base: str) -> str:
        count = self._calls[base] = self._calls.get(base, 0) + 1
        return base if count == 1 else f"{base}:{count}"

    def _new_call(self, call: StepCall) -> _StepState:
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
            idempotent=call.idempotent,
        )
        st = _StepState(step, 0)
        if call.cache_key is not None:
            st.key_fn = functools.partial(call.cache_key, *args, **kwargs)
        self.engine.add_step(st)
        return st

    def _new_child(self, call: ChildCall, cmd: Command, replay: bool, traced: Any) -> _StepState:
        """A child runs as a branch; replayed, its body runs again against its history."""
        if not replay:
            cmd.name = self._call_name(call.name)
            self.engine.record(
                "child_started", cmd.name, workflow=call.workflow.name, args=traced
            )
        body = call.workflow.fn(WorkflowContext(self, prefix=f"{cmd.name}/"), call.input)
        path = self._path_of(self.body_attempt())
        return self._new_branch(body, path, None, name=cmd.name, child=True)

    def spawn(self, awaitable: Awaitable[Any]) -> _StepState:
        """``ctx.spawn``: start a branch now; its handle is awaited later."""
        att = self.body_attempt()  # only a body (or a branch) may spawn
        self._command(att, "spawn", "spawn", f"ctx.spawn(<coroutine {_fn_name(awaitable)}>)")
        name = f"{self.workflow.name} (spawned branch)"
        return self._new_branch(awaitable, self._path_of(att), None, name=name)

    async def join(self, branch: _StepState) -> Any:
        """``await handle``: park until the spawned branch ended; its result or its error."""
        att = self.body_attempt()
        cmd, _ = self._command(att, "join", "join", "await <handle>")
        if branch.status not in TERMINAL:
            branch.awaiting.append(att)
            await self.engine.park_until_woken(att)
        if self.recorded is not None:  # the code goes on when the branch's history ended
            self._after_branches(self._code[att], [branch])
        else:
            self._resumed(att, [cmd])
        if branch.status == "failed":
            raise branch.last_exc or WfsimError("a spawned branch failed")
        return branch.result

    async def sleep(self, delay_ns: int) -> None:
        """``ctx.sleep``: wait virtual time; replayed, a finished sleep returns at once and
        one in progress at the crash keeps its due time."""
        att = self.body_attempt()
        if self.recorded is not None:  # a trace has no sleeps: time moves on at once
            code = self._code[att]
            code.clock = (code.clock or 0) + delay_ns
            return
        what = f"ctx.sleep({format_seconds(delay_ns)})"
        cmd, replay = self._command(att, "sleep", "sleep", what, delay_ns)
        engine = self.engine
        if replay and cmd.resumed_ns is not None:
            self._resumed(att, [cmd])
            return
        if not replay:
            cmd.name = self._point_name("sleep")
            cmd.due_ns = engine.now + delay_ns
            if engine.body_faults:
                fault = self._crash_point(cmd.name)
                if fault is not None:
                    self._crash_in_code(fault, cmd.name)
        assert cmd.due_ns is not None
        await engine.park(att, max(0, cmd.due_ns - engine.now))
        self._resumed(att, [cmd])

    def _body_ended(self, body: _Attempt, result: outcome.Outcome[Any]) -> None:
        body.end()
        body.live = False
        self.finished = True
        for timer in self._signal_timers:
            timer[2] = None
        engine = self.engine
        if self.broken is not None:
            result = outcome.Error(self.broken)
        elif self.reproduced:
            result = outcome.Value(None)
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
        att.live = False
        st = att.state
        code = self._code.get(att)
        if self.recorded is not None and code is not None:
            self._branch_clocks[st] = code.clock
        engine = self.engine
        # A replayed child whose end the history has already traced is not traced again.
        trace = st.child and st.step.name not in self._children_ended
        if st.child:
            self._children_ended.add(st.step.name)
        if isinstance(result, outcome.Error):
            st.status = "failed"
            st.last_exc = exc = result.error
            if trace:
                engine.record("child_failed", st.step.name, error=error_name(exc), message=str(exc))
        else:
            st.status = "completed"
            st.result = result.unwrap()
            if trace:
                engine.record("child_completed", st.step.name)
        for waiting in st.awaiting:  # ctx.spawn handles: wake whoever awaits this branch
            if not waiting.done and waiting.live:
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
        """``ctx.wait_for_signal``: a buffered payload at once, else park until one arrives.

        Replayed, a wait that ended returns (or raises) what it did; one in progress at
        the crash waits again, its timeout keeping its due time."""
        att = self.body_attempt()
        if self.recorded is not None:
            return self._signal_recorded(name, timeout_ns)
        what = f"ctx.wait_for_signal({name!r})"
        cmd, replay = self._command(att, "signal", name, what, timeout_ns)
        engine = self.engine
        if replay and cmd.answered:
            self._resumed(att, [cmd])
            return cmd.answer()
        buffered = self._signal_buffer.get(name)
        if not replay:
            cmd.name = self._point_name(f"signal:{name}")
            cmd.due_ns = None if timeout_ns is None else engine.now + timeout_ns
            if engine.body_faults and not buffered:
                fault = self._crash_point(cmd.name)
                if fault is not None:
                    self._crash_in_code(fault, cmd.name)
        if buffered:
            cmd.answered, cmd.value = True, buffered.pop(0)
            self._resumed(att, [cmd])
            return cmd.answer()
        self._signal_waiters.setdefault(name, []).append(att)
        timer = None
        if cmd.due_ns is not None:
            assert timeout_ns is not None
            timer = engine.schedule(
                max(cmd.due_ns, engine.now),
                self._signal_timeout,
                att,
                name,
                att.token + 1,
                timeout_ns,
            )
        try:
            cmd.value = await engine.park_until_woken(att)
        except SignalTimeoutError as exc:
            cmd.error = exc
        finally:
            if timer is not None:
                timer[2] = None
        cmd.answered = True
        self._resumed(att, [cmd])
        return cmd.answer()

    def _signal_recorded(self, name: str, timeout_ns: int | None) -> Any:
        """replay_history: a wait gets the payload the recorded run received next."""
        assert self.recorded is not None
        got, payload, at_ns = self.recorded.signal(name)
        if got:
            code = self._code[self.body_attempt()]
            if code.clock is not None:
                code.clock = max(code.clock, at_ns)
            return payload
        if timeout_ns is not None:
            raise SignalTimeoutError(
                f"no signal {name!r} arrived within {format_seconds(timeout_ns)}"
            )
        if not self.recorded.finished:
            self.reproduced = True
            raise _HistoryReproduced()
        left = self.recorded.left()
        raise self._diverged_at(
            f"history#{len(self.recorded.entries) + 1}",
            left.what if left is not None else "the end of the history",
            f"ctx.wait_for_signal({name!r}), a signal the recorded run never received",
        )

    def _signal_timeout(self, att: _Attempt, name: str, token: int, timeout_ns: int) -> None:
        waiters = self._signal_waiters.get(name, [])
        if att.token != token or att not in waiters or att.done:
            return
        waiters.remove(att)
        error = SignalTimeoutError(
            f"no signal {name!r} arrived within {format_seconds(timeout_ns)}"
        )
        self.engine.wake(att, outcome.Error(error))


def _call_site() -> str:
    """``file:line`` of the body code that called ``ctx.patched``."""
    frame = inspect.currentframe()
    here = frame.f_code.co_filename if frame is not None else ""
    while frame is not None and frame.f_code.co_filename in (here, _IMPERATIVE):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "?"


def _describe(call: StepCall) -> str:
    """``ctx.step(charge, {'id': 7}, cents=250)`` (and its name when it is not the function's)."""
    parts = [_fn_name(call.fn), *map(_repr.repr, call.args)]
    parts += [f"{k}={_repr.repr(v)}" for k, v in call.kwargs.items()]
    named = call.name.rsplit("/", 1)[-1]
    suffix = "" if named == getattr(call.fn, "__name__", named) else f" named {named!r}"
    return f"ctx.step({', '.join(parts)}){suffix}"
