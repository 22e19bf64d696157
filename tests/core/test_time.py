"""Virtual time: exact integers, duration strings, wall clock, time limits."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import trio

import wfsim
from wfsim._core._time import format_seconds, to_ns

S = 1_000_000_000


@pytest.mark.spec("TIME-2")
@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (1, S),
        (1.5, 1_500_000_000),
        (0.1, 100_000_000),
        ("250ms", 250_000_000),
        ("1.5s", 1_500_000_000),
        ("2m", 120 * S),
        ("1h", 3600 * S),
        ("1d", 86400 * S),
        ("10us", 10_000),
        ("7ns", 7),
        ("3", 3 * S),
        (dt.timedelta(minutes=1, microseconds=5), 60 * S + 5000),
    ],
)
def test_durations_parse_to_exact_nanoseconds(value: object, ns: int) -> None:
    assert to_ns(value) == ns  # type: ignore[arg-type]


@pytest.mark.spec("TIME-2")
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "duration 'soon' is not a duration: expected seconds or a number with a unit"),
        (-1, "duration must not be negative, got -1"),
        ("-1s", "is not a duration"),
        (True, "must be a number of seconds"),
        (float("nan"), "must be finite"),
        ([1], "not list"),
    ],
)
def test_bad_durations_explain_what_was_expected(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        to_ns(value)  # type: ignore[arg-type]
    assert message in str(info.value)


@pytest.mark.spec("TIME-2")
def test_durations_read_again_give_the_same_nanoseconds() -> None:
    # Strings and float seconds already read are remembered: the same answers, the same errors.
    for _ in range(2):
        assert [to_ns(0.1), to_ns(1.0), to_ns(-0.0), to_ns("250ms"), to_ns(2.5e-10)] == [
            100_000_000,
            1_000_000_000,
            0,
            250_000_000,
            0,
        ]
        with pytest.raises(ValueError, match="must not be negative, got -1.5"):
            to_ns(-1.5)
        assert to_ns(-1.5, allow_negative=True) == -1_500_000_000


@pytest.mark.spec("TIME-2")
def test_durations_format_for_people() -> None:
    assert [format_seconds(n) for n in (0, S // 4, 3 * S // 2, 120 * S, 7200 * S, 10_500)] == [
        "0s", "250ms", "1.5s", "2m", "2h", "0.0105ms",
    ]


@pytest.mark.spec("TIME-2")
def test_one_formatter_writes_compound_durations_that_read_back() -> None:
    cases = {
        601 * S: "10m1s",  # never 601s next to a 10m
        6000 * S: "1h40m",
        14401 * S: "4h1s",
        100_001_750_000_000: "27h46m41.75s",
        60 * S + S // 4: "1m0.25s",
        72 * 3600 * S: "72h",
    }
    assert {ns: format_seconds(ns) for ns in cases} == cases
    for ns, text in cases.items():
        assert to_ns(text) == ns
    assert to_ns("1d2h") == 26 * 3600 * S
    for bad in ("1h1h", "1m1h", "1.5h30m", "h", "1s1m"):
        with pytest.raises(ValueError, match="is not a duration"):
            to_ns(bad)


@pytest.mark.spec("TIME-1")
def test_virtual_time_does_not_drift() -> None:
    wf = wfsim.Workflow("chain")
    prev = None
    for i in range(3):
        prev = wf.add_step(f"s{i}", duration=0.1, after=[prev] if prev else [])
    result = wfsim.run(wf)
    assert result.makespan_ns == 300_000_000
    assert result.makespan == 0.3
    completed = [e.t for e in result.trace.of_kind("step_completed")]
    assert completed == [0.1, 0.2, 0.3]
    assert '"t":0.3,' in result.trace.to_jsonl()
    assert result.trace[0].t_ns == 0


@pytest.mark.spec("TIME-3", "TIME-4")
def test_a_virtual_hour_with_hourly_backoff_takes_no_wall_time() -> None:
    seen: list[tuple[int, float, dt.datetime, dt.datetime, float]] = []
    wf = wfsim.Workflow("hours")

    @wf.step(retry=wfsim.RetryPolicy(max_attempts=6, initial_interval="1h", backoff_coefficient=1))
    async def slow(ctx: wfsim.StepContext) -> None:
        await ctx.sleep("1h")
        seen.append((ctx.attempt, time.time(), dt.datetime.now(), dt.datetime.utcnow(), ctx.now()))
        if ctx.attempt < 6:
            raise ConnectionError("still down")

    started = time.perf_counter()
    result = wfsim.run(wf)
    wall = time.perf_counter() - started
    assert result.status == "completed"
    assert wall < 5  # measured ~10 ms; generous so a loaded machine does not flake
    assert result.makespan == 11 * 3600  # 6 one-hour attempts + 5 one-hour delays
    epoch = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for attempt, wall_s, now, utcnow, virtual in seen:
        expected = epoch + dt.timedelta(hours=2 * attempt - 1)
        assert virtual == (2 * attempt - 1) * 3600
        assert wall_s == expected.timestamp()
        assert utcnow == expected.replace(tzinfo=None)
        assert now.astimezone(dt.UTC) == expected
    assert time.time() > epoch.timestamp() + 86400 * 200  # host clock restored after the run


@pytest.mark.spec("TIME-4")
def test_epoch_is_settable_and_ctx_gives_virtual_wall_time() -> None:
    seen: list[object] = []
    wf = wfsim.Workflow("epoch")

    @wf.step
    async def look(ctx: wfsim.StepContext) -> None:
        await ctx.sleep(90)
        seen.extend([ctx.wall_time(), dt.datetime.now(dt.UTC), ctx.now(), ctx.now_ns()])

    epoch = dt.datetime(2030, 5, 17, 12, 0, tzinfo=dt.UTC)
    wfsim.run(wf, epoch=epoch)
    later = epoch + dt.timedelta(seconds=90)
    assert seen == [later, later, 90.0, 90 * S]


@pytest.mark.spec("TIME-5")
def test_time_limit_ends_the_run_timed_out_and_names_what_waits() -> None:
    wf = wfsim.Workflow("stuck")

    @wf.step
    async def forever(ctx: wfsim.StepContext) -> None:
        await ctx.sleep("100d")

    wf.add_step("after", after=[forever], duration=1)
    wf.add_step("quick", duration=1)
    result = wfsim.run(wf, time_limit="1d")
    assert result.status == "timed_out"
    assert result.makespan == 86400
    assert result.message == (
        "run timed out: the time limit of 24h was reached (nothing finished in time); "
        "still waiting: 'forever' (attempt 1 running since t=0s); "
        "'after' (waiting for 'forever')"
    )
    assert result.steps["forever"].status == "cancelled"
    assert result.steps["after"].status == "cancelled"
    assert result.steps["quick"].status == "completed"
    last = result.trace[-1]
    assert (last.kind, last["status"], last.t) == ("run_finished", "timed_out", 86400.0)


@pytest.mark.spec("TIME-5")
def test_time_limit_names_a_pending_retry() -> None:
    wf = wfsim.Workflow("retrying")
    wf.add_step("flaky", duration=1, retry=wfsim.RetryPolicy(initial_interval="2h"))
    result = wfsim.run(wf, faults=[wfsim.Fault.error("flaky")], time_limit="3h")
    assert result.status == "timed_out"
    # attempt 1 fails at 0, attempt 2 at 2h; attempt 3 would start at 2h + 4h
    assert "'flaky' (attempt 3 due at t=6h)" in result.message


@pytest.mark.spec("TIME-5")
def test_default_time_limit_is_generous_but_finite() -> None:
    wf = wfsim.Workflow("long")
    wf.add_step("month", duration="31d")
    result = wfsim.run(wf)
    assert result.status == "timed_out"
    assert result.makespan == 30 * 86400
    assert wfsim.DEFAULT_TIME_LIMIT == "30d"


@pytest.mark.spec("TIME-6")
def test_raw_trio_sleep_in_step_code_is_a_clear_error() -> None:
    wf = wfsim.Workflow("raw")

    @wf.step
    async def raw(ctx: wfsim.StepContext) -> None:
        await trio.sleep(3)

    with pytest.raises(wfsim.ExternalWaitError) as info:
        wfsim.run(wf)
    assert str(info.value).startswith(
        "step 'raw' (attempt 1) waited 3 s of virtual time outside wfsim"
    )
    assert "use `await ctx.sleep(...)`" in str(info.value)


@pytest.mark.spec("TIME-6")
def test_step_blocked_forever_outside_wfsim_times_out_instead_of_hanging() -> None:
    wf = wfsim.Workflow("blocked")

    @wf.step
    async def blocked(ctx: wfsim.StepContext) -> None:
        await trio.Event().wait()

    result = wfsim.run(wf, time_limit="1h")
    assert result.status == "timed_out"
    assert result.makespan == 3600
    assert "blocked on something outside wfsim" in result.message
    assert "'blocked' (attempt 1 running since t=0s)" in result.message


@pytest.mark.spec("TIME-6")
def test_raw_trio_checkpoints_that_take_no_time_are_fine() -> None:
    wf = wfsim.Workflow("checkpoint")

    @wf.step
    async def polite(ctx: wfsim.StepContext) -> None:
        await trio.lowlevel.checkpoint()
        await ctx.sleep(1)

    assert wfsim.run(wf).status == "completed"


@pytest.mark.spec("TIME-1", "TIME-3")
def test_arun_works_inside_an_existing_trio_run_with_a_real_clock() -> None:
    wf = wfsim.Workflow("nested")

    @wf.step
    async def sleepy(ctx: wfsim.StepContext) -> None:
        await ctx.sleep("1h")

    async def main() -> wfsim.RunResult:
        return await wfsim.arun(wf, seed=1)

    started = time.perf_counter()
    result = trio.run(main)
    assert result.makespan == 3600
    assert time.perf_counter() - started < 5


@pytest.mark.spec("TIME-5")
def test_time_limit_must_be_positive() -> None:
    wf = wfsim.Workflow("x")
    wf.add_step("a")
    with pytest.raises(wfsim.WfsimError, match="time_limit must be positive"):
        wfsim.run(wf, time_limit=0)


@pytest.mark.spec("TIME-4", "DET-2")
@pytest.mark.parametrize("host_tz", ["America/New_York", "Asia/Tokyo", "UTC"])
def test_naive_local_time_does_not_depend_on_the_host_timezone(
    host_tz: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    from zoneinfo import ZoneInfo

    monkeypatch.setenv("TZ", host_tz)
    time.tzset()
    try:
        wf = wfsim.Workflow("tz")

        @wf.step
        async def stamp(ctx: wfsim.StepContext) -> None:
            await ctx.sleep(3600)
            ctx.set("now", dt.datetime.now().isoformat())

        assert wfsim.run(wf).context["now"] == "2026-01-01T01:00:00"
        tokyo = dt.datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Tokyo"))
        assert wfsim.run(wf, epoch=tokyo).context["now"] == "2026-01-01T01:00:00"
        minus5 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        assert wfsim.run(wf, epoch=minus5).context["now"] == "2026-01-01T01:00:00"
        assert os.environ["TZ"] == host_tz  # restored after each run
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.spec("TIME-5")
def test_zero_delay_retries_without_limit_end_the_run_instead_of_hanging() -> None:
    wf = wfsim.Workflow("spin")
    wf.add_step("a", retry=wfsim.RetryPolicy(max_attempts=0, initial_interval=0))
    wf.add_step("b", after=["a"])
    started = time.perf_counter()
    result = wfsim.run(wf, faults=[wfsim.Fault.error("a")], time_limit=10)
    assert time.perf_counter() - started < 30
    assert result.status == "timed_out"
    assert result.message == (
        "run timed out: it stopped making progress in virtual time; still waiting: "
        "'a' (started 10,000 attempts at t=0s without virtual time passing: a retry with no "
        "delay and unlimited attempts?); 'b' (waiting for 'a')"
    )
    assert result.steps["a"].attempts == 10_000


def _clock_reading_workflow(
    seen: dict[str, object], key: str, during: object = None
) -> wfsim.Workflow:
    """One step that sleeps a virtual hour, calls ``during()`` and reads the wall clock."""
    wf = wfsim.Workflow("clock")

    @wf.step
    async def look(ctx: wfsim.StepContext) -> None:
        await ctx.sleep("1h")
        if callable(during):
            during()
        seen[key] = (time.time(), dt.datetime.now(dt.UTC))

    return wf


@pytest.mark.spec("TIME-4")
def test_other_threads_keep_host_time_while_a_run_shows_virtual_time() -> None:
    """Regression: a Dask worker's event loop read the run's virtual clock and stalled."""
    import threading

    seen: dict[str, object] = {}

    def other_thread_reads() -> None:
        reader = threading.Thread(target=lambda: seen.update(other=time.time()))
        reader.start()
        reader.join()

    wfsim.run(_clock_reading_workflow(seen, "step", other_thread_reads))
    later = dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC)
    assert seen["step"] == (later.timestamp(), later)
    assert abs(seen["other"] - time.time()) < 60  # type: ignore[operator]


@pytest.mark.spec("TIME-4")
def test_runs_in_threads_at_once_each_read_their_own_clock() -> None:
    import threading

    # Run a reaches its step code; run b starts and reaches its own; a reads while b waits.
    a_inside, b_inside, a_read = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def a_reads_while_b_runs() -> None:
        a_inside.set()
        assert b_inside.wait(30)
        seen["a while b runs"] = time.time()
        a_read.set()

    def b_waits_for_a() -> None:
        b_inside.set()
        assert a_read.wait(30)

    epoch_b = dt.datetime(2031, 6, 1, tzinfo=dt.UTC)
    a = threading.Thread(
        target=wfsim.run, args=(_clock_reading_workflow(seen, "a", a_reads_while_b_runs),)
    )
    b = threading.Thread(
        target=wfsim.run, args=(_clock_reading_workflow(seen, "b", b_waits_for_a),),
        kwargs={"epoch": epoch_b},
    )
    a.start()
    assert a_inside.wait(30)
    b.start()
    for thread in (a, b):
        thread.join(60)
    for key, epoch in (("a", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), ("b", epoch_b)):
        later = epoch + dt.timedelta(hours=1)
        assert seen[key] == (later.timestamp(), later)
    assert seen["a while b runs"] == seen["a"][0]  # type: ignore[index]
    assert abs(time.time() - dt.datetime.now().timestamp()) < 60  # host clock afterwards


@pytest.mark.spec("TIME-4")
def test_runs_at_once_in_two_timezones_are_refused() -> None:
    import threading
    from zoneinfo import ZoneInfo

    inside, release = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def hold() -> None:
        inside.set()
        release.wait(30)

    first = threading.Thread(target=wfsim.run, args=(_clock_reading_workflow(seen, "utc", hold),))
    first.start()
    try:
        assert inside.wait(30)
        tokyo = dt.datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Tokyo"))
        with pytest.raises(wfsim.WallClockError, match="timezone 'Asia/Tokyo' cannot start"):
            wfsim.run(_clock_reading_workflow(seen, "tokyo"), epoch=tokyo)
    finally:
        release.set()
        first.join(60)
    assert "utc" in seen and "tokyo" not in seen


@pytest.mark.spec("TIME-4")
def test_another_thread_reads_host_time_while_runs_start_and_end() -> None:
    """Regression: between time-machine's start and wfsim's thread check another thread
    read a fixed instant, and after the last run ended one read raised; either stalled a
    Dask worker's event loop (thread switches forced every microsecond to hit them)."""
    import sys
    import threading
    import traceback

    offset = time.time() - time.monotonic()
    bad: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                now = time.time()
            except Exception:
                bad.append(traceback.format_exc())
                continue
            if abs(now - (time.monotonic() + offset)) > 60:
                bad.append(f"read {now}")

    wf = wfsim.Workflow("tiny")

    @wf.step
    async def tick(ctx: wfsim.StepContext) -> None:
        pass

    watcher = threading.Thread(target=watch)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    watcher.start()
    try:
        begin = time.monotonic()
        while time.monotonic() - begin < 2 and not bad:
            wfsim.run(wf)
    finally:
        sys.setswitchinterval(switch)
        stop.set()
        watcher.join()
    assert not bad, bad[0]
