"""Workflow coverage of campaigns: what each run reached, what a campaign never exercised.

Rules: ``specs/campaign.md`` CAMP-20 to CAMP-22. Campaigns here are 30 seeds of a
four-step saga, well under a second each.
"""

from __future__ import annotations

import io
import json
import pathlib
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wfsim.campaign import CampaignStore, run_campaign
from wfsim.campaign._coverage import (
    CoverageTally,
    CoverageUniverse,
    call_site,
    print_coverage_tables,
    run_coverage,
)
from wfsim.campaign._record import file_hash, run_seed
from wfsim.campaign._summary import Tally
from wfsim.scenario import load_scenario, run_scenario

from .conftest import write
from .probe import probe_text

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAGA = ROOT / "scenarios" / "sequencely_purchase_saga.wfsim.yaml"
BREAKER = ROOT / "scenarios" / "pyworkflow_circuit_breaker_fallback.wfsim.yaml"

PROBE = probe_text()


@pytest.fixture
def probe(tmp_path: pathlib.Path) -> pathlib.Path:
    return write(tmp_path, "probe.wfsim.yaml", PROBE)


@pytest.mark.spec("CAMP-20")
def test_a_run_records_what_it_reached_from_its_trace() -> None:
    scenario = load_scenario(str(SAGA))
    record = run_seed(scenario, file_hash(SAGA), 0)
    assert record.coverage == {
        "steps": {
            "reserve_inventory": [1, 0, ["completed"]],
            "charge_payment": [1, 0, ["completed"]],
            "ship_order": [1, 1, ["failed"]],
            "refund_payment": [1, 0, []],
            "release_inventory": [1, 0, []],
        },
        "faults": [["ship_order", 1, "error ShippingUnavailable"]],
        "compensations": [
            ["refund_payment", "charge_payment", "completed"],
            ["release_inventory", "reserve_inventory", "completed"],
        ],
    }
    # The same seed gives the same coverage, and it survives the store's JSON.
    assert run_seed(scenario, file_hash(SAGA), 0).coverage == record.coverage
    assert json.loads(record.stats_json())["coverage"] == record.coverage


@pytest.mark.spec("CAMP-20", "CAMP-21")
def test_a_campaign_counts_runs_per_point_and_lists_what_it_never_exercised(
    probe: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    summary = run_campaign([probe], seeds=30, store=tmp_path / "c.sqlite")
    scenario = summary.scenarios[0]
    coverage = scenario.coverage
    assert coverage is not None and coverage.runs == 30 and not coverage.call_sites
    rows = {row.step: row for row in coverage.steps}
    assert list(rows) == ["book", "pay", "ship", "notify", "unbook", "refund"]
    ship_failed = scenario.failed_runs["ship"]
    assert 0 < ship_failed < 30  # both outcomes happen in 30 seeds
    assert rows["ship"].failed == ship_failed and rows["ship"].faulted == ship_failed
    assert rows["notify"].reached == 30 - ship_failed
    assert rows["book"].reached == rows["pay"].reached == rows["ship"].reached == 30
    assert rows["pay"].retried == coverage.depths[("pay", 2)] == rows["pay"].failed_attempts
    assert rows["pay"].deepest == 2 and rows["pay"].max_attempts == 4
    assert list(coverage.depths) == [  # in the table's order, then by depth
        ("book", 1),
        ("pay", 1),
        ("pay", 2),
        ("ship", 1),
        ("notify", 1),
        ("unbook", 1),
        ("refund", 1),
    ]
    assert rows["refund"].reached == rows["unbook"].reached == ship_failed
    assert rows["pay"].compensated == rows["book"].compensated == ship_failed
    assert coverage.compensation_paths == {(): 30 - ship_failed, ("refund", "unbook"): ship_failed}
    assert coverage.fault_points[("error LookupError", "ship", 1)] == ship_failed
    assert coverage.fault_points[("error ConnectionError", "pay", 1)] == rows["pay"].retried
    assert coverage.never_by_kind() == {
        "steps never failed": ["book", "notify"],
        "retry depths never reached": ["pay attempt 3-4"],
        "compensations never failed": ["unbook", "refund"],
        "fault rules never fired": ["error KeyError on notify"],
    }
    # Rebuilt from the store, the coverage is the same.
    with CampaignStore(tmp_path / "c.sqlite", create=False) as store:
        assert summary.campaign_id is not None
        stored = store.summary(summary.campaign_id).scenarios[0].coverage
    assert stored == coverage


@pytest.mark.spec("CAMP-20")
def test_coverage_depends_on_the_set_of_runs_not_their_order(probe: pathlib.Path) -> None:
    scenario = load_scenario(str(probe))
    digest = file_hash(probe)
    records = [run_seed(scenario, digest, seed) for seed in range(12)]
    universe = CoverageUniverse.of(scenario.workflow, scenario.faults)
    forward, backward = CoverageTally(universe), CoverageTally(universe)
    for record in records:
        forward.add(record.coverage)
    for record in reversed(records):
        backward.add(record.coverage)
    assert forward.coverage() == backward.coverage()
    assert forward.coverage().to_json() == backward.coverage().to_json()


@pytest.mark.spec("CAMP-20", "CAMP-21")
def test_a_workflow_body_is_covered_by_call_site_with_its_breaker_states() -> None:
    summary = run_campaign([BREAKER], seeds=3)
    coverage = summary.scenarios[0].coverage
    assert coverage is not None and coverage.call_sites
    assert [row.step for row in coverage.steps] == ["fetch_quote"]
    assert call_site("fetch_quote:12") == "fetch_quote" and call_site("a:b") == "a:b"
    row = coverage.steps[0]
    assert (row.reached, row.faulted) == (3, 3)
    assert coverage.breaker_states == {
        ("quotes_api", "closed"): 3,
        ("quotes_api", "half_open"): 3,
        ("quotes_api", "open"): 3,
    }
    assert coverage.fault_points[("outage ServiceUnavailable", "fetch_quote:3", 1)] == 3
    assert ("fetch_quote:6", "quotes_api") in coverage.fallbacks
    # A body declares no steps: nothing can be named as never reached, and its one
    # fault rule fired.
    assert coverage.never == ()


@pytest.mark.spec("CAMP-21")
def test_a_dag_whose_breaker_never_opens_says_so() -> None:
    import wfsim

    breaker = wfsim.CircuitBreaker.consecutive("db", failure_threshold=3, recovery_timeout=5)
    flow = wfsim.Workflow("guarded")
    flow.add_step("read", duration=1, breaker=breaker)
    universe = CoverageUniverse.of(flow, [wfsim.Fault.latency("read", extra=1)])
    tally = CoverageTally(universe)
    tally.add(run_coverage(wfsim.run(flow, seed=0).trace))
    assert tally.coverage().never_by_kind() == {
        "steps never failed": ["read"],
        "fault rules never fired": ["latency on read"],
        "breaker states never reached": ["db open", "db half_open"],
    }


@pytest.mark.spec("CAMP-22")
def test_the_report_shows_coverage_as_text_json_and_terminal_tables(probe: pathlib.Path) -> None:
    summary = run_campaign([probe], seeds=10)
    text = summary.format()
    assert "  coverage (runs that reached each point, of 10):" in text
    assert "    never exercised:" in text
    assert "      fault rules never fired: error KeyError on notify" in text
    assert "coverage (" not in summary.format(coverage=False)
    data = summary.to_json()["scenarios"][0]["coverage"]
    assert data["unit"] == "step" and data["runs"] == 10
    assert {"what": "fault rules never fired", "item": "error KeyError on notify"} in data["never"]
    assert [s["step"] for s in data["steps"]] == [
        "book",
        "pay",
        "ship",
        "notify",
        "unbook",
        "refund",
    ]
    terminal = io.StringIO()
    print_coverage_tables(summary.scenarios, terminal)
    shown = terminal.getvalue()
    assert "coverage of" in shown and "never exercised" in shown
    assert "error KeyError on notify" in shown and "refund" in shown


@pytest.mark.spec("CAMP-22")
def test_simulate_prints_the_coverage_and_json_holds_it(
    tmp_path: pathlib.Path, probe: pathlib.Path
) -> None:
    def simulate(*extra: str) -> subprocess.Popen[str]:
        argv = ["simulate", probe.name, "--seeds", "10", "--workers", "1", *extra]
        return subprocess.Popen(
            [sys.executable, "-m", "wfsim", *argv],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    text, data = simulate("--out", "a"), simulate("--json", "--out", "b")
    out, err = text.communicate(timeout=60)
    assert text.returncode in (0, 1) and err == "", err
    assert "coverage (runs that reached each point, of 10):" in out
    assert "fault rules never fired: error KeyError on notify" in out
    out, err = data.communicate(timeout=60)
    coverage = json.loads(out)["scenarios"][0]["coverage"]
    assert coverage["runs"] == 10
    depths = [n["item"] for n in coverage["never"] if n["what"] == "retry depths never reached"]
    assert len(depths) == 1 and re.fullmatch(r"pay attempt [23]-4", depths[0]), coverage


@pytest.mark.spec("CAMP-21")
def test_a_tally_of_a_missing_file_has_an_empty_universe() -> None:
    tally = Tally("no/such/file.wfsim.yaml", "gone", "0" * 64)
    assert tally.universe == CoverageUniverse()
    scenario = load_scenario(str(SAGA))
    tally.add(run_seed(scenario, file_hash(SAGA), 0))
    coverage = tally.summary().coverage
    assert coverage is not None and coverage.call_sites  # steps: whatever the runs reached
    # Nothing declared, so only what the reached steps never did can be named.
    assert coverage.never_by_kind() == {
        "steps never failed": ["charge_payment", "reserve_inventory"]
    }
    assert run_scenario(scenario, seed=0).result.status == "compensated"


@pytest.mark.spec("CAMP-22", "FAULT-11")
def test_a_crash_rerun_deeper_than_the_policy_is_marked_and_explained() -> None:
    """A lost attempt runs again whatever max_attempts says: ``2/1*`` and a note, not ``2/1``."""
    crash = ROOT / "scenarios" / "crash_recovery_saga.wfsim.yaml"
    summary = run_campaign([crash], seeds=2)
    coverage = summary.scenarios[0].coverage
    assert coverage is not None
    rows = {row[0]: row for row in coverage.step_rows()}
    deepest = 1 + [h for h, _ in coverage.COLUMNS].index("deepest")
    assert rows["charge_payment"][deepest] == "2/1*"
    assert rows["notify"][deepest] == "1/1"
    text = summary.format()
    assert "  * deeper than max_attempts: an attempt lost in a crash runs again" in text
    terminal = io.StringIO()
    print_coverage_tables(summary.scenarios, terminal)
    assert "* deeper than max_attempts" in terminal.getvalue()
    plain = run_campaign([SAGA], seeds=2).format()
    assert "deeper than max_attempts" not in plain


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(), _JSON, max_size=5))
def test_the_stats_column_is_what_json_dumps_writes(data: dict) -> None:
    """The store's stats JSON is written by one reused encoder: the same text as
    ``json.dumps`` with compact separators, for any JSON value (non-ASCII, NaN, ...)."""
    from wfsim.campaign._record import _compact_json

    assert _compact_json(data) == json.dumps(data, separators=(",", ":"))


def test_the_stats_column_refuses_what_json_refuses() -> None:
    from wfsim.campaign._record import _compact_json

    with pytest.raises(TypeError, match="not JSON serializable"):
        _compact_json({"x": object()})
    assert _compact_json({"x": [1, "é"]}) == '{"x":[1,"\\u00e9"]}'  # a failure leaves nothing
