"""Simulation campaigns: many seeds of scenario files, in this process or in worker processes.

A campaign runs seeds ``S .. S+N-1`` of each scenario file, checks each run's
expectations and every oracle (any workflow style), records every run in a SQLite
store, and sums them up: failures by expectation or rule, the virtual makespan
distribution, attempts and retry delays, the failing seeds with their replay lines
(``specs/campaign.md``)::

    from wfsim.campaign import CampaignStore, run_campaign

    summary = run_campaign(["scenarios/orders.wfsim.yaml"], seeds=1000, workers=2,
                           store=".wfsim/campaigns.sqlite")
    print(summary.format())
    for scenario in summary.scenarios:
        for run in scenario.failing:
            print(scenario.replay_command(run.seed), run.failure_keys)

    with CampaignStore(".wfsim/campaigns.sqlite", create=False) as store:
        print(store.diff(1, summary.campaign_id).format())

The same seed gives the same record, digest included, on every backend.
``fault_rate=P`` (and ``swarm=True``) add random faults to every seed, drawn as an
explicit fault list (:func:`plan_faults`); :func:`minimise` shrinks a failing
seed's faults and writes the minimal reproduction as a scenario file.
``exploration=Exploration.make("pct", chaos_phase="30s", liveness_bound="1m")``
picks a schedule strategy (PCT, delay bounding), a chaos phase and a liveness
bound; :func:`explore_exhaustive` runs every interleaving (and fault placement)
of a small scenario (``specs/campaign.md`` CAMP-40..44).
"""

from wfsim.campaign._explore import (
    ExhaustiveReport,
    Exploration,
    ExploredRun,
    explore_exhaustive,
    explore_run,
)
from wfsim.campaign._minimise import Minimised, minimise
from wfsim.campaign._random import FaultPlan, RandomFaults, plan_faults
from wfsim.campaign._record import CampaignError, RunRecord, run_seed
from wfsim.campaign._run import run_campaign
from wfsim.campaign._store import (
    CampaignDiff,
    CampaignInfo,
    CampaignStore,
    ScenarioRef,
    SeedChange,
)
from wfsim.campaign._summary import Bucket, CampaignSummary, Percentiles, ScenarioSummary

__all__ = [
    "Bucket",
    "CampaignDiff",
    "CampaignError",
    "CampaignInfo",
    "CampaignStore",
    "CampaignSummary",
    "ExhaustiveReport",
    "Exploration",
    "ExploredRun",
    "FaultPlan",
    "Minimised",
    "Percentiles",
    "RandomFaults",
    "RunRecord",
    "ScenarioRef",
    "ScenarioSummary",
    "SeedChange",
    "explore_exhaustive",
    "explore_run",
    "minimise",
    "plan_faults",
    "run_campaign",
    "run_seed",
]
