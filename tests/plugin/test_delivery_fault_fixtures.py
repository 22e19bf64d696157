"""The fixtures inject delivery faults: ``wfsim_faults.drop/duplicate/delay`` (FAULT-20, PLUG-4)."""

from __future__ import annotations

import textwrap

import pytest

import wfsim.scenario  # noqa: F401  # imported here so pytester's inline runs reuse it
from wfsim import Fault
from wfsim._pytest_plugin import FaultPlan

WORKFLOWS = """\
import wfsim


class Item(wfsim.Event):
    pass


def relay():
    wf = wfsim.EventWorkflow("relay", timeout=100)

    @wf.step(accepts=wfsim.StartEvent)
    async def first(ctx, ev):
        await ctx.sleep(1)
        return Item(n=1)

    @wf.step(accepts=Item)
    async def finish(ctx, ev):
        await ctx.sleep(1)
        return wfsim.StopEvent(result="done")

    return wf


@wfsim.workflow(signals=["approval"])
async def approval(ctx, request):
    try:
        return await ctx.wait_for_signal("approval", timeout="1h")
    except wfsim.errors.SignalTimeoutError:
        return "timed out"
"""


@pytest.mark.spec("FAULT-20", "PLUG-4")
def test_the_fault_plan_chains_delivery_faults() -> None:
    plan = (
        FaultPlan()
        .drop(signal="approval", occurrences=[1])
        .duplicate(event="Item", copies=2, probability=0.5)
        .delay(event="Item*", uniform=(1, 2))
        .delay(signal="approval", by="5m")
    )
    assert list(plan) == [
        Fault.drop(signal="approval", occurrences=[1]),
        Fault.duplicate(event="Item", copies=2, probability=0.5),
        Fault.delay(event="Item*", uniform=(1, 2)),
        Fault.delay(signal="approval", by="5m"),
    ]
    with pytest.raises(ValueError, match="exactly one of event="):
        FaultPlan().drop()


@pytest.mark.spec("FAULT-20", "FAULT-21", "FAULT-23", "PLUG-4")
def test_fixtures_run_with_delivery_faults_in_a_pytest_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(user_workflows=WORKFLOWS)
    pytester.makepyfile(
        test_wf=textwrap.dedent(
            """\
            from user_workflows import approval, relay


            def test_a_delayed_event(wfsim_sim, wfsim_faults):
                wfsim_faults.delay(event="Item", by=5)
                result = wfsim_sim.run(relay())
                assert (result.status, result.makespan) == ("completed", 7)


            def test_a_dropped_event(wfsim_sim, wfsim_faults):
                wfsim_faults.drop(event="Item")
                assert wfsim_sim.run(relay()).status == "timed_out"


            def test_a_dropped_signal(wfsim_sim, wfsim_faults):
                wfsim_faults.drop(signal="approval")
                wfsim_sim.signal("approval", at="10m", payload="yes")
                assert wfsim_sim.run(approval).result == "timed out"


            def test_a_duplicated_then_delayed_signal(wfsim_sim, wfsim_faults):
                wfsim_faults.duplicate(signal="approval").delay(signal="approval", by="5m")
                wfsim_sim.signal("approval", at="10m", payload="yes")
                result = wfsim_sim.run(approval)
                assert (result.result, result.makespan) == ("yes", 900)
                kinds = [e.kind for e in result.trace if e.kind == "signal_received"]
                assert kinds == ["signal_received", "signal_received"]


            def test_a_typo_is_reported(wfsim_sim, wfsim_faults):
                wfsim_faults.drop(event="Iten")
                wfsim_sim.run(relay())
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        ["*drop fault on event 'Iten': unknown event type 'Iten' *did you mean 'Item'?*"]
    )


@pytest.mark.spec("FAULT-20", "PLUG-1")
def test_a_scenario_file_with_a_delivery_fault_is_a_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(user_workflows=WORKFLOWS)
    (pytester.path / "relay.wfsim.yaml").write_text(
        textwrap.dedent(
            """\
            scenario: the relay's Item arrives 5s late
            workflow: {python: "user_workflows:relay"}
            faults:
              - {event: Item, delay: 5s}
            expect:
              status: completed
              makespan: 7s
            """
        )
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*the relay's Item arrives 5s late PASSED*"])
