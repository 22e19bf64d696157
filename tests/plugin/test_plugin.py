"""The pytest plugin: scenario files as tests, fixtures, the marker, options, async tests.

Rules (for ``specs/plugin.md``):

### PLUG-1: Scenario files are tests
pytest collects every `*.wfsim.yaml` file it is given or finds in a directory it
collects as one test item named after the scenario's title
(`scenarios/x.wfsim.yaml::<title>`). The file is loaded at collection: an invalid
file is one collection error whose text is the loader's message
(`FILE:LINE: ...`) and nothing else, no Python traceback. An item passes when
every expectation of its `expect` holds for the run.

### PLUG-2: Seeds
An item runs with its scenario's `seed`; `--wfsim-seed K` (default: the ini key
`wfsim_seed`) runs every scenario with K instead. `--wfsim-seeds N` makes N items
per file, for seeds s, s+1, ..., s+N-1 (s: the scenario's seed, or K), with ids
`<title>[seed=<seed>]`. The report header states the seed configuration, e.g.
`wfsim: seed from scenario files; --wfsim-seeds 1`.

### PLUG-3: Failure reports
A failing scenario item reports the scenario's title and seed; each expectation
that failed with its `FILE:LINE`, key, expected and actual values and the trace
lines involved; and the command that replays the run
(`wfsim replay FILE --seed N`). It shows no Python traceback. The item's location
reads `scenario: <title> [seed <seed>]`.

### PLUG-4: Fixtures
`wfsim_seed` is the test's seed: the `wfsim` marker's `seed=`, else `--wfsim-seed`
(or `wfsim_seed`), else 0. `wfsim_faults` is an empty fault plan built by chaining
(`.error(step, ...)`, `.latency(step, extra=...)`, `.add(fault)`; it iterates as
`wfsim.Fault`s). `wfsim_sim.run(workflow, ...)` and `await wfsim_sim.arun(...)`
run the workflow with the test's seed, time limit and `wfsim_faults` unless the
call overrides them, and keep the result in `wfsim_sim.last`. `wfsim_trace.expect(...)`
checks the latest run with the keys of a scenario file's `expect` and raises
`AssertionError` with the scenario report and a command that reruns the test;
`assert_status`, `assert_order`, `assert_attempts` and `assert_retry_delays` are
its shorthands; before any run it raises an error saying to run first.
`wfsim_clock` is a `trio.testing.MockClock(autojump_threshold=0)`. A failing test
that used `wfsim_seed` (directly or through `wfsim_sim`) reports a `wfsim` section
with its seed and the rerun command.

### PLUG-5: The marker
`@pytest.mark.wfsim(seed=K, time_limit=D)` sets the seed (ahead of `--wfsim-seed`)
and the virtual time limit of the test's runs. Marks on the function, class and
module merge, the closest winning per argument. Any other argument, a positional
one, a seed that is not an integer >= 0 or a time limit that is not a positive
duration is an error of that test naming what is allowed. The marker is
registered (`pytest --markers`, `--strict-markers`).

### PLUG-6: Options and traces
`--wfsim-seed N`, `--wfsim-seeds N` and `--wfsim-trace-dir DIR` (group `wfsim`),
and the ini keys `wfsim_seed` and `wfsim_trace_dir` (relative to the ini file). A
value that is not a valid integer (seed >= 0, seeds >= 1), or a trace directory
that is a file, is a usage error (exit code 4) with a sentence naming the option.
With a trace directory, every run writes its trace as JSON Lines: scenario items
to `DIR/<file name without .wfsim.yaml>-seed<N>.jsonl`, fixture runs to
`DIR/<module>.<test>-seed<N>.jsonl` (`-run2`, `-run3`, ... for a test's later runs).

### PLUG-7: Async tests on virtual time
An `async def` test that requests a `wfsim_*` fixture or carries the `wfsim`
marker, and that no other plugin runs (no `trio`, `anyio` or `asyncio` marker),
runs under `trio.run`. Its clock is the trio `Clock` among the test's arguments
(such as `wfsim_clock`; more than one is an error of the test), else a fresh
`MockClock(autojump_threshold=0)`: `await trio.sleep(3600)` takes no wall time
and `await wfsim_sim.arun(workflow)` works. `wfsim_sim.run()` inside it is an
error pointing to `arun`.

### PLUG-8: Coexistence with pytest-trio
Tests pytest-trio runs (`@pytest.mark.trio`, or every async test with
`trio_mode = true`) are left to it; the wfsim fixtures work there, and
`wfsim_clock`, being a trio `Clock` fixture, becomes the run's clock.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Callable

import pytest
import trio
import trio.testing

import wfsim
import wfsim.scenario  # imported here so pytester's inline runs reuse it
from wfsim import Fault, RetryPolicy
from wfsim._pytest_plugin import FaultPlan, Simulation, TraceAssertions

SCENARIO = """\
scenario: order saga retries the payment
seed: 1
workflow:
  name: purchase
  steps:
    reserve_inventory: {duration: 1s}
    charge_payment:
      after: [reserve_inventory]
      duration: 2s
      retry: {max_attempts: 3, initial_interval: 1s, backoff_coefficient: 2}
    ship_order: {after: [charge_payment], duration: 1s}
faults:
  - {step: charge_payment, attempts: [1], error: ConnectionError}
expect:
  status: completed
  order: [reserve_inventory < charge_payment < ship_order]
  attempts: {charge_payment: 2}
  retry_delays: {charge_payment: [1s]}
  makespan: 5s
"""

TITLE = "order saga retries the payment"

#: The Python twin of SCENARIO, for the fixture tests (inner test files import it).
WORKFLOWS = """\
import wfsim


def purchase():
    wf = wfsim.Workflow("purchase")
    wf.add_step("reserve", duration=1)
    wf.add_step(
        "charge",
        after=["reserve"],
        duration=2,
        retry=wfsim.RetryPolicy(max_attempts=3, initial_interval=1, backoff_coefficient=2),
    )
    wf.add_step("ship", after=["charge"], duration=1)
    return wf


def slow():
    wf = wfsim.Workflow("slow")
    wf.add_step("wait", duration="2h")
    return wf
"""


def purchase() -> wfsim.Workflow:
    wf = wfsim.Workflow("purchase")
    wf.add_step("reserve", duration=1)
    wf.add_step(
        "charge",
        after=["reserve"],
        duration=2,
        retry=RetryPolicy(max_attempts=3, initial_interval=1, backoff_coefficient=2),
    )
    wf.add_step("ship", after=["charge"], duration=1)
    return wf


def write_scenario(pytester: pytest.Pytester, name: str = "retry", text: str = SCENARIO) -> str:
    """Write ``scenarios/<name>.wfsim.yaml``; return its path relative to the test dir."""
    path = pytester.path / "scenarios" / f"{name}.wfsim.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return f"scenarios/{name}.wfsim.yaml"


def python_tests(pytester: pytest.Pytester, source: str) -> None:
    """Write ``user_workflows.py`` and ``test_wf.py`` holding ``source``."""
    pytester.makepyfile(user_workflows=WORKFLOWS)
    pytester.makepyfile(
        test_wf="import pytest\nimport trio\nimport wfsim\n"
        + "from user_workflows import purchase, slow\n\n"
        + textwrap.dedent(source)
    )


def no_traceback(text: str) -> None:
    assert "Traceback" not in text
    assert "_pytest_plugin" not in text
    assert not re.search(r"\.py:\d+", text), text
    assert not re.search(r"^E\s", text, re.M), text


# -- PLUG-1: scenario files are tests ------------------------------------------------------------


@pytest.mark.spec("PLUG-1")
def test_a_scenario_file_is_one_item_named_after_its_title(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines([f"{path}::{TITLE}", "1 test collected*"])

    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"{path}::{TITLE} PASSED*"])


@pytest.mark.spec("PLUG-1")
def test_scenario_files_are_found_next_to_python_tests(pytester: pytest.Pytester) -> None:
    write_scenario(pytester, "one")
    write_scenario(pytester, "two", SCENARIO.replace(TITLE, "second"))
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    (pytester.path / "notes.yaml").write_text("scenario: not a wfsim file\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)


@pytest.mark.spec("PLUG-1")
def test_an_invalid_scenario_is_one_clean_collection_error(pytester: pytest.Pytester) -> None:
    path = write_scenario(
        pytester,
        "bad",
        "scenario: broken\nworkflow:\n  steps: {a: {duration: 1s}}\nexpekt: {status: completed}\n",
    )
    write_scenario(pytester, "good")
    result = pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    assert out.count("ERROR collecting") == 1
    error = out.split(f"ERROR collecting {path}")[1].split("short test summary info")[0]
    body = [line for line in error.splitlines()[1:] if line.strip() and not line.startswith("===")]
    assert body == [f"{path}:4: expekt: unknown key: did you mean 'expect'?"]
    no_traceback(error)


@pytest.mark.spec("PLUG-1")
def test_a_broken_yaml_file_is_a_collection_error_with_its_line(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester, "bad", "scenario: x\nworkflow: [unclosed\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.re_match_lines([rf"^{re.escape(path)}:\d+: "])
    no_traceback(result.stdout.str().split("ERROR collecting")[1].split("short test summary")[0])


# -- PLUG-2: seeds -----------------------------------------------------------------------------


@pytest.mark.spec("PLUG-2")
def test_wfsim_seeds_makes_one_item_per_seed(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester)
    result = pytester.runpytest("--wfsim-seeds", "3", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            f"{path}::{TITLE}[[]seed=1[]] PASSED*",
            f"{path}::{TITLE}[[]seed=2[]] PASSED*",
            f"{path}::{TITLE}[[]seed=3[]] PASSED*",
        ]
    )


@pytest.mark.spec("PLUG-2")
def test_wfsim_seed_replaces_the_scenario_seed(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester)
    result = pytester.runpytest("--wfsim-seed", "10", "--wfsim-seeds", "2", "--collect-only", "-q")
    result.stdout.fnmatch_lines([f"{path}::{TITLE}[[]seed=10[]]", f"{path}::{TITLE}[[]seed=11[]]"])

    items, _ = pytester.inline_genitems("--wfsim-seed", "7")
    assert [item.location[2] for item in items] == [f"scenario: {TITLE} [seed 7]"]


@pytest.mark.spec("PLUG-2")
def test_the_ini_seed_is_the_default_of_the_option(pytester: pytest.Pytester) -> None:
    write_scenario(pytester)
    pytester.makeini("[pytest]\nwfsim_seed = 4\n")
    items, _ = pytester.inline_genitems()
    assert [item.location[2] for item in items] == [f"scenario: {TITLE} [seed 4]"]
    items, _ = pytester.inline_genitems("--wfsim-seed", "5")
    assert [item.location[2] for item in items] == [f"scenario: {TITLE} [seed 5]"]


@pytest.mark.spec("PLUG-2")
def test_the_header_states_the_seed_configuration(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["wfsim: seed from scenario files; --wfsim-seeds 1"])

    result = pytester.runpytest("--wfsim-seed", "7", "--wfsim-seeds", "3")
    result.stdout.fnmatch_lines(["wfsim: seed 7 from --wfsim-seed; --wfsim-seeds 3"])

    pytester.makeini("[pytest]\nwfsim_seed = 2\nwfsim_trace_dir = out\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "wfsim: seed 2 from wfsim_seed in tox.ini; --wfsim-seeds 1; "
            f"traces to {pytester.path}/out"
        ]
    )


# -- PLUG-3: failure reports -------------------------------------------------------------------


@pytest.mark.spec("PLUG-3")
def test_a_broken_expectation_reports_expected_actual_trace_and_replay(
    pytester: pytest.Pytester,
) -> None:
    path = write_scenario(
        pytester,
        text=SCENARIO.replace("attempts: {charge_payment: 2}", "attempts: {charge_payment: 3}"),
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    report = out.split("FAILURES")[1].split("short test summary info")[0]
    assert f"scenario: {TITLE} [seed 1]" in report.splitlines()[1]
    result.stdout.fnmatch_lines(
        [
            f"scenario '{TITLE}' failed with seed 1: 1 expectation not met",
            "",
            f"{path}:17: expect.attempts.charge_payment: expected charge_payment to make "
            "3 attempts, but it made 2",
            "  expected: 3",
            "  actual:   2",
            "  trace:",
            "*attempt_started charge_payment#1",
            '*attempt_failed charge_payment#1 error="ConnectionError"*',
            "*attempt_started charge_payment#2",
            "*",
            f"replay: wfsim replay {path} --seed 1",
        ]
    )
    no_traceback(report)


@pytest.mark.spec("PLUG-3")
def test_the_report_names_the_seed_the_item_ran_with(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester, text=SCENARIO.replace("makespan: 5s", "makespan: '< 5s'"))
    result = pytester.runpytest("--wfsim-seeds", "2")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"*scenario: {TITLE} [[]seed 2[]]*",
            f"scenario '{TITLE}' failed with seed 2: 1 expectation not met",
            f"{path}:19: expect.makespan: expected the run to take less than 5s, but it took 5s",
            "*",
            f"replay: wfsim replay {path} --seed 2",
        ]
    )


@pytest.mark.spec("PLUG-3")
def test_a_run_that_cannot_finish_reports_the_error_and_replay(pytester: pytest.Pytester) -> None:
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios/flows.py").write_text(
        textwrap.dedent(
            """
            import trio
            import wfsim

            bad = wfsim.Workflow("bad")

            @bad.step
            async def sleepy(ctx):
                await trio.sleep(5)
            """
        )
    )
    path = write_scenario(
        pytester,
        "external",
        "scenario: waits outside\nworkflow: {python: 'flows:bad'}\nexpect: {status: completed}\n",
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*scenario: waits outside [[]seed 0[]]*",
            "scenario 'waits outside' could not run with seed 0: ExternalWaitError: step 'sleepy' "
            "(attempt 1) waited 5 s of virtual time outside wfsim*",
            "",
            f"replay: wfsim replay {path} --seed 0",
        ]
    )
    no_traceback(result.stdout.str().split("FAILURES")[1].split("short test summary")[0])


@pytest.mark.spec("PLUG-3")
def test_scenario_items_report_their_location(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester)
    items, _ = pytester.inline_genitems()
    assert [item.location for item in items] == [(path, 0, f"scenario: {TITLE} [seed 1]")]
    assert items[0].user_properties == [("wfsim_seed", 1)]


# -- PLUG-4: fixtures --------------------------------------------------------------------------


@pytest.mark.spec("PLUG-4")
def test_wfsim_seed_comes_from_the_marker_then_the_option_then_zero(
    pytester: pytest.Pytester,
) -> None:
    python_tests(
        pytester,
        """
        import os

        def test_default(wfsim_seed):
            assert wfsim_seed == int(os.environ.get("EXPECTED_SEED", "0"))

        @pytest.mark.wfsim(seed=3)
        def test_marked(wfsim_seed, wfsim_sim):
            assert wfsim_seed == wfsim_sim.seed == 3
        """,
    )
    pytester.runpytest().assert_outcomes(passed=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPECTED_SEED", "9")
        pytester.runpytest("--wfsim-seed", "9").assert_outcomes(passed=2)


@pytest.mark.spec("PLUG-4")
def test_wfsim_sim_runs_with_the_test_seed_and_fault_plan(pytester: pytest.Pytester) -> None:
    python_tests(
        pytester,
        """
        def test_run(wfsim_sim, wfsim_faults):
            assert wfsim_sim.last is None
            wfsim_faults.error("charge", attempts=[1], error=ConnectionError)
            result = wfsim_sim.run(purchase())
            assert wfsim_sim.last is result
            assert result.seed == 0
            assert result.steps["charge"].attempts == 2
            assert result.makespan == 5

        def test_overrides(wfsim_sim, wfsim_faults):
            wfsim_faults.error("charge", attempts=[1])
            result = wfsim_sim.run(purchase(), seed=8, faults=[], time_limit="2s")
            assert (result.seed, result.status) == (8, "timed_out")
            assert wfsim_sim.runs == [result]
        """,
    )
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.spec("PLUG-4")
def test_wfsim_faults_chains_and_iterates_as_faults(wfsim_faults: FaultPlan) -> None:
    same = wfsim_faults.error("charge", attempts=[1], error=ConnectionError).latency(
        "ship", extra=0.5
    )
    assert same is wfsim_faults
    wfsim_faults.add(Fault.error("reserve", attempts=2))
    assert list(wfsim_faults) == [
        Fault.error("charge", attempts=[1], error=ConnectionError),
        Fault.latency("ship", extra=0.5),
        Fault.error("reserve", attempts=[2]),
    ]
    assert len(wfsim_faults) == 3
    with pytest.raises(TypeError, match="FaultPlan.add\\(\\) takes wfsim.Fault objects, not 'x'"):
        wfsim_faults.add("x")  # type: ignore[arg-type]


@pytest.mark.spec("PLUG-4")
def test_wfsim_trace_expect_passes_and_fails_with_the_scenario_report(
    request: pytest.FixtureRequest,
    wfsim_seed: int,
    wfsim_sim: Simulation,
    wfsim_faults: FaultPlan,
    wfsim_trace: TraceAssertions,
) -> None:
    wfsim_faults.error("charge", attempts=[1], error=ConnectionError)
    wfsim_sim.run(purchase())
    wfsim_trace.expect(
        status="completed",
        order=["reserve < charge < ship"],
        attempts={"charge": 2},
        retry_delays={"charge": ["1s"]},
        makespan="5s",
    )
    wfsim_trace.expect({"status": "completed"}, completed=["ship"])
    assert wfsim_trace.result is wfsim_sim.last
    assert wfsim_trace.trace is wfsim_trace.result.trace

    with pytest.raises(AssertionError) as excinfo:
        wfsim_trace.expect(attempts={"charge": 3}, status="failed")
    lines = str(excinfo.value).splitlines()
    name = request.node.name
    file = os.path.relpath(request.node.path, request.config.invocation_params.dir)
    assert lines[0] == f"scenario {name!r} failed with seed {wfsim_seed}: 2 expectations not met"
    assert (
        f"{file}: expect.attempts.charge: expected charge to make 3 attempts, but it made 2"
        in lines
    )
    assert "  expected: 3" in lines
    assert "  actual:   2" in lines
    assert any("attempt_failed charge#1" in line for line in lines)
    assert lines[-1] == f"rerun: pytest {request.node.nodeid} --wfsim-seed {wfsim_seed}"
    assert not any("wfsim replay" in line for line in lines)


@pytest.mark.spec("PLUG-4")
def test_wfsim_trace_shorthands(
    wfsim_sim: Simulation, wfsim_faults: FaultPlan, wfsim_trace: TraceAssertions
) -> None:
    wfsim_faults.error("charge", attempts=[1, 2])
    wfsim_sim.run(purchase())
    wfsim_trace.assert_status("completed")
    wfsim_trace.assert_order("reserve < charge", "charge < ship")
    wfsim_trace.assert_attempts("charge", 3)
    wfsim_trace.assert_retry_delays("charge", [1, "2s"])
    failing: list[tuple[Callable[[], None], str]] = [
        (lambda: wfsim_trace.assert_status("failed"), "expected the run to end failed"),
        (lambda: wfsim_trace.assert_order("ship < reserve"), "expected ship to complete before"),
        (lambda: wfsim_trace.assert_attempts("charge", 1), "expected charge to make 1 attempt,"),
        (lambda: wfsim_trace.assert_retry_delays("charge", [1]), "retry delays to be [1s]"),
    ]
    for check, message in failing:
        with pytest.raises(AssertionError, match=re.escape(message)):
            check()
    with pytest.raises(ValueError, match="unknown expectation key 'atempts'"):
        wfsim_trace.expect(atempts={"charge": 3})


@pytest.mark.spec("PLUG-4")
def test_wfsim_trace_before_any_run_says_to_run_first(wfsim_trace: TraceAssertions) -> None:
    with pytest.raises(
        wfsim.WfsimError, match="wfsim_trace has no run to check yet: call wfsim_sim"
    ):
        wfsim_trace.assert_status("completed")


@pytest.mark.spec("PLUG-4")
def test_wfsim_clock_is_an_autojump_mock_clock(wfsim_clock: trio.testing.MockClock) -> None:
    assert isinstance(wfsim_clock, trio.testing.MockClock)
    assert wfsim_clock.autojump_threshold == 0
    assert wfsim_clock.current_time() == 0


@pytest.mark.spec("PLUG-4")
def test_a_failing_fixture_test_reports_its_seed_and_rerun(pytester: pytest.Pytester) -> None:
    python_tests(
        pytester,
        """
        def test_fails(wfsim_sim, wfsim_trace):
            wfsim_sim.run(purchase())
            wfsim_trace.assert_attempts("charge", 2)

        @pytest.mark.wfsim(seed=5)
        def test_marked(wfsim_sim):
            assert False

        def test_plain():
            assert False
        """,
    )
    result = pytester.runpytest("--wfsim-seed", "3")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_fails*",
            "E * AssertionError: scenario 'test_fails' failed with seed 3: 1 expectation not met",
            "E *",
            "E * test_wf.py: expect.attempts.charge: expected charge to make 2 attempts, "
            "but it made 1",
            "E *   expected: 2",
            "E *   actual:   1",
            "*",
            "E * rerun: pytest test_wf.py::test_fails --wfsim-seed 3",
            "*- wfsim -*",
            "seed 3; rerun: pytest test_wf.py::test_fails --wfsim-seed 3",
            "*test_marked*",
            "*- wfsim -*",
            "seed 5; rerun: pytest test_wf.py::test_marked",
        ]
    )
    assert result.stdout.str().count("- wfsim -") == 2


# -- PLUG-5: the marker ------------------------------------------------------------------------


@pytest.mark.spec("PLUG-5")
@pytest.mark.wfsim(seed=42, time_limit="1h")
def test_the_marker_sets_seed_and_time_limit(wfsim_seed: int, wfsim_sim: Simulation) -> None:
    assert wfsim_seed == 42
    assert (wfsim_sim.seed, wfsim_sim.time_limit) == (42, "1h")


@pytest.mark.spec("PLUG-5")
def test_marks_merge_closest_first_and_the_time_limit_applies(pytester: pytest.Pytester) -> None:
    python_tests(
        pytester,
        """
        pytestmark = pytest.mark.wfsim(seed=1, time_limit="1h")

        def test_module_mark(wfsim_sim):
            assert wfsim_sim.run(slow()).status == "timed_out"
            assert wfsim_sim.last.makespan == 3600
            assert wfsim_sim.last.seed == 1

        @pytest.mark.wfsim(time_limit="3h")
        class TestClass:
            @pytest.mark.wfsim(seed=2)
            def test_merged(self, wfsim_sim):
                assert (wfsim_sim.seed, wfsim_sim.time_limit) == (2, "3h")
                assert wfsim_sim.run(slow()).status == "completed"
        """,
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=2)


@pytest.mark.spec("PLUG-5")
def test_bad_marker_arguments_are_errors_naming_what_is_allowed(pytester: pytest.Pytester) -> None:
    python_tests(
        pytester,
        """
        @pytest.mark.wfsim(sede=3)
        def test_typo():
            pass

        @pytest.mark.wfsim(3)
        def test_positional(wfsim_seed):
            pass

        @pytest.mark.wfsim(seed=-1)
        def test_negative(wfsim_sim):
            pass

        @pytest.mark.wfsim(time_limit="soon")
        def test_duration(wfsim_sim):
            pass

        @pytest.mark.wfsim(time_limit=0)
        def test_zero(wfsim_sim):
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_typo*",
            "@pytest.mark.wfsim: unknown argument sede=; expected seed= or time_limit=",
            "*ERROR at setup of test_positional*",
            "@pytest.mark.wfsim: takes keyword arguments only (seed=, time_limit=), not 3",
            "*ERROR at setup of test_negative*",
            "@pytest.mark.wfsim: seed must be an integer >= 0, not -1",
            "*ERROR at setup of test_duration*",
            "@pytest.mark.wfsim: time_limit 'soon' is not a duration*",
            "*ERROR at setup of test_zero*",
            "@pytest.mark.wfsim: time_limit must be positive, not 0",
        ]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.spec("PLUG-5")
def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.wfsim(seed=None, time_limit=None): *"])


# -- PLUG-6: options and traces ----------------------------------------------------------------


@pytest.mark.spec("PLUG-6")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wfsim-seed", "x"], "--wfsim-seed must be an integer >= 0, not 'x'"),
        (["--wfsim-seed", "-1"], "--wfsim-seed must be an integer >= 0, not -1"),
        (["--wfsim-seeds", "0"], "--wfsim-seeds must be a positive integer, not 0"),
        (["--wfsim-seeds", "2.5"], "--wfsim-seeds must be a positive integer, not '2.5'"),
        (["--wfsim-trace-dir", ""], "--wfsim-trace-dir needs a directory, not an empty string"),
        (
            ["--wfsim-trace-dir", "tox.ini"],
            "--wfsim-trace-dir 'tox.ini' names a file; expected a directory for the traces",
        ),
    ],
)
def test_bad_option_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


@pytest.mark.spec("PLUG-6")
def test_a_bad_ini_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nwfsim_seed = seven\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: wfsim_seed in tox.ini must be an integer >= 0, not 'seven'"]
    )


@pytest.mark.spec("PLUG-6")
def test_the_options_are_in_their_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "wfsim: deterministic workflow simulation:",
            "  --wfsim-seed=N*",
            "*",
            "  --wfsim-seeds=N*",
            "*",
            "  --wfsim-trace-dir=DIR*",
        ]
    )
    result.stdout.fnmatch_lines(["  wfsim_seed (string):*", "  wfsim_trace_dir (string):*"])


@pytest.mark.spec("PLUG-6")
def test_scenario_traces_go_to_the_trace_dir(pytester: pytest.Pytester) -> None:
    write_scenario(pytester)
    result = pytester.runpytest("--wfsim-trace-dir", "traces/run", "--wfsim-seeds", "2")
    result.assert_outcomes(passed=2)
    files = sorted(p.name for p in (pytester.path / "traces/run").iterdir())
    assert files == ["retry-seed1.jsonl", "retry-seed2.jsonl"]
    lines = (pytester.path / "traces/run/retry-seed2.jsonl").read_text().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert (first["kind"], first["seed"]) == ("run_started", 2)
    assert (last["kind"], last["status"]) == ("run_finished", "completed")


@pytest.mark.spec("PLUG-6")
def test_failing_scenarios_write_their_trace_too(pytester: pytest.Pytester) -> None:
    write_scenario(pytester, text=SCENARIO.replace("status: completed", "status: failed"))
    pytester.makeini("[pytest]\nwfsim_trace_dir = from-ini\n")
    pytester.runpytest("--wfsim-seed", "6").assert_outcomes(failed=1)
    assert [p.name for p in (pytester.path / "from-ini").iterdir()] == ["retry-seed6.jsonl"]


@pytest.mark.spec("PLUG-6")
def test_fixture_runs_write_traces_named_after_the_test(pytester: pytest.Pytester) -> None:
    python_tests(
        pytester,
        """
        def test_twice(wfsim_sim):
            wfsim_sim.run(purchase())
            wfsim_sim.run(purchase(), seed=4)

        class TestOrders:
            @pytest.mark.parametrize("n", [1])
            def test_param(self, wfsim_sim, n):
                wfsim_sim.run(purchase())

        def test_untouched(wfsim_sim):
            pass
        """,
    )
    result = pytester.runpytest("--wfsim-trace-dir", "out", "--wfsim-seed", "2")
    result.assert_outcomes(passed=3)
    assert sorted(p.name for p in (pytester.path / "out").iterdir()) == [
        "test_wf.TestOrders.test_param[1]-seed2.jsonl",
        "test_wf.test_twice-seed2.jsonl",
        "test_wf.test_twice-seed4-run2.jsonl",
    ]
    text = (pytester.path / "out/test_wf.test_twice-seed4-run2.jsonl").read_text()
    assert json.loads(text.splitlines()[0])["seed"] == 4


# -- PLUG-7: async tests on virtual time -------------------------------------------------------

ASYNC_TESTS = """
import time

async def test_clock(wfsim_clock):
    start = time.perf_counter()
    await trio.sleep(3600)
    assert trio.current_time() == wfsim_clock.current_time() == 3600
    assert trio.lowlevel.current_clock() is wfsim_clock
    assert time.perf_counter() - start < 5

async def test_arun(wfsim_sim, wfsim_faults):
    wfsim_faults.error("charge", attempts=[1])
    result = await wfsim_sim.arun(purchase())
    assert result.status == "completed"
    assert wfsim_sim.last.steps["charge"].attempts == 2
    assert trio.current_time() == 5

@pytest.mark.wfsim
async def test_marker_only():
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    await trio.sleep(86400)
    assert trio.current_time() == 86400

async def test_sync_run_inside(wfsim_sim):
    wfsim_sim.run(purchase())
"""


@pytest.mark.spec("PLUG-7")
@pytest.mark.parametrize("trio_plugin", ["installed", "blocked"])
def test_async_wfsim_tests_run_on_a_virtual_clock(
    pytester: pytest.Pytester, trio_plugin: str
) -> None:
    if trio_plugin == "installed":
        pytest.importorskip("pytest_trio")
    python_tests(pytester, "import trio.testing\n" + ASYNC_TESTS)
    args = ["-p", "no:trio"] if trio_plugin == "blocked" else []
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * wfsim.errors.WfsimError: wfsim_sim.run() starts its own trio run and cannot be "
            "called inside one; in an async test use 'await wfsim_sim.arun(...)'"
        ]
    )


@pytest.mark.spec("PLUG-7")
def test_an_async_test_takes_at_most_one_clock(pytester: pytest.Pytester) -> None:
    python_tests(
        pytester,
        """
        import trio.testing

        @pytest.fixture
        def other_clock():
            return trio.testing.MockClock()

        async def test_two(wfsim_clock, other_clock):
            pass
        """,
    )
    result = pytester.runpytest("-p", "no:trio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "an async wfsim test takes at most one trio Clock fixture, not 2: "
            "wfsim_clock, other_clock"
        ]
    )


@pytest.mark.spec("PLUG-7")
def test_other_async_tests_are_left_alone(pytester: pytest.Pytester) -> None:
    python_tests(
        pytester,
        """
        async def test_not_ours():
            pass
        """,
    )
    result = pytester.runpytest("-p", "no:trio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])


@pytest.mark.spec("PLUG-7")
@pytest.mark.wfsim(seed=3)
async def test_this_suite_runs_async_tests_too(
    wfsim_sim: Simulation, wfsim_clock: trio.testing.MockClock
) -> None:
    await trio.sleep(60)
    result = await wfsim_sim.arun(purchase())
    assert result.seed == 3
    assert wfsim_clock.current_time() == 64


# -- PLUG-8: coexistence with pytest-trio ------------------------------------------------------


@pytest.mark.spec("PLUG-8")
def test_pytest_trio_runs_its_tests_with_the_wfsim_clock(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_trio")
    python_tests(
        pytester,
        """
        import time

        @pytest.mark.trio
        async def test_marked(wfsim_clock, wfsim_sim, wfsim_faults):
            start = time.perf_counter()
            await trio.sleep(3600)
            assert trio.lowlevel.current_clock() is wfsim_clock
            wfsim_faults.error("charge", attempts=[1])
            result = await wfsim_sim.arun(purchase())
            assert result.steps["charge"].attempts == 2
            assert wfsim_clock.current_time() == 3605
            assert time.perf_counter() - start < 5
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.spec("PLUG-8")
def test_trio_mode_tests_are_pytest_trios(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_trio")
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    python_tests(
        pytester,
        """
        @pytest.fixture
        async def answer():  # an async fixture: only pytest-trio can provide it
            await trio.sleep(1)
            return 42

        async def test_unmarked(answer, wfsim_clock, wfsim_sim):
            assert answer == 42
            assert trio.lowlevel.current_clock() is wfsim_clock
            result = await wfsim_sim.arun(purchase())
            assert result.status == "completed"
            assert trio.current_time() == 5
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


# -- PLUG-9: coexistence with pytest-asyncio ----------------------------------------------------


@pytest.mark.spec("PLUG-9")
def test_asyncio_auto_mode_leaves_wfsim_tests_to_wfsim(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_asyncio")
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    python_tests(
        pytester,
        """
        import asyncio

        async def test_wfsim_fixtures(wfsim_sim, wfsim_clock):
            await trio.sleep(3600)  # virtual: trio runs this test on wfsim_clock
            result = await wfsim_sim.arun(purchase())
            assert result.status == "completed"
            assert wfsim_clock.current_time() == 3600 + result.makespan

        @pytest.mark.wfsim(seed=4)
        @pytest.mark.parametrize("n", [1, 2])
        async def test_wfsim_marker(n, wfsim_seed):
            await trio.sleep(n)
            assert wfsim_seed == 4

        class TestInAClass:
            async def test_method(self, wfsim_sim):
                assert (await wfsim_sim.arun(purchase())).status == "completed"

        async def test_plain_asyncio():  # no wfsim: still pytest-asyncio's
            await asyncio.sleep(0)
            assert asyncio.get_running_loop() is not None

        @pytest.mark.asyncio
        async def test_marked_asyncio(wfsim_sim):  # marked: pytest-asyncio's, and told so
            await wfsim_sim.arun(purchase())
        """,
    )
    result = pytester.runpytest("-p", "asyncio", "-v")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*WfsimError: wfsim_sim.arun() runs on trio, but this test runs on another event "
            "loop (an asyncio marker, or pytest-asyncio's asyncio_mode = auto with one); remove "
            "the asyncio marker so wfsim runs the test under trio, or call wfsim_sim.run() from "
            "a plain 'def' test",
        ]
    )
    assert "must be called from async context" not in result.stdout.str()
