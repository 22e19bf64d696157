"""The real pybreaker beside wfsim's consecutive breaker (issue 17 point 7): the same call
sequence, the same states, the same calls reaching the function, the same errors seen.

Skipped without the ``pybreaker`` extra (``pip install -e ".[pybreaker]"``); CI installs it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pybreaker = pytest.importorskip("pybreaker")

import wfsim  # noqa: E402
from wfsim.checks import check_all  # noqa: E402

RESET = 0.2  # seconds: real sleeps for pybreaker, virtual ones for wfsim

#: semantics.md section 5.1's measured sequence: fail_max=3, success_threshold=2,
#: exclude=[Ignored]; "wait" lets reset_timeout pass.
SEQUENCE = [
    "fail", "fail", "ok", "fail", "ignored", "fail", "fail", "fail", "ok",
    "wait", "fail", "ok", "wait", "ok", "ok", "fail", "ok",
]  # fmt: skip


class Boom(Exception):
    pass


class Ignored(Exception):
    pass


def act(what: str) -> str:
    if what == "fail":
        raise Boom("boom")
    if what == "ignored":
        raise Ignored("ignored")
    return "ok"


def real(throw_new_error_on_trip: bool) -> tuple[list[str], list[str], int]:
    """Each call's outcome as the caller sees it, the state after it, and the calls made."""
    breaker = pybreaker.CircuitBreaker(
        fail_max=3,
        reset_timeout=RESET,
        success_threshold=2,
        exclude=[Ignored],
        throw_new_error_on_trip=throw_new_error_on_trip,
    )
    seen: list[str] = []
    states: list[str] = []
    calls = 0

    def call(what: str) -> str:
        nonlocal calls
        calls += 1
        return act(what)

    for what in SEQUENCE:
        if what == "wait":
            time.sleep(RESET * 1.5)
            continue
        try:
            seen.append(breaker.call(call, what))
        except pybreaker.CircuitBreakerError:
            seen.append("CircuitBreakerError")
        except Exception as exc:
            seen.append(type(exc).__name__)
        states.append(breaker.current_state.replace("-", "_"))
    return seen, states, calls


def simulated(throw_new_error_on_trip: bool) -> tuple[list[str], list[str], int]:
    breaker = wfsim.CircuitBreaker.consecutive(
        "api",
        failure_threshold=3,
        recovery_timeout=RESET,
        success_threshold=2,
        exclude=[Ignored],
        throw_new_error_on_trip=throw_new_error_on_trip,
    )

    async def call(ctx: wfsim.StepContext, what: str) -> str:
        return act(what)

    async def body(ctx: wfsim.WorkflowContext, _: Any) -> list[str]:
        seen: list[str] = []
        for what in SEQUENCE:
            if what == "wait":
                await ctx.sleep(RESET * 1.5)
                continue
            try:
                seen.append(await ctx.step(call, what, name="call", breaker=breaker))
            except wfsim.CircuitOpenError:
                seen.append("CircuitBreakerError")
            except Exception as exc:
                seen.append(type(exc).__name__)
            await ctx.sleep(0.001)
        return seen

    result = wfsim.run(wfsim.ImperativeWorkflow(body, name="calls"))
    state = "closed"
    states: list[str] = []
    for e in result.trace:
        if e.kind == "breaker_state":
            state = str(e["state"])
        elif e.kind in ("attempt_succeeded", "attempt_failed") and e.step and "call" in e.step:
            states.append(state)
    # states after each call: the breaker_state events of a call come before its end
    calls = sum(1 for e in result.trace.of_kind("attempt_started")) - sum(
        1
        for e in result.trace.of_kind("attempt_failed")
        if str(e["message"]).endswith("call refused")
    )
    assert check_all(wfsim.ImperativeWorkflow(body, name="calls"), (), result.trace) == []
    return list(result.result), states, calls


@pytest.mark.spec("BRK-2", "BRK-4")
@pytest.mark.parametrize("throw_new_error_on_trip", [True, False])
def test_pybreaker_and_wfsim_agree_call_by_call(throw_new_error_on_trip: bool) -> None:
    assert simulated(throw_new_error_on_trip) == real(throw_new_error_on_trip)
