"""Inline workflow bodies (specs/scenario-format.md SCN-17): load, run, errors, and the
round trip of drawn bodies with crash faults through a file (SCN-13, issue 11 point 6)."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import strategies as wst
from wfsim._core._program import Call, Gather, Pause, Program, WaitForSignal, Work
from wfsim.campaign import minimise
from wfsim.errors import ScenarioError
from wfsim.scenario import dump_scenario, load_scenario, load_scenario_text, run_scenario

BODY = """\
scenario: an inline body
workflow:
  name: checkout
  signals: [approval]
  body:
    - {step: reserve, duration: 1s, output: 3, compensate: release}
    - gather:
        - {step: pack, duration: 2s}
        - {step: label, duration: 500ms, output: L}
    - {sleep: 1m}
    - {wait_for_signal: approval, timeout: 1h}
    - {step: charge, duration: 1s, catch: true, retry: {max_attempts: 2, initial_interval: 1s}}
signals:
  - {name: approval, at: 10s, payload: true}
faults:
  - {step: charge, error: ValueError}
  - {crash: {body: "after:pack"}}
expect:
  status: completed
  result: {reserve: 3, pack: null, label: L, signals: [[approval, true]], charge: failed}
  effects: {reserve: 1, pack: 1, label: 1, charge: 0}
  trace_contains:
    - {kind: crashed, at: body, point: "after:pack", t: 3s}
    - {kind: call_replayed, step: label, t: 3s}
"""


@pytest.mark.spec("SCN-17")
def test_an_inline_body_is_the_program_it_describes() -> None:
    scenario = load_scenario_text(BODY)
    workflow = scenario.workflow
    assert isinstance(workflow, wfsim.ImperativeWorkflow)
    assert (workflow.name, workflow.signals) == ("checkout", ("approval",))
    S = 10**9
    assert workflow.fn == Program(
        (
            Call("reserve", Work(S, 3), undo=wfsim.compensation("release")),
            Gather((Call("pack", Work(2 * S)), Call("label", Work(S // 2, "L")))),
            Pause(60 * S),
            WaitForSignal("approval", 3600 * S),
            Call(
                "charge",
                Work(S),
                retry=wfsim.RetryPolicy(max_attempts=2, initial_interval=1),
                catch=True,
            ),
        )
    )
    assert not run_scenario(scenario).failures


@pytest.mark.spec("SCN-17", "SCN-10")
@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (
            ("    - {sleep: 1m}", "    - {sleep: 1m, catch: true}"),
            10,
            "workflow.body[2].catch: a sleep instruction takes nothing else, not 'catch'",
        ),
        (
            ("wait_for_signal: approval,", "wait_for_signal: aproval,"),
            11,
            "the body waits for signal 'aproval', which workflow.signals does not declare: "
            "did you mean 'approval'?",
        ),
        (
            ("        - {step: pack, duration: 2s}", "        - {step: pack, duration: 2s, "
             "gather: []}"),
            8,
            "workflow.body[1].gather[0].gather: unknown key; expected one of: step, duration, "
            "output, retry, timeout, compensate, catch",
        ),
        (
            ("  name: checkout\n", "  name: checkout\n  steps: {a: null}\n"),
            2,
            "workflow: give 'steps' (an inline workflow), 'body' (an inline workflow body), "
            "'python' ('module:attr') or 'llama_index' ('module:Class'), not 'steps' and 'body'",
        ),
    ],
)
def test_inline_body_mistakes_are_one_line_errors(
    edit: tuple[str, str], line: int, message: str
) -> None:
    text = BODY.replace(*edit)
    assert text != BODY
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "body.wfsim.yaml")
    error = str(info.value)
    assert "\n" not in error
    assert message in error, error
    assert f"body.wfsim.yaml:{line}:" in error, error


@pytest.mark.spec("SCN-17", "SIG-1")
def test_declared_signals_belong_to_inline_bodies() -> None:
    dag = "scenario: s\nworkflow:\n  signals: [go]\n  steps: {a: null}\n"
    with pytest.raises(ScenarioError, match="declared signals are for an inline body"):
        load_scenario_text(dag)


CASES = wst.workflows_with_faults(
    wst.imperative_workflows(max_calls=4, compensations=True, signals=("go",)),
    max_faults=3,
    kinds=("crash", "error", "latency", "hang"),
)


@pytest.mark.spec("SCN-17", "SCN-13", "FAULT-15")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=CASES,
    signals=wst.signal_schedules(names=("go",), max_signals=2),
    seed=st.integers(0, 7),
)
def test_drawn_bodies_with_crashes_round_trip_through_a_file(
    case: tuple[wfsim.ImperativeWorkflow, list[wfsim.Fault]],
    signals: list[wfsim.Signal],
    seed: int,
) -> None:
    workflow, faults = case
    text = dump_scenario(workflow, faults=faults, signals=signals, seed=seed)
    scenario = load_scenario_text(text)
    assert scenario.workflow.fn == workflow.fn
    assert list(scenario.faults) == faults
    again = wfsim.run(
        scenario.workflow, faults=scenario.faults, signals=scenario.signals, seed=scenario.seed
    )
    first = wfsim.run(workflow, faults=faults, signals=signals, seed=seed)
    assert again.digest() == first.digest()


@pytest.mark.spec("STRAT-11", "SCN-13", "FAULT-17")
def test_a_body_counterexample_prints_as_a_file_that_reproduces_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """The planted replay bug's counterexample: a file, not pickled Python; saved, loaded
    and run, the same oracle fails."""
    from wfsim._core import _engine
    from wfsim.checks import check_all

    monkeypatch.setattr(_engine, "_PLANTED_BUG", "replay_previous_result")
    body = wfsim.ImperativeWorkflow(
        Program((Call("p0", Work(0, 1)), Call("p1", Work(0, 2)), Pause(1))), name="generated"
    )
    faults = [wfsim.Fault.crash(body="sleep")]
    with pytest.raises(wst.Counterexample) as info:
        wst.run_and_check(body, faults=faults, seed=0, target=False)
    text = str(info.value)
    assert "FAULT-17" in text and "pickle" not in text
    assert "Save the counterexample as counterexample.wfsim.yaml" in text
    file_text = text.split("# counterexample.wfsim.yaml\n", 1)[1].split("\nand replay it", 1)[0]
    path = tmp_path / "counterexample.wfsim.yaml"
    path.write_text(file_text)
    scenario = load_scenario(str(path))
    result = wfsim.run(
        scenario.workflow,
        faults=scenario.faults,
        seed=scenario.seed,
        choices=scenario.choices,
    )
    rules = {v.rule for v in check_all(scenario.workflow, scenario.faults, result.trace)}
    assert "FAULT-17" in rules


MINIMISE = """\
scenario: a body crash minimised
seed: 0
workflow:
  name: pay
  body:
    - {step: charge, duration: 2s}
    - {sleep: 1s}
    - {step: ship, duration: 1s}
faults:
  - {step: ship, latency: 3s}
  - {step: charge, crash: {at: after, restart_after: 1s}}
  - {crash: {body: sleep, restart_after: 2s}}
invariants:
  effects: {charge: 1}
"""


@pytest.mark.spec("CAMP-33", "SCN-17")
def test_simulate_minimise_writes_a_body_crash_file_that_reproduces_it(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "pay.wfsim.yaml"
    path.write_text(MINIMISE)
    m = minimise(path, 0, out=tmp_path / "pay.min.wfsim.yaml")
    (crash,) = m.faults
    assert (crash.kind, crash.step, crash.at) == ("crash", "charge", "after")
    written = load_scenario(m.path)
    assert isinstance(written.workflow, wfsim.ImperativeWorkflow)
    assert written.workflow.fn == load_scenario(str(path)).workflow.fn
    assert [f.key for f in run_scenario(written).failures] == [m.key.split(".", 1)[1]]
