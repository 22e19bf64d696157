"""CPython's cyclic collector eased while runs are under way, and restored after the last.

A run allocates trace events, step states and results that all live until it ends;
every collection during it re-scans them and frees nothing (on 100,000 steps, 13 full
collections took 2 of 4.5 s). So a run postpones full collections, a batch of runs
collects its young generation more rarely, and a run with no step code pauses the
collector: only the engine's own objects exist then. When such a paused run ends, what
it made and keeps (its trace, its result) goes straight to the oldest generation, as
surviving young collections would have moved it: otherwise the first young collection
after the run would scan all of it (a third of a 10,000-step code-less run's time).

GC settings are process-wide, and runs in several threads (a Dask worker's, a
user's thread pool) overlap. Each run saving the settings
it found and restoring them when it ends would leave the eased ones for good when two
overlap (the second saves the first's). So the settings found when no run was
under way are saved once and restored once, when the last overlapping run ends; in
between, each run adds its own easing.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["eased_gc"]

_lock = threading.Lock()
_holders = 0
_saved: tuple[bool, tuple[int, ...]] = (True, (700, 10, 10))

#: A threshold that never triggers a full (generation 2) collection during a run.
NEVER = 1 << 30


@contextlib.contextmanager
def eased_gc(*, pause: bool = False, young: int = 0, full: bool = True) -> Iterator[None]:
    """Ease the collector for the block: ``pause`` it, collect the young generation
    only every ``young`` allocations (at least; 0 leaves it), postpone full
    collections unless ``full``. Cyclic garbage left is freed after the last run
    (by the next full collection, after a paused one).
    """
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = (gc.isenabled(), gc.get_threshold())
        _holders += 1
        zeroth, first, second = gc.get_threshold()
        if young and zeroth:  # a zero threshold means the user turned automatic GC off
            zeroth = max(zeroth, young)
        gc.set_threshold(zeroth, first, second if full else NEVER)
        if pause:
            gc.disable()
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if pause and _holders == 0:
                _age_young_objects()
            if _holders == 0:
                enabled, thresholds = _saved
                gc.set_threshold(*thresholds)
                if enabled:
                    gc.enable()


def _age_young_objects() -> None:
    """Move every object the collector tracks to its oldest generation, without a scan.

    ``gc.freeze()`` then ``gc.unfreeze()`` does exactly that (documented: frozen objects
    go back to the oldest generation). Skipped if the process froze objects itself
    (unfreezing would release its objects too).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
