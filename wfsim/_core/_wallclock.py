"""The bridge from virtual time to the wall clock that step code may read.

Step code that calls ``time.time()``, ``datetime.now()`` or
``datetime.utcnow()`` (as Cloacina's tasks do) sees ``epoch + virtual
seconds``. The engine moves the clock right before it hands control to step
code, so the clock always reads the virtual instant of the code that runs.
While a run is active the process's local timezone is the epoch's (UTC by
default), so a naive ``datetime.now()`` reads the same on every host: a trace
must not depend on where it was recorded.

Two ways to move the clock (TIME-4, TIME-7):

* **time-machine** (the default): it patches at C level and leaves the
  monotonic clocks trio runs on alone. freezegun was rejected for this: it
  scans every loaded module when it starts, patches trio's own
  ``perf_counter`` unless trio is ignored, and with ``ignore=['trio']`` hands
  host time to ``time.time()`` inside trio tasks.
* **freezegun's own clock**, when a test has already frozen time with
  freezegun (time-machine refuses to start then). freezegun keeps a stack of
  frozen clocks and its patched functions read the top one; a run pushes a
  frozen clock of its own (no ignore list, so no caller sees host time), moves
  it, and pops it at the end, leaving the test's clock exactly as it was.

With time-machine the virtual clock belongs to the thread that runs the
simulation (TIME-4): time-machine's patch is process-wide, so wfsim keeps one
traveller of its own started while any run is active, and it answers each
thread with that thread's run's instant, or, in a thread that runs no
simulation, with the time below it (the host's, or a test's own travel). A Dask
worker's event loop, which times its messages to the scheduler with
``time.time()`` while a task runs a simulation in another thread, thus keeps
host time (it stalled for the months between host time and the virtual epoch);
and runs in several threads at once each read their own clock.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sys
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from wfsim.errors import WallClockError

from ._time import NS_PER_SECOND

__all__ = ["WallClock", "freezegun_held"]


def _active_freezegun() -> ModuleType | None:
    """freezegun's ``api`` module if a ``freeze_time`` is active now, else None."""
    api = sys.modules.get("freezegun.api")
    if api is None or not getattr(api, "freeze_factories", None):
        # An old freezegun without the stack: time-machine's own check says so.
        if _dt.datetime.__name__ == "FakeDatetime" and api is not None:
            raise WallClockError(_too_old(api))
        return None
    for name in ("tz_offsets", "ignore_lists", "tick_flags", "FrozenDateTimeFactory"):
        if not hasattr(api, name):
            raise WallClockError(_too_old(api))
    return api


def _too_old(api: ModuleType) -> str:
    version = getattr(sys.modules.get("freezegun"), "__version__", "?")
    return (
        f"freezegun {version} is active (freeze_time) and wfsim cannot drive its clock: "
        "wfsim needs freezegun >= 1.1 (its stack of frozen clocks); upgrade freezegun, "
        "or end the freeze_time before wfsim.run"
    )


def _depth() -> int:
    api = sys.modules.get("freezegun.api")
    return len(getattr(api, "freeze_factories", ())) if api is not None else 0


class _FrozenFrame:
    """One frozen clock pushed on freezegun's stack, popped by identity."""

    def __init__(self, api: ModuleType, at: _dt.datetime, offset: _dt.timedelta) -> None:
        self.api = api
        self.factory = api.FrozenDateTimeFactory(at)
        api.freeze_factories.append(self.factory)
        api.tz_offsets.append(offset)
        api.ignore_lists.append(())  # no caller gets host time while a run is active
        api.tick_flags.append(False)

    def move(self, at: _dt.datetime, offset: _dt.timedelta) -> None:
        self.factory.time_to_freeze = at
        index = self._index()
        if index is not None:
            self.api.tz_offsets[index] = offset

    def pop(self) -> None:
        index = self._index()
        if index is not None:
            for stack in ("freeze_factories", "tz_offsets", "ignore_lists", "tick_flags"):
                del getattr(self.api, stack)[index]

    def _index(self) -> int | None:
        stack = self.api.freeze_factories
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is self.factory:
                return index
        return None


@contextlib.contextmanager
def freezegun_held(epoch: _dt.datetime) -> Iterator[None]:
    """While a test's ``freeze_time`` is active, show trio's own clock reads ``epoch``.

    ``wfsim.run`` wraps its ``trio.run`` in this, so an ``auto_tick_seconds``
    clock of the test does not tick for the reads trio makes (TIME-7).
    """
    api = _active_freezegun()
    if api is None:
        yield
        return
    frame = _FrozenFrame(api, _naive_utc(epoch), _offset(epoch))
    try:
        yield
    finally:
        frame.pop()


class _SharedTraveller:
    """One time-machine traveller for every run of the process, read per thread.

    time-machine keeps one stack of travellers for the whole process and its
    patched functions read the top one, from whatever thread calls them. The
    traveller started here answers from a thread-local instant: the thread's
    run's ``epoch + now`` in ns, set by :meth:`WallClock.sync`; a thread without
    one gets what it would get without wfsim (the traveller below, else host time).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.users = 0
        self.travel: Any = None
        self.traveller: Any = None
        self.tz: str | None = None
        self.saved_tz: str | None = None

    def enter(self, tz: str, start_ns: int) -> int | None:
        """Show ``start_ns`` to this thread; returns the thread's previous instant."""
        with self.lock:
            if self.users == 0:
                import time_machine  # imported here: it imports pytest (~60 ms of start-up)

                # Host time, not ticking: what every thread reads in the instant between
                # start() and the shadowing below (a fixed 0 there stalled Dask's loop). A
                # ticking traveller reads time-machine's original clock, which raises once
                # the patch is gone: a thread preempted inside that read while this run
                # started, ran and ended got a ValueError from time.time().
                travel = time_machine.travel(time.time(), tick=False)
                try:
                    traveller: Any = travel.start()
                except RuntimeError as exc:  # a clock library time-machine cannot start under
                    raise WallClockError(
                        f"wfsim cannot show step code the virtual wall clock: {exc} "
                        "Run with patch_wall_clock=False, or end that clock patch before the run"
                    ) from None
                # time-machine 3 calls time_ns() for every function it patches; 2 calls
                # time() or time_ns(): the traveller's own methods, shadowed per instance.
                traveller.time_ns = self.time_ns
                if hasattr(type(traveller), "time"):
                    traveller.time = self.time
                self.travel, self.traveller = travel, traveller
                self.saved_tz = os.environ.get("TZ")
                self.tz = tz
                os.environ["TZ"] = tz
                time.tzset()
            elif tz != self.tz:
                raise WallClockError(
                    f"a run with its epoch in timezone {tz!r} cannot start while another "
                    f"thread of this process runs one in {self.tz!r}: the local timezone is "
                    "one for the whole process; give runs that share a process epochs in "
                    "the same timezone"
                )
            self.users += 1
        previous: int | None = getattr(self.local, "ns", None)
        self.local.ns = start_ns
        return previous

    def exit(self, previous: int | None) -> None:
        self.local.ns = previous
        with self.lock:
            self.users -= 1
            if self.users:
                return
            travel, self.travel, self.traveller = self.travel, None, None
            travel.stop()
            if self.saved_tz is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = self.saved_tz
            time.tzset()

    def time_ns(self) -> int:
        ns: int | None = getattr(self.local, "ns", None)
        if ns is not None:
            return ns
        import time_machine

        # A copy: another thread's run may start or end while this one reads.
        found: Any = getattr(time_machine, "traveller_stack", None)
        if found is None:  # time-machine 2
            found = getattr(time_machine, "coordinates_stack", ())
        stack: list[Any] = list(found)
        below = _index(stack, self.traveller)
        if below > 0:  # a traveller started before the first run (a test's own travel)
            return int(stack[below - 1].time_ns())
        try:
            return int(sys.modules["_time_machine"].original_time_ns())
        except ValueError:  # the last run ended meanwhile: time-machine is unpatched now
            return time.clock_gettime_ns(time.CLOCK_REALTIME)

    def time(self) -> float:
        return self.time_ns() / NS_PER_SECOND


def _index(stack: list[Any], item: Any) -> int:
    for index in range(len(stack) - 1, -1, -1):
        if stack[index] is item:
            return index
    return 0


_SHARED = _SharedTraveller()


class WallClock:
    """Shows ``epoch + virtual time`` as the host's wall clock while active."""

    def __init__(self, epoch: _dt.datetime) -> None:
        if epoch.tzinfo is None:
            epoch = epoch.replace(tzinfo=_dt.UTC)
        self._epoch = epoch
        self._epoch_ns = _to_ns(epoch)
        self._tz = _tz_name(epoch)
        self._saved_tz: str | None = None
        self._shared = False
        self._previous: int | None = None
        self._frame: _FrozenFrame | None = None
        self._depth = 0
        self._at: int | None = None

    def __enter__(self) -> WallClock:
        api = _active_freezegun()
        if api is not None:
            # freezegun's clock is the process's: every thread reads it, as freezegun does.
            self._saved_tz = os.environ.get("TZ")
            os.environ["TZ"] = self._tz
            time.tzset()
            self._frame = _FrozenFrame(api, _naive_utc(self._epoch), _offset(self._epoch))
        else:
            self._previous = _SHARED.enter(self._tz, self._epoch_ns)
            self._shared = True
        self._depth = _depth()
        self._at = 0
        return self

    def __exit__(self, *exc: object) -> None:
        if self._shared:
            self._shared = False
            _SHARED.exit(self._previous)
        if self._frame is not None:
            self._frame.pop()
            self._frame = None
            self._restore_tz()

    def _restore_tz(self) -> None:
        if self._saved_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = self._saved_tz
        time.tzset()

    def sync(self, now_ns: int) -> None:
        """Show ``epoch + now_ns`` to step code (cheap when time has not moved)."""
        if now_ns == self._at:
            return
        if self._shared:
            _SHARED.local.ns = self._epoch_ns + now_ns
        elif self._frame is not None:
            at = self._epoch + _dt.timedelta(microseconds=now_ns // 1000)
            self._frame.move(_naive_utc(at), _offset(at))
        self._at = now_ns

    def handed_back(self, step: str, attempt: int) -> None:
        """Step code handed control back: a ``freeze_time`` of its own must have ended."""
        # Inline and cheap: this runs at every hand-back (freezegun may be imported meanwhile).
        api = sys.modules.get("freezegun.api")
        if api is not None and len(getattr(api, "freeze_factories", ())) > self._depth:
            raise WallClockError(
                f"step {step!r} (attempt {attempt}) started freezegun's freeze_time and "
                "handed control back to wfsim while it was still active; other steps would "
                "read its frozen clock: end the freeze_time block before the step awaits or "
                "returns, and set the run's wall clock with run(..., epoch=...) (TIME-7)"
            )


def _to_ns(at: _dt.datetime) -> int:
    """``at`` (aware) in integer ns since the Unix epoch, exactly."""
    delta = at - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


def _naive_utc(at: _dt.datetime) -> _dt.datetime:
    """``at`` as the naive UTC datetime freezegun's factories hold."""
    utc = at.astimezone(_dt.UTC) if at.tzinfo is not None else at
    return _dt.datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond
    )


def _offset(at: _dt.datetime) -> _dt.timedelta:
    return at.utcoffset() or _dt.timedelta(0)


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
