"""Inline event workflows in scenario files (SCN-14): event types as names with fields."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

import wfsim
from wfsim.scenario import ScenarioError, load_scenario, load_scenario_text, run_scenario

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
SCENARIOS = REPO / "scenarios"
FLOWS = ("parallel_flow", "concurrent_flow_same_type", "concurrent_flow_declared_order")


def load(text: str) -> wfsim.scenario.Scenario:
    return load_scenario_text(textwrap.dedent(text), "inline.wfsim.yaml")


@pytest.mark.spec("SCN-14")
@pytest.mark.parametrize("flow", FLOWS)
def test_inline_flow_gives_the_python_flows_trace_byte_for_byte(
    flow: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the python twin imports examples.llamaindex_flows
    inline = run_scenario(load_scenario(f"scenarios/llamaindex_inline_{flow}.wfsim.yaml"))
    python = run_scenario(load_scenario(f"scenarios/llamaindex_{flow}.wfsim.yaml"))
    assert inline.passed, inline.report()
    assert python.passed, python.report()
    assert inline.result.trace.to_jsonl() == python.result.trace.to_jsonl()
    assert isinstance(inline.scenario.workflow, wfsim.EventWorkflow)


FAN_IN = """
scenario: five equal answers, collected in arrival order
workflow:
  events:
    Ask: [n]
    Answer: [n]
  steps:
    start:
      accepts: StartEvent
      emit: [{event: Ask, fields: {n: 1}}, {event: Ask, fields: {n: 2}},
             {event: Ask, fields: {n: 3}}, {event: Ask, fields: {n: 4}},
             {event: Ask, fields: {n: 5}}]
    answer:
      accepts: Ask
      num_workers: 5
      duration: 1s
      returns: {event: Answer, fields: {n: $ev.n}}
    join:
      accepts: Answer
      collect: [Answer, Answer, Answer, Answer, Answer]
      returns: {event: StopEvent, fields: {result: $collected.n}}
expect:
  status: completed
  makespan: 1s
"""


@pytest.mark.spec("SCN-14")
def test_seeds_pick_arrival_orders_and_each_seed_keeps_its_own() -> None:
    scenario = load(FAN_IN)
    orders = {}
    for seed in range(40):
        first = run_scenario(scenario, seed=seed)
        again = run_scenario(load(FAN_IN), seed=seed)
        assert first.passed, first.report()
        assert first.result.trace.digest() == again.result.trace.digest()
        assert sorted(first.result.result) == [1, 2, 3, 4, 5]
        orders[seed] = tuple(first.result.result)
    assert len(set(orders.values())) > 1


@pytest.mark.spec("SCN-14")
def test_output_context_references_literals_targets_and_buffers() -> None:
    scenario = load(
        """
        scenario: every reference form
        input: {user: ana}
        workflow:
          name: refs
          events:
            Item: {sku: null, qty: 1}
            Audit: [who, note]
            Done: null
          steps:
            start:
              accepts: StartEvent
              output: {owner: $ev.user, price: $$5}
              emit:
                - {event: Item, fields: {sku: a}}
                - {event: Item, fields: {sku: b, qty: 3}, to: pack}
            pack:
              accepts: Item
              returns: {event: Audit, fields: {who: $context.owner, note: [$ev.sku, $ev.qty]}}
            audit:
              accepts: Audit
              collect: [Audit, Audit]
              buffer_id: audits
              output: {notes: $collected.note}
              returns: Done
            finish:
              accepts: Done
              returns: {event: StopEvent, fields: {result: {by: $context.owner, n: $context.notes}}}
        """
    )
    outcome = run_scenario(scenario)
    assert outcome.result.status == "completed", outcome.report()
    assert outcome.result.context["price"] == "$5"
    assert outcome.result.result == {"by": "ana", "n": [["a", 1], ["b", 3]]}
    emitted = [dict(e.fields) for e in outcome.result.trace if e.kind == "event_emitted"]
    assert {"event": "Item", "fields": {"sku": "a", "qty": 1}} in emitted
    # the targeted send is traced with its target
    assert {"event": "Item", "target": "pack", "fields": {"sku": "b", "qty": 3}} in emitted
    collected = [e for e in outcome.result.trace if e.kind == "events_collected"]
    assert [e["buffer"] for e in collected] == ["audits"]


@pytest.mark.spec("SCN-14")
def test_faults_retries_and_timeouts_apply_to_inline_event_steps() -> None:
    scenario = load(
        """
        scenario: a flaky step, retried, under a run timeout
        workflow:
          timeout: 10s
          events:
            Query: [text]
          steps:
            start:
              accepts: StartEvent
              emit: [{event: Query, fields: {text: hi}}]
            answer:
              accepts: Query
              duration: 1s
              retry: {max_attempts: 3, initial_interval: 2s}
              returns: {event: StopEvent, fields: {result: $ev.text}}
        faults:
          - {step: answer, error: ConnectionError, attempts: [1]}
        expect:
          status: completed
          result: hi
          attempts: {answer: 2}
          retry_delays: {answer: [2s]}
          makespan: 3s
        """
    )
    outcome = run_scenario(scenario)
    assert outcome.passed, outcome.report()
    slow = load(
        """
        scenario: the run's timeout ends a slow step
        workflow:
          timeout: 2s
          events: {Query: null}
          steps:
            start: {accepts: StartEvent, emit: [Query]}
            answer: {accepts: Query, duration: 5s, returns: StopEvent}
        expect: {status: timed_out, makespan: 2s}
        """
    )
    outcome = run_scenario(slow)
    assert outcome.passed, outcome.report()


@pytest.mark.spec("SCN-14")
def test_without_a_stop_event_the_run_waits_for_its_timeout_like_llamaindex() -> None:
    scenario = load(
        """
        scenario: nothing returns a StopEvent
        workflow:
          timeout: 1m
          events: {Query: null}
          steps:
            start: {accepts: StartEvent, emit: [Query]}
            answer: {accepts: Query, duration: 1s}
        """
    )
    result = run_scenario(scenario).result
    assert (result.status, result.makespan) == ("timed_out", 60.0)
    assert "no step returned a StopEvent" in result.message


@pytest.mark.spec("SCN-14")
def test_defaults_fill_missing_fields_and_builtins_take_any_fields() -> None:
    scenario = load(
        """
        scenario: defaults
        workflow:
          events:
            Item: {qty: 1, tags: [x]}
          steps:
            start: {accepts: StartEvent, returns: Item}
            stop:
              accepts: Item
              returns: {event: StopEvent, fields: {result: [$ev.qty, $ev.tags], note: extra}}
        """
    )
    result = run_scenario(scenario).result
    assert result.status == "completed"
    assert result.result == [1, ["x"]]


@pytest.mark.spec("SCN-14")
def test_a_dag_with_a_typo_in_events_key_is_told_the_closest_key() -> None:
    with pytest.raises(ScenarioError, match="did you mean 'events'"):
        load(
            """
            scenario: typo
            workflow:
              event: {A: null}
              steps:
                s: {duration: 1s}
            """
        )
