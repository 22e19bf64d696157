"""Campaign coverage counts delivery faults as fired (CAMP-21, FAULT-20)."""

from __future__ import annotations

import pytest

import wfsim
from tests.core.test_delivery_faults import approval, relay
from wfsim.campaign._coverage import CoverageTally, CoverageUniverse, run_coverage


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
