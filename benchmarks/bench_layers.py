"""Campaign layers: runs per second as each layer of a campaign run is added.

The 20-step scenario of ``bench_campaign.py`` (10% probability faults on every step,
retries), run in this one process, seed after seed, with one more layer each row:

    wfsim.run                the engine alone, no faults
    + faults                 with the scenario's faults
    + digest()               and the trace digest
    + judge_run oracles      run_scenario, expectations and every oracle (check_all)
    run_seed                 what a campaign does per seed (digest, numbers, coverage)
    simulate --workers K     run_campaign, store written (with --campaign)

The layers are timed interleaved (every layer once, then again, ``--repeats`` times)
and each row shows its best repetition, so a change of the machine's load hits every
row alike; the load average is printed beside the table. Wall runs/s and runs per
CPU second (this process and its ended worker processes) are both shown: on a
loaded machine the CPU column is the steadier one; with K workers it is the cost,
not the speed. Also printed: the digest's
own cost per run (``Trace.digest`` of already finished runs).

Usage: python benchmarks/bench_layers.py [--seeds N] [--repeats R] [--steps S]
       [--campaign] [--workers K] [--json]
A measurement, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_campaign import cpu_seconds, scenario_text  # noqa: E402

import wfsim  # noqa: E402
from wfsim.campaign import run_campaign, run_seed  # noqa: E402
from wfsim.campaign._record import judge_run  # noqa: E402
from wfsim.scenario import Scenario, load_scenario  # noqa: E402


def layers(scenario: Scenario) -> dict[str, Callable[[int], object]]:
    workflow = scenario.workflow
    faults = scenario.faults
    return {
        "wfsim.run": lambda seed: wfsim.run(workflow, seed=seed),
        "+ faults": lambda seed: wfsim.run(workflow, seed=seed, faults=faults),
        "+ digest()": lambda seed: wfsim.run(workflow, seed=seed, faults=faults).digest(),
        "+ judge_run oracles": lambda seed: judge_run(scenario, seed)[0].result.digest(),
        "run_seed": lambda seed: run_seed(scenario, "bench", seed),
    }


def timed(fn: Callable[[int], object], seeds: range) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process and its ended children) of the seeds."""
    begin, cpu = time.perf_counter(), cpu_seconds()
    for seed in seeds:
        fn(seed)
    return time.perf_counter() - begin, cpu_seconds() - cpu


def digest_us(scenario: Scenario, seeds: range, repeats: int) -> float:
    """Microseconds ``Trace.digest`` takes per run (best of ``repeats``)."""
    traces = [wfsim.run(scenario.workflow, seed=s, faults=scenario.faults).trace for s in seeds]
    best = float("inf")
    for _ in range(repeats):
        begin = time.process_time()
        for trace in traces:
            trace.digest()
        best = min(best, (time.process_time() - begin) / len(traces))
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="seeds per layer and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--campaign", action="store_true", help="add simulate rows")
    parser.add_argument("--workers", type=int, default=2, help="workers of the last row")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "bench.wfsim.yaml"
        path.write_text(scenario_text(args.steps, 0))
        scenario = load_scenario(path)
        rows = layers(scenario)
        if args.campaign:
            store = pathlib.Path(tmp) / "campaigns.sqlite"
            for k in sorted({1, args.workers}):

                def campaign(seed: int, k: int = k) -> object:
                    # One campaign of all the seeds: called for the first seed only.
                    return run_campaign([path], seeds=args.seeds, store=store, workers=k)

                rows[f"simulate --workers {k}"] = campaign
        seeds = range(args.seeds)
        wall: dict[str, float] = dict.fromkeys(rows, 0.0)
        cpu: dict[str, float] = dict.fromkeys(rows, 0.0)
        for _ in range(args.repeats):
            for name, fn in rows.items():
                # A simulate row runs one campaign of all the seeds (called once).
                wall_s, cpu_s = timed(fn, range(1) if name.startswith("simulate") else seeds)
                wall[name] = max(wall[name], args.seeds / wall_s)
                cpu[name] = max(cpu[name], args.seeds / max(cpu_s, 1e-9))
        digest = digest_us(scenario, range(min(args.seeds, 500)), args.repeats)
    load_after = os.getloadavg()
    numbers: dict[str, Any] = {
        "steps": args.steps,
        "seeds": args.seeds,
        "repeats": args.repeats,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "runs_per_s": {name: round(rate) for name, rate in wall.items()},
        "runs_per_cpu_s": {name: round(rate) for name, rate in cpu.items()},
        "digest_us_per_run": round(digest, 1),
    }
    if args.json:
        print(json.dumps(numbers))
        return 0
    print(f"{args.steps}-step scenario, {args.seeds} seeds x {args.repeats} repeats (best)")
    print(f"load average before {numbers['load_before']}, after {numbers['load_after']}")
    print(f"{'layer':<24}{'runs/s':>9}{'runs/CPU-s':>12}{'CPU ms/run':>12}")
    for name in rows:
        print(f"{name:<24}{wall[name]:>9.0f}{cpu[name]:>12.0f}{1000 / cpu[name]:>12.3f}")
    print(f"Trace.digest() alone: {digest:.1f} us of CPU a run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
