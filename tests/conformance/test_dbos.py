"""wfsim's crash and replay of a body against real DBOS (specs/faults.md FAULT-18).

Skipped when the ``dbos`` extra is absent (CI installs it on Python 3.11), and where
DBOS 3.4 cannot start: Python 3.12+ with SQLite older than 3.42 (``sqlite_problem``).
Each crash point kills a real DBOS process inside a step (SQLite system database) and
relaunches it.
"""

from __future__ import annotations

import pytest

pytest.importorskip("dbos")

from wfsim.dbos import CRASH_POINTS, dbos_effects, sqlite_problem, wfsim_effects


@pytest.mark.slow
@pytest.mark.skipif(sqlite_problem() is not None, reason=sqlite_problem() or "")
@pytest.mark.spec("FAULT-18", "FAULT-15", "IMP-11")
@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_dbos_and_wfsim_run_the_same_effects_at_every_crash_point(point: str) -> None:
    real, real_result = dbos_effects(point)
    simulated, simulated_result = wfsim_effects(point)
    assert real == simulated
    assert real_result == simulated_result == ["reserve-7", "charge-7", "ship-7"]
    assert real["charge"] == (2 if point == "charge:after" else 1)
