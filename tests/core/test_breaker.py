"""Circuit breakers: both strategies through every transition, at exact virtual times."""

from __future__ import annotations

from typing import Any

import pytest

import wfsim
from wfsim import CircuitBreaker, Fault
from wfsim._core._breaker import BreakerRuntime
from wfsim.checks import check_all

S = 1_000_000_000


async def call_api(ctx: wfsim.StepContext, i: int) -> int:
    await ctx.sleep("100ms")
    return i


def poller(breaker: CircuitBreaker, calls: int, fallback: Any = None) -> wfsim.ImperativeWorkflow:
    """Call the API once a second; record each call's outcome."""

    async def body(ctx: wfsim.WorkflowContext, inp: Any) -> list[Any]:
        outcomes: list[Any] = []
        for i in range(calls):
            try:
                outcomes.append(
                    await ctx.step(call_api, i, name="call", breaker=breaker, fallback=fallback)
                )
            except wfsim.CircuitOpenError as exc:  # refused, or the call that tripped it
                outcomes.append("tripped" if str(exc).endswith("opened") else "refused")
            except wfsim.InjectedError as exc:  # the outage's error
                outcomes.append(exc.error_name)
            await ctx.sleep(1)
        return outcomes

    return wfsim.ImperativeWorkflow(body, name="poller")


def transitions(result: wfsim.RunResult) -> list[tuple[float, str, str]]:
    return [(e.t, e["previous"], e["state"]) for e in result.trace.of_kind("breaker_state")]


@pytest.mark.spec("BRK-1", "BRK-2", "BRK-4", "FAULT-9")
def test_consecutive_breaker_through_every_transition() -> None:
    breaker = CircuitBreaker.consecutive(
        "api", failure_threshold=3, recovery_timeout=5, success_threshold=2
    )
    faults = [Fault.outage("call*", start=0, end="4.5s"), Fault.outage("call*", start=9, end=20)]
    result = wfsim.run(poller(breaker, 25), faults=faults)
    assert transitions(result) == [
        (2.0, "closed", "open"),  # 3rd consecutive failure: calls at 0, 1, 2
        (7.0, "open", "half_open"),  # the first call 5 s after opening, lazily
        (8.2, "half_open", "closed"),  # 2nd trial success (7.0-7.1, 8.1-8.2)
        (11.2, "closed", "open"),  # second outage: 9.2, 10.2, 11.2 fail
        (16.2, "open", "half_open"),
        (16.2, "half_open", "open"),  # the trial call fails: open again, timer restarts
        (21.2, "open", "half_open"),
        (22.4, "half_open", "closed"),
    ]
    out = result.result
    # pybreaker's throw_new_error_on_trip (default True): the tripping call and the
    # failed trial raise CircuitOpenError, their own error kept as cause.
    assert out[:9] == ["ServiceUnavailable"] * 2 + ["tripped"] + ["refused"] * 4 + [7, 8]
    assert out[12:17] == ["refused"] * 4 + ["tripped"]
    breaker_errors = [
        e for e in result.trace.of_kind("attempt_failed") if e["error"] == "CircuitOpenError"
    ]
    assert breaker_errors[0].fields == {
        "error": "CircuitOpenError",
        "message": "failures threshold reached, circuit breaker 'api' opened",
        "retryable": True,
        "cause": "ServiceUnavailable",
    }
    assert breaker_errors[0].t == 2.0
    assert breaker_errors[1].fields == {
        "error": "CircuitOpenError",
        "message": "circuit breaker 'api' is open; call refused",
        "retryable": True,
    }
    assert breaker_errors[1].t == 3.0
    trial = [e for e in breaker_errors if e.t == 16.2]
    assert trial[0]["message"] == "trial call failed, circuit breaker 'api' opened"
    # throw_new_error_on_trip=False: the caller sees the step's own error there.
    own = CircuitBreaker.consecutive(
        "api",
        failure_threshold=3,
        recovery_timeout=5,
        success_threshold=2,
        throw_new_error_on_trip=False,
    )
    kept = wfsim.run(poller(own, 25), faults=faults)
    assert kept.result[:9] == ["ServiceUnavailable"] * 3 + ["refused"] * 4 + [7, 8]
    assert kept.result[12:17] == ["refused"] * 4 + ["ServiceUnavailable"]
    assert transitions(kept) == transitions(result)


@pytest.mark.spec("BRK-1", "BRK-3", "BRK-4", "FAULT-9")
def test_rate_breaker_through_every_transition() -> None:
    breaker = CircuitBreaker.rate(
        "api",
        window=4,
        minimum_calls=4,
        failure_rate=0.5,
        recovery_timeout=5,
        half_open_permits=2,
    )
    faults = [Fault.outage("call*", start=0, end=2.5), Fault.outage("call*", start=12, end=19)]
    result = wfsim.run(poller(breaker, 30), faults=faults)
    assert transitions(result) == [
        (3.1, "closed", "open"),  # 4 calls recorded, 3 failed: 75% >= 50%
        (8.1, "open", "half_open"),
        (9.3, "half_open", "closed"),  # 2 permitted trials, both succeeded
        (13.5, "closed", "open"),  # window [ok, ok, fail, fail]: 50% >= 50%
        (18.5, "open", "half_open"),
        (19.6, "half_open", "open"),  # trials: 18.5 failed, 19.5-19.6 ok: 50% >= 50%
        (24.6, "open", "half_open"),
        (25.8, "half_open", "closed"),
    ]


@pytest.mark.spec("BRK-2")
def test_consecutive_runtime_replays_the_pybreaker_demonstration() -> None:
    # specs/sources.md 5: fail_max=3, reset_timeout=0.3 s, success_threshold=2, exclude=[Ignored]
    rt = BreakerRuntime(
        CircuitBreaker.consecutive(
            "demo",
            failure_threshold=3,
            recovery_timeout="300ms",
            success_threshold=2,
            exclude=["Ignored"],
        )
    )
    now = 0
    seen = []
    for step in [
        "fail",
        "fail",
        "ok",
        "fail",
        "ignored",
        "fail",
        "fail",
        "fail",
        "open-call",
        "wait",
        "fail",
        "open-call",
        "wait",
        "ok",
        "ok",
    ]:
        if step == "wait":
            now += 400_000_000
            continue
        allowed, _ = rt.permit(now)
        if not allowed:
            seen.append(("refused", rt.state))
            continue
        outcome = {"fail": True, "ok": False, "ignored": None, "open-call": False}[step]
        rt.record(outcome, now)
        seen.append((step, rt.state, rt.failures, rt.successes))
    assert seen == [
        ("fail", "closed", 1, 0),
        ("fail", "closed", 2, 0),
        ("ok", "closed", 0, 0),  # a success resets the consecutive count
        ("fail", "closed", 1, 0),
        ("ignored", "closed", 0, 0),  # an excluded error counts as a success
        ("fail", "closed", 1, 0),
        ("fail", "closed", 2, 0),
        ("fail", "open", 0, 0),  # the 3rd consecutive failure trips it
        ("refused", "open"),
        ("fail", "open", 0, 0),  # after the timeout: half-open trial fails, open again
        ("refused", "open"),  # the timer restarted at the re-open
        ("ok", "half_open", 0, 1),
        ("ok", "closed", 0, 0),
    ]


@pytest.mark.spec("BRK-3")
def test_rate_half_open_admits_only_its_permits_and_ignores_excluded_errors() -> None:
    rt = BreakerRuntime(
        CircuitBreaker.rate(
            "r",
            window=2,
            minimum_calls=2,
            failure_rate=1.0,
            recovery_timeout=1,
            half_open_permits=2,
            exclude=[KeyError],
        )
    )
    rt.record(None, 0)  # excluded: neither success nor failure
    assert list(rt.outcomes) == []
    rt.record(True, 0)
    rt.record(True, 0)
    assert rt.state == "open"
    assert rt.permit(S) == (True, ["half_open"])
    assert rt.permit(S) == (True, [])
    assert rt.permit(S) == (False, [])  # only 2 permits
    assert rt.record(False, S) == []
    assert rt.record(False, S) == ["closed"]


@pytest.mark.spec("BRK-4", "BRK-5")
def test_fallback_runs_instead_of_a_refused_call() -> None:
    breaker = CircuitBreaker.consecutive("api", failure_threshold=1, recovery_timeout=60)

    async def cached(ctx: wfsim.StepContext, i: int) -> str:
        return f"cached-{i}"

    result = wfsim.run(poller(breaker, 3, fallback=cached), faults=[Fault.error("call")])
    assert result.result == ["tripped", "cached-1", "cached-2"]  # failure_threshold=1 trips
    used = result.trace.of_kind("fallback_used")
    assert [(e.step, e.t, e.fields) for e in used] == [
        ("call:2", 1.0, {"breaker": "api", "state": "open"}),
        ("call:3", 2.0, {"breaker": "api", "state": "open"}),
    ]
    assert result.steps["call:2"].status == "completed"


@pytest.mark.spec("BRK-5")
def test_dag_steps_share_a_breaker_by_name() -> None:
    breaker = CircuitBreaker.consecutive("payments", failure_threshold=2, recovery_timeout=60)
    wf = wfsim.Workflow("shared")
    wf.add_step("charge_a", duration=1, breaker=breaker)
    wf.add_step("charge_b", duration=1, breaker=breaker)
    wf.add_step("gate", duration=2)
    wf.add_step("charge_c", duration=1, breaker=breaker, after=["gate"])
    faults = [Fault.error("charge_a", at="end"), Fault.error("charge_b", at="end")]
    result = wfsim.run(wf, faults=faults)
    assert transitions(result) == [(1.0, "closed", "open")]  # two failures, two steps
    assert result.steps["charge_c"].error == "CircuitOpenError"
    assert result.trace.attempts("charge_c")[0].started == 2.0
    with pytest.raises(wfsim.WorkflowDefinitionError, match="two circuit breakers are named"):
        other = wfsim.Workflow("clash")
        other.add_step("x", breaker=breaker)
        other.add_step("y", breaker=CircuitBreaker.consecutive("payments", failure_threshold=9))
        other.validate()


@pytest.mark.spec("BRK-5")
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CircuitBreaker.consecutive("x", failure_threshold=0), "must be an integer >= 1"),
        (lambda: CircuitBreaker.rate("x", failure_rate=1.5), "failure_rate must be in (0, 1]"),
        (lambda: CircuitBreaker.consecutive(""), "needs a non-empty name"),
        (
            lambda: wfsim.Workflow("w").add_step("s", fallback=lambda c: 1),
            "give the step a breaker",
        ),
        (lambda: wfsim.Workflow("w").add_step("s", breaker="b"), "breaker= takes a wfsim"),
    ],
)
def test_bad_breaker_definitions(make: Any, message: str) -> None:
    with pytest.raises(wfsim.WorkflowDefinitionError) as info:
        make()
    assert message in str(info.value)


@pytest.mark.spec("BRK-4", "DET-1")
def test_breaker_runs_are_deterministic() -> None:
    breaker = CircuitBreaker.rate("api", window=5, minimum_calls=3, recovery_timeout=2)
    faults = [Fault.error("call*", probability=0.5)]
    a = wfsim.run(poller(breaker, 30), faults=faults, seed=9)
    b = wfsim.run(poller(breaker, 30), faults=faults, seed=9)
    assert a.digest() == b.digest()
    assert transitions(a)


@pytest.mark.spec("BRK-3")
def test_an_ignored_error_in_half_open_gives_its_permit_back() -> None:
    """resilience4j's handleThrowable releases an ignored call's permission: window 2, 2
    permits; fail, fail, wait, ignored, ok, ok closes it (it used to stay half-open)."""
    breaker = CircuitBreaker.rate(
        "r4j",
        window=2,
        minimum_calls=2,
        failure_rate=0.5,
        recovery_timeout=5,
        half_open_permits=2,
        exclude=["Ignored"],
    )
    wf = wfsim.Workflow("half_open")
    previous: str | None = None
    for name, duration in [("c1", 1), ("c2", 1), ("pause", 5), ("c3", 1), ("c4", 1), ("c5", 1)]:
        wf.add_step(
            name,
            duration=duration,
            after=[previous] if previous else [],
            trigger_rule="all_done",
            breaker=None if name == "pause" else breaker,
        )
        previous = name
    faults = [
        Fault.error("c1", at="end"),
        Fault.error("c2", at="end"),
        Fault.error("c3", error="Ignored", at="end"),
    ]
    result = wfsim.run(wf, faults=faults)
    assert transitions(result) == [
        (2.0, "closed", "open"),
        (7.0, "open", "half_open"),
        (10.0, "half_open", "closed"),  # c4 and c5 used the two permits; c3 gave its back
    ]
    statuses = [result.steps[s].status for s in ("c3", "c4", "c5")]
    assert statuses == ["failed", "completed", "completed"]
    assert check_all(wf, faults, result.trace) == []
