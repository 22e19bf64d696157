"""dump_scenario: workflows, faults and schedules written back as scenario files."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import strategies as wst
from wfsim.errors import ScenarioError
from wfsim.scenario import dump_scenario, load_scenario, load_scenario_text, run_scenario

RANDOM_CASES = wst.workflows_with_faults(
    st.one_of(
        wst.workflows(max_steps=6, compensations=True, max_concurrency=True),
        wst.workflows(max_steps=5, retries=wst.retry_policies(jitter=True, profiles=True)),
    ),
    max_faults=4,
    kinds=wst.FAULT_KINDS,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(case=RANDOM_CASES, tape=wst.schedules(max_size=30), seed=st.integers(0, 1000))
@pytest.mark.spec("SCN-13", "SCN-8")
def test_a_dumped_scenario_runs_to_the_same_digest(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    workflow, faults = case
    result = wfsim.run(workflow, faults=faults, seed=seed, choices=tape)
    text = dump_scenario(workflow, faults=faults, seed=seed, choices=result.choices)
    outcome = run_scenario(load_scenario_text(text))
    assert outcome.result.digest() == result.digest(), text


def purchase() -> wfsim.Workflow:
    wf = wfsim.Workflow("purchase", max_concurrency=3, saga=wfsim.SagaPolicy(on_error="continue"))
    wf.add_step("reserve", duration=1, compensate=wfsim.compensation("release", duration="200ms"))
    wf.add_step(
        "charge",
        after=["reserve"],
        duration="2s",
        output={"paid": True, "amount": 12.5},
        retry=wfsim.RetryPolicy(max_attempts=3, initial_interval=1, jitter="full"),
        timeout="10s",
        compensate="refund",
    )
    wf.add_parallel(
        "checks",
        [
            wfsim.task("fraud", duration=1, output={"score": {"a": 1}}),
            wfsim.task("stock", retry=wfsim.RetryPolicy(max_attempts=2, delays=[0.5, 1])),
        ],
        after=["charge"],
        merge="deep",
        on_conflict="raise",
        allow_partial_success=True,
        timeout=5,
    )
    wf.add_step("notify", after=["checks"], trigger_rule="all_done", duration="1ms")
    return wf


FAULTS = [
    wfsim.Fault.error("charge", attempts=[1], error=ConnectionError, at="end"),
    wfsim.Fault.error("checks/stock", error="StockServiceDown", retryable=False),
    wfsim.Fault.latency("checks/*", uniform=("1ms", "2s"), probability=0.5),
    wfsim.Fault.latency("reserve", exponential="300ms"),
    wfsim.Fault.hang("charge", attempts=[2]),
    wfsim.Fault.outage("notify", start=0, end="1h", error="Maintenance", message="down"),
]


@pytest.mark.spec("SCN-13")
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_groups_trigger_rules_sagas_and_every_fault_kind_round_trip(seed: int) -> None:
    result = wfsim.run(purchase(), faults=FAULTS, seed=seed)
    text = dump_scenario(purchase(), faults=FAULTS, seed=seed, choices=result.choices)
    assert run_scenario(load_scenario_text(text)).result.digest() == result.digest()
    doc = yaml.safe_load(text)
    assert doc["errors"] == ["Maintenance", "StockServiceDown"]
    assert doc["workflow"]["steps"]["notify"] == {
        "after": ["checks"],
        "trigger_rule": "all_done",
        "duration": "1ms",
    }
    assert doc["workflow"]["saga"] == {"on_error": "continue"}
    tape = list(result.choices)
    while tape and tape[-1] == 0:
        tape.pop()
    assert doc["settings"] == {"choices": tape}


@pytest.mark.spec("SCN-13")
def test_the_text_reads_like_a_hand_written_file() -> None:
    wf = wfsim.Workflow("pay")
    wf.add_step(
        "charge",
        duration="2s",
        retry=wfsim.RetryPolicy(max_attempts=3, initial_interval=1),
        compensate="refund",
    )
    text = dump_scenario(
        wf,
        faults=[wfsim.Fault.error("charge", attempts=[1, 2], error=ConnectionError)],
        seed=7,
        expect={"status": "completed", "attempts": {"charge": 3}},
        title="charge retries twice",
    )
    assert text == (
        "scenario: charge retries twice\n"
        "seed: 7\n"
        "workflow:\n"
        "  name: pay\n"
        "  steps:\n"
        "    charge:\n"
        "      duration: 2s\n"
        "      retry: {max_attempts: 3, initial_interval: 1s}\n"
        "      compensate: refund\n"
        "faults:\n"
        "- {step: charge, error: ConnectionError, attempts: [1, 2]}\n"
        "expect:\n"
        "  status: completed\n"
        "  attempts: {charge: 3}\n"
    )
    assert run_scenario(load_scenario_text(text)).passed


async def _code(ctx: wfsim.StepContext) -> None:
    return None


def coded() -> wfsim.Workflow:
    wf = wfsim.Workflow("coded")
    wf.add_step("work", fn=_code)
    return wf


@pytest.mark.spec("SCN-13")
def test_what_a_file_cannot_hold_is_an_error_naming_it() -> None:
    with pytest.raises(ScenarioError, match=r"step 'work' runs code .* python="):
        dump_scenario(coded())
    faults = [wfsim.Fault.error("work", attempts=[1])]
    text = dump_scenario(coded(), faults=faults, python="tests.scenario.test_dump:coded")
    assert "workflow: {python: 'tests.scenario.test_dump:coded'}\n" in text
    expected = wfsim.run(coded(), faults=faults).digest()
    assert run_scenario(load_scenario_text(text)).result.digest() == expected

    class LocalError(Exception):
        pass

    plain = wfsim.Workflow("plain")
    plain.add_step("work")
    with pytest.raises(
        ScenarioError, match=r"LocalError of the fault on 'work' cannot be imported"
    ):
        dump_scenario(plain, faults=[wfsim.Fault.error("work", error=LocalError)])
    with pytest.raises(ScenarioError, match=r"input holds"):
        dump_scenario(plain, input={"when": object()})


@pytest.mark.spec("SCN-8")
def test_settings_choices_decide_whatever_the_seed() -> None:
    text = (
        "scenario: two at once\n"
        "workflow:\n"
        "  steps: {a: {duration: 1s}, b: {duration: 1s}}\n"
        "settings: {choices: [1]}\n"
    )
    scenario = load_scenario_text(text)
    assert scenario.choices == (1,)
    for seed in (0, 1, 2):
        trace = run_scenario(scenario, seed=seed).result.trace
        started = [e.step for e in trace if e.kind == "attempt_started"]
        assert started == ["b", "a"]


@pytest.mark.spec("SCN-13")
def test_wfsim_replay_of_a_dumped_file_gives_the_runs_digest(tmp_path: pathlib.Path) -> None:
    result = wfsim.run(purchase(), faults=FAULTS, seed=5)
    path = tmp_path / "purchase.wfsim.yaml"
    path.write_text(dump_scenario(purchase(), faults=FAULTS, seed=5, choices=result.choices))
    proc = subprocess.run(
        [sys.executable, "-m", "wfsim", "replay", str(path), "--seed", "5", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["trace_digest"] == result.digest()
    assert load_scenario(path).seed == 5
