"""Acceptance (issue 11): the property suite draws body crashes, and finds and shrinks a
planted replay bug to a one-crash counterexample.

The engine's test-only switch ``_PLANTED_BUG = "replay_previous_result"`` makes a body
that replays its history after a crash answer a call with the previous replayed call's
result. The imperative property, with crash faults drawn for drawn bodies (FAULT-15)
and every oracle judging the run (FAULT-17: a replay returns exactly the recorded
outcome), must fail with the switch on and shrink to a plan with one crash; with the
switch off, the same search passes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import strategies as wst
from wfsim._core import _engine
from wfsim.scenario import load_scenario_text

CASES = wst.workflows_with_faults(
    wst.imperative_workflows(max_calls=5, signals=("go",)),
    min_faults=1,
    max_faults=3,
    kinds=("crash", "error", "latency"),
)

found: list[tuple[wfsim.ImperativeWorkflow, list[wfsim.Fault]]] = []


def _search() -> None:
    @settings(
        max_examples=400,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=CASES, seed=st.integers(0, 7))
    def prop(case: tuple[wfsim.ImperativeWorkflow, list[wfsim.Fault]], seed: int) -> None:
        workflow, faults = case
        found[:] = [case]
        wst.run_and_check(workflow, faults=faults, seed=seed, replay=False, target=False)

    prop()


@pytest.mark.slow
@pytest.mark.spec("FAULT-17", "FAULT-15", "STRAT-11")
def test_the_suite_finds_the_planted_replay_bug_and_shrinks_it_to_one_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_engine, "_PLANTED_BUG", "replay_previous_result")
    with pytest.raises(AssertionError) as info:
        _search()
    message = str(info.value)
    assert "FAULT-17" in message, message
    _, faults = found[-1]
    assert [f.kind for f in faults] == ["crash"], faults
    # ... printed as a scenario file (SCN-17), not pickled Python: it loads to that plan
    assert "Save the counterexample as counterexample.wfsim.yaml" in message, message
    text = message.split("# counterexample.wfsim.yaml\n", 1)[1].split("\nand replay it", 1)[0]
    scenario = load_scenario_text(text)
    assert list(scenario.faults) == faults
    assert scenario.workflow.fn == found[-1][0].fn
    monkeypatch.setattr(_engine, "_PLANTED_BUG", None)
    _search()  # the same search, the bug off: every oracle holds
