"""SCN-15: circuit breakers, static fallbacks and cache keys in scenario files."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim.errors import ScenarioError
from wfsim.scenario import (
    ContextKey,
    ExpectationFailure,
    StaticFallback,
    check_expectations,
    dump_scenario,
    load_scenario,
    load_scenario_text,
    run_scenario,
)

REPO = pathlib.Path(__file__).parent.parent.parent
OUTAGE = "scenarios/payments_breaker_outage.wfsim.yaml"

SHARED = """\
scenario: shared breaker
errors: [Declined]
workflow:
  steps:
    a:
      duration: 1s
      breaker: {name: payments, strategy: consecutive, failure_threshold: 2,
                success_threshold: 3, recovery_timeout: 30s, exclude: [Declined, KeyError],
                throw_new_error_on_trip: false}
    b: {after: a, breaker: payments, fallback: {output: {b: late}, duration: 2s}}
    c:
      breaker: {strategy: rate, window: 4, minimum_calls: 2, failure_rate: 0.25,
                half_open_permits: 1}
      cache_key: [user, region]
    d: {cache_key: user}
"""


def steps(text: str) -> Mapping[str, wfsim.Step]:
    workflow = load_scenario_text(text).workflow
    assert isinstance(workflow, wfsim.Workflow)
    return workflow.steps


@pytest.mark.spec("SCN-15", "BRK-1", "BRK-2", "BRK-5", "CACHE-2")
def test_the_file_forms_build_what_the_python_api_builds() -> None:
    s = steps(SHARED)
    assert s["a"].breaker == wfsim.CircuitBreaker.consecutive(
        "payments",
        failure_threshold=2,
        success_threshold=3,
        recovery_timeout=30,
        exclude=["Declined", KeyError],
        throw_new_error_on_trip=False,
    )
    assert s["b"].breaker is s["a"].breaker  # shared by name
    assert s["b"].fallback == StaticFallback({"b": "late"}, 2_000_000_000)
    # No name: the breaker is named after its step.
    assert s["c"].breaker == wfsim.CircuitBreaker.rate(
        "c", window=4, minimum_calls=2, failure_rate=0.25, half_open_permits=1
    )
    assert s["c"].cache_key == ContextKey(("user", "region"))
    assert s["d"].cache_key == ContextKey(("user",), single=True)
    assert s["a"].fallback is None and s["a"].cache_key is None


@pytest.mark.spec("SCN-15", "CACHE-2")
def test_a_context_key_reads_the_context_like_a_lambda_would() -> None:
    context = {"user": "ana", "region": {"eu": [1, 2]}}
    assert ContextKey(("user",), single=True)(context) == "ana"
    key = ContextKey(("user", "region", "missing"))(context)
    assert key == ("ana", (("eu", (1, 2)),), None)
    hash(key)  # a cache key must be hashable, whatever the context holds


@pytest.mark.spec("SCN-15", "BRK-2", "BRK-4", "BRK-5")
def test_the_outage_scenario_runs_as_the_same_workflow_built_in_python() -> None:
    scenario = load_scenario(str(REPO / OUTAGE))
    outcome = run_scenario(scenario)
    assert outcome.passed, outcome.report()

    payments = wfsim.CircuitBreaker.consecutive("payments", failure_threshold=3, recovery_timeout=5)

    async def defer(ctx: wfsim.StepContext) -> dict[str, Any]:
        return {"points": "deferred"}

    wf = wfsim.Workflow("checkout_outage")
    wf.add_step(
        "authorize",
        duration=1,
        retry=wfsim.RetryPolicy(max_attempts=10, initial_interval=1, backoff_coefficient=1),
        breaker=payments,
    )
    wf.add_step("quote", duration=3.5, output={"quote": 42})
    wf.add_step(
        "loyalty",
        after="quote",
        duration=0.5,
        output={"points": 42},
        breaker=payments,
        fallback=defer,
    )
    wf.add_step(
        "capture",
        after=["authorize", "loyalty"],
        duration=1,
        output={"captured": True},
        breaker=payments,
    )
    outage = wfsim.Fault.outage("authorize", start=0, end=6)
    result = wfsim.run(wf, faults=[outage])
    assert result.digest() == outcome.result.digest()
    states = [(e.t_ns // 10**9, e["state"]) for e in result.trace.of_kind("breaker_state")]
    assert states == [(2, "open"), (7, "half_open"), (8, "closed")]


@pytest.mark.spec("SCN-15", "SCN-13", "DET-1")
def test_breakers_fallbacks_and_cache_keys_round_trip_digest_for_digest() -> None:
    scenario = load_scenario(str(REPO / OUTAGE))
    first = run_scenario(scenario).result
    text = dump_scenario(
        scenario.workflow, faults=scenario.faults, seed=scenario.seed, expect=scenario.expect
    )
    assert "      breaker: {name: payments, strategy: consecutive, failure_threshold: 3, " in text
    assert "      breaker: payments\n      fallback:\n        output: {points: deferred}\n" in text
    again = run_scenario(load_scenario_text(text))
    assert again.passed, again.report()
    assert again.result.digest() == first.digest()
    # The other forms: a rate breaker, exclusions (a declared name), a fallback that
    # takes time, cache keys; each seed's run and its dump's run agree.
    workflow = load_scenario_text(SHARED).workflow
    assert isinstance(workflow, wfsim.Workflow)
    faults = [wfsim.Fault.error("a", attempts=[1]), wfsim.Fault.error("c", error="Declined")]
    text = dump_scenario(workflow, faults=faults, input={"user": "ana"})
    assert "errors: [Declined]\n" in text
    assert "exclude: [Declined, KeyError]" in text
    assert "      cache_key: [user, region]\n    d: {cache_key: user}\n" in text
    back = load_scenario_text(text).workflow
    assert isinstance(back, wfsim.Workflow)
    assert {n: (s.breaker, s.fallback, s.cache_key) for n, s in back.steps.items()} == {
        n: (s.breaker, s.fallback, s.cache_key) for n, s in workflow.steps.items()
    }
    for seed in range(5):
        run = wfsim.run(workflow, faults=faults, input={"user": "ana"}, seed=seed)
        assert (
            run.digest()
            == wfsim.run(back, faults=faults, input={"user": "ana"}, seed=seed).digest()
        )
        dumped = load_scenario_text(
            dump_scenario(workflow, faults=faults, input={"user": "ana"}, seed=seed)
        )
        assert run_scenario(dumped).result.digest() == run.digest()


@pytest.mark.spec("SCN-15", "SCN-13")
def test_code_a_file_cannot_hold_is_still_refused_by_name() -> None:
    async def later(ctx: wfsim.StepContext) -> None:
        return None

    breaker = wfsim.CircuitBreaker.consecutive("p")
    wf = wfsim.Workflow("coded")
    wf.add_step("a", breaker=breaker, fallback=later)
    with pytest.raises(ScenarioError, match=r"step 'a' has a fallback that runs code .*python="):
        dump_scenario(wf)
    wf = wfsim.Workflow("keyed")
    wf.add_step("a", cache_key=lambda c: c.get("user"))
    with pytest.raises(ScenarioError, match=r"step 'a' caches on a function .*python="):
        dump_scenario(wf)


@pytest.mark.spec("SCN-15", "DET-1")
def test_same_seed_same_digest_in_a_fresh_process() -> None:
    here = run_scenario(load_scenario(str(REPO / OUTAGE))).result.digest()
    out = subprocess.run(
        [sys.executable, "-m", "wfsim", "run", OUTAGE, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert here in out.stdout


@st.composite
def guarded_workflows(draw: st.DrawFn) -> tuple[wfsim.Workflow, list[wfsim.Fault]]:
    """Small DAGs whose steps share two breakers, some with static fallbacks and cache
    keys, under errors and outages that trip them."""
    recovery = st.sampled_from([0, 0.5, 1, 3])
    breakers = [
        wfsim.CircuitBreaker.consecutive(
            "b1",
            failure_threshold=draw(st.integers(1, 3)),
            success_threshold=draw(st.integers(1, 2)),
            recovery_timeout=draw(recovery),
            exclude=draw(st.sampled_from([(), ("KeyError",)])),
            throw_new_error_on_trip=draw(st.booleans()),
        ),
        wfsim.CircuitBreaker.rate(
            "b2",
            window=draw(st.integers(1, 5)),
            minimum_calls=draw(st.integers(1, 5)),
            failure_rate=draw(st.sampled_from([0.25, 0.5, 1.0])),
            recovery_timeout=draw(recovery),
            half_open_permits=draw(st.integers(1, 3)),
            exclude=draw(st.sampled_from([(), ("KeyError",)])),
        ),
    ]
    retry = wfsim.RetryPolicy(max_attempts=4, initial_interval=1, backoff_coefficient=1)
    wf = wfsim.Workflow("guarded")
    names = [f"s{i}" for i in range(draw(st.integers(2, 5)))]
    for i, name in enumerate(names):
        breaker = draw(st.sampled_from([None, *breakers, *breakers]))
        fallback = None
        if breaker is not None and draw(st.booleans()):
            fallback = StaticFallback({name: "fallback"}, draw(st.sampled_from([0, 10**9])))
        wf.add_step(
            name,
            after=draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else (),
            duration=draw(st.sampled_from([0, 0.5, 1])),
            output={name: "done"},
            retry=None if draw(st.integers(0, 2)) == 0 else retry,
            breaker=breaker,
            fallback=fallback,
            cache_key=draw(st.sampled_from([None, ContextKey(("user",), single=True)])),
        )
    faults: list[wfsim.Fault] = []
    for _ in range(draw(st.integers(1, 4))):
        step = draw(st.sampled_from(names))
        if draw(st.booleans()):
            error = draw(st.sampled_from(["InjectedError", "KeyError"]))
            attempts = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4, unique=True))
            faults.append(wfsim.Fault.error(step, attempts=sorted(attempts), error=error))
        else:
            start = draw(st.integers(0, 2))
            faults.append(
                wfsim.Fault.outage(step, start=start, end=start + draw(st.integers(1, 4)))
            )
    return wf, faults


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=guarded_workflows(), seed=st.integers(0, 100))
@pytest.mark.spec("SCN-15", "SCN-13", "BRK-1")
def test_random_guarded_workflows_round_trip_digest_for_digest(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], seed: int
) -> None:
    workflow, faults = case
    result = wfsim.run(workflow, faults=faults, seed=seed, input={"user": "ana"})
    text = dump_scenario(workflow, faults=faults, seed=seed, input={"user": "ana"})
    assert run_scenario(load_scenario_text(text)).result.digest() == result.digest(), text


@pytest.mark.spec("SCN-15", "SCN-9", "BRK-1")
def test_breaker_states_reads_each_breakers_transitions() -> None:
    scenario = load_scenario(str(REPO / OUTAGE))
    result = run_scenario(scenario).result

    def check(value: Any) -> list[ExpectationFailure]:
        return check_expectations({"breaker_states": value}, result, workflow=scenario.workflow)

    assert check({"payments": ["open", "half_open", "closed"]}) == []
    [failure] = check({"payments": ["open", "closed"]})
    assert failure.key == "breaker_states.payments"
    assert failure.message == (
        "expected breaker payments to go open, closed, but it went "
        "open at t=2s, half_open at t=7s, closed at t=8s"
    )
    assert [line.split("] ")[1] for line in failure.trace_lines] == [
        '#14 breaker_state  breaker="payments" state="open" previous="closed"',
        '#37 breaker_state  breaker="payments" state="half_open" previous="open"',
        '#38 breaker_state  breaker="payments" state="closed" previous="half_open"',
    ]
    [failure] = check({"paymnts": []})
    assert failure.message == (
        "workflow 'checkout_outage' has no circuit breaker 'paymnts': did you mean 'payments'?"
    )
    quiet = wfsim.run(scenario.workflow)  # no outage: the breaker stays closed
    assert check_expectations({"breaker_states": {"payments": []}}, quiet) == []
    [failure] = check_expectations({"breaker_states": {"payments": ["open"]}}, quiet)
    assert failure.message == "expected breaker payments to go open, but it never changed state"
    with pytest.raises(
        ValueError, match=r"expect.breaker_states.payments must be a list of states"
    ):
        check({"payments": ["opened"]})
