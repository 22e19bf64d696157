"""One seed of one scenario: run it, judge it, and keep what a campaign reports.

This is the code every backend runs, in the campaign's process or in a worker:
the same function, so the same seed gives the same record wherever it runs.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from wfsim._core._faults import Fault
from wfsim._core._trace import ATTEMPT_ENDS, ATTEMPT_STARTS, Trace, reused_encoder
from wfsim._core._tracediff import step_outcomes
from wfsim.checks import check_all
from wfsim.errors import WfsimError
from wfsim.scenario import Scenario, ScenarioRun, run_scenario

from ._coverage import run_coverage
from ._explore import Exploration, explore_run
from ._random import RandomFaults, plan_for

__all__ = ["CampaignError", "RunRecord", "StoreRow", "file_hash", "run_seed"]

#: A run as a row of the store's ``runs`` table, without its campaign and ``reused_from``:
#: scenario_hash, seed, status, passed, failures (JSON), digest, makespan_ns, wall_ms,
#: stats (JSON).
StoreRow = tuple[str, int, str, int, str, str, int, float, str]


#: ``json.dumps(data, separators=(",", ":"))`` with one C encoder for every call (the run's
#: numbers hold no cycles, so threads share nothing through it).
_compact_json = reused_encoder(json.JSONEncoder(separators=(",", ":")), check_circular=False)


class CampaignError(WfsimError, ValueError):
    """A campaign cannot start or go on: bad options, an unusable store, a changed file."""


@attrs.frozen
class RunRecord:
    """What a campaign keeps of one run: its outcome, digest and the numbers it reports.

    ``failures`` holds ``(key, message)`` pairs: ``expect.KEY`` for an expectation
    of the scenario (``expect.makespan``, ``expect.attempts.charge``), a rule ID
    for an oracle's violation (``RETRY-3``), ``error.CLASS`` when the run raised.
    ``attempts`` and ``failed_attempts`` count, per step (and compensation) that
    started, its attempts and those that failed or timed out; ``failed_steps``
    are the steps that ended ``step_failed``; ``retry_delays_ns`` the virtual
    time between each failed attempt and the next, as ``expect.retry_delays``
    measures it. ``wall_ms`` is host time spent on the run and its checks.
    ``outcomes`` holds how each step (and compensation) ended, as ``wfsim diff``
    names it (:func:`wfsim._core._tracediff.step_outcomes`; empty in a store
    written before it was recorded).
    ``coverage`` is what the run reached (:func:`~._coverage.run_coverage`).
    ``swarm`` lists the fault kinds a swarm campaign turned on for the seed;
    ``random_faults`` counts the ``fault_injected`` events of its random faults.
    """

    scenario_hash: str
    seed: int
    status: str
    failures: tuple[tuple[str, str], ...]
    digest: str
    makespan_ns: int
    wall_ms: float
    attempts: Mapping[str, int] = attrs.field(factory=dict)
    failed_attempts: Mapping[str, int] = attrs.field(factory=dict)
    failed_steps: tuple[str, ...] = ()
    retry_delays_ns: tuple[int, ...] = ()
    outcomes: Mapping[str, str | None] = attrs.field(factory=dict)
    coverage: Mapping[str, Any] = attrs.field(factory=dict)
    swarm: tuple[str, ...] = ()
    random_faults: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failure_keys(self) -> tuple[str, ...]:
        """The distinct keys of :attr:`failures`, in the order they first appear."""
        return tuple(dict.fromkeys(key for key, _ in self.failures))

    def stats_json(self) -> str:
        """The per-step numbers as the store's ``stats`` column holds them."""
        return _compact_json(
            {
                "attempts": dict(self.attempts),
                "failed_attempts": dict(self.failed_attempts),
                "failed_steps": list(self.failed_steps),
                "retry_delays_ns": list(self.retry_delays_ns),
                "outcomes": dict(self.outcomes),
                "coverage": self.coverage,
                "swarm": list(self.swarm),
                "random_faults": self.random_faults,
            }
        )

    def failures_json(self) -> str:
        return json.dumps([{"key": k, "message": m} for k, m in self.failures])

    def store_row(self) -> StoreRow:
        """The record as the store's ``runs`` table holds it (campaign aside)."""
        return (
            self.scenario_hash,
            self.seed,
            self.status,
            int(self.passed),
            self.failures_json(),
            self.digest,
            self.makespan_ns,
            self.wall_ms,
            self.stats_json(),
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRecord:
        """Rebuild a record from a ``runs`` row of the store."""
        stats = json.loads(row["stats"])
        return cls(
            scenario_hash=row["scenario_hash"],
            seed=row["seed"],
            status=row["status"],
            failures=tuple((f["key"], f["message"]) for f in json.loads(row["failures"])),
            digest=row["digest"],
            makespan_ns=row["makespan_ns"],
            wall_ms=row["wall_ms"],
            attempts=stats["attempts"],
            failed_attempts=stats["failed_attempts"],
            failed_steps=tuple(stats["failed_steps"]),
            retry_delays_ns=tuple(stats["retry_delays_ns"]),
            outcomes=stats.get("outcomes", {}),
            coverage=stats.get("coverage", {}),
            swarm=tuple(stats.get("swarm", ())),
            random_faults=stats.get("random_faults", 0),
        )


def file_hash(path: str | pathlib.Path) -> str:
    """The sha256 of a scenario file's bytes: what makes two campaigns' runs comparable."""
    try:
        return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise CampaignError(
            f"{path}: cannot read the scenario file: {exc.strerror or exc}"
        ) from None


def _numbers(trace: Trace) -> dict[str, Any]:
    """Attempts, failed attempts, failed steps, retry delays and each step's outcome."""
    attempts: dict[str, int] = {}
    failed: dict[str, int] = {}
    failed_steps: list[str] = []
    delays: list[int] = []
    last_failure_end: dict[str, int] = {}
    for event in trace:
        step = event.step
        if step is None:
            continue
        if event.kind in ATTEMPT_STARTS:
            attempts[step] = attempts.get(step, 0) + 1
            ended = last_failure_end.pop(step, None)
            if ended is not None:
                delays.append(event.t_ns - ended)
        elif event.kind in ATTEMPT_ENDS:
            if ATTEMPT_ENDS[event.kind] != "succeeded":
                failed[step] = failed.get(step, 0) + 1
                last_failure_end[step] = event.t_ns
        elif event.kind == "step_failed":
            failed_steps.append(step)
    return {
        "attempts": attempts,
        "failed_attempts": failed,
        "failed_steps": tuple(failed_steps),
        "retry_delays_ns": tuple(delays),
        "outcomes": step_outcomes(trace),
    }


def run_seed(
    scenario: Scenario,
    scenario_hash: str,
    seed: int,
    random_faults: RandomFaults | None = None,
    exploration: Exploration | None = None,
) -> RunRecord:
    """Run ``scenario`` with ``seed``, check its expectations and every oracle (any style).

    An exception out of the run is a finding too, not a crash of the campaign:
    the record has status ``error`` and the failure ``error.CLASS``.
    ``random_faults`` adds the seed's random faults (:func:`~._random.plan_for`);
    ``exploration`` sets the schedule strategy, chaos phase and liveness bound
    (:mod:`._explore`, CAMP-40..42).
    """
    begin = time.perf_counter()
    plan = None if random_faults is None else plan_for(scenario, seed, random_faults)
    swarm = plan.kinds if plan is not None and random_faults and random_faults.swarm else ()
    try:
        outcome, failures = judge_run(
            scenario, seed, plan.faults if plan else (), exploration=exploration
        )
    except Exception as exc:  # a run that crashes on one seed is what campaigns look for
        return RunRecord(
            scenario_hash,
            seed,
            "error",
            ((f"error.{type(exc).__name__}", str(exc) or type(exc).__name__),),
            "",
            0,
            (time.perf_counter() - begin) * 1000,
            swarm=swarm,
        )
    result = outcome.result
    return RunRecord(
        scenario_hash,
        seed,
        result.status,
        tuple(failures),
        result.digest(),
        result.makespan_ns,
        (time.perf_counter() - begin) * 1000,
        **_numbers(result.trace),
        coverage=run_coverage(result.trace),
        swarm=swarm,
        random_faults=outcome.extra_fired,
    )


def judge_run(
    scenario: Scenario,
    seed: int,
    extra_faults: Sequence[Fault] = (),
    replay_options: str = "",
    exploration: Exploration | None = None,
) -> tuple[ScenarioRun, tuple[tuple[str, str], ...]]:
    """Run one seed with ``extra_faults`` and judge it as a campaign does: the failure keys.

    ``expect.KEY`` and ``invariants.KEY`` for the scenario's checks (``expect``
    only when no extra fault fired, CAMP-30), a rule ID for an oracle's violation
    (every style, ORACLE-6; the oracles see every fault, the extra ones included).
    With ``exploration`` the run follows its options (:func:`~._explore.explore_run`).
    """
    if exploration is not None and not exploration.plain:
        return explore_run(scenario, seed, exploration, extra_faults, replay_options)
    outcome = run_scenario(
        scenario, seed=seed, extra_faults=extra_faults, replay_options=replay_options
    )
    failures = [(f"{f.block}.{f.key}", f.message) for f in outcome.failures]
    faults = scenario.faults + outcome.extra_faults
    failures += [
        (v.rule, v.message) for v in check_all(scenario.workflow, faults, outcome.result.trace)
    ]
    return outcome, tuple(failures)
