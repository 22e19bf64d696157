"""The wfsim_faults fixture builds crash faults; wfsim_sim runs them (PLUG-4, FAULT-10)."""

from __future__ import annotations

import pytest

import wfsim
from wfsim import Fault
from wfsim._pytest_plugin import FaultPlan, Simulation


def chain() -> wfsim.Workflow:
    wf = wfsim.Workflow("chain")
    a = wf.add_step("reserve", duration=1, output={"reserved": True})
    wf.add_step("charge", duration=1, after=[a], output={"charged": 1}, idempotent=False)
    return wf


@pytest.mark.spec("PLUG-4", "FAULT-10", "FAULT-14")
def test_wfsim_faults_crash_chains_and_wfsim_sim_runs_it(
    wfsim_faults: FaultPlan, wfsim_sim: Simulation
) -> None:
    same = wfsim_faults.crash("charge", at="after", restart_after="2s")
    assert same is wfsim_faults
    assert list(wfsim_faults) == [Fault.crash("charge", at="after", restart_after="2s")]
    result = wfsim_sim.run(chain())
    assert result.status == "completed"
    assert [e.kind for e in result.trace.of_kind("crashed", "recovered")] == [
        "crashed",
        "recovered",
    ]
    assert result.makespan == 5.0  # charge 1-2s, down 2-4s, charge again 4-5s
    assert result.effect_counts == {"reserve": 1, "charge": 2}
    assert result.repeated_effects == ("charge",)
