"""Whatever a file holds, loading it gives a Scenario or one ScenarioError, and a file
that loads runs to a run status (SCN-10).

CI runs about 2,700 documents (1,000 loaded only, 1,700 loaded and run: ~30 s of CPU);
``--hypothesis-profile=nightly`` ten times as many.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import os
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from tests.scenario.schema_documents import SchemaDocuments
from wfsim._core._engine import Engine
from wfsim._core._run import RUN_STATUSES
from wfsim.scenario import Scenario, ScenarioError, load_scenario_text, run_scenario, schema
from wfsim.scenario._yaml import read_yaml

#: 10x under --hypothesis-profile=nightly (tests/conftest.py), as the property suite.
SCALE = 10 if settings().max_examples >= 1000 else 1
FUZZ = settings(
    max_examples=int(os.environ.get("WFSIM_FUZZ_EXAMPLES", "200")) * SCALE,
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


# -- load and run: a file that loads runs to a run status (issue 13) -------------------------
#
# Documents come from three sources: the JSON Schema itself (schema_documents.py), the
# shipped scenarios with some values replaced by values drawn from the schema at that
# field, and the shipped scenarios mutated without regard to the schema (wrong types,
# NaN, infinities, huge and negative numbers, bad durations, unicode, deep nesting,
# aliases, alias bombs, duplicate keys). Each either fails to load with a ScenarioError
# or loads and runs to a run status, its expectations checked and its report written:
# anything else is a crash. ``python -m pytest tests/scenario/test_fuzz.py -s`` prints
# the counts; ``--hypothesis-profile=nightly`` runs ten times as many.

REPO = pathlib.Path(__file__).resolve().parents[2]
#: Where fuzzed documents "live": the repository root, so python: targets import.
FUZZ_FILE = str(REPO / "fuzz.wfsim.yaml")
RUNS = settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
#: A run that records more events than this is cut short (max_attempts: 10**20 with a
#: 1 ns interval is a valid file that runs for days): counted, not a crash.
EVENT_BUDGET = 3_000
COUNTS: collections.Counter[str] = collections.Counter()
DOCS = SchemaDocuments(schema())


class _OverBudget(BaseException):
    """Raised by the engine's recorder past EVENT_BUDGET (a BaseException: nothing catches it)."""


@contextlib.contextmanager
def _event_budget() -> Iterator[None]:
    original = Engine.record

    def record(self: Engine, *args: Any, **kwargs: Any) -> None:
        if len(self.events) >= EVENT_BUDGET:
            raise _OverBudget
        original(self, *args, **kwargs)

    Engine.record = record  # type: ignore[method-assign]
    try:
        yield
    finally:
        Engine.record = original  # type: ignore[method-assign]


def _event(name: str) -> None:
    with contextlib.suppress(InvalidArgument):  # outside a Hypothesis test: nothing to record
        event(name)


def _over_budget(exc: BaseException) -> bool:
    """Whether ``exc`` is the budget's stop (raised in a step's task, trio groups it)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_over_budget(e) for e in exc.exceptions)
    return isinstance(exc, _OverBudget)


def load_and_run(text: str) -> str:
    """What became of ``text``: ``clean error``, ``ran`` or ``over budget``; else it raises."""
    COUNTS["documents"] += 1
    try:
        scenario = load_scenario_text(text, FUZZ_FILE)
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith(f"{FUZZ_FILE}:"), message
        assert "\n" not in message.rstrip("\n") or message.count("\n") == 0, message
        assert "bug in wfsim" not in message, message  # the loader's last-resort wrapper
        COUNTS["clean errors"] += 1
        _event("clean error")
        return "clean error"
    try:
        with _event_budget():
            run = run_scenario(scenario)
    except BaseException as exc:
        if not _over_budget(exc):
            raise
        COUNTS["loaded, over the event budget"] += 1
        _event("over budget")
        return "over budget"
    assert run.result.status in RUN_STATUSES, run.result.status
    if not run.passed:
        assert run.report()
    json.dumps(run.to_json())
    run.result.trace.format()
    COUNTS["loaded and run"] += 1
    _event("ran")
    return "ran"


#: libyaml's emitter when PyYAML has it: five times faster than the pure-Python one.
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=1000)


def _shipped() -> list[tuple[Any, list[tuple[Any, ...]]]]:
    """The shipped scenarios and this file's three, as data, with every path into each."""
    out = []
    for path in sorted((REPO / "scenarios").glob("*.wfsim.yaml")):
        data, _ = read_yaml(path.read_text(), str(path))
        out.append(data)
    out += [VALID_DATA, SIGNALS_DATA, GROUPS_DATA]
    return [(data, list(paths(data))[1:]) for data in out]


SHIPPED = _shipped()


@st.composite
def schema_spliced(draw: st.DrawFn) -> Any:
    """A shipped scenario with one to three values replaced by values the schema allows there."""
    original, all_paths = draw(st.sampled_from(SHIPPED))
    data = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(all_paths))
        if draw(st.booleans()):  # or a field the schema names that the file leaves out
            names = DOCS.property_names(path[:-1])
            if names:
                path = (*path[:-1], draw(st.sampled_from(names)))
        node = DOCS.at(path)
        parent = _parent(data, path, new=True)
        if node is None or parent is None:
            continue
        value = draw(DOCS.values(node, str(path[-1])))
        parent[path[-1]] = value
    return data


def _parent(data: Any, path: tuple[Any, ...], *, new: bool = False) -> Any:
    """The mapping or list holding ``path``'s value (``new``: or that may take it); else None."""
    parent = data
    try:
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, list) or not new:
            parent[path[-1]]
    except (KeyError, IndexError, TypeError):
        return None
    return parent if isinstance(parent, dict | list) else None


#: Values no schema allows where they land: the numbers and strings that broke runs.
NASTY = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        10**30,
        -(10**30),
        -1,
        0,
        1e308,
        -0.0,
        2**63,
        "30m1h",
        "-1s",
        "1e400s",
        "1e-400s",
        "\u0663s",  # an Arabic-indic digit three
        "\uff11s",  # a fullwidth digit one
        "1_000s",
        "0x10",
        " 1 s ",
        "1S",
        "",
        "\u202e",
        "\U0001f642",
        "caf\u00e9",
        "a\x00b",
        "<= -1s",
        ">= nan",
        "a < a",
        "a <",
        "tests.scenario.flows:nope",
        "completed",
    ]
)


#: Stands in for nesting too deep to build as data: replaced by brackets in the text.
DEEP = "__wfsim_fuzz_deep__"


def _nested(value: Any, depth: int) -> Any:
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _bomb(levels: int) -> Any:
    value: Any = ["lol"] * 10
    for _ in range(levels):
        value = [value] * 10  # the same list ten times: safe_dump writes anchors and aliases
    return value


@st.composite
def mutated_hard(draw: st.DrawFn) -> str:
    """A shipped scenario mutated past its schema, as YAML text (aliases, duplicates too)."""
    original, all_paths = draw(st.sampled_from(SHIPPED))
    data = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(all_paths))
        parent = _parent(data, path)
        if parent is None:
            continue
        key = path[-1]
        action = draw(
            st.sampled_from(
                ["drop", "rename", "nasty", "retype", "nest", "deep", "alias", "bomb", "swap"]
            )
        )
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = parent.pop(key)
        elif action == "nasty":
            parent[key] = draw(NASTY)
        elif action == "retype":
            parent[key] = draw(json_values)
        elif action == "nest":
            parent[key] = _nested(parent[key], draw(st.integers(1, 120)))
        elif action == "deep":  # nesting written as text: past what a recursive composer takes
            parent[key] = DEEP
        elif action == "alias":  # another part of the same document, by reference
            other = _parent(data, draw(st.sampled_from(all_paths)))
            if other is not None and other is not parent:
                parent[key] = other
        elif action == "bomb":
            parent[key] = _bomb(draw(st.integers(2, 7)))
        elif action == "swap" and isinstance(parent[key], list | dict):
            parent[key] = list(parent[key]) if isinstance(parent[key], dict) else {
                str(i): v for i, v in enumerate(parent[key])
            }
    try:
        text = _dump(data)
    except (yaml.YAMLError, RecursionError):  # an alias made a loop safe_dump cannot write
        text = _dump(original)
    if DEEP in text:
        depth = draw(st.sampled_from([101, 102, 1_000, 40_000]))
        text = text.replace(DEEP, "[" * depth + "]" * depth)
    if draw(st.booleans()):  # repeat one key's line in its mapping
        lines = text.splitlines(keepends=True)
        keyed = [i for i, line in enumerate(lines) if re.match(r"\s*[\w-]+:", line)]
        if keyed:
            i = draw(st.sampled_from(keyed))
            lines.insert(i + 1, lines[i])
            text = "".join(lines)
    return text


@pytest.mark.spec("SCN-10")
@settings(RUNS, max_examples=300 * SCALE)
@given(DOCS.document())
def test_documents_from_the_schema_load_and_run_or_fail_cleanly(value: Any) -> None:
    load_and_run(_dump(value))


@pytest.mark.spec("SCN-10")
@settings(RUNS, max_examples=700 * SCALE)
@given(schema_spliced())
def test_shipped_scenarios_with_schema_values_load_and_run_or_fail_cleanly(value: Any) -> None:
    load_and_run(_dump(value))


@pytest.mark.spec("SCN-10")
@settings(RUNS, max_examples=700 * SCALE)
@given(mutated_hard())
def test_mutated_shipped_scenarios_load_and_run_or_fail_cleanly(text: str) -> None:
    load_and_run(text)


@pytest.mark.spec("SCN-10")
def test_every_shipped_scenario_loads_and_runs() -> None:
    for data, _ in SHIPPED:
        assert load_and_run(_dump(data)) == "ran"


def teardown_module() -> None:
    if COUNTS["documents"]:
        crashes = 0  # a crash fails its test instead of being counted
        print(f"\nfuzz: {dict(COUNTS)}, crashes: {crashes}")
