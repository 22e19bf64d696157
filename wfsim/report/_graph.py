"""Draw a workflow as Mermaid or Graphviz DOT text.

A DAG is drawn as its steps and dependencies (a parallel group with its tasks). An
event workflow is drawn as its steps and event types: an arrow from each event type to
the steps that accept it, and, where the step says what it sends (inline scenario
steps: ``emit`` dashed, ``returns`` solid), from the step to those event types; a step
whose code decides at run time is marked ``code``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from wfsim._core._events import EventStep, EventWorkflow
from wfsim._core._time import format_seconds
from wfsim._core._workflow import Step, Workflow

__all__ = ["to_dot", "to_mermaid"]

_SAFE_ID = re.compile(r"[^A-Za-z0-9_]")


def _label(step: Step) -> str:
    parts = [step.name]
    if step.fn is None and step.duration_ns:
        parts.append(format_seconds(step.duration_ns))
    if step.fn is not None:
        parts.append("code")
    if step.retry is not None:
        attempts = step.retry.max_attempts or "inf"
        parts.append(f"retry x{attempts}")
    if step.timeout_ns is not None:
        parts.append(f"timeout {format_seconds(step.timeout_ns)}")
    return " | ".join(parts)


def _mermaid_id(name: str, index: int) -> str:
    return f"s{index}_{_SAFE_ID.sub('_', name)}"


def _group_label(step: Step) -> str:
    assert step.group is not None
    group = step.group
    parts = [step.name, f"parallel, {len(group.tasks)} tasks, merge {group.merge}"]
    if group.timeout_ns is not None:
        parts.append(f"timeout {format_seconds(group.timeout_ns)}")
    return " | ".join(parts)


def _task_labels(step: Step) -> list[tuple[str, str]]:
    """``(trace name, label)`` of each task of a parallel group step, as ``group/task``."""
    assert step.group is not None
    out = []
    for task in step.group.tasks:
        name = f"{step.name}/{task.name}"
        out.append((name, " | ".join([name, *_label(task).split(" | ")[1:]])))
    return out


def to_mermaid(workflow: Workflow | EventWorkflow) -> str:
    """A Mermaid ``flowchart LR``: one node per step, one arrow per dependency."""
    if isinstance(workflow, EventWorkflow):
        return _events_mermaid(workflow)
    workflow.validate()
    steps = workflow.steps
    ids = {name: _mermaid_id(name, step.index) for name, step in steps.items()}
    lines = [f"%% workflow {' '.join(workflow.name.split())}", "flowchart LR"]
    for name, step in steps.items():
        label = (_group_label(step) if step.group else _label(step)).replace('"', "#quot;")
        lines.append(f'    {ids[name]}["{label}"]')
    for name, step in steps.items():
        if step.group is None:
            continue
        # A parallel group's tasks, drawn in a box linked to the group (SCN-12).
        box = f"{ids[name]}_tasks"
        lines.append(f'    subgraph {box}["{name}: tasks run concurrently"]')
        for i, (_, label) in enumerate(_task_labels(step)):
            text = label.replace('"', "#quot;")
            lines.append(f'        {box}_{i}["{text}"]')
        lines.append("    end")
        lines.append(f"    {ids[name]} -.- {box}")
    for name, step in steps.items():
        for dep in step.after:
            lines.append(f"    {ids[dep]} --> {ids[name]}")
    return "\n".join(lines) + "\n"


def to_dot(workflow: Workflow | EventWorkflow) -> str:
    """A Graphviz ``digraph`` (render with ``dot -Tsvg``)."""
    if isinstance(workflow, EventWorkflow):
        return _events_dot(workflow)
    workflow.validate()
    steps = workflow.steps
    lines = [
        f"digraph {json.dumps(workflow.name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
    ]
    for name, step in steps.items():
        label = _group_label(step) if step.group else _label(step)
        lines.append(f"    {json.dumps(name)} [label={json.dumps(label)}];")
    for name, step in steps.items():
        if step.group is None:
            continue
        # A parallel group's tasks, in a dashed cluster linked to the group (SCN-12).
        lines.append(f"    subgraph {json.dumps('cluster_' + name)} {{")
        lines.append(f"        label={json.dumps(name + ': tasks run concurrently')};")
        lines.append("        style=dashed;")
        for task, label in _task_labels(step):
            lines.append(f"        {json.dumps(task)} [label={json.dumps(label)}];")
        lines.append("    }")
        for task, _ in _task_labels(step):
            lines.append(
                f"    {json.dumps(name)} -> {json.dumps(task)} [style=dotted, arrowhead=none];"
            )
    for name, step in steps.items():
        for dep in step.after:
            lines.append(f"    {json.dumps(dep)} -> {json.dumps(name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- event workflows -------------------------------------------------------------------------
def _event_label(step: EventStep) -> str:
    parts = [step.name, f"workers {step.num_workers}"]
    sends = _sends(step)
    if sends is None:
        parts.append("code")
    elif getattr(step.fn, "collect", ()):
        parts.append("collects " + ", ".join(t.__name__ for t in step.fn.collect))  # type: ignore[attr-defined]
    if step.retry is not None:
        parts.append(f"retry x{step.retry.max_attempts or 'inf'}")
    if step.timeout_ns is not None:
        parts.append(f"timeout {format_seconds(step.timeout_ns)}")
    return " | ".join(parts)


def _sends(step: EventStep) -> list[tuple[str, bool]] | None:
    """(event type, returned?) a declarative step sends, or None when its code decides."""
    sends: Any = getattr(step.fn, "sends", None)
    return None if sends is None else list(sends())


def _event_types(workflow: EventWorkflow) -> list[str]:
    """Every event type a step accepts or sends, StartEvent first, in first-seen order."""
    names: dict[str, None] = {"StartEvent": None}
    for step in workflow.event_steps.values():
        names.update(dict.fromkeys(t.__name__ for t in step.accepts))
        names.update(dict.fromkeys(name for name, _ in _sends(step) or ()))
    return list(names)


def _events_mermaid(workflow: EventWorkflow) -> str:
    workflow.validate()
    steps = workflow.event_steps
    ids = {name: _mermaid_id(name, i) for i, name in enumerate(steps)}
    lines = [f"%% event workflow {' '.join(workflow.name.split())}", "flowchart LR"]
    for kind in _event_types(workflow):
        lines.append(f'    e_{kind}(["{kind}"])')
    for name, step in steps.items():
        label = _event_label(step).replace('"', "#quot;")
        lines.append(f'    {ids[name]}["{label}"]')
    for name, step in steps.items():
        for t in step.accepts:
            lines.append(f"    e_{t.__name__} --> {ids[name]}")
        for kind, returned in _sends(step) or ():
            lines.append(f"    {ids[name]} {'-->' if returned else '-.->'} e_{kind}")
    return "\n".join(lines) + "\n"


def _events_dot(workflow: EventWorkflow) -> str:
    workflow.validate()
    steps = workflow.event_steps
    lines = [
        f"digraph {json.dumps(workflow.name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
    ]
    for kind in _event_types(workflow):
        lines.append(f"    {json.dumps('event:' + kind)} [label={json.dumps(kind)}, shape=oval];")
    for name, step in steps.items():
        lines.append(f"    {json.dumps(name)} [label={json.dumps(_event_label(step))}];")
    for name, step in steps.items():
        for t in step.accepts:
            lines.append(f"    {json.dumps('event:' + t.__name__)} -> {json.dumps(name)};")
        for kind, returned in _sends(step) or ():
            style = "" if returned else " [style=dashed]"
            lines.append(f"    {json.dumps(name)} -> {json.dumps('event:' + kind)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
