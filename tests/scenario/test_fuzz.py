"""Whatever a file holds, loading it gives a Scenario or one ScenarioError (SCN-10)."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfsim.scenario import Scenario, ScenarioError, load_scenario_text

FUZZ = settings(
    max_examples=int(os.environ.get("WFSIM_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

VALID = """\
scenario: order saga retries the payment
description: the payment provider drops the first connection
seed: 1
workflow:
  name: purchase
  max_concurrency: 4
  saga: {register: before, parallel: false, on_error: continue}
  steps:
    reserve_inventory: {duration: 1s, output: {reserved: true}, compensate: release_inventory}
    charge_payment:
      after: [reserve_inventory]
      duration: 2s
      retry: {max_attempts: 3, initial_interval: 1s, backoff_coefficient: 2, jitter: full}
      timeout: 30s
      compensate:
        name: refund_payment
        duration: 300ms
        output: {refunded: true}
        retry: {profile: temporal, maximum_attempts: 2}
        timeout: 1s
    pack: ~
    ship_order: {after: [charge_payment, pack], duration: 1s, retry: {profile: celery}}
errors: [ShippingUnavailable]
faults:
  - {step: charge_payment, attempts: [1], error: ConnectionError}
  - {step: ship_order, error: ShippingUnavailable, retryable: false, at: end}
  - {step: ship_order, latency: 500ms}
  - {step: refund_payment, error: KeyError, attempts: [1]}
  - {step: "charge_*", latency: {uniform: [100ms, 2s]}, probability: 0.3}
  - {step: "*", latency: {exponential: 1s}, attempts: [2]}
  - {step: pack, hang: true, probability: 0.5}
  - {step: "ship_*", outage: {start: 10s, end: 1m, error: ConnectionError, retryable: false}}
input: {order: 7}
settings: {time_limit: 1d, epoch: 2026-01-01T00:00:00Z, max_concurrency: 2}
expect:
  status: completed
  order: [reserve_inventory < charge_payment < ship_order]
  attempts: {charge_payment: 2}
  retry_delays: {charge_payment: [1s]}
  makespan: "<= 5.5s"
  completed: [ship_order]
  compensations: []
  trace_contains: [{kind: attempt_failed, step: charge_payment}]
"""
VALID_DATA: dict[str, Any] = yaml.safe_load(VALID)
VALID_DATA["settings"]["epoch"] = "2026-01-01T00:00:00Z"  # safe_load made it a datetime

# A @wfsim.workflow body with declared signals (tests/scenario/flows.py).
SIGNALS = """\
scenario: a request approved by a person
seed: 2
workflow: {python: "tests.scenario.flows:approval", max_concurrency: 1}
input: {id: r1}
signals:
  - {at: 30m, name: cancel}
  - {at: 2h, name: approval, payload: {approved: true, by: ana}}
faults:
  - {step: "proc*", latency: 1s, probability: 0.5, attempts: [1]}
  - {step: notify, latency: 1s}
expect:
  status: completed
  result: {processed: r1}
  signals_received: [cancel, approval]
"""
SIGNALS_DATA: dict[str, Any] = yaml.safe_load(SIGNALS)

# Trigger rules and parallel groups (SCN-4, SCN-12).
GROUPS = """\
scenario: Ruvon parallel checks and a Cloacina aggregator
workflow:
  name: orders
  steps:
    validate_order: {output: {valid: true}}
    checks:
      after: validate_order
      trigger_rule: all_success
      parallel:
        tasks:
          inventory: {duration: 1s, output: {stock: 3, meta: {a: 1}}}
          payment:
            duration: 1.5s
            output: {paid: true, meta: {b: 2}}
            retry: {max_attempts: 2, initial_interval: 100ms}
            timeout: 10s
          fraud: ~
        merge: deep
        on_conflict: prefer_existing
        allow_partial_success: true
        timeout: 1m
    aggregate: {after: [checks], trigger_rule: all_done, duration: 500ms}
    join: {after: [aggregate, checks], trigger_rule: none_failed_min_one_success}
faults:
  - {step: checks/payment, error: ConnectionError, attempts: [1]}
  - {step: "checks/*", latency: 100ms}
expect:
  status: completed
  merged: {checks: [stock, paid, meta]}
  attempts: {checks: 1, checks/payment: 2}
  order: [validate_order < checks/inventory < aggregate]
  completed: [checks/fraud, join]
"""
GROUPS_DATA: dict[str, Any] = yaml.safe_load(GROUPS)

# Names a mutation may use: the real keys, near misses, and noise.
KEYS = [
    "scenario",
    "seed",
    "workflow",
    "steps",
    "after",
    "duration",
    "retry",
    "profile",
    "faults",
    "step",
    "error",
    "latency",
    "attempts",
    "expect",
    "makespan",
    "settings",
    "epoch",
    "python",
    "max_attempts",
    "jitter",
    "timeout",
    "output",
    "errors",
    "input",
    "status",
    "order",
    "sed",
    "durations",
    "",
    "<<",
    "charge_payment",
    "ship_order",
    "compensate",
    "name",
    "saga",
    "register",
    "parallel",
    "on_error",
    "compensations",
    "refund_payment",
    "release_inventory",
    "probability",
    "hang",
    "outage",
    "start",
    "end",
    "uniform",
    "exponential",
    "signals",
    "payload",
    "at",
    "signals_received",
    "approval",
    "result",
    "trigger_rule",
    "parallel",
    "tasks",
    "merge",
    "on_conflict",
    "allow_partial_success",
    "merged",
    "checks",
    "checks/payment",
    "inventory",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "1s",
            "-1s",
            "250ms",
            "2 sec",
            "1e999999d",
            "nan",
            "<= 10s",
            "=< 1s",
            "a < b",
            "",
            "ConnectionError",
            "tests.scenario.flows:purchase",
            "tests.scenario.flows:nope",
            "completed",
            "celery",
            "full",
            "end",
            "2026-01-01",
            "x:y",
            "refund_payment",
            "before",
            "continue",
            "charge_*",
            "*",
            "[",
            "approval",
            "aproval",
            "tests.scenario.flows:approval",
            "tests.scenario.flows:fan_out",
            "tests.scenario.flows:not_decorated",
            "all_done",
            "all_sucess",
            "none_failed_min_one_success",
            "shallow",
            "deep",
            "SHALLOW",
            "prefer_existing",
            "PREFER_OLD",
            "raise",
            "checks/payment",
            "checks/*",
            "a/b",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def must_load_or_fail_cleanly(text: str) -> None:
    try:
        result = load_scenario_text(text, "fuzz.wfsim.yaml")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.wfsim.yaml:"), str(exc)
        assert "bug in wfsim" not in str(exc), str(exc)  # the last-resort wrapper fired
        return
    assert isinstance(result, Scenario)


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


@pytest.mark.spec("SCN-10")
@FUZZ
@given(json_values)
def test_random_documents(value: Any) -> None:
    must_load_or_fail_cleanly(dump(value))


@pytest.mark.spec("SCN-10")
@FUZZ
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    must_load_or_fail_cleanly(text)


@pytest.mark.spec("SCN-10")
@FUZZ
@given(st.text(alphabet="{}[]:,-&*!?|>'\"#%@` \n\tab1.<=", max_size=120))
def test_yaml_punctuation_soup(text: str) -> None:
    must_load_or_fail_cleanly(text)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from paths(sub, (*prefix, i))


DOCUMENTS = [
    (VALID_DATA, list(paths(VALID_DATA))[1:]),
    (SIGNALS_DATA, list(paths(SIGNALS_DATA))[1:]),
    (GROUPS_DATA, list(paths(GROUPS_DATA))[1:]),
]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    original, all_paths = draw(st.sampled_from(DOCUMENTS))
    data = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(all_paths))
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced it
        key = path[-1]
        action = draw(st.sampled_from(["drop", "retype", "rename", "insert"]))
        if action == "drop":
            del parent[key]
        elif action == "retype":
            parent[key] = draw(json_values)
        elif action == "rename" and isinstance(parent, dict):
            new = draw(st.sampled_from(KEYS) | st.text(max_size=8))
            parent[new] = parent.pop(key)
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = draw(json_values)
        else:
            parent.insert(draw(st.integers(0, len(parent))), draw(json_values))
    return data


@pytest.mark.spec("SCN-10")
def test_the_unmutated_documents_load() -> None:
    for text, data in ((VALID, VALID_DATA), (SIGNALS, SIGNALS_DATA), (GROUPS, GROUPS_DATA)):
        assert isinstance(load_scenario_text(text), Scenario)
        assert isinstance(load_scenario_text(dump(data)), Scenario)


@pytest.mark.spec("SCN-10")
@FUZZ
@given(mutated())
def test_mutated_scenarios(data: Any) -> None:
    must_load_or_fail_cleanly(dump(data))


@pytest.mark.spec("SCN-10")
@FUZZ
@given(st.data())
def test_text_edits_of_a_valid_scenario(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from([VALID, SIGNALS, GROUPS]))
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 10)))
        garbage = data.draw(st.text(alphabet="{}[]:,-&*!|>'\"# \n\tab1.<=~", max_size=6))
        text = text[:start] + garbage + text[end:]
    must_load_or_fail_cleanly(text)
