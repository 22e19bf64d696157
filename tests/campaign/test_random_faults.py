"""Random faults (``--fault-rate``) and swarm testing (``--swarm``) in campaigns."""

from __future__ import annotations

import collections
import json
import pathlib
import shlex
import subprocess
import sys
from typing import Any

import attrs
import pytest
import yaml

from wfsim._core._workflow import Workflow
from wfsim.campaign import (
    CampaignError,
    CampaignStore,
    RandomFaults,
    plan_faults,
    run_campaign,
    run_seed,
)
from wfsim.campaign._random import (
    FAULT_KINDS,
    body_targets,
    kinds_for,
    plan_for,
)
from wfsim.checks import check_all
from wfsim.scenario import load_scenario, load_scenario_text, run_scenario
from wfsim.scenario._dump import fault_mapping

from .conftest import write

# b has no retry: one random fault on it fails the run, which the invariant catches.
GUARDED = """\
scenario: a retried step and one that may not fail
workflow:
  name: guarded
  steps:
    a: {duration: 1s, retry: {max_attempts: 3, initial_interval: 1s}}
    b: {after: [a], duration: 1s}
faults:
  - {step: a, error: ConnectionError, attempts: [1]}
expect:
  status: completed
  attempts: {a: 2}
  makespan: 3s
invariants:
  status: completed
"""

# Steps with timeouts, so swarm seeds with hangs on see them end.
SWARM = """\
scenario: three steps with timeouts for swarm testing
workflow:
  name: swarm
  steps:
    a: {duration: 1s, timeout: 3s, retry: {max_attempts: 3, initial_interval: 1s}}
    b: {after: [a], duration: 500ms, timeout: 2s, retry: {max_attempts: 3, initial_interval: 1s}}
    c: {after: [a], duration: 2s, retry: {max_attempts: 2, initial_interval: 1s}}
invariants:
  completed: [a]
"""

WFSIM = [sys.executable, "-m", "wfsim"]


def wfsim(cwd: pathlib.Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WFSIM, *argv], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def slots(workflow: Workflow) -> int:
    """Every attempt every step may make: what a fault rate applies to."""
    return sum(s.retry.max_attempts if s.retry else 1 for s in workflow.steps.values())


@pytest.mark.spec("CAMP-30", "CAMP-31")
def test_a_seeds_random_faults_are_explicit_and_the_same_for_the_same_seed(
    flaky: pathlib.Path,
) -> None:
    workflow = load_scenario(str(flaky)).workflow
    assert isinstance(workflow, Workflow)
    options = RandomFaults(0.3)
    plans = [plan_faults(workflow, seed, options) for seed in range(40)]
    assert plans == [plan_faults(workflow, seed, options) for seed in range(40)]
    assert len({p.faults for p in plans}) > 20
    for plan in plans:
        assert plan.kinds == ("error",)
        for fault in plan.faults:
            assert (fault.kind, fault.error_name, fault.probability) == (
                "error",
                "ConnectionError",
                None,
            )
            assert fault.step in workflow.steps
            (attempt,) = fault.attempts or ()
            assert 1 <= attempt <= 2  # every step of `flaky` has max_attempts 2


@pytest.mark.spec("CAMP-30")
def test_the_fault_rate_is_the_chance_that_each_attempt_fails(flaky: pathlib.Path) -> None:
    workflow = load_scenario(str(flaky)).workflow
    assert isinstance(workflow, Workflow)
    seeds = 2000
    hit = sum(len(plan_faults(workflow, s, RandomFaults(0.2)).faults) for s in range(seeds))
    assert abs(hit / (seeds * slots(workflow)) - 0.2) < 0.02
    assert plan_faults(workflow, 0, RandomFaults(0.0)).faults == ()
    every = plan_faults(workflow, 0, RandomFaults(1.0)).faults
    assert len(every) == slots(workflow)


@pytest.mark.spec("CAMP-30")
def test_rate_one_fails_every_attempt_and_rate_zero_is_the_plain_run(
    steady: pathlib.Path,
) -> None:
    scenario = load_scenario(str(steady))
    plain = run_seed(scenario, "h", 5)
    assert run_seed(scenario, "h", 5, RandomFaults(0.0)).digest == plain.digest
    all_fail = run_seed(scenario, "h", 5, RandomFaults(1.0))
    assert all_fail.status == "failed"
    assert all_fail.attempts == {"a": 10}  # max_attempts 10, every one hit
    assert all_fail.failed_attempts == {"a": 10}


@pytest.mark.spec("CAMP-30")
def test_the_scenarios_own_probability_faults_draw_as_in_a_plain_run(
    flaky: pathlib.Path,
) -> None:
    # Seeds whose random faults are planned only on attempts the run never makes:
    # the run must be the plain run, so the random draws did not touch the `faults` stream.
    scenario = load_scenario(str(flaky))
    quiet = []
    for seed in range(200):
        plan = plan_faults(scenario.workflow, seed, RandomFaults(0.2))
        outcome = run_scenario(scenario, seed=seed, extra_faults=plan.faults)
        if plan.faults and not outcome.extra_fired:
            quiet.append(seed)
            assert outcome.result.digest() == run_scenario(scenario, seed=seed).result.digest()
    assert len(quiet) >= 5


@pytest.mark.spec("CAMP-30")
def test_expect_holds_only_where_no_random_fault_fired_and_invariants_always(
    tmp_path: pathlib.Path,
) -> None:
    path = write(tmp_path, "guarded.wfsim.yaml", GUARDED)
    scenario = load_scenario(str(path))
    records = [run_seed(scenario, "h", seed, RandomFaults(0.2)) for seed in range(300)]
    fired = [r for r in records if r.random_faults]
    quiet = [r for r in records if not r.random_faults]
    assert fired and quiet
    # Where none fired, the file's own plan holds: expect and invariants pass.
    assert all(r.passed for r in quiet)
    # Where one fired, makespans and attempts moved, yet no expect.* failure is reported;
    # a fault on b (no retry) breaks the invariant.
    assert any(r.makespan_ns != 3_000_000_000 and r.passed for r in fired)
    keys = collections.Counter(k for r in fired for k in r.failure_keys)
    assert set(keys) == {"invariants.status"}
    assert keys["invariants.status"] == sum(r.status == "failed" for r in fired) > 0


@pytest.mark.spec("CAMP-30")
def test_the_oracles_see_the_random_faults(flaky: pathlib.Path) -> None:
    scenario = load_scenario(str(flaky))
    assert isinstance(scenario.workflow, Workflow)
    keys: collections.Counter[str] = collections.Counter()
    unexplained = 0
    for seed in range(150):
        record = run_seed(scenario, "h", seed, RandomFaults(0.3))
        keys.update(record.failure_keys)
        plan = plan_faults(scenario.workflow, seed, RandomFaults(0.3))
        outcome = run_scenario(scenario, seed=seed, extra_faults=plan.faults)
        # Judged with the scenario's faults only, the random ones would be unexplained.
        unexplained += any(
            v.rule == "FAULT-4"
            for v in check_all(scenario.workflow, scenario.faults, outcome.result.trace)
        )
    assert unexplained > 10
    assert all("." in key for key in keys), keys  # expectations and invariants, no rule IDs


@pytest.mark.spec("CAMP-30")
def test_replay_lines_carry_the_options_and_reproduce_the_run(
    tmp_path: pathlib.Path, flaky: pathlib.Path
) -> None:
    done = wfsim(
        tmp_path, "simulate", flaky.name, "--seeds", "30", "--fault-rate", "0.3",
        "--workers", "1", "--json", "--out", "store",
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    (scenario,) = report["scenarios"]
    assert 0 < scenario["random_fault_runs"] <= 30
    for failing in scenario["failing"][:2]:
        assert failing["replay"] == (
            f"wfsim replay {flaky.name} --seed {failing['seed']} --fault-rate 0.3"
        )
        replay = wfsim(tmp_path, *shlex.split(failing["replay"])[1:])
        assert replay.returncode == 1
        assert f"digest: {failing['trace_digest']}" in replay.stdout
        assert f"status: {failing['status']}" in replay.stdout
        assert "fired" in replay.stdout
        as_json = json.loads(wfsim(tmp_path, *shlex.split(failing["replay"])[1:], "--json").stdout)
        assert as_json["trace_digest"] == failing["trace_digest"]
        assert as_json["passed"] is False
        assert as_json["random_faults"]["planned"] >= as_json["random_faults"]["fired"]
    with CampaignStore(tmp_path / "store" / "campaigns.sqlite", create=False) as store:
        (info,) = store.campaigns()
    assert info.options["random_faults"] == {"rate": 0.3, "swarm": False}


@pytest.mark.spec("CAMP-30", "CAMP-32")
def test_backends_draw_the_same_random_faults(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "swarm.wfsim.yaml", SWARM)
    store = tmp_path / "campaigns.sqlite"
    digests = []
    for workers in (1, 2):
        summary = run_campaign(
            [path], seeds=40, workers=workers, fault_rate=0.3, swarm=True, store=store
        )
        with CampaignStore(store, create=False) as db:
            runs = db.runs(summary.campaign_id or 0)
        digests.append({(r.seed, r.digest, r.swarm, r.random_faults) for r in runs})
        assert len(digests[-1]) == 40
    assert digests[0] == digests[1]


@pytest.mark.spec("CAMP-30")
def test_resume_reuses_only_runs_made_with_the_same_random_fault_options(
    tmp_path: pathlib.Path, flaky: pathlib.Path
) -> None:
    store = tmp_path / "campaigns.sqlite"
    run_campaign([flaky], seeds=20, store=store)
    first = run_campaign([flaky], seeds=20, store=store, fault_rate=0.3, resume=True)
    assert first.reused == 0
    again = run_campaign([flaky], seeds=20, store=store, fault_rate=0.3, resume=True)
    assert again.reused == 20
    swarm = run_campaign([flaky], seeds=20, store=store, fault_rate=0.3, swarm=True, resume=True)
    assert swarm.reused == 0
    assert attrs.evolve(again, campaign_id=None, reused=0, wall_seconds=0) == attrs.evolve(
        first, campaign_id=None, wall_seconds=0
    )


@pytest.mark.spec("CAMP-30")
def test_a_fault_rate_outside_0_to_1_is_bad_input(
    tmp_path: pathlib.Path, flaky: pathlib.Path
) -> None:
    for rate in ("1.5", "-0.1", "often"):
        done = wfsim(tmp_path, "simulate", flaky.name, "--seeds", "1", "--fault-rate", rate)
        assert done.returncode == 2
        assert done.stdout == ""
        assert f"fault rate must be a number from 0 to 1, not {rate}" in done.stderr.replace(
            "'", ""
        )
        assert "Traceback" not in done.stderr
    with pytest.raises(CampaignError, match="fault rate must be a number from 0 to 1, not 2"):
        run_campaign([flaky], seeds=1, fault_rate=2)


def _with_faults(text: str, seed: int, faults: list[dict[str, Any]]) -> str:
    doc = yaml.safe_load(text)
    doc["seed"] = seed
    doc["faults"] = doc.get("faults", []) + faults
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.spec("CAMP-31")
def test_a_seeds_random_faults_written_into_the_file_reproduce_its_run(
    tmp_path: pathlib.Path,
) -> None:
    scenario = load_scenario_text(SWARM)
    options = RandomFaults(0.4, swarm=True)
    kinds_fired: set[str] = set()
    for seed in range(60):
        plan = plan_faults(scenario.workflow, seed, options)
        record = run_seed(scenario, "h", seed, options)
        text = _with_faults(SWARM, seed, [fault_mapping(f) for f in plan.faults])
        written = load_scenario(str(write(tmp_path, f"s{seed}.wfsim.yaml", text)))
        assert written.faults == plan.faults
        assert run_scenario(written).result.digest() == record.digest
        if record.random_faults:
            kinds_fired.update(f.kind for f in plan.faults)
    # A DAG takes every kind but the delivery faults, crashes included (FAULT-13).
    assert kinds_fired == set(kinds_for(scenario.workflow))
    assert kinds_fired == set(FAULT_KINDS) - {"drop", "duplicate", "delay"}


@pytest.mark.spec("CAMP-32")
def test_swarm_draws_a_configuration_per_seed(tmp_path: pathlib.Path) -> None:
    scenario = load_scenario_text(SWARM)
    options = RandomFaults(0.2, swarm=True)
    plans = [plan_faults(scenario.workflow, seed, options) for seed in range(400)]
    assert plans == [plan_faults(scenario.workflow, seed, options) for seed in range(400)]
    on = collections.Counter(k for p in plans for k in p.kinds)
    kinds = ("error", "latency", "hang", "outage", "crash")  # a DAG's (kinds_for)
    assert set(on) == set(kinds)
    assert all(160 <= n <= 280 for n in on.values()), on  # each about half the seeds
    assert len({p.configuration for p in plans}) == 31  # every non-empty subset of 5 kinds
    for plan in plans:
        assert plan.kinds and list(plan.kinds) == [k for k in kinds if k in plan.kinds]
        assert all(round(rate, 9) in (0.05, 0.1, 0.15, 0.2) for rate in plan.rates.values())
        assert {f.kind for f in plan.faults} <= set(plan.kinds)
        # c has no timeout: a hang there would only end at the run's time limit.
        assert not any(f.kind == "hang" and f.step == "c" for f in plan.faults)


@pytest.mark.spec("CAMP-32")
def test_the_report_counts_runs_per_fault_kind_and_configuration(
    tmp_path: pathlib.Path,
) -> None:
    path = write(tmp_path, "swarm.wfsim.yaml", SWARM)
    summary = run_campaign([path], seeds=120, fault_rate=0.3, swarm=True)
    (scenario,) = summary.scenarios
    workflow = load_scenario(str(path)).workflow
    plans = [plan_faults(workflow, s, RandomFaults(0.3, swarm=True)) for s in range(120)]
    expected = collections.Counter(k for p in plans for k in p.kinds)
    assert scenario.swarm_kinds == {k: expected[k] for k in kinds_for(workflow)}
    configs = collections.Counter(p.configuration for p in plans)
    assert {c: runs for c, (runs, _) in scenario.swarm_configurations.items()} == configs
    assert sum(failed for _, failed in scenario.swarm_configurations.values()) == scenario.failed
    text = summary.format()
    assert "  random faults (--fault-rate 0.3 --swarm): fired in" in text
    assert "  swarm: runs with each fault kind on: error " in text
    data = summary.to_json()["scenarios"][0]["swarm"]
    assert data["kinds"] == scenario.swarm_kinds
    assert sum(c["runs"] for c in data["configurations"].values()) == 120
    for failing in scenario.failing:
        assert scenario.replay_command(failing.seed).endswith(" --fault-rate 0.3 --swarm")


@pytest.mark.spec("CAMP-30", "CAMP-32")
def test_campaigns_show_rebuilds_the_random_fault_report_from_the_store(
    tmp_path: pathlib.Path, flaky: pathlib.Path
) -> None:
    store = tmp_path / "campaigns.sqlite"
    live = run_campaign([flaky], seeds=30, fault_rate=0.3, swarm=True, store=store)
    with CampaignStore(store, create=False) as db:
        rebuilt = db.summary(live.campaign_id or 0)
    (a,), (b,) = live.scenarios, rebuilt.scenarios
    assert b.failing and b.replay_command(b.failing[0].seed).endswith(" --fault-rate 0.3 --swarm")
    assert (b.random_fault_runs, b.swarm_kinds, b.swarm_configurations) == (
        a.random_fault_runs,
        a.swarm_kinds,
        a.swarm_configurations,
    )
    assert rebuilt.format().split("\n")[1:] == live.format().split("\n")[1:]


BODY = "scenarios/pyworkflow_order_branching_valid.wfsim.yaml"


@pytest.mark.spec("CAMP-30", "CAMP-31")
def test_a_workflow_bodys_random_faults_hit_the_steps_its_plain_run_called(
    tmp_path: pathlib.Path,
) -> None:
    scenario = load_scenario(BODY)
    called = ["validate_order", "process_valid_order", "charge_payment", "ship_order"]
    assert [t.name for t in body_targets(scenario, 4)] == called
    options = RandomFaults(0.3)
    fired = 0
    for seed in range(30):
        plan = plan_for(scenario, seed, options)
        assert plan == plan_for(scenario, seed, options)
        assert {f.step for f in plan.faults} <= set(called)
        record = run_seed(scenario, "h", seed, options)
        fired += record.random_faults > 0
        if record.random_faults:  # the file's expect describes the plain run
            assert not any(k.startswith("expect.") for k in record.failure_keys)
        text = _with_faults(
            pathlib.Path(BODY).read_text(), seed, [fault_mapping(f) for f in plan.faults]
        )
        written = load_scenario(str(write(tmp_path, f"body{seed}.wfsim.yaml", text)))
        assert run_scenario(written).result.digest() == record.digest
    assert fired > 10
