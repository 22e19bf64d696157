"""The property suite: every oracle over random workflows, fault plans and schedules.

Runs in CI with the ``ci`` Hypothesis profile (2,000 examples, bounded); use
``pytest tests/properties --hypothesis-profile=nightly`` for a long search. Each
property calls :func:`wfsim.strategies.run_and_check`: a violation fails with the
shrunk run printed as a scenario file and its ``wfsim replay`` line.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import strategies as wst

#: 2,000 random workflow/fault combinations per CI run over the three styles (1,400 DAG,
#: 300 imperative, 300 event), 10x with --hypothesis-profile=nightly.
SCALE = 10 if settings().max_examples >= 1000 else 1
EXAMPLES = 1_400 * SCALE
STYLE_EXAMPLES = 300 * SCALE

#: DAG workflows of every kind the strategies draw, with every kind of fault.
DAG_CASES = wst.workflows_with_faults(
    st.one_of(
        wst.workflows(max_steps=12),
        wst.workflows(max_steps=8, compensations=True, max_concurrency=True),
        wst.workflows(max_steps=6, code_steps=True, timeouts=True),
        wst.workflows(
            max_steps=8,
            trigger_rules=True,
            parallel_groups=True,
            compensations=True,
            max_concurrency=True,
        ),
    ),
    max_faults=4,
    kinds=wst.FAULT_KINDS,
)
TAPES = wst.schedules(max_size=60)
SEEDS = st.integers(0, 2**16)
#: The properties keep no example database: with one, Hypothesis also keeps a Pareto
#: front of every example's target() scores (run_and_check calls target_interesting)
#: and compares each new example with its members, which costs more than the rest of
#: the search (2.5-3x the CPU, benchmarks/README.md). A failure prints its scenario
#: file and replay line (STRAT-10), which is what reproduces it.
DATABASE = None


def check_dag_run(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    """The DAG property: every oracle holds, and the recorded choices replay the run."""
    workflow, faults = case
    wst.run_and_check(workflow, faults=faults, seed=seed, choices=tape)


@settings(
    max_examples=EXAMPLES,
    database=DATABASE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=DAG_CASES, tape=TAPES, seed=SEEDS)
@pytest.mark.spec("ORACLE-3", "DET-5", "STRAT-16")
def test_every_oracle_holds_on_random_runs(
    case: tuple[wfsim.Workflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    check_dag_run(case, tape, seed)


#: Imperative bodies (steps, gathers, sleeps, signal waits, caught failures, sagas),
#: with faults on their calls, crashes of their engine (at a call or a point of the
#: body's code, which then replays its history: FAULT-15) and signals at random times.
IMPERATIVE_CASES = wst.workflows_with_faults(
    wst.imperative_workflows(max_calls=8, compensations=True, signals=("go", "stop")),
    max_faults=3,
    kinds=(*wst.FAULT_KINDS, "crash"),
)
#: Event workflows (fan-out, collect_events fan-in, workers), with faults on invocations.
EVENT_CASES = wst.workflows_with_faults(wst.event_workflows(), max_faults=3, kinds=wst.FAULT_KINDS)


@settings(
    max_examples=STYLE_EXAMPLES,
    database=DATABASE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    case=IMPERATIVE_CASES,
    signals=wst.signal_schedules(names=("go", "stop")),
    tape=TAPES,
    seed=SEEDS,
)
@pytest.mark.spec("ORACLE-3", "DET-5", "STRAT-16")
def test_every_oracle_holds_on_random_imperative_runs(
    case: tuple[wfsim.ImperativeWorkflow, list[wfsim.Fault]],
    signals: list[wfsim.Signal],
    tape: wfsim.Tape,
    seed: int,
) -> None:
    workflow, faults = case
    wst.run_and_check(workflow, faults=faults, seed=seed, choices=tape, signals=signals)


@settings(
    max_examples=STYLE_EXAMPLES,
    database=DATABASE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=EVENT_CASES, tape=TAPES, seed=SEEDS)
@pytest.mark.spec("ORACLE-3", "DET-5", "STRAT-16")
def test_every_oracle_holds_on_random_event_runs(
    case: tuple[wfsim.EventWorkflow, list[wfsim.Fault]], tape: wfsim.Tape, seed: int
) -> None:
    workflow, faults = case
    wst.run_and_check(workflow, faults=faults, seed=seed, choices=tape)
