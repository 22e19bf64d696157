"""What the kernel (``_engine.Engine``) asks of a style that runs its own code."""

from __future__ import annotations

from typing import Any, Protocol

import outcome

from ._state import _Attempt

__all__ = ["Style"]


class Style(Protocol):
    """What the kernel asks of a style that runs its own code under the baton: the
    workflow body style (``_bodies.Bodies``). Its pseudo-steps have ``Step.index == _engine._BODY``.
    """

    def start(self) -> None:
        """The run starts (after the DAG's first steps are ready)."""

    def code_ended(self, att: _Attempt, result: outcome.Outcome[Any]) -> None:
        """The code of one of its pseudo-steps returned or raised."""

    def unfinished(self) -> bool:
        """Whether it still waits for something."""

    def failed(self) -> bool:
        """Whether the run failed (its body raised)."""

    def blocked(self) -> bool:
        """Whether the run cannot go on until its code is fixed (a NondeterminismError,
        IMP-12): it ends failed and compensates nothing."""

    def time_out(self) -> list[str]:
        """The run timed out: end its code; what it still waited for, described."""

    def crashed(self) -> list[_Attempt]:
        """The engine died: the code in memory it loses (the kernel ends it)."""

    def recovered(self) -> None:
        """The engine is back: its code starts again (replaying its history)."""
