"""Module-level workflows for the determinism tests (importable as ``module:attr``).

Everything here is defined at module level so that a fresh process (the DET-2
subprocesses, ``wfsim.check_determinism``) can import or unpickle it.

* :data:`FANOUT` (with :data:`FANOUT_FAULTS`): rich in simultaneous work and
  hash-sensitive names: ~20 steps ready at the same instant, code-less steps of
  equal duration, code steps that ``ctx.sleep`` equal amounts, retries with
  ``jitter="full"``/``"equal"``, injected faults (start, end, latency) and a
  join whose ``after=`` is a frozenset, whose iteration order changes with
  ``PYTHONHASHSEED``.
* :data:`INTERLEAVE`: code steps only, all at the same instant, each appending
  to one shared list in the context at every resume (DET-6).
* :data:`DICE`: step code drawing from ``ctx.random`` (seeded by the run's seed).
* :data:`NONDETERMINISTIC`: a step whose output comes from the global ``random``
  module, so two processes disagree (DET-7).
"""

from __future__ import annotations

import random
from typing import Any

import trio

import wfsim

FANOUT_WIDTH = 20

#: The steps of :data:`FANOUT` that are ready together at t=1s.
FANOUT_STEPS = tuple(f"w{i:02d}" for i in range(FANOUT_WIDTH))

_JITTERED = wfsim.RetryPolicy(max_attempts=4, initial_interval=1, jitter="full")
_EQUAL_JITTER = wfsim.RetryPolicy(max_attempts=4, initial_interval="500ms", jitter="equal")


async def sleeper(ctx: wfsim.StepContext) -> dict[str, Any]:
    """Sleep twice (equal amounts as its siblings) and record where it ran."""
    log = ctx.get("log")
    log.append(f"{ctx.step}#{ctx.attempt}:a")
    await ctx.sleep(1)
    log.append(f"{ctx.step}#{ctx.attempt}:b")
    await ctx.sleep("500ms")
    log.append(f"{ctx.step}#{ctx.attempt}:c")
    return {f"{ctx.step}.pos": len(log)}


async def init_log(ctx: wfsim.StepContext) -> None:
    ctx.set("log", [])


async def join(ctx: wfsim.StepContext) -> dict[str, Any]:
    log = ctx.get("log")
    return {"log_len": len(log), "log_head": log[:5], "log_tail": log[-5:]}


def build_fanout(name: str = "det-fanout", width: int = FANOUT_WIDTH) -> wfsim.Workflow:
    """``init`` (code) -> ``start`` (1 s) -> ``width`` parallel steps -> ``join``."""
    wf = wfsim.Workflow(name)
    init = wf.add_step("init", fn=init_log)
    start = wf.add_step("start", duration=1, output={"phase": "fan"}, after=[init])
    names = []
    for i in range(width):
        step = f"w{i:02d}"
        names.append(step)
        kind = i % 5
        if kind == 0:  # code-less, equal durations
            wf.add_step(step, duration=2, output={step: i}, after=[start])
        elif kind == 1:  # code with ctx.sleep of equal amounts
            wf.add_step(step, fn=sleeper, after=[start])
        elif kind == 2:  # code-less, jittered retries (faults target some of these)
            wf.add_step(step, duration=2, output={step: i}, after=[start], retry=_JITTERED)
        elif kind == 3:  # code, jittered retries
            wf.add_step(step, fn=sleeper, after=[start], retry=_JITTERED)
        else:  # code-less with equal jitter and a timeout that never fires
            wf.add_step(step, duration=1, after=[start], retry=_EQUAL_JITTER, timeout=10)
    # A set in after=: its order depends on PYTHONHASHSEED and must not matter.
    wf.add_step("join", fn=join, after=frozenset(names))
    return wf


FANOUT = build_fanout()

FANOUT_FAULTS = [
    wfsim.Fault.error("w02", attempts=[1]),  # start: fails at once, jittered retry
    wfsim.Fault.error("w03", attempts=[1, 2], at="end"),  # code runs, then fails
    wfsim.Fault.error("w07", attempts=[1], error="ConnectionError"),
    wfsim.Fault.latency("w05", extra="500ms"),
    wfsim.Fault.latency("w08", extra=1, attempts=[1]),
    wfsim.Fault.error("w09", attempts=[1]),  # equal jitter
]


def fanout_digests(seeds: range) -> list[str]:
    """One digest per seed: what the DET-2 subprocesses print."""
    return [wfsim.run(FANOUT, seed=s, faults=FANOUT_FAULTS).digest() for s in seeds]


# -- DET-6: only wfsim decides who runs ------------------------------------------------------
INTERLEAVE_WIDTH = 16


async def chatty(ctx: wfsim.StepContext) -> dict[str, Any]:
    """Append to the shared log at every resume; also yield to trio (a checkpoint)."""
    log = ctx.get("log")
    for i in range(3):
        log.append(f"{ctx.step}:{i}")
        await trio.sleep(0)  # a trio checkpoint: trio may run anything runnable here
        log.append(f"{ctx.step}:{i}+")
        await ctx.sleep(1)  # everyone wakes at the same instant
    return {f"{ctx.step}.pos": len(log)}


def build_interleave(width: int = INTERLEAVE_WIDTH) -> wfsim.Workflow:
    wf = wfsim.Workflow("det-interleave")
    init = wf.add_step("init", fn=init_log)
    for i in range(width):
        wf.add_step(f"c{i:02d}", fn=chatty, after=[init])
    return wf


INTERLEAVE = build_interleave()


# -- DET-5: step code randomness -------------------------------------------------------------
async def roll(ctx: wfsim.StepContext) -> dict[str, Any]:
    await ctx.sleep(1)
    return {f"{ctx.step}.roll": ctx.random.randrange(1_000_000)}


def build_dice(width: int = 6) -> wfsim.Workflow:
    wf = wfsim.Workflow("det-dice")
    for i in range(width):
        wf.add_step(f"d{i}", fn=roll)
    return wf


DICE = build_dice()


# -- DET-7: a workflow that is not deterministic ---------------------------------------------
async def coin(ctx: wfsim.StepContext) -> dict[str, Any]:
    """Decide the output with the global ``random`` module (seeded from the OS)."""
    return {"coin": random.getrandbits(62)}


async def steady(ctx: wfsim.StepContext) -> None:
    await ctx.sleep(1)


def build_nondeterministic() -> wfsim.Workflow:
    wf = wfsim.Workflow("det-nondeterministic")
    a = wf.add_step("a", duration=1, output={"a": 1})
    wf.add_step("b", fn=steady, after=[a])
    wf.add_step("coin", fn=coin, after=[a])
    wf.add_step("c", duration=2, after=["coin"])
    return wf


NONDETERMINISTIC = build_nondeterministic()
