"""Schedules (tapes for the engine's choice source) and search guidance for ``target()``."""

from __future__ import annotations

import collections
import functools

import hypothesis
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from wfsim._core._choice import Tape
from wfsim._core._run import RunResult

from ._check import check_int, check_order

__all__ = ["interestingness", "schedules", "target_interesting"]


def schedules(*, min_size: int = 0, max_size: int = 200) -> SearchStrategy[Tape]:
    """Tapes for ``wfsim.run(..., choices=tape)``: every engine decision, drawn up front.

    The engine asks its choice source ``choose(n)`` whenever it must decide
    (which ready work goes first, a jitter draw, a probabilistic fault); a
    :class:`wfsim.Tape` answers from a fixed list, value modulo ``n``, and 0
    past its end. The list is drawn *before* the run: drawing inside trio's run
    loop turns Hypothesis's control flow into ``TrioInternalError``
    (never inside trio's run loop). So Hypothesis shrinks the interleaving, the jitter and the
    fault dice like any other data, towards the empty tape: the engine's
    canonical order (declaration order, no jitter). Values are 32-bit, enough
    for any ``choose(n)`` and for a ``uniform()`` draw's full range; a tape
    holds ``min_size..max_size`` of them.

    A tape is consumed by the run that reads it; to run the same schedule again
    pass ``choices=tape.values`` (a fresh tape each time) or the first run's
    ``result.choices``::

        @given(workflows(), schedules())
        def test_same_tape_same_trace(workflow, tape):
            first = wfsim.run(workflow, choices=tape.values)
            assert wfsim.run(workflow, choices=tape.values).digest() == first.digest()
    """
    check_int("schedules", "min_size", min_size, minimum=0)
    check_int("schedules", "max_size", max_size, minimum=0)
    check_order("schedules", "min_size", min_size, "max_size", max_size)
    # Draw the length first: a plain st.lists() averages ~5 values, which would leave
    # all but the first few decisions of a run at their canonical 0.
    return st.integers(min_size, max_size).flatmap(_tapes)


@functools.cache
def _tapes(n: int) -> SearchStrategy[Tape]:
    # Four bytes a value: one draw per tape instead of one per value (6x faster), and
    # shrinking the bytes towards zero shrinks every choice towards 0 all the same.
    return st.builds(Tape, st.binary(min_size=4 * n, max_size=4 * n).map(_split))


def _split(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 4], "big") for i in range(0, len(data), 4)]


#: The labels :func:`target_interesting` reports to ``hypothesis.target()``.
LABELS = (
    "wfsim: retry depth",
    "wfsim: simultaneous starts",
    "wfsim: peak concurrency",
    "wfsim: compensations run",
)


def interestingness(result: RunResult) -> dict[str, int]:
    """How far a run went into the rare corners, one score per label (bigger: rarer).

    * ``retry depth``: the most attempts any one step or compensation made;
    * ``simultaneous starts``: the most attempts that started at one virtual
      instant (where the schedule's order matters);
    * ``peak concurrency``: the most attempts in flight at once;
    * ``compensations run``: how many compensations started.
    """
    attempts = [s.attempts for s in result.steps.values()]
    attempts += [c.attempts for c in result.compensations.values()]
    starts: collections.Counter[int] = collections.Counter(
        e.t_ns for e in result.trace if e.kind in ("attempt_started", "compensation_started")
    )
    ran = {e.step for e in result.trace if e.kind == "compensation_started"}
    return dict(
        zip(
            LABELS,
            (
                max(attempts, default=0),
                max(starts.values(), default=0),
                result.trace.max_concurrency(),
                len(ran),
            ),
            strict=True,
        )
    )


def target_interesting(result: RunResult) -> dict[str, int]:
    """Feed :func:`interestingness` to ``hypothesis.target()``; return the scores.

    Call it once per example, inside a ``@given`` test, after the run::

        @given(workflows_with_faults(), schedules())
        def test_oracles_hold(case, tape):
            workflow, faults = case
            result = wfsim.run(workflow, faults=faults, choices=tape)
            target_interesting(result)   # steer towards deep retries, ties, sagas
            ...

    Hypothesis then spends part of its budget mutating the examples that scored
    highest on each label. Calling it twice in one example, or outside a test,
    raises :class:`~hypothesis.errors.InvalidArgument` (``hypothesis.target``'s
    own rule).

    With an example database (Hypothesis's default), ``target()`` also makes
    Hypothesis keep a Pareto front of the scores and compare every new example
    with it, which costs more than drawing and running the example (2.5-3x the
    CPU of wfsim's own property suite): a property whose failures print their
    counterexample, like :func:`run_and_check`'s, can run with ``database=None``.
    """
    scores = interestingness(result)
    for label, value in scores.items():
        hypothesis.target(value, label=label)
    return scores
