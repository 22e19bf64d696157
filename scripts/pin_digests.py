"""Write tests/regression/digests.json: the trace digest of every shipped scenario x seeds 0-7.

Digests are the regression oracle: a change that means to alter behaviour regenerates this
file (``python scripts/pin_digests.py``) and says in its commit which scenarios moved and why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = ROOT / "tests" / "regression" / "digests.json"
SEEDS = range(8)


def compute() -> dict[str, list[str]]:
    from wfsim.scenario import load_scenario, run_scenario

    digests: dict[str, list[str]] = {}
    for path in sorted((ROOT / "scenarios").glob("*.wfsim.yaml")):
        scenario = load_scenario(path)
        digests[path.name] = [run_scenario(scenario, seed=seed).result.digest() for seed in SEEDS]
    return digests


def main() -> int:
    PIN.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {PIN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
