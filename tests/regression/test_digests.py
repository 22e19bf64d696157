"""Every shipped scenario x seeds 0-7 keeps its trace digest (the regression oracle).

A change that means to alter behaviour reruns ``python scripts/pin_digests.py`` and says in
its commit which scenarios moved and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wfsim.scenario import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]
PINNED: dict[str, list[str]] = json.loads(
    (ROOT / "tests" / "regression" / "digests.json").read_text(encoding="utf-8")
)


def test_every_shipped_scenario_is_pinned() -> None:
    shipped = sorted(p.name for p in (ROOT / "scenarios").glob("*.wfsim.yaml"))
    assert shipped == sorted(PINNED), "run: python scripts/pin_digests.py"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_scenario_keeps_its_digests(name: str) -> None:
    scenario = load_scenario(ROOT / "scenarios" / name)
    actual = [run_scenario(scenario, seed=seed).result.digest() for seed in range(8)]
    assert PINNED[name] == actual
