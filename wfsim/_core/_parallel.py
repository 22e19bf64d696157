"""Merging the outputs of a parallel group's tasks (Ruvon's PARALLEL step, documented).

A left fold over the task results in declaration order: for a key that two tasks
both return, ``prefer_new`` takes the later task's value, ``prefer_existing``
keeps the earlier one, ``raise`` fails with :class:`MergeConflictError`. ``deep``
recurses where both values are mappings and applies the policy at the leaves.
Pure functions, so tests and oracles can call them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wfsim.errors import WfsimError

__all__ = ["MergeConflictError", "deep_merge_into", "merge_outputs"]


class MergeConflictError(WfsimError, ValueError):
    """Two tasks of a group returned the same key under ``on_conflict="raise"``."""


def merge_outputs(
    results: Sequence[tuple[str, Any]], merge: str = "shallow", on_conflict: str = "prefer_new"
) -> dict[str, Any]:
    """Fold ``(task, output)`` pairs (declaration order) into one mapping.

    Outputs that are not mappings (or None) contribute nothing.
    """
    combined: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for task, output in results:
        if not isinstance(output, Mapping):
            continue
        _fold(combined, owner, output, task, merge == "deep", on_conflict, prefix="")
    return combined


def _fold(
    into: dict[str, Any],
    owner: dict[str, str],
    new: Mapping[str, Any],
    task: str,
    deep: bool,
    on_conflict: str,
    prefix: str,
) -> None:
    for key, value in new.items():
        path = f"{prefix}{key}"
        if key not in into:
            into[key] = _copy(value) if deep else value
            owner[path] = task
            continue
        old = into[key]
        if deep and isinstance(old, dict) and isinstance(value, Mapping):
            _fold(old, owner, value, task, deep, on_conflict, prefix=f"{path}.")
            continue
        if on_conflict == "raise":
            raise MergeConflictError(
                f"key {path!r} exists in the results of tasks {_owner(owner, path)!r} and {task!r}"
            )
        if on_conflict == "prefer_new":
            into[key] = _copy(value) if deep else value
            owner[path] = task


def _owner(owner: dict[str, str], path: str) -> str:
    """The task whose output brought ``path``: a nested key came with its parent mapping."""
    while path not in owner and "." in path:
        path = path.rsplit(".", 1)[0]
    return owner.get(path, "?")


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    return value


def deep_merge_into(target: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Merge ``new`` into ``target``, recursing where both sides are mappings (new wins)."""
    for key, value in new.items():
        old = target.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping):
            deep_merge_into(old, value)
        else:
            target[key] = _copy(value)
