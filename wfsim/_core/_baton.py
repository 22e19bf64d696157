"""The baton: the engine drives step code itself, one piece at a time (DET-6).

Step code (a step's ``fn`` or fallback, a workflow body, a branch) is a coroutine.
The engine runs it by sending into it: the code runs until it reaches a wfsim wait
(``ctx.sleep``, a body's ``ctx.step``...), which awaits :func:`hand_back`, and the
send returns. Waking the code is the next send (or a throw). So handing control to
code and back costs a ``send``, not a trio task and four trio scheduler rounds.

The code runs in a copy of the context that was current when it started, as a trio
task spawned then would, so the context variables it sets stay its own.

What the code awaits of trio itself (a checkpoint, ``trio.sleep``, an Event, the
end of a nursery) the engine's task awaits on the code's behalf, still holding the
baton: nothing else runs meanwhile. trio binds cancel scopes and nurseries to the
task that opens them, the engine's here, so code must not keep one open across a
wfsim wait: the wait raises :class:`~wfsim.errors.WfsimError` instead, inside the
code, whose ``with`` blocks then close in order.

A run without trio (``Engine.run_alone``: the LlamaIndex adapter's asyncio code,
LLAMA-10) drives code the same way with :meth:`Baton.switch_alone`; there, awaiting
anything but wfsim's waits (and asyncio's, which ``_aio.drive`` serves) is an error.
"""

from __future__ import annotations

import contextlib
import contextvars
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import outcome
import trio

from wfsim.errors import ExternalWaitError, WfsimError

from ._state import _Attempt

__all__ = ["Baton", "hand_back"]

#: What code yields at a wfsim wait: "resume me when I am woken".
_HAND_BACK = object()
#: What resuming code gives when the code ended.
_ENDED = object()


@types.coroutine
def hand_back() -> Generator[Any, Any, Any]:
    """Await this at a wfsim wait: the engine takes control back, and the code goes on
    with the value it is woken with (or raises the exception)."""
    return (yield _HAND_BACK)


@types.coroutine
def _on_behalf(trap: Any) -> Generator[Any, Any, Any]:
    return (yield trap)


def _cancel_status() -> object:
    """The current task's innermost cancel scope (trio keeps it private: ``None``, so
    no check, if trio ever renames it)."""
    return getattr(trio.lowlevel.current_task(), "_cancel_status", None)


class Baton:
    """Who runs now, and the code of every attempt that started and has not ended."""

    def __init__(self) -> None:
        #: The attempt (or body) whose code runs now; None while the engine works.
        self.holder: _Attempt | None = None
        self._code: dict[_Attempt, tuple[Coroutine[Any, Any, Any], contextvars.Context]] = {}
        #: The engine's cancel scope as a switch began (None: a run without trio).
        self._scope: object = None

    def start(self, att: _Attempt, code: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Make ``att``'s code (``code()``, which keeps its outcome in ``att.outcome``),
        to run at the next switch to ``att``."""
        att.live = True
        self._code[att] = (code(), contextvars.copy_context())

    async def switch(self, att: _Attempt, value: outcome.Outcome[Any] | None) -> None:
        """Run ``att``'s code (``value`` sent or thrown in) until it hands control back
        or ends; what it awaits of trio is awaited here, on its behalf."""
        self._scope = _cancel_status()
        send, throw = _unpacked(value)
        while att in self._code:
            yielded = self._resume(att, send, throw)
            if yielded is _HAND_BACK or yielded is _ENDED:
                return
            try:
                send, throw = await _on_behalf(yielded), None
            except BaseException as exc:  # trio.Cancelled too: the code decides
                send, throw = None, exc

    def switch_alone(self, att: _Attempt, value: outcome.Outcome[Any] | None) -> None:
        """:meth:`switch` in a run without trio (LLAMA-10): the code may await wfsim's
        waits and asyncio's (``drive`` serves those), nothing else."""
        self._scope = None
        if att not in self._code:
            return  # the code ended meanwhile: nothing to resume
        send, throw = _unpacked(value)
        yielded = self._resume(att, send, throw)
        if yielded is not _HAND_BACK and yielded is not _ENDED:
            self._close(att)
            raise ExternalWaitError(
                f"step {att.state.step.name!r} (attempt {att.number}) awaited "
                f"{yielded!r}, which is neither asyncio's nor wfsim's; this workflow's "
                "step code runs without trio (LLAMA-10): await asyncio or ctx methods"
            )

    def _resume(self, att: _Attempt, send: Any, throw: BaseException | None) -> Any:
        """Send (or throw) into ``att``'s code: what it yields, or _ENDED."""
        coro, context = self._code[att]
        self.holder = att
        try:
            if throw is None:
                return context.run(coro.send, send)
            return context.run(coro.throw, throw)
        except StopIteration:  # its end (it kept its outcome)
            del self._code[att]
            return _ENDED
        except BaseException:  # trio.Cancelled, KeyboardInterrupt: it ended too
            del self._code[att]
            att.live = False
            raise
        finally:
            self.holder = None

    def check_wait(self, att: _Attempt, what: str, *, own: bool = False) -> None:
        """The code running now is about to wait on wfsim (``what``): refuse a wait from
        inside a trio cancel scope or nursery it opened and, with ``own``, a wait for
        ``att`` from any code but ``att``'s own."""
        if own and self.holder is not att:
            raise WfsimError(
                f"{what} of step {att.state.step.name!r} was called from another trio task; "
                "step code must wait from the step's own task"
            )
        if self._scope is not None and _cancel_status() is not self._scope:
            raise WfsimError(
                f"{what} of step {att.state.step.name!r} was awaited inside a trio cancel "
                "scope or nursery that the step's code opened; wfsim runs step code on its "
                "own task, so such a block must end before the code waits on wfsim"
            )

    def close(self) -> None:
        """The run is over: close the code still waiting (its ``finally`` blocks run)."""
        while self._code:
            self._close(next(iter(self._code)))

    def _close(self, att: _Attempt) -> None:
        coro, context = self._code.pop(att)
        att.live = False
        # The run's own end (its error, its time-out) is what it reports.
        with contextlib.suppress(Exception):
            context.run(coro.close)


def _unpacked(value: outcome.Outcome[Any] | None) -> tuple[Any, BaseException | None]:
    """What a switch sends into code (a value) or throws into it (an exception)."""
    if isinstance(value, outcome.Error):
        return None, value.error
    return (value.value if isinstance(value, outcome.Value) else None), None
