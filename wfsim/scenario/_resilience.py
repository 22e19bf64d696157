"""Circuit breakers, static fallbacks and cache keys of inline DAG steps (SCN-15).

A scenario file cannot hold code, so the two callables ``Workflow.add_step``
takes here have data forms that the loader builds and :func:`dump_scenario`
recognises to write them back:

* :class:`StaticFallback` (``fallback: {output?, duration?}``): what a refused
  attempt does instead of the step (BRK-5): wait ``duration``, then merge
  ``output`` into the context.
* :class:`ContextKey` (``cache_key: user`` or ``cache_key: [user, region]``):
  the step's cache key read from the context (CACHE-2).

:class:`BreakerSpecs` turns the ``breaker:`` mappings of a file's steps into
:class:`~wfsim.CircuitBreaker` objects, one per name, and checks what the schema
cannot: fields of the other strategy, one name with two settings, a reference
to a breaker no step declares, a fallback without a breaker.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from wfsim._core._breaker import CircuitBreaker
from wfsim._core._time import format_seconds
from wfsim.errors import WorkflowDefinitionError, did_you_mean

if TYPE_CHECKING:
    from wfsim._core._context import StepContext

    from ._model import _Builder
    from ._yaml import Path

__all__ = ["BreakerSpecs", "ContextKey", "StaticFallback", "breaker_doc"]

#: The fields each strategy takes besides name, strategy, recovery_timeout and exclude
#: (CircuitBreaker.consecutive's and CircuitBreaker.rate's keyword arguments).
STRATEGY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "consecutive": ("failure_threshold", "success_threshold", "throw_new_error_on_trip"),
    "rate": ("window", "minimum_calls", "failure_rate", "half_open_permits"),
}
_COMMON = ("name", "strategy", "recovery_timeout", "exclude")


@attrs.frozen
class StaticFallback:
    """A fallback written as data: wait ``duration_ns``, then return ``output``.

    The step completes with that output merged into the context, as a code-less
    step's would be (BRK-5).
    """

    output: Mapping[str, Any] | None = None
    duration_ns: int = 0

    async def __call__(self, ctx: StepContext) -> Any:
        if self.duration_ns:
            await ctx.sleep(f"{self.duration_ns}ns")
        return dict(self.output) if self.output is not None else None


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for a context value (mappings and lists become tuples)."""
    if isinstance(value, Mapping):
        return tuple(sorted(((str(k), _frozen(v)) for k, v in value.items()), key=repr))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, set | frozenset):
        return tuple(sorted((_frozen(v) for v in value), key=repr))
    return value  # type: ignore[no-any-return]


@attrs.frozen
class ContextKey:
    """A DAG step's cache key read from the context: ``cache_key: user`` is
    ``lambda c: c.get("user")``; ``cache_key: [user, region]`` the tuple of both
    values (a missing key reads None; mappings and lists are frozen to tuples)."""

    keys: tuple[str, ...]
    #: Written as one name (the key is that value) rather than a list (a tuple).
    single: bool = False

    def __call__(self, context: Mapping[str, Any]) -> Hashable:
        values = tuple(_frozen(context.get(k)) for k in self.keys)
        return values[0] if self.single else values


class BreakerSpecs:
    """The breakers a file's steps declare, by name, built before any step is added."""

    def __init__(self, builder: _Builder, steps: Mapping[str, Any]) -> None:
        self.builder = builder
        self.by_name: dict[str, CircuitBreaker] = {}
        sites: dict[str, Path] = {}
        for step, raw in steps.items():
            spec = (raw or {}).get("breaker")
            if not isinstance(spec, Mapping):
                continue
            path: Path = ("workflow", "steps", step, "breaker")
            breaker = self.build(step, spec, path)
            known = self.by_name.get(breaker.name)
            if known is not None and known != breaker:
                line = builder.locations.line(sites[breaker.name])
                self.builder.fail(
                    path,
                    f"a circuit breaker named {breaker.name!r} is declared "
                    f"{f'at line {line} ' if line else ''}with other settings; steps share a "
                    f"breaker by name: write 'breaker: {breaker.name}' to share that one, "
                    "or give this one another name",
                )
            self.by_name.setdefault(breaker.name, breaker)
            sites.setdefault(breaker.name, path)

    def build(self, step: str, spec: Mapping[str, Any], path: Path) -> CircuitBreaker:
        strategy: str = spec["strategy"]
        other = "rate" if strategy == "consecutive" else "consecutive"
        for key in spec:
            if key in STRATEGY_FIELDS[other]:
                takes = ", ".join((*_COMMON[2:], *STRATEGY_FIELDS[strategy]))
                self.builder.fail(
                    (*path, key),
                    f"'{key}' is for strategy: {other}; a {strategy} breaker takes "
                    f"{takes} (BRK-2, BRK-3)",
                )
        args = {k: spec[k] for k in STRATEGY_FIELDS[strategy] if k in spec}
        if "recovery_timeout" in spec:
            ns = self.builder.duration(spec["recovery_timeout"], (*path, "recovery_timeout"))
            args["recovery_timeout"] = f"{ns}ns"
        exclude = []
        for i, name in enumerate(spec.get("exclude", ())):
            found = self.builder.error_class(name, (*path, "exclude", i))
            exclude.append(found if isinstance(found, str) else found.__name__)
        factory = CircuitBreaker.consecutive if strategy == "consecutive" else CircuitBreaker.rate
        try:
            return factory(spec.get("name", step), exclude=exclude, **args)
        except WorkflowDefinitionError as exc:  # pragma: no cover - the schema checks the values
            self.builder.fail(path, str(exc))

    def for_step(self, step: str, spec: Mapping[str, Any], base: Path) -> dict[str, Any]:
        """``add_step``'s breaker=, fallback= and cache_key= for one step's mapping."""
        args: dict[str, Any] = {}
        raw = spec.get("breaker")
        if isinstance(raw, str):
            if raw not in self.by_name:
                hint = did_you_mean(raw, self.by_name)
                declared = ", ".join(self.by_name) or "none"
                known = "" if hint else f"; the steps declare: {declared}"
                self.builder.fail(
                    (*base, "breaker"),
                    f"no step declares a circuit breaker named {raw!r} (a shared breaker is "
                    "declared on one step as a mapping {name, strategy, ...} and named on the "
                    f"others){known}{hint}",
                )
            args["breaker"] = self.by_name[raw]
        elif raw is not None:
            args["breaker"] = self.by_name[raw.get("name", step)]
        if "fallback" in spec:
            if raw is None:
                self.builder.fail(
                    (*base, "fallback"),
                    "a fallback runs when a circuit breaker refuses the call; "
                    "give the step a breaker too (BRK-5)",
                )
            fallback: Mapping[str, Any] = spec["fallback"] or {}
            duration = self.builder.duration(
                fallback.get("duration", 0), (*base, "fallback", "duration")
            )
            args["fallback"] = StaticFallback(fallback.get("output"), duration)
        if "cache_key" in spec:
            keys = spec["cache_key"]
            single = isinstance(keys, str)
            args["cache_key"] = ContextKey((keys,) if single else tuple(keys), single)
        return args


def breaker_doc(breaker: CircuitBreaker, step: str) -> dict[str, Any]:
    """A breaker as a ``breaker:`` mapping (defaults left out, the name when not the step's)."""
    factory = (
        CircuitBreaker.consecutive if breaker.strategy == "consecutive" else CircuitBreaker.rate
    )
    default = factory(breaker.name)
    doc: dict[str, Any] = {}
    if breaker.name != step:
        doc["name"] = breaker.name
    doc["strategy"] = breaker.strategy
    for key in STRATEGY_FIELDS[breaker.strategy]:
        if getattr(breaker, key) != getattr(default, key):
            doc[key] = getattr(breaker, key)
    if breaker.recovery_timeout_ns != default.recovery_timeout_ns:
        ns = breaker.recovery_timeout_ns
        doc["recovery_timeout"] = format_seconds(ns) if ns else 0
    if breaker.exclude:
        doc["exclude"] = list(breaker.exclude)
    return doc
