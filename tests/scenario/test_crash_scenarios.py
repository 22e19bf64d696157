"""Crash faults and idempotent steps in scenario files: loading, running, writing back."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import wfsim
from wfsim import Fault
from wfsim.checks import check_all
from wfsim.scenario import dump_scenario, load_scenario, load_scenario_text, run_scenario

REPO = pathlib.Path(__file__).resolve().parents[2]
DEMO = REPO / "scenarios" / "crash_recovery_saga.wfsim.yaml"

TEXT = """\
scenario: crash faults load as Fault.crash
workflow:
  steps:
    charge: {duration: 1s, output: {charged: 1}, idempotent: false}
    ship: {after: charge, duration: 1s}
faults:
  - {step: charge, crash: {at: after, restart_after: 2s}}
  - {step: ship, crash: {}, probability: 0.5}
  - {step: "*", crash: {restart_after: 250ms}, attempts: [3]}
"""


@pytest.mark.spec("SCN-7", "SCN-4", "FAULT-10")
def test_crash_faults_and_idempotent_steps_load() -> None:
    scenario = load_scenario_text(TEXT)
    assert list(scenario.faults) == [
        Fault.crash("charge", at="after", restart_after="2s"),
        Fault.crash("ship", probability=0.5),
        Fault.crash("*", restart_after="250ms", attempts=[3]),
    ]
    assert isinstance(scenario.workflow, wfsim.Workflow)
    assert scenario.workflow["charge"].idempotent is False
    assert scenario.workflow["ship"].idempotent is True


@pytest.mark.spec("SCN-7", "FAULT-11", "FAULT-12", "FAULT-14")
def test_the_crash_recovery_scenario_passes_and_its_oracles_are_silent() -> None:
    scenario = load_scenario(DEMO)
    outcome = run_scenario(scenario)
    assert outcome.passed, outcome
    result = outcome.result
    assert result.repeated_effects == ("charge_payment",)
    assert result.effect_counts["charge_payment"] == 2
    assert result.effect_counts["reserve_inventory"] == 1
    assert isinstance(scenario.workflow, wfsim.Workflow)
    assert check_all(scenario.workflow, scenario.faults, result.trace) == []
    assert run_scenario(load_scenario(DEMO)).result.digest() == result.digest()


@pytest.mark.spec("SCN-13", "FAULT-10")
def test_crash_faults_and_idempotent_steps_are_written_back() -> None:
    scenario = load_scenario(DEMO)
    assert isinstance(scenario.workflow, wfsim.Workflow)
    result = run_scenario(scenario).result
    text = dump_scenario(scenario.workflow, faults=scenario.faults, seed=0)
    assert "crash: {at: after, restart_after: 2}" in text or "restart_after: 2" in text
    assert "idempotent: false" in text
    again = load_scenario_text(text)
    assert list(again.faults) == list(scenario.faults)
    assert run_scenario(again).result.digest() == result.digest()


@pytest.mark.spec("SCN-9", "FAULT-14")
def test_effects_and_repeated_effects_expectations_hold_and_fail_with_a_sentence() -> None:
    from wfsim.scenario._expect import check_expectations

    result = run_scenario(load_scenario(DEMO)).result
    holds = {
        "effects": {"charge_payment": 2, "reserve_inventory": 1, "refund_payment": 1},
        "repeated_effects": ["charge_payment"],
    }
    assert check_expectations(holds, result) == []
    wrong = {"effects": {"charge_payment": 1}, "repeated_effects": []}
    failures = check_expectations(wrong, result)
    assert [(f.key, f.expected, f.actual, f.message) for f in failures] == [
        (
            "effects.charge_payment",
            "1",
            "2",
            "expected the effect of charge_payment to run 1 time, but it ran 2 times",
        ),
        (
            "repeated_effects",
            "none",
            "charge_payment",
            "expected exactly these steps declared idempotent: false to run their effect more "
            "than once: none, but charge_payment did",
        ),
    ]
    assert any("crashed charge_payment#1" in line for line in failures[0].trace_lines)
    typo = only_failure(check_expectations({"effects": {"charge_paymnt": 2}}, result))
    assert "did you mean 'charge_payment'?" in typo.message


def only_failure(failures: list[Any]) -> Any:
    assert len(failures) == 1, failures
    return failures[0]


BODY_DEMOS = sorted((REPO / "scenarios").glob("durable_payment_*.wfsim.yaml"))


@pytest.mark.spec("FAULT-15", "IMP-11", "IMP-12")
@pytest.mark.parametrize("path", BODY_DEMOS, ids=lambda p: p.name)
def test_the_durable_body_scenarios_pass_and_their_oracles_are_silent(path: pathlib.Path) -> None:
    scenario = load_scenario(path)
    for seed in range(3):
        outcome = run_scenario(scenario, seed=seed)
        assert outcome.passed, outcome
        assert check_all(scenario.workflow, scenario.faults, outcome.result.trace) == []


@pytest.mark.spec("FAULT-15", "FAULT-14")
def test_the_unkeyed_charge_fails_the_effect_check_the_keyed_one_passes() -> None:
    def with_effect_check(name: str) -> Any:
        text = (REPO / "scenarios" / f"durable_payment_{name}.wfsim.yaml").read_text()
        text = text.replace("repeated_effects: [charge]", "repeated_effects: []")
        return run_scenario(load_scenario_text(text))

    assert with_effect_check("keyed").passed
    unkeyed = with_effect_check("unkeyed")
    assert not unkeyed.passed
    assert "charge" in str(unkeyed)
    assert unkeyed.result.effect_counts["charge"] == 2


BODY_TEXT = """\
scenario: body crash points load and write back
workflow:
  python: examples.durable_payment:checkout
input: {id: 1}
faults:
  - {crash: {body: "after:charge", restart_after: 2s}}
  - {crash: {body: "sleep*"}, occurrences: [2, 3]}
  - {crash: {body: "*"}, probability: 0.25}
  - {step: ship, crash: {at: after}}
"""


@pytest.mark.spec("FAULT-15", "SCN-7", "SCN-13")
def test_body_crash_points_load_and_round_trip() -> None:
    scenario = load_scenario_text(BODY_TEXT)
    assert list(scenario.faults) == [
        Fault.crash(body="after:charge", restart_after="2s"),
        Fault.crash(body="sleep*", occurrences=[2, 3]),
        Fault.crash(body="*", probability=0.25),
        Fault.crash("ship", at="after"),
    ]
    text = dump_scenario(
        scenario.workflow,
        faults=scenario.faults,
        input={"id": 1},
        python="examples.durable_payment:checkout",
    )
    again = load_scenario_text(text)
    assert again.faults == scenario.faults
