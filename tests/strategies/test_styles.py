"""event_workflows(), imperative_workflows() and signal_schedules() draw runnable, small values."""

from __future__ import annotations

import os
import pickle

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import wfsim
from wfsim import strategies as wst

SETTINGS = settings(
    max_examples=int(os.environ.get("WFSIM_STRATEGY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FIND = settings(max_examples=300, database=None, deadline=None, derandomize=True)
ENDS = {"completed", "failed", "compensated", "compensation_failed"}


# -- STRAT-14: event workflows -----------------------------------------------------------------


@pytest.mark.spec("STRAT-14")
@SETTINGS
@given(
    case=wst.workflows_with_faults(wst.event_workflows(), max_faults=3, kinds=wst.FAULT_KINDS),
    seed=st.integers(0, 2**16),
)
def test_event_workflows_run_to_an_end_and_faults_hit_invocations(
    case: tuple[wfsim.EventWorkflow, list[wfsim.Fault]], seed: int
) -> None:
    wf, faults = case
    steps = wf.event_steps
    assert 1 <= len(steps) <= 6 and list(steps) == [f"s{i}" for i in range(len(steps))]
    assert steps["s0"].accepts == (wfsim.StartEvent,)
    for i, step in enumerate(steps.values()):
        code = step.fn
        assert isinstance(code, wst.EventStepCode) and code.stage == i
        assert 1 <= step.num_workers <= 4
        if i:
            assert step.accepts == (wst.EVENT_TYPES[i - 1],)
        assert code.last == (i == len(steps) - 1)
    invocations = {
        name if k == 1 else f"{name}:{k}"
        for name, step in steps.items()
        for k in range(1, step.fn.invocations + 1)  # type: ignore[attr-defined]
    }
    for fault in faults:
        assert fault.is_pattern or fault.step in invocations, fault
    result = wfsim.run(wf, faults=faults, seed=seed)
    assert result.status in ENDS, result.message
    assert pickle.loads(pickle.dumps(wf)).event_steps.keys() == steps.keys()
    if not faults and result.status == "completed":
        assert isinstance(result.result, list)
        invoked = {e.step for e in result.trace if e.kind == "attempt_started"}
        assert invoked <= invocations


@pytest.mark.spec("STRAT-14")
def test_event_workflows_shrink_and_reach_fan_out_and_fan_in() -> None:
    wf = find(wst.event_workflows(), lambda w: True, settings=FIND)
    (step,) = wf.event_steps.values()
    assert step.fn == wst.EventStepCode(stage=0, last=True) and step.num_workers == 1
    assert step.retry is None and step.timeout_ns is None
    fan_in = find(
        wst.event_workflows(),
        lambda w: any(s.fn.collect > 1 for s in w.event_steps.values()),  # type: ignore[attr-defined]
        settings=FIND,
    )
    collected = wfsim.run(fan_in)
    assert any(e.kind == "events_collected" for e in collected.trace)
    with pytest.raises(InvalidArgument, match=r"event_workflows\(\): max_steps must be at most 8"):
        wst.event_workflows(max_steps=9)


# -- STRAT-15: imperative workflows and signal schedules ---------------------------------------


IMPERATIVE = wst.imperative_workflows(max_calls=6, compensations=True, signals=("go",))


@pytest.mark.spec("STRAT-15")
@SETTINGS
@given(
    case=wst.workflows_with_faults(IMPERATIVE, max_faults=3, kinds=wst.FAULT_KINDS),
    signals=wst.signal_schedules(names=("go",), max_signals=3),
    seed=st.integers(0, 2**16),
)
def test_imperative_workflows_run_to_an_end_and_faults_hit_their_calls(
    case: tuple[wfsim.ImperativeWorkflow, list[wfsim.Fault]],
    signals: list[wfsim.Signal],
    seed: int,
) -> None:
    wf, faults = case
    program = wf.fn
    assert isinstance(program, wst.Program) and wf.signals == ("go",)
    assert 1 <= len(program.instructions) <= 6
    names = [c.name for c in program.calls()]
    assert names == [f"p{i}" for i in range(len(names))]
    targets = set(program.steps())
    for fault in faults:
        assert fault.is_pattern or fault.step in targets, fault
    for signal in signals:
        assert signal.name == "go" and 0 <= signal.at_ns <= 5 * 10**9
    result = wfsim.run(wf, faults=faults, seed=seed, signals=signals)
    assert result.status in ENDS, result.message
    if result.status == "completed":
        assert set(result.result) <= {*names, "signals"}
    again = wfsim.run(pickle.loads(pickle.dumps(wf)), faults=faults, seed=seed, signals=signals)
    assert again.digest() == result.digest()


@pytest.mark.spec("STRAT-15")
def test_imperative_workflows_and_signals_shrink_and_are_checked() -> None:
    wf = find(wst.imperative_workflows(), lambda w: True, settings=FIND)
    assert repr(wf.fn) == "Program(instructions=(Pause(duration_ns=0),))"
    wf = find(wst.imperative_workflows(), lambda w: w.fn.calls(), settings=FIND)  # type: ignore[attr-defined]
    program = wf.fn
    assert isinstance(program, wst.Program) and len(program.instructions) == 1
    (call,) = program.calls()
    assert (call.name, call.retry, call.timeout_ns, call.undo, call.catch) == (
        "p0",
        None,
        None,
        None,
        False,
    )
    gather = find(
        wst.imperative_workflows(),
        lambda w: any(type(i).__name__ == "Gather" for i in w.fn.instructions),  # type: ignore[attr-defined]
        settings=FIND,
    )
    assert len(gather.fn.instructions) == 1  # type: ignore[attr-defined]
    assert find(wst.signal_schedules(), lambda s: True, settings=FIND) == []
    (signal,) = find(wst.signal_schedules(names=("a", "b")), lambda s: len(s) == 1, settings=FIND)
    assert (signal.name, signal.at_ns, signal.payload) == ("a", 0, None)
    with pytest.raises(InvalidArgument, match=r"signal_schedules\(\): names must be a collection"):
        wst.signal_schedules(names="go")
    with pytest.raises(InvalidArgument, match=r"min_signals=3 is greater than max_signals=1"):
        wst.signal_schedules(min_signals=3, max_signals=1)
    with pytest.raises(InvalidArgument, match=r"imperative_workflows\(\): min_calls must be at"):
        wst.imperative_workflows(min_calls=0)
    body = wfsim.workflow(wst.Program(()))
    with pytest.raises(InvalidArgument, match=r"a workflow body whose steps appear only as it"):
        wst.fault_plans(wfsim.workflow(lambda ctx, i: None))
    assert find(wst.fault_plans(body), lambda p: True, settings=FIND) == []
    with pytest.raises(InvalidArgument, match=r"a budget is for DAG workflows"):
        wst.fault_plans(body, budget="survivable")


@pytest.mark.spec("STRAT-10")
def test_a_counterexample_a_file_cannot_hold_prints_as_python_that_reruns_it() -> None:
    wf = find(wst.event_workflows(), lambda w: len(w.event_steps) >= 2, settings=FIND)
    faults = [wfsim.Fault.error("s1", attempts=[1])]
    expected = wfsim.run(wf, faults=faults, seed=3, choices=[1, 0])
    text = wst.format_counterexample(wf, faults=faults, seed=3, choices=[1, 0])
    assert text.startswith("The counterexample cannot be written as a scenario file (")
    assert "is an event workflow" in text
    code = text.split("\n\n", 1)[1].replace("\n    ", "\n").strip()
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["result"].digest() == expected.digest()  # type: ignore[attr-defined]
