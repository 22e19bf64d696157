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
While a run is active the process's local timezone is the epoch's (UTC by
default), so a naive ``datetime.now()`` reads the same on every host: a trace
must not depend on where it was recorded.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
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
        self._tz = _tz_name(epoch)
        self._saved_tz: str | None = None
        self._traveller: Any = None
        self._coordinates: Any = None
        self._at: int | None = None

    def __enter__(self) -> WallClock:
        self._saved_tz = os.environ.get("TZ")
        os.environ["TZ"] = self._tz
        time.tzset()
        self._traveller = time_machine.travel(self._epoch_s, tick=False)
        self._coordinates = self._traveller.start()
        self._at = 0
        return self

    def __exit__(self, *exc: object) -> None:
        if self._traveller is not None:
            self._traveller.stop()
            self._traveller = None
        if self._saved_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = self._saved_tz
        time.tzset()

    def sync(self, now_ns: int) -> None:
        """Show ``epoch + now_ns`` to step code (cheap when time has not moved)."""
        if now_ns != self._at and self._coordinates is not None:
            self._coordinates.move_to(self._epoch_s + now_ns / NS_PER_SECOND)
            self._at = now_ns


def _tz_name(epoch: _dt.datetime) -> str:
    """A TZ value for the epoch's zone: its IANA key, or a fixed offset (POSIX sign)."""
    key = getattr(epoch.tzinfo, "key", None)
    if isinstance(key, str):
        return key
    offset = epoch.utcoffset() or _dt.timedelta(0)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes > 0 else "+"  # POSIX TZ offsets are west-positive
    hours, mins = divmod(abs(minutes), 60)
    return f"WFSIM{sign}{hours:02d}:{mins:02d}"
