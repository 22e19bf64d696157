"""Exploration that finds rare bugs: schedule strategies, chaos then quiet, exhaustive search.

* :class:`Exploration` holds a campaign's exploration options: the schedule
  strategy (``random``, ``pct``, ``delay-bounded``: CAMP-40), a chaos phase
  after which no fault applies (CAMP-41) and a liveness bound within which every
  run must then finish (CAMP-42). :func:`explore_run` runs one seed with them.
* :func:`explore_exhaustive` enumerates every interleaving of a small scenario
  (a depth-first search over its schedule choices, each run driven by a tape)
  and every placement of up to ``max_faults`` injected errors on step attempts,
  and counts the distinct outcomes (CAMP-43).

Every run here is deterministic: a seed (or a tape) and the options fix it.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from wfsim._core._choice import ChoiceSource, SeededChoices
from wfsim._core._faults import Fault
from wfsim._core._schedules import (
    SCHEDULES,
    CountingChoices,
    DelayBoundedChoices,
    PCTChoices,
)
from wfsim._core._time import Duration, format_seconds, to_ns
from wfsim._core._trace import ATTEMPT_STARTS
from wfsim.checks import check_all
from wfsim.errors import did_you_mean
from wfsim.scenario import Scenario, ScenarioRun, load_scenario, run_scenario
from wfsim.scenario._runner import until

__all__ = [
    "DEFAULT_MAX_RUNS",
    "EXPLORED_ERROR",
    "LIVENESS_RULE",
    "SCHEDULES",
    "ExhaustiveReport",
    "ExploredRun",
    "Exploration",
    "explore_exhaustive",
    "explore_run",
]

#: The failure key of a run that did not finish within the liveness bound.
LIVENESS_RULE = "CAMP-42"
#: The error an exhaustive search injects at the start of the attempts it picks.
EXPLORED_ERROR = "ExploredFault"
#: Runs an exhaustive search makes at most unless told otherwise.
DEFAULT_MAX_RUNS = 10_000


def _error(message: str) -> Exception:
    from ._record import CampaignError  # _record imports this module

    return CampaignError(message)


def positive_ns(value: Duration | None, what: str) -> int | None:
    """``value`` in nanoseconds (``None`` stays ``None``); a CampaignError unless > 0."""
    if value is None:
        return None
    try:
        ns = to_ns(value, what=what)
    except ValueError as exc:
        raise _error(str(exc)) from None
    if ns <= 0:
        raise _error(f"{what} must be more than 0s, not {value!r}")
    return ns


def _count(value: int, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise _error(f"{what} must be an integer >= {least}, not {value!r}")
    return value


@attrs.frozen
class Exploration:
    """A campaign's exploration options (all off by default).

    ``schedule``: ``"random"`` (the seed's PRNG), ``"pct"`` (``pct_depth``
    priority levels) or ``"delay-bounded"`` (at most ``delay_bound`` delays).
    ``chaos_phase``: faults apply only before this virtual time.
    ``liveness_bound``: every run must reach a final status within this much
    virtual time after the chaos phase (from 0 without one), else it fails
    :data:`LIVENESS_RULE`. Build with :meth:`make` to accept durations like ``"30s"``.
    """

    schedule: str = "random"
    pct_depth: int = 3
    delay_bound: int = 1
    chaos_phase_ns: int | None = None
    liveness_bound_ns: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise _error(
                f"unknown schedule {self.schedule!r}{did_you_mean(self.schedule, SCHEDULES)} "
                f"(schedules: {', '.join(SCHEDULES)})"
            )
        _count(self.pct_depth, "PCT depth", 1)
        _count(self.delay_bound, "delay bound", 0)

    @classmethod
    def make(
        cls,
        schedule: str = "random",
        *,
        pct_depth: int = 3,
        delay_bound: int = 1,
        chaos_phase: Duration | None = None,
        liveness_bound: Duration | None = None,
    ) -> Exploration:
        return cls(
            schedule,
            pct_depth,
            delay_bound,
            positive_ns(chaos_phase, "chaos phase"),
            positive_ns(liveness_bound, "liveness bound"),
        )

    @property
    def plain(self) -> bool:
        """Whether these options change nothing (a plain seeded-random campaign)."""
        return self == Exploration()

    @property
    def options(self) -> str:
        """The command-line options that give these settings, for replay lines."""
        out = ""
        if self.schedule == "pct":
            out += f" --schedule pct --pct-depth {self.pct_depth}"
        elif self.schedule == "delay-bounded":
            out += f" --schedule delay-bounded --delay-bound {self.delay_bound}"
        if self.chaos_phase_ns is not None:
            out += f" --chaos-phase {format_seconds(self.chaos_phase_ns)}"
        if self.liveness_bound_ns is not None:
            out += f" --liveness-bound {format_seconds(self.liveness_bound_ns)}"
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schedule": self.schedule}
        if self.schedule == "pct":
            out["pct_depth"] = self.pct_depth
        if self.schedule == "delay-bounded":
            out["delay_bound"] = self.delay_bound
        if self.chaos_phase_ns is not None:
            out["chaos_phase"] = self.chaos_phase_ns / 1e9
        if self.liveness_bound_ns is not None:
            out["liveness_bound"] = self.liveness_bound_ns / 1e9
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Exploration:
        """The options :meth:`to_json` wrote (a campaign store's ``options.exploration``)."""

        def ns(key: str) -> int | None:
            value = data.get(key)
            return None if value is None else round(float(value) * 1e9)

        return cls(
            str(data.get("schedule", "random")),
            int(data.get("pct_depth", 3)),
            int(data.get("delay_bound", 1)),
            ns("chaos_phase"),
            ns("liveness_bound"),
        )

    @property
    def deadline_ns(self) -> int | None:
        """The virtual time by which a run must have finished, or None."""
        if self.liveness_bound_ns is None:
            return None
        return (self.chaos_phase_ns or 0) + self.liveness_bound_ns

    def source(self, seed: int, horizon: int) -> ChoiceSource | None:
        """The choice source for ``seed`` (None: the plain seeded one)."""
        if self.schedule == "pct":
            return PCTChoices(seed, depth=self.pct_depth, horizon=horizon)
        if self.schedule == "delay-bounded":
            return DelayBoundedChoices(seed, bound=self.delay_bound, horizon=horizon)
        return None


#: Horizons measured in this process, by scenario identity (the scenario kept alive).
_HORIZONS: dict[tuple[int, int | None, int | None], tuple[Scenario, int]] = {}


def horizon(scenario: Scenario, exploration: Exploration) -> int:
    """How many schedule decisions the canonical run of ``scenario`` makes (at least 1).

    PCT spreads its change points and delay bounding its delays over them. The
    canonical run (every schedule choice 0, other streams from the file's seed)
    is the same in every process, so every backend gets the same horizon.
    """
    key = (id(scenario), exploration.chaos_phase_ns, _limit(scenario, exploration))
    known = _HORIZONS.get(key)
    if known is not None and known[0] is scenario:
        return known[1]
    counter = CountingChoices(scenario.seed)
    # The run itself is judged per seed; here only its length matters.
    with contextlib.suppress(Exception):
        run_scenario(
            scenario,
            choices=counter,
            faults_until_ns=exploration.chaos_phase_ns,
            time_limit_ns=_limit(scenario, exploration),
        )
    _HORIZONS[key] = (scenario, max(1, counter.decisions))
    return max(1, counter.decisions)


def _limit(scenario: Scenario, exploration: Exploration) -> int | None:
    deadline = exploration.deadline_ns
    if deadline is None or deadline >= scenario.time_limit_ns:
        return None
    return deadline


def explore_run(
    scenario: Scenario,
    seed: int,
    exploration: Exploration,
    extra_faults: Sequence[Fault] = (),
    replay_options: str = "",
) -> tuple[ScenarioRun, tuple[tuple[str, str], ...]]:
    """Run ``seed`` of ``scenario`` under ``exploration`` and judge it as a campaign does.

    Returns the run and its failure keys: ``expect.KEY``/``invariants.KEY``, the
    oracles' rule IDs (every style; they see the faults as gated by the chaos
    phase) and :data:`LIVENESS_RULE` when the run had not finished by the
    liveness deadline.
    """
    choices = None
    if exploration.schedule != "random":
        choices = exploration.source(seed, horizon(scenario, exploration))
    limit = _limit(scenario, exploration)
    outcome = run_scenario(
        scenario,
        seed=seed,
        extra_faults=extra_faults,
        replay_options=replay_options + exploration.options,
        choices=choices,
        faults_until_ns=exploration.chaos_phase_ns,
        time_limit_ns=limit,
    )
    return outcome, _judge(scenario, outcome, exploration, limit)


def _judge(
    scenario: Scenario,
    outcome: ScenarioRun,
    exploration: Exploration,
    limit: int | None,
) -> tuple[tuple[str, str], ...]:
    result = outcome.result
    failures = [(f"{f.block}.{f.key}", f.message) for f in outcome.failures]
    faults: Iterable[Fault] = scenario.faults + outcome.extra_faults
    if exploration.chaos_phase_ns is not None:
        faults = [until(f, exploration.chaos_phase_ns) for f in faults]
    failures += [
        (v.rule, v.message) for v in check_all(scenario.workflow, list(faults), result.trace)
    ]
    if limit is not None and result.status == "timed_out" and result.makespan_ns >= limit:
        chaos = exploration.chaos_phase_ns or 0
        assert exploration.liveness_bound_ns is not None
        failures.append(
            (
                LIVENESS_RULE,
                f"no final status {format_seconds(exploration.liveness_bound_ns)} after the "
                f"chaos phase ended at {format_seconds(chaos)}: {result.message}",
            )
        )
    return tuple(failures)


# -- exhaustive exploration ----------------------------------------------------------------


class _TapeDFS(SeededChoices):
    """Schedule choices from ``prefix``, then 0; records each decision and its options."""

    def __init__(self, seed: int, prefix: Sequence[int]) -> None:
        super().__init__(seed)
        self.prefix = prefix
        self.points: list[tuple[int, int]] = []

    def choose(self, n: int, stream: str) -> int:
        if stream != "schedule" or n <= 1:
            return super().choose(n, stream)
        i = len(self.points)
        value = self.prefix[i] if i < len(self.prefix) else 0
        self.points.append((value, n))
        self._record.append(value)
        return value


def _next_prefix(points: Sequence[tuple[int, int]]) -> list[int] | None:
    """The next schedule in depth-first order after the one that made ``points``."""
    for i in range(len(points) - 1, -1, -1):
        value, n = points[i]
        if value + 1 < n:
            return [v for v, _ in points[:i]] + [value + 1]
    return None


Placement = tuple[tuple[str, int], ...]


def _placement_faults(placement: Placement) -> tuple[Fault, ...]:
    return tuple(
        Fault.error(
            step,
            attempts=[attempt],
            error=EXPLORED_ERROR,
            message=f"exhaustive search: fault on {step} attempt {attempt}",
        )
        for step, attempt in placement
    )


@attrs.frozen
class ExploredRun:
    """One failing run of an exhaustive search: its schedule, faults and failures.

    ``choices`` is the run's full tape (``RunResult.choices``): ``wfsim.run``
    with the same faults and ``choices=`` reproduces it (DET-5).
    """

    schedule: tuple[int, ...]
    faults: Placement
    status: str
    digest: str
    failures: tuple[tuple[str, str], ...]
    choices: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": list(self.schedule),
            "faults": [{"step": s, "attempt": a} for s, a in self.faults],
            "status": self.status,
            "digest": self.digest,
            "failures": [{"key": k, "message": m} for k, m in self.failures],
            "choices": list(self.choices),
        }


@attrs.frozen
class ExhaustiveReport:
    """What :func:`explore_exhaustive` found.

    ``runs`` made; ``estimated`` runs in the whole space (measured on the
    canonical run: the product of its decisions' options times the fault
    placements); ``complete`` is false when ``max_runs`` cut the search short;
    ``outcomes`` the distinct (status, context, completed steps); ``digests`` the
    distinct trace digests; ``failing`` every failing run (``failed`` counts them).
    """

    path: str
    title: str
    runs: int
    estimated: int
    complete: bool
    max_faults: int
    placements: int
    outcomes: int
    digests: int
    statuses: dict[str, int]
    failing: tuple[ExploredRun, ...]
    wall_seconds: float

    @property
    def failed(self) -> int:
        return len(self.failing)

    @property
    def ok(self) -> bool:
        return not self.failing

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.title,
            "file": self.path,
            "runs": self.runs,
            "estimated": self.estimated,
            "complete": self.complete,
            "max_faults": self.max_faults,
            "fault_placements": self.placements,
            "distinct_outcomes": self.outcomes,
            "distinct_digests": self.digests,
            "statuses": dict(self.statuses),
            "failed": self.failed,
            "failing": [r.to_json() for r in self.failing],
            "wall_seconds": self.wall_seconds,
        }

    def format(self, limit: int = 5) -> str:
        faults = f"{self.max_faults} fault" + ("" if self.max_faults == 1 else "s")
        if self.complete:  # the estimate is an upper bound, taken before the first run
            runs = f"{self.runs}, every one there is (estimated at most {self.estimated})"
        else:
            runs = f"{self.runs} of an estimated {self.estimated} (stopped at the run limit)"
        lines = [
            f"{self.path} ({self.title}): exhaustive, up to {faults}",
            f"  runs: {runs}",
            f"  fault placements: {self.placements}",
            f"  distinct outcomes: {self.outcomes}  distinct trace digests: {self.digests}",
            "  run statuses: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
            # Not the "failed" status above: a run whose placed fault failed it may hold
            # every check (expect is judged only where no placed fault fired, CAMP-30).
            f"  runs that broke a check (expect, invariants, oracles): {self.failed}",
        ]
        for run in self.failing[:limit]:
            faults = ", ".join(f"{s}#{a}" for s, a in run.faults) or "none"
            keys = ", ".join(dict.fromkeys(k for k, _ in run.failures))
            lines.append(f"    schedule {list(run.schedule)} faults [{faults}]: {keys}")
        if self.failed > limit:
            lines.append(f"    ... and {self.failed - limit} more (--json lists every one)")
        return "\n".join(lines)


def _stable_repr(value: object) -> str:
    """``repr`` without memory addresses, which differ from run to run."""
    return _ADDRESS.sub("", repr(value))


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _outcome_key(outcome: ScenarioRun) -> str:
    result = outcome.result
    completed = sorted(name for name, st in result.steps.items() if st.status == "completed")
    return json.dumps(
        [result.status, dict(result.context), completed], sort_keys=True, default=_stable_repr
    )


def explore_exhaustive(
    path: str,
    *,
    max_faults: int = 0,
    max_runs: int | None = None,
    scenario: Scenario | None = None,
) -> ExhaustiveReport:
    """Run every interleaving of the scenario at ``path``, with up to ``max_faults`` faults.

    Each schedule decision (``choose(n, "schedule")``) is a branch point of a
    depth-first search: every run follows a tape of schedule choices, and the
    next tape changes the deepest decision that has options left. Other
    streams come from the file's seed. Fault placements: every set of up to
    ``max_faults`` (step, attempt) pairs, each pair an attempt some run with the
    smaller set started, gets an injected :data:`EXPLORED_ERROR` at that
    attempt's start; each placement is searched in full.

    When the estimated size exceeds ``max_runs`` (default
    :data:`DEFAULT_MAX_RUNS`) the search is refused with a ``CampaignError``
    naming the estimate; an explicit ``max_runs`` instead caps the search and the
    report says it is not complete.
    """
    begin = time.monotonic()
    _count(max_faults, "max faults", 0)
    cap = max_runs is not None
    limit = _count(max_runs if max_runs is not None else DEFAULT_MAX_RUNS, "max runs", 1)
    loaded = scenario if scenario is not None else load_scenario(path)
    seed = loaded.seed

    def one(
        prefix: Sequence[int], placement: Placement
    ) -> tuple[_TapeDFS, ScenarioRun | Exception]:
        source = _TapeDFS(seed, prefix)
        try:
            outcome = run_scenario(
                loaded, seed=seed, extra_faults=_placement_faults(placement), choices=source
            )
        except Exception as exc:  # a run that raises is a finding, as in CAMP-1
            return source, exc
        return source, outcome

    first = one((), ())
    attempts = _attempts_of(first[1]) if isinstance(first[1], ScenarioRun) else set()
    branches = math.prod(n for _, n in first[0].points)
    placements_est = sum(math.comb(len(attempts), k) for k in range(max_faults + 1))
    estimated = branches * placements_est
    if estimated > limit and not cap:
        raise _error(
            f"{path}: too many runs for --exhaustive: an estimated {estimated} "
            f"({branches} interleavings x {placements_est} fault placements) is more than "
            f"{limit}; give --max-runs N to explore the first N, lower --max-faults, "
            "or sample with --seeds and --schedule"
        )

    outcomes: set[str] = set()
    digests: set[str] = set()
    statuses: dict[str, int] = {}
    failing: list[ExploredRun] = []
    runs = 0
    complete = True
    todo: list[Placement] = [()]
    seen: set[Placement] = {()}
    while todo and complete:
        placement = todo.pop(0)
        started: set[tuple[str, int]] = set()
        prefix: list[int] | None = []
        while prefix is not None:
            if runs >= limit:
                complete = False
                break
            source, outcome = first if runs == 0 else one(prefix, placement)
            runs += 1
            prefix = _next_prefix(source.points)
            schedule = tuple(v for v, _ in source.points)
            if isinstance(outcome, Exception):
                key = f"error.{type(outcome).__name__}"
                statuses["error"] = statuses.get("error", 0) + 1
                outcomes.add(key)
                failure = ((key, str(outcome) or type(outcome).__name__),)
                failing.append(
                    ExploredRun(schedule, placement, "error", "", failure, source.recorded)
                )
                continue
            result = outcome.result
            outcomes.add(_outcome_key(outcome))
            digests.add(result.digest())
            statuses[result.status] = statuses.get(result.status, 0) + 1
            failures = _judge(loaded, outcome, Exploration(), None)
            if failures:
                failing.append(
                    ExploredRun(
                        schedule,
                        placement,
                        result.status,
                        result.digest(),
                        failures,
                        result.choices,
                    )
                )
            started |= _attempts_of(outcome)
        if len(placement) < max_faults:
            for pair in sorted(started):
                if pair in placement:
                    continue
                grown = tuple(sorted((*placement, pair)))
                if grown not in seen:
                    seen.add(grown)
                    todo.append(grown)
    return ExhaustiveReport(
        path=path,
        title=loaded.title,
        runs=runs,
        estimated=estimated,
        complete=complete and not todo,
        max_faults=max_faults,
        placements=len(seen) - len(todo),
        outcomes=len(outcomes),
        digests=len(digests),
        statuses=statuses,
        failing=tuple(failing),
        wall_seconds=time.monotonic() - begin,
    )


def _attempts_of(outcome: ScenarioRun) -> set[tuple[str, int]]:
    return {
        (e.step, e.attempt)
        for e in outcome.result.trace
        if e.kind in ATTEMPT_STARTS and e.step is not None and e.attempt is not None
    }
