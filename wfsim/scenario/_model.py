"""The scenario model: a validated document turned into engine objects.

:func:`build_scenario` takes a document that passed the schema and builds the
workflow (a :class:`~wfsim.Workflow`, or the :class:`~wfsim.ImperativeWorkflow`
a ``python:`` target names), the :class:`~wfsim.Fault` list, the
:class:`~wfsim.Signal` list and the settings, checking what a schema cannot:
step names in ``after`` and faults, fault patterns, cycles, error classes,
retry policies, durations out of range, signal names, imports. Every problem
is one :class:`~wfsim.errors.ScenarioError` at the line of the field at fault.
"""

from __future__ import annotations

import builtins
import copy
import datetime as _dt
import inspect
import itertools
import math
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any, ClassVar, NoReturn

import attrs

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._retry import RetryPolicy
from wfsim._core._run import DEFAULT_TIME_LIMIT, delivery_fault_problem
from wfsim._core._signals import Signal
from wfsim._core._time import DEFAULT_EPOCH, Duration, format_seconds, to_ns
from wfsim._core._trace import EVENT_KINDS
from wfsim._core._workflow import SagaPolicy, Step, Workflow, compensation, task
from wfsim.errors import (
    CycleError,
    RetryPolicyError,
    ScenarioError,
    WorkflowDefinitionError,
    did_you_mean,
)

from ._expect import TRACE_DURATION_FIELDS, split_makespan
from ._imports import import_module
from ._inline_bodies import BODY_ONLY, build_body_workflow
from ._inline_events import build_event_workflow, event_keys_in_dag
from ._resilience import BreakerSpecs
from ._schema import DELIVERY_FAULT_KINDS, PROBABILITY_HELP
from ._schema import _def as schema_def
from ._yaml import Locations, Path, field_name, scenario_error

__all__ = ["AnyWorkflow", "Scenario", "build_scenario"]

#: What a scenario runs: an inline or python DAG, a python ``@wfsim.workflow`` body, or a
#: python ``wfsim.EventWorkflow`` (LlamaIndex-style steps subscribed to event types).
AnyWorkflow = Workflow | ImperativeWorkflow | EventWorkflow
_WORKFLOWS = (Workflow, ImperativeWorkflow, EventWorkflow)

#: Durations are int64 nanoseconds at most (about 292 years), as in Go and trio.
MAX_DURATION_NS = 2**63 - 1
_NUMBER = re.compile(r"^\s*(<=|<|>=|>|==)?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)")


@attrs.frozen
class Scenario:
    """A loaded scenario file: the workflow, its faults, signals and settings, and what must hold.

    ``workflow`` is a :class:`~wfsim.Workflow` (inline steps, or a python DAG)
    or an :class:`~wfsim.ImperativeWorkflow` (a python ``@wfsim.workflow``
    body, whose steps exist only once it runs) or an :class:`~wfsim.EventWorkflow`
    (steps subscribed to event types, invoked as events arrive). ``signals`` are delivered to
    the body during the run. ``expect`` is the file's ``expect`` mapping as
    written (validated against the schema, durations not yet parsed).
    ``locations`` gives the line of any field, for messages that cite the
    file: ``scenario.where(("expect", "makespan"))`` is
    ``"scenarios/x.wfsim.yaml:31: expect.makespan"``.
    """

    path: str
    title: str
    description: str
    seed: int
    workflow: AnyWorkflow
    input: Mapping[str, Any]
    faults: tuple[Fault, ...]
    time_limit_ns: int
    epoch: _dt.datetime
    expect: Mapping[str, Any]
    locations: Locations = attrs.field(repr=False)
    errors: tuple[str, ...] = ()
    signals: tuple[Signal, ...] = ()
    #: ``settings.choices``: a recorded schedule (a tape) every run follows, or None.
    choices: tuple[int, ...] | None = None
    #: ``invariants:``: what must hold after every run, random faults or not (CAMP-30).
    invariants: Mapping[str, Any] = attrs.field(factory=dict)
    #: ``seed_pinned:``: why ``expect`` holds only at :attr:`seed` ("" when it holds at
    #: every seed); runs at other seeds check :attr:`invariants` only (SCN-16).
    seed_pinned: str = ""

    def where(self, path: Sequence[str | int]) -> str:
        """``"FILE:LINE: field"`` for a field path such as ``("expect", "attempts", "ship")``."""
        line = self.locations.line(path)
        where = f"{self.path}:{line}:" if line else f"{self.path}:"
        return f"{where} {field_name(path)}"

    def error(self, path: Sequence[str | int], explanation: str) -> ScenarioError:
        """A :class:`ScenarioError` about the field at ``path``, worded like the loader's."""
        return scenario_error(self.path, self.locations.line(path), path, explanation)


def _names(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _unknown(what: str, name: str, candidates: Iterable[str], known: str) -> str:
    candidates = list(candidates)
    hint = did_you_mean(name, candidates)
    if hint:
        return f"unknown {what} {name!r}{hint}"
    if not candidates:
        return f"unknown {what} {name!r}"
    return f"unknown {what} {name!r}; {known}: {_names(candidates)}"


def _either(words: Sequence[str], joiner: str) -> str:
    """``step``, ``step or task``, ``step, task or compensation``."""
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {joiner} {words[-1]}"


def _builtin_errors() -> dict[str, type[BaseException]]:
    return {
        name: obj
        for name, obj in vars(builtins).items()
        if isinstance(obj, type) and issubclass(obj, Exception) and not name.startswith("_")
    }


def default_name(file: str) -> str:
    """The workflow name a file implies: ``scenarios/orders.wfsim.yaml`` -> ``orders``."""
    name = PurePath(file).name
    for suffix in (".wfsim.yaml", ".wfsim.yml", ".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name if name and not name.startswith("<") else "scenario"


class _Builder:
    def __init__(self, file: str, locations: Locations, base_dir: str) -> None:
        self.file = file
        self.locations = locations
        self.base_dir = base_dir
        self.declared: tuple[str, ...] = ()
        self.python = ""  # the python: target, if any
        self.sent_signals: list[str] = []  # the signals: names, which signal faults may target

    def fail(self, path: Path, explanation: str) -> NoReturn:
        raise scenario_error(self.file, self.locations.line(path), path, explanation)

    # -- values --------------------------------------------------------------------------
    def duration(self, value: Duration, path: Path, *, positive: bool = False) -> int:
        """Nanoseconds; the schema has checked the form, this checks the range."""
        if isinstance(value, float) and (value != value or abs(value) == float("inf")):
            self.fail(path, f"expected a finite duration, got {value!r}")
        if isinstance(value, str):
            match = _NUMBER.match(value)
            try:
                too_big = match is not None and Decimal(match.group(2)).adjusted() > 20
            except InvalidOperation:  # pragma: no cover - the regex admits only decimals
                too_big = False
            if too_big:
                self.fail(path, f"{value!r} is too large; a duration is at most 292 years")
        try:
            ns = to_ns(value, what=field_name(path))
        except ValueError as exc:
            self.fail(path, str(exc))
        if ns > MAX_DURATION_NS:
            self.fail(path, f"{value!r} is too large; a duration is at most 292 years")
        if positive and ns == 0:
            self.fail(path, f"expected a positive duration, got {value!r}")
        return ns

    def epoch(self, value: str, path: Path) -> _dt.datetime:
        text = value.strip()
        expected = (
            "expected an ISO 8601 date-time with a timezone (e.g. '2026-01-01T00:00:00Z') "
            f"or a date ('2026-01-01'), got {value!r}"
        )
        try:
            day = _dt.date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.UTC)
        try:
            moment = _dt.datetime.fromisoformat(text)
        except ValueError:
            self.fail(path, expected)
        if moment.tzinfo is None:
            self.fail(path, f"the date-time {value!r} needs a timezone, e.g. 'Z' or '+02:00'")
        return moment

    # -- imports ---------------------------------------------------------------------------
    def import_module(self, name: str, path: Path) -> types.ModuleType:
        try:
            return import_module(name, self.base_dir)
        except ModuleNotFoundError as exc:
            self.fail(path, f"cannot import module {name!r}: {exc}")
        except (Exception, SystemExit) as exc:
            self.fail(path, f"importing module {name!r} raised {type(exc).__name__}: {exc}")

    def attribute(self, module: types.ModuleType, dotted: str, path: Path, want: str) -> Any:
        obj: Any = module
        for part in dotted.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                owner = module.__name__ if obj is module else f"{module.__name__}:{dotted}"
                names = [n for n in dir(obj) if not n.startswith("_")]
                hint = did_you_mean(part, names) or f"; expected {want}"
                self.fail(path, f"{owner!r} has no attribute {part!r}{hint}")
            except Exception as exc:
                self.fail(path, f"reading {part!r} raised {type(exc).__name__}: {exc}")
        return obj

    # -- the workflow -------------------------------------------------------------------
    def workflow(self, spec: Mapping[str, Any], settings: Mapping[str, Any]) -> AnyWorkflow:
        workflow: AnyWorkflow
        if "llama_index" in spec:
            for key in ("name", "steps", "saga", "events", "timeout", *BODY_ONLY):
                if key in spec:
                    self.fail(
                        ("workflow", key),
                        f"'{key}' is for inline workflows; a LlamaIndex workflow brings its own",
                    )
            event_wf = self.llama_workflow(spec["llama_index"], ("workflow", "llama_index"))
            self.no_limit_for_events(spec, settings)
            return event_wf
        if "python" in spec:
            for key in ("name", "steps", "saga", "events", "timeout", *BODY_ONLY):
                if key in spec:
                    self.fail(
                        ("workflow", key),
                        f"'{key}' is for inline workflows; a python workflow brings its own",
                    )
            workflow = self.python_workflow(spec["python"], ("workflow", "python"))
            if isinstance(workflow, EventWorkflow):
                self.no_limit_for_events(spec, settings)
                return workflow
            limit = spec.get("max_concurrency", workflow.max_concurrency)
        elif "body" in spec:
            return build_body_workflow(self, spec, settings)
        elif "events" in spec:
            if "signals" in spec:
                self.fail(
                    ("workflow", "signals"),
                    "declared signals are for an inline body (workflow.body); an event "
                    "workflow's steps receive events",
                )
            return build_event_workflow(self, spec, settings)
        else:
            self.no_event_keys(spec)
            if "signals" in spec:
                self.fail(
                    ("workflow", "signals"),
                    "declared signals are for an inline body (workflow.body); an inline DAG "
                    "of steps cannot receive signals",
                )
            workflow = Workflow(
                spec.get("name", default_name(self.file)),
                max_concurrency=settings.get("max_concurrency", spec.get("max_concurrency")),
                saga=self.saga(spec.get("saga"), ("workflow", "saga")),
            )
            self.steps(workflow, spec["steps"])
            limit = workflow.max_concurrency
        limit = settings.get("max_concurrency", limit)
        if limit != workflow.max_concurrency:
            # A shallow copy: the imported workflow stays as its module made it.
            workflow = copy.copy(workflow)
            workflow.max_concurrency = limit
        return workflow

    def no_event_keys(self, spec: Mapping[str, Any]) -> None:
        """An inline DAG takes none of an event workflow's keys: say how to get one."""
        if "timeout" in spec:
            self.fail(
                ("workflow", "timeout"),
                "a run timeout is for event workflows (add workflow.events); bound an inline "
                "DAG's run with settings.time_limit",
            )
        for step, raw in spec["steps"].items():
            duration = (raw or {}).get("duration")
            if isinstance(duration, str) and duration.startswith("$"):
                self.fail(
                    ("workflow", "steps", step, "duration"),
                    f"a duration read from an event ({duration!r}) is for steps of an event "
                    "workflow (add workflow.events); give this step a fixed duration",
                )
        found = event_keys_in_dag(spec["steps"])
        if found is not None:
            step, key = found
            self.fail(
                ("workflow", "steps", step, key),
                f"'{key}' is for steps of an event workflow; declare its event types under "
                "workflow.events to make this inline workflow one",
            )

    def no_limit_for_events(self, spec: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        """An event workflow bounds concurrency per step (``num_workers``), not per run."""
        for path, given in (
            (("workflow", "max_concurrency"), "max_concurrency" in spec),
            (("settings", "max_concurrency"), "max_concurrency" in settings),
        ):
            if given:
                self.fail(
                    path,
                    f"{self.python!r} is an event workflow (a wfsim.EventWorkflow), which takes "
                    "no max_concurrency; bound each step's concurrent invocations with "
                    "@wf.step(num_workers=...) instead",
                )

    def llama_workflow(self, target: str, path: Path) -> EventWorkflow:
        """``llama_index: "module:Class"``: a LlamaIndex Workflow run by wfsim.llama."""
        try:
            from wfsim.llama import adapt
        except ImportError as exc:
            self.fail(path, str(exc))
        module_name, _, attr = target.partition(":")
        module = self.import_module(module_name, path)
        obj = self.attribute(
            module, attr, path, "a LlamaIndex Workflow subclass (workflows.Workflow)"
        )
        try:
            return adapt(obj)
        except WorkflowDefinitionError as exc:
            self.fail(path, f"{target!r}: {exc}")

    def python_workflow(self, target: str, path: Path) -> AnyWorkflow:
        module_name, _, attr = target.partition(":")
        module = self.import_module(module_name, path)
        want = (
            "a wfsim.Workflow, a @wfsim.workflow function, a wfsim.EventWorkflow, "
            "or a function of no arguments returning one"
        )
        obj = self.attribute(module, attr, path, want)
        if isinstance(obj, ImperativeWorkflow):
            return obj
        if inspect.iscoroutinefunction(obj):
            self.fail(
                path,
                f"{target!r} is an async function that is not a workflow; "
                "decorate it with @wfsim.workflow",
            )
        if callable(obj) and not isinstance(obj, _WORKFLOWS):
            try:
                obj = obj()
            except (Exception, SystemExit) as exc:
                self.fail(path, f"calling {target!r} raised {type(exc).__name__}: {exc}")
            if inspect.iscoroutine(obj):
                obj.close()  # never awaited: close it quietly
                self.fail(path, f"{target!r} returned a coroutine; expected {want}")
            if not isinstance(obj, _WORKFLOWS):
                self.fail(path, f"{target!r} returned {_a(obj)}; expected {want}")
            if isinstance(obj, ImperativeWorkflow):
                return obj
        if not isinstance(obj, Workflow | EventWorkflow):
            self.fail(path, f"{target!r} is {_a(obj)}; expected {want}")
        try:
            obj.validate()
        except WorkflowDefinitionError as exc:
            self.fail(path, f"the workflow {target!r} is invalid: {exc}")
        return obj

    def saga(self, spec: Mapping[str, Any] | None, path: Path) -> SagaPolicy | None:
        if spec is None:
            return None
        try:
            return SagaPolicy(**spec)
        except WorkflowDefinitionError as exc:  # pragma: no cover - the schema checks the values
            self.fail(path, str(exc))

    def steps(self, workflow: Workflow, steps: Mapping[str, Any]) -> None:
        breakers = BreakerSpecs(self, steps)  # SCN-15: built first, so steps may share one
        for name, raw in steps.items():
            spec: Mapping[str, Any] = raw or {}
            base: Path = ("workflow", "steps", name)
            deps = self.after(name, spec.get("after"), steps, base)
            rule = spec.get("trigger_rule", "all_success")
            if "parallel" in spec:
                self.group(workflow, name, spec, deps, rule, base)
                continue
            duration, timeout, retry = self.timing(spec, base)
            comp = (
                self.compensation(spec["compensate"], (*base, "compensate"))
                if "compensate" in spec
                else None
            )
            resilience = breakers.for_step(name, spec, base)
            try:
                workflow.add_step(
                    name,
                    duration=f"{duration}ns",
                    output=spec.get("output"),
                    after=deps,
                    retry=retry,
                    timeout=None if timeout is None else f"{timeout}ns",
                    compensate=comp,
                    trigger_rule=rule,
                    idempotent=spec.get("idempotent", True),
                    **resilience,
                )
            except WorkflowDefinitionError as exc:  # pragma: no cover - checked above
                self.fail(base, str(exc))
        self.task_names(workflow)  # before validate(): its message names the task's line
        try:
            workflow.validate()
        except CycleError as exc:
            self.fail(self.cycle_site(exc.path, steps), self.cycle_text(exc.path))
        except WorkflowDefinitionError as exc:
            # The engine's own wording; the site is the compensation it names.
            self.fail(self.compensation_site(steps), str(exc))

    # -- parallel groups ------------------------------------------------------------------
    #: Why a group step takes none of these: its tasks do, or the group's own goes inside.
    _NOT_FOR_GROUPS: ClassVar[Mapping[str, str]] = {
        "duration": "its tasks take the time; give each task its own duration",
        "output": "its tasks' outputs merge into the context; give each task its own output",
        "retry": "each task retries on its own; give each task its own retry",
        "timeout": (
            "the group's timeout goes inside it (parallel: {tasks, timeout}); "
            "a task's own goes under the task"
        ),
        "compensate": "a group has no compensation of its own",
        "breaker": "its tasks run without a circuit breaker; a breaker guards a step's attempts",
        "fallback": "a fallback goes with a step's circuit breaker, and a group has none",
        "cache_key": "a group is not cached; cache_key is for steps",
    }

    def group(
        self,
        workflow: Workflow,
        name: str,
        spec: Mapping[str, Any],
        deps: list[str],
        rule: str,
        base: Path,
    ) -> None:
        """``parallel: {tasks: {name: task}, merge?, on_conflict?, allow_partial_success?,
        timeout?}``: a parallel group (``Workflow.add_parallel``)."""
        for key in spec:
            if key in self._NOT_FOR_GROUPS:
                self.fail(
                    (*base, key),
                    f"'{key}' is not for a parallel group: {self._NOT_FOR_GROUPS[key]}",
                )
        group: Mapping[str, Any] = spec["parallel"]
        path: Path = (*base, "parallel")
        tasks: list[Step] = []
        for task_name, raw in group["tasks"].items():
            task_spec: Mapping[str, Any] = raw or {}
            duration, timeout, retry = self.timing(task_spec, (*path, "tasks", task_name))
            tasks.append(
                task(
                    task_name,
                    duration=f"{duration}ns",
                    output=task_spec.get("output"),
                    retry=retry,
                    timeout=None if timeout is None else f"{timeout}ns",
                )
            )
        group_timeout = (
            self.duration(group["timeout"], (*path, "timeout"), positive=True)
            if "timeout" in group
            else None
        )
        try:
            workflow.add_parallel(
                name,
                tasks,
                after=deps,
                merge=group.get("merge", "shallow"),
                on_conflict=group.get("on_conflict", "prefer_new"),
                allow_partial_success=group.get("allow_partial_success", False),
                timeout=None if group_timeout is None else f"{group_timeout}ns",
                trigger_rule=rule,
            )
        except WorkflowDefinitionError as exc:  # pragma: no cover - the schema checks the values
            self.fail(path, str(exc))

    def task_names(self, workflow: Workflow) -> None:
        """A task's trace name (``group/task``) must not be a step's or compensation's."""
        others = {
            **dict.fromkeys(workflow.steps, "step"),
            **dict.fromkeys(workflow.compensations, "compensation"),
        }
        for group in workflow.steps.values():
            for t in group.group.tasks if group.group is not None else ():
                traced = f"{group.name}/{t.name}"
                if traced in others:
                    self.fail(
                        ("workflow", "steps", group.name, "parallel", "tasks", t.name),
                        f"task {t.name!r} of parallel group {group.name!r} is called {traced!r} "
                        f"in the trace, the name of a {others[traced]}; faults, the trace and "
                        "expectations need distinct names",
                    )

    def timing(
        self, spec: Mapping[str, Any], base: Path
    ) -> tuple[int, int | None, RetryPolicy | None]:
        """A step's or compensation's duration, timeout (ns) and retry policy."""
        duration = self.duration(spec.get("duration", 0), (*base, "duration"))
        timeout = (
            self.duration(spec["timeout"], (*base, "timeout"), positive=True)
            if "timeout" in spec
            else None
        )
        retry = self.retry(spec["retry"], (*base, "retry")) if "retry" in spec else None
        return duration, timeout, retry

    def compensation(self, spec: str | Mapping[str, Any], path: Path) -> Step:
        """``compensate: name`` or ``compensate: {name, duration, output, retry, timeout}``."""
        if isinstance(spec, str):
            return compensation(spec)
        duration, timeout, retry = self.timing(spec, path)
        try:
            return compensation(
                spec["name"],
                duration=f"{duration}ns",
                output=spec.get("output"),
                retry=retry,
                timeout=None if timeout is None else f"{timeout}ns",
            )
        except WorkflowDefinitionError as exc:  # pragma: no cover - checked above
            self.fail(path, str(exc))

    def compensation_site(self, steps: Mapping[str, Any]) -> Path:
        """Where the name of the compensation an engine error is about is written.

        The engine checks the steps in declaration order and reports the first
        compensation named like a step or like an earlier step's compensation.
        """
        owners: set[str] = set()
        for name, raw in steps.items():
            comp = (raw or {}).get("compensate")
            if comp is None:
                continue
            path: Path = ("workflow", "steps", name, "compensate")
            comp_name = comp if isinstance(comp, str) else comp["name"]
            if comp_name in steps or comp_name in owners:
                return path if isinstance(comp, str) else (*path, "name")
            owners.add(comp_name)
        return ("workflow", "steps")  # pragma: no cover - the engine found a clash above

    def after(
        self, name: str, after: str | list[str] | None, steps: Mapping[str, Any], base: Path
    ) -> list[str]:
        deps = [after] if isinstance(after, str) else list(after or [])
        for i, dep in enumerate(deps):
            path: Path = (*base, "after") if isinstance(after, str) else (*base, "after", i)
            if dep == name:
                self.fail(path, f"step {name!r} cannot run after itself")
            if dep not in steps:
                self.fail(path, _unknown("step", dep, steps, "the steps are"))
        return deps

    def cycle_site(self, cycle: Sequence[str], steps: Mapping[str, Any]) -> Path:
        """The ``after`` entry of the cycle written first in the file."""
        sites: list[Path] = []
        for before, step in itertools.pairwise(cycle):
            after: str | list[str] = (steps[step] or {})["after"]
            base: Path = ("workflow", "steps", step, "after")
            sites.append(base if isinstance(after, str) else (*base, after.index(before)))
        return min(sites, key=lambda p: self.locations.line(p) or 0)

    @staticmethod
    def cycle_text(cycle: Sequence[str]) -> str:
        return (
            f"the steps' dependencies form a cycle: {' -> '.join(cycle)} "
            "(each runs after the one before it); remove one of these 'after' links"
        )

    # -- retry policies -----------------------------------------------------------------
    _DURATIONS: ClassVar[Mapping[str | None, tuple[str, ...]]] = {
        None: ("initial_interval", "max_interval", "min_interval", "delays"),
        "celery": ("retry_backoff_max", "default_retry_delay"),
        "prefect": ("retry_delay_seconds",),
        "tenacity": ("multiplier", "max", "min"),
        "pyworkflow": ("retry_delay", "max_retry_delay"),
        "temporal": ("initial_interval", "maximum_interval"),
    }

    def retry(self, spec: Mapping[str, Any], path: Path) -> RetryPolicy:
        args = dict(spec)
        profile = args.pop("profile", None)
        for key in self._DURATIONS[profile]:
            value = args.get(key)
            if isinstance(value, list):
                for i, item in enumerate(value):
                    self.duration(item, (*path, key, i))
            elif value is not None:
                self.duration(value, (*path, key))
        try:
            if profile is None:
                policy = RetryPolicy(**args)
            else:
                policy = getattr(RetryPolicy, profile)(**args)
        except (RetryPolicyError, ValueError, TypeError, OverflowError) as exc:
            words = re.findall(r"[a-z_]+", str(exc))
            field = next((w for w in words if w in args), None)
            if field is None:
                field = next((k for k in args if k in str(exc)), None)
            self.fail((*path, field) if field else path, f"invalid retry policy: {exc}")
        delays = [policy.initial_interval_ns, policy.min_interval_ns, policy.max_interval_ns or 0]
        if max(*delays, *(policy.delays_ns or ())) > MAX_DURATION_NS:
            self.fail(path, "invalid retry policy: its delays exceed 292 years")
        return policy

    # -- faults ---------------------------------------------------------------------------
    #: The keys each kind of fault takes besides ``step`` and its own.
    _FAULT_KEYS: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "error": ("attempts", "probability", "at", "retryable", "message"),
        "latency": ("attempts", "probability"),
        "hang": ("attempts", "probability"),
        "outage": (),
        "crash": ("attempts", "probability"),
    }

    def faults(
        self, specs: Sequence[Mapping[str, Any]], workflow: AnyWorkflow
    ) -> tuple[Fault, ...]:
        faults: list[Fault] = []
        for i, spec in enumerate(specs):
            path: Path = ("faults", i)
            if any(k in spec for k in DELIVERY_FAULT_KINDS):
                faults.append(self.delivery_fault(spec, path, workflow))
                continue
            kind = next(k for k in self._FAULT_KEYS if k in spec)  # the schema made it one
            if kind == "crash" and isinstance(spec["crash"], Mapping) and "body" in spec["crash"]:
                faults.append(self.body_crash(spec, path, workflow))
                continue
            self.step_target(spec, kind, path)
            self.fault_keys(spec, kind, path)
            fault = self.fault(spec, kind, path)
            if kind == "crash" and not isinstance(workflow, (Workflow, ImperativeWorkflow)):
                self.fail(
                    (*path, "crash"),
                    "crash faults need a DAG workflow (steps:) or a workflow body (python:); "
                    "an event workflow cannot restart from its history yet (FAULT-13)",
                )
            if isinstance(workflow, Workflow):
                # An imperative body's steps exist only once it runs: any name may be one.
                self.fault_target(fault, workflow, (*path, "step"))
            faults.append(fault)
        return tuple(faults)

    def body_crash(self, spec: Mapping[str, Any], path: Path, workflow: AnyWorkflow) -> Fault:
        """``{crash: {body: POINT, restart_after?}, occurrences?, probability?}`` (FAULT-15)."""
        crash = spec["crash"]
        if not isinstance(workflow, ImperativeWorkflow):
            self.fail(
                (*path, "crash", "body"),
                "a crash at a body point needs a workflow body (workflow: {python: ...}); "
                "this workflow has none: crash a step's attempt with step and crash: {at}",
            )
        for key in spec:
            if key not in ("crash", "occurrences", "probability"):
                self.fail(
                    (*path, key),
                    f"a crash at a body point takes crash: {{body, restart_after?}}, "
                    f"occurrences and probability, not '{key}' (the point names what it hits)",
                )
        if "at" in crash:
            self.fail(
                (*path, "crash", "at"),
                "'at' (before or after an attempt's effect) is for a step's crash; a body "
                "point says where: after:<call>, sleep, signal:<name>",
            )
        probability = spec.get("probability")
        if probability is not None and not math.isfinite(probability):
            self.fail((*path, "probability"), f"expected {PROBABILITY_HELP}, got {probability!r}")
        restart_ns = self.duration(crash.get("restart_after", 0), (*path, "crash", "restart_after"))
        try:
            return Fault.crash(
                body=crash["body"],
                occurrences=spec.get("occurrences"),
                probability=probability,
                restart_after=f"{restart_ns}ns",
            )
        except ValueError as exc:
            self.fail((*path, "crash", "body"), str(exc))

    def step_target(self, spec: Mapping[str, Any], kind: str, path: Path) -> None:
        """A fault on attempts names its ``step``; ``event`` and ``signal`` are for deliveries."""
        for key in ("event", "signal"):
            if key in spec:
                self.fail(
                    (*path, key),
                    f"'{key}' targets deliveries, for drop, duplicate or delay faults; "
                    f"a{'n' if kind[0] in 'aeiou' else ''} {kind} fault hits the attempts "
                    "of the steps its 'step' names",
                )
        if "step" not in spec:
            about = schema_def("fault")["properties"]["step"]["description"]
            self.fail(
                (*path, "step"),
                f"required key is missing ({about[0].lower()}{about[1:].rstrip('.')})",
            )

    #: What a delivery fault takes besides its target and its kind.
    _DELIVERY_KEYS = ("occurrences", "probability")

    def delivery_fault(self, spec: Mapping[str, Any], path: Path, workflow: AnyWorkflow) -> Fault:
        """``{event|signal, drop|duplicate|delay, occurrences?, probability?}`` (FAULT-20)."""
        kind = next(k for k in DELIVERY_FAULT_KINDS if k in spec)  # the schema made it one
        takes = f"a {kind} fault takes event or signal, {kind}, occurrences and probability"
        if "step" in spec:
            self.fail(
                (*path, "step"),
                f"a {kind} fault hits deliveries, not attempts: name an event type with "
                "'event' or a signal with 'signal' instead of 'step'",
            )
        targets = [k for k in ("event", "signal") if k in spec]
        if not targets:
            self.fail(
                path,
                f"a {kind} fault needs 'event' (an event type, e.g. Answer) or 'signal' "
                "(a signal name) to say which deliveries it hits",
            )
        if len(targets) == 2:
            self.fail(
                (*path, "signal"),
                f"a {kind} fault hits either an event type or a signal, not both; write one "
                "fault for each",
            )
        target = targets[0]
        for key in spec:
            if key in (target, kind, *self._DELIVERY_KEYS):
                continue
            if key == "attempts":
                self.fail(
                    (*path, key),
                    "a delivery fault counts deliveries, not attempts: use 'occurrences' "
                    f"(1 is the first {spec[target]!r} delivered)",
                )
            self.fail((*path, key), f"'{key}' applies to step faults; {takes}")
        probability = spec.get("probability")
        if probability is not None and not math.isfinite(probability):
            self.fail((*path, "probability"), f"expected {PROBABILITY_HELP}, got {probability!r}")
        common: dict[str, Any] = {
            target: spec[target],
            "occurrences": spec.get("occurrences"),
            "probability": probability,
        }
        if kind == "drop":
            fault = Fault.drop(**common)
        elif kind == "duplicate":
            copies = spec["duplicate"]
            if copies is False:
                self.fail(
                    (*path, "duplicate"),
                    "expected true (one extra copy) or a number of copies >= 1, got false; "
                    "to deliver once, remove the fault",
                )
            fault = Fault.duplicate(copies=1 if copies is True else copies, **common)
        else:
            shape = self.latency(spec["delay"], "-", None, None, (*path, "delay"))
            if shape.shape == "uniform":
                bounds = (f"{shape.extra_ns}ns", f"{shape.high_ns}ns")
                fault = Fault.delay(uniform=bounds, **common)
            elif shape.shape == "exponential":
                fault = Fault.delay(exponential=f"{shape.extra_ns}ns", **common)
            else:
                fault = Fault.delay(by=f"{shape.extra_ns}ns", **common)
        problem = delivery_fault_problem(workflow, fault, self.sent_signals)
        if problem is not None:
            self.fail((*path, target), problem)
        return fault

    def fault_keys(self, spec: Mapping[str, Any], kind: str, path: Path) -> None:
        """Reject keys that the fault's kind does not take, saying which do."""
        takes = self._FAULT_KEYS[kind]
        for key in spec:
            if key == "step" or key == kind or key in takes:
                continue
            if kind == "crash" and key in ("at", "restart_after"):
                self.fail(
                    (*path, key),
                    f"a crash's '{key}' goes inside it: crash: {{at: before|after, restart_after}}",
                )
            if kind == "outage" and key in ("retryable", "message"):
                self.fail(
                    (*path, key),
                    f"an outage's '{key}' goes inside it: outage: {{start, end, {key}}}",
                )
            if kind == "outage":
                self.fail(
                    (*path, key),
                    f"an outage fails every attempt that starts in its window, so it takes no "
                    f"'{key}'; give step and outage: {{start, end, error?, message?, retryable?}}",
                )
            self.fail(
                (*path, key),
                f"'{key}' applies to error faults; a {kind} fault takes step, {kind}, "
                "attempts and probability",
            )

    def fault(self, spec: Mapping[str, Any], kind: str, path: Path) -> Fault:
        step = spec["step"]
        attempts = spec.get("attempts")
        probability = spec.get("probability")
        if probability is not None and not math.isfinite(probability):
            self.fail(
                (*path, "probability"),
                f"expected {PROBABILITY_HELP}, got {probability!r}",
            )
        if kind == "latency":
            return self.latency(spec["latency"], step, attempts, probability, (*path, "latency"))
        if kind == "hang":
            return Fault.hang(step, attempts=attempts, probability=probability)
        if kind == "outage":
            return self.outage(spec["outage"], step, (*path, "outage"))
        if kind == "crash":
            crash = spec["crash"]
            restart = crash.get("restart_after", 0)
            restart_ns = self.duration(restart, (*path, "crash", "restart_after"))
            return Fault.crash(
                step,
                at=crash.get("at", "before"),
                attempts=attempts,
                probability=probability,
                restart_after=f"{restart_ns}ns",
            )
        if spec.get("at") in ("before", "after"):
            self.fail(
                (*path, "at"),
                f"an error fault's 'at' is start (before any work) or end (after it), not "
                f"{spec['at']!r}; before and after the effect are for crashes: crash: {{at}}",
            )
        return Fault.error(
            step,
            attempts=attempts,
            probability=probability,
            error=self.error_class(spec["error"], (*path, "error")),
            message=spec.get("message", ""),
            retryable=spec.get("retryable", True),
            at=spec.get("at", "start"),
        )

    def latency(
        self,
        spec: Duration | Mapping[str, Any],
        step: str,
        attempts: int | list[int] | None,
        probability: float | None,
        path: Path,
    ) -> Fault:
        """``latency: 500ms``, ``{uniform: [low, high]}`` or ``{exponential: mean}``."""
        if not isinstance(spec, Mapping):
            extra = self.duration(spec, path)
            return Fault.latency(
                step, extra=f"{extra}ns", attempts=attempts, probability=probability
            )
        if "exponential" in spec:
            mean = self.duration(spec["exponential"], (*path, "exponential"))
            return Fault.latency(
                step, exponential=f"{mean}ns", attempts=attempts, probability=probability
            )
        bounds = spec["uniform"]
        low, high = (self.duration(b, (*path, "uniform", j)) for j, b in enumerate(bounds))
        if high < low:
            self.fail(
                (*path, "uniform"),
                "expected [low, high] with low <= high, "
                f"got [{format_seconds(low)}, {format_seconds(high)}]",
            )
        return Fault.latency(
            step, uniform=(f"{low}ns", f"{high}ns"), attempts=attempts, probability=probability
        )

    def outage(self, spec: Mapping[str, Any], step: str, path: Path) -> Fault:
        """``outage: {start, end, error?, message?, retryable?}``."""
        start = self.duration(spec["start"], (*path, "start"))
        end = self.duration(spec["end"], (*path, "end"))
        if end <= start:
            self.fail(
                (*path, "end"),
                "an outage must end after it starts, but it starts at "
                f"{format_seconds(start)} and ends at {format_seconds(end)}",
            )
        error = (
            self.error_class(spec["error"], (*path, "error"))
            if "error" in spec
            else "ServiceUnavailable"
        )
        return Fault.outage(
            step,
            start=f"{start}ns",
            end=f"{end}ns",
            error=error,
            message=spec.get("message", ""),
            retryable=spec.get("retryable", True),
        )

    def fault_target(self, fault: Fault, workflow: Workflow, path: Path) -> None:
        """An exact name must be a step, group task or compensation; a pattern must match one."""
        comps = workflow.compensations
        tasks = workflow.tasks
        targets = [*workflow.steps, *tasks, *comps]
        kinds = ["step", *(["task"] if tasks else []), *(["compensation"] if comps else [])]
        what = _either(kinds, "or")
        known = f"the {_either([k + 's' for k in kinds], 'and')} are"
        if fault.is_pattern:
            if not any(fault.matches(name) for name in targets):
                self.fail(
                    path,
                    f"the pattern {fault.step!r} matches no {what}; {known}: {_names(targets)}",
                )
            return
        group = workflow.steps[fault.step].group if fault.step in workflow.steps else None
        if group is not None:
            first = f"{fault.step}/{group.tasks[0].name}"
            self.fail(
                path,
                f"{fault.step!r} is a parallel group, which makes no attempts of its own; "
                f"target its tasks, e.g. {first!r}, or all of them with '{fault.step}/*'",
            )
        if fault.step in targets:
            return
        self.fail(path, _unknown(what, fault.step, targets, known))

    def error_class(self, name: str, path: Path) -> type[BaseException] | str:
        """A builtin exception class, a declared name, or the class ``module:Class`` names."""
        if name in self.declared:
            return name
        found = _builtin_errors().get(name)
        if found is not None:
            return found
        if name == "InjectedError":
            return name
        if ":" in name:
            module_name, _, attr = name.partition(":")
            want = "an exception class"
            if not module_name or not attr:
                self.fail(path, f"expected 'module:Class', got {name!r}")
            module = self.import_module(module_name, path)
            obj = self.attribute(module, attr, path, want)
            if not (isinstance(obj, type) and issubclass(obj, Exception)):
                self.fail(path, f"{name!r} is {_a(obj)}; expected {want}")
            return obj
        hint = did_you_mean(name, [*_builtin_errors(), *self.declared])
        if hint:
            self.fail(path, f"unknown error class {name!r}{hint}")
        self.fail(
            path,
            f"unknown error class {name!r}: use a builtin exception (e.g. ConnectionError), "
            "a name listed under 'errors', or 'module:Class'",
        )

    # -- the document ---------------------------------------------------------------------
    def build(self, data: Mapping[str, Any]) -> Scenario:
        self.declared = tuple(data.get("errors", ()))
        self.python = str(data["workflow"].get("python", data["workflow"].get("llama_index", "")))
        settings: Mapping[str, Any] = data.get("settings", {})
        workflow = self.workflow(data["workflow"], settings)
        self.sent_signals = [s["name"] for s in data.get("signals", ())]
        faults = self.faults(data.get("faults", ()), workflow)
        signals = self.signals(data.get("signals", ()), workflow)
        time_limit = self.duration(
            settings.get("time_limit", DEFAULT_TIME_LIMIT),
            ("settings", "time_limit"),
            positive=True,
        )
        epoch = (
            self.epoch(settings["epoch"], ("settings", "epoch"))
            if "epoch" in settings
            else DEFAULT_EPOCH
        )
        expect: Mapping[str, Any] = data.get("expect", {})
        self.expect(expect)
        invariants: Mapping[str, Any] = data.get("invariants", {})
        self.expect(invariants, "invariants")
        if "seed_pinned" in data and "choices" in settings:
            self.fail(
                ("seed_pinned",),
                "settings.choices already fixes every decision whatever the seed, so expect "
                "holds at every seed: remove seed_pinned",
            )
        return Scenario(
            path=self.file,
            title=data["scenario"],
            description=data.get("description", ""),
            seed=data.get("seed", 0),
            workflow=workflow,
            input=data.get("input", {}),
            faults=faults,
            time_limit_ns=time_limit,
            epoch=epoch,
            expect=expect,
            locations=self.locations,
            errors=self.declared,
            signals=signals,
            choices=tuple(settings["choices"]) if "choices" in settings else None,
            invariants=invariants,
            seed_pinned=data.get("seed_pinned", "").strip(),
        )

    # -- signals --------------------------------------------------------------------------
    def signals(
        self, specs: Sequence[Mapping[str, Any]], workflow: AnyWorkflow
    ) -> tuple[Signal, ...]:
        """``signals: [{name, at?, payload?}]``, for a body that can wait for them."""
        receives = getattr(workflow, "receives_signals", False)  # a LlamaIndex workflow
        if specs and not isinstance(workflow, ImperativeWorkflow) and not receives:
            if isinstance(workflow, EventWorkflow):
                what = (
                    f"{self.python!r} is an event workflow (a wfsim.EventWorkflow), whose steps "
                    "receive events, not signals"
                )
            elif self.python:
                what = (
                    f"{self.python!r} is a DAG of steps (a wfsim.Workflow) "
                    "and cannot receive signals"
                )
            else:
                what = "an inline workflow is a DAG of steps and cannot receive signals"
            self.fail(
                ("signals",),
                f"{what}; they go to a @wfsim.workflow body that "
                "waits for them (ctx.wait_for_signal), named with 'python'",
            )
        declared = workflow.signals if isinstance(workflow, ImperativeWorkflow) else ()
        out: list[Signal] = []
        for i, spec in enumerate(specs):
            path: Path = ("signals", i)
            name = spec["name"]
            if declared and name not in declared:
                self.fail(
                    (*path, "name"),
                    f"unknown signal {name!r} for workflow {workflow.name!r}"
                    f"{did_you_mean(name, declared)} (declared: {_names(declared)})",
                )
            at = self.duration(spec.get("at", 0), (*path, "at"))
            out.append(Signal(name, at=f"{at}ns", payload=spec.get("payload")))
        return tuple(out)

    def expect(self, expect: Mapping[str, Any], root: str = "expect") -> None:
        """Check what the schema cannot in ``expect`` or ``invariants``: durations, event kinds."""
        for i, pattern in enumerate(expect.get("trace_contains", ())):
            kind = pattern["kind"]
            path: Path = (root, "trace_contains", i, "kind")
            if kind not in EVENT_KINDS:
                self.fail(path, _unknown("event kind", kind, sorted(EVENT_KINDS), "the kinds are"))
            for name in TRACE_DURATION_FIELDS:  # the schema checked the form, this the range
                if name in pattern:
                    self.duration(pattern[name], (root, "trace_contains", i, name))
        for step, delays in expect.get("retry_delays", {}).items():
            for i, delay in enumerate(delays):
                self.duration(delay, (root, "retry_delays", step, i))
        if "makespan" in expect:  # split as the check splits it
            self.duration(split_makespan(expect["makespan"])[1], (root, "makespan"))


def _a(obj: Any) -> str:
    name = type(obj).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def build_scenario(
    data: Mapping[str, Any], file: str, locations: Locations, base_dir: str
) -> Scenario:
    """Build a :class:`Scenario` from a document that passed the schema.

    ``base_dir`` is the scenario file's directory (searched first, while they are
    imported, for ``python:`` workflows and ``module:Class`` errors). Raises ScenarioError.
    """
    return _Builder(file, locations, base_dir).build(data)
