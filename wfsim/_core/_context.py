"""What step code and workflow bodies share: the run's identity, input, time and randomness."""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
from typing import Any

from wfsim.errors import ContextKeyError, WfsimError, did_you_mean

from ._aio import in_asyncio_task
from ._events import Event
from ._time import Duration, to_ns, to_seconds, wall_time

__all__ = ["RunView", "StepContext"]

_MISSING: Any = object()


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
            self._rng = random.Random(self._seed())
        return self._rng

    def now(self) -> float:
        """Virtual seconds since the run started (like Temporal's ``workflow.now()``)."""
        return to_seconds(self._now_ns())

    def now_ns(self) -> int:
        return self._now_ns()

    def wall_time(self) -> _dt.datetime:
        """The virtual wall-clock time: the run's epoch plus :meth:`now`."""
        return wall_time(self._engine.epoch, self._now_ns())

    def _now_ns(self) -> int:
        return int(self._engine.now)

    def _seed(self) -> int:
        return int(self._engine.choices.choose(1 << 62, "random"))


class StepContext(RunView):
    """What step code receives: the shared context, virtual time, the attempt.

    ``get/set/delete`` read and write the workflow's shared context;
    ``input`` is the run's input (read-only); ``attempt`` is 1-based;
    ``now()`` is virtual seconds since the run started; ``sleep()`` waits
    virtual time; ``random`` is a PRNG seeded by the run, step and attempt.
    """

    __slots__ = ("_attempt",)

    def __init__(self, engine: Any, attempt: Any) -> None:
        super().__init__(engine)
        self._attempt = attempt

    @property
    def step(self) -> str:
        return str(self._attempt.state.step.name)

    @property
    def attempt(self) -> int:
        return int(self._attempt.number)

    @property
    def result(self) -> Any:
        """In a compensation: the result of the step it undoes (None if that step never
        completed, e.g. under ``register="before"``). Step code has no ``result``."""
        undone = self._attempt.state.for_step
        if undone is None:
            raise WfsimError(
                f"ctx.result is the undone step's result, for compensations; {self.step!r} "
                "is a step"
            )
        return self._engine.states[undone].result

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """Read a context key; without ``default`` a missing key raises ContextKeyError."""
        ctx = self._engine.context
        if key in ctx:
            return ctx[key]
        if default is not _MISSING:
            return default
        raise ContextKeyError(
            f"step {self.step!r} read context key {key!r}, which is not set"
            f"{did_you_mean(key, ctx)} (set keys: {', '.join(sorted(map(str, ctx))) or 'none'})"
        )

    def set(self, key: str, value: Any) -> None:
        self._engine.context[key] = value

    def delete(self, key: str) -> None:
        try:
            del self._engine.context[key]
        except KeyError:
            raise ContextKeyError(
                f"step {self.step!r} deleted context key {key!r}, which is not set"
                f"{did_you_mean(key, self._engine.context)}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._engine.context

    async def sleep(self, seconds: Duration) -> None:
        """Wait ``seconds`` of virtual time (a number or a string like ``"2h"``)."""
        delay = to_ns(seconds, what="ctx.sleep duration")
        if in_asyncio_task():  # inside asyncio.gather/create_task: wait on the step's loop
            await asyncio.sleep(delay / 1e9)
            return
        await self._engine.park(self._attempt, delay)

    def send_event(self, event: Any, step: str | None = None) -> None:
        """Event workflows: deliver ``event`` to every step accepting its type, or to ``step``.

        An unknown step, or one that does not accept the type, is an error
        (LlamaIndex's ``WorkflowRuntimeError`` messages).
        """
        if self._engine.event_wf is None:
            raise WfsimError("ctx.send_event() is for steps of an event workflow")
        self._engine.emit(event, sender=self.step, target=step)

    def write_event_to_stream(self, event: Event) -> None:
        """Event workflows: write ``event`` to the run's stream, for whoever watches the run
        (LlamaIndex's ``handler.stream_events()``); no step receives it. wfsim keeps the
        stream in ``RunResult.stream`` and the trace (``event_streamed``, EVT-9)."""
        if self._engine.event_wf is None:
            raise WfsimError("ctx.write_event_to_stream() is for steps of an event workflow")
        if not isinstance(event, Event):
            raise WfsimError(
                f"write_event_to_stream() takes a wfsim.Event, not {type(event).__name__}"
            )
        self._engine.stream(self._attempt, event, type(event).__name__, event.fields)

    def collect_events(
        self, event: Any, expected: list[Any], buffer_id: str | None = None
    ) -> list[Any] | None:
        """Event workflows: buffer ``event``; return the expected events once all arrived.

        None until every expected event is buffered; then the events in the
        order of ``expected`` (repeated types in arrival order, this event last).
        An event of a type not expected, or beyond the expected count of its
        type, is dropped. Buffers are per step and ``buffer_id`` and start
        empty again after a full collection.
        """
        collected: list[Any] | None = self._engine.collect_events(
            self._attempt, event, expected, buffer_id
        )
        return collected
