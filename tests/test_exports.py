"""The public surface is pinned: adding or removing a name is a decision, not an accident."""

from __future__ import annotations

import ast
import pathlib

import wfsim

PUBLIC = {
    "Handle",
    "MergeConflictError",
    "ParallelGroup",
    "task",
    "Event",
    "EventStep",
    "EventWorkflow",
    "StartEvent",
    "StopEvent",
    "DEFAULT_EPOCH",
    "DEFAULT_TIME_LIMIT",
    "AttemptRecord",
    "ChoiceSource",
    "ContextKeyError",
    "CycleError",
    "DeterminismError",
    "NondeterminismError",
    "DeterminismReport",
    "AsyncioUnsupportedError",
    "EngineError",
    "ExternalWaitError",
    "Fault",
    "InjectedError",
    "RetryPolicy",
    "RetryPolicyError",
    "RunResult",
    "SeededChoices",
    "Step",
    "StepContext",
    "StepResult",
    "Tape",
    "Trace",
    "TraceEvent",
    "UnknownStepError",
    "WallClockError",
    "WfsimError",
    "Workflow",
    "WorkflowDefinitionError",
    "arun",
    "backoff_ns",
    "check_determinism",
    "retry_delay",
    "replay_history",
    "run",
    "run_many",
    "to_ns",
    "to_seconds",
    "SagaPolicy",
    "compensation",
    "ImperativeWorkflow",
    "ChildCall",
    "CircuitBreaker",
    "CircuitOpenError",
    "Signal",
    "SignalTimeoutError",
    "StepCall",
    "StepTimeoutError",
    "WorkflowContext",
    "workflow",
}

ROOT = pathlib.Path(wfsim.__file__).parent


def test_all_is_pinned() -> None:
    assert set(wfsim.__all__) == PUBLIC
    for name in wfsim.__all__:
        assert hasattr(wfsim, name), name


def test_no_public_class_looks_like_a_test() -> None:
    assert not [n for n in wfsim.__all__ if n.startswith("Test")]


def test_errors_derive_from_wfsim_error_and_a_builtin() -> None:
    for name in wfsim.__all__:
        obj = getattr(wfsim, name)
        if isinstance(obj, type) and issubclass(obj, BaseException) and obj is not wfsim.WfsimError:
            if obj is wfsim.InjectedError:
                continue  # stands in for a user's exception, not a wfsim failure
            assert issubclass(obj, wfsim.WfsimError), name
            assert any(
                b in obj.__mro__ for b in (ValueError, KeyError, RuntimeError, TimeoutError)
            ), name


def test_core_imports_nothing_above_it() -> None:
    """Layers point down: wfsim/_core may import wfsim.errors and itself, nothing else of wfsim."""
    for path in (ROOT / "_core").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.level == 0
                and node.module.startswith("wfsim")
            ):
                assert node.module == "wfsim.errors" or node.module.startswith("wfsim._core"), (
                    f"{path.name} imports {node.module}"
                )
