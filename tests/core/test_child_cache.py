"""Child workflows (composition) and step caching."""

from __future__ import annotations

from typing import Any

import pytest

import wfsim
from wfsim import Fault
from wfsim.checks import assert_no_violations

calls: list[Any] = []


async def fetch_price(ctx: wfsim.StepContext, sku: str) -> int:
    calls.append(sku)
    await ctx.sleep(2)
    return len(sku) * 10


async def work(ctx: wfsim.StepContext, value: Any, seconds: float = 1) -> Any:
    await ctx.sleep(seconds)
    return value


@wfsim.workflow
async def payment(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> str:
    await ctx.step(work, "authorized", 1, name="authorize")
    await ctx.step(work, "captured", 2, name="capture")
    return f"paid {order['amount']}"


@wfsim.workflow
async def shipping(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> str:
    await ctx.step(work, "labelled", 3, name="label")
    return "shipped"


@wfsim.workflow
async def order_flow(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> list[str]:
    await ctx.step(work, "ok", 1, name="validate")
    return await ctx.gather(ctx.child(payment, order), ctx.child(shipping, order))


@pytest.mark.spec("IMP-9")
def test_children_run_in_the_same_run_with_nested_step_names() -> None:
    result = wfsim.run(order_flow, input={"amount": 30})
    assert result.status == "completed"
    assert result.result == ["paid 30", "shipped"]
    assert list(result.steps) == [
        "validate", "payment/authorize", "shipping/label", "payment/capture",
    ] or set(result.steps) == {"validate", "payment/authorize", "shipping/label",
                               "payment/capture"}
    framing = [(e.kind, e.step, e.t) for e in result.trace if e.kind.startswith("child_")]
    assert framing == [
        ("child_started", "payment", 1.0),
        ("child_started", "shipping", 1.0),
        ("child_completed", "payment", 4.0),
        ("child_completed", "shipping", 4.0),
    ] or sorted(framing) == sorted([
        ("child_started", "payment", 1.0), ("child_started", "shipping", 1.0),
        ("child_completed", "payment", 4.0), ("child_completed", "shipping", 4.0),
    ])
    assert result.makespan == 4


@pytest.mark.spec("IMP-9", "FAULT-5")
def test_a_failing_child_raises_into_the_parent_and_faults_target_nested_names() -> None:
    result = wfsim.run(order_flow, input={"amount": 30},
                       faults=[Fault.error("payment/capture", error="CardExpired")])
    assert result.status == "failed"
    assert result.message == "workflow 'order_flow' raised CardExpired: injected CardExpired"
    failed = result.trace.of_kind("child_failed")[0]
    assert (failed.step, failed["error"], failed.t) == ("payment", "CardExpired", 2.0)
    assert result.steps["shipping/label"].status == "completed"  # gather waits for all


@pytest.mark.spec("IMP-9")
def test_child_takes_a_workflow() -> None:
    @wfsim.workflow
    async def wrong(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        await ctx.child(lambda c, i: None)  # type: ignore[arg-type]

    result = wfsim.run(wrong)
    assert "ctx.child() takes a @wfsim.workflow, not function" in result.message


@pytest.mark.spec("CACHE-1")
def test_an_equal_cache_key_reuses_the_result_within_a_run() -> None:
    calls.clear()

    @wfsim.workflow
    async def quote(ctx: wfsim.WorkflowContext, skus: list[str]) -> list[int]:
        prices = []
        for sku in skus:
            prices.append(await ctx.step(fetch_price, sku, cache_key=lambda sku: sku))
        return prices

    result = wfsim.run(quote, input=["ab", "abc", "ab", "ab"])
    assert result.result == [20, 30, 20, 20]
    assert calls == ["ab", "abc"]
    hits = result.trace.of_kind("cache_hit")
    assert [(e.step, e.t, e["key"]) for e in hits] == [
        ("fetch_price:3", 4.0, "'ab'"), ("fetch_price:4", 4.0, "'ab'"),
    ]
    assert result.makespan == 4  # cache hits take no time
    assert result.trace.for_step("fetch_price:3")[-1].fields == {"cached": True}
    calls.clear()
    assert wfsim.run(quote, input=["ab"]).result == [20]
    assert calls == ["ab"]  # the cache lives for one run


@pytest.mark.spec("CACHE-1")
def test_failed_calls_are_not_cached() -> None:
    calls.clear()

    @wfsim.workflow
    async def twice(ctx: wfsim.WorkflowContext, inp: Any) -> int:
        try:
            await ctx.step(fetch_price, "x", cache_key=lambda sku: sku)
        except wfsim.InjectedError:
            pass
        return await ctx.step(fetch_price, "x", cache_key=lambda sku: sku)

    result = wfsim.run(twice, faults=[Fault.error("fetch_price", at="end")])
    assert result.result == 10
    assert calls == ["x", "x"]
    assert not result.trace.of_kind("cache_hit")


@pytest.mark.spec("CACHE-2")
def test_dag_steps_cache_on_a_function_of_the_context() -> None:
    wf = wfsim.Workflow("dag_cache")
    wf.add_step("load_user", duration=1, output={"user": "ana", "profile": "p-ana"},
                cache_key=lambda c: c.get("user"))
    result = wfsim.run(wf, input={"user": "ana"})
    assert result.status == "completed"  # a first call: no hit, result stored
    assert not result.trace.of_kind("cache_hit")
    second = wfsim.Workflow("dag_cache_twice")
    second.add_step("pick", duration=1, output={"user": "ana"})
    second.add_step("load_user", after=["pick"], duration=1,
                    output={"profile": "p-ana"}, cache_key=lambda c: c.get("user"))

    @wfsim.workflow
    async def bad(ctx: wfsim.WorkflowContext, inp: Any) -> None:
        await ctx.step(work, 1, cache_key="k")  # type: ignore[arg-type]

    failed = wfsim.run(bad)
    assert "ctx.step(cache_key=...) takes a function of the step's arguments, not str" in (
        failed.message
    )


@pytest.mark.spec("CACHE-1", "DET-1")
def test_caching_is_deterministic() -> None:
    @wfsim.workflow
    async def fan(ctx: wfsim.WorkflowContext, inp: Any) -> list[int]:
        return await ctx.gather(*(ctx.step(fetch_price, s, cache_key=lambda s: s)
                                  for s in ["a", "b", "a", "b", "a"]))

    a = wfsim.run(fan, seed=5)
    b = wfsim.run(fan, seed=5)
    assert a.digest() == b.digest()
    assert a.result == [10, 10, 10, 10, 10]


async def quote_one(ctx: wfsim.StepContext, sku: str) -> int:
    await ctx.sleep(1)
    return 10


@pytest.mark.spec("CACHE-1", "ORD-3")
@pytest.mark.parametrize("choices", [[], [0, 1], [1, 0, 1], None])
def test_a_call_the_cache_answers_after_it_was_picked_for_a_slot_hands_the_slot_on(
    choices: list[int] | None,
) -> None:
    # One slot, three calls. Under [1, 0, 1] the first "ab" call ends at 1 s and its slot
    # goes to the second "ab" call, which the cache now answers: it takes no slot, so
    # the slot must go on to "zz" (it was lost, and "zz" waited until the time limit).
    @wfsim.workflow(max_concurrency=1)
    async def quotes(ctx: wfsim.WorkflowContext, inp: Any) -> list[int]:
        async def later() -> int:
            await ctx.sleep(0.5)
            return int(await ctx.step(quote_one, "ab", cache_key=lambda sku: sku))

        first = ctx.step(quote_one, "ab", cache_key=lambda sku: sku)
        return await ctx.gather(first, later(), ctx.step(quote_one, "zz"))

    result = wfsim.run(quotes, choices=choices)
    assert (result.status, result.result, result.makespan) == ("completed", [10, 10, 10], 2.0)
    assert len(result.trace.of_kind("cache_hit")) == 1
    assert result.trace.max_concurrency() == 1
    assert_no_violations(quotes, [], result.trace)
    assert wfsim.run(quotes, choices=choices).digest() == result.digest()


async def echo_later(ctx: wfsim.StepContext, value: Any) -> Any:
    calls.append(value)
    await ctx.sleep(1)
    return "done"


@pytest.mark.spec("CACHE-1")
def test_mappings_lists_and_sets_are_cache_keys_compared_by_their_canonical_form() -> None:
    """Issue 13: a dict key ended in ExceptionGroup[TypeError: unhashable type: 'dict']."""
    calls.clear()

    @wfsim.workflow
    async def lookups(ctx: wfsim.WorkflowContext, keys: list[Any]) -> list[Any]:
        return [await ctx.step(echo_later, k, cache_key=lambda k: k) for k in keys]

    keys = [
        {"b": [1, {"c": 2}], "a": 1},
        {"a": 1, "b": [1, {"c": 2}]},  # the same mapping in another key order: a hit
        [1, 2],
        (1, 2),  # a tuple is not a list, as in Python: a miss
        {3, 4},
        frozenset({4, 3}),  # sets compare as sets: a hit
        [{}],
        [{}],
    ]
    result = wfsim.run(lookups, input=keys)
    assert result.status == "completed", result.message
    assert calls == [keys[0], [1, 2], (1, 2), {3, 4}, [{}]]
    hits = [e.step for e in result.trace.of_kind("cache_hit")]
    assert hits == ["echo_later:2", "echo_later:6", "echo_later:8"]
    assert hits and result.trace.of_kind("cache_hit")[0]["key"] == repr(keys[1])


class Unhashable:
    __hash__ = None  # type: ignore[assignment]


@pytest.mark.spec("CACHE-1")
def test_an_error_inside_the_engine_is_an_engine_error_naming_the_step_and_attempt() -> None:
    def broken_key(value: Any) -> Any:
        raise LookupError("the key service is down")

    @wfsim.workflow
    async def flow(ctx: wfsim.WorkflowContext, inp: Any) -> Any:
        await ctx.step(echo_later, 1, name="first")
        return await ctx.step(echo_later, 2, name="lookup", cache_key=broken_key)

    with pytest.raises(wfsim.EngineError) as info:
        wfsim.run(flow)
    assert str(info.value) == (
        "step 'lookup' (attempt 1): unexpected LookupError inside the engine: "
        "the key service is down"
    )
    assert (info.value.step, info.value.attempt) == ("lookup", 1)
    assert isinstance(info.value.__cause__, LookupError)

    @wfsim.workflow
    async def odd_key(ctx: wfsim.WorkflowContext, inp: Any) -> Any:
        return await ctx.step(echo_later, 1, cache_key=lambda _: [Unhashable()])

    with pytest.raises(wfsim.EngineError, match=r"^step 'echo_later' \(attempt 1\): unexpected "
                       r"TypeError inside the engine: a cache key is made of hashable values, "
                       r"mappings, lists and sets; Unhashable .* is none of them$"):
        wfsim.run(odd_key)
