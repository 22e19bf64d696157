"""The scenario model: a validated document turned into engine objects.

:func:`build_scenario` takes a document that passed the schema and builds the
:class:`~wfsim.Workflow`, the :class:`~wfsim.Fault` list and the settings,
checking what a schema cannot: step names in ``after`` and faults, cycles,
error classes, retry policies, durations out of range, imports. Every problem
is one :class:`~wfsim.errors.ScenarioError` at the line of the field at fault.
"""

from __future__ import annotations

import builtins
import copy
import datetime as _dt
import importlib
import itertools
import os
import re
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any, ClassVar, NoReturn

import attrs

from wfsim._core._faults import Fault
from wfsim._core._retry import RetryPolicy
from wfsim._core._run import DEFAULT_TIME_LIMIT
from wfsim._core._time import DEFAULT_EPOCH, Duration, to_ns
from wfsim._core._trace import EVENT_KINDS
from wfsim._core._workflow import SagaPolicy, Step, Workflow, compensation
from wfsim.errors import (
    CycleError,
    RetryPolicyError,
    ScenarioError,
    WorkflowDefinitionError,
    did_you_mean,
)

from ._yaml import Locations, Path, field_name, scenario_error

__all__ = ["Scenario", "build_scenario"]

#: Durations are int64 nanoseconds at most (about 292 years), as in Go and trio.
MAX_DURATION_NS = 2**63 - 1
_NUMBER = re.compile(r"^\s*(<=|<|>=|>|==)?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)")


@attrs.frozen
class Scenario:
    """A loaded scenario file: the workflow, its faults and settings, and what must hold.

    ``expect`` is the file's ``expect`` mapping as written (validated against
    the schema, durations not yet parsed). ``locations`` gives the line of any
    field, for messages that cite the file: ``scenario.where(("expect",
    "makespan"))`` is ``"scenarios/x.wfsim.yaml:31: expect.makespan"``.
    """

    path: str
    title: str
    description: str
    seed: int
    workflow: Workflow
    input: Mapping[str, Any]
    faults: tuple[Fault, ...]
    time_limit_ns: int
    epoch: _dt.datetime
    expect: Mapping[str, Any]
    locations: Locations = attrs.field(repr=False)
    errors: tuple[str, ...] = ()

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
        for entry in (os.getcwd(), self.base_dir):  # the file's directory ends up first
            if entry not in sys.path:
                sys.path.insert(0, entry)
        importlib.invalidate_caches()
        try:
            return importlib.import_module(name)
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
    def workflow(self, spec: Mapping[str, Any], settings: Mapping[str, Any]) -> Workflow:
        if "python" in spec:
            for key in ("name", "steps", "saga"):
                if key in spec:
                    self.fail(
                        ("workflow", key),
                        f"'{key}' is for inline workflows; a python workflow brings its own",
                    )
            workflow = self.python_workflow(spec["python"], ("workflow", "python"))
            limit = spec.get("max_concurrency", workflow.max_concurrency)
        else:
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

    def python_workflow(self, target: str, path: Path) -> Workflow:
        module_name, _, attr = target.partition(":")
        module = self.import_module(module_name, path)
        want = "a wfsim.Workflow or a function of no arguments returning one"
        obj = self.attribute(module, attr, path, want)
        if callable(obj) and not isinstance(obj, Workflow):
            try:
                obj = obj()
            except (Exception, SystemExit) as exc:
                self.fail(path, f"calling {target!r} raised {type(exc).__name__}: {exc}")
            if not isinstance(obj, Workflow):
                self.fail(path, f"{target!r} returned {_a(obj)}; expected {want}")
        if not isinstance(obj, Workflow):
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
        for name, raw in steps.items():
            spec: Mapping[str, Any] = raw or {}
            base: Path = ("workflow", "steps", name)
            deps = self.after(name, spec.get("after"), steps, base)
            duration, timeout, retry = self.timing(spec, base)
            comp = (
                self.compensation(spec["compensate"], (*base, "compensate"))
                if "compensate" in spec
                else None
            )
            try:
                workflow.add_step(
                    name,
                    duration=f"{duration}ns",
                    output=spec.get("output"),
                    after=deps,
                    retry=retry,
                    timeout=None if timeout is None else f"{timeout}ns",
                    compensate=comp,
                )
            except WorkflowDefinitionError as exc:  # pragma: no cover - checked above
                self.fail(base, str(exc))
        try:
            workflow.validate()
        except CycleError as exc:
            self.fail(self.cycle_site(exc.path, steps), self.cycle_text(exc.path))
        except WorkflowDefinitionError as exc:
            # The engine's own wording; the site is the compensation it names.
            self.fail(self.compensation_site(steps), str(exc))

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
    def faults(self, specs: Sequence[Mapping[str, Any]], workflow: Workflow) -> tuple[Fault, ...]:
        faults: list[Fault] = []
        for i, spec in enumerate(specs):
            path: Path = ("faults", i)
            step = spec["step"]
            comps = workflow.compensations
            if step not in workflow and step not in comps:
                if comps:
                    what = _unknown(
                        "step or compensation",
                        step,
                        [*workflow.steps, *comps],
                        "the steps and compensations are",
                    )
                else:
                    what = _unknown("step", step, workflow.steps, "the steps are")
                self.fail((*path, "step"), what)
            attempts = spec.get("attempts")
            if "latency" in spec:
                for key in ("at", "retryable", "message"):
                    if key in spec:
                        self.fail(
                            (*path, key),
                            f"'{key}' applies to error faults; a latency fault takes "
                            "step, latency and attempts",
                        )
                extra = self.duration(spec["latency"], (*path, "latency"))
                faults.append(Fault.latency(step, extra=f"{extra}ns", attempts=attempts))
            else:
                error = self.error_class(spec["error"], (*path, "error"))
                faults.append(
                    Fault.error(
                        step,
                        attempts=attempts,
                        error=error,
                        message=spec.get("message", ""),
                        retryable=spec.get("retryable", True),
                        at=spec.get("at", "start"),
                    )
                )
        return tuple(faults)

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
        settings: Mapping[str, Any] = data.get("settings", {})
        workflow = self.workflow(data["workflow"], settings)
        faults = self.faults(data.get("faults", ()), workflow)
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
        )

    def expect(self, expect: Mapping[str, Any]) -> None:
        """Check what the schema cannot: durations' range, event kinds."""
        for i, pattern in enumerate(expect.get("trace_contains", ())):
            kind = pattern["kind"]
            if kind not in EVENT_KINDS:
                path: Path = ("expect", "trace_contains", i, "kind")
                self.fail(path, _unknown("event kind", kind, sorted(EVENT_KINDS), "the kinds are"))
        for step, delays in expect.get("retry_delays", {}).items():
            for i, delay in enumerate(delays):
                self.duration(delay, ("expect", "retry_delays", step, i))
        if "makespan" in expect:
            makespan = expect["makespan"]
            if isinstance(makespan, str):
                makespan = makespan.strip().lstrip("<>=").strip()
            self.duration(makespan, ("expect", "makespan"))


def _a(obj: Any) -> str:
    name = type(obj).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def build_scenario(
    data: Mapping[str, Any], file: str, locations: Locations, base_dir: str
) -> Scenario:
    """Build a :class:`Scenario` from a document that passed the schema.

    ``base_dir`` is the scenario file's directory (put on ``sys.path`` for
    ``python:`` workflows and ``module:Class`` errors). Raises ScenarioError.
    """
    return _Builder(file, locations, base_dir).build(data)
