"""Draw a DAG workflow as Mermaid or Graphviz DOT text."""

from __future__ import annotations

import json
import re

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


def to_mermaid(workflow: Workflow) -> str:
    """A Mermaid ``flowchart LR``: one node per step, one arrow per dependency."""
    workflow.validate()
    steps = workflow.steps
    ids = {name: _mermaid_id(name, step.index) for name, step in steps.items()}
    lines = [f"%% workflow {' '.join(workflow.name.split())}", "flowchart LR"]
    for name, step in steps.items():
        label = _label(step).replace('"', "#quot;")
        lines.append(f'    {ids[name]}["{label}"]')
    for name, step in steps.items():
        for dep in step.after:
            lines.append(f"    {ids[dep]} --> {ids[name]}")
    return "\n".join(lines) + "\n"


def to_dot(workflow: Workflow) -> str:
    """A Graphviz ``digraph`` (render with ``dot -Tsvg``)."""
    workflow.validate()
    steps = workflow.steps
    lines = [
        f"digraph {json.dumps(workflow.name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
    ]
    for name, step in steps.items():
        lines.append(f"    {json.dumps(name)} [label={json.dumps(_label(step))}];")
    for name, step in steps.items():
        for dep in step.after:
            lines.append(f"    {json.dumps(dep)} -> {json.dumps(name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
