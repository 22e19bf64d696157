"""Benchmark: a real LlamaIndex workflow on wfsim (``wfsim.llama``) against the real runtime.

Two measurements, reported, never checked:

1. Overhead per run of a 3-step ``workflows.Workflow`` with no sleeps
   (``start -> middle -> finish``): the real llama-index-workflows runtime
   (``await wf.run()``, many runs inside one asyncio loop) against wfsim running
   the same class for many seeds in one batch (``wfsim.run_many``: the wall-clock
   patch made once, as the real runtime reuses its loop; the like-for-like
   comparison) and with one ``wfsim.run`` per seed (each patching the clock
   again). Neither starts trio: the engine drives LlamaIndex step code itself
   (LLAMA-10). Blocks of each are interleaved, so machine load hits all three alike;
   the best and the median block (CPU time per run) are reported, with the ratios.
2. A step that fails once and is retried after 1 s (its own ``retry_policy``):
   the wall time of one run on wfsim (virtual time: no real second) and, unless
   ``--skip-real-retry``, on the real runtime (which really waits).

Usage::

    python benchmarks/bench_llama.py [--runs N] [--blocks B] [--skip-real-retry] [--json]

Needs the extra: ``pip install 'pytest-wfsim[llama]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
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


def real_block(runs: int) -> Callable[[], float]:
    """N runs on the real runtime inside one asyncio loop: CPU seconds per run."""
    wf = ThreeSteps(timeout=10)

    async def runs_in_one_loop() -> float:
        started = time.process_time()
        for _ in range(runs):
            await wf.run()
        return (time.process_time() - started) / runs

    return lambda: asyncio.run(runs_in_one_loop())


def wfsim_block(runs: int, many: bool) -> Callable[[], float]:
    """N seeds on wfsim, by ``run_many`` (one batch) or one ``wfsim.run`` each."""
    wf = adapt(ThreeSteps)
    seeds = iter(range(1 << 30))

    def block() -> float:
        chosen = [next(seeds) for _ in range(runs)]
        started = time.process_time()
        if many:
            wfsim.run_many(wf, chosen)
        else:
            for seed in chosen:
                wfsim.run(wf, seed=seed)
        return (time.process_time() - started) / runs

    return block


def per_run(runs: int, blocks: int) -> dict[str, list[float]]:
    """CPU seconds per run of each block of each contender, blocks interleaved.

    CPU time, not wall time: no contender sleeps, so on an idle machine the two are
    the same, and on a shared one CPU time leaves out the time other processes had
    the core (the ratio stays honest under load).
    """
    contenders = {
        "real": real_block(runs),
        "run_many": wfsim_block(runs, many=True),
        "run": wfsim_block(runs, many=False),
    }
    for block in contenders.values():  # warm up: imports, caches, the adapted class
        block()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(blocks):
        for name, block in contenders.items():
            times[name].append(block())
    return times


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
    parser.add_argument("--runs", type=int, default=50, help="runs per block (default 50)")
    parser.add_argument("--blocks", type=int, default=20, help="blocks of each (default 20)")
    parser.add_argument("--skip-real-retry", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    times = per_run(args.runs, args.blocks)
    retry_sim, retry_real = retry_wall(not args.skip_real_retry)
    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    out: dict[str, Any] = {
        "runs_per_block": args.runs,
        "blocks": args.blocks,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    for name in times:
        out[f"{name}_ms_per_run_best"] = round(best[name] * 1e3, 3)
        out[f"{name}_ms_per_run_median"] = round(median[name] * 1e3, 3)
    for name in ("run_many", "run"):
        out[f"speedup_{name}_best"] = round(best["real"] / best[name], 2)
        out[f"speedup_{name}_median"] = round(median["real"] / median[name], 2)
    out["retry_1s_wfsim_wall_s"] = round(retry_sim, 4)
    out["retry_1s_real_wall_s"] = None if retry_real is None else round(retry_real, 4)
    if args.json:
        print(json.dumps(out))
        return
    print(
        f"3-step workflow, no sleeps: {args.blocks} interleaved blocks of {args.runs} runs "
        f"(load {out['load_before']} -> {out['load_after']}); CPU ms per run, best / median block:"
    )
    rows = [
        ("real runtime (one asyncio loop)", "real"),
        ("wfsim.run_many (one batch)", "run_many"),
        ("wfsim.run per seed", "run"),
    ]
    for label, name in rows:
        ratio = ""
        if name != "real":
            ratio = f"   {out[f'speedup_{name}_best']}x / {out[f'speedup_{name}_median']}x faster"
        print(f"  {label:32} {best[name] * 1e3:7.3f} / {median[name] * 1e3:7.3f}{ratio}")
    print("one step retried after 1 s:")
    print(f"  wfsim         {out['retry_1s_wfsim_wall_s']:8.4f} s wall (1 s virtual)")
    if retry_real is not None:
        print(f"  real runtime  {out['retry_1s_real_wall_s']:8.4f} s wall")


if __name__ == "__main__":
    main()
