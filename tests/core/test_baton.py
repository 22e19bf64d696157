"""The baton (wfsim/_core/_baton.py): the engine drives step code itself (DET-6)."""

from __future__ import annotations

import contextvars

import pytest
import trio

import wfsim

SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("SEEN", default="unset")


@pytest.mark.spec("DET-6")
def test_each_attempts_code_has_its_own_context_variables() -> None:
    """As a trio task spawned then would: a copy of the context the run started in."""
    wf = wfsim.Workflow("vars")
    seen: dict[str, list[str]] = {}

    async def step(ctx: wfsim.StepContext) -> None:
        before = SEEN.get()
        SEEN.set(ctx.step)
        await ctx.sleep(1)  # the other steps run and set theirs meanwhile
        seen[ctx.step] = [before, SEEN.get()]

    for name in ("a", "b", "c"):
        wf.add_step(name, fn=step)

    async def main() -> wfsim.RunResult:
        SEEN.set("caller")
        result = await wfsim.arun(wf, seed=3)
        assert SEEN.get() == "caller"  # the steps' sets never reach the caller
        return result

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result.status == "completed"
    assert seen == {name: ["caller", name] for name in ("a", "b", "c")}


@pytest.mark.spec("DET-6")
@pytest.mark.parametrize("block", ["cancel scope", "nursery"])
def test_a_wfsim_wait_inside_a_trio_block_the_code_opened_fails_the_attempt(block: str) -> None:
    """trio binds the block to the task running the code: the engine's. The wait raises
    inside the code, so the block closes in order and the attempt fails with a reason."""
    wf = wfsim.Workflow("scoped")
    closed: list[str] = []

    @wf.step
    async def scoped(ctx: wfsim.StepContext) -> None:
        try:
            if block == "cancel scope":
                with trio.CancelScope():
                    await ctx.sleep(1)
            else:
                async with trio.open_nursery():
                    await ctx.sleep(1)
        finally:
            closed.append(ctx.step)

    @wf.step
    async def other(ctx: wfsim.StepContext) -> None:
        with trio.CancelScope():  # closed before the wait: fine
            await trio.lowlevel.checkpoint()
        await ctx.sleep(2)

    result = wfsim.run(wf)
    assert result.steps["other"].status == "completed"
    assert result.steps["scoped"].status == "failed"
    assert closed == ["scoped"]
    (failed,) = result.trace.of_kind("attempt_failed")
    assert failed["error"] == "WfsimError"
    assert (
        "ctx.sleep() of step 'scoped' was awaited inside a trio cancel scope or nursery "
        "that the step's code opened" in failed["message"]
    )


@pytest.mark.spec("DET-6")
def test_code_still_waiting_when_the_run_fails_is_closed_before_run_returns() -> None:
    wf = wfsim.Workflow("left")
    closed: list[str] = []

    @wf.step
    async def waiting(ctx: wfsim.StepContext) -> None:
        try:
            await ctx.sleep(10)
        finally:
            closed.append("waiting")

    @wf.step
    async def raw(ctx: wfsim.StepContext) -> None:
        await ctx.sleep(1)
        await trio.sleep(1)  # outside wfsim: the run raises ExternalWaitError

    with pytest.raises(wfsim.ExternalWaitError):
        wfsim.run(wf)
    assert closed == ["waiting"]


@pytest.mark.spec("DET-6")
def test_trio_waits_in_step_code_are_awaited_with_the_baton_held() -> None:
    """A raw trio Event set by a nursery child: the engine waits for it on the code's
    behalf, and no other step's code runs meanwhile."""
    wf = wfsim.Workflow("event")
    log: list[str] = []

    async def waits(ctx: wfsim.StepContext) -> None:
        event = trio.Event()

        async def setter() -> None:
            await trio.lowlevel.checkpoint()
            log.append(f"{ctx.step} set")
            event.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setter)
            log.append(f"{ctx.step} waits")
            await event.wait()
        log.append(f"{ctx.step} woke")
        await ctx.sleep(1)

    wf.add_step("a", fn=waits)
    wf.add_step("b", fn=waits)
    result = wfsim.run(wf, seed=5)
    assert result.status == "completed"
    first, second = log[0].split()[0], log[3].split()[0]
    assert {first, second} == {"a", "b"}
    assert log == [
        f"{first} waits",
        f"{first} set",
        f"{first} woke",
        f"{second} waits",
        f"{second} set",
        f"{second} woke",
    ]
