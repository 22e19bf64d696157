"""Campaign throughput: runs per second of `wfsim simulate` in process and with workers.

Generates one 20-step DAG scenario with probability faults and retries, then runs the
same seeds with ``workers=1`` (in process) and ``workers=K`` (worker processes), and
prints runs/s for each, the speed-up, and whether both campaigns gave the same digest
for every seed (they must: the backend never changes a run).

Usage: python benchmarks/bench_campaign.py [--seeds N] [--workers K] [--steps S] [--json]
A measurement, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from wfsim.campaign import CampaignStore, run_campaign  # noqa: E402


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "bench.wfsim.yaml"
        path.write_text(scenario_text(args.steps, 0))
        store = pathlib.Path(tmp) / "campaigns.sqlite"
        one = run_campaign([path], seeds=args.seeds, workers=1, store=store)
        many = run_campaign([path], seeds=args.seeds, workers=args.workers, store=store)
        assert one.campaign_id is not None and many.campaign_id is not None
        changed = len(CampaignStore(store).diff(one.campaign_id, many.campaign_id).changes)
    numbers = {
        "steps": args.steps,
        "seeds": args.seeds,
        "failed_runs": one.failed,
        "runs_per_s_in_process": round(one.runs_per_second, 1),
        f"runs_per_s_{args.workers}_workers": round(many.runs_per_second, 1),
        "speedup": round(many.runs_per_second / one.runs_per_second, 2),
        "seeds_with_different_outcome_or_digest": changed,
    }
    if args.json:
        print(json.dumps(numbers))
    else:
        for key, value in numbers.items():
            print(f"{key:>40}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
