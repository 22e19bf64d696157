"""Workflow bodies as data: a :class:`Program` of calls, gathers, sleeps and signal waits.

A body written as a list of instructions instead of Python code, so that it can be
drawn by Hypothesis (``wfsim.strategies.imperative_workflows``), pickled, compared,
and written to and read from a scenario file (``workflow: {body: [...]}``,
specs/scenario-format.md SCN-17). Every class is a frozen attrs class defined at
module level: equal programs are equal values and run the same way.

::

    Program((
        Call("charge", Work(duration_ns=2_000_000_000, output=7), compensate=refund),
        Gather((Call("pack"), Call("label"))),
        Pause(60 * 10**9),
        WaitForSignal("approval", timeout_ns=3_600 * 10**9),
    ))

runs as::

    async def body(ctx, input):
        results = {}
        results["charge"] = await ctx.step(work, name="charge", compensate=refund)
        results.update(zip(["pack", "label"], await ctx.gather(...)))
        await ctx.sleep("60s")
        results.setdefault("signals", []).append(["approval", await ctx.wait_for_signal(...)])
        return results
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from wfsim.errors import SignalTimeoutError

from ._context import StepContext
from ._imperative import WorkflowContext
from ._retry import RetryPolicy
from ._workflow import Step

__all__ = ["Call", "Gather", "Instruction", "Pause", "Program", "WaitForSignal", "Work"]


@attrs.frozen
class Work:
    """A call's step function: sleep ``duration_ns``, return ``output``."""

    duration_ns: int = 0
    output: Any = None

    async def __call__(self, ctx: StepContext) -> Any:
        if self.duration_ns:
            await ctx.sleep(f"{self.duration_ns}ns")
        return self.output


@attrs.frozen
class Call:
    """``await ctx.step(Work(...), name=name, retry=..., timeout=..., compensate=...)``.

    ``catch``: a failure of the step is caught by the body, which goes on.
    """

    name: str
    work: Work = Work()
    retry: RetryPolicy | None = None
    timeout_ns: int | None = None
    undo: Step | None = None
    catch: bool = False

    def call(self, ctx: WorkflowContext) -> Any:
        timeout = None if self.timeout_ns is None else f"{self.timeout_ns}ns"
        return ctx.step(
            self.work, name=self.name, retry=self.retry, timeout=timeout, compensate=self.undo
        )

    async def run(self, ctx: WorkflowContext, results: dict[str, Any]) -> None:
        try:
            results[self.name] = await self.call(ctx)
        except Exception:
            if not self.catch:
                raise
            results[self.name] = "failed"


@attrs.frozen
class Gather:
    """``await ctx.gather(*calls)``; ``catch``: a failure is caught and the body goes on."""

    calls: tuple[Call, ...]
    catch: bool = False

    async def run(self, ctx: WorkflowContext, results: dict[str, Any]) -> None:
        try:
            values = await ctx.gather(*(c.call(ctx) for c in self.calls))
        except Exception:
            if not self.catch:
                raise
            return
        results.update(zip((c.name for c in self.calls), values, strict=True))


@attrs.frozen
class Pause:
    """``await ctx.sleep(duration)``."""

    duration_ns: int

    async def run(self, ctx: WorkflowContext, results: dict[str, Any]) -> None:
        await ctx.sleep(f"{self.duration_ns}ns")


@attrs.frozen
class WaitForSignal:
    """``await ctx.wait_for_signal(name, timeout=...)`` (no timeout: None); a timeout
    records None."""

    signal: str
    timeout_ns: int | None = None

    async def run(self, ctx: WorkflowContext, results: dict[str, Any]) -> None:
        timeout = None if self.timeout_ns is None else f"{self.timeout_ns}ns"
        try:
            payload = await ctx.wait_for_signal(self.signal, timeout=timeout)
        except SignalTimeoutError:
            payload = None
        results.setdefault("signals", []).append([self.signal, payload])


Instruction = Call | Gather | Pause | WaitForSignal


@attrs.frozen
class Program:
    """A workflow body as data: its instructions in order; returns what the calls returned."""

    instructions: tuple[Instruction, ...]

    async def __call__(self, ctx: WorkflowContext, input: Any) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for instruction in self.instructions:
            await instruction.run(ctx, results)
        return results

    def calls(self) -> list[Call]:
        """Every step call, in program order."""
        out: list[Call] = []
        for item in self.instructions:
            if isinstance(item, Call):
                out.append(item)
            elif isinstance(item, Gather):
                out.extend(item.calls)
        return out

    def steps(self) -> Mapping[str, Step]:
        """The steps and compensations the body may call, as step definitions (for faults)."""
        out: dict[str, Step] = {}
        for c in self.calls():
            out[c.name] = Step(
                c.name,
                index=-1,
                duration_ns=c.work.duration_ns,
                retry=c.retry,
                timeout_ns=c.timeout_ns,
            )
            if c.undo is not None:
                out[c.undo.name] = c.undo
        return out
