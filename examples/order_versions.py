"""Shipping a changed workflow body while runs are in flight (Temporal's versioning story).

An order workflow waits a day for the warehouse between charging and shipping, so on
any deploy some orders are mid-way. Version 2 adds a fraud check before the charge.
A worker running v2 code would replay an in-flight v1 run's history, meet a
``check_fraud`` call where the history has ``charge``, and fail:

* ``order_v1``: the code the in-flight runs started with;
  ``examples/histories/order_v1_in_flight.jsonl`` is the recorded history of one,
  stopped during its day of waiting (see :func:`record`);
* ``order_v2_breaking``: the fraud check added as is: replaying the v1 history fails
  with a :class:`wfsim.NondeterminismError` naming the position, ``charge`` and
  ``check_fraud``;
* ``order_v2``: the fraud check behind ``ctx.patched("fraud-check")``: False while
  replaying a history recorded before the patch (the old path), True for new runs;
* ``order_v2_new_argument``: the same calls, but ``charge`` now gets the amount in
  cents: the history recorded ``charge``'s arguments (TRACE-5), so replaying it
  fails naming the call, the recorded arguments and the new ones.

CI proves the deploy is safe in one line (and ``wfsim replay-history`` does it from a
shell)::

    wfsim.replay_history(order_v2, "examples/histories/order_v1_in_flight.jsonl",
                         input={"id": 7, "amount": 30})

Run: ``python examples/order_versions.py``
"""

from __future__ import annotations

import pathlib
from typing import Any

import wfsim

HISTORY = pathlib.Path(__file__).parent / "histories" / "order_v1_in_flight.jsonl"
ORDER = {"id": 7, "amount": 30}


async def reserve(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("1s")
    return f"hold-{order['id']}"


async def check_fraud(ctx: wfsim.StepContext, order: dict[str, Any]) -> bool:
    await ctx.sleep("2s")
    return bool(order["amount"] < 10_000)


async def charge(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("2s")
    return f"receipt-{order['id']}"


async def ship(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("3s")
    return f"parcel-{order['id']}"


@wfsim.workflow(name="order")
async def order_v1(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> str:
    await ctx.step(reserve, order)
    await ctx.step(charge, order)
    await ctx.sleep("1d")  # the warehouse picks once a day
    return str(await ctx.step(ship, order))


@wfsim.workflow(name="order")
async def order_v2_breaking(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> str:
    await ctx.step(reserve, order)
    if not await ctx.step(check_fraud, order):  # new in v2: breaks in-flight v1 runs
        return "rejected"
    await ctx.step(charge, order)
    await ctx.sleep("1d")
    return str(await ctx.step(ship, order))


@wfsim.workflow(name="order")
async def order_v2(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> str:
    await ctx.step(reserve, order)
    if ctx.patched("fraud-check") and not await ctx.step(check_fraud, order):
        return "rejected"
    await ctx.step(charge, order)
    await ctx.sleep("1d")
    return str(await ctx.step(ship, order))


async def charge_cents(ctx: wfsim.StepContext, order: dict[str, Any], cents: int) -> str:
    await ctx.sleep("2s")
    return f"receipt-{order['id']}"


@wfsim.workflow(name="order")
async def order_v2_new_argument(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> str:
    await ctx.step(reserve, order)
    # new in v2: the amount in cents (breaks in-flight v1 runs: charge got only the order)
    await ctx.step(charge_cents, order, cents=order["amount"] * 100, name="charge")
    await ctx.sleep("1d")
    return str(await ctx.step(ship, order))


def record(path: pathlib.Path = HISTORY) -> None:
    """Write the in-flight v1 history: a run stopped (time limit 12h) during its wait."""
    result = wfsim.run(order_v1, input=ORDER, seed=0, time_limit="12h")
    path.write_text(result.trace.to_jsonl(), encoding="utf-8")


def main() -> None:
    for body in (order_v2_breaking, order_v2_new_argument, order_v2):
        try:
            wfsim.replay_history(body, HISTORY, input=ORDER)
        except wfsim.NondeterminismError as exc:
            print(f"{body.fn.__name__}: cannot continue v1 runs: {exc}")
        else:
            print(f"{body.fn.__name__}: continues v1 runs")


if __name__ == "__main__":
    main()
