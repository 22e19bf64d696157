"""How long ``wfsim check`` takes on a large generated scenario (target: under 2 s).

Generates one scenario file with N steps (default 5,000; each depends on up to 3
earlier steps, has a duration and sometimes a retry policy), some faults and
expectations, then measures, in one run:

* ``load_scenario`` in this process (YAML, schema validation, building): best of R;
* ``wfsim check FILE`` as a subprocess, the way a user or CI runs it: best of R
  (this includes starting Python and importing wfsim);
* ``wfsim run FILE -q`` as a subprocess, for scale.

Usage: python benchmarks/bench_check.py [--steps N] [--repeats R] [--json]
This is a measurement, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from wfsim.scenario import load_scenario  # noqa: E402

TARGET_S = 2.0


def scenario_text(steps: int, seed: int) -> str:
    """A valid scenario: a random DAG of ``steps`` steps, 1% of them with faults."""
    rng = random.Random(seed)
    lines = [
        f"scenario: generated DAG with {steps} steps",
        f"seed: {seed}",
        "workflow:",
        "  name: generated",
        "  steps:",
    ]
    faults = []
    for i in range(steps):
        deps = sorted({rng.randrange(i) for _ in range(rng.randint(0, 3))}) if i else []
        parts = [f"duration: {rng.choice(['250ms', '1s', '1.5s', '2m'])}"]
        if deps:
            parts.append("after: [" + ", ".join(f"s{d}" for d in deps) + "]")
        if i % 100 == 7:
            parts.append("retry: {max_attempts: 3, initial_interval: 1s}")
            faults.append(f"  - {{step: s{i}, attempts: [1], error: ConnectionError}}")
        lines.append(f"    s{i}: {{{', '.join(parts)}}}")
    lines.append("faults:")
    lines.extend(faults)
    lines += ["expect:", "  status: completed", "  order: [s0 < s1]" if steps > 1 else ""]
    return "\n".join(lines) + "\n"


def best_of(repeats: int, fn: object) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "generated.wfsim.yaml"
        path.write_text(scenario_text(args.steps, args.seed))
        size_kb = path.stat().st_size / 1024
        load_s = best_of(args.repeats, lambda: load_scenario(path))

        def cli(*verb: str) -> None:
            subprocess.run(
                [sys.executable, "-m", "wfsim", *verb, str(path)],
                check=True, capture_output=True, cwd=REPO,
            )

        check_s = best_of(args.repeats, lambda: cli("check"))
        run_s = best_of(args.repeats, lambda: cli("run", "-q"))

    numbers = {
        "steps": args.steps,
        "file_kb": round(size_kb, 1),
        "load_scenario_s": round(load_s, 3),
        "wfsim_check_s": round(check_s, 3),
        "wfsim_run_s": round(run_s, 3),
        "target_check_s": TARGET_S,
    }
    if args.json:
        print(json.dumps(numbers))
        return 0
    print(f"generated scenario: {args.steps} steps, {size_kb:.0f} KB; best of {args.repeats}")
    print(f"  load_scenario (in process)      {load_s:7.3f} s")
    print(f"  wfsim check (subprocess)        {check_s:7.3f} s   (target < {TARGET_S:g} s)")
    print(f"  wfsim run -q (subprocess)       {run_s:7.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
