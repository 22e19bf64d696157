"""Writing a workflow, its faults and its schedule back out as a scenario file.

:func:`dump_scenario` is the loader's inverse for what a file can say: a
code-less DAG :class:`~wfsim.Workflow` (steps, dependencies, trigger rules,
durations, outputs, retry policies, timeouts, compensations, parallel groups,
circuit breakers, static fallbacks, context cache keys, the saga and the
concurrency bound), a fault plan, signals, the seed, and a
recorded schedule (``settings.choices``). A counterexample Hypothesis found
becomes a regression file in one paste: loading the text and running it gives
the same trace, digest for digest (specs/scenario-format.md, SCN-13).
"""

from __future__ import annotations

import builtins
import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._program import Program
from wfsim._core._retry import RetryPolicy
from wfsim._core._run import DEFAULT_TIME_LIMIT
from wfsim._core._signals import Signal
from wfsim._core._time import DEFAULT_EPOCH, Duration, format_seconds, to_ns
from wfsim._core._workflow import SagaPolicy, Step, Workflow
from wfsim.errors import ScenarioError

from ._inline_bodies import body_doc
from ._resilience import ContextKey, StaticFallback, breaker_doc

__all__ = ["dump_scenario", "fault_mapping"]

AnyWorkflow = Workflow | ImperativeWorkflow | EventWorkflow


def dump_scenario(
    workflow: AnyWorkflow,
    *,
    faults: Iterable[Fault] = (),
    seed: int = 0,
    choices: Iterable[int] | None = None,
    input: Mapping[str, Any] | None = None,
    signals: Iterable[Signal] = (),
    expect: Mapping[str, Any] | None = None,
    title: str | None = None,
    description: str = "",
    python: str | None = None,
    time_limit: Duration | None = None,
    epoch: _dt.datetime | None = None,
) -> str:
    """The text of a ``.wfsim.yaml`` file that runs ``workflow`` under ``faults``.

    Example::

        text = dump_scenario(wf, faults=[wfsim.Fault.error("charge", attempts=[1])],
                             seed=3, expect={"status": "completed"})
        pathlib.Path("charge.wfsim.yaml").write_text(text)

    A :class:`~wfsim.Workflow` is written inline; every step must be code-less
    (no ``fn``: a file cannot hold code). Circuit breakers are written as
    ``breaker:`` (in full on the first step naming one, by name on the others);
    a fallback only as a :class:`~wfsim.scenario.StaticFallback` and a cache
    key only as a :class:`~wfsim.scenario.ContextKey`, the forms a file has
    (SCN-15). A body that is a :class:`~wfsim._core._program.Program` (what
    ``wfsim.strategies.imperative_workflows`` draws) is written inline as
    ``body:`` (SCN-17). For any
    other workflow (or one with code) give ``python="package.module:attr"``, the
    import path a file names it by. ``choices`` (e.g. ``result.choices``) is
    written as ``settings.choices`` (trailing zeros dropped: a tape answers 0
    past its end): every run of the file then follows that schedule, so a run
    Hypothesis drew from a tape replays exactly. ``expect``
    is written as given (the loader checks it). A fault's error class that is
    neither a builtin nor ``InjectedError`` is listed under ``errors:`` by name
    (or written ``module:Class`` when it is an importable class).

    Raises :class:`~wfsim.errors.ScenarioError` naming what a file cannot
    express (step code, an unimportable error class, an output YAML cannot hold).
    ``load_scenario_text(dump_scenario(...))`` runs to the same trace digest as
    ``wfsim.run(...)`` with the same arguments.
    """
    writer = _Writer()
    doc: dict[str, Any] = {"scenario": title or f"{workflow.name} (generated)"}
    if description:
        doc["description"] = description
    doc["seed"] = seed
    if python is not None:
        doc["workflow"] = {"python": python}
    elif isinstance(workflow, Workflow):
        doc["workflow"] = writer.workflow(workflow)
    elif isinstance(workflow, ImperativeWorkflow) and isinstance(workflow.fn, Program):
        doc["workflow"] = body_doc(workflow, writer, _seconds)
    else:
        kind = "an event workflow" if isinstance(workflow, EventWorkflow) else "a workflow body"
        raise writer.error(
            f"workflow {workflow.name!r} is {kind}, which a file names by its import path; "
            "pass python='package.module:attr'"
        )
    if input:
        doc["input"] = writer.value(dict(input), "input")
    fault_docs = [writer.fault(f) for f in faults]
    if writer.declared:
        doc["errors"] = sorted(writer.declared)
    if fault_docs:
        doc["faults"] = fault_docs
    signal_docs = [writer.signal(s) for s in signals]
    if signal_docs:
        doc["signals"] = signal_docs
    settings: dict[str, Any] = {}
    if time_limit is not None and to_ns(time_limit) != to_ns(DEFAULT_TIME_LIMIT):
        settings["time_limit"] = format_seconds(to_ns(time_limit))
    if epoch is not None and epoch != DEFAULT_EPOCH:
        settings["epoch"] = epoch.isoformat()
    if choices is not None:
        tape = [int(c) for c in choices]
        while tape and tape[-1] == 0:  # a tape answers 0 past its end anyway
            tape.pop()
        settings["choices"] = tape
    if settings:
        doc["settings"] = settings
    if expect:
        doc["expect"] = writer.value(dict(expect), "expect")
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=100)


class _Line(dict[str, Any]):
    """A mapping written on one line (``- {step: s0, error: ValueError}``)."""


class _Dumper(yaml.SafeDumper):
    """YAML's safe dumper, writing each fault and signal as one flow mapping."""


def _represent_line(dumper: yaml.SafeDumper, data: _Line) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_Dumper.add_representer(_Line, _represent_line)


def _seconds(ns: int) -> str | int:
    return 0 if ns == 0 else format_seconds(ns)


_BUILTIN_ERRORS = {
    name
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, Exception) and not name.startswith("_")
}


def fault_mapping(
    fault: Fault, *, error_name: Callable[[Fault], str] | None = None
) -> dict[str, Any]:
    """A fault as a scenario file's ``faults:`` item (what the loader turns back into it).

    The one writer of a fault: :func:`dump_scenario` and campaign minimisation both
    use it. Every fault a file can hold round-trips: errors, latencies (fixed,
    ``{uniform: [lo, hi]}``, ``{exponential: mean}``), hangs, outages, crashes
    (``crash: {at, restart_after}``, both always written) and delivery faults
    (``{event|signal, drop|duplicate|delay, occurrences?, probability?}``, FAULT-20).
    ``error_name(fault)`` is what an error or outage names its error class by
    (default: ``fault.error_name`` as is; :func:`dump_scenario` declares non-builtin
    names and writes importable classes as ``module:Class``). A chaos phase's end
    (``until_ns``) is not a file's. Plain dicts only (YAML's safe dumper writes them).
    """
    name_of = error_name or _plain_error_name
    if fault.delivery is not None:
        doc: dict[str, Any] = {fault.delivery: fault.step}
        if fault.kind == "drop":
            doc["drop"] = True
        elif fault.kind == "duplicate":
            doc["duplicate"] = fault.copies
        else:
            doc["delay"] = _shaped(fault)
        if fault.occurrences is not None:
            doc["occurrences"] = list(fault.occurrences)
        if fault.probability is not None:
            doc["probability"] = fault.probability
        return doc
    if fault.kind == "crash" and fault.at == "body":  # a body point: no step (FAULT-15)
        doc = {"crash": {"body": fault.step, "restart_after": _seconds(fault.restart_ns)}}
        if fault.attempts is not None:
            doc["occurrences"] = list(fault.attempts)
        if fault.probability is not None:
            doc["probability"] = fault.probability
        return doc
    doc = {"step": fault.step}
    if fault.kind == "error":
        doc["error"] = name_of(fault)
        if fault.at != "start":
            doc["at"] = fault.at
        if not fault.retryable:
            doc["retryable"] = False
        if fault.message != f"injected {fault.error_name}":
            doc["message"] = fault.message
    elif fault.kind == "latency":
        doc["latency"] = _shaped(fault)
    elif fault.kind == "hang":
        doc["hang"] = True
    elif fault.kind == "crash":
        doc["crash"] = {"at": fault.at, "restart_after": _seconds(fault.restart_ns)}
    else:  # an outage: a window, no attempts or probability
        start, end = fault.window_ns
        outage: dict[str, Any] = {"start": _seconds(start), "end": _seconds(end)}
        if fault.error_name != "ServiceUnavailable" or fault.error_type is not None:
            outage["error"] = name_of(fault)
        if fault.message != f"injected {fault.error_name} (outage)":
            outage["message"] = fault.message
        if not fault.retryable:
            outage["retryable"] = False
        doc["outage"] = outage
        return doc
    if fault.attempts is not None:
        doc["attempts"] = list(fault.attempts)
    if fault.probability is not None:
        doc["probability"] = fault.probability
    return doc


def _plain_error_name(fault: Fault) -> str:
    return fault.error_name


def _shaped(fault: Fault) -> Any:
    """A latency's or delay's time: ``250ms``, ``{uniform: [lo, hi]}``, ``{exponential: m}``."""
    if fault.shape == "uniform":
        return {"uniform": [_seconds(fault.extra_ns), _seconds(fault.high_ns)]}
    if fault.shape == "exponential":
        return {"exponential": _seconds(fault.extra_ns)}
    return _seconds(fault.extra_ns)


class _Writer:
    """Turns engine objects into the plain data a scenario document holds."""

    def __init__(self) -> None:
        self.declared: set[str] = set()
        self.breakers: set[str] = set()  # the breakers written in full so far

    @staticmethod
    def error(explanation: str) -> ScenarioError:
        return ScenarioError(
            f"dump_scenario(): cannot write this as a scenario file: {explanation}"
        )

    def value(self, value: Any, where: str) -> Any:
        """``value`` if YAML's safe dumper can write it and read it back equal."""
        try:
            back = yaml.safe_load(yaml.safe_dump(value))
        except yaml.YAMLError as exc:
            raise self.error(f"{where} holds a value YAML cannot write: {exc}") from None
        if back != value:
            raise self.error(f"{where} holds {value!r}, which YAML reads back as {back!r}")
        return value

    # -- the workflow ----------------------------------------------------------------------
    def workflow(self, workflow: Workflow) -> dict[str, Any]:
        workflow.validate()
        doc = self.head(workflow)
        doc["steps"] = {name: self.step(step) for name, step in workflow.steps.items()}
        return doc

    def head(self, workflow: Workflow | ImperativeWorkflow) -> dict[str, Any]:
        """What a DAG's and a body's ``workflow:`` mappings share: name, concurrency, saga."""
        doc: dict[str, Any] = {"name": workflow.name}
        if workflow.max_concurrency is not None:
            doc["max_concurrency"] = workflow.max_concurrency
        saga = self.saga(workflow.saga)
        if saga:
            doc["saga"] = saga
        return doc

    @staticmethod
    def saga(saga: SagaPolicy) -> dict[str, Any]:
        default = SagaPolicy()
        return {
            key: getattr(saga, key)
            for key in ("register", "parallel", "on_error")
            if getattr(saga, key) != getattr(default, key)
        }

    def step(self, step: Step) -> dict[str, Any] | None:
        what = f"step {step.name!r}"
        doc: dict[str, Any] = {}
        if step.after:
            doc["after"] = list(step.after)
        if step.trigger_rule != "all_success":
            doc["trigger_rule"] = step.trigger_rule
        if step.group is not None:
            group = step.group
            parallel: dict[str, Any] = {
                "tasks": {t.name: self.work(t, f"task {step.name}/{t.name}") for t in group.tasks}
            }
            if group.merge != "shallow":
                parallel["merge"] = group.merge
            if group.on_conflict != "prefer_new":
                parallel["on_conflict"] = group.on_conflict
            if group.allow_partial_success:
                parallel["allow_partial_success"] = True
            if group.timeout_ns is not None:
                parallel["timeout"] = _seconds(group.timeout_ns)
            doc["parallel"] = parallel
            return doc
        doc.update(self.work(step, what) or {})
        if not step.idempotent:
            doc["idempotent"] = False
        if step.compensate is not None:
            comp = step.compensate
            body = self.work(comp, f"compensation {comp.name!r}")
            doc["compensate"] = {"name": comp.name, **body} if body else comp.name
        doc.update(self.resilience(step, what))
        return doc or None

    def resilience(self, step: Step, what: str) -> dict[str, Any]:
        """``breaker``, ``fallback`` and ``cache_key`` (SCN-15), in their data forms."""
        doc: dict[str, Any] = {}
        breaker = step.breaker
        if breaker is not None:
            if breaker.name in self.breakers:  # declared in full on an earlier step
                doc["breaker"] = breaker.name
            else:
                self.breakers.add(breaker.name)
                doc["breaker"] = breaker_doc(breaker, step.name)
                for name in breaker.exclude:
                    if name not in _BUILTIN_ERRORS and name != "InjectedError":
                        self.declared.add(name)
        if isinstance(step.fallback, StaticFallback):
            fallback: dict[str, Any] = {}
            if step.fallback.output is not None:
                fallback["output"] = self.value(dict(step.fallback.output), f"{what}'s fallback")
            if step.fallback.duration_ns:
                fallback["duration"] = _seconds(step.fallback.duration_ns)
            doc["fallback"] = fallback or None
        elif step.fallback is not None:
            raise self.error(
                f"{what} has a fallback that runs code ({step.fallback!r}); a file's fallback is "
                "{output, duration} (wfsim.scenario.StaticFallback): name the workflow with python="
            )
        if isinstance(step.cache_key, ContextKey):
            key = step.cache_key
            doc["cache_key"] = key.keys[0] if key.single else list(key.keys)
        elif step.cache_key is not None:
            raise self.error(
                f"{what} caches on a function ({step.cache_key!r}); a file's cache_key names "
                "context keys (wfsim.scenario.ContextKey): name the workflow with python="
            )
        return doc

    def work(self, step: Step, what: str) -> dict[str, Any] | None:
        """What one attempt does: duration, output, retry, timeout (``None``: nothing)."""
        if step.fn is not None:
            raise self.error(
                f"{what} runs code ({step.fn!r}); a file holds code-less steps only "
                "(duration, output): name the workflow with python= instead"
            )
        doc: dict[str, Any] = {}
        if step.duration_ns:
            doc["duration"] = _seconds(step.duration_ns)
        if step.output is not None:
            doc["output"] = self.value(dict(step.output), f"{what}'s output")
        if step.retry is not None:
            doc["retry"] = self.retry(step.retry)
        if step.timeout_ns is not None:
            doc["timeout"] = _seconds(step.timeout_ns)
        return doc or None

    @staticmethod
    def retry(policy: RetryPolicy) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "max_attempts": policy.max_attempts,
            "initial_interval": _seconds(policy.initial_interval_ns),
        }
        if policy.backoff_coefficient != 2.0:
            doc["backoff_coefficient"] = policy.backoff_coefficient
        if policy.max_interval_ns is not None:
            doc["max_interval"] = _seconds(policy.max_interval_ns)
        if policy.min_interval_ns:
            doc["min_interval"] = _seconds(policy.min_interval_ns)
        if policy.jitter != "none":
            doc["jitter"] = policy.jitter
        if policy.non_retryable:
            doc["non_retryable"] = list(policy.non_retryable)
        if policy.delays_ns is not None:
            doc["delays"] = [_seconds(d) for d in policy.delays_ns]
        return doc

    # -- faults and signals ----------------------------------------------------------------
    def error_name(self, fault: Fault) -> str:
        cls = fault.error_type
        name = fault.error_name
        if cls is None or (name in _BUILTIN_ERRORS and getattr(builtins, name) is cls):
            if name not in _BUILTIN_ERRORS and name != "InjectedError":
                self.declared.add(name)
            return name
        qualname = f"{cls.__module__}:{cls.__qualname__}"
        if "<" in qualname or cls.__module__ == "__main__":
            raise self.error(
                f"the error class {cls.__qualname__} of the fault on {fault.step!r} cannot be "
                "imported by a file; define it at module level, or inject it by name"
            )
        return qualname

    def fault(self, fault: Fault) -> dict[str, Any]:
        return _Line(fault_mapping(fault, error_name=self.error_name))

    def signal(self, signal: Signal) -> dict[str, Any]:
        doc: dict[str, Any] = _Line(name=signal.name)
        if signal.at_ns:
            doc["at"] = _seconds(signal.at_ns)
        if signal.payload is not None:
            doc["payload"] = self.value(signal.payload, f"signal {signal.name!r}'s payload")
        return doc
