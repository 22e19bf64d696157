"""The engine's timers: what happens at a later virtual instant, in the order it was set.

Timers fall due by time, and timers due at the same instant in the order they were
made. Many fall due together (every step started at one instant ends at one), so
they are kept by instant: a heap of the instants, each with its timers in creation
order. Setting a timer is an append; only a new instant costs a heap push, and all
the timers of an instant come off at once.

A timer is a list ``[at_ns, seq, fn or None when cancelled, args]``, so cancelling one
is O(1) (``timer[2] = None``); cancelled timers are dropped when their instant is next.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterator
from typing import Any

from ._state import _Timer

__all__ = ["TimerQueue"]


class TimerQueue:
    """Timers by due instant (see the module's docstring)."""

    __slots__ = ("_by_instant", "_instants", "_seq")

    def __init__(self) -> None:
        self._instants: list[int] = []  # a heap: the instants that have timers
        self._by_instant: dict[int, list[_Timer]] = {}  # each in creation order
        self._seq = 0

    def add(self, at_ns: int, fn: Callable[..., None], args: tuple[Any, ...]) -> _Timer:
        """Call ``fn(*args)`` at ``at_ns``, after the timers already set for that instant."""
        self._seq += 1
        timer: _Timer = [at_ns, self._seq, fn, args]
        timers = self._by_instant.get(at_ns)
        if timers is None:
            self._by_instant[at_ns] = [timer]
            heapq.heappush(self._instants, at_ns)
        else:
            timers.append(timer)
        return timer

    def put_back(self, timer: _Timer) -> None:
        """Set again a timer taken out by :meth:`take_all` (it keeps its place by creation)."""
        timers = self._by_instant.get(timer[0])
        if timers is None:
            self._by_instant[timer[0]] = [timer]
            heapq.heappush(self._instants, timer[0])
        else:
            bisect.insort(timers, timer, key=lambda t: t[1])

    def next_instant(self) -> int | None:
        """The earliest instant with a timer not cancelled (None: no timer is set)."""
        instants, by_instant = self._instants, self._by_instant
        while instants:
            at = instants[0]
            timers = by_instant[at]
            for cancelled, timer in enumerate(timers):
                if timer[2] is not None:
                    if cancelled:
                        del timers[:cancelled]
                    return at
            heapq.heappop(instants)
            del by_instant[at]
        return None

    def take_due(self, at_ns: int) -> list[_Timer]:
        """Take out the timers of the earliest instant, ``at_ns`` (from
        :meth:`next_instant`), in creation order; some may be cancelled."""
        heapq.heappop(self._instants)
        return self._by_instant.pop(at_ns)

    def take_all(self) -> list[_Timer]:
        """Take out every timer not cancelled (a crash: the recovery puts them back)."""
        live = [t for t in self if t[2] is not None]
        self.clear()
        return live

    def clear(self) -> None:
        self._instants.clear()
        self._by_instant.clear()

    def __iter__(self) -> Iterator[_Timer]:
        for timers in self._by_instant.values():
            yield from timers
