"""Runs ease CPython's collector and give back the settings they found (DET-11).

GC settings are process-wide: runs overlapping in threads must not leave the eased settings
behind (each run restoring what it found would, when the first to start is the first to end:
the second saved the first's).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator

import pytest

import wfsim


@pytest.fixture(autouse=True)
def known_settings() -> Iterator[tuple[bool, tuple[int, ...]]]:
    before = (gc.isenabled(), gc.get_threshold())
    gc.set_threshold(700, 10, 10)
    gc.enable()
    yield (True, (700, 10, 10))
    gc.set_threshold(*before[1])
    if not before[0]:
        gc.disable()


def codeless() -> wfsim.Workflow:
    wf = wfsim.Workflow("plain")
    wf.add_step("a", duration=1)
    wf.add_step("b", duration=2, after=["a"])
    return wf


def with_code(inside: Callable[[], object] = lambda: None) -> wfsim.Workflow:
    """A step that sleeps, then calls ``inside`` (blocking the run's thread until it returns)."""
    wf = wfsim.Workflow("code")

    @wf.step
    async def a(ctx: wfsim.StepContext) -> int:
        await ctx.sleep(1)
        inside()
        return 1

    return wf


@pytest.mark.spec("DET-11")
def test_each_kind_of_run_gives_back_the_settings_it_found(
    known_settings: tuple[bool, tuple[int, ...]],
) -> None:
    wfsim.run(codeless(), seed=1)
    assert (gc.isenabled(), gc.get_threshold()) == known_settings
    wfsim.run(with_code(), seed=1)
    assert (gc.isenabled(), gc.get_threshold()) == known_settings
    wfsim.run_many(codeless(), seeds=range(3))
    wfsim.run_many(with_code(), seeds=range(3))
    assert (gc.isenabled(), gc.get_threshold()) == known_settings


@pytest.mark.spec("DET-11")
def test_a_user_s_own_settings_are_kept() -> None:
    gc.disable()
    gc.set_threshold(123, 4, 5)
    wfsim.run(codeless(), seed=1)
    wfsim.run(with_code(), seed=1)
    assert (gc.isenabled(), gc.get_threshold()) == (False, (123, 4, 5))


@pytest.mark.spec("DET-11")
def test_overlapping_runs_in_two_threads_restore_the_settings_once(
    known_settings: tuple[bool, tuple[int, ...]],
) -> None:
    # The thread's run starts first and ends first, inside the main thread's run.
    entered, go, ended = threading.Event(), threading.Event(), threading.Event()
    done: list[str] = []

    def in_thread() -> None:
        done.append(wfsim.run(with_code(lambda: entered.set() or go.wait(10)), seed=2).status)
        ended.set()

    thread = threading.Thread(target=in_thread)
    thread.start()
    assert entered.wait(10)
    main = wfsim.run(with_code(lambda: go.set() or ended.wait(10)), seed=1)
    thread.join(10)
    assert (done, main.status) == (["completed"], "completed")
    assert (gc.isenabled(), gc.get_threshold()) == known_settings
    wfsim.run(codeless(), seed=1)  # a code-less run pauses the collector while it runs
    assert (gc.isenabled(), gc.get_threshold()) == known_settings


def wide(n: int) -> wfsim.Workflow:
    wf = wfsim.Workflow("wide")
    for i in range(n):
        wf.add_step(f"s{i}", duration=1, after=[f"s{i // 2}"] if i else None)
    return wf


@pytest.mark.spec("DET-11")
def test_a_paused_run_leaves_its_objects_in_the_oldest_generation() -> None:
    # Else the first young collection after the run scans everything the run keeps.
    wf = wide(300)
    gc.collect()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        result = wfsim.run(wf, seed=1)
    finally:
        gc.callbacks.remove(seen)
    assert collections == []  # (the young one used to scan the run's thousands of objects)
    assert gc.get_count()[0] < 100
    assert len(result.trace) == 2 + 4 * 300


@pytest.mark.spec("DET-11")
def test_objects_a_user_froze_stay_frozen() -> None:
    kept = [["a user's object"]]
    gc.freeze()
    try:
        assert gc.get_freeze_count() > 0
        wfsim.run(wide(20), seed=1)
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())  # (frozen: in no generation)
    finally:
        gc.unfreeze()


@pytest.mark.spec("DET-11")
def test_a_completed_code_less_run_leaves_no_cyclic_garbage() -> None:
    # Its step states and attempts are freed as soon as the run ends, not by a collection.
    wf = wide(50)
    wfsim.run(wf, seed=1)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        wfsim.run(wf, seed=2)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []
