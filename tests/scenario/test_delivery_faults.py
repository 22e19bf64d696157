"""Delivery faults in scenario files: the same Fault objects, runs and checks as from Python."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import wfsim
from tests.scenario.flows import approval, rag
from wfsim import Fault, Signal
from wfsim.scenario import (
    ScenarioError,
    dump_scenario,
    load_scenario,
    load_scenario_text,
    run_scenario,
)

REPO = pathlib.Path(__file__).parent.parent.parent


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # python: workflows import tests.scenario.flows from here


@pytest.mark.spec("SCN-7", "FAULT-20")
def test_event_delivery_faults_load_as_the_python_faults_and_run_alike() -> None:
    scenario = load_scenario_text(
        """\
scenario: rag under delivery faults
seed: 4
workflow: {python: "tests.scenario.flows:rag"}
faults:
  - {event: Answer, duplicate: true, occurrences: 1}
  - {event: "Q*", delay: {uniform: [1s, 3s]}, probability: 0.5}
  - {event: StopEvent, delay: 250ms}
  - {event: Answer, duplicate: 2, occurrences: [2, 3], probability: 0.25}
  - {event: Query, drop: true, occurrences: [9]}
  - {event: Answer, delay: {exponential: 2s}, occurrences: [2]}
"""
    )
    expected = (
        Fault.duplicate(event="Answer", occurrences=1),
        Fault.delay(event="Q*", uniform=(1, 3), probability=0.5),
        Fault.delay(event="StopEvent", by="250ms"),
        Fault.duplicate(event="Answer", copies=2, occurrences=[2, 3], probability=0.25),
        Fault.drop(event="Query", occurrences=9),
        Fault.delay(event="Answer", exponential=2, occurrences=2),
    )
    assert scenario.faults == expected
    outcome = run_scenario(scenario)
    direct = wfsim.run(rag, seed=4, faults=expected)
    assert outcome.result.digest() == direct.digest()
    assert any(e.kind == "fault_injected" for e in direct.trace)


@pytest.mark.spec("SCN-7", "SCN-11", "FAULT-21", "FAULT-23")
def test_signal_delivery_faults_load_and_run_alike() -> None:
    scenario = load_scenario_text(
        """\
scenario: approval under signal faults
seed: 2
workflow: {python: "tests.scenario.flows:approval"}
input: {id: r1}
signals:
  - {at: 1h, name: approval, payload: {approved: false}}
  - {at: 2h, name: approval, payload: {approved: true}}
faults:
  - {signal: approval, drop: true, occurrences: 1}
  - {signal: "appr*", delay: 30m}
expect:
  status: completed
  signals_received: [approval]
  # the first (a no) is dropped, the second (a yes) arrives 30m late; process takes 2s
  makespan: 9002s
  result: {processed: r1}
"""
    )
    assert scenario.faults == (
        Fault.drop(signal="approval", occurrences=1),
        Fault.delay(signal="appr*", by="30m"),
    )
    outcome = run_scenario(scenario)
    assert not outcome.failures
    signals = [
        Signal("approval", at="1h", payload={"approved": False}),
        Signal("approval", at="2h", payload={"approved": True}),
    ]
    direct = wfsim.run(
        approval, input={"id": "r1"}, seed=2, signals=signals, faults=scenario.faults
    )
    assert outcome.result.digest() == direct.digest()


@pytest.mark.spec("FAULT-24", "SCN-10")
def test_a_signal_fault_of_an_undeclaring_body_names_a_signal_the_file_sends() -> None:
    ok = """\
scenario: fan out
workflow: {python: "tests.scenario.flows:fan_out"}
signals:
  - {at: 1s, name: nudge}
faults:
  - {signal: nudge, duplicate: 3}
"""
    assert load_scenario_text(ok).faults == (Fault.duplicate(signal="nudge", copies=3),)
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(ok.replace("signal: nudge,", "signal: nudg,"))
    assert str(info.value) == (
        "<string>:6: faults[0].signal: duplicate fault on signal 'nudg': unknown signal 'nudg' "
        "for workflow 'fan_out': did you mean 'nudge'? (signals sent: nudge)"
    )


@pytest.mark.spec("FAULT-20", "FAULT-22", "FAULT-25")
def test_the_scenario_in_scenarios_passes_and_is_deterministic_from_the_cli() -> None:
    path = "scenarios/llamaindex_concurrent_flow_duplicate_event.wfsim.yaml"
    digests = set()
    for hashseed in ("0", "4242"):  # a fresh process each, with another PYTHONHASHSEED
        proc = subprocess.run(
            [sys.executable, "-m", "wfsim", "run", path, "--json"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": hashseed},
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert '"passed": true' in proc.stdout
        digests.add(proc.stdout.split('"trace_digest": "')[1].split('"')[0])
    assert digests == {run_scenario(load_scenario(path)).result.digest()}


@pytest.mark.spec("SCN-13", "FAULT-20", "FAULT-25")
def test_delivery_faults_are_written_back_and_run_to_the_same_digest() -> None:
    event_plan = [
        Fault.duplicate(event="Answer", copies=2, occurrences=[1]),
        Fault.delay(event="Q*", uniform=("250ms", "3s"), probability=0.5),
        Fault.delay(event="StopEvent", exponential=1),
        Fault.drop(event="Answer", occurrences=[3, 4], probability=0.75),
    ]
    text = dump_scenario(rag, python="tests.scenario.flows:rag", faults=event_plan, seed=7)
    assert "- {event: Answer, duplicate: 2, occurrences: [1]}" in text
    loaded = load_scenario_text(text)
    assert loaded.faults == tuple(event_plan)
    direct = wfsim.run(rag, seed=7, faults=event_plan)
    assert run_scenario(loaded).result.digest() == direct.digest()

    signals = [Signal("approval", at="1h", payload={"approved": True})]
    signal_plan = [Fault.delay(signal="approval", by="90m"), Fault.duplicate(signal="appr*")]
    text = dump_scenario(
        approval,
        python="tests.scenario.flows:approval",
        faults=signal_plan,
        signals=signals,
        input={"id": "r1"},
        seed=1,
    )
    loaded = load_scenario_text(text)
    assert loaded.faults == tuple(signal_plan)
    direct = wfsim.run(approval, seed=1, faults=signal_plan, signals=signals, input={"id": "r1"})
    assert run_scenario(loaded).result.digest() == direct.digest()
