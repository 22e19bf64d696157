"""Oracles: pure functions from a run's definition, fault plan and trace to the rules it breaks.

Each oracle takes ``(workflow, faults, trace)`` (the workflow a DAG, an
``@wfsim.workflow`` body or an event workflow) and returns a list of
:class:`Violation`, each citing a spec rule ID (``ORD-1``, ``RETRY-8``) with a
sentence and the trace lines involved. Oracles never run the engine: they read
the trace alone, so they judge any engine's trace, a saved one or a tampered one::

    import wfsim
    from wfsim.checks import assert_no_violations, check_all

    result = wfsim.run(wf, seed=7, faults=plan)
    assert check_all(wf, plan, result.trace) == []
    assert_no_violations(wf, plan, result.trace)   # or raise with every violation

``specs/checks.md`` says what each oracle enforces, by rule ID.
"""

from wfsim.checks._all import assert_no_violations, check_all
from wfsim.checks._breaker import check_breakers
from wfsim.checks._collect import check_collections
from wfsim.checks._compensation import check_compensations
from wfsim.checks._crash import check_crashes
from wfsim.checks._deliveries import check_deliveries
from wfsim.checks._faults import check_faults
from wfsim.checks._groups import check_groups
from wfsim.checks._ordering import check_concurrency, check_dependencies, check_terminal_states
from wfsim.checks._retries import check_retries, jitter_bounds_ns
from wfsim.checks._shape import check_trace_shape
from wfsim.checks._trigger import check_trigger_rules
from wfsim.checks._violation import Violation

__all__ = [
    "Violation",
    "assert_no_violations",
    "check_all",
    "check_breakers",
    "check_collections",
    "check_compensations",
    "check_concurrency",
    "check_crashes",
    "check_deliveries",
    "check_dependencies",
    "check_faults",
    "check_groups",
    "check_retries",
    "check_terminal_states",
    "check_trace_shape",
    "check_trigger_rules",
    "jitter_bounds_ns",
]
