"""What step code and workflow bodies share: the run's identity, input, time and randomness."""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any

from ._time import to_seconds, wall_time

__all__ = ["RunView"]


class RunView:
    """The read side of a run for code running in it (``StepContext``, ``WorkflowContext``).

    ``_engine`` is the running engine; subclasses add what is theirs (the step,
    the attempt, steps to call).
    """

    __slots__ = ("_engine", "_rng")

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._rng: random.Random | None = None

    @property
    def workflow(self) -> str:
        return str(self._engine.workflow.name)

    @property
    def input(self) -> Any:
        """The run's input (a mapping for DAG workflows; any value for a workflow body)."""
        return self._engine.input

    @property
    def random(self) -> random.Random:
        """A PRNG seeded by one draw from the run's ``random`` stream.

        The draw is a recorded choice, so a replay from ``result.choices`` (or a
        Hypothesis tape) gives the code the same numbers.
        """
        if self._rng is None:
            self._rng = random.Random(self._engine.choices.choose(1 << 62, "random"))
        return self._rng

    def now(self) -> float:
        """Virtual seconds since the run started (like Temporal's ``workflow.now()``)."""
        return to_seconds(self._engine.now)

    def now_ns(self) -> int:
        return int(self._engine.now)

    def wall_time(self) -> _dt.datetime:
        """The virtual wall-clock time: the run's epoch plus :meth:`now`."""
        return wall_time(self._engine.epoch, self._engine.now)
