"""Real LlamaIndex workflow classes on wfsim (specs/llama.md)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import pytest

pytest.importorskip("workflows")

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent
from workflows.resource import Resource
from workflows.retry_policy import (
    retry_if_exception_type,
    retry_policy,
    stop_after_attempt,
    wait_exponential,
    wait_fixed,
)

import wfsim
from examples.llama_real_flows import (
    ApprovalFlow,
    ConcurrentFlow,
    FlakyFlow,
    MixedConcurrentFlow,
    ParallelFlow,
)
from wfsim import Fault, Signal
from wfsim.llama import adapt

ROOT = Path(__file__).resolve().parents[2]


class Ping(Event):
    n: int = 0


class Pong(Event):
    n: int = 0


# -- the seed's flows (examples/llama_real_flows.py) ---------------------------------------
@pytest.mark.spec("LLAMA-1", "LLAMA-3")
def test_every_arrival_order_of_the_three_way_fan_in_is_explored_by_seeds() -> None:
    wf = adapt(ConcurrentFlow)
    orders = {tuple(wfsim.run(wf, seed=seed).result) for seed in range(40)}
    assert orders == set(itertools.permutations(["Query 1", "Query 2", "Query 3"]))


@pytest.mark.spec("LLAMA-3")
def test_same_seed_same_trace() -> None:
    for seed in (0, 5):
        first = wfsim.run(adapt(ConcurrentFlow), seed=seed)
        again = wfsim.run(adapt(ConcurrentFlow), seed=seed)
        assert again.trace.digest() == first.trace.digest()
        assert again.result == first.result


@pytest.mark.spec("LLAMA-1")
def test_distinct_delays_fix_the_order_and_the_first_stop_event_wins() -> None:
    delays = {"delays": {"Query 1": 3, "Query 2": 1, "Query 3": 2}}
    concurrent = wfsim.run(adapt(ConcurrentFlow), input=delays)
    assert (concurrent.status, concurrent.result) == (
        "completed",
        ["Query 2", "Query 3", "Query 1"],
    )
    assert concurrent.makespan == 3
    parallel = wfsim.run(adapt(ParallelFlow), input=delays)
    assert (parallel.status, parallel.result, parallel.makespan) == ("completed", "Query 2", 1)
    cancelled = [e.step for e in parallel.trace if e.kind == "step_cancelled"]
    assert sorted(cancelled) == ["step_two", "step_two:3"]
    mixed = wfsim.run(adapt(MixedConcurrentFlow))
    assert mixed.result == ["Query 3", "Query 1", "Query 2"]  # declared order, not arrival


@pytest.mark.spec("LLAMA-4")
def test_a_step_failing_twice_succeeds_under_its_own_retry_policy_in_virtual_time() -> None:
    wfsim.run(adapt(FlakyFlow))  # imports and first-use costs out of the timed run
    started = time.perf_counter()
    result = wfsim.run(adapt(FlakyFlow))
    assert time.perf_counter() - started < 2  # real waits would take 2 s; it takes ms
    assert (result.status, result.result) == ("completed", "answered after 2 retries")
    assert result.makespan == 2  # two 1 s waits, no real second
    assert [e.fields["delay"] for e in result.trace if e.kind == "retry_scheduled"] == [1, 1]
    assert result.context == {"retries": 2}


@pytest.mark.spec("LLAMA-5")
def test_a_human_in_the_loop_step_is_answered_by_a_scheduled_signal() -> None:
    answer = Signal("HumanResponseEvent", at="20m", payload={"response": "yes"})
    result = wfsim.run(adapt(ApprovalFlow(timeout=None)), signals=[answer])
    assert (result.status, result.result, result.makespan) == ("completed", "approved: yes", 1200)
    late = Signal("HumanResponseEvent", at="2h", payload={"response": "yes"})
    result = wfsim.run(adapt(ApprovalFlow(timeout=None)), signals=[late])
    assert result.status == "failed"
    assert result.makespan == 3600
    assert "TimeoutError" in result.message
    # The class's own timeout (LlamaIndex's default 45 s) applies.
    assert wfsim.run(adapt(ApprovalFlow), signals=[answer]).status == "timed_out"


@pytest.mark.spec("LLAMA-5")
def test_a_returned_input_required_event_is_answered_by_a_signal_sent_as_an_event() -> None:
    from workflows.events import HumanResponseEvent, InputRequiredEvent

    class Hitl(Workflow):
        @step
        async def ask(self, ev: StartEvent) -> InputRequiredEvent:
            return InputRequiredEvent(prefix="ok? ")

        @step
        async def answer(self, ev: HumanResponseEvent) -> StopEvent:
            return StopEvent(result=ev.response)

    signal = Signal("HumanResponseEvent", at="10s", payload={"response": "fine"})
    result = wfsim.run(adapt(Hitl), signals=[signal])
    assert (result.status, result.result, result.makespan) == ("completed", "fine", 10)


class Progress(Event):
    done: int


@pytest.mark.spec("LLAMA-2", "EVT-9")
def test_streamed_events_are_kept_in_order_with_their_virtual_time() -> None:
    from workflows.events import HumanResponseEvent, InputRequiredEvent

    class Streaming(Workflow):
        @step
        async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
            for done in (1, 2):
                await asyncio.sleep(5)
                ctx.write_event_to_stream(Progress(done=done))
            answer = await ctx.wait_for_event(
                HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="go on? ")
            )
            return StopEvent(result=answer.response)

    signal = Signal("HumanResponseEvent", at="30s", payload={"response": "yes"})
    result = wfsim.run(adapt(Streaming), signals=[signal])
    assert (result.status, result.result) == ("completed", "yes")
    # What `async for ev in handler.stream_events()` sees, with when and who wrote it.
    assert [type(s.event) for s in result.stream] == [Progress, Progress, InputRequiredEvent]
    assert [(s.t, s.step, s.attempt) for s in result.stream] == [
        (5, "work", 1),
        (10, "work", 1),
        (10, "work", 1),
    ]
    assert [s.event.done for s in result.stream[:2]] == [1, 2]
    streamed = [e for e in result.trace if e.kind == "event_streamed"]
    assert [(e.t, e.fields) for e in streamed] == [
        (5, {"event": "Progress", "fields": {"done": 1}}),
        (10, {"event": "Progress", "fields": {"done": 2}}),
        # Its fields as LlamaIndex's model_dump() gives them (undeclared ones in _data).
        (10, {"event": "InputRequiredEvent", "fields": {"_data": {"prefix": "go on? "}}}),
    ]
    again = wfsim.run(adapt(Streaming), signals=[signal])
    assert again.trace.digest() == result.trace.digest()


@pytest.mark.spec("LLAMA-2")
def test_streaming_something_that_is_no_event_fails_the_attempt() -> None:
    class Bad(Workflow):
        @step
        async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
            ctx.write_event_to_stream({"done": 1})
            return StopEvent(result="never")

    result = wfsim.run(adapt(Bad))
    assert result.status == "failed"
    error = result.trace.of_kind("attempt_failed")[0].fields
    assert (error["error"], error["retryable"]) == ("TypeError", True)
    assert error["message"].startswith("write_event_to_stream() takes a LlamaIndex event")
    assert result.stream == ()


# -- faults --------------------------------------------------------------------------------
@pytest.mark.spec("LLAMA-6")
def test_faults_target_steps_by_method_name_and_events_by_class_name() -> None:
    wf = adapt(ConcurrentFlow)
    failed = wfsim.run(wf, faults=[Fault.error("step_two", attempts=[1])])
    assert failed.status == "failed"
    assert failed.message.startswith("step 'step_two")
    dropped = wfsim.run(wf, faults=[Fault.drop(event="StepThreeEvent", occurrences=[2])])
    assert dropped.status == "timed_out"  # the collector never gets its third event
    slow = wfsim.run(wf, faults=[Fault.latency("step_two:2", extra="10s")])
    assert slow.makespan == 11
    flaky = wfsim.run(adapt(FlakyFlow), faults=[Fault.error("call_api", attempts=[3])])
    assert flaky.status == "failed"  # the third attempt, the policy's last, fails too


@pytest.mark.spec("LLAMA-4")
def test_retry_conditions_and_exponential_waits_map() -> None:
    class Wf(Workflow):
        @step(
            retry_policy=retry_policy(
                retry=retry_if_exception_type(ConnectionError),
                wait=wait_exponential(multiplier=1, exp_base=3, max=100),
                stop=stop_after_attempt(4),
            )
        )
        async def go(self, ctx: Context, ev: StartEvent) -> StopEvent:
            if ctx.retry_info().retry_number < 3:
                raise ConnectionError("down")
            return StopEvent(result=ctx.retry_info().elapsed_seconds)

    result = wfsim.run(adapt(Wf))
    assert (result.status, result.result, result.makespan) == ("completed", 13.0, 13)

    class Bad(Workflow):
        @step(retry_policy=retry_policy(retry=retry_if_exception_type(ConnectionError)))
        async def go(self, ev: StartEvent) -> StopEvent:
            raise ValueError("not retryable")

    failed = wfsim.run(adapt(Bad))
    attempts = [e for e in failed.trace if e.kind == "attempt_failed"]
    assert [(e.fields["error"], e.fields["retryable"]) for e in attempts] == [("ValueError", False)]


# -- the context -----------------------------------------------------------------------------
@pytest.mark.spec("LLAMA-2")
def test_context_store_send_event_to_a_step_and_collect_with_buffer_ids() -> None:
    class Wf(Workflow):
        @step
        async def start(self, ctx: Context, ev: StartEvent) -> Ping | None:
            await ctx.store.set("user.name", ev.name)
            async with ctx.store.edit_state() as state:
                state["count"] = 1
            for i in range(2):
                ctx.send_event(Ping(n=i), step="a")
                ctx.send_event(Ping(n=10 + i), step="b")
            return None

        @step
        async def a(self, ctx: Context, ev: Ping) -> Pong:
            await asyncio.sleep(ev.n + 1)
            return Pong(n=ev.n)

        @step
        async def b(self, ctx: Context, ev: Ping) -> None:
            got = ctx.collect_events(ev, [Ping, Ping], buffer_id="b")
            if got is not None:
                await ctx.store.set("b", sorted(e.n for e in got))  # both arrive at t=0

        @step
        async def done(self, ctx: Context, ev: Pong) -> StopEvent | None:
            got = ctx.collect_events(ev, [Pong, Pong])
            if got is None:
                return None
            return StopEvent(
                result={
                    "pongs": [e.n for e in got],
                    "user": await ctx.store.get("user.name"),
                    "count": await ctx.store.get("count"),
                    "b": await ctx.store.get("b", default=None),
                    "missing": await ctx.store.get("nope", default="d"),
                }
            )

    result = wfsim.run(adapt(Wf), input={"name": "ana"})
    assert result.status == "completed", result.message
    assert result.result == {
        "pongs": [0, 1], "user": "ana", "count": 1, "b": [10, 11], "missing": "d"
    }  # fmt: skip
    assert result.makespan == 2


@pytest.mark.spec("LLAMA-7")
def test_an_unsupported_context_method_fails_the_attempt_naming_it() -> None:
    class Wf(Workflow):
        @step(retry_policy=retry_policy(wait=wait_fixed(1), stop=stop_after_attempt(3)))
        async def start(self, ctx: Context, ev: StartEvent) -> StopEvent:
            await ctx.running_steps()
            return StopEvent()

    result = wfsim.run(adapt(Wf))
    failed = [e for e in result.trace if e.kind == "attempt_failed"]
    assert len(failed) == 1  # never retried
    assert failed[0].fields["error"] == "LlamaUnsupportedError"
    assert (
        failed[0]
        .fields["message"]
        .startswith(
            "step 'start' used ctx.running_steps, which wfsim's LlamaIndex adapter does not support"
        )
    )


@pytest.mark.spec("LLAMA-7")
def test_bad_definitions_are_one_line_errors() -> None:
    with pytest.raises(wfsim.WorkflowDefinitionError, match="is not a LlamaIndex Workflow"):
        adapt(object)

    class Unproduced(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step
        async def orphan(self, ev: Ping) -> StopEvent:
            return StopEvent()

    with pytest.raises(wfsim.WorkflowDefinitionError) as info:
        adapt(Unproduced)  # the real runtime's own validation, as its run() makes it
    assert str(info.value) == (
        "Unproduced is not a valid LlamaIndex workflow: The following events are consumed "
        "but never produced: Ping"
    )

    class WithResource(Workflow):
        @step
        async def start(
            self, ev: StartEvent, thing: Annotated[dict[str, Any], Resource(dict)]
        ) -> StopEvent:
            return StopEvent()

    with pytest.raises(wfsim.WorkflowDefinitionError) as info:
        adapt(WithResource)
    assert str(info.value) == (
        "WithResource.start uses resources (Annotated[..., Resource(...)] parameters), which "
        "wfsim's LlamaIndex adapter does not support (specs/llama.md)"
    )

    class Custom:
        def next(self, elapsed_time: float, attempts: int, error: Exception, **kw: Any) -> None:
            return None

    class WithCustomPolicy(Workflow):
        @step(retry_policy=Custom())
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

    with pytest.raises(wfsim.WorkflowDefinitionError) as info:
        adapt(WithCustomPolicy)
    assert str(info.value).startswith(
        "WithCustomPolicy.start: retry_policy Custom is a custom policy wfsim cannot map"
    )


@pytest.mark.spec("LLAMA-8")
def test_wfsim_imports_without_the_extra_and_wfsim_llama_names_the_install() -> None:
    code = (
        "import sys; sys.modules['workflows'] = None\n"
        "import wfsim\n"
        "assert 'wfsim.llama' not in sys.modules\n"
        "try:\n    import wfsim.llama\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == (
        "wfsim.llama needs llama-index-workflows: pip install 'pytest-wfsim[llama]'"
    )


# -- scenario files --------------------------------------------------------------------------
@pytest.mark.spec("LLAMA-8")
def test_a_scenario_names_a_llama_index_class(tmp_path: Path) -> None:
    from wfsim.scenario import load_scenario

    path = tmp_path / "approval.wfsim.yaml"
    path.write_text(
        "scenario: approval\n"
        "workflow:\n  llama_index: examples.llama_real_flows:ApprovalFlow\n"
        "signals:\n  - {at: 20s, name: HumanResponseEvent, payload: {response: ok}}\n"
        "expect:\n  status: completed\n  result: 'approved: ok'\n  makespan: 20s\n"
    )
    scenario = load_scenario(path)
    result = wfsim.run(scenario.workflow, input=scenario.input, signals=scenario.signals, seed=0)
    assert (result.status, result.result) == ("completed", "approved: ok")
    bad = tmp_path / "bad.wfsim.yaml"
    bad.write_text("scenario: bad\nworkflow:\n  llama_index: examples.llama_real_flows:Flaky\n")
    with pytest.raises(wfsim.errors.ScenarioError) as info:
        load_scenario(bad)
    assert "has no attribute 'Flaky': did you mean 'FlakyFlow'?" in str(info.value)


@pytest.mark.spec("LLAMA-6")
def test_the_fixture_runs_it_and_the_oracles_judge_its_trace(wfsim_sim: Any) -> None:
    from wfsim.checks import check_all

    concurrent = adapt(ConcurrentFlow)
    result = wfsim_sim.run(concurrent, seed=3)
    assert result.status == "completed"
    assert check_all(concurrent, [], result.trace) == []
    flaky, faults = adapt(FlakyFlow), [Fault.error("call_api", attempts=[3])]
    failed = wfsim_sim.run(flaky, faults=faults)
    assert failed.status == "failed"
    assert check_all(flaky, faults, failed.trace) == []


@pytest.mark.spec("LLAMA-6")
def test_a_campaign_over_a_llama_index_scenario(tmp_path: Path) -> None:
    from wfsim._cli import main

    code = main(
        [
            "simulate",
            str(ROOT / "scenarios" / "llama_real_concurrent_flow.wfsim.yaml"),
            "--seeds", "12", "--workers", "1", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0


@pytest.mark.spec("LLAMA-1")
def test_the_trace_shows_each_event_as_model_dump_gives_it() -> None:
    """wrap() reads plain events' fields off the instance: always what model_dump gives."""
    import pydantic
    from workflows.events import InputRequiredEvent

    from wfsim.llama._adapter import _PLAIN, _fields

    class Nested(Event):
        inner: Ping
        tags: list[str] = pydantic.Field(default_factory=list)

    class Computed(Event):
        n: int = 1

        @pydantic.computed_field  # type: ignore[prop-decorator]
        @property
        def double(self) -> int:
            return 2 * self.n

    class Aliased(Event):
        model_config = pydantic.ConfigDict(serialize_by_alias=True)
        n: int = pydantic.Field(1, serialization_alias="number")

    class Hidden(Event):
        n: int = 1
        secret: str = pydantic.Field("x", exclude=True)

    class Custom(Event):
        n: int = 1

        @pydantic.field_serializer("n")
        def _n(self, n: int) -> str:
            return f"#{n}"

    class Mixed(Event):
        a: str
        b: float = 0.5
        c: bool | None = None

    events = [
        Ping(n=3),
        Mixed(a="x", b=2, c=True),
        Mixed(a="é\n"),
        Nested(inner=Ping(n=1), tags=["a"]),
        Computed(n=4),
        Aliased(n=2),
        Hidden(n=5),
        Custom(n=6),
        InputRequiredEvent(prefix="ok? "),
        Ping(n=1, extra="undeclared"),
        StopEvent(result={"x": 1}),
    ]
    for ev in events:
        assert _fields(ev) == ev.model_dump(), type(ev).__name__
    plain = {cls.__name__ for cls, names in _PLAIN.items() if names is not None}
    assert {"Ping", "Mixed", "Nested", "InputRequiredEvent"} <= plain  # read off, when scalar
    assert not plain & {"Computed", "Aliased", "Hidden", "Custom", "StopEvent"}
