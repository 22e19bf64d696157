"""The workflow graph as inline SVG: a layered left-to-right layout computed in Python.

A step's layer is the length of the longest dependency chain before it; within
a layer steps sit in the order that keeps them near their dependencies (one
barycentre pass), ties broken by declaration order, so the picture is the same
on every run and host.
"""

from __future__ import annotations

from collections.abc import Mapping

from wfsim._core._workflow import Workflow

from ._graph import _label
from ._svg import esc, num

__all__ = ["graph_svg"]

NODE_WIDTH = 170
NODE_HEIGHT = 40
GAP_X = 60
GAP_Y = 16
MARGIN = 10
#: Characters of a label shown in a box (the tooltip has all of it).
LABEL_CHARS = 24


def _layers(workflow: Workflow) -> list[list[str]]:
    steps = workflow.steps
    depth: dict[str, int] = {}
    for name in workflow.validate():
        depth[name] = 1 + max((depth[d] for d in steps[name].after), default=-1)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in sorted(depth, key=lambda n: steps[n].index):
        layers[depth[name]].append(name)
    position: dict[str, float] = {}
    for layer in layers:

        def centre(name: str) -> float:
            deps = steps[name].after
            if not deps:
                return float(steps[name].index)
            return sum(position[d] for d in deps) / len(deps)

        layer.sort(key=lambda n: (centre(n), steps[n].index))
        for i, name in enumerate(layer):
            position[name] = float(i)
    return layers


def graph_svg(workflow: Workflow, *, reached: Mapping[str, int] | None = None) -> str:
    """The DAG ``workflow`` as an ``<svg class="graph">`` element (a string).

    ``reached`` (step -> runs that reached it, from a campaign's coverage) marks
    steps no run reached with the class ``unreached``.
    """
    workflow.validate()
    steps = workflow.steps
    layers = _layers(workflow)
    tallest = max((len(layer) for layer in layers), default=0)
    width = 2 * MARGIN + len(layers) * NODE_WIDTH + max(len(layers) - 1, 0) * GAP_X
    height = 2 * MARGIN + tallest * NODE_HEIGHT + max(tallest - 1, 0) * GAP_Y
    where: dict[str, tuple[float, float]] = {}
    for column, layer in enumerate(layers):
        offset = (tallest - len(layer)) * (NODE_HEIGHT + GAP_Y) / 2
        for row, name in enumerate(layer):
            where[name] = (
                MARGIN + column * (NODE_WIDTH + GAP_X),
                MARGIN + offset + row * (NODE_HEIGHT + GAP_Y),
            )
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="workflow graph of {esc(workflow.name)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
        "</marker></defs>",
    ]
    for name, step in sorted(steps.items(), key=lambda kv: kv[1].index):
        x1, y1 = where[name]
        for dep in step.after:
            x0, y0 = where[dep]
            sx, sy = x0 + NODE_WIDTH, y0 + NODE_HEIGHT / 2
            ex, ey = x1, y1 + NODE_HEIGHT / 2
            mid = (sx + ex) / 2
            parts.append(
                f'<path class="edge" data-from="{esc(dep)}" data-to="{esc(name)}" '
                f'd="M {num(sx)} {num(sy)} C {num(mid)} {num(sy)}, {num(mid)} {num(ey)}, '
                f'{num(ex)} {num(ey)}" marker-end="url(#arrow)"/>'
            )
    for name, step in sorted(steps.items(), key=lambda kv: kv[1].index):
        x0, y0 = where[name]
        label = _label(step)
        classes = "node"
        if step.compensate is not None:
            classes += " compensated"
        if reached is not None and not reached.get(name):
            classes += " unreached"
        shown = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "\u2026"
        detail = " | ".join(label.split(" | ")[1:])
        tip = label + (f" | compensation: {step.compensate.name}" if step.compensate else "")
        if reached is not None:
            tip += f" | reached in {reached.get(name, 0)} runs"
        parts.append(
            f'<g class="{classes}" data-step="{esc(name)}" '
            f'transform="translate({num(x0)},{num(y0)})"><title>{esc(tip)}</title>'
            f'<rect width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6"/>'
            f'<text class="name" x="8" y="16">{esc(shown)}</text>'
            f'<text class="detail" x="8" y="31">{esc(detail[: LABEL_CHARS + 4])}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
