"""Inline event workflows: ``workflow: {events: ..., steps: ...}`` in a scenario file.

An inline workflow with an ``events`` mapping is an event workflow
(:class:`~wfsim.EventWorkflow`, LlamaIndex's model, ``specs/events.md``) whose
event types are names with payload fields and whose steps are declarative: a
step ``accepts`` event types and, when invoked, optionally collects (fan-in
with ``ctx.collect_events``), takes ``duration`` of virtual time, merges
``output`` into the context, sends the events in ``emit`` and returns the
event in ``returns``. Field values may refer to the run (``$ev.FIELD``,
``$collected.FIELD``, ``$context.KEY``). Everything that can be checked before
the run is: unknown event types and fields, references to fields a type does
not have, ``to`` a step that does not accept the event, a collected type the
step does not accept, keys of the other workflow styles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from wfsim._core._context import StepContext
from wfsim._core._events import Event, EventWorkflow, StartEvent, StopEvent
from wfsim.errors import WorkflowDefinitionError, did_you_mean

from ._yaml import Path

if TYPE_CHECKING:
    from ._model import _Builder

__all__ = ["build_event_workflow"]

_BUILTIN: Mapping[str, type[Event]] = {"StartEvent": StartEvent, "StopEvent": StopEvent}

#: Keys of DAG steps, and why an event step takes none of them.
_DAG_ONLY: Mapping[str, str] = {
    "after": "event steps run when an event they accept arrives; use accepts (and emit/returns "
    "in the step before)",
    "trigger_rule": "event steps have no upstream steps to judge; use accepts",
    "parallel": "fan out by emitting several events (emit) to a step with num_workers > 1",
    "compensate": "event workflows have no sagas",
    "breaker": "circuit breakers guard inline DAG steps; an event workflow's come from python",
    "fallback": "fallbacks go with circuit breakers, which guard inline DAG steps",
    "cache_key": "caching is for inline DAG steps (and ctx.step in python bodies)",
}
#: Keys of event steps, and where they belong.
EVENT_ONLY = ("accepts", "num_workers", "collect", "buffer_id", "emit", "returns")


@attrs.frozen
class _Ref:
    """A field value read when the step runs: ``$ev.x``, ``$collected.x`` or ``$context.x``."""

    source: str
    name: str


@attrs.frozen
class _EventSpec:
    type: type[Event]
    fields: Mapping[str, Any]
    to: str | None = None


@attrs.frozen
class _Program:
    """What one inline event step does when invoked."""

    collect: tuple[type[Event], ...]
    buffer_id: str | None
    duration: int | _Ref  # ns, or the received event's field that holds the duration
    output: Mapping[str, Any]
    emit: tuple[_EventSpec, ...]
    returns: _EventSpec | None

    def sends(self) -> list[tuple[str, bool]]:
        """The event types this step sends, and whether each is returned (for graphs)."""
        out = [(spec.type.__name__, False) for spec in self.emit]
        if self.returns is not None:
            out.append((self.returns.type.__name__, True))
        return list(dict.fromkeys(out))

    async def __call__(self, ctx: StepContext, ev: Event) -> Event | None:
        collected: list[Event] | None = None
        if self.collect:
            collected = ctx.collect_events(ev, list(self.collect), buffer_id=self.buffer_id)
            if collected is None:
                return None
        if isinstance(self.duration, _Ref):
            await ctx.sleep(ev.fields.get(self.duration.name) or 0)
        elif self.duration:
            await ctx.sleep(f"{self.duration}ns")
        for key, value in self.output.items():
            ctx.set(key, _resolve(value, ctx, ev, collected))
        for spec in self.emit:
            ctx.send_event(_make(spec, ctx, ev, collected), step=spec.to)
        if self.returns is None:
            return None
        return _make(self.returns, ctx, ev, collected)


def _resolve(value: Any, ctx: StepContext, ev: Event, collected: list[Event] | None) -> Any:
    if isinstance(value, _Ref):
        if value.source == "ev":
            return ev.fields.get(value.name)
        if value.source == "collected":
            return [e.fields.get(value.name) for e in collected or ()]
        return ctx.get(value.name)
    if isinstance(value, Mapping):
        return {k: _resolve(v, ctx, ev, collected) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, ctx, ev, collected) for v in value]
    return value


def _make(spec: _EventSpec, ctx: StepContext, ev: Event, collected: list[Event] | None) -> Event:
    return spec.type(**{k: _resolve(v, ctx, ev, collected) for k, v in spec.fields.items()})


class _EventBuilder:
    def __init__(self, builder: _Builder, spec: Mapping[str, Any]) -> None:
        self.b = builder
        self.spec = spec
        self.steps: Mapping[str, Any] = spec["steps"]
        self.types: dict[str, type[Event]] = dict(_BUILTIN)
        #: Declared payload fields and their defaults (None: the built-ins take any fields).
        self.fields: dict[str, dict[str, Any] | None] = {"StartEvent": None, "StopEvent": None}
        self.accepts: dict[str, tuple[str, ...]] = {}

    def fail(self, path: Path, explanation: str) -> Any:
        self.b.fail(path, explanation)

    # -- event types -----------------------------------------------------------------------
    def declare(self) -> None:
        for name, raw in self.spec["events"].items():
            path: Path = ("workflow", "events", name)
            if name in _BUILTIN:
                self.fail(path, f"{name} is built in; declare only your own event types")
            if raw is None:
                defaults: dict[str, Any] = {}
            elif isinstance(raw, list):
                defaults = dict.fromkeys(raw)
            else:
                defaults = dict(raw)
            # A class per load: the trace names events by their type's name.
            self.types[name] = type(name, (Event,), {"__module__": "wfsim.scenario.events"})
            self.fields[name] = defaults

    def type_name(self, name: str, path: Path) -> str:
        if name not in self.types:
            declared = [n for n in self.types if n not in _BUILTIN]
            hint = did_you_mean(name, list(self.types))
            listed = ", ".join(declared) or "none yet"
            self.fail(
                path,
                f"unknown event type {name!r}{hint or ';'} Event types are declared under "
                f"workflow.events (declared: {listed}; built in: StartEvent, StopEvent)",
            )
        return name

    # -- steps -----------------------------------------------------------------------------
    def build(self, settings: Mapping[str, Any]) -> EventWorkflow:
        from ._model import default_name

        self.declare()
        for key, path in (
            ("max_concurrency", ("workflow", "max_concurrency")),
            ("saga", ("workflow", "saga")),
        ):
            if key in self.spec:
                self.fail(path, self.not_for_events(key))
        if "max_concurrency" in settings:
            self.fail(("settings", "max_concurrency"), self.not_for_events("max_concurrency"))
        timeout = (
            self.b.duration(self.spec["timeout"], ("workflow", "timeout"), positive=True)
            if "timeout" in self.spec
            else None
        )
        wf = EventWorkflow(
            self.spec.get("name", default_name(self.b.file)),
            timeout=45 if timeout is None else f"{timeout}ns",  # LlamaIndex's default (EVT-6)
        )
        # Every step's accepted types first: emit's 'to' is checked against them.
        for name, raw in self.steps.items():
            self.accepts[name] = self.step_accepts(name, raw or {})
        for name, raw in self.steps.items():
            self.step(wf, name, raw or {})
        try:
            wf.validate()
        except WorkflowDefinitionError as exc:
            self.fail(("workflow", "steps"), str(exc))
        return wf

    @staticmethod
    def not_for_events(key: str) -> str:
        if key == "saga":
            return "an event workflow (workflow.events) has no saga: its steps take no compensate"
        return (
            "an event workflow (workflow.events) takes no max_concurrency; bound each step's "
            "concurrent invocations with num_workers instead"
        )

    def step_accepts(self, name: str, spec: Mapping[str, Any]) -> tuple[str, ...]:
        base: Path = ("workflow", "steps", name)
        for key, why in _DAG_ONLY.items():
            if key in spec:
                self.fail((*base, key), f"'{key}' is not for an event step: {why}")
        if "accepts" not in spec:
            self.fail(
                base,
                f"event step {name!r} needs 'accepts': the event type(s) it is invoked for "
                "(StartEvent for the first step)",
            )
        raw = spec["accepts"]
        paths: list[Path] = (
            [(*base, "accepts")]
            if isinstance(raw, str)
            else [(*base, "accepts", i) for i in range(len(raw))]
        )
        names = [raw] if isinstance(raw, str) else list(raw)
        for path, type_name in zip(paths, names, strict=True):
            if type_name == "StopEvent":  # the engine's rule (EVT-1), at its line
                self.fail(
                    path,
                    f"step {name!r} cannot accept StopEvent: it ends the run (LlamaIndex "
                    "rejects it too); accept another event type",
                )
        return tuple(self.type_name(t, p) for t, p in zip(names, paths, strict=True))

    def step(self, wf: EventWorkflow, name: str, spec: Mapping[str, Any]) -> None:
        base: Path = ("workflow", "steps", name)
        accepts = self.accepts[name]
        raw_duration = spec.get("duration", 0)
        duration: int | _Ref = 0
        if isinstance(raw_duration, str) and raw_duration.startswith("$"):
            duration = self.value(raw_duration, _Scope(accepts, ()), (*base, "duration"))
            spec = {k: v for k, v in spec.items() if k != "duration"}
        _, timeout, retry = self.b.timing(spec, base)
        if not isinstance(duration, _Ref):
            duration = self.b.duration(raw_duration, (*base, "duration"))
        collect: tuple[str, ...] = ()
        if "collect" in spec:
            collect = tuple(
                self.type_name(t, (*base, "collect", i)) for i, t in enumerate(spec["collect"])
            )
            for i, t in enumerate(collect):
                if t not in accepts:
                    self.fail(
                        (*base, "collect", i),
                        f"step {name!r} collects {t} but does not accept it, so the collection "
                        f"could never complete; add {t} to its accepts",
                    )
        elif "buffer_id" in spec:
            self.fail((*base, "buffer_id"), "'buffer_id' names a collect buffer; add 'collect'")
        scope = _Scope(accepts, collect)
        output = {
            key: self.value(v, scope, (*base, "output", key))
            for key, v in (spec.get("output") or {}).items()
        }
        emit = tuple(
            self.event(e, scope, (*base, "emit", i), may_target=True)
            for i, e in enumerate(spec.get("emit", ()))
        )
        returns = (
            self.event(spec["returns"], scope, (*base, "returns"), may_target=False)
            if "returns" in spec
            else None
        )
        program = _Program(
            tuple(self.types[t] for t in collect),
            spec.get("buffer_id"),
            duration,
            output,
            emit,
            returns,
        )
        wf.step(
            program,
            name=name,
            accepts=[self.types[t] for t in accepts],
            num_workers=spec.get("num_workers", 4),
            retry=retry,
            timeout=None if timeout is None else f"{timeout}ns",
        )

    def event(self, raw: str | Mapping[str, Any], scope: _Scope, path: Path, *,
              may_target: bool) -> _EventSpec:
        if isinstance(raw, str):
            raw = {"event": raw}
            type_path: Path = path
        else:
            type_path = (*path, "event")
        name = self.type_name(raw["event"], type_path)
        if may_target and name == "StopEvent":
            self.fail(
                type_path,
                "a sent StopEvent does not end the run (EVT-1, as LlamaIndex's send_event); "
                "write 'returns: StopEvent' instead",
            )
        declared = self.fields[name]
        fields: dict[str, Any] = dict(declared or {})
        for key, value in (raw.get("fields") or {}).items():
            if declared is not None and key not in declared:
                listed = ", ".join(declared) or "none"
                self.fail(
                    (*path, "fields", key),
                    f"event type {name} has no field {key!r}{did_you_mean(key, list(declared))} "
                    f"(its fields: {listed}; declare more under workflow.events.{name})",
                )
            fields[key] = self.value(value, scope, (*path, "fields", key))
        to = raw.get("to")
        if to is not None:
            if not may_target:
                self.fail((*path, "to"), "'to' is for emit; a returned event goes to every "
                          "step that accepts its type")
            if to not in self.steps:
                self.fail((*path, "to"), f"unknown step {to!r}{did_you_mean(to, list(self.steps))}"
                          f" (the steps are: {', '.join(self.steps)})")
            if name not in self.accepts[to]:
                self.fail(
                    (*path, "to"),
                    f"step {to!r} does not accept {name} (it accepts "
                    f"{', '.join(self.accepts[to])}); LlamaIndex raises WorkflowRuntimeError here",
                )
        return _EventSpec(self.types[name], fields, to)

    def value(self, value: Any, scope: _Scope, path: Path) -> Any:
        """A field or output value with its ``$`` references parsed and checked."""
        if isinstance(value, Mapping):
            return {k: self.value(v, scope, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, scope, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or not value.startswith("$"):
            return value
        if value.startswith("$$"):
            return value[1:]
        source, dot, name = value[1:].partition(".")
        if source not in ("ev", "collected", "context") or not dot or not name:
            self.fail(
                path,
                f"expected a reference '$ev.FIELD', '$collected.FIELD' or '$context.KEY', got "
                f"{value!r} (write '$$' for a literal '$')",
            )
        if source == "ev":
            self.check_fields(name, scope.accepts, "the event the step receives", path)
        elif source == "collected":
            if not scope.collect:
                self.fail(path, f"{value!r} reads collected events, but the step has no 'collect'")
            self.check_fields(name, scope.collect, "every collected event", path)
        return _Ref(source, name)

    def check_fields(self, name: str, types: Sequence[str], what: str, path: Path) -> None:
        for t in dict.fromkeys(types):
            declared = self.fields[t]
            if declared is not None and name not in declared:
                listed = ", ".join(declared) or "none"
                self.fail(
                    path,
                    f"{what} may be a {t}, which has no field {name!r}"
                    f"{did_you_mean(name, list(declared))} (its fields: {listed})",
                )


@attrs.frozen
class _Scope:
    accepts: tuple[str, ...]
    collect: tuple[str, ...]


def build_event_workflow(
    builder: _Builder, spec: Mapping[str, Any], settings: Mapping[str, Any]
) -> EventWorkflow:
    """The :class:`~wfsim.EventWorkflow` an inline ``workflow`` with ``events`` describes."""
    return _EventBuilder(builder, spec).build(settings)


def event_keys_in_dag(steps: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first (step, key) of an inline DAG that only an event workflow takes."""
    for name, raw in steps.items():
        for key in raw or {}:
            if key in EVENT_ONLY:
                return name, key
    return None
