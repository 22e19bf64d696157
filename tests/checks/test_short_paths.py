"""The oracles' short paths answer exactly as their general paths would (ORACLE-1).

Some oracles skip work where nothing can go wrong (fault_effects for an attempt that
recorded no fault and owes none), remember answers (trigger_rules' verdicts) or look
things up in tables (shape). Each is compared here with the general way, on engine runs
of drawn workflows and fault plans and on the same traces tampered with (events dropped,
copied, swapped, renamed, renumbered, fields changed): the oracles never trust a trace.
"""

from __future__ import annotations

import gc
import itertools
from unittest import mock

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

import wfsim
from wfsim import strategies as wst
from wfsim._core._trace import EVENT_KINDS
from wfsim._core._trigger import TRIGGER_RULES, UpstreamCounts, evaluate
from wfsim._core._workflow import Step
from wfsim.checks._faults import (
    _assign,
    _attempt,
    _failed_without_fault,
    _max_matching,
    _orphan_faults,
    _refused,
    _unfaulted,
    _work_time,
    fault_effects,
)
from wfsim.checks._index import Attempt, Run, _outcome
from wfsim.checks._ordering import _last_before, terminal_states
from wfsim.checks._retries import retries
from wfsim.checks._shape import _ATTEMPT_KINDS, _COMPENSATION_KINDS, _NAMES, _STEP_KINDS
from wfsim.checks._trigger import _verdict
from wfsim.checks._violation import Violation

S = 1_000_000_000

#: Workflows of every kind, with plans of every fault kind (with and without probability).
CASES = wst.workflows_with_faults(
    st.one_of(
        wst.workflows(max_steps=8),
        wst.workflows(max_steps=6, compensations=True, max_concurrency=True),
        wst.workflows(max_steps=5, code_steps=True, timeouts=True),
        wst.workflows(max_steps=6, trigger_rules=True, parallel_groups=True, compensations=True),
    ),
    max_faults=4,
    kinds=wst.FAULT_KINDS,
)
KINDS = sorted(EVENT_KINDS | {"later_kind"})
KEYS = ["fault", "error", "cause", "retryable", "timeout", "for_step", "upstream_failed", "x"]
VALUES = [None, True, False, 0, 2, 0.5, "ConnectionError", "CircuitOpenError", {"kind": "error"}]
#: Faults a record may or may not describe (kinds, errors, probabilities, patterns).
ANY_FAULTS = [
    wfsim.Fault.error("s*", probability=0.5),
    wfsim.Fault.error("s*", error="Unavailable", retryable=False),
    wfsim.Fault.error("x", at="end"),
    wfsim.Fault.latency("x", extra=1),
    wfsim.Fault.latency("x", uniform=(0.5, 1.5)),
]
OPS = ["drop", "copy", "swap", "shift", "attempt", "step", "kind", "field", "renumber", "retry"]


@st.composite
def runs(draw: DrawFn) -> Run:
    """An engine run of a drawn case, as it is or tampered with."""
    (workflow, faults), seed = draw(CASES), draw(st.integers(0, 2**16))
    events = list(wfsim.run(workflow, faults=faults, seed=seed).trace)
    for _ in range(draw(st.integers(0, 4))):
        if not events:
            break
        i = draw(st.integers(0, len(events) - 1))
        op = draw(st.sampled_from(OPS))
        e = events[i]
        if op == "renumber":  # every event of one attempt: a whole attempt numbered otherwise
            number = draw(st.sampled_from([0, 2, 3]))
            events = [
                attrs.evolve(x, attempt=number)
                if x.step == e.step and x.attempt == e.attempt and x.attempt is not None
                else x
                for x in events
            ]
        elif op == "retry":  # a retry scheduled after the event, whatever it was
            fields = {"delay": 0.5, "next_attempt": (e.attempt or 0) + 1}
            events.insert(i + 1, attrs.evolve(e, kind="retry_scheduled", fields=fields))
        elif op == "drop":
            del events[i]
        elif op == "copy":
            events.insert(draw(st.integers(0, len(events))), e)
        elif op == "swap":
            j = draw(st.integers(0, len(events) - 1))
            events[i], events[j] = events[j], e
        elif op == "shift":
            events[i] = attrs.evolve(e, t_ns=max(0, e.t_ns + draw(st.sampled_from([-S, -1, 1]))))
        elif op == "attempt":
            events[i] = attrs.evolve(e, attempt=draw(st.sampled_from([None, 0, 1, 2, 9])))
        elif op == "step":
            names = sorted({str(x.step) for x in events})
            events[i] = attrs.evolve(e, step=draw(st.sampled_from([None, "nope", *names])))
        elif op == "kind":
            events[i] = attrs.evolve(e, kind=draw(st.sampled_from(KINDS)))
        else:
            key, value = draw(st.sampled_from(KEYS)), draw(st.sampled_from(VALUES))
            events[i] = attrs.evolve(e, fields={**e.fields, key: value})
    return Run.of(workflow, faults, events)


def every_attempt_judged(run: Run) -> list[Violation]:
    """fault_effects the general way: every attempt not refused goes through ``_attempt``
    with every fault naming its step."""
    out: list[Violation] = []
    refused = _refused(run)
    for name, attempts in run.attempts.items():
        definition = run.definition(name)
        if definition is None and run.dag:
            continue
        matching = [f for f in run.faults if f.matches(name)]
        for attempt in attempts:
            if (name, attempt.number, attempt.start.seq) not in refused:
                out.extend(_attempt(run, attempt, definition, matching))
    return out + _orphan_faults(run)


@pytest.mark.spec("ORACLE-1")
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs())
def test_fault_effects_judges_each_attempt_as_the_general_path_does(run: Run) -> None:
    assert fault_effects(run) == every_attempt_judged(run)


@pytest.mark.spec("ORACLE-1")
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs())
def test_an_attempts_outcome_is_the_one_its_end_event_says(run: Run) -> None:
    for attempts in run.attempts.values():
        for attempt in attempts:
            assert attempt.outcome == (None if attempt.end is None else _outcome(attempt.end))


@pytest.mark.spec("ORACLE-1")
def test_the_remembered_verdicts_are_evaluates() -> None:
    for rule in TRIGGER_RULES:
        for total in range(4):
            for s, f, k in itertools.product(range(total + 2), repeat=3):
                expected = evaluate(rule, UpstreamCounts(total, s, f, k))
                assert _verdict(rule, total, s, f, k) == expected, (rule, total, s, f, k)


def named_the_general_way(kind: str) -> str | None:
    """What shape's TRACE-2 check wants an event of ``kind`` to name, as an if-chain."""
    if kind not in _STEP_KINDS and kind not in _ATTEMPT_KINDS and kind not in _COMPENSATION_KINDS:
        return None
    if kind in _COMPENSATION_KINDS:
        return "compensation"
    if kind in ("fault_injected", "retry_scheduled", "step_cancelled"):
        return "either"
    return "step"


@pytest.mark.spec("ORACLE-1")
@pytest.mark.parametrize("kind", KINDS)
def test_shape_knows_what_each_kind_names(kind: str) -> None:
    assert _NAMES.get(kind) == named_the_general_way(kind)


@pytest.mark.spec("ORACLE-1")
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs())
def test_terminal_states_judge_a_trace_in_order_as_one_out_of_order(run: Run) -> None:
    seqs = [e.seq for e in run.trace]
    assert run.in_order() == all(a < b for a, b in itertools.pairwise(seqs))
    short = terminal_states(run)
    run._in_order = False  # the general path: every event of a step compared by seq
    assert terminal_states(run) == short


@pytest.mark.spec("ORACLE-1")
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs())
def test_the_last_attempt_before_an_event_is_found_the_short_way(run: Run) -> None:
    for attempts in run.attempts.values():
        for e in run.trace:
            before = [a for a in attempts if a.start.seq < e.seq]
            assert _last_before(attempts, e) is (before[-1] if before else None)


@pytest.mark.spec("ORACLE-1")
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs())
def test_retries_judge_a_step_done_at_once_as_the_general_path_does(run: Run) -> None:
    short = retries(run)
    with mock.patch("wfsim.checks._retries._done_at_once", return_value=False):
        assert retries(run) == short


def unfaulted_the_general_way(attempt: Attempt, definition: Step | None) -> list[Violation]:
    """What _attempt's steps conclude for an attempt with no fault recorded or owed."""
    end = attempt.end
    if end is None or definition is None:
        return []
    out: list[Violation] = []
    if attempt.outcome != "timed_out":
        out.extend(_work_time(attempt, definition, 0, end))
    if attempt.outcome == "failed" and definition.fn is None:
        out.append(_failed_without_fault(attempt, end))
    return out


@pytest.mark.spec("ORACLE-1")
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs())
def test_an_attempt_without_faults_is_judged_as_the_general_path_does(run: Run) -> None:
    for name, attempts in run.attempts.items():
        definition = run.definition(name)
        for attempt in attempts:
            expected = unfaulted_the_general_way(attempt, definition)
            assert _unfaulted(attempt, definition) == expected


@pytest.mark.spec("ORACLE-1")
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs(), st.data())
def test_a_lone_record_of_a_lone_fault_is_assigned_as_the_matching_does(
    run: Run, data: st.DataObject
) -> None:
    for name, attempts in run.attempts.items():
        matching = [f for f in run.faults if f.matches(name)]
        for attempt in attempts:
            for record in attempt.faults:
                # each fault of the step alone, and one the record may not match
                for fault in [*matching, data.draw(st.sampled_from(ANY_FAULTS))]:
                    assert _assign([record], [fault]) == _max_matching([record], [fault])


@pytest.mark.spec("ORACLE-1")
def test_the_general_matching_leaves_no_reference_cycle() -> None:
    """A recursive closure is a cycle; the matching ran per judged run and kept its
    events alive until a collection (~24 objects a campaign run)."""
    wf = wfsim.Workflow("w")
    wf.add_step("a", duration=1.0, retry=wfsim.RetryPolicy(max_attempts=3))
    plan = [wfsim.Fault.error("a", attempts=[1, 2])]
    result = wfsim.run(wf, seed=0, faults=plan)
    records = [e for e in result.trace if e.kind == "fault_injected"]
    assert len(records) == 2
    gc.collect()
    gc.disable()
    try:
        assigned = _max_matching(records, list(plan) * 2)
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert sorted(assigned) == [0, 1]
