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


ALL_PATHS = list(paths(VALID_DATA))[1:]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(VALID_DATA)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
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
def test_the_unmutated_document_loads() -> None:
    assert isinstance(load_scenario_text(VALID), Scenario)
    assert isinstance(load_scenario_text(dump(VALID_DATA)), Scenario)


@pytest.mark.spec("SCN-10")
@FUZZ
@given(mutated())
def test_mutated_scenarios(data: Any) -> None:
    must_load_or_fail_cleanly(dump(data))


@pytest.mark.spec("SCN-10")
@FUZZ
@given(st.data())
def test_text_edits_of_a_valid_scenario(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 10)))
        garbage = data.draw(st.text(alphabet="{}[]:,-&*!|>'\"# \n\tab1.<=~", max_size=6))
        text = text[:start] + garbage + text[end:]
    must_load_or_fail_cleanly(text)
