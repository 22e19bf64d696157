"""The property suite: every oracle over random workflows, fault plans and schedules.

Runs in CI with the ``ci`` Hypothesis profile (2,000 examples, bounded); use
``pytest tests/properties --hypothesis-profile=nightly`` for a long search. Each
property calls :func:`wfsim.strategies.run_and_check`: a violation fails with the
shrunk run printed as a scenario file and its ``wfsim replay`` line.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import strategies as wst

#: 2,000 examples in CI; 20,000 with --hypothesis-profile=nightly.
EXAMPLES = 20_000 if settings().max_examples >= 1000 else 2_000

#: DAG workflows of every kind the strategies draw, with every kind of fault.
DAG_CASES = wst.workflows_with_faults(
    st.one_of(
        wst.workflows(max_steps=12),
        wst.workflows(max_steps=8, compensations=True, max_concurrency=True),
        wst.workflows(max_steps=6, code_steps=True, timeouts=True),
    ),
    max_faults=4,
    kinds=wst.FAULT_KINDS,
)
TAPES = wst.schedules(max_size=60)
SEEDS = st.integers(0, 2**16)


def check_dag_run(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    """The DAG property: every oracle holds, and the recorded choices replay the run."""
    workflow, faults = case
    wst.run_and_check(workflow, faults=faults, seed=seed, choices=tape)


@settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=DAG_CASES, tape=TAPES, seed=SEEDS)
@pytest.mark.spec("ORACLE-3", "DET-5")
def test_every_oracle_holds_on_random_runs(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    check_dag_run(case, tape, seed)
