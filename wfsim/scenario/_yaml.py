"""A line-aware safe YAML reader.

PyYAML composes the document into nodes (each with its line); this module turns
the nodes into plain values itself, so that it can record the line of every
field, reject a key repeated in one mapping and reject any tag that is not
plain data (SCN-2). Timestamps stay strings, as in YAML 1.2 and JSON: the
scenario model parses the one field that is a date (``settings.epoch``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn

import attrs
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from wfsim.errors import ScenarioError

__all__ = ["Locations", "Path", "field_name", "read_yaml", "scenario_error"]

#: A field's path from the document's root: mapping keys and list indices.
Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_TIMESTAMP, _MAP, _SEQ, _MERGE = (_TAG + t for t in ("timestamp", "map", "seq", "merge"))

#: Past these, a document is a denial of service (alias bombs, runaway nesting).
MAX_VALUES = 1_000_000
MAX_DEPTH = 100

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")


def field_name(path: Sequence[str | int]) -> str:
    """The dotted form of a path: ``("workflow", "steps", "ship", "after", 0)`` ->
    ``workflow.steps.ship.after[0]``. Keys that are not plain words are quoted:
    ``steps['a.b']``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def scenario_error(
    file: str, line: int | None, path: Sequence[str | int], explanation: str
) -> ScenarioError:
    """``ScenarioError("FILE:LINE: FIELD: EXPLANATION")`` with its attributes set."""
    field = field_name(path)
    where = f"{file}:{line}:" if line is not None else f"{file}:"
    message = f"{where} {field}: {explanation}" if field else f"{where} {explanation}"
    return ScenarioError(message, file=file, line=line, field=field)


@attrs.frozen
class Locations:
    """The 1-based line of every field of a document.

    A mapping entry's line is its key's line, a list item's line is where the
    item starts. :meth:`line` falls back to the nearest recorded parent, so it
    answers for paths below a scalar too.
    """

    lines: Mapping[Path, int] = attrs.field(factory=dict)

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its nearest parent; None for an empty document."""
        key = tuple(path)
        while True:
            found = self.lines.get(key)
            if found is not None or not key:
                return found
            key = key[:-1]

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple) and path in self.lines

    def __iter__(self) -> Iterator[Path]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "a scalar"


class _Converter:
    """Nodes -> plain values, recording lines as it goes."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[Path, int] = {}
        self.count = 0
        self.active: set[int] = set()  # nodes being converted: an alias to one is a loop

    def fail(self, node: Node, path: Path, explanation: str) -> NoReturn:
        raise scenario_error(self.file, _line(node), path, explanation)

    def value(self, node: Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            self.fail(
                node,
                path,
                f"the document expands to more than {MAX_VALUES:,} values; "
                "are anchors and aliases nested into a bomb?",
            )
        if depth > MAX_DEPTH:
            self.fail(node, path, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.fail(node, path, "an alias refers to a node that contains it; recursive data")
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                if node.tag != _MAP:
                    self.unsafe(node, path)
                return self.mapping(node, path, depth)
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    self.unsafe(node, path)
                return [self.item(item, (*path, i), depth) for i, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))
        raise AssertionError(f"unknown YAML node {node!r}")

    def item(self, node: Node, path: Path, depth: int) -> Any:
        self.lines[path] = _line(node)
        return self.value(node, path, depth + 1)

    def unsafe(self, node: Node, path: Path) -> NoReturn:
        self.fail(
            node,
            path,
            f"tag {_short_tag(node.tag)} is not allowed: scenario files hold plain data "
            "(strings, numbers, booleans, null, lists and mappings)",
        )

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        tag = node.tag
        if tag in (_STR, _TIMESTAMP):
            return str(node.value)
        if tag not in (_NULL, _BOOL, _INT, _FLOAT):
            self.unsafe(node, path)
        try:
            return self.loader.yaml_constructors[tag](self.loader, node)
        except Exception:
            self.fail(node, path, f"{node.value!r} is not a valid {_short_tag(tag)[2:]}")

    def key(self, node: Node, path: Path) -> str:
        if not isinstance(node, ScalarNode):
            self.fail(node, path, f"a key must be a string, not {_kind(node)}")
        key = self.scalar(node, path)
        if not isinstance(key, str):
            typ = {bool: "a boolean", int: "an integer", float: "a number"}.get(type(key), "null")
            text = str(node.value)
            self.fail(
                node,
                path,
                f"key {text!r} is read as {typ}, not a string; quote it: {text!r}"
                if text
                else "a key must be a string, not empty",
            )
        return key

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = "<<" if key_node.tag == _MERGE else self.key(key_node, path)
            line = _line(key_node)
            if key in first_line:
                self.fail(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r}: it is already set at line {first_line[key]} "
                    "of this mapping; a key may appear once",
                )
            first_line[key] = line
            if key_node.tag == _MERGE:
                self.merge(value_node, path, depth, result, first_line)
                continue
            self.lines[(*path, key)] = line
            result[key] = self.value(value_node, (*path, key), depth + 1)
        return result

    def merge(
        self,
        node: Node,
        path: Path,
        depth: int,
        into: dict[str, Any],
        explicit: Mapping[str, int],
    ) -> None:
        """``<<: *base`` (or a list of them): keys not written in the mapping itself.

        Earlier sources win over later ones, and the mapping's own keys over all.
        """
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, Any] = {}
        outer, self.lines = self.lines, {}
        try:
            for source in reversed(sources):
                if not isinstance(source, MappingNode):
                    self.fail(source, (*path, "<<"), f"'<<' merges mappings, not {_kind(source)}")
                merged.update(self.value(source, path, depth))
        finally:
            lines, self.lines = self.lines, outer
        taken = [key for key in merged if key not in explicit and key not in into]
        taken_set, n = set(taken), len(path)
        for sub, line in lines.items():  # the lines of the merged keys: in the source
            if len(sub) > n and sub[n] in taken_set:
                outer[sub] = line
        for key in taken:
            into[key] = merged[key]


def _yaml_error(exc: yaml.YAMLError, text: str, file: str) -> ScenarioError:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        reason = (
            f"unacceptable character #x{exc.character:04x}: {exc.reason}"
            if isinstance(exc.character, int)
            else str(exc.reason)
        )
        return scenario_error(file, line, (), f"invalid YAML: {reason}")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        last_line = text.count("\n") + (0 if text.endswith("\n") else 1)
        at = min(mark.line + 1, max(last_line, 1)) if mark is not None else None
        reason = exc.problem or exc.context or "malformed YAML"
        if exc.context and exc.problem and exc.problem.startswith("but "):
            reason = f"{exc.context}, {exc.problem}"
        elif exc.context and exc.problem and exc.context_mark is not None:
            reason += f" ({exc.context} at line {exc.context_mark.line + 1})"
        at, hint = _yaml_hint(exc, text, at)
        return scenario_error(file, at, (), f"invalid YAML: {reason}{hint}")
    return scenario_error(file, None, (), f"invalid YAML: {exc}")


def _yaml_hint(exc: yaml.MarkedYAMLError, text: str, at: int | None) -> tuple[int | None, str]:
    """The line to blame and a hint in words for the usual YAML slips (tabs, indentation,
    an unclosed bracket), which PyYAML reports in parser terms, often a line late."""
    problem, context = exc.problem or "", exc.context or ""
    lines = text.splitlines()
    if "'\\t'" in problem or "tab" in problem:
        return at, "; YAML indents with spaces only: replace the tab with spaces"
    opened = exc.context_mark
    if context.startswith("while parsing a flow") and opened is not None:
        # An unclosed [ or { shows only where the next key begins: blame its line.
        bracket = "[" if "sequence" in context else "{"
        closing = "]" if bracket == "[" else "}"
        line = opened.line + 1
        return line, f"; is the {bracket!r} on line {line} missing its {closing!r}?"
    if "<block end>" in problem or "mapping values are not allowed" in problem:
        if at is None or not 0 < at <= len(lines):
            return at, ""
        here = lines[at - 1]
        column = len(here) - len(here.lstrip(" "))
        filled = [ln for ln in lines[: at - 1] if ln.strip() and not ln.lstrip().startswith("#")]
        above = filled[-1] if filled else ""
        before = len(above) - len(above.lstrip(" "))
        if "mapping values" in problem:
            return at, (
                "; a value holding ': ' needs quotes, or the line is indented under a "
                "value that is not a mapping"
            )
        return at, (
            f"; check the indentation: line {at} starts at column {column + 1}, the line "
            f"above at column {before + 1}; keys of one mapping start in the same column"
        )
    return at, ""


def _too_deep(text: str, loader_class: type[yaml.SafeLoader]) -> int | None:
    """The line where mappings and lists first nest past :data:`MAX_DEPTH` + 1, or None.

    Read from the parser's event stream, which is iterative: composing such a
    document recurses once per level, and libyaml's composer then overflows the C
    stack (a segmentation fault at about 30,000 levels) before Python can object.
    Malformed YAML is left to the composer, which words the error.
    """
    loader = loader_class(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH + 1:
                    mark = event.start_mark
                    return int(mark.line) + 1 if mark is not None else None
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        # Newer libyaml builds have a nesting limit of their own (1,000 levels, checked
        # by the scanner, which runs ahead of the events counted here): past it is past
        # ours too, and it is the same error in the same words.
        mark = exc.problem_mark
        if "nesting depth" in str(exc.problem) and mark is not None:
            return int(mark.line) + 1
        return None
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _compose(text: str, loader_class: type[yaml.SafeLoader]) -> Node | None:
    loader = loader_class(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _expansions(node: Node, sizes: dict[int, int], active: set[int], depth: int) -> int:
    """How many values ``node`` becomes once every alias is expanded.

    Each node is counted once (``sizes`` remembers it), so an alias bomb costs as
    many steps as it has nodes, not as many as it expands to. A loop (an alias to a
    node that contains it) and nesting past :data:`MAX_DEPTH` are left to the
    converter, which names them.
    """
    known = sizes.get(id(node))
    if known is not None:
        return known
    if isinstance(node, ScalarNode) or id(node) in active or depth > MAX_DEPTH:
        return 1
    active.add(id(node))
    if isinstance(node, MappingNode):
        children = [value for _, value in node.value]
    else:
        children = list(node.value)
    total = 1
    for child in children:
        total += _expansions(child, sizes, active, depth + 1)
        if total > MAX_VALUES:
            break
    active.discard(id(node))
    sizes[id(node)] = total
    return total


def _refuse_bombs(root: Node, file: str) -> None:
    """Refuse a document that expands past :data:`MAX_VALUES` before building any of it."""
    sizes: dict[int, int] = {}
    if _expansions(root, sizes, set(), 0) <= MAX_VALUES:
        return
    # Name the smallest part that is too big on its own: the bomb, not the document.
    node: Node = root
    path: Path = ()
    seen = {id(root)}  # an alias to a node that holds it must not lead back into it
    while True:
        if isinstance(node, MappingNode):
            pairs: list[tuple[Node, Path]] = [
                (value, (*path, str(key.value)))
                for key, value in node.value
                if isinstance(key, ScalarNode)
            ]
        elif isinstance(node, SequenceNode):
            pairs = [(item, (*path, i)) for i, item in enumerate(node.value)]
        else:
            pairs = []
        bigger = [
            (child, sub)
            for child, sub in pairs
            if sizes.get(id(child), 0) > MAX_VALUES and id(child) not in seen
        ]
        if not bigger:
            break
        node, path = bigger[0]
        seen.add(id(node))
    raise scenario_error(
        file,
        _line(node),
        path,
        f"{'the document' if not path else 'this value'} expands to more than "
        f"{MAX_VALUES:,} values once its aliases are expanded; are anchors and aliases "
        "nested into a bomb?",
    )


def read_yaml(text: str, file: str) -> tuple[Any, Locations]:
    """Parse ``text`` into plain values and the line of each field.

    Returns ``(None, Locations())`` for an empty document. Raises
    :class:`~wfsim.errors.ScenarioError` for malformed YAML, a repeated key, a
    key that is not a string, or a tag other than plain data.
    """
    loader_class: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    deep = _too_deep(text, loader_class)
    if deep is not None:
        raise scenario_error(file, deep, (), f"nested more than {MAX_DEPTH} levels deep")
    try:
        try:
            node = _compose(text, loader_class)
        except yaml.YAMLError:
            # libyaml words its errors differently: the pure-Python parser gives the
            # message, so errors read the same with or without libyaml.
            node = _compose(text, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, file) from None
    except RecursionError:
        raise scenario_error(file, None, (), "invalid YAML: nested too deeply") from None
    if node is None:
        return None, Locations({})
    _refuse_bombs(node, file)
    converter = _Converter(yaml.SafeLoader(""), file)
    converter.lines[()] = _line(node)
    value = converter.value(node, (), 0)
    return value, Locations(converter.lines)
