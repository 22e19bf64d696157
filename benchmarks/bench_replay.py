"""Benchmark: the cost of replaying a workflow body's history, by history length.

A body makes N sequential calls (each a step that sleeps 1 s of virtual time).
Three runs per N, wall time measured for each:

1. ``clean``: the body runs to its end, no fault;
2. ``crash``: the engine dies after the last call ended
   (``Fault.crash(body="after:*", occurrences=[N])``) and the body replays its N-call
   history at the recovery; ``replay share`` is that run's cost minus the clean one's
   (the replay itself), over the clean run's;
3. ``replay_history``: ``wfsim.replay_history`` of the clean run's trace (the
   offline replayer: every call answered from the trace).

The only thing asserted: the crashed run replays exactly N calls and completes with
the clean run's result. Timings are reported, never checked (see README.md).

Usage::

    python benchmarks/bench_replay.py [--calls 10 100 1000] [--repeats R] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import wfsim


async def work(ctx: wfsim.StepContext, n: int) -> int:
    await ctx.sleep(1)
    return n


def body_of(calls: int) -> wfsim.ImperativeWorkflow:
    @wfsim.workflow(name=f"calls{calls}")
    async def body(ctx: wfsim.WorkflowContext, _: Any) -> int:
        total = 0
        for n in range(calls):
            total += await ctx.step(work, n)
        return total

    return body


def _best(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def measure(calls: int, repeats: int) -> dict[str, Any]:
    body = body_of(calls)
    crash = [wfsim.Fault.crash(body="after:*", occurrences=[calls])]
    clean_s, clean = _best(lambda: wfsim.run(body), repeats)
    crash_s, crashed = _best(lambda: wfsim.run(body, faults=crash), repeats)
    offline_s, _ = _best(lambda: wfsim.replay_history(body, clean.trace), repeats)
    replayed = len(crashed.trace.of_kind("call_replayed"))
    assert replayed == calls and crashed.result == clean.result, (replayed, crashed.message)
    return {
        "calls": calls,
        "clean_ms": round(clean_s * 1000, 2),
        "crash_and_replay_ms": round(crash_s * 1000, 2),
        "replay_ms": round((crash_s - clean_s) * 1000, 2),
        "replay_share": round((crash_s - clean_s) / clean_s, 3),
        "replay_history_ms": round(offline_s * 1000, 2),
        "replay_us_per_call": round((crash_s - clean_s) * 1e6 / calls, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(n, args.repeats) for n in args.calls]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{'calls':>6} {'clean ms':>10} {'crash+replay ms':>16} {'replay ms':>10} "
        f"{'share':>7} {'us/call':>8} {'replay_history ms':>18}"
    )
    for r in rows:
        print(
            f"{r['calls']:>6} {r['clean_ms']:>10} {r['crash_and_replay_ms']:>16} "
            f"{r['replay_ms']:>10} {r['replay_share']:>7} {r['replay_us_per_call']:>8} "
            f"{r['replay_history_ms']:>18}"
        )
    shares = [r["replay_share"] for r in rows]
    print(f"median replay share of a clean run: {statistics.median(shares):.3f}")


if __name__ == "__main__":
    main()
