"""The property suite: every oracle over random workflows, fault plans and schedules.

Runs in CI with the ``ci`` Hypothesis profile (2,000 examples, bounded); use
``pytest tests/properties --hypothesis-profile=nightly`` for a long search.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import strategies as wst
from wfsim.checks import assert_no_violations

#: 2,000 examples in CI (about 35 s on 2 cores); 20,000 with --hypothesis-profile=nightly.
EXAMPLES = 20_000 if settings.default.max_examples >= 1000 else 2_000

CASES = wst.workflows_with_faults(
    st.one_of(
        wst.workflows(max_steps=12),
        wst.workflows(max_steps=8, compensations=True, max_concurrency=True),
        wst.workflows(max_steps=6, code_steps=True, timeouts=True),
    ),
    max_faults=4,
    kinds=wst.FAULT_KINDS,
)


@settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=CASES, tape=wst.schedules(max_size=60), seed=st.integers(0, 2**16))
@pytest.mark.spec("ORACLE-3", "DET-5")
def test_every_oracle_holds_on_random_runs(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    workflow, faults = case
    result = wfsim.run(workflow, faults=faults, seed=seed, choices=tape)
    wst.target_interesting(result)
    assert_no_violations(workflow, faults, result.trace)
    replay = wfsim.run(workflow, faults=faults, seed=seed, choices=result.choices)
    assert replay.digest() == result.digest()
