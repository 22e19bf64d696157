"""Acceptance: the property suite finds a planted engine bug and prints it as a scenario.

The engine's test-only switch ``wfsim._core._engine._PLANTED_BUG =
"attempt_off_by_one"`` retries a failed attempt once more than ``max_attempts``
allows. The suite's own DAG property, run with the switch on (bounded and
derandomized, so the search is the same every time), must fail; the shrunk
counterexample must have at most 2 steps; and the scenario file the failure
prints must, saved and loaded, reproduce the failing run digest for digest (also
through ``wfsim replay`` in a subprocess) and the violation (also through the
printed ``wfsim simulate`` line, which exits 1 naming RETRY-1), and pass with the
switch off.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings

import wfsim
from wfsim import strategies as wst
from wfsim._core import _engine
from wfsim.checks import check_all
from wfsim.scenario import load_scenario, run_scenario

from .test_oracles_hold import DAG_CASES, SEEDS, TAPES, check_dag_run

BUG = "attempt_off_by_one"

suite_property = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)(given(case=DAG_CASES, tape=TAPES, seed=SEEDS)(check_dag_run))


def _found_failure(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(_engine, "_PLANTED_BUG", BUG)
    with pytest.raises(AssertionError) as info:
        suite_property()
    monkeypatch.setattr(_engine, "_PLANTED_BUG", None)
    return str(info.value)


@pytest.mark.spec("STRAT-11", "STRAT-10")
def test_the_suite_finds_the_planted_bug_and_prints_a_scenario_that_reproduces_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    message = _found_failure(monkeypatch)
    assert "RETRY-1" in message
    digest = re.search(r"digest ([0-9a-f]{64})\)", message)
    assert digest is not None, message
    text = message.split(f"# {wst.COUNTEREXAMPLE_FILE}\n", 1)[1].split("\nand replay it with:")[0]
    replay = re.search(rf"wfsim replay {wst.COUNTEREXAMPLE_FILE} --seed (\d+)", message)
    assert replay is not None, message

    doc = yaml.safe_load(text)
    assert 1 <= len(doc["workflow"]["steps"]) <= 2, text

    path = tmp_path / wst.COUNTEREXAMPLE_FILE
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(path)
    assert isinstance(scenario.workflow, wfsim.Workflow)

    # With the switch on, the saved file reruns the failing run and breaks the rule.
    monkeypatch.setattr(_engine, "_PLANTED_BUG", BUG)
    buggy = run_scenario(scenario).result
    assert buggy.digest() == digest.group(1)
    assert "RETRY-1" in {v.rule for v in check_all(scenario.workflow, scenario.faults, buggy.trace)}

    # With it off, the same file is a passing regression scenario.
    monkeypatch.setattr(_engine, "_PLANTED_BUG", None)
    fixed = run_scenario(scenario).result
    assert check_all(scenario.workflow, scenario.faults, fixed.trace) == []
    assert fixed.digest() != buggy.digest()

    # `wfsim replay FILE --seed N`, the printed line, in a fresh process with the switch on.
    code = (
        "import sys; from wfsim._core import _engine; "
        f"_engine._PLANTED_BUG = {BUG!r}; from wfsim._cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "replay", str(path), "--seed", replay.group(1), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["trace_digest"] == digest.group(1)

    # The printed `wfsim simulate` line judges the file by every oracle: exit 1 and
    # RETRY-1 with the switch on, exit 0 without it.
    simulate = re.search(r"wfsim simulate (\S+) --seeds 1 --start-seed (\d+)", message)
    assert simulate is not None and simulate.group(1) == wst.COUNTEREXAMPLE_FILE
    args = ["simulate", str(path), "--seeds", "1", "--start-seed", simulate.group(2)]
    args += ["--workers", "1", "--json"]
    buggy_cli = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert buggy_cli.returncode == 1, buggy_cli.stderr
    (summary,) = json.loads(buggy_cli.stdout)["scenarios"]
    assert "RETRY-1" in summary["failures_by_key"]
    clean_cli = subprocess.run(
        [sys.executable, "-m", "wfsim", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert clean_cli.returncode == 0, clean_cli.stdout + clean_cli.stderr
