"""Scenario documents drawn from wfsim's JSON Schema, for the fuzzer (tests/scenario/test_fuzz.py).

hypothesis-jsonschema draws every leaf of the schema (a string with its pattern, a
bounded number, a type union of scalars); this module walks the structure around
the leaves (objects, arrays, ``$ref``, ``oneOf``/``anyOf``, ``if``/``then``/``else``)
itself. The library also handles the structure, but it rebuilds an object's
strategy at every draw: measured on this schema, 0.25 s per drawn step and 0.7 s per
whole document, too slow for thousands of examples in CI; walked here, a document
costs a few milliseconds.

Names are biased towards ones that refer to each other (steps ``a``, ``b``, ``c``,
the shipped scenarios' names), so that many documents get past the loader's
cross-reference checks and run. ``python:`` targets and ``module:Class`` errors are
drawn only from modules of this repository: a fuzzer must not import, let alone
call, whatever a random string names.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from wfsim._core._trace import EVENT_KINDS

__all__ = ["SchemaDocuments", "any_json"]

Node = Mapping[str, Any]
Path = tuple[str | int, ...]

#: Keywords that constrain a scalar; handed to hypothesis-jsonschema with the type.
_SCALAR_KEYS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "pattern",
    "minLength",
    "maxLength",
)
_BRANCHES = ("oneOf", "anyOf")

STEP_NAMES = (
    "a",
    "b",
    "c",
    "checks",
    "checks/payment",
    "charge_payment",
    "ship_order",
    "reserve_inventory",
    "refund_payment",
    "*",
    "charge_*",
    "process",
    "lookup_price",
)
EVENT_NAMES = ("StartEvent", "StopEvent", "Query", "Answer", "Ping")
ERRORS = (
    "ConnectionError",
    "TimeoutError",
    "KeyError",
    "ShippingUnavailable",
    "tests.scenario.flows:PaymentDeclined",
    "tests.scenario.flows:not_a_workflow",
    "tests.scenario.flows:nope",
)
PYTHON_TARGETS = (
    "tests.scenario.flows:purchase",
    "tests.scenario.flows:build_purchase",
    "tests.scenario.flows:build_saga_purchase",
    "tests.scenario.flows:approval",
    "tests.scenario.flows:fan_out",
    "tests.scenario.flows:build_rag",
    "tests.scenario.flows:not_decorated",
    "tests.scenario.flows:returns_a_number",
    "tests.scenario.flows:missing",
    "examples.pyworkflow_patterns:cached_lookup",
    "examples.pyworkflow_patterns:map_items",
    "examples.pyworkflow_patterns:resilient_api",
    "examples.llamaindex_flows:parallel_flow",
    "examples.sequencely_approval:approval_workflow",
    "no_such_module_for_wfsim:flow",
)

any_json: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["1s", "250ms", "a", "b", "-1s", "30m1h"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


def _union(base: Node, branch: Node) -> dict[str, Any]:
    """``base`` with ``branch``'s keywords: properties and required lists are joined."""
    out = dict(base)
    for key, value in branch.items():
        if key == "properties":
            out["properties"] = {**base.get("properties", {}), **value}
        elif key == "required":
            out["required"] = sorted({*base.get("required", ()), *value})
        else:
            out[key] = value
    return out


class SchemaDocuments:
    """Strategies for the values of a JSON Schema, by whole document or by field path."""

    def __init__(self, schema: Node) -> None:
        self.schema = schema
        self.defs: Node = schema.get("$defs", {})
        self._made: dict[int, st.SearchStrategy[Any]] = {}
        self._keep: list[Node] = []  # merged nodes, alive so that their ids stay theirs
        names = st.sampled_from(STEP_NAMES)
        #: Fields whose values are drawn partly (or only) from realistic names.
        self.by_property: dict[str, Callable[[st.SearchStrategy[Any]], st.SearchStrategy[Any]]] = {
            "python": lambda _: st.sampled_from(PYTHON_TARGETS),
            "llama_index": lambda _: st.sampled_from(
                ("no_such_module_for_wfsim:Flow", "tests.scenario.flows:purchase")
            ),
            "error": lambda own: st.sampled_from(ERRORS)
            | own.filter(lambda v: not isinstance(v, str) or ":" not in v),
            "step": lambda own: names | own,
            "after": lambda own: names | st.lists(names, max_size=3) | own,
            "kind": lambda own: st.sampled_from(sorted(EVENT_KINDS)) | own,
            "name": lambda own: names | own,
        }
        durations = st.sampled_from(("0s", "1s", "250ms", "2m", "1h", 0, 1, 0.5, "30d"))
        self.by_definition: dict[str, st.SearchStrategy[Any]] = {
            "duration": durations,
            "stepDuration": durations,
            "stepName": names,
            "faultTarget": names,
            "taskName": st.sampled_from(("payment", "inventory", "fraud")),
            "compensationName": st.sampled_from(("refund_payment", "release_inventory")),
            "eventName": st.sampled_from(EVENT_NAMES),
            "errorName": st.sampled_from(("ShippingUnavailable", "PaymentDeclined")),
        }

    # -- the schema ------------------------------------------------------------------------
    def deref(self, node: Node) -> Node:
        """``node`` with its ``$ref`` (if any) replaced by the definition, siblings kept."""
        while "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = _union(self.defs[name], rest)
        return node

    def fields_of(self, node: Node) -> Node:
        """Every property any branch of ``node`` allows, for looking a field up."""
        node = self.deref(node)
        merged: dict[str, Any] = dict(node)
        for key in (*_BRANCHES, "allOf"):
            for branch in node.get(key, ()):
                merged = _union(merged, self.fields_of(branch))
        for key in ("then", "else"):
            if key in node:
                merged = _union(merged, self.fields_of(node[key]))
        return merged

    def at(self, path: Sequence[str | int]) -> Node | None:
        """The schema of the value at ``path`` in a document, or None where it allows none."""
        node: Any = self.schema
        for part in path:
            node = self.fields_of(node)
            if isinstance(part, int):
                node = node.get("items")
            else:
                found = node.get("properties", {}).get(part)
                if found is None:
                    extra = node.get("additionalProperties")
                    found = extra if isinstance(extra, Mapping) else None
                node = found
            if not isinstance(node, Mapping):
                return None
        return node

    def property_names(self, path: Sequence[str | int]) -> list[str]:
        """The properties the schema names for the mapping at ``path``."""
        node = self.at(path)
        return sorted(self.fields_of(node).get("properties", {})) if node is not None else []

    # -- strategies --------------------------------------------------------------------------
    def document(self) -> st.SearchStrategy[Any]:
        """A whole scenario document."""
        return self.values(self.schema)

    def values(self, node: Node, name: str | None = None) -> st.SearchStrategy[Any]:
        """Values of the schema ``node`` (a field called ``name``, if one)."""
        key = id(node)
        made = self._made.get(key)
        if made is None:
            self._keep.append(node)
            made = self._made[key] = st.deferred(lambda: self._build(node))
        if name in self.by_property:
            return self.by_property[name](made)
        return made

    def _build(self, node: Node) -> st.SearchStrategy[Any]:
        if not node:
            return any_json
        if "$ref" in node and set(node) <= {"$ref", "title", "description"}:
            name = node["$ref"].rsplit("/", 1)[-1]
            own = self.values(self.defs[name])
            return self.by_definition[name] | own if name in self.by_definition else own
        if "$ref" in node:
            return self.values(self.deref(node))
        for key in _BRANCHES:
            if key in node:
                base = {k: v for k, v in node.items() if k != key}
                return st.one_of([self.values(_union(base, self.deref(b))) for b in node[key]])
        if "if" in node:
            base = {k: v for k, v in node.items() if k not in ("if", "then", "else")}
            branches = [node[k] for k in ("then", "else") if k in node] or [{}]
            return st.one_of([self.values(_union(base, self.deref(b))) for b in branches])
        if "allOf" in node:
            merged: Node = {k: v for k, v in node.items() if k != "allOf"}
            for branch in node["allOf"]:
                merged = _union(merged, self.deref(branch))
            return self.values(merged)
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        types = node.get("type")
        if types is None:
            shaped = {"properties", "additionalProperties", "required"} & set(node)
            return self._object(node) if shaped else any_json
        parts = []
        for kind in [types] if isinstance(types, str) else types:
            if kind == "object":
                parts.append(self._object(node))
            elif kind == "array":
                parts.append(self._array(node))
            else:
                keywords = {k: node[k] for k in _SCALAR_KEYS if k in node}
                parts.append(_leaf(kind, json.dumps(keywords)))
        return st.one_of(parts)

    def _array(self, node: Node) -> st.SearchStrategy[list[Any]]:
        items = node.get("items")
        low = node.get("minItems", 0)
        high = min(node.get("maxItems", low + 3), low + 3)
        element = self.values(items) if isinstance(items, Mapping) else any_json
        return st.lists(element, min_size=low, max_size=high)

    def _object(self, node: Node) -> st.SearchStrategy[dict[str, Any]]:
        properties: Node = node.get("properties", {})
        required = [p for p in node.get("required", ()) if p in properties]
        optional = sorted(set(properties) - set(required))
        fields = {p: self.values(sub, p) for p, sub in properties.items()}
        extra = node.get("additionalProperties", True)
        extra_values = (
            None if extra is False else any_json if extra is True else self.values(extra)
        )
        names = node.get("propertyNames")
        keys: st.SearchStrategy[str] = st.sampled_from(STEP_NAMES) | (
            self.values(names).filter(lambda k: isinstance(k, str))
            if isinstance(names, Mapping)
            else st.text(max_size=8)
        )
        least = 0 if properties else node.get("minProperties", 0)

        @st.composite
        def objects(draw: st.DrawFn) -> dict[str, Any]:
            out = {p: draw(fields[p]) for p in required}
            if optional:
                for p in draw(st.lists(st.sampled_from(optional), unique=True, max_size=4)):
                    out[p] = draw(fields[p])
            if extra_values is not None:
                more = draw(st.dictionaries(keys, extra_values, min_size=least, max_size=3))
                for k, v in more.items():
                    out.setdefault(k, v)
            return out

        return objects()


@functools.cache
def _leaf(kind: str, keywords: str) -> st.SearchStrategy[Any]:
    """hypothesis-jsonschema's strategy for one scalar type under ``keywords`` (JSON)."""
    return from_schema({"type": kind, **json.loads(keywords)})


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every path into ``value``, the root's ``()`` first."""
    out = [prefix]
    if isinstance(value, Mapping):
        for key, sub in value.items():
            out += paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += paths(sub, (*prefix, i))
    return out
