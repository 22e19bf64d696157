"""Faults within the budget never break a workflow; beyond it, runs fail cleanly and compensate.

Issue 6 item 6: a fault plan bounded by what the workflow promises to survive
(``budget="survivable"``) must leave a completing workflow completing, so a failure
there is a real bug; a plan that breaks a promise for certain (``budget="exceeded"``)
must end the run failed, with every oracle (the compensation oracle included) holding.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import strategies as wst

from .test_oracles_hold import SCALE, SEEDS, TAPES

EXAMPLES = 150 * SCALE

SURVIVABLE = wst.workflows_with_faults(
    st.one_of(
        wst.workflows(max_steps=10, compensations=True, max_concurrency=True),
        wst.workflows(max_steps=8, trigger_rules=True, code_steps=True),
        wst.workflows(max_steps=6, parallel_groups=True, timeouts=False),
    ),
    max_faults=5,
    kinds=wst.FAULT_KINDS,
    budget="survivable",
)
EXCEEDED = wst.workflows_with_faults(
    wst.workflows(max_steps=10, compensations=True, max_concurrency=True, code_steps=True),
    max_faults=4,
    kinds=wst.FAULT_KINDS,
    budget="exceeded",
)


# database=None: no Pareto front of target() scores (see test_oracles_hold.DATABASE).
@settings(max_examples=EXAMPLES, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=SURVIVABLE, tape=TAPES, seed=SEEDS)
@pytest.mark.spec("STRAT-12")
def test_under_the_budget_every_run_completes(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    workflow, faults = case
    result = wst.run_and_check(workflow, faults=faults, seed=seed, choices=tape, replay=False)
    if result.status != "completed":
        # Only a workflow that fails by itself (a step whose work outlasts its timeout, a
        # group whose merge conflicts) may fail: the budget's faults must not be why.
        alone = wfsim.run(workflow, seed=seed, choices=tape.values)
        if _ties_its_timeout(workflow):
            return  # its own schedule decides the tie; faults move where the tape is read
        assert alone.status != "completed", (
            f"the run {result.status} under a survivable plan ({result.message}) although "
            f"the workflow completes without faults; plan: {faults!r}"
        )


def _ties_its_timeout(workflow: wfsim.Workflow) -> bool:
    """A step whose work takes exactly its timeout: whether it completes or times out is
    a tie the schedule breaks (a choice), so the same tape read with a fault plan (whose
    draws move the tape's later choices) may end it the other way."""
    return any(
        s.timeout_ns is not None and s.duration_ns == s.timeout_ns
        for s in workflow.steps.values()
    )


@settings(max_examples=EXAMPLES, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=EXCEEDED, tape=TAPES, seed=SEEDS)
@pytest.mark.spec("STRAT-12")
def test_beyond_the_budget_runs_fail_cleanly_and_compensate(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    workflow, faults = case
    result = wst.run_and_check(workflow, faults=faults, seed=seed, choices=tape, replay=False)
    assert result.status in ("failed", "compensated", "compensation_failed"), result.message
    registered = [c for c in result.compensations.values() if c.status != "pending"]
    if registered:
        assert result.status in ("compensated", "compensation_failed"), result.message
