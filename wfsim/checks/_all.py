"""Every oracle at once, and the assertion tests use."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from wfsim._core._faults import Fault
from wfsim._core._trace import TraceEvent

from ._breaker import breakers
from ._collect import collections
from ._compensation import compensations
from ._crash import crashes
from ._deliveries import deliveries
from ._faults import fault_effects
from ._groups import groups
from ._index import AnyWorkflow, Run
from ._ordering import concurrency, dependencies, terminal_states
from ._retries import retries
from ._shape import shape
from ._trigger import trigger_rules
from ._violation import Violation

__all__ = ["assert_no_violations", "check_all"]

#: The oracles in the order check_all runs them: the trace's shape first, since a
#: malformed trace explains the other oracles' findings.
_ORACLES: tuple[Callable[[Run], list[Violation]], ...] = (
    shape,
    dependencies,
    concurrency,
    retries,
    terminal_states,
    compensations,
    fault_effects,
    crashes,
    trigger_rules,
    breakers,
    collections,
    groups,
    deliveries,
)


def check_all(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """Run every oracle over one run; an empty list means the trace keeps every rule.

    Example::

        result = wfsim.run(wf, seed=3, faults=plan)
        assert check_all(wf, plan, result.trace) == []
    """
    run = Run.of(workflow, faults, trace)
    return [v for oracle in _ORACLES for v in oracle(run)]


def assert_no_violations(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> None:
    """Raise ``AssertionError`` describing every violation :func:`check_all` finds."""
    found = check_all(workflow, faults, trace)
    if found:
        details = "\n".join(v.describe() for v in found)
        raise AssertionError(
            f"{len(found)} rule violation(s) in the run of workflow {workflow.name!r}:\n{details}"
        )
