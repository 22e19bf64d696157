"""What a campaign reports: counts, failures by key, distributions, the failing seeds.

A summary depends only on the set of run records, never on the order they came
back in, so every backend reports the same numbers for the same seeds (only the
wall-clock figures differ).
"""

from __future__ import annotations

import bisect
import math
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from wfsim._core._time import format_seconds, to_seconds

from ._coverage import Coverage, CoverageTally, CoverageUniverse, universe_of_file
from ._random import FAULT_KINDS
from ._record import RunRecord

__all__ = ["Bucket", "CampaignSummary", "Percentiles", "ScenarioSummary", "Tally"]

#: Failing seeds the text report lists per scenario (``--json`` lists them all).
FAILING_SHOWN = 5
#: Retry delays are shown value by value up to this many distinct values, else bucketed.
EXACT_DELAYS = 10
#: Histogram bars are at most this many characters wide.
BAR_WIDTH = 40
#: Steps listed under step failures in the text report.
STEPS_SHOWN = 10

STOP_REASONS = {
    "time_budget": "the time budget ran out",
    "max_failures": "the maximum number of failures was reached",
    "interrupted": "interrupted",
}


@attrs.frozen
class Percentiles:
    """Nearest-rank percentiles of virtual makespans, in nanoseconds."""

    p50: int
    p90: int
    p99: int
    max: int

    @classmethod
    def of(cls, values: Iterable[int]) -> Percentiles | None:
        ordered = sorted(values)
        if not ordered:
            return None

        def rank(q: float) -> int:
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

        return cls(rank(0.5), rank(0.9), rank(0.99), ordered[-1])

    def to_json(self) -> dict[str, float]:
        return {k: to_seconds(v) for k, v in attrs.asdict(self).items()}

    def format(self) -> str:
        """``p50 1.5s  p90 2.25s  p99 3s  max 3.123s`` (to the millisecond above 1s)."""
        return "  ".join(f"{k} {_approx(v)}" for k, v in attrs.asdict(self).items())


def _approx(ns: int) -> str:
    # Jitter gives makespans like 19.907966309s; a distribution reads better in ms.
    return format_seconds(round(ns, -6) if ns >= 1_000_000_000 else ns)


@attrs.frozen
class Bucket:
    """A histogram bar: ``count`` values in ``[low_ns, high_ns)``, or equal to ``low_ns``
    when ``low_ns == high_ns``."""

    low_ns: int
    high_ns: int
    count: int

    @property
    def label(self) -> str:
        if self.low_ns == self.high_ns:
            return format_seconds(self.low_ns)
        return f"{format_seconds(self.low_ns)}-{format_seconds(self.high_ns)}"

    def to_json(self) -> dict[str, float | int]:
        low, high = to_seconds(self.low_ns), to_seconds(self.high_ns)
        return {"low": low, "high": high, "count": self.count}


def _edges() -> list[int]:
    """1-2-5 steps from 1 ns to 1000 days: bucket edges for delays that take many values."""
    edges = [0]
    scale = 1
    while scale < 10**17:
        edges += [scale, 2 * scale, 5 * scale]
        scale *= 10
    return edges


_EDGES = _edges()


def delay_buckets(delays: Mapping[int, int]) -> tuple[Bucket, ...]:
    """Exact values when there are few (fixed backoff), else 1-2-5 buckets (jitter)."""
    if len(delays) <= EXACT_DELAYS:
        return tuple(Bucket(ns, ns, n) for ns, n in sorted(delays.items()))
    counts: Counter[int] = Counter()
    for ns, n in delays.items():
        index = bisect.bisect_right(_EDGES, ns) - 1
        counts[index] += n
    return tuple(
        Bucket(_EDGES[i], _EDGES[i + 1] if i + 1 < len(_EDGES) else _EDGES[i], n)
        for i, n in sorted(counts.items())
    )


def _replay(path: str, seed: int, options: str = "") -> str:
    return f"wfsim replay {shlex.quote(path)} --seed {seed}{options}"


@attrs.frozen
class ScenarioSummary:
    """One scenario's share of a campaign.

    ``failures_by_key`` counts the runs that failed each expectation key or
    oracle rule (most frequent first); ``attempts`` maps a number of attempts to
    how many step executions took that many; ``failed_attempts`` and
    ``failed_runs`` count, per step, its failed attempts and the runs in which
    it failed for good; ``failing`` holds every failing run, by seed;
    ``coverage`` what the runs reached and never exercised (CAMP-20).
    With random faults (CAMP-30): ``replay_options`` follow ``--seed N`` in
    replay lines, ``random_fault_runs`` counts the runs a random fault fired in;
    for swarm testing (CAMP-32) ``swarm_kinds`` counts the runs each fault kind
    was on in and ``swarm_configurations`` maps each configuration (kinds that
    were on, ``"error+hang"``) to its runs and failed runs.
    """

    path: str
    title: str
    scenario_hash: str
    runs: int
    passed: int
    failed: int
    statuses: Mapping[str, int]
    failures_by_key: Mapping[str, int]
    makespan: Percentiles | None
    attempts: Mapping[int, int]
    retry_delays: tuple[Bucket, ...]
    failed_attempts: Mapping[str, int]
    failed_runs: Mapping[str, int]
    failing: tuple[RunRecord, ...]
    coverage: Coverage | None = None
    replay_options: str = ""
    random_fault_runs: int = 0
    swarm_kinds: Mapping[str, int] = attrs.field(factory=dict)
    swarm_configurations: Mapping[str, tuple[int, int]] = attrs.field(factory=dict)
    #: ``seed_pinned`` (SCN-16): ``(seed, reason)`` when ``expect`` holds at that seed only.
    pinned: tuple[int, str] | None = None

    def replay_command(self, seed: int) -> str:
        """The line that reruns one seed of this scenario: ``wfsim replay FILE --seed N``."""
        return _replay(self.path, seed, self.replay_options)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "scenario": self.title,
            "scenario_hash": self.scenario_hash,
            "runs": self.runs,
            "passed": self.passed,
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "failures_by_key": dict(self.failures_by_key),
            "makespan": self.makespan.to_json() if self.makespan else None,
            "attempts": {str(k): v for k, v in self.attempts.items()},
            "retry_delays": [b.to_json() for b in self.retry_delays],
            "step_failures": {
                step: {
                    "failed_attempts": self.failed_attempts.get(step, 0),
                    "failed_runs": self.failed_runs.get(step, 0),
                }
                for step in sorted({*self.failed_attempts, *self.failed_runs})
            },
            "failing": [
                {
                    "seed": r.seed,
                    "status": r.status,
                    "failures": [{"key": k, "message": m} for k, m in r.failures],
                    "trace_digest": r.digest,
                    "makespan": to_seconds(r.makespan_ns),
                    "replay": self.replay_command(r.seed),
                }
                for r in self.failing
            ],
            "coverage": self.coverage.to_json() if self.coverage else None,
            "random_fault_runs": self.random_fault_runs,
            "seed_pinned": (
                {"seed": self.pinned[0], "reason": self.pinned[1]} if self.pinned else None
            ),
            "swarm": {
                "kinds": dict(self.swarm_kinds),
                "configurations": {
                    c: {"runs": runs, "failed": failed}
                    for c, (runs, failed) in self.swarm_configurations.items()
                },
            },
        }

    def format(self, *, failing_shown: int = FAILING_SHOWN, coverage: bool = True) -> str:
        lines = [f"{self.path}: {self.title}"]
        lines.append(f"  runs {self.runs}  passed {self.passed}  failed {self.failed}")
        if self.statuses:
            lines.append("  statuses: " + ", ".join(f"{s} {n}" for s, n in self.statuses.items()))
        if self.failures_by_key:
            lines.append("  failed runs by expectation or rule:")
            width = len(str(max(self.failures_by_key.values())))
            lines += [f"    {n:>{width}}  {key}" for key, n in self.failures_by_key.items()]
        if self.makespan:
            lines.append(f"  virtual makespan: {self.makespan.format()}")
        if self.attempts:
            lines.append("  attempts per step:")
            lines += _bars([(str(k), n) for k, n in self.attempts.items()])
        if self.retry_delays:
            lines.append("  retry delays:")
            lines += _bars([(b.label, b.count) for b in self.retry_delays])
        steps = sorted(
            {*self.failed_attempts, *self.failed_runs},
            key=lambda s: (-self.failed_runs.get(s, 0), -self.failed_attempts.get(s, 0), s),
        )
        if steps:
            lines.append("  step failures (failed attempts, runs where the step failed):")
            width = max(len(s) for s in steps[:STEPS_SHOWN])
            for step in steps[:STEPS_SHOWN]:
                lines.append(
                    f"    {step:<{width}}  {self.failed_attempts.get(step, 0):>6}  "
                    f"{self.failed_runs.get(step, 0):>6}"
                )
            if len(steps) > STEPS_SHOWN:
                lines.append(f"    ... {len(steps) - STEPS_SHOWN} more steps (--json lists all)")
        if "--fault-rate" in self.replay_options:  # not for exploration options alone
            lines.append(
                f"  random faults ({self.replay_options.strip()}): fired in "
                f"{self.random_fault_runs} of {self.runs} runs"
            )
        if self.pinned is not None:
            lines.append(
                f"  expect pinned to seed {self.pinned[0]} ({self.pinned[1]}): "
                "other seeds are judged by invariants and the oracles"
            )
        if self.swarm_kinds:
            lines.append(
                "  swarm: runs with each fault kind on: "
                + ", ".join(f"{k} {n}" for k, n in self.swarm_kinds.items())
            )
            lines.append("  swarm configurations (runs, failed):")
            width = max(len(c) for c in self.swarm_configurations)
            for config, (runs, failed) in self.swarm_configurations.items():
                lines.append(f"    {config:<{width}}  {runs:>6}  {failed:>6}")
        if self.failing:
            shown = self.failing[:failing_shown]
            more = "" if len(shown) == len(self.failing) else "; --json lists all"
            lines.append(f"  failing seeds ({len(shown)} of {len(self.failing)}{more}):")
            for r in shown:
                lines.append(f"    {self.replay_command(r.seed)}  # {', '.join(r.failure_keys)}")
        if coverage and self.coverage is not None:
            lines.append(self.coverage.format())
        return "\n".join(lines)


def _bars(rows: list[tuple[str, int]]) -> list[str]:
    top = max(n for _, n in rows)
    label_width = max(len(label) for label, _ in rows)
    out = []
    for label, n in rows:
        bar = "#" * max(1, round(BAR_WIDTH * n / top)) if n else ""
        out.append(f"    {label:>{label_width}}  {bar} {n}")
    return out


@attrs.define
class Tally:
    """Adds up the records of one scenario; :meth:`summary` freezes the result."""

    path: str
    title: str
    scenario_hash: str
    runs: int = 0
    passed: int = 0
    statuses: Counter[str] = attrs.field(factory=Counter)
    by_key: Counter[str] = attrs.field(factory=Counter)
    makespans: list[int] = attrs.field(factory=list)
    attempts: Counter[int] = attrs.field(factory=Counter)
    delays: Counter[int] = attrs.field(factory=Counter)
    failed_attempts: Counter[str] = attrs.field(factory=Counter)
    failed_runs: Counter[str] = attrs.field(factory=Counter)
    failing: list[RunRecord] = attrs.field(factory=list)
    #: What the scenario declares; None: read it from the file at ``path`` (if unchanged).
    universe: CoverageUniverse | None = None
    #: `` --fault-rate P [--swarm]`` for a campaign with random faults (CAMP-30).
    replay_options: str = ""
    random_fault_runs: int = 0
    swarm_kinds: Counter[str] = attrs.field(factory=Counter)
    swarm_configurations: dict[str, tuple[int, int]] = attrs.field(factory=dict)
    #: ``seed_pinned`` (SCN-16): ``(seed, reason)`` of a file whose ``expect`` holds there only.
    pinned: tuple[int, str] | None = None
    covered: CoverageTally = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.universe is None:
            self.universe = universe_of_file(self.path, self.scenario_hash)
        self.covered = CoverageTally(self.universe)

    def add(self, record: RunRecord) -> None:
        self.random_fault_runs += record.random_faults > 0
        if record.swarm:
            self.swarm_kinds.update(record.swarm)
            config = "+".join(record.swarm)
            runs, failed = self.swarm_configurations.get(config, (0, 0))
            self.swarm_configurations[config] = (runs + 1, failed + (not record.passed))
        self.runs += 1
        self.statuses[record.status] += 1
        if record.passed:
            self.passed += 1
        else:
            self.by_key.update(record.failure_keys)
            self.failing.append(record)
        if record.status != "error":
            self.makespans.append(record.makespan_ns)
        self.attempts.update(record.attempts.values())
        self.delays.update(record.retry_delays_ns)
        self.failed_attempts.update(record.failed_attempts)
        self.failed_runs.update(set(record.failed_steps))
        self.covered.add(record.coverage)

    def merge(self, other: Tally) -> None:
        """Add the runs ``other`` tallied (a batch's runs of the same scenario)."""
        self.runs += other.runs
        self.passed += other.passed
        self.statuses.update(other.statuses)
        self.by_key.update(other.by_key)
        self.makespans += other.makespans
        self.attempts.update(other.attempts)
        self.delays.update(other.delays)
        self.failed_attempts.update(other.failed_attempts)
        self.failed_runs.update(other.failed_runs)
        self.failing += other.failing
        self.random_fault_runs += other.random_fault_runs
        self.swarm_kinds.update(other.swarm_kinds)
        for config, (runs, failed) in other.swarm_configurations.items():
            had_runs, had_failed = self.swarm_configurations.get(config, (0, 0))
            self.swarm_configurations[config] = (had_runs + runs, had_failed + failed)
        self.covered.merge(other.covered)

    def summary(self) -> ScenarioSummary:
        return ScenarioSummary(
            path=self.path,
            title=self.title,
            scenario_hash=self.scenario_hash,
            runs=self.runs,
            passed=self.passed,
            failed=self.runs - self.passed,
            statuses=dict(sorted(self.statuses.items(), key=lambda kv: (-kv[1], kv[0]))),
            failures_by_key=dict(sorted(self.by_key.items(), key=lambda kv: (-kv[1], kv[0]))),
            makespan=Percentiles.of(self.makespans),
            attempts=dict(sorted(self.attempts.items())),
            retry_delays=delay_buckets(self.delays),
            failed_attempts=dict(sorted(self.failed_attempts.items())),
            failed_runs=dict(sorted(self.failed_runs.items())),
            failing=tuple(sorted(self.failing, key=lambda r: r.seed)),
            coverage=self.covered.coverage(),
            replay_options=self.replay_options,
            random_fault_runs=self.random_fault_runs,
            swarm_kinds={k: self.swarm_kinds[k] for k in FAULT_KINDS if k in self.swarm_kinds},
            swarm_configurations=dict(
                sorted(self.swarm_configurations.items(), key=lambda kv: (-kv[1][0], kv[0]))
            ),
            pinned=self.pinned,
        )


@attrs.frozen
class CampaignSummary:
    """The result of :func:`run_campaign`: totals, one :class:`ScenarioSummary` per file.

    ``campaign_id`` and ``store`` say where the runs were recorded (None when
    not stored); ``reused`` runs came from the store (``resume``) instead of
    being run again; ``stopped`` is None, ``"time_budget"``, ``"max_failures"``
    or ``"interrupted"``. ``wall_seconds`` is host time for the whole campaign.
    ``dask`` is the Dask scheduler address (or ``"local"``) the runs were made
    on, None for the other backends.
    """

    campaign_id: int | None
    store: str | None
    start_seed: int
    seeds: int
    workers: int
    scenarios: tuple[ScenarioSummary, ...]
    reused: int
    stopped: str | None
    wall_seconds: float
    dask: str | None = None

    @property
    def runs(self) -> int:
        return sum(s.runs for s in self.scenarios)

    @property
    def passed(self) -> int:
        return sum(s.passed for s in self.scenarios)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.scenarios)

    @property
    def ok(self) -> bool:
        """True when every run passed (a campaign that stopped early can still be ok)."""
        return self.failed == 0

    @property
    def runs_per_second(self) -> float:
        """Runs made by this campaign (not reused ones) per second of wall time."""
        made = self.runs - self.reused
        return made / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id,
            "store": self.store,
            "seeds": {"start": self.start_seed, "count": self.seeds},
            "workers": self.workers,
            "dask": self.dask,
            "runs": self.runs,
            "passed": self.passed,
            "failed": self.failed,
            "reused": self.reused,
            "stopped": self.stopped,
            "wall_seconds": round(self.wall_seconds, 3),
            "runs_per_second": round(self.runs_per_second, 1),
            "scenarios": [s.to_json() for s in self.scenarios],
        }

    def format(
        self, *, failing_shown: int = FAILING_SHOWN, coverage: bool = True, end: bool = True
    ) -> str:
        """The text report of ``wfsim simulate`` (``coverage=False`` leaves the tables out,
        ``end=False`` the closing :meth:`format_end`)."""
        last = self.start_seed + self.seeds - 1
        where = (
            "not stored"
            if self.campaign_id is None
            else (f"campaign {self.campaign_id} in {self.store}")
        )
        files = len(self.scenarios)
        on = ""
        if self.dask is not None:
            on = (
                " on a local Dask cluster"
                if self.dask == "local"
                else f" on the Dask cluster at {self.dask}"
            )
        lines = [
            f"{self.seeds} seeds ({self.start_seed}-{last}) of {files} "
            f"scenario{'s' if files != 1 else ''}, "
            f"{self.workers} worker{'s' if self.workers != 1 else ''}{on}; {where}",
            "",
        ]
        for scenario in self.scenarios:
            lines += [scenario.format(failing_shown=failing_shown, coverage=coverage), ""]
        if end:
            lines.append(self.format_end())
        return "\n".join(lines)

    def format_end(self) -> str:
        """The report's last lines: with several scenarios a table of each one's runs,
        failures and most frequent failure, then the totals (and why it stopped early)."""
        lines = []
        if len(self.scenarios) > 1:
            width = max(len("scenario"), *(len(s.path) for s in self.scenarios))
            digits = max(len("runs"), *(len(str(s.runs)) for s in self.scenarios))
            lines.append(f"{'scenario':<{width}}  {'runs':>{digits}}  failed  most failed")
            for s in self.scenarios:
                top = next(iter(s.failures_by_key.items()), None)
                most = "" if top is None else f"  {top[0]} ({top[1]})"
                first = f", first seed {s.failing[0].seed}" if s.failing else ""
                lines.append(
                    f"{s.path:<{width}}  {s.runs:>{digits}}  {s.failed:>6}{most}{first}".rstrip()
                )
            lines.append("")
        total = (
            f"{self.runs} runs: {self.passed} passed, {self.failed} failed in "
            f"{self.wall_seconds:.2f}s ({self.runs_per_second:.0f} runs/s)"
        )
        if self.reused:
            total += f"; {self.reused} runs reused from earlier campaigns"
        lines.append(total)
        if self.stopped:
            expected = len(self.scenarios) * self.seeds
            lines.append(
                f"stopped early: {STOP_REASONS.get(self.stopped, self.stopped)} "
                f"({expected - self.runs} of {expected} runs not made)"
            )
        return "\n".join(lines)
