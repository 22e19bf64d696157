"""Exploration: schedule strategies in campaigns, chaos then quiet, liveness, exhaustive search.

Rules: ``specs/campaign.md`` CAMP-40..44.
"""

from __future__ import annotations

import pathlib

import pytest

import wfsim
from wfsim._core._choice import Tape
from wfsim.campaign import CampaignError, CampaignStore, run_campaign
from wfsim.campaign._explore import (
    LIVENESS_RULE,
    Exploration,
    explore_exhaustive,
    explore_run,
)
from wfsim.scenario import load_scenario
from wfsim.scenario._runner import until

from .conftest import write

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "rare_orderings.py"

STARVE = """\
scenario: the consumer never starves
workflow: {python: "rare_orderings_%(rounds)d:starved_consumer"}
expect:
  status: completed
"""

# Every attempt of `call` fails until the chaos phase ends; 100 attempts a second apart.
FLAKY_UNTIL_QUIET = """\
scenario: a call that fails while the chaos lasts
workflow:
  name: quiet
  steps:
    prepare: {duration: 1s}
    call:
      after: [prepare]
      duration: 2s
      retry: {max_attempts: 100, initial_interval: 1s, backoff_coefficient: 1}
    finish: {after: [call], duration: 1s}
faults:
  - {step: call, error: ConnectionError}
expect:
  status: completed
"""

# A hung attempt without a timeout never ends, chaos phase or not.
HANG = """\
scenario: a hung call %(timeout)s
workflow:
  name: hang
  steps:
    prepare: {duration: 1s}
    call:
      after: [prepare]
      duration: 2s
%(timeout_line)s      retry: {max_attempts: 100, initial_interval: 1s, backoff_coefficient: 1}
    finish: {after: [call], duration: 1s}
faults:
  - {step: call, hang: true, probability: 0.5}
expect:
  status: completed
"""

FORK = """\
scenario: fork join
workflow:
  name: fork
  steps:
    a: {duration: 1s}
    b: {duration: 1s}
    c: {duration: 1s}
    join: {after: [a, b, c], duration: 1s}
expect:
  status: completed
"""


def starve_file(tmp_path: pathlib.Path, rounds: int) -> pathlib.Path:
    source = EXAMPLE.read_text(encoding="utf-8").replace("ROUNDS = 12", f"ROUNDS = {rounds}")
    (tmp_path / f"rare_orderings_{rounds}.py").write_text(source, encoding="utf-8")
    return write(tmp_path, f"starve{rounds}.wfsim.yaml", STARVE % {"rounds": rounds})


def hang_file(tmp_path: pathlib.Path, timeout: bool) -> pathlib.Path:
    text = HANG % {
        "timeout": "with a timeout" if timeout else "without a timeout",
        "timeout_line": "      timeout: 5s\n" if timeout else "",
    }
    return write(tmp_path, f"hang_{timeout}.wfsim.yaml", text)


@pytest.mark.spec("CAMP-40")
def test_a_pct_campaign_finds_the_starvation_and_is_the_same_every_time(
    tmp_path: pathlib.Path,
) -> None:
    path = starve_file(tmp_path, 12)
    pct = Exploration.make("pct")
    store = tmp_path / "campaigns.sqlite"
    first = run_campaign([path], seeds=30, exploration=pct, store=store)
    again = run_campaign([path], seeds=30, exploration=pct)
    plain = run_campaign([path], seeds=30)
    found = first.scenarios[0].failing
    assert [r.seed for r in found] == [12, 22]
    assert [(r.seed, r.digest) for r in found] == [
        (r.seed, r.digest) for r in again.scenarios[0].failing
    ]
    assert plain.ok
    line = first.scenarios[0].replay_command(12)
    assert line.endswith("--seed 12 --schedule pct --pct-depth 3")
    with CampaignStore(store, create=False) as db:  # campaigns show: the same replay lines
        assert db.summary(1).scenarios[0].replay_command(12) == line
    options = Exploration.make("delay-bounded", delay_bound=2, chaos_phase="1.5s")
    assert Exploration.from_json(options.to_json()) == options
    # The replay line's run: explore_run with the same options gives the same digest.
    outcome, failures = explore_run(load_scenario(str(path)), 12, pct)
    assert outcome.result.digest() == found[0].digest
    assert [k for k, _ in failures] == ["expect.status"]
    delay = run_campaign([path], seeds=30, exploration=Exploration.make("delay-bounded"))
    assert [r.seed for r in delay.scenarios[0].failing] == [17, 20]


def test_bad_exploration_options() -> None:
    unknown = r"unknown schedule 'pcT': did you mean 'pct'\? \(schedules: random, pct"
    with pytest.raises(CampaignError, match=unknown):
        Exploration.make("pcT")
    with pytest.raises(CampaignError, match="PCT depth must be an integer >= 1, not 0"):
        Exploration.make("pct", pct_depth=0)
    with pytest.raises(CampaignError, match="chaos phase must be more than 0s"):
        Exploration.make(chaos_phase="0s")
    with pytest.raises(CampaignError, match="liveness bound"):
        Exploration.make(liveness_bound="soon")
    with pytest.raises(CampaignError, match="resume"):
        run_campaign(
            ["x.wfsim.yaml"],
            seeds=1,
            store="s.sqlite",
            resume=True,
            exploration=Exploration.make("pct"),
        )


@pytest.mark.spec("CAMP-41")
def test_faults_stop_when_the_chaos_phase_ends(tmp_path: pathlib.Path) -> None:
    scenario = load_scenario(str(write(tmp_path, "quiet.wfsim.yaml", FLAKY_UNTIL_QUIET)))
    plain, _ = explore_run(scenario, 0, Exploration())
    assert plain.result.status == "failed"  # every one of the 100 attempts failed
    chaos = Exploration.make(chaos_phase="10s")
    outcome, failures = explore_run(scenario, 0, chaos)
    assert (outcome.result.status, failures) == ("completed", ())
    injected = [e.t_ns for e in outcome.result.trace if e.kind == "fault_injected"]
    assert injected and max(injected) < 10 * 10**9
    started = [e.t_ns for e in outcome.result.trace if e.kind == "attempt_started"]
    assert 10 * 10**9 in started  # the first attempt of the quiet phase succeeds
    assert explore_run(scenario, 0, chaos)[0].result.digest() == outcome.result.digest()
    fault = wfsim.Fault.error("call")
    late = until(until(fault, 10), 20)
    assert late.until_ns == 10
    assert late.applies_to("call", 1, 9) and not late.applies_to("call", 1, 10)


@pytest.mark.spec("CAMP-41")
def test_the_chaos_phase_ends_random_faults_too(tmp_path: pathlib.Path) -> None:
    from wfsim.campaign._random import RandomFaults, plan_for

    retry = "retry: {max_attempts: 5, initial_interval: 1s}"
    steps = "".join(
        f"    s{i}: {{duration: 1s, {retry}{f', after: [s{i - 1}]' if i else ''}}}\n"
        for i in range(6)
    )
    chain = f"scenario: a chain\nworkflow:\n  name: chain\n  steps:\n{steps}"
    path = write(tmp_path, "chain.wfsim.yaml", chain)
    scenario = load_scenario(str(path))
    chaos = Exploration.make(chaos_phase="3s")
    late = 0
    for seed in range(10):
        plan = plan_for(scenario, seed, RandomFaults(0.6, swarm=True))
        outcome, _ = explore_run(scenario, seed, chaos, plan.faults)
        injected = [e.t_ns for e in outcome.result.trace if e.kind == "fault_injected"]
        assert all(t < 3 * 10**9 for t in injected), (seed, injected)
        same, _ = explore_run(scenario, seed, chaos, plan.faults)
        assert same.result.digest() == outcome.result.digest()
        # Without the chaos phase the same random faults do fire later.
        plain, _ = explore_run(scenario, seed, Exploration(), plan.faults)
        late += any(
            e.kind == "fault_injected" and e.t_ns >= 3 * 10**9 for e in plain.result.trace
        )
    assert late > 0
    summary = run_campaign([path], seeds=10, fault_rate=0.6, swarm=True, exploration=chaos)
    assert summary.scenarios[0].replay_command(3).endswith(
        "--seed 3 --fault-rate 0.6 --swarm --chaos-phase 3s"
    )


@pytest.mark.spec("CAMP-42")
def test_a_run_that_does_not_finish_in_the_quiet_phase_breaks_liveness(
    tmp_path: pathlib.Path,
) -> None:
    options = Exploration.make(chaos_phase="30s", liveness_bound="1m")
    hung = run_campaign([hang_file(tmp_path, timeout=False)], seeds=20, exploration=options)
    summary = hung.scenarios[0]
    assert summary.failed > 0
    for run in summary.failing:
        assert LIVENESS_RULE in run.failure_keys
        assert run.status == "timed_out"
    scenario = load_scenario(str(hang_file(tmp_path, timeout=False)))
    seed = summary.failing[0].seed
    outcome, failures = explore_run(scenario, seed, options)
    assert outcome.result.makespan_ns == 90 * 10**9  # chaos 30s + bound 1m
    message = dict(failures)[LIVENESS_RULE]
    assert message.startswith("no final status 1m after the chaos phase ended at 30s")
    assert "'call'" in message
    # With a timeout every hung attempt ends and the quiet phase lets a retry succeed.
    fixed = run_campaign([hang_file(tmp_path, timeout=True)], seeds=20, exploration=options)
    assert fixed.ok, fixed.format()
    # Without a chaos phase the bound counts from 0; a run already over is no violation
    # of it if the file's own time limit is shorter.
    short = Exploration.make(liveness_bound="2s")
    outcome, failures = explore_run(scenario, 0, short)
    assert outcome.result.makespan_ns == 2 * 10**9
    assert LIVENESS_RULE in dict(failures)


@pytest.mark.spec("CAMP-43")
def test_exhaustive_runs_every_interleaving_and_fault_placement(tmp_path: pathlib.Path) -> None:
    path = str(write(tmp_path, "fork.wfsim.yaml", FORK))
    none = explore_exhaustive(path)
    # a, b and c start in any order (3!) and end in any order (3!).
    assert (none.runs, none.digests, none.outcomes, none.complete) == (36, 36, 1, True)
    one = explore_exhaustive(path, max_faults=1)
    # No fault (36 runs); one on the first attempt of a, b or c: it fails at once, the
    # other two start (3 places for the failing one among the starts, 2 orders of the
    # others) and end in either order: 12 runs each; one on join: 36 runs.
    assert (one.placements, one.runs, one.outcomes) == (5, 36 + 3 * 12 + 36, 5)
    assert one.statuses == {"completed": 36, "failed": 72}
    # The runs a placed fault failed hold every check: the two counts are not confused.
    text = one.format()
    assert "  run statuses: completed 36, failed 72\n" in text
    # One fault, not "1 fault(s)"; a complete search is not "108 of an estimated 180".
    assert ": exhaustive, up to 1 fault\n" in text
    assert f"  runs: 108, every one there is (estimated at most {one.estimated})\n" in text
    assert ": exhaustive, up to 0 faults\n" in none.format()
    assert text.endswith("  runs that broke a check (expect, invariants, oracles): 0")
    again = explore_exhaustive(path, max_faults=1)
    assert again.to_json() | {"wall_seconds": 0} == one.to_json() | {"wall_seconds": 0}


@pytest.mark.spec("CAMP-43")
def test_exhaustive_finds_every_failing_interleaving_and_its_tape_replays_it(
    tmp_path: pathlib.Path,
) -> None:
    path = starve_file(tmp_path, 3)
    report = explore_exhaustive(str(path))
    assert report.complete and report.runs == 2**4  # one decision per round, and the end
    assert report.failed == 2  # the consumer first in all 3 rounds; the end either way
    scenario = load_scenario(str(path))
    for run in report.failing:
        assert run.schedule[:3] == (1, 0, 0)
        replayed = wfsim.run(scenario.workflow, seed=scenario.seed, choices=Tape(run.choices))
        assert (replayed.status, replayed.digest()) == (run.status, run.digest)


@pytest.mark.spec("CAMP-44")
def test_exhaustive_refuses_or_caps_a_space_too_large(tmp_path: pathlib.Path) -> None:
    path = str(starve_file(tmp_path, 14))
    with pytest.raises(CampaignError, match=r"an estimated 32768 \(32768 interleavings x 1"):
        explore_exhaustive(path)
    capped = explore_exhaustive(path, max_runs=25)
    assert (capped.runs, capped.estimated, capped.complete) == (25, 32768, False)
    with pytest.raises(CampaignError, match="max faults must be an integer >= 0"):
        explore_exhaustive(path, max_faults=-1)


RACY = """\
import trio

import wfsim


def racy() -> wfsim.Workflow:
    wf = wfsim.Workflow("racy")

    @wf.step
    async def a(ctx: wfsim.StepContext) -> None:
        ctx.set("a", 1)

    @wf.step
    async def b(ctx: wfsim.StepContext) -> None:
        if ctx.get("a", None) is None:
            await trio.sleep(1)  # not a wfsim wait: the run raises ExternalWaitError

    return wf
"""


@pytest.mark.spec("CAMP-43")
def test_an_interleaving_whose_run_raises_is_a_failing_run(tmp_path: pathlib.Path) -> None:
    (tmp_path / "racy_module.py").write_text(RACY, encoding="utf-8")
    path = write(
        tmp_path, "racy.wfsim.yaml", 'scenario: racy\nworkflow: {python: "racy_module:racy"}\n'
    )
    report = explore_exhaustive(str(path))
    assert (report.runs, report.complete, report.statuses) == (
        2,
        True,
        {"completed": 1, "error": 1},
    )
    (run,) = report.failing
    assert (run.schedule, run.status, run.digest) == ((1,), "error", "")
    assert run.failures[0][0] == "error.ExternalWaitError"
