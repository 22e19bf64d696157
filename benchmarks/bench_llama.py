"""Benchmark: a real LlamaIndex workflow on wfsim (``wfsim.llama``) against the real runtime.

Two measurements, reported, never checked:

1. Overhead per run of a 3-step ``workflows.Workflow`` with no sleeps
   (``start -> middle -> finish``): the real llama-index-workflows runtime
   (``await wf.run()`` inside one asyncio loop) against ``wfsim.run(adapt(Cls))``.
2. A step that fails once and is retried after 1 s (its own ``retry_policy``):
   the wall time of one run on wfsim (virtual time: no real second) and, unless
   ``--skip-real-retry``, on the real runtime (which really waits).

Usage::

    python benchmarks/bench_llama.py [--runs N] [--skip-real-retry] [--json]

Needs the extra: ``pip install 'pytest-wfsim[llama]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent
from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed

import wfsim
from wfsim.llama import adapt


class Middle(Event):
    value: int


class Last(Event):
    value: int


class ThreeSteps(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Middle:
        return Middle(value=1)

    @step
    async def middle(self, ctx: Context, ev: Middle) -> Last:
        return Last(value=ev.value + 1)

    @step
    async def finish(self, ctx: Context, ev: Last) -> StopEvent:
        return StopEvent(result=ev.value + 1)


class RetryOnce(Workflow):
    @step(retry_policy=retry_policy(wait=wait_fixed(1), stop=stop_after_attempt(2)))
    async def call(self, ctx: Context, ev: StartEvent) -> StopEvent:
        if ctx.retry_info().retry_number == 0:
            raise ConnectionError("first attempt fails")
        return StopEvent(result="ok")


def real_per_run(runs: int) -> float:
    async def main() -> float:
        wf = ThreeSteps(timeout=10)
        assert await wf.run() == 3
        started = time.perf_counter()
        for _ in range(runs):
            await wf.run()
        return (time.perf_counter() - started) / runs

    return asyncio.run(main())


def wfsim_per_run(runs: int) -> float:
    wf = adapt(ThreeSteps)
    assert wfsim.run(wf).result == 3
    started = time.perf_counter()
    for seed in range(runs):
        wfsim.run(wf, seed=seed)
    return (time.perf_counter() - started) / runs


def retry_wall(real: bool) -> tuple[float, float | None]:
    started = time.perf_counter()
    result = wfsim.run(adapt(RetryOnce))
    assert (result.status, result.makespan) == ("completed", 1), result.message
    on_wfsim = time.perf_counter() - started
    if not real:
        return on_wfsim, None

    async def main() -> Any:
        return await RetryOnce(timeout=10).run()

    started = time.perf_counter()
    assert asyncio.run(main()) == "ok"
    return on_wfsim, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--skip-real-retry", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    real = real_per_run(args.runs)
    sim = wfsim_per_run(args.runs)
    retry_sim, retry_real = retry_wall(not args.skip_real_retry)
    out = {
        "runs": args.runs,
        "real_ms_per_run": round(real * 1e3, 3),
        "wfsim_ms_per_run": round(sim * 1e3, 3),
        "speedup": round(real / sim, 2),
        "retry_1s_wfsim_wall_s": round(retry_sim, 4),
        "retry_1s_real_wall_s": None if retry_real is None else round(retry_real, 4),
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"3-step workflow, no sleeps, {args.runs} runs each:")
    print(f"  real runtime  {out['real_ms_per_run']:8.3f} ms/run")
    print(f"  wfsim         {out['wfsim_ms_per_run']:8.3f} ms/run   ({out['speedup']}x faster)")
    print("one step retried after 1 s:")
    print(f"  wfsim         {out['retry_1s_wfsim_wall_s']:8.4f} s wall (1 s virtual)")
    if retry_real is not None:
        print(f"  real runtime  {out['retry_1s_real_wall_s']:8.4f} s wall")


if __name__ == "__main__":
    main()
