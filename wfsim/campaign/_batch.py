"""A batch of seeds: what every backend runs, and what it hands back to the campaign.

A worker (or the campaign's own process) runs the seeds, judges each run, turns
the records into the store's rows and adds them up in a :class:`~._summary.Tally`
of its own. The campaign's process only merges that tally and writes the rows: it
never sees a record of a passing run, so the work per run stays in the workers.
A summary does not depend on how the runs were split into batches (CAMP-4).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from wfsim.scenario import Scenario, load_scenario

from ._coverage import CoverageUniverse
from ._explore import Exploration
from ._random import RandomFaults
from ._record import CampaignError, StoreRow, file_hash, run_seed
from ._summary import Tally

__all__ = ["Batch", "loaded", "run_batch"]


@attrs.frozen
class Batch:
    """The runs of one batch of seeds of one scenario.

    ``rows`` hold each run as the store writes it (:meth:`~._record.RunRecord.store_row`),
    in seed order; ``tally`` adds them up (its ``failing`` keeps the failing runs'
    records); ``wall_ms`` is the host time they took.
    """

    scenario_hash: str
    rows: tuple[StoreRow, ...]
    tally: Tally
    wall_ms: float

    @property
    def runs(self) -> int:
        return self.tally.runs

    @property
    def failed(self) -> int:
        return self.tally.runs - self.tally.passed


#: Scenarios (and what they declare) a process has loaded, by (path, file hash).
_LOADED: dict[tuple[str, str], tuple[Scenario, CoverageUniverse]] = {}


def loaded(path: str, scenario_hash: str) -> tuple[Scenario, CoverageUniverse]:
    """The scenario at ``path`` and what it declares, loaded once per process.

    Raises :class:`CampaignError` if the file's text no longer has ``scenario_hash``
    (a worker started after it changed) and what :func:`load_scenario` raises.
    Worker processes forked after the campaign loaded its files find them here.
    """
    key = (path, scenario_hash)
    found = _LOADED.get(key)
    if found is None:
        if file_hash(path) != scenario_hash:
            raise CampaignError(
                f"{path}: the scenario file changed while the campaign ran; "
                "start the campaign again"
            )
        scenario = load_scenario(path)
        found = _LOADED[key] = (scenario, CoverageUniverse.of(scenario.workflow, scenario.faults))
    return found


def run_batch(
    path: str,
    scenario_hash: str,
    seeds: Sequence[int],
    random_faults: RandomFaults | None = None,
    exploration: Exploration | None = None,
    *,
    max_failures: int | None = None,
) -> Batch:
    """Run ``seeds`` of the scenario at ``path``: what a worker process is handed.

    The worker loads the file itself (once) and refuses it if its text is no
    longer the text the campaign started with. ``random_faults`` adds each
    seed's random faults (CAMP-30); ``exploration`` the exploration options
    (CAMP-40..42). With ``max_failures`` the batch ends at the run that makes that
    many failures (the seeds after it are not run).
    """
    scenario, universe = loaded(path, scenario_hash)
    tally = Tally(path, scenario.title, scenario_hash, universe=universe)
    rows: list[StoreRow] = []
    wall_ms = 0.0
    for seed in seeds:
        record = run_seed(scenario, scenario_hash, seed, random_faults, exploration)
        tally.add(record)
        rows.append(record.store_row())
        wall_ms += record.wall_ms
        if max_failures is not None and tally.runs - tally.passed >= max_failures:
            break
    return Batch(scenario_hash, tuple(rows), tally, wall_ms)
