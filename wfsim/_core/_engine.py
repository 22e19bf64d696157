"""The reference engine: a discrete-event loop on trio that owns every decision.

How it stays deterministic
--------------------------
* Virtual time is an integer (ns) that only the engine advances. Time moves
  when nothing is left to do at the current instant: the engine pops the next
  timer and, if trio runs on a :class:`trio.testing.MockClock`, jumps that clock
  by the same amount (so ``trio.current_time()`` agrees).
* All work at one instant sits in a ready list. The engine picks the next item
  with one ``choose(len(ready), "schedule")`` call on the run's choice source;
  nothing is ever left to trio's own task order.
* Code-less steps are timers in the engine. A code step's coroutine is driven
  by the engine itself (``_baton.py``): it runs when the engine sends into it
  and hands control back when it reaches a wfsim wait (``ctx.sleep``) or ends.
  So step code runs in an order the choice source decides, never two at once.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import outcome
import trio

from wfsim.errors import (
    CircuitOpenError,
    EngineError,
    ExternalWaitError,
    StepTimeoutError,
    WfsimError,
    did_you_mean,
)

from ._aio import drive, in_asyncio_task, raise_wait_in_asyncio_task
from ._baton import Baton, hand_back
from ._breaker import BreakerRuntime
from ._choice import ChoiceSource
from ._context import StepContext
from ._events import Event, EventStep, EventWorkflow, StartEvent, StopEvent, StreamedEvent
from ._faults import Fault, InjectedError
from ._parallel import MergeConflictError, deep_merge_into, merge_outputs
from ._retry import retry_delay
from ._signals import Signal
from ._state import _Arrival, _Attempt, _AttemptCancelled, _StepState, _Timer, _Waiter
from ._style import Style
from ._time import format_seconds, to_seconds
from ._timers import TimerQueue
from ._trace import Row
from ._trigger import UpstreamCounts, Verdict, evaluate
from ._trio_clock import MockClock
from ._values import _MISSING, _jsonable, canonical_key
from ._wallclock import WallClock
from ._workflow import Step, Workflow

#: TEST ONLY, never set it in real use: ``"attempt_off_by_one"`` plants a bug in
#: attempt counting (a failed attempt is retried once more than ``max_attempts``
#: allows), so the property suite can show that it finds and shrinks a real engine
#: bug (tests/properties/test_planted_bug.py); ``"replay_previous_result"`` makes a
#: body's replay answer a call with the previous replayed call's result
#: (tests/properties/test_planted_replay_bug.py). ``None``: the engine as specified.
_PLANTED_BUG: str | None = None

if TYPE_CHECKING:
    from ._imperative import ImperativeWorkflow

__all__ = ["Engine", "StepContext"]

#: A step that starts this many attempts at one virtual instant is looping (zero-delay
#: retries without an attempt limit): the run ends timed_out instead of hanging.
LIVELOCK_ATTEMPTS = 10_000

#: Step.index of the pseudo-steps that run a workflow body or a gather branch.
_BODY = -(1 << 62)

TERMINAL = frozenset({"completed", "failed", "skipped", "cancelled", "compensated"})


class Engine:
    """One run of a DAG workflow. Use :func:`wfsim.run` or :func:`wfsim.arun`."""

    def __init__(
        self,
        workflow: Workflow | ImperativeWorkflow | EventWorkflow,
        *,
        input: Any,
        seed: int | None,
        faults: Sequence[Fault],
        choices: ChoiceSource,
        time_limit_ns: int,
        epoch: Any,
        wall_clock: WallClock | None,
        signals: Sequence[Signal] = (),
        style: Callable[[Engine], Style] | None = None,
    ) -> None:
        workflow.validate()  # an invalid workflow fails before anything runs
        self.workflow = workflow
        # A DAG's input seeds its context; a workflow body takes any input value.
        self.input: Any = {} if input is None else input
        self.context: dict[str, Any] = dict(input) if isinstance(input, Mapping) else {}
        self.seed = seed
        # Delivery faults (events, signals) act on deliveries, never on attempts.
        self.faults = tuple(f for f in faults if f.delivery is None and f.at != "body")
        #: Crashes at a workflow body's points (FAULT-15): the body style decides them.
        self.body_faults = tuple(f for f in faults if f.at == "body")
        self.delivery_faults = tuple(f for f in faults if f.delivery is not None)
        self._occurrences: Counter[tuple[str, str]] = Counter()
        self._delayed: list[_Timer] = []
        self.choices = choices
        self.time_limit_ns = time_limit_ns
        self.epoch = epoch
        self.now = 0
        self.events: list[Row] = []
        self.status: str | None = None
        self.message = ""
        self._wall = wall_clock
        #: How many times each step's (or compensation's) work was done: its effect ran.
        self.effect_counts: Counter[str] = Counter()
        # Crash faults (specs/faults.md FAULT-10..): the context as of the last recorded
        # completion, which a restart goes back to. Kept only when a crash can happen.
        self._durable: dict[str, Any] | None = (
            dict(self.context) if any(f.kind == "crash" for f in faults) else None
        )
        # The recovery the last crash scheduled: its time and what it resumes (the
        # arguments of _recover), so a crash during a recovery can hand on the rest.
        self._recovery: tuple[int, list[_StepState], list[_Timer], list[Any]] | None = None
        steps = workflow.steps
        # Each step's faults in plan order, patterns resolved once.
        # Only names some fault targets get an entry (most steps of a big run have none).
        self._faults_by_step: dict[str, list[Fault]] = (
            dict(workflow.faults_by_target(self.faults)) if self.faults else {}
        )
        self.states: dict[str, _StepState] = {
            name: _StepState(step, len(step.after)) for name, step in steps.items()
        }
        dependents = workflow.dependents()
        # Sagas (specs/compensation.md): one state per compensation, registered on a stack.
        self.saga = workflow.saga
        self.comp_states: dict[str, _StepState] = {}
        state_of = self.states.__getitem__
        for name, st in self.states.items():
            if dependents[name]:
                st.dependents = tuple(map(state_of, dependents[name]))
            if st.step.cache_key is not None:
                st.key_fn = functools.partial(st.step.cache_key, self.context_view)
            comp = st.step.compensate
            if comp is not None:
                st.compensation = _StepState(comp, 0, for_step=name)
                self.comp_states[comp.name] = st.compensation
        self._registered: list[_StepState] = []
        self._comp_queue: list[_StepState] = []
        self._compensating = False
        self._timers = TimerQueue()
        self._ready: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._slot_wait: list[_StepState] = []
        # A schedule strategy that ranks ready work by its step (PCT, _schedules.py) watches
        # both lists the "schedule" stream chooses from; it never changes them.
        watch = getattr(choices, "watch", None)
        if watch is not None:
            watch(self._ready, self._slot_wait)
        self._running = 0
        self._limit = workflow.max_concurrency
        self._switches: list[tuple[_Attempt, outcome.Outcome[Any] | None]] = []
        self.result: Any = None
        #: What step code wrote to the run's stream, in order (EVT-9).
        self.streamed: list[StreamedEvent] = []
        self._calls: dict[str, int] = {}
        self.signals = tuple(signals)
        self._breakers: dict[str, BreakerRuntime] = {}
        self._cache: dict[tuple[str, Any], Any] = {}
        self.task_states: dict[str, _StepState] = {}
        # Event workflows (specs/events.md).
        self.event_wf = workflow if isinstance(workflow, EventWorkflow) else None
        self._ev_running: dict[str, int] = {}
        self._ev_queue: dict[str, list[_StepState]] = {}
        self._buffers: dict[tuple[str, str], list[Any]] = {}
        self._stopped = False
        self._ev_failed: _StepState | None = None
        self._livelock: _StepState | None = None
        #: Runs step code (_baton.py): who holds the baton, the code that waits.
        self.baton = Baton()
        self._clock: MockClock | None = None
        # Workflow bodies (_bodies.py): their code runs under the baton; steps appear as called.
        self.style: Style | None = style(self) if style is not None else None

    @property
    def context_view(self) -> Mapping[str, Any]:
        """The shared context, read-only (what DAG cache keys are computed from)."""
        return types.MappingProxyType(self.context)

    # -- recording --------------------------------------------------------------------------
    def record(
        self, kind: str, step: str | None = None, attempt: int | None = None, **fields: Any
    ) -> None:
        self.events.append((len(self.events), self.now, kind, step, attempt, fields))

    def _schedule(self, at_ns: int, fn: Callable[..., None], *args: Any) -> _Timer:
        return self._timers.add(at_ns, fn, args)

    # -- the loop ---------------------------------------------------------------------------
    def _start(self) -> None:
        self.record("run_started", workflow=self.workflow.name, seed=self.seed)
        for st in self.states.values():
            if st.remaining_deps == 0:
                self._make_ready(st)
        if self.style is not None:
            self.style.start()
        if self.event_wf is not None:
            fields = dict(self.input) if isinstance(self.input, Mapping) else {"input": self.input}
            self.emit(StartEvent(**fields), sender=None)

    def run_alone(self) -> None:
        """Run without trio: a DAG none of whose steps has code, or an event workflow
        whose step code awaits nothing of trio's (``code_needs_trio`` false: the
        LlamaIndex adapter's asyncio code, LLAMA-10).

        Nothing in such a run waits on trio, so the loop alone runs it, driving step
        code as in trio (:meth:`_drain_alone`): the same decisions, the same trace,
        without the cost of starting trio.
        """
        self._start()
        try:
            over = False
            while not over:
                over = self._work()
                self._drain_alone()
        except WfsimError:
            raise
        except Exception as exc:
            raise _engine_error(exc, ()) from exc
        finally:
            self.baton.close()
        self._finish()

    async def run(self) -> None:
        """Run the workflow inside trio: step code runs under the baton (_baton.py)."""
        clock = trio.lowlevel.current_clock()
        self._clock = clock if isinstance(clock, MockClock) else None
        self._start()
        guard = (self.time_limit_ns + 1_000_000) / 1e9
        fatal: WfsimError | None = None
        with trio.CancelScope() as scope:
            if self._clock is not None:
                scope.deadline = trio.current_time() + guard
            try:
                over = False
                while not over:
                    over = self._work()
                    await self._drain_switches()
            except WfsimError as exc:
                fatal = exc
            except Exception as exc:
                fatal = _engine_error(exc, ())
                fatal.__cause__ = exc
            finally:
                self.baton.close()
        if fatal is not None:
            raise fatal
        if scope.cancelled_caught:
            # Step code waited outside wfsim with no timer of ours pending: trio's
            # clock reached the guard. All code is closed already.
            self._switches.clear()
            self.now = self.time_limit_ns
            self._time_out(outside=True)
        self._finish()

    def _work(self) -> bool:
        """Do the engine's work until step code must run or the run is over.

        Returns False when switches to step code are pending (the caller drains
        them and calls again), True when the run is over (cancellations of the
        code still running may be pending).
        """
        ready = self._ready
        timers = self._timers
        choose = self.choices.choose
        while True:
            while ready and self._livelock is None:
                # pop(i), not swap-and-pop: choice 0 must mean "the oldest ready work",
                # so an all-zero tape runs simultaneous work in declaration order.
                fn, args = ready.pop(choose(len(ready), "schedule") if len(ready) > 1 else 0)
                try:
                    fn(*args)
                except WfsimError:
                    raise
                except Exception as exc:  # never a bare TypeError out of trio's nursery
                    raise _engine_error(exc, args) from exc
                if self._switches:
                    return False
            if self._livelock is not None:
                self._time_out(outside=False)
                return True
            at = timers.next_instant()
            if at is None and self._start_compensation():
                continue
            if at is None:
                if self._unfinished():
                    self._advance(max(self.now, self.time_limit_ns))
                    self._time_out(outside=False)
                return True
            if at > self.time_limit_ns:
                self._advance(self.time_limit_ns)
                self._time_out(outside=False)
                return True
            self._advance(at)
            for timer in timers.take_due(at):
                if timer[2] is not None:
                    ready.append((timer[2], timer[3]))
                    timer[2] = None  # fired: pruned from its attempt's list below

    def _unfinished(self) -> bool:
        """Whether anything still waits although nothing is scheduled (a hang, a signal)."""
        if self.style is not None and self.style.unfinished():
            return True
        if self.event_wf is not None and not self._stopped and self._ev_failed is None:
            return True  # an event workflow ends only with a StopEvent
        if any(st.status not in TERMINAL for st in self.states.values()):
            return True
        # A compensation that was never needed stays "pending"; that is not waiting.
        return any(
            c.status not in TERMINAL and c.status != "pending" for c in self.comp_states.values()
        )

    def _advance(self, to_ns_: int) -> None:
        if to_ns_ > self.now:
            if self._clock is not None:
                self._clock.jump((to_ns_ - self.now) / 1e9)
            self.now = to_ns_

    # -- handing control to step code ------------------------------------------------------
    async def _drain_switches(self) -> None:
        while self._switches:
            att, value = self._switches.pop(0)
            clock = self._clock  # None: not a MockClock, so waits outside wfsim go unseen
            before = clock.current_time() if clock is not None else 0.0
            self._handing(att, value)
            await self.baton.switch(att, value)
            self._handed_back(att)
            if clock is not None and clock.current_time() != before:
                waited = clock.current_time() - before
                raise ExternalWaitError(
                    f"step {att.state.step.name!r} (attempt {att.number}) waited {waited:g} s "
                    "of virtual time outside wfsim, e.g. with trio.sleep(); wfsim cannot order "
                    "such waits deterministically: use `await ctx.sleep(...)` in step code"
                )
            self._code_returned(att)

    def _drain_alone(self) -> None:
        """:meth:`_drain_switches` in a run without trio (:meth:`run_alone`)."""
        while self._switches:
            att, value = self._switches.pop(0)
            self._handing(att, value)
            self.baton.switch_alone(att, value)
            self._handed_back(att)
            self._code_returned(att)

    def _handing(self, att: _Attempt, value: outcome.Outcome[Any] | None) -> None:
        """Control goes to ``att``'s code (``value`` None: its code starts)."""
        if self._wall is not None:
            self._wall.sync(self.now)
        if value is None:
            self.baton.start(att, functools.partial(self._attempt_code, att))

    def _handed_back(self, att: _Attempt) -> None:
        if self._wall is not None:
            self._wall.handed_back(att.state.step.name, att.number)

    def _code_returned(self, att: _Attempt) -> None:
        """Control is back from ``att``'s code: if the code ended, so does the attempt."""
        if att.outcome is not None and att.live:
            att.live = False
            try:
                self._code_attempt_ended(att)  # (nothing, if the engine ended it already)
            except WfsimError:
                raise
            except Exception as exc:
                raise _engine_error(exc, (att,)) from exc

    async def _attempt_code(self, att: _Attempt) -> None:
        """Run ``att``'s code to its end and keep its outcome (under the baton)."""
        fn = att.state.step.fallback if att.fallback else att.state.step.fn
        assert fn is not None
        try:
            code = fn(StepContext(self, att))
            result = await (drive(self, att, code) if inspect.iscoroutine(code) else code)
        except _AttemptCancelled:
            att.outcome = outcome.Value(None)
        except Exception as exc:
            att.outcome = outcome.Error(exc)
        else:
            att.outcome = outcome.Value(result)

    async def park(self, att: _Attempt, delay_ns: int) -> None:
        """Called by step code (``ctx.sleep``): schedule a wake-up and hand control back."""
        if att.done:
            raise _AttemptCancelled()
        self.baton.check_wait(att, "ctx.sleep()", own=True)
        att.token += 1
        if len(att.timers) > 8:
            att.timers = [t for t in att.timers if t[2] is not None]
        att.timers.append(self._schedule(self.now + delay_ns, self._wake, att, att.token))
        await hand_back()

    async def park_until_woken(self, att: _Attempt) -> Any:
        """Hand control back with no timer; whoever wakes ``att`` sends the value."""
        if att.done:
            raise _AttemptCancelled()
        if in_asyncio_task():
            raise_wait_in_asyncio_task(att.state.step.name)
        self.baton.check_wait(att, "a wfsim wait")
        att.token += 1
        return await hand_back()

    def _wake(self, att: _Attempt, token: int) -> None:
        if not att.done and att.token == token and att.live:
            self._switches.append((att, outcome.Value(None)))

    def _cancel_task(self, att: _Attempt) -> None:
        if att.live:
            self._switches.append((att, outcome.Error(_AttemptCancelled())))

    # -- the interface for styles (_bodies.py) ---------------------------------------------
    def schedule(self, at_ns: int, fn: Callable[..., None], *args: Any) -> _Timer:
        """Call ``fn(*args)`` at virtual time ``at_ns`` (the returned timer is cancelled
        by setting its ``[2]`` to None)."""
        return self._schedule(at_ns, fn, *args)

    def current_attempt(self) -> _Attempt | None:
        """The attempt (or body) whose code runs now (holds the baton), if any."""
        return self.baton.holder

    def add_step(self, st: _StepState) -> None:
        """Register a step made while running (a body's call), with its faults and its
        compensation's."""
        name = st.step.name
        self.states[name] = st
        self._faults_by_step[name] = [f for f in self.faults if f.matches(name)] or []
        comp = st.step.compensate
        if comp is not None:
            st.compensation = _StepState(comp, 0, for_step=name)
            self.comp_states[comp.name] = st.compensation
            self._faults_by_step[comp.name] = [f for f in self.faults if f.matches(comp.name)]

    def make_ready(self, st: _StepState, **fields: Any) -> None:
        """``st`` is ready: its first attempt starts when the ready list picks it;
        ``fields`` go on its ``step_ready`` (a body call's ``args``, TRACE-5)."""
        self._make_ready(st, fields)

    def start_code(self, att: _Attempt) -> None:
        """Run ``att``'s code (a body or a branch) when the ready list picks it."""
        self._ready.append((self._spawn, (att,)))

    def wake(self, att: _Attempt, value: outcome.Outcome[Any]) -> None:
        """Resume ``att``'s parked code with ``value`` (returned, or raised, in it)."""
        self._switches.append((att, value))

    def cancel_task(self, att: _Attempt) -> None:
        """End ``att``'s parked code (an _AttemptCancelled is thrown into it)."""
        self._cancel_task(att)

    async def hand_back(self) -> None:
        """Called from code under the baton: hand control back until someone wakes it."""
        if in_asyncio_task():
            raise_wait_in_asyncio_task("a workflow body")
        await hand_back()

    def step_ended(self, st: _StepState) -> None:
        """``st`` (a step or a branch) ended: whoever waits for it is told."""
        self._step_ended(st)

    def decide(self, faults: Iterable[Fault], name: str, number: int) -> list[Fault]:
        """The faults of ``faults`` that hit occurrence ``number`` of ``name`` now
        (probability draws from the ``faults`` stream, in plan order)."""
        matching = [f for f in faults if f.matches(name)]
        return [f for f, _ in self._decide_faults(matching, name, number)]

    def crash(self, fault: Fault, point: str) -> None:
        """The engine dies at a workflow body's ``point`` (FAULT-15), traced first."""
        self.record("fault_injected", fault=fault.describe())
        self._crash(None, fault, point)

    def delivery(self, what: str, name: str) -> tuple[int, int]:
        """A delivery of ``name`` (a signal) happens: how many times (0: dropped) and
        after what delay, as its delivery faults decide."""
        self._occurrences[what, name] += 1
        number = self._occurrences[what, name]
        return self._delivery_faults(what, name, number) if self.delivery_faults else (1, 0)

    # -- step life cycle ----------------------------------------------------------------------
    def _make_ready(self, st: _StepState, fields: Mapping[str, Any] | None = None) -> None:
        st.status = "ready"
        if fields:
            self.record("step_ready", st.step.name, **fields)
        else:  # (unpacking even an empty mapping costs)
            self.record("step_ready", st.step.name)
        self._ready.append((self._begin_attempt, (st,)))

    def _begin_attempt(self, st: _StepState) -> None:
        if st.status in TERMINAL:
            return  # e.g. a group task cancelled by the group's timeout while it waited
        if st.step.group is not None:
            self._begin_group(st)
            return
        if st.attempts == 0 and st.key_fn is not None and self._cached(st):
            return
        if self._limit is not None and self._running >= self._limit:
            self._slot_wait.append(st)
            return
        if st.instant_ns == self.now:
            st.instant_starts += 1
            if st.instant_starts > LIVELOCK_ATTEMPTS:
                self._livelock = st
                return
        else:
            st.instant_ns, st.instant_starts = self.now, 1
        self._running += 1
        st.attempts += 1
        st.status = "running"
        st.retry_at_ns = None
        step = st.step
        att = _Attempt(st, st.attempts, self.now)
        st.current = att
        if st.for_step is not None:
            self.record("compensation_started", step.name, att.number, for_step=st.for_step)
        else:
            self.record("attempt_started", step.name, att.number)
            if att.number == 1 and self.saga.register == "before":
                self._register(st)
        if step.breaker is not None and not self._breaker_admits(att):
            return
        faults = self._faults_by_step.get(step.name)
        extra = self._start_faults(att, faults) if faults else 0
        if extra is None:
            return  # failed at its start, or the engine crashed
        if step.timeout_ns is not None:
            deadline = self.now + step.timeout_ns
            att.timers.append(self._schedule(deadline, self._attempt_timeout, att))
        if att.hung:
            return  # no end, no code: only the timeout or the time limit ends it
        if step.fn is None:
            att.timers.append(
                self._schedule(self.now + extra + step.duration_ns, self._codeless_done, att)
            )
        elif extra:
            att.timers.append(self._schedule(self.now + extra, self._spawn, att))
        else:
            self._spawn(att)

    def _start_faults(self, att: _Attempt, faults: Sequence[Fault]) -> int | None:
        """Apply the faults hitting ``att`` as it starts: the latency it adds, or None when
        it failed at its start or the engine crashed (the attempt does no work then).

        Every fault is decided first (draws in plan order), then applied: an attempt
        that fails at its start does no work, so its latency or hang never happens.
        """
        st, name, number = att.state, att.state.step.name, att.number
        applied = self._decide_faults(faults, name, number)
        if not applied:
            return 0
        failing = next((f for f, _ in applied if f.fails and f.at == "start"), None)
        if failing is not None:
            self.record("fault_injected", name, number, fault=failing.describe())
            st.last_exc = failing.make_exception()
            self._attempt_failed(att, failing.error_name, failing.message, failing.retryable)
            return None
        crash = next((f for f, _ in applied if f.kind == "crash" and f.at == "before"), None)
        if crash is not None:  # the engine dies before the attempt does any work
            self.record("fault_injected", name, number, fault=crash.describe())
            self._crash(att, crash)
            return None
        extra = 0
        for fault, added in applied:
            if fault.kind == "latency":
                self.record("fault_injected", name, number, fault=fault.describe(added))
                extra += added
            elif fault.kind == "hang":
                self.record("fault_injected", name, number, fault=fault.describe())
                att.hung = True
            elif fault.kind == "crash":  # after the effect: when the attempt's work is done
                att.crash_fault = att.crash_fault or fault
            else:  # an error at the end: recorded when the attempt's work is done
                att.end_fault = att.end_fault or fault
        return extra

    def _spawn(self, att: _Attempt) -> None:
        if not att.done:
            self._switches.append((att, None))

    def _release(self, att: _Attempt) -> None:
        if att.holds_slot:
            self._running -= 1
            if self._slot_wait:
                self._hand_on_slot()

    def _hand_on_slot(self) -> None:
        if self._slot_wait:
            wait = self._slot_wait
            i = self.choices.choose(len(wait), "schedule") if len(wait) > 1 else 0
            self._ready.append((self._slot_freed, (wait.pop(i),)))

    def _slot_freed(self, st: _StepState) -> None:
        """``st`` was picked for a freed slot: it starts, or the slot goes to the next waiter.

        Between the pick and now ``st`` may have stopped needing the slot: a group
        timeout cancelled it, or its cache key now hits. The slot must not be lost
        with it, or the steps still waiting would wait forever (ORD-3).
        """
        attempts = st.attempts
        self._begin_attempt(st)
        unused = st.attempts == attempts and st not in self._slot_wait
        if unused and self._livelock is None:
            assert self._limit is not None
            if self._running < self._limit:
                self._hand_on_slot()

    def _codeless_done(self, att: _Attempt) -> None:
        if att.done:
            return
        output = att.state.step.output
        if output and att.state.step.role != "task":  # a group merges its tasks' outputs
            self.context.update(output)
        self._attempt_returned(att, dict(output) if output else None)

    def _attempt_returned(self, att: _Attempt, result: Any) -> None:
        """The attempt's work is done and its effect happened; succeed unless a fault says no."""
        name = att.state.step.name
        self.effect_counts[name] = self.effect_counts.get(name, 0) + 1
        crash = att.crash_fault
        if crash is not None:  # the effect happened; its completion is never recorded
            self.record("fault_injected", att.state.step.name, att.number, fault=crash.describe())
            self._crash(att, crash)
            return
        fault = att.end_fault
        if fault is not None:
            self.record("fault_injected", att.state.step.name, att.number, fault=fault.describe())
            att.state.last_exc = fault.make_exception()
            self._attempt_failed(att, fault.error_name, fault.message, fault.retryable)
            return
        if att.admitted:
            self._breaker_outcome(att, None)
        att.end()
        self._release(att)
        st = att.state
        st.current = None  # (no cycle left: the run's states are freed without the GC)
        st.result = result
        output = _MISSING if result is None else _jsonable(result)
        fields: dict[str, Any] = {} if output is _MISSING else {"output": output}
        st.status = "completed"
        if st.for_step is not None:
            self.record(
                "compensation_completed", st.step.name, att.number, for_step=st.for_step, **fields
            )
            self._persist()
            undone = self.states[st.for_step]
            if undone.status == "completed":  # a failed step (register="before") stays failed
                undone.status = "compensated"
            self._compensation_ended(st)
            return
        if fields:
            self.record("attempt_succeeded", st.step.name, att.number, **fields)
        else:  # (most code-less steps: no output)
            self.record("attempt_succeeded", st.step.name, att.number)
        if st.key_fn is not None:
            self._cache[st.cache_id] = result
        self._step_completed(st)

    def _step_completed(self, st: _StepState, *, cached: bool = False) -> None:
        """Record ``step_completed`` and let the saga, waiters and dependents know."""
        if cached:
            self.record("step_completed", st.step.name, cached=True)
        else:
            self.record("step_completed", st.step.name)
        self._persist()
        if st.compensation is not None and self.saga.register == "after" and not cached:
            self._register(st)  # (a cache hit did nothing to undo)
        self._step_ended(st)
        self._upstream_ended(st)

    def _code_attempt_ended(self, att: _Attempt) -> None:
        if att.done or att.outcome is None:
            return
        result = att.outcome
        if att.state.step.index == _BODY:
            assert self.style is not None
            self.style.code_ended(att, result)
            return
        if isinstance(result, outcome.Error):
            exc = result.error
            # A nursery in step code wraps one error in a group: report the error itself.
            while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                exc = exc.exceptions[0]
            name = exc.error_name if isinstance(exc, InjectedError) else type(exc).__name__
            policy = att.state.step.retry
            retryable = not getattr(exc, "non_retryable", False) and (
                policy is None or policy.is_retryable(name)
            )
            att.state.last_exc = exc
            self._attempt_failed(att, name, str(exc), retryable)
            return
        value = result.unwrap()
        if isinstance(value, Mapping) and att.state.waiter is None:  # DAG steps merge
            self.context.update(value)
        self._attempt_returned(att, value)

    def _attempt_failed(self, att: _Attempt, error: str, message: str, retryable: bool) -> None:
        self._restore_buffers(att)
        cause: dict[str, str] = {}
        tripped = self._breaker_outcome(att, error)
        if tripped is not None:  # pybreaker's throw_new_error_on_trip (BRK-2)
            cause = {"cause": error}
            error, message, retryable = "CircuitOpenError", tripped, True
            att.state.last_exc = CircuitOpenError(message)
        att.end()
        self._release(att)
        st = att.state
        policy = st.step.retry
        if policy is not None and not policy.is_retryable(error):
            retryable = False
        if st.for_step is not None:
            self.record(
                "compensation_failed",
                st.step.name,
                att.number,
                for_step=st.for_step,
                error=error,
                message=message,
                retryable=retryable,
                final=not self._will_retry(st, retryable),
                **cause,
            )
        else:
            self.record(
                "attempt_failed",
                st.step.name,
                att.number,
                error=error,
                message=message,
                retryable=retryable,
                **cause,
            )
        self._cancel_task(att)
        self._after_failure(st, error, retryable)

    def _attempt_timeout(self, att: _Attempt) -> None:
        if att.done:
            return
        self._breaker_outcome(att, "timeout")
        self._restore_buffers(att)
        att.end()
        self._release(att)
        st = att.state
        assert st.step.timeout_ns is not None
        timeout = to_seconds(st.step.timeout_ns)
        if st.for_step is not None:
            self.record(
                "compensation_failed",
                st.step.name,
                att.number,
                for_step=st.for_step,
                error="timeout",
                message=f"attempt timed out after {timeout} s",
                retryable=True,
                final=not self._will_retry(st, True),
                timeout=timeout,
            )
        else:
            self.record("attempt_timed_out", st.step.name, att.number, timeout=timeout)
        self._cancel_task(att)
        self._after_failure(st, "timeout", True)

    def _will_retry(self, st: _StepState, retryable: bool) -> bool:
        policy = st.step.retry
        nxt = st.attempts + (0 if _PLANTED_BUG == "attempt_off_by_one" else 1)
        return retryable and policy is not None and policy.allows_attempt(nxt)

    def _after_failure(self, st: _StepState, error: str, retryable: bool) -> None:
        self._persist()
        policy = st.step.retry
        nxt = st.attempts + 1
        if self._will_retry(st, retryable):
            assert policy is not None
            draw = self.choices.uniform("jitter") if policy.jitter != "none" else 0.0
            delay = retry_delay(policy, st.attempts, draw=draw, previous_ns=st.last_delay_ns)
            st.last_delay_ns = delay
            st.status = "retrying"
            st.retry_at_ns = self.now + delay
            self.record(
                "retry_scheduled",
                st.step.name,
                st.attempts,
                delay=to_seconds(delay),
                next_attempt=nxt,
            )
            if st.event_step is not None:
                self._invocation_backs_off(st, delay)
            else:
                self._schedule(self.now + delay, self._begin_attempt, st)
            return
        if not retryable:
            reason = f"{error} is not retryable"
        elif policy is None:
            reason = f"{error} and the step has no retry policy"
        else:
            reason = f"{error} on attempt {st.attempts} of {policy.max_attempts}"
        st.status = "failed"
        st.error = error
        if st.for_step is not None:
            self._compensation_ended(st)
            return
        self.record("step_failed", st.step.name, reason=reason, error=error)
        if error == "timeout":
            st.last_exc = StepTimeoutError(
                f"step {st.step.name!r} timed out on attempt {st.attempts}"
            )
        self._upstream_ended(st)
        self._step_ended(st)

    def _upstream_ended(self, ended: _StepState) -> None:
        """A step ended: decide its dependents by their trigger rules, cascading skips."""
        queue = [ended]
        while queue:
            done = queue.pop(0)
            for child in done.dependents:
                if child.status != "pending":
                    continue
                rule = child.step.trigger_rule
                if rule == "all_success" and done.status == "completed":
                    child.remaining_deps -= 1  # the common case, without a recount
                    verdict: Verdict = "run" if child.remaining_deps == 0 else "wait"
                else:
                    verdict = evaluate(rule, self._upstream_counts(child))
                if verdict == "run":
                    self._make_ready(child)
                elif verdict != "wait":
                    self._skip(child, done, upstream_failed=verdict == "upstream_failed")
                    queue.append(child)

    def _upstream_counts(self, st: _StepState) -> UpstreamCounts:
        success = failed = skipped = 0
        for name in st.step.after:
            dep = self.states[name]
            if dep.status in ("completed", "compensated"):
                success += 1
            elif dep.status == "failed" or dep.upstream_failed:
                failed += 1
            elif dep.status == "skipped":
                skipped += 1
        return UpstreamCounts(len(st.step.after), success, failed, skipped)

    def _skip(self, st: _StepState, because: _StepState, *, upstream_failed: bool) -> None:
        st.status = "skipped"
        st.upstream_failed = upstream_failed
        what = {"completed": "completed", "compensated": "completed", "failed": "failed"}.get(
            because.status, "was skipped"
        )
        reason = f"upstream {because.step.name!r} {what}"
        if st.step.trigger_rule != "all_success":
            reason += f" (trigger rule {st.step.trigger_rule})"
        fields: dict[str, Any] = {"reason": reason}
        if upstream_failed:
            fields["upstream_failed"] = True
        self.record("step_skipped", st.step.name, **fields)

    def _cached(self, st: _StepState) -> bool:
        """Complete ``st`` from the run's cache if an equal call already succeeded."""
        assert st.key_fn is not None
        st.key = st.key_fn()
        # Keys compare by their canonical form: a dict or a list is a fine key (CACHE-1).
        st.cache_id = cache_id = (st.step.cache_ns, canonical_key(st.key))
        if cache_id not in self._cache:
            return False
        st.result = self._cache[cache_id]
        st.status = "completed"
        self.record("cache_hit", st.step.name, key=repr(st.key))
        if isinstance(st.result, Mapping) and st.waiter is None:
            self.context.update(st.result)
        self._step_completed(st, cached=True)
        return True

    def _step_ended(self, st: _StepState) -> None:
        if st.event_step is not None:
            self._invocation_ended(st)
        waiter = st.waiter
        if waiter is None:
            return
        waiter.remaining -= 1
        if waiter.remaining != 0:
            return
        if waiter.on_done is not None:
            waiter.on_done()
        elif waiter.body is not None and not waiter.body.done and waiter.body.live:
            self._switches.append((waiter.body, outcome.Value(None)))

    # -- event workflows --------------------------------------------------------------------
    def emit(
        self,
        event: Event,
        sender: str | None,
        target: str | None = None,
        *,
        returned: bool = False,
    ) -> None:
        """Deliver ``event`` to every step accepting it (or to ``target``).

        Only a *returned* StopEvent ends the run; one sent with ``ctx.send_event``
        is routed like any event (no step may accept StopEvent, so to nobody),
        as in LlamaIndex (EVT-1), and recorded with ``ends_run: false``.
        """
        assert self.event_wf is not None
        if self._stopped or self._ev_failed is not None:
            return
        if not isinstance(event, Event):
            raise WfsimError(f"send_event() takes a wfsim.Event, not {type(event).__name__}")
        steps = self.event_wf.event_steps
        kind = type(event).__name__
        fields: dict[str, Any] = {"event": kind}
        if target is not None:
            fields["target"] = target
        ends = returned and isinstance(event, StopEvent)
        if isinstance(event, StopEvent) and not ends:
            fields["ends_run"] = False
        payload = _jsonable(event.__dict__["_fields"])  # (a copy, as event.fields is)
        if payload is not _MISSING and payload:
            fields["fields"] = payload
        self.record("event_emitted", sender, **fields)
        # Every recorded emission is an occurrence of its type, even one whose send fails.
        self._occurrences["event", kind] += 1
        targets: list[EventStep] = []
        if ends:
            pass  # it ends the run when delivered; no step receives it
        elif target is not None:
            if target not in steps:
                raise WfsimError(f"Step {target} does not exist{did_you_mean(target, steps)}")
            if not steps[target].accepts_event(event):
                raise WfsimError(f"Step {target} does not accept event of type {kind}")
            targets = [steps[target]]
        else:
            targets = [s for s in steps.values() if s.accepts_event(event)]
        number = self._occurrences["event", kind]
        times, delay = (
            self._delivery_faults("event", kind, number) if self.delivery_faults else (1, 0)
        )
        if delay:
            timer = self._schedule(
                self.now + delay, self._deliver_event, event, targets, times, ends
            )
            self._delayed.append(timer)
        else:
            self._deliver_event(event, targets, times, ends)

    def stream(self, att: _Attempt, event: Any, name: str, fields: Mapping[str, Any]) -> None:
        """``att``'s code wrote ``event`` (of type ``name``, with ``fields``) to the run's
        stream: traced as ``event_streamed`` and kept for ``RunResult.stream`` (EVT-9)."""
        step = att.state.step.name
        payload = _jsonable(dict(fields))
        extra = {"fields": payload} if payload is not _MISSING and payload else {}
        self.record("event_streamed", step, att.number, event=name, **extra)
        self.streamed.append(StreamedEvent(self.now, step, att.number, event))

    def _deliver_event(
        self, event: Event, targets: list[EventStep], times: int, ends: bool
    ) -> None:
        """Deliver ``event`` ``times`` times (0: dropped); a returned StopEvent ends the run."""
        if self._stopped or self._ev_failed is not None:
            return
        for _ in range(times):
            if ends:
                assert isinstance(event, StopEvent)
                self._stop(event)
                return
            for step in targets:
                self._invoke(step, event)

    def _decide_faults(
        self, faults: Iterable[Fault], name: str, number: int
    ) -> list[tuple[Fault, int]]:
        """The faults of ``faults`` (all targeting ``name``) that hit occurrence ``number``
        of ``name`` now.

        Decided in plan order, drawing from the ``faults`` stream: first whether a
        fault with a probability applies, then a shaped latency's or delay's draw.
        Each comes with its extra virtual time (0 unless a latency or a delay).
        """
        applied: list[tuple[Fault, int]] = []
        for fault in faults:
            if not fault.targets(number, self.now):
                continue
            if fault.probability is not None and not (
                self.choices.uniform("faults") < fault.probability
            ):
                continue
            draw = self.choices.uniform("faults") if fault.shape != "fixed" else 0.0
            extra = fault.latency_ns(draw) if fault.kind in ("latency", "delay") else 0
            applied.append((fault, extra))
        return applied

    def _delivery_faults(self, what: str, name: str, number: int) -> tuple[int, int]:
        """Apply the delivery faults of this occurrence of ``name`` (specs/faults.md FAULT-20..).

        Every fault is decided first (draws from the ``faults`` stream in plan
        order), then recorded as ``fault_injected``: a drop alone (nothing else
        happens to a delivery that never happens), else each duplicate and delay.
        Returns how many times to deliver (0: dropped) and the total delay.
        """
        applied = self._decide_faults(
            (f for f in self.delivery_faults if f.delivery == what and f.matches(name)),
            name,
            number,
        )
        dropped = next((f for f, _ in applied if f.kind == "drop"), None)
        if dropped is not None:
            self.record("fault_injected", fault=dropped.describe_delivery(name, number))
            return 0, 0
        times, delay = 1, 0
        for fault, added in applied:
            self.record("fault_injected", fault=fault.describe_delivery(name, number, added))
            times += fault.copies
            delay += added
        return times, delay

    def _invoke(self, step: EventStep, event: Event) -> None:
        count = self._calls[step.name] = self._calls.get(step.name, 0) + 1
        name = step.name if count == 1 else f"{step.name}:{count}"
        fn = step.fn

        async def run(ctx: StepContext) -> Any:
            return await fn(ctx, event)

        definition = Step(
            name=name,
            index=len(self.states),
            fn=run,
            retry=step.retry,
            timeout_ns=step.timeout_ns,
        )
        st = _StepState(definition, 0, event_step=step.name)
        self.states[name] = st
        self._faults_by_step[name] = [f for f in self.faults if f.matches(name)] or []
        self.record("event_delivered", name, event=type(event).__name__)
        if self._ev_running.get(step.name, 0) < step.num_workers:
            self._ev_running[step.name] = self._ev_running.get(step.name, 0) + 1
            self._make_ready(st)
        else:
            st.status = "queued"
            self._ev_queue.setdefault(step.name, []).append(st)

    def _invocation_ended(self, st: _StepState) -> None:
        assert st.event_step is not None
        self._ev_running[st.event_step] -= 1
        if st.status == "failed" and not self._stopped and self._ev_failed is None:
            self._ev_failed = st
            self.message = f"step {st.step.name!r} failed: {st.error}"
            self._cancel_invocations("the workflow failed")
            return
        self._next_invocations(st.event_step)
        if st.status == "completed" and isinstance(st.result, Event):
            self.emit(st.result, sender=st.step.name, returned=True)

    def _next_invocations(self, step: str) -> None:
        """Start queued invocations of ``step`` while it has free workers, first in first.

        A retry waiting out its backoff sits in the queue without a worker and is
        passed over until it is due, as in LlamaIndex (EVT-3).
        """
        queue = self._ev_queue.get(step)
        workers = self.event_wf.event_steps[step].num_workers if self.event_wf else 0
        while queue and self._ev_running[step] < workers:
            if self._stopped or self._ev_failed is not None:
                return
            due = next(
                (
                    i
                    for i, q in enumerate(queue)
                    if q.retry_at_ns is None or q.retry_at_ns <= self.now
                ),
                None,
            )
            if due is None:
                return
            nxt = queue.pop(due)
            self._ev_running[step] += 1
            if nxt.retry_at_ns is None:
                self._make_ready(nxt)
            else:
                self._ready.append((self._begin_attempt, (nxt,)))

    def _invocation_backs_off(self, st: _StepState, delay: int) -> None:
        """A failed invocation waits for its retry without a worker, first in its queue."""
        assert st.event_step is not None
        self._ev_running[st.event_step] -= 1
        self._ev_queue.setdefault(st.event_step, []).insert(0, st)
        self._schedule(self.now + delay, self._retry_due, st)
        self._next_invocations(st.event_step)

    def _retry_due(self, st: _StepState) -> None:
        if st.status == "retrying" and st.event_step is not None:
            self._next_invocations(st.event_step)

    def _stop(self, event: StopEvent) -> None:
        """The first StopEvent ends the run: pending and running invocations are cancelled.

        Its ``result`` is the run's result; a StopEvent subclass is itself the
        result, as LlamaIndex's ``run()`` returns it (EVT-1).
        """
        self._stopped = True
        self.result = event.get("result") if type(event) is StopEvent else event
        self._cancel_invocations("a StopEvent ended the run")

    def _cancel_invocations(self, reason: str) -> None:
        for timer in self._delayed:  # delayed deliveries: the run is over before they arrive
            timer[2] = None
        for st in list(self.states.values()):
            if st.event_step is not None and st.status not in TERMINAL:
                self._cancel_state(st, reason)
        self._ev_queue.clear()

    def _cancel_state(self, st: _StepState, reason: str) -> None:
        """End ``st`` as cancelled: its running attempt stops, a slot it waits for is given up.

        Step code that is running right now (it sent the StopEvent) is not thrown
        into: it goes on until it next waits, and its attempt is already over.
        """
        att = st.current
        if att is not None and not att.done:
            att.end()
            self._release(att)
            if att is not self.current_attempt():
                self._cancel_task(att)
        if st in self._slot_wait:
            self._slot_wait.remove(st)
        if st.status == "retrying":  # its next attempt will not come: nor may its timer wait
            for timer in self._timers:
                if timer[2] in (self._begin_attempt, self._retry_due) and timer[3] == (st,):
                    timer[2] = None
        st.status = "cancelled"
        self.record("step_cancelled", st.step.name, reason=reason)

    def collect_events(
        self, att: _Attempt, event: Event, expected: list[type[Event]], buffer_id: str | None
    ) -> list[Event] | None:
        """``ctx.collect_events``: LlamaIndex's rules, applied at once (specs/events.md)."""
        if not expected:
            return []
        owner = att.state.event_step
        if owner is None:
            raise WfsimError("ctx.collect_events() is for steps of an event workflow")
        key = (owner, buffer_id or "default")
        buffer = self._buffers.setdefault(key, [])
        wanted = Counter(expected)
        remaining = wanted - Counter(type(entry.event) for entry in buffer)
        arrival = _Arrival(event, att.state.step.name, len(self.events))
        if remaining != Counter([type(event)]):
            if type(event) in remaining:
                buffer.append(arrival)
                att.buffer_changes.append(("added", key, arrival))
            return None  # not complete; an unexpected or surplus event is dropped
        pool = [*buffer, arrival]
        collected: list[_Arrival] = []
        for kind in expected:
            i = next(i for i, entry in enumerate(pool) if type(entry.event) is kind)
            collected.append(pool.pop(i))
        att.buffer_changes.extend(("taken", key, entry) for entry in buffer)
        self._buffers[key] = []
        self.record(
            "events_collected",
            att.state.step.name,
            att.number,
            events=[type(entry.event).__name__ for entry in collected],
            buffer=key[1],
            expected=[kind.__name__ for kind in expected],
            sources=[entry.source for entry in collected],
            arrived=[entry.position for entry in collected],
        )
        return [entry.event for entry in collected]

    def _restore_buffers(self, att: _Attempt) -> None:
        """Undo a failed attempt's buffer changes: its own entries leave, the entries its
        collection took come back (in arrival order); other attempts' changes stay."""
        for change, key, entry in reversed(att.buffer_changes):
            buffer = self._buffers.setdefault(key, [])
            if change == "added":
                entry.revoked = True  # a collection that took it and fails won't bring it back
                self._buffers[key] = [e for e in buffer if e is not entry]
            elif not entry.revoked and not any(e is entry for e in buffer):
                buffer.append(entry)
                buffer.sort(key=lambda e: e.position)
        att.buffer_changes.clear()

    # -- parallel groups --------------------------------------------------------------------
    def _begin_group(self, st: _StepState) -> None:
        """Start a group's tasks; it ends (merging their outputs) when all have ended."""
        group = st.step.group
        assert group is not None
        st.attempts = 1
        st.status = "running"
        att = _Attempt(st, 1, self.now, holds_slot=False)
        st.current = att
        # Not attempt_started: the group does no work itself and takes no slot (its tasks do).
        self.record("group_started", st.step.name, tasks=len(group.tasks))
        tasks: list[_StepState] = []
        waiter = _Waiter(None, len(group.tasks), on_done=lambda: self._end_group(att, tasks))
        for t in group.tasks:
            name = f"{st.step.name}/{t.name}"
            task_state = _StepState(attrs.evolve(t, name=name), 0, waiter=waiter)
            self.task_states[name] = task_state
            self._faults_by_step[name] = [f for f in self.faults if f.matches(name)] or []
            tasks.append(task_state)
        for task_state in tasks:
            self._make_ready(task_state)
        if group.timeout_ns is not None:
            deadline = self.now + group.timeout_ns
            att.timers.append(self._schedule(deadline, self._group_timeout, att, tasks))

    def _group_timeout(self, att: _Attempt, tasks: list[_StepState]) -> None:
        if att.done:
            return
        for task_state in tasks:
            if task_state.status in TERMINAL:
                continue
            task_state.error = "timeout"
            self._cancel_state(task_state, "group timeout")
            self._step_ended(task_state)

    def _end_group(self, att: _Attempt, tasks: list[_StepState]) -> None:
        group = att.state.step.group
        assert group is not None
        for timer in att.timers:
            timer[2] = None
        ok = [t for t in tasks if t.status == "completed"]
        failed = [t for t in tasks if t.status != "completed"]
        if failed and not group.allow_partial_success:
            first = failed[0]
            why = (
                "was cancelled by the group timeout"
                if first.status == "cancelled"
                else (f"failed: {first.error}")
            )
            self._group_failed(
                att, "ParallelTaskFailed", f"parallel task {first.step.name!r} {why}"
            )
            return
        try:
            combined = merge_outputs(
                [(t.step.name, t.result) for t in ok], group.merge, group.on_conflict
            )
        except MergeConflictError as exc:
            self._group_failed(att, "MergeConflictError", str(exc))
            return
        if group.merge == "deep":
            deep_merge_into(self.context, combined)
        else:
            self.context.update(combined)
        att.end()
        st = att.state
        st.result = combined
        st.status = "completed"
        self.record(
            "group_merged",
            st.step.name,
            tasks=[t.step.name for t in ok],
            failed=[t.step.name for t in failed],
            keys=sorted(map(str, combined)),
        )
        self._step_completed(st)

    def _group_failed(self, att: _Attempt, error: str, message: str) -> None:
        att.end()
        st = att.state
        st.status = "failed"
        st.error = error
        self.record("group_failed", st.step.name, error=error, message=message)
        self.record("step_failed", st.step.name, reason=message, error=error)
        self._upstream_ended(st)
        self._step_ended(st)

    # -- circuit breakers -------------------------------------------------------------------
    def _breaker(self, step: Step) -> BreakerRuntime:
        assert step.breaker is not None
        rt = self._breakers.get(step.breaker.name)
        if rt is None:
            rt = self._breakers[step.breaker.name] = BreakerRuntime(step.breaker)
        elif rt.config != step.breaker:
            raise WfsimError(
                f"two circuit breakers are named {step.breaker.name!r} with different settings"
            )
        return rt

    def _record_moves(self, rt: BreakerRuntime, previous: str, moves: Sequence[str]) -> None:
        for state in moves:
            self.record("breaker_state", breaker=rt.config.name, state=state, previous=previous)
            previous = state

    def _breaker_admits(self, att: _Attempt) -> bool:
        """Ask the step's breaker; a refused attempt fails fast or runs the fallback."""
        step = att.state.step
        rt = self._breaker(step)
        previous = rt.state
        allowed, moves = rt.permit(self.now)
        self._record_moves(rt, previous, moves)
        if allowed:
            att.admitted = True
            return True
        name = rt.config.name
        if step.fallback is not None:
            att.fallback = True
            self.record("fallback_used", step.name, att.number, breaker=name, state=rt.state)
            self._spawn(att)
            return False
        message = f"circuit breaker {name!r} is {rt.state.replace('_', '-')}; call refused"
        att.state.last_exc = CircuitOpenError(message)
        self._attempt_failed(att, "CircuitOpenError", message, True)
        return False

    def _breaker_outcome(self, att: _Attempt, error: str | None) -> str | None:
        """Tell the breaker how an admitted attempt ended (once).

        Returns the message of the CircuitOpenError the attempt fails with instead
        of ``error`` when its failure opened a consecutive breaker that throws a new
        error on a trip (pybreaker's messages), else None.
        """
        if not att.admitted or att.done:
            return None
        att.admitted = False
        step = att.state.step
        rt = self._breaker(step)
        excluded = error is not None and error in rt.config.exclude
        previous = rt.state
        moves = rt.record(None if excluded else error is not None, self.now)
        self._record_moves(rt, previous, moves)
        cfg = rt.config
        if "open" not in moves or cfg.strategy != "consecutive" or error in (None, "timeout"):
            return None
        if not cfg.throw_new_error_on_trip:
            return None
        why = "trial call failed" if previous == "half_open" else "failures threshold reached"
        return f"{why}, circuit breaker {cfg.name!r} opened"

    def _run_failed(self) -> bool:
        """A body that raised; or, like Airflow's DAG run, a leaf step that failed or
        was skipped because its upstream failed (a failure a trigger rule tolerated
        does not fail the run)."""
        if self.style is not None:
            return self.style.failed()
        return bool(self._failed_leaves())

    def _failed_leaves(self) -> list[str]:
        return [
            st.step.name
            for st in self.states.values()
            if not st.dependents and (st.status == "failed" or st.upstream_failed)
        ]

    # -- crashes (specs/faults.md FAULT-10..13) ---------------------------------------------
    def _persist(self) -> None:
        """A completion (or failure) was recorded: the context as of now survives a crash."""
        if self._durable is not None:
            self._durable = dict(self.context)

    def _crash(self, att: _Attempt | None, fault: Fault, point: str | None = None) -> None:
        """The engine dies: every attempt in flight is lost, nothing runs until it recovers.

        What it recorded survives (completed steps, their results, scheduled retries);
        the context goes back to its state at the last recorded completion. ``att`` is
        the attempt that crashed, or None for a crash at a workflow body's ``point``,
        whose code (like every body's and branch's) the style ends too.
        """
        every = (*self.states.values(), *self.task_states.values(), *self.comp_states.values())
        lost = [
            st
            for st in every
            if st.current is not None and not st.current.done and st.current.holds_slot
        ]
        restart_at = self.now + fault.restart_ns
        self.record(
            "crashed",
            att.state.step.name if att is not None else None,
            att.number if att is not None else None,
            at=fault.at,
            **({"point": point} if point is not None else {}),
            lost=[[st.step.name, st.attempts] for st in lost],
            restart_after=to_seconds(fault.restart_ns),
        )
        for st in lost:
            assert st.current is not None
            st.current.end()
            self._release(st.current)
            st.status = "retrying"  # re-attempted when the engine is back
            st.retry_at_ns = restart_at
        code = self.style.crashed() if self.style is not None else []
        for body in code:
            body.end()
        # Wake-ups of lost attempts must not run their code any further; a cancellation
        # already on its way (an attempt that timed out just before) still ends its code.
        self._switches[:] = [(a, v) for a, v in self._switches if not a.done or _cancels(v)]
        for st in lost:
            assert st.current is not None
            self._cancel_task(st.current)
        running = self.current_attempt()
        for body in code:
            if body is not running:  # the code that crashed ends itself (Bodies)
                self._cancel_task(body)
        if self._durable is not None:
            self.context.clear()
            self.context.update(self._durable)
        timers = self._timers.take_all()
        ready = list(self._ready)
        self._ready.clear()
        self._recovery = (restart_at, lost, timers, ready)
        self._schedule(restart_at, self._recover, lost, timers, ready)

    def _recover(
        self,
        lost: list[_StepState],
        timers: list[_Timer],
        ready: list[tuple[Callable[..., None], tuple[Any, ...]]],
    ) -> None:
        """The engine is back: what fell due while it was down happens first, in the order
        it fell due (a retry starts, a group times out); then pending work resumes and the
        lost attempts start again.

        If what fell due crashes the engine again (a retry's attempt crashes at its
        start), the rest of this recovery waits for the next one: the overdue timers
        not yet fired, the pending work and this crash's lost attempts.
        """
        self.record("recovered", resumed=[st.step.name for st in lost])
        self._recovery = None
        overdue = sorted(  # by due time, then by creation
            (t for t in timers if t[2] is not None and t[0] <= self.now),
            key=lambda t: (t[0], t[1]),
        )
        for timer in timers:
            if timer[2] is not None and timer[0] > self.now:
                self._timers.put_back(timer)
        for k, timer in enumerate(overdue):
            fn, args = timer[2], timer[3]
            if fn is not None:  # an earlier one may have cancelled it
                timer[2] = None
                fn(*args)
            if self._recovery is not None:  # down again: nothing more happens now
                restart_at, again, later, pending = self._recovery
                later.extend(overdue[k + 1 :])
                pending.extend(ready)
                for st in lost:
                    if st.status == "retrying":
                        st.retry_at_ns = restart_at
                        again.append(st)
                return
        self._ready.extend(ready)
        for st in lost:
            if st.status == "retrying":
                st.retry_at_ns = None
                self._ready.append((self._begin_attempt, (st,)))
        if self.style is not None:
            self.style.recovered()

    # -- sagas ------------------------------------------------------------------------------
    def _register(self, st: _StepState) -> None:
        comp = st.compensation
        if comp is not None and comp not in self._registered:
            self._registered.append(comp)

    def _start_compensation(self) -> bool:
        """When the forward work is over and a step failed, start undoing (LIFO)."""
        if self._compensating or not self._registered or not self._run_failed():
            return False
        if self.style is not None and self.style.blocked():
            return False  # blocked until the code is fixed: nothing is undone (IMP-12)
        if any(st.status not in TERMINAL for st in self.states.values()):
            return False  # e.g. a hung attempt: the forward work is not over (COMP-1)
        self._compensating = True
        stack = list(reversed(self._registered))
        if self.saga.parallel:
            for comp in stack:
                self._ready.append((self._begin_attempt, (comp,)))
        else:
            self._comp_queue = stack[1:]
            self._ready.append((self._begin_attempt, (stack[0],)))
        return True

    def _compensation_ended(self, comp: _StepState) -> None:
        if self.saga.parallel or not self._comp_queue:
            return
        if comp.status == "failed" and self.saga.on_error == "stop":
            for rest in self._comp_queue:
                rest.status = "skipped"
                self.record(
                    "compensation_skipped",
                    rest.step.name,
                    for_step=rest.for_step,
                    reason=f"compensation {comp.step.name!r} failed",
                )
            self._comp_queue = []
            return
        self._ready.append((self._begin_attempt, (self._comp_queue.pop(0),)))

    # -- ending -----------------------------------------------------------------------------
    def _waiting_description(self, st: _StepState) -> str:
        name = st.step.name
        att = st.current
        if st.status == "running" and att is not None and not att.done and att.hung:
            return (
                f"{name!r} (attempt {att.number} hung by an injected fault since "
                f"t={format_seconds(att.started_ns)})"
            )
        if st.status == "running" and att is not None and not att.done:
            return (
                f"{name!r} (attempt {att.number} running since t={format_seconds(att.started_ns)})"
            )
        if st.status == "retrying" and st.retry_at_ns is not None:
            return f"{name!r} (attempt {st.attempts + 1} due at t={format_seconds(st.retry_at_ns)})"
        if st.status == "ready":
            return f"{name!r} (ready, waiting for a concurrency slot)"
        pending = [
            d for d in st.step.after if self.states[d].status not in ("completed", "compensated")
        ]
        return f"{name!r} (waiting for {', '.join(map(repr, pending))})"

    def _time_out(self, *, outside: bool) -> None:
        waiting = [st for st in self.states.values() if st.status not in TERMINAL]
        waiting += [
            c
            for c in self.comp_states.values()
            if c.status not in TERMINAL and c.status != "pending"
        ]
        waiting += [t for t in self.task_states.values() if t.status not in TERMINAL]
        if self._livelock is not None:
            looping = self._livelock
            waiting = [looping, *(w for w in waiting if w is not looping)]
            described = [
                f"{looping.step.name!r} (started {LIVELOCK_ATTEMPTS:,} attempts at "
                f"t={format_seconds(self.now)} without virtual time passing: a retry with "
                "no delay and unlimited attempts?)",
                *(self._waiting_description(w) for w in waiting[1:]),
            ]
            headline = "run timed out: it stopped making progress in virtual time"
        else:
            described = [self._waiting_description(st) for st in waiting]
            why = (
                "step code is blocked on something outside wfsim (a raw trio primitive?)"
                if outside
                else "nothing finished in time"
            )
            headline = (
                f"run timed out: the time limit of {format_seconds(self.time_limit_ns)} "
                f"was reached ({why})"
            )
        if self.event_wf is not None and not self._stopped and not described:
            described.append("nothing: no step returned a StopEvent")
        if self.style is not None:
            described.extend(self.style.time_out())
        self.message = f"{headline}; still waiting: {'; '.join(described)}"
        for st in waiting:
            self._cancel_state(st, "time limit reached")
        self.status = "timed_out"
        self._timers.clear()
        self._ready.clear()

    def _finish(self) -> None:
        if self.status is None:
            self._settle_status()
        result = _jsonable(self.result)
        fields: dict[str, Any] = {
            "status": self.status,
            "result": None if result is _MISSING else result,
        }
        if self.message:
            fields["message"] = self.message
        self.record("run_finished", **fields)

    def _settle_status(self) -> None:
        if self.event_wf is not None:
            self.status = "failed" if self._ev_failed is not None else "completed"
            return
        if self.style is not None:
            # An imperative run fails when its body raised (a step error it caught does not).
            failed = [self.workflow.name] if self.style.failed() else []
            what = self.message
        else:
            failed_steps = [s.step.name for s in self.states.values() if s.status == "failed"]
            failed = failed_steps if self._failed_leaves() else []
            what = f"step(s) failed: {', '.join(failed_steps)}"
        comps = list(reversed(self._registered))
        comp_failed = [c.step.name for c in comps if c.status == "failed"]
        if not failed:
            self.status = "completed"
            self.message = ""
        elif comps and self.style is not None and self.style.blocked():
            self.status = "failed"
            self.message = (
                f"{what}; the run is blocked until its code is fixed, so nothing was "
                f"compensated (registered: {', '.join(c.step.name for c in comps)})"
            )
        elif not comps:
            self.status = "failed"
            self.message = what
        elif comp_failed:
            self.status = "compensation_failed"
            skipped = [c.step.name for c in comps if c.status == "skipped"]
            self.message = f"{what}; compensation(s) failed: {', '.join(comp_failed)}" + (
                f"; not run: {', '.join(skipped)}" if skipped else ""
            )
        else:
            self.status = "compensated"
            self.message = f"{what}; compensated: {', '.join(c.step.name for c in comps)}"

    def repeated_effects(self) -> tuple[str, ...]:
        """Steps declared ``idempotent=False`` whose effect ran more than once."""
        steps = [*self.states.values(), *self.task_states.values(), *self.comp_states.values()]
        return tuple(
            st.step.name
            for st in steps
            if not st.step.idempotent and self.effect_counts[st.step.name] > 1
        )

    def step_states(self) -> Iterator[_StepState]:
        """Every step, then every parallel group task (``group/task``)."""
        yield from self.states.values()
        yield from self.task_states.values()


def _cancels(value: outcome.Outcome[Any] | None) -> bool:
    """Whether a switch throws _AttemptCancelled into the code (ends it)."""
    return isinstance(value, outcome.Error) and isinstance(value.error, _AttemptCancelled)


def _engine_error(exc: Exception, args: Sequence[Any]) -> EngineError:
    """``exc`` raised by the engine's work on ``args``, as an EngineError naming the step."""
    step: str | None = None
    attempt: int | None = None
    for arg in args:
        if isinstance(arg, _Attempt):
            step, attempt = arg.state.step.name, arg.number
            break
        if isinstance(arg, _StepState):
            step, attempt = arg.step.name, max(arg.attempts, 1)
            break
    where = f"step {step!r} (attempt {attempt})" if step is not None else "the run"
    return EngineError(
        f"{where}: unexpected {type(exc).__name__} inside the engine: {exc}",
        step=step,
        attempt=attempt,
    )
