"""``wfsim.campaign`` in-process: runs, summaries, backends, stopping, the store, resume, diff.

Rules: ``specs/campaign.md`` (CAMP-1 to CAMP-9). Campaigns here are small (tens of
seeds of three-step scenarios), so each test takes well under a second; the one
that starts worker processes shares them between its checks.
"""

from __future__ import annotations

import io
import json
import pathlib
import re
import sqlite3
from collections import Counter
from typing import Any

import attrs
import pytest

import wfsim.campaign
from wfsim._core._time import to_ns
from wfsim.campaign import (
    Bucket,
    CampaignError,
    CampaignStore,
    CampaignSummary,
    Percentiles,
    RunRecord,
    run_campaign,
)
from wfsim.campaign._batch import run_batch
from wfsim.campaign._record import file_hash
from wfsim.campaign._summary import ScenarioSummary, Tally, delay_buckets
from wfsim.checks import Violation
from wfsim.errors import ScenarioError
from wfsim.scenario import load_scenario, run_scenario

from .conftest import FLAKY, write

PUBLIC = {
    "Bucket",
    "CampaignDiff",
    "CampaignError",
    "CampaignInfo",
    "CampaignStore",
    "CampaignSummary",
    "ExhaustiveReport",
    "Exploration",
    "ExploredRun",
    "FaultPlan",
    "Minimised",
    "Percentiles",
    "RandomFaults",
    "RunRecord",
    "ScenarioRef",
    "ScenarioSummary",
    "SeedChange",
    "explore_exhaustive",
    "explore_run",
    "minimise",
    "plan_faults",
    "run_campaign",
    "run_seed",
}


def without_wall_clock(summary: CampaignSummary) -> dict[str, object]:
    """A summary's JSON without the figures that depend on the host or the store."""
    data = summary.to_json()
    for key in (
        "campaign", "store", "workers", "dask", "wall_seconds", "runs_per_second", "reused"
    ):
        data.pop(key)
    return data


def test_public_names_are_pinned() -> None:
    assert set(wfsim.campaign.__all__) == PUBLIC
    assert issubclass(CampaignError, wfsim.WfsimError)
    assert issubclass(CampaignError, ValueError)


# --- CAMP-1: every seed of every scenario is run and judged ------------------------------


@pytest.mark.spec("CAMP-1")
def test_each_seed_is_the_run_run_scenario_gives(flaky: pathlib.Path, store: pathlib.Path) -> None:
    summary = run_campaign([flaky], seeds=30, start_seed=5, store=store)
    with CampaignStore(store, create=False) as db:
        records = {r.seed: r for r in db.runs(summary.campaign_id or 0)}
    assert sorted(records) == list(range(5, 35))
    scenario = load_scenario(str(flaky))
    expected_failing = []
    for seed, record in records.items():
        outcome = run_scenario(scenario, seed=seed)
        assert (record.status, record.digest, record.makespan_ns) == (
            outcome.result.status,
            outcome.result.digest(),
            outcome.result.makespan_ns,
        )
        assert record.failures == tuple((f"expect.{f.key}", f.message) for f in outcome.failures)
        if not outcome.passed:
            expected_failing.append(seed)
    (only,) = summary.scenarios
    assert [r.seed for r in only.failing] == expected_failing
    assert 0 < len(expected_failing) < 30  # the scenario really fails for some seeds
    assert (summary.runs, summary.failed) == (30, len(expected_failing))


@pytest.mark.spec("CAMP-1")
def test_oracle_violations_fail_a_run_under_their_rule(
    flaky: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def odd_seeds_break_ord_1(
        workflow: object, faults: object, trace: wfsim.Trace
    ) -> list[Violation]:
        seed = trace[0]["seed"]
        return [Violation("ORD-1", f"planted for seed {seed}")] if seed % 2 else []

    monkeypatch.setattr("wfsim.campaign._record.check_all", odd_seeds_break_ord_1)
    (only,) = run_campaign([flaky], seeds=10).scenarios
    assert only.failures_by_key["ORD-1"] == 5
    odd = [r for r in only.failing if r.seed % 2]
    assert [r.seed for r in odd] == [1, 3, 5, 7, 9]
    assert all(("ORD-1", f"planted for seed {r.seed}") in r.failures for r in odd)
    assert not any(key == "ORD-1" for r in only.failing if not r.seed % 2 for key, _ in r.failures)


@pytest.mark.spec("CAMP-1")
def test_a_run_that_raises_is_a_failed_run_and_the_campaign_goes_on(
    steady: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = run_scenario

    def raises_on_seed_3(scenario: object, *, seed: int, **options: Any) -> object:
        if seed == 3:
            raise RuntimeError("engine fell over")
        return real(scenario, seed=seed, **options)  # type: ignore[arg-type]

    monkeypatch.setattr("wfsim.campaign._record.run_scenario", raises_on_seed_3)
    summary = run_campaign([steady], seeds=6)
    (only,) = summary.scenarios
    assert (summary.runs, summary.failed) == (6, 1)
    (bad,) = only.failing
    assert (bad.seed, bad.status, bad.digest) == (3, "error", "")
    assert bad.failures == (("error.RuntimeError", "engine fell over"),)
    assert only.statuses == {"completed": 5, "error": 1}
    assert only.makespan == Percentiles(to_ns("3s"), to_ns("3s"), to_ns("3s"), to_ns("3s"))


@pytest.mark.spec("CAMP-1")
def test_the_same_scenario_twice_is_refused(flaky: pathlib.Path, tmp_path: pathlib.Path) -> None:
    copy = write(tmp_path, "copy.wfsim.yaml", FLAKY)
    with pytest.raises(CampaignError, match=r"copy\.wfsim\.yaml: same text as .*flaky\.wfsim"):
        run_campaign([flaky, copy], seeds=1)
    with pytest.raises(CampaignError, match="same text as"):
        run_campaign([flaky, flaky], seeds=1)


# --- CAMP-2: the report ------------------------------------------------------------------


@pytest.mark.spec("CAMP-2")
def test_the_summary_adds_up_what_each_trace_shows(flaky: pathlib.Path) -> None:
    seeds = range(40)
    summary = run_campaign([flaky], seeds=len(seeds))
    (only,) = summary.scenarios
    scenario = load_scenario(str(flaky))
    outcomes = [run_scenario(scenario, seed=s) for s in seeds]
    makespans = sorted(o.result.makespan_ns for o in outcomes)
    attempts: Counter[int] = Counter()
    delays: Counter[int] = Counter()
    failed_attempts: Counter[str] = Counter()
    failed_runs: Counter[str] = Counter()
    for o in outcomes:
        trace = o.result.trace
        for step in ("fetch", "parse", "save"):
            records = trace.attempts(step)
            if records:
                attempts[len(records)] += 1
            failed_attempts[step] += sum(r.outcome != "succeeded" for r in records)
            delays.update(trace.retry_delays_ns(step))
            failed_runs[step] += trace.step_status(step) == "failed"
    assert only.runs == 40 and only.passed == sum(o.passed for o in outcomes)
    assert only.makespan == Percentiles(makespans[19], makespans[35], makespans[39], makespans[39])
    assert only.attempts == dict(sorted(attempts.items()))
    assert sum(b.count for b in only.retry_delays) == sum(delays.values())
    assert only.failed_attempts == {k: v for k, v in sorted(failed_attempts.items()) if v}
    assert only.failed_runs == {k: v for k, v in sorted(failed_runs.items()) if v}
    assert only.failures_by_key == {"expect.status": only.failed}
    assert only.statuses == dict(Counter(o.result.status for o in outcomes).most_common())


@pytest.mark.spec("CAMP-2")
def test_text_lists_five_failing_seeds_and_json_lists_all(flaky: pathlib.Path) -> None:
    summary = run_campaign([flaky], seeds=40)
    (only,) = summary.scenarios
    assert len(only.failing) > 5
    text = summary.format()
    replays = re.findall(r"^    (wfsim replay \S+ --seed (\d+))  # expect\.status$", text, re.M)
    assert [int(seed) for _, seed in replays] == [r.seed for r in only.failing[:5]]
    assert replays[0][0] == f"wfsim replay {flaky} --seed {only.failing[0].seed}"
    assert f"failing seeds (5 of {only.failed}; --json lists all)" in text
    assert re.search(r"virtual makespan: p50 \S+  p90 \S+  p99 \S+  max \S+", text)
    assert re.search(rf"^40 runs: {summary.passed} passed, {summary.failed} failed in ", text, re.M)
    data = json.loads(json.dumps(summary.to_json()))
    (scenario,) = data["scenarios"]
    assert [f["seed"] for f in scenario["failing"]] == [r.seed for r in only.failing]
    first = scenario["failing"][0]
    assert first["replay"] == f"wfsim replay {flaky} --seed {first['seed']}"
    assert first["failures"][0]["key"] == "expect.status"
    assert set(scenario["makespan"]) == {"p50", "p90", "p99", "max"}
    assert (data["runs"], data["failed"], data["stopped"]) == (40, summary.failed, None)


@pytest.mark.spec("CAMP-2")
def test_percentiles_are_nearest_rank_and_delays_bucket_when_many() -> None:
    assert Percentiles.of([]) is None
    assert Percentiles.of(range(1, 101)) == Percentiles(50, 90, 99, 100)
    assert Percentiles.of([7]) == Percentiles(7, 7, 7, 7)
    s = 1_000_000_000
    assert delay_buckets({s: 3, 2 * s: 1}) == (Bucket(s, s, 3), Bucket(2 * s, 2 * s, 1))
    many = {ms * 1_000_000: 1 for ms in range(100, 1300, 100)}  # 100ms .. 1.2s, 12 values
    assert delay_buckets(many) == (
        Bucket(100_000_000, 200_000_000, 1),
        Bucket(200_000_000, 500_000_000, 3),
        Bucket(500_000_000, s, 5),
        Bucket(s, 2 * s, 3),
    )
    assert [b.label for b in delay_buckets(many)][-1] == "1s-2s"


# --- CAMP-4: backends give the same runs -------------------------------------------------


@pytest.mark.spec("CAMP-4")
def test_worker_processes_give_the_digests_of_the_campaign_process(
    flaky: pathlib.Path, steady: pathlib.Path, store: pathlib.Path
) -> None:
    here = run_campaign([flaky, steady], seeds=40, workers=1, store=store)
    there = run_campaign([flaky, steady], seeds=40, workers=2, store=store)
    assert there.workers == 2
    with CampaignStore(store, create=False) as db:
        a, b = db.runs(here.campaign_id or 0), db.runs(there.campaign_id or 0)
    assert len(a) == 80
    assert [(r.scenario_hash, r.seed, r.digest, r.status, r.failures) for r in a] == [
        (r.scenario_hash, r.seed, r.digest, r.status, r.failures) for r in b
    ]
    assert without_wall_clock(here) == without_wall_clock(there)
    scenario = load_scenario(str(flaky))
    assert {r.digest for r in a if r.seed == 17} >= {
        run_scenario(scenario, seed=17).result.digest()
    }


@pytest.mark.spec("CAMP-4")
def test_a_summary_does_not_depend_on_how_the_seeds_were_batched(flaky: pathlib.Path) -> None:
    path, digest = str(flaky), file_hash(flaky)
    whole = run_batch(path, digest, range(30))
    parts = [run_batch(path, digest, seeds) for seeds in (range(20, 30), range(7), range(7, 20))]
    merged = Tally(path, whole.tally.title, digest)
    for part in parts:
        merged.merge(part.tally)

    def timeless(summary: ScenarioSummary) -> ScenarioSummary:
        failing = tuple(attrs.evolve(r, wall_ms=0) for r in summary.failing)
        return attrs.evolve(summary, failing=failing)

    def row(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return row[:7] + row[8:]  # the 8th is the run's host time

    assert timeless(merged.summary()) == timeless(whole.tally.summary())
    assert whole.failed > 0 and whole.runs == sum(p.runs for p in parts) == 30
    assert sorted(row(r) for p in parts for r in p.rows) == sorted(map(row, whole.rows))


@pytest.mark.spec("CAMP-4")
def test_a_worker_refuses_a_file_that_changed(flaky: pathlib.Path) -> None:
    with pytest.raises(CampaignError, match=r"flaky\.wfsim\.yaml: the scenario file changed"):
        run_batch(str(flaky), "0" * 64, [1])


# --- CAMP-5: stopping early --------------------------------------------------------------


@pytest.mark.spec("CAMP-5")
def test_max_failures_stops_at_the_mth_failure_in_process(
    flaky: pathlib.Path, store: pathlib.Path
) -> None:
    summary = run_campaign([flaky], seeds=1000, max_failures=3, store=store)
    (only,) = summary.scenarios
    assert (summary.failed, summary.stopped) == (3, "max_failures")
    assert summary.runs == only.failing[-1].seed + 1  # in-process runs seeds in order
    assert "stopped early: the maximum number of failures was reached" in summary.format()
    with CampaignStore(store, create=False) as db:
        (info,) = db.campaigns()
    assert (info.runs, info.failed, info.stopped) == (summary.runs, 3, "max_failures")


@pytest.mark.spec("CAMP-5")
@pytest.mark.parametrize("workers", [1, 2])
def test_the_time_budget_stops_a_long_campaign(steady: pathlib.Path, workers: int) -> None:
    summary = run_campaign([steady], seeds=1_000_000, workers=workers, time_budget="300ms")
    assert summary.stopped == "time_budget"
    assert 0 < summary.runs < 1_000_000
    # Stops long before a million runs (~10 min here); generous for a loaded machine,
    # where starting the pool's processes alone took seconds.
    assert summary.wall_seconds < 30
    assert summary.ok
    assert f"({1_000_000 - summary.runs} of 1000000 runs not made)" in summary.format()


@pytest.mark.spec("CAMP-3", "CAMP-5")
def test_bad_options_are_campaign_errors(steady: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with pytest.raises(CampaignError, match="seeds must be at least 1, not 0"):
        run_campaign([steady], seeds=0)
    with pytest.raises(CampaignError, match="workers must be at least 1"):
        run_campaign([steady], seeds=1, workers=0)
    with pytest.raises(CampaignError, match="time budget must be more than 0s"):
        run_campaign([steady], seeds=1, time_budget=0)
    with pytest.raises(CampaignError, match="time budget"):
        run_campaign([steady], seeds=1, time_budget="soon")
    with pytest.raises(CampaignError, match="resume needs a store"):
        run_campaign([steady], seeds=1, resume=True)
    bad = write(tmp_path, "bad.wfsim.yaml", "scenario: x\nworkflow: {steps: {a: {duration: -1}}}\n")
    with pytest.raises(ScenarioError, match=r"bad\.wfsim\.yaml:2"):
        run_campaign([bad], seeds=1)


# --- CAMP-6: the results store -----------------------------------------------------------


@pytest.mark.spec("CAMP-6")
def test_the_store_has_the_campaigns_and_runs_tables(
    flaky: pathlib.Path, store: pathlib.Path
) -> None:
    summary = run_campaign([flaky], seeds=12, start_seed=100, store=store)
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    columns = {
        table: [row["name"] for row in db.execute(f"PRAGMA table_info({table})")]
        for table in ("campaigns", "runs")
    }
    assert columns == {
        "campaigns": [
            "id",
            "started",
            "finished",
            "wall_seconds",
            "scenarios",
            "start_seed",
            "seeds",
            "options",
            "stopped",
            "wfsim_version",
        ],
        "runs": [
            "campaign",
            "scenario_hash",
            "seed",
            "status",
            "passed",
            "failures",
            "digest",
            "makespan_ns",
            "wall_ms",
            "stats",
            "reused_from",
        ],
    }
    (campaign,) = db.execute("SELECT * FROM campaigns").fetchall()
    (scenario,) = json.loads(campaign["scenarios"])
    import hashlib

    assert scenario == {
        "path": str(flaky),
        "abspath": str(flaky.resolve()),
        "title": "three steps against a flaky service",
        "hash": hashlib.sha256(flaky.read_bytes()).hexdigest(),
    }
    assert (campaign["id"], campaign["start_seed"], campaign["seeds"]) == (
        summary.campaign_id,
        100,
        12,
    )
    assert json.loads(campaign["options"]) == {
        "workers": 1,
        "time_budget": None,
        "max_failures": None,
        "resume": False,
    }
    assert campaign["finished"] is not None and campaign["stopped"] is None
    runs = db.execute("SELECT * FROM runs ORDER BY seed").fetchall()
    assert [r["seed"] for r in runs] == list(range(100, 112))
    failed = [r for r in runs if not r["passed"]]
    assert failed and all(json.loads(r["failures"])[0]["key"] == "expect.status" for r in failed)
    assert all(json.loads(r["failures"]) == [] for r in runs if r["passed"])
    assert all(
        set(json.loads(r["stats"]))
        >= {"attempts", "failed_attempts", "failed_steps", "retry_delays_ns", "coverage"}
        for r in runs
    )
    assert all(r["reused_from"] is None and len(r["digest"]) == 64 for r in runs)


@pytest.mark.spec("CAMP-6")
def test_a_file_that_is_not_a_store_is_refused(
    steady: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    not_a_store = write(tmp_path, "notes.sqlite", "just some text, not SQLite\n" * 100)
    with pytest.raises(CampaignError, match=r"notes\.sqlite: cannot use it as a campaign store"):
        run_campaign([steady], seeds=1, store=not_a_store)
    with pytest.raises(CampaignError, match=r"no campaign store at .*missing\.sqlite"):
        CampaignStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()


@pytest.mark.spec("CAMP-6")
def test_records_round_trip_through_the_store(flaky: pathlib.Path, store: pathlib.Path) -> None:
    from wfsim.campaign import run_seed

    scenario = load_scenario(str(flaky))
    fresh = [run_seed(scenario, "h" * 64, seed) for seed in range(10)]
    with CampaignStore(store) as db:
        campaign = db.start([], 0, 10, {}, "test")
        db.add(campaign, fresh)
        back = db.runs(campaign)
    assert back == fresh
    assert isinstance(back[0], RunRecord)


# --- CAMP-7: resuming --------------------------------------------------------------------


@pytest.mark.spec("CAMP-7")
def test_resume_runs_only_the_missing_seeds_and_reports_the_whole_range(
    flaky: pathlib.Path, store: pathlib.Path
) -> None:
    first = run_campaign([flaky], seeds=15, start_seed=10, store=store)
    resumed = run_campaign([flaky], seeds=30, start_seed=0, store=store, resume=True)
    whole = run_campaign([flaky], seeds=30, start_seed=0, store=store)
    assert resumed.reused == 15 and resumed.runs == 30
    assert without_wall_clock(resumed) == without_wall_clock(whole)
    assert "15 runs reused from earlier campaigns" in resumed.format()
    db = sqlite3.connect(store)
    origin = dict(
        db.execute(
            "SELECT seed, reused_from FROM runs WHERE campaign = ?", (resumed.campaign_id,)
        ).fetchall()
    )
    assert origin == {s: first.campaign_id if 10 <= s < 25 else None for s in range(30)}
    # Resuming again reuses every seed, each from its latest recording, and runs nothing.
    again = run_campaign([flaky], seeds=30, store=store, resume=True)
    assert (again.reused, again.runs) == (30, 30)
    assert without_wall_clock(again) == without_wall_clock(whole)
    latest = dict(
        db.execute("SELECT seed, reused_from FROM runs WHERE campaign = ?", (again.campaign_id,))
    )
    assert set(latest.values()) == {whole.campaign_id}


@pytest.mark.spec("CAMP-7")
def test_a_changed_file_reuses_nothing(flaky: pathlib.Path, store: pathlib.Path) -> None:
    run_campaign([flaky], seeds=10, store=store)
    flaky.write_text(FLAKY.replace("probability: 0.3", "probability: 0.2"), encoding="utf-8")
    resumed = run_campaign([flaky], seeds=10, store=store, resume=True)
    assert (resumed.reused, resumed.runs) == (0, 10)


@pytest.mark.spec("CAMP-5", "CAMP-7")
def test_resume_counts_reused_failures_toward_max_failures(
    flaky: pathlib.Path, store: pathlib.Path
) -> None:
    first = run_campaign([flaky], seeds=20, store=store)
    assert first.failed >= 2
    resumed = run_campaign([flaky], seeds=40, store=store, resume=True, max_failures=2)
    assert (resumed.stopped, resumed.runs, resumed.reused) == ("max_failures", 20, 20)


# --- CAMP-8: reading the store -----------------------------------------------------------


@pytest.mark.spec("CAMP-8")
def test_diff_lists_the_seeds_whose_outcome_or_digest_changed(
    flaky: pathlib.Path, store: pathlib.Path
) -> None:
    before = run_campaign([flaky], seeds=30, store=store)
    same = run_campaign([flaky], seeds=20, start_seed=10, store=store)
    flaky.write_text(FLAKY.replace("max_attempts: 2", "max_attempts: 3"), encoding="utf-8")
    after = run_campaign([flaky], seeds=30, store=store)
    with CampaignStore(store, create=False) as db:
        unchanged = db.diff(before.campaign_id or 0, same.campaign_id or 0)
        diff = db.diff(before.campaign_id or 0, after.campaign_id or 0)
        old = {r.seed: r for r in db.runs(before.campaign_id or 0)}
        new = {r.seed: r for r in db.runs(after.campaign_id or 0)}
        with pytest.raises(CampaignError, match=r"no campaign 99 \(campaigns: 1, 2, 3\)"):
            db.diff(1, 99)
    assert (unchanged.compared, unchanged.changes, unchanged.only_a, unchanged.only_b) == (
        20,
        (),
        10,
        0,
    )
    assert "campaign 1 -> 2: 20 seeds in both, 0 changed" in unchanged.format()
    changed = {
        s for s in range(30) if (old[s].digest, old[s].passed) != (new[s].digest, new[s].passed)
    }
    assert changed and [c.seed for c in diff.changes] == sorted(changed)
    for change in diff.changes:
        assert (change.before, change.after) == (old[change.seed], new[change.seed])
        if old[change.seed].passed and not new[change.seed].passed:
            assert change.kind == "newly_failing"
        elif new[change.seed].passed and not old[change.seed].passed:
            assert change.kind == "newly_passing"
            assert f"seed {change.seed}: failed (expect.status) -> passed" in change.describe()
    assert any(c.kind == "newly_passing" for c in diff.changes)  # a third attempt saves some
    data = diff.to_json()
    assert (data["compared"], data["changed"]) == (30, len(diff.changes))
    assert data["changes"][0]["before"]["trace_digest"] == diff.changes[0].before.digest


@pytest.mark.spec("CAMP-8")
def test_show_rebuilds_the_report_from_the_store(flaky: pathlib.Path, store: pathlib.Path) -> None:
    summary = run_campaign([flaky], seeds=25, store=store)
    with CampaignStore(store, create=False) as db:
        shown = db.summary(summary.campaign_id or 0)
        (info,) = db.campaigns()
    assert without_wall_clock(shown) == without_wall_clock(summary)
    assert (info.runs, info.failed, info.reused, info.seeds) == (25, summary.failed, 0, 25)


# --- CAMP-9: progress --------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.spec("CAMP-9")
def test_plain_progress_lines_at_most_one_per_interval(steady: pathlib.Path) -> None:
    often, never = io.StringIO(), io.StringIO()
    run_campaign([steady], seeds=5, progress=often, progress_interval=0)
    run_campaign([steady], seeds=5, progress=never)
    lines = often.getvalue().splitlines()
    # With no interval, a line per batch of runs that came back (2, 2 and 1 seeds here).
    done = [int(n) for n in re.findall(r"^wfsim simulate: (\d+)/5 runs", often.getvalue(), re.M)]
    assert done == sorted(set(done)) and 1 <= len(done) <= 5
    assert re.fullmatch(
        r"wfsim simulate: 5/5 runs \(100%\), 0 failed, \d+ runs/s, ETA 0s", lines[-1]
    ), lines
    assert never.getvalue() == ""


@pytest.mark.spec("CAMP-9")
def test_a_terminal_gets_a_rich_bar(flaky: pathlib.Path) -> None:
    pytest.importorskip("rich")
    terminal = Terminal()
    summary = run_campaign([flaky], seeds=20, progress=terminal)
    shown = terminal.getvalue()
    assert "runs/s" in shown and f"{summary.failed} failed" in shown and "20/20" in shown
    assert "wfsim simulate:" not in shown
