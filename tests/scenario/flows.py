"""Workflows and error classes that the scenario tests point at with ``python:``."""

from __future__ import annotations

import wfsim


def build_purchase() -> wfsim.Workflow:
    wf = wfsim.Workflow("purchase")
    reserve = wf.add_step("reserve_inventory", duration=1, output={"reserved": True})

    @wf.step(after=[reserve], retry=wfsim.RetryPolicy(max_attempts=3))
    async def charge_payment(ctx: wfsim.StepContext) -> dict[str, bool]:
        await ctx.sleep(2)
        return {"charged": True}

    wf.add_step("ship_order", after=[charge_payment], duration=1)
    return wf


purchase = build_purchase()
not_a_workflow = 42


def returns_a_number() -> int:
    return 7


class PaymentDeclined(Exception):
    """A custom error a fault can inject as ``tests.scenario.flows:PaymentDeclined``."""


def build_saga_purchase() -> wfsim.Workflow:
    """A purchase whose payment is refunded by code when a later step fails."""
    wf = wfsim.Workflow("saga_purchase", saga=wfsim.SagaPolicy(on_error="continue"))
    reserve = wf.add_step(
        "reserve_inventory", duration=1, compensate=wfsim.compensation("release_inventory")
    )

    async def refund_payment(ctx: wfsim.StepContext) -> dict[str, bool]:
        await ctx.sleep(0.5)
        return {"refunded": True}

    charge = wf.add_step("charge_payment", after=[reserve], duration=2, compensate=refund_payment)
    wf.add_step("ship_order", after=[charge], duration=1)
    return wf


saga_purchase = build_saga_purchase()
