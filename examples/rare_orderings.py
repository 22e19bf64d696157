"""Bugs that only one rare ordering of simultaneous work shows (schedule exploration).

``starved_consumer``: a producer and a consumer tick together every virtual
second for ``ROUNDS`` rounds. The consumer gives up (the run fails) if the
producer had not yet produced in *every* round it looked: the consumer must run
first at each of ``ROUNDS`` simultaneous instants. Seeded random schedules order
each instant by a coin, so about one seed in ``2 ** ROUNDS`` finds it; PCT (a
higher priority for the consumer) and delay bounding (one delay at the first
decision: the order then sticks) find it within a few seeds
(``wfsim simulate --schedule pct|delay-bounded``).
"""

from __future__ import annotations

import wfsim

ROUNDS = 12


class ConsumerStarved(Exception):
    """The consumer found nothing in every round."""


def starved_consumer() -> wfsim.Workflow:
    """The producer/consumer DAG described above; ``completed`` unless the consumer starves."""
    wf = wfsim.Workflow("starved_consumer")

    @wf.step
    async def producer(ctx: wfsim.StepContext) -> None:
        for i in range(1, ROUNDS + 1):
            ctx.set("produced", i)
            await ctx.sleep(1)

    @wf.step
    async def consumer(ctx: wfsim.StepContext) -> int:
        misses = 0
        for i in range(1, ROUNDS + 1):
            misses = misses + 1 if ctx.get("produced", 0) < i else 0
            await ctx.sleep(1)
        if misses >= ROUNDS:
            raise ConsumerStarved(f"nothing to consume in {misses} rounds in a row")
        return misses

    return wf
