"""PyWorkflow's "Advanced Workflow Patterns" (specs/sources.md 6) as wfsim imperative workflows.

The blog writes each pattern as a ``@workflow()`` that awaits ``@step()``
functions. Here each is an ``@wfsim.workflow`` body that awaits ``ctx.step``;
the step functions take their ``StepContext`` first and spend small amounts of
*virtual* time (``await ctx.sleep(...)``), so every run is instant and
deterministic, and the scenarios in ``scenarios/pyworkflow_*.wfsim.yaml`` can
state exact times.

* ``parallel_processing``: Pattern 1, Fan-Out / Fan-In: 10 chunks x 1 s take 1 s, not 10 s
* ``order_processing``: Pattern 3, Simple Conditional Branching: valid or invalid order
* ``multi_way_routing``: Pattern 4, Multi-Way Branching: one handler per order type
* ``map_items``: Pattern 5, Map: one step per item, as many as the input has
* ``filter_map_reduce``: Pattern 6, Filter-Map-Reduce: keep, price each kept order, sum
* ``resilient_api``: Pattern 8, Circuit Breaker: an outage opens it, the cache answers
* ``composed_workflow``: Pattern 9, Workflow Composition: a parent and two children
* ``cached_lookup``: Pattern 10, Caching: a repeated input does not run again

(Pattern 7, retry with exponential backoff, is ``examples/pyworkflow_retry.py``.)

Run: ``python examples/pyworkflow_patterns.py``
"""

from __future__ import annotations

from typing import Any

import wfsim

__all__ = [
    "CACHED_INPUT",
    "CATALOG",
    "COMPOSED_INPUT",
    "FILTER_INPUT",
    "INVALID_ORDER",
    "MAP_INPUT",
    "PARALLEL_INPUT",
    "QUOTES_BREAKER",
    "RESILIENT_INPUT",
    "ROUTING_INPUT",
    "VALID_ORDER",
    "cached_lookup",
    "composed_workflow",
    "filter_map_reduce",
    "fulfillment_workflow",
    "main",
    "map_items",
    "multi_way_routing",
    "order_processing",
    "outage",
    "parallel_processing",
    "payment_workflow",
    "resilient_api",
]


# -- Pattern 1: Fan-Out / Fan-In ----------------------------------------------------------------


async def process_chunk(ctx: wfsim.StepContext, chunk_id: int, data: list[int]) -> dict[str, Any]:
    """One chunk: the blog's statistics, after a second of (virtual) work."""
    await ctx.sleep("1s")
    return {
        "chunk_id": chunk_id,
        "count": len(data),
        "sum": sum(data),
        "avg": sum(data) / len(data) if data else 0,
    }


async def aggregate_results(
    ctx: wfsim.StepContext, results: list[dict[str, Any]]
) -> dict[str, Any]:
    """Fan-in: combine the chunks' results (instant)."""
    total_count = sum(r["count"] for r in results)
    total_sum = sum(r["sum"] for r in results)
    return {
        "chunks_processed": len(results),
        "total_items": total_count,
        "total_sum": total_sum,
        "overall_average": total_sum / total_count if total_count > 0 else 0,
        "chunk_results": results,
    }


@wfsim.workflow
async def parallel_processing(ctx: wfsim.WorkflowContext, inp: dict[str, Any]) -> dict[str, Any]:
    """``parallel_data_processing(data, chunk_size=100)``: split, process chunks at once, sum.

    The blog awaits the chunks in a loop and lets PyWorkflow run them in
    parallel; here ``ctx.gather`` says so. Each chunk is named
    ``process_chunk_<id>`` so faults and expectations can pick one.
    With W workers (``max_concurrency``) the 10 one-second chunks take
    ``ceil(10 / W)`` seconds.
    """
    data = list(inp["data"])
    chunk_size = int(inp.get("chunk_size", 100))
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    chunk_results = await ctx.gather(
        *(
            ctx.step(process_chunk, chunk_id, chunk, name=f"process_chunk_{chunk_id}")
            for chunk_id, chunk in enumerate(chunks)
        )
    )
    aggregate: dict[str, Any] = await ctx.step(aggregate_results, chunk_results)
    return aggregate


#: 10 chunks of 2 numbers: 1..20, sum 210.
PARALLEL_INPUT: dict[str, Any] = {"data": list(range(1, 21)), "chunk_size": 2}


# -- Pattern 3: Simple Conditional Branching ----------------------------------------------------


async def validate_order(ctx: wfsim.StepContext, order: dict[str, Any]) -> dict[str, Any]:
    """The blog's three checks, verbatim."""
    await ctx.sleep("200ms")
    errors = []
    if not order.get("customer_id"):
        errors.append("Missing customer_id")
    if not order.get("items"):
        errors.append("No items in order")
    if order.get("total", 0) <= 0:
        errors.append("Invalid total")
    return {"valid": len(errors) == 0, "errors": errors}


async def process_valid_order(ctx: wfsim.StepContext, order: dict[str, Any]) -> dict[str, Any]:
    """Reserve inventory for a valid order."""
    await ctx.sleep("500ms")
    return {"status": "processed", "order_id": order["id"]}


async def charge_payment(ctx: wfsim.StepContext, order: dict[str, Any]) -> float:
    await ctx.sleep("1s")
    return float(order["total"])


async def ship_order(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("2s")
    return f"TRK-{order['id']}"


async def handle_invalid_order(
    ctx: wfsim.StepContext, order: dict[str, Any], errors: list[str]
) -> dict[str, Any]:
    """Reject (log, notify the customer): nothing is charged."""
    await ctx.sleep("100ms")
    return {"status": "rejected", "order_id": order["id"], "reason": "; ".join(errors)}


@wfsim.workflow
async def order_processing(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    """``order_workflow_with_branching``: validate, then process/charge/ship or reject.

    Valid: 200ms + 500ms + 1s + 2s = 3.7 s. Invalid: 200ms + 100ms = 300 ms,
    and ``charge_payment`` is never called.
    """
    validation = await ctx.step(validate_order, order)
    if not validation["valid"]:
        rejected: dict[str, Any] = await ctx.step(handle_invalid_order, order, validation["errors"])
        return rejected
    result = await ctx.step(process_valid_order, order)
    charged = await ctx.step(charge_payment, order)
    tracking = await ctx.step(ship_order, order)
    return {**result, "charged": charged, "tracking": tracking}


VALID_ORDER: dict[str, Any] = {
    "id": "o-1",
    "customer_id": "c-7",
    "items": [{"sku": "A-1", "qty": 2}],
    "total": 59.5,
}
INVALID_ORDER: dict[str, Any] = {"id": "o-2", "customer_id": "", "items": [], "total": 0}


# -- Pattern 4: Multi-Way Branching -------------------------------------------------------------


async def classify_order(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    """Classify by the order's ``type`` field; anything unknown goes to a person."""
    await ctx.sleep("100ms")
    kind = order.get("type")
    return kind if kind in ("digital", "physical", "subscription") else "unknown"


async def deliver_download(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("500ms")
    return f"download link sent for {order['id']}"


async def ship_package(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("3s")
    return f"package shipped for {order['id']}"


async def activate_subscription(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("1s")
    return f"subscription active for {order['id']}"


async def manual_review(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("2s")
    return f"queued {order['id']} for review"


#: One handler per class: exactly one of them runs.
ROUTES = {
    "digital": deliver_download,
    "physical": ship_package,
    "subscription": activate_subscription,
    "unknown": manual_review,
}


@wfsim.workflow
async def multi_way_routing(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    """Classify the order, then take one of four branches."""
    route = await ctx.step(classify_order, order)
    handler = ROUTES[route]
    outcome = await ctx.step(handler, order)
    return {
        "order_id": order["id"],
        "route": route,
        "handler": handler.__name__,
        "outcome": outcome,
    }


ROUTING_INPUT: dict[str, Any] = {"id": "o-9", "type": "subscription"}


# -- Pattern 5: Map -----------------------------------------------------------------------------


async def list_items(ctx: wfsim.StepContext, batch: dict[str, Any]) -> list[int]:
    """What to process is only known at run time (a query, a directory listing)."""
    await ctx.sleep("200ms")
    return list(batch["items"])


async def process_item(ctx: wfsim.StepContext, item: int) -> int:
    await ctx.sleep("1s")
    return item * item


#: A failed item is retried on its own, 1 s later; the other items are not redone.
ITEM_RETRY = wfsim.RetryPolicy(max_attempts=3, initial_interval="1s", backoff_coefficient=2)


@wfsim.workflow
async def map_items(ctx: wfsim.WorkflowContext, batch: dict[str, Any]) -> dict[str, Any]:
    """One ``process_item`` step per item, all at once: ``process_item``, ``process_item:2``, ..."""
    items = await ctx.step(list_items, batch)
    results = await ctx.gather(*(ctx.step(process_item, item, retry=ITEM_RETRY) for item in items))
    return {"count": len(results), "results": results}


MAP_INPUT: dict[str, Any] = {"items": [3, 1, 4, 1, 5]}


# -- Pattern 6: Filter-Map-Reduce ---------------------------------------------------------------


async def filter_orders(
    ctx: wfsim.StepContext, orders: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Keep the paid orders."""
    await ctx.sleep("100ms")
    return [order for order in orders if order["status"] == "paid"]


async def price_order(ctx: wfsim.StepContext, order: dict[str, Any]) -> int:
    await ctx.sleep("1s")
    return int(order["qty"]) * int(order["unit_price"])


async def sum_revenue(ctx: wfsim.StepContext, amounts: list[int]) -> int:
    await ctx.sleep("100ms")
    return sum(amounts)


@wfsim.workflow
async def filter_map_reduce(ctx: wfsim.WorkflowContext, inp: dict[str, Any]) -> dict[str, Any]:
    """Filter (one step), map over what was kept (one step per kept order), reduce (one step)."""
    orders = inp["orders"]
    kept = await ctx.step(filter_orders, orders)
    amounts = await ctx.gather(*(ctx.step(price_order, order) for order in kept))
    revenue = await ctx.step(sum_revenue, amounts)
    kept_ids = [order["id"] for order in kept]
    return {
        "kept": kept_ids,
        "dropped": [order["id"] for order in orders if order["id"] not in kept_ids],
        "amounts": amounts,
        "revenue": revenue,
    }


FILTER_INPUT: dict[str, Any] = {
    "orders": [
        {"id": "a", "status": "paid", "qty": 2, "unit_price": 10},
        {"id": "b", "status": "cancelled", "qty": 5, "unit_price": 99},
        {"id": "c", "status": "paid", "qty": 1, "unit_price": 25},
        {"id": "d", "status": "pending", "qty": 3, "unit_price": 7},
        {"id": "e", "status": "paid", "qty": 4, "unit_price": 5},
    ]
}


# -- Pattern 8: Circuit Breaker -----------------------------------------------------------------


#: Three failures in a row open it; after 5 s the next call is a trial; one success closes it.
QUOTES_BREAKER = wfsim.CircuitBreaker.consecutive(
    "quotes_api", failure_threshold=3, recovery_timeout="5s", success_threshold=1
)


async def fetch_quote(ctx: wfsim.StepContext, symbol: str, tick: int) -> dict[str, Any]:
    """The live API: 200 ms; the price moves one unit per tick. Remembers the last answer."""
    await ctx.sleep("200ms")
    quote = {"tick": tick, "source": "live", "price": 100 + tick}
    ctx.set(f"last_quote:{symbol}", quote["price"])
    return quote


async def cached_quote(ctx: wfsim.StepContext, symbol: str, tick: int) -> dict[str, Any]:
    """The fallback: the last live price, from the cache, at once; the API is not called."""
    return {"tick": tick, "source": "cache", "price": ctx.get(f"last_quote:{symbol}", None)}


@wfsim.workflow
async def resilient_api(ctx: wfsim.WorkflowContext, inp: dict[str, Any]) -> list[dict[str, Any]]:
    """Poll a quote once a second through ``QUOTES_BREAKER``, with ``cached_quote`` as fallback.

    While the breaker is closed a failed call raises into the body, which
    records it (the caller sees the outage); the call that opens it raises
    ``CircuitOpenError`` instead, as pybreaker's does (``throw_new_error_on_trip``);
    once open, calls are refused and answered by the fallback without touching
    the service.
    """
    symbol = inp.get("symbol", "ACME")
    quotes: list[dict[str, Any]] = []
    for tick in range(int(inp["ticks"])):
        await ctx.sleep(max(0.0, tick - ctx.now()))  # every whole second
        try:
            quote = await ctx.step(
                fetch_quote, symbol, tick, breaker=QUOTES_BREAKER, fallback=cached_quote
            )
        except wfsim.InjectedError as exc:
            quote = {"tick": tick, "source": "error", "error": exc.error_name}
        except wfsim.CircuitOpenError:
            quote = {"tick": tick, "source": "error", "error": "CircuitOpenError"}
        quotes.append(quote)
    return quotes


RESILIENT_INPUT: dict[str, Any] = {"symbol": "ACME", "ticks": 11}


def outage(start: float | str = "2s", end: float | str = "6s") -> list[wfsim.Fault]:
    """The quotes API is down from ``start`` to ``end`` (every call in the window fails)."""
    return [wfsim.Fault.outage("fetch_quote*", start=start, end=end)]


# -- Pattern 9: Workflow Composition ------------------------------------------------------------


async def authorize_payment(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("1s")
    return f"auth-{order['id']}"


async def capture_payment(ctx: wfsim.StepContext, order: dict[str, Any], auth: str) -> float:
    await ctx.sleep("1s")
    return float(order["total"])


async def pick_items(ctx: wfsim.StepContext, order: dict[str, Any]) -> int:
    await ctx.sleep("2s")
    return len(order["items"])


async def send_confirmation(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("100ms")
    return f"confirmation sent to {order['customer_id']}"


PAYMENT_RETRY = wfsim.RetryPolicy(max_attempts=3, initial_interval="1s", backoff_coefficient=2)


@wfsim.workflow
async def payment_workflow(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    """A reusable sub-process: authorize, then capture (retried)."""
    auth = await ctx.step(authorize_payment, order)
    captured = await ctx.step(capture_payment, order, auth, retry=PAYMENT_RETRY)
    return {"auth": auth, "captured": captured}


@wfsim.workflow
async def fulfillment_workflow(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    """Another: pick the items, then ship them."""
    picked = await ctx.step(pick_items, order)
    tracking = await ctx.step(ship_order, order)
    return {"picked": picked, "tracking": tracking}


@wfsim.workflow
async def composed_workflow(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    """The parent: pay (child), then fulfil (child), then confirm (its own step)."""
    payment = await ctx.child(payment_workflow, order)
    fulfillment = await ctx.child(fulfillment_workflow, order)
    confirmation = await ctx.step(send_confirmation, order)
    return {"payment": payment, "fulfillment": fulfillment, "confirmation": confirmation}


COMPOSED_INPUT: dict[str, Any] = VALID_ORDER


# -- Pattern 10: Caching ------------------------------------------------------------------------


#: What the slow pricing service answers.
CATALOG = {"A-1": 30, "B-22": 45, "C-3": 12}


async def lookup_price(ctx: wfsim.StepContext, sku: str) -> int:
    """Expensive: 2 s per call (a slow pricing service)."""
    await ctx.sleep("2s")
    return CATALOG[sku]


def sku_key(sku: str) -> str:
    return sku


@wfsim.workflow
async def cached_lookup(ctx: wfsim.WorkflowContext, inp: dict[str, Any]) -> dict[str, Any]:
    """Price each SKU in turn; a SKU seen before is answered from the cache (no time)."""
    prices = [await ctx.step(lookup_price, sku, cache_key=sku_key) for sku in inp["skus"]]
    return {"prices": prices, "total": sum(prices)}


#: Five lookups, three distinct SKUs: 6 s instead of 10 s.
CACHED_INPUT: dict[str, Any] = {"skus": ["A-1", "B-22", "A-1", "C-3", "B-22"]}


# -- main ---------------------------------------------------------------------------------------


def _show(title: str, result: wfsim.RunResult) -> None:
    print(f"== {title}")
    print(f"status: {result.status}  makespan: {result.makespan:g}s")
    if result.message:
        print(f"message: {result.message}")
    print(f"result: {result.result}")


def main() -> None:
    _show("fan-out/fan-in, unbounded workers", wfsim.run(parallel_processing, input=PARALLEL_INPUT))
    one = wfsim.ImperativeWorkflow(
        parallel_processing.fn, name="parallel_processing", max_concurrency=1
    )
    print(f"   (one worker: {wfsim.run(one, input=PARALLEL_INPUT).makespan:g}s)")
    _show("conditional branching, valid order", wfsim.run(order_processing, input=VALID_ORDER))
    _show("conditional branching, invalid order", wfsim.run(order_processing, input=INVALID_ORDER))
    _show("multi-way branching", wfsim.run(multi_way_routing, input=ROUTING_INPUT))
    _show("map", wfsim.run(map_items, input=MAP_INPUT))
    _show("filter-map-reduce", wfsim.run(filter_map_reduce, input=FILTER_INPUT))
    breaker = wfsim.run(resilient_api, input=RESILIENT_INPUT, faults=outage())
    _show("circuit breaker, API down from 2 s to 6 s", breaker)
    for event in breaker.trace.of_kind("breaker_state"):
        print(f"   {event.t:g}s: {event['previous']} -> {event['state']}")
    _show("composition", wfsim.run(composed_workflow, input=COMPOSED_INPUT))
    _show("caching", wfsim.run(cached_lookup, input=CACHED_INPUT))


if __name__ == "__main__":
    main()
