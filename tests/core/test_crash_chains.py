"""A crash at a recovery instant: the rest of that recovery waits for the next one.

Random crash faults in campaigns (``--swarm``) found both halves: the engine went on
starting the previous crash's lost attempts while it was down again (FAULT-10), and
the retry oracle flagged a retry that fell due during the first outage and started
at the second recovery (RETRY-8).
"""

from __future__ import annotations

import attrs
import pytest

import wfsim
from wfsim.checks import check_all


def chained() -> tuple[wfsim.Workflow, list[wfsim.Fault]]:
    """c crashes at 500ms (down 2s); q's and r's retries fall due meanwhile; at the
    recovery (2.5s) q's retry, due first, crashes again (down 1s)."""
    wf = wfsim.Workflow("chain")
    wf.add_step("x", duration="500ms")
    wf.add_step("c", after=["x"], duration="1s")
    wf.add_step(
        "q", duration="1s", retry=wfsim.RetryPolicy(max_attempts=3, initial_interval="900ms")
    )
    wf.add_step("r", duration="1s", retry=wfsim.RetryPolicy(max_attempts=3, initial_interval="1s"))
    faults = [
        wfsim.Fault.error("q", attempts=[1]),
        wfsim.Fault.error("r", attempts=[1]),
        wfsim.Fault.crash("c", at="before", restart_after="2s"),
        wfsim.Fault.crash("q", at="before", attempts=[2], restart_after="1s"),
    ]
    return wf, faults


def _lines(result: wfsim.RunResult, since: int) -> list[tuple[float, str, str | None, int | None]]:
    return [(e.t_ns / 1e9, e.kind, e.step, e.attempt) for e in result.trace if e.seq >= since]


@pytest.mark.spec("FAULT-10", "FAULT-11")
def test_a_crash_during_a_recovery_hands_the_rest_to_the_next_recovery() -> None:
    wf, faults = chained()
    result = wfsim.run(wf, faults=faults, seed=0)
    (first, second) = result.trace.of_kind("recovered")
    assert (first.t_ns, first.get("resumed")) == (2_500_000_000, ["c"])
    # The second names this crash's lost attempt, then the first one's, not yet resumed.
    assert (second.t_ns, second.get("resumed")) == (3_500_000_000, ["q", "c"])
    assert _lines(result, first.seq) == [
        (2.5, "recovered", None, None),
        (2.5, "attempt_started", "q", 2),  # fell due first (0.9s), crashes at its start
        (2.5, "fault_injected", "q", 2),
        (2.5, "crashed", "q", 2),
        # Nothing while down: r's retry (due 1s) and c's lost attempt wait.
        (3.5, "recovered", None, None),
        (3.5, "attempt_started", "r", 2),
        (3.5, "attempt_started", "q", 3),
        (3.5, "attempt_started", "c", 2),
        (4.5, "attempt_succeeded", "c", 2),
        (4.5, "step_completed", "c", None),
        (4.5, "attempt_succeeded", "r", 2),
        (4.5, "step_completed", "r", None),
        (4.5, "attempt_succeeded", "q", 3),
        (4.5, "step_completed", "q", None),
        (4.5, "run_finished", None, None),
    ]
    assert result.status == "completed"
    assert check_all(wf, faults, result.trace) == []
    assert wfsim.run(wf, faults=faults, seed=0).digest() == result.digest()


@pytest.mark.spec("FAULT-11", "RETRY-8")
def test_a_retry_due_while_down_may_start_at_any_recovery_of_a_chain_and_no_later() -> None:
    wf, faults = chained()
    result = wfsim.run(wf, faults=faults, seed=0)
    assert [v.rule for v in check_all(wf, faults, result.trace)] == []
    # r's attempt 2 started at the second recovery, 2.5s after it fell due: accepted.
    # Moved half a second later, when the engine had been up, it is late.
    events = [
        attrs.evolve(e, t_ns=4_000_000_000)
        if (e.kind, e.step, e.attempt) == ("attempt_started", "r", 2)
        else e
        for e in result.trace
    ]
    late = check_all(wf, faults, wfsim.Trace(events))
    assert "RETRY-8" in {v.rule for v in late}
