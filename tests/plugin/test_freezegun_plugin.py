"""Suites that freeze time (freezegun, pytest-freezer) run wfsim tests as they are (TIME-7)."""

from __future__ import annotations

import pytest

pytest.importorskip("freezegun")
pytest.importorskip("pytest_freezer")

SCENARIO = """\
scenario: frozen nightly
workflow:
  steps:
    extract: {duration: 2h}
    load: {after: [extract], duration: 1h}
expect: {status: completed, makespan: 3h}
"""


@pytest.mark.spec("TIME-7")
def test_scenario_items_and_fixture_tests_under_a_frozen_suite(pytester: pytest.Pytester) -> None:
    # Scenario items run inside a ticking freeze from a conftest hook (they take no
    # fixtures); the Python tests use pytest-freezer's fixture.
    pytester.makeconftest(
        """
        import datetime, pytest
        from freezegun import freeze_time

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_call(item):
            if isinstance(item, pytest.Function):
                return (yield)
            with freeze_time("2024-05-01", tick=True):
                result = yield
                assert datetime.datetime.now().year == 2024, "the freeze was lost"
                return result
        """
    )
    (pytester.path / "nightly.wfsim.yaml").write_text(SCENARIO, encoding="utf-8")
    pytester.makepyfile(
        test_flows="""
        import datetime, time
        import wfsim

        def build():
            wf = wfsim.Workflow("stamp")

            @wf.step
            async def stamp(ctx):
                await ctx.sleep(3600)
                return datetime.datetime.now()

            return wf

        def test_with_freezer(freezer, wfsim_sim, wfsim_trace):
            freezer.move_to("2030-02-03")
            result = wfsim_sim.run(build())
            assert result.steps["stamp"].result == datetime.datetime(2026, 1, 1, 1)
            wfsim_trace.assert_status("completed")
            assert datetime.datetime.now() == datetime.datetime(2030, 2, 3)

        async def test_async_with_freezer(freezer, wfsim_sim):
            freezer.move_to("2030-02-03")
            result = await wfsim_sim.arun(build())
            assert result.steps["stamp"].result == datetime.datetime(2026, 1, 1, 1)
            assert datetime.datetime.now() == datetime.datetime(2030, 2, 3)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)
