"""Hypothesis examples per second of the property suite's DAG property, workflows up to 20 steps.

    python benchmarks/bench_properties.py                 # 1,000 examples, the three phases
    python benchmarks/bench_properties.py --examples 500 --json

Three runs of the same derandomized search (so the same examples each time):

* ``strategies``: drawing ``workflows_with_faults(workflows(max_steps=20), kinds=all)``, a
  tape and a seed, and nothing else;
* ``run``: that, and ``wfsim.run`` of each example;
* ``property``: ``run_and_check``: the run, ``target_interesting``, every oracle
  (``check_all``) and the replay from the recorded choices

Throughput is examples / CPU seconds of this process (``time.process_time``), so a machine
shared with other work still gives comparable numbers; wall seconds are printed too.

Hypothesis mixes constants it finds in the source of loaded local modules (wfsim's own)
into what it draws, so any change to wfsim's code would change the examples, and two
versions of wfsim would be timed on different workflows. This benchmark turns that off
(a private Hypothesis hook, left alone if it moved): the examples then depend only on
the strategies and the derandomized seed, and before/after numbers compare like with like.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import strategies as wst


def _no_local_constants() -> None:
    """Draw the same examples whatever wfsim's source says (see the module docstring)."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without that module
        return
    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        providers._get_local_constants = providers.Constants


_no_local_constants()
TAPES = wst.schedules(max_size=60)
SEEDS = st.integers(0, 2**16)


def cases(min_steps: int) -> st.SearchStrategy[tuple[wfsim.Workflow, list[wfsim.Fault]]]:
    return wst.workflows_with_faults(
        wst.workflows(min_steps=min_steps, max_steps=20), max_faults=4, kinds=wst.FAULT_KINDS
    )


def measure(
    examples: int,
    body: Callable[[tuple[wfsim.Workflow, list[wfsim.Fault]], wfsim.Tape, int], None],
    min_steps: int = 1,
) -> dict[str, float]:
    steps: list[int] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases(min_steps), tape=TAPES, seed=SEEDS)
    def search(case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int) -> None:
        steps.append(len(case[0]))
        body(case, tape, seed)

    cpu, wall = time.process_time(), time.perf_counter()
    search()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "examples": len(steps),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "examples_per_cpu_s": round(len(steps) / cpu, 1),
        "mean_steps": round(sum(steps) / len(steps), 1),
        "max_steps": max(steps),
    }


def nothing(case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int) -> None:
    pass


def run_only(case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int) -> None:
    workflow, faults = case
    wfsim.run(workflow, faults=faults, seed=seed, choices=tape)


def whole(case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int) -> None:
    workflow, faults = case
    wst.run_and_check(workflow, faults=faults, seed=seed, choices=tape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--min-steps", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {
        name: measure(args.examples, body, args.min_steps)
        for name, body in (
            ("strategies", nothing),
            ("run", run_only),
            ("property", whole),
        )
    }
    if args.json:
        print(json.dumps(results))
        return
    for name, r in results.items():
        print(
            f"{name:>10}: {r['examples']} examples in {r['cpu_s']} CPU s ({r['wall_s']} wall s): "
            f"{r['examples_per_cpu_s']} examples/s; steps mean {r['mean_steps']}, "
            f"max {r['max_steps']}"
        )


if __name__ == "__main__":
    main()
