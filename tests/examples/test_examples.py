"""The runnable examples: Cloacina's complex workflow and PyWorkflow's retry pattern."""

from __future__ import annotations

import itertools
import re
import runpy
import sys
import time
from pathlib import Path

import pytest

import wfsim

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples import cloacina_complex, pyworkflow_retry  # noqa: E402

S = 1_000_000_000
BATCHES = [f"process_batch_{i}" for i in (1, 2, 3, 4)]
CHAIN = [
    "aggregate_batch_results",
    "level_1_basic_analysis",
    "level_2_segment_analysis",
    "level_3_advanced_metrics",
    "level_4_predictive_insights",
    "final_comprehensive_report",
]


def edges(wf: wfsim.Workflow) -> list[tuple[str, str]]:
    return [(dep, step.name) for step in wf.steps.values() for dep in step.after]


def critical_path_ns(wf: wfsim.Workflow, durations: dict[str, float]) -> int:
    finish: dict[str, int] = {}
    for name in wf.validate():
        start = max((finish[d] for d in wf[name].after), default=0)
        finish[name] = start + wfsim.to_ns(durations[name])
    return max(finish.values())


@pytest.fixture(scope="module")
def cloacina() -> wfsim.RunResult:
    return wfsim.run(cloacina_complex.workflow, input=cloacina_complex.INPUT, seed=4)


# -- Cloacina tutorial 4 ---------------------------------------------------------------------


@pytest.mark.spec("ORD-6")
def test_cloacina_completes_every_task_exactly_once(cloacina: wfsim.RunResult) -> None:
    assert cloacina.status == "completed", cloacina.message
    assert len(cloacina_complex.workflow) == 15
    assert set(cloacina.steps) == set(cloacina_complex.DURATIONS)
    completed = cloacina.trace.completion_order()
    assert sorted(completed) == sorted(cloacina_complex.DURATIONS)  # each exactly once
    started = [e.step for e in cloacina.trace.of_kind("attempt_started")]
    assert sorted(started) == sorted(cloacina_complex.DURATIONS)
    for name, step in cloacina.steps.items():
        assert (step.status, step.attempts) == ("completed", 1), name
        assert cloacina.trace.step_status(name) == "completed"


@pytest.mark.spec("ORD-1")
def test_cloacina_every_dependency_edge_is_respected(cloacina: wfsim.RunResult) -> None:
    wf = cloacina_complex.workflow
    assert ("prepare_dataset", "distribute_workload") in edges(wf)  # the fix
    assert len(edges(wf)) == 18
    for dep, step in edges(wf):
        assert cloacina.trace.happened_before(dep, step), f"{dep} -> {step}"


@pytest.mark.spec("ORD-1", "ORD-2")
def test_cloacina_fan_out_starts_all_batches_at_one_instant(cloacina: wfsim.RunResult) -> None:
    distributed = next(
        e.t_ns for e in cloacina.trace.of_kind("step_completed") if e.step == "distribute_workload"
    )
    starts = {cloacina.trace.attempts(b)[0].started_ns for b in BATCHES}
    assert starts == {distributed}
    assert distributed == int(2.5 * S)
    assert cloacina.trace.max_concurrency() >= 4


@pytest.mark.spec("ORD-1", "ORD-2")
def test_cloacina_chain_runs_in_order_back_to_back(cloacina: wfsim.RunResult) -> None:
    starts = cloacina.trace.start_order()
    assert [s for s in starts if s in CHAIN] == CHAIN
    done = cloacina.trace.completion_order()
    assert [s for s in done if s in CHAIN] == CHAIN
    for prev, nxt in itertools.pairwise(CHAIN):
        ended = cloacina.trace.attempts(prev)[0].ended_ns
        assert cloacina.trace.attempts(nxt)[0].started_ns == ended, nxt


@pytest.mark.spec("ORD-2")
def test_cloacina_makespan_is_the_critical_path(cloacina: wfsim.RunResult) -> None:
    # prepare 2 + distribute 0.5 + batch_1 4 + aggregate 1 + levels 7 + final 0.5
    expected = critical_path_ns(cloacina_complex.workflow, cloacina_complex.DURATIONS)
    assert expected == 15 * S
    assert cloacina.makespan_ns == expected
    # every step starts when its last dependency completes
    for name, step in cloacina_complex.workflow.steps.items():
        ready = max((cloacina.trace.attempts(d)[0].ended_ns for d in step.after), default=0)
        assert cloacina.trace.attempts(name)[0].started_ns == ready, name


@pytest.mark.spec("TIME-4")
def test_cloacina_final_report_reads_the_virtual_clock(cloacina: wfsim.RunResult) -> None:
    report = cloacina.context["comprehensive_report"]
    assert report["workflow_summary"]["total_tasks_executed"] == 15
    assert report["generated_at"].startswith("2026-01-01")
    # computed when the final task started, at t=14.5 s
    assert report["generated_at"] == "2026-01-01T00:00:14.500000"
    assert cloacina.context["dataset"]["prepared_at"] == "2026-01-01T00:00:00"
    summary = report["executive_summary"]
    assert summary["total_customers_analyzed"] == 100
    assert summary["segments_identified"] == 3
    aggregated = cloacina.context["aggregated_results"]
    assert aggregated["total_customers_processed"] == 100
    assert [b["count"] for b in aggregated["batch_statistics"]] == [25, 25, 25, 25]
    assert cloacina.context["request_id"] == cloacina_complex.INPUT["request_id"]


@pytest.mark.spec("DET-1")
def test_cloacina_same_seed_same_digest_and_data(cloacina: wfsim.RunResult) -> None:
    again = wfsim.run(cloacina_complex.workflow, input=cloacina_complex.INPUT, seed=4)
    assert again.digest() == cloacina.digest()
    assert again.context["comprehensive_report"] == cloacina.context["comprehensive_report"]
    # the dataset comes from ctx.random, seeded by the run: another seed, other customers
    other = wfsim.run(cloacina_complex.workflow, input=cloacina_complex.INPUT, seed=5)
    assert other.status == "completed"
    assert other.context["dataset"] != cloacina.context["dataset"]


@pytest.mark.spec("ORD-5", "ORD-6")
@pytest.mark.parametrize("seed", range(25))
def test_cloacina_tutorial_dependencies_race_on_dataset(seed: int) -> None:
    # As published, distribute_workload has no dependencies but reads "dataset".
    # prepare_dataset publishes it when it completes (t=2 s), while
    # distribute_workload starts at t=0: the read fails for every seed.
    wf = cloacina_complex.build(fixed=False)
    assert wf["distribute_workload"].after == ()
    result = wfsim.run(wf, input=cloacina_complex.INPUT, seed=seed)
    assert result.status == "failed"
    assert result.steps["distribute_workload"].status == "failed"
    assert result.steps["distribute_workload"].error == wfsim.ContextKeyError.__name__
    (failure,) = result.trace.of_kind("attempt_failed")
    assert (failure.step, failure.t_ns) == ("distribute_workload", 0)
    assert "read context key 'dataset', which is not set" in failure["message"]
    assert not result.trace.happened_before("prepare_dataset", "distribute_workload")
    skipped = {n for n, s in result.steps.items() if s.status == "skipped"}
    assert skipped == set(BATCHES) | set(CHAIN)
    for name in (
        "prepare_dataset",
        "analyze_premium_customers",
        "analyze_standard_customers",
        "generate_customer_report",
    ):
        assert result.steps[name].status == "completed"  # the diamond still finishes


@pytest.mark.spec("TRACE-2", "DET-1")
def test_cloacina_main_runs_as_a_script(
    cloacina: wfsim.RunResult, capsys: pytest.CaptureFixture[str]
) -> None:
    runpy.run_path(str(ROOT / "examples" / "cloacina_complex.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Workflow status: completed" in out
    assert "Makespan: 15 virtual seconds" in out
    assert cloacina.trace.format() in out
    timeline = [line for line in out.splitlines() if line.startswith("[")]
    assert "run_started" in timeline[0]
    assert 'run_finished  status="completed"' in timeline[-1]
    assert f"Trace digest: {cloacina.digest()}" in out  # main() uses the same seed


# -- PyWorkflow pattern 7 --------------------------------------------------------------------


@pytest.mark.spec("RETRY-1", "RETRY-7", "RETRY-8")
def test_pyworkflow_backoff_delays_are_1_2_4_8_16() -> None:
    result = pyworkflow_retry.run_api()
    assert result.status == "completed", result.message
    assert result.trace.retry_delays("call_external_api") == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert result.steps["call_external_api"].attempts == 6
    scheduled = [e["delay"] for e in result.trace.of_kind("retry_scheduled")]
    assert scheduled == [1.0, 2.0, 4.0, 8.0, 16.0]
    outcomes = [a.outcome for a in result.trace.attempts("call_external_api")]
    assert outcomes == ["failed"] * 5 + ["succeeded"]
    assert {a.error for a in result.trace.attempts("call_external_api")[:5]} == {"ConnectionError"}
    assert result.context["api_response"]["attempt"] == 6
    assert result.makespan == 31.2  # 1+2+4+8+16 s of backoff, then 200 ms of API latency


@pytest.mark.spec("RETRY-1", "RETRY-7")
def test_pyworkflow_step_fails_after_six_attempts_when_every_attempt_fails() -> None:
    result = pyworkflow_retry.run_api(all_fail=True)
    assert result.status == "failed"
    step = result.steps["call_external_api"]
    assert (step.status, step.attempts, step.error) == ("failed", 6, "ConnectionError")
    assert result.trace.retry_delays("call_external_api") == [1.0, 2.0, 4.0, 8.0, 16.0]
    (failed,) = result.trace.of_kind("step_failed")
    assert failed["reason"] == "ConnectionError on attempt 6 of 6"
    assert "api_response" not in result.context
    assert result.makespan == 31


@pytest.mark.spec("TIME-3", "RETRY-8")
def test_virtual_hours_cost_milliseconds_of_wall_time() -> None:
    start = time.perf_counter()
    result = pyworkflow_retry.run_virtual_hour()
    wall = time.perf_counter() - start
    assert result.status == "completed", result.message
    assert wall < 5  # typically a few ms; generous so it never flakes
    # 6 attempts of 1 h each, 5 backoffs of 1 h: 11 h
    assert result.makespan == 11 * 3600
    assert result.steps["hourly_poll"].attempts == 6
    assert result.trace.retry_delays("hourly_poll") == [3600.0] * 5


@pytest.mark.spec("TIME-4")
def test_virtual_hour_attempts_see_virtual_dates() -> None:
    result = pyworkflow_retry.run_virtual_hour()
    polls = result.context["polls"]
    assert [p["attempt"] for p in polls] == [1, 2, 3, 4, 5, 6]
    assert [p["started"] for p in polls] == [
        f"2026-01-01T{h:02d}:00:00" for h in (0, 2, 4, 6, 8, 10)
    ]
    assert [p["woke"] for p in polls] == [f"2026-01-01T{h:02d}:00:00" for h in (1, 3, 5, 7, 9, 11)]
    assert result.context["ready_at"] == "2026-01-01T11:00:00"


@pytest.mark.spec("RETRY-7", "TIME-4")
def test_pyworkflow_main_runs_as_a_script(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(ROOT / "examples" / "pyworkflow_retry.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "retry delays (s): [1.0, 2.0, 4.0, 8.0, 16.0]" in out
    assert "woke 2026-01-01T11:00:00" in out


@pytest.mark.spec("CAMP-40")
def test_rare_orderings_main_prints_the_first_starving_seeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runpy.run_path(str(ROOT / "examples" / "rare_orderings.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert re.search(r"seeded random +seed 247\n", out), out
    assert re.search(r"PCT \(--schedule pct --pct-depth 3\) +seed 12\n", out), out
    assert re.search(r"delay bounding .* +seed 17\n", out), out
    assert "wfsim replay examples/rare_ordering_starved_consumer.wfsim.yaml --seed 12" in out
