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


def first_starving_seed(choices: str, seeds: range = range(10_000)) -> int | None:
    """The first seed at which the consumer starves under ``choices``.

    ``choices``: ``"random"`` (the seed's coin at each instant), ``"pct"`` (depth 3)
    or ``"delay-bounded"`` (bound 1): ``wfsim simulate --schedule``'s defaults.
    """
    from wfsim._core._schedules import CountingChoices, DelayBoundedChoices, PCTChoices

    wf = starved_consumer()
    counter = CountingChoices(0)
    wfsim.run(wf, choices=counter)
    horizon = counter.decisions
    for seed in seeds:
        source: wfsim.ChoiceSource | None = None
        if choices == "pct":
            source = PCTChoices(seed, depth=3, horizon=horizon)
        elif choices == "delay-bounded":
            source = DelayBoundedChoices(seed, bound=1, horizon=horizon)
        if wfsim.run(wf, seed=seed, choices=source).status != "completed":
            return seed
    return None


if __name__ == "__main__":
    print(f"The consumer starves only if it runs first at each of {ROUNDS} instants.")
    print("First seed at which it starves:")
    for name, label in (
        ("random", "seeded random"),
        ("pct", "PCT (--schedule pct --pct-depth 3)"),
        ("delay-bounded", "delay bounding (--schedule delay-bounded --delay-bound 1)"),
    ):
        print(f"  {label:<58} seed {first_starving_seed(name)}")
    print(
        "Replay: wfsim replay examples/rare_ordering_starved_consumer.wfsim.yaml "
        "--seed 12 --schedule pct --pct-depth 3"
    )
