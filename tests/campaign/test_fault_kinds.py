"""Crash and delivery faults in campaigns' random plans, and oracles for every workflow style."""

from __future__ import annotations

import collections
import json
import pathlib
import subprocess
import sys
from typing import Any

import attrs
import pytest
import yaml

import wfsim
from wfsim.campaign import (
    CampaignError,
    CampaignStore,
    RandomFaults,
    _record,
    minimise,
    plan_faults,
    run_campaign,
    run_seed,
)
from wfsim.campaign._minimise import _fired
from wfsim.campaign._random import (
    EVENT_OCCURRENCES,
    delivery_targets,
    kinds_for,
    plan_for,
)
from wfsim.campaign._record import file_hash
from wfsim.checks import check_all
from wfsim.scenario import load_scenario, load_scenario_text, run_scenario
from wfsim.scenario._dump import fault_mapping

from .conftest import write

EVENTS = "scenarios/llamaindex_concurrent_flow_same_type.wfsim.yaml"
SIGNALS = "scenarios/sequencely_approval_human.wfsim.yaml"
RETRIES = "scenarios/pyworkflow_map.wfsim.yaml"  # a body whose steps retry
STYLES = [EVENTS, "scenarios/llamaindex_parallel_flow.wfsim.yaml", SIGNALS, RETRIES]
DELIVERY = {"drop", "duplicate", "delay"}

# Charging twice is what a crash after the effect does (FAULT-11); nothing else here can.
CHARGE = """\
scenario: a charge that must happen once
workflow:
  name: charge
  steps:
    charge: {duration: 1s, idempotent: false, retry: {max_attempts: 3, initial_interval: 1s}}
    ship: {after: [charge], duration: 1s, retry: {max_attempts: 3, initial_interval: 1s}}
invariants:
  effects: {charge: 1}
"""

WFSIM = [sys.executable, "-m", "wfsim"]


def _with_faults(path: str, seed: int, faults: list[dict[str, Any]]) -> str:
    doc = yaml.safe_load(pathlib.Path(path).read_text())
    doc["seed"] = seed
    doc["faults"] = doc.get("faults", []) + faults
    return yaml.safe_dump(doc, sort_keys=False)


def test_each_style_takes_the_kinds_its_engine_accepts() -> None:
    dag = load_scenario("scenarios/crash_recovery_saga.wfsim.yaml").workflow
    events, body = load_scenario(EVENTS), load_scenario(SIGNALS)
    plain = ("error", "latency", "hang", "outage")
    assert kinds_for(dag) == (*plain, "crash")
    assert kinds_for(events.workflow, delivery_targets(events.workflow)) == (
        *plain,
        "drop",
        "duplicate",
        "delay",
    )
    signals = delivery_targets(body.workflow, body.signals)
    assert [(t.delivery, t.name, t.occurrences) for t in signals] == [("signal", "approval", 1)]
    # A body crashes and replays its history (FAULT-15): crash is its kind too.
    assert kinds_for(body.workflow, signals) == (*plain, "crash", "drop", "duplicate", "delay")
    # A body the scenario sends no signal: nothing to deliver, no delivery faults.
    auto = load_scenario("scenarios/sequencely_approval_auto.wfsim.yaml")
    assert delivery_targets(auto.workflow, auto.signals) == ()
    assert kinds_for(auto.workflow) == (*plain, "crash")


@pytest.mark.spec("CAMP-31", "CAMP-32")
def test_a_dags_swarm_plans_crash_at_chosen_attempts_with_a_restart_delay() -> None:
    scenario = load_scenario_text(CHARGE)
    options = RandomFaults(0.5, swarm=True)
    crashes = [
        f
        for seed in range(200)
        for f in plan_faults(scenario.workflow, seed, options).faults
        if f.kind == "crash"
    ]
    assert {f.at for f in crashes} == {"before", "after"}
    assert {f.step for f in crashes} == {"charge", "ship"}
    assert all(f.probability is None and len(f.attempts or ()) == 1 for f in crashes)
    assert {(f.attempts or (0,))[0] for f in crashes} == {1, 2, 3}
    restarts = {f.restart_ns for f in crashes}
    assert min(restarts) == 0 and max(restarts) == 5_000_000_000
    assert all(r % 100_000_000 == 0 for r in restarts)
    # Without swarm, --fault-rate keeps its meaning: start errors only.
    plain = [plan_faults(scenario.workflow, s, RandomFaults(0.5)).faults for s in range(50)]
    assert {f.kind for faults in plain for f in faults} == {"error"}


@pytest.mark.spec("CAMP-31", "CAMP-32")
@pytest.mark.parametrize(("path", "delivery"), [(EVENTS, "event"), (SIGNALS, "signal")])
def test_delivery_faults_written_into_the_file_reproduce_the_run(
    tmp_path: pathlib.Path, path: str, delivery: str
) -> None:
    scenario = load_scenario(path)
    options = RandomFaults(0.6, swarm=True)
    fired: collections.Counter[str] = collections.Counter()
    names = {t.name for t in delivery_targets(scenario.workflow, scenario.signals)}
    crashed = False
    for seed in range(40):
        plan = plan_for(scenario, seed, options)
        assert plan == plan_for(scenario, seed, options)
        # FAULT-13: the event engine refuses crashes; a body takes them (FAULT-15).
        assert "crash" not in plan.kinds or delivery == "signal"
        crashed |= any(f.kind == "crash" for f in plan.faults)
        record = run_seed(scenario, "h", seed, options)
        assert record.passed or not any("-" in k for k in record.failure_keys), record.failures
        text = _with_faults(path, seed, [fault_mapping(f) for f in plan.faults])
        written = load_scenario(str(write(tmp_path, f"s{seed}.wfsim.yaml", text)))
        assert written.faults == scenario.faults + plan.faults
        outcome = run_scenario(written)
        assert outcome.result.digest() == record.digest
        for f in plan.faults:
            if f.delivery is not None:
                assert (f.delivery, f.step) in {(delivery, n) for n in names}
                assert len(f.occurrences or ()) == 1 and f.probability is None
                fired[f.kind] += bool(_fired(f, outcome.result.trace))
    assert set(fired) == DELIVERY and all(fired.values()), fired
    assert crashed == (delivery == "signal")  # a body's crashes round-trip through its file


@pytest.mark.spec("CAMP-31")
def test_event_faults_plan_every_deliverable_type_up_to_ten_occurrences() -> None:
    workflow = load_scenario(EVENTS).workflow
    targets = delivery_targets(workflow)
    assert [t.name for t in targets] == [
        "StartEvent",
        "StopEvent",
        "StepTwoEvent",
        "StepThreeEvent",
    ]
    every = plan_faults(workflow, 3, RandomFaults(1.0, swarm=True)).faults
    hit = collections.Counter(f.step for f in every if f.delivery == "event")
    # Rate 1: every occurrence of a type gets a fault when any delivery kind is on.
    assert set(hit.values()) <= {0, EVENT_OCCURRENCES}


@pytest.mark.spec("CAMP-33")
def test_a_crash_after_the_effect_is_minimised_to_itself(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "charge.wfsim.yaml", CHARGE)
    scenario = load_scenario(str(path))
    options = RandomFaults(0.4, swarm=True)
    seeds = [
        s
        for s in range(300)
        if any(
            f.kind == "crash" and f.at == "after" and f.step == "charge"
            for f in plan_faults(scenario.workflow, s, options).faults
        )
        and "invariants.effects.charge" in run_seed(scenario, "h", s, options).failure_keys
        and len(plan_faults(scenario.workflow, s, options).faults) >= 3
    ]
    assert seeds
    m = minimise(path, seeds[0], random_faults=options, out=tmp_path / "m.min.wfsim.yaml")
    assert m.key == "invariants.effects.charge"
    (crash,) = m.faults
    assert (crash.kind, crash.step, crash.at, crash.restart_ns) == ("crash", "charge", "after", 0)
    attempt = (crash.attempts or (0,))[0]
    assert f"  crash after the effect of charge attempt {attempt}, restart 0s\n" in m.format()
    written = load_scenario(m.path)
    assert written.faults == m.faults
    assert [f.key for f in run_scenario(written).failures] == ["effects.charge"]


@pytest.mark.spec("CAMP-33")
def test_a_dropped_event_is_minimised_to_the_drop(tmp_path: pathlib.Path) -> None:
    text = _with_faults(EVENTS, 0, [])
    doc = yaml.safe_load(text)
    del doc["expect"], doc["faults"]
    doc["invariants"] = {"status": "completed"}
    path = write(tmp_path, "events.wfsim.yaml", yaml.safe_dump(doc, sort_keys=False))
    scenario = load_scenario(str(path))
    options = RandomFaults(0.5, swarm=True)
    seed = next(
        s
        for s in range(300)
        if len(plan_for(scenario, s, options).faults) >= 4
        and not run_seed(scenario, "h", s, options).passed
    )
    m = minimise(path, seed, random_faults=options, out=tmp_path / "m.min.wfsim.yaml")
    assert m.key == "invariants.status"
    assert 1 <= len(m.faults) < len(m.before)
    assert [f.kind for f in m.faults] == ["drop"]
    (failure,) = run_scenario(load_scenario(m.path)).failures
    assert failure.key == "status"


def test_fired_reads_delivery_faults_from_their_events() -> None:
    scenario = load_scenario(SIGNALS)
    fault = wfsim.Fault.duplicate(signal="appr*", probability=1.0)
    outcome = run_scenario(scenario, extra_faults=[fault])
    assert _fired(fault, outcome.result.trace) == [("approval", 1)]
    assert _fired(wfsim.Fault.drop(signal="approval"), outcome.result.trace) == []


def test_fault_mapping_writes_latency_shapes_and_crashes() -> None:
    faults = [
        wfsim.Fault.latency("charge", uniform=("10ms", "2s"), attempts=[2]),
        wfsim.Fault.latency("charge", exponential="150ms", probability=0.5),
        wfsim.Fault.crash("charge", at="after", attempts=[1, 2], restart_after="1.5s"),
        wfsim.Fault.crash("ship", probability=0.25),
        wfsim.Fault.crash("ship"),
    ]
    docs = [fault_mapping(f) for f in faults]
    assert docs[0] == {
        "step": "charge",
        "attempts": [2],
        "latency": {"uniform": ["10ms", "2s"]},
    }
    assert docs[2]["crash"] == {"at": "after", "restart_after": "1.5s"}
    assert docs[4]["crash"] == {"at": "before", "restart_after": 0}
    doc = yaml.safe_load(CHARGE)
    doc["faults"] = docs
    assert load_scenario_text(yaml.safe_dump(doc)).faults == tuple(faults)


@pytest.mark.spec("CAMP-1", "CAMP-30", "CAMP-32")
@pytest.mark.parametrize("rate", [None, 0.2, "swarm"])
def test_campaigns_judge_event_and_body_workflows_by_every_oracle(rate: Any) -> None:
    swarm = rate == "swarm"
    fault_rate = 0.3 if swarm else rate
    summary = run_campaign(STYLES, seeds=150, workers=1, fault_rate=fault_rate, swarm=swarm)
    assert [s.runs for s in summary.scenarios] == [150] * len(STYLES)
    for scenario in summary.scenarios:
        keys = set(scenario.failures_by_key)
        assert not any(k[0].isupper() for k in keys), (scenario.path, keys)  # no rule IDs
        if rate is not None:
            assert scenario.random_fault_runs > 10


@pytest.mark.spec("CAMP-1")
@pytest.mark.parametrize("path", [EVENTS, RETRIES])
def test_a_broken_trace_of_an_event_or_body_workflow_fails_the_campaigns_run(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # Each run's trace loses its run_started event, as a broken engine might: the
    # oracles (TRACE-2) must say so for every style, not only for DAGs.
    scenario = load_scenario(path)
    assert run_seed(scenario, "h", 3).passed

    def headless(*args: Any, **kwargs: Any) -> Any:
        outcome = run_scenario(*args, **kwargs)
        events = [e for e in outcome.result.trace if e.kind != "run_started"]
        trace = wfsim.Trace([attrs.evolve(e, seq=i) for i, e in enumerate(events)])
        return attrs.evolve(outcome, result=attrs.evolve(outcome.result, trace=trace))

    monkeypatch.setattr(_record, "run_scenario", headless)
    record = run_seed(scenario, "h", 3)
    assert "TRACE-2" in record.failure_keys, record.failures


@pytest.mark.spec("CAMP-30", "CAMP-32")
def test_workers_give_the_same_digests_for_the_new_kinds(tmp_path: pathlib.Path) -> None:
    done = subprocess.run(
        [*WFSIM, "simulate", EVENTS, SIGNALS, "--seeds", "30", "--fault-rate", "0.5", "--swarm",
         "--workers", "2", "--json", "--out", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=120, check=False, cwd=pathlib.Path.cwd(),
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert [set(e["swarm"]["kinds"]) & DELIVERY for e in report["scenarios"]] == [DELIVERY] * 2
    options = RandomFaults(0.5, swarm=True)
    with CampaignStore(tmp_path / "store" / "campaigns.sqlite", create=False) as store:
        (info,) = store.campaigns()
        runs = store.runs(info.id)
    assert len(runs) == 60
    scenarios = {p: load_scenario(p) for p in (EVENTS, SIGNALS)}
    by_hash = {file_hash(p): s for p, s in scenarios.items()}
    for run in runs:
        record = run_seed(by_hash[run.scenario_hash], "h", run.seed, options)
        assert (record.digest, record.swarm) == (run.digest, run.swarm)


@pytest.mark.spec("CAMP-41", "FAULT-20")
def test_a_delivery_fault_past_the_chaos_phase_is_not_expected_by_the_oracle() -> None:
    # Found by a --chaos-phase campaign with --swarm: the oracle expected a delay fault
    # on a StopEvent emitted (at 3s) after the phase had ended (2s).
    scenario = load_scenario("scenarios/llamaindex_concurrent_flow_declared_order.wfsim.yaml")
    delay = wfsim.Fault.delay(event="StopEvent", by="1s")
    for phase_ns, fired in ((2_000_000_000, False), (4_000_000_000, True)):
        gated = attrs.evolve(delay, until_ns=phase_ns)
        result = run_scenario(scenario, seed=0, extra_faults=[gated]).result
        assert any(e.kind == "fault_injected" for e in result.trace) is fired
        assert check_all(scenario.workflow, [gated], result.trace) == []
    # Judged against the fault with no phase, the quiet run misses its record.
    plain = run_scenario(scenario, seed=0).result
    (v,) = check_all(scenario.workflow, [delay], plain.trace)
    assert (v.rule, "no fault_injected records it" in v.message) == ("FAULT-20", True)


@pytest.mark.spec("CAMP-32")
def test_fault_kinds_limit_the_plan_and_without_swarm_each_is_on_at_the_rate() -> None:
    dag = load_scenario_text(CHARGE).workflow
    crashes = RandomFaults(0.3, kinds=["crash"])
    plans = [plan_faults(dag, s, crashes) for s in range(400)]
    assert {p.kinds for p in plans} == {("crash",)}
    hit = [f for p in plans for f in p.faults]
    assert {f.kind for f in hit} == {"crash"}
    assert abs(len(hit) / (400 * 6) - 0.3) < 0.03  # 6 attempts: 3 of charge, 3 of ship
    # Swarm draws only among the listed kinds (in FAULT_KINDS order, each once).
    swarm = RandomFaults(0.3, swarm=True, kinds=("outage", "crash", "crash"))
    assert swarm.kinds == ("outage", "crash")
    configs = {plan_faults(dag, s, swarm).configuration for s in range(60)}
    assert configs == {"outage", "crash", "outage+crash"}
    # An event workflow takes no crash: it gets nothing, or only the kinds it takes.
    events = load_scenario(EVENTS)
    assert plan_for(events, 1, RandomFaults(1.0, kinds=["crash"])).faults == ()
    drops = plan_for(events, 1, RandomFaults(1.0, kinds=["crash", "drop"])).faults
    assert drops and {f.kind for f in drops} == {"drop"}


@pytest.mark.spec("CAMP-32")
def test_fault_kinds_are_recorded_and_checked(tmp_path: pathlib.Path) -> None:
    options = RandomFaults(0.2, kinds=("delay", "error"))
    assert options.options == " --fault-rate 0.2 --fault-kinds error,delay"
    assert RandomFaults.from_json(options.to_json()) == options
    assert RandomFaults(0.2).to_json() == {"rate": 0.2, "swarm": False}  # stores as before
    with pytest.raises(CampaignError, match=r"unknown fault kind 'dealy': did you mean 'delay'"):
        RandomFaults(0.2, kinds=["dealy"])
    with pytest.raises(CampaignError, match="--fault-kinds needs --fault-rate P or --swarm"):
        run_campaign([SIGNALS], seeds=1, fault_kinds=["drop"])
    store = tmp_path / "campaigns.sqlite"
    first = run_campaign([SIGNALS], seeds=10, store=store, fault_rate=0.5, fault_kinds=["drop"])
    assert first.scenarios[0].replay_command(3).endswith(" --fault-rate 0.5 --fault-kinds drop")
    again = run_campaign(
        [SIGNALS], seeds=10, store=store, fault_rate=0.5, fault_kinds=["drop"], resume=True
    )
    other = run_campaign(
        [SIGNALS], seeds=10, store=store, fault_rate=0.5, fault_kinds=["delay"], resume=True
    )
    assert (again.reused, other.reused) == (10, 0)
    with CampaignStore(store, create=False) as db:
        rebuilt = db.summary(first.campaign_id or 0)
    assert rebuilt.scenarios[0].replay_command(3) == first.scenarios[0].replay_command(3)


@pytest.mark.spec("CAMP-32")
def test_wfsim_takes_fault_kinds_and_replays_them(tmp_path: pathlib.Path) -> None:
    def wfsim_(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*WFSIM, *argv], capture_output=True, text=True, timeout=120, check=False
        )

    bad = wfsim_(
        "simulate", SIGNALS, "--seeds", "2", "--fault-rate", "0.5", "--fault-kinds", "drip"
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert "unknown fault kind 'drip': did you mean 'drop'? (the kinds: error," in bad.stderr
    alone = wfsim_("simulate", SIGNALS, "--seeds", "2", "--fault-kinds", "drop")
    assert (alone.returncode, alone.stderr.strip()) == (
        2,
        "wfsim: --fault-kinds needs --fault-rate P or --swarm",
    )
    exhaustive = wfsim_("simulate", SIGNALS, "--exhaustive", "--fault-kinds", "drop")
    assert exhaustive.returncode == 2 and "--fault-kinds" in exhaustive.stderr
    # The drops make the approval wait time out: the body is denied, the file's expect
    # is not checked, and the replay line reproduces the run.
    options = ["--fault-rate", "1", "--fault-kinds", "drop"]
    done = wfsim_("simulate", SIGNALS, "--seeds", "3", "--workers", "1", "--json",
                  "--out", str(tmp_path), *options)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["scenarios"]
    assert entry["random_fault_runs"] == 3
    replay = wfsim_("replay", SIGNALS, "--seed", "2", "--json", *options)
    data = json.loads(replay.stdout)
    assert data["random_faults"] == {"planned": 1, "fired": 1}
    record = run_seed(load_scenario(SIGNALS), "h", 2, RandomFaults(1.0, kinds=["drop"]))
    assert data["trace_digest"] == record.digest
