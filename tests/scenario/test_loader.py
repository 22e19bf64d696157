"""Loading valid scenario files: the workflow, faults and settings they describe."""

from __future__ import annotations

import datetime as dt
import pathlib
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

import wfsim
from tests.scenario import flows
from wfsim._core._trigger import TRIGGER_RULES
from wfsim.scenario import (
    Locations,
    Scenario,
    ScenarioError,
    load_scenario,
    load_scenario_text,
    run_scenario,
)
from wfsim.scenario import schema as scenario_schema
from wfsim.scenario._yaml import read_yaml

HERE = pathlib.Path(__file__).parent
REPO = HERE.parent.parent
VALID = sorted((HERE / "valid").glob("*.wfsim.yaml"))

S = 1_000_000_000  # ns per second


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # python: workflows import tests.scenario.flows from here


def load_valid(name: str) -> Scenario:
    return load_scenario(f"tests/scenario/valid/{name}.wfsim.yaml")


def text(body: str) -> Scenario:
    return load_scenario_text("scenario: t\n" + body)


# -- SCN-1: the document --------------------------------------------------------------------------
@pytest.mark.spec("SCN-1", "SCN-4", "SCN-5", "SCN-7", "SCN-8", "SCN-9")
def test_the_spec_example_loads_into_engine_objects() -> None:
    sc = load_valid("01_spec_example")
    assert sc.path == "tests/scenario/valid/01_spec_example.wfsim.yaml"
    assert sc.title == "order saga retries the payment"
    assert sc.description == "the payment provider drops the first connection"
    assert sc.seed == 1
    wf = sc.workflow
    assert (wf.name, wf.max_concurrency) == ("purchase", 4)
    assert list(wf.steps) == ["reserve_inventory", "charge_payment", "ship_order"]
    reserve, charge, ship = wf.steps.values()
    assert reserve.duration_ns == 1 * S
    assert reserve.output == {"reserved": True}
    assert charge.after == ("reserve_inventory",)
    assert charge.retry == wfsim.RetryPolicy(
        max_attempts=3, initial_interval=1, backoff_coefficient=2
    )
    assert charge.timeout_ns == 30 * S
    assert ship.after == ("charge_payment",)
    assert sc.errors == ("ShippingUnavailable",)
    assert sc.faults == (
        wfsim.Fault.error("charge_payment", attempts=[1], error=ConnectionError),
        wfsim.Fault.latency("ship_order", extra="500ms"),
    )
    assert sc.faults[0].error_type is ConnectionError
    assert sc.time_limit_ns == 86400 * S
    assert sc.epoch == wfsim.DEFAULT_EPOCH
    assert sc.input == {}
    assert sc.expect == {
        "status": "completed",
        "order": ["reserve_inventory < charge_payment < ship_order"],
        "attempts": {"charge_payment": 2},
        "retry_delays": {"charge_payment": ["1s"]},
        "makespan": "5.5s",
    }


@pytest.mark.spec("SCN-1", "SCN-8")
def test_defaults() -> None:
    sc = load_scenario_text("scenario: minimal\nworkflow: {steps: {only: ~}}\n")
    assert (sc.title, sc.description, sc.seed, sc.input, sc.errors) == ("minimal", "", 0, {}, ())
    assert sc.faults == ()
    assert sc.expect == {}
    assert sc.time_limit_ns == 30 * 86400 * S
    assert sc.epoch == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert sc.workflow.name == "scenario"  # no file name to take it from
    assert sc.workflow.max_concurrency is None


@pytest.mark.spec("SCN-1")
def test_the_loaded_scenario_runs() -> None:
    sc = load_valid("01_spec_example")
    result = wfsim.run(
        sc.workflow,
        seed=sc.seed,
        input=sc.input,
        faults=sc.faults,
        time_limit=f"{sc.time_limit_ns}ns",
        epoch=sc.epoch,
    )
    assert result.status == "completed"
    assert result.makespan == 5.5
    assert result.steps["charge_payment"].attempts == 2


# -- SCN-3: durations -----------------------------------------------------------------------------
@pytest.mark.spec("SCN-3", "SCN-4")
def test_every_duration_form_and_step_shape() -> None:
    sc = load_valid("02_durations_and_shapes")
    steps = sc.workflow.steps
    assert {name: step.duration_ns for name, step in steps.items()} == {
        "start": 0,
        "fetch": 250_000_000,
        "parse": 120 * S,
        "index": 3600 * S,
        "archive": 86400 * S,
        "tick": 100_000,
        "blink": 5,
        "plain_seconds": 3 * S,
        "fractional_seconds": 250_000_000,
    }
    assert steps["fetch"].timeout_ns == 1_500_000_000
    assert steps["start"].output is None  # a null step: no duration, no output
    assert steps["fetch"].after == ("start",)  # after given as a string
    assert steps["index"].after == ("fetch", "parse")
    assert steps["index"].output == {"indexed": True, "count": 3}
    assert sc.time_limit_ns == 2 * 86400 * S
    assert sc.epoch == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)  # a date is midnight UTC


@pytest.mark.spec("SCN-3")
@pytest.mark.parametrize(
    ("written", "ns"),
    [
        ("250ms", 250_000_000),
        ("1.5s", 1_500_000_000),
        ("2m", 120 * S),
        ("1h", 3600 * S),
        ("1d", 86400 * S),
        ("0.1", 100_000_000),
        ("7", 7 * S),
        ("'10'", 10 * S),
        ("3us", 3000),
        ("1e3ms", S),
    ],
)
def test_duration(written: str, ns: int) -> None:
    sc = text(f"workflow: {{steps: {{a: {{duration: {written}}}}}}}\n")
    assert sc.workflow.steps["a"].duration_ns == ns


# -- SCN-4: inline workflows ----------------------------------------------------------------------
@pytest.mark.spec("SCN-4")
def test_workflow_name_defaults_to_the_file_name(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "orders.wfsim.yaml"
    path.write_text("scenario: t\nworkflow: {steps: {a: ~}}\n")
    assert load_scenario(path).workflow.name == "orders"
    assert load_scenario(str(path)).path == str(path)


@pytest.mark.spec("SCN-4")
def test_steps_keep_declaration_order() -> None:
    names = [f"s{i}" for i in (5, 3, 9, 1, 7)]
    body = "".join(f"    {n}: ~\n" for n in names)
    assert list(text("workflow:\n  steps:\n" + body).workflow.steps) == names


@pytest.mark.spec("SCN-4", "SCN-8")
def test_settings_max_concurrency_overrides_the_workflows() -> None:
    sc = text("workflow: {max_concurrency: 4, steps: {a: ~}}\nsettings: {max_concurrency: 2}\n")
    assert sc.workflow.max_concurrency == 2
    sc = text("workflow: {max_concurrency: 4, steps: {a: ~}}\nsettings: {max_concurrency: null}\n")
    assert sc.workflow.max_concurrency is None


@pytest.mark.spec("SCN-2", "SCN-4")
def test_anchors_aliases_and_merge_keys() -> None:
    sc = load_valid("06_anchors")
    steps = sc.workflow.steps
    policy = wfsim.RetryPolicy(max_attempts=3, initial_interval=1)
    assert steps["first"].duration_ns == S
    assert steps["second"].duration_ns == S
    assert steps["second"].retry == policy
    assert steps["second"].after == ("first",)
    assert steps["third"].duration_ns == 5 * S  # the mapping's own key wins over the merge
    assert steps["fourth"].retry == policy
    # A merged key's line is where it is written: in the anchored mapping.
    assert sc.locations.line(("workflow", "steps", "second", "duration")) == 4
    assert sc.locations.line(("workflow", "steps", "third", "duration")) == 10


# -- SCN-5: retry policies ------------------------------------------------------------------------
@pytest.mark.spec("SCN-5")
def test_retry_policies_and_profiles() -> None:
    sc = load_valid("03_retry_profiles")
    retry = {name: step.retry for name, step in sc.workflow.steps.items()}
    assert retry == {
        "native": wfsim.RetryPolicy(
            max_attempts=4,
            initial_interval="500ms",
            backoff_coefficient=3,
            max_interval=10,
            min_interval="100ms",
            jitter="equal",
            non_retryable=["ValueError"],
        ),
        "listed": wfsim.RetryPolicy(max_attempts=0, delays=[1, 2, 5]),
        "celery": wfsim.RetryPolicy.celery(max_retries=5, retry_backoff=2, retry_backoff_max=60),
        "prefect": wfsim.RetryPolicy.prefect(retries=3, retry_delay_seconds=[1, 10, 100]),
        "tenacity": wfsim.RetryPolicy.tenacity(stop_after_attempt=5, multiplier=1, max=10, min=2),
        "pyworkflow": wfsim.RetryPolicy.pyworkflow(
            max_retries=5, retry_delay=1, retry_backoff=2, max_retry_delay=60
        ),
        "temporal": wfsim.RetryPolicy.temporal(
            initial_interval=2, maximum_attempts=3, non_retryable_error_types=["KeyError"]
        ),
    }
    assert sc.seed == 42
    assert sc.workflow.max_concurrency == 3


# -- SCN-6: python workflows ----------------------------------------------------------------------
@pytest.mark.spec("SCN-6")
def test_python_workflow_from_a_function() -> None:
    sc = load_valid("05_python_workflow")
    assert sc.workflow.name == "purchase"
    assert list(sc.workflow.steps) == ["reserve_inventory", "charge_payment", "ship_order"]
    assert sc.workflow.max_concurrency == 1
    assert sc.input == {"order_id": 1}
    result = wfsim.run(sc.workflow, input=sc.input, faults=sc.faults)
    assert (result.status, result.makespan) == ("completed", 5.0)


@pytest.mark.spec("SCN-6")
def test_python_workflow_object_is_shared_unless_overridden() -> None:
    sc = text("workflow: {python: 'tests.scenario.flows:purchase'}\n")
    assert sc.workflow is flows.purchase
    sc = text(
        "workflow: {python: 'tests.scenario.flows:purchase'}\nsettings: {max_concurrency: 2}\n"
    )
    assert sc.workflow is not flows.purchase
    assert sc.workflow.max_concurrency == 2
    assert flows.purchase.max_concurrency is None  # the module's workflow is left alone


@pytest.mark.spec("SCN-6")
def test_python_module_next_to_the_scenario_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "wfsim_scn_neighbour.py").write_text(
        "import wfsim\nwf = wfsim.Workflow('neighbour')\nwf.add_step('only', duration=2)\n"
    )
    path = tmp_path / "n.wfsim.yaml"
    path.write_text("scenario: t\nworkflow: {python: 'wfsim_scn_neighbour:wf'}\n")
    sc = load_scenario(path)
    assert sc.workflow.name == "neighbour"
    assert sc.workflow.steps["only"].duration_ns == 2 * S


@pytest.mark.spec("SCN-6")
def test_python_imports_leave_sys_path_as_it_was(tmp_path: pathlib.Path) -> None:
    (tmp_path / "wfsim_scn_leak.py").write_text(
        "import wfsim\nclass Boom(Exception):\n    pass\n"
        "wf = wfsim.Workflow('leak')\nwf.add_step('only', duration=1)\n"
    )
    path = tmp_path / "leak.wfsim.yaml"
    path.write_text(
        "scenario: t\nworkflow: {python: 'wfsim_scn_leak:wf'}\n"
        "faults: [{step: only, error: 'wfsim_scn_leak:Boom'}]\n"
    )
    before = list(sys.path)
    sc = load_scenario(path)
    assert sc.workflow.name == "leak"
    assert before == sys.path  # neither the file's directory nor the cwd stays behind
    with pytest.raises(ScenarioError, match="cannot import module 'wfsim_scn_leak_not'"):
        load_scenario_text("scenario: t\nworkflow: {python: 'wfsim_scn_leak_not:wf'}\n")
    assert before == sys.path


@pytest.mark.spec("SCN-6")
@pytest.mark.parametrize(
    ("config", "package_dir"),
    [
        ("pyproject.toml", ""),
        ("setup.cfg", ""),
        ("tox.ini", ""),
        ("pyproject.toml", "src"),  # [tool.pytest.ini_options] pythonpath = ["src"]
        ("pytest.ini", "src"),
        ("setup.cfg", "src"),
    ],
)
def test_python_references_resolve_from_the_scenarios_rootdir(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, config: str, package_dir: str
) -> None:
    project = tmp_path / "project"
    package = f"wfsim_scn_root_{config.replace('.', '_')}_{package_dir or 'top'}"
    code = project / package_dir / package
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    (code / "flows.py").write_text(
        "import wfsim\nwf = wfsim.Workflow('rooted')\nwf.add_step('a')\n"
    )
    section = {
        "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
        "pytest.ini": "[pytest]\npythonpath = src\n",
        "setup.cfg": "[tool:pytest]\npythonpath = src\n",
        "tox.ini": "[pytest]\npythonpath = src\n",
    }[config]
    (project / config).write_text(section if package_dir else "")
    scenarios = project / "scenarios" / "deep"
    scenarios.mkdir(parents=True)
    path = scenarios / "x.wfsim.yaml"
    path.write_text(f"scenario: t\nworkflow: {{python: '{package}.flows:wf'}}\n")
    monkeypatch.chdir(tmp_path)  # another directory, as `wfsim run project/scenarios/...`
    before = list(sys.path)
    assert load_scenario(path).workflow.name == "rooted"
    assert before == sys.path


@pytest.mark.spec("SCN-6")
def test_python_imperative_workflow() -> None:
    sc = load_valid("10_imperative_signals")
    assert isinstance(sc.workflow, wfsim.ImperativeWorkflow)
    assert sc.workflow is not flows.approval  # max_concurrency: 2 overrides on a copy
    assert sc.workflow.max_concurrency == 2
    assert flows.approval.max_concurrency is None
    assert (sc.workflow.name, sc.workflow.signals) == ("approval", ("approval", "cancel"))
    assert sc.workflow.fn is flows.approval.fn


@pytest.mark.spec("SCN-6")
def test_python_imperative_workflow_object_or_function() -> None:
    assert text("workflow: {python: 'tests.scenario.flows:fan_out'}\n").workflow is flows.fan_out
    assert text("workflow: {python: 'tests.scenario.flows:build_fan_out'}\n").workflow is (
        flows.fan_out
    )
    sc = text(
        "workflow: {python: 'tests.scenario.flows:fan_out'}\nsettings: {max_concurrency: 1}\n"
    )
    assert sc.workflow.max_concurrency == 1
    outcome = run_scenario(sc)
    assert (outcome.result.status, outcome.result.makespan) == ("completed", 6.0)


@pytest.mark.spec("SCN-6")
def test_python_imperative_workflow_takes_no_saga() -> None:
    with pytest.raises(ScenarioError) as info:
        text("workflow: {python: 'tests.scenario.flows:approval', saga: {parallel: true}}\n")
    assert str(info.value) == (
        "<string>:2: workflow.saga: 'saga' is for inline workflows; "
        "a python workflow brings its own"
    )


@pytest.mark.spec("SCN-6")
def test_a_function_returning_a_coroutine_is_not_a_workflow(tmp_path: pathlib.Path) -> None:
    (tmp_path / "wfsim_scn_coroutine.py").write_text(
        "async def body(ctx, request):\n    pass\n\ndef make():\n    return body(None, None)\n"
    )
    path = tmp_path / "c.wfsim.yaml"
    path.write_text("scenario: t\nworkflow: {python: 'wfsim_scn_coroutine:make'}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}:2: workflow.python: 'wfsim_scn_coroutine:make' returned a coroutine; expected a "
        "wfsim.Workflow, a @wfsim.workflow function, a wfsim.EventWorkflow, or a function of no "
        "arguments returning one"
    )


@pytest.mark.spec("SCN-6")
def test_python_event_workflow_object_or_function() -> None:
    sc = text("workflow: {python: 'tests.scenario.flows:rag'}\n")
    assert sc.workflow is flows.rag
    assert isinstance(sc.workflow, wfsim.EventWorkflow)
    built = text("workflow: {python: 'tests.scenario.flows:build_rag'}\n").workflow
    assert isinstance(built, wfsim.EventWorkflow)
    assert built is not flows.rag
    assert list(built.event_steps) == ["fan_out", "answer", "combine"]


@pytest.mark.spec("SCN-6", "SCN-9")
def test_python_event_workflow_runs_and_its_expectations_hold() -> None:
    sc = text(
        "workflow: {python: 'tests.scenario.flows:rag'}\n"
        "input: {queries: [x, y]}\n"
        "expect:\n"
        "  status: completed\n"
        "  result: [X, Y]\n"
        "  makespan: 2s\n"
        "  order: [answer < answer:2 < combine:2]\n"
        "  completed: [fan_out, answer, answer:2, combine, combine:2]\n"
        "  attempts: {answer: 1, answer:2: 1}\n"
        "  trace_contains:\n"
        "    - {kind: event_emitted, step: fan_out, event: Query, fields: {text: x}}\n"
        "    - {kind: event_delivered, step: answer:2, event: Query, t: 0s}\n"
        "    - {kind: events_collected, step: combine:2, events: [Answer, Answer], t: 2s}\n"
    )
    outcome = run_scenario(sc)
    assert outcome.passed, outcome.report()
    assert outcome.result.result == ["X", "Y"]


@pytest.mark.spec("SCN-6", "SCN-9")
def test_python_event_workflow_expectation_that_fails_names_the_invocation() -> None:
    sc = text(
        "workflow: {python: 'tests.scenario.flows:rag'}\n"
        "expect:\n"
        "  result: [B, A]\n"
        "  attempts: {answer:3: 1}\n"
    )
    outcome = run_scenario(sc)
    assert [f.key for f in outcome.failures] == ["result", "attempts.answer:3"]
    assert "answer:2" in outcome.failures[1].message


@pytest.mark.spec("SCN-6", "SCN-7")
def test_python_event_workflow_faults_target_invocations() -> None:
    sc = text(
        "workflow: {python: 'tests.scenario.flows:rag'}\n"
        "faults:\n"
        "  - {step: 'answer:2', error: ConnectionError, attempts: [1]}\n"
        "  - {step: 'not_a_step_yet', latency: 1s}\n"
        "expect: {status: completed, attempts: {answer: 1, answer:2: 2}, makespan: 3s}\n"
    )
    outcome = run_scenario(sc)
    assert outcome.passed, outcome.report()


@pytest.mark.spec("SCN-6")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "workflow: {python: 'tests.scenario.flows:rag', max_concurrency: 2}\n",
            "<string>:2: workflow.max_concurrency: 'tests.scenario.flows:rag' is an event "
            "workflow (a wfsim.EventWorkflow), which takes no max_concurrency; bound each "
            "step's concurrent invocations with @wf.step(num_workers=...) instead",
        ),
        (
            "workflow: {python: 'tests.scenario.flows:rag'}\nsettings: {max_concurrency: 1}\n",
            "<string>:3: settings.max_concurrency: 'tests.scenario.flows:rag' is an event "
            "workflow (a wfsim.EventWorkflow), which takes no max_concurrency; bound each "
            "step's concurrent invocations with @wf.step(num_workers=...) instead",
        ),
        (
            "workflow: {python: 'tests.scenario.flows:rag', saga: {parallel: true}}\n",
            "<string>:2: workflow.saga: 'saga' is for inline workflows; "
            "a python workflow brings its own",
        ),
    ],
)
def test_python_event_workflow_takes_no_concurrency_limit_or_saga(body: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        text(body)
    assert str(info.value) == message
    assert flows.rag.max_concurrency is None


@pytest.mark.spec("SCN-6", "SCN-11")
def test_python_event_workflow_takes_no_signals() -> None:
    with pytest.raises(ScenarioError) as info:
        text(
            "workflow: {python: 'tests.scenario.flows:rag'}\n"
            "signals:\n  - {name: approval, at: 1s}\n"
        )
    assert str(info.value) == (
        "<string>:3: signals: 'tests.scenario.flows:rag' is an event workflow (a "
        "wfsim.EventWorkflow), whose steps receive events, not signals; they go to a "
        "@wfsim.workflow body that waits for them (ctx.wait_for_signal), named with 'python'"
    )
    assert text("workflow: {python: 'tests.scenario.flows:rag'}\nsignals: []\n").signals == ()


@pytest.mark.spec("SCN-6")
def test_an_invalid_python_event_workflow_is_an_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "wfsim_scn_events.py").write_text(
        "import wfsim\n\nclass Other(wfsim.Event):\n    pass\n\n"
        "wf = wfsim.EventWorkflow('stray')\n\n"
        "@wf.step(accepts=Other)\nasync def only(ctx, ev):\n    return None\n"
    )
    path = tmp_path / "e.wfsim.yaml"
    path.write_text("scenario: t\nworkflow: {python: 'wfsim_scn_events:wf'}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}:2: workflow.python: the workflow 'wfsim_scn_events:wf' is invalid: event "
        "workflow 'stray': no step accepts wfsim.StartEvent, so nothing would ever run"
    )


# -- SCN-7: faults --------------------------------------------------------------------------------
@pytest.mark.spec("SCN-7")
def test_faults() -> None:
    sc = load_valid("04_faults")
    assert sc.faults == (
        wfsim.Fault.error("charge_payment", attempts=1, error=ConnectionError),
        wfsim.Fault.error("charge_payment", attempts=[2, 3], error=flows.PaymentDeclined, at="end"),
        wfsim.Fault.error(
            "ship_order", error="ShippingUnavailable", retryable=False, message="no trucks today"
        ),
        wfsim.Fault.latency("reserve_inventory", extra="500ms"),
        wfsim.Fault.latency("ship_order", extra=2, attempts=[1]),
    )
    assert sc.faults[1].error_type is flows.PaymentDeclined
    assert sc.faults[2].error_type is None  # a declared name: injected by name
    assert sc.input == {"order_id": 7, "items": ["a", "b"]}
    assert sc.epoch == dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))


@pytest.mark.spec("SCN-7")
def test_declared_error_names_win_over_builtins() -> None:
    sc = text(
        "workflow: {steps: {a: ~}}\nerrors: [TimeoutError]\n"
        "faults: [{step: a, error: TimeoutError}]\n"
    )
    assert sc.faults[0].error_name == "TimeoutError"
    assert sc.faults[0].error_type is None


@pytest.mark.spec("SCN-7")
def test_faults_may_target_compensations() -> None:
    sc = load_valid("08_compensation_shapes")
    assert sc.faults[1:] == (
        wfsim.Fault.error("undo_timed", error=ConnectionError, attempts=[1, 2], at="end"),
        wfsim.Fault.latency("undo_profiled", extra=1),
        wfsim.Fault.error("undo_plain", error=KeyError),
    )


@pytest.mark.spec("SCN-6", "SCN-7")
def test_faults_may_target_a_python_workflows_compensations() -> None:
    body = "workflow: {python: 'tests.scenario.flows:saga_purchase'}\n"
    sc = text(body + "faults: [{step: refund_payment, error: ConnectionError}]\n")
    assert sc.faults == (wfsim.Fault.error("refund_payment", error=ConnectionError),)
    with pytest.raises(ScenarioError) as info:
        text(body + "faults: [{step: refund, error: ConnectionError}]\n")
    assert str(info.value) == (
        "<string>:3: faults[0].step: unknown step or compensation 'refund': "
        "did you mean 'refund_payment'?"
    )


@pytest.mark.spec("SCN-7")
def test_an_unknown_fault_target_lists_steps_and_compensations() -> None:
    with pytest.raises(ScenarioError) as info:
        text(
            "workflow: {steps: {a: {compensate: undo_a}}}\nfaults: [{step: zzz, error: KeyError}]\n"
        )
    assert str(info.value) == (
        "<string>:3: faults[0].step: unknown step or compensation 'zzz'; "
        "the steps and compensations are: a, undo_a"
    )


FAULTY = (
    "workflow:\n  steps:\n    reserve: {duration: 1s, compensate: release}\n"
    "    charge_card: {after: reserve}\n    charge_wallet: {after: reserve}\n"
)


@pytest.mark.spec("SCN-7")
def test_every_kind_of_fault_by_name_and_by_pattern() -> None:
    sc = load_valid("09_fault_kinds")
    assert sc.faults == (
        wfsim.Fault.error("charge_*", error=ConnectionError, probability=0.3),
        wfsim.Fault.latency("*", extra="250ms", attempts=[1], probability=1),
        wfsim.Fault.latency("ship_order", uniform=("100ms", "2s")),
        wfsim.Fault.latency("charge_[cw]*", exponential=1, probability=0),
        wfsim.Fault.hang("charge_card", attempts=[2]),
        wfsim.Fault.hang("release_*", probability=0.5),
        wfsim.Fault.outage("charge_wallet", start=10, end=60),
        wfsim.Fault.outage(
            "ship_?rder",
            start=0,
            end="1h",
            error=ConnectionError,
            message="carrier down",
            retryable=False,
        ),
    )
    assert sc.faults[0].is_pattern and not sc.faults[2].is_pattern
    assert sc.faults[-1].error_type is ConnectionError
    assert sc.faults[-2].error_name == "ServiceUnavailable"  # the outage's default
    assert sc.faults[-2].message == "injected ServiceUnavailable (outage)"


@pytest.mark.spec("SCN-7")
@pytest.mark.parametrize(
    ("fault", "built"),
    [
        ("{step: 'charge_*', hang: true}", wfsim.Fault.hang("charge_*")),
        ("{step: 'rel*', error: KeyError}", wfsim.Fault.error("rel*", error=KeyError)),
        ("{step: '*', latency: 0}", wfsim.Fault.latency("*", extra=0)),
        (
            "{step: '?eserve', latency: {uniform: [1s, 1s]}, probability: 0.25}",
            wfsim.Fault.latency("?eserve", uniform=(1, 1), probability=0.25),
        ),
        (
            "{step: charge_card, latency: {exponential: 250ms}, attempts: 2}",
            wfsim.Fault.latency("charge_card", exponential="250ms", attempts=[2]),
        ),
        (
            "{step: release, outage: {start: 0, end: 1ns}}",
            wfsim.Fault.outage("release", start=0, end="1ns"),
        ),
    ],
)
def test_fault_shapes(fault: str, built: wfsim.Fault) -> None:
    assert text(FAULTY + f"faults: [{fault}]\n").faults == (built,)


@pytest.mark.spec("SCN-7")
def test_a_pattern_may_match_only_compensations() -> None:
    sc = text(FAULTY + "faults: [{step: 'rel*', error: KeyError}]\n")
    assert sc.faults[0].matches("release")


@pytest.mark.spec("SCN-7")
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "{step: 'ship*', error: KeyError}",
            "<string>:7: faults[0].step: the pattern 'ship*' matches no step or compensation; "
            "the steps and compensations are: reserve, charge_card, charge_wallet, release",
        ),
        (
            "{step: charge_crad, hang: true}",
            "<string>:7: faults[0].step: unknown step or compensation 'charge_crad': "
            "did you mean 'charge_card'?",
        ),
        (
            "{step: reserve, error: KeyError, probability: .nan}",
            "<string>:7: faults[0].probability: expected a probability from 0 (never) to 1 "
            "(always), got nan",
        ),
        (
            "{step: reserve, error: KeyError, probability: -0.5}",
            "<string>:7: faults[0].probability: expected a probability from 0 (never) to 1 "
            "(always), got -0.5",
        ),
        (
            "{step: reserve, error: KeyError, probability: true}",
            "<string>:7: faults[0].probability: expected a probability from 0 (never) to 1 "
            "(always), got a boolean (true)",
        ),
        (
            "{step: reserve, latency: {uniform: [1s, 2s, 3s]}}",
            "<string>:7: faults[0].latency.uniform: expected two durations [low, high], got 3",
        ),
        (
            "{step: reserve, latency: {}}",
            "<string>:7: faults[0].latency: expected a duration such as 500ms, "
            "{uniform: [low, high]} or {exponential: mean}, got an empty mapping",
        ),
        (
            "{step: reserve, latency: [1s, 2s]}",
            "<string>:7: faults[0].latency: expected a duration such as 500ms, "
            "{uniform: [low, high]} or {exponential: mean}, got a list",
        ),
        (
            "{step: reserve, latency: {exponential: -1s}}",
            "<string>:7: faults[0].latency.exponential: a duration must not be negative, got '-1s'",
        ),
        (
            "{step: reserve, latency: -2}",
            "<string>:7: faults[0].latency: a duration must not be negative, got -2",
        ),
        (
            "{step: reserve, latency: 1s, message: slow}",
            "<string>:7: faults[0].message: 'message' applies to error faults; a latency fault "
            "takes step, latency, attempts and probability",
        ),
        (
            "{step: reserve, outage: {start: 0, end: 1m}, probability: 0.5}",
            "<string>:7: faults[0].probability: an outage fails every attempt that starts in "
            "its window, so it takes no 'probability'; give step and outage: "
            "{start, end, error?, message?, retryable?}",
        ),
        (
            "{step: reserve, outage: {start: 0, end: 1m}, retryable: false}",
            "<string>:7: faults[0].retryable: an outage's 'retryable' goes inside it: "
            "outage: {start, end, retryable}",
        ),
        (
            "{step: reserve, outage: {start: 5s, end: 5s}}",
            "<string>:7: faults[0].outage.end: an outage must end after it starts, "
            "but it starts at 5s and ends at 5s",
        ),
        (
            "{step: reserve, outage: {start: 5s}}",
            "<string>:7: faults[0].outage.end: required key is missing (when it is over, "
            "after start: attempts starting at or after end are unaffected)",
        ),
        (
            "{step: reserve, error: KeyError, latency: 1s, hang: true}",
            "<string>:7: faults[0]: a fault has exactly one of 'error', 'latency', 'hang' or "
            "'outage', not 'error', 'latency' and 'hang'; write one fault for each",
        ),
    ],
)
def test_bad_faults(fault: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        text(FAULTY + f"faults: [{fault}]\n")
    assert str(info.value) == message


@pytest.mark.spec("SCN-6", "SCN-7")
def test_faults_on_an_imperative_workflow_are_not_checked_at_load_time() -> None:
    # Its steps exist only once the body calls them: any name or pattern may be one.
    sc = text(
        "workflow: {python: 'tests.scenario.flows:fan_out'}\n"
        "faults:\n  - {step: 'process:2', error: KeyError}\n"
        "  - {step: 'nothing_*', hang: true}\n  - {step: not_called, latency: 1s}\n"
    )
    assert [f.step for f in sc.faults] == ["process:2", "nothing_*", "not_called"]
    outcome = run_scenario(sc)
    assert outcome.result.status == "failed"
    assert {n: s.status for n, s in outcome.result.steps.items()} == {
        "process": "completed",
        "process:2": "failed",
        "process:3": "completed",
    }


# -- SCN-4: compensations and sagas ---------------------------------------------------------------
@pytest.mark.spec("SCN-4", "SCN-5")
def test_every_shape_of_compensation() -> None:
    wf = load_valid("08_compensation_shapes").workflow
    assert wf.saga == wfsim.SagaPolicy(register="before", parallel=False, on_error="continue")
    comps = wf.compensations
    assert list(comps) == ["undo_plain", "undo_timed", "undo_profiled"]
    assert {name: comp.is_compensation for name, comp in comps.items()} == dict.fromkeys(
        comps, True
    )
    plain, timed, profiled = comps.values()
    assert wf.steps["plain"].compensate is plain
    assert (plain.duration_ns, plain.output, plain.retry, plain.timeout_ns) == (0, None, None, None)
    assert (timed.duration_ns, timed.output, timed.timeout_ns) == (
        250_000_000,
        {"undone": "timed"},
        2 * S,
    )
    assert timed.retry == wfsim.RetryPolicy(
        max_attempts=4, initial_interval="500ms", backoff_coefficient=3
    )
    assert profiled.retry == wfsim.RetryPolicy.pyworkflow(
        max_retries=2, retry_delay=1, retry_backoff=2
    )
    assert wf.steps["bare"].compensate is None


@pytest.mark.spec("SCN-4")
def test_the_saga_policy_defaults_to_the_engines() -> None:
    assert text("workflow: {steps: {a: {compensate: undo}}}\n").workflow.saga == (
        wfsim.SagaPolicy()
    )
    assert text("workflow: {saga: {}, steps: {a: ~}}\n").workflow.saga == wfsim.SagaPolicy()
    sc = text("workflow: {saga: {parallel: true}, steps: {a: ~}}\n")
    assert sc.workflow.saga == wfsim.SagaPolicy(parallel=True)


@pytest.mark.spec("SCN-4")
def test_a_compensation_named_by_a_later_step_is_found_at_its_line() -> None:
    body = "workflow:\n  steps:\n    a: {compensate: b}\n    b: {after: a}\n"
    with pytest.raises(ScenarioError) as info:
        text(body)
    assert str(info.value) == (
        "<string>:4: workflow.steps.a.compensate: compensation 'b' of step 'a' has the name "
        "of a step; faults, the trace and expectations need distinct names"
    )


@pytest.mark.spec("SCN-4", "SCN-9")
@pytest.mark.parametrize(
    ("on_error", "status", "started", "skipped"),
    [
        ("stop", "compensation_failed", ["undo_c", "undo_b"], ["undo_a"]),
        ("continue", "compensation_failed", ["undo_c", "undo_b", "undo_a"], []),
    ],
)
def test_on_error_stop_skips_the_rest_and_continue_runs_them(
    on_error: str, status: str, started: list[str], skipped: list[str]
) -> None:
    sc = text(
        f"workflow:\n  saga: {{on_error: {on_error}}}\n  steps:\n"
        "    a: {duration: 1s, compensate: undo_a}\n"
        "    b: {after: a, duration: 1s, compensate: {name: undo_b, duration: 1s}}\n"
        "    c: {after: b, duration: 1s, compensate: undo_c}\n"
        "    d: {after: c}\n"
        "faults: [{step: d, error: KeyError}, {step: undo_b, error: KeyError}]\n"
        f"expect: {{status: {status}, compensations: {started}, skipped: {skipped},"
        " failed: [d, undo_b]}\n"
    )
    outcome = run_scenario(sc)
    assert outcome.passed, outcome.report()


@pytest.mark.spec("SCN-4", "SCN-9")
def test_the_design_examples_saga_holds() -> None:
    outcome = run_scenario(load_valid("07_design_saga"))
    assert outcome.passed, outcome.report()
    assert outcome.result.makespan == 4.5
    assert {n: c.status for n, c in outcome.result.compensations.items()} == {
        "release_inventory": "completed",
        "refund_payment": "completed",
    }


# -- SCN-4: trigger rules; SCN-12: parallel groups -----------------------------------------------
@pytest.mark.spec("SCN-4")
def test_trigger_rules_load_and_default_to_all_success() -> None:
    steps = load_valid("11_parallel_groups").workflow.steps
    rules = {name: step.trigger_rule for name, step in steps.items()}
    assert rules == {
        "validate": "all_success",
        "checks": "all_success",
        "defaults": "all_success",
        "aggregate": "all_done",
        "cleanup": "all_failed",
        "join": "none_failed_min_one_success",
    }


@pytest.mark.spec("SCN-4")
@pytest.mark.parametrize("rule", TRIGGER_RULES)
def test_every_trigger_rule_is_accepted(rule: str) -> None:
    sc = text(f"workflow: {{steps: {{a: ~, b: {{after: a, trigger_rule: {rule}}}}}}}\n")
    assert sc.workflow.steps["b"].trigger_rule == rule


@pytest.mark.spec("SCN-4")
def test_the_schemas_trigger_rules_are_the_engines() -> None:
    assert scenario_schema()["$defs"]["triggerRule"]["enum"] == list(TRIGGER_RULES)


@pytest.mark.spec("SCN-4", "SCN-9")
def test_an_all_done_aggregator_completes_the_run_after_a_failed_batch() -> None:
    sc = text(
        "workflow:\n  steps:\n    b1: {duration: 1s}\n    b2: {duration: 2s}\n"
        "    agg: {after: [b1, b2], trigger_rule: all_done}\n"
        "faults: [{step: b1, error: KeyError}]\n"
        "expect: {status: completed, failed: [b1], completed: [agg], makespan: 2s}\n"
    )
    outcome = run_scenario(sc)
    assert outcome.passed, outcome.report()


@pytest.mark.spec("SCN-4")
@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "one_sucess",
            "<string>:2: workflow.steps.b.trigger_rule: unknown trigger rule 'one_sucess': "
            "did you mean 'one_success'? (rules: " + ", ".join(TRIGGER_RULES) + ")",
        ),
        (
            "whenever",
            "<string>:2: workflow.steps.b.trigger_rule: unknown trigger rule 'whenever' "
            "(rules: " + ", ".join(TRIGGER_RULES) + ")",
        ),
        (
            "3",
            "<string>:2: workflow.steps.b.trigger_rule: expected one of "
            + ", ".join(repr(r) for r in TRIGGER_RULES)
            + ", got an integer 3",
        ),
    ],
)
def test_unknown_trigger_rules(rule: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        text(f"workflow: {{steps: {{a: ~, b: {{after: a, trigger_rule: {rule}}}}}}}\n")
    assert str(info.value) == message


@pytest.mark.spec("SCN-12")
def test_a_parallel_group_loads_into_add_parallel() -> None:
    wf = load_valid("11_parallel_groups").workflow
    checks = wf.steps["checks"]
    assert checks.after == ("validate",)
    assert checks.group is not None
    assert (checks.duration_ns, checks.output, checks.retry, checks.timeout_ns) == (
        0,
        None,
        None,
        None,
    )
    group = checks.group
    assert (group.merge, group.on_conflict, group.allow_partial_success, group.timeout_ns) == (
        "deep",
        "raise",
        True,
        60 * S,
    )
    stock, price, audit = group.tasks
    assert [t.name for t in group.tasks] == ["stock", "price", "audit"]
    assert {t.role for t in group.tasks} == {"task"}
    assert (stock.duration_ns, stock.output) == (S, {"stock": 3, "meta": {"a": 1}})
    assert (price.duration_ns, price.timeout_ns) == (1_500_000_000, 10 * S)
    assert price.retry == wfsim.RetryPolicy(max_attempts=3, initial_interval="500ms")
    assert (audit.duration_ns, audit.output, audit.retry, audit.timeout_ns) == (0, None, None, None)
    assert list(wf.tasks) == ["checks/stock", "checks/price", "checks/audit", "defaults/only"]


@pytest.mark.spec("SCN-12")
def test_a_groups_defaults_are_the_engines() -> None:
    group = text("workflow: {steps: {g: {parallel: {tasks: {a: ~}}}}}\n").workflow.steps["g"].group
    assert group is not None
    assert (group.merge, group.on_conflict, group.allow_partial_success, group.timeout_ns) == (
        "shallow",
        "prefer_new",
        False,
        None,
    )


@pytest.mark.spec("SCN-12", "SCN-9")
def test_the_parallel_groups_example_runs_and_holds() -> None:
    outcome = run_scenario(load_valid("11_parallel_groups"))
    assert outcome.passed, outcome.report()
    assert outcome.result.context["meta"] == {"a": 1, "b": 2}  # deep merge


@pytest.mark.spec("SCN-7", "SCN-12")
def test_faults_target_group_tasks_by_trace_name_and_pattern() -> None:
    sc = load_valid("11_parallel_groups")
    assert sc.faults == (
        wfsim.Fault.error("checks/price", error=ConnectionError, attempts=[1]),
        wfsim.Fault.latency("checks/*", extra="100ms", attempts=[1]),
    )


GROUP = (
    "workflow:\n  steps:\n    pay: {compensate: refund}\n"
    "    checks: {after: pay, parallel: {tasks: {stock: ~, price: ~}}}\n"
)


@pytest.mark.spec("SCN-7", "SCN-12")
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "{step: checks/prize, error: KeyError}",
            "<string>:6: faults[0].step: unknown step, task or compensation 'checks/prize': "
            "did you mean 'checks/price'?",
        ),
        (
            "{step: stock, error: KeyError}",
            "<string>:6: faults[0].step: unknown step, task or compensation 'stock': "
            "did you mean 'checks/stock'?",
        ),
        (
            "{step: 'other/*', hang: true}",
            "<string>:6: faults[0].step: the pattern 'other/*' matches no step, task or "
            "compensation; the steps, tasks and compensations are: pay, checks, checks/stock, "
            "checks/price, refund",
        ),
    ],
)
def test_unknown_fault_targets_name_the_tasks(fault: str, message: str) -> None:
    assert text(GROUP + "faults: [{step: 'checks/*', latency: 1s}]\n").faults
    with pytest.raises(ScenarioError) as info:
        text(GROUP + f"faults: [{fault}]\n")
    assert str(info.value) == message


@pytest.mark.spec("SCN-12")
@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "{duration: 2s, parallel: {tasks: {a: ~}}}",
            "workflow.steps.g.duration: 'duration' is not for a parallel group: its tasks take "
            "the time; give each task its own duration",
        ),
        (
            "{parallel: {tasks: {a: ~}}, output: {x: 1}}",
            "workflow.steps.g.output: 'output' is not for a parallel group: its tasks' outputs "
            "merge into the context; give each task its own output",
        ),
        (
            "{retry: {max_attempts: 2}, parallel: {tasks: {a: ~}}}",
            "workflow.steps.g.retry: 'retry' is not for a parallel group: each task retries on "
            "its own; give each task its own retry",
        ),
        (
            "{timeout: 5s, parallel: {tasks: {a: ~}}}",
            "workflow.steps.g.timeout: 'timeout' is not for a parallel group: the group's timeout "
            "goes inside it (parallel: {tasks, timeout}); a task's own goes under the task",
        ),
        (
            "{compensate: undo, parallel: {tasks: {a: ~}}}",
            "workflow.steps.g.compensate: 'compensate' is not for a parallel group: a group has "
            "no compensation of its own",
        ),
        (
            "{parallel: {tasks: {a: ~}, merge: wide}}",
            "workflow.steps.g.parallel.merge: expected one of 'shallow', 'deep', got a string "
            "'wide'",
        ),
        (
            "{parallel: {tasks: {a: ~}, on_conflict: RAISE_ERROR}}",
            "workflow.steps.g.parallel.on_conflict: expected one of 'prefer_new', "
            "'prefer_existing', 'raise', got a string 'RAISE_ERROR': did you mean 'raise'?",
        ),
        (
            "{parallel: {tasks: {a: ~}, on_conflict: prefer_old}}",
            "workflow.steps.g.parallel.on_conflict: expected one of 'prefer_new', "
            "'prefer_existing', 'raise', got a string 'prefer_old': did you mean "
            "'prefer_existing'?",
        ),
        (
            "{parallel: {tasks: {a: ~}, allow_partial_success: yes please}}",
            "workflow.steps.g.parallel.allow_partial_success: expected a boolean (true or false), "
            "got a string 'yes please'",
        ),
        (
            "{parallel: {tasks: {a: ~}, timeout: 0}}",
            "workflow.steps.g.parallel.timeout: expected a positive duration, got 0",
        ),
        (
            "{parallel: {tasks: {a: {timeout: 0s}}}}",
            "workflow.steps.g.parallel.tasks.a.timeout: expected a positive duration, got '0s'",
        ),
        (
            "{parallel: {tasks: {a: {duration: -1s}}}}",
            "workflow.steps.g.parallel.tasks.a.duration: a duration must not be negative, "
            "got '-1s'",
        ),
        (
            "{parallel: {tasks: {a: {compensate: undo}}}}",
            "workflow.steps.g.parallel.tasks.a.compensate: unknown key; expected one of: "
            "duration, output, retry, timeout",
        ),
        (
            "{parallel: {tasks: {a: {retry: {jitter: ful}}}}}",
            "workflow.steps.g.parallel.tasks.a.retry.jitter: expected one of 'none', 'full', "
            "'equal', 'decorrelated', got a string 'ful': did you mean 'full'?",
        ),
        (
            "{parallel: {tasks: {a: [1s]}}}",
            "workflow.steps.g.parallel.tasks.a: expected a mapping or null, got a list",
        ),
        (
            "{parallel: {tasks: {'a b': ~}}}",
            "workflow.steps.g.parallel.tasks['a b']: a task name cannot hold spaces, '<' or '/' "
            "(the trace calls it group/task)",
        ),
        (
            "{parallel: {tasks: {a: ~}, workers: 2}}",
            "workflow.steps.g.parallel.workers: unknown key; expected one of: tasks, merge, "
            "on_conflict, allow_partial_success, timeout",
        ),
        ("{parallel: [a, b]}", "workflow.steps.g.parallel: expected a mapping, got a list"),
    ],
)
def test_bad_groups(step: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        text(f"workflow: {{steps: {{g: {step}}}}}\n")
    assert str(info.value) == f"<string>:2: {message}"


@pytest.mark.spec("SCN-12")
@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            "    g: {parallel: {tasks: {t: ~}}}\n    g/t: ~\n",
            "<string>:4: workflow.steps.g.parallel.tasks.t: task 't' of parallel group 'g' is "
            "called 'g/t' in the trace, the name of a step; faults, the trace and expectations "
            "need distinct names",
        ),
        (
            "    g:\n      parallel: {tasks: {t: ~}}\n    h: {compensate: g/t}\n",
            "<string>:5: workflow.steps.g.parallel.tasks.t: task 't' of parallel group 'g' is "
            "called 'g/t' in the trace, the name of a compensation; faults, the trace and "
            "expectations need distinct names",
        ),
        (
            "    g: {after: h, parallel: {tasks: {t: ~}}}\n    h: {after: g}\n",
            "<string>:4: workflow.steps.g.after: the steps' dependencies form a cycle: "
            "g -> h -> g (each runs after the one before it); remove one of these 'after' links",
        ),
        (
            "    g: {after: nope, parallel: {tasks: {t: ~}}}\n",
            "<string>:4: workflow.steps.g.after: unknown step 'nope'; the steps are: g",
        ),
    ],
)
def test_group_names_and_dependencies(steps: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        text("workflow:\n  steps:\n" + steps)
    assert str(info.value) == message


# -- SCN-11: signals ------------------------------------------------------------------------------
@pytest.mark.spec("SCN-11")
def test_signals_load_into_signal_objects() -> None:
    sc = load_valid("10_imperative_signals")
    assert sc.signals == (
        wfsim.Signal("cancel", at="30m"),
        wfsim.Signal("approval", at="2h", payload={"approved": True, "by": "ana"}),
        wfsim.Signal("cancel", at=0),  # at defaults to 0, payload to null
    )
    assert text("workflow: {steps: {a: ~}}\n").signals == ()


@pytest.mark.spec("SCN-11", "SCN-9")
def test_signals_are_delivered_to_the_run() -> None:
    outcome = run_scenario(load_valid("10_imperative_signals"))
    assert outcome.passed, outcome.report()
    received = outcome.result.trace.of_kind("signal_received")
    assert [(e.t_ns, e["signal"]) for e in received] == [
        (0, "cancel"),
        (1800 * S, "cancel"),
        (7200 * S, "approval"),
    ]


@pytest.mark.spec("SCN-11")
def test_any_signal_name_goes_to_a_workflow_that_declares_none() -> None:
    sc = text(
        "workflow: {python: 'tests.scenario.flows:fan_out'}\n"
        "signals: [{name: whatever, at: 1s}, {name: late, at: 1h, payload: [1, 2]}]\n"
        "expect: {status: completed, makespan: 2s, signals_received: [whatever]}\n"
    )
    assert sc.signals[1] == wfsim.Signal("late", at="1h", payload=[1, 2])
    outcome = run_scenario(sc)
    assert outcome.passed, outcome.report()  # the late signal is dropped: the run ended


@pytest.mark.spec("SCN-11")
def test_no_signals_is_fine_for_any_workflow() -> None:
    assert text("workflow: {steps: {a: ~}}\nsignals: []\n").signals == ()


@pytest.mark.spec("SCN-11")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "workflow: {python: 'tests.scenario.flows:approval'}\nsignals: [{name: cancle}]\n",
            "<string>:3: signals[0].name: unknown signal 'cancle' for workflow 'approval': "
            "did you mean 'cancel'? (declared: approval, cancel)",
        ),
        (
            "workflow: {python: 'tests.scenario.flows:approval'}\nsignals: [{name: zzz}]\n",
            "<string>:3: signals[0].name: unknown signal 'zzz' for workflow 'approval' "
            "(declared: approval, cancel)",
        ),
        (
            "workflow: {steps: {a: ~}}\nsignals:\n  - {name: approval}\n",
            "<string>:3: signals: an inline workflow is a DAG of steps and cannot receive "
            "signals; they go to a @wfsim.workflow body that waits for them "
            "(ctx.wait_for_signal), named with 'python'",
        ),
        (
            "workflow: {python: 'tests.scenario.flows:fan_out'}\nsignals: [{name: a, at: 1e30d}]\n",
            "<string>:3: signals[0].at: '1e30d' is too large; a duration is at most 292 years",
        ),
        (
            "workflow: {python: 'tests.scenario.flows:fan_out'}\nsignals: [{name: a, when: 1s}]\n",
            "<string>:3: signals[0].when: unknown key; expected one of: name, at, payload",
        ),
        (
            "workflow: {python: 'tests.scenario.flows:fan_out'}\nsignals: {name: a}\n",
            "<string>:3: signals: expected a list, got a mapping",
        ),
    ],
)
def test_bad_signals(body: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        text(body)
    assert str(info.value) == message


# -- SCN-9: expectations --------------------------------------------------------------------------
@pytest.mark.spec("SCN-9")
def test_expect_is_kept_as_written() -> None:
    sc = load_valid("04_faults")
    assert sc.expect["makespan"] == "<= 1h"
    assert sc.expect["retry_delays"] == {"charge_payment": ["1s", "2s", "4s"]}
    assert sc.expect["result"] is None
    assert sc.expect["trace_contains"] == [
        {"kind": "fault_injected", "step": "charge_payment", "attempt": 1}
    ]


@pytest.mark.spec("SCN-9")
def test_single_chains_and_step_names_may_stand_alone() -> None:
    sc = text(
        "workflow: {steps: {a: ~, b: {after: a}}}\n"
        "expect: {order: a < b, completed: b, never_started: [], makespan: '> 0s'}\n"
    )
    assert sc.expect == {
        "order": "a < b",
        "completed": "b",
        "never_started": [],
        "makespan": "> 0s",
    }


# -- SCN-10: locations ----------------------------------------------------------------------------
@pytest.mark.spec("SCN-10")
def test_locations_give_the_line_of_every_field() -> None:
    sc = load_valid("01_spec_example")
    loc = sc.locations
    assert isinstance(loc, Locations)
    assert loc.line(()) == 1
    assert loc.line(("workflow",)) == 4
    assert loc.line(("workflow", "steps", "charge_payment")) == 9
    assert loc.line(("workflow", "steps", "charge_payment", "after")) == 10
    assert loc.line(("workflow", "steps", "charge_payment", "after", 0)) == 10
    assert loc.line(("faults", 1)) == 18
    assert loc.line(("faults", 1, "latency")) == 18
    assert loc.line(("expect", "makespan")) == 25
    # Below a recorded field: the nearest parent's line.
    assert loc.line(("expect", "makespan", "deeper", 3)) == 25
    assert ("expect", "makespan") in loc
    assert ("expect", "nothing") not in loc
    assert sc.where(("workflow", "steps", "ship_order", "after", 0)) == (
        "tests/scenario/valid/01_spec_example.wfsim.yaml:14: workflow.steps.ship_order.after[0]"
    )
    error = sc.error(("expect", "attempts", "charge_payment"), "expected 2 attempts, got 3")
    assert isinstance(error, ScenarioError)
    assert str(error) == (
        "tests/scenario/valid/01_spec_example.wfsim.yaml:23: expect.attempts.charge_payment: "
        "expected 2 attempts, got 3"
    )
    assert (error.line, error.field) == (23, "expect.attempts.charge_payment")


@pytest.mark.spec("SCN-10")
def test_locations_of_an_empty_document() -> None:
    assert Locations().line(("anything",)) is None


@pytest.mark.spec("SCN-10")
def test_odd_keys_are_quoted_in_field_paths() -> None:
    with pytest.raises(ScenarioError) as info:
        text("workflow: {steps: {'a.b': {after: [nope]}}}\n")
    assert info.value.field == "workflow.steps['a.b'].after[0]"


@pytest.mark.spec("SCN-10")
def test_a_missing_file_is_a_scenario_error(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing.wfsim.yaml"
    with pytest.raises(ScenarioError, match=r"missing\.wfsim\.yaml: cannot read the scenario file"):
        load_scenario(missing)


@pytest.mark.spec("SCN-10")
def test_bytes_that_are_not_utf8(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "latin1.wfsim.yaml"
    path.write_bytes(b"scenario: t\ndescription: caf\xe9\nworkflow: {steps: {a: ~}}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}:2: not UTF-8 text: byte 0xe9 cannot be decoded"


@pytest.mark.spec("SCN-2")
def test_a_byte_order_mark_is_fine(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bom.wfsim.yaml"
    path.write_bytes(b"\xef\xbb\xbfscenario: t\nworkflow: {steps: {a: ~}}\n")
    assert load_scenario(path).title == "t"
    path.write_bytes("scenario: t\nworkflow: {steps: {a: ~}}\n".encode("utf-16"))
    assert load_scenario(path).title == "t"


@pytest.mark.spec("SCN-2")
def test_dates_stay_strings_outside_epoch() -> None:
    sc = text("workflow: {steps: {a: ~}}\ninput: {day: 2026-01-02, at: 2026-01-02T10:00:00Z}\n")
    assert sc.input == {"day": "2026-01-02", "at": "2026-01-02T10:00:00Z"}


@pytest.mark.spec("SCN-2")
def test_an_alias_bomb_is_stopped() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
        f"*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 9)
    ]
    bomb = "input:\n" + "".join(f"  {line}\n" for line in lines)
    with pytest.raises(ScenarioError, match=r"expands to more than 1,000,000 values"):
        text(bomb)


@pytest.mark.spec("SCN-2", "SCN-10")
def test_nesting_deep_enough_to_overflow_the_c_stack_is_refused_before_composing() -> None:
    """Found while fuzzing issue 13: libyaml's composer segfaulted at ~30,000 levels."""
    head = "scenario: x\nworkflow: {steps: {a: ~}}\ninput: "
    for opening, closing in (("[", "]"), ("{a: ", "}")):
        with pytest.raises(ScenarioError) as info:
            load_scenario_text(head + opening * 100_000 + closing * 100_000 + "\n", "deep.yaml")
        assert str(info.value) == "deep.yaml:3: nested more than 100 levels deep"
    block = "".join(" " * i + "-\n" for i in range(300))
    with pytest.raises(ScenarioError, match=r"^deep.yaml:104: nested more than 100 levels deep$"):
        load_scenario_text(head.removesuffix(" ") + "\n" + block, "deep.yaml")


@pytest.mark.spec("SCN-2", "SCN-10")
def test_an_alias_bomb_is_refused_before_it_is_built() -> None:
    """Issue 13: the bomb was refused only after 1.2-1.4 s and 246 MB of expanding it."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = "workflow: {steps: {a: ~}}\ninput:\n" + "".join(f"  {line}\n" for line in lines)
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError) as info:
            load_scenario_text(bomb, "bomb.wfsim.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        "bomb.wfsim.yaml:8: input.a5: this value expands to more than 1,000,000 values once "
        "its aliases are expanded; are anchors and aliases nested into a bomb?"
    )
    assert peak < 5_000_000  # bytes: the 10**8 values are counted, never built


@pytest.mark.spec("SCN-2", "SCN-10")
def test_an_alias_bomb_inside_a_node_that_holds_itself_is_refused_not_looped_on() -> None:
    """Found by the fuzz suite (a hang of the full run): naming the bomb walked from the
    looping node back into itself for ever."""
    lines = ["  - &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    bomb = "scenario: t\nloop: &r\n  - *r\n" + "\n".join(lines) + "\n"
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(bomb, "bomb.wfsim.yaml")
    assert str(info.value) == (
        "bomb.wfsim.yaml:9: loop[6]: this value expands to more than 1,000,000 values once "
        "its aliases are expanded; are anchors and aliases nested into a bomb?"
    )


@pytest.mark.spec("SCN-2")
def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ScenarioError, match=r"nested"):
        text("input: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ScenarioError, match=r"nested more than 100 levels deep"):
        text("input: " + "[" * 150 + "]" * 150 + "\n")


# -- the schema -----------------------------------------------------------------------------------
def _properties(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{where}.{name}", sub
        for key, sub in node.items():
            yield from _properties(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _properties(sub, f"{where}[{i}]")


@pytest.mark.spec("SCN-1", "SCN-10")
def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    doc = scenario_schema()
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith("scenario.schema.json")
    assert set(doc["properties"]) == {
        "scenario",
        "description",
        "seed",
        "seed_pinned",
        "workflow",
        "input",
        "errors",
        "faults",
        "signals",
        "settings",
        "expect",
        "invariants",
    }
    missing = [
        where
        for where, sub in _properties(doc)
        if "/if" not in where  # conditions, not fields an editor shows
        and not ("title" in sub and "description" in sub)
    ]
    assert missing == []


@pytest.mark.spec("SCN-9")
def test_the_schemas_statuses_are_the_engines() -> None:
    from wfsim._core._run import RUN_STATUSES

    status = scenario_schema()["$defs"]["expect"]["properties"]["status"]
    assert status["enum"] == list(RUN_STATUSES)


@pytest.mark.spec("SCN-1")
def test_schema_returns_a_fresh_copy() -> None:
    doc = scenario_schema()
    doc["properties"].clear()
    assert scenario_schema()["properties"]


@pytest.mark.spec("SCN-1", "SCN-3", "SCN-4", "SCN-5", "SCN-6", "SCN-7", "SCN-8", "SCN-9", "SCN-11")
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name.removesuffix(".wfsim.yaml"))
def test_every_example_validates_and_loads(path: pathlib.Path) -> None:
    rel = path.relative_to(REPO).as_posix()
    data, _ = read_yaml(path.read_text(), rel)
    # The plain draft 2020-12 validator, as an editor would use the schema.
    jsonschema.Draft202012Validator(scenario_schema()).validate(data)
    assert isinstance(load_scenario(rel), Scenario)


@pytest.mark.spec("SCN-1")
def test_there_are_examples() -> None:
    assert len(VALID) >= 6


@pytest.mark.spec("SCN-10")
def test_a_bare_task_name_suggests_its_group_task() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(
            "scenario: t\nworkflow:\n  steps:\n    checks:\n      parallel:\n"
            "        tasks:\n          fraud: {duration: 1s}\n"
            "faults: [{step: fraud, error: KeyError}]\n"
        )
    assert str(info.value) == (
        "<string>:8: faults[0].step: unknown step or task 'fraud': "
        "did you mean 'checks/fraud'?"
    )


@pytest.mark.spec("SCN-6")
def test_scenarios_loaded_in_threads_at_once_import_their_modules(tmp_path: pathlib.Path) -> None:
    """Threads (a Dask worker with several) share ``sys.path``: one import must not take
    away the entry another is importing from."""
    import sys as _sys
    import threading

    count = 40
    for i in range(count):
        (tmp_path / f"wfsim_scn_thread_{i}.py").write_text(
            f"import wfsim\nwf = wfsim.Workflow('t{i}')\nwf.add_step('only', duration=1)\n"
        )
    failures: list[str] = []
    start = threading.Barrier(4)

    def load(offset: int) -> None:
        start.wait(10)
        for i in range(offset, count, 4):
            try:
                load_scenario_text(
                    f"scenario: t\nworkflow: {{python: 'wfsim_scn_thread_{i}:wf'}}\n",
                    str(tmp_path / f"t{i}.wfsim.yaml"),
                )
            except ScenarioError as exc:
                failures.append(str(exc))

    before = list(_sys.path)
    switch = _sys.getswitchinterval()
    _sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        _sys.setswitchinterval(switch)
        for i in range(count):
            _sys.modules.pop(f"wfsim_scn_thread_{i}", None)
    assert failures == []
    assert _sys.path == before
