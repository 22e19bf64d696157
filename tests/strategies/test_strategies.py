"""The strategies of wfsim.strategies draw valid, runnable, small-shrinking values.

Every property runs what it draws on the reference engine (or through the scenario
loader), so "valid" means "the engine or the loader accepts it and the run ends".
Minimal examples are pinned with ``hypothesis.find``.
"""

from __future__ import annotations

import collections
import inspect
import os
import pickle
import random
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, find, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import wfsim
import wfsim.strategies
from wfsim.scenario import dump_scenario, load_scenario_text, run_scenario, schema
from wfsim.strategies import (
    FAULT_KINDS,
    _faults,
    _workflows,
    dags,
    fault_plans,
    interestingness,
    retry_policies,
    scenario_texts,
    scenarios,
    schedules,
    target_interesting,
    workflows,
    workflows_with_faults,
)
from wfsim.strategies._blocks import Fields, layout_size

#: WFSIM_STRATEGY_EXAMPLES=1000 runs the properties longer (the default keeps this file fast).
SETTINGS = settings(
    max_examples=int(os.environ.get("WFSIM_STRATEGY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: For hypothesis.find: search long enough to shrink fully, the same way every time.
FIND = settings(max_examples=1000, database=None, deadline=None, derandomize=True)

#: Where a run of a generated workflow may end (never timed_out or cancelled).
ENDS = {"completed", "failed", "compensated", "compensation_failed"}
RUN_STATUSES = ENDS | {"timed_out", "cancelled"}
LABELS = (
    "wfsim: retry depth",
    "wfsim: simultaneous starts",
    "wfsim: peak concurrency",
    "wfsim: compensations run",
)


def is_plain(step: wfsim.Step) -> bool:
    """No dependencies, no code, no time, no output, no retry, no timeout, no undo."""
    return (step.after, step.fn, step.duration_ns, step.output) == ((), None, 0, None) and (
        step.retry,
        step.timeout_ns,
        step.compensate,
    ) == (None, None, None)


def one_step(name: str = "s0", **kwargs: Any) -> wfsim.Workflow:
    wf = wfsim.Workflow("one")
    wf.add_step(name, **kwargs)
    return wf


# -- STRAT-1: the public surface -----------------------------------------------------------


@pytest.mark.spec("STRAT-1")
def test_public_names_are_pinned() -> None:
    assert set(wfsim.strategies.__all__) == {
        "COUNTEREXAMPLE_FILE",
        "Counterexample",
        "DELIVERY_FAULT_KINDS",
        "EVENT_TYPES",
        "EventStepCode",
        "FAULT_KINDS",
        "Program",
        "SleepingStep",
        "dags",
        "delivery_fault_plans",
        "event_workflows",
        "fault_plans",
        "format_counterexample",
        "imperative_workflows",
        "interestingness",
        "retry_policies",
        "run_and_check",
        "scenario_texts",
        "scenarios",
        "schedules",
        "signal_schedules",
        "target_interesting",
        "workflows",
        "workflows_with_faults",
    }
    for name in wfsim.strategies.__all__:
        assert hasattr(wfsim.strategies, name), name
    assert FAULT_KINDS == ("error", "latency", "hang", "outage")


STRATEGIES: dict[Callable[..., Any], set[str]] = {
    dags: set(),
    retry_policies: set(),
    workflows: set(),
    fault_plans: {"workflow"},
    workflows_with_faults: {"workflows"},
    schedules: set(),
    scenarios: set(),
    scenario_texts: set(),
    wfsim.strategies.event_workflows: set(),
    wfsim.strategies.imperative_workflows: set(),
    wfsim.strategies.signal_schedules: set(),
}


@pytest.mark.spec("STRAT-1")
@pytest.mark.parametrize("func", list(STRATEGIES), ids=lambda f: f.__name__)
def test_strategies_are_plural_with_keyword_only_bounds(func: Callable[..., Any]) -> None:
    assert func.__name__.split("_")[-1].endswith("s"), "strategies are plural nouns"
    params = inspect.signature(func).parameters.values()
    positional = {p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY}
    assert positional == STRATEGIES[func]
    for p in params:
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            assert p.default is not inspect.Parameter.empty, f"{p.name} needs a default"


@pytest.mark.spec("STRAT-1")
def test_importing_wfsim_does_not_import_hypothesis() -> None:
    code = "import sys, wfsim; sys.exit('hypothesis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- STRAT-2: argument validation -----------------------------------------------------------


def _bad_arguments() -> list[tuple[Callable[[], object], str]]:
    wf = one_step()
    return [
        (lambda: dags(min_steps=-1), r"dags\(\): min_steps must be at least 0, not -1"),
        (
            lambda: dags(min_steps=5, max_steps=3),
            r"dags\(\): min_steps=5 is greater than max_steps=3; min_steps must be at most",
        ),
        (
            lambda: dags(max_deps=1.5),  # type: ignore[arg-type]
            r"dags\(\): max_deps must be an integer, not float 1.5",
        ),
        (lambda: dags(max_steps=True), r"max_steps must be an integer, not bool True"),
        (
            lambda: retry_policies(min_attempts=0),
            r"retry_policies\(\): min_attempts must be at least 1, not 0",
        ),
        (
            lambda: retry_policies(min_attempts=4, max_attempts=2),
            r"min_attempts=4 is greater than max_attempts=2",
        ),
        (
            lambda: retry_policies(jitter="full"),  # type: ignore[arg-type]
            r"retry_policies\(\): jitter must be True or False, not str 'full'",
        ),
        (lambda: workflows(min_steps=0), r"workflows\(\): min_steps must be at least 1, not 0"),
        (
            lambda: workflows(max_concurrency=0),
            r"workflows\(\): max_concurrency must be at least 1, not 0",
        ),
        (
            lambda: workflows(retries=wfsim.RetryPolicy(max_attempts=2)),  # type: ignore[arg-type]
            r"workflows\(\): retries must be a Hypothesis strategy .*not RetryPolicy",
        ),
        (
            lambda: workflows(code_steps=1),  # type: ignore[arg-type]
            r"code_steps must be True or False, not int 1",
        ),
        (
            lambda: fault_plans("s0"),  # type: ignore[arg-type]
            r"fault_plans\(\) takes a wfsim.Workflow, not str 's0'; to draw the workflow too, "
            r"use workflows_with_faults\(\)",
        ),
        (
            lambda: fault_plans(wfsim.Workflow("empty")),
            r"fault_plans\(\): the workflow is invalid: workflow 'empty' has no steps",
        ),
        (
            lambda: fault_plans(wf, kinds=("eror",)),
            r"fault_plans\(\): unknown kind 'eror': did you mean 'error'\? "
            r"\(expected one of error, latency, hang, outage, crash\)",
        ),
        (lambda: fault_plans(wf, kinds=()), r"kinds must name at least one of error, latency"),
        (lambda: fault_plans(wf, kinds="error"), r"kinds must be a collection of names"),
        (
            lambda: fault_plans(wf, kinds=("hang",), min_faults=1),
            r"kinds=\('hang',\) leaves nothing to inject into workflow 'one'",
        ),
        (
            lambda: fault_plans(wf, min_faults=3, max_faults=1),
            r"min_faults=3 is greater than max_faults=1",
        ),
        (
            lambda: workflows_with_faults(workflows=wfsim.Workflow),  # type: ignore[arg-type]
            r"workflows_with_faults\(\): workflows must be a Hypothesis strategy",
        ),
        (
            lambda: workflows_with_faults(kinds=("hang",), min_faults=1),
            r"hang faults need a step with a timeout",
        ),
        (lambda: schedules(max_size=-1), r"schedules\(\): max_size must be at least 0, not -1"),
        (lambda: schedules(min_size=3, max_size=2), r"min_size=3 is greater than max_size=2"),
        (lambda: scenarios(max_faults=-1), r"scenarios\(\): max_faults must be at least 0"),
        (
            lambda: scenario_texts(min_steps=0),
            r"scenario_texts\(\): min_steps must be at least 1, not 0",
        ),
        (
            lambda: scenarios(expectations=None),  # type: ignore[arg-type]
            r"expectations must be True or False",
        ),
    ]


@pytest.mark.spec("STRAT-2")
@pytest.mark.parametrize(
    ("make", "message"),
    _bad_arguments(),
    ids=[re.sub(r"\W+", "-", m.replace("\\", ""))[:48] for _, m in _bad_arguments()],
)
def test_bad_arguments_fail_when_the_strategy_is_made(
    make: Callable[[], object], message: str
) -> None:
    # The call itself raises: nothing has been drawn yet.
    with pytest.raises(InvalidArgument, match=message):
        make()


@pytest.mark.spec("STRAT-2")
def test_boundary_arguments_are_accepted() -> None:
    assert find(dags(min_steps=0, max_steps=0), lambda d: True, settings=FIND) == []
    assert find(dags(max_deps=0), lambda d: len(d) >= 4, settings=FIND) == [[], [], [], []]
    assert find(schedules(max_size=0), lambda t: True, settings=FIND).values == ()
    wf = find(workflows(max_steps=3, max_concurrency=True), lambda w: True, settings=FIND)
    assert wf.max_concurrency is None  # drawn, and shrunk to "unbounded"


# -- STRAT-3: dags ----------------------------------------------------------------------------


@pytest.mark.spec("STRAT-3")
@SETTINGS
@given(st.data())
def test_dags_respect_their_bounds(data: st.DataObject) -> None:
    low = data.draw(st.integers(0, 6), label="min_steps")
    high = data.draw(st.integers(low, 12), label="max_steps")
    max_deps = data.draw(st.integers(0, 3), label="max_deps")
    deps = data.draw(dags(min_steps=low, max_steps=high, max_deps=max_deps))
    assert low <= len(deps) <= high
    for i, after in enumerate(deps):
        assert after == sorted(set(after))
        assert len(after) <= max_deps
        assert all(0 <= d < i for d in after)


@pytest.mark.spec("STRAT-3")
def test_dags_shrink_to_fewer_steps_and_edges() -> None:
    assert find(dags(), lambda d: len(d) >= 3, settings=FIND) == [[], [], []]
    assert find(dags(), lambda d: any(d), settings=FIND) == [[], [0]]
    assert find(dags(), lambda d: any(len(a) >= 2 for a in d), settings=FIND) == [
        [],
        [],
        [0, 1],
    ]


@pytest.mark.spec("STRAT-3")
def test_a_late_step_shrinks_away_from_its_position() -> None:
    # The interesting part sits at the end of a long DAG; deleting the steps before it
    # must keep it, so the minimal example is short.
    shape = find(dags(), lambda d: any(len(a) == 3 for a in d), settings=FIND)
    assert shape == [[], [], [], [0, 1, 2]]


# -- STRAT-4: retry policies -----------------------------------------------------------------


@pytest.mark.spec("STRAT-4")
@SETTINGS
@given(retry_policies(min_attempts=2, max_attempts=4, jitter=True, profiles=True))
def test_retry_policies_are_valid_and_bounded(policy: wfsim.RetryPolicy) -> None:
    assert isinstance(policy, wfsim.RetryPolicy)
    assert 2 <= policy.max_attempts <= 4
    assert policy.max_interval_ns is None or policy.max_interval_ns >= policy.initial_interval_ns
    wf = one_step(duration=0.5, retry=policy)
    result = wfsim.run(wf, faults=[wfsim.Fault.error("s0")])
    assert result.status == "failed"
    assert result.steps["s0"].attempts == policy.max_attempts
    delays = result.trace.retry_delays_ns("s0")
    assert len(delays) == policy.max_attempts - 1
    if policy.jitter == "none":
        assert delays == [wfsim.retry_delay(policy, k) for k in range(1, policy.max_attempts)]


@pytest.mark.spec("STRAT-4")
def test_retry_policies_shrink_to_the_simplest_policy() -> None:
    assert find(retry_policies(), lambda p: True, settings=FIND) == wfsim.RetryPolicy(
        max_attempts=1, initial_interval=0
    )
    found = find(retry_policies(min_attempts=2), lambda p: p.max_attempts >= 3, settings=FIND)
    assert found == wfsim.RetryPolicy(max_attempts=3, initial_interval=0)


@pytest.mark.spec("STRAT-4")
def test_retry_policy_options_widen_what_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    jittered = find(retry_policies(jitter=True), lambda p: p.jitter != "none", settings=FIND)
    assert jittered.jitter in ("full", "equal", "decorrelated")
    assert find(retry_policies(), lambda p: True, settings=FIND).jitter == "none"

    used: set[str] = set()
    profiles = ("temporal", "celery", "prefect", "tenacity", "pyworkflow")
    for name in profiles:
        original = getattr(wfsim.RetryPolicy, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            used.add(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(wfsim.RetryPolicy, name, spy)

    @settings(SETTINGS, max_examples=150, database=None)
    @given(retry_policies(profiles=True, min_attempts=2, max_attempts=3))
    def check(policy: wfsim.RetryPolicy) -> None:
        assert 2 <= policy.max_attempts <= 3

    check()
    assert used == set(profiles)


# -- STRAT-5: workflows ----------------------------------------------------------------------


@pytest.mark.spec("STRAT-5")
@SETTINGS
@given(
    workflows(
        max_steps=8,
        max_concurrency=True,
        code_steps=True,
        compensations=True,
        retries=retry_policies(profiles=True, jitter=True),
    )
)
def test_workflows_are_valid_and_every_run_ends(wf: wfsim.Workflow) -> None:
    assert wf.name == "generated" and 1 <= len(wf) <= 8
    assert list(wf.steps) == [f"s{i}" for i in range(len(wf))]
    assert sorted(wf.validate()) == sorted(wf.steps)
    for i, step in enumerate(wf.steps.values()):
        assert all(int(dep[1:]) < i for dep in step.after)
        assert step.retry is None or step.retry.max_attempts >= 1
        if step.compensate is not None:
            assert step.compensate.name == f"undo_{step.name}"
    result = wfsim.run(wf)
    assert result.status in ENDS, result.message
    if not any(s.timeout_ns for s in [*wf.steps.values(), *wf.compensations.values()]):
        assert result.status == "completed", result.message
    if wf.max_concurrency is not None:
        assert result.trace.max_concurrency() <= wf.max_concurrency
    again = wfsim.run(pickle.loads(pickle.dumps(wf)))
    assert again.digest() == result.digest()


@pytest.mark.spec("STRAT-5")
@SETTINGS
@given(workflows(max_steps=5, retries=False, timeouts=False, max_concurrency=2))
def test_workflow_options_are_honoured(wf: wfsim.Workflow) -> None:
    assert wf.max_concurrency == 2
    assert wf.saga == wfsim.SagaPolicy()
    for step in wf.steps.values():
        assert step.retry is None and step.timeout_ns is None
        assert step.fn is None and step.compensate is None
    assert wfsim.run(wf).status == "completed"


@pytest.mark.spec("STRAT-5")
def test_workflows_shrink_to_plain_steps() -> None:
    wf = find(workflows(code_steps=True, compensations=True), lambda w: len(w) >= 2, settings=FIND)
    assert list(wf.steps) == ["s0", "s1"]
    assert wf.max_concurrency is None and wf.saga == wfsim.SagaPolicy()
    assert all(is_plain(step) for step in wf.steps.values())


# -- Blocks: a step, a retry policy and a fault are each one choice ------------------------


def _step_layouts() -> list[Any]:
    layouts = []
    for code, comp, rules, groups, retries in [
        (False, False, False, False, True),
        (True, True, True, True, True),
        (True, False, False, True, False),
        (False, True, True, False, True),
    ]:
        options = _workflows._Options(
            min_steps=1,
            max_steps=20,
            max_deps=3,
            limits=st.none(),
            retries=retry_policies(jitter=True) if retries else None,
            timeouts=True,
            code_steps=code,
            compensations=comp,
            trigger_rules=rules,
            parallel_groups=groups,
        )
        policy = _workflows._PolicyLayout(1, 6, True, False) if retries else None
        layout = _workflows._StepLayout(options, policy)
        layouts.append(lambda f, layout=layout: layout.read(f, None))
    return layouts


def _block_readers() -> list[Any]:
    policies = [
        _workflows._PolicyLayout(low, high, jitter, profiles).read
        for low, high in ((1, 6), (2, 300))
        for jitter in (False, True)
        for profiles in (False, True)
    ]
    wf = wfsim.Workflow("targets")
    wf.add_step("s0", timeout=1, compensate="undo_s0")
    wf.add_parallel("s1", [wfsim.task("t0"), wfsim.task("t1")], after=["s0"])
    wf.add_step("s2", retry=wfsim.RetryPolicy(max_attempts=0, initial_interval=0))
    targets = _faults._Targets.of(wf)
    faults = [
        _faults._FaultLayout(targets, (*FAULT_KINDS, "crash"), ("*", "s*")).read,
        _faults._FaultLayout(targets, ("latency",), ("*",)).read,
    ]
    return [*policies, *_step_layouts(), *faults]


@pytest.mark.spec("STRAT-4", "STRAT-5", "STRAT-6")
def test_every_block_is_read_with_one_layout_whatever_its_bytes() -> None:
    # The layout rule of wfsim/strategies/_blocks.py: a reader reads the same fields
    # whatever their values, so a block has one size and shrinking one field never moves
    # another. Fixed random bytes (random.Random(0)): the same blocks on every run.
    rng = random.Random(0)
    for read in _block_readers():
        size = layout_size(read)
        assert size > 0
        for _ in range(100):
            fields = Fields(rng.randbytes(size))
            read(fields)
            assert fields.used == size
    # Fault blocks are drawn at one size for every workflow (names are read modulo).
    assert {layout_size(read) for read in _block_readers()[-2:]} == {_faults._FAULT_SIZE}


@pytest.mark.spec("STRAT-4", "STRAT-5")
def test_a_block_of_zeros_reads_the_simplest_value() -> None:
    policy = _workflows._PolicyLayout(2, 6, True, True)
    assert policy.read(Fields(bytes(layout_size(policy.read)))) == wfsim.RetryPolicy(
        max_attempts=2, initial_interval=0
    )
    for read in _step_layouts():
        step = read(Fields(bytes(layout_size(read))))
        assert step.offsets == [] and step.undo is None and step.group is None
        assert step.rule == "all_success"
        assert (step.work.fn, step.work.duration, step.work.output) == (None, "0ms", None)
        assert (step.work.retry, step.work.timeout) == (None, None)


def _same_seed_draws() -> list[str]:
    seen: list[str] = []

    @seed(20261205)
    @settings(
        max_examples=25, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        case=workflows_with_faults(
            workflows(
                max_steps=6,
                max_concurrency=True,
                compensations=True,
                trigger_rules=True,
                parallel_groups=True,
                retries=retry_policies(profiles=True, jitter=True),
            ),
            kinds=FAULT_KINDS,
        ),
        tape=schedules(max_size=10),
    )
    def collect(case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape) -> None:
        seen.append(dump_scenario(case[0], faults=case[1], choices=list(tape.values)))

    collect()
    return seen


@pytest.mark.spec("STRAT-5", "STRAT-6")
def test_the_same_hypothesis_seed_draws_the_same_examples() -> None:
    first = _same_seed_draws()
    assert len(set(first)) > 10  # different examples...
    assert _same_seed_draws() == first  # ...and the same ones again


# -- STRAT-6: fault plans ----------------------------------------------------------------------


@pytest.mark.spec("STRAT-6")
@SETTINGS
@given(
    case=workflows_with_faults(
        workflows(max_steps=6, code_steps=True, compensations=True, max_concurrency=True),
        max_faults=4,
        kinds=FAULT_KINDS,
    ),
    seed=st.integers(0, 2**32),
)
def test_fault_plans_target_the_workflow_and_runs_end(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], seed: int
) -> None:
    wf, faults = case
    names = [*wf.steps, *wf.compensations]
    assert len(faults) <= 4
    for fault in faults:
        assert fault.kind in FAULT_KINDS
        assert any(fault.matches(name) for name in names), fault
        if fault.kind == "hang":
            assert {**wf.steps, **wf.compensations}[fault.step].timeout_ns is not None
    result = wfsim.run(wf, faults=faults, seed=seed)
    assert result.status in ENDS, result.message


@pytest.mark.spec("STRAT-6")
@SETTINGS
@given(data=st.data(), wf=workflows(max_steps=4, retries=False))
def test_fault_plans_compose_with_data(data: st.DataObject, wf: wfsim.Workflow) -> None:
    faults = data.draw(fault_plans(wf, min_faults=2, max_faults=2, kinds=("latency",)))
    assert len(faults) == 2 and {f.kind for f in faults} == {"latency"}
    assert wfsim.run(wf, faults=faults).status in ENDS


@pytest.mark.spec("STRAT-6")
def test_fault_plans_spare_steps_that_retry_forever() -> None:
    wf = one_step(retry=wfsim.RetryPolicy(max_attempts=0, initial_interval=0), timeout=1)
    plans = fault_plans(wf, min_faults=1, max_faults=3, kinds=("error", "hang", "outage"))

    @settings(SETTINGS, max_examples=60)
    @given(plans)
    def check(faults: list[wfsim.Fault]) -> None:
        for fault in faults:
            assert fault.kind in ("error", "hang")  # an outage could never end
            assert fault.attempts is not None  # every attempt would fail forever
        assert wfsim.run(wf, faults=faults).status in ("completed", "failed")

    check()


@pytest.mark.spec("STRAT-6")
def test_fault_plans_shrink_to_one_error_on_the_first_attempt() -> None:
    def fails(case: tuple[wfsim.Workflow, list[wfsim.Fault]]) -> bool:
        return wfsim.run(case[0], faults=case[1]).status == "failed"

    wf, faults = find(workflows_with_faults(workflows(timeouts=False)), fails, settings=FIND)
    assert list(wf.steps) == ["s0"]
    assert is_plain(wf["s0"])
    # One plain error on s0: on its first attempt, or on every attempt (which of the two
    # the shrinker settles on depends on how far it gets, not on anything the suite sets).
    assert faults in (
        [wfsim.Fault.error("s0", attempts=[1])],
        [wfsim.Fault.error("s0")],
    ), faults
    # With timeouts a fault is not even needed: one step whose timeout fires.
    wf, faults = find(workflows_with_faults(), fails, settings=FIND)
    assert len(wf) == 1 and len(faults) <= 1


# -- STRAT-7: schedules ------------------------------------------------------------------------


@pytest.mark.spec("STRAT-7")
@SETTINGS
@given(
    case=workflows_with_faults(
        workflows(max_steps=8, code_steps=True, compensations=True, max_concurrency=True),
        kinds=FAULT_KINDS,
    ),
    tape=schedules(),
)
def test_the_same_tape_gives_the_same_trace(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape
) -> None:
    wf, faults = case
    assert 0 <= len(tape.values) <= 200
    assert all(0 <= v < 2**32 for v in tape.values)
    values = tuple(tape.values)
    first = wfsim.run(wf, faults=faults, choices=tape)
    assert first.status in ENDS, first.message
    again = wfsim.run(wf, faults=faults, choices=wfsim.Tape(values))
    assert again.digest() == first.digest(), (
        f"diverges at event {again.trace.first_divergence(first.trace)}"
    )
    replay = wfsim.run(wf, faults=faults, choices=first.choices)
    assert replay.digest() == first.digest()


@pytest.mark.spec("STRAT-7")
def test_schedules_shrink_to_the_canonical_order() -> None:
    assert find(schedules(), lambda t: True, settings=FIND).values == ()
    wf = wfsim.Workflow("two")
    wf.add_step("s0")
    wf.add_step("s1")
    assert wfsim.run(wf, choices=wfsim.Tape(())).trace.start_order() == ["s0", "s1"]
    reversed_ = find(
        schedules(),
        lambda t: wfsim.run(wf, choices=t).trace.start_order() == ["s1", "s0"],
        settings=FIND,
    )
    assert reversed_.values == (1,)


@pytest.mark.spec("STRAT-7")
def test_schedule_sizes_are_bounded() -> None:
    @settings(SETTINGS, max_examples=30)
    @given(schedules(min_size=3, max_size=5))
    def check(tape: wfsim.Tape) -> None:
        assert 3 <= len(tape.values) <= 5

    check()


# -- STRAT-8: scenarios ------------------------------------------------------------------------

VALIDATOR = jsonschema.Draft202012Validator(schema())


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_loaded(doc: dict[str, Any], text: str) -> None:
    VALIDATOR.validate(doc)
    loaded = load_scenario_text(text)
    assert loaded.title == doc["scenario"]
    assert loaded.seed == doc.get("seed", 0)
    assert loaded.input == doc.get("input", {})
    assert loaded.expect == doc.get("expect", {})
    spec = doc["workflow"]
    wf = loaded.workflow
    assert isinstance(wf, wfsim.Workflow)
    assert list(wf.steps) == list(spec["steps"])
    if "saga" in spec:
        assert wf.saga == wfsim.SagaPolicy(**spec["saga"])
    for name, raw in spec["steps"].items():
        assert not re.search(r"[\s<>*?\[]", name), "names a fault or an order chain misreads"
        step, raw = wf[name], raw or {}
        assert step.after == tuple(_list(raw.get("after", [])))
        assert step.duration_ns == wfsim.to_ns(raw.get("duration", 0))
        assert step.output == raw.get("output")
        assert (step.retry is None) == ("retry" not in raw)
        if "timeout" in raw:
            assert step.timeout_ns == wfsim.to_ns(raw["timeout"])
        undo = raw.get("compensate")
        if undo is None:
            assert step.compensate is None
        else:
            assert step.compensate is not None
            assert step.compensate.name == (undo if isinstance(undo, str) else undo["name"])
    faults = doc.get("faults", [])
    assert [(f.step, f.kind) for f in loaded.faults] == [
        (f["step"], "latency" if "latency" in f else "error") for f in faults
    ]
    outcome = run_scenario(loaded)
    assert outcome.result.status in RUN_STATUSES


@pytest.mark.spec("STRAT-8")
@SETTINGS
@given(scenarios(compensations=True, expectations=True))
def test_scenario_documents_load_and_round_trip(doc: dict[str, Any]) -> None:
    _check_loaded(doc, yaml.safe_dump(doc, sort_keys=False))


@pytest.mark.spec("STRAT-8")
@SETTINGS
@given(scenario_texts(max_steps=5))
def test_scenario_texts_load(text: str) -> None:
    doc = yaml.safe_load(text)
    assert "expect" not in doc and "saga" not in doc["workflow"]
    _check_loaded(doc, text)


@pytest.mark.spec("STRAT-8")
def test_scenarios_shrink_to_one_null_step() -> None:
    # Small bounds keep the search short; the shrunk document is the same for any bounds.
    assert find(scenarios(max_steps=2, max_faults=1), lambda d: True, settings=FIND) == {
        "scenario": "0",
        "workflow": {"steps": {"0": None}},
    }


# -- STRAT-9: interestingness ------------------------------------------------------------------


def _independent_scores(wf: wfsim.Workflow, result: wfsim.RunResult) -> dict[str, int]:
    trace = result.trace
    names = [*wf.steps, *wf.compensations]
    starts = collections.Counter(
        e.t_ns for e in trace if e.kind in ("attempt_started", "compensation_started")
    )
    return dict(
        zip(
            LABELS,
            (
                max(len(trace.attempts(n)) for n in names),
                max(starts.values(), default=0),
                trace.max_concurrency(),
                len(trace.compensation_order()),
            ),
            strict=True,
        )
    )


@pytest.mark.spec("STRAT-9")
@SETTINGS
@given(
    case=workflows_with_faults(workflows(max_steps=6, compensations=True), max_faults=3),
    tape=schedules(max_size=50),
)
def test_target_interesting_reports_the_run(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape
) -> None:
    wf, faults = case
    result = wfsim.run(wf, faults=faults, choices=tape)
    scores = target_interesting(result)
    assert scores == _independent_scores(wf, result)
    assert interestingness(result) == scores


@pytest.mark.spec("STRAT-9")
def test_interestingness_of_a_known_run() -> None:
    wf = wfsim.Workflow("known", saga=wfsim.SagaPolicy(parallel=True))
    wf.add_step("a", duration=1, compensate="undo_a")
    wf.add_step("b", duration=1, compensate="undo_b")
    wf.add_step("c", after=["a", "b"], retry=wfsim.RetryPolicy(max_attempts=3))
    result = wfsim.run(wf, faults=[wfsim.Fault.error("c")])
    assert result.status == "compensated"
    # c's third attempt and both compensations start at t=4.
    assert interestingness(result) == {
        "wfsim: retry depth": 3,
        "wfsim: simultaneous starts": 3,
        "wfsim: peak concurrency": 2,
        "wfsim: compensations run": 2,
    }


@pytest.mark.spec("STRAT-9")
def test_target_interesting_follows_hypothesis_rules() -> None:
    result = wfsim.run(one_step())
    with pytest.raises(InvalidArgument, match="outside of a test"):
        target_interesting(result)

    @settings(SETTINGS, max_examples=1)
    @given(st.just(result))
    def twice(r: wfsim.RunResult) -> None:
        target_interesting(r)
        target_interesting(r)

    with pytest.raises(InvalidArgument, match="would overwrite"):
        twice()
