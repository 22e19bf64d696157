"""A workflow with no step code runs without trio (``Engine.run_alone``): the same run.

``wfsim.run`` of a code-less DAG never starts trio; ``wfsim.arun`` inside trio runs the
same workflow through the trio loop. Both must make the same decisions and write the
same trace (DET-1).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, assume, given, settings

import wfsim
from wfsim._core._run import RUN_STATUSES
from wfsim._core._workflow import Workflow
from wfsim.scenario import load_scenario, run_scenario
from wfsim.strategies import fault_plans, schedules, workflows

ROOT = Path(__file__).resolve().parents[2]


def _in_trio(workflow: wfsim.Workflow, **kwargs: Any) -> wfsim.RunResult:
    result: wfsim.RunResult = trio.run(functools.partial(wfsim.arun, workflow, **kwargs))
    return result


def _same_run(workflow: wfsim.Workflow, **kwargs: Any) -> wfsim.RunResult:
    assert not workflow.runs_code
    alone = wfsim.run(workflow, **kwargs)
    assert alone.trace.to_jsonl() == _in_trio(workflow, **kwargs).trace.to_jsonl()
    return alone


@pytest.mark.spec("DET-1")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workflows(
        max_steps=10,
        max_concurrency=True,
        compensations=True,
        trigger_rules=True,
        parallel_groups=True,
    ).flatmap(
        lambda wf: fault_plans(
            wf, max_faults=4, kinds=("error", "latency", "hang", "outage", "crash")
        ).map(lambda faults: (wf, faults))
    ),
    schedules(max_size=40),
)
def test_a_code_less_run_is_the_same_without_trio(case: Any, tape: wfsim.Tape) -> None:
    workflow, faults = case
    assume(not workflow.runs_code)
    result = _same_run(workflow, faults=faults, choices=list(tape.values), time_limit="1d")
    assert result.status in RUN_STATUSES


@pytest.mark.spec("DET-1")
def test_livelock_and_time_limit_end_a_run_without_trio_as_inside_trio() -> None:
    spin = wfsim.Workflow("spin")
    spin.add_step("a", retry=wfsim.RetryPolicy(max_attempts=0, initial_interval=0))
    spin.add_step("b", after=["a"])
    assert _same_run(spin, faults=[wfsim.Fault.error("a")], time_limit=10).status == "timed_out"

    hung = wfsim.Workflow("hung", max_concurrency=1)
    hung.add_step("a", duration=5, timeout=2, retry=wfsim.RetryPolicy(max_attempts=3))
    hung.add_step("b", duration=1)
    result = _same_run(hung, faults=[wfsim.Fault.hang("a")], time_limit=3)
    assert result.status == "timed_out"


def _codeless_scenarios() -> list[str]:
    pinned = json.loads((ROOT / "tests/regression/digests.json").read_text(encoding="utf-8"))
    names = []
    for name in sorted(pinned):
        workflow = load_scenario(ROOT / "scenarios" / name).workflow
        if isinstance(workflow, Workflow) and not workflow.runs_code:
            names.append(name)
    return names


@pytest.mark.spec("DET-1")
def test_shipped_code_less_scenarios_keep_their_digests_inside_trio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # tests/regression pins them as wfsim.run gives them (without trio); inside trio too.
    pinned = json.loads((ROOT / "tests/regression/digests.json").read_text(encoding="utf-8"))
    names = _codeless_scenarios()
    assert len(names) >= 10
    monkeypatch.setattr(Workflow, "runs_code", property(lambda self: True))
    for name in names:
        scenario = load_scenario(ROOT / "scenarios" / name)
        digests = [run_scenario(scenario, seed=seed).result.digest() for seed in range(8)]
        assert digests == pinned[name], name


@pytest.mark.spec("DET-1")
def test_a_step_with_code_added_later_sends_the_next_run_into_trio() -> None:
    async def work(ctx: wfsim.StepContext) -> str:
        return "done"

    workflow = wfsim.Workflow("grows")
    workflow.add_step("plain", duration=1)
    assert not workflow.runs_code  # read (and remembered) once ...
    workflow.add_parallel("fan", [wfsim.task("t", fn=work)])
    assert workflow.runs_code  # ... and worked out again when the workflow changes
    workflow.add_step("more", after=["plain"])
    assert workflow.runs_code
    assert wfsim.run(workflow, seed=1).status == "completed"
