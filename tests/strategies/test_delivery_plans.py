"""delivery_fault_plans(): delivery faults aimed at a workflow's events or signals (STRAT-20)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import wfsim
from tests.core.test_delivery_faults import approval, relay
from wfsim import Fault, Signal
from wfsim.checks import check_all
from wfsim.strategies import DELIVERY_FAULT_KINDS, delivery_fault_plans

RELAY = relay()
SENT = [
    Signal("approval", at="10m", payload=1),
    Signal("approval", at="10m", payload=2),
    Signal("approval", at="40m", payload=3),
]


@pytest.mark.spec("STRAT-20", "STRAT-1", "STRAT-2")
def test_arguments_are_keyword_only_and_checked_when_the_strategy_is_made() -> None:
    params = inspect.signature(delivery_fault_plans).parameters
    assert [p for p, v in params.items() if v.kind is not v.KEYWORD_ONLY] == ["workflow"]
    assert DELIVERY_FAULT_KINDS == ("drop", "duplicate", "delay")
    dag = wfsim.Workflow("dag")
    dag.add_step("a")

    @wfsim.workflow
    async def silent(ctx: wfsim.WorkflowContext, _: Any) -> None:
        return None

    bad: list[tuple[dict[str, Any], str]] = [
        ({"workflow": dag}, "workflow must be a wfsim.EventWorkflow or a @wfsim.workflow body"),
        ({"workflow": silent}, "declares no signals and no signals= are given"),
        ({"workflow": RELAY, "max_faults": -1}, "max_faults must be at least 0, not -1"),
        ({"workflow": RELAY, "min_faults": 3, "max_faults": 1}, "min_faults=3 is greater"),
        ({"workflow": RELAY, "max_occurrence": 0}, "max_occurrence must be at least 1"),
        ({"workflow": RELAY, "kinds": ["dorp"]}, "did you mean 'drop'"),
    ]
    for kwargs, message in bad:
        with pytest.raises(InvalidArgument, match=message):
            delivery_fault_plans(**kwargs)
    plans = delivery_fault_plans(silent, signals=[Signal("go"), "stop"], min_faults=1)
    assert find(plans, lambda plan: True)[0].step == "go"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**16))
@pytest.mark.spec("STRAT-20", "FAULT-20", "ORACLE-20")
def test_drawn_plans_aim_at_the_workflow_and_every_oracle_holds(
    data: st.DataObject, seed: int
) -> None:
    plan = data.draw(delivery_fault_plans(RELAY, max_faults=4))
    for fault in plan:
        assert fault.delivery == "event"
        assert fault.step in ("StartEvent", "StopEvent", "Item", "Special", "*")
    result = wfsim.run(RELAY, seed=seed, faults=plan)
    assert check_all(RELAY, plan, result.trace) == []
    signal_plan = data.draw(delivery_fault_plans(approval, kinds=["duplicate", "delay"]))
    assert {f.delivery for f in signal_plan} <= {"signal"}
    result = wfsim.run(approval, input={"twice": True}, seed=seed, signals=SENT, faults=signal_plan)
    assert check_all(approval, signal_plan, result.trace) == []


@pytest.mark.spec("STRAT-20")
def test_plans_shrink_to_the_simplest_fault_that_matters() -> None:
    def breaks_the_relay(plan: list[Fault]) -> bool:
        return wfsim.run(RELAY, faults=plan).status != "completed"

    minimal = find(delivery_fault_plans(RELAY), breaks_the_relay)
    assert minimal == [Fault.drop(event="StartEvent")]

    def answer_arrives_late(plan: list[Fault]) -> bool:
        return wfsim.run(RELAY, faults=plan).makespan > 2

    minimal = find(delivery_fault_plans(RELAY, kinds=["delay"]), answer_arrives_late)
    assert len(minimal) == 1 and minimal[0].kind == "delay"
    assert minimal[0].step == "StartEvent" and minimal[0].extra_ns == 1_000_000
