"""wfsim: a deterministic reference engine and test harness for workflows.

Run a workflow under a virtual clock, inject faults, and check the trace::

    import wfsim

    wf = wfsim.Workflow("analysis")
    prepare = wf.add_step("prepare", duration=1.5, output={"rows": 100})

    @wf.step(after=[prepare], retry=wfsim.RetryPolicy(max_attempts=5), timeout=30)
    async def analyze(ctx):
        ctx.set("seen", ctx.get("rows"))
        await ctx.sleep(2)

    result = wfsim.run(wf, seed=7, faults=[wfsim.Fault.error("analyze", attempts=[1])])
    assert result.status == "completed"
"""
# Names resolve on first use (PEP 562), so ``import wfsim`` (and ``wfsim --help``) does not
# import the engine, trio and asyncio until a program touches one of them.
# ``from wfsim import X`` and ``wfsim.X`` work as before; type checkers read the imports below.

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wfsim._lazy import lazy_dir, lazy_name

if TYPE_CHECKING:
    from wfsim._core._breaker import CircuitBreaker
    from wfsim._core._choice import ChoiceSource, SeededChoices, Tape
    from wfsim._core._context import StepContext
    from wfsim._core._determinism import DeterminismReport, check_determinism
    from wfsim._core._events import (
        Event,
        EventStep,
        EventWorkflow,
        StartEvent,
        StopEvent,
        StreamedEvent,
    )
    from wfsim._core._faults import Fault, InjectedError
    from wfsim._core._history import replay_history
    from wfsim._core._imperative import (
        ChildCall,
        Handle,
        ImperativeWorkflow,
        StepCall,
        WorkflowContext,
        workflow,
    )
    from wfsim._core._parallel import MergeConflictError
    from wfsim._core._retry import RetryPolicy, backoff_ns, retry_delay
    from wfsim._core._run import DEFAULT_TIME_LIMIT, RunResult, StepResult, arun, run, run_many
    from wfsim._core._signals import Signal
    from wfsim._core._time import DEFAULT_EPOCH, to_ns, to_seconds
    from wfsim._core._trace import AttemptRecord, Trace, TraceEvent
    from wfsim._core._workflow import ParallelGroup, SagaPolicy, Step, Workflow, compensation, task
    from wfsim.errors import (
        AsyncioUnsupportedError,
        CircuitOpenError,
        ContextKeyError,
        CycleError,
        DeterminismError,
        EngineError,
        ExternalWaitError,
        NondeterminismError,
        RetryPolicyError,
        SignalTimeoutError,
        StepTimeoutError,
        UnknownStepError,
        WallClockError,
        WfsimError,
        WorkflowDefinitionError,
    )

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_EPOCH",
    "DEFAULT_TIME_LIMIT",
    "AttemptRecord",
    "ChildCall",
    "ChoiceSource",
    "CircuitBreaker",
    "CircuitOpenError",
    "ContextKeyError",
    "CycleError",
    "DeterminismError",
    "EngineError",
    "NondeterminismError",
    "DeterminismReport",
    "Event",
    "EventStep",
    "EventWorkflow",
    "AsyncioUnsupportedError",
    "ExternalWaitError",
    "Fault",
    "Handle",
    "ImperativeWorkflow",
    "InjectedError",
    "MergeConflictError",
    "ParallelGroup",
    "RetryPolicy",
    "RetryPolicyError",
    "RunResult",
    "SagaPolicy",
    "SeededChoices",
    "Signal",
    "SignalTimeoutError",
    "Step",
    "StepContext",
    "StepCall",
    "StepResult",
    "StepTimeoutError",
    "StartEvent",
    "StopEvent",
    "StreamedEvent",
    "Tape",
    "Trace",
    "TraceEvent",
    "UnknownStepError",
    "WallClockError",
    "WfsimError",
    "Workflow",
    "WorkflowContext",
    "WorkflowDefinitionError",
    "arun",
    "backoff_ns",
    "check_determinism",
    "compensation",
    "retry_delay",
    "replay_history",
    "run",
    "run_many",
    "task",
    "workflow",
    "to_ns",
    "to_seconds",
]

#: Where each public name lives: imported from there on first use.
_HOME: dict[str, str] = {
    "CircuitBreaker": "wfsim._core._breaker",
    "ChoiceSource": "wfsim._core._choice",
    "SeededChoices": "wfsim._core._choice",
    "Tape": "wfsim._core._choice",
    "StepContext": "wfsim._core._context",
    "DeterminismReport": "wfsim._core._determinism",
    "check_determinism": "wfsim._core._determinism",
    "Event": "wfsim._core._events",
    "EventStep": "wfsim._core._events",
    "EventWorkflow": "wfsim._core._events",
    "StartEvent": "wfsim._core._events",
    "StopEvent": "wfsim._core._events",
    "StreamedEvent": "wfsim._core._events",
    "Fault": "wfsim._core._faults",
    "InjectedError": "wfsim._core._faults",
    "replay_history": "wfsim._core._history",
    "ChildCall": "wfsim._core._imperative",
    "Handle": "wfsim._core._imperative",
    "ImperativeWorkflow": "wfsim._core._imperative",
    "StepCall": "wfsim._core._imperative",
    "WorkflowContext": "wfsim._core._imperative",
    "workflow": "wfsim._core._imperative",
    "MergeConflictError": "wfsim._core._parallel",
    "RetryPolicy": "wfsim._core._retry",
    "backoff_ns": "wfsim._core._retry",
    "retry_delay": "wfsim._core._retry",
    "DEFAULT_TIME_LIMIT": "wfsim._core._run",
    "RunResult": "wfsim._core._run",
    "StepResult": "wfsim._core._run",
    "arun": "wfsim._core._run",
    "run": "wfsim._core._run",
    "run_many": "wfsim._core._run",
    "Signal": "wfsim._core._signals",
    "DEFAULT_EPOCH": "wfsim._core._time",
    "to_ns": "wfsim._core._time",
    "to_seconds": "wfsim._core._time",
    "AttemptRecord": "wfsim._core._trace",
    "Trace": "wfsim._core._trace",
    "TraceEvent": "wfsim._core._trace",
    "ParallelGroup": "wfsim._core._workflow",
    "SagaPolicy": "wfsim._core._workflow",
    "Step": "wfsim._core._workflow",
    "Workflow": "wfsim._core._workflow",
    "compensation": "wfsim._core._workflow",
    "task": "wfsim._core._workflow",
    "AsyncioUnsupportedError": "wfsim.errors",
    "CircuitOpenError": "wfsim.errors",
    "ContextKeyError": "wfsim.errors",
    "CycleError": "wfsim.errors",
    "DeterminismError": "wfsim.errors",
    "EngineError": "wfsim.errors",
    "ExternalWaitError": "wfsim.errors",
    "NondeterminismError": "wfsim.errors",
    "RetryPolicyError": "wfsim.errors",
    "SignalTimeoutError": "wfsim.errors",
    "StepTimeoutError": "wfsim.errors",
    "UnknownStepError": "wfsim.errors",
    "WallClockError": "wfsim.errors",
    "WfsimError": "wfsim.errors",
    "WorkflowDefinitionError": "wfsim.errors",
}


def __getattr__(name: str) -> Any:
    return lazy_name(__name__, _HOME, globals(), name)


def __dir__() -> list[str]:
    return lazy_dir(globals(), __all__)
