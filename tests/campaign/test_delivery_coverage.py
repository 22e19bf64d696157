"""Campaigns and delivery faults: coverage counts them as fired, minimisation keeps them."""

from __future__ import annotations

import pathlib

import pytest

import wfsim
from tests.core.test_delivery_faults import approval, relay
from wfsim.campaign import minimise
from wfsim.campaign._coverage import CoverageTally, CoverageUniverse, run_coverage
from wfsim.scenario import load_scenario, run_scenario

REPO = pathlib.Path(__file__).parent.parent.parent


@pytest.mark.spec("CAMP-21", "FAULT-20")
def test_a_delivery_fault_that_fired_is_not_listed_as_never_fired() -> None:
    fired = wfsim.Fault.drop(signal="approval")
    idle = wfsim.Fault.delay(signal="approval", by=1, occurrences=[2])
    signals = [wfsim.Signal("approval", at="10m", payload="yes")]
    result = wfsim.run(approval, signals=signals, faults=[fired, idle])
    coverage = run_coverage(result.trace)
    assert coverage["faults"] == [["approval", 1, "drop"]]
    tally = CoverageTally(CoverageUniverse.of(approval, [fired, idle]))
    tally.add(coverage)
    assert tally.coverage().never_by_kind().get("fault rules never fired") == ["delay on approval"]


@pytest.mark.spec("CAMP-21", "FAULT-20")
def test_event_delivery_faults_count_per_event_type() -> None:
    flow = relay()
    plan = [wfsim.Fault.duplicate(event="I*")]
    coverage = run_coverage(wfsim.run(flow, faults=plan).trace)
    assert coverage["faults"] == [["Item", 1, "duplicate"]]
    tally = CoverageTally(CoverageUniverse.of(flow, plan))
    tally.add(coverage)
    assert "fault rules never fired" not in tally.coverage().never_by_kind()


LOST_ORDER = """\
scenario: a duplicated event breaks the collected order
workflow: {python: "examples.llamaindex_flows:concurrent_flow_same"}
faults:
  - {event: StepTwoEvent, delay: 5s, occurrences: [9]}
  - {event: StepThreeEvent, duplicate: 1, probability: 1}
expect:
  result: [Query 2, Query 3, Query 1]
"""


@pytest.mark.spec("CAMP-33", "FAULT-20")
def test_minimise_keeps_a_delivery_fault_that_matters_and_writes_it_back(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the python: workflow imports examples from here
    path = tmp_path / "lost.wfsim.yaml"
    path.write_text(LOST_ORDER)
    out = tmp_path / "lost.min.wfsim.yaml"
    result = minimise(path, 0, out=out)
    assert "duplicate of event StepThreeEvent" in result.format()
    minimal = load_scenario(out)
    # The probability fault became the occurrences it hit (CAMP-33), as an attempt fault would.
    assert minimal.faults == (wfsim.Fault.duplicate(event="StepThreeEvent", occurrences=[1, 2]),)
    outcome = run_scenario(minimal)
    assert [f.key for f in outcome.failures] == ["result"]


@pytest.mark.spec("CAMP-21", "FAULT-15")
def test_a_body_point_crash_that_fired_is_not_listed_as_never_fired() -> None:
    from examples.durable_payment import checkout

    fired = wfsim.Fault.crash(body="after:*")
    idle = wfsim.Fault.crash(body="signal:never")
    result = wfsim.run(checkout, input={"id": 7}, faults=[fired, idle])
    coverage = run_coverage(result.trace)
    assert coverage["faults"] == [["after:*", None, "crash"]]  # the rule that fired
    tally = CoverageTally(CoverageUniverse.of(checkout, [fired, idle]))
    tally.add(coverage)
    never = tally.coverage().never_by_kind().get("fault rules never fired")
    assert never == ["crash on signal:never"]
