"""Durable execution of a payment body: crash anywhere, replay from history.

A worker running this body can die at any point (Temporal, DBOS, PyWorkflow all
promise the same): a new one runs the body again from its start against the
history, completed calls return their recorded results without running again,
and a call whose effect happened but whose completion was never recorded runs
again (at-least-once). Whether that second run charges the card twice depends
on the step: with an idempotency key the payment provider ignores the repeat.

* ``checkout``: ``charge`` sends an idempotency key (the order id), so a repeat
  is harmless: the step is declared idempotent (the default).
* ``checkout_unkeyed``: ``charge`` sends none and says so (``idempotent=False``):
  a crash after its effect charges twice, and ``RunResult.repeated_effects``
  names it (the effect check, specs/faults.md FAULT-14).
* ``checkout_host_clock``: reads the host clock (``datetime.now()``) instead of
  ``ctx.wall_time()``: on replay it reads another time, passes another argument
  to ``invoice``, and the run fails with a :class:`wfsim.NondeterminismError`.

Run: ``python examples/durable_payment.py``
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import wfsim


async def reserve(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("1s")
    return f"hold-{order['id']}"


async def charge(ctx: wfsim.StepContext, order: dict[str, Any], key: str | None = None) -> str:
    await ctx.sleep("2s")  # the provider charges the card; with `key` it charges once
    return f"receipt-{order['id']}"


async def refund(ctx: wfsim.StepContext, order: dict[str, Any], key: str | None = None) -> None:
    await ctx.sleep("1s")  # called with charge's own arguments (COMP-8)


async def ship(ctx: wfsim.StepContext, order: dict[str, Any]) -> str:
    await ctx.sleep("3s")
    return f"parcel-{order['id']}"


async def invoice(ctx: wfsim.StepContext, order: dict[str, Any], due: str) -> str:
    await ctx.sleep("500ms")
    return f"invoice-{order['id']} due {due}"


@wfsim.workflow
async def checkout(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    hold = await ctx.step(reserve, order)
    receipt = await ctx.step(charge, order, key=f"charge-{order['id']}", compensate=refund)
    parcel = await ctx.step(ship, order)
    return {"hold": hold, "receipt": receipt, "parcel": parcel}


@wfsim.workflow
async def checkout_unkeyed(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    hold = await ctx.step(reserve, order)
    receipt = await ctx.step(charge, order, idempotent=False, compensate=refund)
    parcel = await ctx.step(ship, order)
    return {"hold": hold, "receipt": receipt, "parcel": parcel}


@wfsim.workflow
async def checkout_host_clock(ctx: wfsim.WorkflowContext, order: dict[str, Any]) -> str:
    await ctx.step(reserve, order)
    # The bug: the host clock, not ctx.wall_time(). A replay runs later and reads later.
    due = (_dt.datetime.now() + _dt.timedelta(days=30)).isoformat(timespec="seconds")
    return str(await ctx.step(invoice, order, due))


def main() -> None:
    order = {"id": 7}
    crash = [wfsim.Fault.crash("charge", at="after", restart_after="5s")]
    for body in (checkout, checkout_unkeyed):
        result = wfsim.run(body, input=order, faults=crash)
        print(
            f"{body.name}: {result.status} in {result.makespan}s, charge ran "
            f"{result.effect_counts['charge']} times, repeated effects: "
            f"{list(result.repeated_effects) or 'none'}"
        )
    crash = [wfsim.Fault.crash(body="after:invoice", restart_after="1s")]
    result = wfsim.run(checkout_host_clock, input=order, faults=crash)
    print(f"{checkout_host_clock.name}: {result.status}: {result.message}")


if __name__ == "__main__":
    main()
