"""Minimising a failing seed's fault plan into a scenario file (``wfsim minimise``)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import attrs
import pytest
import yaml

from wfsim.campaign import CampaignError, RandomFaults, minimise, plan_faults, run_seed
from wfsim.campaign._record import judge_run
from wfsim.scenario import load_scenario

from .conftest import write

# Four steps without retries: any fault on any of them fails the run.
CHAIN = """\
scenario: a chain in which any fault is fatal
workflow:
  name: chain
  steps:
    a: {duration: 1s, retry: {max_attempts: 3, initial_interval: 1s}}
    b: {after: [a], duration: 1s, retry: {max_attempts: 3, initial_interval: 1s}}
    c: {after: [b], duration: 1s}
    d: {after: [b], duration: 1s, retry: {max_attempts: 2, initial_interval: 1s}}
expect:
  makespan: 3s
invariants:
  status: completed
"""

# A latency longer than the timeout leaves; the step has no retry.
SLOW = """\
scenario: a latency that times a step out
seed: 3
workflow:
  name: slow
  steps:
    call: {duration: 100ms, timeout: 1s}
faults:
  - {step: call, latency: 3200ms, attempts: [1]}
expect:
  status: completed
"""

WFSIM = [sys.executable, "-m", "wfsim"]


def wfsim(cwd: pathlib.Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WFSIM, *argv], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def failing_seed(path: pathlib.Path, options: RandomFaults, least_faults: int) -> int:
    scenario = load_scenario(str(path))
    for seed in range(500):
        plan = plan_faults(scenario.workflow, seed, options)
        if len(plan.faults) >= least_faults and not run_seed(scenario, "h", seed, options).passed:
            return seed
    raise AssertionError("no failing seed")  # pragma: no cover


@pytest.mark.spec("CAMP-33")
def test_the_minimal_plan_keeps_the_failure_and_needs_each_of_its_faults(
    tmp_path: pathlib.Path,
) -> None:
    path = write(tmp_path, "chain.wfsim.yaml", CHAIN)
    options = RandomFaults(0.5)
    seed = failing_seed(path, options, least_faults=5)
    m = minimise(path, seed, random_faults=options, out=tmp_path / "m.min.wfsim.yaml")
    assert m.key == "invariants.status"
    assert m.path == str(tmp_path / "m.min.wfsim.yaml")
    assert 1 <= len(m.faults) < len(m.before)
    # Faults that differ only in their attempts were merged: one per step here.
    assert len({f.step for f in m.faults}) == len(m.faults)
    assert sum(len(f.attempts or ()) for f in m.faults) >= len(m.faults)
    written = load_scenario(m.path)
    assert (written.seed, written.faults) == (seed, m.faults)
    assert written.expect == {}  # it described the original plan
    assert written.invariants == {"status": "completed"}
    outcome, failures = judge_run(written, seed)
    assert outcome.result.digest() == m.digest
    assert "invariants.status" in dict(failures)
    for i in range(len(m.faults)):  # 1-minimal: each fault is needed
        fewer = attrs.evolve(written, faults=m.faults[:i] + m.faults[i + 1 :])
        assert "invariants.status" not in dict(judge_run(fewer, seed)[1])


@pytest.mark.spec("CAMP-33")
def test_a_probability_fault_becomes_the_attempts_it_hit(flaky: pathlib.Path) -> None:
    scenario = load_scenario(str(flaky))
    seed = next(s for s in range(100) if not run_seed(scenario, "h", s).passed)
    m = minimise(flaky, seed, out=flaky.parent / "min.wfsim.yaml")
    assert m.key == "expect.status"
    assert all(f.probability is None and f.attempts for f in m.faults)
    assert {f.step for f in m.faults} <= {"fetch", "parse", "save"}
    doc = yaml.safe_load((flaky.parent / "min.wfsim.yaml").read_text())
    assert doc["seed"] == seed
    assert doc["expect"] == {"status": "completed"}  # an expect failure keeps expect
    assert all("probability" not in f for f in doc["faults"])


@pytest.mark.spec("CAMP-33")
def test_an_error_class_named_module_colon_class_is_written_back_that_way(
    tmp_path: pathlib.Path,
) -> None:
    path = write(
        tmp_path,
        "decode.wfsim.yaml",
        """\
scenario: a decode error the retries cannot outlast
workflow:
  steps:
    parse: {duration: 1s, retry: {max_attempts: 2}}
faults:
  - {step: parse, error: "json:JSONDecodeError", attempts: [1, 2]}
  - {step: parse, error: KeyError, attempts: [3]}
expect:
  status: completed
""",
    )
    m = minimise(path, 0, out=tmp_path / "m.min.wfsim.yaml")
    doc = yaml.safe_load(pathlib.Path(m.path).read_text())
    # the class's own module (json.decoder), which imports as well as the file's json
    assert doc["faults"] == [
        {"step": "parse", "error": "json.decoder:JSONDecodeError", "attempts": [1, 2]}
    ]
    again = load_scenario(m.path)  # the loader finds the class again
    assert again.faults == tuple(m.faults)


@pytest.mark.spec("CAMP-33")
def test_a_latency_is_halved_while_the_failure_persists(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "slow.wfsim.yaml", SLOW)
    m = minimise(path, 3, out=tmp_path / "slow.min.wfsim.yaml")
    # 3200ms -> 1600ms still times out (1.6s + 0.1s > 1s); 800ms would not.
    (fault,) = m.faults
    assert (fault.kind, fault.extra_ns) == ("latency", 1_600_000_000)
    doc = yaml.safe_load(pathlib.Path(m.path).read_text())
    assert doc["faults"] == [{"step": "call", "latency": "1.6s", "attempts": [1]}]


@pytest.mark.spec("CAMP-33")
def test_wfsim_minimise_writes_a_file_that_wfsim_run_fails_the_same_way(
    tmp_path: pathlib.Path,
) -> None:
    path = write(tmp_path, "chain.wfsim.yaml", CHAIN)
    seed = failing_seed(path, RandomFaults(0.5), least_faults=3)
    done = wfsim(
        tmp_path, "minimise", path.name, "--seed", str(seed), "--fault-rate", "0.5",
        "-o", "out/min.wfsim.yaml",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"minimised seed {seed}: invariants.status still fails with ")
    assert lines[-2:] == ["wrote out/min.wfsim.yaml", "  wfsim run out/min.wfsim.yaml"]
    run = wfsim(tmp_path, "run", "-q", "out/min.wfsim.yaml", "--json")
    assert run.returncode == 1
    result = json.loads(run.stdout)
    assert [f["key"] for f in result["failures"]] == ["invariants.status"]
    assert result["seed"] == seed
    again = wfsim(
        tmp_path, "minimise", path.name, "--seed", str(seed), "--fault-rate", "0.5",
        "-o", "out/again.wfsim.yaml", "--json",
    )
    assert json.loads(again.stdout)["digest"] == result["trace_digest"]


@pytest.mark.spec("CAMP-33")
def test_a_passing_seed_or_a_key_it_does_not_fail_is_bad_input(
    tmp_path: pathlib.Path,
) -> None:
    path = write(tmp_path, "chain.wfsim.yaml", CHAIN)
    passing = wfsim(tmp_path, "minimise", path.name, "--seed", "0")
    assert passing.returncode == 2
    assert passing.stdout == ""
    assert passing.stderr == (
        "wfsim: chain.wfsim.yaml: seed 0 passes; only a failing seed can be minimised\n"
    )
    seed = failing_seed(path, RandomFaults(0.5), least_faults=1)
    wrong = wfsim(
        tmp_path, "minimise", path.name, "--seed", str(seed), "--fault-rate", "0.5",
        "--key", "invariants.staus",
    )
    assert wrong.returncode == 2
    assert wrong.stderr == (
        f"wfsim: chain.wfsim.yaml: seed {seed} --fault-rate 0.5 does not fail "
        "'invariants.staus'; it fails: invariants.status\n"
    )
    with pytest.raises(CampaignError, match="passes; only a failing seed"):
        minimise(path, 0)


@pytest.mark.spec("CAMP-33")
def test_simulate_minimise_lists_the_files_and_refuses_phases(
    tmp_path: pathlib.Path,
) -> None:
    path = write(tmp_path, "chain.wfsim.yaml", CHAIN)
    done = wfsim(
        tmp_path, "simulate", path.name, "--seeds", "20", "--fault-rate", "0.3",
        "--workers", "1", "--minimise", "--out", "store",
    )
    assert done.returncode == 1, done.stderr
    *_, found, run = done.stdout.rstrip("\n").splitlines()
    seed = int(found.split(" seed ")[1].split()[0])
    # Under the campaign's directory, never beside the scenarios (where `wfsim run .`
    # would take it for one more scenario).
    written = f"store/minimised/chain-seed{seed}.min.wfsim.yaml"
    assert found == f"minimised chain.wfsim.yaml seed {seed} (invariants.status): {written}"
    assert run == f"  wfsim run {written}"
    assert (tmp_path / written).is_file()
    assert sorted(p.name for p in tmp_path.glob("*.wfsim.yaml")) == ["chain.wfsim.yaml"]
    assert wfsim(tmp_path, "run", "-q", written).returncode == 1
    refused = wfsim(
        tmp_path, "simulate", path.name, "--seeds", "5", "--minimise", "--chaos-phase", "5s",
    )
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "--minimise follows --schedule but not --chaos-phase or --liveness-bound" in (
        refused.stderr
    )


@pytest.mark.spec("CAMP-33", "SCN-6")
def test_a_python_scenario_minimised_elsewhere_prints_a_run_line_that_imports_it(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = pathlib.Path(__file__).parent / "planted"
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    for name in ("planted_bug.py", "checkout.wfsim.yaml"):
        (project / "flows" / name).write_text((planted / name).read_text())
    monkeypatch.chdir(project)
    here = minimise("flows/checkout.wfsim.yaml", 1084, random_faults=RandomFaults(0.045),
                    out="flows/checkout-seed1084.min.wfsim.yaml")
    assert (here.pythonpath, here.run_command) == (
        "", "wfsim run flows/checkout-seed1084.min.wfsim.yaml"
    )
    away = minimise("flows/checkout.wfsim.yaml", 1084, random_faults=RandomFaults(0.045))
    assert away.path == ".wfsim/minimised/checkout-seed1084.min.wfsim.yaml"
    assert away.run_command == f"PYTHONPATH=flows wfsim run {away.path}"
    assert away.format().endswith(f"  {away.run_command}")
    assert f"Run: {away.run_command}\n" in pathlib.Path(away.path).read_text()
    assert away.faults == here.faults and away.digest == here.digest
    # The printed line runs as printed (from the directory it was printed in) and
    # fails the same way: exit 1, not 2 for a module it cannot import.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(["bash", "-c", away.run_command], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "invariants.status" in done.stdout


@pytest.mark.spec("CAMP-33")
def test_a_run_that_raises_is_minimised_to_the_faults_that_make_it_raise(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wfsim.campaign._record as record

    real = record.run_scenario

    def raises_with_a_fault_on_c(scenario: Any, **options: Any) -> Any:
        if any(f.step == "c" for f in (*scenario.faults, *options.get("extra_faults", ()))):
            raise RuntimeError("engine fell over")
        return real(scenario, **options)

    monkeypatch.setattr(record, "run_scenario", raises_with_a_fault_on_c)
    path = write(tmp_path, "chain.wfsim.yaml", CHAIN)
    options = RandomFaults(0.5)
    workflow = load_scenario(str(path)).workflow
    seed = next(
        s
        for s in range(200)
        if len(plan := plan_faults(workflow, s, options).faults) >= 3
        and any(f.step == "c" for f in plan)
    )
    m = minimise(path, seed, random_faults=options, out=tmp_path / "m.min.wfsim.yaml")
    assert m.key == "error.RuntimeError"
    assert [(f.step, f.kind) for f in m.faults] == [("c", "error")]
    assert m.digest == ""


@pytest.mark.spec("CAMP-33")
def test_a_failure_found_by_a_pct_schedule_is_minimised_with_its_schedule(
    tmp_path: pathlib.Path,
) -> None:
    from .test_explore import starve_file

    starve = starve_file(tmp_path, 12).name
    done = wfsim(
        tmp_path, "simulate", starve, "--seeds", "20", "--schedule", "pct", "--workers", "1",
        "--minimise", "--json", "--out", "store",
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    first = report["scenarios"][0]["failing"][0]
    (minimised,) = report["minimised"]
    assert (minimised["seed"], minimised["key"]) == (first["seed"], "expect.status")
    doc = yaml.safe_load((tmp_path / minimised["path"]).read_text())
    assert doc["settings"]["choices"]  # the explored schedule, recorded
    assert doc["faults"] == []
    run = wfsim(tmp_path, "run", minimised["path"], "--json")
    assert run.returncode == 1
    result = json.loads(run.stdout)
    assert result["trace_digest"] == minimised["digest"] == first["trace_digest"]
    refused = wfsim(
        tmp_path, "minimise", starve, "--seed", str(first["seed"]), "--chaos-phase", "5s",
    )
    assert refused.returncode == 2
    assert "minimise follows --schedule but not --chaos-phase" in refused.stderr
