"""Schedule strategies beyond seeded random: PCT and delay bounding, as choice sources.

Both are :class:`~wfsim._core._choice.SeededChoices` for every stream but
``schedule``, so jitter, fault dice and ``ctx.random`` stay those of the seed;
only the order of simultaneous work follows the strategy. Both are
seed-deterministic and record every choice, so ``Tape(source.recorded)``
replays a run exactly (DET-5).

* :class:`PCTChoices` (Burckhardt et al., "A randomized scheduler with
  probabilistic guarantees of finding bugs", ASPLOS 2010): every step (the
  logical task a piece of ready work belongs to) gets a random priority when its
  work first becomes ready; the schedule always takes the ready work of the
  highest priority; at ``depth - 1`` change points, drawn uniformly among the
  first ``horizon`` schedule decisions, the step about to run drops below every
  initial priority. A bug that needs ``d`` ordering constraints is found with
  probability at least ``1 / (steps * horizon ** (d - 1))`` per seed.
* :class:`DelayBoundedChoices` (Emmi, Qadeer, Rakamaric, "Delay-bounded
  scheduling", POPL 2011): the canonical schedule (choice 0, the oldest ready
  work) with at most ``bound`` delays, each placed at a seeded schedule decision
  among the first ``horizon``; a delay there skips the oldest ready work once.

PCT needs to know which step each piece of ready work belongs to: the engine
hands a source with a ``watch`` method its ready list (and the list of steps
waiting for a worker slot) when the run starts. A ``choose(n, "schedule")`` call
ranks the list that holds ``n`` items (the ready list when both do: the choice
is still valid and deterministic, only its ranking may be the other list's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._choice import SeededChoices

__all__ = [
    "DEFAULT_HORIZON",
    "SCHEDULES",
    "CountingChoices",
    "DelayBoundedChoices",
    "PCTChoices",
    "work_label",
]

#: The schedule strategies a campaign can explore with (``--schedule``).
SCHEDULES = ("random", "pct", "delay-bounded")

#: Schedule decisions over which change points and delays are spread when the
#: caller does not know how many a run makes.
DEFAULT_HORIZON = 64


def work_label(item: Any) -> str:
    """The step a ready item (``(fn, args)``) or waiting step state belongs to.

    Ready work is a step starting, an attempt ending, step code resuming, a
    retry: its first argument is a step's state or an attempt of one. Work of
    no step (a signal, an event delivery) is named by the engine function.
    """
    fn, args = item if isinstance(item, tuple) else (None, (item,))
    if args:
        obj = args[0]
        state = getattr(obj, "state", obj)
        step = getattr(state, "step", None)
        name = getattr(step, "name", None)
        if isinstance(name, str):
            return name
    return str(getattr(fn, "__name__", "work"))


def _check(name: str, value: int, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, not {value!r}")
    return value


class PCTChoices(SeededChoices):
    """PCT: random step priorities plus ``depth - 1`` priority change points.

    ``PCTChoices(seed, depth=3, horizon=40)``; ``horizon`` is the number of
    schedule decisions a run makes (the explorer measures it on the canonical
    run). Priorities and change points come from the seed's ``pct`` stream.
    """

    def __init__(self, seed: int, *, depth: int = 3, horizon: int = DEFAULT_HORIZON) -> None:
        super().__init__(seed)
        self.depth = _check("PCT depth", depth, 1)
        self.horizon = _check("PCT horizon", horizon, 1)
        rng = self._stream("pct")
        # Decision index -> the priority the step about to run drops to (1 .. depth-1,
        # below every initial priority, which are all >= depth).
        self.change_points: dict[int, int] = {}
        for level in range(depth - 1, 0, -1):
            self.change_points.setdefault(rng.randrange(horizon), level)
        self._priority: dict[str, float] = {}
        self._decisions = 0
        self._ready: Sequence[Any] = ()
        self._waiting: Sequence[Any] = ()

    def watch(self, ready: Sequence[Any], waiting: Sequence[Any] = ()) -> None:
        """Called by the engine at the start of the run with its live lists."""
        self._ready, self._waiting = ready, waiting

    def _rank(self, label: str) -> float:
        prio = self._priority.get(label)
        if prio is None:
            # Initial priorities lie in [depth, depth + 1): above every changed one.
            prio = self._priority[label] = self.depth + self._stream("pct").random()
        return prio

    def choose(self, n: int, stream: str) -> int:
        if stream != "schedule" or n <= 1:
            return super().choose(n, stream)
        if len(self._ready) == n:
            labels = [work_label(item) for item in self._ready]
        elif len(self._waiting) == n:
            labels = [work_label(item) for item in self._waiting]
        else:  # not watched (a source used outside the engine): PCT over positions
            labels = [f"#{i}" for i in range(n)]
        best = _best(labels, self._rank)
        level = self.change_points.get(self._decisions)
        self._decisions += 1
        if level is not None:
            self._priority[labels[best]] = level
            best = _best(labels, self._rank)
        self._record.append(best)
        return best


def _best(labels: Sequence[str], rank: Callable[[str], float]) -> int:
    """The index of the highest-ranked label; the oldest work among equals."""
    best, top = 0, rank(labels[0])
    for i in range(1, len(labels)):
        r = rank(labels[i])
        if r > top:
            best, top = i, r
    return best


class DelayBoundedChoices(SeededChoices):
    """The canonical schedule with at most ``bound`` delays at seeded decisions.

    ``DelayBoundedChoices(seed, bound=2, horizon=40)``: ``bound`` decision
    indices are drawn (with repetition) from ``[0, horizon)`` on the seed's
    ``delays`` stream; a decision that holds ``k`` delays takes ready work
    ``min(k, n - 1)`` instead of 0, the oldest.
    """

    def __init__(self, seed: int, *, bound: int = 1, horizon: int = DEFAULT_HORIZON) -> None:
        super().__init__(seed)
        self.bound = _check("delay bound", bound, 0)
        self.horizon = _check("delay horizon", horizon, 1)
        rng = self._stream("delays")
        self.delays: dict[int, int] = {}
        for _ in range(bound):
            at = rng.randrange(horizon)
            self.delays[at] = self.delays.get(at, 0) + 1
        self._decisions = 0

    def choose(self, n: int, stream: str) -> int:
        if stream != "schedule" or n <= 1:
            return super().choose(n, stream)
        value = min(self.delays.get(self._decisions, 0), n - 1)
        self._decisions += 1
        self._record.append(value)
        return value


class CountingChoices(SeededChoices):
    """The canonical schedule (every schedule choice 0) that counts schedule decisions.

    What the explorer runs once per scenario to learn the ``horizon`` of PCT and
    delay bounding.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.decisions = 0

    def choose(self, n: int, stream: str) -> int:
        if stream != "schedule" or n <= 1:
            return super().choose(n, stream)
        self.decisions += 1
        self._record.append(0)
        return 0
