"""One pass over a trace that every oracle reads: attempts, terminal events, the run.

The index never trusts the trace: events may be missing, repeated or out of
order (that is what the oracles look for), so it records what it sees and
leaves judging to the oracles. It only reads events of known kinds; kinds that
later features add pass through untouched.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence

import attrs

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._time import format_seconds, to_ns
from wfsim._core._trace import STEP_ENDS, Trace, TraceEvent
from wfsim._core._workflow import Step, Workflow

from ._violation import Violation

__all__ = [
    "AnyWorkflow",
    "Attempt",
    "Run",
    "at",
    "delay_ns",
    "due_times",
    "lost_attempts",
    "violation",
]

#: What the oracles judge: a DAG, an imperative body or an event workflow.
AnyWorkflow = Workflow | ImperativeWorkflow | EventWorkflow
_COMPENSATION_KINDS = frozenset(
    {
        "compensation_started",
        "compensation_completed",
        "compensation_failed",
        "compensation_skipped",
    }
)
#: Kinds whose ``step`` is a step (or a call, or an invocation) of the run.
_STEP_KINDS = frozenset(
    {
        "step_ready",
        "attempt_started",
        "attempt_succeeded",
        "attempt_failed",
        "attempt_timed_out",
        "step_completed",
        "step_failed",
        "step_skipped",
        "step_cancelled",
    }
)

#: Events that end an attempt, of a step or of a compensation.
_ENDS = frozenset(
    {
        "attempt_succeeded",
        "attempt_failed",
        "attempt_timed_out",
        "compensation_completed",
        "compensation_failed",
    }
)
_STARTS = frozenset({"attempt_started", "compensation_started"})


def at(event: TraceEvent) -> str:
    """``t=1.5s``: an event's virtual time, exactly, for messages."""
    return f"t={format_seconds(event.t_ns)}"


def delay_ns(value: object) -> int | None:
    """A ``retry_scheduled`` delay (seconds) in ns, or None if it is not a duration."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    try:
        return to_ns(value)
    except ValueError:
        return None


def violation(rule: str, message: str, *events: TraceEvent | None) -> Violation:
    """A :class:`Violation` whose events are the given ones (Nones dropped) in trace order."""
    unique: dict[int, TraceEvent] = {id(e): e for e in events if e is not None}
    ordered = sorted(unique.values(), key=_seq)
    return Violation(rule, message, tuple(ordered))


def lost_attempts(crashed: TraceEvent) -> list[tuple[str, int]]:
    """The ``(name, attempt)`` pairs a ``crashed`` event lists as lost (malformed ones dropped)."""
    lost = crashed.get("lost")
    if not isinstance(lost, list):
        return []
    return [
        (item[0], item[1])
        for item in lost
        if isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], int)
    ]


def due_times(trace: Sequence[TraceEvent], due_ns: int) -> set[int]:
    """When something due at ``due_ns`` may happen: then, or at the recovery if it fell due
    while the engine was down after a crash (FAULT-11; at the crash's own instant, either),
    or at any later recovery of that crash's chain: a crash at the very instant of the
    recovery before it leaves what that recovery had not yet done to the next one."""
    times = {due_ns}
    crashed: int | None = None
    chain_at: int | None = None  # the last recovery that may have carried it
    for e in trace:
        if e.kind == "crashed":
            crashed = e.t_ns
        elif e.kind == "recovered" and crashed is not None:
            if crashed <= due_ns <= e.t_ns or crashed == chain_at:
                times.add(e.t_ns)
                chain_at = e.t_ns
            else:
                chain_at = None
            crashed = None
    return times


def _seq(event: TraceEvent) -> int:
    return event.seq


def _outcome(end: TraceEvent) -> str:
    """The outcome of the attempt that ``end`` ends: succeeded, failed or timed_out."""
    if end.kind in ("attempt_succeeded", "compensation_completed"):
        return "succeeded"
    if end.kind == "attempt_timed_out" or (
        end.kind == "compensation_failed" and "timeout" in end.fields
    ):
        return "timed_out"
    return "failed"


@attrs.define(eq=False)
class Attempt:
    """One attempt as the trace shows it: its start, its end and what hung on it."""

    name: str
    number: int
    start: TraceEvent
    end: TraceEvent | None = None
    #: ``fault_injected`` events recorded while the attempt was open.
    faults: list[TraceEvent] = attrs.Factory(list)
    #: The ``retry_scheduled`` event recorded after it failed.
    retry: TraceEvent | None = None
    #: The ``step_cancelled`` that ended it at the time limit, or the ``crashed`` that lost it.
    cancelled: TraceEvent | None = None
    #: ``succeeded``, ``failed``, ``timed_out`` or None while it never ended (set by
    #: :meth:`close` with ``end``: every oracle reads it, so it is worked out once).
    outcome: str | None = None

    def close(self, end: TraceEvent) -> None:
        """End the attempt with ``end``, an event of :data:`_ENDS`."""
        self.end = end
        self.outcome = _outcome(end)

    @property
    def is_compensation(self) -> bool:
        return self.start.kind == "compensation_started"

    @property
    def label(self) -> str:
        """``step 'charge' attempt 2`` or ``compensation 'refund' attempt 1``."""
        what = "compensation" if self.is_compensation else "step"
        return f"{what} {self.name!r} attempt {self.number}"

    @property
    def retryable(self) -> bool:
        """Whether its failure was reported retryable (a timeout always is)."""
        if self.outcome == "timed_out":
            return True
        return self.end is not None and self.end.get("retryable") is True


@attrs.define(eq=False)
class Run:
    """A workflow, its fault plan and an indexed trace: what every oracle reads.

    For a DAG (``dag``) the steps, tasks and compensations are the declared ones.
    An imperative body or an event workflow declares none: its steps (calls,
    invocations) and compensations are the names its trace shows, with no
    definition (:meth:`definition` is None), so only the oracles and checks that
    need no definition judge them.
    """

    workflow: AnyWorkflow
    faults: tuple[Fault, ...]
    trace: Trace
    steps: Mapping[str, Step]
    #: Every compensation by name, and the step each one undoes.
    compensations: Mapping[str, Step]
    owner: Mapping[str, str]
    #: Attempts of each step and compensation, in the order they started.
    attempts: dict[str, list[Attempt]]
    #: Terminal events (``step_*``) of each name, in trace order.
    terminal: dict[str, list[TraceEvent]]
    #: Every event naming each step or compensation, in trace order.
    by_name: dict[str, list[TraceEvent]]
    #: ``end``, ``fault_injected`` and ``retry_scheduled`` events no attempt could take.
    orphans: list[TraceEvent]
    #: Every event of each kind, in trace order (read through :meth:`of_kind`).
    by_kind: dict[str, list[TraceEvent]]
    finished: TraceEvent | None
    #: Whether the workflow is a DAG (a ``wfsim.Workflow``) with declared steps.
    dag: bool = True
    #: The steps (group tasks included) and compensations: declared, or seen in the trace.
    step_names: frozenset[str] = frozenset()
    compensation_names: frozenset[str] = frozenset()
    #: :meth:`in_order`, once worked out (a plain field: a cached_property would give the
    #: class a ``__getattr__``, which slows every attribute read of every oracle).
    _in_order: bool | None = attrs.field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]) -> Run:
        if not isinstance(workflow, (Workflow, ImperativeWorkflow, EventWorkflow)):
            raise TypeError(
                "the oracles judge workflows (a wfsim.Workflow, a @wfsim.workflow body or a "
                f"wfsim.EventWorkflow), not {type(workflow).__name__} {workflow!r}"
            )
        if not isinstance(trace, Trace):
            trace = Trace(trace)
        dag = isinstance(workflow, Workflow)
        steps = workflow.steps
        owner = {s.compensate.name: s.name for s in steps.values() if s.compensate is not None}
        attempts: dict[str, list[Attempt]] = {}
        terminal: dict[str, list[TraceEvent]] = {}
        orphans: list[TraceEvent] = []
        by_name: dict[str, list[TraceEvent]] = {}
        by_kind: dict[str, list[TraceEvent]] = {}
        open_: dict[tuple[str, int], Attempt] = {}
        seen_steps: set[str] = set()
        seen_comps: set[str] = set()
        for e in trace:
            kind, name, number = e.kind, e.step, e.attempt
            of_kind = by_kind.get(kind)
            if of_kind is None:
                by_kind[kind] = [e]
            else:
                of_kind.append(e)
            if name is None:
                if kind == "crashed":  # the attempts in flight are lost: over, with no outcome
                    for key in lost_attempts(e):
                        if key in open_:
                            open_.pop(key).cancelled = e
                continue
            of_name = by_name.get(name)
            if of_name is None:
                by_name[name] = [e]
            else:
                of_name.append(e)
            if not dag and isinstance(name, str):
                if kind in _COMPENSATION_KINDS:
                    seen_comps.add(name)
                    for_step = e.get("for_step")
                    if isinstance(for_step, str):
                        owner.setdefault(name, for_step)
                elif kind in _STEP_KINDS:
                    seen_steps.add(name)
            if kind in STEP_ENDS:
                terminal.setdefault(name, []).append(e)
                if kind == "step_cancelled":
                    for key in [k for k in open_ if k[0] == name]:
                        open_.pop(key).cancelled = e
                continue
            if kind == "crashed":
                for key in lost_attempts(e):
                    if key in open_:
                        open_.pop(key).cancelled = e
            if not isinstance(number, int):
                continue
            key = (name, number)
            if kind in _STARTS:
                att = Attempt(name, number, e)
                attempts.setdefault(name, []).append(att)
                open_[key] = att
            elif kind in _ENDS:
                att_or_none = open_.pop(key, None)
                if att_or_none is None:
                    orphans.append(e)
                else:
                    att_or_none.close(e)
            elif kind == "fault_injected":
                if key in open_:
                    open_[key].faults.append(e)
                else:
                    orphans.append(e)
            elif kind == "retry_scheduled":
                done = [
                    a
                    for a in attempts.get(name, ())
                    if a.number == number and a.end is not None and a.retry is None
                ]
                if done:
                    done[-1].retry = e
                else:
                    orphans.append(e)
        finished = trace[-1] if len(trace) and trace[-1].kind == "run_finished" else None
        if dag:
            step_names = frozenset(steps) | frozenset(workflow.tasks)
            comp_names = frozenset(workflow.compensations)
        else:
            comp_names = frozenset(seen_comps)
            step_names = frozenset(seen_steps - seen_comps)
        return cls(
            workflow=workflow,
            faults=tuple(faults),
            trace=trace,
            steps=steps,
            compensations=workflow.compensations,
            owner=owner,
            attempts=attempts,
            terminal=terminal,
            by_name=by_name,
            orphans=orphans,
            by_kind=by_kind,
            finished=finished,
            dag=dag,
            step_names=step_names,
            compensation_names=comp_names,
        )

    def in_order(self) -> bool:
        """Whether ``seq`` increases along the trace: then the events listed in trace order
        (:attr:`by_name`, :attr:`attempts`, ...) are in ``seq`` order too."""
        if self._in_order is None:
            seqs = [e.seq for e in self.trace]
            self._in_order = all(map(operator.lt, seqs, seqs[1:]))
        return self._in_order

    def of_kind(self, kind: str) -> list[TraceEvent]:
        """The events of ``kind``, in trace order (an empty list if none)."""
        return self.by_kind.get(kind, [])

    def definition(self, name: str) -> Step | None:
        """The step or compensation called ``name`` (None if the workflow has neither)."""
        return self.steps.get(name) or self.compensations.get(name)

    @property
    def status(self) -> str | None:
        """The run's status from ``run_finished`` (None if the run never finished)."""
        if self.finished is None:
            return None
        status = self.finished.get("status")
        return status if isinstance(status, str) else None
