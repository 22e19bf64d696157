"""Running a workflow: :func:`run` (opens trio) and :func:`arun` (inside trio)."""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import trio

from wfsim.errors import UnknownStepError, WfsimError, did_you_mean

from ._bodies import Bodies
from ._choice import ChoiceSource, SeededChoices, Tape
from ._engine import Engine
from ._events import EventWorkflow, StreamedEvent
from ._faults import Fault
from ._gc import eased_gc
from ._imperative import ImperativeWorkflow
from ._signals import Signal
from ._time import DEFAULT_EPOCH, Duration, to_ns, to_seconds
from ._trace import Trace
from ._trio_clock import MockClock
from ._wallclock import WallClock, freezegun_held
from ._workflow import Workflow

__all__ = ["DEFAULT_TIME_LIMIT", "RunResult", "StepResult", "arun", "run", "run_many"]

#: Virtual time a run may take before it ends ``timed_out``.
DEFAULT_TIME_LIMIT = "30d"

RUN_STATUSES = (
    "completed",
    "failed",
    "compensated",
    "compensation_failed",
    "timed_out",
    "cancelled",
)


@attrs.frozen
class StepResult:
    """How one step ended: status, attempts made, what it returned, its last error."""

    name: str
    status: str
    attempts: int
    result: Any = None
    error: str | None = None


class _StepResults(Mapping[str, StepResult]):
    """``RunResult.steps``: each :class:`StepResult` is made when first read (a frozen
    value costs microseconds to make, a run whose steps nobody reads makes none)."""

    __slots__ = ("_ended", "_made")

    def __init__(self, ended: dict[str, tuple[str, int, Any, str | None]]) -> None:
        #: name -> (status, attempts, result, error)
        self._ended = ended
        self._made: dict[str, StepResult] = {}

    def __getitem__(self, name: str) -> StepResult:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = StepResult(name, *self._ended[name])
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._ended)

    def __len__(self) -> int:
        return len(self._ended)

    def __repr__(self) -> str:
        return repr(dict(self))


@attrs.frozen
class RunResult:
    """Everything a run produced. ``trace`` is the source of truth; the rest is derived.

    ``steps`` maps each step to how it ended (``compensated`` once its
    compensation completed); ``compensations`` maps each compensation to how it
    ended (``pending`` if it was never needed, ``skipped`` if a failed one before
    it stopped the saga). ``effect_counts`` says how many times each step's (and
    compensation's) work was done, its effect included (an end error or a crash after
    the effect makes it run again); ``repeated_effects`` names the steps declared
    ``idempotent=False`` whose effect ran more than once. ``stream`` holds what an
    event workflow's steps wrote with ``ctx.write_event_to_stream``, in order (EVT-9).
    """

    workflow: str
    seed: int | None
    status: str
    makespan_ns: int
    context: Mapping[str, Any]
    trace: Trace
    steps: Mapping[str, StepResult]
    message: str = ""
    choices: tuple[int, ...] = ()
    compensations: Mapping[str, StepResult] = attrs.field(factory=dict)
    result: Any = None
    effect_counts: Mapping[str, int] = attrs.field(factory=dict)
    repeated_effects: tuple[str, ...] = ()
    stream: tuple[StreamedEvent, ...] = ()

    @property
    def makespan(self) -> float:
        """Virtual seconds from the start to the end of the run."""
        return to_seconds(self.makespan_ns)

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def digest(self) -> str:
        return self.trace.digest()


def _choice_source(seed: int | None, choices: ChoiceSource | Iterable[int] | None) -> ChoiceSource:
    if choices is None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise WfsimError(f"seed must be an integer, not {seed!r}")
        return SeededChoices(seed)
    if isinstance(choices, ChoiceSource):
        return choices
    return Tape(choices)


AnyWorkflow = Workflow | ImperativeWorkflow | EventWorkflow


def event_type_names(workflow: EventWorkflow) -> list[str]:
    """The event types a run of ``workflow`` can deliver: what its steps accept (and
    their subclasses), StartEvent and StopEvent, in declaration order."""
    names: dict[str, None] = {"StartEvent": None, "StopEvent": None}
    todo = [t for step in workflow.event_steps.values() for t in step.accepts]
    while todo:
        kind = todo.pop(0)
        if kind.__name__ not in names:
            names[kind.__name__] = None
            todo.extend(kind.__subclasses__())
    return list(names)


def delivery_fault_problem(
    workflow: AnyWorkflow, fault: Fault, signals: Sequence[str]
) -> str | None:
    """Why ``fault`` (a delivery fault) cannot apply to runs of ``workflow``, or None.

    An event fault needs an event workflow and names one of its event types; a
    signal fault needs a ``@wfsim.workflow`` body and names a declared signal (or,
    if none are declared, one of ``signals``, the names this run sends). A pattern
    must match one of them.
    """
    what = f"{fault.kind} fault on {fault.delivery} {fault.step!r}"
    if fault.delivery == "event":
        if not isinstance(workflow, EventWorkflow):
            kind = "a DAG of steps" if isinstance(workflow, Workflow) else "a @wfsim.workflow body"
            return (
                f"{what}: workflow {workflow.name!r} is {kind} and delivers no events; "
                "event faults need an event workflow (wfsim.EventWorkflow)"
            )
        names, known = event_type_names(workflow), "event types"
    else:
        if not isinstance(workflow, ImperativeWorkflow) and not getattr(
            workflow, "receives_signals", False
        ):
            kind = "a DAG of steps" if isinstance(workflow, Workflow) else "an event workflow"
            return (
                f"{what}: workflow {workflow.name!r} is {kind} and receives no signals; "
                "signal faults need a @wfsim.workflow body that waits for them"
            )
        declared = list(getattr(workflow, "signals", ()))
        names = declared or list(dict.fromkeys(signals))
        known = "declared signals" if declared else "signals sent"
    listed = ", ".join(names) if names else "none"
    if fault.is_pattern:
        if any(fault.matches(n) for n in names):
            return None
        return f"{what}: the pattern matches none of the {known} ({listed})"
    if fault.step in names:
        return None
    return (
        f"{what}: unknown {'event type' if fault.delivery == 'event' else 'signal'} "
        f"{fault.step!r} for workflow {workflow.name!r}"
        f"{did_you_mean(fault.step, names)} ({known}: {listed})"
    )


def _check_faults(
    workflow: AnyWorkflow, faults: Sequence[Fault], signals: Sequence[Signal] = ()
) -> None:
    # A DAG's names, worked out once for all its faults (each read copies a mapping).
    steps: Mapping[str, Any] = {}
    targets: list[str] = []
    if faults and isinstance(workflow, Workflow):
        steps = workflow.steps
        targets = [*steps, *workflow.compensations, *workflow.tasks]
    known = set(targets)
    for f in faults:
        if not isinstance(f, Fault):
            raise WfsimError(
                f"faults must be wfsim.Fault objects (Fault.error(...), Fault.latency(...)), "
                f"not {type(f).__name__}"
            )
        if f.delivery is not None:
            problem = delivery_fault_problem(workflow, f, [s.name for s in signals])
            if problem is not None:
                raise WfsimError(problem)
            continue
        if f.at == "body" and not isinstance(workflow, ImperativeWorkflow):
            raise WfsimError(
                f"a crash at a body point ({f.step!r}) needs a @wfsim.workflow body; "
                f"workflow {workflow.name!r} has none (specs/faults.md FAULT-15)"
            )
        if not isinstance(workflow, Workflow):
            if f.kind == "crash" and isinstance(workflow, EventWorkflow):
                raise WfsimError(
                    f"crash faults need a DAG workflow or a @wfsim.workflow body; event "
                    f"workflow {workflow.name!r} cannot restart from its history yet "
                    f"(specs/faults.md FAULT-13)"
                )
            continue  # its steps exist only once the body calls them or events arrive
        if f.is_pattern:
            if not any(f.matches(name) for name in targets):
                raise UnknownStepError(
                    f"fault pattern {f.step!r} matches no step or compensation "
                    f"(steps: {', '.join(steps)})"
                )
        elif f.step in steps and steps[f.step].group is not None:
            tasks = ", ".join(n for n in workflow.tasks if n.startswith(f.step + "/"))
            raise UnknownStepError(
                f"fault targets parallel group {f.step!r}, which runs no attempts of its own; "
                f"target its tasks ({tasks})"
            )
        elif f.step not in known:
            raise UnknownStepError(
                f"fault targets unknown step {f.step!r}{did_you_mean(f.step, targets)}"
            )


def _check_signals(signals: Iterable[Signal]) -> list[Signal]:
    out = list(signals)
    for s in out:
        if not isinstance(s, Signal):
            raise WfsimError(
                f"signals must be wfsim.Signal objects (Signal(name, at=..., payload=...)), "
                f"not {type(s).__name__}"
            )
    return out


def _prepare(
    workflow: AnyWorkflow,
    input: Mapping[str, Any] | None,
    seed: int | None,
    faults: Iterable[Fault],
    choices: ChoiceSource | Iterable[int] | None,
    time_limit: Duration,
    epoch: _dt.datetime,
    wall_clock: WallClock | None,
    signals: Iterable[Signal] = (),
) -> Engine:
    if not isinstance(workflow, (Workflow, ImperativeWorkflow, EventWorkflow)):
        raise WfsimError(
            "wfsim.run() takes a wfsim.Workflow or a @wfsim.workflow function, "
            f"not {type(workflow).__name__}"
        )
    fault_list = list(faults)
    signal_list = _check_signals(signals)
    _check_faults(workflow, fault_list, signal_list)
    if input is not None and not isinstance(input, Mapping) and isinstance(workflow, Workflow):
        raise WfsimError(
            f"input must be a mapping (it seeds the DAG's context), not {type(input).__name__}"
        )
    receives = getattr(workflow, "receives_signals", False)  # wfsim.llama's adapter
    if signal_list and isinstance(workflow, (Workflow, EventWorkflow)) and not receives:
        raise WfsimError(
            "signals are delivered to a workflow body that waits for them "
            "(ctx.wait_for_signal in a @wfsim.workflow); this DAG workflow has none"
        )
    declared = workflow.signals if isinstance(workflow, ImperativeWorkflow) else ()
    for sig in signal_list:
        if declared and sig.name not in declared:
            raise WfsimError(
                f"unknown signal {sig.name!r} for workflow {workflow.name!r}"
                f"{did_you_mean(sig.name, declared)} (declared: {', '.join(declared)})"
            )
    limit = to_ns(time_limit, what="time_limit")
    if isinstance(workflow, EventWorkflow) and workflow.timeout_ns is not None:
        limit = min(limit, workflow.timeout_ns)  # the workflow's own timeout (LlamaIndex's)
    if limit <= 0:
        raise WfsimError("time_limit must be positive")
    return Engine(
        workflow,
        input=dict(input) if isinstance(input, Mapping) else input,
        seed=seed,
        faults=fault_list,
        choices=_choice_source(seed, choices),
        time_limit_ns=limit,
        epoch=epoch,
        wall_clock=wall_clock,
        signals=signal_list,
        style=Bodies if isinstance(workflow, ImperativeWorkflow) else None,
    )


def _result(engine: Engine) -> RunResult:
    steps = _StepResults(
        {st.step.name: (st.status, st.attempts, st.result, st.error) for st in engine.step_states()}
    )
    assert engine.status is not None
    return RunResult(
        workflow=engine.workflow.name,
        seed=engine.seed,
        status=engine.status,
        makespan_ns=engine.now,
        context=engine.context,
        trace=Trace.of_rows(engine.events),
        steps=steps,
        message=engine.message,
        choices=engine.choices.recorded,
        compensations={
            name: StepResult(name, st.status, st.attempts, st.result, st.error)
            for name, st in engine.comp_states.items()
        },
        result=engine.result,
        effect_counts=dict(engine.effect_counts),
        repeated_effects=engine.repeated_effects(),
        stream=tuple(engine.streamed),
    )


async def arun(
    workflow: AnyWorkflow,
    *,
    input: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    faults: Iterable[Fault] = (),
    choices: ChoiceSource | Iterable[int] | None = None,
    time_limit: Duration = DEFAULT_TIME_LIMIT,
    epoch: _dt.datetime = DEFAULT_EPOCH,
    patch_wall_clock: bool = True,
    signals: Iterable[Signal] = (),
) -> RunResult:
    """Run ``workflow`` inside an existing trio run; see :func:`run`.

    The engine keeps its own virtual time, so this works under any trio clock;
    under ``trio.testing.MockClock`` that clock is moved along with it.
    """
    wall = _wall_clock(workflow, epoch, patch_wall_clock)
    with wall if wall is not None else contextlib.nullcontext():
        return await _arun(workflow, wall, input, seed, faults, choices, time_limit, epoch, signals)


def _wall_clock(workflow: AnyWorkflow, epoch: _dt.datetime, patch: bool) -> WallClock | None:
    """The wall clock step code reads, or None when no step code runs (or asked not to)."""
    return WallClock(epoch) if patch and not _alone(workflow) else None


def _inline(workflow: AnyWorkflow) -> bool:
    """Whether a run of ``workflow`` drives its step code without trio: an event
    workflow whose code awaits nothing of trio's (the LlamaIndex adapter's, LLAMA-10)."""
    return isinstance(workflow, EventWorkflow) and not workflow.code_needs_trio


async def _arun(
    workflow: AnyWorkflow,
    wall: WallClock | None,
    input: Mapping[str, Any] | None,
    seed: int | None,
    faults: Iterable[Fault],
    choices: ChoiceSource | Iterable[int] | None,
    time_limit: Duration,
    epoch: _dt.datetime,
    signals: Iterable[Signal],
) -> RunResult:
    """One run under ``wall`` (already shown to step code, or None)."""
    with eased_gc(full=False):
        engine = _prepare(workflow, input, seed, faults, choices, time_limit, epoch, wall, signals)
        await engine.run()
        return _result(engine)


def _alone(workflow: AnyWorkflow) -> bool:
    """Whether a run of ``workflow`` needs no trio: a DAG with no step code never waits."""
    return isinstance(workflow, Workflow) and not workflow.runs_code


def _run_alone(
    workflow: AnyWorkflow,
    wall: WallClock | None,
    input: Mapping[str, Any] | None,
    seed: int | None,
    faults: Iterable[Fault],
    choices: ChoiceSource | Iterable[int] | None,
    time_limit: Duration,
    epoch: _dt.datetime,
    signals: Iterable[Signal],
) -> RunResult:
    """One run without trio (:meth:`Engine.run_alone`): a DAG with no step code (the
    collector paused: only the engine's own objects exist), or an event workflow whose
    step code the engine drives itself (LLAMA-10) under ``wall`` (already shown to step
    code, or None)."""
    with eased_gc(pause=_alone(workflow), full=False):
        engine = _prepare(workflow, input, seed, faults, choices, time_limit, epoch, wall, signals)
        engine.run_alone()
        return _result(engine)


def run(
    workflow: AnyWorkflow,
    *,
    input: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    faults: Iterable[Fault] = (),
    choices: ChoiceSource | Iterable[int] | None = None,
    time_limit: Duration = DEFAULT_TIME_LIMIT,
    epoch: _dt.datetime = DEFAULT_EPOCH,
    patch_wall_clock: bool = True,
    signals: Iterable[Signal] = (),
) -> RunResult:
    """Run ``workflow`` on the reference engine under a virtual clock.

    Example::

        result = wfsim.run(wf, input={"order": 7}, seed=7,
                           faults=[wfsim.Fault.error("charge", attempts=[1])])
        assert result.status == "completed", result.message
        print(result.makespan, result.trace.digest())

    ``seed`` drives every engine decision (which simultaneous work goes
    first, jitter); ``choices`` replaces the seed's PRNG with a fixed tape
    (e.g. ``result.choices`` of an earlier run, or one drawn by Hypothesis).
    ``time_limit`` is virtual time (default 30 days): a run that has not
    finished by then ends ``timed_out`` naming what still waits.
    ``epoch`` is what ``datetime.now()`` reads in step code at virtual time 0.
    ``signals`` are delivered at their virtual times (``ctx.wait_for_signal``).
    Raises :class:`~wfsim.WorkflowDefinitionError` for an invalid workflow
    (before anything runs) and :class:`~wfsim.ExternalWaitError` when step
    code waits on trio directly. Many seeds: :func:`run_many` is cheaper.
    """
    if _alone(workflow):
        return _run_alone(workflow, None, input, seed, faults, choices, time_limit, epoch, signals)
    if _inline(workflow):
        wall = _wall_clock(workflow, epoch, patch_wall_clock)
        with wall if wall is not None else contextlib.nullcontext():
            return _run_alone(
                workflow, wall, input, seed, faults, choices, time_limit, epoch, signals
            )
    # Under a test's freeze_time, trio's own clock reads must not tick the test's clock.
    held = freezegun_held(epoch) if patch_wall_clock else contextlib.nullcontext()
    with held:
        clock = MockClock(autojump_threshold=0)
        return trio.run(
            lambda: arun(
                workflow,
                input=input,
                seed=seed,
                faults=faults,
                choices=choices,
                time_limit=time_limit,
                epoch=epoch,
                patch_wall_clock=patch_wall_clock,
                signals=signals,
            ),
            clock=clock,
        )


def run_many(
    workflow: AnyWorkflow,
    seeds: Iterable[int],
    *,
    input: Mapping[str, Any] | None = None,
    faults: Iterable[Fault] = (),
    time_limit: Duration = DEFAULT_TIME_LIMIT,
    epoch: _dt.datetime = DEFAULT_EPOCH,
    patch_wall_clock: bool = True,
    signals: Iterable[Signal] = (),
) -> list[RunResult]:
    """Run ``workflow`` once per seed: ``[run(workflow, seed=s, ...) for s in seeds]``,
    the same results, at a lower cost per run.

    Example::

        results = wfsim.run_many(wf, range(100), input={"order": 7})
        assert all(r.ok for r in results)

    The runs happen one after another inside one trio run, and the wall clock step
    code reads is patched once for all of them (each run still starts at ``epoch``):
    what a single :func:`run` pays to start (trio, the clock patch) is paid once.
    Young garbage collections happen more rarely while the batch runs. A DAG with no
    step code needs neither trio nor the clock, and a LlamaIndex workflow's code needs
    no trio (LLAMA-10): their runs happen without trio, as :func:`run` does.
    """
    fault_list, signal_list = list(faults), list(signals)
    seed_list = list(seeds)

    async def runs() -> list[RunResult]:
        wall = _wall_clock(workflow, epoch, patch_wall_clock)
        with wall if wall is not None else contextlib.nullcontext():
            return [
                await _arun(
                    workflow, wall, input, seed, fault_list, None, time_limit, epoch, signal_list
                )
                for seed in seed_list
            ]

    def runs_inline() -> list[RunResult]:
        wall = _wall_clock(workflow, epoch, patch_wall_clock)
        with wall if wall is not None else contextlib.nullcontext():
            return [
                _run_alone(
                    workflow, wall, input, seed, fault_list, None, time_limit, epoch, signal_list
                )
                for seed in seed_list
            ]

    held = freezegun_held(epoch) if patch_wall_clock else contextlib.nullcontext()
    # The results pile up as the batch goes on, and every young collection's survivors
    # are re-scanned by the middle generation's: collect the young one 7 times more
    # rarely (5,000 allocations instead of CPython's 700).
    with eased_gc(young=5000):
        if _alone(workflow):
            return [
                _run_alone(
                    workflow, None, input, seed, fault_list, None, time_limit, epoch, signal_list
                )
                for seed in seed_list
            ]
        if _inline(workflow):
            return runs_inline()
        with held:
            return trio.run(runs, clock=MockClock(autojump_threshold=0))
