"""The per-run cost of crash and delivery faults in campaigns (CAMP-32).

Runs the same seeds of three scenarios in this process (``run_seed``, what every
campaign backend runs per seed): a 20-step DAG (``bench_campaign.scenario_text``), an
event workflow (LlamaIndex ConcurrentFlow) and a workflow body that waits for a signal
(Sequencely approval). Each four ways: no random faults, ``--fault-rate 0.1`` (errors),
``--swarm`` with only the kinds swarm drew before crash and delivery faults (error,
latency, hang, outage), and ``--swarm`` with every kind the style takes (crashes for
the DAG, drops, duplicates and delays for the others). Prints runs/s, the mean number
of random faults that fired per run, and the share of failed runs (the DAG's own
probability faults fail its ``expect`` now and then where no random fault fired; the
oracles hold everywhere). Planning included: ``run_seed`` draws each seed's plan, and
for a body first runs the seed without random faults (CAMP-30).

Usage: python benchmarks/bench_fault_kinds.py [--seeds N] [--json]
A measurement, not a test: the numbers move with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_campaign import scenario_text  # noqa: E402

from wfsim.campaign import RandomFaults, _random, run_seed  # noqa: E402
from wfsim.scenario import Scenario, load_scenario, load_scenario_text  # noqa: E402

OLD_KINDS = ("error", "latency", "hang", "outage")


@contextmanager
def old_swarm() -> Iterator[None]:
    """Swarm as it was before crash and delivery faults: only the four attempt kinds."""
    kinds_for = _random.kinds_for

    def old(workflow: object, deliveries: Any = ()) -> tuple[str, ...]:
        return tuple(k for k in kinds_for(workflow, deliveries) if k in OLD_KINDS)

    _random.kinds_for = old
    try:
        yield
    finally:
        _random.kinds_for = kinds_for


def measure(scenario: Scenario, seeds: int, options: RandomFaults | None) -> dict[str, float]:
    begin = time.perf_counter()
    records = [run_seed(scenario, "bench", seed, options) for seed in range(seeds)]
    wall = time.perf_counter() - begin
    return {
        "runs_per_s": seeds / wall,
        "faults_fired_per_run": sum(r.random_faults for r in records) / seeds,
        "failed_share": sum(not r.passed for r in records) / seeds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.chdir(REPO)  # the python: scenarios import examples from here
    scenarios = {
        "dag-20": load_scenario_text(scenario_text(20, 0)),
        "events": load_scenario("scenarios/llamaindex_concurrent_flow_same_type.wfsim.yaml"),
        "body+signal": load_scenario("scenarios/sequencely_approval_human.wfsim.yaml"),
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, scenario in scenarios.items():
        if name != "dag-20":  # their expect describes the plain run; judge by oracles only
            scenario = attrs.evolve(scenario, expect={})
        row = results[name] = {}
        row["none"] = measure(scenario, args.seeds, None)
        row["errors 0.1"] = measure(scenario, args.seeds, RandomFaults(0.1))
        with old_swarm():
            row["swarm, old kinds"] = measure(scenario, args.seeds, RandomFaults(0.1, swarm=True))
        row["swarm, all kinds"] = measure(scenario, args.seeds, RandomFaults(0.1, swarm=True))
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"seeds": args.seeds, "load": load, "results": results}))
        return
    print(f"{args.seeds} seeds each, in process, load average {load:.2f}")
    for name, row in results.items():
        for variant, m in row.items():
            print(
                f"{name:12} {variant:17} {m['runs_per_s']:8.0f} runs/s  "
                f"{m['faults_fired_per_run']:5.2f} faults fired/run  "
                f"{m['failed_share']:.1%} failed"
            )


if __name__ == "__main__":
    main()
