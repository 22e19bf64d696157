"""Campaign throughput: runs per second of `wfsim simulate` on each backend.

Generates one 20-step DAG scenario with 10% probability faults on every step and
retries, then runs the same seeds with ``workers=1`` (in process), ``workers=K``
(worker processes) and, with the ``dask`` extra installed, ``dask="local"`` (a local
Dask cluster of K workers, its start-up included), and prints wall time and runs/s
for each, the speed-ups, the load average beside them (other processes on the
machine slow every number), and how many seeds gave a different outcome or digest
than in process (always 0: the backend never changes a run).

Usage: python benchmarks/bench_campaign.py [--seeds N] [--workers K] [--steps S]
       [--no-dask] [--json]
The acceptance target (issue 7): 10,000 seeds in under 60 s with ``--workers 2`` on
the 2-core machine. A measurement, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import resource
import sys
import tempfile
from typing import Any

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from wfsim.campaign import CampaignStore, CampaignSummary, run_campaign  # noqa: E402
from wfsim.campaign._dask import dask_available  # noqa: E402


def scenario_text(steps: int, seed: int) -> str:
    rng = random.Random(seed)
    lines = ["scenario: campaign benchmark", "workflow:", "  steps:"]
    for i in range(steps):
        deps = sorted({rng.randrange(i) for _ in range(rng.randint(0, 2))}) if i else []
        after = f", after: [{', '.join(f's{d}' for d in deps)}]" if deps else ""
        lines.append(
            f"    s{i}: {{duration: {rng.choice(['250ms', '1s', '2s'])}{after}, "
            "retry: {max_attempts: 4, initial_interval: 500ms}}"
        )
    lines += [
        "faults:",
        '  - {step: "s*", error: ConnectionError, probability: 0.1}',
        "expect: {status: completed}",
    ]
    return "\n".join(lines) + "\n"


def cpu_seconds() -> float:
    """User and system CPU time of this process and of its children that have ended."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask backend")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    k = args.workers
    backends: dict[str, dict[str, Any]] = {
        "in_process": {"workers": 1},
        f"{k}_workers": {"workers": k},
    }
    if not args.no_dask and dask_available():
        backends[f"dask_local_{k}_workers"] = {"workers": k, "dask": "local"}
    numbers: dict[str, Any] = {"steps": args.steps, "seeds": args.seeds}
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "bench.wfsim.yaml"
        path.write_text(scenario_text(args.steps, 0))
        store = pathlib.Path(tmp) / "campaigns.sqlite"
        first: CampaignSummary | None = None
        for name, options in backends.items():
            load = os.getloadavg()[0]
            cpu = cpu_seconds()
            summary = run_campaign([path], seeds=args.seeds, store=store, **options)
            cpu = cpu_seconds() - cpu
            assert summary.campaign_id is not None and summary.runs == args.seeds
            numbers[f"{name}_wall_s"] = round(summary.wall_seconds, 2)
            numbers[f"{name}_runs_per_s"] = round(summary.runs_per_second, 1)
            numbers[f"{name}_load_before"] = round(load, 2)
            # CPU seconds of this process and its (finished) workers: what the campaign
            # costs whatever else runs; over K free cores it cannot take less than cpu / K.
            numbers[f"{name}_cpu_s"] = round(cpu, 2)
            if first is None:
                first = summary
                numbers["failed_runs"] = summary.failed
                continue
            assert first.campaign_id is not None
            with CampaignStore(store) as db:
                changed = db.diff(first.campaign_id, summary.campaign_id).changes
            numbers[f"{name}_speedup"] = round(
                summary.runs_per_second / first.runs_per_second, 2
            )
            numbers[f"{name}_seeds_with_different_outcome_or_digest"] = len(changed)
    if args.json:
        print(json.dumps(numbers))
    else:
        for key, value in numbers.items():
            print(f"{key:>50}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
