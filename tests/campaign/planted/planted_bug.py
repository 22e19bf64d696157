"""A checkout with a planted bug that only a rare combination of two faults shows.

``ship`` reuses the reservation id ``reserve`` made, but a retried ``reserve``
makes a new reservation and a retried ``ship`` reads the old one: the run fails
(``StaleReservation`` on every retry) only when the first attempts of both
``reserve`` and ``ship`` fail. Under ``--fault-rate 0.045`` each first attempt
fails with chance 0.045, so about one seed in 500 (0.045 ** 2) shows the bug;
everything else retries its way to ``completed`` (six attempts per step).
"""

from __future__ import annotations

import wfsim

RETRY = wfsim.RetryPolicy(max_attempts=6, initial_interval=1, backoff_coefficient=1)


class StaleReservation(Exception):
    """Shipping used a reservation that a retry had replaced."""


def checkout() -> wfsim.Workflow:
    wf = wfsim.Workflow("checkout")

    @wf.step(retry=RETRY)
    async def reserve(ctx: wfsim.StepContext) -> None:
        await ctx.sleep(1)
        ctx.set("reservation", f"r{ctx.attempt}")

    @wf.step(after=[reserve], retry=RETRY)
    async def charge(ctx: wfsim.StepContext) -> None:
        await ctx.sleep(2)
        ctx.set("charged", True)

    @wf.step(after=[charge], retry=RETRY)
    async def ship(ctx: wfsim.StepContext) -> None:
        await ctx.sleep(1)
        # The bug: a retried shipment trusts a reservation id cached on its first try.
        if ctx.attempt > 1 and ctx.get("reservation") != "r1":
            raise StaleReservation(f"reservation {ctx.get('reservation')} was replaced")
        ctx.set("shipped", True)

    return wf


workflow = checkout()
