"""wfsim.run_many: many seeds in one trio run, the results of one wfsim.run per seed."""

from __future__ import annotations

import datetime as dt
import gc
import time

import pytest

import wfsim


def _racing_workflow() -> wfsim.Workflow:
    """Two steps racing at the same instants (so seeds differ), reading the wall clock."""
    wf = wfsim.Workflow("race")

    @wf.step(retry=wfsim.RetryPolicy(max_attempts=3, initial_interval=1, jitter="full"))
    async def left(ctx: wfsim.StepContext) -> None:
        ctx.set("left_at", dt.datetime.now().isoformat())
        await ctx.sleep(1)
        ctx.set("order", [*ctx.get("order", []), "left"])

    @wf.step
    async def right(ctx: wfsim.StepContext) -> None:
        ctx.set("right_at", time.time())
        await ctx.sleep(1)
        ctx.set("order", [*ctx.get("order", []), "right"])

    return wf


@pytest.mark.spec("DET-10")
@pytest.mark.parametrize("faults", [[], [wfsim.Fault.error("left", attempts=[1])]])
def test_run_many_returns_what_run_returns_for_each_seed(faults: list[wfsim.Fault]) -> None:
    wf = _racing_workflow()
    many = wfsim.run_many(wf, range(8), input={"order": []}, faults=faults)
    single = [wfsim.run(wf, seed=s, input={"order": []}, faults=faults) for s in range(8)]
    assert [r.seed for r in many] == list(range(8))
    assert [r.digest() for r in many] == [r.digest() for r in single]
    assert [dict(r.context) for r in many] == [dict(r.context) for r in single]
    assert [r.choices for r in many] == [r.choices for r in single]
    if not faults:
        assert len({tuple(r.context["order"]) for r in many}) == 2  # the seeds do differ


@pytest.mark.spec("DET-10")
def test_every_run_of_a_batch_starts_at_the_epoch_and_the_host_clock_comes_back() -> None:
    wf = _racing_workflow()
    thresholds = gc.get_threshold()
    epoch = dt.datetime(2030, 5, 17, 12, 0, tzinfo=dt.UTC)
    results = wfsim.run_many(wf, [3, 3, 5], epoch=epoch)
    assert [r.context["right_at"] for r in results] == [epoch.timestamp()] * 3
    assert {r.context["left_at"] for r in results} == {"2030-05-17T12:00:00"}
    assert time.time() > dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()  # host time again
    assert gc.get_threshold() == thresholds  # young collections were rarer during the batch


@pytest.mark.spec("DET-10")
def test_run_many_of_no_seeds_is_empty_and_bad_input_is_one_error() -> None:
    assert wfsim.run_many(_racing_workflow(), []) == []
    with pytest.raises(wfsim.WfsimError, match="seed must be an integer, not 'x'"):
        wfsim.run_many(_racing_workflow(), ["x"])  # type: ignore[list-item]
