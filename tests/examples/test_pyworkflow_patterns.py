"""PyWorkflow's advanced patterns (specs/sources.md 6) as imperative workflows.

Each test runs one workflow of ``examples/pyworkflow_patterns.py`` and checks the
promise of its blog section: what ran, what did not, in what order, at what
virtual times. ``scenarios/pyworkflow_*.wfsim.yaml`` state the same promises as
scenario files.
"""

from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

import wfsim

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples import pyworkflow_patterns as p  # noqa: E402


def starts(result: wfsim.RunResult, step: str) -> list[float]:
    return [e.t for e in result.trace.of_kind("attempt_started") if e.step == step]


def ended(result: wfsim.RunResult, step: str) -> float:
    return next(
        e.t for e in result.trace.of_kind("step_completed", "step_failed") if e.step == step
    )


def with_workers(workers: int) -> wfsim.ImperativeWorkflow:
    return wfsim.ImperativeWorkflow(
        p.parallel_processing.fn, name="parallel_processing", max_concurrency=workers
    )


# -- Pattern 1: Fan-Out / Fan-In --------------------------------------------------------------


@pytest.mark.spec("IMP-4")
def test_fan_out_runs_ten_one_second_chunks_in_one_second() -> None:
    result = wfsim.run(p.parallel_processing, input=p.PARALLEL_INPUT)
    assert result.status == "completed", result.message
    chunks = [f"process_chunk_{i}" for i in range(10)]
    assert set(result.steps) == {*chunks, "aggregate_results"}
    for name in chunks:
        assert starts(result, name) == [0.0]
        assert ended(result, name) == 1.0
    assert result.makespan == 1.0  # not 10 s
    assert result.trace.max_concurrency() == 10
    out = result.result
    assert (out["chunks_processed"], out["total_items"], out["total_sum"]) == (10, 20, 210)
    assert out["overall_average"] == 10.5
    # Fan-in returns the chunks in call order, whatever order they finished in.
    assert [r["chunk_id"] for r in out["chunk_results"]] == list(range(10))
    assert [r["sum"] for r in out["chunk_results"]] == [4 * i + 3 for i in range(10)]


@pytest.mark.spec("ORD-3", "IMP-4")
@pytest.mark.parametrize("workers", [1, 2, 3, 5, 10])
def test_fan_out_speed_up_is_bounded_by_the_workers(workers: int) -> None:
    result = wfsim.run(with_workers(workers), input=p.PARALLEL_INPUT, seed=workers)
    assert result.status == "completed", result.message
    assert result.makespan == math.ceil(10 / workers)  # 10 s on one worker, 1 s on ten
    assert result.trace.max_concurrency() == workers
    assert result.result["total_sum"] == 210


# -- Pattern 3: Simple Conditional Branching ---------------------------------------------------


@pytest.mark.spec("IMP-1", "IMP-5")
def test_a_valid_order_is_processed_charged_and_shipped() -> None:
    result = wfsim.run(p.order_processing, input=p.VALID_ORDER)
    assert result.status == "completed", result.message
    assert result.result == {
        "status": "processed",
        "order_id": "o-1",
        "charged": 59.5,
        "tracking": "TRK-o-1",
    }
    assert result.trace.completion_order() == [
        "validate_order",
        "process_valid_order",
        "charge_payment",
        "ship_order",
    ]
    assert "handle_invalid_order" not in result.steps
    assert starts(result, "charge_payment") == [0.7]
    assert result.makespan == 3.7


@pytest.mark.spec("IMP-1", "IMP-5")
def test_an_invalid_order_is_rejected_and_never_charged() -> None:
    result = wfsim.run(p.order_processing, input=p.INVALID_ORDER)
    assert result.status == "completed", result.message
    assert result.result == {
        "status": "rejected",
        "order_id": "o-2",
        "reason": "Missing customer_id; No items in order; Invalid total",
    }
    # The valid branch's steps were never called, so they do not exist in the run.
    assert list(result.steps) == ["validate_order", "handle_invalid_order"]
    assert not [e for e in result.trace if e.step in ("charge_payment", "ship_order")]
    assert result.makespan == 0.3


@pytest.mark.spec("IMP-5")
@pytest.mark.parametrize(
    ("order", "reason"),
    [
        ({"id": "o-1", "customer_id": "c", "items": [1], "total": 1}, None),
        ({"id": "o-2", "customer_id": None, "items": [1], "total": 1}, "Missing customer_id"),
        ({"id": "o-3", "customer_id": "c", "items": [], "total": 1}, "No items in order"),
        ({"id": "o-4", "customer_id": "c", "items": [1], "total": -5}, "Invalid total"),
    ],
)
def test_each_validation_error_alone_rejects(order: dict[str, Any], reason: str | None) -> None:
    result = wfsim.run(p.order_processing, input=order)
    assert result.status == "completed", result.message
    if reason is None:
        assert result.result["status"] == "processed"
        assert "charge_payment" in result.steps
    else:
        assert result.result == {"status": "rejected", "order_id": order["id"], "reason": reason}
        assert "charge_payment" not in result.steps


# -- Pattern 4: Multi-Way Branching ------------------------------------------------------------


@pytest.mark.spec("IMP-5")
@pytest.mark.parametrize(
    ("kind", "route", "handler", "seconds"),
    [
        ("digital", "digital", "deliver_download", 0.5),
        ("physical", "physical", "ship_package", 3.0),
        ("subscription", "subscription", "activate_subscription", 1.0),
        ("gift-card", "unknown", "manual_review", 2.0),
        (None, "unknown", "manual_review", 2.0),
    ],
)
def test_multi_way_branching_takes_exactly_one_branch(
    kind: str | None, route: str, handler: str, seconds: float
) -> None:
    result = wfsim.run(p.multi_way_routing, input={"id": "o-9", "type": kind})
    assert result.status == "completed", result.message
    assert list(result.steps) == ["classify_order", handler]
    assert result.result["route"] == route
    assert result.result["handler"] == handler
    assert result.makespan == pytest.approx(0.1 + seconds)


# -- Pattern 5: Map ----------------------------------------------------------------------------


@pytest.mark.spec("IMP-3", "IMP-4", "IMP-5")
@pytest.mark.parametrize("count", [0, 1, 5, 12])
def test_map_makes_one_step_per_item(count: int) -> None:
    items = list(range(count))
    result = wfsim.run(p.map_items, input={"items": items})
    assert result.status == "completed", result.message
    names = ["process_item"] + [f"process_item:{i}" for i in range(2, count + 1)]
    assert set(result.steps) == {"list_items", *names[:count]}
    assert result.result == {"count": count, "results": [i * i for i in items]}
    for name in names[:count]:
        assert starts(result, name) == [0.2]  # all at once, right after the listing
    assert result.makespan == pytest.approx(1.2 if count else 0.2)


@pytest.mark.spec("IMP-3")
@pytest.mark.parametrize("seed", range(5))
def test_map_step_names_follow_the_items_whatever_the_seed(seed: int) -> None:
    result = wfsim.run(p.map_items, input=p.MAP_INPUT, seed=seed)
    outputs = {e.step: e["output"] for e in result.trace.of_kind("attempt_succeeded")}
    assert outputs == {
        "list_items": [3, 1, 4, 1, 5],
        "process_item": 9,
        "process_item:2": 1,
        "process_item:3": 16,
        "process_item:4": 1,
        "process_item:5": 25,
    }


@pytest.mark.spec("IMP-2", "IMP-3")
def test_map_retries_only_the_item_that_failed() -> None:
    faults = [wfsim.Fault.error("process_item:3", attempts=[1], error=ConnectionError)]
    result = wfsim.run(p.map_items, input=p.MAP_INPUT, faults=faults)
    assert result.status == "completed", result.message
    assert result.result == {"count": 5, "results": [9, 1, 16, 1, 25]}
    attempts = {name: step.attempts for name, step in result.steps.items()}
    assert attempts == {
        "list_items": 1,
        "process_item": 1,
        "process_item:2": 1,
        "process_item:3": 2,
        "process_item:4": 1,
        "process_item:5": 1,
    }
    assert result.trace.retry_delays("process_item:3") == [1.0]
    assert result.makespan == pytest.approx(2.2)


# -- Pattern 6: Filter-Map-Reduce --------------------------------------------------------------


@pytest.mark.spec("IMP-4", "IMP-5")
def test_filter_map_reduce_maps_only_the_kept_items() -> None:
    result = wfsim.run(p.filter_map_reduce, input=p.FILTER_INPUT)
    assert result.status == "completed", result.message
    assert result.result == {
        "kept": ["a", "c", "e"],
        "dropped": ["b", "d"],
        "amounts": [20, 25, 20],
        "revenue": 65,
    }
    mapped = sorted(n for n in result.steps if n.startswith("price_order"))
    assert mapped == ["price_order", "price_order:2", "price_order:3"]  # three kept, three maps
    for name in mapped:
        assert result.trace.happened_before("filter_orders", name)
        assert result.trace.happened_before(name, "sum_revenue")
    assert result.makespan == pytest.approx(1.2)


@pytest.mark.spec("IMP-5")
def test_filter_map_reduce_with_nothing_kept_maps_nothing() -> None:
    orders = [{"id": "x", "status": "cancelled", "qty": 1, "unit_price": 1}]
    result = wfsim.run(p.filter_map_reduce, input={"orders": orders})
    assert result.status == "completed", result.message
    assert list(result.steps) == ["filter_orders", "sum_revenue"]
    assert result.result == {"kept": [], "dropped": ["x"], "amounts": [], "revenue": 0}
    assert result.makespan == pytest.approx(0.2)


# -- Pattern 8: Circuit Breaker ----------------------------------------------------------------


@pytest.mark.spec("BRK-2", "BRK-5", "FAULT-9")
def test_an_outage_opens_the_breaker_and_the_cache_answers() -> None:
    result = wfsim.run(p.resilient_api, input=p.RESILIENT_INPUT, faults=p.outage("2s", "6s"))
    assert result.status == "completed", result.message
    sources = [q["source"] for q in result.result]
    assert sources == ["live"] * 2 + ["error"] * 3 + ["cache"] * 4 + ["live"] * 2
    assert [q.get("price") for q in result.result if q["source"] == "cache"] == [101] * 4
    transitions = [(e.t, e["previous"], e["state"]) for e in result.trace.of_kind("breaker_state")]
    assert transitions == [
        (4.0, "closed", "open"),  # the 3rd consecutive failure (ticks 2, 3, 4)
        (9.0, "open", "half_open"),  # the first call 5 s after opening
        (pytest.approx(9.2), "half_open", "closed"),  # the trial succeeds
    ]
    used = [(e.step, e.t) for e in result.trace.of_kind("fallback_used")]
    assert used == [
        ("fetch_quote:6", 5.0),
        ("fetch_quote:7", 6.0),
        ("fetch_quote:8", 7.0),
        ("fetch_quote:9", 8.0),
    ]
    # While open the API is not called: nothing live between the opening and the trial.
    live = [
        e.t for e in result.trace.of_kind("attempt_succeeded") if e["output"]["source"] == "live"
    ]
    assert not [t for t in live if 4.0 <= t < 9.0]
    assert [result.steps[f"fetch_quote:{i}"].status for i in (3, 4, 5)] == ["failed"] * 3
    assert result.makespan == pytest.approx(10.2)


@pytest.mark.spec("BRK-2")
def test_without_an_outage_the_breaker_stays_closed() -> None:
    result = wfsim.run(p.resilient_api, input=p.RESILIENT_INPUT)
    assert [q["price"] for q in result.result] == [100 + i for i in range(11)]
    assert {q["source"] for q in result.result} == {"live"}
    assert not result.trace.of_kind("breaker_state", "fallback_used")


@pytest.mark.spec("BRK-2", "BRK-5")
def test_a_short_outage_does_not_open_the_breaker() -> None:
    result = wfsim.run(p.resilient_api, input=p.RESILIENT_INPUT, faults=p.outage("2s", "4s"))
    sources = [q["source"] for q in result.result]
    assert sources == ["live"] * 2 + ["error"] * 2 + ["live"] * 7  # two failures < threshold 3
    assert not result.trace.of_kind("breaker_state", "fallback_used")


# -- Pattern 9: Workflow Composition -----------------------------------------------------------


@pytest.mark.spec("IMP-9")
def test_the_parent_runs_two_children_then_its_own_step() -> None:
    result = wfsim.run(p.composed_workflow, input=p.COMPOSED_INPUT)
    assert result.status == "completed", result.message
    assert result.result == {
        "payment": {"auth": "auth-o-1", "captured": 59.5},
        "fulfillment": {"picked": 1, "tracking": "TRK-o-1"},
        "confirmation": "confirmation sent to c-7",
    }
    assert result.trace.completion_order() == [
        "payment_workflow/authorize_payment",
        "payment_workflow/capture_payment",
        "fulfillment_workflow/pick_items",
        "fulfillment_workflow/ship_order",
        "send_confirmation",
    ]
    framing = [(e.kind, e.step, e.t) for e in result.trace if e.kind.startswith("child_")]
    assert framing == [
        ("child_started", "payment_workflow", 0.0),
        ("child_completed", "payment_workflow", 2.0),
        ("child_started", "fulfillment_workflow", 2.0),
        ("child_completed", "fulfillment_workflow", 6.0),
    ]
    assert result.makespan == pytest.approx(6.1)


@pytest.mark.spec("IMP-9")
def test_a_child_that_fails_for_good_fails_the_parent_before_the_next_child() -> None:
    faults = [wfsim.Fault.error("payment_workflow/capture_payment", error=ConnectionError)]
    result = wfsim.run(p.composed_workflow, input=p.COMPOSED_INPUT, faults=faults)
    assert result.status == "failed"
    assert result.message == (
        "workflow 'composed_workflow' raised ConnectionError: injected ConnectionError"
    )
    assert result.steps["payment_workflow/capture_payment"].attempts == 3  # the child's retries
    failed = result.trace.of_kind("child_failed")
    assert [(e.step, e.t, e["error"]) for e in failed] == [
        ("payment_workflow", 4.0, "ConnectionError")
    ]
    assert list(result.steps) == [
        "payment_workflow/authorize_payment",
        "payment_workflow/capture_payment",
    ]  # fulfilment and confirmation never ran


# -- Pattern 10: Caching -----------------------------------------------------------------------


@pytest.mark.spec("CACHE-1")
def test_repeated_skus_hit_the_cache() -> None:
    result = wfsim.run(p.cached_lookup, input=p.CACHED_INPUT)
    assert result.status == "completed", result.message
    assert result.result == {"prices": [30, 45, 30, 12, 45], "total": 162}
    hits = [(e.step, e.t, e["key"]) for e in result.trace.of_kind("cache_hit")]
    assert hits == [("lookup_price:3", 4.0, "'A-1'"), ("lookup_price:5", 6.0, "'B-22'")]
    looked_up = [e.step for e in result.trace.of_kind("attempt_started")]
    assert looked_up == ["lookup_price", "lookup_price:2", "lookup_price:4"]  # 3 distinct SKUs
    assert result.makespan == 6.0  # 3 x 2 s; without the cache, 5 x 2 s


@pytest.mark.spec("CACHE-1")
def test_distinct_skus_never_hit_the_cache() -> None:
    result = wfsim.run(p.cached_lookup, input={"skus": ["A-1", "B-22", "C-3"]})
    assert result.result == {"prices": [30, 45, 12], "total": 87}
    assert not result.trace.of_kind("cache_hit")
    assert result.makespan == 6.0


# -- Determinism and the script ----------------------------------------------------------------

RUNS: dict[str, tuple[wfsim.ImperativeWorkflow, dict[str, Any], list[wfsim.Fault]]] = {
    "parallel_processing": (p.parallel_processing, p.PARALLEL_INPUT, []),
    "order_valid": (p.order_processing, p.VALID_ORDER, []),
    "order_invalid": (p.order_processing, p.INVALID_ORDER, []),
    "multi_way_routing": (p.multi_way_routing, p.ROUTING_INPUT, []),
    "map_items": (p.map_items, p.MAP_INPUT, [wfsim.Fault.error("process_item:3", attempts=[1])]),
    "filter_map_reduce": (p.filter_map_reduce, p.FILTER_INPUT, []),
    "resilient_api": (p.resilient_api, p.RESILIENT_INPUT, p.outage()),
    "composed_workflow": (p.composed_workflow, p.COMPOSED_INPUT, []),
    "cached_lookup": (p.cached_lookup, p.CACHED_INPUT, []),
}


@pytest.mark.spec("DET-1")
@pytest.mark.parametrize("name", sorted(RUNS))
def test_same_seed_same_digest_and_result(name: str) -> None:
    wf, inp, faults = RUNS[name]
    first = wfsim.run(wf, input=inp, faults=faults, seed=11)
    again = wfsim.run(wf, input=inp, faults=faults, seed=11)
    assert first.status == "completed", first.message
    assert first.digest() == again.digest()
    assert first.trace == again.trace
    assert first.result == again.result
    # The patterns' outcomes do not depend on the seed, only the order of simultaneous events.
    other = wfsim.run(wf, input=inp, faults=faults, seed=12)
    assert (other.status, other.result, other.makespan) == (
        first.status,
        first.result,
        first.makespan,
    )


@pytest.mark.spec("IMP-1")
def test_main_runs_as_a_script(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(ROOT / "examples" / "pyworkflow_patterns.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.count("status: completed") == 9
    assert "(one worker: 10s)" in out
    assert "4s: closed -> open" in out
    assert "'total': 162" in out
