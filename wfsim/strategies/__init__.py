"""Hypothesis strategies for workflows, faults, schedules and scenario files.

Property tests of workflow semantics draw everything a run depends on, so that
Hypothesis shrinks all of it: the workflow, the fault plan and the schedule
(every decision the engine would otherwise take from the seed)::

    from hypothesis import given
    import wfsim
    from wfsim.strategies import schedules, target_interesting, workflows_with_faults

    @given(workflows_with_faults(max_faults=3), schedules())
    def test_every_step_ends_once(case, tape):
        workflow, faults = case
        result = wfsim.run(workflow, faults=faults, choices=tape)
        target_interesting(result)
        assert all(s.status != "pending" for s in result.steps.values())

The strategies follow Hypothesis's house style: plural nouns, keyword-only
bounds, arguments checked when the strategy is made (a bad bound raises
:class:`hypothesis.errors.InvalidArgument` at once), and values that shrink
towards small, simple cases. Rules: ``specs/strategies.md`` (STRAT-1...).
This module needs Hypothesis installed; ``import wfsim`` does not.
"""

from wfsim.strategies._counterexample import (
    COUNTEREXAMPLE_FILE,
    Counterexample,
    format_counterexample,
    run_and_check,
)
from wfsim.strategies._deliveries import DELIVERY_FAULT_KINDS, delivery_fault_plans
from wfsim.strategies._faults import FAULT_KINDS, fault_plans, workflows_with_faults
from wfsim.strategies._scenarios import scenario_texts, scenarios
from wfsim.strategies._schedules import interestingness, schedules, target_interesting
from wfsim.strategies._styles import (
    EVENT_TYPES,
    EventStepCode,
    Program,
    event_workflows,
    imperative_workflows,
    signal_schedules,
)
from wfsim.strategies._workflows import (
    SleepingStep,
    dags,
    retry_policies,
    workflows,
)

__all__ = [
    "COUNTEREXAMPLE_FILE",
    "Counterexample",
    "DELIVERY_FAULT_KINDS",
    "EVENT_TYPES",
    "EventStepCode",
    "FAULT_KINDS",
    "Program",
    "SleepingStep",
    "dags",
    "delivery_fault_plans",
    "event_workflows",
    "fault_plans",
    "format_counterexample",
    "imperative_workflows",
    "interestingness",
    "retry_policies",
    "run_and_check",
    "scenario_texts",
    "scenarios",
    "schedules",
    "signal_schedules",
    "target_interesting",
    "workflows",
    "workflows_with_faults",
]
