"""Names in ``expect`` and ``invariants`` checked against the workflow, without a run.

``wfsim check`` calls :func:`name_problems`: a step, compensation, circuit
breaker or event type that the workflow does not have is a mistake the file
can show before anything runs (CLI-7). Only what is known statically is
checked: a DAG's steps, group tasks, compensations and breakers, an event
workflow's steps (and their invocations ``step:N``) and the event types its steps
accept; a ``@wfsim.workflow`` body's steps exist only as it runs, so it is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from wfsim._core._events import EventWorkflow, StartEvent, StopEvent
from wfsim._core._workflow import Workflow
from wfsim.errors import ScenarioError, did_you_mean

from ._model import Scenario

__all__ = ["name_problems"]

#: Keys whose mapping keys are step (or compensation) names.
_BY_STEP = ("attempts", "retry_delays", "effects", "repeated_effects", "merged")
#: Keys that list step (or compensation) names.
_STEP_LISTS = ("completed", "failed", "skipped", "cancelled", "never_started")
_INVOCATION = re.compile(r"^(.+):[0-9]+$")


class _Known:
    """What a workflow statically has: steps (with tasks), compensations, breakers, events."""

    def __init__(self, workflow: Workflow | EventWorkflow) -> None:
        self.workflow = workflow.name
        self.steps: set[str] = set()
        self.compensations: set[str] = set()
        self.breakers: set[str] = set()
        self.events: set[str] = set()
        self.invocations = isinstance(workflow, EventWorkflow)
        if isinstance(workflow, Workflow):
            self.compensations = set(workflow.compensations)
            for step in workflow.steps.values():
                self.steps.add(step.name)
                if step.group is not None:
                    self.steps.update(f"{step.name}/{t.name}" for t in step.group.tasks)
                if step.breaker is not None:
                    self.breakers.add(step.breaker.name)
        else:
            self.events = {StartEvent.__name__, StopEvent.__name__}
            for event_step in workflow.event_steps.values():
                self.steps.add(event_step.name)
                self.events.update(t.__name__ for t in event_step.accepts)

    def step(self, name: str) -> str | None:
        """Why ``name`` is not a step or compensation, or None when it is one."""
        if name in self.steps or name in self.compensations:
            return None
        found = _INVOCATION.match(name) if self.invocations else None
        if found is not None and found.group(1) in self.steps:
            return None  # step:2, step:3, ...: the invocations of an event step
        what = "step or compensation" if self.compensations else "step"
        names = self.steps | self.compensations
        if found is not None:  # step_to:2 -> step_two:2
            names |= {f"{step}:{name.rpartition(':')[2]}" for step in self.steps}
        return f"workflow {self.workflow!r} has no {what} {name!r}{did_you_mean(name, names)}"

    def compensation(self, name: str) -> str | None:
        if name in self.compensations:
            return None
        hint = did_you_mean(name, self.compensations) or (
            f"; its compensations are {', '.join(sorted(self.compensations))}"
            if self.compensations
            else "; it has none"
        )
        return f"workflow {self.workflow!r} has no compensation {name!r}{hint}"

    def breaker(self, name: str) -> str | None:
        if name in self.breakers:
            return None
        hint = did_you_mean(name, self.breakers) or (
            f"; its breakers are {', '.join(sorted(self.breakers))}" if self.breakers else ""
        )
        return f"workflow {self.workflow!r} has no circuit breaker {name!r}{hint}"

    def event(self, name: str) -> str | None:
        # Steps may send types no step accepts (python code decides): only a name
        # close to a known one is taken for a typo.
        if not self.events or name in self.events:
            return None
        hint = did_you_mean(name, self.events)
        return f"no step of {self.workflow!r} accepts event type {name!r}{hint}" if hint else None


def name_problems(scenario: Scenario) -> list[ScenarioError]:
    """Every name in ``expect`` and ``invariants`` the workflow does not have, in file order.

    Each is a :class:`ScenarioError` worded like the loader's
    (``FILE:LINE: expect.attempts.charge_crd: workflow 'pay' has no step
    'charge_crd': did you mean 'charge_card'?``).
    """
    workflow = scenario.workflow
    if not isinstance(workflow, Workflow | EventWorkflow):
        return []
    known = _Known(workflow)
    problems = [
        scenario.error(path, why)
        for root in ("expect", "invariants")
        for path, why in _check_block(root, getattr(scenario, root), known)
    ]
    return sorted(problems, key=lambda e: e.line or 0)


_Found = Iterator[tuple[tuple[str | int, ...], str]]


def _check_block(root: str, block: Mapping[str, Any], known: _Known) -> _Found:
    for key, value in block.items():
        steps: list[tuple[tuple[str | int, ...], str]] = []
        if key in _BY_STEP and isinstance(value, Mapping):
            steps = [((root, key, n), n) for n in value if isinstance(n, str)]
        elif key in _STEP_LISTS:
            items = [value] if isinstance(value, str) else value
            if isinstance(items, list):
                steps = [((root, key, i), n) for i, n in enumerate(items) if isinstance(n, str)]
        elif key == "order":
            chains = [value] if isinstance(value, str) else value
            for i, chain in enumerate(chains if isinstance(chains, list) else ()):
                if isinstance(chain, str):
                    path: tuple[str | int, ...] = (
                        (root, key) if isinstance(value, str) else (root, key, i)
                    )
                    steps += [(path, n.strip()) for n in chain.split("<") if n.strip()]
        elif key == "compensations" and isinstance(value, list) and known.compensations:
            for i, name in enumerate(value):
                if isinstance(name, str) and (why := known.compensation(name)):
                    yield (root, key, i), why
        elif key == "breaker_states" and isinstance(value, Mapping) and not known.events:
            for name in value:
                if isinstance(name, str) and (why := known.breaker(name)):
                    yield (root, key, name), why
        elif key == "trace_contains" and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from _pattern((root, key, i), item, known)
        for path, name in steps:
            if why := known.step(name):
                yield path, why


def _pattern(path: tuple[str | int, ...], item: Mapping[str, Any], known: _Known) -> _Found:
    """A ``trace_contains`` pattern's ``step``, ``breaker`` and ``event``."""
    checks = (("step", known.step), ("breaker", known.breaker), ("event", known.event))
    for field, check in checks:
        name = item.get(field)
        if field == "breaker" and known.events:
            continue  # an event workflow's breakers come from python code
        if isinstance(name, str) and (why := check(name)):
            yield (*path, field), why
