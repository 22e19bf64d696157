"""Scenarios hold for every seed, or say they are pinned to one (SCN-16).

A file with ``seed_pinned: REASON`` checks ``expect`` only at its own seed; other
seeds check ``invariants`` only, and a pytest item with nothing left to check is
skipped with the reason. Every shipped scenario passes at many seeds.
"""

from __future__ import annotations

import io
import json
import pathlib

import pytest

from wfsim._cli import main
from wfsim.campaign import run_campaign
from wfsim.errors import ScenarioError
from wfsim.scenario import load_scenario, load_scenario_text, run_scenario

REPO = pathlib.Path(__file__).resolve().parents[2]

# Seed 6 draws failures for item b: one failed attempt (the exact count is seed 6's).
PINNED = """\
scenario: a flaky item, pinned to seed 6
seed: 6
seed_pinned: the attempt counts are seed 6's draws of the 0.5 failure probability
workflow:
  steps:
    a: {duration: 1s}
    b: {after: a, duration: 1s, retry: {max_attempts: 20, initial_interval: 1s}}
faults:
  - {step: b, error: ConnectionError, probability: 0.5}
expect:
  attempts: {b: ATTEMPTS}
"""

INVARIANTS = """\
invariants:
  status: completed
  order: [a < b]
"""


def _pinned(extra: str = "") -> str:
    attempts = run_scenario(load_scenario_text(PINNED.replace("ATTEMPTS", "1"), "p.wfsim.yaml"))
    count = len(attempts.result.trace.attempts("b"))
    return PINNED.replace("ATTEMPTS", str(count)) + extra


def _other_seed_with_other_attempts(text: str) -> int:
    """A seed (not 6) at which ``b`` makes another number of attempts than at seed 6."""
    scenario = load_scenario_text(text, "p.wfsim.yaml")
    own = len(run_scenario(scenario).result.trace.attempts("b"))
    for seed in range(100):
        if seed != 6 and len(run_scenario(scenario, seed=seed).result.trace.attempts("b")) != own:
            return seed
    raise AssertionError("no seed draws other attempts")  # pragma: no cover


@pytest.mark.spec("SCN-16")
def test_expect_is_checked_at_the_pinned_seed_only() -> None:
    text = _pinned()
    scenario = load_scenario_text(text, "p.wfsim.yaml")
    assert scenario.seed_pinned.startswith("the attempt counts are seed 6's")
    own = run_scenario(scenario)
    assert own.passed and not own.expect_skipped and own.judged
    other = _other_seed_with_other_attempts(text)
    elsewhere = run_scenario(scenario, seed=other)
    assert elsewhere.passed, elsewhere.report()
    assert not elsewhere.judged  # no invariants: nothing was checked
    assert elsewhere.expect_skipped == (
        "expect is pinned to seed 6 (the attempt counts are seed 6's draws of the 0.5 failure "
        f"probability); not checked with seed {other}"
    )
    assert elsewhere.to_json()["expect_skipped"] == elsewhere.expect_skipped
    # Without the pin the same seed fails: the pin is what skips it.
    unpinned = load_scenario_text(text.replace("seed_pinned:", "description:"), "u.wfsim.yaml")
    assert not run_scenario(unpinned, seed=other).passed


@pytest.mark.spec("SCN-16")
def test_other_seeds_check_the_invariants() -> None:
    scenario = load_scenario_text(_pinned(INVARIANTS), "p.wfsim.yaml")
    other = _other_seed_with_other_attempts(_pinned())
    outcome = run_scenario(scenario, seed=other)
    assert outcome.passed and outcome.judged and outcome.expect_skipped
    broken = load_scenario_text(_pinned(INVARIANTS.replace("a < b", "b < a")), "p.wfsim.yaml")
    failed = run_scenario(broken, seed=other)
    assert [f"{f.block}.{f.key}" for f in failed.failures] == ["invariants.order"]


@pytest.mark.spec("SCN-16")
def test_another_schedule_is_not_the_pinned_seed() -> None:
    from wfsim._core._choice import SeededChoices

    scenario = load_scenario_text(_pinned(), "p.wfsim.yaml")
    outcome = run_scenario(scenario, choices=SeededChoices(6))
    assert outcome.expect_skipped.endswith("not checked with another schedule")


@pytest.mark.spec("SCN-16", "SCN-10")
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("seed_pinned: ''", "seed_pinned"),
        ("seed_pinned: true", "seed_pinned"),
        ("seed_pinned: '  '", "seed_pinned"),
        ("seed_pined: why", "did you mean 'seed_pinned'"),
    ],
)
def test_a_pin_needs_a_reason(line: str, message: str) -> None:
    text = "scenario: s\n" + line + "\nworkflow: {steps: {a: {duration: 1s}}}\n"
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario_text(text, "bad.wfsim.yaml")
    assert str(info.value).startswith("bad.wfsim.yaml:2:")


@pytest.mark.spec("SCN-16")
def test_a_pin_beside_recorded_choices_is_an_error() -> None:
    text = (
        "scenario: s\nseed_pinned: why\nworkflow: {steps: {a: {duration: 1s}}}\n"
        "settings: {choices: [0, 1]}\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "bad.wfsim.yaml")
    assert str(info.value).startswith("bad.wfsim.yaml:2: seed_pinned: ")
    assert "remove seed_pinned" in str(info.value)


@pytest.mark.spec("SCN-16", "PLUG-2")
def test_pytest_skips_other_seeds_with_the_reason(pytester: pytest.Pytester) -> None:
    (pytester.path / "pinned.wfsim.yaml").write_text(_pinned())
    result = pytester.runpytest("--wfsim-seeds", "3", "-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * expect is pinned to seed 6 (the attempt counts are seed 6's draws*); "
            "not checked with seed 7, and the file states no invariants"
        ]
    )
    (pytester.path / "pinned.wfsim.yaml").write_text(_pinned(INVARIANTS))
    result = pytester.runpytest("--wfsim-seeds", "3", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


@pytest.mark.spec("SCN-16")
def test_run_replay_and_simulate_say_expect_is_pinned(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pinned.wfsim.yaml"
    path.write_text(_pinned(INVARIANTS))
    other = _other_seed_with_other_attempts(_pinned())
    seed = ["--seed", str(other)]
    out = io.StringIO()
    assert main(["run", str(path), *seed], out=out, err=io.StringIO()) == 0, out.getvalue()
    assert f"seed {other}  completed" in out.getvalue()
    assert "expect pinned to seed 6" in out.getvalue()
    for argv in (["run", "-v", str(path), *seed], ["replay", str(path), *seed]):
        out = io.StringIO()
        assert main(argv, out=out, err=io.StringIO()) == 0, out.getvalue()
        assert "skip expect: expect is pinned to seed 6 (the attempt counts" in out.getvalue()
        assert "expect.attempts" not in out.getvalue()
    out = io.StringIO()
    assert main(["run", "--json", str(path), "--seed", str(other)], out=out) == 0
    assert "not checked with seed" in json.loads(out.getvalue())["expect_skipped"]
    summary = run_campaign([str(path)], seeds=20, workers=1, store=None)
    assert summary.ok
    (only,) = summary.scenarios
    assert "  expect pinned to seed 6 (the attempt counts are seed 6's draws" in only.format()
    assert only.to_json()["seed_pinned"]["seed"] == 6


SEEDS = 10


@pytest.mark.spec("SCN-16")
@pytest.mark.parametrize(
    "path", sorted((REPO / "scenarios").glob("*.wfsim.yaml")), ids=lambda p: p.name
)
def test_every_shipped_scenario_holds_for_many_seeds(path: pathlib.Path) -> None:
    """CI runs ``pytest scenarios/ --wfsim-seeds 50``; this is its quick cousin."""
    scenario = load_scenario(path)
    for seed in range(scenario.seed, scenario.seed + SEEDS):
        outcome = run_scenario(scenario, seed=seed)
        assert outcome.passed, outcome.report()
