"""Where two runs part: the first diverging event, aligned context, and a summary.

One implementation for every place that compares runs (DET-7's
``check_determinism``, ``wfsim diff``, ``wfsim campaigns diff``):

* :func:`diff_traces` compares two traces event by event (``seq`` is the
  event's index, so the first different event is where the runs part) and, for
  the summary, aligns them by content with :mod:`difflib` (ignoring ``seq``),
  so an event inserted early does not count every later one as changed;
* :func:`step_changes` compares what each step did (attempts and outcome), from
  traces (:func:`step_summaries`) or from numbers a campaign stored.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._trace import ATTEMPT_STARTS, Trace, TraceEvent

__all__ = [
    "StepChange",
    "StepSummary",
    "TraceDiff",
    "diff_traces",
    "step_changes",
    "step_outcomes",
    "step_summaries",
]

#: Events that end a step or a compensation; the last one is its outcome.
_OUTCOMES = {
    "step_completed": "completed",
    "step_failed": "failed",
    "step_skipped": "skipped",
    "step_cancelled": "cancelled",
    "compensation_completed": "compensated",
    "compensation_failed": "compensation failed",
    "compensation_skipped": "compensation skipped",
}
#: How many events the summary lists of each side's own events.
_LISTED = 5


@attrs.frozen
class StepSummary:
    """What one step (or compensation) did in a run: attempts started, how it ended."""

    attempts: int
    outcome: str | None  # None: it never ended (or the source did not record it)

    def describe(self) -> str:
        return f"{self.attempts} attempt{'s' * (self.attempts != 1)}, {self.outcome or 'not ended'}"

    def to_json(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "outcome": self.outcome}


@attrs.frozen
class StepChange:
    """A step whose attempts or outcome differ between two runs (None: not in that run)."""

    step: str
    before: StepSummary | None
    after: StepSummary | None

    def describe(self, a: str = "A", b: str = "B") -> str:
        """``charge: attempts 2 -> 3; completed -> failed``, or ``ship: only in B (...)``."""
        if self.before is None or self.after is None:
            side, summary = (b, self.after) if self.before is None else (a, self.before)
            assert summary is not None
            return f"{self.step}: only in {side} ({summary.describe()})"
        parts = []
        if self.before.attempts != self.after.attempts:
            parts.append(f"attempts {self.before.attempts} -> {self.after.attempts}")
        if self.before.outcome != self.after.outcome:
            parts.append(
                f"{self.before.outcome or 'not ended'} -> {self.after.outcome or 'not ended'}"
            )
        return f"{self.step}: " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "a": None if self.before is None else self.before.to_json(),
            "b": None if self.after is None else self.after.to_json(),
        }


def step_summaries(trace: Trace) -> dict[str, StepSummary]:
    """Each step's (and compensation's) attempts and last outcome, in order of appearance."""
    attempts: dict[str, int] = {}
    for event in trace:
        if event.step is not None and event.kind in ATTEMPT_STARTS:
            attempts[event.step] = attempts.get(event.step, 0) + 1
    return {
        step: StepSummary(attempts.get(step, 0), outcome)
        for step, outcome in step_outcomes(trace).items()
    }


def step_outcomes(trace: Trace) -> dict[str, str | None]:
    """Each step's (and compensation's) last outcome (None: it never ended), in order of
    appearance: the ``outcome`` of :func:`step_summaries`, without the attempts."""
    outcomes: dict[str, str | None] = {}
    for event in trace:
        step = event.step
        if step is not None:
            outcome = _OUTCOMES.get(event.kind)
            if outcome is not None:
                outcomes[step] = outcome
            elif step not in outcomes:
                outcomes[step] = None
    return outcomes


def step_changes(
    before: Mapping[str, StepSummary], after: Mapping[str, StepSummary]
) -> tuple[StepChange, ...]:
    """The steps whose summary differs, or that only one side has; ``before``'s order first."""
    names = list(before) + [name for name in after if name not in before]
    return tuple(
        StepChange(name, before.get(name), after.get(name))
        for name in names
        if before.get(name) != after.get(name)
    )


@attrs.frozen
class TraceDiff:
    """Two traces compared; :attr:`identical` says whether every event is the same.

    ``first`` is the index of the first event that differs (None when none does);
    ``seeds`` the two runs' seeds when they differ (``run_started`` records the
    seed, so two seeds of one workflow always differ there: that alone is not
    where they part); ``only_a``/``only_b`` are the events of one side that content
    alignment could not match on the other; ``steps`` the steps whose attempts or
    outcome differ.
    """

    a: Trace
    b: Trace
    a_name: str
    b_name: str
    first: int | None
    only_a: tuple[TraceEvent, ...]
    only_b: tuple[TraceEvent, ...]
    steps: tuple[StepChange, ...]
    seeds: tuple[Any, Any] | None = None
    context: int = 3

    @property
    def identical(self) -> bool:
        return self.first is None and self.seeds is None

    def rows(self) -> list[tuple[int, TraceEvent | None, TraceEvent | None]]:
        """``(index, A's event, B's event)`` around the first difference (None: ended)."""
        if self.first is None:
            return []
        lo = max(0, self.first - self.context)
        hi = min(max(len(self.a), len(self.b)), self.first + self.context + 1)
        return [
            (i, self.a[i] if i < len(self.a) else None, self.b[i] if i < len(self.b) else None)
            for i in range(lo, hi)
        ]

    def format(self) -> str:
        """The first difference with aligned context from both sides, then the summary."""
        a, b = self.a_name, self.b_name
        head = (
            f"A: {a} ({len(self.a)} events, digest {self.a.digest()[:12]})\n"
            f"B: {b} ({len(self.b)} events, digest {self.b.digest()[:12]})"
        )
        if self.seeds is not None:
            head += f"\nseeds differ: A ran seed {self.seeds[0]}, B seed {self.seeds[1]}"
        if self.first is None:
            rest = "every other event" if self.seeds else "every event"
            return f"{head}\nidentical: {rest} is the same"
        lines = [head, f"first difference at event #{self.first}:"]
        for index, mine, theirs in self.rows():
            if mine is not None and theirs is not None and mine.to_json() == theirs.to_json():
                lines.append(f"    {mine.describe()}")
                continue
            for side, event, trace in (("A", mine, self.a), ("B", theirs, self.b)):
                if event is not None:
                    lines.append(f"  {side} {event.describe()}")
                elif index == len(trace):
                    lines.append(f"  {side} <trace ended after {len(trace)} events>")
        lines.append(
            f"summary: {len(self.only_a)} event{'s' * (len(self.only_a) != 1)} only in A, "
            f"{len(self.only_b)} only in B (aligned by content, ignoring seq)"
        )
        for side, events in (("A", self.only_a), ("B", self.only_b)):
            lines += [f"  only {side}: {e.describe()}" for e in events[:_LISTED]]
            if len(events) > _LISTED:
                lines.append(f"  only {side}: ... {len(events) - _LISTED} more")
        if self.steps:
            lines.append("steps whose attempts or outcome differ:")
            lines += [f"  {change.describe()}" for change in self.steps]
        else:
            lines.append("every step has the same attempts and outcome")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        def side(name: str, trace: Trace) -> dict[str, Any]:
            return {"name": name, "events": len(trace), "digest": trace.digest()}

        first: dict[str, Any] | None = None
        if self.first is not None:
            first = {
                "index": self.first,
                "context": [
                    {
                        "index": i,
                        "a": None if x is None else x.to_dict(),
                        "b": None if y is None else y.to_dict(),
                    }
                    for i, x, y in self.rows()
                ],
            }
        return {
            "identical": self.identical,
            "seeds": None if self.seeds is None else list(self.seeds),
            "a": side(self.a_name, self.a),
            "b": side(self.b_name, self.b),
            "first_difference": first,
            "only_a": [e.to_dict() for e in self.only_a],
            "only_b": [e.to_dict() for e in self.only_b],
            "steps": [change.to_json() for change in self.steps],
        }


def _content(event: TraceEvent) -> str:
    """The event without its index (and ``run_started`` without its seed), for alignment."""
    data = event.to_dict()
    del data["seq"]
    if event.kind == "run_started":
        data.pop("seed", None)
    return json.dumps(data, sort_keys=True, default=repr)


def _first_difference(a: Trace, b: Trace) -> int | None:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if _content(x) != _content(y):
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def _seeds(a: Trace, b: Trace) -> tuple[Any, Any] | None:
    if not len(a) or not len(b) or a[0].kind != "run_started" or b[0].kind != "run_started":
        return None
    seeds = (a[0].get("seed"), b[0].get("seed"))
    return seeds if seeds[0] != seeds[1] else None


def _unmatched(a: Sequence[TraceEvent], b: Sequence[TraceEvent]) -> tuple[list[int], list[int]]:
    matcher = difflib.SequenceMatcher(
        None, [_content(e) for e in a], [_content(e) for e in b], autojunk=False
    )
    only_a: list[int] = []
    only_b: list[int] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            only_a.extend(range(i1, i2))
            only_b.extend(range(j1, j2))
    return only_a, only_b


def diff_traces(
    a: Trace, b: Trace, *, a_name: str = "A", b_name: str = "B", context: int = 3
) -> TraceDiff:
    """Compare two traces: where they first differ, and what each has that the other lacks.

    Example::

        diff = diff_traces(before.trace, after.trace, a_name="main", b_name="branch")
        if not diff.identical:
            print(diff.format())
    """
    first = _first_difference(a, b)
    seeds = _seeds(a, b)
    if first is None:
        return TraceDiff(a, b, a_name, b_name, None, (), (), (), seeds, context)
    # Events before the first difference are equal; align only the rest.
    only_a, only_b = _unmatched(a[first:], b[first:])
    return TraceDiff(
        a,
        b,
        a_name,
        b_name,
        first,
        tuple(a[first + i] for i in only_a),
        tuple(b[first + j] for j in only_b),
        step_changes(step_summaries(a), step_summaries(b)),
        seeds,
        context,
    )
