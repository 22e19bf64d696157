"""fault_plans(kinds=(..., "crash")): crash faults for DAG workflows (STRAT-6, FAULT-10..13)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument, NoSuchExample

import wfsim
from wfsim import strategies as wst

WITH_CRASH = (*wst.FAULT_KINDS, "crash")


def chain() -> wfsim.Workflow:
    wf = wfsim.Workflow("chain")
    wf.add_step("a", duration="1s", retry=wfsim.RetryPolicy(max_attempts=2))
    wf.add_step("b", after=["a"], duration="1s")
    return wf


@pytest.mark.spec("STRAT-6", "STRAT-2")
def test_crash_is_an_opt_in_kind_for_dags_only() -> None:
    assert "crash" not in wst.FAULT_KINDS  # suites passing FAULT_KINDS keep their plans
    with pytest.raises(InvalidArgument, match=r"unknown kind 'crsh': did you mean 'crash'"):
        wst.fault_plans(chain(), kinds=["crsh"]).example()
    events = find(wst.event_workflows(), lambda wf: True)
    with pytest.raises(InvalidArgument, match="a crash a DAG workflow"):
        wst.fault_plans(events, kinds=["crash"], min_faults=1).example()
    # Among other kinds, an event workflow's plans simply leave crashes out.
    with pytest.raises(NoSuchExample):
        find(
            wst.fault_plans(events, kinds=WITH_CRASH, max_faults=5),
            lambda plan: any(f.kind == "crash" for f in plan),
            settings=settings(max_examples=200, database=None),
        )


@pytest.mark.spec("STRAT-6", "FAULT-10")
@settings(max_examples=60, deadline=None)
@given(plan=wst.fault_plans(chain(), kinds=["crash"], min_faults=1, max_faults=3))
def test_crash_faults_hit_listed_attempts_and_the_run_ends(plan: list[wfsim.Fault]) -> None:
    for fault in plan:
        assert fault.kind == "crash" and fault.at in ("before", "after")
        assert fault.attempts and all(1 <= a <= 3 for a in fault.attempts)  # one past the last
        assert 0 <= fault.restart_ns <= 5_000_000_000
    result = wfsim.run(chain(), faults=plan)
    assert result.status in ("completed", "failed")


@pytest.mark.spec("STRAT-6")
def test_a_crash_plan_shrinks_to_one_crash_before_attempt_1_of_the_first_step() -> None:
    plan = find(
        wst.fault_plans(chain(), kinds=WITH_CRASH),
        lambda plan: any(f.kind == "crash" for f in plan),
        # One fixed search, the same on every machine: from a random start Hypothesis
        # often keeps the faults drawn before the crash (about 2 searches in 3 end
        # with 2-4 faults), which made this test fail at random in CI.
        settings=settings(max_examples=100, database=None, deadline=None),
        random=random.Random(0),
    )
    assert plan == [wfsim.Fault.crash("a", at="before", attempts=[1])]


#: Random DAGs of every shape with every kind of fault, crashes included.
CRASH_CASES = wst.workflows_with_faults(
    st.one_of(
        wst.workflows(max_steps=8),
        wst.workflows(max_steps=6, compensations=True, max_concurrency=True),
        wst.workflows(max_steps=5, code_steps=True, timeouts=True),
        wst.workflows(max_steps=6, trigger_rules=True, parallel_groups=True, compensations=True),
    ),
    min_faults=1,
    max_faults=4,
    kinds=WITH_CRASH,
)


@pytest.mark.spec("STRAT-6", "FAULT-11", "FAULT-12")
@settings(
    max_examples=150,
    deadline=None,
    database=None,  # no Pareto front of target() scores: see tests/properties/test_oracles_hold.py
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=CRASH_CASES, tape=wst.schedules(max_size=40), seed=st.integers(0, 2**16))
def test_every_oracle_holds_on_random_dags_with_crashes(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    workflow, faults = case
    wst.run_and_check(workflow, faults=faults, seed=seed, choices=tape)
