"""wfsim inside a test that froze time with freezegun (TIME-7).

Every freezegun mode: the decorator, the context manager, ``tick=True``,
``auto_tick_seconds``, ``tz_offset``, ``ignore=[...]`` and pytest-freezer's
``freezer`` fixture. Step code sees the virtual wall clock, the trace is the one
a run without freezegun records, and the test's frozen clock is as it was after.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import trio

import wfsim

freezegun = pytest.importorskip("freezegun")
freeze_time = freezegun.freeze_time

FROZEN = dt.datetime(2024, 5, 1, 12, 0)
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def clock_workflow() -> wfsim.Workflow:
    """Two steps that read the wall clock before and after virtual waits, with a retry."""
    wf = wfsim.Workflow("clocks")

    @wf.step(retry=wfsim.RetryPolicy(max_attempts=2, initial_interval="1m"))
    async def first(ctx: wfsim.StepContext) -> list[Any]:
        seen = [time.time(), dt.datetime.now(), dt.datetime.now(dt.UTC), dt.datetime.utcnow()]
        await ctx.sleep(90)
        seen += [time.time(), dt.date.today(), time.gmtime()[:6]]
        if ctx.attempt == 1:
            raise ConnectionError("once")
        return seen

    @wf.step(after=[first])
    async def second(ctx: wfsim.StepContext) -> float:
        await ctx.sleep("1h")
        return time.time()

    return wf


def expected_seen(epoch: dt.datetime = EPOCH) -> list[Any]:
    start = epoch + dt.timedelta(seconds=150)  # attempt 1 (90 s) + 60 s backoff
    later = start + dt.timedelta(seconds=90)
    return [
        start.timestamp(),
        start.replace(tzinfo=None),
        start,
        start.replace(tzinfo=None),
        later.timestamp(),
        later.date(),
        later.timetuple()[:6],
    ]


@pytest.fixture(scope="module")
def plain() -> wfsim.RunResult:
    return wfsim.run(clock_workflow(), seed=3)


def check(result: wfsim.RunResult, plain: wfsim.RunResult) -> None:
    assert result.status == "completed", result.message
    assert result.steps["first"].result == expected_seen()
    assert result.steps["second"].result == (EPOCH + dt.timedelta(seconds=3840)).timestamp()
    assert result.trace.digest() == plain.trace.digest()


@pytest.mark.spec("TIME-7")
def test_a_run_inside_a_frozen_block_sees_virtual_time_and_leaves_the_freeze(
    plain: wfsim.RunResult,
) -> None:
    with freeze_time(FROZEN):
        check(wfsim.run(clock_workflow(), seed=3), plain)
        assert dt.datetime.now() == FROZEN
        assert time.time() == FROZEN.replace(tzinfo=dt.UTC).timestamp()
    assert dt.datetime.now().year >= 2026  # host clock back after the freeze


@pytest.mark.spec("TIME-7")
@freeze_time(FROZEN)
def test_a_decorated_test_runs_workflows(plain: wfsim.RunResult) -> None:
    check(wfsim.run(clock_workflow(), seed=3), plain)
    assert dt.datetime.now() == FROZEN


@pytest.mark.spec("TIME-7")
def test_a_ticking_freeze_keeps_ticking_host_time_not_virtual_time(
    plain: wfsim.RunResult,
) -> None:
    with freeze_time(FROZEN, tick=True):
        check(wfsim.run(clock_workflow(), seed=3), plain)
        after = dt.datetime.now()
    assert FROZEN < after < FROZEN + dt.timedelta(seconds=60)  # the run took ms, not 1 h


@contextlib.contextmanager
def ticks_of_this_thread() -> Iterator[list[str]]:
    """The ticks of the test's auto-tick clock made from this thread while the block runs.

    Each tick is listed with the stack that read the clock, so a failure shows who read it.
    Other threads of the test process (a leftover Dask or tornado loop) read the patched
    clock too, and tick it, whatever wfsim does: only this thread's reads are the run's.
    The garbage collector is paused for the block (after a collection): a finalizer of an
    object an earlier test left behind (an event loop, a logging call in a ``__del__``) would
    otherwise run in this thread at a random moment and read the clock (seen once in ~2,000
    suite runs: two ticks, a ``LogRecord`` and its ``localtime``).
    """
    import freezegun.api

    factory = freezegun.api.freeze_factories[-1]
    me = threading.get_ident()
    seen: list[str] = []
    tick = factory.tick

    def counted(delta: Any = None) -> Any:
        if threading.get_ident() == me:
            seen.append("".join(traceback.format_stack(limit=12)))
        return tick(delta)

    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    factory.tick = counted
    try:
        yield seen
    finally:
        del factory.tick
        if was_enabled:
            gc.enable()


@pytest.mark.spec("TIME-7")
def test_an_auto_tick_freeze_does_not_tick_for_the_run(plain: wfsim.RunResult) -> None:
    with freeze_time(FROZEN, auto_tick_seconds=5):
        before = time.time()  # reads FROZEN, then ticks 5 s
        with ticks_of_this_thread() as ticks:
            check(wfsim.run(clock_workflow(), seed=3), plain)
        assert not ticks, "\n".join(ticks)  # nothing the run read ticked the clock
        assert time.time() >= before + 5


@pytest.mark.spec("TIME-7")
@pytest.mark.parametrize("options", [{"tz_offset": 3}, {"ignore": ["trio", "wfsim"]}])
def test_tz_offset_and_ignore_lists_of_the_test_do_not_reach_step_code(
    options: dict[str, Any], plain: wfsim.RunResult
) -> None:
    with freeze_time(FROZEN, **options):
        check(wfsim.run(clock_workflow(), seed=3), plain)
        assert dt.datetime.utcnow() == FROZEN


@pytest.mark.spec("TIME-7")
def test_pytest_freezers_fixture(freezer: Any, plain: wfsim.RunResult) -> None:
    freezer.move_to(FROZEN)
    check(wfsim.run(clock_workflow(), seed=3), plain)
    assert dt.datetime.now() == FROZEN
    freezer.tick(10)  # the fixture still drives the test's clock after a run
    assert dt.datetime.now() == FROZEN + dt.timedelta(seconds=10)
    check(wfsim.run(clock_workflow(), seed=3), plain)


@pytest.mark.spec("TIME-7")
def test_wfsim_fixtures_under_freezer(
    freezer: Any, wfsim_sim: Any, wfsim_trace: Any, plain: wfsim.RunResult
) -> None:
    freezer.move_to(FROZEN)
    check(wfsim_sim.run(clock_workflow(), seed=3), plain)
    wfsim_trace.assert_status("completed")
    assert dt.datetime.now() == FROZEN


@pytest.mark.spec("TIME-7")
def test_arun_inside_a_frozen_trio_run(plain: wfsim.RunResult) -> None:
    async def main() -> wfsim.RunResult:
        return await wfsim.arun(clock_workflow(), seed=3)

    with freeze_time(FROZEN):
        check(trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)), plain)
        assert dt.datetime.now() == FROZEN


@pytest.mark.spec("TIME-7")
def test_a_scenario_runs_inside_a_freeze() -> None:
    from wfsim.scenario import load_scenario_text, run_scenario

    text = (
        "scenario: frozen\nseed: 2\nworkflow:\n  steps:\n"
        "    a: {duration: 2s}\n    b: {after: [a], duration: 1s}\n"
        "expect: {status: completed, makespan: 3s}\n"
    )
    bare = run_scenario(load_scenario_text(text))
    with freeze_time(FROZEN, auto_tick_seconds=1), ticks_of_this_thread() as ticks:
        frozen = run_scenario(load_scenario_text(text))
    assert not ticks, "\n".join(ticks)
    assert frozen.passed, frozen.report()
    assert frozen.result.digest() == bare.result.digest()


def nested_workflow(await_inside: bool) -> wfsim.Workflow:
    wf = wfsim.Workflow("nested")

    @wf.step
    async def own(ctx: wfsim.StepContext) -> list[dt.datetime]:
        with freeze_time("2000-01-01"):
            seen = [dt.datetime.now()]
            if await_inside:
                await ctx.sleep(1)
        await ctx.sleep(1)
        return [*seen, dt.datetime.now()]

    return wf


@pytest.mark.spec("TIME-7")
@pytest.mark.parametrize("outer", [False, True], ids=["no-freeze", "in-a-freeze"])
def test_a_step_may_freeze_time_between_two_awaits(outer: bool) -> None:
    with freeze_time(FROZEN) if outer else contextlib.nullcontext():
        result = wfsim.run(nested_workflow(await_inside=False))
        own = result.steps["own"].result
        assert own == [dt.datetime(2000, 1, 1), dt.datetime(2026, 1, 1, 0, 0, 1)]
        if outer:
            assert dt.datetime.now() == FROZEN


@pytest.mark.spec("TIME-7")
@pytest.mark.parametrize("outer", [False, True], ids=["no-freeze", "in-a-freeze"])
def test_a_step_freeze_across_an_await_is_an_error(outer: bool) -> None:
    with freeze_time(FROZEN) if outer else contextlib.nullcontext():
        with pytest.raises(wfsim.WallClockError) as info:
            wfsim.run(nested_workflow(await_inside=True))
        if outer:
            assert dt.datetime.now() == FROZEN
    assert str(info.value) == (
        "step 'own' (attempt 1) started freezegun's freeze_time and handed control back to "
        "wfsim while it was still active; other steps would read its frozen clock: end the "
        "freeze_time block before the step awaits or returns, and set the run's wall clock "
        "with run(..., epoch=...) (TIME-7)"
    )
    assert dt.datetime.now().year >= 2026


@pytest.mark.spec("TIME-7")
def test_a_freezegun_without_its_clock_stack_is_named_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import freezegun.api

    with freeze_time(FROZEN):
        monkeypatch.delattr(freezegun.api, "tick_flags")
        with pytest.raises(wfsim.WallClockError, match=r"freezegun .* is active \(freeze_time\)"
                           r" and wfsim cannot drive its clock: wfsim needs freezegun >= 1\.1"):
            wfsim.run(clock_workflow())
        monkeypatch.undo()
        assert dt.datetime.now() == FROZEN


@pytest.mark.spec("TIME-7")
def test_a_non_utc_epoch_gives_naive_local_time_under_freezegun() -> None:
    wf = wfsim.Workflow("tz")

    @wf.step
    async def stamp(ctx: wfsim.StepContext) -> list[Any]:
        await ctx.sleep(3600)
        return [dt.datetime.now(), time.time(), dt.datetime.utcnow()]

    tokyo = dt.datetime(2026, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    bare = wfsim.run(wf, epoch=tokyo).steps["stamp"].result
    with freeze_time(FROZEN):
        frozen = wfsim.run(wf, epoch=tokyo).steps["stamp"].result
    assert bare == frozen == [
        dt.datetime(2026, 1, 1, 10), tokyo.timestamp() + 3600, dt.datetime(2026, 1, 1, 1)
    ]


@pytest.fixture(autouse=True)
def _no_freeze_leaks() -> Iterator[None]:
    import freezegun.api

    yield
    assert freezegun.api.freeze_factories == []


@pytest.mark.spec("TIME-7")
async def test_an_async_wfsim_test_under_freezer(
    freezer: Any, wfsim_sim: Any, plain: wfsim.RunResult
) -> None:
    freezer.move_to(FROZEN)
    check(await wfsim_sim.arun(clock_workflow(), seed=3), plain)
    assert dt.datetime.now() == FROZEN


@pytest.mark.spec("TIME-7")
@freeze_time(FROZEN, auto_tick_seconds=2)
async def test_a_decorated_async_wfsim_test(wfsim_sim: Any, plain: wfsim.RunResult) -> None:
    assert dt.datetime.now() == FROZEN
    with ticks_of_this_thread() as ticks:
        check(await wfsim_sim.arun(clock_workflow(), seed=3), plain)
    assert not ticks, "\n".join(ticks)
