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

from wfsim._core._breaker import CircuitBreaker
from wfsim._core._choice import ChoiceSource, SeededChoices, Tape
from wfsim._core._context import StepContext
from wfsim._core._determinism import DeterminismReport, check_determinism
from wfsim._core._events import Event, EventStep, EventWorkflow, StartEvent, StopEvent
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
