"""PLUG-4 / SCN-9: wfsim_trace.expect checks a run against the workflow that made it."""

from __future__ import annotations

from typing import Any

import pytest

import wfsim
from tests.scenario.test_expect_children import billing, work
from wfsim._pytest_plugin import Simulation, TraceAssertions


@wfsim.workflow
async def checkout(ctx: wfsim.WorkflowContext, inp: Any) -> str:
    """A child, then ``refund`` only when asked to (never, here), then ``notify``."""
    await ctx.child(billing, inp)
    if inp and inp.get("refund"):
        await ctx.step(work, "refunded", name="refund")
    done: str = await ctx.step(work, "notified", name="notify")
    return done


@pytest.mark.spec("PLUG-4", "SCN-9")
def test_expect_knows_the_body_and_its_children(
    wfsim_sim: Simulation, wfsim_trace: TraceAssertions
) -> None:
    wfsim_sim.run(checkout, input={})
    wfsim_trace.expect(
        status="completed",
        never_started=["refund"],  # the body never called it
        order=["billing < notify"],  # a child by its name
        completed=["billing", "billing/charge"],
    )
    with pytest.raises(AssertionError, match="expected notify never to start, but it started"):
        wfsim_trace.expect(never_started=["notify"])
    dag = wfsim.Workflow("dag")
    dag.add_step("a", duration=1)
    wfsim_sim.run(dag)  # the latest run is the DAG's: an unknown name is a mistake again
    with pytest.raises(AssertionError, match="workflow 'dag' has no step 'refund'"):
        wfsim_trace.expect(never_started=["refund"])
