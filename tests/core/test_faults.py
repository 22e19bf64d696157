"""The fault model beyond single errors: patterns, probabilities, latency shapes, hangs, outages."""

from __future__ import annotations

import pytest

import wfsim
from wfsim import Fault, RetryPolicy

S = 1_000_000_000


def fanout(n: int = 6, **step: object) -> wfsim.Workflow:
    wf = wfsim.Workflow("fanout")
    for i in range(n):
        wf.add_step(f"charge_{i}", duration=1, **step)  # type: ignore[arg-type]
    wf.add_step("notify", duration=1)
    return wf


@pytest.mark.spec("FAULT-5")
def test_patterns_target_every_matching_step() -> None:
    result = wfsim.run(fanout(3), faults=[Fault.error("charge_*", error="Declined")])
    assert {n: s.status for n, s in result.steps.items()} == {
        "charge_0": "failed", "charge_1": "failed", "charge_2": "failed", "notify": "completed",
    }
    injected = result.trace.of_kind("fault_injected")[0]
    assert injected["fault"] == {
        "kind": "error", "error": "Declined", "retryable": True, "at": "start",
        "pattern": "charge_*",
    }
    everything = wfsim.run(fanout(2), faults=[Fault.error("*")])
    assert {s.status for s in everything.steps.values()} == {"failed"}


@pytest.mark.spec("FAULT-5", "FAULT-4")
def test_a_pattern_matching_nothing_is_rejected() -> None:
    with pytest.raises(wfsim.UnknownStepError) as info:
        wfsim.run(fanout(2), faults=[Fault.error("chrge_*")])
    assert str(info.value) == (
        "fault pattern 'chrge_*' matches no step or compensation "
        "(steps: charge_0, charge_1, notify)"
    )


@pytest.mark.spec("FAULT-6", "DET-1", "DET-3")
def test_probability_is_drawn_per_attempt_from_the_faults_stream() -> None:
    wf = fanout(40, retry=RetryPolicy(max_attempts=3, initial_interval=1))
    faults = [Fault.error("charge_*", probability=0.5)]
    first = wfsim.run(wf, seed=11, faults=faults)
    assert wfsim.run(wf, seed=11, faults=faults).digest() == first.digest()
    other = wfsim.run(wf, seed=12, faults=faults)
    assert other.digest() != first.digest()
    attempts = [s.attempts for n, s in first.steps.items() if n.startswith("charge")]
    failures = len(first.trace.of_kind("attempt_failed"))
    tries = sum(attempts)
    assert 0.3 < failures / tries < 0.7  # 40 steps: about half of the attempts fail
    assert first.trace.of_kind("fault_injected")[0]["fault"]["probability"] == 0.5
    never = wfsim.run(wf, seed=11, faults=[Fault.error("charge_*", probability=0.0)])
    assert never.status == "completed" and not never.trace.of_kind("fault_injected")
    always = wfsim.run(wf, seed=11, faults=[Fault.error("charge_*", probability=1)])
    assert {s.attempts for n, s in always.steps.items() if n.startswith("charge")} == {3}


@pytest.mark.spec("FAULT-7", "DET-1")
def test_latency_shapes_draw_within_their_bounds() -> None:
    wf = fanout(20)
    uniform = wfsim.run(wf, seed=3, faults=[Fault.latency("charge_*", uniform=("100ms", "2s"))])
    extras = [e["fault"]["extra"] for e in uniform.trace.of_kind("fault_injected")]
    assert len(extras) == 20 and len(set(extras)) > 10
    assert all(0.1 <= x < 2 for x in extras)
    ends = {a.step: a.ended for n in uniform.steps for a in uniform.trace.attempts(n)}
    for e in uniform.trace.of_kind("fault_injected"):
        assert ends[e.step] == pytest.approx(1 + e["fault"]["extra"])
    assert uniform.trace.of_kind("fault_injected")[0]["fault"]["shape"] == "uniform"
    expo = wfsim.run(wf, seed=3, faults=[Fault.latency("charge_*", exponential="1s")])
    mean = sum(e["fault"]["extra"] for e in expo.trace.of_kind("fault_injected")) / 20
    assert 0.3 < mean < 3
    again = wfsim.run(wf, seed=3, faults=[Fault.latency("charge_*", exponential="1s")])
    assert again.digest() == expo.digest()


@pytest.mark.spec("FAULT-7")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"exactly one of extra=, uniform=\(low, high\) or exponential=mean"),
        ({"extra": 1, "exponential": 1}, "exactly one of"),
        ({"uniform": (2, 1)}, "needs low <= high"),
    ],
)
def test_bad_latency_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.latency("s", **kwargs)


@pytest.mark.spec("FAULT-8", "RETRY-5")
def test_a_hung_attempt_ends_only_by_its_timeout() -> None:
    calls: list[int] = []
    wf = wfsim.Workflow("hang")

    @wf.step(timeout=5, retry=RetryPolicy(max_attempts=2, initial_interval=1))
    async def fetch(ctx: wfsim.StepContext) -> None:
        calls.append(ctx.attempt)
        await ctx.sleep(1)

    result = wfsim.run(wf, faults=[Fault.hang("fetch", attempts=[1])])
    assert calls == [2]  # the hung attempt's code never ran
    timed_out = result.trace.of_kind("attempt_timed_out")
    assert [(e.attempt, e.t) for e in timed_out] == [(1, 5.0)]
    assert result.status == "completed" and result.makespan == 7


@pytest.mark.spec("FAULT-8", "TIME-5")
def test_a_hang_without_timeout_ends_the_run_timed_out_naming_the_step() -> None:
    wf = fanout(1)
    result = wfsim.run(wf, faults=[Fault.hang("charge_0")], time_limit="1h")
    assert result.status == "timed_out"
    assert "'charge_0' (attempt 1 hung by an injected fault since t=0s)" in result.message


@pytest.mark.spec("FAULT-9")
def test_an_outage_fails_every_attempt_that_starts_inside_its_window() -> None:
    wf = wfsim.Workflow("outage")
    policy = RetryPolicy(max_attempts=10, initial_interval=1, backoff_coefficient=1)
    wf.add_step("call_api", duration=0.5, retry=policy)
    wf.add_step("other", duration=0.5)
    result = wfsim.run(wf, faults=[Fault.outage("call_*", start=0, end=3.5)])
    attempts = result.trace.attempts("call_api")
    assert [(a.started, a.outcome) for a in attempts] == [
        (0.0, "failed"), (1.0, "failed"), (2.0, "failed"), (3.0, "failed"), (4.0, "succeeded"),
    ]
    assert result.steps["other"].status == "completed"
    fault = result.trace.of_kind("fault_injected")[0]["fault"]
    assert fault == {
        "kind": "outage", "error": "ServiceUnavailable", "retryable": True,
        "start": 0.0, "end": 3.5, "pattern": "call_*",
    }


@pytest.mark.spec("FAULT-9")
def test_outage_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="an outage must end after it starts"):
        Fault.outage("x", start=5, end=5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"probability": 1.5}, "fault probability must be a number from 0 to 1, not 1.5"),
        ({"probability": True}, "fault probability must be a number from 0 to 1"),
    ],
)
def test_bad_probability(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.error("s", **kwargs)


def test_a_fault_needs_a_target() -> None:
    with pytest.raises(ValueError, match="a fault needs a step name or pattern"):
        Fault.error("")


@pytest.mark.spec("FAULT-1", "FAULT-4")
@pytest.mark.parametrize("latency_first", [True, False])
def test_a_start_failure_preempts_latency_and_hangs_of_the_same_attempt(
    latency_first: bool,
) -> None:
    wf = wfsim.Workflow("w")
    wf.add_step("a", duration=1, retry=RetryPolicy(max_attempts=2, initial_interval=1))
    latency = [Fault.latency("a", extra=5, attempts=[1]), Fault.hang("a", attempts=[1])]
    error = [Fault.error("a", attempts=[1])]
    result = wfsim.run(wf, faults=latency + error if latency_first else error + latency)
    assert [e["fault"]["kind"] for e in result.trace.of_kind("fault_injected")] == ["error"]
    assert result.makespan == 2
