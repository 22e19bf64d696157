"""Scenario files (``*.wfsim.yaml``): load, validate, and the JSON Schema.

A scenario file states a workflow (inline steps, or a python ``wfsim.Workflow``
or ``@wfsim.workflow`` body), the faults to inject, the signals to send and what
must hold (``specs/scenario-format.md``). Loading checks everything once, early: a bad
file is one :class:`ScenarioError` whose message starts with ``FILE:LINE:``
and names the field::

    from wfsim.scenario import load_scenario

    scenario = load_scenario("scenarios/orders.wfsim.yaml")
    outcome = run_scenario(scenario, seed=3)      # runs it and checks `expect`
    assert outcome.passed, outcome.report()
"""

from wfsim.errors import ScenarioError
from wfsim.scenario._dump import dump_scenario
from wfsim.scenario._expect import ExpectationFailure, check_expectations, format_failures
from wfsim.scenario._load import load_scenario, load_scenario_text
from wfsim.scenario._model import Scenario
from wfsim.scenario._resilience import ContextKey, StaticFallback
from wfsim.scenario._runner import ScenarioRun, run_scenario
from wfsim.scenario._schema import schema
from wfsim.scenario._yaml import Locations

__all__ = [
    "ContextKey",
    "ExpectationFailure",
    "Locations",
    "Scenario",
    "ScenarioError",
    "ScenarioRun",
    "StaticFallback",
    "check_expectations",
    "dump_scenario",
    "format_failures",
    "load_scenario",
    "load_scenario_text",
    "run_scenario",
    "schema",
]
