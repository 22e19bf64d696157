"""``campaigns diff`` names the steps that changed, with the comparison ``wfsim diff`` uses."""

from __future__ import annotations

import json
import pathlib
import sqlite3

import pytest

from wfsim._core._tracediff import StepSummary, step_changes, step_summaries
from wfsim.campaign import CampaignStore, run_campaign
from wfsim.scenario import load_scenario, run_scenario

from .conftest import FLAKY


@pytest.mark.spec("CAMP-8")
def test_campaigns_diff_lists_the_steps_whose_attempts_or_outcome_changed(
    flaky: pathlib.Path, store: pathlib.Path
) -> None:
    before = run_campaign([flaky], seeds=12, store=store)
    flaky.write_text(FLAKY.replace("max_attempts: 2", "max_attempts: 1"), encoding="utf-8")
    after = run_campaign([flaky], seeds=12, store=store)
    with CampaignStore(store, create=False) as db:
        diff = db.diff(before.campaign_id or 0, after.campaign_id or 0)
    failing = [c for c in diff.changes if c.kind == "newly_failing"]
    assert failing, diff.format()
    for change in failing:
        run = run_scenario(load_scenario(str(flaky)), seed=change.seed).result.trace
        # The same answer as comparing the two traces' step summaries.
        assert change.after.outcomes == {s: v.outcome for s, v in step_summaries(run).items()}
        assert change.steps and all(c.before and c.after for c in change.steps)
        assert {c.after.outcome for c in change.steps if c.after} >= {"failed"}
        lines = change.describe().splitlines()
        assert lines[1:] == [f"    {c.describe('before', 'after')}" for c in change.steps]
        assert change.to_json()["steps"] == [c.to_json() for c in change.steps]
    assert "attempts 2 -> 1; completed -> failed" in diff.format()


@pytest.mark.spec("CAMP-8")
def test_a_store_without_outcomes_compares_attempts_only(
    flaky: pathlib.Path, store: pathlib.Path
) -> None:
    before = run_campaign([flaky], seeds=12, store=store)
    flaky.write_text(FLAKY.replace("max_attempts: 2", "max_attempts: 1"), encoding="utf-8")
    after = run_campaign([flaky], seeds=12, store=store)
    with sqlite3.connect(store) as db:  # as a wfsim from before outcomes were kept wrote it
        for rowid, stats in db.execute("SELECT rowid, stats FROM runs").fetchall():
            data = json.loads(stats)
            del data["outcomes"]
            db.execute("UPDATE runs SET stats = ? WHERE rowid = ?", (json.dumps(data), rowid))
    with CampaignStore(store, create=False) as db:
        diff = db.diff(before.campaign_id or 0, after.campaign_id or 0)
    changes = [s for c in diff.changes for s in c.steps]
    sides = [side for s in changes for side in (s.before, s.after) if side is not None]
    assert changes and all(side.outcome is None for side in sides)
    assert step_changes({"x": StepSummary(1, None)}, {"x": StepSummary(1, None)}) == ()
