"""The exceptions wfsim raises.

Every error derives from :class:`WfsimError` and from the nearest builtin, so
``except ValueError`` keeps working for callers who do not know wfsim.
Messages are sentences: the bad value, where it is, what was expected and,
for names, the closest valid one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AsyncioUnsupportedError",
    "CircuitOpenError",
    "ContextKeyError",
    "CycleError",
    "DeterminismError",
    "EngineError",
    "ExternalWaitError",
    "NondeterminismError",
    "RetryPolicyError",
    "ScenarioError",
    "SignalTimeoutError",
    "StepTimeoutError",
    "UnknownStepError",
    "WallClockError",
    "WfsimError",
    "WorkflowDefinitionError",
    "did_you_mean",
]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``": did you mean 'x'?"`` for the closest candidate, or ``""``.

    A bare task name finds its parallel group's ``group/task`` (``a`` ->
    ``checks/a``) when no other name is close.
    """
    names = sorted(candidates)
    matches = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not matches and name:
        matches = [n for n in names if n.endswith("/" + name)][:1]
    return f": did you mean {matches[0]!r}?" if matches else ""


class WfsimError(Exception):
    """Root of every error wfsim raises on purpose."""


class WorkflowDefinitionError(WfsimError, ValueError):
    """A workflow definition is invalid (raised when the workflow is built)."""


class UnknownStepError(WorkflowDefinitionError):
    """A step refers to a step name that the workflow does not define."""


class CycleError(WorkflowDefinitionError):
    """The dependencies of a DAG workflow form a cycle.

    ``path`` holds the cycle, first name repeated at the end.
    """

    def __init__(self, message: str, path: tuple[str, ...]) -> None:
        super().__init__(message)
        self.path = path


class RetryPolicyError(WfsimError, ValueError):
    """A retry policy has values no engine would accept."""


class ContextKeyError(WfsimError, KeyError):
    """``ctx.get`` asked for a key the workflow context does not hold."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ExternalWaitError(WfsimError, RuntimeError):
    """Step code waited on virtual time outside wfsim (e.g. a raw ``trio.sleep``)."""


class WallClockError(WfsimError, RuntimeError):
    """wfsim cannot show step code the virtual wall clock (another clock patch is in the way)."""


class AsyncioUnsupportedError(WfsimError, RuntimeError):
    """Step code used a part of asyncio that needs the outside world (sockets,
    subprocesses, signals, threads), which a simulation on virtual time cannot offer.
    Never retried: no retry would go differently."""

    non_retryable = True


class DeterminismError(WfsimError, RuntimeError):
    """A determinism self-check could not run (not: the check found a divergence)."""


class EngineError(WfsimError, RuntimeError):
    """Something unexpected went wrong inside the engine while it handled a step.

    The run cannot go on. ``step`` and ``attempt`` (1-based; None when no
    attempt had started) say where; ``__cause__`` holds the original exception.
    Seeing one means a bug in wfsim or a hook of the user's that the engine calls
    (e.g. a ``cache_key`` function that raised).
    """

    def __init__(self, message: str, *, step: str | None = None, attempt: int | None = None):
        super().__init__(message)
        self.step = step
        self.attempt = attempt


class ScenarioError(WfsimError, ValueError):
    """A scenario file is invalid. The message starts with ``FILE:LINE:``.

    ``file``, ``line`` (1-based, or None) and ``field`` (a dotted path such as
    ``workflow.steps.ship.after[0]``) locate the problem.
    """

    def __init__(
        self, message: str, *, file: str = "", line: int | None = None, field: str = ""
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.field = field


class StepTimeoutError(WfsimError, TimeoutError):
    """Raised into a workflow body when a step's last attempt timed out."""


class SignalTimeoutError(WfsimError, TimeoutError):
    """Raised into a workflow body when ``ctx.wait_for_signal`` timed out."""


class CircuitOpenError(WfsimError, RuntimeError):
    """An attempt was refused because its circuit breaker is open (or half-open and full)."""


class NondeterminismError(WfsimError, RuntimeError):
    """A workflow body, replaying its history, did something else than the history has.

    ``position`` is where (``"body#2"``: the body's 2nd call; ``"body/3#1"``: the 1st
    call of the branch its 3rd call started), ``recorded`` what the history has there
    and ``new`` what the code did instead (specs/imperative.md IMP-12).
    """

    def __init__(self, message: str, *, position: str = "", recorded: str = "", new: str = ""):
        super().__init__(message)
        self.position = position
        self.recorded = recorded
        self.new = new
