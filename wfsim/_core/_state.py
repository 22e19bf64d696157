"""The state of a run the kernel keeps: steps, their attempts, waiters, timers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import outcome

from ._faults import Fault
from ._workflow import Step

__all__ = ["_Arrival", "_Attempt", "_AttemptCancelled", "_StepState", "_Timer", "_Waiter"]

#: A timer: [at_ns, seq, fn or None when cancelled, args]. Lists, so cancelling is O(1).
_Timer = list[Any]


class _AttemptCancelled(BaseException):
    """Thrown into a step's code when its attempt is over (timeout, time limit).

    A BaseException so that step code's ``except Exception`` does not swallow it.
    """


@attrs.define(eq=False)
class _Arrival:
    """An event in a collect_events buffer: who buffered it, and the trace's length then
    (recorded in ``events_collected`` as ``sources`` and ``arrived``)."""

    event: Any
    source: str
    position: int
    #: Its attempt failed: the buffering is undone for good.
    revoked: bool = False


@attrs.define(eq=False)
class _Attempt:
    state: _StepState
    number: int
    started_ns: int
    end_fault: Fault | None = None
    #: A crash fault due after the attempt's effect (before its completion is recorded).
    crash_fault: Fault | None = None
    hung: bool = False
    #: A breaker admitted this attempt (so its outcome counts), or refused it and
    #: the step's fallback runs instead.
    admitted: bool = False
    fallback: bool = False
    #: A parallel group's own attempt takes no concurrency slot (its tasks do).
    holds_slot: bool = True
    #: What this attempt did to collect_events buffers: entries it added, and entries a
    #: collection of its took. Undone if the attempt fails, so a retry sees the events
    #: again, without touching what other attempts did meanwhile.
    buffer_changes: list[tuple[str, tuple[str, str], _Arrival]] = attrs.Factory(list)
    done: bool = False
    #: Its code started and has not ended (it can be woken; _baton.py).
    live: bool = False
    token: int = 0
    outcome: outcome.Outcome[Any] | None = None
    timers: list[_Timer] = attrs.Factory(list)

    def end(self) -> None:
        """Mark the attempt over and drop its pending timers (they must not move time)."""
        self.done = True
        for timer in self.timers:
            timer[2] = None
        self.timers.clear()


@attrs.define(eq=False)
class _StepState:
    step: Step
    remaining_deps: int
    dependents: tuple[_StepState, ...] = ()
    status: str = "pending"  # pending, ready, running, retrying, completed, failed, skipped, ...
    attempts: int = 0
    current: _Attempt | None = None
    last_delay_ns: int | None = None
    result: Any = None
    error: str | None = None
    retry_at_ns: int | None = None
    #: For a compensation: the step it undoes. For a step: its compensation's state.
    for_step: str | None = None
    compensation: _StepState | None = None
    #: Imperative steps: who waits for this step, and the error its body will see.
    waiter: _Waiter | None = None
    last_exc: BaseException | None = None
    #: Caching: computes the key of this step's inputs; the key once computed.
    key_fn: Callable[[], Any] | None = None
    key: Any = None
    #: (the step's cache namespace, the key's canonical form): where its result is cached.
    cache_id: Any = None
    #: A gather branch that runs a child workflow (trace: child_started/completed/failed).
    child: bool = False
    #: Bodies (or branches) awaiting a spawned branch's handle.
    awaiting: list[_Attempt] = attrs.Factory(list)
    #: Event workflows: the step this invocation belongs to, and the event it handles.
    event_step: str | None = None
    #: Skipped because an upstream failed (Airflow's UPSTREAM_FAILED): counts as a failure.
    upstream_failed: bool = False
    #: Attempts started at the current instant, to catch a livelock (zero-delay retries).
    instant_ns: int = -1
    instant_starts: int = 0


@attrs.define(eq=False)
class _Waiter:
    """Who waits until ``remaining`` steps end: a workflow body parked in
    ``ctx.step``/``ctx.gather`` (``body``), or a parallel group (``on_done``)."""

    body: _Attempt | None
    remaining: int
    on_done: Callable[[], None] | None = None
