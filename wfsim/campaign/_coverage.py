"""Workflow coverage: which steps, fault points, retry depths, breaker states and
compensation paths a campaign reached, and which it never exercised (CAMP-20..22).

Each run keeps a compact :func:`run_coverage` (a JSON-able mapping, stored in the
run's ``stats``); a campaign adds them up in a :class:`CoverageTally` and freezes
them into a :class:`Coverage`, which it compares with what the scenario declares
(:class:`CoverageUniverse`) to list what no run reached.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from wfsim._core._trace import ATTEMPT_ENDS, STEP_ENDS, Trace
from wfsim._core._workflow import Workflow

__all__ = [
    "Coverage",
    "CoverageTally",
    "CoverageUniverse",
    "call_site",
    "universe_of_file",
    "run_coverage",
]

#: Retry depths up to this many attempts are listed one by one under "never reached".
DEPTHS_LISTED = 10
#: Rows of fault points and compensation paths the text table shows.
ROWS_SHOWN = 10

_CALL_NUMBER = re.compile(r":[0-9]+$")
_BREAKER_STATES = ("closed", "open", "half_open")


def call_site(name: str) -> str:
    """The call site of an imperative step name: ``fetch_quote:3`` -> ``fetch_quote`` (IMP-3)."""
    return _CALL_NUMBER.sub("", name)


def _fault_label(fault: Mapping[str, Any]) -> str:
    kind = str(fault.get("kind", "?"))
    error = fault.get("error")
    return f"{kind} {error}" if error else kind


#: Kinds that start a step's (or compensation's) attempt, or a group.
_STARTS = frozenset({"attempt_started", "compensation_started", "group_started"})
#: Every kind :func:`run_coverage` counts; it passes over the others at once.
_COUNTED = frozenset(
    {*_STARTS, *STEP_ENDS, *ATTEMPT_ENDS}
    | {"compensation_skipped", "cache_hit", "fault_injected", "fallback_used", "breaker_state"}
)


def run_coverage(trace: Trace) -> dict[str, Any]:
    """What one run reached, compactly, from its trace alone.

    ``steps`` maps each step (or compensation) that started an attempt (a
    group: started), or was skipped, cancelled or served from the cache, to
    ``[deepest attempt (0: none), failed attempts, [how it ended, ...]]``;
    ``faults`` lists ``[step, attempt, fault]`` per ``fault_injected`` (fault
    is ``"error ConnectionError"``, ``"latency"``, ...); ``breakers``
    ``[breaker, previous, state]`` per transition; ``compensations``
    ``[compensation, for step, outcome]`` in the order they ran; ``fallbacks``
    ``[step, breaker]``. Empty parts are left out.
    """
    steps: dict[str, list[Any]] = {}
    faults: list[list[Any]] = []
    breakers: list[list[Any]] = []
    compensations: list[list[Any]] = []
    fallbacks: list[list[Any]] = []
    for event in trace:
        kind = event.kind
        if kind not in _COUNTED:  # step_ready, retry_scheduled, run_started, ...
            continue
        step = event.step
        if kind == "breaker_state":
            breakers.append([event.get("breaker"), event.get("previous"), event.get("state")])
            continue
        if step is None:
            if kind == "fault_injected":
                # a delivery fault (FAULT-20) names no step: its event type or signal, and
                # occurrence; a crash at a body point (FAULT-15) names the point it hit
                fault = event.get("fault") or {}
                where = fault.get("event") or fault.get("signal") or fault.get("point")
                if where is not None:
                    faults.append([where, fault.get("occurrence"), _fault_label(fault)])
            continue
        item = steps.get(step)  # [deepest attempt, failed attempts, ends], made when needed
        if kind in _STARTS:
            if item is None:
                item = steps[step] = [0, 0, []]
            attempt = event.attempt or 1
            if attempt > item[0]:
                item[0] = attempt
        elif kind in STEP_ENDS:
            if item is None:
                item = steps[step] = [0, 0, []]
            end = kind.removeprefix("step_")
            if end not in item[2]:
                item[2].append(end)
        elif kind in ATTEMPT_ENDS:
            if ATTEMPT_ENDS[kind] != "succeeded":
                if item is None:
                    item = steps[step] = [0, 0, []]
                item[1] += 1
            if kind == "compensation_completed" or (
                kind == "compensation_failed" and event.get("final", True) is not False
            ):
                outcome = "completed" if kind == "compensation_completed" else "failed"
                compensations.append([step, event.get("for_step"), outcome])
        elif kind == "compensation_skipped":
            compensations.append([step, event.get("for_step"), "skipped"])
        elif kind == "cache_hit":
            if item is None:
                item = steps[step] = [0, 0, []]
            if "cached" not in item[2]:
                item[2].append("cached")
        elif kind == "fault_injected":
            faults.append([step, event.attempt, _fault_label(event.get("fault") or {})])
        elif kind == "fallback_used":
            fallbacks.append([step, event.get("breaker")])
    out: dict[str, Any] = {"steps": steps}
    for key, value in (
        ("faults", faults),
        ("breakers", breakers),
        ("compensations", compensations),
        ("fallbacks", fallbacks),
    ):
        if value:
            out[key] = value
    return out


@attrs.frozen
class CoverageUniverse:
    """What a scenario declares, so coverage can name what no run reached.

    ``steps`` are a DAG's steps and group tasks (empty for a workflow body, whose
    call sites exist only as it runs: ``known`` is then False); ``max_attempts``
    their retry policies' limits (0: unlimited); ``compensations`` maps each
    declared compensation to its step; ``breakers`` the declared breakers;
    ``faults`` the file's fault rules as ``(label, step or pattern)``.
    """

    known: bool = False
    steps: tuple[str, ...] = ()
    max_attempts: Mapping[str, int] = attrs.field(factory=dict)
    compensations: Mapping[str, str] = attrs.field(factory=dict)
    breakers: tuple[str, ...] = ()
    faults: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, workflow: object, faults: Sequence[Any] = ()) -> CoverageUniverse:
        """The universe of a scenario's ``workflow`` and its fault rules (:class:`~wfsim.Fault`)."""
        rules = tuple(
            (_fault_label({"kind": f.kind, "error": f.error_name if f.fails else None}), f.step)
            for f in faults
        )
        if not isinstance(workflow, Workflow):
            return cls(known=False, faults=rules)
        steps: list[str] = []
        limits: dict[str, int] = {}
        compensations: dict[str, str] = {}
        breakers: list[str] = []
        todo = list(workflow.steps.values())
        while todo:
            step = todo.pop(0)
            steps.append(step.name)
            limits[step.name] = 1 if step.retry is None else step.retry.max_attempts
            if step.compensate is not None:
                compensations[step.compensate.name] = step.name
                comp = step.compensate
                limits[comp.name] = 1 if comp.retry is None else comp.retry.max_attempts
            if step.breaker is not None and step.breaker.name not in breakers:
                breakers.append(step.breaker.name)
            if step.group is not None:
                todo[0:0] = list(step.group.tasks)
        return cls(True, tuple(steps), limits, compensations, tuple(breakers), rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "steps": list(self.steps),
            "max_attempts": dict(self.max_attempts),
            "compensations": dict(self.compensations),
            "breakers": list(self.breakers),
            "faults": [list(f) for f in self.faults],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CoverageUniverse:
        return cls(
            bool(data.get("known")),
            tuple(data.get("steps", ())),
            dict(data.get("max_attempts", {})),
            dict(data.get("compensations", {})),
            tuple(data.get("breakers", ())),
            tuple((str(a), str(b)) for a, b in data.get("faults", ())),
        )


@attrs.frozen
class StepCoverage:
    """One row of the coverage table: a step (a call site, for a workflow body)."""

    step: str
    reached: int
    completed: int
    failed: int
    skipped: int
    cancelled: int
    cached: int
    retried: int
    deepest: int
    max_attempts: int | None
    failed_attempts: int
    faulted: int
    compensated: int

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Coverage:
    """What a campaign's runs reached (counts of runs) and what none of them did.

    ``steps`` has one :class:`StepCoverage` per step or call site (declared
    ones first, in declaration order); ``depths`` maps ``(step, n)`` to the runs
    whose deepest attempt of the step was n; ``fault_points`` ``(fault, step,
    attempt)`` to the runs where it fired; ``breaker_states`` ``(breaker,
    state)`` to runs reaching it (``closed`` is every run that used it);
    ``compensations`` ``(compensation, for step, outcome)`` to runs;
    ``compensation_paths`` the order compensations ran in (``()`` is no
    compensation) to runs; ``never`` lists ``(what, item)`` nobody reached.
    """

    runs: int
    call_sites: bool
    steps: tuple[StepCoverage, ...]
    depths: Mapping[tuple[str, int], int]
    fault_points: Mapping[tuple[str, str, int], int]
    breaker_states: Mapping[tuple[str, str], int]
    compensations: Mapping[tuple[str, str, str], int]
    compensation_paths: Mapping[tuple[str, ...], int]
    fallbacks: Mapping[tuple[str, str], int]
    never: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "unit": "call site" if self.call_sites else "step",
            "steps": [s.to_json() for s in self.steps],
            "retry_depths": [
                {"step": step, "attempts": n, "runs": runs}
                for (step, n), runs in self.depths.items()
            ],
            "fault_points": [
                {"fault": fault, "step": step, "attempt": attempt, "runs": runs}
                for (fault, step, attempt), runs in self.fault_points.items()
            ],
            "breaker_states": [
                {"breaker": b, "state": s, "runs": runs}
                for (b, s), runs in self.breaker_states.items()
            ],
            "compensations": [
                {"compensation": c, "for_step": f, "outcome": o, "runs": runs}
                for (c, f, o), runs in self.compensations.items()
            ],
            "compensation_paths": [
                {"path": list(path), "runs": runs} for path, runs in self.compensation_paths.items()
            ],
            "fallbacks": [
                {"step": s, "breaker": b, "runs": runs} for (s, b), runs in self.fallbacks.items()
            ],
            "never": [{"what": what, "item": item} for what, item in self.never],
        }

    def never_by_kind(self) -> dict[str, list[str]]:
        """The items of :attr:`never`, grouped by what was never reached (in table order)."""
        out: dict[str, list[str]] = {}
        for what, item in self.never:
            out.setdefault(what, []).append(item)
        return out

    #: Columns of the step table: (header, attribute).
    COLUMNS = (
        ("reached", "reached"),
        ("completed", "completed"),
        ("failed", "failed"),
        ("skipped", "skipped"),
        ("retried", "retried"),
        ("deepest", "deepest"),
        ("failed att.", "failed_attempts"),
        ("faulted", "faulted"),
        ("compensated", "compensated"),
    )

    def step_rows(self) -> list[list[str]]:
        """The step table as text cells: the step, then one cell per :attr:`COLUMNS`."""
        rows = []
        for s in self.steps:
            cells = [s.step]
            for _, attr in self.COLUMNS:
                if attr == "deepest":
                    limit = "inf" if s.max_attempts == 0 else s.max_attempts
                    mark = "*" if self._beyond_policy(s) else ""
                    cells.append(
                        f"{s.deepest}/{limit}{mark}"
                        if s.max_attempts is not None
                        else str(s.deepest)
                    )
                else:
                    cells.append(str(getattr(s, attr)))
            rows.append(cells)
        return rows

    @staticmethod
    def _beyond_policy(s: Any) -> bool:
        return bool(s.max_attempts) and s.deepest > s.max_attempts

    def depth_note(self) -> str:
        """Why a ``deepest`` cell can pass its policy's limit (``2/1*``), or "" when none does."""
        if not any(self._beyond_policy(s) for s in self.steps):
            return ""
        return (
            "* deeper than max_attempts: an attempt lost in a crash runs again whatever the "
            "retry policy allows (FAULT-11)"
        )

    def format(self, *, indent: str = "  ") -> str:
        """The plain-text coverage table and what was never exercised."""
        unit = "call site" if self.call_sites else "step"
        lines = [f"{indent}coverage (runs that reached each point, of {self.runs}):"]
        header = [unit] + [h for h, _ in self.COLUMNS]
        rows = self.step_rows()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            numbers = zip(row[1:], widths[1:], strict=True)
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
            lines.append(f"{indent}  " + "  ".join(cells).rstrip())
        if self.depth_note():
            lines.append(f"{indent}  {self.depth_note()}")
        if self.fault_points:
            lines.append(f"{indent}  fault points (fault, step#attempt: runs):")
            shown = list(self.fault_points.items())[:ROWS_SHOWN]
            for (fault, step, attempt), runs in shown:
                lines.append(f"{indent}    {fault}, {step}#{attempt}: {runs}")
            if len(self.fault_points) > ROWS_SHOWN:
                more = len(self.fault_points) - ROWS_SHOWN
                lines.append(f"{indent}    ... {more} more (--json lists all)")
        if self.breaker_states:
            states = ", ".join(f"{b} {s} {n}" for (b, s), n in self.breaker_states.items())
            lines.append(f"{indent}  breaker states: {states}")
        paths = [(p, n) for p, n in self.compensation_paths.items() if p]
        if paths:
            lines.append(f"{indent}  compensation paths (runs):")
            for path, runs in paths[:ROWS_SHOWN]:
                lines.append(f"{indent}    {' > '.join(path)}: {runs}")
        never = self.never_by_kind()
        if never:
            lines.append(f"{indent}  never exercised:")
            for what, items in never.items():
                lines.append(f"{indent}    {what}: {', '.join(items)}")
        else:
            lines.append(f"{indent}  never exercised: nothing the scenario declares")
        return "\n".join(lines)


def _count_desc(counter: Counter[Any]) -> dict[Any, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], _key(kv[0]))))


def _key(value: Any) -> Any:
    # Items mix str and int fields; compare them as text with ints zero-padded.
    if isinstance(value, tuple):
        return tuple(_key(v) for v in value)
    return f"{value:012d}" if isinstance(value, int) else str(value)


@attrs.define
class CoverageTally:
    """Adds up the :func:`run_coverage` of a scenario's runs; :meth:`coverage` freezes it."""

    universe: CoverageUniverse = attrs.field(factory=CoverageUniverse)
    runs: int = 0
    reached: Counter[str] = attrs.field(factory=Counter)
    ends: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    depths: Counter[tuple[str, int]] = attrs.field(factory=Counter)
    failed_attempts: Counter[str] = attrs.field(factory=Counter)
    faulted: Counter[str] = attrs.field(factory=Counter)
    compensated: Counter[str] = attrs.field(factory=Counter)
    fault_points: Counter[tuple[str, str, int]] = attrs.field(factory=Counter)
    breaker_states: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    compensations: Counter[tuple[str, str, str]] = attrs.field(factory=Counter)
    paths: Counter[tuple[str, ...]] = attrs.field(factory=Counter)
    fallbacks: Counter[tuple[str, str]] = attrs.field(factory=Counter)

    @property
    def call_sites(self) -> bool:
        return not self.universe.known

    def _unit(self, step: str) -> str:
        return call_site(step) if self.call_sites else step

    def add(self, coverage: Mapping[str, Any] | None) -> None:
        """Count one run (``None``: a run that raised, or a record without coverage)."""
        self.runs += 1
        if not coverage:
            return
        if self.call_sites:
            self._add_call_sites(coverage.get("steps", {}))
        else:
            self._add_steps(coverage.get("steps", {}))
        # Most runs have no faults, breakers, compensations or fallbacks: their parts are
        # left out, and nothing is counted for them (each Counter.update costs even empty).
        faults = coverage.get("faults")
        if faults:
            points = {(label, step, attempt) for step, attempt, label in faults}
            self.fault_points.update(points)
            self.faulted.update({self._unit(step) for _, step, _ in points})
        breakers = coverage.get("breakers")
        if breakers:
            states: set[tuple[str, str]] = set()
            for breaker, previous, state in breakers:
                states.update({(breaker, previous), (breaker, state)})
            self.breaker_states.update(states)
        comps = [tuple(c) for c in coverage.get("compensations", ())]
        if comps:
            self.compensations.update(set(comps))
            self.compensated.update({self._unit(str(c[1])) for c in comps if c[2] == "completed"})
        self.paths[tuple(str(c[0]) for c in comps if c[2] != "skipped")] += 1
        fallbacks = coverage.get("fallbacks")
        if fallbacks:
            self.fallbacks.update({(s, b) for s, b in fallbacks})

    def merge(self, other: CoverageTally) -> None:
        """Add the runs ``other`` counted (a batch's runs of the same scenario)."""
        self.runs += other.runs
        for field in attrs.fields(CoverageTally):
            if field.name not in ("universe", "runs"):  # the rest are counters
                getattr(self, field.name).update(getattr(other, field.name))

    def _add_steps(self, steps: Mapping[str, Any]) -> None:
        """One run's steps, each its own unit (a DAG's): no two entries to merge."""
        reached, depths, ends, failed = self.reached, self.depths, self.ends, self.failed_attempts
        for step, (depth, failures, step_ends) in steps.items():
            # Reached: it started (an attempt, a group) or was served from the cache.
            if depth:
                reached[step] += 1
                depths[step, depth] += 1
            elif "cached" in step_ends:
                reached[step] += 1
            for end in step_ends:  # run_coverage lists each end once
                ends[step, end] += 1
            if failures:
                failed[step] += failures

    def _add_call_sites(self, steps: Mapping[str, Any]) -> None:
        """One run's steps counted by call site: several calls of a site are one unit."""
        deepest: dict[str, int] = {}
        ends: set[tuple[str, str]] = set()
        failed: Counter[str] = Counter()
        for step, (depth, failures, step_ends) in steps.items():
            unit = call_site(step)
            deepest[unit] = max(deepest.get(unit, 0), depth)
            failed[unit] += failures
            ends.update((unit, end) for end in step_ends)
        self.reached.update(u for u, n in deepest.items() if n or (u, "cached") in ends)
        self.depths.update((unit, n) for unit, n in deepest.items() if n)
        self.ends.update(ends)
        self.failed_attempts.update(failed)

    def coverage(self) -> Coverage:
        u = self.universe
        compensation_names = set(u.compensations) | {c for c, _, _ in self.compensations}
        declared = [*u.steps, *(c for c in u.compensations if c not in u.steps)]
        order = declared + sorted(s for s in self.reached if s not in declared)
        rows = []
        for step in order:
            depth = max((n for (s, n) in self.depths if s == step), default=0)
            rows.append(
                StepCoverage(
                    step=step,
                    reached=self.reached.get(step, 0),
                    completed=self.ends.get((step, "completed"), 0) + self._undone(step),
                    failed=self.ends.get((step, "failed"), 0),
                    skipped=self.ends.get((step, "skipped"), 0),
                    cancelled=self.ends.get((step, "cancelled"), 0),
                    cached=self.ends.get((step, "cached"), 0),
                    retried=sum(r for (s, n), r in self.depths.items() if s == step and n > 1),
                    deepest=depth,
                    max_attempts=u.max_attempts.get(step),
                    failed_attempts=self.failed_attempts.get(step, 0),
                    faulted=self.faulted.get(step, 0),
                    compensated=self.compensated.get(step, 0),
                )
            )
        return Coverage(
            runs=self.runs,
            call_sites=self.call_sites,
            steps=tuple(rows),
            depths=dict(
                sorted(self.depths.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1]))
            ),
            fault_points=_count_desc(self.fault_points),
            breaker_states=_count_desc(self.breaker_states),
            compensations=_count_desc(self.compensations),
            compensation_paths=_count_desc(self.paths),
            fallbacks=_count_desc(self.fallbacks),
            never=tuple(self._never(rows, compensation_names)),
        )

    def _undone(self, step: str) -> int:
        """Runs in which ``step``, a compensation, completed."""
        return sum(
            n for (c, _, o), n in self.compensations.items() if c == step and o == "completed"
        )

    def _never(
        self, rows: Iterable[StepCoverage], compensation_names: set[str]
    ) -> Iterable[tuple[str, str]]:
        u = self.universe
        rows = list(rows)
        steps = [r for r in rows if r.step not in compensation_names]
        yield from (("steps never reached", r.step) for r in steps if not r.reached)
        yield from (
            ("steps never failed", r.step) for r in steps if r.reached and not r.failed_attempts
        )
        for r in steps:
            limit = r.max_attempts
            if r.reached and limit is not None and 1 < limit <= DEPTHS_LISTED and r.deepest < limit:
                missing = range(r.deepest + 1, limit + 1)
                yield ("retry depths never reached", f"{r.step} attempt {_span(missing)}")
        comp_rows = [r for r in rows if r.step in u.compensations]
        yield from (("compensations never run", r.step) for r in comp_rows if not r.reached)
        yield from (
            ("compensations never failed", r.step)
            for r in comp_rows
            if r.reached and not r.failed_attempts
        )
        for label, target in u.faults:
            fired = any(
                label == fault and _matches(target, step) for fault, step, _ in self.fault_points
            )
            if not fired:
                yield ("fault rules never fired", f"{label} on {target}")
        for breaker in u.breakers:
            for state in _BREAKER_STATES[1:]:
                if not self.breaker_states.get((breaker, state)):
                    yield ("breaker states never reached", f"{breaker} {state}")


def universe_of_file(path: str, scenario_hash: str) -> CoverageUniverse:
    """The universe of the scenario file at ``path``, if its text still has ``scenario_hash``.

    A file that is gone, changed or no longer loads gives an empty universe: the
    coverage then shows what the runs reached, and nothing as never reached.
    """
    import hashlib
    import pathlib

    from wfsim.errors import WfsimError
    from wfsim.scenario import load_scenario

    try:
        if hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest() != scenario_hash:
            return CoverageUniverse()
        scenario = load_scenario(path)
    except (OSError, WfsimError):
        return CoverageUniverse()
    return CoverageUniverse.of(scenario.workflow, scenario.faults)


def _span(values: range) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def _matches(target: str, step: str) -> bool:
    return fnmatch.fnmatchcase(step, target)


def print_coverage_tables(scenarios: Iterable[Any], out: Any) -> None:
    """Print each scenario summary's coverage as rich tables on the terminal ``out``.

    Without ``rich`` the plain text of :meth:`Coverage.format` is printed instead.
    """
    try:
        from rich import box
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is a dependency, but a trimmed install may lack it
        for scenario in scenarios:
            if scenario.coverage is not None:
                print(f"{scenario.path}:\n{scenario.coverage.format()}", file=out)
        return
    console = Console(file=out, highlight=False)
    for scenario in scenarios:
        coverage: Coverage | None = scenario.coverage
        if coverage is None:
            continue
        unit = "call site" if coverage.call_sites else "step"
        table = Table(
            title=f"coverage of {scenario.path} (runs that reached each point, of {coverage.runs})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
        )
        rows = coverage.step_rows()
        # A terminal is narrow: columns that are 0 in every row are left out (--json has all).
        keep = [
            i
            for i in range(1, len(Coverage.COLUMNS) + 1)
            if i == 1 or any(row[i] not in ("0", "0/1") and row[i][:2] != "1/" for row in rows)
        ]
        longest = max((len(row[0]) for row in rows), default=len(unit))
        table.add_column(unit, overflow="fold", min_width=min(max(longest, len(unit)), 28))
        for i in keep:
            table.add_column(Coverage.COLUMNS[i - 1][0], justify="right", min_width=7)
        for row in rows:
            cells = [row[0]] + [row[i] for i in keep]
            table.add_row(*cells, style="dim" if row[1] == "0" else None)
        console.print(table)
        if coverage.depth_note():
            console.print(coverage.depth_note())
        never = coverage.never_by_kind()
        if never:
            missing = Table(
                title="never exercised", title_justify="left", show_header=False, box=box.SIMPLE
            )
            missing.add_column("what", style="bold")
            missing.add_column("items")
            for what, items in never.items():
                missing.add_row(what, ", ".join(items))
            console.print(missing)
        else:
            console.print("never exercised: nothing the scenario declares")
