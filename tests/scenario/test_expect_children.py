"""SCN-9: expectations name child workflows, and a body's uncalled steps never started."""

from __future__ import annotations

from typing import Any

import pytest

import wfsim
from wfsim import Fault
from wfsim.scenario._expect import ExpectationFailure, check_expectations


async def work(ctx: wfsim.StepContext, what: str) -> str:
    await ctx.sleep(1)
    return what


@wfsim.workflow
async def billing(ctx: wfsim.WorkflowContext, inp: Any) -> str:
    billed: str = await ctx.step(work, "billed", name="charge")
    return billed


@wfsim.workflow
async def shipping(ctx: wfsim.WorkflowContext, inp: Any) -> str:
    shipped: str = await ctx.step(work, "shipped", name="ship")
    return shipped


@wfsim.workflow
async def order(ctx: wfsim.WorkflowContext, inp: Any) -> list[str]:
    """billing (child) at 0-1s, shipping (child) at 1-2s, notify at 2-3s; with
    ``inp["refund"]`` (never in these tests) a refund step the body never calls."""
    done = [await ctx.child(billing, inp), await ctx.child(shipping, inp)]
    if inp.get("refund"):
        done.append(await ctx.step(work, "refunded", name="refund"))
    done.append(await ctx.step(work, "notified", name="notify"))
    return done


@pytest.fixture(scope="module")
def good() -> wfsim.RunResult:
    result = wfsim.run(order, input={})
    assert result.status == "completed"
    return result


@pytest.fixture(scope="module")
def bad() -> wfsim.RunResult:
    """billing/charge fails: the billing child fails at 1s, shipping never starts."""
    result = wfsim.run(order, input={}, faults=[Fault.error("billing/charge", at="end")])
    assert result.status == "failed"
    return result


def only(failures: list[ExpectationFailure]) -> ExpectationFailure:
    assert len(failures) == 1, failures
    return failures[0]


@pytest.mark.spec("SCN-9")
def test_order_and_step_lists_read_child_workflows(good: wfsim.RunResult) -> None:
    holds: dict[str, Any] = {
        "order": ["billing < shipping < notify", "billing/charge < shipping/ship"],
        "completed": ["billing", "shipping", "shipping/ship"],
        "trace_contains": [
            {"kind": "child_started", "step": "shipping", "t": 1},
            {"kind": "child_completed", "step": "billing", "t": 1},
        ],
    }
    assert check_expectations(holds, good, workflow=order) == []
    failure = only(check_expectations({"order": ["shipping < billing"]}, good))
    assert failure.message == (
        "expected shipping to complete before billing started, "
        "but billing started at t=0s and shipping completed at t=2s"
    )
    assert [line.split("] ")[1] for line in failure.trace_lines] == [
        '#1 child_started billing workflow="billing" args=[[{}], {}]',
        "#12 child_completed shipping",
    ]
    failure = only(check_expectations({"failed": ["billing"]}, good))
    assert failure.message == "expected billing to fail, but it completed"


@pytest.mark.spec("SCN-9")
def test_a_failed_child_and_one_that_never_started(bad: wfsim.RunResult) -> None:
    holds = {"failed": ["billing", "billing/charge"], "never_started": ["notify"]}
    assert check_expectations(holds, bad, workflow=order) == []
    failure = only(check_expectations({"completed": ["billing"]}, bad, workflow=order))
    assert failure.message == "expected billing to complete, but it failed (InjectedError)"
    assert failure.trace_lines[-1].endswith(
        'child_failed billing error="InjectedError" message="injected InjectedError"'
    )
    failure = only(check_expectations({"never_started": ["billing"]}, bad, workflow=order))
    assert failure.message == "expected billing never to start, but it started at t=0s"
    # A child name is a name: a misspelt one is still an unknown name, with a hint.
    failure = only(check_expectations({"order": ["biling < billing/charge"]}, bad))
    assert failure.message == (
        "workflow 'order' has no step or child workflow 'biling': did you mean 'billing'?"
    )


@pytest.mark.spec("SCN-9")
def test_expectations_about_attempts_do_not_take_a_child(good: wfsim.RunResult) -> None:
    failure = only(check_expectations({"attempts": {"billing": 1}}, good))
    assert failure.message == (
        "'billing' is a child workflow of 'order', which attempts does not read; "
        "name its steps (billing/STEP)"
    )
    assert check_expectations({"attempts": {"billing/charge": 1}}, good) == []


@pytest.mark.spec("SCN-9")
def test_never_started_takes_a_step_an_imperative_body_never_called(
    good: wfsim.RunResult,
) -> None:
    assert "refund" not in good.steps
    assert check_expectations({"never_started": ["refund"]}, good, workflow=order) == []
    # A step the body did call and start is still reported.
    failure = only(
        check_expectations({"never_started": ["refund", "notify"]}, good, workflow=order)
    )
    assert failure.message == "expected notify never to start, but it started at t=2s"
    # Without the body (or for a DAG), an unknown name is still a mistake.
    failure = only(check_expectations({"never_started": ["refund"]}, good))
    assert failure.message.startswith("workflow 'order' has no step or child workflow 'refund'")
    dag = wfsim.Workflow("dag")
    dag.add_step("a", duration=1)
    failure = only(check_expectations({"never_started": ["b"]}, wfsim.run(dag), workflow=dag))
    assert failure.message == "workflow 'dag' has no step 'b'"


@pytest.mark.spec("SCN-9", "DET-1")
def test_child_expectations_read_a_deterministic_trace(good: wfsim.RunResult) -> None:
    again = wfsim.run(order, input={})
    assert again.trace.digest() == good.trace.digest()
