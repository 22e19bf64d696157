"""The scenario file's JSON Schema (draft 2020-12) and validation against it.

The schema is the editor-facing half of the contract: titles and descriptions
for completion and hover help, closed mappings for typos. Validation turns the
first problem in the file (by line) into one :class:`~wfsim.errors.ScenarioError`
worded for people: the field, what was expected, what was found and, for an
unknown key or value, the closest valid one.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, relevance

from wfsim.errors import did_you_mean

from ._yaml import Locations, Path, scenario_error

__all__ = ["describe", "schema", "validate"]


@functools.cache
def _schema() -> Mapping[str, Any]:
    text = importlib.resources.files("wfsim.scenario").joinpath("schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema() -> dict[str, Any]:
    """The scenario file's JSON Schema (draft 2020-12), as a fresh dict.

    ``wfsim schema`` prints it; point an editor at it with
    ``# yaml-language-server: $schema=<file>``.
    """
    return copy.deepcopy(dict(_schema()))


def _is_int(checker: Any, instance: Any) -> bool:
    # YAML's 1.0 is a float: a count or a seed must be written as an integer.
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int),
)


@functools.cache
def _validator() -> Any:
    return _Validator(_schema())


def _def(name: str) -> Any:
    return _schema()["$defs"][name]


_KINDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
}

DURATION_HELP = (
    "a duration: seconds (a number >= 0) or a number with a unit "
    "(ns, us, ms, s, m, h, d) such as '250ms', '1.5s', '2m', '1h', or whole d, h, m "
    "then seconds, largest first, such as '1h30m'"
)
LATENCY_HELP = "a duration such as 500ms, {uniform: [low, high]} or {exponential: mean}"
PROBABILITY_HELP = "a probability from 0 (never) to 1 (always)"
FAULT_KINDS = ("error", "latency", "hang", "outage")
#: Faults on the deliveries of events and signals (specs/faults.md FAULT-20..).
DELIVERY_FAULT_KINDS = ("drop", "duplicate", "delay")


def describe(value: Any) -> str:
    """``a string 'abc'``, ``an integer -1``, ``a mapping``: what a value is, shortly."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, str):
        return f"a string {text}" if value else "an empty string"
    if isinstance(value, int):
        return f"an integer {text}"
    return f"a number {text}"


def _types(types: Sequence[str]) -> str:
    """``["integer >= 1", "null"]`` -> ``an integer >= 1 or null``."""
    names = []
    for t in types:
        base, _, bound = t.partition(" ")
        names.append(f"{_KINDS.get(base, base)} {bound}".rstrip())
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _expected(error: ValidationError) -> str:
    """What the failing (sub)schema expects, worded for the message."""
    sub = error.schema
    if not isinstance(sub, Mapping):
        return "nothing here"
    if sub is _def("duration") or sub is _def("stepDuration"):
        return DURATION_HELP
    if sub is _def("durationOrList"):
        return DURATION_HELP + ", or a list of them"
    if sub is _def("latency"):
        return LATENCY_HELP
    if sub is _def("probability"):
        return PROBABILITY_HELP
    if sub is _def("expect")["properties"]["makespan"]:
        return "a duration such as 5.5s, or a comparison: '<= 10s', '< 10s', '>= 1s' or '> 1s'"
    if "enum" in sub:
        return "one of " + ", ".join(repr(v) for v in sub["enum"])
    if "type" not in sub:
        return "a valid value"
    types = [sub["type"]] if isinstance(sub["type"], str) else list(sub["type"])
    if "minimum" in sub:
        types = [f"{t} >= {sub['minimum']}" if t in ("integer", "number") else t for t in types]
    if "exclusiveMinimum" in sub:  # e.g. a breaker's failure_rate: in (0, 1]
        bound = f" > {sub['exclusiveMinimum']}"
        bound += f" and <= {sub['maximum']}" if "maximum" in sub else ""
        types = [f"{t}{bound}" if t in ("integer", "number") else t for t in types]
    return _types(types)


def _is_duration(sub: Any) -> bool:
    """Whether ``sub`` is one of the schema's definitions that hold a duration."""
    return any(
        sub is _def(name) for name in ("duration", "stepDuration", "durationOrList", "latency")
    )


def _kinds(value: Mapping[str, Any]) -> list[str]:
    """The fault kinds a fault mapping gives, in the order they are written."""
    return [k for k in value if k in FAULT_KINDS or k in DELIVERY_FAULT_KINDS]


def _delivery_fault(value: Mapping[str, Any]) -> bool:
    """Whether a fault mapping is about deliveries (event, signal or a delivery kind)."""
    return any(k in value for k in ("event", "signal", *DELIVERY_FAULT_KINDS))


def _quoted(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _negative_duration(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("-") and bool(re.match(_def("duration")["pattern"], stripped[1:]))


#: Other engines' spellings of a value (Ruvon's merge_conflict_behavior), lowercased.
_ALIASES = {"prefer_old": "prefer_existing", "raise_error": "raise"}


def _enum_hint(value: str, allowed: Sequence[str]) -> str:
    """``: did you mean 'x'?`` for another engine's name, another case, or a near miss."""
    folded = value.strip().lower()
    folded = _ALIASES.get(folded, folded)
    if folded in allowed:
        return f": did you mean {folded!r}?"
    return did_you_mean(value, allowed)


def _explain(error: ValidationError) -> tuple[Path, str]:
    """The path to report and the explanation of one validation error."""
    path: Path = tuple(error.absolute_path)
    sub = error.schema if isinstance(error.schema, Mapping) else {}
    value: Any = error.instance
    kind = error.validator
    if kind == "additionalProperties" and isinstance(value, Mapping):
        known = sub.get("properties", {})
        extra = [k for k in value if k not in known]
        key = extra[0]
        hint = did_you_mean(key, known)
        if not hint:
            hint = "; expected one of: " + ", ".join(known)
        return (*path, key), f"unknown key{hint}"
    if kind == "required":
        missing = next(k for k in sub["required"] if k not in value)
        about = sub.get("properties", {}).get(missing, {}).get("description", "")
        if about[:2].istitle():  # "The step ..." reads "(the step ...)" mid-sentence
            about = about[0].lower() + about[1:]
        about = f" ({about.rstrip('.')})" if about else ""
        return (*path, missing), f"required key is missing{about}"
    if kind == "propertyNames":  # pragma: no cover - reported by its inner keyword
        return path, error.message
    if sub is _def("taskName"):
        return (*path, value), (
            "a task name cannot hold spaces, '<' or '/' (the trace calls it group/task)"
        )
    if sub is _def("eventName") and tuple(path) == ("workflow", "events"):
        return (*path, value), (
            "an event type's name is a Python identifier (letters, digits and _, not first a "
            "digit), like the class it stands for"
        )
    if error.relative_schema_path and "propertyNames" in error.relative_schema_path:
        return (*path, value), "a step name cannot hold spaces or '<' (order chains use them)"
    if kind == "type":
        return path, f"expected {_expected(error)}, got {describe(value)}"
    if sub is _def("probability") and kind in ("minimum", "maximum"):
        return path, f"expected {PROBABILITY_HELP}, got {value!r}"
    if kind in ("minimum", "exclusiveMinimum"):
        if _is_duration(sub):
            return path, f"a duration must not be negative, got {value!r}"
        return path, f"expected {_expected(error)}, got {value!r}"
    if kind == "pattern":
        if _is_duration(sub) and _negative_duration(value):
            return path, f"a duration must not be negative, got {value!r}"
        if sub is _def("errorName"):
            return path, f"expected a Python class name such as 'PaymentDeclined', got {value!r}"
        if sub is _def("compensation") or sub is _def("compensationName"):
            return path, (
                f"a compensation name cannot hold spaces or '<' (order chains use them), "
                f"got {value!r}"
            )
        if sub is _def("workflow")["properties"]["python"] or sub is _def("workflow")[
            "properties"
        ].get("llama_index"):
            return path, f"expected 'package.module:attr', got {value!r}"
        if sub.get("title") in ("Chain", "Order"):
            return path, f"expected a chain of step names such as 'a < b < c', got {value!r}"
        if sub is _schema()["properties"]["scenario"]:
            return path, "expected a non-empty title, got only spaces"
        if sub is _schema()["properties"]["seed_pinned"]:
            return path, "expected the reason why expect holds only at this seed, got only spaces"
        return path, f"expected {_expected(error)}, got {describe(value)}"
    if kind == "enum" and sub is _def("triggerRule") and isinstance(value, str):
        # Worded as the engine words it (TRIG-4).
        rules = [str(v) for v in sub["enum"]]
        hint = did_you_mean(value, rules)
        return path, f"unknown trigger rule {value!r}{hint} (rules: {', '.join(rules)})"
    if kind == "enum":
        hint = _enum_hint(value, [str(v) for v in sub["enum"]]) if isinstance(value, str) else ""
        return path, f"expected {_expected(error)}, got {describe(value)}{hint}"
    if kind == "const" and sub is _def("fault")["properties"]["hang"]:
        return path, (
            f"expected true (the attempts hit never return), got {describe(value)}; "
            "to let them return, remove the fault"
        )
    if kind == "const" and sub is _def("fault")["properties"]["drop"]:
        return path, (
            f"expected true (the deliveries hit never happen), got {describe(value)}; "
            "to let them happen, remove the fault"
        )
    if kind == "const":
        return path, f"expected {sub['const']!r}, got {describe(value)}"
    if kind in ("minItems", "maxItems") and sub is _def("latency")["properties"]["uniform"]:
        return path, f"expected two durations [low, high], got {len(value)}"
    if kind == "minProperties" and sub is _def("latency"):
        return path, f"expected {LATENCY_HELP}, got an empty mapping"
    if kind == "maxProperties" and sub is _def("latency"):
        return path, "a latency is either uniform or exponential, not both"
    if kind == "minProperties" and sub is _def("parallel")["properties"]["tasks"]:
        return path, "a parallel group needs at least one task, e.g. {check: {duration: 1s}}"
    if kind in ("minLength", "minItems", "minProperties"):
        return path, "must not be empty"
    if kind == "maxItems":
        return path, f"holds {len(value)} items; at most {error.validator_value} are allowed"
    if kind == "uniqueItems":
        seen: list[Any] = []
        for item in value:
            if item in seen:
                return path, f"lists {item!r} twice; each may appear once"
            seen.append(item)
    if kind == "oneOf" and not isinstance(value, Mapping):
        return path, f"expected a mapping, got {describe(value)}"  # its type error comes first
    if kind == "oneOf" and sub is _def("workflow"):
        given = [k for k in ("steps", "body", "python", "llama_index") if k in value]
        if len(given) > 1:
            return path, (
                "give 'steps' (an inline workflow), 'body' (an inline workflow body), 'python' "
                f"('module:attr') or 'llama_index' ('module:Class'), not "
                f"{' and '.join(repr(k) for k in given)}"
            )
        return path, (
            "expected 'steps' (an inline workflow), 'body' (an inline workflow body), 'python' "
            "('module:attr') or 'llama_index' ('module:Class')"
        )
    if kind == "oneOf" and sub is _def("fault") and _delivery_fault(value):
        given = _kinds(value)
        if len(given) > 1:
            return path, (
                "a fault has exactly one kind: 'drop', 'duplicate' or 'delay' for a delivery, "
                f"'error', 'latency', 'hang' or 'outage' for a step; not {_quoted(given)}: "
                "write one fault for each"
            )
        return path, (
            "a delivery fault needs one of 'drop' (true), 'duplicate' (a number of copies) "
            "or 'delay' (a duration)"
        )
    if kind == "oneOf" and sub is _def("fault"):
        given = _kinds(value)
        if len(given) > 1:
            return path, (
                "a fault has exactly one of 'error', 'latency', 'hang' or 'outage', "
                f"not {_quoted(given)}; write one fault for each"
            )
        return path, (
            "a fault needs one of 'error' (an error class), 'latency' (a duration), "
            "'hang' (true) or 'outage' ({start, end})"
        )
    return path, error.message  # pragma: no cover - every keyword in schema.json is handled


def validate(data: Any, file: str, locations: Locations) -> None:
    """Check ``data`` against the schema; raise the first error by line as a ScenarioError."""
    errors = list(_validator().iter_errors(data))
    if not errors:
        return
    # Read like a compiler: the first problem in the file; at one line, the most relevant.
    explained = [(error, *_explain(error)) for error in errors]
    lines = [locations.line(path) or 0 for _, path, _ in explained]
    first = min(lines)
    at_first = [item for item, line in zip(explained, lines, strict=True) if line == first]
    _, path, explanation = max(at_first, key=lambda item: relevance(item[0]))
    raise scenario_error(file, locations.line(path), path, explanation)
