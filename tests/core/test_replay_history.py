"""wfsim.replay_history and ctx.patched (specs/imperative.md IMP-13, IMP-14)."""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import pytest

import wfsim
from wfsim import NondeterminismError

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from examples import order_versions as ov  # noqa: E402

ORDER = ov.ORDER


@pytest.mark.spec("IMP-14", "IMP-13")
def test_a_v1_history_fails_against_v2_and_passes_against_the_patched_v2() -> None:
    assert (
        ov.HISTORY.read_text()
        == wfsim.run(ov.order_v1, input=ORDER, time_limit="12h").trace.to_jsonl()
    ), "the shipped history is a v1 run (examples/order_versions.py record())"
    with pytest.raises(NondeterminismError) as info:
        wfsim.replay_history(ov.order_v2_breaking, ov.HISTORY, input=ORDER)
    assert (info.value.position, info.value.recorded) == ("history#2", "the call 'charge'")
    assert info.value.new.startswith("ctx.step(check_fraud, ")
    replay = wfsim.replay_history(ov.order_v2, ov.HISTORY, input=ORDER)
    assert [e.step for e in replay.trace.of_kind("call_replayed")] == ["reserve", "charge"]
    assert replay.trace.of_kind("patched") == []
    wfsim.replay_history(ov.order_v1, ov.HISTORY, input=ORDER)


@pytest.mark.spec("IMP-13")
def test_patched_is_true_in_new_runs_and_recorded_for_their_replays() -> None:
    fresh = wfsim.run(ov.order_v2, input=ORDER)
    assert fresh.status == "completed"
    assert [e.fields for e in fresh.trace.of_kind("patched")] == [
        {"patch": "fraud-check", "position": "body#2"}
    ]
    assert "check_fraud" in fresh.steps
    replay = wfsim.replay_history(ov.order_v2, fresh.trace, input=ORDER)
    assert [e.step for e in replay.trace.of_kind("call_replayed")] == [
        "reserve",
        "check_fraud",
        "charge",
        "ship",
    ]
    with pytest.raises(NondeterminismError, match="was the call 'check_fraud', but now"):
        wfsim.replay_history(ov.order_v1, fresh, input=ORDER)  # a v2 run under v1 code


@pytest.mark.spec("IMP-13", "IMP-11")
def test_patched_after_a_crash_keeps_its_answer() -> None:
    crash = [wfsim.Fault.crash(body="sleep", restart_after="1h")]
    result = wfsim.run(ov.order_v2, input=ORDER, faults=crash)
    assert result.status == "completed"
    assert len(result.trace.of_kind("patched")) == 1
    assert result.effect_counts["check_fraud"] == 1


@pytest.mark.spec("IMP-13")
def test_patch_ids_are_checked() -> None:
    @wfsim.workflow
    async def bad_id(ctx: wfsim.WorkflowContext, _: Any) -> None:
        ctx.patched(3)  # type: ignore[arg-type]

    assert "ctx.patched() takes a non-empty string id, not 3" in wfsim.run(bad_id).message

    @wfsim.workflow
    async def twice(ctx: wfsim.WorkflowContext, _: Any) -> None:
        ctx.patched("a")
        ctx.patched("a")

    message = wfsim.run(twice).message
    assert "ctx.patched('a') is called at " in message
    assert "one patch id guards one change" in message

    @wfsim.workflow
    async def loop(ctx: wfsim.WorkflowContext, _: Any) -> list[bool]:
        return [ctx.patched("same-place") for _ in range(3)]  # one place: fine

    assert wfsim.run(loop).result == [True, True, True]


async def pay(ctx: wfsim.StepContext, n: int) -> int:
    if n < 0:
        raise ValueError("negative")
    await ctx.sleep(1)
    return n * 10


@wfsim.workflow
async def payer(ctx: wfsim.WorkflowContext, amounts: list[int]) -> list[Any]:
    out: list[Any] = []
    for n in amounts:
        try:
            out.append(await ctx.step(pay, n))
        except ValueError as exc:
            out.append(str(exc))
    got = await ctx.gather(*(ctx.step(pay, n, name="fan") for n in amounts))
    return [*out, *got, ctx.now()]


@pytest.mark.spec("IMP-14")
def test_recorded_outcomes_answer_the_calls_without_running_them() -> None:
    recorded = wfsim.run(payer, input=[1, -1, 2], seed=3)
    replay = wfsim.replay_history(payer, recorded.trace, input=[1, -1, 2])
    assert replay.result == recorded.result
    assert replay.effect_counts == {}
    assert [(e.step, e.fields) for e in replay.trace.of_kind("call_replayed")][:3] == [
        ("pay", {"output": 10}),
        ("pay:2", {"error": "ValueError"}),
        ("pay:3", {"output": 20}),
    ]


@pytest.mark.spec("IMP-14")
@pytest.mark.parametrize(
    ("input", "position", "recorded", "new"),
    [
        ([1, -1], "history#3", "the call 'pay:3'", "ctx.step(pay, 1) named 'fan'"),
        ([1, -1, 2, 5], "history#4", "the call 'fan'", "ctx.step(pay, 5)"),
    ],
)
def test_more_or_fewer_calls_diverge(
    input: list[int], position: str, recorded: str, new: str
) -> None:
    history = wfsim.run(payer, input=[1, -1, 2]).trace
    with pytest.raises(NondeterminismError) as info:
        wfsim.replay_history(payer, history, input=input)
    assert (info.value.position, info.value.recorded, info.value.new) == (position, recorded, new)


@pytest.mark.spec("IMP-14")
def test_the_end_of_the_body_and_its_outcome_are_compared() -> None:
    @wfsim.workflow(name="payer")
    async def returns_early(ctx: wfsim.WorkflowContext, amounts: list[int]) -> None:
        await ctx.step(pay, amounts[0])

    history = wfsim.run(payer, input=[1, 2]).trace
    with pytest.raises(NondeterminismError) as info:
        wfsim.replay_history(returns_early, history, input=[1, 2])
    assert (info.value.recorded, info.value.new) == (
        "the call 'pay:2'",
        "the end of the body (fewer calls)",
    )

    @wfsim.workflow(name="payer")
    async def raises(ctx: wfsim.WorkflowContext, amounts: list[int]) -> None:
        for n in amounts:
            await ctx.step(pay, n)
        for n in amounts:
            await ctx.step(pay, n, name="fan")
        raise RuntimeError("new bug")

    with pytest.raises(NondeterminismError) as info:
        wfsim.replay_history(raises, history, input=[1, 2])
    assert (info.value.recorded, info.value.new) == (
        "the body returning",
        "the body raising RuntimeError",
    )


@pytest.mark.spec("IMP-14")
def test_signals_children_and_the_clock_replay_from_the_history() -> None:
    @wfsim.workflow
    async def child(ctx: wfsim.WorkflowContext, n: int) -> int:
        return int(await ctx.step(pay, n))

    @wfsim.workflow(signals=["go"])
    async def parent(ctx: wfsim.WorkflowContext, _: Any) -> list[Any]:
        got = await ctx.wait_for_signal("go")
        value = await ctx.child(child, got)
        await ctx.sleep("1h")
        return [got, value, ctx.now()]

    recorded = wfsim.run(parent, signals=[wfsim.Signal("go", at=5, payload=4)])
    assert recorded.result == [4, 40, 3606.0]
    replay = wfsim.replay_history(parent, recorded)
    assert replay.result == recorded.result
    assert replay.makespan == 0


@pytest.mark.spec("IMP-14")
def test_bad_histories_are_one_line_errors(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"seq": 0, "t": 0, "kind": "run_started"}\nnot json\n')
    with pytest.raises(wfsim.WfsimError, match=r"bad.jsonl:2: not a trace event"):
        wfsim.replay_history(payer, bad)
    empty_start = tmp_path / "nostart.jsonl"
    empty_start.write_text('{"seq": 0, "t": 0, "kind": "step_ready", "step": "x"}\n')
    with pytest.raises(wfsim.WfsimError, match="nostart.jsonl is not a wfsim trace"):
        wfsim.replay_history(payer, empty_start)
    with pytest.raises(wfsim.WfsimError) as info:
        wfsim.replay_history(payer, ov.HISTORY)
    assert str(info.value) == (f"{ov.HISTORY} is a history of workflow 'order', not of 'payer'")
    with pytest.raises(wfsim.WfsimError, match="takes a wfsim.Trace"):
        wfsim.replay_history(payer, 3)  # type: ignore[arg-type]


@pytest.mark.spec("IMP-14", "IMP-12")
def test_the_durable_examples_run_as_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    import runpy

    runpy.run_path(str(ROOT / "examples" / "order_versions.py"), run_name="__main__")
    runpy.run_path(str(ROOT / "examples" / "durable_payment.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "order_v2_breaking: cannot continue v1 runs: workflow 'order' is not" in out
    assert "order_v2: continues v1 runs" in out
    assert "checkout: completed in 13.0s, charge ran 2 times, repeated effects: none" in out
    assert (
        "checkout_unkeyed: completed in 13.0s, charge ran 2 times, repeated effects: ['charge']"
        in out
    )
    assert (
        "checkout_host_clock: failed: workflow 'checkout_host_clock' raised Nondeterminism" in out
    )


async def work(ctx: wfsim.StepContext, seconds: int) -> int:
    await ctx.sleep(seconds)
    return seconds


def lanes(swap: bool = False) -> wfsim.ImperativeWorkflow:
    @wfsim.workflow(name="lanes")
    async def body(ctx: wfsim.WorkflowContext, _: Any) -> list[Any]:
        async def lane(tag: str, first: int, second: int) -> list[int]:
            names = [f"{tag}1", f"{tag}2"][:: -1 if swap and tag == "a" else 1]
            x = await ctx.step(work, first, name=names[0])
            return [x, await ctx.step(work, second, name=names[1])]

        a = ctx.spawn(lane("a", 1, 3))
        b = ctx.spawn(lane("b", 2, 1))
        both = await ctx.gather(lane("c", 1, 1), lane("d", 3, 1))
        return [await a, await b, both, ctx.now()]

    return body


@pytest.mark.spec("IMP-14")
def test_concurrent_branches_replay_where_their_clocks_say() -> None:
    """Spawned and gathered branches interleave their calls in time (a2 at 1s comes after
    b1 at 0s in the trace, but lane a replays both of its calls first): each branch's
    call is matched where its own clock says it was recorded, and the body's clock after
    awaiting them is their recorded end."""
    recorded = wfsim.run(lanes())
    ready = [(e.step, e.t) for e in recorded.trace.of_kind("step_ready")]
    assert ready.index(("b1", 0.0)) < ready.index(("a2", 1.0))
    replay = wfsim.replay_history(lanes(), recorded)
    assert replay.result == recorded.result == [[1, 3], [2, 1], [[1, 1], [3, 1]], 4.0]
    with pytest.raises(NondeterminismError) as info:  # lane a's calls swapped: caught
        wfsim.replay_history(lanes(swap=True), recorded)
    assert info.value.new == "ctx.step(work, 1) named 'a2'"
