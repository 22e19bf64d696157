"""The bridge from virtual time to the wall clock that step code may read.

Step code that calls ``time.time()``, ``datetime.now()`` or
``datetime.utcnow()`` (as Cloacina's tasks do) sees ``epoch + virtual
seconds``. This uses time-machine, not freezegun: freezegun scans every loaded
module when it starts, patches trio's own ``perf_counter`` unless trio is
ignored, and with ``ignore=['trio']`` hands host time to ``time.time()`` inside
trio tasks (every trio task has trio frames on its stack). time-machine
patches at C level and leaves the monotonic clocks trio runs on alone.

The engine moves the patched clock right before it hands control to step
code, so the clock always reads the virtual instant of the code that runs.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import time_machine

from ._time import NS_PER_SECOND

__all__ = ["WallClock"]


class WallClock:
    """Patches the host's wall clock to ``epoch + virtual time`` while active."""

    def __init__(self, epoch: _dt.datetime) -> None:
        if epoch.tzinfo is None:
            epoch = epoch.replace(tzinfo=_dt.UTC)
        self._epoch_s = epoch.timestamp()
        self._traveller: Any = None
        self._coordinates: Any = None
        self._at: int | None = None

    def __enter__(self) -> WallClock:
        self._traveller = time_machine.travel(self._epoch_s, tick=False)
        self._coordinates = self._traveller.start()
        self._at = 0
        return self

    def __exit__(self, *exc: object) -> None:
        if self._traveller is not None:
            self._traveller.stop()
            self._traveller = None

    def sync(self, now_ns: int) -> None:
        """Show ``epoch + now_ns`` to step code (cheap when time has not moved)."""
        if now_ns != self._at and self._coordinates is not None:
            self._coordinates.move_to(self._epoch_s + now_ns / NS_PER_SECOND)
            self._at = now_ns
