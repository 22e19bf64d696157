"""Types of the pytest plugin's fixtures, for annotations in your tests::

    from wfsim.testing import FaultPlan, Simulation, TraceAssertions

    def test_checkout(wfsim_sim: Simulation, wfsim_faults: FaultPlan,
                      wfsim_trace: TraceAssertions) -> None: ...

Importing this module imports pytest.
"""

from wfsim._pytest_plugin import FaultPlan, Simulation, TraceAssertions

__all__ = ["FaultPlan", "Simulation", "TraceAssertions"]
