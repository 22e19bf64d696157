"""A body call's arguments in the trace (specs/trace.md TRACE-5) and compared on replay
(IMP-12 after a crash, IMP-14 against a recorded history)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import pathlib
import subprocess
import sys
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wfsim
from wfsim import NondeterminismError
from wfsim._core._callargs import MAX_ARGS_CHARS, call_args, describe_args, encode_args

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORMAT1 = pathlib.Path(__file__).parent / "histories" / "order_v1_in_flight.format1.jsonl"


class Plain:
    """No __eq__, no __repr__: its default repr holds a memory address."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.tags = {"b", "a"}


@attrs.frozen
class Point:
    x: int
    y: float


@dataclasses.dataclass
class Box:
    items: list[Any]


class Colour(enum.Enum):
    RED = 1


def helper() -> None:
    """A function given as an argument."""


async def pay(ctx: wfsim.StepContext, order: Any, *, cents: int = 0) -> str:
    await ctx.sleep(1)
    return "paid"


@wfsim.workflow(name="payer")
async def payer(ctx: wfsim.WorkflowContext, order: Any) -> list[Any]:
    first = await ctx.step(pay, order, cents=5)
    await ctx.sleep("1h")
    second = await ctx.step(pay, Plain(order["id"]), name="pay_plain")
    return [first, second]


@pytest.mark.spec("TRACE-5")
def test_body_calls_record_their_arguments_in_a_canonical_form() -> None:
    result = wfsim.run(payer, input={"id": 7, "amount": 30})
    ready = {e.step: e.fields for e in result.trace.of_kind("step_ready")}
    assert ready["pay"] == {"args": [[{"amount": 30, "id": 7}], {"cents": 5}]}
    plain = ready["pay_plain"]["args"]
    assert plain == [
        [
            {
                "$type": "tests.core.test_call_args.Plain",
                "fields": {"n": 7, "tags": {"$type": "builtins.set", "items": ["a", "b"]}},
            }
        ],
        {},
    ]
    assert "0x" not in result.trace.to_jsonl()


@pytest.mark.spec("TRACE-5")
def test_the_canonical_form_of_values_json_cannot_hold() -> None:
    point = {"$type": "tests.core.test_call_args.Point", "fields": {"x": 0, "y": 0.0}}
    cases = [
        ((1, 2.5), [1, 2.5]),
        (float("nan"), {"$type": "float", "value": "nan"}),
        (b"\x00\xff", {"$type": "builtins.bytes", "hex": "00ff"}),
        (frozenset({3, 1}), {"$type": "builtins.frozenset", "items": [1, 3]}),
        ({2: "b", 1: "a"}, {"$type": "builtins.dict", "items": [[1, "a"], [2, "b"]]}),
        (Colour.RED, {"$type": "tests.core.test_call_args.Colour", "name": "RED"}),
        (dt.date(2026, 1, 2), {"$type": "datetime.date", "value": "2026-01-02"}),
        (decimal.Decimal("1.10"), {"$type": "decimal.Decimal", "value": "1.10"}),
        (Point(0, 0.0), point),
        (
            Box([Point(0, 0.0)]),
            {"$type": "tests.core.test_call_args.Box", "fields": {"items": [point]}},
        ),
        (helper, {"$type": "function", "name": "tests.core.test_call_args.helper"}),
        (Plain, {"$type": "class", "name": "tests.core.test_call_args.Plain"}),
        (object(), {"$type": "builtins.object"}),
    ]
    for value, form in cases:
        assert call_args((value,), {}) == [[form], {}], value
    assert call_args((), {"z": 1, "a": None}) == [[], {"a": None, "z": 1}]
    assert describe_args([[{"id": 7}], {"cents": 5}]) == '({"id":7}, cents=5)'


@pytest.mark.spec("TRACE-5")
def test_large_and_cyclic_arguments_are_bounded() -> None:
    big = call_args(("x" * (MAX_ARGS_CHARS + 1),), {})
    assert isinstance(big, str) and big.startswith("sha256:") and len(big) == 7 + 16
    assert big != call_args(("y" * (MAX_ARGS_CHARS + 1),), {})
    assert describe_args(big) == f"(<arguments {big}>)"
    loop: list[Any] = []
    loop.append(loop)
    assert "..." in encode_args(call_args((loop,), {}))


@pytest.mark.spec("TRACE-5")
def test_the_form_does_not_depend_on_the_process() -> None:
    """Two interpreters (other hash seeds, other addresses) record the same args."""
    code = (
        "from tests.core.test_call_args import Plain, call_args, encode_args;"
        "print(encode_args(call_args((Plain(3), {'b', 'a', 'c'}, object()), {})))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PYTHONHASHSEED": str(seed), "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2)
    }
    assert len(outs) == 1, outs


@pytest.mark.spec("TRACE-5")
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            | st.frozensets(st.integers(), max_size=3).map(lambda s: s)
        ),
        max_leaves=8,
    )
)
def test_equal_values_record_equal_args_and_survive_json(value: Any) -> None:
    import json

    recorded = call_args((value,), {"k": value})
    assert encode_args(recorded) == encode_args(call_args((value,), {"k": value}))
    back = json.loads(json.dumps(recorded))
    assert encode_args(back) == encode_args(recorded)


@pytest.mark.spec("IMP-14", "TRACE-5")
def test_replay_history_reports_a_changed_argument() -> None:
    history = wfsim.run(payer, input={"id": 7, "amount": 30}).trace
    wfsim.replay_history(payer, history, input={"amount": 30, "id": 7})  # same values
    with pytest.raises(NondeterminismError) as info:
        wfsim.replay_history(payer, history, input={"id": 7, "amount": 31})
    assert (info.value.position, info.value.recorded, info.value.new) == (
        "history#1",
        """the call 'pay' with arguments ({"amount":30,"id":7}, cents=5)""",
        """the call 'pay' with arguments ({"amount":31,"id":7}, cents=5)""",
    )
    assert "command 1 of the recorded run (history#1) was the call 'pay' with" in str(info.value)

    @wfsim.workflow(name="payer")
    async def payer_v2(ctx: wfsim.WorkflowContext, order: Any) -> list[Any]:
        first = await ctx.step(pay, order, cents=5)
        await ctx.sleep("1h")
        second = await ctx.step(pay, Plain(order["id"] + 1), name="pay_plain")
        return [first, second]

    with pytest.raises(NondeterminismError, match="history#2") as info:
        wfsim.replay_history(payer_v2, history, input={"id": 7, "amount": 30})
    assert "Plain" in info.value.recorded and '"n":7' in info.value.recorded
    assert '"n":8' in info.value.new


@pytest.mark.spec("IMP-14", "TRACE-5")
def test_the_example_catches_a_new_argument() -> None:
    sys.path.insert(0, str(ROOT))
    from examples import order_versions as ov

    with pytest.raises(NondeterminismError) as info:
        wfsim.replay_history(ov.order_v2_new_argument, ov.HISTORY, input=ov.ORDER)
    assert info.value.position == "history#2"
    assert info.value.new.endswith('({"amount":30,"id":7}, cents=3000)')


@pytest.mark.spec("IMP-14", "TRACE-5")
def test_a_format_1_history_replays_without_comparing_arguments() -> None:
    sys.path.insert(0, str(ROOT))
    from examples import order_versions as ov

    assert '"args"' not in FORMAT1.read_text()
    replay = wfsim.replay_history(ov.order_v2_new_argument, FORMAT1, input=ov.ORDER)
    assert [e.step for e in replay.trace.of_kind("call_replayed")] == ["reserve", "charge"]
    with pytest.raises(NondeterminismError, match="check_fraud"):
        wfsim.replay_history(ov.order_v2_breaking, FORMAT1, input=ov.ORDER)


@pytest.mark.spec("IMP-12", "TRACE-5")
def test_a_crashed_body_compares_arguments_by_their_recorded_form() -> None:
    """An argument object without __eq__ built again on replay is the same argument;
    one whose content changed is a NondeterminismError after the crash."""
    crash = [wfsim.Fault.crash(body="sleep", restart_after="1m")]
    result = wfsim.run(payer, input={"id": 7, "amount": 30}, faults=crash)
    assert result.status == "completed", result.message
    assert result.trace.of_kind("nondeterminism") == []

    calls: list[int] = []

    @wfsim.workflow(name="drifting")
    async def drifting(ctx: wfsim.WorkflowContext, _: Any) -> None:
        calls.append(1)
        await ctx.step(pay, Plain(len(calls)))
        await ctx.sleep(5)

    failed = wfsim.run(drifting, faults=crash)
    assert failed.status == "failed"
    event = failed.trace.of_kind("nondeterminism")[0]
    assert event["position"] == "body#1"
