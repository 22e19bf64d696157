"""How many seeds each schedule strategy needs to find a rare ordering bug.

Runs ``examples/rare_orderings.py:starved_consumer`` (the consumer starves only if
it runs first at each of ROUNDS simultaneous instants) with seeds 0..N-1 under
seeded random, PCT (depths 1, 2, 3) and delay bounding (bounds 1, 2), and prints,
per strategy, the first failing seed, how many of the N seeds fail and runs/s.
Also runs the exhaustive search of the same workflow with ROUNDS=3..8 rounds and
prints its runs and failing runs.

Usage: python benchmarks/bench_explore.py [--seeds N] [--json]
This is a measurement, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import wfsim  # noqa: E402
from examples.rare_orderings import starved_consumer  # noqa: E402
from wfsim._core._choice import ChoiceSource  # noqa: E402
from wfsim._core._schedules import (  # noqa: E402
    CountingChoices,
    DelayBoundedChoices,
    PCTChoices,
)
from wfsim.campaign._explore import explore_exhaustive  # noqa: E402

Maker = Callable[[int, int], ChoiceSource | None]

STRATEGIES: dict[str, Maker] = {
    "random": lambda seed, h: None,
    "pct depth 1": lambda seed, h: PCTChoices(seed, depth=1, horizon=h),
    "pct depth 2": lambda seed, h: PCTChoices(seed, depth=2, horizon=h),
    "pct depth 3": lambda seed, h: PCTChoices(seed, depth=3, horizon=h),
    "delay-bounded 1": lambda seed, h: DelayBoundedChoices(seed, bound=1, horizon=h),
    "delay-bounded 2": lambda seed, h: DelayBoundedChoices(seed, bound=2, horizon=h),
}


def measure(seeds: int) -> dict[str, Any]:
    wf = starved_consumer()
    counter = CountingChoices(0)
    wfsim.run(wf, choices=counter)
    horizon = counter.decisions
    out: dict[str, Any] = {"horizon": horizon, "seeds": seeds, "strategies": {}}
    for name, make in STRATEGIES.items():
        begin = time.perf_counter()
        failing = [
            s
            for s in range(seeds)
            if wfsim.run(wf, seed=s, choices=make(s, horizon)).status != "completed"
        ]
        wall = time.perf_counter() - begin
        out["strategies"][name] = {
            "first_failing_seed": failing[0] if failing else None,
            "failing": len(failing),
            "runs_per_second": round(seeds / wall),
        }
    exhaustive = {}
    example = (REPO / "examples" / "rare_orderings.py").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        for rounds in range(3, 9):
            module = f"rare_orderings_bench_{rounds}"
            text = example.replace("ROUNDS = 12", f"ROUNDS = {rounds}")
            (pathlib.Path(tmp) / f"{module}.py").write_text(text)
            path = pathlib.Path(tmp) / f"starve{rounds}.wfsim.yaml"
            path.write_text(
                f"scenario: starve {rounds}\nworkflow: {{python: \"{module}:starved_consumer\"}}\n"
                "expect: {status: completed}\n"
            )
            report = explore_exhaustive(str(path))
            exhaustive[rounds] = {
                "runs": report.runs,
                "failing": report.failed,
                "seconds": round(report.wall_seconds, 3),
            }
    out["exhaustive"] = exhaustive
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = measure(args.seeds)
    if args.json:
        print(json.dumps(data))
        return
    print(f"starved_consumer: {data['seeds']} seeds, horizon {data['horizon']} decisions")
    for name, row in data["strategies"].items():
        print(
            f"  {name:<16} first failing seed {row['first_failing_seed']!s:>5}  "
            f"failing {row['failing']:>5} of {data['seeds']}  {row['runs_per_second']} runs/s"
        )
    for rounds, row in data["exhaustive"].items():
        print(
            f"  exhaustive, {rounds} rounds: {row['runs']} runs, {row['failing']} failing, "
            f"{row['seconds']} s"
        )


if __name__ == "__main__":
    main()
